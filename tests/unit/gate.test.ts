import { describe, expect, jest, test } from '@jest/globals'
import { GateError, type FailureClass } from '../../src/errors.js'
import {
  emptyFacts,
  resolveRevision,
  runGate,
  type Facts,
  type GateDeps,
  type GateLog,
  type PhaseTiming
} from '../../src/gate.js'
import type { ProcessResult } from '../../src/process.js'
import { planInspectCommand } from '../../src/remote-command.js'
import type { Runner, RunOptions } from '../../src/runner.js'
import type { Settings, SshTarget } from '../../src/settings.js'
import { IMAGE_HEX, makeSettings, SHA_A, SHA_B, sshTarget } from './fixtures.js'

const IMAGE_ID = `sha256:${IMAGE_HEX}`

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

/** A runner that answers from a script, in order, and records what it was asked. */
class FakeRunner implements Runner {
  readonly commands: string[] = []
  readonly options: RunOptions[] = []
  closes = 0

  private readonly script: ProcessResult[]

  constructor(
    readonly where: string,
    script: ProcessResult[]
  ) {
    this.script = [...script]
  }

  async run(command: string, options: RunOptions): Promise<ProcessResult> {
    this.commands.push(command)
    this.options.push(options)
    const next = this.script.shift()
    if (!next) throw new Error(`unscripted command on ${this.where}: ${command}`)
    return next
  }

  async close(): Promise<void> {
    this.closes += 1
  }
}

interface World {
  deps: GateDeps
  local: FakeRunner
  ssh: FakeRunner
  openSsh: jest.Mock<(target: SshTarget) => Promise<Runner>>
  infos: string[]
  raw: { opened: string[]; closed: number; writer: (chunk: Buffer) => void }
}

/** Fake seams: git on `local`, everything else on `ssh`; the clock ticks 10 ms per reading. */
function world(localScript: ProcessResult[], sshScript: ProcessResult[], openError?: Error): World {
  const local = new FakeRunner('local', localScript)
  const ssh = new FakeRunner('deploy@staging.example.com:22', sshScript)
  const infos: string[] = []
  const writer = (): void => undefined
  const raw = { opened: [] as string[], closed: 0, writer }
  const log: GateLog = {
    info: message => {
      infos.push(message)
    },
    openRaw: title => {
      raw.opened.push(title)
      return writer
    },
    closeRaw: () => {
      raw.closed += 1
    }
  }
  const openSsh = jest.fn(async (_target: SshTarget): Promise<Runner> => {
    if (openError) throw openError
    return ssh
  })
  let clock = 1_000
  const now = (): number => {
    clock += 10
    return clock
  }
  return { deps: { local, openSsh, log, now }, local, ssh, openSsh, infos, raw }
}

const sshSettings = (overrides: Partial<Settings> = {}): Settings =>
  makeSettings({ ssh: sshTarget(), ...overrides })

