import { GateError } from '../errors.js'
import type { GateDeps } from '../facts.js'
import type { SshTarget } from '../settings.js'
import type { Runner } from './runner.js'

/** Backoff before connection attempt `attempt + 2`: 1 s, 2 s, 4 s, then 8 s each. */
export function retryDelayMs(attempt: number): number {
  return Math.min(1000 * 2 ** attempt, 8000)
}

/**
 * Opens the ssh connection, trying again with backoff only when the failure is one that happened
 * before anything ran on the host (see GateError.retryable).
 */
export async function connect(deps: GateDeps, target: SshTarget): Promise<Runner> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await deps.openSsh(target)
    } catch (error) {
      if (!(error instanceof GateError) || !error.retryable) throw error
      if (attempt >= target.retries) {
        const tries = attempt + 1
        throw new GateError(
          error.failure,
          `${error.message} (${tries} attempt${tries === 1 ? '' : 's'}, ssh-retries ${target.retries})`
        )
      }
      const delay = retryDelayMs(attempt)
      deps.log.info(
        `${error.message}; nothing ran on the host, retrying in ${delay / 1000} s (attempt ${attempt + 2} of ${target.retries + 1})`
      )
      await deps.sleep(delay)
    }
  }
}
