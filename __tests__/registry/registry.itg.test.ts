import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { Socket } from 'node:net'
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls'
import type { RegistryOptions } from '../../src/registry/client.js'
import {
  pushImage,
  pushIndex,
  startReader,
  useRegistry,
  type LocalRegistry,
  type PushedImage,
  type ReadOutcome,
  type Reader
} from '../support/registry.js'

/**
 * `readRegistryImage` against a real docker-registry (distribution 2.8) over TLS with htpasswd
 * auth, run in a child node that trusts the registry's CA through NODE_EXTRA_CA_CERTS.
 */
const REVISION = 'org.opencontainers.image.revision'
const SOURCE = 'org.opencontainers.image.source'

const registry = useRegistry()
let reg: LocalRegistry
let trusting: Reader
let untrusting: Reader
let single: PushedImage
let amd64: PushedImage
let arm64: PushedImage
let indexDigest: string
let errorServer: HttpsServer
let garbageServer: TlsServer
const garbageSockets: Socket[] = []

function listen(server: HttpsServer | TlsServer): Promise<number> {
  return new Promise(resolve =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      resolve(typeof address === 'object' && address ? address.port : 0)
    })
  )
}
let errorPort = 0
let garbagePort = 0

beforeAll(async () => {
  reg = registry()
  ;[trusting, untrusting] = await Promise.all([
    startReader(reg.dir, { NODE_EXTRA_CA_CERTS: reg.caFile }),
    startReader(reg.dir, { NODE_EXTRA_CA_CERTS: undefined })
  ])
  single = await pushImage(reg, 'shop/app', 'staging', {
    labels: { [REVISION]: 'a'.repeat(40), [SOURCE]: 'https://github.com/example/shop' }
  })
  amd64 = await pushImage(reg, 'shop/multi', '', {
    labels: { [REVISION]: 'b'.repeat(40), arch: 'amd64' },
    platform: { os: 'linux', architecture: 'amd64' },
    format: 'oci'
  })
  arm64 = await pushImage(reg, 'shop/multi', '', {
    labels: { [REVISION]: 'c'.repeat(40), arch: 'arm64' },
    platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    format: 'oci'
  })
  indexDigest = await pushIndex(reg, 'shop/multi', 'v1', [amd64, arm64])

  // Servers trusted like the registry (same certificate), that answer badly.
  const tls = { cert: readFileSync(reg.certFile), key: readFileSync(reg.keyFile) }
  errorServer = createHttpsServer(tls, (req, res) => {
    if (req.url?.includes('/status500/')) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('internal trouble')
    } else {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' })
      res.end('<html>garbage</html>')
    }
  })
  garbageServer = createTlsServer(tls, socket => socket.end('this is not HTTP\r\n\r\n'))
  // A TLS server's close waits for every connection; keep them to end them ourselves.
  garbageServer.on('connection', (socket: Socket) => garbageSockets.push(socket))
  errorPort = await listen(errorServer)
  garbagePort = await listen(garbageServer)
}, 60000)

afterAll(async () => {
  await Promise.all([trusting?.close(), untrusting?.close()])
  errorServer?.closeAllConnections()
  for (const socket of garbageSockets) socket.destroy()
  await Promise.all(
    [errorServer, garbageServer].map(
      server => new Promise(resolve => (server ? server.close(resolve) : resolve(undefined)))
    )
  )
}, 30000)

const options = (extra: Partial<RegistryOptions> = {}): Omit<RegistryOptions, 'fetch'> => ({
  username: reg.username,
  password: reg.password,
  platform: 'linux/amd64',
  // A hung read fails within seconds, as a worded timeout rather than a jest timeout.
  timeoutMs: 4000,
  ...extra
})

/** The failure of a read that must fail; never with the password in it. */
function failed(outcome: ReadOutcome): { failure?: string; message?: string } {
  expect(outcome.image).toBeUndefined()
  expect(outcome.crash).toBeUndefined()
  expect(outcome.message ?? '').not.toContain(reg.password)
  return { failure: outcome.failure, message: outcome.message }
}

