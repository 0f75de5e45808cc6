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
import { spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { IMAGE_HEX, SHA_B } from '../support/fixtures.js'

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
  debugs: [] as string[],
  secrets: [] as string[],
  /** Called for every info line before it is recorded; a test may make it throw. */
  onInfo: (_message: string): void => undefined,
  /** When set, every getInput throws it. */
  inputError: undefined as Error | undefined,
  /** What getState answers (what an earlier main step saved), by name. */
  state: {} as Record<string, string>,
  /** Every saveState call, in order. */
  saved: [] as [string, string][]
}

jest.unstable_mockModule('@actions/core', () => ({
  getInput: (name: string): string => {
    if (recorded.inputError) throw recorded.inputError
    return recorded.inputs[name] ?? ''
  },
  setSecret: (secret: string): void => {
    recorded.secrets.push(secret)
  },
  saveState: (name: string, value: string): void => {
    recorded.saved.push([name, value])
  },
  getState: (name: string): string => recorded.state[name] ?? '',
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
  debug: (message: string): void => {
    recorded.debugs.push(message)
  },
  setFailed: (message: unknown): void => {
    recorded.failed.push(String(message))
  },
  startGroup: (): void => undefined,
  endGroup: (): void => undefined,
  summary: { addRaw: () => ({ write: () => Promise.resolve(undefined) }) }
}))

const { ownResources, post, run } = await import('../../src/main.js')

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
  recorded.debugs = []
  recorded.secrets = []
  recorded.onInfo = () => undefined
  recorded.inputError = undefined
  recorded.state = {}
  recorded.saved = []
  signalListeners = {
    SIGTERM: process.listeners('SIGTERM'),
    SIGINT: process.listeners('SIGINT')
  }
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

/** The signal listeners before a test: run() adds its own (Cancellation), removed after. */
let signalListeners: Record<'SIGTERM' | 'SIGINT', NodeJS.SignalsListener[]>

/** The listeners run() added for a signal since the test began. */
function addedListeners(signal: 'SIGTERM' | 'SIGINT'): NodeJS.SignalsListener[] {
  return process.listeners(signal).filter(listener => !signalListeners[signal].includes(listener))
}

