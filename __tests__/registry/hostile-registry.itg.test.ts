import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import {
  commit,
  makeRepo,
  removeScratch,
  runAction,
  scratchDir,
  type ActionRun
} from '../support/action.js'
import { outcome, shown } from '../support/expect-run.js'
import {
  configText,
  startHostileRegistry,
  storeConfig,
  storeImage,
  storeIndex,
  storeManifest,
  type HostileRegistry
} from '../support/registry.js'

/**
 * The bundled action, `label-source: registry` in verify mode (no host), against a registry
 * written for the test that serves documents a real registry would not: each is an image the
 * engine would pull with the old revision while a naive reader sees the new one. None may pass;
 * credentials go nowhere but the registry; a stalled TLS handshake ends within the timeout.
 */
const REV = 'org.opencontainers.image.revision'
const AMD64 = { os: 'linux', architecture: 'amd64' }
const ARM64 = { os: 'linux', architecture: 'arm64' }

let reg: HostileRegistry
let repo: { dir: string; head: string }
let old: string

beforeAll(async () => {
  reg = await startHostileRegistry(scratchDir('hostile-'))
  repo = makeRepo()
  old = repo.head
  repo.head = commit(repo.dir, 'app.txt', 'v2\n')
}, 30_000)

afterAll(async () => {
  await reg?.stop()
  removeScratch()
})

function inputs(tag: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    mode: 'verify',
    'label-source': 'registry',
    path: repo.dir,
    image: `${reg.host}/shop/app:${tag}`,
    'registry-username': reg.username,
    'registry-password': reg.password,
    'inspect-timeout': '10',
    ...extra
  }
}

const trusted = (): Record<string, string> => ({ NODE_EXTRA_CA_CERTS: reg.caFile })

/** Labels of the validated revision, and of the old one. */
const NEW = (): Record<string, string> => ({ [REV]: repo.head })
const OLD = (): Record<string, string> => ({ [REV]: old })

/** A config whose `config` object is written as `inner` (raw JSON text). */
function rawConfig(inner: string, platform = '"architecture":"amd64","os":"linux"'): string {
  return `{${platform},${inner},"rootfs":{"type":"layers","diff_ids":[]}}`
}
const labelsText = (labels: Record<string, string>): string => JSON.stringify(labels)

/** Every request to the other origin came without credentials, and none asked it for a token. */
function expectNothingSentElsewhere(): void {
  const elsewhere = reg.seen.filter(request => request.host === reg.otherHost)
  expect(elsewhere.filter(request => request.authorization !== undefined)).toEqual([])
  expect(elsewhere.filter(request => request.url.startsWith('/token'))).toEqual([])
}

/** A failed run: no pass, the class and reason given, no password shown. */
function expectRefused(run: ActionRun, failure: string, reason: RegExp): void {
  expect(outcome(run)).toEqual({
    exitCode: 1,
    verdict: 'fail-closed',
    failure,
    reason: expect.stringMatching(reason)
  })
  expect(shown(run) + run.summary + JSON.stringify(run.outputs)).not.toContain(reg.password)
  expectNothingSentElsewhere()
}

describe('controls: the hostile registry serves good images that pass', () => {
  test('a single-platform image with the validated revision: match', async () => {
    storeImage(reg, 'good', configText(NEW(), AMD64))
    const run = await runAction(inputs('good'), trusted())
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
  })

  test('an index whose amd64 entries (plain and v3) all carry it: match', async () => {
    const plain = storeImage(reg, '', configText(NEW(), AMD64))
    const v3 = storeImage(reg, '', configText(NEW(), { ...AMD64, variant: 'v3' }))
    storeIndex(reg, 'good-index', [
      [plain, AMD64],
      [v3, { ...AMD64, variant: 'v3' }]
    ])
    const run = await runAction(inputs('good-index'), trusted())
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
  })
})