const inspectOk = (label: string): ProcessResult => ok(`${IMAGE_ID} ${label}\n`)

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
    [string, Settings['mode'], ProcessResult[], string, string, FailureClass | '', boolean]
  >([
    ['label equal → match', 'rebuild', [ok('done\n'), inspectOk(SHA_A)], SHA_A, 'match', '', true],
    [
      'label different → mismatch',
      'rebuild',
      [ok(''), inspectOk(SHA_B)],
      SHA_B,
      'mismatch',
      'mismatch',
      false
    ],
    [
      'empty label → missing-label',
      'rebuild',
      [ok(''), ok(`${IMAGE_ID} \n`)],
      '',
      'fail-closed',
      'missing-label',
      false
    ],
    [
      '<no value> label → missing-label',
      'rebuild',
      [ok(''), ok(`${IMAGE_ID} <no value>\n`)],
      '',
      'fail-closed',
      'missing-label',
      false
    ],
    ['verify mode, label equal → match', 'verify', [inspectOk(SHA_A)], SHA_A, 'match', '', true],
    [
      'verify mode, label different → mismatch',
      'verify',
      [inspectOk(SHA_B)],
      SHA_B,
      'mismatch',
      'mismatch',
      false
    ]
  ])('%s', async (_name, mode, sshScript, imageRevision, verdict, failure, pass) => {
    const w = world([ok(`${SHA_A}\n`)], sshScript)
    const facts = emptyFacts()
    const decision = await runGate(sshSettings({ mode }), w.deps, facts)

    expect(decision.verdict).toBe(verdict)
    expect(decision.failure).toBe(failure)
    expect(decision.pass).toBe(pass)
    expect(facts.expectedRevision).toBe(SHA_A)
    expect(facts.imageRevision).toBe(imageRevision)
    expect(facts.imageId).toBe(IMAGE_ID)
    expect(w.ssh.closes).toBe(1)
    expect(w.openSsh).toHaveBeenCalledTimes(1)
    expect(w.local.commands).toHaveLength(1)
    expect(w.ssh.commands).toHaveLength(mode === 'rebuild' ? 2 : 1)
  })

  test('match reason names the short revision', async () => {
    const w = world([ok(`${SHA_A}\n`)], [ok(''), inspectOk(SHA_A)])
    const decision = await runGate(sshSettings(), w.deps, emptyFacts())
    expect(decision).toEqual({
      verdict: 'match',
      reason: 'provenance match: 0123456789ab',
      pass: true,
      failure: ''
    })
  })

  test('mismatch reason names both short revisions', async () => {
    const w = world([ok(`${SHA_A}\n`)], [ok(''), inspectOk(SHA_B)])
    const decision = await runGate(sshSettings(), w.deps, emptyFacts())
    expect(decision.reason).toBe('provenance mismatch: image fedcba987654 != expected 0123456789ab')
  })

  test('a podman id without prefix is recorded with it', async () => {
    const w = world([ok(`${SHA_A}\n`)], [ok(''), ok(`${IMAGE_HEX} ${SHA_A}\n`)])
    const facts = emptyFacts()
    await runGate(sshSettings(), w.deps, facts)
    expect(facts.imageId).toBe(IMAGE_ID)
  })
})

describe('runGate commands', () => {
  test('rebuild over ssh: git locally, then hook and inspect on the host, with their bounds', async () => {
    const target = sshTarget({ port: 2222 })
    const settings = sshSettings({ checkoutPath: "/home/runner/work/it's here", ssh: target })
    const w = world([ok(`${SHA_A}\n`)], [ok('built\n'), inspectOk(SHA_A)])
    await runGate(settings, w.deps, emptyFacts())

    expect(w.openSsh).toHaveBeenCalledWith(target)
    expect(w.local.commands).toEqual([`git -C '/home/runner/work/it'\\''s here' rev-parse HEAD`])
    expect(w.local.options[0]?.timeoutMs).toBe(30_000)

    const [hook, inspect] = w.ssh.commands
    expect(hook).toMatch(/^cd '\/srv\/shop' && GIT_SHA='0123456789abcdef0123456789abcdef01234567' /)
    expect(hook).toMatch(/ bash -- '\/srv\/shop\/hook\.sh' --build-staging$/)
    expect(w.ssh.options[0]?.timeoutMs).toBe(1_200_000)
    expect(w.ssh.options[0]?.onOutput).toBe(w.raw.writer)
    expect(w.raw.opened).toEqual(['hook output (/srv/shop/hook.sh --build-staging)'])
    expect(w.raw.closed).toBe(1)

    expect(inspect).toBe(planInspectCommand(settings))
    expect(inspect).toMatch(
      /^'docker' image inspect --format '.*' 'registry\.example\.com\/shop:staging'$/
    )
    expect(w.ssh.options[1]?.timeoutMs).toBe(45_000)
    expect(w.ssh.options[1]?.onOutput).toBeUndefined()
    expect(w.local.closes).toBe(0)
  })

  test('verify mode runs no hook', async () => {
    const w = world([ok(`${SHA_A}\n`)], [inspectOk(SHA_A)])
    const facts = emptyFacts()
    await runGate(sshSettings({ mode: 'verify' }), w.deps, facts)
    expect(w.ssh.commands).toHaveLength(1)
    expect(w.ssh.commands[0]).toMatch(/^'docker' image inspect /)
    expect(w.ssh.commands.some(c => c.includes('--build-staging'))).toBe(false)
    expect(w.raw.opened).toEqual([])
    expect(phaseNames(facts)).toEqual(['git', 'connect', 'inspect'])
  })

  test('without a host everything runs on the local runner, which is closed once', async () => {
    const w = world([ok(`${SHA_A}\n`), ok(''), inspectOk(SHA_A)], [])
    const facts = emptyFacts()
    const decision = await runGate(makeSettings(), w.deps, facts)
    expect(decision.verdict).toBe('match')
    expect(w.openSsh).not.toHaveBeenCalled()
    expect(w.local.commands).toHaveLength(3)
    expect(w.local.commands[1]).toContain('--build-staging')
    expect(w.local.commands[2]).toMatch(/^'docker' image inspect /)
    expect(w.local.closes).toBe(1)
    expect(phaseNames(facts)).toEqual(['git', 'hook', 'inspect'])
  })

  test('phases are recorded in order with their durations', async () => {
    const w = world([ok(`${SHA_A}\n`)], [ok(''), inspectOk(SHA_A)])
    const facts = emptyFacts()
    await runGate(sshSettings(), w.deps, facts)
    expect(facts.phases).toEqual([
      { name: 'git', ms: 10 },
      { name: 'connect', ms: 10 },
      { name: 'hook', ms: 10 },
      { name: 'inspect', ms: 10 }
    ])
  })

  test('the log names the validated revision and what the inspect found', async () => {
    const w = world([ok(`${SHA_A}\n`)], [ok(''), ok(`${IMAGE_ID} \n`)])
    await runGate(sshSettings(), w.deps, emptyFacts())
    expect(w.infos).toContain(`validated revision: ${SHA_A} (HEAD of /home/runner/work/shop/shop)`)
    expect(w.infos).toContain(
      `image registry.example.com/shop:staging: id ${IMAGE_ID}, org.opencontainers.image.revision=(none)`
    )
  })
})

