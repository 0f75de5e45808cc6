import { realpathSync } from 'node:fs'
import { GateError } from './errors.js'
import { describeOrigin, needsMergeCheck, type EventContext } from './event-context.js'
import type { ProcessResult } from './session/process.js'
import type { LocalRunner } from './session/runner.js'
import type { Settings } from './settings.js'
import { lastLines } from './session/tail-buffer.js'
import { REVISION_PATTERN } from './decide/verdict.js'

/** Where the revision's story goes: the log line and, for a PR merge commit, a warning. */
export interface RevisionLog {
  info(message: string): void
  warning(message: string): void
}

/**
 * The validated revision: HEAD of the checkout, logged next to the event's own idea of the
 * commit, with a warning when a pull request's HEAD is GitHub's merge commit. `resolved` learns
 * the revision before anything is logged, so a failure while logging still reports it.
 */
export async function headRevision(
  local: LocalRunner,
  settings: Settings,
  event: EventContext,
  log: RevisionLog,
  resolved: (revision: string) => void = () => undefined
): Promise<string> {
  const revision = await resolveRevision(local, settings)
  resolved(revision)
  log.info(`validated revision: ${revision} (HEAD of ${settings.checkoutPath})`)
  const merge = needsMergeCheck(event, revision)
    ? await isPullRequestMerge(local, settings, event.prHeadSha)
    : false
  const origin = describeOrigin(event, revision, merge)
  log.info(origin.line)
  if (origin.warning) log.warning(origin.warning)
  return revision
}

/**
 * `git rev-parse --show-toplevel HEAD` of the checkout, as argv with GIT_* cleared: the checkout
 * must be the top of its own work tree (a plain folder inside another repository would give that
 * repository's HEAD), and HEAD a full object name.
 */
export async function resolveRevision(local: LocalRunner, settings: Settings): Promise<string> {
  const { checkoutPath } = settings
  const seconds = settings.timeouts.gitMs / 1000
  const what = `git rev-parse HEAD in ${checkoutPath}`
  const result = await local.git(
    ['-C', checkoutPath, 'rev-parse', '--show-toplevel', 'HEAD'],
    settings.timeouts.gitMs
  )
  if (result.timedOut) {
    throw new GateError('timeout', `${what} timed out after ${seconds} s (git-timeout)`)
  }
  if (result.exitCode !== 0) {
    throw new GateError(
      'git-failed',
      `${what} failed (${exitText(result)}): ${result.spawnError ? `git is not on this runner's PATH (${result.spawnError})` : gitProblem(result.outputTail)}`
    )
  }
  const [top = '', revision = '', ...extra] = result.stdout.replace(/\n$/, '').split('\n')
  if (!revision.trim()) {
    throw new GateError('empty-revision', `${what} printed no revision`)
  }
  if (!REVISION_PATTERN.test(revision) || extra.length > 0) {
    throw new GateError(
      'git-failed',
      `${what} printed ${JSON.stringify(revision.slice(0, 80))}, not a 40- or 64-hex revision`
    )
  }
  if (!samePath(top, checkoutPath)) {
    throw new GateError(
      'git-failed',
      `path ${checkoutPath} is not the top of a git checkout: it lies inside the work tree ${top}, whose HEAD is not this checkout's. Point path at the checkout itself (actions/checkout's path)`
    )
  }
  return revision
}

function samePath(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b)
  } catch {
    return false
  }
}

/**
 * Whether HEAD is GitHub's merge commit for the pull request: two or more parents, one of them
 * the PR's head. Read from the commit object's header, so shallow clones work.
 */
async function isPullRequestMerge(
  local: LocalRunner,
  settings: Settings,
  prHeadSha: string
): Promise<boolean> {
  const result = await local.git(
    ['-C', settings.checkoutPath, 'cat-file', '-p', 'HEAD'],
    settings.timeouts.gitMs
  )
  if (result.exitCode !== 0) return false
  const header = result.stdout.split('\n\n')[0] ?? ''
  const parents = [...header.matchAll(/^parent ([0-9a-f]+)$/gm)].map(match => match[1])
  return parents.length >= 2 && parents.includes(prHeadSha)
}

/**
 * Git's own complaint (its `fatal:` and `error:` lines) rather than whatever came last, with the
 * plain cause first for the checkout problems a workflow typically has.
 */
export function gitProblem(output: string): string {
  const complaints = output.split(/\r?\n/).filter(line => /^(fatal|error):/.test(line))
  const detail = complaints.length
    ? complaints.slice(-3).join(' ')
    : lastLines(output) || 'no output'
  if (
    /unknown revision|ambiguous argument 'HEAD'|does not have any commits|Needed a single revision/i.test(
      detail
    )
  ) {
    return `the repository has no commits yet. ${detail}`
  }
  if (/cannot change to/i.test(detail)) return `the checkout path does not exist. ${detail}`
  if (/not a git repository/i.test(detail))
    return `the checkout path is not a git repository. ${detail}`
  return detail
}

/** How a process ended, in words. */
export function exitText(result: ProcessResult): string {
  if (result.spawnError) return 'could not start'
  return result.exitCode === null ? 'killed by a signal' : `exit code ${result.exitCode}`
}
