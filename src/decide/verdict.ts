import { describeError, GateError, type FailureClass } from '../errors.js'

/** The gate's answer; only `match`, `disabled` and `not-applicable` let the job pass. */
export type Verdict = 'match' | 'mismatch' | 'fail-closed' | 'disabled' | 'not-applicable'

/** A verdict with the one human line that explains it and its failure class ('' on a pass). */
export interface Decision {
  verdict: Verdict
  reason: string
  pass: boolean
  failure: FailureClass | ''
}

/** Object names as git prints them: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits. */
export const REVISION_PATTERN = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/

/** Short form used in messages: enough to recognise a commit, short enough for one line. */
export function shortSha(sha: string): string {
  return sha.slice(0, 12)
}

/**
 * Compares the validated revision with the image's label. Pure and fail-closed: an empty side is
 * never treated as fresh, and the comparison is exact, so a label with stray whitespace or a
 * newline is a mismatch to look at, not a match to guess at. Returns the verdict (match or
 * mismatch); a side with nothing to compare throws (`empty-revision`, `missing-label`).
 */
export function decideVerdict(expected: string, imageRevision: string): Decision {
  if (!expected) {
    throw new GateError('empty-revision', 'empty expected revision')
  }
  if (!imageRevision) {
    throw new GateError('missing-label', 'image has no revision label')
  }
  if (expected === imageRevision) {
    return {
      verdict: 'match',
      reason: `provenance match: ${shortSha(expected)}`,
      pass: true,
      failure: ''
    }
  }
  const [shownImage, shownExpected] = showPair(imageRevision, expected)
  return {
    verdict: 'mismatch',
    reason: `provenance mismatch: image ${shownImage} != expected ${shownExpected}`,
    pass: false,
    failure: 'mismatch'
  }
}

/** A revision for a message: short when it is a plain object name, quoted when it is anything else. */
function showRevision(value: string): string {
  if (/^[0-9a-f]{7,64}$/.test(value)) return shortSha(value)
  return withWhitespaceNote(
    value,
    JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
  )
}

function withWhitespaceNote(value: string, shown: string): string {
  return value.trim() === value ? shown : `${shown} (surrounding whitespace)`
}

/** Longest value `showPair` shows whole when the short forms do not tell two values apart. */
const MAX_WHOLE = 200
/** Characters shown either side of the first difference of two longer values. */
const DIFFERENCE_CONTEXT = 40

/**
 * Two different values as a message shows them side by side: their short forms (`short`, by
 * default a revision's), unless those are equal — values that differ after the 12th character,
 * or one an abbreviation of the other — where `a != b` would read as nonsense. Then each is shown
 * whole (plain ids and revisions as they are, anything else quoted), or for a long value the
 * stretch around the first difference.
 */
export function showPair(
  a: string,
  b: string,
  short: (value: string) => string = showRevision
): [string, string] {
  const shortA = short(a)
  const shortB = short(b)
  if (a === b || shortA !== shortB) return [shortA, shortB]
  let at = 0
  while (at < a.length && a[at] === b[at]) at++
  return [showWhole(a, at), showWhole(b, at)]
}

function showWhole(value: string, differsAt: number): string {
  if (/^[A-Za-z0-9:._-]{1,100}$/.test(value)) return value
  if (value.length <= MAX_WHOLE) return withWhitespaceNote(value, JSON.stringify(value))
  const start = Math.max(0, differsAt - DIFFERENCE_CONTEXT)
  const end = differsAt + DIFFERENCE_CONTEXT
  const stretch = `${start > 0 ? '…' : ''}${JSON.stringify(value.slice(start, end))}${end < value.length ? '…' : ''}`
  return withWhitespaceNote(value, `${stretch} (from character ${start + 1} of ${value.length})`)
}

/**
 * The one place a failure becomes a verdict: every expected failure travels as a thrown GateError
 * (its class and message), anything else is an unexpected error, classed as `unexpected` (the
 * class of the phase it broke), so `failure` is never empty.
 */
export function failedDecision(error: unknown, unexpected: FailureClass): Decision {
  return error instanceof GateError
    ? failClosed(`provenance fail-closed: ${error.message}`, error.failure)
    : failClosed(`provenance fail-closed: unexpected error: ${describeError(error)}`, unexpected)
}

/** The verdict for any doubt that is not a plain mismatch. */
function failClosed(reason: string, failure: FailureClass): Decision {
  return { verdict: 'fail-closed', reason, pass: false, failure }
}

/**
 * The revision an image claims: its label's value, or '' when the label is absent or holds the
 * placeholder `<no value>` that some tooling writes for an unset build argument.
 */
export function revisionOf(labels: Record<string, string>, label: string): string {
  const value = Object.hasOwn(labels, label) ? (labels[label] ?? '') : ''
  return value === '<no value>' ? '' : value
}
