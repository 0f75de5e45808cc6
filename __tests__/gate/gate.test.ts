import { afterAll, describe, expect, jest, test } from '@jest/globals'
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { GateError, InputError, type FailureClass } from '../../src/errors.js'
import {
  emptyFacts,
  GateStopped,
  type Facts,
  type GateDeps,
  type GateLog,
  type PhaseTiming
} from '../../src/facts.js'
import { runGate as gate } from '../../src/gate.js'
import { retryDelayMs } from '../../src/session/connect.js'
import type { EventContext } from '../../src/event-context.js'
import type { ProcessResult, StreamingProcess } from '../../src/session/process.js'
import { failedDecision, type Decision } from '../../src/decide/verdict.js'
import type { RegistryImage, RegistryOptions } from '../../src/registry/client.js'
import { checkQuick, checkStarted, missing } from '../../src/session/run-session.js'
import type { Runner, RunOptions } from '../../src/session/runner.js'
import {
  describeHookCommand,
  parseSession,
  planGateSession,
  planPromoteSession,
  type SessionAnswer
} from '../../src/session/protocol.js'
import type { RebuildSettings, Settings, SshTarget } from '../../src/settings.js'
import { lastLines } from '../../src/session/tail-buffer.js'
import {
  IMAGE_HEX,
  makeSettings,
  SHA_A,
  SHA_B,
  sshTarget,
  type SettingsOverrides
} from '../support/fixtures.js'

const IMAGE_ID = `sha256:${IMAGE_HEX}`
const WHERE = 'deploy@staging.example.com:22'
const REV = 'org.opencontainers.image.revision'
const NONCE = 'feedc0de12345678'
const RUN_ID = 'abcdef0123456789'
const MARK = `provenance-gate-${NONCE}`
const IDS = { nonce: NONCE, runId: RUN_ID }

/** A real directory: the revision's top-level check compares real paths. */
const CHECKOUT = realpathSync(mkdtempSync(path.join(tmpdir(), 'pg-gate-checkout-')))
afterAll(() => {
  rmSync(CHECKOUT, { recursive: true, force: true })
})

function ok(stdout: string): ProcessResult {
  return { exitCode: 0, timedOut: false, stdout, outputTail: stdout }
}
function exit(code: number | null, outputTail: string, stdout = ''): ProcessResult {
  return { exitCode: code, timedOut: false, stdout, outputTail }
}
function timedOut(outputTail = ''): ProcessResult {
  return { exitCode: null, timedOut: true, stdout: '', outputTail }
}
function spawnFailed(message: string): ProcessResult {
  return { exitCode: null, timedOut: false, spawnError: message, stdout: '', outputTail: '' }
}
/** What `git rev-parse --show-toplevel HEAD` prints in the checkout. */
const head = (revision = SHA_A, top = CHECKOUT): ProcessResult => ok(`${top}\n${revision}\n`)
/** The argv of the revision's git call. */
const REV_PARSE = ['-C', CHECKOUT, 'rev-parse', '--show-toplevel', 'HEAD']

/** One chunk a fake process prints, after `ms` of the fake clock have passed. */
interface Emit {
  stream: 'stdout' | 'stderr'
  text: string
  ms?: number
}

/** What a fake runner does for one session: print chunks as they "arrive", then end. */
interface Step {
  result: ProcessResult
  emit?: Emit[]
  /** Rejects instead of resolving, after the chunks: a runner bug, not a process result. */
  throws?: Error
}

/** A session's behaviour may depend on the script it was sent (which steps it plans). */
type Scripted = Step | ProcessResult | ((script: string) => Step)

/** The clock of a world: every reading advances it by 10 ms; a step can let time pass. */
class Clock {
  private t = 1_000
  now = (): number => {
    this.t += 10
    return this.t
  }
  advance(ms: number): void {
    this.t += ms
  }
}

/** A runner that answers sessions from a script, in order, and records what it was sent. */
class FakeRunner<W extends string = string> implements Runner {
  /** The scripts sent, in order (for an upload, the script ahead of the archive). */
  readonly scripts: string[] = []
  readonly options: RunOptions[] = []
  closes = 0
  /** When set, close() rejects with it (after counting the call). */
  closeError: Error | undefined

  private readonly sessions: Scripted[]

  constructor(
    readonly where: W,
    sessions: Scripted[],
    protected readonly clock: Clock
  ) {
    this.sessions = [...sessions]
  }

  async session(input: string | Readable, options: RunOptions): Promise<ProcessResult> {
    const script =
      typeof input === 'string' ? input : ((input.read() as Buffer | null)?.toString() ?? '')
    this.scripts.push(script)
    this.options.push(options)
    const next = this.sessions.shift()
    if (!next) throw new Error(`unscripted session on ${this.where}: ${script.slice(0, 80)}`)
    const step =
      typeof next === 'function' ? next(script) : 'result' in next ? next : { result: next }
    for (const { stream, text, ms } of step.emit ?? []) {
      this.clock.advance(ms ?? 0)
      if (text) options.onOutput?.(Buffer.from(text), stream)
    }
    if (step.throws) throw step.throws
    return step.result
  }

  async close(): Promise<void> {
    this.closes += 1
    if (this.closeError) throw this.closeError
  }
}

/** A git call's answer, or a throw (a runner bug). */
type GitStep = ProcessResult | { result: ProcessResult; throws: Error }

/** An archive `git archive` streams: its bytes and how the process ended. */
interface Archive {
  bytes: Buffer
  result: ProcessResult
}

/** This runner: git answered from a script, sessions as FakeRunner, archives for uploads. */
class FakeLocal extends FakeRunner<'local'> {
  readonly gitCalls: string[][] = []
  readonly gitTimeouts: number[] = []
  stops = 0
  private readonly gits: GitStep[]

  constructor(
    gits: GitStep[],
    sessions: Scripted[],
    clock: Clock,
    private readonly archives: Archive[] = []
  ) {
    super('local', sessions, clock)
    this.gits = [...gits]
  }

  async git(args: string[], timeoutMs: number): Promise<ProcessResult> {
    this.gitCalls.push(args)
    this.gitTimeouts.push(timeoutMs)
    const next = this.gits.shift()
    if (!next) throw new Error(`unscripted git ${args.join(' ')}`)
    if ('throws' in next) throw next.throws
    return next
  }

  gitStream(args: string[], timeoutMs: number): StreamingProcess {
    this.gitCalls.push(args)
    this.gitTimeouts.push(timeoutMs)
    const archive = this.archives.shift()
    if (!archive) throw new Error(`unscripted git ${args.join(' ')}`)
    const stdout = Readable.from([archive.bytes])
    return {
      stdout,
      done: new Promise(resolve => stdout.once('close', () => resolve(archive.result))),
      stop: () => {
        this.stops += 1
      }
    }
  }
}

/** One quick step as the session reports it: its answer, its shown stderr, its exit status. */
interface Quick {
  /** What it printed on the result channel (the answer). */
  output?: string
  /** What it printed on stderr: shown, kept in the tail for messages, never parsed. */
  error?: string
  /** Omitted: the step never reported. */
  exit?: number
  ms?: number
}

/** How a fake session goes; every step it names is reported in the order the script runs. */
interface SessionSpec {
  /** What a chatty login shell prints on stdout before the session's begin line. */
  chatter?: string
  /** The script never began (a forced command ran something else, or nothing). */
  noBegin?: boolean
  noTimeout?: boolean
  upload?: Quick
  /**
   * The context check's report. Omitted: a clean tree at SHA_A, when the script plans a check;
   * `null`: not reported at all. It comes before the hook unless the script checks after it.
   */
  context?: Quick | null
  /** The hook's output, which the session sends to stderr. */
  hookOutput?: string
  /** Omitted: the hook never reported. */
  hookExit?: number
  hookMs?: number
  /** Processes the hook left, as the host names them. */
  left?: string[]
  /** The inspect's answer (for the promotion, the prod image read back). */
  inspectOutput?: string
  inspectError?: string
  /** Omitted: the inspect never reported. */
  inspectExit?: number
  inspectMs?: number
  /** A promotion's `docker tag`; omitted: not part of the session. */
  tagError?: string
  tagExit?: number
  tagMs?: number
  /** The container check (after the inspect); omitted: not part of the session. */
  containerOutput?: string
  containerError?: string
  containerExit?: number
  containerMs?: number
  /** Whether the end line comes; by default when the session process ended well. */
  end?: boolean
  /** stderr after everything else, e.g. ssh's own message about a lost connection. */
  trailer?: string
  /** Exit status of the session process (ssh or sh); 0 unless said. */
  exitCode?: number | null
  timedOut?: boolean
  stdoutTruncated?: boolean
}

/** A clean work tree at SHA_A, as the context step reports it. */
const CLEAN = `top /srv/shop\nhead ${SHA_A}\ndirty 0\n`

/** The marker lines of one quick step, its stderr between them. */
function quick(name: string, step: Quick | undefined | null): Emit[] {
  if (!step || (step.output === undefined && step.error === undefined && step.exit === undefined)) {
    return []
  }
  const output = step.output ?? ''
  const answer = output && !output.endsWith('\n') ? `${output}\n` : output
  return [
    { stream: 'stdout', text: `${MARK} out ${name}\n` },
    { stream: 'stderr', text: step.error ?? '' },
    {
      stream: 'stdout',
      text: `${answer}${step.exit === undefined ? '' : `${MARK} exit ${name} ${step.exit}\n`}`,
      ms: step.ms ?? 0
    }
  ]
}

/** A session as the planned script would print it, in session-protocol's wire format. */
function session(spec: SessionSpec): (script: string) => Step {
  return script => {
    const checkAt = script.indexOf('pg_step context pg_context')
    const planned = checkAt >= 0
    const after = planned && checkAt > script.indexOf('--build-staging')
    const emit: Emit[] = []
    if (spec.chatter) emit.push({ stream: 'stdout', text: spec.chatter })
    const timedOut = spec.timedOut ?? false
    const exitCode = spec.exitCode !== undefined ? spec.exitCode : timedOut ? null : 0
    const end = spec.end ?? (!timedOut && exitCode === 0)
    if (!spec.noBegin) {
      emit.push({ stream: 'stdout', text: `\n${MARK} begin\n` })
      if (spec.noTimeout) {
        emit.push({ stream: 'stdout', text: `${MARK} no-timeout\n` })
      } else {
        emit.push(...quick('upload', spec.upload))
        const context =
          spec.context === undefined ? (planned ? { output: CLEAN, exit: 0 } : null) : spec.context
        if (!after) emit.push(...quick('context', context))
        emit.push({ stream: 'stderr', text: spec.hookOutput ?? '', ms: spec.hookMs ?? 0 })
        for (const line of spec.left ?? [])
          emit.push({ stream: 'stdout', text: `${MARK} left ${line}\n` })
        if (spec.hookExit !== undefined) {
          emit.push({ stream: 'stdout', text: `${MARK} exit hook ${spec.hookExit}\n` })
        }
        if (after) emit.push(...quick('context', context))
        emit.push(...quick('tag', { error: spec.tagError, exit: spec.tagExit, ms: spec.tagMs }))
        emit.push(
          ...quick(script.includes('pg_step prod ') ? 'prod' : 'inspect', {
            output: spec.inspectOutput,
            error: spec.inspectError,
            exit: spec.inspectExit,
            ms: spec.inspectMs
          })
        )
        emit.push(
          ...quick('container', {
            output: spec.containerOutput,
            error: spec.containerError,
            exit: spec.containerExit,
            ms: spec.containerMs
          })
        )
      }
      if (end) emit.push({ stream: 'stdout', text: `${MARK} end\n` })
    }
    if (spec.trailer) emit.push({ stream: 'stderr', text: spec.trailer })
    const stdout = emit
      .filter(e => e.stream === 'stdout')
      .map(e => e.text)
      .join('')
    return {
      emit,
      result: {
        exitCode,
        timedOut,
        stdout,
        outputTail: emit.map(e => e.text).join(''),
        ...(end ? { ended: true } : {}),
        ...(spec.stdoutTruncated ? { stdoutTruncated: true } : {})
      }
    }
  }
}

/** The JSON array `docker image inspect` prints for one image. */
function answer(labels: Record<string, unknown> | null, id = IMAGE_ID): string {
  return `${JSON.stringify([{ Id: id, Config: { Labels: labels } }], null, 4)}\n`
}

/** A rebuild session that went well, reading back `label` as the revision. */
const rebuilt = (label: string): ((script: string) => Step) =>
  session({
    hookOutput: 'built\n',
    hookExit: 0,
    inspectOutput: answer({ [REV]: label }),
    inspectExit: 0
  })
/** A verify session that went well. */
const verified = (label: string): ((script: string) => Step) =>
  session({ inspectOutput: answer({ [REV]: label }), inspectExit: 0 })

interface World {
  deps: GateDeps
  local: FakeLocal
  ssh: FakeRunner
  openSsh: jest.Mock<(target: SshTarget) => Promise<Runner>>
  infos: string[]
  raw: { opened: string[]; closed: number; written: string[] }
  sleeps: number[]
  /** open, sleep and close events in order, to check that waits happen between attempts. */
  events: string[]
  clock: Clock
  warnings: string[]
  /** What onRunner learned, in order (`undefined` once the runner is given up). */
  runners: (Runner | undefined)[]
  /** The registry seam: the references it was asked for; answers with `options.registry`. */
  registry: { calls: string[]; options: RegistryOptions[]; read: GateDeps['readRegistry'] }
}

/** Extra seams a test may set: the registry's answer, the run's event, archives for uploads. */
interface WorldOptions {
  registry?: RegistryImage | Error
  event?: EventContext
  archives?: Archive[]
  /** Sessions on this runner (no host). */
  localSessions?: Scripted[]
}

/**
 * Fake seams: git on `local`, the session on `ssh`. `openFailures` are thrown by the first calls
 * to openSsh, one each, before it succeeds.
 */
function world(
  gits: GitStep[],
  sshSessions: Scripted[],
  openFailures: Error[] = [],
  options: WorldOptions = {}
): World {
  const clock = new Clock()
  const event: EventContext = options.event ?? { eventName: 'push', sha: SHA_A, prHeadSha: '' }
  const calls: string[] = []
  const registryOptions: RegistryOptions[] = []
  const registry = {
    calls,
    options: registryOptions,
    read: async (reference: string, opts: RegistryOptions): Promise<RegistryImage> => {
      calls.push(reference)
      registryOptions.push(opts)
      const answer = options.registry
      if (!answer) throw new Error('no registry in this world')
      if (answer instanceof Error) throw answer
      return answer
    }
  }
  const local = new FakeLocal(gits, options.localSessions ?? [], clock, options.archives)
  const ssh = new FakeRunner(WHERE, sshSessions, clock)
  const infos: string[] = []
  const warnings: string[] = []
  const events: string[] = []
  const sleeps: number[] = []
  const runners: (Runner | undefined)[] = []
  const raw = { opened: [] as string[], closed: 0, written: [] as string[] }
  const log: GateLog = {
    info: message => {
      infos.push(message)
    },
    warning: message => {
      warnings.push(message)
    },
    openRaw: title => {
      raw.opened.push(title)
      return chunk => {
        raw.written.push(chunk.toString('utf8'))
      }
    },
    closeRaw: () => {
      raw.closed += 1
    }
  }
  const failures = [...openFailures]
  const openSsh = jest.fn(async (_target: SshTarget): Promise<Runner> => {
    events.push('open')
    const failure = failures.shift()
    if (failure) throw failure
    return ssh
  })
  const sleep = async (ms: number): Promise<void> => {
    events.push(`sleep ${ms}`)
    sleeps.push(ms)
  }
  return {
    deps: {
      local,
      openSsh,
      log,
      now: clock.now,
      sleep,
      nonce: () => NONCE,
      runId: RUN_ID,
      readRegistry: registry.read,
      event,
      onRunner: runner => {
        runners.push(runner)
      }
    },
    registry,
    warnings,
    local,
    ssh,
    openSsh,
    infos,
    raw,
    sleeps,
    events,
    clock,
    runners
  }
}

/** Settings of a run over ssh from the (real) checkout directory. */
const sshSettings = (overrides: SettingsOverrides = {}): Settings =>
  makeSettings({ checkoutPath: CHECKOUT, ssh: sshTarget(), ...overrides })
/** Settings of a run on this runner. */
const localSettings = (overrides: SettingsOverrides = {}): Settings =>
  makeSettings({ checkoutPath: CHECKOUT, ...overrides })
/** The planned gate session's script for these settings. */
const planned = (settings: Settings, revision = SHA_A): string =>
  planGateSession(settings, revision, IDS).script

/** The GateError behind each failed decision `runGate` below made of one. */
const thrownBy = new WeakMap<Decision, GateError>()

/**
 * The gate as the action's boundary sees it: its facts copied into `facts`, a thrown GateError
 * turned into the failed decision the boundary reports (by the boundary's own `failedDecision`;
 * `rejection` gets the error back), any other error rethrown as it was.
 */
async function runGate(
  settings: Settings,
  deps: GateDeps,
  facts: Facts = emptyFacts()
): Promise<Decision> {
  try {
    const outcome = await gate(settings, deps)
    Object.assign(facts, outcome.facts)
    return outcome.decision
  } catch (error) {
    if (!(error instanceof GateStopped)) throw error
    Object.assign(facts, error.facts)
    if (!(error.error instanceof GateError)) throw error.error
    const decision = failedDecision(error.error, 'invalid-input')
    thrownBy.set(decision, error.error)
    return decision
  }
}

/** Whatever a run stopped with: the GateError behind its failed decision, or what it threw. */
async function stoppedWith(promise: Promise<Decision>): Promise<unknown> {
  try {
    const decision = await promise
    return thrownBy.get(decision) ?? decision
  } catch (error) {
    return error
  }
}

/** The GateError a run (or any call) ended with; fails the test when it ended otherwise. */
async function rejection(promise: Promise<unknown>): Promise<GateError> {
  let result: unknown
  try {
    result = await promise
  } catch (error) {
    expect(error).toBeInstanceOf(GateError)
    return error as GateError
  }
  const error = thrownBy.get(result as Decision)
  if (!error) throw new Error('expected runGate to reject')
  return error
}

/**
 * The phase names in the order they ended, except that git and connect, which run at the same
 * time (the connection opens while git answers) and so may end in either order, are put as
 * git, connect when they are the first two; every other phase keeps its order.
 */
function phaseNames(facts: Facts): PhaseTiming['name'][] {
  const names = facts.phases.map(phase => phase.name)
  const [first, second, ...rest] = names
  return first === 'connect' && second === 'git' ? ['git', 'connect', ...rest] : names
}

/** A quick step's host-side bound, with the kill grace: inspect-timeout 45 s + 10 s. */
const QUICK = 45_000 + 10_000
/** The local slack on top of the host's bounds. */
const MARGIN = 15_000
/** The hook's bound with its kill grace: rebuild-timeout 1200 s + 10 s. */
const HOOK = 1_200_000 + 10_000
/** The context check: four bounded git calls. */
const CONTEXT = 4 * QUICK

