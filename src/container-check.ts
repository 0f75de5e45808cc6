import type { ContainerCheck } from './settings.js'
import { failClosed, shortSha, type Decision } from './verdict.js'

/** What the host said about the staging container: absent, or the image id it runs. */
export type ContainerAnswer = { exists: false } | { exists: true; imageId: string }

/** Short form of an image id for messages: `sha256:` and 12 hex digits. */
export function shortId(id: string): string {
  return id.startsWith('sha256:') ? `sha256:${shortSha(id.slice(7))}` : shortSha(id)
}

/**
 * Requires the running staging container to run the verified image: a fresh image next to a
 * container that was never recreated means staging tested old code. `auto` tolerates a missing
 * container (nothing runs, nothing is stale); `require` does not. Returns the failed decision, or
 * `undefined` when the container is fine or was not checked.
 */
export function decideContainer(
  answer: ContainerAnswer | undefined,
  imageId: string,
  check: ContainerCheck,
  container: string
): Decision | undefined {
  if (!answer || check === 'skip') return undefined
  if (!answer.exists) {
    return check === 'require'
      ? failClosed(
          `provenance fail-closed: the staging container ${container} does not exist on the host (check-container true)`,
          'stale-container'
        )
      : undefined
  }
  if (answer.imageId === imageId) return undefined
  return failClosed(
    `provenance fail-closed: the staging container ${container} runs image ${shortId(answer.imageId)}, not the verified ${shortId(imageId)}: it was not recreated after the rebuild`,
    'stale-container'
  )
}
