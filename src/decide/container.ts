import type { ContainerCheck } from '../settings.js'
import { GateError } from '../errors.js'
import { shortSha, showPair } from './verdict.js'

/** One staging container as the host reported it. */
export interface ContainerState {
  name: string
  imageId: string
  running: boolean
}

/** What the host said about the staging container(s): none, or each with the image id it runs. */
export type ContainerAnswer = { exists: false } | { exists: true; containers: ContainerState[] }

/** Short form of an image id for messages: `sha256:` and 12 hex digits. */
export function shortId(id: string): string {
  return id.startsWith('sha256:') ? `sha256:${shortSha(id.slice(7))}` : shortSha(id)
}

/**
 * Requires every running staging container to run the verified image: a fresh image next to a
 * container that was never recreated means staging tested old code. `auto` tolerates a missing or
 * stopped container (nothing runs, nothing is stale); `require` wants at least one running. Throws
 * a `stale-container` GateError unless the containers are fine or were not checked.
 */
export function decideContainer(
  answer: ContainerAnswer | undefined,
  imageId: string,
  check: ContainerCheck,
  container: string
): void {
  if (!answer || check === 'skip') return
  const running = answer.exists ? answer.containers.filter(c => c.running) : []
  const stale = running.find(c => c.imageId !== imageId)
  if (stale) {
    const [runs, verified] = showPair(stale.imageId, imageId, shortId)
    throw new GateError(
      'stale-container',
      `the staging container ${stale.name} runs image ${runs}, not the verified ${verified}: it was not recreated after the rebuild`
    )
  }
  if (running.length > 0 || check !== 'require') return
  throw new GateError(
    'stale-container',
    answer.exists
      ? `the staging container ${answer.containers.map(c => c.name).join(', ')} exists but is not running (check-container true)`
      : `the staging container ${container} does not exist on the host (check-container true)`
  )
}
