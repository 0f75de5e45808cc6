/**
 * A throwaway loopback OCI registry: Debian's `docker-registry` (distribution 2.8) behind htpasswd
 * auth and a self-signed TLS certificate, with its files under one directory, started by us and
 * stopped by the PID we started. Images are pushed with the Registry HTTP API from Node itself
 * (no dockerd, no client binary), so the test knows every byte and digest it pushed.
 */
import { afterAll, beforeAll } from '@jest/globals'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer as createHttpsServer, request, type RequestOptions } from 'node:https'
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import type { RegistryImage, RegistryOptions } from '../../src/registry/client.js'
import type { Platform } from '../../src/registry/platform.js'
import { freePort, stopPid } from './services.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** What the tests need to reach the registry. */
/**
 * A second docker-registry on `reg`'s storage and certificate, in token mode: it sends clients to
 * the token server at `tokenPort` (`service`, `issuer`; tokens signed by `reg`'s key). Writable
 * unless `readonly`. Resolves once `https://host/v2/` answers; stop it with stopPid(pid).
 */
export async function startTokenRegistry(
  reg: LocalRegistry,
  tokenPort: number,
  options: { service: string; issuer: string; readonly: boolean }
): Promise<{ pid: number; host: string; dir: string }> {
  const dir = mkdtempSync(path.join(reg.dir, 'token-registry-'))
  const port = await freePort()
  const config = path.join(dir, 'config.yml')
  const maintenance = options.readonly
    ? '{readonly: {enabled: true}, uploadpurging: {enabled: false}}'
    : '{uploadpurging: {enabled: false}}'
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log: {level: warn, accesslog: {disabled: true}}',
      `storage: {filesystem: {rootdirectory: ${path.join(reg.dir, 'data')}}, maintenance: ${maintenance}}`,
      `http: {addr: 127.0.0.1:${port}, secret: ${randomBytes(16).toString('hex')}, tls: {certificate: ${reg.certFile}, key: ${reg.keyFile}}}`,
      `auth: {token: {realm: "https://127.0.0.1:${tokenPort}/token", service: ${options.service}, issuer: ${options.issuer}, rootcertbundle: ${reg.certFile}}}`,
      ''
    ].join('\n')
  )
  const log = openSync(path.join(dir, 'registry.log'), 'a')
  const child = spawn('docker-registry', ['serve', config], {
    detached: true,
    stdio: ['ignore', log, log]
  })
  closeSync(log)
  child.unref()
  const started = { pid: child.pid ?? 0, host: `127.0.0.1:${port}`, dir }
  const deadline = Date.now() + 15_000
  for (;;) {
    const answered = await new Promise<boolean>(resolve => {
      const req = request(
        `https://${started.host}/v2/`,
        { ca: readFileSync(reg.caFile), timeout: 2000 },
        res => {
          res.resume()
          resolve(true)
        }
      )
      req.on('error', () => resolve(false))
      req.end()
    })
    if (answered) return started
    if (Date.now() > deadline) {
      await stopPid(started.pid)
      throw new Error(`token registry (pid ${started.pid}) did not start`)
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

export interface LocalRegistry {
  dir: string
  pid: number
  /** `127.0.0.1:PORT`, the registry part of an image reference. */
  host: string
  /** The self-signed certificate, which is its own CA: what NODE_EXTRA_CA_CERTS points at. */
  caFile: string
  certFile: string
  keyFile: string
  username: string
  password: string
}

/** The programs the registry needs; `scripts/provision.sh` installs them when missing. */
export const REGISTRY_PROGRAMS = ['docker-registry', 'htpasswd', 'openssl']

function checkPrograms(): void {
  const missing = REGISTRY_PROGRAMS.filter(program => {
    try {
      execFileSync('bash', ['-c', `command -v ${program}`], { stdio: 'ignore' })
      return false
    } catch {
      return true
    }
  })
  if (missing.length) {
    throw new Error(`missing ${missing.join(', ')}: run scripts/provision.sh (npm test does) first`)
  }
}

/** Starts `docker-registry serve` on a free loopback port with TLS and one htpasswd user. */
export async function startRegistry(dir: string): Promise<LocalRegistry> {
  checkPrograms()
  const certFile = path.join(dir, 'cert.pem')
  const keyFile = path.join(dir, 'key.pem')
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '2',
      '-subj', '/CN=provenance-gate test registry', '-addext', 'subjectAltName=IP:127.0.0.1'
    ], // prettier-ignore
    { stdio: 'ignore' }
  )
  const username = 'deployer'
  const password = randomBytes(12).toString('base64url')
  const htpasswd = path.join(dir, 'htpasswd')
  writeFileSync(htpasswd, execFileSync('htpasswd', ['-nbB', username, password]))
  const port = await freePort()
  const config = path.join(dir, 'config.yml')
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log: {level: warn, accesslog: {disabled: true}}',
      `storage: {filesystem: {rootdirectory: ${path.join(dir, 'data')}}}`,
      `http: {addr: 127.0.0.1:${port}, secret: ${randomBytes(16).toString('hex')}, tls: {certificate: ${certFile}, key: ${keyFile}}}`,
      `auth: {htpasswd: {realm: provenance-gate-test, path: ${htpasswd}}}`,
      ''
    ].join('\n')
  )
  const logFile = path.join(dir, 'registry.log')
  const log = openSync(logFile, 'a')
  let child: ChildProcess
  try {
    child = spawn('docker-registry', ['serve', config], {
      detached: true,
      stdio: ['ignore', log, log]
    })
  } finally {
    closeSync(log)
  }
  child.unref()
  const registry: LocalRegistry = {
    dir,
    pid: child.pid ?? 0,
    host: `127.0.0.1:${port}`,
    caFile: certFile,
    certFile,
    keyFile,
    username,
    password
  }
  const deadline = Date.now() + 15000
  for (;;) {
    try {
      // Any HTTP answer (401 here) means it is listening with our certificate.
      await call(registry, 'GET', '/v2/', { auth: false })
      return registry
    } catch (error) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stopPid(registry.pid)
        const tail = readFileSync(logFile, 'utf8').slice(-2000)
        throw new Error(`docker-registry did not start (${String(error)}): ${tail}`, {
          cause: error
        })
      }
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }
}