afterEach(() => {
  process.env = { ...savedEnv }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    for (const listener of addedListeners(signal)) process.removeListener(signal, listener)
  }
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

/** The id the fake docker gives its container number `i`. */
const containerId = (i: number): string => `${i}`.repeat(64)

/**
 * A fake docker, answering as docker 20.10 does: `image inspect -- REF` (of any image) prints the
 * JSON array with this image's id and labels; `ps -aq` prints the containers' ids when `labelled`
 * (compose's label found them), else nothing; `ps -a --format` prints `<id> <name>` per container;
 * `container inspect -- ID…` prints the JSON array of the containers with those ids (`missing`:
 * there are none); `tag` succeeds. Every call is appended to `<docker>.calls`.
 */
function fakeDocker(
  labels: Record<string, string> | null,
  containers: FakeContainer[] | 'missing' = RUNNING_FRESH,
  labelled = false
): void {
  const image = JSON.stringify([{ Id: `sha256:${IMAGE_HEX}`, Config: { Labels: labels } }])
  const list = containers === 'missing' ? [] : containers
  const ids = labelled ? list.map((_c, i) => containerId(i)) : []
  const names = list.map((c, i) => `${containerId(i)} ${c.name.replace(/^\//, '')}`)
  const byId = list.map(
    (c, i) =>
      `    ${containerId(i)}) o='${JSON.stringify({ Name: c.name, Image: c.image, State: { Running: c.running } })}' ;;`
  )
  fs.writeFileSync(
    docker,
    [
      '#!/bin/sh',
      `echo "$*" >> '${docker}.calls'`,
      'case "$1 $2" in',
      `  "image inspect") printf '%s\\n' '${image}' ;;`,
      `  "ps -aq") ${ids.length ? `printf '%s\\n' ${ids.join(' ')}` : ':'} ;;`,
      `  "ps -a") ${names.length ? names.map(line => `echo '${line}'`).join('; ') : ':'} ;;`,
      '  "container inspect")',
      '    shift 3; out=""; rc=0',
      '    for id in "$@"; do',
      '    case "$id" in',
      ...byId,
      '    *) echo "Error: No such container: $id" >&2; rc=1; continue ;;',
      '    esac',
      '    out="${out:+$out,}$o"',
      '    done',
      `    printf '[%s]\\n' "$out"; exit "$rc" ;;`,
      '  "tag "*) exit 0 ;;',
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
      prod_image_digest: '',
      rebuilt: '',
      verdict: 'match',
      reason: `provenance match: ${head.slice(0, 12)}`,
      failure: ''
    })
    expect(recorded.failed).toEqual([])
    // check-container auto without staging-container: the image, then compose's containers of
    // the service by label (none here), then the container named like the service, by its id.
    expect(dockerLines()).toEqual([
      'image inspect -- registry.example.com/shop:staging',
      'ps -aq --no-trunc --filter label=com.docker.compose.service=staging',
      'ps -a --no-trunc --format {{.ID}} {{.Names}}',
      `container inspect -- ${containerId(0)}`
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
    const ids = containers.map((_c, i) => containerId(i)).join(' ')
    expect(dockerLines().slice(1)).toEqual([
      'ps -aq --no-trunc --filter label=com.docker.compose.service=staging',
      `container inspect -- ${ids}`
    ])
  })

  test('with staging-container, the container is found by that name, never by the label', async () => {
    fakeDocker({ [REV]: head }, [
      { name: '/shop-blue', image: `sha256:${IMAGE_HEX}`, running: true }
    ])
    recorded.inputs = verifyInputs({ 'staging-container': 'shop-blue' })
    await run()
    expect(recorded.outputs.verdict).toBe('match')
    expect(dockerLines().slice(1)).toEqual([
      'ps -a --no-trunc --format {{.ID}} {{.Names}}',
      `container inspect -- ${containerId(0)}`
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
      prod_image_digest: '',
      rebuilt: '',
      verdict: 'match',
      reason: `provenance match: ${head.slice(0, 12)}, promoted to registry.example.com/shop:prod as sha256:a3f1c2d4e5b6`,
      failure: ''
    })
    expect(recorded.failed).toEqual([])
    expect(dockerLines()).toEqual([
      'image inspect -- registry.example.com/shop:staging',
      `tag sha256:${IMAGE_HEX} registry.example.com/shop:prod`,
      'image inspect -- registry.example.com/shop:prod'
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
      `image inspect -- sha256:${IMAGE_HEX}`,
      `tag sha256:${IMAGE_HEX} registry.example.com/shop:prod`,
      'image inspect -- registry.example.com/shop:prod'
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
      prod_image_digest: '',
      rebuilt: '',
      verdict: 'disabled',
      reason: 'provenance gate disabled (enabled: false)',
      failure: ''
    })
    expect(recorded.failed).toEqual([])
  })

  /** An event payload @actions/github cannot read: not JSON, empty, a directory, no file. */
  const brokenPayloads: [string, (file: string) => string][] = [
    ['not JSON', file => (fs.writeFileSync(file, '{ not json'), file)],
    ['an empty file', file => (fs.writeFileSync(file, ''), file)],
    ['a directory', () => root],
    ['no file at all', file => `${file}.missing`]
  ]

  test.each(brokenPayloads)(
    'a payload that is %s changes nothing for a disabled gate',
    async (_name, plant) => {
      process.env.GITHUB_EVENT_NAME = 'pull_request'
      process.env.GITHUB_EVENT_PATH = plant(path.join(root, 'broken-event.json'))
      recorded.inputs = { enabled: 'false' }
      await run()
      expect(recorded.outputs.verdict).toBe('disabled')
      expect(recorded.outputs.failure).toBe('')
      expect(recorded.failed).toEqual([])
      expect(recorded.warnings).toEqual([])
    }
  )

  test.each(brokenPayloads)(
    'a payload that is %s costs an enabled gate only the head SHA',
    async (_name, plant) => {
      process.env.GITHUB_EVENT_NAME = 'pull_request'
      process.env.GITHUB_SHA = head
      process.env.GITHUB_EVENT_PATH = plant(path.join(root, 'broken-event.json'))
      fakeDocker({ [REV]: head })
      recorded.inputs = verifyInputs()
      await run()
      expect(recorded.outputs.verdict).toBe('match')
      expect(recorded.failed).toEqual([])
      expect(recorded.infos).toContain(
        `event pull_request: GITHUB_SHA ${head}, pull request head (none), HEAD ${head}`
      )
    }
  )
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
    expect(dockerLines()).toEqual([`image inspect -- ${image}`])
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

describe('run keeps the run id for the post step only while a session may be open', () => {
  test('a run that ended its session clears the run id it saved', async () => {
    fakeDocker({ [REV]: head })
    recorded.inputs = verifyInputs()
    await run()
    expect(recorded.outputs.verdict).toBe('match')
    const runIds = recorded.saved.filter(([name]) => name === 'run-id').map(([, value]) => value)
    expect(runIds).toHaveLength(2)
    expect(runIds[0]).toMatch(/^[0-9a-f]{16}$/)
    expect(runIds[1]).toBe('')
    expect(recorded.saved[0]).toEqual(['isPost', 'true'])
  })

  test('refused inputs: nothing ran, the run id is cleared as well', async () => {
    recorded.inputs = verifyInputs({ image: '' })
    await run()
    expect(recorded.outputs.failure).toBe('invalid-input')
    expect(recorded.saved.filter(([name]) => name === 'run-id').at(-1)).toEqual(['run-id', ''])
  })
})

/** The processes of a process group that still run (zombies only wait to be reaped). */
function liveMembers(group: number): string[] {
  const listed = spawnSync('ps', ['-e', '-o', 'pgid=', '-o', 'stat=', '-o', 'args='], {
    encoding: 'utf8'
  })
  return listed.stdout
    .split('\n')
    .map(line => line.trim().split(/\s+/))
    .filter(([pgid, stat]) => Number(pgid) === group && !stat?.startsWith('Z'))
    .map(fields => fields.slice(2).join(' '))
}

describe('run in rebuild mode on this runner', () => {
  /** A hook script under the temp root; `body` is its shell text. */
  function hookScript(name: string, body: string): string {
    const file = path.join(root, name)
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 })
    return file
  }

  test('the context check proves a clean checkout at HEAD, then the hook builds', async () => {
    fakeDocker({ [REV]: head })
    const hook = hookScript('hook-ok.sh', 'echo "building $GIT_SHA in $BUILD_CONTEXT"')
    recorded.inputs = {
      image: 'registry.example.com/shop:staging',
      hook,
      'hook-dir': checkout,
      'check-container': 'false',
      docker
    }
    await run()
    expect(recorded.outputs.verdict).toBe('match')
    expect(recorded.outputs.rebuilt).toBe('true')
    expect(recorded.failed).toEqual([])
    expect(recorded.infos).toContain(
      `build context ${checkout} on local: clean work tree at ${head.slice(0, 12)}`
    )
  })

  test.each<[string, string, FakeContainer[], boolean, string]>([
    ['image and container at HEAD: the hook is skipped', 'head', RUNNING_FRESH, false, ''],
    ['the image carries another commit: the hook runs', 'other', RUNNING_FRESH, true, 'mismatch'],
    [
      'the container runs another image: the hook runs',
      'head',
      [{ name: '/staging', image: `sha256:${'b'.repeat(64)}`, running: true }],
      true,
      'stale-container'
    ]
  ])('skip-if-fresh, %s', async (_name, label, running, hookRuns, failure) => {
    fakeDocker({ [REV]: label === 'head' ? head : 'f'.repeat(40) }, running)
    const marker = path.join(root, 'hook-ran-fresh')
    const hook = hookScript('hook-fresh.sh', `touch '${marker}'`)
    try {
      recorded.inputs = {
        image: 'registry.example.com/shop:staging',
        hook,
        'hook-dir': checkout,
        'skip-if-fresh': 'true',
        docker
      }
      await run()
      expect(fs.existsSync(marker)).toBe(hookRuns)
    } finally {
      fs.rmSync(marker, { force: true })
    }
    expect(recorded.outputs.rebuilt).toBe(hookRuns ? 'true' : 'false')
    expect(recorded.outputs.failure).toBe(failure)
    if (hookRuns) {
      // The fake hook builds nothing: the rebuild's own checks still fail the run.
      expect(recorded.infos.some(line => /^skip-if-fresh: not fresh \(/.test(line))).toBe(true)
    } else {
      expect(recorded.outputs.verdict).toBe('match')
      expect(recorded.outputs.reason).toBe(
        `provenance match: ${head.slice(0, 12)} (already built and running; hook skipped: skip-if-fresh)`
      )
      expect(recorded.failed).toEqual([])
    }
  })

  test('a checkout with an untracked file is stale-context; the hook never runs', async () => {
    fakeDocker({ [REV]: head })
    const marker = path.join(root, 'hook-ran')
    const hook = hookScript('hook-marks.sh', `touch '${marker}'`)
    const dirty = path.join(checkout, 'stray.txt')
    fs.writeFileSync(dirty, 'not committed\n')
    try {
      recorded.inputs = {
        image: 'registry.example.com/shop:staging',
        hook,
        'hook-dir': checkout,
        'check-container': 'false',
        docker
      }
      await run()
    } finally {
      fs.rmSync(dirty)
    }
    expect(recorded.outputs.failure).toBe('stale-context')
    expect(recorded.outputs.reason).toBe(
      `provenance fail-closed: build context ${checkout} on local is dirty: 1 files (first: ?? stray.txt), at ${head.slice(0, 12)}; the hook did not run`
    )
    expect(fs.existsSync(marker)).toBe(false)
    expect(dockerLines()).toEqual([])
  })

  test('SIGTERM while the hook runs stops its process group on the host; the verdict says cancelled', async () => {
    fakeDocker({ [REV]: head })
    process.env.TMPDIR = root
    const hook = hookScript('hook-slow.sh', 'echo started; sleep 30')
    recorded.inputs = {
      image: 'registry.example.com/shop:staging',
      hook,
      'hook-dir': checkout,
      'check-container': 'false',
      'check-context': 'false',
      docker
    }
    // Once the run record names the hook's group, the job is cancelled (the listener run() added).
    let group = 0
    const watcher = setInterval(() => {
      const record = fs.readdirSync(root).find(name => name.startsWith('provenance-gate-run.'))
      const text = record ? fs.readFileSync(path.join(root, record), 'utf8') : ''
      const pg = /^pg ([0-9]+)$/m.exec(text)
      if (!pg || group) return
      group = Number(pg[1])
      clearInterval(watcher)
      for (const listener of addedListeners('SIGTERM')) listener('SIGTERM')
    }, 50)
    const started = Date.now()
    try {
      await run()
    } finally {
      clearInterval(watcher)
    }
    expect(group).toBeGreaterThan(0)
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(recorded.outputs.verdict).toBe('fail-closed')
    expect(recorded.outputs.failure).toBe('hook-failed')
    // A host whose init does not reap at once still lists the killed sleep, as a zombie.
    expect(recorded.outputs.reason).toMatch(
      new RegExp(
        `^provenance fail-closed: the job was cancelled \\(SIGTERM; SIGTERM received: stopped the hook's process group ${group}(, \\([0-9]+ \\[sleep\\] <defunct>\\))? on local\\)$`
      )
    )
    expect(liveMembers(group)).toEqual([])
    // The record is gone, so the post step has nothing to do.
    expect(fs.readdirSync(root).filter(name => name.startsWith('provenance-gate-run.'))).toEqual([])
    expect(recorded.saved.at(-1)).toEqual(['run-id', ''])
    expect(recorded.warnings).toContain(
      'check-context is false: the gate does not check that the build context holds the validated commit, so a stale or dirty context would pass. Use check-context: auto, or upload-context: true'
    )
    expect(dockerLines()).toEqual([])
  }, 30_000)
})

describe('ownResources: the post step only touches what this action makes', () => {
  const RT = '/home/runner/_temp'
  const TMP = os.tmpdir()
  const own = path.join(RT, 'provenance-gate-Ab12Cd')
  const socketDir = path.join(TMP, 'pg-xY34zW')
  const saved = (over: Record<string, unknown>): Record<string, unknown> => ({
    dirs: [own],
    controlPath: path.join(own, 'cm'),
    destination: 'deploy@staging.example.com',
    ...over
  })

  test.each<[string, unknown, string]>([
    ['the key directory under RUNNER_TEMP', saved({}), RT],
    [
      'a short socket directory in the temp dir next to it',
      saved({ dirs: [own, socketDir], controlPath: path.join(socketDir, 'cm') }),
      RT
    ],
    [
      'without RUNNER_TEMP, directly in the temp dir',
      saved({
        dirs: [path.join(TMP, 'provenance-gate-Zz9876')],
        controlPath: path.join(TMP, 'provenance-gate-Zz9876', 'cm')
      }),
      ''
    ],
    ['a destination without a user', saved({ destination: 'staging.example.com' }), RT]
  ])('%s is own', (_name, state, runnerTemp) => {
    expect(ownResources(state, runnerTemp)).toEqual(state)
  })

  test.each<[string, unknown]>([
    [
      'a directory outside RUNNER_TEMP and the temp dir',
      saved({
        dirs: ['/etc/provenance-gate-Ab12Cd'],
        controlPath: '/etc/provenance-gate-Ab12Cd/cm'
      })
    ],
    [
      'a directory one level deeper',
      saved({
        dirs: [path.join(RT, 'sub', 'provenance-gate-Ab12Cd')],
        controlPath: path.join(RT, 'sub', 'provenance-gate-Ab12Cd', 'cm')
      })
    ],
    ['RUNNER_TEMP itself', saved({ dirs: [RT], controlPath: path.join(RT, 'cm') })],
    [
      'a relative directory',
      saved({ dirs: ['provenance-gate-Ab12Cd'], controlPath: 'provenance-gate-Ab12Cd/cm' })
    ],
    [
      'a path that climbs out with ..',
      saved({
        dirs: [path.join(RT, 'x', '..', '..', 'provenance-gate-Ab12Cd')],
        controlPath: `${path.join(RT, 'x', '..', '..', 'provenance-gate-Ab12Cd')}/cm`
      })
    ],
    [
      'another prefix',
      saved({
        dirs: [path.join(RT, 'ssh-keys-Ab12Cd')],
        controlPath: path.join(RT, 'ssh-keys-Ab12Cd', 'cm')
      })
    ],
    [
      'a suffix of five characters',
      saved({
        dirs: [path.join(RT, 'provenance-gate-Ab12C')],
        controlPath: path.join(RT, 'provenance-gate-Ab12C', 'cm')
      })
    ],
    [
      'a suffix of seven characters',
      saved({
        dirs: [path.join(RT, 'provenance-gate-Ab12Cde')],
        controlPath: path.join(RT, 'provenance-gate-Ab12Cde', 'cm')
      })
    ],
    [
      'a suffix with a dot',
      saved({
        dirs: [path.join(RT, 'provenance-gate-Ab.2Cd')],
        controlPath: path.join(RT, 'provenance-gate-Ab.2Cd', 'cm')
      })
    ],
    ['one own directory and one foreign', saved({ dirs: [own, '/var/lib/important'] })],
    ['the control socket outside the directories', saved({ controlPath: '/tmp/elsewhere/cm' })],
    ['the control socket in a subdirectory', saved({ controlPath: path.join(own, 'sub', 'cm') })],
    ['no directories at all', saved({ dirs: [] })],
    ['dirs not an array', saved({ dirs: own })],
    ['a directory that is not a string', saved({ dirs: [own, 42] })],
    ['no control path', saved({ controlPath: undefined })],
    ['a destination that is not a string', saved({ destination: ['deploy@h'] })],
    ['a destination read as an ssh option', saved({ destination: '-oProxyCommand=touch /tmp/x' })],
    ['null', null],
    ['an array', [own]],
    ['a string', JSON.stringify(saved({}))],
    ['a number', 7]
  ])('%s is not own', (_name, state) => {
    expect(ownResources(state, RT)).toBeUndefined()
  })
})

describe('post', () => {
  test.each<[string, (dir: string) => Record<string, unknown>]>([
    [
      'a directory not named like the action’s',
      dir => ({ dirs: [dir], controlPath: path.join(dir, 'cm'), destination: 'h' })
    ],
    [
      'a control socket outside the directories',
      dir => ({ dirs: [dir], controlPath: path.join(root, 'cm'), destination: 'h' })
    ],
    [
      'dirs that are not an array',
      dir => ({ dirs: dir, controlPath: path.join(dir, 'cm'), destination: 'h' })
    ]
  ])('saved ssh state with %s: ignored with a warning, nothing removed', async (_name, state) => {
    const victim = fs.mkdtempSync(path.join(root, 'victim-'))
    fs.writeFileSync(path.join(victim, 'keep'), 'x')
    recorded.state = { 'ssh-resources': JSON.stringify(state(victim)) }
    await post()
    expect(recorded.warnings).toEqual([
      'the saved ssh state names files this action did not make; left alone'
    ])
    expect(fs.existsSync(path.join(victim, 'keep'))).toBe(true)
  })

  test('own ssh state: the master is asked to exit and the directories are removed', async () => {
    const dir = fs.mkdtempSync(path.join(root, 'provenance-gate-'))
    fs.writeFileSync(path.join(dir, 'key'), 'secret', { mode: 0o600 })
    fs.writeFileSync(path.join(dir, 'known_hosts'), 'h ssh-ed25519 AAAA\n')
    recorded.state = {
      'ssh-resources': JSON.stringify({
        dirs: [dir],
        controlPath: path.join(dir, 'cm'),
        destination: 'deploy@127.0.0.1'
      })
    }
    await post()
    expect(fs.existsSync(dir)).toBe(false)
    expect(recorded.warnings).toEqual([])
  })

  test('saved ssh state that is not JSON: a warning, nothing else', async () => {
    recorded.state = { 'ssh-resources': '{"dirs": [' }
    await post()
    expect(recorded.warnings).toHaveLength(1)
    expect(recorded.warnings[0]).toMatch(/^cleanup after provenance-gate failed: /)
  })

  test('nothing saved: nothing done, nothing said', async () => {
    await post()
    expect(recorded.warnings).toEqual([])
    expect(recorded.infos).toEqual([])
  })

  describe('with the run id of a main step that did not finish', () => {
    const RUN_ID = '0123456789abcdef'

    test('the run record names a process group and an upload: both are gone after it', async () => {
      process.env.TMPDIR = root
      const upload = path.join(root, 'provenance-gate-ctx.AbCdEf1234')
      fs.mkdirSync(path.join(upload, 'ctx'), { recursive: true })
      const hook = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' })
      const pid = hook.pid ?? 0
      const exited = new Promise(resolve => hook.on('exit', resolve))
      const record = path.join(root, `provenance-gate-run.${RUN_ID}`)
      fs.writeFileSync(record, `up ${upload}\npg ${pid}\n`)
      try {
        recorded.state = { 'run-id': RUN_ID }
        recorded.inputs = verifyInputs()
        await post()
        await exited
      } finally {
        try {
          process.kill(-pid, 'SIGKILL')
        } catch {
          // Stopped by the post step, as it should be.
        }
      }
      expect(recorded.infos).toEqual([
        `post step: stopped the hook's process group ${pid}, removed the upload ${upload} on local`
      ])
      expect(fs.existsSync(upload)).toBe(false)
      expect(fs.existsSync(record)).toBe(false)
      expect(recorded.warnings).toEqual([])
    }, 20_000)

    test('a record that names a directory not made by the gate: the directory stays', async () => {
      process.env.TMPDIR = root
      const foreign = fs.mkdtempSync(path.join(root, 'precious-'))
      fs.writeFileSync(path.join(root, `provenance-gate-run.${RUN_ID}`), `up ${foreign}\n`)
      recorded.state = { 'run-id': RUN_ID }
      recorded.inputs = verifyInputs()
      await post()
      expect(recorded.infos).toEqual(['post step: nothing of this run was left running on local'])
      expect(fs.existsSync(foreign)).toBe(true)
    })

    test('no record on the host: nothing was left', async () => {
      process.env.TMPDIR = root
      recorded.state = { 'run-id': RUN_ID }
      recorded.inputs = verifyInputs()
      await post()
      expect(recorded.infos).toEqual(['post step: nothing of this run was left running on local'])
    })

    test.each(['', 'not-a-run-id', '0123456789ABCDEF', `${RUN_ID}0`, '../../etc/passwd'])(
      'run id %j: no session at all',
      async runId => {
        recorded.state = { 'run-id': runId }
        recorded.inputs = verifyInputs()
        await post()
        expect(recorded.infos).toEqual([])
        expect(recorded.warnings).toEqual([])
      }
    )

    test('inputs that no longer parse: a warning, the cleanup of ssh files still runs', async () => {
      const dir = fs.mkdtempSync(path.join(root, 'provenance-gate-'))
      recorded.state = {
        'run-id': RUN_ID,
        'ssh-resources': JSON.stringify({
          dirs: [dir],
          controlPath: path.join(dir, 'cm'),
          destination: 'h'
        })
      }
      recorded.inputs = verifyInputs({ image: '' })
      await post()
      expect(recorded.warnings).toEqual([
        'could not reach the staging host to stop what the run left: input image is required (the staging image reference)'
      ])
      expect(fs.existsSync(dir)).toBe(false)
    })
  })
})