describe('runGate failures', () => {
  interface Failure {
    name: string
    git: ProcessResult
    ssh: ProcessResult[]
    failure: FailureClass
    mentions: string[]
    /** Phases recorded before the throw. */
    phases: PhaseTiming['name'][]
  }

  const failures: Failure[] = [
    {
      name: 'hook exits 3',
      git: ok(`${SHA_A}\n`),
      ssh: [exit(3, 'step 1\nstep 2\nERROR: compose build failed\n')],
      failure: 'hook-failed',
      mentions: [
        'hook failed (exit code 3) on deploy@staging.example.com:22',
        'step 1 ⏎ step 2 ⏎ ERROR: compose build failed'
      ],
      phases: ['git', 'connect', 'hook']
    },
    {
      name: 'hook killed by a signal without output',
      git: ok(`${SHA_A}\n`),
      ssh: [exit(null, '')],
      failure: 'hook-failed',
      mentions: ['hook failed (killed by a signal)', 'no output'],
      phases: ['git', 'connect', 'hook']
    },
    {
      name: 'hook times out',
      git: ok(`${SHA_A}\n`),
      ssh: [timedOut('still building')],
      failure: 'timeout',
      mentions: ['hook timed out after 1200 s (rebuild-timeout)', 'deploy@staging.example.com:22'],
      phases: ['git', 'connect', 'hook']
    },
    {
      name: 'hook cannot start',
      git: ok(`${SHA_A}\n`),
      ssh: [spawnFailed('spawn ssh ENOENT')],
      failure: 'transport',
      mentions: ['cannot start the hook', 'spawn ssh ENOENT'],
      phases: ['git', 'connect', 'hook']
    },
    {
      name: 'inspect exits non-zero',
      git: ok(`${SHA_A}\n`),
      ssh: [ok(''), exit(1, 'Error: No such image: registry.example.com/shop:staging\n')],
      failure: 'inspect-failed',
      mentions: [
        'docker image inspect registry.example.com/shop:staging on deploy@staging.example.com:22 failed (exit code 1)',
        'Error: No such image'
      ],
      phases: ['git', 'connect', 'hook', 'inspect']
    },
    {
      name: 'inspect cannot start',
      git: ok(`${SHA_A}\n`),
      ssh: [ok(''), spawnFailed('spawn docker ENOENT')],
      failure: 'inspect-failed',
      mentions: ['spawn docker ENOENT'],
      phases: ['git', 'connect', 'hook', 'inspect']
    },
    {
      name: 'inspect prints garbage',
      git: ok(`${SHA_A}\n`),
      ssh: [ok(''), ok('WARNING: something odd\n')],
      failure: 'inspect-failed',
      mentions: ['answered "WARNING: something odd", not "<image id> <label>"'],
      phases: ['git', 'connect', 'hook', 'inspect']
    },
    {
      name: 'inspect times out',
      git: ok(`${SHA_A}\n`),
      ssh: [ok(''), timedOut()],
      failure: 'timeout',
      mentions: ['timed out after 45 s (inspect-timeout)'],
      phases: ['git', 'connect', 'hook', 'inspect']
    }
  ]

  test.each(failures.map(f => [f.name, f] as const))(
    '%s after connect: throws, closes the ssh runner once, keeps the facts',
    async (_name, f) => {
      const w = world([f.git], f.ssh)
      const facts = emptyFacts()
      const error = await rejection(runGate(sshSettings(), w.deps, facts))

      expect(error.failure).toBe(f.failure)
      for (const text of f.mentions) expect(error.message).toContain(text)
      expect(w.ssh.closes).toBe(1)
      expect(facts.expectedRevision).toBe(SHA_A)
      expect(facts.imageRevision).toBe('')
      expect(facts.imageId).toBe('')
      expect(phaseNames(facts)).toEqual(f.phases)
      // A failed hook closes its log group, and the inspect never runs after it.
      expect(w.raw.closed).toBe(1)
      expect(w.ssh.commands).toHaveLength(f.ssh.length)
    }
  )

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

  test.each<[string, Error]>([
    ['host-key', new GateError('host-key', 'host key verification failed for staging.example.com')],
    [
      'transport',
      new GateError('transport', 'ssh: connect to host staging.example.com port 22: refused')
    ]
  ])('openSsh throwing GateError(%s) propagates unchanged', async (failure, thrown) => {
    const w = world([ok(`${SHA_A}\n`)], [], thrown)
    const facts = emptyFacts()
    const error = await rejection(runGate(sshSettings(), w.deps, facts))

    expect(error).toBe(thrown)
    expect(error.failure).toBe(failure)
    expect(w.openSsh).toHaveBeenCalledTimes(1)
    expect(w.ssh.commands).toEqual([])
    expect(w.ssh.closes).toBe(0)
    expect(w.local.commands).toHaveLength(1)
    expect(facts.expectedRevision).toBe(SHA_A)
    expect(phaseNames(facts)).toEqual(['git', 'connect'])
  })

  test('verify mode with a failing inspect still closes the runner once', async () => {
    const w = world([ok(`${SHA_A}\n`)], [exit(125, 'permission denied')])
    const facts = emptyFacts()
    const error = await rejection(runGate(sshSettings({ mode: 'verify' }), w.deps, facts))
    expect(error.failure).toBe('inspect-failed')
    expect(w.ssh.closes).toBe(1)
    expect(phaseNames(facts)).toEqual(['git', 'connect', 'inspect'])
  })

  test('a local run closes the local runner once after a hook failure', async () => {
    const w = world([ok(`${SHA_A}\n`), exit(2, 'nope')], [])
    const error = await rejection(runGate(makeSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('hook-failed')
    expect(error.message).toContain('hook failed (exit code 2) on local: nope')
    expect(w.local.closes).toBe(1)
  })
})

describe('runGate when a program cannot be started at all', () => {
  // A ProcessResult with spawnError has exitCode null because nothing ran, not because of a signal.
  test('git that cannot be spawned names the spawn error', async () => {
    const w = world([spawnFailed('spawn bash ENOENT')], [])
    const error = await rejection(runGate(sshSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('git-failed')
    expect(error.message).toContain('spawn bash ENOENT')
    expect(error.message).not.toContain('killed by a signal')
  })

  test('an inspect that cannot be spawned is not reported as killed by a signal', async () => {
    const w = world([ok(`${SHA_A}\n`)], [ok(''), spawnFailed('spawn ssh ENOENT')])
    const error = await rejection(runGate(sshSettings(), w.deps, emptyFacts()))
    expect(error.failure).toBe('inspect-failed')
    expect(error.message).toContain('spawn ssh ENOENT')
    expect(error.message).not.toContain('killed by a signal')
  })
})

describe('resolveRevision', () => {
  test('returns the trimmed revision and runs git with the git bound', async () => {
    const local = new FakeRunner('local', [ok(`  ${SHA_A}\r\n`)])
    const sha256 = `${SHA_A}${'0'.repeat(24)}`
    const local256 = new FakeRunner('local', [ok(`${sha256}\n`)])
    const settings = makeSettings({ timeouts: { gitMs: 7_000, inspectMs: 1, rebuildMs: 1 } })
    expect(await resolveRevision(local, settings)).toBe(SHA_A)
    expect(local.options[0]?.timeoutMs).toBe(7_000)
    expect(await resolveRevision(local256, settings)).toBe(sha256)
  })
})
