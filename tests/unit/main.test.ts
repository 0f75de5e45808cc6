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
  secrets: [] as string[],
  /** Called for every info line before it is recorded; a test may make it throw. */
  onInfo: (_message: string): void => undefined,
  /** When set, every getInput throws it. */
  inputError: undefined as Error | undefined
}

jest.unstable_mockModule('../../src/actions-core.js', () => ({
  getInput: (name: string): string => {
    if (recorded.inputError) throw recorded.inputError
    return recorded.inputs[name] ?? ''
  },
  setSecret: (secret: string): void => {
    recorded.secrets.push(secret)
  },
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
/** A second checkout whose HEAD merges a branch, as GitHub's pull request merge commit does. */
let merged: { checkout: string; head: string; branchHead: string }
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

  const mergedCheckout = path.join(root, 'merged')
  fs.mkdirSync(mergedCheckout)
  const mgit = (...args: string[]): string => {
    const result = spawnSync(
      'git',
      ['-C', mergedCheckout, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args],
      { encoding: 'utf8' }
    )
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
    return result.stdout.trim()
  }
  mgit('init', '-q', '-b', 'main')
  mgit('commit', '-q', '--allow-empty', '-m', 'base')
  mgit('checkout', '-q', '-b', 'fix')
  mgit('commit', '-q', '--allow-empty', '-m', 'fix')
  const branchHead = mgit('rev-parse', 'HEAD')
  mgit('checkout', '-q', 'main')
  mgit('commit', '-q', '--allow-empty', '-m', 'main moved on')
  mgit('merge', '-q', '--no-ff', '-m', 'Merge fix into main', 'fix')
  merged = { checkout: mergedCheckout, head: mgit('rev-parse', 'HEAD'), branchHead }
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
  recorded.secrets = []
  recorded.onInfo = () => undefined
  recorded.inputError = undefined
  process.env.GITHUB_REPOSITORY = 'acme/shop'
  process.env.GITHUB_WORKSPACE = checkout
  process.env.RUNNER_TEMP = root
  for (const name of [
    'GITHUB_STEP_SUMMARY',
    'GITHUB_EVENT_NAME',
    'GITHUB_EVENT_PATH',
    'GITHUB_SHA',
    'GITHUB_SERVER_URL'
  ]) {
    delete process.env[name]
  }
})

afterEach(() => {
  process.env = { ...savedEnv }
})

/** A staging container as the fake docker reports it. */
interface FakeContainer {
  name: string
  image: string
  running: boolean
}

const RUNNING_FRESH: FakeContainer[] = [
  { name: '/staging', image: `sha256:${IMAGE_HEX}`, running: true }
]

/**
 * A fake docker: `image inspect` (of any image) answers with this image's labels; `ps` prints
 * one id per container when `labelled` (compose's label found them), else nothing; `container
 * inspect` prints `<json name> <json image> <running>` per container (`missing`: no such
 * container); `tag` succeeds. Every call is appended to `<docker>.calls`.
 */
function fakeDocker(
  labels: Record<string, string> | null,
  containers: FakeContainer[] | 'missing' = RUNNING_FRESH,
  labelled = false
): void {
  const answer = `${JSON.stringify(`sha256:${IMAGE_HEX}`)} ${JSON.stringify(labels)}`
  const lines =
    containers === 'missing'
      ? []
      : containers.map(c => `${JSON.stringify(c.name)} ${JSON.stringify(c.image)} ${c.running}`)
  const inspect =
    containers === 'missing'
      ? `echo 'Error response from daemon: No such container: staging' >&2; exit 1`
      : lines.map(line => `printf '%s\\n' '${line}'`).join('; ')
  const ids =
    labelled && containers !== 'missing' ? containers.map((_c, i) => `${i}`.repeat(64)) : []
  fs.writeFileSync(
    docker,
    [
      '#!/bin/sh',
      `echo "$*" >> '${docker}.calls'`,
      'case "$1" in',
      `  image) printf '%s\\n' '${answer}' ;;`,
      `  ps) ${ids.length ? `printf '%s\\n' ${ids.join(' ')}` : ':'} ;;`,
      `  container) ${inspect} ;;`,
      '  tag) exit 0 ;;',
      `  *) echo "unexpected docker $*" >&2; exit 2 ;;`,
      'esac',
      ''
    ].join('\n'),
    { mode: 0o755 }
  )
  fs.writeFileSync(`${docker}.calls`, '')
}

/** Every docker call of the run, whole. */
function dockerLines(): string[] {
  return fs.readFileSync(`${docker}.calls`, 'utf8').split('\n').filter(Boolean)
}

/** The docker subcommands the run called, in order. */
function dockerCalls(): string[] {
  return fs
    .readFileSync(`${docker}.calls`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(line => line.split(' ').slice(0, 2).join(' '))
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
      image_digest: '',
      prod_image_id: '',
      verdict: 'match',
      reason: `provenance match: ${head.slice(0, 12)}`,
      failure: ''
    })
    expect(recorded.failed).toEqual([])
    // check-container auto without staging-container: the image, then compose's containers of
    // the service by label (none here), then the service name as is.
    expect(dockerCalls()).toEqual(['image inspect', 'ps -aq', 'container inspect'])
    expect(dockerLines().slice(1)).toEqual([
      'ps -aq --no-trunc --filter label=com.docker.compose.service=staging',
      'container inspect --format {{json .Name}} {{json .Image}} {{json .State.Running}} -- staging'
    ])
  })

  test.each<[string, FakeContainer[] | 'missing', Record<string, string>, string, string]>([
    [
      'a staging container running another image',
      [{ name: '/staging', image: `sha256:${'b'.repeat(64)}`, running: true }],
      {},
      'stale-container',
      'provenance fail-closed: the staging container staging runs image sha256:bbbbbbbbbbbb, not the verified sha256:a3f1c2d4e5b6: it was not recreated after the rebuild'
    ],
    [
      'no staging container with check-container true',
      'missing',
      { 'check-container': 'true' },
      'stale-container',
      'provenance fail-closed: the staging container staging does not exist on the host (check-container true)'
    ],
    [
      'a stopped staging container with check-container true',
      [{ name: '/staging', image: `sha256:${IMAGE_HEX}`, running: false }],
      { 'check-container': 'true' },
      'stale-container',
      'provenance fail-closed: the staging container staging exists but is not running (check-container true)'
    ],
    [
      'no source label with require-source true',
      RUNNING_FRESH,
      { 'require-source': 'true' },
      'wrong-source',
      'provenance fail-closed: the image has no org.opencontainers.image.source label and require-source is true'
    ]
  ])('%s fails with its class', async (_name, container, extra, failure, reason) => {
    fakeDocker({ [REV]: head }, container)
    recorded.inputs = verifyInputs(extra)
    await run()
    expect(recorded.outputs.verdict).toBe('fail-closed')
    expect(recorded.outputs.failure).toBe(failure)
    expect(recorded.outputs.reason).toBe(reason)
    expect(recorded.outputs.image_id).toBe(`sha256:${IMAGE_HEX}`)
    expect(recorded.failed).toEqual([`${reason} [${failure}]`])
  })

  test('a missing staging container passes with check-container auto, and says so', async () => {
    fakeDocker({ [REV]: head }, 'missing')
    recorded.inputs = verifyInputs()
    await run()
    expect(recorded.outputs.verdict).toBe('match')
    expect(recorded.failed).toEqual([])
    expect(recorded.infos).toContain(
      'no container staging on the host: nothing runs, nothing to compare'
    )
  })

  test('a stopped staging container with another image passes with check-container auto', async () => {
    fakeDocker({ [REV]: head }, [
      { name: '/staging', image: `sha256:${'b'.repeat(64)}`, running: false }
    ])
    recorded.inputs = verifyInputs()
    await run()
    expect(recorded.outputs.verdict).toBe('match')
    expect(recorded.failed).toEqual([])
  })

  test.each<[string, FakeContainer[], string, string]>([
    [
      'a compose container found by its label runs the verified image',
      [{ name: '/proj-staging-1', image: `sha256:${IMAGE_HEX}`, running: true }],
      'match',
      ''
    ],
    [
      'a compose container found by its label runs another image',
      [
        { name: '/proj-staging-1', image: `sha256:${IMAGE_HEX}`, running: true },
        { name: '/proj-staging-2', image: `sha256:${'b'.repeat(64)}`, running: true }
      ],
      'fail-closed',
      'stale-container'
    ]
  ])('%s: inspected by the ids ps printed', async (_name, containers, verdict, failure) => {
    fakeDocker({ [REV]: head }, containers, true)
    recorded.inputs = verifyInputs()
    await run()
    expect(recorded.outputs.verdict).toBe(verdict)
    expect(recorded.outputs.failure).toBe(failure)
    if (failure) {
      expect(recorded.outputs.reason).toBe(
        'provenance fail-closed: the staging container proj-staging-2 runs image sha256:bbbbbbbbbbbb, not the verified sha256:a3f1c2d4e5b6: it was not recreated after the rebuild'
      )
    }
    const ids = containers.map((_c, i) => `${i}`.repeat(64)).join(' ')
    expect(dockerLines().slice(1)).toEqual([
      'ps -aq --no-trunc --filter label=com.docker.compose.service=staging',
      `container inspect --format {{json .Name}} {{json .Image}} {{json .State.Running}} -- ${ids}`
    ])
  })

  test('with staging-container, the container is inspected by that name and ps never runs', async () => {
    fakeDocker({ [REV]: head }, [
      { name: '/shop-blue', image: `sha256:${IMAGE_HEX}`, running: true }
    ])
    recorded.inputs = verifyInputs({ 'staging-container': 'shop-blue' })
    await run()
    expect(recorded.outputs.verdict).toBe('match')
    expect(dockerLines().slice(1)).toEqual([
      'container inspect --format {{json .Name}} {{json .Image}} {{json .State.Running}} -- shop-blue'
    ])
  })

  test('check-container false never looks at the container', async () => {
    fakeDocker({ [REV]: head }, 'missing')
    recorded.inputs = verifyInputs({ 'check-container': 'false' })
    await run()
    expect(recorded.outputs.verdict).toBe('match')
    expect(dockerCalls()).toEqual(['image inspect'])
  })

  test('the source label is checked against GITHUB_SERVER_URL/GITHUB_REPOSITORY', async () => {
    process.env.GITHUB_SERVER_URL = 'https://ghe.example.com'
    fakeDocker({ [REV]: head, 'org.opencontainers.image.source': 'https://github.com/acme/shop' })
    recorded.inputs = verifyInputs()
    await run()
    expect(recorded.outputs.failure).toBe('wrong-source')
    expect(recorded.outputs.reason).toBe(
      'provenance fail-closed: the image was built from "https://github.com/acme/shop", not from https://ghe.example.com/acme/shop'
    )
  })

  test('promote mode tags by id and reports the prod image id', async () => {
    fakeDocker({ [REV]: head })
    recorded.inputs = {
      mode: 'promote',
      image: 'registry.example.com/shop:staging',
      'prod-image': 'registry.example.com/shop:prod',
      docker
    }
    await run()
    expect(recorded.outputs).toEqual({
      expected_revision: head,
      image_revision: head,
      image_id: `sha256:${IMAGE_HEX}`,
      image_digest: '',
      prod_image_id: `sha256:${IMAGE_HEX}`,
      verdict: 'match',
      reason: `provenance match: ${head.slice(0, 12)}, promoted to registry.example.com/shop:prod as sha256:a3f1c2d4e5b6`,
      failure: ''
    })
    expect(recorded.failed).toEqual([])
    expect(fs.readFileSync(`${docker}.calls`, 'utf8').split('\n').filter(Boolean)).toEqual([
      `image inspect --format {{json .Id}} {{with .Config}}{{json .Labels}}{{else}}null{{end}} registry.example.com/shop:staging`,
      `tag sha256:${IMAGE_HEX} registry.example.com/shop:prod`,
      `image inspect --format {{json .Id}} {{with .Config}}{{json .Labels}}{{else}}null{{end}} registry.example.com/shop:prod`
    ])
  })

  test('promote mode with image-id reads and tags that image, never the staging tag', async () => {
    fakeDocker({ [REV]: head })
    recorded.inputs = {
      mode: 'promote',
      image: 'registry.example.com/shop:staging',
      'prod-image': 'registry.example.com/shop:prod',
      'image-id': `sha256:${IMAGE_HEX}`,
      docker
    }
    await run()
    expect(recorded.outputs.verdict).toBe('match')
    expect(recorded.outputs.prod_image_id).toBe(`sha256:${IMAGE_HEX}`)
    expect(recorded.failed).toEqual([])
    expect(dockerLines()).toEqual([
      `image inspect --format {{json .Id}} {{with .Config}}{{json .Labels}}{{else}}null{{end}} sha256:${IMAGE_HEX}`,
      `tag sha256:${IMAGE_HEX} registry.example.com/shop:prod`,
      `image inspect --format {{json .Id}} {{with .Config}}{{json .Labels}}{{else}}null{{end}} registry.example.com/shop:prod`
    ])
  })

  test('the registry password is masked the moment it is read', async () => {
    fakeDocker({ [REV]: head })
    recorded.inputs = verifyInputs({
      'registry-username': 'bot',
      'registry-password': 'first-line\n  second-line  '
    })
    await run()
    expect(recorded.secrets).toEqual(['first-line', 'second-line'])
  })

  test('a pull request whose HEAD is a merge commit gets a warning, and the gate still runs', async () => {
    const payload = path.join(root, 'event.json')
    fs.writeFileSync(
      payload,
      JSON.stringify({ pull_request: { head: { sha: merged.branchHead } } })
    )
    process.env.GITHUB_EVENT_NAME = 'pull_request'
    process.env.GITHUB_EVENT_PATH = payload
    process.env.GITHUB_SHA = merged.head
    fakeDocker({ [REV]: merged.head })
    recorded.inputs = verifyInputs({ path: merged.checkout })
    await run()
    expect(recorded.outputs.verdict).toBe('match')
    expect(recorded.infos).toContain(
      `event pull_request: GITHUB_SHA ${merged.head}, pull request head ${merged.branchHead}, HEAD ${merged.head}`
    )
    expect(recorded.warnings).toHaveLength(1)
    expect(recorded.warnings[0]).toContain(
      `HEAD ${merged.head.slice(0, 12)} is the merge commit GitHub made for this pull request, not its head ${merged.branchHead.slice(0, 12)}`
    )
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
      'an image-id outside promote mode',
      { 'image-id': `sha256:${IMAGE_HEX}` },
      'invalid-input',
      'provenance fail-closed: input image-id is only used in promote mode: set mode: promote, or remove image-id'
    ],
    [
      'check-container in mixed case',
      { 'check-container': 'tRUE' },
      'invalid-input',
      'provenance fail-closed: input check-container must be "auto" or "true" or "false", got "tRUE"'
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
      image_digest: '',
      prod_image_id: '',
      verdict: 'disabled',
      reason: 'provenance gate disabled (enabled: false)',
      failure: ''
    })
    expect(recorded.failed).toEqual([])
  })
})

