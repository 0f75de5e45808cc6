/**
 * Why a run failed, as a stable word a deploy engineer (or a later workflow step) can branch on.
 * Every failure maps to exactly one class; the verdict stays `fail-closed` or `mismatch`.
 */
export type FailureClass =
  | 'invalid-input'
  | 'prod-target'
  | 'git-failed'
  | 'empty-revision'
  | 'host-key'
  | 'transport'
  | 'hook-failed'
  | 'timeout'
  | 'inspect-failed'
  | 'missing-label'
  | 'mismatch'
  | 'stale-container'
  | 'wrong-source'
  | 'registry-auth'
  | 'registry-not-found'
  | 'registry-error'
  | 'stale-context'

/** A failure whose cause is known and already worded for the user; never shown with a stack. */
export class GateError extends Error {
  constructor(
    readonly failure: FailureClass,
    message: string,
    /**
     * Only a connection that failed before anything ran on the host (refused, reset, DNS,
     * timeout) may be tried again; a host key, a refused login or anything later never is.
     */
    readonly retryable = false
  ) {
    super(message)
    this.name = 'GateError'
  }
}

/** Bad input, caught before anything runs remotely. */
export class InputError extends GateError {
  constructor(message: string, failure: 'invalid-input' | 'prod-target' = 'invalid-input') {
    super(failure, message)
    this.name = 'InputError'
  }
}

/** One line for an unexpected throw, so even a bug ends in a worded, failed verdict. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name
  return String(error)
}
