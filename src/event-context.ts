import { readFileSync } from 'node:fs'

/** Where the workflow's idea of "the commit" came from, logged next to the validated HEAD. */
export interface EventContext {
  eventName: string
  /** GITHUB_SHA: for pull requests, the merge commit GitHub made, not the PR's head. */
  sha: string
  /** The pull request's head commit from the event payload; '' for other events. */
  prHeadSha: string
}

const PULL_REQUEST_EVENTS = ['pull_request', 'pull_request_target']

/** Reads the event name, GITHUB_SHA and (for pull requests) the head SHA from the payload file. */
export function readEventContext(env: NodeJS.ProcessEnv = process.env): EventContext {
  const eventName = env.GITHUB_EVENT_NAME ?? ''
  let prHeadSha = ''
  if (PULL_REQUEST_EVENTS.includes(eventName) && env.GITHUB_EVENT_PATH) {
    try {
      const payload = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH, 'utf8')) as {
        pull_request?: { head?: { sha?: unknown } }
      }
      const sha = payload.pull_request?.head?.sha
      prHeadSha = typeof sha === 'string' ? sha : ''
    } catch {
      // An unreadable payload only costs the log line; the gate's anchor is HEAD either way.
    }
  }
  return { eventName, sha: env.GITHUB_SHA ?? '', prHeadSha }
}

/** Whether the origin check needs to know if HEAD is a merge commit (it costs one git call). */
export function needsMergeCheck(event: EventContext, head: string): boolean {
  return (
    PULL_REQUEST_EVENTS.includes(event.eventName) && !!event.prHeadSha && head !== event.prHeadSha
  )
}

/**
 * The log line naming every candidate "commit" of this run, and a warning when a pull request's
 * HEAD is GitHub's merge commit: the gate checks HEAD (what was tested), so an image built from
 * the PR head is a mismatch, which surprises people who expect the PR's own commit.
 */
export function describeOrigin(
  event: EventContext,
  head: string,
  headIsMerge: boolean
): { line: string; warning: string } {
  const line = `event ${event.eventName || '(none)'}: GITHUB_SHA ${event.sha || '(unset)'}, pull request head ${event.prHeadSha || '(none)'}, HEAD ${head}`
  const warning =
    needsMergeCheck(event, head) && headIsMerge
      ? `HEAD ${head.slice(0, 12)} is the merge commit GitHub made for this pull request, not its head ${event.prHeadSha.slice(0, 12)}. The gate requires the image to be built from HEAD (what this run tested); a hook that builds the PR head will be reported as a mismatch. Build from GIT_SHA, or check out the head (actions/checkout with ref: \${{ github.event.pull_request.head.sha }}).`
      : ''
  return { line, warning }
}
