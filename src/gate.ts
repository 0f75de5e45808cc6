import { describeError, GateError } from './errors.js'
import { KEEP_BYTES, type ProcessResult } from './process.js'
import { decideContainer, shortId, type ContainerAnswer } from './container-check.js'
import { describeOrigin, needsMergeCheck, type EventContext } from './event-context.js'
import type { RegistryImage, RegistryOptions } from './registry.js'
import { decideSource } from './source-check.js'
import {
  HOST_KILL_AFTER_SECONDS,
  inspectTarget,
  parseContainerOutput,
  parseInspectOutput,
  parseSession,
  planHookCommand,
  planPromoteSession,
  planSession,
  revisionOf,
  type InspectResult,
  type SessionResult,
  withoutMarkers
} from './remote-command.js'
import type { Runner } from './runner.js'
import type { Settings, SshTarget } from './settings.js'
import { shellQuote } from './shell-quote.js'
import { lastLines, TailBuffer } from './tail-buffer.js'
import { decideVerdict, failClosed, REVISION_PATTERN, type Decision } from './verdict.js'

/** Where the gate's messages go; the action wires it to the runner's log. */
export interface GateLog {
  info(message: string): void
  /** A warning annotation: something the user should fix even though the gate may pass. */
  warning(message: string): void
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
  /** Reads an image's manifest and config from its registry (label-source registry). */
  readRegistry(reference: string, options: RegistryOptions): Promise<RegistryImage>
  /** Where this run's commit came from (event, GITHUB_SHA, pull request head). */
  event: EventContext
}

/** How long one phase took, for the summary. */
export interface PhaseTiming {
  name: 'git' | 'connect' | 'hook' | 'inspect' | 'registry' | 'promote'
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
  /** Manifest digest, when the labels came from the registry. */
  imageDigest: string
  /** The prod image's id after a promotion: equal to imageId, or the promotion failed. */
  prodImageId: string
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
    imageDigest: '',
    prodImageId: '',
    labels: {},
    phases: [],
    current: ''
  }
}

const KEEP_KIB = KEEP_BYTES / 1024
const HOST_KILL_AFTER_MS = HOST_KILL_AFTER_SECONDS * 1000

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

  const revision =
    settings.promote?.expectedRevision || (await headRevision(settings, deps, facts, timed))
  facts.expectedRevision = revision

  // Registry labels in verify mode need nothing on the host: no connection at all.
  const needsHost = settings.mode === 'rebuild' || settings.labelSource === 'host'
  const { ssh } = settings
  let runner: Runner | undefined
  try {
    if (needsHost) runner = ssh ? await timed('connect', () => connect(deps, ssh)) : deps.local
    const answer = runner ? await runSession(runner, settings, revision, deps, facts) : {}
    if (settings.labelSource === 'registry') {
      const image = await timed('registry', () =>
        deps.readRegistry(settings.image, {
          ...settings.registry,
          timeoutMs: settings.timeouts.inspectMs
        })
      )
      facts.imageId = image.configDigest
      facts.imageDigest = image.digest
      facts.labels = image.labels
      deps.log.info(
        `registry: ${settings.image} is ${image.digest} (${settings.registry.platform}: manifest ${image.manifestDigest}, config ${image.configDigest})`
      )
    } else if (answer.inspected) {
      facts.imageId = answer.inspected.imageId
      facts.labels = answer.inspected.labels
    }
    facts.imageRevision = revisionOf(
      { imageId: facts.imageId, labels: facts.labels },
      settings.revisionLabel
    )
    deps.log.info(
      `image ${inspectTarget(settings)}: id ${facts.imageId}, ${settings.revisionLabel}=${facts.imageRevision ? JSON.stringify(facts.imageRevision) : '(none)'}`
    )
    facts.current = ''

    const verdict = decideVerdict(revision, facts.imageRevision)
    if (!verdict.pass) return verdict
    const source = decideSource(facts.labels, settings.repositoryUrl, settings.requireSource)
    if (source) return source
    if (answer.container && !answer.container.exists) {
      deps.log.info(
        `no container ${settings.staging.container} on the host: nothing runs, nothing to compare`
      )
    }
    const container = decideContainer(
      answer.container,
      facts.imageId,
      settings.containerCheck,
      settings.staging.container
    )
    if (container) return container
    if (settings.promote && runner) {
      const promoteRunner = runner
      const promoted = await timed('promote', () =>
        promote(promoteRunner, settings, revision, deps, facts)
      )
      facts.current = ''
      if (promoted) return promoted
      return {
        ...verdict,
        reason: `${verdict.reason}, promoted to ${settings.promote.prodImage} as ${shortId(facts.imageId)}`
      }
    }
    return verdict
  } finally {
    // Cleanup trouble must not replace the verdict; the post step retries what is left.
    await runner?.close().catch((error: unknown) => {
      deps.log.warning(`could not close the connection cleanly: ${describeError(error)}`)
    })
  }
}

