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

/** Short form used in messages: enough to recognise a commit, short enough for one line. */
export function shortSha(sha: string): string {
  return sha.slice(0, 12)
}

/**
 * Compares the validated revision with the image's label. Pure and fail-closed: an empty side
 * is never treated as fresh, so a missing label or an unknown commit can never be promoted.
 */
export function decideVerdict(expected: string, imageRevision: string): Decision {
  const exp = expected.trim()
  const img = imageRevision.trim()
  if (!exp) {
    return failClosed('provenance fail-closed: empty expected revision', 'empty-revision')
  }
  if (!img) {
    return failClosed('provenance fail-closed: image has no revision label', 'missing-label')
  }
  if (exp === img) {
    return {
      verdict: 'match',
      reason: `provenance match: ${shortSha(exp)}`,
      pass: true,
      failure: ''
    }
  }
  return {
    verdict: 'mismatch',
    reason: `provenance mismatch: image ${shortSha(img)} != expected ${shortSha(exp)}`,
    pass: false,
    failure: 'mismatch'
  }
}

/** The verdict for any doubt that is not a plain mismatch. */
export function failClosed(reason: string, failure: FailureClass | ''): Decision {
  return { verdict: 'fail-closed', reason, pass: false, failure }
}
