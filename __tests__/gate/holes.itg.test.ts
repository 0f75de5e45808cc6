/**
 * Holes a review found, each reproduced against the bundle and closed: an allowlist entry with
 * `.git` that turned the gate off for its own repository, an allowlist applied to an unknown
 * repository, a promotion onto the staging tag itself written another way, a registry that
 * repeats the credentials in its 401, a mismatch message showing two equal values, and a revoked
 * host key that the failure advised to pin. Every case runs the bundled action against real
 * components: the loopback sshd and dockerd, git, and an HTTPS server written here.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import * as path from 'node:path'
import { buildImage, makeRepo, runAction, scratchDir, type ActionRun } from '../support/action.js'
import { expectCleanRun, outcome, shown, sshInputs } from '../support/expect-run.js'
import { freePort, type StagingHost } from '../support/services.js'
import { useStagingHost } from '../support/staging-host.js'

const LABEL = 'org.opencontainers.image.revision'

const stagingHost = useStagingHost()
let host: StagingHost
/** A repository and an image correctly built from its HEAD: the passing baseline. */
let good: { dir: string; head: string; image: string }
let counter = 0

function imageRef(): string {
  counter += 1
  return `localhost:5000/shop/holes:t${process.pid}-${counter}`
}

/** A verify-mode run over ssh of `image` against the checkout `dir`. */
function verify(image: string, extra: Record<string, string> = {}): Record<string, string> {
  return { mode: 'verify', path: good.dir, image, ...sshInputs(host), ...extra }
}

beforeAll(() => {
  host = stagingHost()
  const repo = makeRepo()
  const image = imageRef()
  buildImage(host.dockerHost, image, { [LABEL]: repo.head })
  good = { ...repo, image }
}, 60_000)