describe('run prints every log line as one line', () => {
  test('a reason with line breaks is printed folded; the output keeps it whole', async () => {
    recorded.inputError = new Error('runner broke\n::add-mask::x\r\nagain')
    await run()
    const reason = 'provenance fail-closed: unexpected error: runner broke\n::add-mask::x\r\nagain'
    expect(recorded.outputs.reason).toBe(reason)
    expect(recorded.infos).toEqual([
      'provenance fail-closed: unexpected error: runner broke ⏎ ::add-mask::x ⏎ again'
    ])
  })

  test("a value with a newline in the gate's log is folded into its line", async () => {
    fakeDocker({ [REV]: head }, 'missing')
    recorded.inputs = verifyInputs({ 'staging-container': 'shop\nblue' })
    await run()
    expect(recorded.outputs.verdict).toBe('match')
    expect(recorded.infos).toContain(
      'no container shop ⏎ blue on the host: nothing runs, nothing to compare'
    )
    expect(recorded.infos.filter(info => /[\r\n]/.test(info))).toEqual([])
  })
})

describe('run refuses inputs before anything runs', () => {
  const DIGEST_UPPER = `sha256:${IMAGE_HEX.toUpperCase()}`

  test.each<[string, Record<string, string>, string]>([
    [
      'label-source registry with a digest in upper case',
      { 'label-source': 'registry', image: `reg.example.com/app@${DIGEST_UPPER}` },
      `input image cannot be read from a registry: image reference "reg.example.com/app@${DIGEST_UPPER}" has a malformed digest (expected sha256:<64 hex>)`
    ],
    [
      'label-source registry with a port out of range',
      { 'label-source': 'registry', image: 'reg.example.com:99999/app:staging' },
      'input image cannot be read from a registry: image reference "reg.example.com:99999/app:staging" has a malformed registry host'
    ],
    [
      'a repositories entry that is an scp-style git address',
      { repositories: 'acme/api, git@github.com:acme/shop.git' },
      'input repositories: "git@github.com:acme/shop.git" is not owner/name or a bare repository name'
    ]
  ])('%s: invalid-input, no git, no docker', async (_name, extra, message) => {
    fakeDocker({ [REV]: head })
    recorded.inputs = verifyInputs(extra)
    await run()
    const reason = `provenance fail-closed: ${message}`
    expect(recorded.outputs.verdict).toBe('fail-closed')
    expect(recorded.outputs.failure).toBe('invalid-input')
    expect(recorded.outputs.reason).toBe(reason)
    expect(recorded.outputs.expected_revision).toBe('')
    expect(recorded.failed).toEqual([`${reason} [invalid-input]`])
    expect(dockerLines()).toEqual([])
  })

  test('the same image with label-source host is inspected on the host as given', async () => {
    fakeDocker({ [REV]: head })
    const image = `reg.example.com/app@${DIGEST_UPPER}`
    recorded.inputs = verifyInputs({ image, 'check-container': 'false' })
    await run()
    expect(recorded.outputs.verdict).toBe('match')
    expect(dockerLines()).toEqual([
      `image inspect --format {{json .Id}} {{with .Config}}{{json .Labels}}{{else}}null{{end}} ${image}`
    ])
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
