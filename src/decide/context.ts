import type { ContextReport } from '../session/protocol.js'
import type { ContextSettings } from '../settings.js'
import { GateError } from '../errors.js'
import { showPair } from './verdict.js'

/**
 * Decides on the build context the host reported: a git work tree must be at the validated
 * revision and clean, or the hook would stamp that revision on other code. A context that is not
 * a git work tree passes only under `auto`, said out loud; anything that keeps the gate from
 * knowing (no git, git refusing a foreign owner, an unreadable answer) fails: a `stale-context`
 * (or `timeout`) GateError. Returns what the log should say on a pass.
 */
export function decideContext(
  report: ContextReport | undefined,
  expected: string,
  check: ContextSettings['check'],
  context: string,
  where: string,
  when: 'before' | 'after' = 'before'
): string {
  const at = `build context ${context} on ${where}`
  const after =
    when === 'before'
      ? 'the hook did not run'
      : 'the hook (sync-context) did not leave it at the validated commit, so what it built is not proven'
  const fail = (reason: string): GateError => new GateError('stale-context', `${reason}; ${after}`)
  if (!report) throw fail(`${at} could not be read (the context check gave no answer)`)
  switch (report.kind) {
    case 'no-git':
      throw fail(
        `git is not installed on ${where}, so the build context ${context} cannot be checked; install git there, or use upload-context: true`
      )
    case 'unsafe':
      throw fail(
        `git on ${where} refuses ${context}: it belongs to another user (safe.directory). Let the ssh user own it, or add it with git config --global --add safe.directory ${context} for that user`
      )
    case 'timeout':
      throw new GateError(
        'timeout',
        `git on ${where} did not answer about ${context} within inspect-timeout; ${after}`
      )
    case 'failed':
      throw fail(`git ${report.what} failed in ${at}`)
    case 'not-a-work-tree':
      if (check === 'require') {
        throw fail(
          `${at} is not a git work tree (check-context: true): nothing proves which commit it holds. Use upload-context: true, or a clone at the validated commit`
        )
      }
      return `build context not verified: ${context} on ${where} is not a git work tree, so the gate trusts the hook to build the validated commit (check-context: true refuses this)`
    case 'tree': {
      if (report.head !== expected) {
        const [head, want] = showPair(report.head, expected)
        throw fail(`${at} is at ${head}, not the validated ${want}`)
      }
      if (report.dirty > 0) {
        const first = report.first ? ` (first: ${report.first.slice(0, 200)})` : ''
        throw fail(`${at} is dirty: ${report.dirty} files${first}, at ${expected.slice(0, 12)}`)
      }
      return `build context ${context} on ${where}: clean work tree at ${expected.slice(0, 12)}`
    }
  }
}
