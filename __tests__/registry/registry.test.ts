import { afterEach, beforeEach, describe, expect, test } from '@jest/globals'
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { GateError, InputError } from '../../src/errors.js'
import { parseChallenges, type Challenge } from '../../src/registry/challenge.js'
import { readRegistryImage, type RegistryOptions } from '../../src/registry/client.js'
import {
  candidateEntries,
  configMatches,
  formatPlatform,
  normalizePlatform,
  parsePlatform,
  parsePlatforms,
  platformVector,
  type Descriptor,
  type Platform
} from '../../src/registry/platform.js'
import {
  canonicalImageReference,
  parseImageReference,
  type ImageReference
} from '../../src/registry/reference.js'

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json'
const REPO = 'shop/app'
const USER = 'deployer'
const PASSWORD = 's3cret-Pa55word'
const D1 = `sha256:${'a'.repeat(64)}`

describe('parseImageReference', () => {
  test.each<[string, ImageReference]>([
    ['shop', ref('registry-1.docker.io', 'library/shop', 'latest')],
    ['shop:1.2', ref('registry-1.docker.io', 'library/shop', '1.2')],
    ['docker.io/shop', ref('registry-1.docker.io', 'library/shop', 'latest')],
    ['index.docker.io/org/shop:tag', ref('registry-1.docker.io', 'org/shop', 'tag')],
    ['org/shop', ref('registry-1.docker.io', 'org/shop', 'latest')],
    ['my_org/my-app__x.y:V_1.0-rc', ref('registry-1.docker.io', 'my_org/my-app__x.y', 'V_1.0-rc')],
    ['localhost/shop', ref('localhost', 'shop', 'latest')],
    ['localhost:5000/shop/staging:t1', ref('localhost:5000', 'shop/staging', 't1')],
    ['registry.example.com/a/b/c', ref('registry.example.com', 'a/b/c', 'latest')],
    ['Registry/shop', ref('Registry', 'shop', 'latest')],
    [`127.0.0.1:5000/shop@${D1}`, ref('127.0.0.1:5000', 'shop', undefined, D1)],
    [`ghcr.io/org/shop:staging@${D1}`, ref('ghcr.io', 'org/shop', 'staging', D1)],
    ['[::1]:5000/shop:v1', ref('[::1]:5000', 'shop', 'v1')]
  ])('%s', (reference, expected) => {
    expect(parseImageReference(reference)).toEqual(expected)
  })

  test.each([
    ['empty', '', /malformed repository/],
    ['uppercase repository', 'Shop', /malformed repository/],
    ['uppercase after a registry', 'Shop/App', /malformed repository/],
    ['empty tag', 'shop:', /malformed tag/],
    ['tag starting with a dash', 'shop:-bad', /malformed tag/],
    ['tag with a space', 'shop:a b', /malformed tag/],
    ['tag over 128 characters', `shop:${'a'.repeat(129)}`, /malformed tag/],
    ['short digest', 'shop@sha256:abc', /malformed digest/],
    ['other digest algorithm', `shop@md5:${'a'.repeat(32)}`, /malformed digest/],
    ['a URL', 'https://registry.example.com/shop', /malformed registry/],
    ['port out of range', 'registry.example.com:99999/shop', /malformed registry/],
    ['empty path component', 'registry.example.com//shop', /malformed repository/],
    ['registry without repository', 'registry.example.com/', /malformed repository/]
  ])('refuses %s', (_name, reference, message) => {
    const parse = () => parseImageReference(reference)
    expect(parse).toThrow(InputError)
    expect(parse).toThrow(message)
  })
})

describe('canonicalImageReference', () => {
  // How docker names the image locally: what two references must differ in to be two tags.
  test.each<[string, string]>([
    ['shop', 'docker.io/library/shop:latest'],
    ['shop:staging', 'docker.io/library/shop:staging'],
    ['library/shop:staging', 'docker.io/library/shop:staging'],
    ['docker.io/shop:staging', 'docker.io/library/shop:staging'],
    ['docker.io/library/shop:staging', 'docker.io/library/shop:staging'],
    ['index.docker.io/acme/shop:staging', 'docker.io/acme/shop:staging'],
    ['Docker.IO/acme/shop:staging', 'docker.io/acme/shop:staging'],
    ['acme/shop', 'docker.io/acme/shop:latest'],
    ['acme/shop:Staging', 'docker.io/acme/shop:Staging'],
    ['registry-1.docker.io/acme/shop', 'registry-1.docker.io/acme/shop:latest'],
    ['localhost:5000/shop', 'localhost:5000/shop:latest'],
    ['Registry.Example.com/shop:v1', 'registry.example.com/shop:v1'],
    ['ghcr.io/acme/shop:v1', 'ghcr.io/acme/shop:v1'],
    [`acme/shop@${D1}`, `docker.io/acme/shop@${D1}`],
    [`acme/shop:v1@${D1}`, `docker.io/acme/shop:v1@${D1}`],
    [`acme/shop@sha256:${'A'.repeat(64)}`, `docker.io/acme/shop@sha256:${'A'.repeat(64)}`]
  ])('%s → %s', (reference, canonical) => {
    expect(canonicalImageReference(reference)).toBe(canonical)
  })

  test.each(['', 'Shop', 'shop:', '-x', 'https://registry.example.com/shop'])(
    '%j is an InputError',
    reference => {
      expect(() => canonicalImageReference(reference)).toThrow(InputError)
    }
  )
})

describe('parseChallenges', () => {
  test.each<[string, string, Challenge[]]>([
    ['empty', '', []],
    ['Basic', 'Basic realm="Registry Realm"', [ch('basic', { realm: 'Registry Realm' })]],
    [
      'Bearer with realm, service and scope',
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"',
      [
        ch('bearer', {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/ubuntu:pull'
        })
      ]
    ],
    [
      'a comma inside a quoted value',
      'Bearer realm="https://r/token", scope="repository:a/b:pull,push", service="s"',
      [ch('bearer', { realm: 'https://r/token', scope: 'repository:a/b:pull,push', service: 's' })]
    ],
    [
      'escaped quotes and backslashes',
      'Basic realm="say \\"hi\\" \\\\ bye"',
      [ch('basic', { realm: 'say "hi" \\ bye' })]
    ],
    [
      'two challenges in one header',
      'Basic realm="a", Bearer realm="https://b/token",service="c"',
      [ch('basic', { realm: 'a' }), ch('bearer', { realm: 'https://b/token', service: 'c' })]
    ],
    [
      'unquoted values, spaces around =',
      'Bearer realm = https://r/token , service=reg',
      [ch('bearer', { realm: 'https://r/token', service: 'reg' })]
    ],
    [
      'scheme and names in any case',
      'BEARER REALM="x",Service="y"',
      [ch('bearer', { realm: 'x', service: 'y' })]
    ],
    ['a scheme without parameters', 'Basic', [ch('basic', {})]],
    [
      'a token68 challenge before another',
      'Negotiate abc+/==, Basic realm="r"',
      [ch('negotiate', {}), ch('basic', { realm: 'r' })]
    ],
    [
      'an error parameter from a refused token',
      'Bearer realm="https://r/t",error="invalid_token"',
      [ch('bearer', { realm: 'https://r/t', error: 'invalid_token' })]
    ],
    [
      'the first of a repeated parameter',
      'Basic realm="a", realm="b"',
      [ch('basic', { realm: 'a' })]
    ]
  ])('%s', (_name, header, expected) => {
    expect(parseChallenges(header)).toEqual(expected)
  })
})

describe('parsePlatform and formatPlatform', () => {
  test.each<[string, Platform]>([
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['windows/amd64', { os: 'windows', architecture: 'amd64' }]
  ])('%s', (text, platform) => {
    expect(parsePlatform(text)).toEqual(platform)
    expect(formatPlatform(platform)).toBe(text)
  })

  test.each(['', 'linux', 'linux/', '/amd64', 'linux/arm/v7/x', 'linux amd64', 'Linux/AMD64'])(
    'refuses %j',
    text => {
      expect(() => parsePlatform(text)).toThrow(InputError)
    }
  )
})