/**
 * Starts a registry for the calling test file and stops exactly that process afterwards, removing
 * its directory. Returns a getter, valid inside tests.
 */
export function useRegistry(): () => LocalRegistry {
  let registry: LocalRegistry | undefined
  let dir: string | undefined
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'provenance-gate-registry-'))
    registry = await startRegistry(dir)
  }, 60000)
  afterAll(async () => {
    if (registry) await stopPid(registry.pid)
    if (dir) rmSync(dir, { recursive: true, force: true })
  }, 30000)
  return () => {
    if (!registry) throw new Error('the registry is not running')
    return registry
  }
}

/** One answer from the registry, body read whole. */
interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/** An HTTPS request to the registry that trusts its certificate and sends our credentials. */
function call(
  registry: LocalRegistry,
  method: string,
  pathOrUrl: string,
  options: { headers?: Record<string, string>; body?: Buffer; auth?: boolean } = {}
): Promise<Answer> {
  const url = new URL(pathOrUrl, `https://${registry.host}`)
  const headers: Record<string, string | number> = { ...options.headers }
  if (options.auth !== false) {
    headers.authorization = `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`
  }
  if (options.body) headers['content-length'] = options.body.length
  const requestOptions: RequestOptions = {
    method,
    headers,
    ca: readFileSync(registry.caFile),
    timeout: 10000
  }
  return new Promise((resolve, reject) => {
    const req = request(url, requestOptions, res => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) })
      )
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname} timed out`)))
    req.on('error', reject)
    req.end(options.body)
  })
}

export function sha256(body: Buffer): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`
}

/** Uploads a blob (POST, then a monolithic PUT) and returns its digest. */
export async function pushBlob(
  registry: LocalRegistry,
  repository: string,
  body: Buffer
): Promise<string> {
  const digest = sha256(body)
  const started = await call(registry, 'POST', `/v2/${repository}/blobs/uploads/`)
  const location = started.headers.location
  if (started.status !== 202 || typeof location !== 'string') {
    throw new Error(`starting a blob upload answered ${started.status}: ${started.body.toString()}`)
  }
  const target = new URL(location, `https://${registry.host}`)
  target.searchParams.set('digest', digest)
  const done = await call(registry, 'PUT', target.href, {
    headers: { 'content-type': 'application/octet-stream' },
    body
  })
  if (done.status !== 201) {
    throw new Error(`uploading blob ${digest} answered ${done.status}: ${done.body.toString()}`)
  }
  return digest
}

