import * as core from '@actions/core'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { decideApplicability } from './decide/applicability.js'
import { actionLog, oneLine } from './action-log.js'
import { describeError, GateError, type FailureClass } from './errors.js'
import { emptyFacts, GateStopped, type Facts, type GateDeps } from './facts.js'
import { runGate } from './gate.js'
import { parseSettings, parseSwitch, readInputsFromRunner, readRunContext } from './inputs.js'
import { failureMessage, renderSummary, reportOutputs, type Report } from './report.js'
import { loadGithubRun, type EventContext } from './event-context.js'
import { readRegistryImage } from './registry/client.js'
import { promoteInRegistry } from './registry/promote.js'
import { LocalRunner, type Runner } from './session/runner.js'
import { parseSession, planCancelSession } from './session/protocol.js'
import * as os from 'node:os'
import * as path from 'node:path'
import {
  closeSshResources,
  describeTarget,
  SshRunner,
  type SshResources
} from './session/ssh-runner.js'
import { failedDecision, type Decision } from './decide/verdict.js'
import type { RunContext } from './settings.js'

/** State key under which the main step leaves what the post step must clean up. */
const SSH_STATE = 'ssh-resources'

/** State key of this run's id, which names the run record on the host; '' once nothing is left. */
const RUN_STATE = 'run-id'

/** The production wiring of the gate's seams. */
function runnerDeps(
  runnerTemp: string,
  runId: string,
  cancel: Cancellation,
  event: EventContext
): GateDeps {
  return {
    local: new LocalRunner(),
    runId,
    onRunner: runner => cancel.use(runner),
    openSsh: target => {
      if (!target.strictHostKeyChecking) {
        core.warning(
          'strict-host-key-checking is false: an unknown host key is accepted, so a man in the middle could answer for the staging host. Pin the key with known-hosts.'
        )
      }
      return SshRunner.open(target, runnerTemp, resources =>
        core.saveState(SSH_STATE, JSON.stringify(resources))
      ).then(runner => cancel.guard(runner))
    },
    log: actionLog(),
    now: () => Date.now(),
    sleep: ms => new Promise(resolve => setTimeout(resolve, ms)),
    nonce: newToken,
    readRegistry: (reference, options) =>
      readRegistryImage(reference, { ...options, mask: secret => core.setSecret(secret) }),
    promoteRegistry: (request, options) =>
      promoteInRegistry(request, { ...options, mask: secret => core.setSecret(secret) }),
    event
  }
}

/**
 * The action's main step and its one error boundary: whatever happens inside, every output is
 * set, the summary is written and the job fails unless the verdict passes.
 */
export async function run(): Promise<void> {
  const started = Date.now()
  const context = readRunContext()
  let facts = emptyFacts()
  const runId = newToken()
  const cancel = new Cancellation(runId)
  const report: Omit<Report, 'decision' | 'totalMs' | 'facts'> = {
    repository: context.repository,
    mode: '',
    where: '',
    image: ''
  }
  let decision: Decision
  try {
    core.saveState('isPost', 'true')
    core.saveState(RUN_STATE, runId)
    cancel.listen()
    const read = readInputsFromRunner()
    const { enabled, allowlist } = parseSwitch(read)
    // Only a gate that is on reads the event: a disabled one never opens the payload at all.
    const event = enabled ? await loadRun(context, report) : NO_EVENT
    const skipped = decideApplicability(enabled, allowlist, context.repository)
    if (skipped) {
      decision = skipped
    } else {
      const settings = parseSettings(read, context)
      report.mode = settings.mode
      report.image = settings.image
      report.where = describeTarget(settings.ssh)
      ;({ decision, facts } = await runGate(
        settings,
        runnerDeps(context.runnerTemp, runId, cancel, event)
      ))
    }
  } catch (error) {
    const stopped = error instanceof GateStopped ? error : undefined
    if (stopped) facts = stopped.facts
    decision = failedDecision(stopped ? stopped.error : error, PHASE_FAILURE[facts.current])
  }
  const stopped = await cancel.settled()
  if (stopped) {
    decision = failedDecision(
      new GateError(decision.failure || 'hook-failed', `the job was cancelled (${stopped})`),
      'hook-failed'
    )
  }
  // The host's run record is gone once a session ended or a cancellation ran: nothing for post.
  if (stopped || !facts.sessionOpen) core.saveState(RUN_STATE, '')
  try {
    await publish({ ...report, facts, decision, totalMs: Date.now() - started })
  } catch (error) {
    core.warning(`could not set the outputs: ${describeError(error)}`)
  }
  if (!decision.pass) core.setFailed(failureMessage(decision))
}

