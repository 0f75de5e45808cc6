import { GateError } from './errors.js'
import type { ProcessResult } from './process.js'
import {
  HOST_KILL_AFTER_SECONDS,
  parseInspectOutput,
  parseSession,
  planHookCommand,
  planSession,
  revisionOf,
  type InspectResult,
  type SessionResult
} from './remote-command.js'
import type { Runner } from './runner.js'
import type { Settings, SshTarget } from './settings.js'
import { shellQuote } from './shell-quote.js'
import { lastLines, TailBuffer } from './tail-buffer.js'
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
  /** Waits between connection attempts. */
  sleep(ms: number): Promise<void>
  /** A fresh random token per run for the session's marker lines. */
  nonce(): string
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
  /** Every label of the inspected image, for the checks that read more than the revision. */
  labels: Record<string, string>
  phases: PhaseTiming[]
  /** The phase running when the gate stopped, so even an unexpected error gets a class. */
  current: PhaseTiming['name'] | ''
}

/** A fresh, empty set of facts. */
export function emptyFacts(): Facts {
  return {
    expectedRevision: '',
    imageRevision: '',
    imageId: '',
    labels: {},
    phases: [],
    current: ''
  }
}

/** SHA-1 and SHA-256 object names, as `git rev-parse` prints them. */
const REVISION = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/

/** Slack on top of the host's own bounds before the local side gives up on the session. */
const SESSION_MARGIN_MS = 15_000

/** Backoff before connection attempt `attempt + 2`: 1 s, 2 s, 4 s, then 8 s each. */
export function retryDelayMs(attempt: number): number {
  return Math.min(1000 * 2 ** attempt, 8000)
}

/**
 * The gate itself: validated revision, then one remote session (the hook in rebuild mode, then
 * the inspect), then the verdict. Expected failures throw a GateError naming the cause; `facts`
 * keeps what was known.
 */
