/**
 * `mode: promote` with `label-source: registry`, end to end: the bundled action against a real
 * docker-registry (distribution, TLS, htpasswd; a second one in bearer-token mode over the same
 * storage, whose token server grants a pull-only user no push), with no host and no daemon. The
 * registry itself is read afterwards to prove what was (and was not) written: the prod tag's
 * digest, the child manifests and blobs linked into the prod repository. A proxy in front of the
 * registry stands in for a registry that starts an upload instead of mounting, and for someone
 * moving the prod tag between the push and the read-back.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  createServer as createHttpsServer,
  request as httpsRequest,
  type Server as HttpsServer
} from 'node:https'
import { makeRepo, removeScratch, runAction, type ActionRun } from '../support/action.js'
import { expectCleanRun, outcome, shown } from '../support/expect-run.js'
import {
  startTokenRegistry,
  pushImage,
  pushIndex,
  pushManifest,
  useRegistry,
  type LocalRegistry,
  type PushedImage
} from '../support/registry.js'
import { stopPid } from '../support/services.js'

const LABEL = 'org.opencontainers.image.revision'
const STALE = 'e'.repeat(40)
const OLD = 'a'.repeat(40)
const DIGEST = /^sha256:[0-9a-f]{64}$/
const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json'
].join(', ')

const registry = useRegistry()
let repo: { dir: string; head: string }
let reg: LocalRegistry
let names = 0

beforeAll(() => {
  repo = makeRepo()
  reg = registry()
})

afterAll(() => removeScratch())

/** A repository path no other case uses. */
function fresh(kind: string): string {
  return `${kind}${++names}/app`
}

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/** One request straight to the htpasswd registry (or `host`), trusting its certificate. */
function call(
  method: string,
  url: string,
  options: { headers?: Record<string, string>; body?: Buffer; host?: string } = {}
): Promise<Answer> {
  const target = new URL(url, `https://${options.host ?? reg.host}`)
  const headers: Record<string, string | number> = {
    authorization: `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString('base64')}`,
    ...options.headers
  }
  if (options.body) headers['content-length'] = options.body.length
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      target,
      { method, headers, ca: readFileSync(reg.caFile), timeout: 10_000 },
      res => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks)
          })
        )
        res.on('error', reject)
      }
    )
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)))
    req.on('error', reject)
    req.end(options.body)
  })
}

/** The digest `repository:reference` has in the registry now, or undefined when it has none. */
async function digestOf(repository: string, reference: string): Promise<string | undefined> {
  const answer = await call('HEAD', `/v2/${repository}/manifests/${reference}`, {
    headers: { accept: ACCEPT }
  })
  if (answer.status === 404) return undefined
  expect(answer.status).toBe(200)
  return String(answer.headers['docker-content-digest'])
}

/** Whether the blob is linked into `repository` (readable there), as a pull from it needs. */
async function hasBlob(repository: string, digest: string): Promise<boolean> {
  const answer = await call('HEAD', `/v2/${repository}/blobs/${digest}`)
  expect([200, 404]).toContain(answer.status)
  return answer.status === 200
}

/** Inputs of a registry promotion: no host, Basic credentials of the htpasswd registry. */
function promoteInputs(image: string, prodImage: string, extra: Record<string, string> = {}) {
  return {
    mode: 'promote',
    'label-source': 'registry',
    path: repo.dir,
    image,
    'prod-image': prodImage,
    'registry-username': reg.username,
    'registry-password': reg.password,
    ...extra
  }
}

const trusted = (): Record<string, string> => ({ NODE_EXTRA_CA_CERTS: reg.caFile })

/** Nothing left behind, every output set, one annotation at most, no password shown. */
async function expectClean(run: ActionRun, password = reg.password): Promise<void> {
  expect(run.stdout).toContain(`::add-mask::${password}\n`)
  await expectCleanRun(run, { privateKey: '' }, { secrets: [password], complete: true })
  expect(shown(run)).not.toMatch(/\bssh\b|connect /)
}

function labelled(revision: string): { labels: Record<string, string> } {
  return { labels: { [LABEL]: revision, 'test.case': randomBytes(6).toString('hex') } }
}

