import { describe, expect, jest, test } from '@jest/globals'
import { GateError } from '../../src/errors.js'
import { runGate as gate } from '../../src/gate.js'
import { emptyFacts, GateStopped, type Facts, type GateDeps } from '../../src/facts.js'
import type { JsonObject } from '../../src/registry/json.js'
import type { PlatformImage, RegistryImage } from '../../src/registry/oci.js'
import { parseStrictJson } from '../../src/registry/json.js'
import {
  blobsToMount,
  firstFailure,
  sharedLabels,
  type RegistryPromoteRequest,
  type RegistryPromoteResult
} from '../../src/registry/promote.js'
import type { Runner } from '../../src/session/runner.js'
import { decideVerdict, failedDecision, type Decision } from '../../src/decide/verdict.js'
import type { Settings } from '../../src/settings.js'
import type { FailureClass } from '../../src/errors.js'

/** A refusal as the promotion returns it. */
function failClosed(reason: string, failure: FailureClass): Decision {
  return { verdict: 'fail-closed', reason, pass: false, failure }
}

/** The gate's verdict, every failure turned into its decision the way main.ts does. */
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
    return failedDecision(error.error, 'invalid-input')
  }
}
import { makeSettings, SHA_A, SHA_B, sshTarget } from '../support/fixtures.js'

const REV = 'org.opencontainers.image.revision'
const SOURCE = 'org.opencontainers.image.source'
const d = (c: string): string => `sha256:${c.repeat(64)}`
const CONFIG = 'application/vnd.oci.image.config.v1+json'
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip'

/** A manifest document as the reader parses it (strict JSON, no prototype). */
function manifest(
  config: string,
  layers: string[],
  what = 'manifest m'
): { json: JsonObject; what: string } {
  const text = JSON.stringify({
    schemaVersion: 2,
    config: { mediaType: CONFIG, digest: config, size: 10 },
    layers: layers.map(digest => ({ mediaType: LAYER, digest, size: 20 }))
  })
  return { json: parseStrictJson(text, what) as JsonObject, what }
}

function raw(text: string, what = 'manifest m'): { json: JsonObject; what: string } {
  return { json: parseStrictJson(text, what) as JsonObject, what }
}

