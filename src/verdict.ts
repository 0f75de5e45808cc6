import type { FailureClass } from './errors.js'

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
 * Two different values as a message shows them: short, unless their short forms are equal, when
 * only the full values tell them apart.
 */
export function showPair(a: string, b: string): [string, string] {
  return a !== b && shortSha(a) === shortSha(b) ? [a, b] : [shortSha(a), shortSha(b)]
}

/**
 * Compares the validated revision with the image's label. Pure and fail-closed: an empty side is
 * never treated as fresh, and the comparison is exact, so a label with stray whitespace or a
 * newline is a mismatch to look at, not a match to guess at.
 */
export function decideVerdict(expected: string, imageRevision: string): Decision {
  if (!expected) {
    return failClosed('provenance fail-closed: empty expected revision', 'empty-revision')
  }
  if (!imageRevision) {
    return failClosed('provenance fail-closed: image has no revision label', 'missing-label')
  }
  if (expected === imageRevision) {
    return {
      verdict: 'match',
      reason: `provenance match: ${shortSha(expected)}`,
      pass: true,
      failure: ''
    }
  }
  return {
    verdict: 'mismatch',
    reason: `provenance mismatch: image ${showRevision(imageRevision)} != expected ${showRevision(expected)}`,
    pass: false,
    failure: 'mismatch'
  }
}

/** A revision for a message: short when it is a plain object name, quoted when it is anything else. */
function showRevision(value: string): string {
  if (/^[0-9a-f]{7,64}$/.test(value)) return shortSha(value)
  const quoted = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
  return value.trim() === value ? quoted : `${quoted} (surrounding whitespace)`
}

/** The verdict for any doubt that is not a plain mismatch. */
export function failClosed(reason: string, failure: FailureClass): Decision {
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