describe('registry promotion', () => {
  test('same repository, no image-digest: the staging tag is resolved and the prod tag written by digest', async () => {
    const repository = fresh('same')
    const staged = await pushImage(reg, repository, 'staging', labelled(repo.head))
    const run = await runAction(
      promoteInputs(`${reg.host}/${repository}:staging`, `${reg.host}/${repository}:prod`),
      trusted()
    )
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${repo.head.slice(0, 12)}, promoted to ${reg.host}/${repository}:prod as sha256:${staged.manifestDigest.slice(7, 19)}`
    })
    expect(run.outputs.image_digest).toBe(staged.manifestDigest)
    expect(run.outputs.image_id).toBe(staged.configDigest)
    expect(run.outputs.prod_image_digest).toBe(staged.manifestDigest)
    expect(run.outputs.prod_image_id).toBe(staged.configDigest)
    expect(run.outputs.image_revision).toBe(repo.head)
    expect(await digestOf(repository, 'prod')).toBe(staged.manifestDigest)
    expect(run.stdout).not.toContain('mounting')
    expect(run.summary).toContain(`| Prod image digest | <code>${staged.manifestDigest}</code> |`)
    expect(run.summary).toMatch(/\| Time \| git \d+ ms · promote \d+ ms · total /)
    await expectClean(run)
  })

  test('another repository with image-digest: blobs mounted, the exact manifest put, read back', async () => {
    const staging = fresh('stage')
    const prod = fresh('live')
    const staged = await pushImage(reg, staging, 'staging', {
      ...labelled(repo.head),
      format: 'oci'
    })
    const layer = (JSON.parse(staged.manifestBody.toString()) as { layers: { digest: string }[] })
      .layers[0]?.digest as string
    expect(await hasBlob(prod, staged.configDigest)).toBe(false)
    const run = await runAction(
      promoteInputs(`${reg.host}/${staging}:staging`, `${reg.host}/${prod}:live`, {
        'image-digest': staged.manifestDigest
      }),
      trusted()
    )
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
    expect(run.outputs.prod_image_digest).toBe(staged.manifestDigest)
    expect(run.stdout).toContain(`mounting 2 blobs from ${staging} into ${prod}`)
    expect(await digestOf(prod, 'live')).toBe(staged.manifestDigest)
    expect(await hasBlob(prod, staged.configDigest)).toBe(true)
    expect(await hasBlob(prod, layer)).toBe(true)
    // The bytes are the ones pushed to staging, byte for byte.
    const body = await call('GET', `/v2/${prod}/manifests/live`, { headers: { accept: ACCEPT } })
    expect(body.body.equals(staged.manifestBody)).toBe(true)
    expect(body.headers['content-type']).toBe(staged.mediaType)
    await expectClean(run)
  })

  /** A two-platform index in `repository` whose arm64 entry carries `armRevision`. */
  async function index(
    repository: string,
    armRevision: string
  ): Promise<{ digest: string; amd: PushedImage; arm: PushedImage }> {
    const amd = await pushImage(reg, repository, '', labelled(repo.head))
    const arm = await pushImage(reg, repository, '', {
      ...labelled(armRevision),
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }
    })
    return { digest: await pushIndex(reg, repository, 'staging', [amd, arm]), amd, arm }
  }

  test('a multi-platform index into another repository: children put by digest, then the index', async () => {
    const staging = fresh('stage')
    const prod = fresh('live')
    const { digest, amd, arm } = await index(staging, repo.head)
    const run = await runAction(
      promoteInputs(`${reg.host}/${staging}:staging`, `${reg.host}/${prod}:live`, {
        'image-digest': digest,
        platform: 'linux/amd64,linux/arm64'
      }),
      trusted()
    )
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
    expect(run.outputs.image_digest).toBe(digest)
    expect(run.outputs.prod_image_digest).toBe(digest)
    expect(run.outputs.image_id).toBe(amd.configDigest)
    expect(await digestOf(prod, 'live')).toBe(digest)
    for (const child of [amd, arm]) {
      expect(await digestOf(prod, child.manifestDigest)).toBe(child.manifestDigest)
      expect(await hasBlob(prod, child.configDigest)).toBe(true)
    }
    await expectClean(run)
  })

  test('an index with one stale entry is not promoted: nothing written, not even the children', async () => {
    const staging = fresh('stage')
    const prod = fresh('live')
    const { digest, arm } = await index(staging, STALE)
    const run = await runAction(
      promoteInputs(`${reg.host}/${staging}:staging`, `${reg.host}/${prod}:live`, {
        'image-digest': digest
      }),
      trusted()
    )
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'mismatch',
      failure: 'mismatch',
      reason: `provenance mismatch: image ${STALE.slice(0, 12)} != expected ${repo.head.slice(0, 12)} in index entry 1 (linux/arm64/v8, manifest ${arm.manifestDigest}); an index is promoted only when every entry passes`
    })
    expect(run.outputs.prod_image_digest).toBe('')
    expect(await digestOf(prod, 'live')).toBeUndefined()
    expect(await digestOf(prod, arm.manifestDigest)).toBeUndefined()
    expect(await hasBlob(prod, arm.configDigest)).toBe(false)
    await expectClean(run)
  })

  test('the staging tag moved after the gate: image-digest promotes the gated digest, the tag alone does not', async () => {
    const repository = fresh('moved')
    await pushImage(reg, repository, 'staging', labelled(repo.head))
    const gate = await runAction(
      {
        mode: 'verify',
        'label-source': 'registry',
        path: repo.dir,
        image: `${reg.host}/${repository}:staging`,
        'registry-username': reg.username,
        'registry-password': reg.password
      },
      trusted()
    )
    expect(outcome(gate)).toMatchObject({ exitCode: 0, verdict: 'match' })
    const gated = gate.outputs.image_digest ?? ''
    expect(gated).toMatch(DIGEST)
    const moved = await pushImage(reg, repository, 'staging', labelled(STALE))
    expect(await digestOf(repository, 'staging')).toBe(moved.manifestDigest)

    const pinned = await runAction(
      promoteInputs(`${reg.host}/${repository}:staging`, `${reg.host}/${repository}:prod`, {
        'image-digest': gated,
        'expected-revision': repo.head
      }),
      trusted()
    )
    expect(outcome(pinned)).toMatchObject({ exitCode: 0, verdict: 'match' })
    expect(pinned.outputs.prod_image_digest).toBe(gated)
    expect(await digestOf(repository, 'prod')).toBe(gated)
    await expectClean(pinned)

    // Without image-digest the moved tag is read, refused, and prod keeps the gated digest.
    const unpinned = await runAction(
      promoteInputs(`${reg.host}/${repository}:staging`, `${reg.host}/${repository}:prod`),
      trusted()
    )
    expect(outcome(unpinned)).toMatchObject({ exitCode: 1, failure: 'mismatch' })
    expect(unpinned.outputs.image_digest).toBe(moved.manifestDigest)
    expect(await digestOf(repository, 'prod')).toBe(gated)
    await expectClean(unpinned)
  })

  test('a stale label: mismatch, and the existing prod tag keeps its digest', async () => {
    const repository = fresh('stale')
    const before = await pushImage(reg, repository, 'prod', labelled(OLD))
    await pushImage(reg, repository, 'staging', labelled(STALE))
    const run = await runAction(
      promoteInputs(`${reg.host}/${repository}:staging`, `${reg.host}/${repository}:prod`),
      trusted()
    )
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'mismatch',
      failure: 'mismatch',
      reason: `provenance mismatch: image ${STALE.slice(0, 12)} != expected ${repo.head.slice(0, 12)}`
    })
    expect(run.stdout).toContain(`${reg.host}/${repository}:prod is left as it is`)
    expect(await digestOf(repository, 'prod')).toBe(before.manifestDigest)
    await expectClean(run)
  })

  test('no revision label: missing-label, nothing mounted, no prod tag', async () => {
    const staging = fresh('stage')
    const prod = fresh('live')
    const staged = await pushImage(reg, staging, 'staging', { labels: { other: 'x' } })
    const run = await runAction(
      promoteInputs(`${reg.host}/${staging}:staging`, `${reg.host}/${prod}:live`),
      trusted()
    )
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'missing-label',
      reason: 'provenance fail-closed: image has no revision label'
    })
    expect(await digestOf(prod, 'live')).toBeUndefined()
    expect(await hasBlob(prod, staged.configDigest)).toBe(false)
    await expectClean(run)
  })

  test('a wrong source label: wrong-source, no prod tag', async () => {
    const repository = fresh('source')
    await pushImage(reg, repository, 'staging', {
      labels: {
        [LABEL]: repo.head,
        'org.opencontainers.image.source': 'https://github.com/evil/fork'
      }
    })
    const run = await runAction(
      promoteInputs(`${reg.host}/${repository}:staging`, `${reg.host}/${repository}:prod`),
      trusted()
    )
    expect(outcome(run)).toMatchObject({ exitCode: 1, failure: 'wrong-source' })
    expect(await digestOf(repository, 'prod')).toBeUndefined()
    await expectClean(run)
  })
})

// ---------------------------------------------------------------------------------------------

/** What a proxy in front of the registry saw: each request and the status it answered. */
interface Proxy {
  host: string
  seen: { method: string; url: string; status: number }[]
  stop(): Promise<void>
}

/**
 * An HTTPS proxy with the registry's own certificate on another loopback port, forwarding every
 * request to the registry with its Host header (so the registry's Locations name the proxy).
 * `stripMount`: a mount request reaches the registry as a plain upload start (202, as from a
 * registry that does not mount). `afterPut`: runs after a manifest PUT the registry accepted,
 * before the answer goes back.
 */
async function startProxy(options: {
  stripMount?: boolean
  afterPut?: (url: string) => Promise<void>
}): Promise<Proxy> {
  const seen: Proxy['seen'] = []
  const forward = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    let url = req.url ?? '/'
    if (options.stripMount && req.method === 'POST' && url.includes('mount=')) {
      url = url.replace(/\?.*$/, '')
    }
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string' && name !== 'transfer-encoding') headers[name] = value
    }
    const body = Buffer.concat(chunks)
    const upstream = await new Promise<Answer>((resolve, reject) => {
      const out = httpsRequest(
        `https://${reg.host}${url}`,
        { method: req.method, headers, ca: readFileSync(reg.caFile) },
        answer => {
          const parts: Buffer[] = []
          answer.on('data', (chunk: Buffer) => parts.push(chunk))
          answer.on('end', () =>
            resolve({
              status: answer.statusCode ?? 0,
              headers: answer.headers,
              body: Buffer.concat(parts)
            })
          )
          answer.on('error', reject)
        }
      )
      out.on('error', reject)
      out.end(body.length ? body : undefined)
    })
    if (req.method === 'PUT' && upstream.status === 201 && url.includes('/manifests/')) {
      await options.afterPut?.(url)
    }
    seen.push({ method: req.method ?? '', url, status: upstream.status })
    const answerHeaders: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(upstream.headers)) {
      if (value !== undefined && name !== 'transfer-encoding' && name !== 'connection') {
        answerHeaders[name] = value
      }
    }
    answerHeaders['content-length'] = String(upstream.body.length)
    res.writeHead(upstream.status, answerHeaders)
    res.end(req.method === 'HEAD' ? undefined : upstream.body)
  }
  const server = createHttpsServer(
    { cert: readFileSync(reg.certFile), key: readFileSync(reg.keyFile) },
    (req, res) => {
      forward(req, res).catch((error: unknown) => {
        res.writeHead(502).end(String(error))
      })
    }
  )
  const port = await new Promise<number>(resolve =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      resolve(typeof address === 'object' && address ? address.port : 0)
    })
  )
  return {
    host: `127.0.0.1:${port}`,
    seen,
    async stop() {
      server.closeAllConnections()
      await new Promise(resolve => server.close(resolve))
    }
  }
}