describe('reading labels from a real registry', () => {
  test('single-platform image: labels, the digest of the manifest as pushed, the config digest', async () => {
    const outcome = await trusting.read(`${reg.host}/shop/app:staging`, options())
    expect(outcome).toEqual({
      image: {
        digest: single.manifestDigest,
        manifestDigest: single.manifestDigest,
        configDigest: single.configDigest,
        labels: { [REVISION]: 'a'.repeat(40), [SOURCE]: 'https://github.com/example/shop' },
        images: [
          {
            platform: 'linux/amd64',
            manifestDigest: single.manifestDigest,
            configDigest: single.configDigest,
            labels: { [REVISION]: 'a'.repeat(40), [SOURCE]: 'https://github.com/example/shop' }
          }
        ]
      }
    })
  })

  test('by digest, the same image', async () => {
    const outcome = await trusting.read(`${reg.host}/shop/app@${single.manifestDigest}`, options())
    expect(outcome.image?.configDigest).toBe(single.configDigest)
    expect(outcome.image?.digest).toBe(single.manifestDigest)
  })

  test.each([
    ['linux/amd64', () => amd64, 'b', 'amd64', 'linux/amd64'],
    ['linux/arm64', () => arm64, 'c', 'arm64', 'linux/arm64/v8'],
    ['linux/arm64/v8', () => arm64, 'c', 'arm64', 'linux/arm64/v8']
  ])('index, %s: its own manifest and labels', async (platform, image, digit, arch, entry) => {
    const outcome = await trusting.read(`${reg.host}/shop/multi:v1`, options({ platform }))
    expect(outcome).toEqual({
      image: {
        digest: indexDigest,
        manifestDigest: image().manifestDigest,
        configDigest: image().configDigest,
        labels: { [REVISION]: digit.repeat(40), arch },
        images: [
          {
            platform: entry,
            manifestDigest: image().manifestDigest,
            configDigest: image().configDigest,
            labels: { [REVISION]: digit.repeat(40), arch }
          }
        ]
      }
    })
  })

  test('index without the platform is registry-not-found', async () => {
    const outcome = await trusting.read(
      `${reg.host}/shop/multi:v1`,
      options({ platform: 'linux/s390x' })
    )
    expect(failed(outcome)).toEqual({
      failure: 'registry-not-found',
      message: expect.stringMatching(
        /no manifest for linux\/s390x \(it has linux\/amd64, linux\/arm64\/v8\)/
      )
    })
  })

  test.each([
    [
      'an unknown tag',
      'shop/app:nope',
      /manifest .*shop\/app:nope not found \(404 MANIFEST_UNKNOWN/
    ],
    // distribution 2.8 answers MANIFEST_UNKNOWN here too; others say NAME_UNKNOWN.
    [
      'an unknown repository',
      'shop/none:v1',
      /shop\/none:v1 not found \(404 (?:NAME|MANIFEST)_UNKNOWN/
    ]
  ])('%s is registry-not-found', async (_name, path, message) => {
    expect(failed(await trusting.read(`${reg.host}/${path}`, options()))).toEqual({
      failure: 'registry-not-found',
      message: expect.stringMatching(message)
    })
  })

  test.each([
    ['a wrong password', { password: 'not-the-password' }, /refused the given credentials .*\(401/],
    [
      'no credentials',
      { username: '', password: '' },
      /requires credentials .*\(401, Basic\) and none were given/
    ]
  ])('%s is registry-auth', async (_name, credentials, message) => {
    const outcome = await trusting.read(`${reg.host}/shop/app:staging`, options(credentials))
    expect(failed(outcome)).toEqual({
      failure: 'registry-auth',
      message: expect.stringMatching(message)
    })
    expect(outcome.message).not.toContain('not-the-password')
  })

  test('without the CA, the self-signed certificate is registry-error naming NODE_EXTRA_CA_CERTS', async () => {
    const outcome = await untrusting.read(`${reg.host}/shop/app:staging`, options())
    expect(failed(outcome)).toEqual({
      failure: 'registry-error',
      message: expect.stringMatching(
        /TLS certificate of 127\.0\.0\.1:\d+ is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT.*set NODE_EXTRA_CA_CERTS to the registry's CA file/
      )
    })
  })

  test.each([
    [
      '500',
      () => `127.0.0.1:${errorPort}/status500/app:v1`,
      /answered 500 Internal Server Error "internal trouble"/
    ],
    ['a body that is not JSON', () => `127.0.0.1:${errorPort}/garbage/app:v1`, /is not valid JSON/],
    [
      'an answer that is not HTTP',
      () => `127.0.0.1:${garbagePort}/shop/app:v1`,
      /cannot read from 127\.0\.0\.1:\d+/
    ]
  ])('a server answering %s is registry-error', async (_name, reference, message) => {
    expect(failed(await trusting.read(reference(), options()))).toEqual({
      failure: 'registry-error',
      message: expect.stringMatching(message)
    })
  })
})
