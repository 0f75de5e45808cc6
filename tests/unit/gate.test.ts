import { describe, expect, jest, test } from '@jest/globals'
import { GateError, InputError, type FailureClass } from '../../src/errors.js'
import {
  emptyFacts,
  resolveRevision,
  retryDelayMs,
  runGate,
  type Facts,
  type GateDeps,
  type GateLog,
  type PhaseTiming
} from '../../src/gate.js'
import type { EventContext } from '../../src/event-context.js'
import type { ProcessResult } from '../../src/process.js'
import type { Decision } from '../../src/verdict.js'
import type { RegistryImage, RegistryOptions } from '../../src/registry.js'
import { planHookCommand, planPromoteSession, planSession } from '../../src/remote-command.js'
import type { Runner, RunOptions } from '../../src/runner.js'
import type { Settings, SshTarget } from '../../src/settings.js'
import { IMAGE_HEX, makeSettings, SHA_A, SHA_B, sshTarget } from './fixtures.js'

const IMAGE_ID = `sha256:${IMAGE_HEX}`
const WHERE = 'deploy@staging.example.com:22'
const REV = 'org.opencontainers.image.revision'
const NONCE = 'feedc0de12345678'
const MARK = `provenance-gate-${NONCE}`

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

/** One chunk a fake process prints, after `ms` of the fake clock have passed. */
interface Emit {
  stream: 'stdout' | 'stderr'
  text: string
  ms?: number
}

/** What a fake runner does for one command: print chunks as they "arrive", then end. */
interface Step {
  result: ProcessResult
  emit?: Emit[]
  /** Rejects instead of resolving, after the chunks: a runner bug, not a process result. */
  throws?: Error
}

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

/** A runner that answers from a script, in order, and records what it was asked. */
class FakeRunner implements Runner {
  readonly commands: string[] = []
  readonly options: RunOptions[] = []
  closes = 0

  private readonly script: Step[]

  constructor(
    readonly where: string,
    script: (Step | ProcessResult)[],
    private readonly clock: Clock
  ) {
    this.script = script.map(step => ('result' in step ? step : { result: step }))
  }

  async run(command: string, options: RunOptions): Promise<ProcessResult> {
    this.commands.push(command)
    this.options.push(options)
    const next = this.script.shift()
    if (!next) throw new Error(`unscripted command on ${this.where}: ${command}`)
    for (const { stream, text, ms } of next.emit ?? []) {
      this.clock.advance(ms ?? 0)
      if (text) options.onOutput?.(Buffer.from(text), stream)
    }
    if (next.throws) throw next.throws
    return next.result
  }

  /** When set, close() rejects with it (after counting the call). */
  closeError: Error | undefined

  async close(): Promise<void> {
    this.closes += 1
    if (this.closeError) throw this.closeError
  }
}

/** How a fake session goes: what the hook and the inspect print and report, and how it ends. */
interface SessionSpec {
  /** What a chatty login shell prints on stdout before the session's begin marker. */
  chatter?: string
  noTimeout?: boolean
  /** The hook's output, which the session sends to stderr. */
  hookOutput?: string
  /** Omitted: the hook never reported (no marker). */
  hookExit?: number
  hookMs?: number
  /** What the inspect printed (stdout and stderr, as the session merges them). */
  inspectOutput?: string
  /** Omitted: the inspect never reported. */
  inspectExit?: number
  inspectMs?: number
  /** A promotion's `docker tag` (before the inspect); omitted: not part of the session. */
  tagOutput?: string
  tagExit?: number
  /** The container check (after the inspect); omitted: not part of the session. */
  containerOutput?: string
  containerExit?: number
  containerMs?: number
  /** stderr after everything else, e.g. ssh's own message about a lost connection. */
  trailer?: string
  /** Exit status of the session process (ssh or bash); 0 unless said. */
  exitCode?: number | null
  timedOut?: boolean
}

/** A session as the planned script would print it, with marker lines in planSession's format. */
function session(spec: SessionSpec): Step {
  const emit: Emit[] = []
  if (spec.chatter) emit.push({ stream: 'stdout', text: spec.chatter })
  emit.push({ stream: 'stdout', text: `${MARK} begin\n` })
  if (spec.noTimeout) {
    emit.push({ stream: 'stdout', text: `${MARK} no-timeout\n` })
  } else {
    emit.push({ stream: 'stderr', text: spec.hookOutput ?? '', ms: spec.hookMs ?? 0 })
    if (spec.hookExit !== undefined) {
      emit.push({ stream: 'stdout', text: `${MARK} hook-exit ${spec.hookExit}\n` })
    }
    if (spec.tagOutput !== undefined || spec.tagExit !== undefined) {
      const marker = spec.tagExit === undefined ? '' : `\n${MARK} tag-exit ${spec.tagExit}\n`
      emit.push({ stream: 'stdout', text: `${spec.tagOutput ?? ''}${marker}` })
    }
    if (spec.inspectOutput !== undefined || spec.inspectExit !== undefined) {
      const marker =
        spec.inspectExit === undefined ? '' : `\n${MARK} inspect-exit ${spec.inspectExit}\n`
      emit.push({
        stream: 'stdout',
        text: `${spec.inspectOutput ?? ''}${marker}`,
        ms: spec.inspectMs ?? 0
      })
    }
    if (spec.containerOutput !== undefined || spec.containerExit !== undefined) {
      const marker =
        spec.containerExit === undefined ? '' : `\n${MARK} container-exit ${spec.containerExit}\n`
      emit.push({
        stream: 'stdout',
        text: `${spec.containerOutput ?? ''}${marker}`,
        ms: spec.containerMs ?? 0
      })
    }
  }
  if (spec.trailer) emit.push({ stream: 'stderr', text: spec.trailer })
  const stdout = emit
    .filter(e => e.stream === 'stdout')
    .map(e => e.text)
    .join('')
  const timedOut = spec.timedOut ?? false
  return {
    emit,
    result: {
      exitCode: spec.exitCode !== undefined ? spec.exitCode : timedOut ? null : 0,
      timedOut,
      stdout,
      outputTail: emit.map(e => e.text).join('')
    }
  }
}

/** `<json id> <json labels>`, as the planned inspect prints it. */
function answer(labels: Record<string, unknown> | null, id = IMAGE_ID): string {
  return `${JSON.stringify(id)} ${JSON.stringify(labels)}\n`
}

/** A rebuild session that went well, reading back `label` as the revision. */
const rebuilt = (label: string): Step =>
  session({
    hookOutput: 'built\n',
    hookExit: 0,
    inspectOutput: answer({ [REV]: label }),
    inspectExit: 0
  })
/** A verify session that went well. */
const verified = (label: string): Step =>
  session({ inspectOutput: answer({ [REV]: label }), inspectExit: 0 })

interface World {
  deps: GateDeps
  local: FakeRunner
  ssh: FakeRunner
  openSsh: jest.Mock<(target: SshTarget) => Promise<Runner>>
  infos: string[]
  raw: { opened: string[]; closed: number; written: string[] }
  sleeps: number[]
  /** open, sleep and close events in order, to check that waits happen between attempts. */
  events: string[]
  clock: Clock
  warnings: string[]
  /** The registry seam: the references it was asked for; answers with `options.registry`. */
  registry: { calls: string[]; options: RegistryOptions[]; read: GateDeps['readRegistry'] }
}

/** Extra seams a test may set: the registry's answer and the run's event. */
interface WorldOptions {
  registry?: RegistryImage | Error
  event?: EventContext
}

/**
 * Fake seams: git on `local`, the session on `ssh`. `openFailures` are thrown by the first calls
 * to openSsh, one each, before it succeeds.
 */
function world(
  localScript: (Step | ProcessResult)[],
  sshScript: (Step | ProcessResult)[],
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
  const local = new FakeRunner('local', localScript, clock)
  const ssh = new FakeRunner(WHERE, sshScript, clock)
  const infos: string[] = []
  const warnings: string[] = []
  const events: string[] = []
  const sleeps: number[] = []
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
      readRegistry: registry.read,
      event
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
    clock
  }
}

const sshSettings = (overrides: Partial<Settings> = {}): Settings =>
  makeSettings({ ssh: sshTarget(), ...overrides })

async function rejection(promise: Promise<unknown>): Promise<GateError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(GateError)
    return error as GateError
  }
  throw new Error('expected runGate to reject')
}

const phaseNames = (facts: Facts): PhaseTiming['name'][] => facts.phases.map(phase => phase.name)

describe('runGate verdicts', () => {
  test.each<
    [string, Settings['mode'], Step, string, Record<string, string>, string, FailureClass | '']
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
      'non-string label values are dropped',
      'rebuild',
      session({
        hookExit: 0,
        inspectOutput: answer({ [REV]: 42, other: SHA_A }),
        inspectExit: 0
      }),
      '',
      { other: SHA_A },
      'fail-closed',
      'missing-label'
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
    ]
  ])('%s', async (_name, mode, step, imageRevision, labels, verdict, failure) => {
    const w = world([ok(`${SHA_A}\n`)], [step])
    const facts = emptyFacts()
    const decision = await runGate(sshSettings({ mode }), w.deps, facts)

    expect(decision.verdict).toBe(verdict)
    expect(decision.failure).toBe(failure)
    expect(decision.pass).toBe(verdict === 'match')
    expect(facts.expectedRevision).toBe(SHA_A)
    expect(facts.imageRevision).toBe(imageRevision)
    expect(facts.imageId).toBe(IMAGE_ID)
    expect(facts.labels).toEqual(labels)
    expect(facts.current).toBe('')
    expect(w.ssh.closes).toBe(1)
    expect(w.openSsh).toHaveBeenCalledTimes(1)
    expect(w.local.commands).toHaveLength(1)
    // One session does all the remote work, in both modes.
    expect(w.ssh.commands).toHaveLength(1)
  })

  test('a custom revision-label is the one read', async () => {
    const step = session({
      hookExit: 0,
      inspectOutput: answer({ [REV]: SHA_B, 'vcs-ref': SHA_A }),
      inspectExit: 0
    })
    const w = world([ok(`${SHA_A}\n`)], [step])
    const facts = emptyFacts()
    const decision = await runGate(sshSettings({ revisionLabel: 'vcs-ref' }), w.deps, facts)
    expect(decision.verdict).toBe('match')
    expect(facts.imageRevision).toBe(SHA_A)
  })

  test('match reason names the short revision', async () => {
    const w = world([ok(`${SHA_A}\n`)], [rebuilt(SHA_A)])
    const decision = await runGate(sshSettings(), w.deps, emptyFacts())
    expect(decision).toEqual({
      verdict: 'match',
      reason: 'provenance match: 0123456789ab',
      pass: true,
      failure: ''
    })
  })

  test('mismatch reason names both short revisions', async () => {
    const w = world([ok(`${SHA_A}\n`)], [rebuilt(SHA_B)])
    const decision = await runGate(sshSettings(), w.deps, emptyFacts())
    expect(decision.reason).toBe('provenance mismatch: image fedcba987654 != expected 0123456789ab')
  })

  test('a podman id without prefix is recorded with it', async () => {
    const step = session({
      hookExit: 0,
      inspectOutput: answer({ [REV]: SHA_A }, IMAGE_HEX),
      inspectExit: 0
    })
    const w = world([ok(`${SHA_A}\n`)], [step])
    const facts = emptyFacts()
    await runGate(sshSettings(), w.deps, facts)
    expect(facts.imageId).toBe(IMAGE_ID)
  })
})

