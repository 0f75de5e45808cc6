import { GateError } from './errors.js'
import type { ProcessResult } from './process.js'
import { parseInspectOutput, planHookCommand, planInspectCommand } from './remote-command.js'
import type { Runner } from './runner.js'
import type { Settings, SshTarget } from './settings.js'
import { shellQuote } from './shell-quote.js'
import { lastLines } from './tail-buffer.js'
import { decideVerdict, type Decision } from './verdict.js'

/** Where the gate's messages go; the action wires it to the runner's log. */
export interface GateLog {
  info(message: string): void
  /**
   * Opens a collapsed group for a program's live output and returns the writer for its chunks.
   * The output is shown verbatim and never interpreted as workflow commands.
   */
  openRaw(title: string): (chunk: Buffer) => void
  closeRaw(): void
}

/** The gate's only ways to touch the world, so tests swap objects instead of modules. */
export interface GateDeps {
  /** Runs git on this runner, and everything else when no host is set. */
  local: Runner
  /** Opens the shared ssh connection; throws a GateError (`host-key`, `transport`) on failure. */
  openSsh(target: SshTarget): Promise<Runner>
  log: GateLog
  now(): number
}

/** How long one phase took, for the summary. */
export interface PhaseTiming {
  name: 'git' | 'connect' | 'hook' | 'inspect'
  ms: number
}

/**
 * What the gate learned, filled in as it goes so that a failure half-way still reports every
 * value it had (an unknown value stays '').
 */
export interface Facts {
  expectedRevision: string
  imageRevision: string
  imageId: string
  phases: PhaseTiming[]
}

/** A fresh, empty set of facts. */
export function emptyFacts(): Facts {
  return { expectedRevision: '', imageRevision: '', imageId: '', phases: [] }
}

/** SHA-1 and SHA-256 object names, as `git rev-parse` prints them. */
const REVISION = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/

/**
 * The gate itself: validated revision, then (rebuild mode) the hook, then one inspect, then the
 * verdict. Expected failures throw a GateError naming the cause; `facts` keeps what was known.
 */
export async function runGate(settings: Settings, deps: GateDeps, facts: Facts): Promise<Decision> {
  const timed = async <T>(name: PhaseTiming['name'], work: () => Promise<T>): Promise<T> => {
    const start = deps.now()
    try {
      return await work()
    } finally {
      facts.phases.push({ name, ms: deps.now() - start })
    }
  }

  const revision = await timed('git', () => resolveRevision(deps.local, settings))
  facts.expectedRevision = revision
  deps.log.info(`validated revision: ${revision} (HEAD of ${settings.checkoutPath})`)

  const { ssh } = settings
  const runner = ssh ? await timed('connect', () => deps.openSsh(ssh)) : deps.local
  try {
    if (settings.mode === 'rebuild') {
      await timed('hook', () => runHook(runner, settings, revision, deps.log))
    }
    const inspected = await timed('inspect', () => inspectImage(runner, settings))
    facts.imageId = inspected.imageId
    facts.imageRevision = inspected.revision
    deps.log.info(
      `image ${settings.image}: id ${inspected.imageId}, ${settings.revisionLabel}=${inspected.revision || '(none)'}`
    )
  } finally {
    await runner.close()
  }
  return decideVerdict(revision, facts.imageRevision)
}

/** `git rev-parse HEAD` of the checkout, checked to be a full object name. */
export async function resolveRevision(local: Runner, settings: Settings): Promise<string> {
  const { checkoutPath } = settings
  const seconds = settings.timeouts.gitMs / 1000
  const result = await local.run(`git -C ${shellQuote(checkoutPath)} rev-parse HEAD`, {
    timeoutMs: settings.timeouts.gitMs
  })
  if (result.timedOut) {
    throw new GateError(
      'timeout',
      `git rev-parse HEAD in ${checkoutPath} timed out after ${seconds} s (git-timeout)`
    )
  }
  if (result.exitCode !== 0) {
    throw new GateError(
      'git-failed',
      `git rev-parse HEAD in ${checkoutPath} failed (${exitText(result)}): ${result.spawnError ?? (lastLines(result.outputTail) || 'no output')}`
    )
  }
  const revision = result.stdout.trim()
  if (!revision) {
    throw new GateError(
      'empty-revision',
      `git rev-parse HEAD in ${checkoutPath} printed no revision`
    )
  }
  if (!REVISION.test(revision)) {
    throw new GateError(
      'git-failed',
      `git rev-parse HEAD in ${checkoutPath} printed ${JSON.stringify(revision.slice(0, 80))}, not a 40- or 64-hex revision`
    )
  }
  return revision
}

async function runHook(
  runner: Runner,
  settings: Settings,
  revision: string,
  log: GateLog
): Promise<void> {
  const command = planHookCommand(settings, revision)
  log.info(`running the hook on ${runner.where}: ${command}`)
  const write = log.openRaw(`hook output (${settings.hook} --build-staging)`)
  let result: ProcessResult
  try {
    result = await runner.run(command, { timeoutMs: settings.timeouts.rebuildMs, onOutput: write })
  } finally {
    log.closeRaw()
  }
  if (result.timedOut) {
    throw new GateError(
      'timeout',
      `hook timed out after ${settings.timeouts.rebuildMs / 1000} s (rebuild-timeout) on ${runner.where}`
    )
  }
  if (result.spawnError) {
    throw new GateError(
      'transport',
      `cannot start the hook on ${runner.where}: ${result.spawnError}`
    )
  }
  if (result.exitCode !== 0) {
    throw new GateError(
      'hook-failed',
      `hook failed (${exitText(result)}) on ${runner.where}: ${lastLines(result.outputTail) || 'no output'}`
    )
  }
}

async function inspectImage(
  runner: Runner,
  settings: Settings
): Promise<{ imageId: string; revision: string }> {
  const result = await runner.run(planInspectCommand(settings), {
    timeoutMs: settings.timeouts.inspectMs
  })
  const what = `${settings.docker} image inspect ${settings.image} on ${runner.where}`
  if (result.timedOut) {
    throw new GateError(
      'timeout',
      `${what} timed out after ${settings.timeouts.inspectMs / 1000} s (inspect-timeout)`
    )
  }
  if (result.spawnError || result.exitCode !== 0) {
    const detail = result.spawnError ?? (lastLines(result.outputTail) || 'no output')
    throw new GateError('inspect-failed', `${what} failed (${exitText(result)}): ${detail}`)
  }
  const parsed = parseInspectOutput(result.stdout)
  if (!parsed) {
    throw new GateError(
      'inspect-failed',
      `${what} answered ${JSON.stringify(lastLines(result.stdout, 1, 120))}, not "<image id> <label>"`
    )
  }
  return parsed
}

function exitText(result: ProcessResult): string {
  if (result.spawnError) return 'could not start'
  return result.exitCode === null ? 'killed by a signal' : `exit code ${result.exitCode}`
}