/**
 * The validated revision: HEAD of the checkout, logged next to the event's own idea of the
 * commit, with a warning when a pull request's HEAD is GitHub's merge commit.
 */
async function headRevision(
  settings: Settings,
  deps: GateDeps,
  facts: Facts,
  timed: <T>(name: PhaseTiming['name'], work: () => Promise<T>) => Promise<T>
): Promise<string> {
  const revision = await timed('git', () => resolveRevision(deps.local, settings))
  facts.expectedRevision = revision
  deps.log.info(`validated revision: ${revision} (HEAD of ${settings.checkoutPath})`)
  const merge = needsMergeCheck(deps.event, revision)
    ? await isPullRequestMerge(deps.local, settings, deps.event.prHeadSha)
    : false
  const origin = describeOrigin(deps.event, revision, merge)
  deps.log.info(origin.line)
  if (origin.warning) deps.log.warning(origin.warning)
  return revision
}

/**
 * Whether HEAD is GitHub's merge commit for the pull request: two or more parents, one of them
 * the PR's head. Read from the commit object's header, so shallow clones work.
 */
async function isPullRequestMerge(
  local: Runner,
  settings: Settings,
  prHeadSha: string
): Promise<boolean> {
  const result = await local.run(`git -C ${shellQuote(settings.checkoutPath)} cat-file -p HEAD`, {
    timeoutMs: settings.timeouts.gitMs
  })
  if (result.exitCode !== 0) return false
  const header = result.stdout.split('\n\n')[0] ?? ''
  const parents = [...header.matchAll(/^parent ([0-9a-f]+)$/gm)].map(match => match[1])
  return parents.length >= 2 && parents.includes(prHeadSha)
}

/**
 * The promotion, after the staging image passed: tag it by id to prod-image, read prod-image back
 * and require the same id and revision. Returns a failed decision, or `undefined` when promoted.
 */