/**
 * The repository, server URL and event from @actions/github's context (loadGithubRun never
 * throws); a payload it could not read costs only the pull request's head SHA, said in a debug line.
 */
async function loadRun(
  context: RunContext,
  report: Omit<Report, 'decision' | 'totalMs' | 'facts'>
): Promise<EventContext> {
  const github = await loadGithubRun()
  if (github.problem) core.debug(github.problem)
  context.repository = report.repository = github.repository
  context.serverUrl = github.serverUrl
  return github.event
}

/** The event of a disabled gate, which never reads one (decideApplicability skips it). */
const NO_EVENT: EventContext = { eventName: '', sha: '', prHeadSha: '' }

/** The class of an unexpected error: that of the phase it broke, so `failure` is never empty. */
const PHASE_FAILURE: Record<Facts['current'], FailureClass> = {
  '': 'invalid-input',
  git: 'git-failed',
  connect: 'transport',
  hook: 'hook-failed',
  inspect: 'inspect-failed',
  registry: 'registry-error',
  promote: 'inspect-failed',
  upload: 'transport',
  context: 'stale-context',
  probe: 'inspect-failed'
}

/** Sets the outputs and writes the summary; a summary that cannot be written is only a warning. */
async function publish(report: Report): Promise<void> {
  for (const [name, value] of Object.entries(reportOutputs(report))) core.setOutput(name, value)
  core.info(oneLine(report.decision.reason))
  if (!process.env.GITHUB_STEP_SUMMARY) return
  try {
    await core.summary.addRaw(renderSummary(report)).write()
  } catch (error) {
    core.warning(`could not write the job summary: ${describeError(error)}`)
  }
}

/**
 * The post step, after a main step that could not finish (a cancelled or killed job): stop what
 * the run left on the host (the hook's process group, the upload directory, named by the run
 * record there), then stop the ssh master and remove the key, known_hosts and socket directories.
 * Only what this action makes is touched, whatever the state says.
 */
export async function post(): Promise<void> {
  const runId = core.getState(RUN_STATE)
  if (/^[0-9a-f]{16}$/.test(runId)) {
    try {
      const context = readRunContext()
      const settings = parseSettings(readInputsFromRunner(), context)
      const runner = settings.ssh
        ? await SshRunner.open(settings.ssh, context.runnerTemp)
        : new LocalRunner()
      try {
        core.info(await cancelOnHost(runner, runId, 'post step'))
      } finally {
        await runner.close()
      }
    } catch (error) {
      core.warning(
        `could not reach the staging host to stop what the run left: ${describeError(error)}`
      )
    }
  }
  const saved = core.getState(SSH_STATE)
  if (!saved) return
  try {
    const resources = ownResources(JSON.parse(saved) as unknown, readRunContext().runnerTemp)
    if (!resources) {
      core.warning('the saved ssh state names files this action did not make; left alone')
      return
    }
    if (resources.dirs.some(dir => existsSync(dir))) await closeSshResources(resources)
  } catch (error) {
    core.warning(`cleanup after provenance-gate failed: ${describeError(error)}`)
  }
}

/**
 * The saved ssh resources, only if every directory is one this action makes (its own prefix,
 * directly under its temp root) and the control socket lies inside one of them.
 */