describe('runGate verdicts', () => {
  test.each<
    [
      string,
      Settings['mode'],
      (script: string) => Step,
      string,
      Record<string, string>,
      string,
      FailureClass | ''
    ]
  >([
    ['label equal → match', 'rebuild', rebuilt(SHA_A), SHA_A, { [REV]: SHA_A }, 'match', ''],
    [
      'label different → mismatch',
      'rebuild',
      rebuilt(SHA_B),
      SHA_B,
      { [REV]: SHA_B },
      'mismatch',
      'mismatch'
    ],
    [
      'no labels at all (null) → missing-label',
      'rebuild',
      session({ hookExit: 0, inspectOutput: answer(null), inspectExit: 0 }),
      '',
      {},
      'fail-closed',
      'missing-label'
    ],
    [
      'other labels only → missing-label',
      'rebuild',
      session({ hookExit: 0, inspectOutput: answer({ maintainer: 'ops' }), inspectExit: 0 }),
      '',
      { maintainer: 'ops' },
      'fail-closed',
      'missing-label'
    ],
    [
      '<no value> label → missing-label',
      'rebuild',
      rebuilt('<no value>'),
      '',
      { [REV]: '<no value>' },
      'fail-closed',
      'missing-label'
    ],
    [
      'empty label → missing-label',
      'rebuild',
      rebuilt(''),
      '',
      { [REV]: '' },
      'fail-closed',
      'missing-label'
    ],
    [
      'label with a trailing newline → mismatch, not trimmed',
      'rebuild',
      rebuilt(`${SHA_A}\n`),
      `${SHA_A}\n`,
      { [REV]: `${SHA_A}\n` },
      'mismatch',
      'mismatch'
    ],
    [
      'verify mode, label equal → match',
      'verify',
      verified(SHA_A),
      SHA_A,
      { [REV]: SHA_A },
      'match',
      ''
    ],
    [
      'verify mode, label different → mismatch',
      'verify',
      verified(SHA_B),
      SHA_B,
      { [REV]: SHA_B },
      'mismatch',
      'mismatch'
    ],
    [
      'verify mode, the answer docker 20.10 printed',
      'verify',
      session({
        inspectOutput: readFileSync('__fixtures__/docker-20.10-image-labelled.json', 'utf8'),
        inspectExit: 0
      }),
      SHA_A,
      { [REV]: SHA_A, 'com.example.note': 'a b' },
      'match',
      ''
    ],
    [
      'verify mode, the answer podman 4.3 printed',
      'verify',
      session({
        inspectOutput: readFileSync('__fixtures__/podman-4.3-image-labelled.json', 'utf8'),
        inspectExit: 0
      }),
      SHA_A,
      { [REV]: SHA_A, 'com.example.note': 'a b', 'io.buildah.version': '1.28.2' },
      'match',
      ''
    ]
  ])('%s', async (name, mode, step, imageRevision, labels, verdict, failure) => {
    const w = world([head()], [step])
    const facts = emptyFacts()
    const decision = await runGate(sshSettings({ mode }), w.deps, facts)

    expect(decision.verdict).toBe(verdict)
    expect(decision.failure).toBe(failure)
    expect(decision.pass).toBe(verdict === 'match')
    expect(facts.expectedRevision).toBe(SHA_A)
    expect(facts.imageRevision).toBe(imageRevision)
    if (!name.includes('printed')) expect(facts.imageId).toBe(IMAGE_ID)
    expect(facts.imageId).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(facts.labels).toEqual(labels)
    expect(facts.current).toBe('')
    expect(facts.sessionOpen).toBe(false)
    expect(w.ssh.closes).toBe(1)
    expect(w.openSsh).toHaveBeenCalledTimes(1)
    expect(w.local.gitCalls).toEqual([REV_PARSE])
    // One session does all the remote work, in both modes.
    expect(w.ssh.scripts).toHaveLength(1)
  })

  test('label values that are not strings: the answer is not an image docker prints, nothing trusted', async () => {
    const step = session({
      hookExit: 0,
      inspectOutput: answer({ [REV]: 42, other: SHA_A }),
      inspectExit: 0
    })
    const w = world([head()], [step])
    const facts = emptyFacts()
    const error = await rejection(runGate(sshSettings(), w.deps, facts))
    expect(error.failure).toBe('inspect-failed')
    expect(error.message).toMatch(/not one image's JSON with an id$/)
    expect(facts.labels).toEqual({})
  })

  test('a custom revision-label is the one read', async () => {
    const step = session({
      hookExit: 0,
      inspectOutput: answer({ [REV]: SHA_B, 'vcs-ref': SHA_A }),
      inspectExit: 0
    })
    const w = world([head()], [step])
    const facts = emptyFacts()
    const decision = await runGate(sshSettings({ revisionLabel: 'vcs-ref' }), w.deps, facts)
    expect(decision.verdict).toBe('match')
    expect(facts.imageRevision).toBe(SHA_A)
  })

  test('match reason names the short revision', async () => {
    const w = world([head()], [rebuilt(SHA_A)])
    const decision = await runGate(sshSettings(), w.deps, emptyFacts())
    expect(decision).toEqual({
      verdict: 'match',
      reason: 'provenance match: 0123456789ab',
      pass: true,
      failure: ''
    })
  })

  test('mismatch reason names both short revisions', async () => {
    const w = world([head()], [rebuilt(SHA_B)])
    const decision = await runGate(sshSettings(), w.deps, emptyFacts())
    expect(decision.reason).toBe('provenance mismatch: image fedcba987654 != expected 0123456789ab')
  })

  test('a podman id without prefix is recorded with it', async () => {
    const step = session({
      hookExit: 0,
      inspectOutput: answer({ [REV]: SHA_A }, IMAGE_HEX),
      inspectExit: 0
    })
    const w = world([head()], [step])
    const facts = emptyFacts()
    await runGate(sshSettings(), w.deps, facts)
    expect(facts.imageId).toBe(IMAGE_ID)
  })
})

describe('runGate commands', () => {
  test('rebuild over ssh: git locally, then one session on the host, bounded by every step', async () => {
    const target = sshTarget({ port: 2222 })
    const settings = sshSettings({ ssh: target })
    const w = world([head()], [rebuilt(SHA_A)])
    await runGate(settings, w.deps, emptyFacts())

    expect(w.openSsh).toHaveBeenCalledWith(target)
    expect(w.local.gitCalls).toEqual([REV_PARSE])
    expect(w.local.gitTimeouts).toEqual([30_000])
    expect(w.local.scripts).toEqual([])

    const plan = planGateSession(settings, SHA_A, IDS)
    expect(w.ssh.scripts).toEqual([plan.script])
    expect(plan.steps).toEqual(['context', 'hook', 'inspect'])
    // The context check (four git calls), rebuild-timeout and inspect-timeout, each with the
    // host's kill grace, plus 15 s of slack.
    expect(w.ssh.options[0]?.timeoutMs).toBe(CONTEXT + HOOK + QUICK + MARGIN)
    expect(w.ssh.options[0]?.endsWith).toBe(`\n${MARK} end\n`)
    expect(w.ssh.options[0]?.onOutput).toBeInstanceOf(Function)
    expect(w.raw.opened).toEqual(['hook output (/srv/shop/hook.sh --build-staging)'])
    expect(w.raw.closed).toBe(1)
    expect(w.infos).toContain(
      `running the hook on ${WHERE}: ${describeHookCommand(settings as RebuildSettings, SHA_A)}`
    )
    expect(w.local.closes).toBe(0)
  })

  test.each<[string, SettingsOverrides, number]>([
    ['verify, no container check', { mode: 'verify' }, QUICK + MARGIN],
    [
      'verify, container check (ps, then inspect)',
      { mode: 'verify', containerCheck: 'auto' },
      4 * QUICK + MARGIN
    ],
    ['rebuild, context check', {}, CONTEXT + HOOK + QUICK + MARGIN],
    [
      'rebuild, context and container check',
      { containerCheck: 'auto' },
      CONTEXT + HOOK + 4 * QUICK + MARGIN
    ],
    [
      'rebuild, check-context false',
      { context: { ...makeSettings().context, check: 'skip' } },
      HOOK + QUICK + MARGIN
    ],
    [
      'rebuild, sync-context',
      { context: { ...makeSettings().context, sync: true } },
      CONTEXT + HOOK + QUICK + MARGIN
    ],
    ['rebuild, registry labels: no inspect', { labelSource: 'registry' }, CONTEXT + HOOK + MARGIN]
  ])('the local bound of a session: %s', async (_name, over, boundMs) => {
    const settings = sshSettings(over)
    const w = world(
      [head()],
      [
        session({
          hookExit: 0,
          inspectOutput: answer({ [REV]: SHA_A }),
          inspectExit: 0,
          containerOutput: '',
          containerExit: 0
        })
      ],
      [],
      {
        registry: {
          digest: IMAGE_ID,
          manifestDigest: IMAGE_ID,
          configDigest: IMAGE_ID,
          labels: { [REV]: SHA_A }
        }
      }
    )
    expect((await runGate(settings, w.deps, emptyFacts())).verdict).toBe('match')
    expect(w.ssh.options.map(options => options.timeoutMs)).toEqual([boundMs])
  })

  test('the nonce and the run id are in the script, never anywhere else', async () => {
    const w = world([head()], [rebuilt(SHA_A)])
    await runGate(sshSettings(), w.deps, emptyFacts())
    expect(w.ssh.scripts[0]).toContain(`pg_m=provenance-gate-${NONCE}`)
    expect(w.ssh.scripts[0]).toContain(`provenance-gate-run.${RUN_ID}`)
    expect(w.openSsh.mock.calls.flat().map(String).join(' ')).not.toContain(NONCE)
  })

  test('verify mode: one session without the hook or the context, bounded by the inspect', async () => {
    const w = world([head()], [verified(SHA_A)])
    const facts = emptyFacts()
    const settings = sshSettings({ mode: 'verify' })
    await runGate(settings, w.deps, facts)
    expect(w.ssh.scripts).toEqual([planned(settings)])
    expect(w.ssh.scripts[0]).not.toContain('--build-staging')
    expect(w.ssh.scripts[0]).not.toContain('pg_step context')
    expect(w.ssh.options[0]?.timeoutMs).toBe(QUICK + MARGIN)
    expect(w.raw.opened).toEqual([`output on ${WHERE}`])
    expect(w.raw.closed).toBe(1)
    expect(phaseNames(facts)).toEqual(['git', 'connect', 'inspect'])
    expect(facts.contextNote).toBe('')
  })

  test('without a host everything runs on the local runner, which is closed once', async () => {
    const settings = localSettings()
    const w = world([head()], [], [], { localSessions: [rebuilt(SHA_A)] })
    const facts = emptyFacts()
    const decision = await runGate(settings, w.deps, facts)
    expect(decision.verdict).toBe('match')
    expect(w.openSsh).not.toHaveBeenCalled()
    expect(w.local.gitCalls).toHaveLength(1)
    expect(w.local.scripts).toEqual([planned(settings)])
    expect(w.local.closes).toBe(1)
    expect(phaseNames(facts)).toEqual(['git', 'context', 'hook', 'inspect'])
    expect(w.infos).toContain('build context /srv/shop on local: clean work tree at 0123456789ab')
  })

  test('onRunner learns the runner for the session, and loses it when the run is over', async () => {
    const w = world([head()], [rebuilt(SHA_A)])
    await runGate(sshSettings(), w.deps, emptyFacts())
    expect(w.runners).toEqual([w.ssh, undefined])
  })

  test('onRunner loses the runner after a failure too', async () => {
    const w = world([head()], [session({ hookOutput: 'no\n', hookExit: 2 })])
    await rejection(runGate(sshSettings(), w.deps, emptyFacts()))
    expect(w.runners).toEqual([w.ssh, undefined])
  })

  test('the session stderr streams into the raw group, never the markers or the answer', async () => {
    const step = session({
      hookOutput: 'step 1\nstep 2\n',
      hookExit: 0,
      inspectOutput: answer({ [REV]: SHA_A }),
      inspectError: 'WARNING: inspect said something\n',
      inspectExit: 0,
      trailer: 'ssh: a late warning\n'
    })
    const w = world([head()], [step])
    await runGate(sshSettings(), w.deps, emptyFacts())
    expect(w.raw.written.join('')).toBe(
      'step 1\nstep 2\nWARNING: inspect said something\nssh: a late warning\n'
    )
    expect(w.raw.written.join('')).not.toContain(NONCE)
    expect(w.raw.closed).toBe(1)
  })

  test('phases are recorded in order; each ends when its exit line arrives', async () => {
    const step = session({
      context: { output: CLEAN, exit: 0, ms: 300 },
      hookOutput: 'building\n',
      hookMs: 185_000,
      hookExit: 0,
      inspectOutput: answer({ [REV]: SHA_A }),
      inspectExit: 0,
      inspectMs: 850
    })
    const w = world([head()], [step])
    const facts = emptyFacts()
    await runGate(sshSettings(), w.deps, facts)
    // Every clock reading adds 10 ms. git and connect overlap (each start reading comes before
    // either end reading), so each took two readings, and they may end in either order.
    expect(facts.phases.slice(0, 2)).toEqual(
      expect.arrayContaining([
        { name: 'git', ms: 20 },
        { name: 'connect', ms: 20 }
      ])
    )
    expect(facts.phases.slice(2)).toEqual([
      { name: 'context', ms: 310 },
      { name: 'hook', ms: 185_010 },
      { name: 'inspect', ms: 860 }
    ])
  })

  test('an exit line split across two chunks still ends the hook at the second', async () => {
    const inspect = `${MARK} out inspect\n${answer({ [REV]: SHA_A })}${MARK} exit inspect 0\n`
    const context = `${MARK} out context\n${CLEAN}${MARK} exit context 0\n`
    const step: Step = {
      emit: [
        { stream: 'stdout', text: `\n${MARK} begin\n${context}` },
        { stream: 'stderr', text: 'building\n', ms: 100 },
        { stream: 'stdout', text: `${MARK} exit ho`, ms: 50 },
        { stream: 'stdout', text: 'ok 0\n', ms: 50 },
        { stream: 'stdout', text: `${inspect}${MARK} end\n`, ms: 500 }
      ],
      result: ok(`\n${MARK} begin\n${context}${MARK} exit hook 0\n${inspect}${MARK} end\n`)
    }
    const w = world([head()], [step])
    const facts = emptyFacts()
    const decision = await runGate(sshSettings(), w.deps, facts)
    expect(decision.verdict).toBe('match')
    expect(facts.phases.find(p => p.name === 'hook')?.ms).toBe(210)
    expect(facts.phases.find(p => p.name === 'inspect')?.ms).toBe(510)
  })

  test('the log names the validated revision and the label read back, quoted', async () => {
    const w = world([head()], [rebuilt(`${SHA_A} `)])
    await runGate(sshSettings(), w.deps, emptyFacts())
    expect(w.infos).toContain(`validated revision: ${SHA_A} (HEAD of ${CHECKOUT})`)
    expect(w.infos).toContain(
      `image registry.example.com/shop:staging: id ${IMAGE_ID}, ${REV}="${SHA_A} "`
    )
  })

  test('the log says (none) when the image has no revision label', async () => {
    const w = world(
      [head()],
      [session({ hookExit: 0, inspectOutput: answer(null), inspectExit: 0 })]
    )
    await runGate(sshSettings(), w.deps, emptyFacts())
    expect(w.infos).toContain(
      `image registry.example.com/shop:staging: id ${IMAGE_ID}, ${REV}=(none)`
    )
  })

  test.each<[string, SessionSpec, boolean]>([
    [
      'a session that ended',
      { hookExit: 0, inspectOutput: answer({ [REV]: SHA_A }), inspectExit: 0 },
      false
    ],
    [
      'a session whose connection dropped during the hook',
      { hookOutput: 'building\n', exitCode: 255 },
      true
    ],
    ['a session stopped by the local bound', { hookOutput: 'building\n', timedOut: true }, true]
  ])('%s: sessionOpen is %s for the post step', async (_name, spec, open) => {
    const w = world([head()], [session(spec)])
    const facts = emptyFacts()
    await runGate(sshSettings(), w.deps, facts).catch(() => undefined)
    expect(facts.sessionOpen).toBe(open)
  })
})

describe('retryDelayMs', () => {
  test.each([
    [0, 1000],
    [1, 2000],
    [2, 4000],
    [3, 8000],
    [4, 8000],
    [9, 8000],
    [50, 8000]
  ])('before attempt %d + 2: %d ms', (attempt, ms) => {
    expect(retryDelayMs(attempt)).toBe(ms)
  })
})

describe('runGate connection retries', () => {
  const refused = (): GateError =>
    new GateError(
      'transport',
      `ssh connection to ${WHERE} failed: ssh: connect to host staging.example.com port 22: Connection refused`,
      true
    )

  test.each<[string, number, number, number[]]>([
    ['first attempt works', 2, 0, []],
    ['one refusal, then connected', 2, 1, [1000]],
    ['two refusals, then connected on the last attempt', 2, 2, [1000, 2000]],
    ['four refusals with ssh-retries 5', 5, 4, [1000, 2000, 4000, 8000]],
    [
      'ten refusals with ssh-retries 10',
      10,
      10,
      [1000, 2000, 4000, 8000, 8000, 8000, 8000, 8000, 8000, 8000]
    ]
  ])('%s', async (_name, retries, failures, sleeps) => {
    const errors = Array.from({ length: failures }, refused)
    const w = world([head()], [rebuilt(SHA_A)], errors)
    const facts = emptyFacts()
    const decision = await runGate(sshSettings({ ssh: sshTarget({ retries }) }), w.deps, facts)

    expect(decision.verdict).toBe('match')
    expect(w.openSsh).toHaveBeenCalledTimes(failures + 1)
    expect(w.sleeps).toEqual(sleeps)
    expect(w.events).toEqual([...sleeps.flatMap(ms => ['open', `sleep ${ms}`]), 'open'])
    const retryLogs = w.infos.filter(line => line.includes('retrying'))
    expect(retryLogs).toEqual(
      sleeps.map(
        (ms, i) =>
          `${refused().message}; nothing ran on the host, retrying in ${ms / 1000} s (attempt ${i + 2} of ${retries + 1})`
      )
    )
    // All attempts are one connect phase.
    expect(phaseNames(facts)).toEqual(['git', 'connect', 'context', 'hook', 'inspect'])
  })

  test.each<[string, number, number[], string]>([
    ['ssh-retries 2 exhausted', 2, [1000, 2000], '(3 attempts, ssh-retries 2)'],
    ['ssh-retries 0: one attempt', 0, [], '(1 attempt, ssh-retries 0)'],
    ['ssh-retries 1', 1, [1000], '(2 attempts, ssh-retries 1)']
  ])('%s: gives up with the count', async (_name, retries, sleeps, count) => {
    const errors = Array.from({ length: retries + 1 }, refused)
    const w = world([head()], [], errors)
    const facts = emptyFacts()
    const error = await rejection(
      runGate(sshSettings({ ssh: sshTarget({ retries }) }), w.deps, facts)
    )

    expect(error.failure).toBe('transport')
    expect(error.message).toBe(`${refused().message} ${count}`)
    expect(error.retryable).toBe(false)
    expect(w.openSsh).toHaveBeenCalledTimes(retries + 1)
    expect(w.sleeps).toEqual(sleeps)
    expect(w.ssh.scripts).toEqual([])
    expect(w.ssh.closes).toBe(0)
    expect(phaseNames(facts)).toEqual(['git', 'connect'])
    expect(facts.current).toBe('connect')
    expect(facts.sessionOpen).toBe(false)
  })

  test.each<[string, Error]>([
    [
      'a changed host key',
      new GateError('host-key', `ssh host key of ${WHERE} has CHANGED from the pinned known-hosts`)
    ],
    [
      'a refused login',
      new GateError('transport', `ssh login to ${WHERE} refused (Permission denied (publickey).)`)
    ],
    [
      'ssh missing on the runner',
      new GateError('transport', 'cannot run ssh on this runner: ENOENT')
    ],
    ['a key with a passphrase', new InputError('input private-key is protected by a passphrase')],
    ['an unexpected error', new Error('boom')]
  ])('%s is tried once and thrown unchanged', async (_name, thrown) => {
    const w = world([head()], [], [thrown])
    const facts = emptyFacts()
    const promise = runGate(sshSettings({ ssh: sshTarget({ retries: 5 }) }), w.deps, facts)
    expect(await stoppedWith(promise)).toBe(thrown)
    expect(w.openSsh).toHaveBeenCalledTimes(1)
    expect(w.sleeps).toEqual([])
    expect(w.infos.filter(line => line.includes('retrying'))).toEqual([])
    expect(w.ssh.scripts).toEqual([])
    expect(facts.expectedRevision).toBe(SHA_A)
    expect(phaseNames(facts)).toEqual(['git', 'connect'])
    expect(facts.current).toBe('connect')
  })

  test('a refusal, then a host-key failure: the host-key failure ends it, unchanged', async () => {
    const hostKey = new GateError('host-key', `ssh host key of ${WHERE} does not match`)
    const w = world([head()], [], [refused(), hostKey])
    const error = await rejection(runGate(sshSettings(), w.deps, emptyFacts()))
    expect(error).toBe(hostKey)
    expect(w.openSsh).toHaveBeenCalledTimes(2)
    expect(w.sleeps).toEqual([1000])
  })

  test('a timed-out connect is retried like a refusal', async () => {
    const slow = new GateError('transport', `ssh connection to ${WHERE} timed out after 45 s`, true)
    const w = world([head()], [rebuilt(SHA_A)], [slow])
    const decision = await runGate(sshSettings(), w.deps, emptyFacts())
    expect(decision.verdict).toBe('match')
    expect(w.infos).toContain(
      `ssh connection to ${WHERE} timed out after 45 s; nothing ran on the host, retrying in 1 s (attempt 2 of 3)`
    )
  })

  test('a failure after the connection is never retried', async () => {
    const w = world(
      [head()],
      [session({ hookOutput: 'building\n', exitCode: 255, trailer: 'Connection reset\n' })]
    )
    const error = await rejection(runGate(sshSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('transport')
    expect(error.retryable).toBe(false)
    expect(w.openSsh).toHaveBeenCalledTimes(1)
    expect(w.ssh.scripts).toHaveLength(1)
    expect(w.sleeps).toEqual([])
  })
})

describe('runGate session failures', () => {
  const what = `docker image inspect registry.example.com/shop:staging on ${WHERE}`
  const noTimeout = `${WHERE} has no GNU \`timeout\` (coreutils); the gate needs it to bound its commands on the host and stop the hook's whole process group. Nothing was run`
  const notStarted = (how: string, output: string): string =>
    `the session on ${WHERE} did not start (\`sh -s\` ${how}): ${output}. The host must run \`sh -s\` for the ssh user (a forced command must allow it)`
  const image = (id: string): Record<string, unknown> => ({ Id: id, Config: { Labels: null } })
  const twoImages = JSON.stringify([image(IMAGE_ID), image(`sha256:${'b'.repeat(64)}`)])

  interface Row {
    name: string
    mode?: Settings['mode']
    step: Scripted
    failure: FailureClass
    /** The whole message, or parts of it when it quotes a raw tail. */
    message: string | string[]
    /** The phases recorded: a step's phase once its exit line came. */
    phases: PhaseTiming['name'][]
  }

  const BEFORE: PhaseTiming['name'][] = ['git', 'connect']
  const CHECKED: PhaseTiming['name'][] = [...BEFORE, 'context']
  const HOOKED: PhaseTiming['name'][] = [...CHECKED, 'hook']
  const ALL: PhaseTiming['name'][] = [...HOOKED, 'inspect']

  const rows: Row[] = [
    {
      name: 'ssh cannot be started',
      step: spawnFailed('spawn ssh ENOENT'),
      failure: 'transport',
      message: `cannot run commands on ${WHERE}: spawn ssh ENOENT`,
      phases: BEFORE
    },
    {
      name: 'no timeout command on the host (rebuild)',
      step: session({ noTimeout: true }),
      failure: 'hook-failed',
      message: noTimeout,
      phases: BEFORE
    },
    {
      name: 'no timeout command on the host (verify)',
      mode: 'verify',
      step: session({ noTimeout: true }),
      failure: 'inspect-failed',
      message: noTimeout,
      phases: BEFORE
    },
    {
      name: 'a forced command that refuses sh -s: the session never began (rebuild)',
      step: session({
        noBegin: true,
        exitCode: 1,
        trailer: 'This key may only run /srv/deploy.sh\n'
      }),
      failure: 'hook-failed',
      message: notStarted('exit code 1', 'This key may only run /srv/deploy.sh'),
      phases: BEFORE
    },
    {
      name: 'a forced command that refuses sh -s: the session never began (verify)',
      mode: 'verify',
      step: session({ noBegin: true, exitCode: 1, trailer: 'not allowed\n' }),
      failure: 'inspect-failed',
      message: notStarted('exit code 1', 'not allowed'),
      phases: BEFORE
    },
    {
      name: 'a forced command that prints chatter and exits 0: nothing began, nothing trusted',
      mode: 'verify',
      step: session({
        noBegin: true,
        chatter: `Welcome\n${answer({ [REV]: SHA_A })}`,
        exitCode: 0,
        end: false
      }),
      failure: 'inspect-failed',
      message: notStarted('exit code 0', 'no output'),
      phases: BEFORE
    },
    {
      name: 'the session never began and was killed by a signal',
      step: session({ noBegin: true, exitCode: null }),
      failure: 'hook-failed',
      message: notStarted('killed by a signal', 'no output'),
      phases: BEFORE
    },
    {
      name: 'the session never began before the local bound',
      step: session({ noBegin: true, timedOut: true }),
      failure: 'timeout',
      message: `the session on ${WHERE} did not start in time; it was stopped`,
      phases: BEFORE
    },
    {
      name: 'the connection was lost before the session began',
      step: session({
        noBegin: true,
        exitCode: 255,
        trailer: 'Connection closed by 10.0.0.5 port 22\n'
      }),
      failure: 'transport',
      message: `ssh connection to ${WHERE} was lost before the session started (Connection closed by 10.0.0.5 port 22)`,
      phases: BEFORE
    },
    {
      name: 'the connection was lost silently before the session began',
      step: session({ noBegin: true, exitCode: 255 }),
      failure: 'transport',
      message: `ssh connection to ${WHERE} was lost before the session started (exit 255)`,
      phases: BEFORE
    },
    {
      name: 'the hook never reported and the local bound expired',
      step: session({ hookOutput: 'building\n', timedOut: true }),
      failure: 'timeout',
      message: `hook on ${WHERE} did not finish within 1200 s (rebuild-timeout) and its host-side bound did not answer either; the session was stopped`,
      phases: CHECKED
    },
    {
      name: 'the connection was lost while the hook ran (exit 255)',
      step: session({
        hookOutput: 'building\n',
        exitCode: 255,
        trailer: 'Connection to staging.example.com closed by remote host.\n'
      }),
      failure: 'transport',
      message: `ssh connection to ${WHERE} was lost while the hook was running (Connection to staging.example.com closed by remote host.); not retried, because the hook had started. Its host-side bound stops it after 1200 s (rebuild-timeout)`,
      phases: CHECKED
    },
    {
      name: 'the connection was lost silently while the hook ran: exit 255, never a marker line',
      step: session({ exitCode: 255 }),
      failure: 'transport',
      message: `ssh connection to ${WHERE} was lost while the hook was running (exit 255); not retried, because the hook had started. Its host-side bound stops it after 1200 s (rebuild-timeout)`,
      phases: CHECKED
    },
    {
      name: 'the session ended without a hook report',
      step: session({ hookOutput: 'sh: 12: Syntax error\n', exitCode: 2 }),
      failure: 'hook-failed',
      message: `hook on ${WHERE} ended without reporting a result (exit code 2): sh: 12: Syntax error`,
      phases: CHECKED
    },
    {
      name: 'the session was killed by a signal before the hook reported',
      step: session({ exitCode: null }),
      failure: 'hook-failed',
      message: `hook on ${WHERE} ended without reporting a result (killed by a signal): no output`,
      phases: CHECKED
    },
    {
      name: 'hook exit 124 after rebuild-timeout: the host-side bound stopped it',
      step: session({ hookOutput: 'still building\n', hookMs: 1_200_000, hookExit: 124 }),
      failure: 'timeout',
      message: `hook timed out after 1200 s (rebuild-timeout) on ${WHERE}; the host stopped it and its process group (SIGTERM, SIGKILL). Last output: still building`,
      phases: HOOKED
    },
    {
      name: 'hook exit 137 after rebuild-timeout: the host had to kill it',
      step: session({ hookOutput: 'trap TERM\n', hookMs: 1_250_000, hookExit: 137 }),
      failure: 'timeout',
      message: `hook timed out after 1200 s (rebuild-timeout) on ${WHERE}; the host stopped it and its process group (SIGTERM, SIGKILL). Last output: trap TERM`,
      phases: HOOKED
    },
    {
      name: 'hook exit 124 long before rebuild-timeout is the hook’s own status',
      step: session({ hookOutput: 'curl: timed out\n', hookMs: 5_000, hookExit: 124 }),
      failure: 'hook-failed',
      message: `hook failed (exit code 124) on ${WHERE}: curl: timed out`,
      phases: HOOKED
    },
    {
      name: 'hook exit 137 before rebuild-timeout (OOM kill) is a hook failure',
      step: session({ hookOutput: 'Killed\n', hookMs: 60_000, hookExit: 137 }),
      failure: 'hook-failed',
      message: `hook failed (exit code 137) on ${WHERE}: Killed`,
      phases: HOOKED
    },
    {
      name: 'hook exits 3',
      step: session({ hookOutput: 'step 1\nstep 2\nERROR: compose build failed\n', hookExit: 3 }),
      failure: 'hook-failed',
      message: `hook failed (exit code 3) on ${WHERE}: step 1 ⏎ step 2 ⏎ ERROR: compose build failed`,
      phases: HOOKED
    },
    {
      name: 'hook exits 1 without output',
      step: session({ hookExit: 1 }),
      failure: 'hook-failed',
      message: `hook failed (exit code 1) on ${WHERE}: no output`,
      phases: HOOKED
    },
    {
      name: 'hook output that arrives after its marker is still in the tail, the marker is not',
      step: session({ hookOutput: 'first\n', hookExit: 2, trailer: 'last words\n' }),
      failure: 'hook-failed',
      message: `hook failed (exit code 2) on ${WHERE}: first ⏎ last words`,
      phases: HOOKED
    },
    {
      name: 'a failed cd into hook-dir is the hook’s failure; the context was never checked',
      step: session({
        context: null,
        hookOutput: "sh: 9: cd: can't cd to /srv/shop\n",
        hookExit: 2
      }),
      failure: 'hook-failed',
      message: `hook failed (exit code 2) on ${WHERE}: sh: 9: cd: can't cd to /srv/shop`,
      phases: [...BEFORE, 'hook']
    },
    {
      name: 'the inspect never reported and the local bound expired',
      step: session({ hookExit: 0, timedOut: true }),
      failure: 'timeout',
      message: `${what} did not answer within 45 s (inspect-timeout); the session was stopped`,
      phases: HOOKED
    },
    {
      name: 'the connection was lost during the inspect',
      step: session({
        hookExit: 0,
        exitCode: 255,
        trailer: 'Connection reset by 10.0.0.5 port 22\n'
      }),
      failure: 'transport',
      message: `ssh connection to ${WHERE} was lost during the inspect (Connection reset by 10.0.0.5 port 22)`,
      phases: HOOKED
    },
    {
      name: 'the inspect never reported (exit 2)',
      step: session({ hookExit: 0, exitCode: 2, trailer: 'sh: 3: Syntax error\n' }),
      failure: 'inspect-failed',
      message: [`${what} ended without reporting a result (exit code 2): `, 'sh: 3: Syntax error'],
      phases: HOOKED
    },
    {
      name: 'inspect exit 124: the host stopped it',
      step: session({ hookExit: 0, inspectExit: 124, inspectMs: 45_000 }),
      failure: 'timeout',
      message: `${what} timed out after 45 s (inspect-timeout); the host stopped it`,
      phases: ALL
    },
    {
      name: 'inspect exit 137: the host had to kill it',
      step: session({ hookExit: 0, inspectExit: 137, inspectMs: 55_000 }),
      failure: 'timeout',
      message: `${what} timed out after 45 s (inspect-timeout); the host stopped it`,
      phases: ALL
    },
    {
      name: 'inspect exit 124 early is still the host’s bound (only timeout exits so)',
      step: session({ hookExit: 0, inspectExit: 124, inspectMs: 1_000 }),
      failure: 'timeout',
      message: `${what} timed out after 45 s (inspect-timeout); the host stopped it`,
      phases: ALL
    },
    {
      name: 'docker is not on the host PATH (127)',
      step: session({
        hookExit: 0,
        inspectError: "timeout: failed to run command 'docker': No such file or directory\n",
        inspectExit: 127
      }),
      failure: 'inspect-failed',
      message: `${what} failed (exit code 127): docker is not on the host's PATH (set the docker input to its path). timeout: failed to run command 'docker': No such file or directory`,
      phases: ALL
    },
    {
      name: 'the docker daemon is down',
      step: session({
        hookExit: 0,
        inspectOutput: '[]',
        inspectError:
          'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n',
        inspectExit: 1
      }),
      failure: 'inspect-failed',
      message: `${what} failed (exit code 1): the container engine on the host is not running or not reachable. Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?`,
      phases: ALL
    },
    {
      name: 'the image does not exist (docker prints [] and exits 1)',
      step: session({
        hookExit: 0,
        inspectOutput: '[]',
        inspectError:
          'Error response from daemon: No such image: registry.example.com/shop:staging\n',
        inspectExit: 1
      }),
      failure: 'inspect-failed',
      message: `${what} failed (exit code 1): the image registry.example.com/shop:staging does not exist on the host. Error response from daemon: No such image: registry.example.com/shop:staging`,
      phases: ALL
    },
    {
      name: 'the image does not exist (podman prints [] and exits 125)',
      step: session({
        hookExit: 0,
        inspectOutput: '[]',
        inspectError: 'Error: registry.example.com/shop:staging: image not known\n',
        inspectExit: 125
      }),
      failure: 'inspect-failed',
      message: `${what} failed (exit code 125): the image registry.example.com/shop:staging does not exist on the host. Error: registry.example.com/shop:staging: image not known`,
      phases: ALL
    },
    {
      name: 'another inspect error gets no hint',
      step: session({
        hookExit: 0,
        inspectError: 'permission denied while trying to reach the socket\n',
        inspectExit: 1
      }),
      failure: 'inspect-failed',
      message: `${what} failed (exit code 1): permission denied while trying to reach the socket`,
      phases: ALL
    },
    {
      name: 'the inspect answered garbage',
      step: session({ hookExit: 0, inspectOutput: 'WARNING: something odd\n', inspectExit: 0 }),
      failure: 'inspect-failed',
      message: `${what} answered "WARNING: something odd", not one image's JSON with an id`,
      phases: ALL
    },
    {
      name: 'the inspect answered nothing',
      step: session({ hookExit: 0, inspectOutput: '', inspectExit: 0 }),
      failure: 'inspect-failed',
      message: `${what} answered "", not one image's JSON with an id`,
      phases: ALL
    },
    {
      name: 'the inspect answered no image with exit 0',
      step: session({ hookExit: 0, inspectOutput: '[]', inspectExit: 0 }),
      failure: 'inspect-failed',
      message: `${what} answered "[]", not one image's JSON with an id`,
      phases: ALL
    },
    {
      name: 'the inspect answered two images',
      step: session({ hookExit: 0, inspectOutput: twoImages, inspectExit: 0 }),
      failure: 'inspect-failed',
      message: `${what} answered ${JSON.stringify(lastLines(twoImages, 1, 120))}, not one image's JSON with an id`,
      phases: ALL
    },
    {
      name: 'the inspect answered an id that is not a digest',
      step: session({
        hookExit: 0,
        inspectOutput: JSON.stringify([image('sha256:abc')]),
        inspectExit: 0
      }),
      failure: 'inspect-failed',
      message: `${what} answered ${JSON.stringify(JSON.stringify([image('sha256:abc')]))}, not one image's JSON with an id`,
      phases: ALL
    },
    {
      name: 'verify mode: the connection was lost',
      mode: 'verify',
      step: session({ exitCode: 255, trailer: 'client_loop: send disconnect: Broken pipe\n' }),
      failure: 'transport',
      message: `ssh connection to ${WHERE} was lost during the inspect (client_loop: send disconnect: Broken pipe)`,
      phases: BEFORE
    },
    {
      name: 'verify mode: lost silently during the inspect, exit 255, never a marker line',
      mode: 'verify',
      step: session({ exitCode: 255 }),
      failure: 'transport',
      message: `ssh connection to ${WHERE} was lost during the inspect (exit 255)`,
      phases: BEFORE
    },
    {
      name: 'verify mode: no image',
      mode: 'verify',
      step: session({
        inspectOutput: '[]',
        inspectError: 'Error: No such image: x\n',
        inspectExit: 1
      }),
      failure: 'inspect-failed',
      message: `${what} failed (exit code 1): the image registry.example.com/shop:staging does not exist on the host. Error: No such image: x`,
      phases: [...BEFORE, 'inspect']
    }
  ]

  test.each(rows.map(row => [row.name, row] as const))(
    '%s: throws, closes the ssh runner once, keeps the facts',
    async (_name, row) => {
      const mode = row.mode ?? 'rebuild'
      const w = world([head()], [row.step])
      const facts = emptyFacts()
      const error = await rejection(runGate(sshSettings({ mode }), w.deps, facts))

      expect(error.failure).toBe(row.failure)
      expect(error.retryable).toBe(false)
      if (typeof row.message === 'string') expect(error.message).toBe(row.message)
      else for (const part of row.message) expect(error.message).toContain(part)
      expect(error.message).not.toContain(NONCE)
      expect(w.ssh.scripts).toHaveLength(1)
      expect(w.ssh.closes).toBe(1)
      expect(facts.expectedRevision).toBe(SHA_A)
      expect(facts.imageRevision).toBe('')
      expect(facts.imageId).toBe('')
      expect(facts.labels).toEqual({})
      // The session's log group is opened and closed exactly once, whatever happened.
      expect(w.raw.opened).toHaveLength(1)
      expect(w.raw.closed).toBe(1)
      // The summary's Time row never shows a step that did not report.
      expect(phaseNames(facts)).toEqual(
        mode === 'verify' ? row.phases.filter(name => name !== 'context') : row.phases
      )
    }
  )

  test('a reason never quotes the session marker lines', async () => {
    const w = world(
      [head()],
      [
        session({
          hookOutput: 'built\n',
          hookExit: 0,
          exitCode: 2,
          trailer: 'sh: 3: Syntax error\n'
        })
      ]
    )
    const error = await rejection(runGate(sshSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('inspect-failed')
    expect(error.message).toBe(
      `${what} ended without reporting a result (exit code 2): built ⏎ sh: 3: Syntax error`
    )
    expect(error.message).not.toContain(NONCE)
  })

  test('a local run closes the local runner once after a hook failure', async () => {
    const w = world([head()], [], [], {
      localSessions: [session({ hookOutput: 'nope\n', hookExit: 2 })]
    })
    const error = await rejection(runGate(localSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('hook-failed')
    expect(error.message).toBe('hook failed (exit code 2) on local: nope')
    expect(w.local.closes).toBe(1)
  })

  test('a local run names local when the shell cannot start', async () => {
    const w = world([head()], [], [], { localSessions: [spawnFailed('spawn sh ENOENT')] })
    const error = await rejection(runGate(localSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('transport')
    expect(error.message).toBe('cannot run commands on local: spawn sh ENOENT')
    expect(error.message).not.toContain('killed by a signal')
  })
})

describe('runGate with processes the hook left behind', () => {
  test.each<[string, string[], string]>([
    [
      'one process',
      ['4242 sleep 300'],
      `the hook left 1 process running on ${WHERE}, stopped now: 4242 sleep 300`
    ],
    [
      'two processes',
      ['4242 sleep 300', '4250 docker compose logs -f'],
      `the hook left 2 processes running on ${WHERE}, stopped now: 4242 sleep 300; 4250 docker compose logs -f`
    ],
    [
      'a long command line is cut to 120 characters',
      [`4242 ${'x'.repeat(300)}`],
      `the hook left 1 process running on ${WHERE}, stopped now: 4242 ${'x'.repeat(115)}`
    ]
  ])('%s: a warning, and the verdict still decides', async (_name, left, warning) => {
    const step = session({
      hookExit: 0,
      left,
      inspectOutput: answer({ [REV]: SHA_A }),
      inspectExit: 0
    })
    const w = world([head()], [step])
    const decision = await runGate(sshSettings(), w.deps, emptyFacts())
    expect(decision.verdict).toBe('match')
    expect(w.warnings).toEqual([warning])
  })

  test('a failed hook that left processes fails as the hook, no warning first', async () => {
    const w = world(
      [head()],
      [session({ hookOutput: 'no\n', hookExit: 1, left: ['4242 sleep 300'] })]
    )
    const error = await rejection(runGate(sshSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('hook-failed')
    expect(w.warnings).toEqual([])
  })

  test('no process left: no warning', async () => {
    const w = world([head()], [rebuilt(SHA_A)])
    await runGate(sshSettings(), w.deps, emptyFacts())
    expect(w.warnings).toEqual([])
  })
})

describe('runGate keeps the running phase for errors nobody expected', () => {
  const begin = { stream: 'stdout' as const, text: `\n${MARK} begin\n` }
  const context = {
    stream: 'stdout' as const,
    text: `${MARK} out context\n${CLEAN}${MARK} exit context 0\n`
  }
  test.each<[string, Settings['mode'], Step, Facts['current']]>([
    [
      'the runner throws during the context check',
      'rebuild',
      { result: ok(''), emit: [begin], throws: new Error('EPIPE') },
      'context'
    ],
    [
      'the runner throws while the hook runs',
      'rebuild',
      {
        result: ok(''),
        emit: [begin, context, { stream: 'stderr', text: 'building\n' }],
        throws: new Error('EPIPE')
      },
      'hook'
    ],
    [
      'the runner throws after the hook reported',
      'rebuild',
      {
        result: ok(''),
        emit: [begin, context, { stream: 'stdout', text: `${MARK} exit hook 0\n` }],
        throws: new Error('EPIPE')
      },
      'inspect'
    ],
    [
      'the runner throws in verify mode',
      'verify',
      { result: ok(''), throws: new Error('EPIPE') },
      'inspect'
    ]
  ])('%s: facts.current names that phase', async (_name, mode, step, current) => {
    const w = world([head()], [step])
    const facts = emptyFacts()
    await expect(runGate(sshSettings({ mode }), w.deps, facts)).rejects.toThrow('EPIPE')
    expect(facts.current).toBe(current)
    expect(w.ssh.closes).toBe(1)
    expect(w.raw.closed).toBe(1)
    // Nothing said the session ended: the post step must look on the host.
    expect(facts.sessionOpen).toBe(true)
  })

  test('openSsh throwing leaves connect as the phase', async () => {
    const thrown = new Error('boom')
    const w = world([head()], [], [thrown])
    const facts = emptyFacts()
    await expect(runGate(sshSettings(), w.deps, facts)).rejects.toBe(thrown)
    expect(facts.current).toBe('connect')
  })

  test('git throwing leaves git as the phase', async () => {
    const w = world([{ result: ok(''), throws: new Error('boom') }], [])
    const facts = emptyFacts()
    await expect(runGate(sshSettings(), w.deps, facts)).rejects.toThrow('boom')
    expect(facts.current).toBe('git')
    // The connection opened alongside git is its own phase, and it is closed unused.
    expect(phaseNames(facts)).toEqual(['git', 'connect'])
    expect(w.ssh.scripts).toEqual([])
    expect(w.ssh.closes).toBe(1)
  })

  test('a run that decided clears the phase', async () => {
    const w = world([head()], [rebuilt(SHA_B)])
    const facts = emptyFacts()
    await runGate(sshSettings(), w.deps, facts)
    expect(facts.current).toBe('')
  })
})

describe('runGate git failures', () => {
  test.each<[string, GitStep, FailureClass, string[]]>([
    [
      'git exits non-zero',
      exit(128, 'fatal: not a git repository (or any of the parent directories): .git\n'),
      'git-failed',
      [
        `git rev-parse HEAD in ${CHECKOUT} failed (exit code 128): the checkout path is not a git repository. fatal: not a git repository`
      ]
    ],
    [
      'git killed without output',
      exit(null, ''),
      'git-failed',
      ['killed by a signal', 'no output']
    ],
    [
      'git prints something that is not hex',
      ok(`${CHECKOUT}\nHEAD\n`),
      'git-failed',
      ['printed "HEAD", not a 40- or 64-hex revision']
    ],
    [
      'git prints an abbreviated revision',
      head(SHA_A.slice(0, 12)),
      'git-failed',
      ['not a 40- or 64-hex revision']
    ],
    [
      'git prints an upper-case revision',
      head(SHA_A.toUpperCase()),
      'git-failed',
      ['not a 40- or 64-hex revision']
    ],
    [
      'git prints a third line',
      ok(`${CHECKOUT}\n${SHA_A}\n${SHA_B}\n`),
      'git-failed',
      ['not a 40- or 64-hex revision']
    ],
    ['git prints nothing', ok(''), 'empty-revision', ['printed no revision']],
    [
      'git prints only whitespace',
      ok(`${CHECKOUT}\n \n`),
      'empty-revision',
      ['printed no revision']
    ],
    [
      'the checkout lies inside another work tree',
      head(SHA_A, '/home/runner/work'),
      'git-failed',
      [
        `path ${CHECKOUT} is not the top of a git checkout: it lies inside the work tree /home/runner/work, whose HEAD is not this checkout's`
      ]
    ],
    [
      'git times out',
      timedOut(),
      'timeout',
      [`git rev-parse HEAD in ${CHECKOUT} timed out after 30 s (git-timeout)`]
    ]
  ])(
    '%s: throws before any remote command; the connection opened meanwhile is closed unused',
    async (_name, git, failure, mentions) => {
      const w = world([git], [])
      const facts = emptyFacts()
      const error = await rejection(runGate(sshSettings(), w.deps, facts))

      expect(error.failure).toBe(failure)
      for (const text of mentions) expect(error.message).toContain(text)
      // The connection (key check, handshake) opens while git answers; nothing ran through it.
      expect(w.openSsh).toHaveBeenCalledTimes(1)
      expect(w.ssh.scripts).toEqual([])
      expect(w.ssh.closes).toBe(1)
      expect(w.runners).toEqual([])
      expect(facts.expectedRevision).toBe('')
      expect(phaseNames(facts)).toEqual(['git', 'connect'])
    }
  )

  test.each<[string, (w: World) => Promise<void> | void, number, number]>([
    ['the connection was already open', () => undefined, 1, 1],
    [
      'the connection opens only after git failed: it is waited for, then closed',
      w => {
        w.openSsh.mockImplementationOnce(
          () => new Promise(resolve => setTimeout(() => resolve(w.ssh), 20))
        )
      },
      1,
      1
    ],
    [
      'closing the unused connection fails: the git failure still stands',
      w => {
        w.ssh.closeError = new Error('control socket gone')
      },
      1,
      1
    ],
    [
      'the connection fails too (a changed host key): git’s failure is the one reported',
      w => {
        w.openSsh.mockImplementationOnce(async () => {
          throw new GateError('host-key', 'ssh host key of staging.example.com has CHANGED')
        })
      },
      1,
      0
    ],
    [
      'the connection is refused and retried: the retries end, nothing is left open',
      w => {
        w.openSsh.mockImplementationOnce(async () => {
          throw new GateError('transport', 'connection refused', true)
        })
      },
      2,
      1
    ]
  ])('git fails while connecting (%s)', async (_name, arrange, opens, closes) => {
    const w = world([exit(128, 'fatal: not a git repository\n')], [])
    await arrange(w)
    const facts = emptyFacts()
    const error = await rejection(runGate(sshSettings(), w.deps, facts))
    expect(error.failure).toBe('git-failed')
    expect(error.message).toContain(`git rev-parse HEAD in ${CHECKOUT} failed (exit code 128)`)
    expect(w.openSsh).toHaveBeenCalledTimes(opens)
    // Nothing ran on the host, and a connection that opened is closed before runGate returns.
    expect(w.ssh.scripts).toEqual([])
    expect(w.ssh.closes).toBe(closes)
    expect(w.runners).toEqual([])
    expect(w.warnings).toEqual([])
    expect(facts.expectedRevision).toBe('')
    expect(phaseNames(facts)).toEqual(['git', 'connect'])
  })

  test('a long non-hex answer from git is cut to 80 characters in the message', async () => {
    const w = world([head('z'.repeat(200))], [])
    const error = await rejection(runGate(sshSettings(), w.deps, emptyFacts()))
    expect(error.message).toContain(`printed "${'z'.repeat(80)}", not`)
    expect(error.message).not.toContain('z'.repeat(81))
  })

  test('git that cannot be spawned names the spawn error', async () => {
    const w = world([spawnFailed('spawn git ENOENT')], [])
    const error = await rejection(runGate(sshSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('git-failed')
    expect(error.message).toBe(
      `git rev-parse HEAD in ${CHECKOUT} failed (could not start): git is not on this runner's PATH (spawn git ENOENT)`
    )
  })

  test('a 64-hex revision (sha256 repository) is the validated one, read with the git bound', async () => {
    const sha256 = `${SHA_A}${'0'.repeat(24)}`
    const w = world([head(sha256)], [verified(sha256)])
    const settings = sshSettings({
      mode: 'verify',
      timeouts: { gitMs: 7_000, inspectMs: 45_000, rebuildMs: 1_200_000 }
    })
    const facts = emptyFacts()
    expect((await runGate(settings, w.deps, facts)).verdict).toBe('match')
    expect(facts.expectedRevision).toBe(sha256)
    expect(w.local.gitTimeouts).toEqual([7_000])
  })
})

describe('runGate build context check', () => {
  const AT = `build context /srv/shop on ${WHERE}`
  const BEFORE = 'the hook did not run'
  const AFTER =
    'the hook (sync-context) did not leave it at the validated commit, so what it built is not proven'
  const tree = (revision: string, dirty = 0, first = ''): string =>
    `top /srv/shop\nhead ${revision}\ndirty ${dirty}\n${first ? `first ${first}\n` : ''}`
  const context = (check: Settings['context']['check'], sync = false): Settings['context'] => ({
    ...makeSettings().context,
    check,
    sync
  })
  const NEAR = `${SHA_A.slice(0, 39)}8`

  test.each<[string, Settings['context']['check'], string, FailureClass, string]>([
    [
      'behind: HEAD is another commit',
      'auto',
      tree(SHA_B),
      'stale-context',
      `${AT} is at fedcba987654, not the validated 0123456789ab`
    ],
    [
      'another commit that shares the short form: both shown whole',
      'auto',
      tree(NEAR),
      'stale-context',
      `${AT} is at ${NEAR}, not the validated ${SHA_A}`
    ],
    [
      'dirty: changed files',
      'auto',
      tree(SHA_A, 3, 'M Dockerfile'),
      'stale-context',
      `${AT} is dirty: 3 files (first: M Dockerfile), at 0123456789ab`
    ],
    [
      'dirty: a file hidden by assume-unchanged',
      'require',
      tree(SHA_A, 1, 'hidden src/app.js'),
      'stale-context',
      `${AT} is dirty: 1 files (first: hidden src/app.js), at 0123456789ab`
    ],
    [
      'behind and dirty: behind is said first',
      'auto',
      tree(SHA_B, 2, '?? stray.txt'),
      'stale-context',
      `${AT} is at fedcba987654, not the validated 0123456789ab`
    ],
    [
      'not a work tree with check-context true',
      'require',
      'not-a-work-tree\n',
      'stale-context',
      `${AT} is not a git work tree (check-context: true): nothing proves which commit it holds. Use upload-context: true, or a clone at the validated commit`
    ],
    [
      'no git on the host',
      'auto',
      'no-git\n',
      'stale-context',
      `git is not installed on ${WHERE}, so the build context /srv/shop cannot be checked; install git there, or use upload-context: true`
    ],
    [
      'git refuses a context another user owns',
      'auto',
      'unsafe\n',
      'stale-context',
      `git on ${WHERE} refuses /srv/shop: it belongs to another user (safe.directory). Let the ssh user own it, or add it with git config --global --add safe.directory /srv/shop for that user`
    ],
    [
      'git did not answer within inspect-timeout',
      'auto',
      'timeout\n',
      'timeout',
      `git on ${WHERE} did not answer about /srv/shop within inspect-timeout`
    ],
    [
      'git failed half-way',
      'auto',
      `top /srv/shop\nfailed rev-parse HEAD\n`,
      'stale-context',
      `git rev-parse HEAD failed in ${AT}`
    ],
    [
      'an answer the script would never print',
      'auto',
      'hello\n',
      'stale-context',
      `${AT} could not be read (the context check gave no answer)`
    ],
    [
      'an empty answer',
      'require',
      '',
      'stale-context',
      `${AT} could not be read (the context check gave no answer)`
    ]
  ])(
    '%s (check-context %s): the verdict fails, the hook never ran, nothing inspected',
    async (_name, check, report, failure, reason) => {
      const settings = sshSettings({ context: context(check) })
      const w = world([head()], [session({ context: { output: report, exit: 1 } })])
      const facts = emptyFacts()
      const decision = await runGate(settings, w.deps, facts)
      expect(decision).toEqual({
        verdict: 'fail-closed',
        reason: `provenance fail-closed: ${reason}; ${BEFORE}`,
        pass: false,
        failure
      })
      // The check runs before the hook in the script itself.
      const script = w.ssh.scripts[0] ?? ''
      expect(script.indexOf('pg_step context pg_context')).toBeGreaterThan(0)
      expect(script.indexOf('pg_step context pg_context')).toBeLessThan(
        script.indexOf('--build-staging')
      )
      expect(facts.imageId).toBe('')
      expect(facts.contextNote).toBe('')
      expect(phaseNames(facts)).toEqual(['git', 'connect', 'context'])
      expect(w.infos.filter(line => line.startsWith('image '))).toEqual([])
      expect(w.ssh.closes).toBe(1)
    }
  )

  test.each<[string, Settings['context']['check'], string, number, string]>([
    [
      'a clean work tree at the revision',
      'auto',
      tree(SHA_A),
      0,
      `${AT}: clean work tree at 0123456789ab`
    ],
    [
      'a clean work tree with check-context true',
      'require',
      tree(SHA_A),
      0,
      `${AT}: clean work tree at 0123456789ab`
    ],
    [
      'not a work tree under auto: passes, said out loud',
      'auto',
      'not-a-work-tree\n',
      0,
      `build context not verified: /srv/shop on ${WHERE} is not a git work tree, so the gate trusts the hook to build the validated commit (check-context: true refuses this)`
    ]
  ])(
    '%s (check-context %s): the hook runs, the note is kept',
    async (_name, check, report, code, note) => {
      const settings = sshSettings({ context: context(check) })
      const step = session({
        context: { output: report, exit: code },
        hookExit: 0,
        inspectOutput: answer({ [REV]: SHA_A }),
        inspectExit: 0
      })
      const w = world([head()], [step])
      const facts = emptyFacts()
      expect((await runGate(settings, w.deps, facts)).verdict).toBe('match')
      expect(facts.contextNote).toBe(note)
      expect(w.infos).toContain(note)
      expect(phaseNames(facts)).toEqual(['git', 'connect', 'context', 'hook', 'inspect'])
    }
  )

  test('without build-context or hook-dir the login directory is named', async () => {
    const settings = sshSettings({ buildContext: '', hookDir: '' })
    const w = world([head()], [session({ context: { output: tree(SHA_B), exit: 1 } })])
    const decision = await runGate(settings, w.deps, emptyFacts())
    expect(decision.reason).toBe(
      `provenance fail-closed: build context (the ssh user's login directory) on ${WHERE} is at fedcba987654, not the validated 0123456789ab; ${BEFORE}`
    )
    expect(w.ssh.scripts[0]).toContain("pg_ctx='.'")
  })

  test('a host that refuses what its report does not explain is never a pass', async () => {
    const w = world([head()], [session({ context: { output: tree(SHA_A), exit: 1 } })])
    const error = await rejection(runGate(sshSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('stale-context')
    expect(error.message).toBe(
      `the build context check on ${WHERE} refused /srv/shop (exit code 1): no output`
    )
  })

  test.each<[string, SessionSpec, FailureClass, string]>([
    [
      'the connection was lost during the check',
      { context: { output: '' }, exitCode: 255, trailer: 'Broken pipe\n' },
      'transport',
      `ssh connection to ${WHERE} was lost during the build context check (Broken pipe)`
    ],
    [
      'the local bound expired during the check',
      { context: { output: 'top /srv/shop\n' }, timedOut: true },
      'timeout',
      `the build context check on ${WHERE} did not answer within 45 s (inspect-timeout); the session was stopped`
    ],
    [
      'the session ended before the check reported',
      { context: null, exitCode: 1, trailer: 'sh: 40: Syntax error\n' },
      'inspect-failed',
      `the build context check on ${WHERE} ended without reporting a result (exit code 1): sh: 40: Syntax error`
    ]
  ])('%s: throws', async (_name, spec, failure, message) => {
    const w = world([head()], [session(spec)])
    const facts = emptyFacts()
    const error = await rejection(runGate(sshSettings(), w.deps, facts))
    expect(error.failure).toBe(failure)
    expect(error.message).toBe(message)
    expect(facts.current).toBe('context')
  })

  test('check-context false: no check in the script, a warning, no note', async () => {
    const settings = sshSettings({ context: context('skip') })
    const w = world([head()], [rebuilt(SHA_A)])
    const facts = emptyFacts()
    expect((await runGate(settings, w.deps, facts)).verdict).toBe('match')
    expect(w.ssh.scripts[0]).not.toContain('pg_step context')
    expect(w.warnings).toEqual([
      'check-context is false: the gate does not check that the build context holds the validated commit, so a stale or dirty context would pass. Use check-context: auto, or upload-context: true'
    ])
    expect(facts.contextNote).toBe('')
    expect(phaseNames(facts)).toEqual(['git', 'connect', 'hook', 'inspect'])
    expect(w.ssh.options[0]?.timeoutMs).toBe(HOOK + QUICK + MARGIN)
  })

  test('verify mode never checks a build context, whatever check-context says', async () => {
    const settings = sshSettings({ mode: 'verify', context: context('require') })
    const w = world([head()], [verified(SHA_A)])
    expect((await runGate(settings, w.deps, emptyFacts())).verdict).toBe('match')
    expect(w.ssh.scripts[0]).not.toContain('pg_step context')
    expect(w.warnings).toEqual([])
  })

  describe('sync-context: the hook moves the clone, the check runs after it', () => {
    const synced = (check: Settings['context']['check'] = 'auto'): Settings =>
      sshSettings({ context: context(check, true) })

    test('a clean clone at the revision after the hook: match, noted', async () => {
      const settings = synced()
      const step = session({
        hookOutput: 'git fetch && git checkout\n',
        hookExit: 0,
        context: { output: tree(SHA_A), exit: 0 },
        inspectOutput: answer({ [REV]: SHA_A }),
        inspectExit: 0
      })
      const w = world([head()], [step])
      const facts = emptyFacts()
      expect((await runGate(settings, w.deps, facts)).verdict).toBe('match')
      const script = w.ssh.scripts[0] ?? ''
      expect(script.indexOf('pg_step context pg_context')).toBeGreaterThan(
        script.indexOf('--build-staging')
      )
      expect(script).toContain('SYNC_CONTEXT=1')
      expect(facts.contextNote).toBe(`${AT}: clean work tree at 0123456789ab`)
      expect(phaseNames(facts)).toEqual(['git', 'connect', 'hook', 'context', 'inspect'])
      expect(planGateSession(settings, SHA_A, IDS).steps).toEqual(['hook', 'context', 'inspect'])
    })

    test.each<[string, string, string]>([
      [
        'the clone is still behind',
        tree(SHA_B),
        `${AT} is at fedcba987654, not the validated 0123456789ab`
      ],
      [
        'the hook left the clone dirty',
        tree(SHA_A, 1, 'M package-lock.json'),
        `${AT} is dirty: 1 files (first: M package-lock.json), at 0123456789ab`
      ]
    ])('%s: fails, the image is not proven', async (_name, report, reason) => {
      const step = session({ hookExit: 0, context: { output: report, exit: 1 } })
      const w = world([head()], [step])
      const facts = emptyFacts()
      const decision = await runGate(synced(), w.deps, facts)
      expect(decision).toEqual({
        verdict: 'fail-closed',
        reason: `provenance fail-closed: ${reason}; ${AFTER}`,
        pass: false,
        failure: 'stale-context'
      })
      expect(facts.imageId).toBe('')
      expect(phaseNames(facts)).toEqual(['git', 'connect', 'hook', 'context'])
    })

    test('a failed hook fails as the hook; the check after it never matters', async () => {
      const w = world(
        [head()],
        [session({ hookOutput: 'fetch failed\n', hookExit: 1, context: null })]
      )
      const error = await rejection(runGate(synced(), w.deps, emptyFacts()))
      expect(error.failure).toBe('hook-failed')
      expect(error.message).toBe(`hook failed (exit code 1) on ${WHERE}: fetch failed`)
    })
  })
})

describe('runGate with upload-context', () => {
  const DIR = '/tmp/provenance-gate-ctx.AbCdEf1234'
  const uploading = (over: Partial<Settings['context']> = {}): Settings =>
    sshSettings({
      buildContext: '',
      context: { ...makeSettings().context, upload: true, ...over }
    })
  const ARCHIVE = ['-C', CHECKOUT, 'archive', '--format=tar', SHA_A]
  const LS_TREE = ['-C', CHECKOUT, 'ls-tree', '-r', '-d', '--full-tree', '-z', SHA_A]
  const archive = (bytes = 2048, result: ProcessResult = ok('')): Archive => ({
    bytes: Buffer.alloc(bytes, 'a'),
    result
  })
  const uploadedSession = session({
    upload: { output: `dir ${DIR}/ctx`, exit: 0 },
    hookExit: 0,
    inspectOutput: answer({ [REV]: SHA_A }),
    inspectExit: 0
  })

  test('the archive follows the script; the note says where it went', async () => {
    const settings = uploading()
    const w = world([head(), ok(''), exit(1, '')], [uploadedSession], [], {
      archives: [archive()]
    })
    const facts = emptyFacts()
    expect((await runGate(settings, w.deps, facts)).verdict).toBe('match')
    expect(w.local.gitCalls[0]).toEqual(REV_PARSE)
    expect(w.local.gitCalls[1]).toEqual(LS_TREE)
    expect(w.local.gitCalls[3]).toEqual(ARCHIVE)
    expect(w.ssh.scripts).toEqual([planned(settings)])
    expect(w.ssh.scripts[0]).not.toContain('pg_step context')
    expect(w.ssh.scripts[0]).toContain('BUILD_CONTEXT="$pg_up/ctx"')
    expect(w.infos).toContain(`uploading git archive 0123456789ab of ${CHECKOUT} to ${WHERE}`)
    const note = `build context uploaded: git archive of 0123456789ab (2.0 KiB) into a fresh ${DIR}/ctx on ${WHERE}, removed after the run`
    expect(facts.contextNote).toBe(note)
    expect(w.infos).toContain(note)
    expect(phaseNames(facts)).toEqual(['git', 'connect', 'upload', 'hook', 'inspect'])
    // The upload is bounded by rebuild-timeout, on top of the hook and the inspect.
    expect(w.ssh.options[0]?.timeoutMs).toBe(1_200_000 + HOOK + QUICK + MARGIN)
  })

  test.each<[string, GitStep[], string]>([
    [
      'a submodule',
      [head(), ok(`160000 commit ${'c'.repeat(40)}\tvendor/lib\0`)],
      'upload-context does not ship submodules, and vendor/lib is a submodule of 0123456789ab: git archive would leave it empty. Build from a clone on the host instead (sync-context)'
    ],
    [
      'export-ignore in .gitattributes',
      [head(), ok(''), ok(`${SHA_A}:.gitattributes\n`)],
      'upload-context cannot ship 0123456789ab as it is: .gitattributes uses export-ignore or export-subst, so git archive would drop or rewrite files. Remove those attributes, or build from a clone on the host (sync-context)'
    ]
  ])('%s: refused before anything runs on the host', async (_name, gits, message) => {
    const w = world(gits, [])
    const error = await rejection(runGate(uploading(), w.deps, emptyFacts()))
    expect(error).toBeInstanceOf(InputError)
    expect(error.message).toBe(message)
    expect(w.ssh.scripts).toEqual([])
  })

  test('git ls-tree failing is git-failed, nothing sent', async () => {
    const w = world([head(), exit(128, 'fatal: bad object\n')], [])
    const error = await rejection(runGate(uploading(), w.deps, emptyFacts()))
    expect(error.failure).toBe('git-failed')
    expect(error.message).toBe(`git ls-tree ${SHA_A} in ${CHECKOUT} failed: fatal: bad object`)
    expect(w.ssh.scripts).toEqual([])
  })

  test('the host cannot unpack: transport, nothing was built', async () => {
    const step = session({
      upload: { error: 'the archive arrived incomplete\n', exit: 3 },
      hookExit: 0
    })
    const w = world([head(), ok(''), exit(1, '')], [step], [], { archives: [archive()] })
    const error = await rejection(runGate(uploading(), w.deps, emptyFacts()))
    expect(error.failure).toBe('transport')
    expect(error.message).toBe(
      `the upload to ${WHERE} failed (exit code 3): the archive arrived incomplete; nothing was built`
    )
  })

  test('git archive failing here fails the run, whatever the host said', async () => {
    const w = world([head(), ok(''), exit(1, '')], [uploadedSession], [], {
      archives: [archive(100, exit(128, 'fatal: not a valid object name\n'))]
    })
    const error = await rejection(runGate(uploading(), w.deps, emptyFacts()))
    expect(error.failure).toBe('git-failed')
    expect(error.message).toBe(
      `git archive 0123456789ab in ${CHECKOUT} failed: fatal: not a valid object name; nothing was built`
    )
  })

  test('an archive larger than upload-max-mib is refused', async () => {
    const settings = uploading({ uploadMaxBytes: 1024 })
    const w = world([head(), ok(''), exit(1, '')], [uploadedSession], [], {
      archives: [archive(4096)]
    })
    const error = await rejection(runGate(settings, w.deps, emptyFacts()))
    expect(error).toBeInstanceOf(InputError)
    expect(error.message).toBe(
      `the archive of 0123456789ab exceeds upload-max-mib (${1024 / 1024 / 1024} MiB); nothing was built. Raise upload-max-mib or shrink the tree`
    )
  })

  test('an archive of exactly upload-max-mib is sent', async () => {
    const settings = uploading({ uploadMaxBytes: 2048 })
    const w = world([head(), ok(''), exit(1, '')], [uploadedSession], [], {
      archives: [archive(2048)]
    })
    expect((await runGate(settings, w.deps, emptyFacts())).verdict).toBe('match')
  })

  test('the session never began: the archive is never sent, the session is the failure', async () => {
    const w = world([head(), ok(''), exit(1, '')], [session({ noBegin: true, exitCode: 1 })], [], {
      archives: [archive()]
    })
    const error = await rejection(runGate(uploading(), w.deps, emptyFacts()))
    expect(error.failure).toBe('hook-failed')
    expect(error.message).toContain('did not start')
    expect(w.local.stops).toBe(1)
  })
})

const OTHER_ID = `sha256:${'b'.repeat(64)}`
const SOURCE = 'org.opencontainers.image.source'
const PROD = 'registry.example.com/shop:prod'

/** One container as `container inspect` describes it (the fields the gate reads). */
const container = (name: string, id: string, running: boolean): Record<string, unknown> => ({
  Id: 'c'.repeat(64),
  Name: name,
  Image: id,
  State: { Status: running ? 'running' : 'exited', Running: running }
})
/** The JSON array `container inspect -- ID…` prints. */
const containers = (...list: Record<string, unknown>[]): string => JSON.stringify(list, null, 4)

describe('runGate container check', () => {
  const containerWhat = `the container check (shop-staging) on ${WHERE}`
  /** A verify session whose image carries SHA_A, then the container check's answer. */
  const checked = (
    containerOutput: string | undefined,
    containerExit: number | undefined,
    more: SessionSpec = {}
  ): ((script: string) => Step) =>
    session({
      inspectOutput: answer({ [REV]: SHA_A }),
      inspectExit: 0,
      containerOutput,
      containerExit,
      ...more
    })
  const fresh = containers(container('/shop-staging', IMAGE_ID, true))
  const staleReasonOf = (name: string): string =>
    `provenance fail-closed: the staging container ${name} runs image sha256:bbbbbbbbbbbb, not the verified sha256:a3f1c2d4e5b6: it was not recreated after the rebuild`
  const staleReason = staleReasonOf('shop-staging')
  const notRunning = (names: string): string =>
    `provenance fail-closed: the staging container ${names} exists but is not running (check-container true)`
  const MATCH = 'provenance match: 0123456789ab'

  test.each<
    [
      string,
      Settings['containerCheck'],
      (script: string) => Step,
      Decision['verdict'],
      FailureClass | '',
      string
    ]
  >([
    ['auto: the container runs the verified id', 'auto', checked(fresh, 0), 'match', '', MATCH],
    [
      'require: the container runs the verified id (compact JSON, no final newline)',
      'require',
      checked(JSON.stringify([container('/shop-staging', IMAGE_ID, true)]), 0),
      'match',
      '',
      MATCH
    ],
    [
      'auto: podman (no / before the name, no sha256: before the id) is the same id',
      'auto',
      checked(containers(container('shop-staging', IMAGE_HEX, true)), 0),
      'match',
      '',
      MATCH
    ],
    [
      'auto: the container runs another id',
      'auto',
      checked(containers(container('/shop-staging', OTHER_ID, true)), 0),
      'fail-closed',
      'stale-container',
      staleReason
    ],
    [
      'require: the container runs another id',
      'require',
      checked(containers(container('/shop-staging', OTHER_ID, true)), 0),
      'fail-closed',
      'stale-container',
      staleReason
    ],
    [
      'auto: a podman container running another id (no prefix) is stale',
      'auto',
      checked(containers(container('shop-staging', 'b'.repeat(64), true)), 0),
      'fail-closed',
      'stale-container',
      staleReason
    ],
    [
      'auto: a stopped container with another id passes (it runs nothing)',
      'auto',
      checked(containers(container('/shop-staging', OTHER_ID, false)), 0),
      'match',
      '',
      MATCH
    ],
    [
      'require: a stopped container with another id is not running',
      'require',
      checked(containers(container('/shop-staging', OTHER_ID, false)), 0),
      'fail-closed',
      'stale-container',
      notRunning('shop-staging')
    ],
    [
      'require: a stopped container with the verified id is not running either',
      'require',
      checked(containers(container('/shop-staging', IMAGE_ID, false)), 0),
      'fail-closed',
      'stale-container',
      notRunning('shop-staging')
    ],
    [
      'auto: two containers, the second running another id: stale, naming it',
      'auto',
      checked(
        containers(container('/web-1', IMAGE_ID, true), container('/web-2', OTHER_ID, true)),
        0
      ),
      'fail-closed',
      'stale-container',
      staleReasonOf('web-2')
    ],
    [
      'auto: a stopped stale container next to a running fresh one passes',
      'auto',
      checked(
        containers(container('/web-1', OTHER_ID, false), container('/web-2', IMAGE_ID, true)),
        0
      ),
      'match',
      '',
      MATCH
    ],
    [
      'require: a stopped stale container next to a running fresh one passes',
      'require',
      checked(
        containers(container('/web-1', OTHER_ID, false), container('/web-2', IMAGE_ID, true)),
        0
      ),
      'match',
      '',
      MATCH
    ],
    [
      'require: two stopped containers, both named',
      'require',
      checked(
        containers(container('/web-1', IMAGE_ID, false), container('/web-2', OTHER_ID, false)),
        0
      ),
      'fail-closed',
      'stale-container',
      notRunning('web-1, web-2')
    ],
    [
      'the docker 20.10 answer for three containers, one running another image',
      'auto',
      checked(readFileSync('__fixtures__/docker-20.10-containers.json', 'utf8'), 0),
      'fail-closed',
      'stale-container',
      staleReasonOf('fx-running').replace('sha256:bbbbbbbbbbbb', 'sha256:7e9c89ee2b92')
    ],
    [
      'auto: no container (the check prints nothing) passes',
      'auto',
      checked('', 0),
      'match',
      '',
      MATCH
    ],
    [
      'require: no container fails',
      'require',
      checked('', 0),
      'fail-closed',
      'stale-container',
      'provenance fail-closed: the staging container shop-staging does not exist on the host (check-container true)'
    ],
    [
      'a revision mismatch is decided before the container',
      'auto',
      session({
        inspectOutput: answer({ [REV]: SHA_B }),
        inspectExit: 0,
        containerOutput: containers(container('/shop-staging', OTHER_ID, true)),
        containerExit: 0
      }),
      'mismatch',
      'mismatch',
      'provenance mismatch: image fedcba987654 != expected 0123456789ab'
    ],
    [
      'a wrong source is decided before the container',
      'auto',
      session({
        inspectOutput: answer({ [REV]: SHA_A, [SOURCE]: 'https://github.com/mallory/shop' }),
        inspectExit: 0,
        containerOutput: containers(container('/shop-staging', OTHER_ID, true)),
        containerExit: 0
      }),
      'fail-closed',
      'wrong-source',
      'provenance fail-closed: the image was built from "https://github.com/mallory/shop", not from https://github.com/acme/shop'
    ]
  ])('%s', async (_name, containerCheck, step, verdict, failure, reason) => {
    const settings = sshSettings({ mode: 'verify', containerCheck })
    const w = world([head()], [step])
    const facts = emptyFacts()
    const decision = await runGate(settings, w.deps, facts)
    expect(decision).toEqual({ verdict, reason, pass: verdict === 'match', failure })
    expect(w.ssh.scripts).toEqual([planned(settings)])
    expect(w.ssh.scripts[0]).toContain('container inspect -- "$@"')
    expect(facts.imageId).toBe(IMAGE_ID)
    expect(w.ssh.closes).toBe(1)
    expect(facts.current).toBe('')
  })

  test('a missing container with auto is said in the log', async () => {
    const w = world([head()], [checked('', 0)])
    await runGate(sshSettings({ mode: 'verify', containerCheck: 'auto' }), w.deps, emptyFacts())
    expect(w.infos).toContain(
      'no container shop-staging on the host: nothing runs, nothing to compare'
    )
  })

  test('a running container is not mentioned as missing', async () => {
    const w = world([head()], [checked(fresh, 0)])
    await runGate(sshSettings({ mode: 'verify', containerCheck: 'auto' }), w.deps, emptyFacts())
    expect(w.infos.filter(line => line.startsWith('no container'))).toEqual([])
  })

  test('rebuild with the check: one session, context, hook, inspect, then the container', async () => {
    const settings = sshSettings({ containerCheck: 'auto' })
    const step = session({
      hookOutput: 'built\n',
      hookExit: 0,
      inspectOutput: answer({ [REV]: SHA_A }),
      inspectExit: 0,
      containerOutput: fresh,
      containerExit: 0
    })
    const w = world([head()], [step])
    const facts = emptyFacts()
    expect((await runGate(settings, w.deps, facts)).verdict).toBe('match')
    expect(w.ssh.scripts).toEqual([planned(settings)])
    // The inspect and the container check are one phase.
    expect(phaseNames(facts)).toEqual(['git', 'connect', 'context', 'hook', 'inspect'])
    // ps, then the container inspect: three bounded calls for the check.
    expect(w.ssh.options[0]?.timeoutMs).toBe(CONTEXT + HOOK + QUICK + 3 * QUICK + MARGIN)
  })

  test('the local bound of a verify session covers the inspect and the container check', async () => {
    const w = world([head()], [checked(fresh, 0)])
    await runGate(sshSettings({ mode: 'verify', containerCheck: 'auto' }), w.deps, emptyFacts())
    expect(w.ssh.options[0]?.timeoutMs).toBe(QUICK + 3 * QUICK + MARGIN)
  })

  test.each<[string, (script: string) => Step, FailureClass, string]>([
    [
      'the connection was lost during the container check',
      checked(undefined, undefined, {
        exitCode: 255,
        trailer: 'Connection reset by 10.0.0.5 port 22\n'
      }),
      'transport',
      `ssh connection to ${WHERE} was lost during the container check (Connection reset by 10.0.0.5 port 22)`
    ],
    [
      'the session timed out locally during the container check',
      checked(undefined, undefined, { timedOut: true }),
      'timeout',
      `${containerWhat} did not answer within 45 s (inspect-timeout); the session was stopped`
    ],
    [
      'the host stopped the container check (124)',
      checked('', 124, { containerMs: 45_000 }),
      'timeout',
      `${containerWhat} timed out after 45 s (inspect-timeout); the host stopped it`
    ],
    [
      'the docker daemon went away before the container check',
      checked('', 1, {
        containerError:
          'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n'
      }),
      'inspect-failed',
      `${containerWhat} failed (exit code 1): the container engine on the host is not running or not reachable. Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?`
    ],
    [
      'another container check error',
      checked('', 1, { containerError: 'permission denied\n' }),
      'inspect-failed',
      `${containerWhat} failed (exit code 1): permission denied`
    ],
    [
      'one listed container vanished before its inspect: the others are not trusted alone',
      checked(containers(container('/web-2', IMAGE_ID, true)), 1, {
        containerError: `Error: No such container: ${'0'.repeat(64)}\n`
      }),
      'inspect-failed',
      `${containerWhat} failed (exit code 1): Error: No such container: ${'0'.repeat(64)}`
    ],
    [
      'the container check answered garbage',
      checked('hello', 0),
      'inspect-failed',
      `${containerWhat} answered "hello", not the containers' JSON`
    ],
    [
      'the container check answered an empty list',
      checked('[]', 0),
      'inspect-failed',
      `${containerWhat} answered "[]", not the containers' JSON`
    ],
    [
      'the container check answered a short image id',
      checked(JSON.stringify([container('/shop-staging', 'sha256:abc', true)]), 0),
      'inspect-failed',
      `${containerWhat} answered ${JSON.stringify(lastLines(JSON.stringify([container('/shop-staging', 'sha256:abc', true)]), 1, 120))}, not the containers' JSON`
    ],
    [
      'the container check answered without the running state',
      checked(JSON.stringify([{ Name: '/shop-staging', Image: IMAGE_ID, State: {} }]), 0),
      'inspect-failed',
      `${containerWhat} answered ${JSON.stringify(JSON.stringify([{ Name: '/shop-staging', Image: IMAGE_ID, State: {} }]))}, not the containers' JSON`
    ],
    [
      'a good answer, then a line that is not: nothing is trusted',
      checked(`${fresh}\nWARNING: something\n`, 0),
      'inspect-failed',
      `${containerWhat} answered "WARNING: something", not the containers' JSON`
    ]
  ])('%s: throws, the ssh runner closed once', async (_name, step, failure, message) => {
    const w = world([head()], [step])
    const facts = emptyFacts()
    const error = await rejection(
      runGate(sshSettings({ mode: 'verify', containerCheck: 'auto' }), w.deps, facts)
    )
    expect(error.failure).toBe(failure)
    expect(error.message).toBe(message)
    expect(error.retryable).toBe(false)
    expect(w.ssh.closes).toBe(1)
    expect(facts.expectedRevision).toBe(SHA_A)
  })

  describe('without staging-container: the compose service containers', () => {
    const byLabel = (containerCheck: Settings['containerCheck']): Settings =>
      sshSettings({
        mode: 'verify',
        containerCheck,
        staging: { ...makeSettings().staging, container: 'staging', containerNamed: false }
      })

    test.each<[string, Settings['containerCheck'], string, Decision]>([
      [
        'auto: the compose container runs the verified id',
        'auto',
        containers(container('/proj-staging-1', IMAGE_ID, true)),
        { verdict: 'match', reason: MATCH, pass: true, failure: '' }
      ],
      [
        'auto: the compose container runs another id: stale, named as compose named it',
        'auto',
        containers(container('/proj-staging-1', OTHER_ID, true)),
        {
          verdict: 'fail-closed',
          reason: staleReasonOf('proj-staging-1'),
          pass: false,
          failure: 'stale-container'
        }
      ],
      [
        'auto: a scaled service, one replica stale',
        'auto',
        containers(
          container('/proj-staging-1', IMAGE_ID, true),
          container('/proj-staging-2', OTHER_ID, true)
        ),
        {
          verdict: 'fail-closed',
          reason: staleReasonOf('proj-staging-2'),
          pass: false,
          failure: 'stale-container'
        }
      ],
      [
        'require: nothing found by label nor by name: the service is named as missing',
        'require',
        '',
        {
          verdict: 'fail-closed',
          reason:
            'provenance fail-closed: the staging container staging does not exist on the host (check-container true)',
          pass: false,
          failure: 'stale-container'
        }
      ]
    ])('%s', async (_name, containerCheck, output, decision) => {
      const settings = byLabel(containerCheck)
      const w = world([head()], [checked(output, 0)])
      expect(await runGate(settings, w.deps, emptyFacts())).toEqual(decision)
      expect(w.ssh.scripts).toEqual([planned(settings)])
      expect(w.ssh.scripts[0]).toContain(
        "ps -aq --no-trunc --filter 'label=com.docker.compose.service=staging'"
      )
    })

    test('with staging-container the label is never asked', async () => {
      const settings = sshSettings({ mode: 'verify', containerCheck: 'auto' })
      expect(planned(settings)).not.toContain('label=com.docker.compose.service')
      expect(planned(settings)).toContain("pg_want='shop-staging'")
    })

    test('garbage names the service in what was run', async () => {
      const w = world([head()], [checked('hello', 0)])
      const error = await rejection(runGate(byLabel('auto'), w.deps, emptyFacts()))
      expect(error.failure).toBe('inspect-failed')
      expect(error.message).toBe(
        `the container check (staging) on ${WHERE} answered "hello", not the containers' JSON`
      )
    })

    // A failed or hung `ps` fails the container step with its own output and status: the bare
    // service name is never tried instead, so a missed compose container cannot pass as absent.
    const byLabelWhat = `the container check (staging) on ${WHERE}`
    test.each<[string, Settings['containerCheck'], (script: string) => Step, FailureClass, string]>(
      [
        [
          'auto: ps cannot reach the daemon',
          'auto',
          checked('', 1, {
            containerError:
              'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n'
          }),
          'inspect-failed',
          `${byLabelWhat} failed (exit code 1): the container engine on the host is not running or not reachable. Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?`
        ],
        [
          'require: ps is denied',
          'require',
          checked('', 1, {
            containerError:
              'permission denied while trying to connect to the Docker daemon socket\n'
          }),
          'inspect-failed',
          `${byLabelWhat} failed (exit code 1): permission denied while trying to connect to the Docker daemon socket`
        ],
        [
          'auto: ps fails without a word',
          'auto',
          checked('', 125),
          'inspect-failed',
          `${byLabelWhat} failed (exit code 125): no output`
        ],
        [
          'auto: the host stops a hung ps (124)',
          'auto',
          checked('', 124, { containerMs: 45_000 }),
          'timeout',
          `${byLabelWhat} timed out after 45 s (inspect-timeout); the host stopped it`
        ]
      ]
    )(
      '%s: the gate fails, it does not pass as absent',
      async (_name, check, step, failure, message) => {
        const w = world([head()], [step])
        const facts = emptyFacts()
        const error = await rejection(runGate(byLabel(check), w.deps, facts))
        expect(error.failure).toBe(failure)
        expect(error.message).toBe(message)
        expect(w.infos.filter(info => info.startsWith('no container'))).toEqual([])
        expect(w.ssh.closes).toBe(1)
        expect(facts.expectedRevision).toBe(SHA_A)
      }
    )
  })
})

describe('runGate with skip-if-fresh', () => {
  const MATCH = 'provenance match: 0123456789ab'
  const REPO = 'https://github.com/acme/shop'
  const running = containers(container('/shop-staging', IMAGE_ID, true))
  const freshSettings = (overrides: SettingsOverrides = {}): Settings =>
    sshSettings({ skipIfFresh: true, containerCheck: 'auto', ...overrides })
  /** The probe: a verify session (inspect, then the container check when one is planned). */
  const probe = (labels: Record<string, string>, containerOutput = running): Scripted =>
    session({ inspectOutput: answer(labels), inspectExit: 0, containerOutput, containerExit: 0 })
  /** The rebuild after a probe that was not fresh: the hook builds HEAD, the container runs it. */
  const rebuild = session({
    hookExit: 0,
    inspectOutput: answer({ [REV]: SHA_A, [SOURCE]: REPO }),
    inspectExit: 0,
    containerOutput: running,
    containerExit: 0
  })

  test.each<[string, SettingsOverrides, Record<string, string>, string]>([
    ['label at HEAD, the container runs the image', {}, { [REV]: SHA_A }, running],
    [
      'label at HEAD, the source names this repository, required',
      { requireSource: true },
      { [REV]: SHA_A, [SOURCE]: `${REPO}.git` },
      running
    ],
    ['label at HEAD, no staging container (auto)', {}, { [REV]: SHA_A }, ''],
    [
      'label at HEAD, a stopped container with another id runs nothing (auto)',
      {},
      { [REV]: SHA_A },
      containers(container('/shop-staging', OTHER_ID, false))
    ],
    [
      'label at HEAD, check-container false: no container step',
      { containerCheck: 'skip' },
      { [REV]: SHA_A },
      ''
    ]
  ])(
    'fresh (%s): the hook never runs, rebuilt false, the reason says skip-if-fresh',
    async (_name, over, labels, containerOutput) => {
      const settings = freshSettings(over)
      const w = world([head()], [probe(labels, containerOutput)])
      const facts = emptyFacts()
      const decision = await runGate(settings, w.deps, facts)

      expect(decision).toEqual({
        verdict: 'match',
        reason: `${MATCH} (already built and running; hook skipped: skip-if-fresh)`,
        pass: true,
        failure: ''
      })
      // One read-only session, exactly the verify session: no hook, no context check.
      expect(w.ssh.scripts).toEqual([planned({ ...settings, mode: 'verify' })])
      expect(w.ssh.scripts[0]).not.toContain('--build-staging')
      expect(w.ssh.scripts[0]).not.toContain('pg_step context')
      expect(w.ssh.scripts[0]?.includes('pg_step container')).toBe(
        settings.containerCheck !== 'skip'
      )
      expect(w.raw.opened).toEqual([`output on ${WHERE}`])
      expect(w.ssh.closes).toBe(1)
      expect(facts.rebuilt).toBe('false')
      expect(facts.imageId).toBe(IMAGE_ID)
      expect(facts.imageRevision).toBe(SHA_A)
      expect(facts.labels).toEqual(labels)
      expect(facts.contextNote).toBe('not consulted: nothing was built (skip-if-fresh)')
      expect(facts.sessionOpen).toBe(false)
      expect(facts.current).toBe('')
      // The probe's inspect (and container check) is one phase of its own, named probe.
      expect(phaseNames(facts)).toEqual(['git', 'connect', 'probe'])
      expect(w.infos).toContain(
        `skip-if-fresh: registry.example.com/shop:staging (sha256:a3f1c2d4e5b6) already carries ${SHA_A.slice(0, 12)} and the staging containers run it: the hook was skipped, so its build, health check and smoke test did not run now`
      )
      expect(w.infos.some(line => line.startsWith('running the hook'))).toBe(false)
    }
  )

  test.each<[string, SettingsOverrides, Record<string, string>, string, string]>([
    [
      'the label is an older commit',
      {},
      { [REV]: SHA_B },
      running,
      `the image carries ${JSON.stringify(SHA_B)}`
    ],
    ['the image has no revision label', {}, {}, running, 'the image carries ""'],
    [
      'the label is HEAD but the container runs another image',
      {},
      { [REV]: SHA_A },
      containers(container('/shop-staging', OTHER_ID, true)),
      'the staging container shop-staging runs image sha256:bbbbbbbbbbbb, not the verified sha256:a3f1c2d4e5b6: it was not recreated after the rebuild'
    ],
    [
      'the label is HEAD but no container runs (check-container true)',
      { containerCheck: 'require' },
      { [REV]: SHA_A },
      containers(container('/shop-staging', IMAGE_ID, false)),
      'the staging container shop-staging exists but is not running (check-container true)'
    ],
    [
      'the label is HEAD but the image names another source',
      {},
      { [REV]: SHA_A, [SOURCE]: 'https://github.com/mallory/shop' },
      running,
      `the image was built from "https://github.com/mallory/shop", not from ${REPO}`
    ],
    [
      'the label is HEAD but has no source and require-source is true',
      { requireSource: true },
      { [REV]: SHA_A },
      running,
      `the image has no ${SOURCE} label and require-source is true`
    ]
  ])(
    'not fresh (%s): the hook runs, rebuilt true, the verdict is the rebuild’s',
    async (_name, over, labels, containerOutput, why) => {
      const settings = freshSettings(over)
      const w = world([head()], [probe(labels, containerOutput), rebuild])
      const facts = emptyFacts()
      const decision = await runGate(settings, w.deps, facts)

      expect(decision).toEqual({ verdict: 'match', reason: MATCH, pass: true, failure: '' })
      // The probe, then the usual rebuild session on the same connection.
      expect(w.openSsh).toHaveBeenCalledTimes(1)
      expect(w.ssh.scripts).toEqual([planned({ ...settings, mode: 'verify' }), planned(settings)])
      expect(w.ssh.scripts[1]).toContain('--build-staging')
      expect(w.raw.opened).toEqual([
        `output on ${WHERE}`,
        'hook output (/srv/shop/hook.sh --build-staging)'
      ])
      expect(w.ssh.closes).toBe(1)
      expect(facts.rebuilt).toBe('true')
      expect(w.infos).toContain(`skip-if-fresh: not fresh (${why}); rebuilding`)
      // Nothing of the probe is kept: the facts are the rebuild's.
      expect(facts.labels).toEqual({ [REV]: SHA_A, [SOURCE]: REPO })
      expect(facts.contextNote).toBe(
        'build context /srv/shop on deploy@staging.example.com:22: clean work tree at 0123456789ab'
      )
      expect(phaseNames(facts)).toEqual(['git', 'connect', 'probe', 'context', 'hook', 'inspect'])
    }
  )

  test.each<[string, string, number]>([
    ['docker', 'Error response from daemon: No such image: registry.example.com/shop:staging', 1],
    ['podman', 'Error: registry.example.com/shop:staging: image not known', 125]
  ])(
    'no image on the host yet (%s, a first deploy): not fresh, the hook builds it',
    async (_name, error, exitCode) => {
      const settings = freshSettings()
      const missingImage = session({
        inspectOutput: '[]',
        inspectError: `${error}\n`,
        inspectExit: exitCode
      })
      const w = world([head()], [missingImage, rebuild])
      const facts = emptyFacts()
      const decision = await runGate(settings, w.deps, facts)

      expect(decision).toEqual({ verdict: 'match', reason: MATCH, pass: true, failure: '' })
      expect(w.ssh.scripts).toEqual([planned({ ...settings, mode: 'verify' }), planned(settings)])
      expect(facts.rebuilt).toBe('true')
      expect(w.infos).toContain(
        `skip-if-fresh: not fresh (docker image inspect registry.example.com/shop:staging on ${WHERE} failed (exit code ${exitCode}): the image registry.example.com/shop:staging does not exist on the host. ${error}); rebuilding`
      )
      // The probe's phase (the inspect and the container check) never finished: not timed.
      expect(phaseNames(facts)).toEqual(['git', 'connect', 'context', 'hook', 'inspect'])
      expect(facts.labels).toEqual({ [REV]: SHA_A, [SOURCE]: REPO })
    }
  )

  test.each<[string, SessionSpec, FailureClass, string]>([
    [
      'the connection was lost',
      { exitCode: 255, trailer: 'Connection reset by 10.0.0.5 port 22\n' },
      'transport',
      `ssh connection to ${WHERE} was lost during the inspect (Connection reset by 10.0.0.5 port 22)`
    ],
    [
      'the host stopped the inspect (inspect-timeout)',
      { inspectExit: 124 },
      'timeout',
      'timed out after 45 s (inspect-timeout); the host stopped it'
    ],
    [
      'the session ended without an answer (exit 2)',
      { exitCode: 2, trailer: 'sh: 3: Syntax error\n' },
      'inspect-failed',
      'ended without reporting a result (exit code 2)'
    ]
  ])(
    'a probe the host did not answer (%s) fails the run: no rebuild on a doubt',
    async (_name, spec, failure, message) => {
      const w = world([head()], [session(spec)])
      const facts = emptyFacts()
      const error = await rejection(runGate(freshSettings(), w.deps, facts))
      expect(error.failure).toBe(failure)
      expect(error.message).toContain(message)
      expect(w.ssh.scripts).toHaveLength(1)
      expect(w.ssh.scripts[0]).not.toContain('--build-staging')
      expect(w.ssh.closes).toBe(1)
      expect(phaseNames(facts)).not.toContain('hook')
    }
  )

  test('not fresh, and the rebuild does not prove HEAD either: the rebuild’s failure', async () => {
    const settings = freshSettings()
    const stale = session({
      hookExit: 0,
      inspectOutput: answer({ [REV]: SHA_B }),
      inspectExit: 0,
      containerOutput: running,
      containerExit: 0
    })
    const w = world([head()], [probe({ [REV]: SHA_B }), stale])
    const facts = emptyFacts()
    const decision = await runGate(settings, w.deps, facts)
    expect(decision.verdict).toBe('mismatch')
    expect(decision.reason).not.toContain('skip-if-fresh')
    expect(facts.rebuilt).toBe('true')
    expect(facts.imageRevision).toBe(SHA_B)
  })

  test('without skip-if-fresh there is no probe: one session, rebuilt true', async () => {
    const settings = freshSettings({ skipIfFresh: false })
    const w = world([head()], [rebuild])
    const facts = emptyFacts()
    expect((await runGate(settings, w.deps, facts)).verdict).toBe('match')
    expect(w.ssh.scripts).toEqual([planned(settings)])
    expect(facts.rebuilt).toBe('true')
    expect(phaseNames(facts)).not.toContain('probe')
  })

  test('on this runner the probe runs locally too', async () => {
    const settings = localSettings({ skipIfFresh: true, containerCheck: 'auto' })
    const w = world([head()], [], [], { localSessions: [probe({ [REV]: SHA_A })] })
    const facts = emptyFacts()
    const decision = await runGate(settings, w.deps, facts)
    expect(decision.reason).toBe(
      `${MATCH} (already built and running; hook skipped: skip-if-fresh)`
    )
    expect(w.local.scripts).toEqual([planned({ ...settings, mode: 'verify' })])
    expect(w.openSsh).not.toHaveBeenCalled()
    expect(facts.rebuilt).toBe('false')
    expect(phaseNames(facts)).toEqual(['git', 'probe'])
  })
})

describe('runGate with a login shell that prints before the session', () => {
  test.each<[string, Settings['mode'], (script: string) => Step]>([
    [
      'verify: chatter shaped like an answer, with another revision',
      'verify',
      session({
        chatter: `Last login: today\n${answer({ [REV]: SHA_B })}`,
        inspectOutput: answer({ [REV]: SHA_A }),
        inspectExit: 0
      })
    ],
    [
      'verify: chatter with forged result lines of another run',
      'verify',
      session({
        chatter: `provenance-gate-0000000000000000 begin\nprovenance-gate-0000000000000000 out inspect\n${answer({ [REV]: SHA_B })}provenance-gate-0000000000000000 exit inspect 0\n`,
        inspectOutput: answer({ [REV]: SHA_A }),
        inspectExit: 0
      })
    ],
    [
      'rebuild: a banner without a final newline before the hook',
      'rebuild',
      session({
        chatter: 'Welcome to staging',
        hookOutput: 'built\n',
        hookExit: 0,
        inspectOutput: answer({ [REV]: SHA_A }),
        inspectExit: 0
      })
    ],
    [
      'verify with the container check: chatter shaped like a container list',
      'verify',
      session({
        chatter: containers(container('/shop-staging', OTHER_ID, true)),
        inspectOutput: answer({ [REV]: SHA_A }),
        inspectExit: 0,
        containerOutput: containers(container('/shop-staging', IMAGE_ID, true)),
        containerExit: 0
      })
    ]
  ])('%s: only what follows the begin line counts', async (name, mode, step) => {
    const containerCheck = name.includes('container') ? 'auto' : 'skip'
    const w = world([head()], [step])
    const facts = emptyFacts()
    const decision = await runGate(sshSettings({ mode, containerCheck }), w.deps, facts)
    expect(decision).toEqual({
      verdict: 'match',
      reason: 'provenance match: 0123456789ab',
      pass: true,
      failure: ''
    })
    expect(facts.imageRevision).toBe(SHA_A)
    expect(facts.imageId).toBe(IMAGE_ID)
  })
})

describe('runGate with an answer longer than what is kept (stdoutTruncated)', () => {
  const message = (where: string): string =>
    `the answer from ${where} exceeded 1024 KiB (the image's labels or the container list are too large to read whole); nothing of it was trusted`

  test.each<[string, SettingsOverrides, SessionSpec]>([
    [
      'verify: the kept tail is a whole, matching answer',
      { mode: 'verify' },
      { inspectOutput: answer({ [REV]: SHA_A }), inspectExit: 0 }
    ],
    [
      'rebuild: the hook passed, the labels are huge',
      {},
      {
        hookExit: 0,
        inspectOutput: answer({ [REV]: SHA_A, big: 'x'.repeat(70_000) }),
        inspectExit: 0
      }
    ],
    [
      'verify with the container check: a long container list',
      { mode: 'verify', containerCheck: 'auto' },
      {
        inspectOutput: answer({ [REV]: SHA_A }),
        inspectExit: 0,
        containerOutput: containers(container('/shop-staging', IMAGE_ID, true)),
        containerExit: 0
      }
    ]
  ])('%s: inspect-failed, no verdict from it', async (_name, over, spec) => {
    const w = world([head()], [session({ ...spec, stdoutTruncated: true })])
    const facts = emptyFacts()
    const error = await rejection(runGate(sshSettings(over), w.deps, facts))
    expect(error.failure).toBe('inspect-failed')
    expect(error.retryable).toBe(false)
    expect(error.message).toBe(message(WHERE))
    expect(facts.imageId).toBe('')
    expect(facts.imageRevision).toBe('')
    expect(facts.labels).toEqual({})
    expect(w.ssh.closes).toBe(1)
  })

  test('on this runner (no host) the message names local', async () => {
    const step = session({
      hookExit: 0,
      inspectOutput: answer({ [REV]: SHA_A }),
      inspectExit: 0,
      stdoutTruncated: true
    })
    const w = world([head()], [], [], { localSessions: [step] })
    const error = await rejection(runGate(localSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('inspect-failed')
    expect(error.message).toBe(message('local'))
    expect(w.local.closes).toBe(1)
  })
})

describe('runGate when closing the runner fails', () => {
  const MATCH: Decision = {
    verdict: 'match',
    reason: 'provenance match: 0123456789ab',
    pass: true,
    failure: ''
  }

  test.each<[string, (script: string) => Step, Decision['verdict']]>([
    ['a match stays a match', rebuilt(SHA_A), 'match'],
    ['a mismatch stays a mismatch', rebuilt(SHA_B), 'mismatch']
  ])('%s, and a warning says why', async (_name, step, verdict) => {
    const w = world([head()], [step])
    w.ssh.closeError = new Error('ssh -O exit: Control socket connect(/tmp/x): No such file')
    const facts = emptyFacts()
    const decision = await runGate(sshSettings(), w.deps, facts)
    expect(decision.verdict).toBe(verdict)
    if (verdict === 'match') expect(decision).toEqual(MATCH)
    expect(facts.imageId).toBe(IMAGE_ID)
    expect(w.ssh.closes).toBe(1)
    expect(w.warnings).toEqual([
      'could not close the connection cleanly: ssh -O exit: Control socket connect(/tmp/x): No such file'
    ])
  })

  test('a local runner whose close rejects with a non-Error: the verdict stands', async () => {
    const w = world([head()], [], [], { localSessions: [rebuilt(SHA_A)] })
    w.local.closeError = 'gone' as unknown as Error
    expect(await runGate(localSettings(), w.deps, emptyFacts())).toEqual(MATCH)
    expect(w.local.closes).toBe(1)
    expect(w.warnings).toEqual(['could not close the connection cleanly: gone'])
  })

  test('a failed run keeps its own error, not the close failure', async () => {
    const w = world([head()], [session({ hookOutput: 'nope\n', hookExit: 2 })])
    w.ssh.closeError = new Error('close broke')
    const error = await rejection(runGate(sshSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('hook-failed')
    expect(error.message).toBe(`hook failed (exit code 2) on ${WHERE}: nope`)
    expect(w.ssh.closes).toBe(1)
    expect(w.warnings).toEqual(['could not close the connection cleanly: close broke'])
  })

  test('a close that works logs no warning', async () => {
    const w = world([head()], [rebuilt(SHA_A)])
    expect(await runGate(sshSettings(), w.deps, emptyFacts())).toEqual(MATCH)
    expect(w.warnings).toEqual([])
  })
})

describe('runGate source check', () => {
  test.each<
    [string, Record<string, string>, boolean, string, Decision['verdict'], FailureClass | '']
  >([
    [
      'the right source passes',
      { [SOURCE]: 'https://github.com/acme/shop' },
      false,
      'https://github.com/acme/shop',
      'match',
      ''
    ],
    [
      'the right source in another spelling passes',
      { [SOURCE]: 'https://github.com/Acme/Shop.git' },
      true,
      'https://github.com/acme/shop',
      'match',
      ''
    ],
    [
      'no source label passes unless required',
      {},
      false,
      'https://github.com/acme/shop',
      'match',
      ''
    ],
    [
      'no source label with require-source fails',
      {},
      true,
      'https://github.com/acme/shop',
      'fail-closed',
      'wrong-source'
    ],
    [
      'a source label naming a fork fails',
      { [SOURCE]: 'https://github.com/mallory/shop' },
      false,
      'https://github.com/acme/shop',
      'fail-closed',
      'wrong-source'
    ],
    [
      'a source label with an unknown repository fails',
      { [SOURCE]: 'https://github.com/acme/shop' },
      false,
      '',
      'fail-closed',
      'wrong-source'
    ]
  ])('%s', async (_name, labels, requireSource, repositoryUrl, verdict, failure) => {
    const step = session({ inspectOutput: answer({ [REV]: SHA_A, ...labels }), inspectExit: 0 })
    const w = world([head()], [step])
    const facts = emptyFacts()
    const decision = await runGate(
      sshSettings({ mode: 'verify', requireSource, repositoryUrl }),
      w.deps,
      facts
    )
    expect(decision.verdict).toBe(verdict)
    expect(decision.failure).toBe(failure)
    expect(facts.imageRevision).toBe(SHA_A)
    expect(facts.labels).toEqual({ [REV]: SHA_A, ...labels })
  })

  test('a revision mismatch is reported before a wrong source', async () => {
    const step = session({
      inspectOutput: answer({ [REV]: SHA_B, [SOURCE]: 'https://github.com/mallory/shop' }),
      inspectExit: 0
    })
    const w = world([head()], [step])
    const decision = await runGate(sshSettings({ mode: 'verify' }), w.deps, emptyFacts())
    expect(decision.failure).toBe('mismatch')
  })

  test('a missing revision label is reported before a missing source label', async () => {
    const step = session({ inspectOutput: answer(null), inspectExit: 0 })
    const w = world([head()], [step])
    const decision = await runGate(
      sshSettings({ mode: 'verify', requireSource: true }),
      w.deps,
      emptyFacts()
    )
    expect(decision.failure).toBe('missing-label')
  })

  test('a stale build context is decided before anything about the image', async () => {
    const step = session({
      context: { output: `top /srv/shop\nhead ${SHA_B}\ndirty 0\n`, exit: 1 }
    })
    const w = world([head()], [step])
    const decision = await runGate(sshSettings({ requireSource: true }), w.deps, emptyFacts())
    expect(decision.failure).toBe('stale-context')
  })
})

describe('runGate with label-source registry', () => {
  const DIGEST = `sha256:${'d'.repeat(64)}`
  const MANIFEST = `sha256:${'e'.repeat(64)}`
  const fromRegistry = (labels: Record<string, string>): RegistryImage => ({
    digest: DIGEST,
    manifestDigest: MANIFEST,
    configDigest: IMAGE_ID,
    labels
  })
  const registrySettings = (overrides: SettingsOverrides = {}): Settings =>
    sshSettings({
      mode: 'verify',
      labelSource: 'registry',
      registry: { username: 'bot', password: 'pull-token', platform: 'linux/arm64' },
      ...overrides
    })

  test.each<[string, Record<string, string>, Decision['verdict'], FailureClass | '']>([
    ['label equal → match', { [REV]: SHA_A }, 'match', ''],
    ['label different → mismatch', { [REV]: SHA_B }, 'mismatch', 'mismatch'],
    ['no label → missing-label', {}, 'fail-closed', 'missing-label'],
    [
      'wrong source → wrong-source',
      { [REV]: SHA_A, [SOURCE]: 'https://github.com/mallory/shop' },
      'fail-closed',
      'wrong-source'
    ]
  ])(
    'verify mode, %s: no ssh at all, facts from the registry',
    async (_name, labels, verdict, failure) => {
      const w = world([head()], [], [], { registry: fromRegistry(labels) })
      const facts = emptyFacts()
      const decision = await runGate(registrySettings(), w.deps, facts)

      expect(decision.verdict).toBe(verdict)
      expect(decision.failure).toBe(failure)
      expect(w.openSsh).not.toHaveBeenCalled()
      expect(w.ssh.scripts).toEqual([])
      expect(w.ssh.closes).toBe(0)
      // Only git ran on this runner: no session here either.
      expect(w.local.gitCalls).toEqual([REV_PARSE])
      expect(w.local.scripts).toEqual([])
      expect(w.local.closes).toBe(0)
      expect(w.runners).toEqual([undefined, undefined])
      expect(w.registry.calls).toEqual(['registry.example.com/shop:staging'])
      expect(w.registry.options).toEqual([
        {
          username: 'bot',
          password: 'pull-token',
          platform: 'linux/arm64',
          revisionLabel: REV,
          timeoutMs: 45_000
        }
      ])
      expect(facts.imageId).toBe(IMAGE_ID)
      expect(facts.imageDigest).toBe(DIGEST)
      expect(facts.labels).toEqual(labels)
      expect(facts.imageRevision).toBe(labels[REV] ?? '')
      expect(facts.prodImageId).toBe('')
      expect(facts.sessionOpen).toBe(false)
      expect(phaseNames(facts)).toEqual(['git', 'registry'])
      expect(facts.current).toBe('')
    }
  )

  test.each<[string, string]>([
    ['the default label', REV],
    ['a custom revision-label', 'vcs-ref']
  ])('the registry read is told the revision label (%s)', async (_name, revisionLabel) => {
    const w = world([head()], [], [], { registry: fromRegistry({ [revisionLabel]: SHA_A }) })
    const facts = emptyFacts()
    const decision = await runGate(registrySettings({ revisionLabel }), w.deps, facts)
    expect(decision.verdict).toBe('match')
    expect(w.registry.options.map(options => options.revisionLabel)).toEqual([revisionLabel])
    expect(facts.imageRevision).toBe(SHA_A)
  })

  test('verify mode without a host does not run anything locally but git', async () => {
    const w = world([head()], [], [], { registry: fromRegistry({ [REV]: SHA_A }) })
    const decision = await runGate(registrySettings({ ssh: undefined }), w.deps, emptyFacts())
    expect(decision.verdict).toBe('match')
    expect(w.local.gitCalls).toHaveLength(1)
    expect(w.local.scripts).toEqual([])
    expect(w.local.closes).toBe(0)
  })

  test('the log names the tag, the digest, the platform manifest and the config', async () => {
    const w = world([head()], [], [], { registry: fromRegistry({ [REV]: SHA_A }) })
    await runGate(registrySettings(), w.deps, emptyFacts())
    expect(w.infos).toContain(
      `registry: registry.example.com/shop:staging is ${DIGEST} (linux/arm64: manifest ${MANIFEST}, config ${IMAGE_ID})`
    )
    expect(w.infos).toContain(
      `image registry.example.com/shop:staging: id ${IMAGE_ID}, ${REV}="${SHA_A}"`
    )
  })

  test('rebuild: the context check and the hook over ssh without any inspect, then the registry read', async () => {
    const settings = registrySettings({ mode: 'rebuild' })
    const step = session({ hookOutput: 'built and pushed\n', hookExit: 0 })
    const w = world([head()], [step], [], { registry: fromRegistry({ [REV]: SHA_A }) })
    const read = w.deps.readRegistry.bind(w.deps)
    let sessionsBeforeRead = -1
    w.deps.readRegistry = async (reference, options) => {
      sessionsBeforeRead = w.ssh.scripts.length
      return read(reference, options)
    }
    const facts = emptyFacts()
    const decision = await runGate(settings, w.deps, facts)

    expect(decision.verdict).toBe('match')
    // The registry is read after the hook pushed, not before.
    expect(sessionsBeforeRead).toBe(1)
    expect(w.openSsh).toHaveBeenCalledTimes(1)
    expect(w.ssh.scripts).toEqual([planned(settings)])
    expect(w.ssh.scripts[0]).toContain('--build-staging')
    expect(w.ssh.scripts[0]).not.toContain('image inspect')
    expect(w.ssh.closes).toBe(1)
    expect(w.registry.calls).toEqual(['registry.example.com/shop:staging'])
    expect(facts.imageId).toBe(IMAGE_ID)
    expect(facts.imageDigest).toBe(DIGEST)
    expect(facts.contextNote).toBe(
      `build context /srv/shop on ${WHERE}: clean work tree at 0123456789ab`
    )
  })

  test('rebuild: no inspect phase is recorded, because no inspect ran', async () => {
    const step = session({ hookExit: 0 })
    const w = world([head()], [step], [], { registry: fromRegistry({ [REV]: SHA_A }) })
    const facts = emptyFacts()
    await runGate(registrySettings({ mode: 'rebuild' }), w.deps, facts)
    expect(phaseNames(facts)).toEqual(['git', 'connect', 'context', 'hook', 'registry'])
  })

  test('rebuild: a failed hook never reads the registry', async () => {
    const w = world([head()], [session({ hookOutput: 'no\n', hookExit: 2 })], [], {
      registry: fromRegistry({ [REV]: SHA_A })
    })
    const error = await rejection(
      runGate(registrySettings({ mode: 'rebuild' }), w.deps, emptyFacts())
    )
    expect(error.failure).toBe('hook-failed')
    expect(w.registry.calls).toEqual([])
    expect(w.ssh.closes).toBe(1)
  })

  test.each<[string, 'verify' | 'rebuild', GateError]>([
    [
      'verify: registry-auth',
      'verify',
      new GateError('registry-auth', 'registry.example.com refused the credentials (401)')
    ],
    [
      'verify: registry-not-found',
      'verify',
      new GateError('registry-not-found', 'registry.example.com has no shop:staging')
    ],
    [
      'verify: registry-error',
      'verify',
      new GateError('registry-error', 'registry.example.com answered 500')
    ],
    ['rebuild: registry-auth after the hook', 'rebuild', new GateError('registry-auth', 'denied')],
    [
      'rebuild: a retryable transport error is not retried',
      'rebuild',
      new GateError('registry-error', 'ECONNRESET', true)
    ]
  ])('%s propagates unchanged, with registry as the phase', async (_name, mode, thrown) => {
    const steps = mode === 'rebuild' ? [session({ hookExit: 0 })] : []
    const w = world([head()], steps, [], { registry: thrown })
    const facts = emptyFacts()
    expect(await rejection(runGate(registrySettings({ mode }), w.deps, facts))).toBe(thrown)
    expect(w.registry.calls).toHaveLength(1)
    expect(facts.current).toBe('registry')
    expect(facts.expectedRevision).toBe(SHA_A)
    expect(facts.imageId).toBe('')
    expect(phaseNames(facts)).toContain('registry')
    expect(w.ssh.closes).toBe(mode === 'rebuild' ? 1 : 0)
  })

  test('an unexpected registry error keeps registry as the phase for main', async () => {
    const thrown = new TypeError('fetch failed')
    const w = world([head()], [], [], { registry: thrown })
    const facts = emptyFacts()
    await expect(runGate(registrySettings(), w.deps, facts)).rejects.toBe(thrown)
    expect(facts.current).toBe('registry')
  })
})

describe('runGate promote mode', () => {
  const promoteSettings = (overrides: SettingsOverrides = {}): Settings =>
    sshSettings({
      mode: 'promote',
      hook: '',
      promote: { prodImage: PROD, expectedRevision: '', imageId: '' },
      ...overrides
    })
  const prodWhat = `docker image inspect ${PROD} on ${WHERE}`
  const tagWhat = `docker tag ${IMAGE_ID} ${PROD} on ${WHERE}`
  /** The promotion session: the tag, then the prod image read back. */
  const promoted = (spec: SessionSpec = {}): ((script: string) => Step) =>
    session({
      tagExit: 0,
      inspectOutput: answer({ [REV]: SHA_A }),
      inspectExit: 0,
      ...spec
    })
  const promoteScript = (settings: Settings, imageId = IMAGE_ID): string =>
    planPromoteSession(settings, imageId, PROD, IDS).script

  test('happy path: verify, tag by id, read back; two sessions on one connection', async () => {
    const settings = promoteSettings()
    const w = world([head()], [verified(SHA_A), promoted()])
    const facts = emptyFacts()
    const decision = await runGate(settings, w.deps, facts)

    expect(decision).toEqual({
      verdict: 'match',
      reason: `provenance match: 0123456789ab, promoted to ${PROD} as sha256:a3f1c2d4e5b6`,
      pass: true,
      failure: ''
    })
    expect(w.openSsh).toHaveBeenCalledTimes(1)
    expect(w.ssh.scripts).toEqual([planned(settings), promoteScript(settings)])
    expect(w.ssh.scripts[0]).not.toContain(' tag ')
    // Two bounded quick steps, each with the host's kill grace, plus the slack.
    expect(w.ssh.options[1]?.timeoutMs).toBe(2 * QUICK + MARGIN)
    expect(w.ssh.options[1]?.endsWith).toBe(`\n${MARK} end\n`)
    expect(w.raw.opened).toEqual([`output on ${WHERE}`, `output on ${WHERE} (tag)`])
    expect(w.raw.closed).toBe(2)
    expect(w.ssh.closes).toBe(1)
    expect(facts.imageId).toBe(IMAGE_ID)
    expect(facts.prodImageId).toBe(IMAGE_ID)
    expect(facts.expectedRevision).toBe(SHA_A)
    expect(facts.imageRevision).toBe(SHA_A)
    expect(facts.sessionOpen).toBe(false)
    expect(phaseNames(facts)).toEqual(['git', 'connect', 'inspect', 'promote'])
    expect(w.infos).toContain(`promoting ${IMAGE_ID} to ${PROD} on ${WHERE}`)
    expect(w.local.gitCalls).toHaveLength(1)
  })

  test('on this runner (no host) both sessions run locally, closed once', async () => {
    const settings = promoteSettings({ ssh: undefined })
    const w = world([head()], [], [], { localSessions: [verified(SHA_A), promoted()] })
    const decision = await runGate(settings, w.deps, emptyFacts())
    expect(decision.pass).toBe(true)
    expect(w.local.scripts).toEqual([planned(settings), promoteScript(settings)])
    expect(w.local.closes).toBe(1)
  })

  test.each<[string, (script: string) => Step, FailureClass]>([
    ['the label is another commit', verified(SHA_B), 'mismatch'],
    [
      'the label is missing',
      session({ inspectOutput: answer(null), inspectExit: 0 }),
      'missing-label'
    ],
    [
      'the source names another repository',
      session({
        inspectOutput: answer({ [REV]: SHA_A, [SOURCE]: 'https://github.com/mallory/shop' }),
        inspectExit: 0
      }),
      'wrong-source'
    ]
  ])('%s: no tag session at all', async (_name, step, failure) => {
    const w = world([head()], [step])
    const facts = emptyFacts()
    const decision = await runGate(promoteSettings(), w.deps, facts)
    expect(decision.pass).toBe(false)
    expect(decision.failure).toBe(failure)
    expect(decision.reason).not.toContain('promoted')
    expect(w.ssh.scripts).toHaveLength(1)
    expect(w.ssh.scripts[0]).not.toContain(' tag ')
    expect(facts.prodImageId).toBe('')
    expect(phaseNames(facts)).not.toContain('promote')
  })

  test('expected-revision: no git call at all; the label must equal the input', async () => {
    const settings = promoteSettings({
      promote: { prodImage: PROD, expectedRevision: SHA_B, imageId: '' }
    })
    const w = world([], [verified(SHA_B), promoted({ inspectOutput: answer({ [REV]: SHA_B }) })])
    const facts = emptyFacts()
    const decision = await runGate(settings, w.deps, facts)
    expect(decision.verdict).toBe('match')
    expect(decision.reason).toBe(
      `provenance match: fedcba987654, promoted to ${PROD} as sha256:a3f1c2d4e5b6`
    )
    expect(w.local.gitCalls).toEqual([])
    expect(facts.expectedRevision).toBe(SHA_B)
    expect(phaseNames(facts)).toEqual(['connect', 'inspect', 'promote'])
    expect(w.warnings).toEqual([])
  })

  test('expected-revision: a staging image built from HEAD instead is a mismatch, not promoted', async () => {
    const settings = promoteSettings({
      promote: { prodImage: PROD, expectedRevision: SHA_B, imageId: '' }
    })
    const w = world([], [verified(SHA_A)])
    const decision = await runGate(settings, w.deps, emptyFacts())
    expect(decision.failure).toBe('mismatch')
    expect(decision.reason).toBe('provenance mismatch: image 0123456789ab != expected fedcba987654')
    expect(w.local.gitCalls).toEqual([])
    expect(w.ssh.scripts).toHaveLength(1)
  })

  test('the prod image read back with another id: mismatch, the id is reported', async () => {
    const w = world(
      [head()],
      [verified(SHA_A), promoted({ inspectOutput: answer({ [REV]: SHA_A }, OTHER_ID) })]
    )
    const facts = emptyFacts()
    const decision = await runGate(promoteSettings(), w.deps, facts)
    expect(decision).toEqual({
      verdict: 'fail-closed',
      reason: `provenance fail-closed: after docker tag, ${PROD} has id sha256:bbbbbbbbbbbb, not the verified sha256:a3f1c2d4e5b6: something else wrote the tag at the same time`,
      pass: false,
      failure: 'mismatch'
    })
    expect(facts.prodImageId).toBe(OTHER_ID)
    expect(facts.imageId).toBe(IMAGE_ID)
  })

  test('the prod image read back with another revision: mismatch', async () => {
    const w = world(
      [head()],
      [verified(SHA_A), promoted({ inspectOutput: answer({ [REV]: SHA_B }) })]
    )
    const decision = await runGate(promoteSettings(), w.deps, emptyFacts())
    expect(decision).toEqual({
      verdict: 'fail-closed',
      reason: `provenance fail-closed: after docker tag, ${PROD} carries revision "${SHA_B}", not ${SHA_A}`,
      pass: false,
      failure: 'mismatch'
    })
  })

  test.each<[string, Scripted, FailureClass, string]>([
    [
      'the tag fails',
      promoted({
        tagError: 'Error response from daemon: permission denied\n',
        tagExit: 1,
        inspectOutput: undefined,
        inspectExit: undefined
      }),
      'inspect-failed',
      `${tagWhat} failed (exit code 1): Error response from daemon: permission denied`
    ],
    [
      'the tag is stopped by the host after inspect-timeout',
      promoted({ tagExit: 124, tagMs: 45_000, inspectOutput: undefined, inspectExit: undefined }),
      'timeout',
      `${tagWhat} timed out after 45 s (inspect-timeout); the host stopped it`
    ],
    [
      'the connection is lost during the tag',
      promoted({
        tagExit: undefined,
        inspectOutput: undefined,
        inspectExit: undefined,
        exitCode: 255,
        trailer: 'Broken pipe\n'
      }),
      'transport',
      `ssh connection to ${WHERE} was lost during the tag (Broken pipe)`
    ],
    [
      'the prod image read back fails',
      promoted({
        inspectOutput: '[]',
        inspectError: 'Error: No such image: registry.example.com/shop:prod\n',
        inspectExit: 1
      }),
      'inspect-failed',
      `${prodWhat} failed (exit code 1): the image ${PROD} does not exist on the host. Error: No such image: registry.example.com/shop:prod`
    ],
    [
      'the prod image read back answers garbage',
      promoted({ inspectOutput: 'WARNING: odd', inspectExit: 0 }),
      'inspect-failed',
      `${prodWhat} answered "WARNING: odd", not one image's JSON with an id`
    ],
    [
      'the connection is lost during the read back',
      promoted({
        inspectOutput: undefined,
        inspectExit: undefined,
        exitCode: 255,
        trailer: 'Connection reset\n'
      }),
      'transport',
      `ssh connection to ${WHERE} was lost during the inspect (Connection reset)`
    ],
    [
      'the host lost its timeout command between the sessions',
      session({ noTimeout: true }),
      'inspect-failed',
      `${WHERE} has no GNU \`timeout\` (coreutils); the gate needs it to bound its commands on the host and stop the hook's whole process group. Nothing was run`
    ],
    [
      'the second session never began',
      session({ noBegin: true, exitCode: 1, trailer: 'only deploy.sh allowed\n' }),
      'inspect-failed',
      `the session on ${WHERE} did not start (\`sh -s\` exit code 1): only deploy.sh allowed. The host must run \`sh -s\` for the ssh user (a forced command must allow it)`
    ],
    [
      'ssh cannot be started for the second session',
      spawnFailed('spawn ssh EAGAIN'),
      'transport',
      `cannot run commands on ${WHERE}: spawn ssh EAGAIN`
    ]
  ])('%s: throws, after a verified staging image', async (_name, step, failure, message) => {
    const w = world([head()], [verified(SHA_A), step])
    const facts = emptyFacts()
    const error = await rejection(runGate(promoteSettings(), w.deps, facts))
    expect(error.failure).toBe(failure)
    expect(error.message).toBe(message)
    expect(error.retryable).toBe(false)
    expect(w.ssh.scripts).toHaveLength(2)
    expect(w.ssh.closes).toBe(1)
    expect(facts.imageId).toBe(IMAGE_ID)
    expect(facts.prodImageId).toBe('')
    expect(facts.current).toBe('promote')
  })

  describe("image-id: the gate job's image, not whatever the staging tag points at now", () => {
    const withImageId = (imageId = IMAGE_ID, expectedRevision = ''): Settings =>
      promoteSettings({ promote: { prodImage: PROD, expectedRevision, imageId } })
    const imageWhat = `docker image inspect ${IMAGE_ID} on ${WHERE}`

    test('the session inspects the id, never the staging tag; the same id is tagged', async () => {
      const settings = withImageId()
      const w = world([head()], [verified(SHA_A), promoted()])
      const facts = emptyFacts()
      const decision = await runGate(settings, w.deps, facts)
      expect(decision).toEqual({
        verdict: 'match',
        reason: `provenance match: 0123456789ab, promoted to ${PROD} as sha256:a3f1c2d4e5b6`,
        pass: true,
        failure: ''
      })
      expect(w.ssh.scripts).toEqual([planned(settings), promoteScript(settings)])
      expect(w.ssh.scripts[0]).toContain(`image inspect -- '${IMAGE_ID}'`)
      expect(w.ssh.scripts[0]).not.toContain('shop:staging')
      expect(w.ssh.scripts[1]).toContain(`tag '${IMAGE_ID}' '${PROD}'`)
      expect(facts.imageId).toBe(IMAGE_ID)
      expect(facts.prodImageId).toBe(IMAGE_ID)
    })

    test('with expected-revision too: no git at all, the id and the revision both bind', async () => {
      const settings = withImageId(IMAGE_ID, SHA_B)
      const w = world([], [verified(SHA_B), promoted({ inspectOutput: answer({ [REV]: SHA_B }) })])
      const facts = emptyFacts()
      expect((await runGate(settings, w.deps, facts)).verdict).toBe('match')
      expect(w.local.gitCalls).toEqual([])
      expect(w.ssh.scripts[0]).toContain(`'${IMAGE_ID}'`)
      expect(facts.prodImageId).toBe(IMAGE_ID)
    })

    test('the image carries another revision: mismatch, nothing tagged', async () => {
      const w = world([head()], [verified(SHA_B)])
      const facts = emptyFacts()
      const decision = await runGate(withImageId(), w.deps, facts)
      expect(decision.failure).toBe('mismatch')
      expect(w.ssh.scripts).toHaveLength(1)
      expect(facts.prodImageId).toBe('')
    })

    test('the image is gone from the host: inspect-failed naming the id, nothing tagged', async () => {
      const step = session({
        inspectOutput: '[]',
        inspectError: `Error response from daemon: No such image: ${IMAGE_ID}\n`,
        inspectExit: 1
      })
      const w = world([head()], [step])
      const error = await rejection(runGate(withImageId(), w.deps, emptyFacts()))
      expect(error.failure).toBe('inspect-failed')
      expect(error.message).toBe(
        `${imageWhat} failed (exit code 1): the image ${IMAGE_ID} does not exist on the host. Error response from daemon: No such image: ${IMAGE_ID}`
      )
      expect(w.ssh.scripts).toHaveLength(1)
    })
  })

  test('a tag that fails because the verified id is gone does not blame the prod tag', async () => {
    const step = promoted({
      tagError: `Error response from daemon: No such image: ${IMAGE_ID}\n`,
      tagExit: 1,
      inspectOutput: undefined,
      inspectExit: undefined
    })
    const w = world([head()], [verified(SHA_A), step])
    const error = await rejection(runGate(promoteSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('inspect-failed')
    expect(error.message).toContain(`${tagWhat} failed (exit code 1): `)
    expect(error.message).toContain(`No such image: ${IMAGE_ID}`)
    // The missing image is the verified id that was to be tagged, not the prod tag being written.
    expect(error.message).not.toContain(`the image ${PROD} does not exist`)
  })
})

describe('runGate origin of the revision', () => {
  const MERGE_PARENTS = `tree ${'4'.repeat(40)}\nparent ${'5'.repeat(40)}\nparent ${SHA_B}\nauthor GitHub <noreply@github.com> 1700000000 +0000\ncommitter GitHub <noreply@github.com> 1700000000 +0000\n\nMerge ${SHA_B} into ${'5'.repeat(40)}\n`
  const ONE_PARENT = `tree ${'4'.repeat(40)}\nparent ${'5'.repeat(40)}\nauthor a <a@example.com> 1700000000 +0000\ncommitter a <a@example.com> 1700000000 +0000\n\nfix the thing\n`
  const catFile = ['-C', CHECKOUT, 'cat-file', '-p', 'HEAD']
  const pr = (eventName = 'pull_request'): EventContext => ({
    eventName,
    sha: SHA_A,
    prHeadSha: SHA_B
  })

  test('a pull request whose HEAD is the merge commit: one warning, and the gate still decides', async () => {
    const w = world([head(), ok(MERGE_PARENTS)], [verified(SHA_A)], [], { event: pr() })
    const facts = emptyFacts()
    const decision = await runGate(sshSettings({ mode: 'verify' }), w.deps, facts)
    expect(decision.verdict).toBe('match')
    expect(w.local.gitCalls).toEqual([REV_PARSE, catFile])
    expect(w.local.gitTimeouts).toEqual([30_000, 30_000])
    expect(w.warnings).toEqual([
      `HEAD 0123456789ab is the merge commit GitHub made for this pull request, not its head fedcba987654. The gate requires the image to be built from HEAD (what this run tested); a hook that builds the PR head will be reported as a mismatch. Build from GIT_SHA, or check out the head (actions/checkout with ref: \${{ github.event.pull_request.head.sha }}).`
    ])
    expect(w.infos).toContain(
      `event pull_request: GITHUB_SHA ${SHA_A}, pull request head ${SHA_B}, HEAD ${SHA_A}`
    )
    // The warning is a log line only: it goes to log.warning, never to info.
    expect(w.infos.filter(line => line.includes('merge commit'))).toEqual([])
  })

  test.each<[string, EventContext, GitStep[], string[][]]>([
    ['push: no merge check', { eventName: 'push', sha: SHA_A, prHeadSha: '' }, [], []],
    [
      'a pull request checked out at its head: no merge check',
      { ...pr(), prHeadSha: SHA_A },
      [],
      []
    ],
    ['a pull request without a head SHA: no merge check', { ...pr(), prHeadSha: '' }, [], []],
    ['a pull request whose HEAD has one parent', pr(), [ok(ONE_PARENT)], [catFile]],
    [
      'a pull request whose cat-file fails',
      pr(),
      [exit(128, 'fatal: bad object HEAD\n', MERGE_PARENTS)],
      [catFile]
    ],
    ['a pull request whose cat-file times out', pr(), [timedOut()], [catFile]],
    [
      'a one-parent commit whose message has a line starting with "parent "',
      pr(),
      [ok(`${ONE_PARENT}\nparent ${SHA_B} was reverted\nparent of the fix: ${SHA_B}\n`)],
      [catFile]
    ],
    [
      'pull_request_target: HEAD is the base branch, itself a merge of another branch',
      pr('pull_request_target'),
      [
        ok(
          `tree ${'4'.repeat(40)}\nparent ${'5'.repeat(40)}\nparent ${'6'.repeat(40)}\n\nMerge pull request #6 from acme/other\n`
        )
      ],
      [catFile]
    ]
  ])('%s: no warning', async (_name, event, extraGit, extraCalls) => {
    const w = world([head(), ...extraGit], [verified(SHA_A)], [], { event })
    const decision = await runGate(sshSettings({ mode: 'verify' }), w.deps, emptyFacts())
    expect(decision.verdict).toBe('match')
    expect(w.warnings).toEqual([])
    expect(w.local.gitCalls.slice(1)).toEqual(extraCalls)
  })

  test('the origin line is logged for every event, after the validated revision', async () => {
    const w = world([head()], [verified(SHA_A)])
    await runGate(sshSettings({ mode: 'verify' }), w.deps, emptyFacts())
    const validated = w.infos.indexOf(`validated revision: ${SHA_A} (HEAD of ${CHECKOUT})`)
    expect(validated).toBeGreaterThanOrEqual(0)
    expect(w.infos[validated + 1]).toBe(
      `event push: GITHUB_SHA ${SHA_A}, pull request head (none), HEAD ${SHA_A}`
    )
  })

  test('the validated revision is in the facts before anything is logged about it', async () => {
    const w = world([head()], [verified(SHA_A)])
    const facts = emptyFacts()
    w.deps.log.info = message => {
      if (message.startsWith('validated revision')) throw new Error('log broke')
    }
    await expect(runGate(sshSettings(), w.deps, facts)).rejects.toThrow('log broke')
    expect(facts.current).toBe('git')
    expect(facts.expectedRevision).toBe(SHA_A)
  })
})

describe('the session checks, class by class', () => {
  const settings = sshSettings()
  const answerOf = (stdout: string): SessionAnswer => parseSession(stdout, NONCE)
  const BEGUN = answerOf(`\n${MARK} begin\n`)
  const NOT_BEGUN = answerOf('motd\n')
  const result = (over: Partial<ProcessResult>): ProcessResult => ({
    exitCode: 0,
    timedOut: false,
    stdout: '',
    outputTail: '',
    ...over
  })
  const thrownBy = (fn: () => unknown): GateError => {
    try {
      fn()
    } catch (error) {
      expect(error).toBeInstanceOf(GateError)
      return error as GateError
    }
    throw new Error('expected a GateError')
  }

  test.each<
    [
      string,
      SessionAnswer,
      Partial<ProcessResult>,
      'hook-failed' | 'inspect-failed',
      FailureClass | ''
    ]
  >([
    ['begun, with timeout on the host', BEGUN, {}, 'hook-failed', ''],
    [
      'spawn error first, whatever else',
      BEGUN,
      { spawnError: 'ENOENT' },
      'hook-failed',
      'transport'
    ],
    [
      'a cut answer is never read',
      BEGUN,
      { stdoutTruncated: true },
      'hook-failed',
      'inspect-failed'
    ],
    [
      'not begun, timed out',
      NOT_BEGUN,
      { timedOut: true, exitCode: null },
      'hook-failed',
      'timeout'
    ],
    ['not begun, ssh lost (255)', NOT_BEGUN, { exitCode: 255 }, 'inspect-failed', 'transport'],
    ['not begun, refused (rebuild)', NOT_BEGUN, { exitCode: 1 }, 'hook-failed', 'hook-failed'],
    ['not begun, refused (verify)', NOT_BEGUN, { exitCode: 0 }, 'inspect-failed', 'inspect-failed'],
    [
      'begun, no timeout (rebuild)',
      answerOf(`\n${MARK} begin\n${MARK} no-timeout\n`),
      {},
      'hook-failed',
      'hook-failed'
    ],
    [
      'begun, no timeout (verify)',
      answerOf(`\n${MARK} begin\n${MARK} no-timeout\n`),
      {},
      'inspect-failed',
      'inspect-failed'
    ]
  ])('checkStarted: %s → %s', (_name, answer, over, failure, expected) => {
    const run = (): void => checkStarted(answer, result(over), WHERE, '', failure)
    if (!expected) expect(run).not.toThrow()
    else expect(thrownBy(run).failure).toBe(expected)
  })

  test.each<[string, Partial<ProcessResult>, FailureClass, string]>([
    [
      'timed out',
      { timedOut: true, exitCode: null },
      'timeout',
      `the inspect on ${WHERE} did not answer within 45 s (inspect-timeout); the session was stopped`
    ],
    [
      'ssh lost (255)',
      { exitCode: 255 },
      'transport',
      `ssh connection to ${WHERE} was lost during the inspect (exit 255)`
    ],
    [
      'ended early',
      { exitCode: 0 },
      'inspect-failed',
      `the inspect on ${WHERE} ended without reporting a result (exit code 0): no output`
    ]
  ])('missing: %s → %s', (_name, over, failure, message) => {
    const error = missing('the inspect', result(over), settings, WHERE, '')
    expect(error.failure).toBe(failure)
    expect(error.message).toBe(message)
  })

  test.each<[string, { exit: number; output: string } | undefined, string, FailureClass | '']>([
    ['exit 0 is the answer', { exit: 0, output: '[]' }, '', ''],
    ['124 is the host bound', { exit: 124, output: '' }, '', 'timeout'],
    ['137 is the host bound', { exit: 137, output: '' }, '', 'timeout'],
    [
      '127 is a missing program',
      { exit: 127, output: '' },
      "docker is not on the host's PATH",
      'inspect-failed'
    ],
    ['any other status fails', { exit: 2, output: '' }, '', 'inspect-failed'],
    ['no report at all', undefined, '', 'inspect-failed']
  ])('checkQuick: %s', (_name, reported, hint, expected) => {
    const run = () =>
      checkQuick(
        'inspect',
        'docker image inspect x',
        reported,
        result({}),
        settings,
        WHERE,
        'some stderr',
        'x'
      )
    if (!expected) {
      expect(run()).toBe(reported)
      return
    }
    const error = thrownBy(run)
    expect(error.failure).toBe(expected)
    expect(error.message).toContain(hint)
  })
})