/** Puts a manifest or index under a tag and checks the registry computed the digest we did. */
export async function pushManifest(
  registry: LocalRegistry,
  repository: string,
  tag: string,
  mediaType: string,
  body: Buffer
): Promise<string> {
  const answer = await call(registry, 'PUT', `/v2/${repository}/manifests/${tag}`, {
    headers: { 'content-type': mediaType },
    body
  })
  if (answer.status !== 201) {
    throw new Error(
      `putting ${repository}:${tag} answered ${answer.status}: ${answer.body.toString()}`
    )
  }
  const digest = sha256(body)
  if (answer.headers['docker-content-digest'] !== digest) {
    throw new Error(
      `the registry says ${String(answer.headers['docker-content-digest'])}, we say ${digest}`
    )
  }
  return digest
}

/** What was pushed, byte for byte. */
export interface PushedImage {
  mediaType: string
  manifestBody: Buffer
  manifestDigest: string
  configDigest: string
  platform: Platform
}

const DOCKER = {
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  config: 'application/vnd.docker.container.image.v1+json',
  layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip'
}
const OCI = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  index: 'application/vnd.oci.image.index.v1+json'
}

/**
 * Pushes a one-layer image (an empty tar) whose config carries `labels`, under `tag` (or only by
 * digest when `tag` is ''), as a Docker v2 or an OCI manifest.
 */
export async function pushImage(
  registry: LocalRegistry,
  repository: string,
  tag: string,
  options: { labels: Record<string, string>; platform?: Platform; format?: 'docker' | 'oci' }
): Promise<PushedImage> {
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' }
  const types = options.format === 'oci' ? OCI : DOCKER
  const tar = Buffer.alloc(1024)
  const layer = gzipSync(tar)
  const config = Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      created: '2024-01-01T00:00:00Z',
      config: { Labels: options.labels },
      rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
      history: [{ created: '2024-01-01T00:00:00Z', created_by: 'provenance-gate test' }]
    })
  )
  const configDigest = await pushBlob(registry, repository, config)
  const layerDigest = await pushBlob(registry, repository, layer)
  const manifestBody = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: types.manifest,
      config: { mediaType: types.config, digest: configDigest, size: config.length },
      layers: [{ mediaType: types.layer, digest: layerDigest, size: layer.length }]
    })
  )
  const manifestDigest = await pushManifest(
    registry,
    repository,
    tag || sha256(manifestBody),
    types.manifest,
    manifestBody
  )
  return { mediaType: types.manifest, manifestBody, manifestDigest, configDigest, platform }
}

/** Pushes an OCI index of already pushed images under `tag` and returns its digest. */
export async function pushIndex(
  registry: LocalRegistry,
  repository: string,
  tag: string,
  images: PushedImage[]
): Promise<string> {
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI.index,
      manifests: images.map(image => ({
        mediaType: image.mediaType,
        digest: image.manifestDigest,
        size: image.manifestBody.length,
        platform: image.platform
      }))
    })
  )
  return pushManifest(registry, repository, tag, OCI.index, body)
}

/** What one read in the child ended with. */
export interface ReadOutcome {
  image?: RegistryImage
  /** A GateError's class and message. */
  failure?: string
  message?: string
  /** Anything that was not a GateError: a defect. */
  crash?: string
}

/** A child `node` (through tsx) that runs `readRegistryImage` on the sources, one read a line. */
export interface Reader {
  read(reference: string, options: Omit<RegistryOptions, 'fetch'>): Promise<ReadOutcome>
  close(): Promise<void>
  pid: number
}

const READER_SCRIPT = `
import { createInterface } from 'node:readline'
import { GateError } from ${JSON.stringify(path.join(ROOT, 'src/errors.ts'))}
import { readRegistryImage } from ${JSON.stringify(path.join(ROOT, 'src/registry/client.ts'))}
process.stdout.write('{"ready":true}\\n')
for await (const line of createInterface({ input: process.stdin })) {
  const { reference, options } = JSON.parse(line)
  let outcome
  try {
    outcome = { image: await readRegistryImage(reference, options) }
  } catch (error) {
    outcome = error instanceof GateError
      ? { failure: error.failure, message: error.message }
      : { crash: String(error?.stack ?? error) }
  }
  process.stdout.write(JSON.stringify(outcome) + '\\n')
}
`

let readers = 0

/**
 * Starts a reader whose environment is `env` on top of ours (NODE_EXTRA_CA_CERTS is read when node
 * starts, so it cannot be set in-process; `undefined` removes a variable).
 */