describe('candidateEntries (containerd platforms.Only, every host the request stands for)', () => {
  const entries: Descriptor[] = [
    entry(D1, undefined),
    entry(`sha256:${'1'.repeat(64)}`, { os: 'linux', architecture: 'amd64' }),
    entry(`sha256:${'2'.repeat(64)}`, { os: 'linux', architecture: 'arm64', variant: 'v8' }),
    entry(`sha256:${'3'.repeat(64)}`, { os: 'linux', architecture: 'arm', variant: 'v6' }),
    entry(`sha256:${'4'.repeat(64)}`, { os: 'linux', architecture: 'arm', variant: 'v7' }),
    entry(`sha256:${'5'.repeat(64)}`, { os: 'unknown', architecture: 'unknown' }),
    entry(`sha256:${'6'.repeat(64)}`, { os: 'windows', architecture: 'amd64' })
  ]
  test.each<[string, string]>([
    ['linux/amd64', '1'],
    ['linux/amd64/v1', '1'],
    ['linux/x86_64', '1'],
    ['linux/arm64', '2'],
    ['linux/arm64/v8', '2'],
    ['linux/aarch64', '2'],
    ['linux/arm/v7', '4'],
    ['linux/arm/v6', '3'],
    // containerd: plain arm is v7, which prefers a v7 entry over a v6 one.
    ['linux/arm', '4'],
    ['windows/amd64', '6'],
    ['linux/arm/v5', ''],
    ['linux/s390x', ''],
    ['darwin/arm64', '']
  ])('%s', (platform, digits) => {
    const picked = candidateEntries(entries, parsePlatform(platform)).map(e => e.digest)
    expect(picked).toEqual([...digits].map(digit => `sha256:${digit.repeat(64)}`))
  })

  const E = (n: number): string => `sha256:${String(n).repeat(64)}`
  test.each<[string, [string, string, string?][], string, number[]]>([
    [
      'amd64 v3 beside plain amd64',
      [
        ['linux', 'amd64'],
        ['linux', 'amd64', 'v3']
      ],
      'linux/amd64',
      [1, 2]
    ],
    [
      'amd64 v2, v3, v4 beside v1',
      [
        ['linux', 'amd64', 'v1'],
        ['linux', 'amd64', 'v2'],
        ['linux', 'amd64', 'v3'],
        ['linux', 'amd64', 'v4']
      ],
      'linux/amd64',
      [1, 2, 3, 4]
    ],
    [
      'a v3 host takes v3 over plain',
      [
        ['linux', 'amd64'],
        ['linux', 'amd64', 'v3']
      ],
      'linux/amd64/v3',
      [2]
    ],
    [
      'a v3 host falls back to v2',
      [
        ['linux', 'amd64'],
        ['linux', 'amd64', 'v2'],
        ['linux', 'amd64', 'v4']
      ],
      'linux/amd64/v3',
      [2]
    ],
    ['a v2 host never takes v4', [['linux', 'amd64', 'v4']], 'linux/amd64/v2', []],
    [
      'only a v3 entry: plain amd64 hosts at v3+ take it',
      [['linux', 'amd64', 'v3']],
      'linux/amd64',
      [1]
    ],
    [
      'AMD64 beside amd64 (case)',
      [
        ['linux', 'AMD64'],
        ['linux', 'amd64']
      ],
      'linux/amd64',
      [1, 2]
    ],
    [
      'Linux beside linux (case)',
      [
        ['Linux', 'amd64'],
        ['linux', 'amd64']
      ],
      'linux/amd64',
      [1, 2]
    ],
    [
      'x86-64 beside amd64 (alias)',
      [
        ['linux', 'x86-64'],
        ['linux', 'amd64']
      ],
      'linux/amd64',
      [1, 2]
    ],
    [
      'x86_64 beside amd64 (alias)',
      [
        ['linux', 'amd64'],
        ['linux', 'x86_64']
      ],
      'linux/amd64',
      [1, 2]
    ],
    [
      'two plain amd64 entries',
      [
        ['linux', 'amd64'],
        ['linux', 'amd64']
      ],
      'linux/amd64',
      [1, 2]
    ],
    [
      'amd64 over 386',
      [
        ['linux', '386'],
        ['linux', 'amd64']
      ],
      'linux/amd64',
      [2]
    ],
    [
      '386 when there is no amd64',
      [
        ['linux', '386'],
        ['linux', 'arm64']
      ],
      'linux/amd64',
      [1]
    ],
    [
      'aarch64 beside arm64/v8',
      [
        ['linux', 'aarch64'],
        ['linux', 'arm64', 'v8']
      ],
      'linux/arm64',
      [1, 2]
    ],
    [
      'arm64 v8.2 and v9 entries beside v8',
      [
        ['linux', 'arm64'],
        ['linux', 'arm64', 'v8.2'],
        ['linux', 'arm64', 'v9']
      ],
      'linux/arm64',
      [1, 2, 3]
    ],
    [
      'an arm64/v8 host takes v8 only',
      [
        ['linux', 'arm64'],
        ['linux', 'arm64', 'v9']
      ],
      'linux/arm64/v8',
      [1]
    ],
    [
      'arm64 falls back to arm/v7',
      [
        ['linux', 'arm', 'v7'],
        ['linux', 'arm', 'v6']
      ],
      'linux/arm64',
      [1]
    ],
    [
      'armhf is arm/v7',
      [
        ['linux', 'armhf'],
        ['linux', 'arm', 'v7']
      ],
      'linux/arm/v7',
      [1, 2]
    ],
    [
      'armel is arm/v6',
      [
        ['linux', 'armel'],
        ['linux', 'arm', 'v5']
      ],
      'linux/arm/v6',
      [1]
    ],
    ['os missing is linux', [['', 'amd64']], 'linux/amd64', [1]]
  ])('%s', (_name, platforms, requested, chosen) => {
    const list = platforms.map(([os, architecture, variant], n) =>
      entry(E(n + 1), variant === undefined ? { os, architecture } : { os, architecture, variant })
    )
    const picked = candidateEntries(list, parsePlatform(requested)).map(e => e.digest)
    expect(picked).toEqual(chosen.map(E))
  })
})

describe('normalizePlatform (containerd Normalize)', () => {
  test.each<[Platform, string]>([
    [{ os: 'Linux', architecture: 'AMD64' }, 'linux/amd64'],
    [{ os: 'linux', architecture: 'x86_64', variant: 'v1' }, 'linux/amd64'],
    [{ os: 'linux', architecture: 'x86-64', variant: 'V3' }, 'linux/amd64/v3'],
    [{ os: 'linux', architecture: 'aarch64', variant: '8' }, 'linux/arm64'],
    [{ os: 'linux', architecture: 'arm64', variant: 'v9.0' }, 'linux/arm64/v9'],
    [{ os: 'linux', architecture: 'armhf' }, 'linux/arm/v7'],
    [{ os: 'linux', architecture: 'armel' }, 'linux/arm/v6'],
    [{ os: 'linux', architecture: 'arm' }, 'linux/arm/v7'],
    [{ os: 'linux', architecture: 'arm', variant: '6' }, 'linux/arm/v6'],
    [{ os: 'linux', architecture: 'i386', variant: 'x' }, 'linux/386'],
    [{ os: 'macos', architecture: 'arm64' }, 'darwin/arm64'],
    [{ os: '', architecture: 'amd64' }, 'linux/amd64']
  ])('%j is %s', (platform, expected) => {
    expect(formatPlatform(normalizePlatform(platform))).toBe(expected)
  })
})

