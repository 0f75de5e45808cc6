import { decideContext } from '../decide/context.js'
import type { ContainerAnswer } from '../decide/container.js'
import { parseContainerInspect, parseImageInspect, type InspectResult } from './container-json.js'
import { GateError } from '../errors.js'
import type { Facts, GateDeps, PhaseTiming } from '../facts.js'
import { KEEP_BYTES, type ProcessResult } from './process.js'
import { exitText } from '../revision.js'
import type { Runner } from './runner.js'
import {
  describeHookCommand,
  parseContextReport,
  parseSession,
  planGateSession,
  type SessionAnswer,
  type SessionPlan,
  type StepName,
  type StepResult
} from './protocol.js'
import { inspectedImage, type Settings } from '../settings.js'
import { lastLines, TailBuffer } from './tail-buffer.js'
import { checkArchivable, startUpload, type Upload } from './upload.js'

/** What the session established: the image's identity, the containers', the context's. */
export interface SessionFacts {
  inspected?: InspectResult
  container?: ContainerAnswer
  /** What the log and summary say about the build context (verified, uploaded, not verified). */
  contextNote?: string
}

/** The phase each step's time is counted in. */
const STEP_PHASE: Record<StepName, PhaseTiming['name']> = {
  upload: 'upload',
  context: 'context',
  hook: 'hook',
  inspect: 'inspect',
  container: 'inspect',
  tag: 'promote',
  prod: 'promote'
}

/**
 * Runs a planned session and returns its parsed answer, timing each step as its exit line
 * arrives. Everything the host prints outside the answer (hook output, step stderr) is shown live
 * in one log group and kept only as a tail for messages; none of it is parsed.
 */
export async function runPlanned(
  runner: Runner,
  plan: SessionPlan,
  nonce: string,
  deps: Pick<GateDeps, 'log' | 'now'>,
  facts: Facts,
  options: { title: string; input?: Upload }
): Promise<{ result: ProcessResult; answer: SessionAnswer; tail: string }> {
  const { log, now } = deps
  const mark = `provenance-gate-${nonce} exit `
  const begin = `provenance-gate-${nonce} begin\n`
  const tail = new TailBuffer(64 * 1024)
  let phaseStart = now()
  const steps = [...plan.steps]
  facts.current = steps[0] ? STEP_PHASE[steps[0]] : facts.current
  let seen = ''
  const stepDone = (name: StepName): void => {
    const phase = STEP_PHASE[name]
    const next = steps[steps.indexOf(name) + 1]
    if (next && STEP_PHASE[next] === phase) return
    const at = now()
    facts.phases.push({ name: phase, ms: at - phaseStart })
    phaseStart = at
    if (next) facts.current = STEP_PHASE[next]
  }
  const write = log.openRaw(options.title)
  let result: ProcessResult
  facts.sessionOpen = true
  try {
    result = await runner.session(options.input?.input ?? plan.script, {
      timeoutMs: plan.boundMs,
      endsWith: plan.endLine,
      onOutput: (chunk, stream) => {
        if (stream === 'stderr') {
          tail.push(chunk)
          write(chunk)
          return
        }
        seen = (seen + chunk.toString('latin1')).slice(-KEEP_BYTES)
        if (seen.includes(begin)) options.input?.start()
        for (;;) {
          const at = seen.indexOf(mark)
          const eol = at < 0 ? -1 : seen.indexOf('\n', at)
          if (eol < 0) break
          const name = seen.slice(at + mark.length, eol).split(' ')[0] as StepName
          seen = seen.slice(eol)
          if (steps.includes(name)) stepDone(name)
        }
      }
    })
  } finally {
    log.closeRaw()
  }
  const answer = parseSession(result.stdout, nonce)
  if (answer.ended) facts.sessionOpen = false
  return { result, answer, tail: tail.text() }
}

/**
 * The gate's one session: (rebuild) the upload or the context check, the hook; then the inspect
 * and the container check. Turns what the host reported into facts, or a GateError that names the
 * step and the cause.
 */