async function promote(
  runner: Runner,
  settings: Settings,
  revision: string,
  deps: GateDeps,
  facts: Facts
): Promise<Decision | undefined> {
  const promoteSettings = settings.promote
  if (!promoteSettings) return undefined
  const { prodImage } = promoteSettings
  const nonce = deps.nonce()
  const start = deps.now()
  deps.log.info(`promoting ${facts.imageId} to ${prodImage} on ${runner.where}`)
  const result = await runner.run(planPromoteSession(settings, facts.imageId, nonce), {
    timeoutMs: 2 * (settings.timeouts.inspectMs + HOST_KILL_AFTER_MS) + SESSION_MARGIN_MS
  })
  const where = runner.where
  const session = sessionAnswer(result, nonce, where, 'inspect-failed')
  checkStep(
    'tag',
    { exit: session.tagExit, output: session.tagOutput },
    result,
    settings,
    `${settings.docker} tag ${facts.imageId} ${prodImage} on ${where}`,
    deps.now() - start,
    facts.imageId
  )
  const prod = checkInspect(session, result, settings, where, deps.now() - start, prodImage)
  facts.prodImageId = prod.imageId
  if (prod.imageId !== facts.imageId) {
    return failClosed(
      `provenance fail-closed: after docker tag, ${prodImage} has id ${shortId(prod.imageId)}, not the verified ${shortId(facts.imageId)}: something else wrote the tag at the same time`,
      'mismatch'
    )
  }
  const prodRevision = revisionOf(prod, settings.revisionLabel)
  if (prodRevision !== revision) {
    return failClosed(
      `provenance fail-closed: after docker tag, ${prodImage} carries revision ${JSON.stringify(prodRevision)}, not ${revision}`,
      'mismatch'
    )
  }
  return undefined
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
  if (!REVISION_PATTERN.test(revision)) {
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
): Promise<SessionAnswer> {
  const { log } = deps
  const rebuild = settings.mode === 'rebuild'
  const nonce = deps.nonce()
  const { rebuildMs, inspectMs } = settings.timeouts
  // Every quick step (inspect, container check) has its own host-side bound.
  // (the container check is two: `ps` for a compose service's containers, then the inspect).
  const containerSteps = settings.staging.containerNamed ? 1 : 2
  const quickSteps =
    (settings.labelSource === 'host' ? 1 : 0) +
    (settings.containerCheck === 'skip' ? 0 : containerSteps)
  const boundMs =
    (rebuild ? rebuildMs + HOST_KILL_AFTER_MS : 0) +
    quickSteps * (inspectMs + HOST_KILL_AFTER_MS) +
    SESSION_MARGIN_MS

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
  const where = runner.where
  const session = sessionAnswer(result, nonce, where, rebuild ? 'hook-failed' : 'inspect-failed')
  // Only an inspect that was started gets a phase: not after a failed hook, not when nothing ran.
  const inspected = settings.labelSource === 'host' || settings.containerCheck !== 'skip'
  if (inspected && (!rebuild || session.hookExit === 0)) {
    facts.phases.push({ name: 'inspect', ms: deps.now() - inspectStart })
  }
  facts.phases.sort((a, b) => PHASE_ORDER.indexOf(a.name) - PHASE_ORDER.indexOf(b.name))

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
  const answer: SessionAnswer = {}
  const elapsed = deps.now() - inspectStart
  if (settings.labelSource === 'host') {
    const target = inspectTarget(settings)
    answer.inspected = checkInspect(session, result, settings, where, elapsed, target)
  }
  if (settings.containerCheck !== 'skip') {
    answer.container = checkContainer(session, result, settings, where, elapsed)
  }
  return answer
}

/** What the session established beyond the hook: the image's identity and the container's. */
interface SessionAnswer {
  inspected?: InspectResult
  container?: ContainerAnswer
}

/**
 * A session's answer, once it is known to be one: the command started, its stdout was kept whole
 * and the host has GNU timeout. Otherwise the GateError that says which of these failed.
 */
function sessionAnswer(
  result: ProcessResult,
  nonce: string,
  where: string,
  noTimeoutClass: 'hook-failed' | 'inspect-failed'
): SessionResult {
  if (result.spawnError) {
    throw new GateError('transport', `cannot run commands on ${where}: ${result.spawnError}`)
  }
  if (result.stdoutTruncated) throw tooLong(where)
  const session = parseSession(result.stdout, nonce)
  if (session.noTimeout) throw noTimeoutError(where, noTimeoutClass)
  return session
}

function tooLong(where: string): GateError {
  return new GateError(
    'inspect-failed',
    `the answer from ${where} exceeded ${KEEP_KIB} KiB (the image's labels or the container list are too large to read whole); nothing of it was trusted`
  )
}

function noTimeoutError(where: string, failure: 'hook-failed' | 'inspect-failed'): GateError {
  return new GateError(
    failure,
    `${where} has no GNU \`timeout\` (coreutils); the gate needs it to bound its commands on the host and stop the hook's whole process group. Nothing was run`
  )
}

/** The staging container's image id, or that it does not exist. */
function checkContainer(
  session: SessionResult,
  result: ProcessResult,
  settings: Settings,
  where: string,
  elapsedMs: number
): ContainerAnswer {
  const name = settings.staging.container
  const what = `${settings.docker} container inspect ${name} on ${where}`
  const step = { exit: session.containerExit, output: session.containerOutput }
  if (
    step.exit !== undefined &&
    step.exit !== 0 &&
    /no such (container|object)/i.test(step.output)
  ) {
    // Some named containers are gone (e.g. removed by a concurrent compose up); those that
    // answered still count, so a stale one among them is never hidden by a missing one.
    const answered = step.output.split(/\r?\n/).flatMap(line => parseContainerOutput(line) ?? [])
    return answered.length ? { exists: true, containers: answered } : { exists: false }
  }
  checkStep('container check', step, result, settings, what, elapsedMs, settings.image)
  const containers = parseContainerOutput(step.output)
  if (!containers) {
    throw new GateError(
      'inspect-failed',
      `${what} answered ${JSON.stringify(lastLines(step.output, 1, 120))}, not "<name> <image id> <running>"`
    )
  }
  return { exists: true, containers }
}

const PHASE_ORDER: PhaseTiming['name'][] = [
  'git',
  'connect',
  'hook',
  'inspect',
  'registry',
  'promote'
]

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
        `ssh connection to ${where} was lost while the hook was running (${lastLines(withoutMarkers(result.outputTail), 1) || 'exit 255'}); not retried, because the hook had started. Its host-side bound stops it after ${bound}`
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

/** Reads an inspect's answer, or throws a GateError that says what the host answered. */
function checkInspect(
  session: SessionResult,
  result: ProcessResult,
  settings: Settings,
  where: string,
  elapsedMs: number,
  image: string
): InspectResult {
  const what = `${settings.docker} image inspect ${image} on ${where}`
  checkStep(
    'inspect',
    { exit: session.inspectExit, output: session.inspectOutput },
    result,
    settings,
    what,
    elapsedMs,
    image
  )
  const parsed = parseInspectOutput(session.inspectOutput)
  if (!parsed) {
    throw new GateError(
      'inspect-failed',
      `${what} answered ${JSON.stringify(lastLines(session.inspectOutput, 1, 120))}, not "<image id> <labels>"`
    )
  }
  return parsed
}

/**
 * Throws unless one quick step of a session (inspect, container check, tag) reported exit 0:
 * a timeout on either side, a lost connection, or the step's own failure with a hint.
 */
function checkStep(
  name: 'inspect' | 'container check' | 'tag',
  step: { exit: number | undefined; output: string },
  result: ProcessResult,
  settings: Settings,
  what: string,
  elapsedMs: number,
  image: string
): void {
  const bound = `${settings.timeouts.inspectMs / 1000} s (inspect-timeout)`
  const where = what.slice(what.lastIndexOf(' on ') + 4)
  const output = lastLines(step.output) || 'no output'
  if (step.exit === undefined) {
    if (result.timedOut) {
      throw new GateError(
        'timeout',
        `${what} did not answer within ${bound}; the session was stopped`
      )
    }
    if (result.exitCode === 255) {
      throw new GateError(
        'transport',
        `ssh connection to ${where} was lost during the ${name} (${lastLines(withoutMarkers(result.outputTail), 1) || 'exit 255'})`
      )
    }
    throw new GateError(
      'inspect-failed',
      `${what} ended without reporting a result (${exitText(result)}): ${lastLines(withoutMarkers(result.outputTail)) || 'no output'}`
    )
  }
  if (step.exit !== 0) {
    if (TIMEOUT_EXITS.includes(step.exit) && elapsedMs >= settings.timeouts.inspectMs) {
      throw new GateError('timeout', `${what} timed out after ${bound}; the host stopped it`)
    }
    throw new GateError(
      'inspect-failed',
      `${what} failed (exit code ${step.exit}): ${inspectHint(step.exit, output, settings, image)}${output}`
    )
  }
}

/** The usual causes of a failed inspect, said in words before docker's own. */
function inspectHint(exit: number, output: string, settings: Settings, image: string): string {
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
    return `the image ${image} does not exist on the host. `
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