export async function startReader(
  dir: string,
  env: Record<string, string | undefined>
): Promise<Reader> {
  // .mts: an ES module wherever it lies (the temp dir has no package.json saying "type": "module").
  const script = path.join(dir, `reader-${++readers}.mts`)
  writeFileSync(script, READER_SCRIPT)
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env }
  for (const [name, value] of Object.entries(childEnv))
    if (value === undefined) delete childEnv[name]
  const child = spawn(path.join(ROOT, 'node_modules/.bin/tsx'), [script], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)))
  const waiting: ((outcome: ReadOutcome) => void)[] = []
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  lines.on('line', line => waiting.shift()?.(JSON.parse(line) as ReadOutcome))
  // Started (tsx compiled the sources) before the first test's clock runs.
  const ready = new Promise<ReadOutcome>(resolve => waiting.push(resolve))
  let gone = false
  const exited = new Promise<void>(resolve => child.on('exit', () => resolve()))
  void exited.then(() => {
    gone = true
    for (const resolve of waiting.splice(0)) resolve({ crash: `reader exited: ${stderr}` })
  })
  const started = await ready
  if (started.crash) throw new Error(`the reader did not start: ${started.crash}`)
  return {
    pid: child.pid ?? 0,
    read(reference, options) {
      return new Promise(resolve => {
        if (gone) return resolve({ crash: `reader exited: ${stderr}` })
        waiting.push(resolve)
        child.stdin?.write(`${JSON.stringify({ reference, options })}\n`)
      })
    },
    async close() {
      child.stdin?.end()
      await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 5000))])
      await stopPid(child.pid ?? 0)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A hostile registry: serves exactly the bytes a test wrote, records every request.

/** One request a hostile server received. */
export interface SeenRequest {
  /** `127.0.0.1:PORT` or `127.0.0.2:PORT`: which of the servers got it. */
  host: string
  method: string
  url: string
  authorization: string | undefined
}

/** A document as the hostile registry serves it: the exact bytes and the Content-Type. */
export interface Served {
  mediaType: string
  body: Buffer
}

/**
 * A registry written for the tests, in this process: node https on 127.0.0.1 behind Basic auth,
 * serving whatever bytes a test stores (documents no real registry would accept), a second
 * origin on 127.0.0.2 that answers every request with 401 and its own Bearer realm, and a
 * third port that accepts TCP connections and never says a word (a stalled TLS handshake).
 * The certificate names both addresses; NODE_EXTRA_CA_CERTS=caFile makes the action trust it.
 */
export interface HostileRegistry {
  caFile: string
  /** `127.0.0.1:PORT`: the registry. */
  host: string
  /** `127.0.0.2:PORT`: where the registry redirects blobs in `redirected`. */
  otherHost: string
  /** `127.0.0.1:PORT`: accepts connections, never completes a TLS handshake. */
  stalledHost: string
  username: string
  password: string
  /** Every request either https server received, in order. */
  seen: SeenRequest[]
  /** Connections the stalled port accepted. */
  stalledConnections(): number
  /** Tags and digests (`sha256:…`) to documents. */
  manifests: Map<string, Served>
  /** Digests to blob bytes. */
  blobs: Map<string, Buffer>
  /** Blob digests the registry answers with a 307 to the other origin. */
  redirected: Set<string>
  stop(): Promise<void>
}