describe('runGate commands', () => {
  test('rebuild over ssh: git locally, then one session on the host, bounded by both timeouts', async () => {
    const target = sshTarget({ port: 2222 })
    const settings = sshSettings({ checkoutPath: "/home/runner/work/it's here", ssh: target })
    const w = world([ok(`${SHA_A}\n`)], [rebuilt(SHA_A)])
    await runGate(settings, w.deps, emptyFacts())

    expect(w.openSsh).toHaveBeenCalledWith(target)
    expect(w.local.commands).toEqual([`git -C '/home/runner/work/it'\\''s here' rev-parse HEAD`])
    expect(w.local.options[0]?.timeoutMs).toBe(30_000)

    expect(w.ssh.commands).toEqual([planSession(settings, SHA_A, NONCE)])
    // rebuild-timeout and inspect-timeout, each with the host's kill grace, plus 15 s of slack.
    expect(w.ssh.options[0]?.timeoutMs).toBe(1_200_000 + 10_000 + 45_000 + 10_000 + 15_000)
    expect(w.ssh.options[0]?.onOutput).toBeInstanceOf(Function)
    expect(w.raw.opened).toEqual(['hook output (/srv/shop/hook.sh --build-staging)'])
    expect(w.raw.closed).toBe(1)
    expect(w.infos).toContain(`running the hook on ${WHERE}: ${planHookCommand(settings, SHA_A)}`)
    expect(w.local.closes).toBe(0)
  })

  test('verify mode: one session without the hook, bounded by the inspect timeout', async () => {
    const w = world([ok(`${SHA_A}\n`)], [verified(SHA_A)])
    const facts = emptyFacts()
    const settings = sshSettings({ mode: 'verify' })
    await runGate(settings, w.deps, facts)
    expect(w.ssh.commands).toEqual([planSession(settings, SHA_A, NONCE)])
    expect(w.ssh.commands[0]).not.toContain('--build-staging')
    expect(w.ssh.options[0]?.timeoutMs).toBe(45_000 + 10_000 + 15_000)
    expect(w.raw.opened).toEqual([])
    expect(w.raw.closed).toBe(0)
    expect(phaseNames(facts)).toEqual(['git', 'connect', 'inspect'])
  })

  test('without a host everything runs on the local runner, which is closed once', async () => {
    const w = world([ok(`${SHA_A}\n`), rebuilt(SHA_A)], [])
    const facts = emptyFacts()
    const settings = makeSettings()
    const decision = await runGate(settings, w.deps, facts)
    expect(decision.verdict).toBe('match')
    expect(w.openSsh).not.toHaveBeenCalled()
    expect(w.local.commands).toHaveLength(2)
    expect(w.local.commands[1]).toBe(planSession(settings, SHA_A, NONCE))
    expect(w.local.closes).toBe(1)
    expect(phaseNames(facts)).toEqual(['git', 'hook', 'inspect'])
  })

  test('the session stderr streams into the raw group, never the markers or the answer', async () => {
    const step = session({
      hookOutput: 'step 1\nstep 2\n',
      hookExit: 0,
      inspectOutput: answer({ [REV]: SHA_A }),
      inspectExit: 0,
      trailer: 'ssh: a late warning\n'
    })
    const w = world([ok(`${SHA_A}\n`)], [step])
    await runGate(sshSettings(), w.deps, emptyFacts())
    // stderr after the hook marker stays in the group: two pipes can deliver the hook's last
    // bytes after the marker, and the inspect's own stderr is merged into stdout anyway.
    expect(w.raw.written.join('')).toBe('step 1\nstep 2\nssh: a late warning\n')
    expect(w.raw.closed).toBe(1)
  })

  test('phases are recorded in order; the hook ends when its marker arrives', async () => {
    const step = session({
      hookOutput: 'building\n',
      hookMs: 185_000,
      hookExit: 0,
      inspectOutput: answer({ [REV]: SHA_A }),
      inspectExit: 0,
      inspectMs: 850
    })
    const w = world([ok(`${SHA_A}\n`)], [step])
    const facts = emptyFacts()
    await runGate(sshSettings(), w.deps, facts)
    // Every clock reading adds 10 ms.
    expect(facts.phases).toEqual([
      { name: 'git', ms: 10 },
      { name: 'connect', ms: 10 },
      { name: 'hook', ms: 185_010 },
      { name: 'inspect', ms: 860 }
    ])
  })

  test('a hook marker split across two chunks still ends the hook at the second', async () => {
    const step: Step = {
      emit: [
        { stream: 'stderr', text: 'building\n', ms: 100 },
        { stream: 'stdout', text: `${MARK} hook-ex`, ms: 50 },
        { stream: 'stdout', text: 'it 0\n', ms: 50 },
        { stream: 'stdout', text: `${answer({ [REV]: SHA_A })}\n${MARK} inspect-exit 0\n`, ms: 500 }
      ],
      result: ok(`${MARK} hook-exit 0\n${answer({ [REV]: SHA_A })}\n${MARK} inspect-exit 0\n`)
    }
    const w = world([ok(`${SHA_A}\n`)], [step])
    const facts = emptyFacts()
    const decision = await runGate(sshSettings(), w.deps, facts)
    expect(decision.verdict).toBe('match')
    expect(facts.phases.find(p => p.name === 'hook')?.ms).toBe(210)
    expect(facts.phases.find(p => p.name === 'inspect')?.ms).toBe(510)
  })

  test('the log names the validated revision and the label read back, quoted', async () => {
    const w = world([ok(`${SHA_A}\n`)], [rebuilt(`${SHA_A} `)])
    await runGate(sshSettings(), w.deps, emptyFacts())
    expect(w.infos).toContain(`validated revision: ${SHA_A} (HEAD of /home/runner/work/shop/shop)`)
    expect(w.infos).toContain(
      `image registry.example.com/shop:staging: id ${IMAGE_ID}, ${REV}="${SHA_A} "`
    )
  })

  test('the log says (none) when the image has no revision label', async () => {
    const w = world(
      [ok(`${SHA_A}\n`)],
      [session({ hookExit: 0, inspectOutput: answer(null), inspectExit: 0 })]
    )
    await runGate(sshSettings(), w.deps, emptyFacts())
    expect(w.infos).toContain(
      `image registry.example.com/shop:staging: id ${IMAGE_ID}, ${REV}=(none)`
    )
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
    const w = world([ok(`${SHA_A}\n`)], [rebuilt(SHA_A)], errors)
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
    expect(phaseNames(facts)).toEqual(['git', 'connect', 'hook', 'inspect'])
  })

  test.each<[string, number, number[], string]>([
    ['ssh-retries 2 exhausted', 2, [1000, 2000], '(3 attempts, ssh-retries 2)'],
    ['ssh-retries 0: one attempt', 0, [], '(1 attempt, ssh-retries 0)'],
    ['ssh-retries 1', 1, [1000], '(2 attempts, ssh-retries 1)']
  ])('%s: gives up with the count', async (_name, retries, sleeps, count) => {
    const errors = Array.from({ length: retries + 1 }, refused)
    const w = world([ok(`${SHA_A}\n`)], [], errors)
    const facts = emptyFacts()
    const error = await rejection(
      runGate(sshSettings({ ssh: sshTarget({ retries }) }), w.deps, facts)
    )

    expect(error.failure).toBe('transport')
    expect(error.message).toBe(`${refused().message} ${count}`)
    expect(error.retryable).toBe(false)
    expect(w.openSsh).toHaveBeenCalledTimes(retries + 1)
    expect(w.sleeps).toEqual(sleeps)
    expect(w.ssh.commands).toEqual([])
    expect(w.ssh.closes).toBe(0)
    expect(phaseNames(facts)).toEqual(['git', 'connect'])
    expect(facts.current).toBe('connect')
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
    const w = world([ok(`${SHA_A}\n`)], [], [thrown])
    const facts = emptyFacts()
    const promise = runGate(sshSettings({ ssh: sshTarget({ retries: 5 }) }), w.deps, facts)
    await expect(promise).rejects.toBe(thrown)
    expect(w.openSsh).toHaveBeenCalledTimes(1)
    expect(w.sleeps).toEqual([])
    expect(w.infos.filter(line => line.includes('retrying'))).toEqual([])
    expect(w.ssh.commands).toEqual([])
    expect(facts.expectedRevision).toBe(SHA_A)
    expect(phaseNames(facts)).toEqual(['git', 'connect'])
    expect(facts.current).toBe('connect')
  })

  test('a refusal, then a host-key failure: the host-key failure ends it, unchanged', async () => {
    const hostKey = new GateError('host-key', `ssh host key of ${WHERE} does not match`)
    const w = world([ok(`${SHA_A}\n`)], [], [refused(), hostKey])
    const error = await rejection(runGate(sshSettings(), w.deps, emptyFacts()))
    expect(error).toBe(hostKey)
    expect(w.openSsh).toHaveBeenCalledTimes(2)
    expect(w.sleeps).toEqual([1000])
  })

  test('a timed-out connect is retried like a refusal', async () => {
    const slow = new GateError('transport', `ssh connection to ${WHERE} timed out after 45 s`, true)
    const w = world([ok(`${SHA_A}\n`)], [rebuilt(SHA_A)], [slow])
    const decision = await runGate(sshSettings(), w.deps, emptyFacts())
    expect(decision.verdict).toBe('match')
    expect(w.infos).toContain(
      `ssh connection to ${WHERE} timed out after 45 s; nothing ran on the host, retrying in 1 s (attempt 2 of 3)`
    )
  })

  test('a failure after the connection is never retried', async () => {
    const w = world(
      [ok(`${SHA_A}\n`)],
      [session({ hookOutput: 'building\n', exitCode: 255, trailer: 'Connection reset\n' })]
    )
    const error = await rejection(runGate(sshSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('transport')
    expect(error.retryable).toBe(false)
    expect(w.openSsh).toHaveBeenCalledTimes(1)
    expect(w.ssh.commands).toHaveLength(1)
    expect(w.sleeps).toEqual([])
  })
})

describe('runGate session failures', () => {
  const what = `docker image inspect registry.example.com/shop:staging on ${WHERE}`
  const noTimeout = `${WHERE} has no GNU \`timeout\` (coreutils); the gate needs it to bound its commands on the host and stop the hook's whole process group. Nothing was run`

  interface Row {
    name: string
    mode?: Settings['mode']
    step: Step
    failure: FailureClass
    /** The whole message, or parts of it when it quotes a raw tail. */
    message: string | string[]
    /** Whether the inspect started (its phase is then recorded, after the hook's). */
    inspected: boolean
  }

  const rows: Row[] = [
    {
      name: 'ssh cannot be started',
      step: { result: spawnFailed('spawn ssh ENOENT') },
      failure: 'transport',
      message: `cannot run commands on ${WHERE}: spawn ssh ENOENT`,
      inspected: false
    },
    {
      name: 'no timeout command on the host (rebuild)',
      step: session({ noTimeout: true }),
      failure: 'hook-failed',
      message: noTimeout,
      inspected: false
    },
    {
      name: 'no timeout command on the host (verify)',
      mode: 'verify',
      step: session({ noTimeout: true }),
      failure: 'inspect-failed',
      message: noTimeout,
      inspected: false
    },
    {
      name: 'the hook never reported and the local bound expired',
      step: session({ hookOutput: 'building\n', timedOut: true }),
      failure: 'timeout',
      message: `hook on ${WHERE} did not finish within 1200 s (rebuild-timeout) and its host-side bound did not answer either; the session was stopped`,
      inspected: false
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
      inspected: false
    },
    {
      name: 'the session ended without a hook marker (a login shell that is not sh)',
      step: session({ hookOutput: 'fish: Unknown command\n', exitCode: 127 }),
      failure: 'hook-failed',
      message: `hook on ${WHERE} ended without reporting a result (exit code 127): fish: Unknown command`,
      inspected: false
    },
    {
      name: 'the session was killed by a signal before the hook reported',
      step: session({ exitCode: null }),
      failure: 'hook-failed',
      message: `hook on ${WHERE} ended without reporting a result (killed by a signal): no output`,
      inspected: false
    },
    {
      name: 'hook exit 124 after rebuild-timeout: the host-side bound stopped it',
      step: session({ hookOutput: 'still building\n', hookMs: 1_200_000, hookExit: 124 }),
      failure: 'timeout',
      message: `hook timed out after 1200 s (rebuild-timeout) on ${WHERE}; the host stopped it and its process group (SIGTERM, SIGKILL). Last output: still building`,
      inspected: false
    },
    {
      name: 'hook exit 137 after rebuild-timeout: the host had to kill it',
      step: session({ hookOutput: 'trap TERM\n', hookMs: 1_250_000, hookExit: 137 }),
      failure: 'timeout',
      message: `hook timed out after 1200 s (rebuild-timeout) on ${WHERE}; the host stopped it and its process group (SIGTERM, SIGKILL). Last output: trap TERM`,
      inspected: false
    },
    {
      name: 'hook exit 124 long before rebuild-timeout is the hook’s own status',
      step: session({ hookOutput: 'curl: timed out\n', hookMs: 5_000, hookExit: 124 }),
      failure: 'hook-failed',
      message: `hook failed (exit code 124) on ${WHERE}: curl: timed out`,
      inspected: false
    },
    {
      name: 'hook exit 137 before rebuild-timeout (OOM kill) is a hook failure',
      step: session({ hookOutput: 'Killed\n', hookMs: 60_000, hookExit: 137 }),
      failure: 'hook-failed',
      message: `hook failed (exit code 137) on ${WHERE}: Killed`,
      inspected: false
    },
    {
      name: 'hook exits 3',
      step: session({ hookOutput: 'step 1\nstep 2\nERROR: compose build failed\n', hookExit: 3 }),
      failure: 'hook-failed',
      message: `hook failed (exit code 3) on ${WHERE}: step 1 ⏎ step 2 ⏎ ERROR: compose build failed`,
      inspected: false
    },
    {
      name: 'hook exits 1 without output',
      step: session({ hookExit: 1 }),
      failure: 'hook-failed',
      message: `hook failed (exit code 1) on ${WHERE}: no output`,
      inspected: false
    },
    {
      name: 'hook output that arrives after its marker is still in the tail, the marker is not',
      step: session({ hookOutput: 'first\n', hookExit: 2, trailer: 'last words\n' }),
      failure: 'hook-failed',
      message: `hook failed (exit code 2) on ${WHERE}: first ⏎ last words`,
      inspected: false
    },
    {
      name: 'the inspect never reported and the local bound expired',
      step: session({ hookExit: 0, timedOut: true }),
      failure: 'timeout',
      message: `${what} did not answer within 45 s (inspect-timeout); the session was stopped`,
      inspected: true
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
      inspected: true
    },
    {
      name: 'the inspect never reported (exit 2)',
      step: session({ hookExit: 0, exitCode: 2, trailer: 'sh: 3: Syntax error\n' }),
      failure: 'inspect-failed',
      message: [`${what} ended without reporting a result (exit code 2): `, 'sh: 3: Syntax error'],
      inspected: true
    },
    {
      name: 'inspect exit 124 after inspect-timeout: the host stopped it',
      step: session({ hookExit: 0, inspectOutput: '', inspectExit: 124, inspectMs: 45_000 }),
      failure: 'timeout',
      message: `${what} timed out after 45 s (inspect-timeout); the host stopped it`,
      inspected: true
    },
    {
      name: 'inspect exit 137 after inspect-timeout',
      step: session({ hookExit: 0, inspectOutput: '', inspectExit: 137, inspectMs: 60_000 }),
      failure: 'timeout',
      message: `${what} timed out after 45 s (inspect-timeout); the host stopped it`,
      inspected: true
    },
    {
      name: 'inspect exit 124 early is not a timeout',
      step: session({ hookExit: 0, inspectOutput: '', inspectExit: 124, inspectMs: 1_000 }),
      failure: 'inspect-failed',
      message: `${what} failed (exit code 124): no output`,
      inspected: true
    },
    {
      name: 'docker is not on the host PATH (127)',
      step: session({ hookExit: 0, inspectOutput: 'sh: 1: docker: not found', inspectExit: 127 }),
      failure: 'inspect-failed',
      message: `${what} failed (exit code 127): docker is not on the host's PATH (set the docker input to its path). sh: 1: docker: not found`,
      inspected: true
    },
    {
      name: 'the docker daemon is down',
      step: session({
        hookExit: 0,
        inspectOutput:
          'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n',
        inspectExit: 1
      }),
      failure: 'inspect-failed',
      message: `${what} failed (exit code 1): the container engine on the host is not running or not reachable. Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?`,
      inspected: true
    },
    {
      name: 'the image does not exist (docker)',
      step: session({
        hookExit: 0,
        inspectOutput:
          'Error response from daemon: No such image: registry.example.com/shop:staging\n',
        inspectExit: 1
      }),
      failure: 'inspect-failed',
      message: `${what} failed (exit code 1): the image registry.example.com/shop:staging does not exist on the host. Error response from daemon: No such image: registry.example.com/shop:staging`,
      inspected: true
    },
    {
      name: 'the image does not exist (podman)',
      step: session({
        hookExit: 0,
        inspectOutput: 'Error: registry.example.com/shop:staging: image not known',
        inspectExit: 125
      }),
      failure: 'inspect-failed',
      message: `${what} failed (exit code 125): the image registry.example.com/shop:staging does not exist on the host. Error: registry.example.com/shop:staging: image not known`,
      inspected: true
    },
    {
      name: 'another inspect error gets no hint',
      step: session({
        hookExit: 0,
        inspectOutput: 'permission denied while trying to reach the socket',
        inspectExit: 1
      }),
      failure: 'inspect-failed',
      message: `${what} failed (exit code 1): permission denied while trying to reach the socket`,
      inspected: true
    },
    {
      name: 'the inspect answered garbage',
      step: session({ hookExit: 0, inspectOutput: 'WARNING: something odd\n', inspectExit: 0 }),
      failure: 'inspect-failed',
      message: `${what} answered "WARNING: something odd", not "<image id> <labels>"`,
      inspected: true
    },
    {
      name: 'the inspect answered nothing',
      step: session({ hookExit: 0, inspectOutput: '', inspectExit: 0 }),
      failure: 'inspect-failed',
      message: `${what} answered "", not "<image id> <labels>"`,
      inspected: true
    },
    {
      name: 'the inspect answered two images',
      step: session({
        hookExit: 0,
        inspectOutput: `${answer(null)}${answer(null)}`,
        inspectExit: 0
      }),
      failure: 'inspect-failed',
      message: `${what} answered ${JSON.stringify(answer(null).trim())}, not "<image id> <labels>"`,
      inspected: true
    },
    {
      name: 'verify mode: the connection was lost',
      mode: 'verify',
      step: session({ exitCode: 255, trailer: 'client_loop: send disconnect: Broken pipe\n' }),
      failure: 'transport',
      message: `ssh connection to ${WHERE} was lost during the inspect (client_loop: send disconnect: Broken pipe)`,
      inspected: true
    },
    {
      name: 'verify mode: no image',
      mode: 'verify',
      step: session({ inspectOutput: 'Error: No such image: x\n', inspectExit: 1 }),
      failure: 'inspect-failed',
      message: `${what} failed (exit code 1): the image registry.example.com/shop:staging does not exist on the host. Error: No such image: x`,
      inspected: true
    }
  ]

  test.each(rows.map(row => [row.name, row] as const))(
    '%s: throws, closes the ssh runner once, keeps the facts',
    async (_name, row) => {
      const mode = row.mode ?? 'rebuild'
      const w = world([ok(`${SHA_A}\n`)], [row.step])
      const facts = emptyFacts()
      const error = await rejection(runGate(sshSettings({ mode }), w.deps, facts))

      expect(error.failure).toBe(row.failure)
      expect(error.retryable).toBe(false)
      if (typeof row.message === 'string') expect(error.message).toBe(row.message)
      else for (const part of row.message) expect(error.message).toContain(part)
      expect(w.ssh.commands).toHaveLength(1)
      expect(w.ssh.closes).toBe(1)
      expect(facts.expectedRevision).toBe(SHA_A)
      expect(facts.imageRevision).toBe('')
      expect(facts.imageId).toBe('')
      expect(facts.labels).toEqual({})
      // The hook's log group is opened and closed exactly once, whatever happened.
      expect(w.raw.opened).toHaveLength(mode === 'rebuild' ? 1 : 0)
      expect(w.raw.closed).toBe(mode === 'rebuild' ? 1 : 0)
      const all: PhaseTiming['name'][] =
        mode === 'verify' ? ['git', 'connect', 'inspect'] : ['git', 'connect', 'hook', 'inspect']
      // Whether a phase is recorded for an inspect that never started is the test below.
      if (row.inspected) expect(phaseNames(facts)).toEqual(all)
      else expect(phaseNames(facts).slice(0, all.length - 1)).toEqual(all.slice(0, -1))
    }
  )

  test.each(
    [
      'hook exits 3',
      'the connection was lost while the hook ran (exit 255)',
      'hook exit 124 after rebuild-timeout: the host-side bound stopped it'
    ].map(name => [name, rows.find(row => row.name === name)] as const)
  )('%s: no inspect phase is recorded, because the inspect never ran', async (_name, row) => {
    const w = world([ok(`${SHA_A}\n`)], [row?.step ?? { result: ok('') }])
    const facts = emptyFacts()
    await rejection(runGate(sshSettings(), w.deps, facts))
    // The summary's Time row must not show an inspect that never ran.
    expect(phaseNames(facts)).toEqual(['git', 'connect', 'hook'])
  })

  // KNOWN SRC PROBLEM (reported, src/ not edited): since every session prints its begin marker,
  // a connection that drops silently leaves that marker as the last line of the output, and
  // checkHook / checkStep quote it (`(provenance-gate-<nonce> begin)`) instead of `exit 255`: they
  // take lastLines(result.outputTail, 1) without removing marker lines, as the other path does.
  // Turn these into plain tests once the marker lines are left out there.
  test.each<[string, Settings['mode'], string]>([
    [
      'rebuild: lost silently while the hook ran',
      'rebuild',
      `ssh connection to ${WHERE} was lost while the hook was running (exit 255); not retried, because the hook had started. Its host-side bound stops it after 1200 s (rebuild-timeout)`
    ],
    [
      'verify: lost silently during the inspect',
      'verify',
      `ssh connection to ${WHERE} was lost during the inspect (exit 255)`
    ]
  ])('%s: the reason says exit 255, never a marker line', async (_name, mode, message) => {
    const w = world([ok(`${SHA_A}\n`)], [session({ exitCode: 255 })])
    const error = await rejection(runGate(sshSettings({ mode }), w.deps, emptyFacts()))
    expect(error.failure).toBe('transport')
    expect(error.message).not.toContain(NONCE)
    expect(error.message).toBe(message)
  })

  test('a reason never quotes the session marker lines', async () => {
    const w = world(
      [ok(`${SHA_A}\n`)],
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
    const w = world([ok(`${SHA_A}\n`), session({ hookOutput: 'nope\n', hookExit: 2 })], [])
    const error = await rejection(runGate(makeSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('hook-failed')
    expect(error.message).toBe('hook failed (exit code 2) on local: nope')
    expect(w.local.closes).toBe(1)
  })

  test('a local run names bash, not ssh, when the shell cannot start', async () => {
    const w = world([ok(`${SHA_A}\n`), spawnFailed('spawn bash ENOENT')], [])
    const error = await rejection(runGate(makeSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('transport')
    expect(error.message).toBe('cannot run commands on local: spawn bash ENOENT')
    expect(error.message).not.toContain('killed by a signal')
  })
})

describe('runGate keeps the running phase for errors nobody expected', () => {
  test.each<[string, Settings['mode'], Step, Facts['current']]>([
    [
      'the runner throws while the hook runs',
      'rebuild',
      {
        result: ok(''),
        emit: [{ stream: 'stderr', text: 'building\n' }],
        throws: new Error('EPIPE')
      },
      'hook'
    ],
    [
      'the runner throws after the hook reported',
      'rebuild',
      {
        result: ok(''),
        emit: [{ stream: 'stdout', text: `${MARK} hook-exit 0\n` }],
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
    const w = world([ok(`${SHA_A}\n`)], [step])
    const facts = emptyFacts()
    await expect(runGate(sshSettings({ mode }), w.deps, facts)).rejects.toThrow('EPIPE')
    expect(facts.current).toBe(current)
    expect(w.ssh.closes).toBe(1)
    expect(w.raw.closed).toBe(mode === 'rebuild' ? 1 : 0)
  })

  test.each<[string, Error, Facts['current']]>([['openSsh throws', new Error('boom'), 'connect']])(
    '%s: facts.current is %s',
    async (_name, thrown, current) => {
      const w = world([ok(`${SHA_A}\n`)], [], [thrown])
      const facts = emptyFacts()
      await expect(runGate(sshSettings(), w.deps, facts)).rejects.toBe(thrown)
      expect(facts.current).toBe(current)
    }
  )

  test('git throwing leaves git as the phase', async () => {
    const w = world([{ result: ok(''), throws: new Error('boom') }], [])
    const facts = emptyFacts()
    await expect(runGate(sshSettings(), w.deps, facts)).rejects.toThrow('boom')
    expect(facts.current).toBe('git')
    expect(phaseNames(facts)).toEqual(['git'])
  })

  test('a run that decided clears the phase', async () => {
    const w = world([ok(`${SHA_A}\n`)], [rebuilt(SHA_B)])
    const facts = emptyFacts()
    await runGate(sshSettings(), w.deps, facts)
    expect(facts.current).toBe('')
  })
})

describe('runGate git failures', () => {
  test.each<[string, ProcessResult, FailureClass, string[]]>([
    [
      'git exits non-zero',
      exit(128, 'fatal: not a git repository (or any of the parent directories): .git\n'),
      'git-failed',
      [
        'git rev-parse HEAD in /home/runner/work/shop/shop failed (exit code 128)',
        'fatal: not a git repository'
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
      ok('HEAD\n'),
      'git-failed',
      ['printed "HEAD", not a 40- or 64-hex revision']
    ],
    [
      'git prints an abbreviated revision',
      ok(`${SHA_A.slice(0, 12)}\n`),
      'git-failed',
      ['not a 40- or 64-hex revision']
    ],
    [
      'git prints an upper-case revision',
      ok(`${SHA_A.toUpperCase()}\n`),
      'git-failed',
      ['not a 40- or 64-hex revision']
    ],
    [
      'git prints two lines',
      ok(`${SHA_A}\n${SHA_B}\n`),
      'git-failed',
      ['not a 40- or 64-hex revision']
    ],
    ['git prints nothing', ok(''), 'empty-revision', ['printed no revision']],
    ['git prints only whitespace', ok(' \n'), 'empty-revision', ['printed no revision']],
    [
      'git times out',
      timedOut(),
      'timeout',
      ['git rev-parse HEAD in /home/runner/work/shop/shop timed out after 30 s (git-timeout)']
    ]
  ])(
    '%s: throws before any connection or remote command',
    async (_name, git, failure, mentions) => {
      const w = world([git], [])
      const facts = emptyFacts()
      const error = await rejection(runGate(sshSettings(), w.deps, facts))

      expect(error.failure).toBe(failure)
      for (const text of mentions) expect(error.message).toContain(text)
      expect(w.openSsh).not.toHaveBeenCalled()
      expect(w.ssh.commands).toEqual([])
      expect(w.ssh.closes).toBe(0)
      expect(facts.expectedRevision).toBe('')
      expect(phaseNames(facts)).toEqual(['git'])
    }
  )

  test('a long non-hex answer from git is cut to 80 characters in the message', async () => {
    const w = world([ok(`${'z'.repeat(200)}\n`)], [])
    const error = await rejection(runGate(sshSettings(), w.deps, emptyFacts()))
    expect(error.message).toContain(`printed "${'z'.repeat(80)}", not`)
    expect(error.message).not.toContain('z'.repeat(81))
  })

  test('git that cannot be spawned names the spawn error', async () => {
    const w = world([spawnFailed('spawn bash ENOENT')], [])
    const error = await rejection(runGate(sshSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('git-failed')
    expect(error.message).toContain('spawn bash ENOENT')
    expect(error.message).not.toContain('killed by a signal')
  })
})

describe('resolveRevision', () => {
  test('returns the trimmed revision and runs git with the git bound', async () => {
    const local = new FakeRunner('local', [ok(`  ${SHA_A}\r\n`)], new Clock())
    const sha256 = `${SHA_A}${'0'.repeat(24)}`
    const local256 = new FakeRunner('local', [ok(`${sha256}\n`)], new Clock())
    const settings = makeSettings({ timeouts: { gitMs: 7_000, inspectMs: 1, rebuildMs: 1 } })
    expect(await resolveRevision(local, settings)).toBe(SHA_A)
    expect(local.options[0]?.timeoutMs).toBe(7_000)
    expect(await resolveRevision(local256, settings)).toBe(sha256)
  })
})

const OTHER_ID = `sha256:${'b'.repeat(64)}`
const SOURCE = 'org.opencontainers.image.source'
const PROD = 'registry.example.com/shop:prod'

describe('runGate container check', () => {
  const containerWhat = `docker container inspect shop-staging on ${WHERE}`
  /** A verify session whose image carries SHA_A, then the container check's answer. */
  const checked = (
    containerOutput: string | undefined,
    containerExit: number | undefined,
    more: SessionSpec = {}
  ): Step =>
    session({
      inspectOutput: answer({ [REV]: SHA_A }),
      inspectExit: 0,
      containerOutput,
      containerExit,
      ...more
    })
  /** One line of the container check's answer: `<json name> <json image id> <running>`. */
  const line = (name: string, id: string, running: boolean): string =>
    `${JSON.stringify(name)} ${JSON.stringify(id)} ${running}\n`
  const fresh = line('/shop-staging', IMAGE_ID, true)
  const staleReasonOf = (name: string): string =>
    `provenance fail-closed: the staging container ${name} runs image sha256:bbbbbbbbbbbb, not the verified sha256:a3f1c2d4e5b6: it was not recreated after the rebuild`
  const staleReason = staleReasonOf('shop-staging')
  const notRunning = (names: string): string =>
    `provenance fail-closed: the staging container ${names} exists but is not running (check-container true)`
  const MATCH = 'provenance match: 0123456789ab'

  test.each<
    [string, Settings['containerCheck'], Step, Decision['verdict'], FailureClass | '', string]
  >([
    ['auto: the container runs the verified id', 'auto', checked(fresh, 0), 'match', '', MATCH],
    [
      'require: the container runs the verified id (no final newline)',
      'require',
      checked(fresh.trimEnd(), 0),
      'match',
      '',
      MATCH
    ],
    [
      'auto: podman (no / before the name, no sha256: before the id) is the same id',
      'auto',
      checked(line('shop-staging', IMAGE_HEX, true), 0),
      'match',
      '',
      MATCH
    ],
    [
      'auto: the container runs another id',
      'auto',
      checked(line('/shop-staging', OTHER_ID, true), 0),
      'fail-closed',
      'stale-container',
      staleReason
    ],
    [
      'require: the container runs another id',
      'require',
      checked(line('/shop-staging', OTHER_ID, true), 0),
      'fail-closed',
      'stale-container',
      staleReason
    ],
    [
      'auto: a podman container running another id (no prefix) is stale',
      'auto',
      checked(line('shop-staging', 'b'.repeat(64), true), 0),
      'fail-closed',
      'stale-container',
      staleReason
    ],
    [
      'auto: a stopped container with another id passes (it runs nothing)',
      'auto',
      checked(line('/shop-staging', OTHER_ID, false), 0),
      'match',
      '',
      MATCH
    ],
    [
      'require: a stopped container with another id is not running',
      'require',
      checked(line('/shop-staging', OTHER_ID, false), 0),
      'fail-closed',
      'stale-container',
      notRunning('shop-staging')
    ],
    [
      'require: a stopped container with the verified id is not running either',
      'require',
      checked(line('/shop-staging', IMAGE_ID, false), 0),
      'fail-closed',
      'stale-container',
      notRunning('shop-staging')
    ],
    [
      'auto: two containers, the second running another id: stale, naming it',
      'auto',
      checked(`${line('/web-1', IMAGE_ID, true)}${line('/web-2', OTHER_ID, true)}`, 0),
      'fail-closed',
      'stale-container',
      staleReasonOf('web-2')
    ],
    [
      'auto: a stopped stale container next to a running fresh one passes',
      'auto',
      checked(`${line('/web-1', OTHER_ID, false)}${line('/web-2', IMAGE_ID, true)}`, 0),
      'match',
      '',
      MATCH
    ],
    [
      'require: a stopped stale container next to a running fresh one passes',
      'require',
      checked(`${line('/web-1', OTHER_ID, false)}${line('/web-2', IMAGE_ID, true)}`, 0),
      'match',
      '',
      MATCH
    ],
    [
      'require: two stopped containers, both named',
      'require',
      checked(`${line('/web-1', IMAGE_ID, false)}${line('/web-2', OTHER_ID, false)}`, 0),
      'fail-closed',
      'stale-container',
      notRunning('web-1, web-2')
    ],
    [
      'auto: one listed container vanished, the other runs another id: still stale',
      'auto',
      checked(
        `${line('/web-2', OTHER_ID, true)}Error response from daemon: No such container: 0123abcd`,
        1
      ),
      'fail-closed',
      'stale-container',
      staleReasonOf('web-2')
    ],
    [
      'auto: one listed container vanished, the other runs the verified id: match',
      'auto',
      checked(
        `${line('/web-2', IMAGE_ID, true)}Error response from daemon: No such container: 0123abcd`,
        1
      ),
      'match',
      '',
      MATCH
    ],
    [
      'auto: no such container (docker) passes',
      'auto',
      checked('Error response from daemon: No such container: shop-staging', 1),
      'match',
      '',
      'provenance match: 0123456789ab'
    ],
    [
      'auto: no such object (older docker) passes',
      'auto',
      checked('Error: No such object: shop-staging', 1),
      'match',
      '',
      'provenance match: 0123456789ab'
    ],
    [
      'auto: no such container (podman) passes',
      'auto',
      checked('Error: no such container shop-staging', 125),
      'match',
      '',
      'provenance match: 0123456789ab'
    ],
    [
      'require: no such container fails',
      'require',
      checked('Error response from daemon: No such container: shop-staging', 1),
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
        containerOutput: line('/shop-staging', OTHER_ID, true),
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
        containerOutput: line('/shop-staging', OTHER_ID, true),
        containerExit: 0
      }),
      'fail-closed',
      'wrong-source',
      'provenance fail-closed: the image was built from "https://github.com/mallory/shop", not from https://github.com/acme/shop'
    ]
  ])('%s', async (_name, containerCheck, step, verdict, failure, reason) => {
    const settings = sshSettings({ mode: 'verify', containerCheck })
    const w = world([ok(`${SHA_A}\n`)], [step])
    const facts = emptyFacts()
    const decision = await runGate(settings, w.deps, facts)
    expect(decision).toEqual({ verdict, reason, pass: verdict === 'match', failure })
    expect(w.ssh.commands).toEqual([planSession(settings, SHA_A, NONCE)])
    expect(w.ssh.commands[0]).toContain('container inspect')
    expect(facts.imageId).toBe(IMAGE_ID)
    expect(w.ssh.closes).toBe(1)
    expect(facts.current).toBe('')
  })

  test('a missing container with auto is said in the log', async () => {
    const w = world(
      [ok(`${SHA_A}\n`)],
      [checked('Error response from daemon: No such container: shop-staging', 1)]
    )
    await runGate(sshSettings({ mode: 'verify', containerCheck: 'auto' }), w.deps, emptyFacts())
    expect(w.infos).toContain(
      'no container shop-staging on the host: nothing runs, nothing to compare'
    )
  })

  test('a running container is not mentioned as missing', async () => {
    const w = world([ok(`${SHA_A}\n`)], [checked(fresh, 0)])
    await runGate(sshSettings({ mode: 'verify', containerCheck: 'auto' }), w.deps, emptyFacts())
    expect(w.infos.filter(line => line.startsWith('no container'))).toEqual([])
  })

  test('rebuild with the check: one session, hook, inspect, then the container', async () => {
    const settings = sshSettings({ containerCheck: 'auto' })
    const step = session({
      hookOutput: 'built\n',
      hookExit: 0,
      inspectOutput: answer({ [REV]: SHA_A }),
      inspectExit: 0,
      containerOutput: fresh,
      containerExit: 0
    })
    const w = world([ok(`${SHA_A}\n`)], [step])
    const facts = emptyFacts()
    expect((await runGate(settings, w.deps, facts)).verdict).toBe('match')
    expect(w.ssh.commands).toEqual([planSession(settings, SHA_A, NONCE)])
    expect(phaseNames(facts)).toEqual(['git', 'connect', 'hook', 'inspect'])
  })

  test('the local bound of a verify session covers both bounded steps, the inspect and the container check', async () => {
    const w = world([ok(`${SHA_A}\n`)], [checked(fresh, 0)])
    await runGate(sshSettings({ mode: 'verify', containerCheck: 'auto' }), w.deps, emptyFacts())
    // Each step may take inspect-timeout plus the host's kill grace before it reports.
    expect(w.ssh.options[0]?.timeoutMs).toBe(2 * (45_000 + 10_000) + 15_000)
  })

  test('the local bound of a rebuild session covers the hook and both bounded steps', async () => {
    const step = session({
      hookExit: 0,
      inspectOutput: answer({ [REV]: SHA_A }),
      inspectExit: 0,
      containerOutput: fresh,
      containerExit: 0
    })
    const w = world([ok(`${SHA_A}\n`)], [step])
    await runGate(sshSettings({ containerCheck: 'require' }), w.deps, emptyFacts())
    expect(w.ssh.options[0]?.timeoutMs).toBe(1_200_000 + 10_000 + 2 * (45_000 + 10_000) + 15_000)
  })

  test.each<[string, Step, FailureClass, string]>([
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
      'the host stopped the container check (124 after inspect-timeout)',
      checked('', 124, { containerMs: 45_000 }),
      'timeout',
      `${containerWhat} timed out after 45 s (inspect-timeout); the host stopped it`
    ],
    [
      'the docker daemon went away before the container check',
      checked(
        'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
        1
      ),
      'inspect-failed',
      `${containerWhat} failed (exit code 1): the container engine on the host is not running or not reachable. Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?`
    ],
    [
      'another container check error',
      checked('permission denied', 1),
      'inspect-failed',
      `${containerWhat} failed (exit code 1): permission denied`
    ],
    [
      'the container check answered garbage',
      checked('hello', 0),
      'inspect-failed',
      `${containerWhat} answered "hello", not "<name> <image id> <running>"`
    ],
    [
      'the container check answered the old format (a bare image id)',
      checked(`"${IMAGE_ID}"`, 0),
      'inspect-failed',
      `${containerWhat} answered ${JSON.stringify(`"${IMAGE_ID}"`)}, not "<name> <image id> <running>"`
    ],
    [
      'the container check answered a short id',
      checked('"/shop-staging" "sha256:abc" true', 0),
      'inspect-failed',
      `${containerWhat} answered "\\"/shop-staging\\" \\"sha256:abc\\" true", not "<name> <image id> <running>"`
    ],
    [
      'the container check answered without the running state',
      checked(`"/shop-staging" "${IMAGE_ID}"`, 0),
      'inspect-failed',
      `${containerWhat} answered ${JSON.stringify(`"/shop-staging" "${IMAGE_ID}"`)}, not "<name> <image id> <running>"`
    ],
    [
      'the container check answered nothing',
      checked('', 0),
      'inspect-failed',
      `${containerWhat} answered "", not "<name> <image id> <running>"`
    ],
    [
      'one good line, then a line that is not: nothing is trusted',
      checked(`${fresh}WARNING: something\n`, 0),
      'inspect-failed',
      `${containerWhat} answered "WARNING: something", not "<name> <image id> <running>"`
    ]
  ])('%s: throws, the ssh runner closed once', async (_name, step, failure, message) => {
    const w = world([ok(`${SHA_A}\n`)], [step])
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

    test.each<[string, Settings['containerCheck'], string, number, Decision]>([
      [
        'auto: the compose container runs the verified id',
        'auto',
        line('/proj-staging-1', IMAGE_ID, true),
        0,
        { verdict: 'match', reason: MATCH, pass: true, failure: '' }
      ],
      [
        'auto: the compose container runs another id: stale, named as compose named it',
        'auto',
        line('/proj-staging-1', OTHER_ID, true),
        0,
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
        `${line('/proj-staging-1', IMAGE_ID, true)}${line('/proj-staging-2', OTHER_ID, true)}`,
        0,
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
        'Error response from daemon: No such container: staging\n',
        1,
        {
          verdict: 'fail-closed',
          reason:
            'provenance fail-closed: the staging container staging does not exist on the host (check-container true)',
          pass: false,
          failure: 'stale-container'
        }
      ]
    ])('%s', async (_name, containerCheck, output, exit, decision) => {
      const settings = byLabel(containerCheck)
      const w = world([ok(`${SHA_A}\n`)], [checked(output, exit)])
      expect(await runGate(settings, w.deps, emptyFacts())).toEqual(decision)
      expect(w.ssh.commands).toEqual([planSession(settings, SHA_A, NONCE)])
      expect(w.ssh.commands[0]).toContain(
        "ps -aq --no-trunc --filter 'label=com.docker.compose.service=staging'"
      )
    })

    test('garbage names the service in what was run', async () => {
      const w = world([ok(`${SHA_A}\n`)], [checked('hello', 0)])
      const error = await rejection(runGate(byLabel('auto'), w.deps, emptyFacts()))
      expect(error.failure).toBe('inspect-failed')
      expect(error.message).toBe(
        `docker container inspect staging on ${WHERE} answered "hello", not "<name> <image id> <running>"`
      )
    })

    // A failed or hung `ps` fails the container step with its own output and status: the bare
    // service name is never tried instead, so a missed compose container cannot pass as absent.
    const byLabelWhat = `docker container inspect staging on ${WHERE}`
    test.each<[string, Settings['containerCheck'], Step, FailureClass, string]>([
      [
        'auto: ps cannot reach the daemon',
        'auto',
        checked(
          'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
          1
        ),
        'inspect-failed',
        `${byLabelWhat} failed (exit code 1): the container engine on the host is not running or not reachable. Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?`
      ],
      [
        'require: ps is denied',
        'require',
        checked('permission denied while trying to connect to the Docker daemon socket', 1),
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
        'auto: the host stops a hung ps after inspect-timeout (124)',
        'auto',
        checked('', 124, { containerMs: 45_000 }),
        'timeout',
        `${byLabelWhat} timed out after 45 s (inspect-timeout); the host stopped it`
      ]
    ])(
      '%s: the gate fails, it does not pass as absent',
      async (_name, check, step, failure, message) => {
        const w = world([ok(`${SHA_A}\n`)], [step])
        const facts = emptyFacts()
        const error = await rejection(runGate(byLabel(check), w.deps, facts))
        expect(error.failure).toBe(failure)
        expect(error.message).toBe(message)
        expect(w.infos.filter(info => info.startsWith('no container'))).toEqual([])
        expect(w.ssh.closes).toBe(1)
        expect(facts.expectedRevision).toBe(SHA_A)
      }
    )

    test.each<[string, Settings['mode'], Settings['containerCheck'], number]>([
      // ps and the container inspect are each bounded by inspect-timeout plus the kill grace.
      ['verify, auto: inspect, ps, container inspect', 'verify', 'auto', 3 * (45_000 + 10_000)],
      [
        'rebuild, require: hook, inspect, ps, container inspect',
        'rebuild',
        'require',
        1_200_000 + 10_000 + 3 * (45_000 + 10_000)
      ],
      ['verify, skip: the inspect alone', 'verify', 'skip', 45_000 + 10_000]
    ])(
      'the local bound of a session without staging-container (%s)',
      async (_name, mode, check, ms) => {
        const step = session({
          ...(mode === 'rebuild' ? { hookExit: 0 } : {}),
          inspectOutput: answer({ [REV]: SHA_A }),
          inspectExit: 0,
          ...(check === 'skip'
            ? {}
            : { containerOutput: line('/proj-staging-1', IMAGE_ID, true), containerExit: 0 })
        })
        const w = world([ok(`${SHA_A}\n`)], [step])
        const settings = { ...byLabel(check), mode }
        expect((await runGate(settings, w.deps, emptyFacts())).verdict).toBe('match')
        expect(w.ssh.options[0]?.timeoutMs).toBe(ms + 15_000)
      }
    )
  })
})

describe('runGate with a login shell that prints before the session', () => {
  test.each<[string, Settings['mode'], Step]>([
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
      'rebuild: a banner before the hook',
      'rebuild',
      session({
        chatter: 'Welcome to staging\n\n',
        hookOutput: 'built\n',
        hookExit: 0,
        inspectOutput: answer({ [REV]: SHA_A }),
        inspectExit: 0
      })
    ],
    [
      'verify with the container check: chatter shaped like a container line',
      'verify',
      session({
        chatter: `${JSON.stringify('/shop-staging')} ${JSON.stringify(OTHER_ID)} true\n`,
        inspectOutput: answer({ [REV]: SHA_A }),
        inspectExit: 0,
        containerOutput: `${JSON.stringify('/shop-staging')} ${JSON.stringify(IMAGE_ID)} true\n`,
        containerExit: 0
      })
    ]
  ])('%s: only what follows the begin marker counts', async (name, mode, step) => {
    const containerCheck = name.includes('container') ? 'auto' : 'skip'
    const w = world([ok(`${SHA_A}\n`)], [step])
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
    `the answer from ${where} exceeded 64 KiB (the image's labels or the container list are too large to read whole); nothing of it was trusted`
  /** A session step whose stdout was cut to its tail; the tail itself may look complete. */
  const truncated = (spec: SessionSpec): Step => {
    const step = session(spec)
    return { ...step, result: { ...step.result, stdoutTruncated: true } }
  }

  test.each<[string, Partial<Settings>, Step]>([
    [
      'verify: the kept tail is a whole, matching answer',
      { mode: 'verify' },
      truncated({ inspectOutput: answer({ [REV]: SHA_A }), inspectExit: 0 })
    ],
    [
      'rebuild: the hook passed, the labels are huge',
      {},
      truncated({
        hookExit: 0,
        inspectOutput: answer({ [REV]: SHA_A, big: 'x'.repeat(70_000) }),
        inspectExit: 0
      })
    ],
    [
      'verify with the container check: a long container list',
      { mode: 'verify', containerCheck: 'auto' },
      truncated({
        inspectOutput: answer({ [REV]: SHA_A }),
        inspectExit: 0,
        containerOutput: `${JSON.stringify('/shop-staging')} ${JSON.stringify(IMAGE_ID)} true\n`,
        containerExit: 0
      })
    ]
  ])('%s: inspect-failed, no verdict from it', async (_name, over, step) => {
    const w = world([ok(`${SHA_A}\n`)], [step])
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
    const step = truncated({ hookExit: 0, inspectOutput: answer({ [REV]: SHA_A }), inspectExit: 0 })
    const w = world([ok(`${SHA_A}\n`), step], [])
    const error = await rejection(runGate(makeSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('inspect-failed')
    expect(error.message).toBe(message('local'))
    expect(w.local.closes).toBe(1)
  })

  test('an answer that was not cut is read as usual', async () => {
    const step = session({ inspectOutput: answer({ [REV]: SHA_A }), inspectExit: 0 })
    const w = world(
      [ok(`${SHA_A}\n`)],
      [{ ...step, result: { ...step.result, stdoutTruncated: false } }]
    )
    expect((await runGate(sshSettings({ mode: 'verify' }), w.deps, emptyFacts())).verdict).toBe(
      'match'
    )
  })
})

describe('runGate when closing the runner fails', () => {
  const MATCH: Decision = {
    verdict: 'match',
    reason: 'provenance match: 0123456789ab',
    pass: true,
    failure: ''
  }

  test.each<[string, Step, Decision['verdict']]>([
    ['a match stays a match', rebuilt(SHA_A), 'match'],
    ['a mismatch stays a mismatch', rebuilt(SHA_B), 'mismatch']
  ])('%s, and a warning says why', async (_name, step, verdict) => {
    const w = world([ok(`${SHA_A}\n`)], [step])
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
    const w = world([ok(`${SHA_A}\n`), rebuilt(SHA_A)], [])
    w.local.closeError = 'gone' as unknown as Error
    expect(await runGate(makeSettings(), w.deps, emptyFacts())).toEqual(MATCH)
    expect(w.local.closes).toBe(1)
    expect(w.warnings).toEqual(['could not close the connection cleanly: gone'])
  })

  test('a failed run keeps its own error, not the close failure', async () => {
    const w = world([ok(`${SHA_A}\n`)], [session({ hookOutput: 'nope\n', hookExit: 2 })])
    w.ssh.closeError = new Error('close broke')
    const error = await rejection(runGate(sshSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('hook-failed')
    expect(error.message).toBe(`hook failed (exit code 2) on ${WHERE}: nope`)
    expect(w.ssh.closes).toBe(1)
    expect(w.warnings).toEqual(['could not close the connection cleanly: close broke'])
  })

  test('a close that works logs no warning', async () => {
    const w = world([ok(`${SHA_A}\n`)], [rebuilt(SHA_A)])
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
    const w = world([ok(`${SHA_A}\n`)], [step])
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
    const w = world([ok(`${SHA_A}\n`)], [step])
    const decision = await runGate(sshSettings({ mode: 'verify' }), w.deps, emptyFacts())
    expect(decision.failure).toBe('mismatch')
  })

  test('a missing revision label is reported before a missing source label', async () => {
    const step = session({ inspectOutput: answer(null), inspectExit: 0 })
    const w = world([ok(`${SHA_A}\n`)], [step])
    const decision = await runGate(
      sshSettings({ mode: 'verify', requireSource: true }),
      w.deps,
      emptyFacts()
    )
    expect(decision.failure).toBe('missing-label')
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
  const registrySettings = (overrides: Partial<Settings> = {}): Settings =>
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
      const w = world([ok(`${SHA_A}\n`)], [], [], { registry: fromRegistry(labels) })
      const facts = emptyFacts()
      const decision = await runGate(registrySettings(), w.deps, facts)

      expect(decision.verdict).toBe(verdict)
      expect(decision.failure).toBe(failure)
      expect(w.openSsh).not.toHaveBeenCalled()
      expect(w.ssh.commands).toEqual([])
      expect(w.ssh.closes).toBe(0)
      // Only git ran on this runner: no session here either.
      expect(w.local.commands).toEqual([`git -C '/home/runner/work/shop/shop' rev-parse HEAD`])
      expect(w.local.closes).toBe(0)
      expect(w.registry.calls).toEqual(['registry.example.com/shop:staging'])
      expect(w.registry.options).toEqual([
        { username: 'bot', password: 'pull-token', platform: 'linux/arm64', timeoutMs: 45_000 }
      ])
      expect(facts.imageId).toBe(IMAGE_ID)
      expect(facts.imageDigest).toBe(DIGEST)
      expect(facts.labels).toEqual(labels)
      expect(facts.imageRevision).toBe(labels[REV] ?? '')
      expect(facts.prodImageId).toBe('')
      expect(phaseNames(facts)).toEqual(['git', 'registry'])
      expect(facts.current).toBe('')
    }
  )

  test('verify mode without a host does not run anything locally but git', async () => {
    const w = world([ok(`${SHA_A}\n`)], [], [], { registry: fromRegistry({ [REV]: SHA_A }) })
    const decision = await runGate(registrySettings({ ssh: undefined }), w.deps, emptyFacts())
    expect(decision.verdict).toBe('match')
    expect(w.local.commands).toHaveLength(1)
    expect(w.local.closes).toBe(0)
  })

  test('the log names the tag, the digest, the platform manifest and the config', async () => {
    const w = world([ok(`${SHA_A}\n`)], [], [], { registry: fromRegistry({ [REV]: SHA_A }) })
    await runGate(registrySettings(), w.deps, emptyFacts())
    expect(w.infos).toContain(
      `registry: registry.example.com/shop:staging is ${DIGEST} (linux/arm64: manifest ${MANIFEST}, config ${IMAGE_ID})`
    )
    expect(w.infos).toContain(
      `image registry.example.com/shop:staging: id ${IMAGE_ID}, ${REV}="${SHA_A}"`
    )
  })

  test('rebuild: the hook over ssh without any inspect, then the registry read', async () => {
    const settings = registrySettings({ mode: 'rebuild' })
    const step = session({ hookOutput: 'built and pushed\n', hookExit: 0 })
    const w = world([ok(`${SHA_A}\n`)], [step], [], { registry: fromRegistry({ [REV]: SHA_A }) })
    const read = w.deps.readRegistry
    let sessionsBeforeRead = -1
    w.deps.readRegistry = async (reference, options) => {
      sessionsBeforeRead = w.ssh.commands.length
      return read(reference, options)
    }
    const facts = emptyFacts()
    const decision = await runGate(settings, w.deps, facts)

    expect(decision.verdict).toBe('match')
    // The registry is read after the hook pushed, not before.
    expect(sessionsBeforeRead).toBe(1)
    expect(w.openSsh).toHaveBeenCalledTimes(1)
    expect(w.ssh.commands).toEqual([planSession(settings, SHA_A, NONCE)])
    expect(w.ssh.commands[0]).toContain('--build-staging')
    expect(w.ssh.commands[0]).not.toContain('inspect')
    expect(w.ssh.closes).toBe(1)
    expect(w.registry.calls).toEqual(['registry.example.com/shop:staging'])
    expect(facts.imageId).toBe(IMAGE_ID)
    expect(facts.imageDigest).toBe(DIGEST)
  })

  test('rebuild: no inspect phase is recorded, because no inspect ran', async () => {
    const step = session({ hookExit: 0 })
    const w = world([ok(`${SHA_A}\n`)], [step], [], { registry: fromRegistry({ [REV]: SHA_A }) })
    const facts = emptyFacts()
    await runGate(registrySettings({ mode: 'rebuild' }), w.deps, facts)
    expect(phaseNames(facts)).toEqual(['git', 'connect', 'hook', 'registry'])
  })

  test('rebuild: a failed hook never reads the registry', async () => {
    const w = world([ok(`${SHA_A}\n`)], [session({ hookOutput: 'no\n', hookExit: 2 })], [], {
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
    const w = world([ok(`${SHA_A}\n`)], steps, [], { registry: thrown })
    const facts = emptyFacts()
    await expect(runGate(registrySettings({ mode }), w.deps, facts)).rejects.toBe(thrown)
    expect(w.registry.calls).toHaveLength(1)
    expect(facts.current).toBe('registry')
    expect(facts.expectedRevision).toBe(SHA_A)
    expect(facts.imageId).toBe('')
    expect(phaseNames(facts)).toContain('registry')
    expect(w.ssh.closes).toBe(mode === 'rebuild' ? 1 : 0)
  })

  test('an unexpected registry error keeps registry as the phase for main', async () => {
    const thrown = new TypeError('fetch failed')
    const w = world([ok(`${SHA_A}\n`)], [], [], { registry: thrown })
    const facts = emptyFacts()
    await expect(runGate(registrySettings(), w.deps, facts)).rejects.toBe(thrown)
    expect(facts.current).toBe('registry')
  })
})

describe('runGate promote mode', () => {
  const promoteSettings = (overrides: Partial<Settings> = {}): Settings =>
    sshSettings({
      mode: 'promote',
      hook: '',
      promote: { prodImage: PROD, expectedRevision: '', imageId: '' },
      ...overrides
    })
  const prodWhat = `docker image inspect ${PROD} on ${WHERE}`
  const tagWhat = `docker tag ${IMAGE_ID} ${PROD} on ${WHERE}`
  /** The promotion session: the tag, then the prod image read back. */
  const promoted = (spec: SessionSpec = {}): Step =>
    session({
      tagOutput: '',
      tagExit: 0,
      inspectOutput: answer({ [REV]: SHA_A }),
      inspectExit: 0,
      ...spec
    })

  test('happy path: verify, tag by id, read back; two sessions on one connection', async () => {
    const settings = promoteSettings()
    const w = world([ok(`${SHA_A}\n`)], [verified(SHA_A), promoted()])
    const facts = emptyFacts()
    const decision = await runGate(settings, w.deps, facts)

    expect(decision).toEqual({
      verdict: 'match',
      reason: `provenance match: 0123456789ab, promoted to ${PROD} as sha256:a3f1c2d4e5b6`,
      pass: true,
      failure: ''
    })
    expect(w.openSsh).toHaveBeenCalledTimes(1)
    expect(w.ssh.commands).toEqual([
      planSession(settings, SHA_A, NONCE),
      planPromoteSession(settings, IMAGE_ID, NONCE)
    ])
    expect(w.ssh.commands[0]).not.toContain(' tag ')
    // Two bounded quick steps, each with the host's kill grace, plus the slack.
    expect(w.ssh.options[1]?.timeoutMs).toBe(2 * (45_000 + 10_000) + 15_000)
    expect(w.ssh.closes).toBe(1)
    expect(facts.imageId).toBe(IMAGE_ID)
    expect(facts.prodImageId).toBe(IMAGE_ID)
    expect(facts.expectedRevision).toBe(SHA_A)
    expect(facts.imageRevision).toBe(SHA_A)
    expect(phaseNames(facts)).toEqual(['git', 'connect', 'inspect', 'promote'])
    expect(w.infos).toContain(`promoting ${IMAGE_ID} to ${PROD} on ${WHERE}`)
    expect(w.local.commands).toHaveLength(1)
  })

  test('on this runner (no host) both sessions run locally, closed once', async () => {
    const settings = promoteSettings({ ssh: undefined })
    const w = world([ok(`${SHA_A}\n`), verified(SHA_A), promoted()], [])
    const decision = await runGate(settings, w.deps, emptyFacts())
    expect(decision.pass).toBe(true)
    expect(w.local.commands.slice(1)).toEqual([
      planSession(settings, SHA_A, NONCE),
      planPromoteSession(settings, IMAGE_ID, NONCE)
    ])
    expect(w.local.closes).toBe(1)
  })

  test.each<[string, Step, FailureClass]>([
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
    const w = world([ok(`${SHA_A}\n`)], [step])
    const facts = emptyFacts()
    const decision = await runGate(promoteSettings(), w.deps, facts)
    expect(decision.pass).toBe(false)
    expect(decision.failure).toBe(failure)
    expect(decision.reason).not.toContain('promoted')
    expect(w.ssh.commands).toHaveLength(1)
    expect(w.ssh.commands[0]).not.toContain(' tag ')
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
    expect(w.local.commands).toEqual([])
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
    expect(w.local.commands).toEqual([])
    expect(w.ssh.commands).toHaveLength(1)
  })

  test('the prod image read back with another id: mismatch, the id is reported', async () => {
    const w = world(
      [ok(`${SHA_A}\n`)],
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
      [ok(`${SHA_A}\n`)],
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

  test.each<[string, Step, FailureClass, string | string[]]>([
    [
      'the tag fails',
      promoted({
        tagOutput: 'Error response from daemon: permission denied',
        tagExit: 1,
        inspectOutput: undefined,
        inspectExit: undefined
      }),
      'inspect-failed',
      `${tagWhat} failed (exit code 1): Error response from daemon: permission denied`
    ],
    [
      'the tag is stopped by the host after inspect-timeout',
      {
        ...promoted({
          tagOutput: '',
          tagExit: 124,
          inspectOutput: undefined,
          inspectExit: undefined
        }),
        emit: [{ stream: 'stdout', text: `\n${MARK} tag-exit 124\n`, ms: 45_000 }]
      },
      'timeout',
      `${tagWhat} timed out after 45 s (inspect-timeout); the host stopped it`
    ],
    [
      'the connection is lost during the tag',
      promoted({
        tagOutput: undefined,
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
        inspectOutput: 'Error: No such image: registry.example.com/shop:prod',
        inspectExit: 1
      }),
      'inspect-failed',
      `${prodWhat} failed (exit code 1): the image ${PROD} does not exist on the host. Error: No such image: registry.example.com/shop:prod`
    ],
    [
      'the prod image read back answers garbage',
      promoted({ inspectOutput: 'WARNING: odd', inspectExit: 0 }),
      'inspect-failed',
      `${prodWhat} answered "WARNING: odd", not "<image id> <labels>"`
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
      'ssh cannot be started for the second session',
      { result: spawnFailed('spawn ssh EAGAIN') },
      'transport',
      `cannot run commands on ${WHERE}: spawn ssh EAGAIN`
    ]
  ])('%s: throws, after a verified staging image', async (_name, step, failure, message) => {
    const w = world([ok(`${SHA_A}\n`)], [verified(SHA_A), step])
    const facts = emptyFacts()
    const error = await rejection(runGate(promoteSettings(), w.deps, facts))
    expect(error.failure).toBe(failure)
    if (typeof message === 'string') expect(error.message).toBe(message)
    else for (const part of message) expect(error.message).toContain(part)
    expect(error.retryable).toBe(false)
    expect(w.ssh.commands).toHaveLength(2)
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
      const w = world([ok(`${SHA_A}\n`)], [verified(SHA_A), promoted()])
      const facts = emptyFacts()
      const decision = await runGate(settings, w.deps, facts)
      expect(decision).toEqual({
        verdict: 'match',
        reason: `provenance match: 0123456789ab, promoted to ${PROD} as sha256:a3f1c2d4e5b6`,
        pass: true,
        failure: ''
      })
      expect(w.ssh.commands).toEqual([
        planSession(settings, SHA_A, NONCE),
        planPromoteSession(settings, IMAGE_ID, NONCE)
      ])
      expect(w.ssh.commands[0]).toContain(` image inspect --format `)
      expect(w.ssh.commands[0]).toContain(`'${IMAGE_ID}'`)
      expect(w.ssh.commands[0]).not.toContain('shop:staging')
      expect(w.ssh.commands[1]).toContain(`tag '${IMAGE_ID}' '${PROD}'`)
      expect(facts.imageId).toBe(IMAGE_ID)
      expect(facts.prodImageId).toBe(IMAGE_ID)
    })

    test('with expected-revision too: no git at all, the id and the revision both bind', async () => {
      const settings = withImageId(IMAGE_ID, SHA_B)
      const w = world([], [verified(SHA_B), promoted({ inspectOutput: answer({ [REV]: SHA_B }) })])
      const facts = emptyFacts()
      expect((await runGate(settings, w.deps, facts)).verdict).toBe('match')
      expect(w.local.commands).toEqual([])
      expect(w.ssh.commands[0]).toContain(`'${IMAGE_ID}'`)
      expect(facts.prodImageId).toBe(IMAGE_ID)
    })

    test('the image carries another revision: mismatch, nothing tagged', async () => {
      const w = world([ok(`${SHA_A}\n`)], [verified(SHA_B)])
      const facts = emptyFacts()
      const decision = await runGate(withImageId(), w.deps, facts)
      expect(decision.failure).toBe('mismatch')
      expect(w.ssh.commands).toHaveLength(1)
      expect(facts.prodImageId).toBe('')
    })

    test('the image is gone from the host: inspect-failed naming the id, nothing tagged', async () => {
      const step = session({
        inspectOutput: `Error response from daemon: No such image: ${IMAGE_ID}`,
        inspectExit: 1
      })
      const w = world([ok(`${SHA_A}\n`)], [step])
      const error = await rejection(runGate(withImageId(), w.deps, emptyFacts()))
      expect(error.failure).toBe('inspect-failed')
      expect(error.message).toBe(
        `${imageWhat} failed (exit code 1): the image ${IMAGE_ID} does not exist on the host. Error response from daemon: No such image: ${IMAGE_ID}`
      )
      expect(w.ssh.commands).toHaveLength(1)
    })
  })

  test('a tag that fails because the verified id is gone does not blame the prod tag', async () => {
    const step = promoted({
      tagOutput: `Error response from daemon: No such image: ${IMAGE_ID}`,
      tagExit: 1,
      inspectOutput: undefined,
      inspectExit: undefined
    })
    const w = world([ok(`${SHA_A}\n`)], [verified(SHA_A), step])
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
  const catFile = `git -C '/home/runner/work/shop/shop' cat-file -p HEAD`
  const pr = (eventName = 'pull_request'): EventContext => ({
    eventName,
    sha: SHA_A,
    prHeadSha: SHA_B
  })

  test('a pull request whose HEAD is the merge commit: one warning, and the gate still decides', async () => {
    const w = world([ok(`${SHA_A}\n`), ok(MERGE_PARENTS)], [verified(SHA_A)], [], { event: pr() })
    const facts = emptyFacts()
    const decision = await runGate(sshSettings({ mode: 'verify' }), w.deps, facts)
    expect(decision.verdict).toBe('match')
    expect(w.local.commands).toEqual([
      `git -C '/home/runner/work/shop/shop' rev-parse HEAD`,
      catFile
    ])
    expect(w.local.options[1]?.timeoutMs).toBe(30_000)
    expect(w.warnings).toEqual([
      `HEAD 0123456789ab is the merge commit GitHub made for this pull request, not its head fedcba987654. The gate requires the image to be built from HEAD (what this run tested); a hook that builds the PR head will be reported as a mismatch. Build from GIT_SHA, or check out the head (actions/checkout with ref: \${{ github.event.pull_request.head.sha }}).`
    ])
    expect(w.infos).toContain(
      `event pull_request: GITHUB_SHA ${SHA_A}, pull request head ${SHA_B}, HEAD ${SHA_A}`
    )
    // The warning is a log line only: it goes to log.warning, never to info.
    expect(w.infos.filter(line => line.includes('merge commit'))).toEqual([])
  })

  test.each<[string, EventContext, (Step | ProcessResult)[], string[]]>([
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
  ])('%s: no warning', async (_name, event, extraGit, extraCommands) => {
    const w = world([ok(`${SHA_A}\n`), ...extraGit], [verified(SHA_A)], [], { event })
    const decision = await runGate(sshSettings({ mode: 'verify' }), w.deps, emptyFacts())
    expect(decision.verdict).toBe('match')
    expect(w.warnings).toEqual([])
    expect(w.local.commands.slice(1)).toEqual(extraCommands)
  })

  test('the origin line is logged for every event, after the validated revision', async () => {
    const w = world([ok(`${SHA_A}\n`)], [verified(SHA_A)])
    await runGate(sshSettings({ mode: 'verify' }), w.deps, emptyFacts())
    const validated = w.infos.indexOf(
      `validated revision: ${SHA_A} (HEAD of /home/runner/work/shop/shop)`
    )
    expect(validated).toBeGreaterThanOrEqual(0)
    expect(w.infos[validated + 1]).toBe(
      `event push: GITHUB_SHA ${SHA_A}, pull request head (none), HEAD ${SHA_A}`
    )
  })

  test('the validated revision is in the facts before anything is logged about it', async () => {
    const w = world([ok(`${SHA_A}\n`)], [verified(SHA_A)])
    const facts = emptyFacts()
    w.deps.log.info = message => {
      if (message.startsWith('validated revision')) throw new Error('log broke')
    }
    await expect(runGate(sshSettings(), w.deps, facts)).rejects.toThrow('log broke')
    expect(facts.current).toBe('git')
    expect(facts.expectedRevision).toBe(SHA_A)
  })
})
