import * as core from './actions-core.js'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { decideApplicability } from './applicability.js'
import { actionLog, oneLine } from './action-log.js'
import { describeError, GateError, type FailureClass } from './errors.js'
import { emptyFacts, runGate, type Facts, type GateDeps } from './gate.js'
import { parseSettings, parseSwitch, readInputsFromRunner, readRunContext } from './inputs.js'
import { failureMessage, renderSummary, reportOutputs, type Report } from './report.js'
import { readEventContext } from './event-context.js'
import { readRegistryImage } from './registry.js'
import { LocalRunner } from './runner.js'
import { closeSshResources, describeTarget, SshRunner, type SshResources } from './ssh-runner.js'
import { failClosed, type Decision } from './verdict.js'

/** State key under which the main step leaves what the post step must clean up. */
const SSH_STATE = 'ssh-resources'

/** The production wiring of the gate's seams. */
function runnerDeps(runnerTemp: string): GateDeps {
  return {
    local: new LocalRunner(),
    openSsh: target => {
      if (!target.strictHostKeyChecking) {
        core.warning(
          'strict-host-key-checking is false: an unknown host key is accepted, so a man in the middle could answer for the staging host. Pin the key with known-hosts.'
        )
      }
      return SshRunner.open(target, runnerTemp, resources =>
        core.saveState(SSH_STATE, JSON.stringify(resources))
      )
    },
    log: actionLog(),
    now: () => Date.now(),
    sleep: ms => new Promise(resolve => setTimeout(resolve, ms)),
    nonce: () => randomBytes(8).toString('hex'),
    readRegistry: (reference, options) =>
      readRegistryImage(reference, { ...options, mask: secret => core.setSecret(secret) }),
    event: readEventContext()
  }
}

/**
 * The action's main step and its one error boundary: whatever happens inside, every output is
 * set, the summary is written and the job fails unless the verdict passes.
 */
export async function run(): Promise<void> {
  const started = Date.now()
  const context = readRunContext()
  const facts = emptyFacts()
  const report: Omit<Report, 'decision' | 'totalMs'> = {
    facts,
    repository: context.repository,
    mode: '',
    where: '',
    image: ''
  }
  let decision: Decision
  try {
    core.saveState('isPost', 'true')
    const read = readInputsFromRunner()
    const { enabled, allowlist } = parseSwitch(read)
    const skipped = decideApplicability(enabled, allowlist, context.repository)
    if (skipped) {
      decision = skipped
    } else {
      const settings = parseSettings(read, context)
      report.mode = settings.mode
      report.image = settings.image
      report.where = describeTarget(settings.ssh)
      decision = await runGate(settings, runnerDeps(context.runnerTemp), facts)
    }
  } catch (error) {
    decision =
      error instanceof GateError
        ? failClosed(`provenance fail-closed: ${error.message}`, error.failure)
        : failClosed(
            `provenance fail-closed: unexpected error: ${describeError(error)}`,
            PHASE_FAILURE[facts.current]
          )
  }
  try {
    await publish({ ...report, decision, totalMs: Date.now() - started })
  } catch (error) {
    core.warning(`could not set the outputs: ${describeError(error)}`)
  }
  if (!decision.pass) core.setFailed(failureMessage(decision))
}

/** The class of an unexpected error: that of the phase it broke, so `failure` is never empty. */
const PHASE_FAILURE: Record<Facts['current'], FailureClass> = {
  '': 'invalid-input',
  git: 'git-failed',
  connect: 'transport',
  hook: 'hook-failed',
  inspect: 'inspect-failed',
  registry: 'registry-error',
  promote: 'inspect-failed'
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
 * The post step: if the main step died before it could clean up (a cancelled job), stop the ssh
 * master and remove the key, known_hosts and socket directories it left.
 */
export async function post(): Promise<void> {
  const saved = core.getState(SSH_STATE)
  if (!saved) return
  try {
    const resources = JSON.parse(saved) as SshResources
    if (resources.dirs.some(dir => existsSync(dir))) await closeSshResources(resources)
  } catch (error) {
    core.warning(`cleanup after provenance-gate failed: ${describeError(error)}`)
  }
}

/** Whether this invocation is the post step: the main step marks its run in the state. */
export function isPost(): boolean {
  return core.getState('isPost') === 'true'
}