export async function runGateSession(
  runner: Runner,
  settings: Settings,
  revision: string,
  deps: GateDeps,
  facts: Facts
): Promise<SessionFacts> {
  const { log } = deps
  const rebuild = settings.mode === 'rebuild'
  const nonce = deps.nonce()
  const plan = planGateSession(settings, revision, { nonce, runId: deps.runId })
  const where = runner.where
  let upload: Upload | undefined
  if (plan.upload) {
    await checkArchivable(deps.local, settings, revision)
    log.info(
      `uploading git archive ${revision.slice(0, 12)} of ${settings.checkoutPath} to ${where}`
    )
    upload = startUpload(
      deps.local,
      settings,
      revision,
      plan.script,
      line => log.info(line),
      () => deps.now()
    )
  }
  if (rebuild && !settings.context.upload && settings.context.check === 'skip') {
    log.warning(
      'check-context is false: the gate does not check that the build context holds the validated commit, so a stale or dirty context would pass. Use check-context: auto, or upload-context: true'
    )
  }
  if (rebuild) log.info(`running the hook on ${where}: ${describeHookCommand(settings, revision)}`)
  const title = rebuild ? `hook output (${settings.hook} --build-staging)` : `output on ${where}`
  const run = await runPlanned(runner, plan, nonce, deps, facts, {
    title,
    ...(upload ? { input: upload } : {})
  })
  const outcome = upload ? await upload.finish() : undefined
  if (outcome?.error) throw outcome.error
  const { result, answer, tail } = run
  checkStarted(answer, result, where, tail, rebuild ? 'hook-failed' : 'inspect-failed')

  const found: SessionFacts = {}
  const step = (name: StepName): StepResult | undefined => answer.steps[name]
  for (const name of plan.steps) {
    const reported = step(name)
    if (name === 'upload') {
      if (!reported) throw missing('the upload', result, settings, where, tail)
      if (reported.exit !== 0) {
        throw new GateError(
          'transport',
          `the upload to ${where} failed (exit code ${reported.exit}): ${lastLines(tail) || 'no output'}; nothing was built`
        )
      }
      const dir = /^dir (.*)$/m.exec(reported.output)?.[1] ?? '?'
      found.contextNote = `build context uploaded: git archive of ${revision.slice(0, 12)} (${formatBytes(outcome?.bytes ?? 0)}) into a fresh ${dir} on ${where}, removed after the run`
      log.info(found.contextNote)
    } else if (name === 'context') {
      // A failed cd into hook-dir ends the session before the check: the hook's report says so.
      if (!reported && step('hook')) continue
      if (!reported) throw missing('the build context check', result, settings, where, tail)
      const context =
        settings.buildContext || settings.hookDir || "(the ssh user's login directory)"
      const note = decideContext(
        parseContextReport(reported.output),
        revision,
        settings.context.check,
        context,
        where,
        settings.context.sync ? 'after' : 'before'
      )
      if (reported.exit !== 0) {
        // The host refused what the report does not explain: never a pass.
        throw new GateError(
          'stale-context',
          `the build context check on ${where} refused ${context} (exit code ${reported.exit}): ${lastLines(tail) || 'no output'}`
        )
      }
      found.contextNote = note
      log.info(note)
    } else if (name === 'hook') {
      // The hook reported, so it ran (whatever its exit): the output says so.
      if (reported) facts.rebuilt = 'true'
      checkHook(reported?.exit, result, settings, where, facts, tail)
      if (answer.left.length) {
        log.warning(
          `the hook left ${answer.left.length} process${answer.left.length === 1 ? '' : 'es'} running on ${where}, stopped now: ${answer.left.map(line => line.slice(0, 120)).join('; ')}`
        )
      }
    } else if (name === 'inspect') {
      const image = inspectedImage(settings)
      found.inspected = readInspect(reported, result, settings, where, tail, image)
    } else if (name === 'container') {
      found.container = readContainers(reported, result, settings, where, tail)
    }
  }
  return found
}

/** A session that never started its script, or found no GNU timeout, ran nothing. */
export function checkStarted(
  answer: SessionAnswer,
  result: ProcessResult,
  where: string,
  tail: string,
  failure: 'hook-failed' | 'inspect-failed'
): void {
  if (result.spawnError) {
    throw new GateError('transport', `cannot run commands on ${where}: ${result.spawnError}`)
  }
  if (result.stdoutTruncated) {
    throw new GateError(
      'inspect-failed',
      `the answer from ${where} exceeded ${KEEP_BYTES / 1024} KiB (the image's labels or the container list are too large to read whole); nothing of it was trusted`
    )
  }
  if (!answer.begun) {
    if (result.timedOut) {
      throw new GateError(
        'timeout',
        `the session on ${where} did not start in time; it was stopped`
      )
    }
    if (result.exitCode === 255) {
      throw new GateError(
        'transport',
        `ssh connection to ${where} was lost before the session started (${lastLines(tail, 1) || 'exit 255'})`
      )
    }
    throw new GateError(
      failure,
      `the session on ${where} did not start (\`sh -s\` ${exitText(result)}): ${lastLines(tail) || 'no output'}. The host must run \`sh -s\` for the ssh user (a forced command must allow it)`
    )
  }
  if (answer.noTimeout) {
    throw new GateError(
      failure,
      `${where} has no GNU \`timeout\` (coreutils); the gate needs it to bound its commands on the host and stop the hook's whole process group. Nothing was run`
    )
  }
}

/** Exit statuses of `timeout` when it stopped the command: TERM worked, or KILL was needed. */
const TIMEOUT_EXITS = [124, 137]

