import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  jest,
  test
} from '@jest/globals'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { IMAGE_HEX, SHA_B } from './fixtures.js'

/**
 * main.ts is the one error boundary: these tests run it against a stand-in for the runner's
 * toolkit (the only module replaced) and real local processes: git in a temp repository and a
 * fake docker script, in verify mode on this machine (no host), so nothing needs a network.
 */
const recorded = {
  inputs: {} as Record<string, string>,
  outputs: {} as Record<string, string>,
  failed: [] as string[],
  infos: [] as string[],
  warnings: [] as string[],
  /** Called for every info line before it is recorded; a test may make it throw. */
  onInfo: (_message: string): void => undefined,
  /** When set, every getInput throws it. */
  inputError: undefined as Error | undefined
}

jest.unstable_mockModule('@actions/core', () => ({
  getInput: (name: string): string => {
    if (recorded.inputError) throw recorded.inputError
    return recorded.inputs[name] ?? ''
  },
  setSecret: (): void => undefined,
  saveState: (): void => undefined,
  getState: (): string => '',
  setOutput: (name: string, value: unknown): void => {
    recorded.outputs[name] = String(value)
  },
  info: (message: string): void => {
    recorded.onInfo(message)
    recorded.infos.push(message)
  },
  warning: (message: unknown): void => {
    recorded.warnings.push(String(message))
  },
  setFailed: (message: unknown): void => {
    recorded.failed.push(String(message))
  },
  startGroup: (): void => undefined,
  endGroup: (): void => undefined,
  summary: { addRaw: () => ({ write: async () => undefined }) }
}))

const { run } = await import('../../src/main.js')

const REV = 'org.opencontainers.image.revision'
let root: string
let checkout: string
let head: string
let docker: string
const savedEnv = { ...process.env }

beforeAll(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pg-main-')))
  checkout = path.join(root, 'checkout')
  fs.mkdirSync(checkout)
  const git = (...args: string[]): string => {
    const result = spawnSync('git', ['-C', checkout, ...args], { encoding: 'utf8' })
    expect(result.status).toBe(0)
    return result.stdout.trim()
  }
  git('init', '-q')
  git(
    '-c',
    'user.name=t',
    '-c',
    'user.email=t@example.com',
    'commit',
    '-q',
    '--allow-empty',
    '-m',
    'x'
  )
  head = git('rev-parse', 'HEAD')
  docker = path.join(root, 'docker')
})

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true })
})

beforeEach(() => {
  recorded.inputs = {}
  recorded.outputs = {}
  recorded.failed = []
  recorded.infos = []
  recorded.warnings = []
  recorded.onInfo = () => undefined
  recorded.inputError = undefined
  process.env.GITHUB_REPOSITORY = 'acme/shop'
  process.env.GITHUB_WORKSPACE = checkout
  process.env.RUNNER_TEMP = root
  delete process.env.GITHUB_STEP_SUMMARY
})

afterEach(() => {
  process.env = { ...savedEnv }
})

/** A fake docker that answers the planned inspect with this image's labels. */
function fakeDocker(labels: Record<string, string> | null): void {
  const answer = `${JSON.stringify(`sha256:${IMAGE_HEX}`)} ${JSON.stringify(labels)}`
  fs.writeFileSync(docker, `#!/bin/sh\nprintf '%s\\n' '${answer}'\n`, { mode: 0o755 })
}

/** Inputs of a local verify run against the fake docker. */
function verifyInputs(extra: Record<string, string> = {}): Record<string, string> {
  return { mode: 'verify', image: 'registry.example.com/shop:staging', docker, ...extra }
}

