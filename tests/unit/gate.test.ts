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
import type { ProcessResult } from '../../src/process.js'
import { planHookCommand, planSession } from '../../src/remote-command.js'
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

  async close(): Promise<void> {
    this.closes += 1
  }
}

/** How a fake session goes: what the hook and the inspect print and report, and how it ends. */
interface SessionSpec {
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
  /** stderr after everything else, e.g. ssh's own message about a lost connection. */
  trailer?: string
  /** Exit status of the session process (ssh or bash); 0 unless said. */
  exitCode?: number | null
  timedOut?: boolean
}

/** A session as the planned script would print it, with marker lines in planSession's format. */
function session(spec: SessionSpec): Step {
  const emit: Emit[] = []
  if (spec.noTimeout) {
    emit.push({ stream: 'stdout', text: `${MARK} no-timeout\n` })
  } else {
    emit.push({ stream: 'stderr', text: spec.hookOutput ?? '', ms: spec.hookMs ?? 0 })
    if (spec.hookExit !== undefined) {
      emit.push({ stream: 'stdout', text: `${MARK} hook-exit ${spec.hookExit}\n` })
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
}

/**
 * Fake seams: git on `local`, the session on `ssh`. `openFailures` are thrown by the first calls
 * to openSsh, one each, before it succeeds.
 */
function world(
  localScript: (Step | ProcessResult)[],
  sshScript: (Step | ProcessResult)[],
  openFailures: Error[] = []
): World {
  const clock = new Clock()
  const local = new FakeRunner('local', localScript, clock)
  const ssh = new FakeRunner(WHERE, sshScript, clock)
  const infos: string[] = []
  const events: string[] = []
  const sleeps: number[] = []
  const raw = { opened: [] as string[], closed: 0, written: [] as string[] }
  const log: GateLog = {
    info: message => {
      infos.push(message)
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
    deps: { local, openSsh, log, now: clock.now, sleep, nonce: () => NONCE },
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
  const noTimeout = `${WHERE} has no \`timeout\` command (GNU coreutils or busybox); the gate needs it to bound the hook and the inspect on the host. Nothing was run`

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
      name: 'the connection was lost silently while the hook ran',
      step: session({ exitCode: 255 }),
      failure: 'transport',
      message: `ssh connection to ${WHERE} was lost while the hook was running (exit 255); not retried, because the hook had started. Its host-side bound stops it after 1200 s (rebuild-timeout)`,
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