describe('registry promotion through a proxy', () => {
  test('a registry that starts an upload instead of mounting: registry-error, the upload cancelled, no prod tag', async () => {
    const proxy = await startProxy({ stripMount: true })
    try {
      const staging = fresh('stage')
      const prod = fresh('live')
      await pushImage(reg, staging, 'staging', labelled(repo.head))
      const run = await runAction(
        promoteInputs(`${proxy.host}/${staging}:staging`, `${proxy.host}/${prod}:live`),
        trusted()
      )
      expect(outcome(run)).toEqual({
        exitCode: 1,
        verdict: 'fail-closed',
        failure: 'registry-error',
        reason: expect.stringMatching(
          new RegExp(
            `^provenance fail-closed: ${proxy.host} did not mount blob sha256:[0-9a-f]{64} from ${staging} into ${prod}: it started an upload instead \\(202, cancelled\\)`
          )
        )
      })
      const started = proxy.seen.filter(r => r.method === 'POST')
      expect(started).toHaveLength(1)
      expect(started[0]?.status).toBe(202)
      expect(proxy.seen.filter(r => r.method === 'DELETE').map(r => r.status)).toEqual([204])
      expect(proxy.seen.filter(r => r.method === 'PUT')).toEqual([])
      expect(await digestOf(prod, 'live')).toBeUndefined()
      await expectClean(run)
    } finally {
      await proxy.stop()
    }
  })

  test('the prod tag moved between the push and the read-back: mismatch naming both digests', async () => {
    const repository = fresh('race')
    const staged = await pushImage(reg, repository, 'staging', labelled(repo.head))
    const other = await pushImage(reg, repository, '', labelled(OLD))
    const proxy = await startProxy({
      afterPut: async url => {
        if (url === `/v2/${repository}/manifests/prod`) {
          await pushManifest(reg, repository, 'prod', other.mediaType, other.manifestBody)
        }
      }
    })
    try {
      const run = await runAction(
        promoteInputs(`${proxy.host}/${repository}:staging`, `${proxy.host}/${repository}:prod`),
        trusted()
      )
      expect(outcome(run)).toEqual({
        exitCode: 1,
        verdict: 'fail-closed',
        failure: 'mismatch',
        reason: `provenance fail-closed: after the push, ${proxy.host}/${repository}:prod is ${other.manifestDigest}, not the verified ${staged.manifestDigest}: something else wrote the tag at the same time`
      })
      expect(run.outputs.prod_image_digest).toBe(other.manifestDigest)
      expect(run.outputs.prod_image_id).toBe('')
      expect(proxy.seen.filter(r => r.method === 'PUT').map(r => r.status)).toEqual([201])
      await expectClean(run)
    } finally {
      await proxy.stop()
    }
  })
})