/** Why a step never reported: a timeout on either side, a lost connection, or an early end. */
export function missing(
  what: string,
  result: ProcessResult,
  settings: Settings,
  where: string,
  tail: string,
  command = what
): GateError {
  if (result.timedOut) {
    return new GateError(
      'timeout',
      `${command} on ${where} did not answer within ${settings.timeouts.inspectMs / 1000} s (inspect-timeout); the session was stopped`
    )
  }
  if (result.exitCode === 255) {
    return new GateError(
      'transport',
      `ssh connection to ${where} was lost during ${what} (${lastLines(tail, 1) || 'exit 255'})`
    )
  }
  return new GateError(
    'inspect-failed',
    `${command} on ${where} ended without reporting a result (${exitText(result)}): ${lastLines(tail) || 'no output'}`
  )
}

/** Throws unless the hook reported exit 0; tells a host-side timeout from a lost connection. */
function checkHook(
  hookExit: number | undefined,
  result: ProcessResult,
  settings: Settings,
  where: string,
  facts: Facts,
  tail: string
): void {
  const bound = `${settings.timeouts.rebuildMs / 1000} s (rebuild-timeout)`
  const output = lastLines(tail) || 'no output'
  const hookMs = facts.phases.find(phase => phase.name === 'hook')?.ms ?? 0
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
        `ssh connection to ${where} was lost while the hook was running (${lastLines(tail, 1) || 'exit 255'}); not retried, because the hook had started. Its host-side bound stops it after ${bound}`
      )
    }
    throw new GateError(
      'hook-failed',
      `hook on ${where} ended without reporting a result (${exitText(result)}): ${output}`
    )
  }
  if (hookExit === 0) return
  if (TIMEOUT_EXITS.includes(hookExit) && hookMs >= settings.timeouts.rebuildMs) {
    throw new GateError(
      'timeout',
      `hook timed out after ${bound} on ${where}; the host stopped it and its process group (SIGTERM, SIGKILL). Last output: ${output}`
    )
  }
  throw new GateError('hook-failed', `hook failed (exit code ${hookExit}) on ${where}: ${output}`)
}

/**
 * Throws unless a quick step (inspect, container check, tag) reported exit 0: a timeout on the
 * host, a missing report, or the step's own failure with a hint from its shown stderr.
 */
export function checkQuick(
  label: 'inspect' | 'container check' | 'tag',
  what: string,
  reported: StepResult | undefined,
  result: ProcessResult,
  settings: Settings,
  where: string,
  tail: string,
  image: string
): StepResult {
  if (!reported) throw missing(`the ${label}`, result, settings, where, tail, what)
  if (reported.exit === 0) return reported
  const bound = `${settings.timeouts.inspectMs / 1000} s (inspect-timeout)`
  if (TIMEOUT_EXITS.includes(reported.exit)) {
    throw new GateError(
      'timeout',
      `${what} on ${where} timed out after ${bound}; the host stopped it`
    )
  }
  const output = lastLines(tail) || 'no output'
  throw new GateError(
    'inspect-failed',
    `${what} on ${where} failed (exit code ${reported.exit}): ${inspectHint(reported.exit, tail, settings, image)}${output}`
  )
}

/** The usual causes of a failed docker call, said in words before docker's own. */
function inspectHint(exit: number, output: string, settings: Settings, image: string): string {
  if (exit === 127) {
    return `${settings.docker} is not on the host's PATH (set the docker input to its path). `
  }
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

/** The inspected image, or a GateError that says what the host answered. */
export function readInspect(
  reported: StepResult | undefined,
  result: ProcessResult,
  settings: Settings,
  where: string,
  tail: string,
  image: string
): InspectResult {
  const what = `${settings.docker} image inspect ${image}`
  const step = checkQuick('inspect', what, reported, result, settings, where, tail, image)
  const parsed = parseImageInspect(step.output)
  if (!parsed) {
    throw new GateError(
      'inspect-failed',
      `${what} on ${where} answered ${JSON.stringify(lastLines(step.output, 1, 120))}, not one image's JSON with an id`
    )
  }
  return parsed
}

/** The staging containers, none, or a GateError that says what the host answered. */
function readContainers(
  reported: StepResult | undefined,
  result: ProcessResult,
  settings: Settings,
  where: string,
  tail: string
): ContainerAnswer {
  const what = `the container check (${settings.staging.container})`
  const step = checkQuick(
    'container check',
    what,
    reported,
    result,
    settings,
    where,
    tail,
    settings.image
  )
  if (step.output.trim() === '') return { exists: false }
  const containers = parseContainerInspect(step.output)
  if (!containers) {
    throw new GateError(
      'inspect-failed',
      `${what} on ${where} answered ${JSON.stringify(lastLines(step.output, 1, 120))}, not the containers' JSON`
    )
  }
  return { exists: true, containers }
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(1)} MiB`
    : `${(bytes / 1024).toFixed(1)} KiB`
}