describe('run', () => {
  test('a matching image passes: outputs set, failure empty, the job not failed', async () => {
    fakeDocker({ [REV]: head })
    recorded.inputs = verifyInputs()
    await run()
    expect(recorded.outputs).toEqual({
      expected_revision: head,
      image_revision: head,
      image_id: `sha256:${IMAGE_HEX}`,
      verdict: 'match',
      reason: `provenance match: ${head.slice(0, 12)}`,
      failure: ''
    })
    expect(recorded.failed).toEqual([])
  })

  test('a mismatch fails the job with the reason, the class not repeated', async () => {
    fakeDocker({ [REV]: SHA_B })
    recorded.inputs = verifyInputs()
    await run()
    const reason = `provenance mismatch: image fedcba987654 != expected ${head.slice(0, 12)}`
    expect(recorded.outputs.verdict).toBe('mismatch')
    expect(recorded.outputs.failure).toBe('mismatch')
    expect(recorded.outputs.reason).toBe(reason)
    expect(recorded.failed).toEqual([reason])
  })

  test.each<[string, Record<string, string>, string, string]>([
    [
      'a missing image',
      { image: '' },
      'invalid-input',
      'provenance fail-closed: input image is required (the staging image reference)'
    ],
    [
      'a bad ssh-retries',
      { host: 'h', 'known-hosts': 'h ssh-ed25519 AAAA', 'ssh-retries': '11' },
      'invalid-input',
      'provenance fail-closed: input ssh-retries must be a whole number from 0 to 10, got "11"'
    ],
    [
      'a staging target equal to prod',
      { service: 'shop', 'prod-service': 'shop' },
      'prod-target',
      'provenance fail-closed: the staging target equals the prod target: service/staging-container "shop" is prod-service; the gate only ever rebuilds staging'
    ],
    [
      'a checkout that is not there',
      { path: 'missing' },
      'git-failed',
      'provenance fail-closed: git rev-parse HEAD in '
    ]
  ])('%s fails the job with the reason and [%s]', async (_name, extra, failure, reason) => {
    fakeDocker({ [REV]: head })
    recorded.inputs = verifyInputs(extra)
    await run()
    expect(recorded.outputs.verdict).toBe('fail-closed')
    expect(recorded.outputs.failure).toBe(failure)
    expect(recorded.outputs.reason?.startsWith(reason)).toBe(true)
    expect(recorded.failed).toEqual([`${recorded.outputs.reason} [${failure}]`])
  })

  test('docker missing on the host is inspect-failed, with the hint', async () => {
    recorded.inputs = verifyInputs({ docker: path.join(root, 'no-such-docker') })
    await run()
    expect(recorded.outputs.failure).toBe('inspect-failed')
    expect(recorded.outputs.reason).toContain("is not on the host's PATH")
    expect(recorded.failed).toEqual([`${recorded.outputs.reason} [inspect-failed]`])
  })

  test('disabled passes without reading anything else; failure is empty', async () => {
    recorded.inputs = { enabled: 'false' }
    await run()
    expect(recorded.outputs).toEqual({
      expected_revision: '',
      image_revision: '',
      image_id: '',
      verdict: 'disabled',
      reason: 'provenance gate disabled (enabled: false)',
      failure: ''
    })
    expect(recorded.failed).toEqual([])
  })
})

describe('run classifies an unexpected error by the phase that was running', () => {
  test('before any phase: invalid-input', async () => {
    recorded.inputError = new Error('runner broke')
    await run()
    expect(recorded.outputs.verdict).toBe('fail-closed')
    expect(recorded.outputs.failure).toBe('invalid-input')
    expect(recorded.outputs.reason).toBe('provenance fail-closed: unexpected error: runner broke')
    expect(recorded.failed).toEqual([
      'provenance fail-closed: unexpected error: runner broke [invalid-input]'
    ])
  })

  test('during the inspect: inspect-failed, and what was known is still reported', async () => {
    fakeDocker({ [REV]: head })
    recorded.inputs = verifyInputs()
    recorded.onInfo = message => {
      if (message.startsWith('image ')) throw new TypeError('log broke')
    }
    await run()
    expect(recorded.outputs.failure).toBe('inspect-failed')
    expect(recorded.outputs.reason).toBe('provenance fail-closed: unexpected error: log broke')
    expect(recorded.outputs.expected_revision).toBe(head)
    expect(recorded.outputs.image_id).toBe(`sha256:${IMAGE_HEX}`)
    expect(recorded.failed).toEqual([
      'provenance fail-closed: unexpected error: log broke [inspect-failed]'
    ])
  })

  test('during git: git-failed', async () => {
    fakeDocker({ [REV]: head })
    recorded.inputs = verifyInputs()
    recorded.onInfo = message => {
      if (message.startsWith('validated revision')) throw new Error('log broke')
    }
    await run()
    // The revision was validated, but the phase had not been left yet.
    expect(recorded.outputs.expected_revision).toBe(head)
    expect(recorded.outputs.failure).toBe('git-failed')
  })
})