// ---------------------------------------------------------------------------------------------

/**
 * Bearer tokens with a real registry: a second docker-registry in token-auth mode, writable, over
 * the htpasswd registry's storage, and a token server here that signs ES256 JWTs (x5c: the
 * registry's certificate, its rootcertbundle) granting what each scope asks, except that the
 * user `puller` only ever gets `pull`. Distribution answers a request the token does not cover
 * with 401 insufficient_scope, as GHCR and Docker Hub do.
 */
describe('registry promotion with bearer tokens', () => {
  const SERVICE = 'provenance-gate-promote-registry'
  const ISSUER = 'provenance-gate-promote-issuer'
  const PULLER = { username: 'puller', password: randomBytes(12).toString('base64url') }
  let tokenServer: HttpsServer
  let tokenRegistry: { pid: number; host: string }
  const scopes: string[][] = []

  function jwt(subject: string, access: { name: string; actions: string[] }[]): string {
    const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
    const der = new X509Certificate(readFileSync(reg.certFile)).raw.toString('base64')
    const now = Math.floor(Date.now() / 1000)
    const body = [
      b64({ typ: 'JWT', alg: 'ES256', x5c: [der] }),
      b64({
        iss: ISSUER,
        sub: subject,
        aud: SERVICE,
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomBytes(8).toString('hex'),
        access: access.map(entry => ({ type: 'repository', ...entry }))
      })
    ].join('.')
    const key = createPrivateKey(readFileSync(reg.keyFile))
    const signature = sign('sha256', Buffer.from(body), { key, dsaEncoding: 'ieee-p1363' })
    return `${body}.${signature.toString('base64url')}`
  }

  beforeAll(async () => {
    const basic = (user: string, password: string): string =>
      `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
    tokenServer = createHttpsServer(
      { cert: readFileSync(reg.certFile), key: readFileSync(reg.keyFile) },
      (req, res) => {
        const url = new URL(req.url ?? '/', 'https://token.invalid')
        const authorization = req.headers.authorization ?? ''
        const user =
          authorization === basic(reg.username, reg.password)
            ? reg.username
            : authorization === basic(PULLER.username, PULLER.password)
              ? PULLER.username
              : undefined
        if (url.pathname !== '/token' || !user) {
          res.writeHead(401, { 'content-type': 'application/json' })
          res.end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
          return
        }
        const asked = url.searchParams.getAll('scope')
        // The registry's challenge lists scopes and their actions in no fixed order (Go maps):
        // sort both, so the assertion below reads one order.
        scopes.push(
          asked
            .map(scope => {
              const [kind = '', name = '', actions = ''] = scope.split(':')
              return `${kind}:${name}:${actions.split(',').sort().join(',')}`
            })
            .sort()
        )
        const access = asked.map(scope => {
          const [, name = '', actions = ''] = scope.split(':')
          const wanted = actions.split(',')
          return {
            name,
            actions: user === PULLER.username ? wanted.filter(a => a === 'pull') : wanted
          }
        })
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ token: jwt(user, access) }))
      }
    )
    const tokenPort = await new Promise<number>(resolve =>
      tokenServer.listen(0, '127.0.0.1', () => {
        const address = tokenServer.address()
        resolve(typeof address === 'object' && address ? address.port : 0)
      })
    )
    tokenRegistry = await startTokenRegistry(reg, tokenPort, {
      service: SERVICE,
      issuer: ISSUER,
      readonly: false
    })
  }, 30_000)

  afterAll(async () => {
    if (tokenRegistry) await stopPid(tokenRegistry.pid)
    tokenServer?.closeAllConnections()
    await new Promise(resolve => (tokenServer ? tokenServer.close(resolve) : resolve(undefined)))
  })

  test('a token with push: the mount asks for push on prod and pull on staging, and the promotion lands', async () => {
    const staging = fresh('stage')
    const prod = fresh('live')
    const staged = await pushImage(reg, staging, 'staging', labelled(repo.head))
    scopes.length = 0
    const run = await runAction(
      promoteInputs(
        `${tokenRegistry.host}/${staging}:staging`,
        `${tokenRegistry.host}/${prod}:live`
      ),
      trusted()
    )
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
    expect(run.outputs.prod_image_digest).toBe(staged.manifestDigest)
    expect(scopes).toContainEqual(
      [`repository:${prod}:pull,push`, `repository:${staging}:pull`].sort()
    )
    expect(await digestOf(prod, 'live')).toBe(staged.manifestDigest)
    await expectClean(run)
  })

  test('a pull-only token: registry-auth naming the push right, nothing written, no answer quoted', async () => {
    const staging = fresh('stage')
    const prod = fresh('live')
    const staged = await pushImage(reg, staging, 'staging', labelled(repo.head))
    const run = await runAction(
      promoteInputs(
        `${tokenRegistry.host}/${staging}:staging`,
        `${tokenRegistry.host}/${prod}:live`,
        {
          'registry-username': PULLER.username,
          'registry-password': PULLER.password
        }
      ),
      trusted()
    )
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'registry-auth',
      reason: `provenance fail-closed: ${tokenRegistry.host} refused the given credentials for mounting blob ${staged.configDigest} from ${staging} into ${tokenRegistry.host}/${prod} (401): check that registry-username may push to ${prod} and pull ${staging} (a token needs pull on the staging repository and push on the prod one; the registry's answer is not shown: it may repeat the credentials)`
    })
    expect(run.outputs.image_digest).toBe(staged.manifestDigest)
    expect(run.outputs.prod_image_digest).toBe('')
    expect(await digestOf(prod, 'live')).toBeUndefined()
    expect(await hasBlob(prod, staged.configDigest)).toBe(false)
    await expectClean(run, PULLER.password)
  })
})