describe('platformVector (containerd compare.go)', () => {
  test.each<[string, string[]]>([
    ['linux/amd64', ['linux/amd64', 'linux/386']],
    ['linux/amd64/v3', ['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/386']],
    ['linux/arm/v7', ['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']],
    [
      'linux/arm64',
      ['linux/arm64', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']
    ],
    [
      'linux/arm64/v8.2',
      [
        'linux/arm64/v8.2',
        'linux/arm64/v8.1',
        'linux/arm64',
        'linux/arm/v8',
        'linux/arm/v7',
        'linux/arm/v6',
        'linux/arm/v5'
      ]
    ],
    ['linux/s390x', ['linux/s390x']]
  ])('%s', (host, expected) => {
    expect(platformVector(normalizePlatform(parsePlatform(host))).map(formatPlatform)).toEqual(
      expected
    )
  })
})

describe('parsePlatforms', () => {
  test.each<[string, string[]]>([
    ['linux/amd64', ['linux/amd64']],
    ['linux/amd64,linux/arm64', ['linux/amd64', 'linux/arm64']],
    [' linux/amd64 , linux/arm64/v8 ', ['linux/amd64', 'linux/arm64/v8']],
    ['linux/amd64,linux/x86_64,linux/amd64/v1', ['linux/amd64']],
    ['linux/arm64,linux/arm64/v8', ['linux/arm64']],
    ['linux/amd64,,', ['linux/amd64']]
  ])('%j', (raw, expected) => {
    expect(parsePlatforms(raw).map(formatPlatform)).toEqual(expected)
  })

  test.each([
    '',
    ' , ',
    'linux/amd64,linux',
    'linux/amd64;linux/arm64',
    Array(17).fill('linux/amd64').join(',')
  ])('refuses %j', raw => {
    expect(() => parsePlatforms(raw)).toThrow(InputError)
  })
})

describe('configMatches', () => {
  test.each<[Platform, Platform, boolean]>([
    [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64' }, true],
    [{ os: 'linux', architecture: 'x86_64' }, { os: 'linux', architecture: 'amd64' }, true],
    [{ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'amd64' }, false],
    [{ os: 'windows', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64' }, false],
    [
      { os: 'linux', architecture: 'amd64', variant: 'v3' },
      { os: 'linux', architecture: 'amd64' },
      true
    ],
    [
      { os: 'linux', architecture: 'amd64', variant: 'v2' },
      { os: 'linux', architecture: 'amd64', variant: 'v3' },
      false
    ],
    [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'amd64', variant: 'v3' },
      true
    ],
    [
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
      { os: 'linux', architecture: 'arm64' },
      true
    ],
    [
      { os: 'linux', architecture: 'arm', variant: 'v6' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
      false
    ]
  ])('config %j as entry %j: %s', (config, claimed, expected) => {
    expect(configMatches(config, claimed)).toBe(expected)
  })
})

// ---- The HTTP flows, against a real HTTP server on loopback. ----

/** Content as a registry stores it: the exact bytes, their digest, their media type. */
interface Blob {
  body: Buffer
  digest: string
  mediaType: string
}

function blob(json: unknown, mediaType: string): Blob {
  const body = Buffer.from(JSON.stringify(json))
  return { body, digest: digestOf(body), mediaType }
}

function digestOf(body: Buffer | string): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`
}

function configBlob(
  labels: unknown,
  architecture = 'amd64',
  mediaType = OCI_CONFIG,
  variant?: string
): Blob {
  return blob(
    {
      architecture,
      os: 'linux',
      ...(variant ? { variant } : {}),
      config: labels === undefined ? {} : { Labels: labels },
      rootfs: { type: 'layers', diff_ids: [] }
    },
    mediaType
  )
}

function describe_(content: Blob, platform?: Platform): Record<string, unknown> {
  return {
    mediaType: content.mediaType,
    digest: content.digest,
    size: content.body.length,
    ...(platform ? { platform } : {})
  }
}

function manifestBlob(config: Blob, mediaType = OCI_MANIFEST): Blob {
  return blob({ schemaVersion: 2, mediaType, config: describe_(config), layers: [] }, mediaType)
}

function indexBlob(entries: [Blob, Platform | undefined][], mediaType = OCI_INDEX): Blob {
  return blob(
    {
      schemaVersion: 2,
      mediaType,
      manifests: entries.map(([manifest, platform]) => describe_(manifest, platform))
    },
    mediaType
  )
}

/** What one registry holds for REPO: tags and digests to manifests, and blobs. */
class Store {
  readonly manifests = new Map<string, Blob>()
  readonly blobs = new Map<string, Blob>()

  /** Stores a single-platform image under `tag` and returns its parts. */
  image(
    tag: string,
    labels: unknown,
    mediaType = OCI_MANIFEST,
    platform: Platform = { os: 'linux', architecture: 'amd64' }
  ): { manifest: Blob; config: Blob } {
    const config = configBlob(
      labels,
      platform.architecture,
      mediaType === OCI_MANIFEST ? OCI_CONFIG : DOCKER_CONFIG,
      platform.variant
    )
    const manifest = manifestBlob(config, mediaType)
    this.blobs.set(config.digest, config)
    this.manifests.set(manifest.digest, manifest)
    if (tag) this.manifests.set(tag, manifest)
    return { manifest, config }
  }

  /** Stores an index of one image per platform under `tag`. */
  index(
    tag: string,
    platforms: [Platform, Record<string, string>][],
    mediaType = OCI_INDEX
  ): { index: Blob; manifests: Blob[] } {
    const manifestType = mediaType === OCI_INDEX ? OCI_MANIFEST : DOCKER_MANIFEST
    const manifests = platforms.map(
      ([platform, labels]) => this.image('', labels, manifestType, platform).manifest
    )
    const index = indexBlob(
      manifests.map((manifest, n) => [manifest, platforms[n]?.[0]]),
      mediaType
    )
    this.manifests.set(index.digest, index)
    this.manifests.set(tag, index)
    return { index, manifests }
  }
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** One recorded request. */
interface Seen {
  method: string
  url: string
  authorization?: string
  accept?: string
}

/**
 * A real HTTP server on loopback whose behaviour each test sets. Each test gets fresh ones: a
 * new port is a new origin, so no test inherits another's pooled (possibly aborted) connections.
 */
class TestServer {
  handler: Handler = (_req, res) => res.writeHead(500).end()
  readonly seen: Seen[] = []
  private readonly server: Server
  port = 0

  constructor() {
    this.server = createServer((req, res) => {
      this.seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        accept: req.headers.accept
      })
      this.handler(req, res)
    })
  }

  /** The origin the client is given: https, which `viaHttp` maps to this http server. */
  get origin(): string {
    return `https://127.0.0.1:${this.port}`
  }

  get registry(): string {
    return `127.0.0.1:${this.port}`
  }

  async start(): Promise<void> {
    await new Promise<void>(resolve => this.server.listen(0, '127.0.0.1', resolve))
    const address = this.server.address()
    this.port = typeof address === 'object' && address ? address.port : 0
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise(resolve => this.server.close(resolve))
  }
}

/** Node's fetch over plain HTTP: the real request flow, minus TLS (covered by integration). */
const viaHttp: typeof fetch = (input, init) =>
  fetch(typeof input === 'string' ? input.replace(/^https:/, 'http:') : input, init)

type Auth =
  | { kind: 'none' }
  | { kind: 'basic' }
  | { kind: 'bearer'; tokenField?: 'token' | 'access_token'; anonymous?: boolean }

const TOKEN = 'tok.en-123'

function registryError(res: ServerResponse, status: number, code: string, message: string): void {
  res
    .writeHead(status, { 'content-type': 'application/json' })
    .end(JSON.stringify({ errors: [{ code, message, detail: null }] }))
}

/** A registry serving `store` for REPO, behind the given authentication. */
function registry(store: Store, server: TestServer, auth: Auth = { kind: 'none' }): Handler {
  const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (auth.kind === 'bearer' && url.pathname === '/token') {
      if (!auth.anonymous && req.headers.authorization !== basic) {
        registryError(res, 401, 'UNAUTHORIZED', 'bad credentials')
        return
      }
      const field = auth.tokenField ?? 'token'
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ [field]: TOKEN, expires_in: 300 }))
      return
    }
    const wanted = auth.kind === 'basic' ? basic : `Bearer ${TOKEN}`
    if (auth.kind !== 'none' && req.headers.authorization !== wanted) {
      const challenge =
        auth.kind === 'basic'
          ? 'Basic realm="test registry"'
          : `Bearer realm="${server.origin}/token",service="test-registry",scope="repository:${REPO}:pull"`
      res.setHeader('www-authenticate', challenge)
      registryError(res, 401, 'UNAUTHORIZED', 'authentication required')
      return
    }
    const match = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname)
    if (!match || match[1] !== REPO) {
      registryError(res, 404, 'NAME_UNKNOWN', 'repository name not known to registry')
      return
    }
    const [, , kind, reference = ''] = match
    const content =
      kind === 'manifests' ? store.manifests.get(reference) : store.blobs.get(reference)
    if (!content) {
      const code = kind === 'manifests' ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN'
      registryError(res, 404, code, `${kind === 'manifests' ? 'manifest' : 'blob'} unknown`)
      return
    }
    res.writeHead(200, {
      'content-type': kind === 'manifests' ? content.mediaType : 'application/octet-stream',
      'docker-content-digest': content.digest,
      'content-length': content.body.length
    })
    res.end(content.body)
  }
}

/** The GateError a read failed with (a test fails if it succeeded or threw anything else). */
async function failureOf(read: Promise<unknown>): Promise<{ failure: string; message: string }> {
  let outcome: unknown
  try {
    outcome = await read
  } catch (error) {
    if (error instanceof GateError) return { failure: error.failure, message: error.message }
    throw error
  }
  throw new Error(`expected a GateError, the read returned ${JSON.stringify(outcome)}`)
}