export function ownResources(saved: unknown, runnerTemp: string): SshResources | undefined {
  if (typeof saved !== 'object' || saved === null) return undefined
  const { dirs, controlPath, destination } = saved as Record<string, unknown>
  if (!Array.isArray(dirs) || typeof controlPath !== 'string' || typeof destination !== 'string') {
    return undefined
  }
  const roots = [runnerTemp || os.tmpdir(), os.tmpdir()].map(root => path.resolve(root))
  const own = (dir: unknown): dir is string =>
    typeof dir === 'string' &&
    path.isAbsolute(dir) &&
    roots.includes(path.dirname(path.resolve(dir))) &&
    /^(provenance-gate-|pg-)[A-Za-z0-9]{6}$/.test(path.basename(dir))
  if (!dirs.every(own) || !dirs.some(dir => path.dirname(controlPath) === dir)) return undefined
  if (destination.startsWith('-')) return undefined
  return { dirs, controlPath, destination }
}

/** A random 16-hex token: a session's nonce or the run's id. */
function newToken(): string {
  return randomBytes(8).toString('hex')
}

/**
 * Stops the run's hook on the host through the given runner: the cancel session reads the run
 * record, stops the named process group and removes the upload directory. Returns what it did.
 */
async function cancelOnHost(runner: Runner, runId: string, why: string): Promise<string> {
  const nonce = newToken()
  const plan = planCancelSession({ nonce, runId })
  const result = await runner.session(plan.script, {
    timeoutMs: plan.boundMs,
    endsWith: plan.endLine
  })
  const answer = parseSession(result.stdout, nonce)
  if (!answer.ended) {
    return `${why}: could not confirm what was left on ${runner.where} (${result.timedOut ? 'timed out' : `exit ${result.exitCode}`})`
  }
  const done = [
    ...answer.stopped.map(group => `stopped the hook's process group ${group}`),
    ...answer.left.map(line => `(${line.slice(0, 120)})`),
    ...answer.removed.map(dir => `removed the upload ${dir}`)
  ]
  return `${why}: ${done.length ? done.join(', ') : 'nothing of this run was left running'} on ${runner.where}`
}

/**
 * SIGTERM/SIGINT of the main step (a cancelled job): the hook must not go on running on the host.
 * The first signal sends the cancel session through the runner in use; the gate then ends as the
 * stopped hook reports, and the verdict says the job was cancelled.
 */
class Cancellation {
  private runner: Runner | undefined
  private pending: Promise<string> | undefined
  private signal = ''

  constructor(private readonly runId: string) {}

  use(runner: Runner | undefined): void {
    // A signal before the session started: nothing may start on the host now.
    if (runner && this.signal) {
      throw new GateError(
        'hook-failed',
        `the job was cancelled (${this.signal}) before anything ran on the host`
      )
    }
    this.runner = runner
  }

  listen(): void {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        this.signal ||= signal
        const runner = this.runner
        this.pending ??= runner
          ? cancelOnHost(runner, this.runId, `${signal} received`).then(line => {
              core.info(line)
              return `${signal}; ${line}`
            })
          : Promise.resolve(`${signal}`)
      })
    }
  }

  /**
   * The runner, whose close waits for a cancellation in flight: the stopped hook ends the gate's
   * session, and closing the shared connection then would cut off the cancel session before it
   * reaped the group and confirmed it ("could not confirm what was left", exit 255).
   */
  guard(runner: Runner): Runner {
    return {
      where: runner.where,
      session: (input, options) => runner.session(input, options),
      close: async () => {
        await this.settled()
        await runner.close()
      }
    }
  }

  /** What a cancellation did, once it finished; '' when there was none. */
  async settled(): Promise<string> {
    return this.pending
      ? await this.pending.catch((error: unknown) => `cancelled: ${describeError(error)}`)
      : ''
  }
}

/** Whether this invocation is the post step: the main step marks its run in the state. */
export function isPost(): boolean {
  return core.getState('isPost') === 'true'
}