export async function runGate(settings: Settings, deps: GateDeps, facts: Facts): Promise<Decision> {
  const timed = async <T>(name: PhaseTiming['name'], work: () => Promise<T>): Promise<T> => {
    const start = deps.now()
    facts.current = name
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
  const runner = ssh ? await timed('connect', () => connect(deps, ssh)) : deps.local
  try {
    const inspected = await runSession(runner, settings, revision, deps, facts)
    facts.imageId = inspected.imageId
    facts.labels = inspected.labels
    facts.imageRevision = revisionOf(inspected, settings.revisionLabel)
    deps.log.info(
      `image ${settings.image}: id ${inspected.imageId}, ${settings.revisionLabel}=${facts.imageRevision ? JSON.stringify(facts.imageRevision) : '(none)'}`
    )
  } finally {
    await runner.close()
  }
  facts.current = ''
  return decideVerdict(revision, facts.imageRevision)
}

/**
 * Opens the ssh connection, trying again with backoff only when the failure is one that happened
 * before anything ran on the host (see GateError.retryable).
 */
async function connect(deps: GateDeps, target: SshTarget): Promise<Runner> {
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
      `git rev-parse HEAD in ${checkoutPath} failed (${exitText(result)}): ${result.spawnError ?? gitProblem(result.outputTail)}`
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

/**
 * Runs the one remote session (hook, then inspect) and turns what it reported into the image's
 * identity, or a GateError that names the step and the cause. The hook's output streams live into
 * the log; the markers on stdout tell the hook's result from the inspect's.
 */
async function runSession(
  runner: Runner,
  settings: Settings,
  revision: string,
  deps: GateDeps,
  facts: Facts
): Promise<InspectResult> {
  const { log } = deps
  const rebuild = settings.mode === 'rebuild'
  const nonce = deps.nonce()
  const { rebuildMs, inspectMs } = settings.timeouts
  const hostKillMs = HOST_KILL_AFTER_SECONDS * 1000
  const boundMs =
    (rebuild ? rebuildMs + hostKillMs : 0) + inspectMs + hostKillMs + SESSION_MARGIN_MS

  const start = deps.now()
  let hookEnd: number | undefined
  let seenStdout = ''
  const hookTail = new TailBuffer(64 * 1024)
  // The marker on stdout can overtake the hook's last stderr bytes (two pipes), so the log group
  // stays open until the session ends; the marker only dates the end of the hook.
  const endHook = (): void => {
    if (hookEnd !== undefined) return
    hookEnd = deps.now()
    facts.phases.push({ name: 'hook', ms: hookEnd - start })
    facts.current = 'inspect'
  }

  let write: ((chunk: Buffer) => void) | undefined
  if (rebuild) {
    log.info(`running the hook on ${runner.where}: ${planHookCommand(settings, revision)}`)
    write = log.openRaw(`hook output (${settings.hook} --build-staging)`)
    facts.current = 'hook'
  } else {
    facts.current = 'inspect'
  }
  let result: ProcessResult
  try {
    result = await runner.run(planSession(settings, revision, nonce), {
      timeoutMs: boundMs,
      onOutput: (chunk, stream) => {
        if (stream === 'stderr') {
          hookTail.push(chunk)
          write?.(chunk)
        } else if (rebuild && hookEnd === undefined && seenStdout.length < 4096) {
          seenStdout += chunk.toString('utf8')
          if (parseSession(seenStdout, nonce).hookExit !== undefined) endHook()
        }
      }
    })
  } catch (error) {
    // The runner itself broke: keep the phase that was running for main's classification.
    const running = facts.current
    if (rebuild) endHook()
    facts.current = running
    throw error
  } finally {
    if (rebuild) log.closeRaw()
  }
  if (rebuild) endHook()
  const inspectStart = hookEnd ?? start
  const session = parseSession(result.stdout, nonce)
  // Only an inspect that was started gets a phase: not after a failed hook, not when nothing ran.
  if (!result.spawnError && !session.noTimeout && (!rebuild || session.hookExit === 0)) {
    facts.phases.push({ name: 'inspect', ms: deps.now() - inspectStart })
  }
  facts.phases.sort((a, b) => PHASE_ORDER.indexOf(a.name) - PHASE_ORDER.indexOf(b.name))

  const where = runner.where
  if (result.spawnError) {
    throw new GateError('transport', `cannot run commands on ${where}: ${result.spawnError}`)
  }
  if (session.noTimeout) {
    throw new GateError(
      rebuild ? 'hook-failed' : 'inspect-failed',
      `${where} has no \`timeout\` command (GNU coreutils or busybox); the gate needs it to bound the hook and the inspect on the host. Nothing was run`
    )
  }
  if (rebuild) {
    checkHook(
      session.hookExit,
      result,
      settings,
      where,
      (hookEnd ?? start) - start,
      hookTail.text()
    )
  }
  return checkInspect(session, result, settings, where, deps.now() - inspectStart)
}

const PHASE_ORDER: PhaseTiming['name'][] = ['git', 'connect', 'hook', 'inspect']

/** Throws unless the hook reported exit 0; tells a host-side timeout from a lost connection. */
function checkHook(
  hookExit: number | undefined,
  result: ProcessResult,
  settings: Settings,
  where: string,
  elapsedMs: number,
  tail: string
): void {
  const bound = `${settings.timeouts.rebuildMs / 1000} s (rebuild-timeout)`
  const output = lastLines(tail) || 'no output'
  if (hookExit === undefined) {
    if (result.timedOut) {
      throw new GateError(
        'timeout',
        `hook on ${where} did not finish within ${bound} and its host-side bound did not answer either; the session was stopped`
      )
    }
    if (result.exitCode === 255) {
      throw new GateError(
        'transport',
        `ssh connection to ${where} was lost while the hook was running (${lastLines(result.outputTail, 1) || 'exit 255'}); not retried, because the hook had started. Its host-side bound stops it after ${bound}`
      )
    }
    throw new GateError(
      'hook-failed',
      `hook on ${where} ended without reporting a result (${exitText(result)}): ${output}`
    )
  }
  if (hookExit === 0) return
  if (TIMEOUT_EXITS.includes(hookExit) && elapsedMs >= settings.timeouts.rebuildMs) {
    throw new GateError(
      'timeout',
      `hook timed out after ${bound} on ${where}; the host stopped it and its process group (SIGTERM, SIGKILL). Last output: ${output}`
    )
  }
  throw new GateError('hook-failed', `hook failed (exit code ${hookExit}) on ${where}: ${output}`)
}

/** Exit statuses of `timeout` when it stopped the command: TERM worked, or KILL was needed. */
const TIMEOUT_EXITS = [124, 137]

/** Reads the inspect's answer, or throws a GateError that says what the host answered. */
function checkInspect(
  session: SessionResult,
  result: ProcessResult,
  settings: Settings,
  where: string,
  elapsedMs: number
): InspectResult {
  const what = `${settings.docker} image inspect ${settings.image} on ${where}`
  const bound = `${settings.timeouts.inspectMs / 1000} s (inspect-timeout)`
  const output = lastLines(session.inspectOutput) || 'no output'
  const exit = session.inspectExit
  if (exit === undefined) {
    if (result.timedOut) {
      throw new GateError(
        'timeout',
        `${what} did not answer within ${bound}; the session was stopped`
      )
    }
    if (result.exitCode === 255) {
      throw new GateError(
        'transport',
        `ssh connection to ${where} was lost during the inspect (${lastLines(result.outputTail, 1) || 'exit 255'})`
      )
    }
    throw new GateError(
      'inspect-failed',
      `${what} ended without reporting a result (${exitText(result)}): ${lastLines(result.outputTail.replace(/^provenance-gate-[0-9a-f]+ .*$/gm, '')) || 'no output'}`
    )
  }
  if (exit !== 0) {
    if (TIMEOUT_EXITS.includes(exit) && elapsedMs >= settings.timeouts.inspectMs) {
      throw new GateError('timeout', `${what} timed out after ${bound}; the host stopped it`)
    }
    throw new GateError(
      'inspect-failed',
      `${what} failed (exit code ${exit}): ${inspectHint(exit, output, settings)}${output}`
    )
  }
  const parsed = parseInspectOutput(session.inspectOutput)
  if (!parsed) {
    throw new GateError(
      'inspect-failed',
      `${what} answered ${JSON.stringify(lastLines(session.inspectOutput, 1, 120))}, not "<image id> <labels>"`
    )
  }
  return parsed
}

/** The usual causes of a failed inspect, said in words before docker's own. */
function inspectHint(exit: number, output: string, settings: Settings): string {
  if (exit === 127)
    return `${settings.docker} is not on the host's PATH (set the docker input to its path). `
  if (
    /Cannot connect to the Docker daemon|Is the docker daemon running|connect: no such file/i.test(
      output
    )
  ) {
    return 'the container engine on the host is not running or not reachable. '
  }
  if (/No such image|image not known|not found/i.test(output)) {
    return `the image ${settings.image} does not exist on the host. `
  }
  return ''
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
  if (/unknown revision|ambiguous argument 'HEAD'|does not have any commits/i.test(detail)) {
    return `the repository has no commits yet. ${detail}`
  }
  if (/cannot change to/i.test(detail)) return `the checkout path does not exist. ${detail}`
  if (/command not found/i.test(detail)) return `git is not on this runner's PATH. ${detail}`
  return detail
}

function exitText(result: ProcessResult): string {
  if (result.spawnError) return 'could not start'
  return result.exitCode === null ? 'killed by a signal' : `exit code ${result.exitCode}`
}