describe('readRegistryImage over HTTP', () => {
  let server: TestServer
  let other: TestServer
  let store: Store

  const options = (extra: Partial<RegistryOptions> = {}): RegistryOptions => ({
    username: '',
    password: '',
    platform: 'linux/amd64',
    timeoutMs: 5000,
    fetch: viaHttp,
    ...extra
  })
  const withCredentials = (password = PASSWORD): Partial<RegistryOptions> => ({
    username: USER,
    password
  })
  const read = (tag: string, extra: Partial<RegistryOptions> = {}) =>
    readRegistryImage(`${server.registry}/${REPO}${tag}`, options(extra))
  const manifestRequests = () => server.seen.filter(s => s.url.includes('/manifests/'))

  beforeEach(async () => {
    store = new Store()
    server = new TestServer()
    other = new TestServer()
    await Promise.all([server.start(), other.start()])
  })
  afterEach(async () => {
    await Promise.all([server.stop(), other.stop()])
  })

  test.each([
    ['OCI', OCI_MANIFEST],
    ['Docker v2', DOCKER_MANIFEST]
  ])('anonymous %s image: labels and all three digests', async (_name, mediaType) => {
    const labels = { 'org.opencontainers.image.revision': 'f'.repeat(40), other: 'x' }
    const { manifest, config } = store.image('v1', labels, mediaType)
    server.handler = registry(store, server)
    const image = await read(':v1')
    expect(image).toEqual({
      digest: manifest.digest,
      manifestDigest: manifest.digest,
      configDigest: config.digest,
      labels,
      images: [
        {
          platform: 'linux/amd64',
          manifestDigest: manifest.digest,
          configDigest: config.digest,
          labels
        }
      ]
    })
    expect(server.seen.map(s => s.url)).toEqual([
      `/v2/${REPO}/manifests/v1`,
      `/v2/${REPO}/blobs/${config.digest}`
    ])
    expect(server.seen.every(s => s.authorization === undefined)).toBe(true)
  })

  test('every manifest request accepts all four manifest and index types', async () => {
    store.image('v1', {})
    server.handler = registry(store, server)
    await read(':v1')
    const accept = (manifestRequests()[0]?.accept ?? '').split(/,\s*/).sort()
    expect(accept).toEqual([DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST].sort())
  })

  test('a bare name reads the tag latest', async () => {
    const { config } = store.image('latest', { a: 'b' })
    server.handler = registry(store, server)
    expect((await read('')).configDigest).toBe(config.digest)
  })

  test('by digest: the tag is ignored and the body is checked against the digest', async () => {
    const { manifest } = store.image('v1', { a: 'b' })
    server.handler = registry(store, server)
    const image = await read(`:ignored@${manifest.digest}`)
    expect(image.digest).toBe(manifest.digest)
    expect(manifestRequests().map(s => s.url)).toEqual([`/v2/${REPO}/manifests/${manifest.digest}`])
  })

  test.each<[string, unknown]>([
    ['null', null],
    ['missing', undefined]
  ])('config.Labels %s reads as no labels', async (_name, labels) => {
    store.image('v1', labels)
    server.handler = registry(store, server)
    expect((await read(':v1')).labels).toEqual({})
  })

  test('config.Labels with a non-string value is a registry-error', async () => {
    store.image('v1', { a: 1 })
    server.handler = registry(store, server)
    expect(await failureOf(read(':v1'))).toEqual({
      failure: 'registry-error',
      message: expect.stringMatching(/config\.Labels that is not a map of strings/)
    })
  })

  describe('Basic authentication', () => {
    test('first anonymous, then Basic on the challenge, kept for the blob', async () => {
      const { config } = store.image('v1', { a: 'b' })
      server.handler = registry(store, server, { kind: 'basic' })
      const image = await read(':v1', withCredentials())
      expect(image.configDigest).toBe(config.digest)
      const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`
      expect(server.seen.map(s => [s.url, s.authorization])).toEqual([
        [`/v2/${REPO}/manifests/v1`, undefined],
        [`/v2/${REPO}/manifests/v1`, basic],
        [`/v2/${REPO}/blobs/${config.digest}`, basic]
      ])
    })

    test.each<[string, Partial<RegistryOptions>, RegExp, number]>([
      ['a wrong password', withCredentials('wrong'), /refused the given credentials.*\(401/, 2],
      ['no credentials', {}, /requires credentials .*\(401, Basic\) and none were given/, 1]
    ])('%s is registry-auth', async (_name, extra, message, requests) => {
      store.image('v1', {})
      server.handler = registry(store, server, { kind: 'basic' })
      const failed = await failureOf(read(':v1', extra))
      expect(failed).toEqual({ failure: 'registry-auth', message: expect.stringMatching(message) })
      expect(failed.message).not.toContain('wrong')
      expect(failed.message).not.toContain(PASSWORD)
      expect(server.seen).toHaveLength(requests)
    })

    test('a blob refused with the credentials that fetched the manifest is not retried', async () => {
      const { config } = store.image('v1', {})
      const serve = registry(store, server, { kind: 'basic' })
      server.handler = (req, res) => {
        if (!req.url?.includes('/blobs/')) return serve(req, res)
        res.setHeader('www-authenticate', 'Basic realm="test registry"')
        registryError(res, 401, 'UNAUTHORIZED', 'no')
      }
      expect(await failureOf(read(':v1', withCredentials()))).toEqual({
        failure: 'registry-auth',
        message: expect.stringMatching(
          new RegExp(`refused the given credentials for config blob ${config.digest}`)
        )
      })
      expect(server.seen.filter(s => s.url.includes('/blobs/'))).toHaveLength(1)
    })
  })

  describe('credentials never reach a message', () => {
    const BASE64 = Buffer.from(`${USER}:${PASSWORD}`).toString('base64')
    /** Everything a hostile or careless registry could repeat from our request. */
    const echoes = (req: IncomingMessage): string =>
      `bad credentials: ${req.headers.authorization ?? ''} ${Buffer.from(req.headers.authorization?.slice(6) ?? '', 'base64').toString()}`
    /** Records what was masked, and how many requests the server had seen by then. */
    const masking = (): { masked: [string, number][]; mask: (secret: string) => void } => {
      const masked: [string, number][] = []
      return { masked, mask: secret => masked.push([secret, server.seen.length]) }
    }
    const expectClean = (message: string, ...secrets: string[]): void => {
      for (const secret of [BASE64, PASSWORD, `${USER}:${PASSWORD}`, ...secrets]) {
        expect(message).not.toContain(secret)
      }
    }

    test.each<[string, number]>([
      ['401', 401],
      ['403', 403]
    ])(
      'a %s that repeats the Authorization header is registry-auth without the body',
      async (_name, status) => {
        const { masked, mask } = masking()
        server.handler = (req, res) => {
          res.setHeader('www-authenticate', 'Basic realm="test registry"')
          if (!req.headers.authorization) return registryError(res, 401, 'UNAUTHORIZED', 'login')
          registryError(res, status, 'UNAUTHORIZED', echoes(req))
        }
        const failed = await failureOf(read(':v1', { ...withCredentials(), mask }))
        expect(failed).toEqual({
          failure: 'registry-auth',
          message: `${server.registry} refused the given credentials for manifest ${server.registry}/${REPO}:v1 (${status}): check registry-username and registry-password, and that this user may pull ${REPO} (the registry's answer is not shown: it may repeat the credentials)`
        })
        expectClean(failed.message)
        // Masked as soon as it exists, before any request.
        expect(masked).toEqual([[BASE64, 0]])
      }
    )

    test('anonymous access refused says what to set', async () => {
      server.handler = (_req, res) => registryError(res, 403, 'DENIED', 'private repository')
      expect(await failureOf(read(':v1'))).toEqual({
        failure: 'registry-auth',
        message: `${server.registry} refused anonymous access for manifest ${server.registry}/${REPO}:v1 (403): if the repository is private, set registry-username and registry-password`
      })
    })

    test('a token endpoint that repeats the Authorization header on 401', async () => {
      server.handler = (req, res) => {
        if (req.url?.startsWith('/token')) return registryError(res, 401, 'DENIED', echoes(req))
        res.setHeader('www-authenticate', `Bearer realm="${server.origin}/token",service="s"`)
        registryError(res, 401, 'UNAUTHORIZED', 'login')
      }
      const failed = await failureOf(read(':v1', withCredentials()))
      expect(failed).toEqual({
        failure: 'registry-auth',
        message: `token endpoint ${server.origin}/token refused the given credentials (401): check registry-username and registry-password, and that this user may pull ${REPO} (the registry's answer is not shown: it may repeat the credentials)`
      })
      expectClean(failed.message)
    })

    test.each<[string, number, string]>([
      ['a 404', 404, 'registry-not-found'],
      ['a 500', 500, 'registry-error'],
      ['a 400', 400, 'registry-error']
    ])(
      '%s whose body repeats the Basic credentials shows them masked',
      async (_name, status, failure) => {
        const { masked, mask } = masking()
        server.handler = (req, res) => {
          if (!req.headers.authorization) {
            res.setHeader('www-authenticate', 'Basic realm="r"')
            return registryError(res, 401, 'UNAUTHORIZED', 'login')
          }
          res.writeHead(status, { 'content-type': 'text/plain' }).end(echoes(req))
        }
        const failed = await failureOf(read(':v1', { ...withCredentials(), mask }))
        expect(failed.failure).toBe(failure)
        expect(failed.message).toContain('bad credentials: Basic ***')
        expectClean(failed.message)
        expect(masked.map(([secret]) => secret)).toContain(BASE64)
      }
    )

    test('a bearer token is masked as soon as it arrives, and never shown', async () => {
      const token = 'eyJhbGciOiJFUzI1NiJ9.secret-token-value'
      const { masked, mask } = masking()
      server.handler = (req, res) => {
        if (req.url?.startsWith('/token')) {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }))
          return
        }
        if (!req.headers.authorization) {
          res.setHeader('www-authenticate', `Bearer realm="${server.origin}/token"`)
          return registryError(res, 401, 'UNAUTHORIZED', 'login')
        }
        res.writeHead(500, { 'content-type': 'text/plain' }).end(echoes(req))
      }
      const failed = await failureOf(read(':v1', { mask }))
      expect(failed.failure).toBe('registry-error')
      expect(failed.message).toContain('Bearer ***')
      expect(failed.message).not.toContain(token)
      // Masked after the token request (the second) and before the request that sent it.
      expect(masked).toEqual([[token, 2]])
    })

    test('a token answer that is not JSON is not quoted, not even by the parse error', async () => {
      server.handler = (req, res) => {
        if (req.url?.startsWith('/token')) {
          res.writeHead(200, { 'content-type': 'application/json' }).end(`${BASE64} ${echoes(req)}`)
          return
        }
        res.setHeader('www-authenticate', `Bearer realm="${server.origin}/token"`)
        registryError(res, 401, 'UNAUTHORIZED', 'login')
      }
      const failed = await failureOf(read(':v1', withCredentials()))
      expect(failed).toEqual({
        failure: 'registry-error',
        // Where the parse stopped, never what it read there.
        message: `token endpoint ${server.origin}/token is not valid JSON: unexpected character at offset 0`
      })
    })

    test('a WWW-Authenticate without a usable scheme that repeats the credentials', async () => {
      server.handler = (_req, res) => {
        res.setHeader('www-authenticate', `Negotiate ${BASE64}`)
        registryError(res, 401, 'UNAUTHORIZED', 'login')
      }
      const failed = await failureOf(read(':v1', withCredentials()))
      expect(failed.failure).toBe('registry-auth')
      expect(failed.message).toContain('WWW-Authenticate: "Negotiate ***"')
      expectClean(failed.message)
    })
  })

  describe('Bearer authentication', () => {
    test.each<['token' | 'access_token']>([['token'], ['access_token']])(
      'challenge, one %s from the realm with Basic credentials, reused for the blob',
      async tokenField => {
        const { config } = store.image('v1', { a: 'b' })
        server.handler = registry(store, server, { kind: 'bearer', tokenField })
        const image = await read(':v1', withCredentials())
        expect(image.labels).toEqual({ a: 'b' })
        const tokens = server.seen.filter(s => s.url.startsWith('/token'))
        expect(tokens).toHaveLength(1)
        const query = new URL(tokens[0]?.url ?? '', 'http://x').searchParams
        expect(query.get('service')).toBe('test-registry')
        expect(query.getAll('scope')).toEqual([`repository:${REPO}:pull`])
        expect(tokens[0]?.authorization).toBe(
          `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`
        )
        expect(server.seen.filter(s => s.url.startsWith('/v2/')).map(s => s.authorization)).toEqual(
          [undefined, `Bearer ${TOKEN}`, `Bearer ${TOKEN}`]
        )
        expect(server.seen.at(-1)?.url).toBe(`/v2/${REPO}/blobs/${config.digest}`)
      }
    )

    test('anonymous: the token request carries no credentials', async () => {
      store.image('v1', { a: 'b' })
      server.handler = registry(store, server, { kind: 'bearer', anonymous: true })
      expect((await read(':v1')).labels).toEqual({ a: 'b' })
      const token = server.seen.find(s => s.url.startsWith('/token'))
      expect(token).toBeDefined()
      expect(token?.authorization).toBeUndefined()
    })

    test('the token endpoint refusing the credentials is registry-auth', async () => {
      store.image('v1', {})
      server.handler = registry(store, server, { kind: 'bearer' })
      const failed = await failureOf(read(':v1', withCredentials('wrong')))
      expect(failed).toEqual({
        failure: 'registry-auth',
        message: expect.stringMatching(
          /token endpoint https:\/\/127\.0\.0\.1:\d+\/token refused the given credentials \(401\)/
        )
      })
      expect(failed.message).not.toContain('wrong')
    })

    test('a token the registry still refuses is registry-auth, not a loop', async () => {
      store.image('v1', {})
      server.handler = (req, res) => {
        if (req.url?.startsWith('/token')) {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"useless"}')
          return
        }
        res.setHeader('www-authenticate', `Bearer realm="${server.origin}/token",service="s"`)
        registryError(res, 401, 'UNAUTHORIZED', 'no')
      }
      const failed = await failureOf(read(':v1'))
      expect(failed).toEqual({
        failure: 'registry-auth',
        message: expect.stringMatching(/refused anonymous access for manifest .*\(401\)/)
      })
      expect(server.seen).toHaveLength(3)
      const scope = new URL(server.seen[1]?.url ?? '', 'http://x').searchParams.get('scope')
      expect(scope).toBe(`repository:${REPO}:pull`)
    })

    test.each<[string, string, RegExp]>([
      ['not JSON', 'not json', /token endpoint .* is not valid JSON/],
      ['no token', '{"expires_in":300}', /answered without a usable token/],
      ['an empty token', '{"token":""}', /answered without a usable token/],
      ['a token with a newline', '{"token":"a\\nb"}', /answered without a usable token/]
    ])('a token answer with %s is registry-error', async (_name, body, message) => {
      server.handler = (req, res) => {
        if (req.url?.startsWith('/token')) {
          res.writeHead(200, { 'content-type': 'application/json' }).end(body)
          return
        }
        res.setHeader('www-authenticate', `Bearer realm="${server.origin}/token"`)
        res.writeHead(401).end()
      }
      expect(await failureOf(read(':v1'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(message)
      })
    })

    test('a realm that is not HTTPS is refused before anything is sent to it', async () => {
      server.handler = (_req, res) => {
        res.setHeader('www-authenticate', `Bearer realm="http://127.0.0.1:${other.port}/token"`)
        res.writeHead(401).end()
      }
      expect(await failureOf(read(':v1', withCredentials()))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(/token realm that is not HTTPS/)
      })
      expect(other.seen).toEqual([])
    })
  })

  test.each<[string, number, string | undefined, RegExp]>([
    ['401 without a challenge', 401, undefined, /without a Basic or Bearer challenge/],
    ['401 with an unknown scheme', 401, 'Negotiate', /without a Basic or Bearer challenge/],
    ['403', 403, undefined, /refused anonymous access .*\(403/]
  ])('%s is registry-auth', async (_name, status, challenge, message) => {
    server.handler = (_req, res) => {
      if (challenge) res.setHeader('www-authenticate', challenge)
      res.writeHead(status).end()
    }
    expect(await failureOf(read(':v1'))).toEqual({
      failure: 'registry-auth',
      message: expect.stringMatching(message)
    })
  })

  test.each<[string, string, RegExp]>([
    [
      'an unknown tag',
      `${REPO}:nope`,
      /manifest .*shop\/app:nope not found \(404 MANIFEST_UNKNOWN/
    ],
    ['an unknown repository', 'shop/other:v1', /not found \(404 NAME_UNKNOWN/]
  ])('%s is registry-not-found', async (_name, path, message) => {
    store.image('v1', {})
    server.handler = registry(store, server, { kind: 'basic' })
    const failed = await failureOf(
      readRegistryImage(`${server.registry}/${path}`, options(withCredentials()))
    )
    expect(failed).toEqual({
      failure: 'registry-not-found',
      message: expect.stringMatching(message)
    })
  })

  test.each<[string, number, string, RegExp]>([
    ['500', 500, 'boom', /answered 500 Internal Server Error "boom"/],
    [
      '502 with a JSON error',
      502,
      '{"errors":[{"code":"UNAVAILABLE"}]}',
      /502 Bad Gateway UNAVAILABLE/
    ],
    ['429', 429, '', /429 Too Many Requests \(rate limited\)/],
    ['400', 400, '', /answered 400/]
  ])('%s is registry-error', async (_name, status, body, message) => {
    server.handler = (_req, res) => res.writeHead(status).end(body)
    expect(await failureOf(read(':v1'))).toEqual({
      failure: 'registry-error',
      message: expect.stringMatching(message)
    })
  })

  describe('what the registry answers must be what was asked for', () => {
    /** Serves `store`, but lets a test replace one answer. */
    const tampered =
      (override: (url: string, res: ServerResponse) => boolean): Handler =>
      (req, res) => {
        if (!override(req.url ?? '', res)) registry(store, server)(req, res)
      }

    test.each<[string, string | undefined, RegExp]>([
      ['text/html', 'text/html', /Content-Type "text\/html", not an OCI or Docker v2/],
      ['application/json', 'application/json', /Content-Type "application\/json"/],
      ['none', undefined, /Content-Type "", not/]
    ])('Content-Type %s is registry-error', async (_name, contentType, message) => {
      const { manifest } = store.image('v1', {})
      server.handler = tampered((url, res) => {
        if (!url.includes('/manifests/')) return false
        res.writeHead(200, contentType ? { 'content-type': contentType } : {}).end(manifest.body)
        return true
      })
      expect(await failureOf(read(':v1'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(message)
      })
    })

    test.each<[string, (manifest: Blob) => Buffer, RegExp]>([
      ['malformed JSON', () => Buffer.from('{"schemaVersion": 2,'), /is not valid JSON/],
      ['a JSON array', () => Buffer.from('[]'), /is not a JSON object/],
      [
        'schemaVersion 1',
        () => Buffer.from(JSON.stringify({ schemaVersion: 1, mediaType: OCI_MANIFEST })),
        /schemaVersion 1, not 2/
      ],
      [
        'a body mediaType other than its Content-Type',
        () => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST })),
        /but says it is "application\/vnd\.docker/
      ],
      [
        'no config',
        () => Buffer.from(JSON.stringify({ schemaVersion: 2, layers: [] })),
        /config of manifest .* is missing/
      ],
      [
        'a non-sha256 config digest',
        m =>
          Buffer.from(
            m.body.toString().replace(/"sha256:[0-9a-f]+"/, `"sha512:${'c'.repeat(128)}"`)
          ),
        /has digest "sha512:c+", not sha256/
      ],
      [
        'a non-image config type',
        m =>
          Buffer.from(
            m.body.toString().replace(OCI_CONFIG, 'application/vnd.cncf.helm.config.v1+json')
          ),
        /helm\.config.*not a container image/
      ]
    ])('a manifest with %s is registry-error', async (_name, body, message) => {
      const { manifest } = store.image('v1', {})
      server.handler = tampered((url, res) => {
        if (!url.includes('/manifests/')) return false
        res.writeHead(200, { 'content-type': OCI_MANIFEST }).end(body(manifest))
        return true
      })
      expect(await failureOf(read(':v1'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(message)
      })
    })

    test('a Docker-Content-Digest that is not the body hash is registry-error', async () => {
      const { manifest } = store.image('v1', {})
      server.handler = tampered((url, res) => {
        if (!url.includes('/manifests/')) return false
        res.writeHead(200, { 'content-type': OCI_MANIFEST, 'docker-content-digest': D1 })
        res.end(manifest.body)
        return true
      })
      expect(await failureOf(read(':v1'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(
          new RegExp(`says its digest is ${D1} but its body hashes to ${manifest.digest}`)
        )
      })
    })

    test('by digest, a body for another digest is registry-error (no header to trust)', async () => {
      const { manifest } = store.image('v1', {})
      const other = store.image('v2', { other: 'image' }).manifest
      server.handler = tampered((url, res) => {
        if (!url.includes('/manifests/')) return false
        res.writeHead(200, { 'content-type': OCI_MANIFEST }).end(other.body)
        return true
      })
      expect(await failureOf(read(`@${manifest.digest}`))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(
          new RegExp(`asked for ${manifest.digest} but the body hashes to ${other.digest}`)
        )
      })
    })

    test('a config blob that is not the one the manifest names is registry-error', async () => {
      const { config } = store.image('v1', { 'org.opencontainers.image.revision': 'a' })
      const forged = configBlob({ 'org.opencontainers.image.revision': 'b' })
      store.blobs.set(config.digest, forged)
      server.handler = registry(store, server)
      expect(await failureOf(read(':v1'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(
          new RegExp(`config blob ${config.digest} .*: the body hashes to ${forged.digest}`)
        )
      })
    })

    test('a missing config blob is registry-error', async () => {
      const { config } = store.image('v1', {})
      store.blobs.delete(config.digest)
      server.handler = registry(store, server)
      expect(await failureOf(read(':v1'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(/is missing \(404 BLOB_UNKNOWN.*although manifest/)
      })
    })

    test.each<[string, boolean, RegExp]>([
      ['with Content-Length', true, /is 4194305 bytes \(Content-Length\), over the 4 MiB limit/],
      ['chunked', false, /is larger than the 4 MiB limit/]
    ])('a manifest over 4 MiB (%s) is refused', async (_name, withLength, message) => {
      const big = Buffer.alloc(4 * 1024 * 1024 + 1, ' ')
      server.handler = (_req, res) => {
        res.writeHead(200, {
          'content-type': OCI_MANIFEST,
          ...(withLength ? { 'content-length': big.length } : {})
        })
        res.end(big)
      }
      expect(await failureOf(read(':v1'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(message)
      })
    })

    test('a manifest of exactly 4 MiB is read (the limit is not off by one)', async () => {
      const { manifest } = store.image('v1', { a: 'b' })
      const padded = Buffer.concat([
        manifest.body,
        Buffer.alloc(4 * 1024 * 1024 - manifest.body.length, ' ')
      ])
      server.handler = tampered((url, res) => {
        if (!url.includes('/manifests/')) return false
        res.writeHead(200, { 'content-type': OCI_MANIFEST }).end(padded)
        return true
      })
      expect((await read(':v1')).digest).toBe(digestOf(padded))
    })

    test('a config declared over 16 MiB is refused without fetching it', async () => {
      const config = configBlob({})
      const manifest = blob(
        {
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { ...describe_(config), size: 16 * 1024 * 1024 + 1 },
          layers: []
        },
        OCI_MANIFEST
      )
      store.manifests.set('v1', manifest)
      server.handler = registry(store, server)
      expect(await failureOf(read(':v1'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(/is 16777217 bytes, over the 16 MiB limit/)
      })
      expect(server.seen.filter(s => s.url.includes('/blobs/'))).toEqual([])
    })
  })

  describe('an index', () => {
    const amd64 = { os: 'linux', architecture: 'amd64' }
    const arm64 = { os: 'linux', architecture: 'arm64', variant: 'v8' }
    const armv7 = { os: 'linux', architecture: 'arm', variant: 'v7' }

    test.each<[string, string, number, string]>([
      ['OCI', 'linux/amd64', 0, OCI_INDEX],
      ['OCI', 'linux/arm64', 1, OCI_INDEX],
      ['OCI', 'linux/arm64/v8', 1, OCI_INDEX],
      ['OCI', 'linux/arm/v7', 2, OCI_INDEX],
      ['Docker manifest list', 'linux/amd64', 0, DOCKER_LIST],
      ['Docker manifest list', 'linux/arm/v7', 2, DOCKER_LIST]
    ])('%s: %s reads its own manifest and labels', async (_name, platform, n, mediaType) => {
      const labels = [{ arch: 'amd64' }, { arch: 'arm64' }, { arch: 'armv7' }]
      const { index, manifests } = store.index(
        'multi',
        [
          [amd64, labels[0] ?? {}],
          [arm64, labels[1] ?? {}],
          [armv7, labels[2] ?? {}]
        ],
        mediaType
      )
      server.handler = registry(store, server)
      const image = await read(':multi', { platform })
      expect(image.digest).toBe(index.digest)
      expect(image.manifestDigest).toBe(manifests[n]?.digest)
      expect(image.labels).toEqual(labels[n])
      expect(manifestRequests().map(s => s.url)).toEqual([
        `/v2/${REPO}/manifests/multi`,
        `/v2/${REPO}/manifests/${manifests[n]?.digest}`
      ])
    })

    test('without the platform it is registry-not-found, naming what it has', async () => {
      store.index('multi', [
        [amd64, {}],
        [arm64, {}]
      ])
      server.handler = registry(store, server)
      expect(await failureOf(read(':multi', { platform: 'linux/s390x' }))).toEqual({
        failure: 'registry-not-found',
        message: expect.stringMatching(
          /is an index with no manifest for linux\/s390x \(it has linux\/amd64, linux\/arm64\/v8\)/
        )
      })
    })

    test('an entry whose manifest is not the one the index names is registry-error', async () => {
      const { manifests } = store.index('multi', [[amd64, { a: 'b' }]])
      const wanted = manifests[0]?.digest ?? ''
      store.manifests.set(wanted, store.image('', { forged: 'yes' }).manifest)
      server.handler = registry(store, server)
      expect(await failureOf(read(':multi'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(new RegExp(`asked for ${wanted} but the body hashes to`))
      })
    })

    test('an entry that is itself an index is registry-error', async () => {
      const inner = store.index('inner', [[amd64, {}]]).index
      const outer = indexBlob([[inner, amd64]])
      store.manifests.set('outer', outer)
      server.handler = registry(store, server)
      expect(await failureOf(read(':outer'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(
          /is application\/vnd\.oci\.image\.index\.v1\+json, not an image manifest/
        )
      })
    })

    test('without a manifests list it is registry-error', async () => {
      store.manifests.set('bad', blob({ schemaVersion: 2, mediaType: OCI_INDEX }, OCI_INDEX))
      server.handler = registry(store, server)
      expect(await failureOf(read(':bad'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(/has no manifests list/)
      })
    })
  })

  describe('documents the engine would read differently', () => {
    const REV = 'org.opencontainers.image.revision'
    const amd64 = { os: 'linux', architecture: 'amd64' }

    /** Stores raw config JSON text and a manifest naming it under `tag`. */
    const storeRaw = (tag: string, configText: string, manifestText?: (config: Blob) => string) => {
      const config: Blob = {
        body: Buffer.from(configText),
        digest: digestOf(configText),
        mediaType: OCI_CONFIG
      }
      store.blobs.set(config.digest, config)
      const text = manifestText
        ? manifestText(config)
        : JSON.stringify({
            schemaVersion: 2,
            mediaType: OCI_MANIFEST,
            config: describe_(config),
            layers: []
          })
      const manifest: Blob = {
        body: Buffer.from(text),
        digest: digestOf(text),
        mediaType: OCI_MANIFEST
      }
      store.manifests.set(tag, manifest)
      store.manifests.set(manifest.digest, manifest)
      return { config, manifest }
    }
    const platformPart = '"architecture":"amd64","os":"linux"'

    test.each<[string, string, RegExp]>([
      [
        'config beside Config',
        `{${platformPart},"config":{"Labels":{"${REV}":"new"}},"Config":{"Labels":{"${REV}":"old"}}}`,
        /has the keys "config" and "Config"/
      ],
      [
        'config twice',
        `{${platformPart},"config":{"Labels":{"${REV}":"new"}},"config":{"Labels":{"${REV}":"old"}}}`,
        /has the key "config" twice/
      ],
      [
        'Labels beside Labelſ (long s)',
        `{${platformPart},"config":{"Labels":{"${REV}":"new"},"Labelſ":{"${REV}":"old"}}}`,
        /has the keys "Labels" and "Labelſ"/
      ],
      [
        'the revision label twice',
        `{${platformPart},"config":{"Labels":{"${REV}":"new","${REV}":"old"}}}`,
        /has the key "config\.Labels\.org\.opencontainers\.image\.revision" twice/
      ],
      [
        'os beside OS',
        `{"architecture":"amd64","os":"linux","OS":"windows","config":{}}`,
        /has the keys "os" and "OS"/
      ]
    ])('a config blob with %s is registry-error', async (_name, text, message) => {
      storeRaw('v1', text)
      server.handler = registry(store, server)
      expect(await failureOf(read(':v1'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(message)
      })
    })

    test('keys written in another case are found as the engine finds them', async () => {
      storeRaw('v1', `{"ARCHITECTURE":"amd64","OS":"linux","CONFIG":{"labels":{"${REV}":"x"}}}`)
      server.handler = registry(store, server)
      expect((await read(':v1')).labels).toEqual({ [REV]: 'x' })
    })

    test.each<[string, (config: Blob) => string, RegExp]>([
      [
        'config beside Config',
        config =>
          `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${JSON.stringify(describe_(config))},"Config":${JSON.stringify(describe_(configBlob({})))}}`,
        /has the keys "config" and "Config"/
      ],
      [
        'digest beside Digest in the config descriptor',
        config =>
          `{"schemaVersion":2,"config":{"mediaType":"${OCI_CONFIG}","digest":"${config.digest}","size":${config.body.length},"Digest":"${D1}"}}`,
        /has the keys "digest" and "Digest"/
      ],
      [
        'schemaVersion twice',
        () => `{"schemaVersion":2,"schemaVersion":1}`,
        /has the key "schemaVersion" twice/
      ],
      [
        'mediaType beside mediatype',
        () => `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","mediatype":"${OCI_INDEX}"}`,
        /has the keys "mediaType" and "mediatype"/
      ]
    ])('a manifest with %s is registry-error', async (_name, manifest, message) => {
      storeRaw('v1', `{${platformPart},"config":{}}`, manifest)
      server.handler = registry(store, server)
      expect(await failureOf(read(':v1'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(message)
      })
    })

    test.each<[string, (entries: string) => string, RegExp]>([
      [
        'manifests beside Manifests',
        entries =>
          `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":${entries},"Manifests":[]}`,
        /has the keys "manifests" and "Manifests"/
      ],
      [
        'an entry with architecture beside Architecture',
        entries =>
          `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":${entries.replace('"architecture":"amd64"', '"architecture":"amd64","Architecture":"arm64"')}}`,
        /has the keys "architecture" and "Architecture"/
      ]
    ])('an index with %s is registry-error', async (_name, index, message) => {
      const { manifest } = store.image('', { [REV]: 'x' })
      const entries = JSON.stringify([describe_(manifest, amd64)])
      const text = index(entries)
      store.manifests.set('multi', {
        body: Buffer.from(text),
        digest: digestOf(text),
        mediaType: OCI_INDEX
      })
      server.handler = registry(store, server)
      expect(await failureOf(read(':multi'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(message)
      })
    })

    test.each<[string, Platform, Platform, string]>([
      ['amd64/v3 beside amd64', { ...amd64, variant: 'v3' }, amd64, 'linux/amd64'],
      ['AMD64 beside amd64', { os: 'linux', architecture: 'AMD64' }, amd64, 'linux/amd64'],
      ['x86-64 beside amd64', { os: 'linux', architecture: 'x86-64' }, amd64, 'linux/amd64'],
      [
        'aarch64 beside arm64',
        { os: 'linux', architecture: 'aarch64' },
        { os: 'linux', architecture: 'arm64' },
        'linux/arm64'
      ]
    ])(
      'an index with %s disagreeing on the revision is registry-error',
      async (_name, a, b, platform) => {
        store.index('multi', [
          [b, { [REV]: 'new' }],
          [a, { [REV]: 'old' }]
        ])
        server.handler = registry(store, server)
        expect(await failureOf(read(':multi', { platform }))).toEqual({
          failure: 'registry-error',
          message: expect.stringMatching(
            new RegExp(
              `disagree on ${REV.replace(/\./g, '\\.')}: .*"new".*"old".*every one must carry the same value`
            )
          )
        })
      }
    )

    test('entries that agree: every one is read, labels are the ones they share', async () => {
      const { manifests } = store.index('multi', [
        [amd64, { [REV]: 'new', arch: 'v1' }],
        [
          { ...amd64, variant: 'v3' },
          { [REV]: 'new', arch: 'v3' }
        ]
      ])
      server.handler = registry(store, server)
      const image = await read(':multi')
      expect(image.labels).toEqual({ [REV]: 'new' })
      expect(image.manifestDigest).toBe(manifests[0]?.digest)
      expect(image.images?.map(i => [i.platform, i.manifestDigest])).toEqual([
        ['linux/amd64', manifests[0]?.digest],
        ['linux/amd64/v3', manifests[1]?.digest]
      ])
    })

    test('a custom revision label must agree too', async () => {
      store.index('multi', [
        [amd64, { commit: 'new' }],
        [{ ...amd64, variant: 'v2' }, { commit: 'old' }]
      ])
      server.handler = registry(store, server)
      expect(await failureOf(read(':multi', { revisionLabel: 'commit' }))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(/disagree on commit/)
      })
    })

    test('several platforms: each is read, all must agree', async () => {
      const arm64 = { os: 'linux', architecture: 'arm64' }
      store.index('multi', [
        [amd64, { [REV]: 'new' }],
        [arm64, { [REV]: 'old' }]
      ])
      server.handler = registry(store, server)
      expect((await read(':multi', { platform: 'linux/amd64' })).labels).toEqual({ [REV]: 'new' })
      expect(await failureOf(read(':multi', { platform: 'linux/amd64,linux/arm64' }))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(/for linux\/amd64,linux\/arm64 disagree on/)
      })
      expect(
        await failureOf(read(':multi', { platform: 'linux/amd64,linux/s390x' }))
      ).toMatchObject({ failure: 'registry-not-found' })
    })

    test('an entry that says linux/amd64 over an arm64 config is registry-error', async () => {
      const arm = store.image('', { [REV]: 'new' }, OCI_MANIFEST, {
        os: 'linux',
        architecture: 'arm64'
      })
      store.manifests.set('multi', indexBlob([[arm.manifest, amd64]]))
      server.handler = registry(store, server)
      expect(await failureOf(read(':multi'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(
          /the linux\/amd64 entry .* its config says linux\/arm64, not linux\/amd64/
        )
      })
    })

    test('a single-platform image for another architecture is registry-error', async () => {
      store.image('v1', { [REV]: 'new' }, OCI_MANIFEST, { os: 'linux', architecture: 'arm64' })
      server.handler = registry(store, server)
      expect(await failureOf(read(':v1'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(
          /single-platform image, asked for linux\/amd64\): its config says linux\/arm64/
        )
      })
    })

    test('a config without os and architecture is registry-error', async () => {
      storeRaw('v1', `{"config":{"Labels":{"${REV}":"x"}}}`)
      server.handler = registry(store, server)
      expect(await failureOf(read(':v1'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(/its config names no os and architecture/)
      })
    })
  })

  describe('a 401 from another origin', () => {
    test('a blob redirected to a host that answers 401 with its own realm: registry-error, no credentials sent there', async () => {
      const { config } = store.image('v1', { a: 'b' })
      const serve = registry(store, server, { kind: 'basic' })
      server.handler = (req, res) => {
        if (req.url?.includes('/blobs/') && req.headers.authorization) {
          res.writeHead(307, { location: `${other.origin}/storage/${config.digest}` }).end()
          return
        }
        serve(req, res)
      }
      other.handler = (_req, res) => {
        res.setHeader('www-authenticate', `Bearer realm="${other.origin}/token",service="x"`)
        registryError(res, 401, 'UNAUTHORIZED', 'login')
      }
      expect(await failureOf(read(':v1', withCredentials()))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(
          /redirected to https:\/\/127\.0\.0\.1:\d+, which answered 401; credentials are only sent to/
        )
      })
      expect(other.seen).toEqual([
        expect.objectContaining({ url: `/storage/${config.digest}`, authorization: undefined })
      ])
    })

    test('a Basic challenge from the other host is not answered either', async () => {
      const { config } = store.image('v1', { a: 'b' })
      const serve = registry(store, server, { kind: 'basic' })
      server.handler = (req, res) => {
        if (req.url?.includes('/blobs/')) {
          res.writeHead(302, { location: `${other.origin}/b/${config.digest}` }).end()
          return
        }
        serve(req, res)
      }
      other.handler = (_req, res) => {
        res.setHeader('www-authenticate', 'Basic realm="other"')
        registryError(res, 401, 'UNAUTHORIZED', 'login')
      }
      expect(await failureOf(read(':v1', withCredentials()))).toMatchObject({
        failure: 'registry-error'
      })
      expect(other.seen.map(s => s.authorization)).toEqual([undefined])
    })

    test('a 403 from the other host is registry-error too', async () => {
      const { config } = store.image('v1', { a: 'b' })
      const serve = registry(store, server)
      server.handler = (req, res) => {
        if (req.url?.includes('/blobs/')) {
          res.writeHead(307, { location: `${other.origin}/b/${config.digest}` }).end()
          return
        }
        serve(req, res)
      }
      other.handler = (_req, res) => res.writeHead(403).end()
      expect(await failureOf(read(':v1'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(/which answered 403/)
      })
    })
  })

  describe('redirects', () => {
    test('a blob redirected to another origin is followed without the Authorization header', async () => {
      const { config } = store.image('v1', { a: 'b' })
      const serve = registry(store, server, { kind: 'basic' })
      server.handler = (req, res) => {
        if (req.url?.includes('/blobs/') && req.headers.authorization) {
          res.writeHead(307, { location: `${other.origin}/storage/${config.digest}?sig=1` }).end()
          return
        }
        serve(req, res)
      }
      other.handler = (_req, res) => res.writeHead(200).end(config.body)
      const image = await read(':v1', withCredentials())
      expect(image.labels).toEqual({ a: 'b' })
      expect(other.seen).toEqual([
        {
          method: 'GET',
          url: `/storage/${config.digest}?sig=1`,
          authorization: undefined,
          accept: expect.any(String)
        }
      ])
    })

    test('a same-origin redirect keeps the Authorization header', async () => {
      const { config } = store.image('v1', { a: 'b' })
      const serve = registry(store, server, { kind: 'basic' })
      server.handler = (req, res) => {
        if (req.url === `/v2/${REPO}/blobs/${config.digest}` && req.headers.authorization) {
          res.writeHead(302, { location: `/v2/${REPO}/blobs/${config.digest}?moved` }).end()
          return
        }
        if (req.url?.endsWith('?moved')) req.url = req.url.replace('?moved', '')
        serve(req, res)
      }
      expect((await read(':v1', withCredentials())).labels).toEqual({ a: 'b' })
      expect(server.seen.at(-1)?.authorization).toMatch(/^Basic /)
    })

    test.each<[string, (port: number) => Record<string, string>, RegExp]>([
      [
        'to plain HTTP',
        port => ({ location: `http://127.0.0.1:${port}/x` }),
        /redirected to http:.*not HTTPS/
      ],
      ['without a Location', () => ({}), /redirect 302 without a Location/],
      ['in a loop', () => ({ location: '/again' }), /more than 5 redirects/]
    ])('%s is registry-error', async (_name, headers, message) => {
      server.handler = (_req, res) => res.writeHead(302, headers(other.port)).end()
      expect(await failureOf(read(':v1'))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(message)
      })
      expect(other.seen).toEqual([])
    })
  })

  describe('bounded and reachable', () => {
    test('a server that never answers times out as registry-error', async () => {
      server.handler = () => undefined
      const started = Date.now()
      expect(await failureOf(read(':v1', { timeoutMs: 300 }))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(/shop\/app:v1 from the registry timed out after 0\.3 s$/)
      })
      expect(Date.now() - started).toBeLessThan(2000)
    })

    test('a body that stalls half-way times out as registry-error', async () => {
      server.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': OCI_MANIFEST, 'content-length': 1000 })
        res.write('{"schemaVersion":')
      }
      const started = Date.now()
      expect(await failureOf(read(':v1', { timeoutMs: 400 }))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(/timed out after 0\.4 s$/)
      })
      expect(Date.now() - started).toBeLessThan(2000)
    })

    test('the bound covers the whole read, not each request', async () => {
      store.image('v1', {})
      const serve = registry(store, server)
      server.handler = (req, res) => {
        // Each answer alone is well inside the bound; together they are not.
        setTimeout(() => serve(req, res), 250)
      }
      expect(await failureOf(read(':v1', { timeoutMs: 400 }))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(/timed out after 0\.4 s$/)
      })
      expect(server.seen).toHaveLength(2)
    })

    test('a closed port is registry-error', async () => {
      const closed = new TestServer()
      await closed.start()
      await closed.stop()
      expect(
        await failureOf(readRegistryImage(`127.0.0.1:${closed.port}/${REPO}:v1`, options()))
      ).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(/cannot read from 127\.0\.0\.1:\d+: ECONNREFUSED/)
      })
    })

    test('HTTPS to a plain HTTP server is registry-error saying so (real fetch, no seam)', async () => {
      server.handler = registry(store, server)
      expect(await failureOf(read(':v1', { fetch: undefined }))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(/TLS handshake with 127\.0\.0\.1:\d+ failed .*plain HTTP/)
      })
      expect(server.seen).toEqual([])
    })

    test('a fetch that throws something unexpected is still a worded registry-error', async () => {
      const broken: typeof fetch = () => Promise.reject(new RangeError('odd'))
      expect(await failureOf(read(':v1', { fetch: broken }))).toEqual({
        failure: 'registry-error',
        message: expect.stringMatching(/cannot read from 127\.0\.0\.1:\d+: odd/)
      })
    })
  })

  test.each<[string, string, Partial<RegistryOptions>]>([
    ['a malformed reference', 'Bad/Ref', {}],
    ['a malformed platform', `127.0.0.1:1/${REPO}`, { platform: 'amd64' }]
  ])('%s is an InputError before any request', async (_name, reference, extra) => {
    await expect(readRegistryImage(reference, options(extra))).rejects.toBeInstanceOf(InputError)
    expect(server.seen).toEqual([])
  })
})

function ref(
  registry: string,
  repository: string,
  tag: string | undefined,
  digest?: string
): ImageReference {
  return { registry, repository, tag, digest }
}

function ch(scheme: string, params: Record<string, string>): Challenge {
  return { scheme, params }
}

function entry(digest: string, platform: Platform | undefined): Descriptor {
  return { mediaType: OCI_MANIFEST, digest, size: 1, ...(platform ? { platform } : {}) }
}