/** Starts the hostile registry's servers under `dir`; `stop` ends exactly them. */
export async function startHostileRegistry(dir: string): Promise<HostileRegistry> {
  const certFile = path.join(dir, 'hostile-cert.pem')
  const keyFile = path.join(dir, 'hostile-key.pem')
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '2',
      '-subj', '/CN=provenance-gate hostile registry',
      '-addext', 'subjectAltName=IP:127.0.0.1,IP:127.0.0.2'
    ], // prettier-ignore
    { stdio: 'ignore' }
  )
  const tls = { cert: readFileSync(certFile), key: readFileSync(keyFile) }
  const username = 'deployer'
  const password = randomBytes(12).toString('base64url')
  const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
  const seen: SeenRequest[] = []
  const manifests = new Map<string, Served>()
  const blobs = new Map<string, Buffer>()
  const redirected = new Set<string>()
  const record = (req: IncomingMessage): void => {
    seen.push({
      host: `${req.socket.localAddress ?? ''}:${req.socket.localPort ?? 0}`,
      method: req.method ?? '',
      url: req.url ?? '',
      authorization: req.headers.authorization
    })
  }
  const fail = (res: ServerResponse, status: number, code: string): void => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ errors: [{ code, message: code.toLowerCase() }] }))
  }
  let otherOrigin = ''
  const registry = createHttpsServer(tls, (req, res) => {
    record(req)
    if (req.headers.authorization !== basic) {
      res.setHeader('www-authenticate', 'Basic realm="hostile"')
      fail(res, 401, 'UNAUTHORIZED')
      return
    }
    const match = /^\/v2\/(.+)\/(manifests|blobs)\/([^/?]+)$/.exec(req.url ?? '')
    const [, , kind, reference = ''] = match ?? []
    if (kind === 'manifests') {
      const served = manifests.get(reference)
      if (!served) return fail(res, 404, 'MANIFEST_UNKNOWN')
      res.writeHead(200, { 'content-type': served.mediaType, 'content-length': served.body.length })
      res.end(served.body)
    } else if (kind === 'blobs') {
      if (redirected.has(reference)) {
        res.writeHead(307, { location: `${otherOrigin}/storage/${reference}` }).end()
        return
      }
      const body = blobs.get(reference)
      if (!body) return fail(res, 404, 'BLOB_UNKNOWN')
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': body.length
      })
      res.end(body)
    } else {
      fail(res, 404, 'NAME_UNKNOWN')
    }
  })
  const other = createHttpsServer(tls, (req, res) => {
    record(req)
    if (req.url?.startsWith('/token')) {
      // Anything reaching here would be a login to the wrong origin; it succeeds, to be seen.
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ token: 'other-origin-token' }))
      return
    }
    res.setHeader('www-authenticate', `Bearer realm="${otherOrigin}/token",service="storage"`)
    fail(res, 401, 'UNAUTHORIZED')
  })
  const stalledSockets = new Set<Socket>()
  let stalledCount = 0
  const stalled = createNetServer(socket => {
    stalledCount++
    stalledSockets.add(socket)
    socket.on('close', () => stalledSockets.delete(socket))
    socket.on('error', () => undefined)
  })
  const listen = (server: NetServer, address: string): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, address, () => {
        const bound = server.address()
        resolve(typeof bound === 'object' && bound ? bound.port : 0)
      })
    })
  const [registryPort, otherPort, stalledPort] = await Promise.all([
    listen(registry, '127.0.0.1'),
    listen(other, '127.0.0.2'),
    listen(stalled, '127.0.0.1')
  ])
  otherOrigin = `https://127.0.0.2:${otherPort}`
  return {
    caFile: certFile,
    host: `127.0.0.1:${registryPort}`,
    otherHost: `127.0.0.2:${otherPort}`,
    stalledHost: `127.0.0.1:${stalledPort}`,
    username,
    password,
    seen,
    stalledConnections: () => stalledCount,
    manifests,
    blobs,
    redirected,
    async stop() {
      registry.closeAllConnections()
      other.closeAllConnections()
      for (const socket of stalledSockets) socket.destroy()
      await Promise.all(
        [registry, other, stalled].map(server => new Promise(resolve => server.close(resolve)))
      )
    }
  }
}

/** What a stored image is: its manifest's digest and size, as an index entry names it. */
export interface StoredManifest {
  digest: string
  size: number
  mediaType: string
}

/** Stores a config blob given as raw JSON text (duplicates and all) and returns its descriptor. */
export function storeConfig(reg: HostileRegistry, text: string): Record<string, unknown> {
  const body = Buffer.from(text)
  const digest = sha256(body)
  reg.blobs.set(digest, body)
  return { mediaType: OCI.config, digest, size: body.length }
}

/** A config blob's JSON text: the platform and `config.Labels`, as a builder writes it. */
export function configText(labels: Record<string, string>, platform: Platform): string {
  return JSON.stringify({
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Labels: labels },
    rootfs: { type: 'layers', diff_ids: [] }
  })
}

/** Stores a manifest given as raw JSON text under `tag` (and its digest). */
export function storeManifest(
  reg: HostileRegistry,
  tag: string,
  text: string,
  mediaType = OCI.manifest
): StoredManifest {
  const body = Buffer.from(text)
  const digest = sha256(body)
  reg.manifests.set(digest, { mediaType, body })
  if (tag) reg.manifests.set(tag, { mediaType, body })
  return { digest, size: body.length, mediaType }
}

/** Stores an image (config from raw text, a manifest naming it) under `tag`. */
export function storeImage(reg: HostileRegistry, tag: string, config: string): StoredManifest {
  return storeManifest(
    reg,
    tag,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI.manifest,
      config: storeConfig(reg, config),
      layers: []
    })
  )
}

/** Stores an OCI index of stored manifests under `tag`, each entry with the platform given. */
export function storeIndex(
  reg: HostileRegistry,
  tag: string,
  entries: [StoredManifest, Platform][]
): StoredManifest {
  return storeManifest(
    reg,
    tag,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI.index,
      manifests: entries.map(([manifest, platform]) => ({
        mediaType: manifest.mediaType,
        digest: manifest.digest,
        size: manifest.size,
        platform
      }))
    }),
    OCI.index
  )
}