describe('repositories allowlist', () => {
  test.each([
    'acme/shop.git',
    'https://github.com/acme/shop.git',
    'github.com/Acme/Shop',
    'blog, https://github.com/acme/shop/'
  ])('%j applies to a run of acme/shop: the image is checked', async repositories => {
    const run = await runAction(verify(good.image, { repositories }))
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${good.head.slice(0, 12)}`
    })
    await expectCleanRun(run, host, { complete: true })
  })

  test('an allowlist with an empty GITHUB_REPOSITORY fails closed before anything runs', async () => {
    // A closed port: any attempt to reach the host would end as transport, not invalid-input.
    const closed = String(await freePort())
    const run = await runAction(verify(good.image, { repositories: 'acme/shop', port: closed }), {
      GITHUB_REPOSITORY: ''
    })
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'invalid-input',
      reason:
        'provenance fail-closed: GITHUB_REPOSITORY is empty, so the repositories allowlist cannot be applied: run the gate on GitHub Actions (which sets GITHUB_REPOSITORY), or remove repositories'
    })
    expect(run.outputs.expected_revision).toBe('')
    expect(run.stdout).not.toContain('validated revision')
    await expectCleanRun(run, host, { complete: true })
  })

  test('enabled: false still wins over an allowlist with an empty GITHUB_REPOSITORY', async () => {
    const run = await runAction(
      verify(good.image, { enabled: 'false', repositories: 'acme/shop' }),
      { GITHUB_REPOSITORY: '' }
    )
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'disabled', failure: '' })
  })
})

describe('promote onto itself', () => {
  test.each<[string, string]>([
    ['acme/shop:staging', 'docker.io/acme/shop:staging'],
    ['shop:staging', 'index.docker.io/library/shop:staging'],
    ['localhost:5000/shop/app', 'Localhost:5000/shop/app:latest']
  ])('%s promoted to %s is prod-target before anything remote', async (image, prodImage) => {
    const closed = String(await freePort())
    const run = await runAction({
      mode: 'promote',
      path: good.dir,
      image,
      'prod-image': prodImage,
      ...sshInputs(host),
      port: closed
    })
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'prod-target',
      reason: `provenance fail-closed: the staging target equals the prod target: input prod-image ${JSON.stringify(prodImage)} names the same image as image ${JSON.stringify(image)}; promote retags staging to a different prod tag`
    })
    expect(run.outputs.expected_revision).toBe('')
    expect(run.stdout).not.toContain('validated revision')
    expect(run.stdout).not.toContain(closed)
    await expectCleanRun(run, host, { complete: true })
  })
})

describe('a registry that repeats the credentials', () => {
  const USER = 'deployer'
  const PASSWORD = 'echo-Pa55word-for-holes'
  const BASE64 = Buffer.from(`${USER}:${PASSWORD}`).toString('base64')
  let server: Server
  let port = 0
  let caFile = ''

  beforeAll(async () => {
    const dir = scratchDir('echo-registry-')
    const key = path.join(dir, 'key.pem')
    caFile = path.join(dir, 'cert.pem')
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
      '-keyout', key, '-out', caFile,
      '-subj', '/CN=provenance-gate echo registry', '-addext', 'subjectAltName=IP:127.0.0.1'
    ], { stdio: 'ignore' }) // prettier-ignore
    server = createServer({ key: readFileSync(key), cert: readFileSync(caFile) }, (req, res) => {
      const authorization = req.headers.authorization
      if (!authorization) {
        res.writeHead(401, {
          'www-authenticate': 'Basic realm="echo"',
          'content-type': 'application/json'
        })
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
        return
      }
      // Repeats what it was sent, as some registries and proxies do in their error bodies.
      const status = req.url?.includes('/missing/') ? 404 : 401
      const code = status === 404 ? 'NAME_UNKNOWN' : 'UNAUTHORIZED'
      res.writeHead(status, {
        'www-authenticate': 'Basic realm="echo"',
        'content-type': 'application/json'
      })
      res.end(
        JSON.stringify({
          errors: [{ code, message: `no access for ${authorization}`, detail: authorization }]
        })
      )
    })
    port = await new Promise<number>(resolve =>
      server.listen(0, '127.0.0.1', () => {
        const address = server.address()
        resolve(typeof address === 'object' && address ? address.port : 0)
      })
    )
  })

  afterAll(async () => {
    server?.closeAllConnections()
    await new Promise(resolve => (server ? server.close(resolve) : resolve(undefined)))
  })

  async function readFromEcho(repository: string): Promise<ActionRun> {
    return runAction(
      {
        mode: 'verify',
        'label-source': 'registry',
        path: good.dir,
        image: `127.0.0.1:${port}/${repository}:staging`,
        'registry-username': USER,
        'registry-password': PASSWORD
      },
      { NODE_EXTRA_CA_CERTS: caFile }
    )
  }

  /** The credential shows only inside the `::add-mask::` commands that register it. */
  async function expectMasked(run: ActionRun): Promise<void> {
    expect(run.stdout).toContain(`::add-mask::${BASE64}\n`)
    expect(run.stdout).toContain(`::add-mask::${PASSWORD}\n`)
    expect(run.stdout.split('\n').filter(line => line.includes(BASE64))).toEqual([
      `::add-mask::${BASE64}`
    ])
    expect(run.stderr).not.toContain(BASE64)
    for (const text of [shown(run), run.summary, JSON.stringify(run.outputs)]) {
      expect(text).not.toContain(BASE64)
      expect(text).not.toContain(PASSWORD)
    }
    await expectCleanRun(run, host, { secrets: [BASE64, PASSWORD], complete: true })
  }

  test('a 401 echoing the Authorization header: registry-auth, its body not quoted', async () => {
    const run = await readFromEcho('shop/app')
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'registry-auth',
      reason: `provenance fail-closed: 127.0.0.1:${port} refused the given credentials for manifest 127.0.0.1:${port}/shop/app:staging (401): check registry-username and registry-password, and that this user may pull shop/app (the registry's answer is not shown: it may repeat the credentials)`
    })
    await expectMasked(run)
  })

  test('a 404 echoing the Authorization header: shown with the credential as ***', async () => {
    const run = await readFromEcho('missing/app')
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'registry-not-found',
      reason: expect.stringContaining('(404 NAME_UNKNOWN: no access for Basic ***)')
    })
    await expectMasked(run)
  })
})