describe('blobsToMount', () => {
  test.each<[string, { json: JsonObject; what: string }[], string[]]>([
    [
      'one image: config, then layers in order',
      [manifest(d('1'), [d('2'), d('3')])],
      [d('1'), d('2'), d('3')]
    ],
    ['no layers: only the config', [manifest(d('1'), [])], [d('1')]],
    [
      'an index: every child, shared blobs once',
      [manifest(d('1'), [d('3'), d('4')]), manifest(d('2'), [d('3'), d('5')])],
      [d('1'), d('3'), d('4'), d('2'), d('5')]
    ],
    [
      'a layer repeated in one manifest counts once',
      [manifest(d('1'), [d('2'), d('2')])],
      [d('1'), d('2')]
    ],
    [
      'two children with one config',
      [manifest(d('1'), [d('2')]), manifest(d('1'), [d('2')])],
      [d('1'), d('2')]
    ]
  ])('%s', (_name, manifests, expected) => {
    expect(blobsToMount(manifests)).toEqual(expected)
  })

  test.each<[string, string, string]>([
    [
      'no layers list',
      JSON.stringify({ config: { mediaType: CONFIG, digest: d('1'), size: 1 } }),
      'manifest m has no layers list'
    ],
    [
      'layers not a list',
      JSON.stringify({ config: { mediaType: CONFIG, digest: d('1'), size: 1 }, layers: {} }),
      'manifest m has no layers list'
    ],
    [
      'a layer that is not a descriptor',
      JSON.stringify({ config: { mediaType: CONFIG, digest: d('1'), size: 1 }, layers: ['x'] }),
      'layer 0 of manifest m is not a descriptor'
    ],
    [
      'a layer with a sha512 digest',
      JSON.stringify({
        config: { mediaType: CONFIG, digest: d('1'), size: 1 },
        layers: [{ mediaType: LAYER, digest: `sha512:${'a'.repeat(128)}`, size: 1 }]
      }),
      'layer 0 of manifest m has digest'
    ],
    [
      'no config',
      JSON.stringify({ layers: [] }),
      'config of manifest m is missing or not a descriptor'
    ],
    [
      'layers twice under Go case folding',
      JSON.stringify({
        config: { mediaType: CONFIG, digest: d('1'), size: 1 },
        layers: [],
        Layers: []
      }),
      'which the engine reads as the same field "layers"'
    ]
  ])('%s is a registry-error', (_name, text, message) => {
    let error: unknown
    try {
      blobsToMount([raw(text)])
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(GateError)
    expect((error as GateError).failure).toBe('registry-error')
    expect((error as GateError).message).toContain(message)
  })
})

const image = (platform: string, labels: Record<string, string>, c = '1'): PlatformImage => ({
  platform,
  manifestDigest: d(c),
  configDigest: d(String.fromCharCode(c.charCodeAt(0) + 1)),
  labels
})
/** The gate's checks: revision against SHA_A, then the source label. */
const check = (labels: Record<string, string>): Decision | undefined => {
  if (!labels[REV])
    return failClosed('provenance fail-closed: image has no revision label', 'missing-label')
  const verdict = decideVerdict(SHA_A, labels[REV])
  if (!verdict.pass) return verdict
  return labels[SOURCE] && labels[SOURCE] !== 'https://github.com/acme/shop'
    ? failClosed('wrong source', 'wrong-source')
    : undefined
}

describe('firstFailure', () => {
  test.each<[string, PlatformImage[], boolean, Partial<Decision> | undefined]>([
    ['one image that passes', [image('linux/amd64', { [REV]: SHA_A })], false, undefined],
    [
      'one stale image: the check’s own decision',
      [image('linux/amd64', { [REV]: SHA_B })],
      false,
      {
        failure: 'mismatch',
        reason: 'provenance mismatch: image fedcba987654 != expected 0123456789ab'
      }
    ],
    [
      'every entry of an index passes',
      [image('linux/amd64', { [REV]: SHA_A }, '1'), image('linux/arm64', { [REV]: SHA_A }, '3')],
      true,
      undefined
    ],
    [
      'the second entry has no label',
      [image('linux/amd64', { [REV]: SHA_A }, '1'), image('linux/arm64', {}, '3')],
      true,
      {
        failure: 'missing-label',
        reason: `provenance fail-closed: image has no revision label in index entry 1 (linux/arm64, manifest ${d('3')}); an index is promoted only when every entry passes`
      }
    ],
    [
      'two of three entries stale: the first named, the count given',
      [
        image('linux/amd64', { [REV]: SHA_B }, '1'),
        image('linux/arm64', { [REV]: SHA_A }, '3'),
        image('', { [REV]: SHA_B }, '5')
      ],
      true,
      {
        failure: 'mismatch',
        reason: `provenance mismatch: image fedcba987654 != expected 0123456789ab in index entry 0 (linux/amd64, manifest ${d('1')}) (and 1 more of its 3 entries); an index is promoted only when every entry passes`
      }
    ],
    [
      'an entry from another repository',
      [
        image('linux/amd64', { [REV]: SHA_A }, '1'),
        image('linux/arm64', { [REV]: SHA_A, [SOURCE]: 'https://github.com/evil/fork' }, '3')
      ],
      true,
      { failure: 'wrong-source' }
    ]
  ])('%s', (_name, images, isIndex, expected) => {
    const failed = firstFailure(images, check, isIndex)
    if (expected === undefined) expect(failed).toBeUndefined()
    else expect(failed).toMatchObject({ pass: false, ...expected })
  })
})

describe('sharedLabels', () => {
  test.each<[string, Record<string, string>[], Record<string, string>]>([
    ['one image: all its labels', [{ a: '1', b: '2' }], { a: '1', b: '2' }],
    [
      'equal labels kept, differing ones dropped',
      [
        { a: '1', b: '2' },
        { a: '1', b: '3' }
      ],
      { a: '1' }
    ],
    ['a label only one image has is dropped', [{ a: '1', b: '2' }, { a: '1' }], { a: '1' }],
    ['no images: none', [], {}]
  ])('%s', (_name, labels, expected) => {
    expect(sharedLabels(labels.map(l => image('linux/amd64', l)))).toEqual(expected)
  })
})

describe('runGate with mode promote and label-source registry', () => {
  const STAGED: RegistryImage = {
    digest: d('d'),
    manifestDigest: d('d'),
    configDigest: d('c'),
    labels: { [REV]: SHA_A },
    images: [image('linux/amd64', { [REV]: SHA_A }, 'd')]
  }
  const settings = (imageDigest = d('d')) =>
    makeSettings({
      mode: 'promote',
      labelSource: 'registry',
      hook: '',
      ssh: sshTarget(),
      registry: { username: 'u', password: 'p', platform: 'linux/amd64' },
      promote: {
        prodImage: 'registry.example.com/shop:prod',
        expectedRevision: SHA_A,
        imageId: '',
        imageDigest
      }
    })

  /** Deps whose every host seam fails the test; `promote` answers the promotion. */
  function deps(promote: (request: RegistryPromoteRequest) => Promise<RegistryPromoteResult>): {
    deps: GateDeps
    openSsh: jest.Mock
    requests: RegistryPromoteRequest[]
    infos: string[]
  } {
    const openSsh = jest.fn(async (): Promise<Runner> => {
      throw new Error('no ssh in a registry promotion')
    })
    const requests: RegistryPromoteRequest[] = []
    const infos: string[] = []
    let now = 0
    return {
      openSsh,
      requests,
      infos,
      deps: {
        local: {} as GateDeps['local'],
        openSsh,
        log: {
          info: message => void infos.push(message),
          warning: () => undefined,
          openRaw: () => () => undefined,
          closeRaw: () => undefined
        },
        now: () => (now += 5),
        sleep: async () => undefined,
        nonce: () => 'n',
        runId: 'r',
        readRegistry: async () => {
          throw new Error('a registry promotion reads through promoteRegistry')
        },
        promoteRegistry: async (request, options) => {
          requests.push(request)
          expect(options).toMatchObject({
            username: 'u',
            password: 'p',
            platform: 'linux/amd64',
            revisionLabel: REV,
            timeoutMs: 45_000
          })
          return promote(request)
        },
        event: { eventName: 'push', sha: SHA_A, prHeadSha: '' }
      }
    }
  }

  test('promoted: no ssh, facts from the staged image and the read-back, the verdict names prod', async () => {
    const w = deps(async request => {
      request.onStaged?.(STAGED)
      return { staged: STAGED, prodDigest: d('d'), failed: undefined }
    })
    const facts = emptyFacts()
    const decision = await runGate(settings(), w.deps, facts)
    expect(decision).toEqual({
      verdict: 'match',
      pass: true,
      failure: '',
      reason: `provenance match: 0123456789ab, promoted to registry.example.com/shop:prod as sha256:dddddddddddd`
    })
    expect(w.openSsh).not.toHaveBeenCalled()
    expect(w.requests[0]).toMatchObject({
      image: 'registry.example.com/shop:staging',
      prodImage: 'registry.example.com/shop:prod',
      imageDigest: d('d')
    })
    expect(facts).toMatchObject({
      expectedRevision: SHA_A,
      imageRevision: SHA_A,
      imageDigest: d('d'),
      imageId: d('c'),
      prodImageDigest: d('d'),
      prodImageId: d('c')
    })
    expect(facts.phases.map(phase => phase.name)).toEqual(['promote'])
  })

  test.each<[string, Record<string, string>, Partial<Decision> | undefined]>([
    ['the expected revision', { [REV]: SHA_A }, undefined],
    ['a stale revision', { [REV]: SHA_B }, { failure: 'mismatch' }],
    ['no revision label', {}, { failure: 'missing-label' }],
    [
      'another repository as source',
      { [REV]: SHA_A, [SOURCE]: 'https://github.com/evil/fork' },
      { failure: 'wrong-source' }
    ],
    [
      'this repository as source',
      { [REV]: SHA_A, [SOURCE]: 'https://github.com/acme/shop.git' },
      undefined
    ]
  ])('the check handed to the promotion: %s', async (_name, labels, expected) => {
    let checked: Decision | undefined
    const w = deps(async request => {
      checked = request.check(labels)
      return { staged: STAGED, prodDigest: '', failed: failClosed('stop', 'mismatch') }
    })
    await runGate(settings(), w.deps, emptyFacts())
    if (expected === undefined) expect(checked).toBeUndefined()
    else expect(checked).toMatchObject({ pass: false, ...expected })
  })

  test('a refused check: its decision, nothing promoted, the staged facts kept', async () => {
    const stale = decideVerdict(SHA_A, SHA_B)
    const w = deps(async request => {
      request.onStaged?.({ ...STAGED, labels: { [REV]: SHA_B } })
      return { staged: STAGED, prodDigest: '', failed: stale }
    })
    const facts = emptyFacts()
    expect(await runGate(settings(''), w.deps, facts)).toEqual(stale)
    expect(w.requests[0]?.imageDigest).toBe('')
    expect(facts).toMatchObject({
      imageDigest: d('d'),
      imageRevision: SHA_B,
      prodImageDigest: '',
      prodImageId: ''
    })
  })

  test('a refused push throws the GateError, with the staged facts and the phase kept', async () => {
    const w = deps(async request => {
      request.onStaged?.(STAGED)
      throw new GateError('registry-auth', 'refused')
    })
    const facts = emptyFacts()
    expect(await runGate(settings(), w.deps, facts)).toMatchObject({
      verdict: 'fail-closed',
      failure: 'registry-auth',
      reason: 'provenance fail-closed: refused'
    })
    expect(facts).toMatchObject({
      imageDigest: d('d'),
      imageId: d('c'),
      prodImageDigest: '',
      current: 'promote'
    })
    expect(facts.phases.map(phase => phase.name)).toEqual(['promote'])
    expect(w.openSsh).not.toHaveBeenCalled()
  })
})
