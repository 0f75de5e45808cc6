import { describeError } from './errors.js'

/** Where the workflow's idea of "the commit" came from, logged next to the validated HEAD. */
export interface EventContext {
  eventName: string
  /** GITHUB_SHA: for pull requests, the merge commit GitHub made, not the PR's head. */
  sha: string
  /** The pull request's head commit from the event payload; '' for other events. */
  prHeadSha: string
}

/** The workflow run as the gate needs it: the event, and what a source label must name. */
export interface GithubRun {
  /** `owner/name`; '' when the runner names none (a local run). */
  repository: string
  serverUrl: string
  event: EventContext
  /** Why the event payload could not be read ('' when it could): it only costs the head SHA. */
  problem: string
}

/** The part of @actions/github's `Context` read here (a test builds it by hand). */
export interface GithubContext {
  eventName?: string
  sha?: string
  serverUrl?: string
  payload: unknown
  readonly repo: { owner: string; repo: string }
}

const PULL_REQUEST_EVENTS = ['pull_request', 'pull_request_target']
const DEFAULT_SERVER_URL = 'https://github.com'

/**
 * Reads the run through @actions/github's `context`, imported here, inside the try, rather than at
 * the top of the bundle: the package parses the event payload while it is imported, and a payload
 * that is not JSON must cost only the pull request's head SHA, never the action or a disabled
 * gate's verdict. A fresh `Context` is built from the environment as it is now (the package's own
 * instance is built once, at its import). Never throws.
 */
export async function loadGithubRun(): Promise<GithubRun> {
  try {
    const { context } = await import('@actions/github')
    const Context = context.constructor as new () => typeof context
    return fromGithubContext(new Context(), process.env)
  } catch (error) {
    return fromEnvironment(
      process.env,
      `@actions/github could not read the event: ${describeError(error)}`
    )
  }
}

/**
 * The run from a context: the head SHA only for pull request events (another event's payload may
 * carry a stale `pull_request`), an empty server URL means github.com, and a repository the
 * context cannot name is '' (the allowlist then refuses to guess).
 */
export function fromGithubContext(context: GithubContext, env: NodeJS.ProcessEnv): GithubRun {
  const eventName = context.eventName ?? ''
  let prHeadSha = ''
  if (PULL_REQUEST_EVENTS.includes(eventName)) {
    const payload = context.payload as { pull_request?: { head?: { sha?: unknown } } } | null
    const sha = payload?.pull_request?.head?.sha
    prHeadSha = typeof sha === 'string' ? sha : ''
  }
  return {
    repository: repositoryOf(context, env),
    serverUrl: context.serverUrl || DEFAULT_SERVER_URL,
    event: { eventName, sha: context.sha ?? '', prHeadSha },
    problem: ''
  }
}

/** `context.repo` as owner/name; GITHUB_REPOSITORY as it is when that is not owner/name. */
function repositoryOf(context: GithubContext, env: NodeJS.ProcessEnv): string {
  try {
    const { owner, repo } = context.repo
    if (owner && repo) return `${owner}/${repo}`
  } catch {
    // No GITHUB_REPOSITORY and no repository in the payload (or no payload object at all).
  }
  return env.GITHUB_REPOSITORY ?? ''
}

/** The run from the variables alone, when @actions/github could not read the payload. */
export function fromEnvironment(env: NodeJS.ProcessEnv, problem: string): GithubRun {
  return {
    repository: env.GITHUB_REPOSITORY ?? '',
    serverUrl: env.GITHUB_SERVER_URL || DEFAULT_SERVER_URL,
    event: { eventName: env.GITHUB_EVENT_NAME ?? '', sha: env.GITHUB_SHA ?? '', prHeadSha: '' },
    problem
  }
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