describe('a document the engine reads differently: registry-error naming the keys', () => {
  test.each<[string, () => string, RegExp]>([
    [
      '"config" (new) beside "Config" (old)',
      () =>
        rawConfig(
          `"config":{"Labels":${labelsText(NEW())}},"Config":{"Labels":${labelsText(OLD())}}`
        ),
      /has the keys "config" and "Config", which the engine reads as the same field/
    ],
    [
      '"config" twice',
      () =>
        rawConfig(
          `"config":{"Labels":${labelsText(NEW())}},"config":{"Labels":${labelsText(OLD())}}`
        ),
      /has the key "config" twice/
    ],
    [
      '"Labels" beside "Labelſ" (U+017F folds to s)',
      () =>
        rawConfig(`"config":{"Labels":${labelsText(NEW())},"Label\u017f":${labelsText(OLD())}}`),
      /has the keys "Labels" and "Labelſ"/
    ],
    [
      '"architecture" beside "ARCHITECTURE"',
      () =>
        rawConfig(
          `"config":{"Labels":${labelsText(NEW())}}`,
          '"architecture":"amd64","ARCHITECTURE":"arm64","os":"linux"'
        ),
      /has the keys "architecture" and "ARCHITECTURE"/
    ]
  ])('a config blob with %s', async (_name, text, reason) => {
    const tag = `config-${reg.manifests.size}`
    storeImage(reg, tag, text())
    const run = await runAction(inputs(tag), trusted())
    expectRefused(run, 'registry-error', reason)
  })

  test('a manifest with "config" (new image) beside "Config" (old image)', async () => {
    const current = storeConfig(reg, configText(NEW(), AMD64))
    const stale = storeConfig(reg, configText(OLD(), AMD64))
    storeManifest(
      reg,
      'manifest-config',
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":${JSON.stringify(current)},"Config":${JSON.stringify(stale)},"layers":[]}`
    )
    const run = await runAction(inputs('manifest-config'), trusted())
    expectRefused(run, 'registry-error', /has the keys "config" and "Config"/)
  })
})

describe('an index where the engine may pull another entry: never a pass', () => {
  test.each<[string, Record<string, string>, Record<string, string>]>([
    ['linux/amd64/v3 new, plain linux/amd64 old', { variant: 'v3' }, {}],
    ['plain linux/amd64 new, linux/amd64/v2 old', {}, { variant: 'v2' }],
    ['linux/amd64 new, linux/AMD64 old', {}, { architecture: 'AMD64' }],
    ['linux/amd64 new, Linux/amd64 old', {}, { os: 'Linux' }],
    ['linux/amd64 new, linux/x86-64 old', {}, { architecture: 'x86-64' }],
    ['linux/amd64 new, linux/x86_64 old', {}, { architecture: 'x86_64' }]
  ])('%s', async (_name, newer, older) => {
    const fresh = { ...AMD64, ...newer }
    const stale = { ...AMD64, ...older }
    const tag = `index-${reg.manifests.size}`
    storeIndex(reg, tag, [
      [storeImage(reg, '', configText(OLD(), stale)), stale],
      [storeImage(reg, '', configText(NEW(), fresh)), fresh]
    ])
    const run = await runAction(inputs(tag), trusted())
    expectRefused(
      run,
      'registry-error',
      new RegExp(
        `may pull for linux/amd64 disagree on ${REV.replace(/\./g, '\\.')}: .*"${old.slice(0, 40)}"`
      )
    )
  })

  test('an entry that says linux/amd64 over an arm64 config', async () => {
    const arm = storeImage(reg, '', configText(NEW(), ARM64))
    storeIndex(reg, 'lying-entry', [[arm, AMD64]])
    const run = await runAction(inputs('lying-entry'), trusted())
    expectRefused(run, 'registry-error', /its config says linux\/arm64, not linux\/amd64/)
  })
})

describe('credentials go only to the registry', () => {
  test('a blob redirected to another host that answers 401 with its own Bearer realm', async () => {
    const manifest = storeImage(reg, 'redirected', configText(NEW(), AMD64))
    const body = reg.manifests.get(manifest.digest)?.body.toString() ?? ''
    const configDigest = (JSON.parse(body) as { config: { digest: string } }).config.digest
    reg.redirected.add(configDigest)
    const before = reg.seen.length
    const run = await runAction(inputs('redirected'), trusted())
    expectRefused(
      run,
      'registry-error',
      new RegExp(
        `redirected to https://${reg.otherHost.replace(/\./g, '\\.')}, which answered 401; credentials are only sent to ${reg.host.replace(/\./g, '\\.')}`
      )
    )
    const requests = reg.seen.slice(before)
    // The redirect was followed (so the case was really reached), without the credentials.
    expect(requests.filter(request => request.host === reg.otherHost)).toEqual([
      {
        host: reg.otherHost,
        method: 'GET',
        url: `/storage/${configDigest}`,
        authorization: undefined
      }
    ])
    // The registry itself did get them: they are what must not travel.
    expect(requests.some(request => request.authorization?.startsWith('Basic '))).toBe(true)
  })
})

describe('bounded: a stalled TLS handshake', () => {
  test('ends as a registry-error timeout within inspect-timeout + 2 s, and the process exits', async () => {
    const started = Date.now()
    const run = await runAction(
      { ...inputs('any'), image: `${reg.stalledHost}/shop/app:v1`, 'inspect-timeout': '2' },
      trusted(),
      { post: false }
    )
    const elapsed = Date.now() - started
    expect(reg.stalledConnections()).toBeGreaterThan(0)
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'registry-error',
      reason: expect.stringMatching(/from the registry timed out after 2 s$/)
    })
    expect(elapsed).toBeLessThan(4000)
  })
})