describe('mismatch messages', () => {
  test('a label differing from HEAD only after character 12 is shown whole, with HEAD', async () => {
    const last = good.head.at(-1) === '0' ? '1' : '0'
    const label = `${good.head.slice(0, 39)}${last}`
    const image = imageRef()
    buildImage(host.dockerHost, image, { [LABEL]: label })
    const run = await runAction(verify(image))
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'mismatch',
      failure: 'mismatch',
      reason: `provenance mismatch: image ${label} != expected ${good.head}`
    })
    await expectCleanRun(run, host, { complete: true })
  })

  test('an abbreviated label is shown as it is, with the whole HEAD', async () => {
    const image = imageRef()
    buildImage(host.dockerHost, image, { [LABEL]: good.head.slice(0, 12) })
    const run = await runAction(verify(image))
    expect(run.outputs.reason).toBe(
      `provenance mismatch: image ${good.head.slice(0, 12)} != expected ${good.head}`
    )
  })
})

describe('a revoked host key', () => {
  test.each<[string, () => string]>([
    ['on an @revoked line', () => `@revoked ${host.knownHosts}`],
    // ssh 9.2 words this one "No ED25519 host key is known": the key the host offers tells.
    [
      'on an @revoked line and pinned as well',
      () => `@revoked ${host.knownHosts}${host.knownHosts}`
    ]
  ])('%s: host-key, REVOKED, never a line to pin', async (_name, knownHosts) => {
    const run = await runAction(verify(good.image, { 'known-hosts': knownHosts() }))
    const fingerprint = execFileSync('ssh-keygen', [
      '-lf',
      path.join(host.dir, 'ssh', 'host_ed25519.pub')
    ])
      .toString()
      .split(' ')[1]
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'host-key',
      reason: `provenance fail-closed: ssh host key of root@127.0.0.1:${host.sshPort} is REVOKED in known-hosts: an @revoked line lists the key the host offered (ssh-ed25519 ${fingerprint}), so ssh refused it (the hook did not run). A revoked key may be in someone else's hands: do not pin it again. Find out why it was revoked; if the host has a new key, check its fingerprint out of band (\`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub\` on the host) and pin that key in known-hosts.`
    })
    expect(run.outputs.reason).not.toContain('pin this line')
    expect(run.outputs.reason).not.toContain(host.knownHosts.trim().split(' ')[2])
    await expectCleanRun(run, host, { complete: true })
  })
})

describe('faults the README names', () => {
  test('a git that prints no revision: empty-revision, nothing remote runs', async () => {
    const bin = scratchDir('empty-git-')
    writeFileSync(
      path.join(bin, 'git'),
      '#!/bin/sh\nif [ "$3" = rev-parse ]; then echo "$2"; echo; exit 0; fi\nexec /usr/bin/git "$@"\n',
      { mode: 0o755 }
    )
    const run = await runAction(verify(good.image), { PATH: `${bin}:${process.env.PATH ?? ''}` })
    expect(outcome(run)).toMatchObject({ exitCode: 1, failure: 'empty-revision' })
    expect(run.outputs.reason).toMatch(/printed no revision/)
  })

  test('promote: the prod tag reads back another id than the one tagged: mismatch, something else wrote it', async () => {
    const other = imageRef()
    const otherId = buildImage(host.dockerHost, other, { [LABEL]: good.head, x: 'other' })
    // A container CLI whose `tag` writes another image to the tag, as a concurrent writer would.
    const bin = scratchDir('racing-docker-')
    const wrapper = path.join(bin, 'docker-racing')
    writeFileSync(
      wrapper,
      `#!/bin/sh\nif [ "$1" = tag ]; then exec docker tag ${otherId} "$3"; fi\nexec docker "$@"\n`,
      { mode: 0o755 }
    )
    const prod = imageRef()
    const run = await runAction(
      verify(good.image, { mode: 'promote', 'prod-image': prod, docker: wrapper })
    )
    expect(outcome(run)).toMatchObject({ exitCode: 1, verdict: 'fail-closed', failure: 'mismatch' })
    expect(run.outputs.reason).toMatch(
      /after docker tag, .* has id sha256:[0-9a-f]{12}, not the verified sha256:[0-9a-f]{12}: something else wrote the tag/
    )
  })
})
