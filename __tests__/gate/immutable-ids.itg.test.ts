/**
 * "Bind the verdict to what runs and what ships", end to end: the bundled action (dist/index.js on
 * node 24) against a real sshd + dockerd on loopback and a real docker-registry (distribution 2.8,
 * self-signed TLS; htpasswd, and a second one in bearer-token mode). Covers the running-container
 * check, the source label, promote mode, labels read from the registry, and the event/HEAD log
 * line with its merge-commit warning. Every case also proves the run left nothing behind
 * (RUNNER_TEMP empty, no ssh master), set every output, raised at most one error annotation, and
 * printed no secret outside the `::add-mask::` commands the runner consumes.
 *
 * Speed: every image the cases need is loaded once, in `beforeAll`; a case gets its own staging
 * tag with `docker tag <id>` (a tag is all the gate reads), so no case sees another's.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
  type KeyObject
} from 'node:crypto'
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  commit,
  docker,
  makeRepo,
  runAction,
  scratchDir,
  writeScript,
  type ActionRun
} from '../support/action.js'
import { expectCleanRun, outcome, shown, sshInputs } from '../support/expect-run.js'
import {
  startTokenRegistry,
  pushImage,
  pushIndex,
  useRegistry,
  type LocalRegistry,
  type PushedImage
} from '../support/registry.js'
import { freePort, stopPid, type StagingHost } from '../support/services.js'
import { useStagingHost } from '../support/staging-host.js'

const REFERENCE_HOOK = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../hook/deploy-hook.sh'
)
const LABEL = 'org.opencontainers.image.revision'
/** The label compose puts on each container of a service; the check finds them by it. */
const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service'
const SOURCE = 'org.opencontainers.image.source'
const WHERE = String.raw`root@127\.0\.0\.1:\d+`
/** An image id, as docker and the registry's config digest spell it. */
const IMAGE_ID = /^sha256:[0-9a-f]{64}$/
/** Revisions no checkout has: an old build, another build, what prod ran before. */
const STALE = 'e'.repeat(40)
const OTHER = 'c'.repeat(40)
const PROD_BEFORE = 'a'.repeat(40)

const stagingHost = useStagingHost()
const registry = useRegistry()
let host: StagingHost
let reg: LocalRegistry
let counter = 0

// ---------------------------------------------------------------------------------------------
// Helpers

/** A unique image reference per call, so cases never see each other's tags. */
function imageRef(kind = 'staging'): string {
  counter += 1
  return `localhost:5000/shop/${kind}:t${process.pid}-${counter}`
}

/** A fresh staging tag on the image with id `id` (`docker tag` by id, as a retag would). */
function tagged(id: string, kind = 'staging'): string {
  const reference = imageRef(kind)
  docker(host.dockerHost, 'tag', id, reference)
  return reference
}

/** A unique container name per call. */
function containerName(): string {
  counter += 1
  return `pg-staging-${process.pid}-${counter}`
}

/** `sha256:` and 12 hex digits, as the reasons name image ids. */
function short(id: string): string {
  return id.slice(0, 'sha256:'.length + 12)
}

/** git with the harness's fixed identity, for the commits these cases make themselves. */
function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'Test',
      GIT_AUTHOR_EMAIL: 'test@example.invalid',
      GIT_COMMITTER_NAME: 'Test',
      GIT_COMMITTER_EMAIL: 'test@example.invalid'
    }
  }).trim()
}

function imageId(reference: string): string {
  return docker(host.dockerHost, 'image', 'inspect', '--format', '{{.Id}}', reference)
}

/** Whether a tag exists on the test dockerd. */
function tagExists(reference: string): boolean {
  try {
    execFileSync('docker', ['-H', host.dockerHost, 'image', 'inspect', reference], {
      stdio: 'ignore'
    })
    return true
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------
// Images. The test dockerd has no network and no base image, and building each image costs about
// a second on vfs: every image is written here byte for byte in `docker save` format and loaded
// with one `docker load`. The runnable ones carry this machine's own `sleep` and the shared
// libraries `ldd` says it loads, and run `sleep infinity`; the base of those is loaded too, tagged
// RUNNABLE_BASE, for the hooks that `docker build FROM` it on the host.

const RUNNABLE_BASE = 'provenance-gate-test/runnable-base:1'

/** One image to load: its tag, its labels, and whether it runs (`sleep infinity`). */
interface ImageSpec {
  tag: string
  labels: Record<string, string>
  runnable: boolean
}

/** A layer tar of `root` in `dir`; returns its file name and diff id. */
function layer(dir: string, name: string, root: string): { file: string; diffId: string } {
  const file = `${name}.tar`
  execFileSync('tar', [
    '--sort=name',
    '--owner=0',
    '--group=0',
    '-cf',
    path.join(dir, file),
    '-C',
    root,
    '.'
  ])
  const digest = createHash('sha256')
    .update(readFileSync(path.join(dir, file)))
    .digest('hex')
  return { file, diffId: `sha256:${digest}` }
}

/** The filesystem of a runnable image: `/bin/sleep` and what it links against. */
function runnableRoot(): string {
  const root = scratchDir('runnable-root-')
  const sleep = execFileSync('bash', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim()
  const libraries = execFileSync('ldd', [sleep], { encoding: 'utf8' })
    .split('\n')
    .map(line => /(\/\S+) \(0x/.exec(line)?.[1])
    .filter((file): file is string => !!file)
  const files: [string, string][] = [
    [sleep, '/bin/sleep'],
    ...libraries.map(l => [l, l] as [string, string])
  ]
  for (const [from, to] of files) {
    const target = path.join(root, to)
    mkdirSync(path.dirname(target), { recursive: true })
    copyFileSync(from, target)
  }
  return root
}

/** Loads every image of `specs` (plus RUNNABLE_BASE) with one `docker load`; returns their ids. */
function loadImages(specs: ImageSpec[]): string[] {
  const dir = scratchDir('load-')
  const plainRoot = scratchDir('plain-root-')
  writeFileSync(path.join(plainRoot, 'x'), 'provenance-gate test image\n')
  const layers = {
    plain: layer(dir, 'plain', plainRoot),
    runnable: layer(dir, 'runnable', runnableRoot())
  }
  const all = [...specs, { tag: RUNNABLE_BASE, labels: {}, runnable: true }]
  const manifest = all.map(spec => {
    const { file, diffId } = spec.runnable ? layers.runnable : layers.plain
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        created: '2024-01-01T00:00:00Z',
        config: {
          Labels: spec.labels,
          ...(spec.runnable ? { Cmd: ['/bin/sleep', 'infinity'] } : {})
        },
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created: '2024-01-01T00:00:00Z', created_by: 'provenance-gate test' }]
      })
    )
    const name = `${createHash('sha256').update(config).digest('hex')}.json`
    writeFileSync(path.join(dir, name), config)
    return { Config: name, RepoTags: [spec.tag], Layers: [file] }
  })
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest))
  execFileSync(
    'bash',
    ['-c', 'tar -cf - -C "$1" . | docker -H "$2" load -q', '_', dir, host.dockerHost],
    {
      stdio: ['ignore', 'ignore', 'pipe']
    }
  )
  const ids = docker(
    host.dockerHost,
    'image',
    'inspect',
    '--format',
    '{{.Id}}',
    ...specs.map(s => s.tag)
  )
  return ids.split('\n')
}

/** Containers this file started; each case removes its own (SIGKILL, no 10 s stop wait). */
const containers: string[] = []

/**
 * `docker run -d --network none [--label com.docker.compose.service=<service>] --name <name>
 * <image id>`; returns once it is running. With `service`, the container carries the label that
 * compose puts on a service's containers (the name is then compose's `<project>-<service>-1`).
 */
function runContainer(name: string, id: string, service?: string): void {
  containers.push(name)
  const label = service ? ['--label', `${COMPOSE_SERVICE_LABEL}=${service}`] : []
  docker(host.dockerHost, 'run', '-d', '--network', 'none', ...label, '--name', name, id)
  expect(containerState(name)).toEqual({ image: id, running: 'true' })
}

/** A container that exists but does not run: started, then killed (no 10 s stop wait). */
function stoppedContainer(name: string, id: string, service?: string): void {
  runContainer(name, id, service)
  docker(host.dockerHost, 'kill', name)
  expect(containerState(name)).toEqual({ image: id, running: 'false' })
}

/** A compose service name of its own per call, so no case finds another's containers by label. */
function serviceName(): string {
  counter += 1
  return `svc${process.pid}x${counter}`
}

function containerState(name: string): { image: string; running: string } {
  const [image = '', running = ''] = docker(
    host.dockerHost,
    'container',
    'inspect',
    '--format',
    '{{.Image}} {{.State.Running}}',
    name
  ).split(' ')
  return { image, running }
}

// ---------------------------------------------------------------------------------------------
// Fixtures shared by the cases, built once.

/** A checkout whose HEAD the "good" images carry. */
let good: { dir: string; head: string }
/** A checkout one commit ahead of the image built from it. */
let behind: { dir: string; old: string; head: string }
/** A checkout whose HEAD is a real merge commit of `main` and a PR branch, as GitHub makes it. */
let merged: { dir: string; merge: string; prHead: string; base: string }
/** Image ids by revision label (plain images). */
const byRevision = new Map<string, string>()
/** Image ids by source label (revision label: good.head). */
const bySource = new Map<string, string>()
/** Runnable images: the verified one (label good.head) and an old one (label STALE). */
let runnable: { head: string; stale: string }

const SOURCE_VARIANTS = [
  'https://github.com/acme/shop',
  'https://GitHub.com/ACME/Shop',
  'https://github.com/acme/shop.git',
  'https://github.com/acme/shop/',
  'HTTPS://GITHUB.COM/Acme/Shop.git',
  'https://ghe.example.com/acme/shop',
  'https://github.com/evil/shop',
  'https://github.com/acme/shop-fork',
  'https://github.com/acme/shop/tree/main',
  ''
]

function revisionImage(revision: string): string {
  const id = byRevision.get(revision)
  if (!id) throw new Error(`no image built for ${revision}`)
  return id
}

function sourceImage(source: string): string {
  const id = bySource.get(source)
  if (!id) throw new Error(`no image built for source ${JSON.stringify(source)}`)
  return id
}

function makeMergeCheckout(): typeof merged {
  const repo = makeRepo({ 'feature.txt': 'base\n', 'app.txt': 'merge checkout\n' })
  git(repo.dir, 'branch', '-M', 'main')
  git(repo.dir, 'checkout', '-q', '-b', 'feature')
  const prHead = commit(repo.dir, 'feature.txt', 'feature\n')
  git(repo.dir, 'checkout', '-q', 'main')
  const base = commit(repo.dir, 'app.txt', 'main moved on\n')
  git(repo.dir, 'merge', '-q', '--no-ff', '--no-edit', 'feature')
  const merge = git(repo.dir, 'rev-parse', 'HEAD')
  // A real merge commit: two parents, main's tip first, the PR head second.
  expect(git(repo.dir, 'rev-list', '--parents', '-n', '1', 'HEAD').split(' ')).toEqual([
    merge,
    base,
    prHead
  ])
  return { dir: repo.dir, merge, prHead, base }
}

beforeAll(async () => {
  host = stagingHost()
  reg = registry()
  good = makeRepo({ 'app.txt': 'good\n' })
  const r2 = makeRepo({ 'app.txt': 'behind\n' })
  behind = { dir: r2.dir, old: r2.head, head: commit(r2.dir, 'app.txt', 'ahead\n') }
  merged = makeMergeCheckout()
  const revisions = [
    good.head,
    OTHER,
    PROD_BEFORE,
    behind.old,
    behind.head,
    merged.merge,
    merged.prHead
  ]
  const spec = (labels: Record<string, string>, runnable = false): ImageSpec => ({
    tag: imageRef('loaded'),
    labels,
    runnable
  })
  const [head, stale, ...ids] = loadImages([
    spec({ [LABEL]: good.head }, true),
    spec({ [LABEL]: STALE }, true),
    ...revisions.map(revision => spec({ [LABEL]: revision })),
    ...SOURCE_VARIANTS.map(source => spec({ [LABEL]: good.head, [SOURCE]: source }))
  ])
  runnable = { head: head as string, stale: stale as string }
  revisions.forEach((revision, i) => byRevision.set(revision, ids[i] as string))
  SOURCE_VARIANTS.forEach((source, i) => bySource.set(source, ids[revisions.length + i] as string))
}, 60_000)

afterEach(() => {
  for (const name of containers.splice(0)) {
    try {
      docker(host.dockerHost, 'rm', '-f', name)
    } catch {
      // A hook already removed it.
    }
  }
})

// ---------------------------------------------------------------------------------------------

describe('the running staging container must run the verified image', () => {
  /** Inputs of a verify run over ssh of the good checkout against `image`. */
  const verify = (image: string, extra: Record<string, string> = {}): Record<string, string> => ({
    ...sshInputs(host),
    mode: 'verify',
    path: good.dir,
    image,
    ...extra
  })

  test('auto: a container running the verified image id passes', async () => {
    const image = tagged(runnable.head)
    const name = containerName()
    runContainer(name, runnable.head)
    const run = await runAction(verify(image, { 'staging-container': name }))
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${good.head.slice(0, 12)}`
    })
    expect(run.outputs.image_id).toBe(runnable.head)
    expect(run.outputs.prod_image_id).toBe('')
    expect(run.outputs.image_digest).toBe('')
    expect(run.stdout).not.toContain(`no container ${name}`)
    await expectCleanRun(run, host, { complete: true })
  })

  test('auto: the tag moved to a correctly labelled image, the container still runs the old one: stale-container naming both ids', async () => {
    const image = tagged(runnable.stale)
    const name = containerName()
    runContainer(name, imageId(image))
    docker(host.dockerHost, 'tag', runnable.head, image)
    expect(imageId(image)).toBe(runnable.head)
    const run = await runAction(verify(image, { 'staging-container': name }))
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'stale-container',
      reason: `provenance fail-closed: the staging container ${name} runs image ${short(runnable.stale)}, not the verified ${short(runnable.head)}: it was not recreated after the rebuild`
    })
    expect(run.outputs.image_id).toBe(runnable.head)
    expect(run.outputs.image_revision).toBe(good.head)
    expect(run.summary).toMatch(/^### ❌ fail-closed · stale-container — root@127\.0\.0\.1:\d+\n/)
    await expectCleanRun(run, host, { complete: true })
  })

  test('staging-container empty and no compose-labelled container: the service name is the container checked', async () => {
    const image = tagged(runnable.head)
    const name = containerName()
    runContainer(name, runnable.stale)
    const run = await runAction(verify(image, { service: name }))
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'stale-container',
      reason: expect.stringContaining(
        `the staging container ${name} runs image ${short(runnable.stale)}, not the verified ${short(runnable.head)}`
      )
    })
    await expectCleanRun(run, host, { complete: true })
  })

  test('check-container true: a container running the verified image passes', async () => {
    const image = tagged(runnable.head)
    const name = containerName()
    runContainer(name, runnable.head)
    const run = await runAction(
      verify(image, { 'staging-container': name, 'check-container': 'true' })
    )
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${good.head.slice(0, 12)}`
    })
    await expectCleanRun(run, host, { complete: true })
  })

  test('auto: no such container on the host passes, and the log says nothing was compared', async () => {
    const name = containerName()
    const run = await runAction(verify(tagged(runnable.head), { 'staging-container': name }))
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${good.head.slice(0, 12)}`
    })
    expect(run.stdout).toContain(
      `no container ${name} on the host: nothing runs, nothing to compare`
    )
    await expectCleanRun(run, host, { complete: true })
  })

  test('check-container true: no such container is stale-container', async () => {
    const name = containerName()
    const run = await runAction(
      verify(tagged(runnable.head), { 'staging-container': name, 'check-container': 'true' })
    )
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'stale-container',
      reason: `provenance fail-closed: the staging container ${name} does not exist on the host (check-container true)`
    })
    await expectCleanRun(run, host, { complete: true })
  })

  test('check-container false: a stale container is never looked at', async () => {
    const image = tagged(runnable.head)
    const name = containerName()
    runContainer(name, runnable.stale)
    const run = await runAction(
      verify(image, { 'staging-container': name, 'check-container': 'false' })
    )
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${good.head.slice(0, 12)}`
    })
    expect(run.outputs.image_id).toBe(runnable.head)
    expect(run.stdout).not.toContain(name)
    await expectCleanRun(run, host, { complete: true })
  })

  test('a wrong revision is reported as mismatch even when the container is stale too', async () => {
    const image = tagged(revisionImage(OTHER))
    const name = containerName()
    runContainer(name, runnable.head)
    const run = await runAction(verify(image, { 'staging-container': name }))
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'mismatch',
      failure: 'mismatch',
      reason: `provenance mismatch: image ${OTHER.slice(0, 12)} != expected ${good.head.slice(0, 12)}`
    })
    await expectCleanRun(run, host, { complete: true })
  })

  test.each(['yes', 'aUTO', 'tRUE', 'AuTo'])(
    'check-container %j is invalid-input before anything remote (only the YAML case forms fold)',
    async value => {
      const closed = String(await freePort())
      const run = await runAction(verify(imageRef(), { port: closed, 'check-container': value }))
      expect(outcome(run)).toEqual({
        exitCode: 1,
        verdict: 'fail-closed',
        failure: 'invalid-input',
        reason: `provenance fail-closed: input check-container must be "auto" or "true" or "false", got "${value}"`
      })
      expect(run.stdout).not.toContain('validated revision')
      await expectCleanRun(run, host, { complete: true })
    }
  )

  test('auto: a stopped container running an old image passes: it runs nothing', async () => {
    const name = containerName()
    stoppedContainer(name, runnable.stale)
    const run = await runAction(verify(tagged(runnable.head), { 'staging-container': name }))
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${good.head.slice(0, 12)}`
    })
    expect(run.outputs.image_id).toBe(runnable.head)
    await expectCleanRun(run, host, { complete: true })
  })

  test('check-container true: a stopped container is "exists but is not running", even one with the verified image', async () => {
    for (const id of [runnable.stale, runnable.head]) {
      const name = containerName()
      stoppedContainer(name, id)
      const run = await runAction(
        verify(tagged(runnable.head), { 'staging-container': name, 'check-container': 'true' })
      )
      expect(outcome(run)).toEqual({
        exitCode: 1,
        verdict: 'fail-closed',
        failure: 'stale-container',
        reason: `provenance fail-closed: the staging container ${name} exists but is not running (check-container true)`
      })
      await expectCleanRun(run, host, { complete: true })
    }
  })

  describe("without staging-container: compose's containers of the service, found by label", () => {
    test('a compose container running an old image: stale-container naming it as compose named it', async () => {
      const service = serviceName()
      const name = `proj-${service}-1`
      runContainer(name, runnable.stale, service)
      const run = await runAction(verify(tagged(runnable.head), { service }))
      expect(outcome(run)).toEqual({
        exitCode: 1,
        verdict: 'fail-closed',
        failure: 'stale-container',
        reason: `provenance fail-closed: the staging container ${name} runs image ${short(runnable.stale)}, not the verified ${short(runnable.head)}: it was not recreated after the rebuild`
      })
      expect(run.outputs.image_id).toBe(runnable.head)
      await expectCleanRun(run, host, { complete: true })
    })

    test('a compose container running the verified image: match', async () => {
      const service = serviceName()
      const name = `proj-${service}-1`
      runContainer(name, runnable.head, service)
      for (const check of ['auto', 'true']) {
        const run = await runAction(
          verify(tagged(runnable.head), { service, 'check-container': check })
        )
        expect(outcome(run)).toEqual({
          exitCode: 0,
          verdict: 'match',
          failure: '',
          reason: `provenance match: ${good.head.slice(0, 12)}`
        })
        expect(run.stdout).not.toContain('no container')
        await expectCleanRun(run, host, { complete: true })
      }
    })

    test('a scaled service: every running replica is checked, the stale one is named', async () => {
      const service = serviceName()
      runContainer(`proj-${service}-1`, runnable.head, service)
      runContainer(`proj-${service}-2`, runnable.stale, service)
      const run = await runAction(verify(tagged(runnable.head), { service }))
      expect(outcome(run)).toEqual({
        exitCode: 1,
        verdict: 'fail-closed',
        failure: 'stale-container',
        reason: `provenance fail-closed: the staging container proj-${service}-2 runs image ${short(runnable.stale)}, not the verified ${short(runnable.head)}: it was not recreated after the rebuild`
      })
      await expectCleanRun(run, host, { complete: true })
    })

    test('a stopped stale replica next to a running fresh one: match', async () => {
      const service = serviceName()
      stoppedContainer(`proj-${service}-1`, runnable.stale, service)
      runContainer(`proj-${service}-2`, runnable.head, service)
      const run = await runAction(
        verify(tagged(runnable.head), { service, 'check-container': 'true' })
      )
      expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
      await expectCleanRun(run, host, { complete: true })
    })

    test('only a stopped compose container: match in auto, "exists but is not running" with true', async () => {
      const service = serviceName()
      const name = `proj-${service}-1`
      stoppedContainer(name, runnable.stale, service)
      const auto = await runAction(verify(tagged(runnable.head), { service }))
      expect(outcome(auto)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
      await expectCleanRun(auto, host, { complete: true })
      const required = await runAction(
        verify(tagged(runnable.head), { service, 'check-container': 'true' })
      )
      expect(outcome(required)).toEqual({
        exitCode: 1,
        verdict: 'fail-closed',
        failure: 'stale-container',
        reason: `provenance fail-closed: the staging container ${name} exists but is not running (check-container true)`
      })
      await expectCleanRun(required, host, { complete: true })
    })

    test('a labelled container wins over one merely named like the service: the name is only the fallback', async () => {
      const service = serviceName()
      runContainer(service, runnable.stale)
      runContainer(`proj-${service}-1`, runnable.head, service)
      const run = await runAction(verify(tagged(runnable.head), { service }))
      expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
      await expectCleanRun(run, host, { complete: true })
    })

    test('staging-container given: the label is not looked at, only that container', async () => {
      const service = serviceName()
      const name = containerName()
      runContainer(`proj-${service}-1`, runnable.stale, service)
      runContainer(name, runnable.head)
      const run = await runAction(
        verify(tagged(runnable.head), { service, 'staging-container': name })
      )
      expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
      await expectCleanRun(run, host, { complete: true })
    })
  })

  describe('rebuild mode: the hook rebuilds the tag on the host', () => {
    /** A checkout whose Dockerfile builds a runnable image, and a container running an old one. */
    function staleStaging(): { repo: { dir: string; head: string }; image: string; name: string } {
      const repo = makeRepo({
        Dockerfile: `FROM ${RUNNABLE_BASE}\nCOPY app.txt /app.txt\n`,
        'app.txt': `rebuild ${counter}\n`
      })
      const image = tagged(runnable.stale)
      const name = containerName()
      runContainer(name, runnable.stale)
      return { repo, image, name }
    }

    test('the reference hook with SKIP_COMPOSE=1 (nothing recreates the container): stale-container', async () => {
      const { repo, image, name } = staleStaging()
      const run = await runAction({
        ...sshInputs(host),
        path: repo.dir,
        image,
        hook: REFERENCE_HOOK,
        'build-context': repo.dir,
        'staging-container': name
      })
      const rebuilt = imageId(image)
      expect(rebuilt).not.toBe(runnable.stale)
      expect(outcome(run)).toEqual({
        exitCode: 1,
        verdict: 'fail-closed',
        failure: 'stale-container',
        reason: `provenance fail-closed: the staging container ${name} runs image ${short(runnable.stale)}, not the verified ${short(rebuilt)}: it was not recreated after the rebuild`
      })
      expect(run.stdout).toContain('[deploy-hook] SKIP_COMPOSE=1: not recreating')
      expect(run.outputs.image_id).toBe(rebuilt)
      expect(run.outputs.image_revision).toBe(repo.head)
      await expectCleanRun(run, host, { complete: true })
    })

    test('a hook that also recreates the container: match, and the container runs image_id', async () => {
      const { repo, image, name } = staleStaging()
      const hook = writeScript(
        scratchDir('hook-'),
        'recreate.sh',
        [
          'docker build -q --label "org.opencontainers.image.revision=$GIT_SHA" -t "$TARGET_IMAGE" "$BUILD_CONTEXT"',
          'docker rm -f "$STAGING_CONTAINER"',
          'docker run -d --network none --name "$STAGING_CONTAINER" "$TARGET_IMAGE"'
        ].join('\n')
      )
      const run = await runAction({
        ...sshInputs(host),
        path: repo.dir,
        image,
        hook,
        'build-context': repo.dir,
        'staging-container': name
      })
      expect(outcome(run)).toEqual({
        exitCode: 0,
        verdict: 'match',
        failure: '',
        reason: `provenance match: ${repo.head.slice(0, 12)}`
      })
      expect(run.outputs.image_id).toBe(imageId(image))
      expect(containerState(name)).toEqual({ image: run.outputs.image_id, running: 'true' })
      await expectCleanRun(run, host, { complete: true })
    })
  })
})

// ---------------------------------------------------------------------------------------------

describe('the source label must name this repository', () => {
  const verify = (image: string, extra: Record<string, string> = {}): Record<string, string> => ({
    ...sshInputs(host),
    mode: 'verify',
    path: good.dir,
    image,
    ...extra
  })

  test.each([
    ['another case', 'https://GitHub.com/ACME/Shop', {}],
    ['a trailing .git', 'https://github.com/acme/shop.git', {}],
    ['a trailing slash', 'https://github.com/acme/shop/', {}],
    ['upper case and .git', 'HTTPS://GITHUB.COM/Acme/Shop.git', {}],
    [
      'the GHES server of this run',
      'https://ghe.example.com/acme/shop',
      { GITHUB_SERVER_URL: 'https://ghe.example.com' }
    ]
  ])('%s: match', async (_name, source, env) => {
    const run = await runAction(verify(tagged(sourceImage(source))), {
      GITHUB_REPOSITORY: 'acme/shop',
      ...env
    })
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${good.head.slice(0, 12)}`
    })
    await expectCleanRun(run, host, { complete: true })
  })

  test('no source label, require-source false (the default): match', async () => {
    const run = await runAction(verify(tagged(revisionImage(good.head))))
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
    await expectCleanRun(run, host, { complete: true })
  })

  test.each([
    ['another owner', 'https://github.com/evil/shop', {}, 'https://github.com/acme/shop'],
    ['a longer name', 'https://github.com/acme/shop-fork', {}, 'https://github.com/acme/shop'],
    ['a sub-path', 'https://github.com/acme/shop/tree/main', {}, 'https://github.com/acme/shop'],
    [
      'github.com on a GHES run',
      'https://github.com/acme/shop',
      { GITHUB_SERVER_URL: 'https://ghe.example.com/' },
      'https://ghe.example.com/acme/shop'
    ]
  ])('%s: wrong-source', async (_name, source, env, expected) => {
    const id = sourceImage(source)
    const run = await runAction(verify(tagged(id)), { GITHUB_REPOSITORY: 'acme/shop', ...env })
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'wrong-source',
      reason: `provenance fail-closed: the image was built from ${JSON.stringify(source)}, not from ${expected}`
    })
    // The revision itself matched: what was read is still reported.
    expect(run.outputs.image_revision).toBe(good.head)
    expect(run.outputs.image_id).toBe(id)
    await expectCleanRun(run, host, { complete: true })
  })

  test.each([
    ['no source label', () => revisionImage(good.head)],
    ['an empty source label', () => sourceImage('')]
  ])('%s with require-source true: wrong-source', async (_name, id) => {
    const run = await runAction(verify(tagged(id()), { 'require-source': 'true' }))
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'wrong-source',
      reason: `provenance fail-closed: the image has no ${SOURCE} label and require-source is true`
    })
    await expectCleanRun(run, host, { complete: true })
  })

  test('the exact source URL with require-source true: match', async () => {
    const run = await runAction(
      verify(tagged(sourceImage('https://github.com/acme/shop')), { 'require-source': 'true' })
    )
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
    await expectCleanRun(run, host, { complete: true })
  })
})

// ---------------------------------------------------------------------------------------------

describe('promote mode over ssh', () => {
  const promote = (
    checkout: string,
    image: string,
    prod: string,
    extra: Record<string, string> = {}
  ): Record<string, string> => ({
    ...sshInputs(host),
    mode: 'promote',
    path: checkout,
    image,
    'prod-image': prod,
    ...extra
  })

  test('happy path: prod-image now names the verified id; image_id == prod_image_id', async () => {
    const id = revisionImage(good.head)
    const staging = tagged(id)
    const prod = imageRef('prod')
    const run = await runAction(promote(good.dir, staging, prod))
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${good.head.slice(0, 12)}, promoted to ${prod} as ${short(id)}`
    })
    expect(run.outputs.expected_revision).toBe(good.head)
    expect(run.outputs.image_revision).toBe(good.head)
    expect(run.outputs.image_id).toBe(id)
    expect(run.outputs.prod_image_id).toBe(id)
    expect(imageId(prod)).toBe(id)
    expect(
      docker(
        host.dockerHost,
        'image',
        'inspect',
        '--format',
        `{{index .Config.Labels "${LABEL}"}}`,
        prod
      )
    ).toBe(good.head)
    expect(run.stdout).toContain(`promoting ${id} to ${prod} on root@127.0.0.1:${host.sshPort}`)
    expect(run.summary).toContain(`| Prod image id | <code>${id}</code> |`)
    expect(run.summary).toMatch(
      /\| Time \| git \d+ ms · connect \d+ ms · inspect \d+ ms · promote \d+ ms · total /
    )
    await expectCleanRun(run, host, { complete: true })
  })

  test('an existing prod tag is moved to the verified id', async () => {
    const id = revisionImage(good.head)
    const prod = tagged(revisionImage(PROD_BEFORE), 'prod')
    const run = await runAction(promote(good.dir, tagged(id), prod))
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
    expect(imageId(prod)).toBe(id)
    expect(run.outputs.prod_image_id).toBe(id)
    await expectCleanRun(run, host, { complete: true })
  })

  test('expected-revision given: it, not HEAD, is what the staging label must equal', async () => {
    const id = revisionImage(behind.old)
    const prod = imageRef('prod')
    const run = await runAction(
      promote(behind.dir, tagged(id), prod, { 'expected-revision': behind.old })
    )
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${behind.old.slice(0, 12)}, promoted to ${prod} as ${short(id)}`
    })
    expect(run.outputs.expected_revision).toBe(behind.old)
    expect(run.outputs.prod_image_id).toBe(id)
    expect(imageId(prod)).toBe(id)
    await expectCleanRun(run, host, { complete: true })
  })

  test('staging label != expected-revision: mismatch, and the prod tag is not created', async () => {
    const id = revisionImage(good.head)
    const prod = imageRef('prod')
    const run = await runAction(promote(good.dir, tagged(id), prod, { 'expected-revision': OTHER }))
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'mismatch',
      failure: 'mismatch',
      reason: `provenance mismatch: image ${good.head.slice(0, 12)} != expected ${OTHER.slice(0, 12)}`
    })
    expect(run.outputs.image_id).toBe(id)
    expect(run.outputs.prod_image_id).toBe('')
    expect(tagExists(prod)).toBe(false)
    expect(run.stdout).not.toContain('promoting')
    await expectCleanRun(run, host, { complete: true })
  })

  test('expected-revision defaults to HEAD: a staging image one commit behind is a mismatch, the prod tag stays', async () => {
    const prodBefore = revisionImage(PROD_BEFORE)
    const prod = tagged(prodBefore, 'prod')
    const run = await runAction(promote(behind.dir, tagged(revisionImage(behind.old)), prod))
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'mismatch',
      failure: 'mismatch',
      reason: `provenance mismatch: image ${behind.old.slice(0, 12)} != expected ${behind.head.slice(0, 12)}`
    })
    expect(run.outputs.expected_revision).toBe(behind.head)
    expect(run.outputs.prod_image_id).toBe('')
    expect(imageId(prod)).toBe(prodBefore)
    await expectCleanRun(run, host, { complete: true })
  })

  test('a staging image with the wrong source is not promoted', async () => {
    const prod = imageRef('prod')
    const run = await runAction(
      promote(good.dir, tagged(sourceImage('https://github.com/evil/shop')), prod)
    )
    expect(outcome(run)).toMatchObject({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'wrong-source'
    })
    expect(run.outputs.prod_image_id).toBe('')
    expect(tagExists(prod)).toBe(false)
    await expectCleanRun(run, host, { complete: true })
  })

  test('a staging image missing on the host: inspect-failed, nothing tagged', async () => {
    const staging = imageRef()
    const prod = imageRef('prod')
    const run = await runAction(promote(good.dir, staging, prod))
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'inspect-failed',
      reason: expect.stringMatching(
        new RegExp(
          `docker image inspect ${staging.replace(/\./g, '\\.')} on ${WHERE} failed \\(exit code 1\\): the image .* does not exist on the host`
        )
      )
    })
    expect(tagExists(prod)).toBe(false)
    await expectCleanRun(run, host, { complete: true })
  })

  describe('image-id: exactly the image the gate verified, even after the staging tag moved', () => {
    /**
     * The gate job verifies the staging tag (image A, labelled good.head); then, before the
     * promotion, the tag is moved to image B that carries the same revision label.
     */
    async function gateThenMove(): Promise<{ staging: string; gated: string; moved: string }> {
      const staging = tagged(revisionImage(good.head))
      const gate = await runAction({
        ...sshInputs(host),
        mode: 'verify',
        path: good.dir,
        image: staging
      })
      expect(outcome(gate)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
      const gated = gate.outputs.image_id as string
      expect(gated).toBe(revisionImage(good.head))
      await expectCleanRun(gate, host, { complete: true })
      docker(host.dockerHost, 'tag', runnable.head, staging)
      const moved = imageId(staging)
      expect(moved).toBe(runnable.head)
      expect(moved).not.toBe(gated)
      return { staging, gated, moved }
    }

    test('the tag moved to another image with the same label: image-id is what is read and promoted', async () => {
      const { staging, gated, moved } = await gateThenMove()
      const prod = imageRef('prod')
      const run = await runAction(promote(good.dir, staging, prod, { 'image-id': gated }))
      expect(outcome(run)).toEqual({
        exitCode: 0,
        verdict: 'match',
        failure: '',
        reason: `provenance match: ${good.head.slice(0, 12)}, promoted to ${prod} as ${short(gated)}`
      })
      expect(run.outputs.image_id).toBe(gated)
      expect(run.outputs.prod_image_id).toBe(gated)
      expect(imageId(prod)).toBe(gated)
      // The promotion neither reads nor touches the moved staging tag.
      expect(imageId(staging)).toBe(moved)
      expect(run.stdout).toContain(`promoting ${gated} to ${prod}`)
      await expectCleanRun(run, host, { complete: true })
    })

    test('documented: without image-id, the moved staging tag is what gets promoted (its label matches too)', async () => {
      const { staging, gated, moved } = await gateThenMove()
      const prod = imageRef('prod')
      const run = await runAction(promote(good.dir, staging, prod))
      // The revision label is all a promotion without image-id can bind: B carries the same one,
      // so B passes and gets the prod tag, although the gate verified A. Pass the gate's
      // image_id as image-id to promote A.
      expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
      expect(run.outputs.image_id).toBe(moved)
      expect(run.outputs.prod_image_id).toBe(moved)
      expect(imageId(prod)).toBe(moved)
      expect(imageId(prod)).not.toBe(gated)
      await expectCleanRun(run, host, { complete: true })
    })

    test('image-id of an image with another revision: mismatch, though the staging tag carries the right one', async () => {
      const staging = tagged(revisionImage(good.head))
      const other = revisionImage(OTHER)
      const prod = imageRef('prod')
      const run = await runAction(promote(good.dir, staging, prod, { 'image-id': other }))
      expect(outcome(run)).toEqual({
        exitCode: 1,
        verdict: 'mismatch',
        failure: 'mismatch',
        reason: `provenance mismatch: image ${OTHER.slice(0, 12)} != expected ${good.head.slice(0, 12)}`
      })
      expect(run.outputs.image_id).toBe(other)
      expect(run.outputs.prod_image_id).toBe('')
      expect(tagExists(prod)).toBe(false)
      await expectCleanRun(run, host, { complete: true })
    })

    test('image-id no longer on the host: inspect-failed naming the id, nothing tagged', async () => {
      const gone = `sha256:${randomBytes(32).toString('hex')}`
      const prod = imageRef('prod')
      const run = await runAction(
        promote(good.dir, tagged(revisionImage(good.head)), prod, { 'image-id': gone })
      )
      expect(outcome(run)).toEqual({
        exitCode: 1,
        verdict: 'fail-closed',
        failure: 'inspect-failed',
        reason: expect.stringMatching(
          new RegExp(
            `^provenance fail-closed: docker image inspect ${gone} on ${WHERE} failed \\(exit code 1\\): the image ${gone} does not exist on the host\\. `
          )
        )
      })
      expect(tagExists(prod)).toBe(false)
      await expectCleanRun(run, host, { complete: true })
    })

    test('image-id outside promote mode: invalid-input before anything remote', async () => {
      const closed = String(await freePort())
      const run = await runAction({
        ...sshInputs(host),
        port: closed,
        mode: 'verify',
        path: good.dir,
        image: tagged(revisionImage(good.head)),
        'image-id': revisionImage(good.head)
      })
      expect(outcome(run)).toEqual({
        exitCode: 1,
        verdict: 'fail-closed',
        failure: 'invalid-input',
        reason:
          'provenance fail-closed: input image-id is only used in promote mode: set mode: promote, or remove image-id'
      })
      expect(run.stdout).not.toContain('validated revision')
      expect(run.stdout).not.toContain(closed)
      await expectCleanRun(run, host, { complete: true })
    })
  })

  test.each([
    [
      'an invalid prod-image',
      { 'prod-image': 'Prod Image' },
      /^provenance fail-closed: input prod-image is not a valid image reference: "Prod Image"$/
    ],
    ['no prod-image', { 'prod-image': '' }, /input prod-image is required in promote mode/],
    [
      'a short expected-revision',
      { 'expected-revision': 'abc123' },
      /input expected-revision must be a full 40- or 64-hex lowercase commit id/
    ],
    [
      'image-digest with label-source host',
      { 'image-digest': `sha256:${'a'.repeat(64)}` },
      /^provenance fail-closed: input image-digest needs label-source registry \(a registry promotion\); with label-source host, pin the image with image-id$/
    ],
    [
      'label-source registry with image-id',
      { 'label-source': 'registry', 'image-id': `sha256:${'a'.repeat(64)}` },
      /input image-id is for label-source host/
    ],
    [
      'check-container true',
      { 'check-container': 'true' },
      /input check-container true needs mode rebuild or verify with label-source host/
    ],
    [
      'an image-id without sha256:',
      { 'image-id': 'a'.repeat(64) },
      /^provenance fail-closed: input image-id must be an image id sha256:<64 hex> \(the gate's image_id output\), got "a{64}"$/
    ],
    [
      'an image-id that is an image reference',
      { 'image-id': 'localhost:5000/shop/staging:latest' },
      /input image-id must be an image id sha256:<64 hex>/
    ]
  ])('%s: invalid-input before anything remote', async (_name, bad, message) => {
    const staging = tagged(revisionImage(good.head))
    const prod = imageRef('prod')
    const inputs = promote(good.dir, staging, prod, bad)
    // A closed port: any attempt to reach the host would end as transport, not invalid-input.
    const closed = String(await freePort())
    const run = await runAction({ ...inputs, port: closed })
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'invalid-input',
      reason: expect.stringMatching(message)
    })
    expect(run.outputs.expected_revision).toBe('')
    expect(run.stdout).not.toContain('validated revision')
    expect(run.stdout).not.toContain(closed)
    expect(tagExists(prod)).toBe(false)
    await expectCleanRun(run, host, { complete: true })
  })
})

// ---------------------------------------------------------------------------------------------

describe('label-source registry: the labels come from the registry, bound to digests', () => {
  let repo: { dir: string; head: string }
  let older: string
  let single: PushedImage
  let amd64: PushedImage
  let arm64: PushedImage
  let indexDigest: string
  let errorServer: HttpsServer
  let errorPort = 0

  beforeAll(async () => {
    repo = makeRepo()
    older = repo.head
    repo.head = commit(repo.dir, 'app.txt', 'v2\n')
    single = await pushImage(reg, 'shop/app', 'staging', {
      labels: { [LABEL]: repo.head, [SOURCE]: 'https://github.com/acme/shop.git' }
    })
    await pushImage(reg, 'shop/app', 'forked', {
      labels: { [LABEL]: repo.head, [SOURCE]: 'https://github.com/evil/shop' }
    })
    amd64 = await pushImage(reg, 'shop/multi', '', {
      labels: { [LABEL]: repo.head, arch: 'amd64' },
      platform: { os: 'linux', architecture: 'amd64' },
      format: 'oci'
    })
    arm64 = await pushImage(reg, 'shop/multi', '', {
      labels: { [LABEL]: older, arch: 'arm64' },
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      format: 'oci'
    })
    indexDigest = await pushIndex(reg, 'shop/multi', 'v1', [amd64, arm64])
    // A server with the registry's own (trusted) certificate that answers every request with 500.
    errorServer = createHttpsServer(
      { cert: readFileSync(reg.certFile), key: readFileSync(reg.keyFile) },
      (_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('backend on fire')
    )
    errorPort = await new Promise<number>(resolve =>
      errorServer.listen(0, '127.0.0.1', () => {
        const address = errorServer.address()
        resolve(typeof address === 'object' && address ? address.port : 0)
      })
    )
  }, 60_000)

  afterAll(async () => {
    errorServer?.closeAllConnections()
    await new Promise(resolve => (errorServer ? errorServer.close(resolve) : resolve(undefined)))
  })

  /** Inputs of a verify-mode run against the registry: no host, Basic credentials. */
  function registryInputs(reference: string, extra: Record<string, string> = {}) {
    return {
      mode: 'verify',
      'label-source': 'registry',
      path: repo.dir,
      image: reference,
      'registry-username': reg.username,
      'registry-password': reg.password,
      ...extra
    }
  }

  /** The CA that signs the registry's certificate, for the action's node. */
  const trusted = (): Record<string, string> => ({ NODE_EXTRA_CA_CERTS: reg.caFile })

  /** The password is registered as a secret and never printed, summarised or output. */
  async function expectRegistryRun(run: ActionRun, password = reg.password): Promise<void> {
    expect(run.stdout).toContain(`::add-mask::${password}\n`)
    await expectCleanRun(run, host, { secrets: [password], complete: true })
  }

  test('single-platform: match; image_id is the config digest, image_digest the manifest digest', async () => {
    const reference = `${reg.host}/shop/app:staging`
    const run = await runAction(registryInputs(reference), trusted())
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${repo.head.slice(0, 12)}`
    })
    expect(run.outputs.image_id).toBe(single.configDigest)
    expect(run.outputs.image_id).toMatch(IMAGE_ID)
    expect(run.outputs.image_digest).toBe(single.manifestDigest)
    expect(run.outputs.image_revision).toBe(repo.head)
    expect(run.outputs.expected_revision).toBe(repo.head)
    expect(run.outputs.prod_image_id).toBe('')
    expect(run.stdout).toContain(
      `registry: ${reference} is ${single.manifestDigest} (linux/amd64: manifest ${single.manifestDigest}, config ${single.configDigest})`
    )
    expect(run.summary).toContain(`| Image digest | <code>${single.manifestDigest}</code> |`)
    expect(run.summary).toMatch(/\| Time \| git \d+ ms · registry \d+ ms · total /)
    expect(run.stdout).not.toMatch(/ssh|running the hook/)
    await expectRegistryRun(run)
  })

  test('the same image by digest: the same ids', async () => {
    const run = await runAction(
      registryInputs(`${reg.host}/shop/app@${single.manifestDigest}`),
      trusted()
    )
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
    expect(run.outputs.image_id).toBe(single.configDigest)
    expect(run.outputs.image_digest).toBe(single.manifestDigest)
    await expectRegistryRun(run)
  })

  test('multi-platform index, default platform: linux/amd64 is read and matches', async () => {
    const run = await runAction(registryInputs(`${reg.host}/shop/multi:v1`), trusted())
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${repo.head.slice(0, 12)}`
    })
    expect(run.outputs.image_id).toBe(amd64.configDigest)
    expect(run.outputs.image_digest).toBe(indexDigest)
    expect(run.stdout).toContain(
      `is ${indexDigest} (linux/amd64: manifest ${amd64.manifestDigest}, config ${amd64.configDigest})`
    )
    await expectRegistryRun(run)
  })

  test('multi-platform index, platform linux/arm64: its own (older) label is a mismatch', async () => {
    const run = await runAction(
      registryInputs(`${reg.host}/shop/multi:v1`, { platform: 'linux/arm64' }),
      trusted()
    )
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'mismatch',
      failure: 'mismatch',
      reason: `provenance mismatch: image ${older.slice(0, 12)} != expected ${repo.head.slice(0, 12)}`
    })
    expect(run.outputs.image_id).toBe(arm64.configDigest)
    expect(run.outputs.image_digest).toBe(indexDigest)
    expect(run.outputs.image_revision).toBe(older)
    await expectRegistryRun(run)
  })

  test('a platform the index lacks: registry-not-found naming what it has', async () => {
    const run = await runAction(
      registryInputs(`${reg.host}/shop/multi:v1`, { platform: 'linux/s390x' }),
      trusted()
    )
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'registry-not-found',
      reason: expect.stringMatching(
        /no manifest for linux\/s390x \(it has linux\/amd64, linux\/arm64\/v8\)/
      )
    })
    await expectRegistryRun(run)
  })

  test('a source label naming another repository: wrong-source', async () => {
    const run = await runAction(registryInputs(`${reg.host}/shop/app:forked`), trusted())
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'wrong-source',
      reason:
        'provenance fail-closed: the image was built from "https://github.com/evil/shop", not from https://github.com/acme/shop'
    })
    await expectRegistryRun(run)
  })

  test('a wrong password: registry-auth, and neither password is shown', async () => {
    const wrong = `wrong-${reg.password}-x`
    const run = await runAction(
      registryInputs(`${reg.host}/shop/app:staging`, { 'registry-password': wrong }),
      trusted()
    )
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'registry-auth',
      reason: expect.stringMatching(
        /^provenance fail-closed: 127\.0\.0\.1:\d+ refused the given credentials for manifest .*shop\/app:staging \(401/
      )
    })
    expect(run.outputs.image_id).toBe('')
    expect(run.outputs.image_digest).toBe('')
    await expectRegistryRun(run, wrong)
    const basic = Buffer.from(`${reg.username}:${wrong}`).toString('base64')
    const visible = shown(run) + run.summary + JSON.stringify(run.outputs)
    expect(visible).not.toContain(reg.password)
    expect(visible).not.toContain(basic)
  })

  test('no credentials against an htpasswd registry: registry-auth', async () => {
    const run = await runAction(
      registryInputs(`${reg.host}/shop/app:staging`, {
        'registry-username': '',
        'registry-password': ''
      }),
      trusted()
    )
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'registry-auth',
      reason: expect.stringMatching(/requires credentials .*\(401, Basic\) and none were given/)
    })
    await expectCleanRun(run, host, { secrets: [reg.password], complete: true })
  })

  test('an unknown tag: registry-not-found', async () => {
    const run = await runAction(registryInputs(`${reg.host}/shop/app:nope`), trusted())
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'registry-not-found',
      reason: expect.stringMatching(/manifest .*shop\/app:nope not found \(404 MANIFEST_UNKNOWN/)
    })
    await expectRegistryRun(run)
  })

  test('without NODE_EXTRA_CA_CERTS the self-signed certificate is registry-error', async () => {
    const run = await runAction(registryInputs(`${reg.host}/shop/app:staging`))
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'registry-error',
      reason: expect.stringMatching(
        /TLS certificate of 127\.0\.0\.1:\d+ is not trusted \(.*\); if the registry uses its own CA, set NODE_EXTRA_CA_CERTS/
      )
    })
    await expectRegistryRun(run)
  })

  test('a server answering 500: registry-error with its answer', async () => {
    const run = await runAction(
      registryInputs(`127.0.0.1:${errorPort}/shop/app:staging`),
      trusted()
    )
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'registry-error',
      reason: expect.stringMatching(
        /the registry answered 500 Internal Server Error "backend on fire"/
      )
    })
    await expectRegistryRun(run)
  })

  test('nothing listening: registry-error', async () => {
    const port = await freePort()
    const run = await runAction(registryInputs(`127.0.0.1:${port}/shop/app:staging`), trusted())
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'registry-error',
      reason: expect.stringMatching(/cannot read from 127\.0\.0\.1:\d+: ECONNREFUSED/)
    })
    await expectRegistryRun(run)
  })

  test('verify mode needs no host at all: an unreachable ssh host and a PATH with only bash and git still match', async () => {
    const bin = scratchDir('bin-')
    for (const program of ['bash', 'git']) {
      const found = execFileSync('bash', ['-c', `command -v ${program}`], { encoding: 'utf8' })
      symlinkSync(found.trim(), path.join(bin, program))
    }
    const closed = String(await freePort())
    const run = await runAction(
      { ...registryInputs(`${reg.host}/shop/app:staging`), ...sshInputs(host), port: closed },
      { ...trusted(), PATH: bin }
    )
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${repo.head.slice(0, 12)}`
    })
    expect(run.outputs.image_id).toBe(single.configDigest)
    expect(run.summary).not.toMatch(/connect|inspect/)
    await expectRegistryRun(run)
  })

  /**
   * Bearer tokens, the way GHCR and Docker Hub do it, with a real registry: a second
   * docker-registry in token-auth mode, read-only over the same storage as the htpasswd one (so it
   * serves the images pushed above), and a token server here that answers the registry's realm with
   * an ES256 JWT (x5c: the registry's own certificate, which is its rootcertbundle) only for the
   * right Basic credentials.
   */
  describe('bearer token auth', () => {
    let tokenRegistry: { pid: number; host: string; dir: string }
    let tokenServer: HttpsServer
    const tokenRequests: { authorization: string; query: URLSearchParams }[] = []
    const SERVICE = 'provenance-gate-test-registry'
    const ISSUER = 'provenance-gate-test-issuer'

    /** A key the registry does not trust: its tokens carry the right x5c but a wrong signature. */
    const forgeryKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey

    function jwt(
      scope: string,
      key: KeyObject = createPrivateKey(readFileSync(reg.keyFile))
    ): string {
      const b64 = (value: unknown): string =>
        Buffer.from(JSON.stringify(value)).toString('base64url')
      const der = new X509Certificate(readFileSync(reg.certFile)).raw.toString('base64')
      const now = Math.floor(Date.now() / 1000)
      const [, name = '', actions = ''] = scope.split(':')
      const body = [
        b64({ typ: 'JWT', alg: 'ES256', x5c: [der] }),
        b64({
          iss: ISSUER,
          sub: reg.username,
          aud: SERVICE,
          exp: now + 300,
          nbf: now - 10,
          iat: now,
          jti: randomBytes(8).toString('hex'),
          access: [{ type: 'repository', name, actions: actions.split(',') }]
        })
      ].join('.')
      const signature = sign('sha256', Buffer.from(body), { key, dsaEncoding: 'ieee-p1363' })
      return `${body}.${signature.toString('base64url')}`
    }

    beforeAll(async () => {
      const tls = { cert: readFileSync(reg.certFile), key: readFileSync(reg.keyFile) }
      tokenServer = createHttpsServer(tls, (req, res) => {
        const url = new URL(req.url ?? '/', 'https://token.invalid')
        const authorization = req.headers.authorization ?? ''
        tokenRequests.push({ authorization, query: url.searchParams })
        const expected = `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString('base64')}`
        const scope = url.searchParams.get('scope') ?? ''
        if (authorization === `Basic ${Buffer.from('forger:forged').toString('base64')}`) {
          res.writeHead(200, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ access_token: jwt(scope, forgeryKey) }))
          return
        }
        if (url.pathname !== '/token' || authorization !== expected) {
          res.writeHead(401, { 'content-type': 'application/json' })
          res.end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
          return
        }
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ token: jwt(scope) }))
      })
      const tokenPort = await new Promise<number>(resolve =>
        tokenServer.listen(0, '127.0.0.1', () => {
          const address = tokenServer.address()
          resolve(typeof address === 'object' && address ? address.port : 0)
        })
      )
      tokenRegistry = await startTokenRegistry(reg, tokenPort, {
        service: SERVICE,
        issuer: ISSUER,
        readonly: true
      })
    }, 30_000)

    afterAll(async () => {
      if (tokenRegistry) await stopPid(tokenRegistry.pid)
      tokenServer?.closeAllConnections()
      await new Promise(resolve => (tokenServer ? tokenServer.close(resolve) : resolve(undefined)))
    })

    test('right credentials: the token is fetched with them, and the image matches', async () => {
      tokenRequests.length = 0
      const run = await runAction(
        registryInputs(`${tokenRegistry.host}/shop/app:staging`),
        trusted()
      )
      expect(outcome(run)).toEqual({
        exitCode: 0,
        verdict: 'match',
        failure: '',
        reason: `provenance match: ${repo.head.slice(0, 12)}`
      })
      expect(run.outputs.image_id).toBe(single.configDigest)
      expect(run.outputs.image_digest).toBe(single.manifestDigest)
      expect(tokenRequests.length).toBeGreaterThanOrEqual(1)
      expect(tokenRequests[0]?.authorization).toMatch(/^Basic /)
      expect(tokenRequests[0]?.query.get('service')).toBe(SERVICE)
      expect(tokenRequests[0]?.query.getAll('scope')).toEqual(['repository:shop/app:pull'])
      await expectRegistryRun(run)
    })

    test('a wrong password: the token endpoint refuses it, registry-auth', async () => {
      const wrong = `bearer-${reg.password}-wrong`
      const run = await runAction(
        registryInputs(`${tokenRegistry.host}/shop/app:staging`, { 'registry-password': wrong }),
        trusted()
      )
      expect(outcome(run)).toEqual({
        exitCode: 1,
        verdict: 'fail-closed',
        failure: 'registry-auth',
        reason: expect.stringMatching(
          /token endpoint https:\/\/127\.0\.0\.1:\d+\/token refused the given credentials \(401\): check registry-username and registry-password/
        )
      })
      await expectRegistryRun(run, wrong)
    })

    test('a token the registry does not trust (bad signature): registry-auth', async () => {
      const run = await runAction(
        registryInputs(`${tokenRegistry.host}/shop/app:staging`, {
          'registry-username': 'forger',
          'registry-password': 'forged'
        }),
        trusted()
      )
      expect(outcome(run)).toEqual({
        exitCode: 1,
        verdict: 'fail-closed',
        failure: 'registry-auth',
        reason: expect.stringMatching(
          /127\.0\.0\.1:\d+ refused the given credentials for manifest .*shop\/app:staging \(401\): check registry-username/
        )
      })
      await expectRegistryRun(run, 'forged')
    })
  })
})

// ---------------------------------------------------------------------------------------------

describe('event, GITHUB_SHA, pull request head and HEAD', () => {
  function eventFile(payload: unknown): string {
    const file = path.join(scratchDir('event-'), 'event.json')
    writeFileSync(file, JSON.stringify(payload))
    return file
  }

  const verify = (checkout: string, revision: string): Record<string, string> => ({
    ...sshInputs(host),
    mode: 'verify',
    path: checkout,
    image: tagged(revisionImage(revision))
  })

  const pullRequest = (name = 'pull_request', sha = merged.merge): Record<string, string> => ({
    GITHUB_EVENT_NAME: name,
    GITHUB_SHA: sha,
    GITHUB_EVENT_PATH: eventFile({
      number: 7,
      pull_request: { head: { sha: merged.prHead }, base: { sha: merged.base } }
    })
  })

  const mergeWarning = (): string =>
    `::warning::HEAD ${merged.merge.slice(0, 12)} is the merge commit GitHub made for this pull request, not its head ${merged.prHead.slice(0, 12)}. The gate requires the image to be built from HEAD (what this run tested); a hook that builds the PR head will be reported as a mismatch. Build from GIT_SHA, or check out the head (actions/checkout with ref: \${{ github.event.pull_request.head.sha }}).`

  test('pull_request, HEAD is the merge commit, the image built from it: match, one warning explaining it', async () => {
    const run = await runAction(verify(merged.dir, merged.merge), pullRequest())
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${merged.merge.slice(0, 12)}`
    })
    expect(run.stdout).toContain(
      `\nevent pull_request: GITHUB_SHA ${merged.merge}, pull request head ${merged.prHead}, HEAD ${merged.merge}\n`
    )
    expect(run.stdout.match(/^::warning::.*$/gm)).toEqual([mergeWarning()])
    await expectCleanRun(run, host, { complete: true })
  })

  test('pull_request, the image was built from the PR head instead: mismatch, and the warning says why', async () => {
    const run = await runAction(verify(merged.dir, merged.prHead), pullRequest())
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'mismatch',
      failure: 'mismatch',
      reason: `provenance mismatch: image ${merged.prHead.slice(0, 12)} != expected ${merged.merge.slice(0, 12)}`
    })
    expect(run.stdout.match(/^::warning::.*$/gm)).toEqual([mergeWarning()])
    await expectCleanRun(run, host, { complete: true })
  })

  test('pull_request_target: the same warning', async () => {
    const run = await runAction(
      verify(merged.dir, merged.merge),
      pullRequest('pull_request_target', merged.base)
    )
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
    expect(run.stdout).toContain(
      `event pull_request_target: GITHUB_SHA ${merged.base}, pull request head ${merged.prHead}, HEAD ${merged.merge}\n`
    )
    expect(run.stdout.match(/^::warning::.*$/gm)).toEqual([mergeWarning()])
    await expectCleanRun(run, host, { complete: true })
  })

  test('pull_request with the PR head checked out (HEAD == head sha): no warning', async () => {
    const clone = scratchDir('clone-')
    git(clone, 'clone', '-q', merged.dir, '.')
    git(clone, 'checkout', '-q', merged.prHead)
    const run = await runAction(verify(clone, merged.prHead), pullRequest())
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
    expect(run.stdout).toContain(
      `event pull_request: GITHUB_SHA ${merged.merge}, pull request head ${merged.prHead}, HEAD ${merged.prHead}\n`
    )
    expect(run.stdout).not.toMatch(/^::warning::/m)
    await expectCleanRun(run, host, { complete: true })
  })

  test('pull_request where HEAD differs from the head but is not a merge commit: no warning', async () => {
    const run = await runAction(verify(behind.dir, behind.head), {
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_SHA: behind.head,
      GITHUB_EVENT_PATH: eventFile({ pull_request: { head: { sha: behind.old } } })
    })
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
    expect(run.stdout).toContain(`pull request head ${behind.old}, HEAD ${behind.head}\n`)
    expect(run.stdout).not.toMatch(/^::warning::/m)
    await expectCleanRun(run, host, { complete: true })
  })

  test('push (even with HEAD a merge commit): no warning; the line names event, GITHUB_SHA, head and HEAD', async () => {
    const run = await runAction(verify(merged.dir, merged.merge), {
      GITHUB_EVENT_NAME: 'push',
      GITHUB_SHA: merged.merge,
      // A push payload has no pull_request; even a stray one is not read for a push.
      GITHUB_EVENT_PATH: eventFile({
        after: merged.merge,
        pull_request: { head: { sha: merged.prHead } }
      })
    })
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
    expect(run.stdout).toContain(
      `\nevent push: GITHUB_SHA ${merged.merge}, pull request head (none), HEAD ${merged.merge}\n`
    )
    expect(run.stdout).not.toMatch(/^::warning::/m)
    await expectCleanRun(run, host, { complete: true })
  })

  test('no event at all (a local run): the line says so, no warning', async () => {
    const run = await runAction(verify(good.dir, good.head))
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
    expect(run.stdout).toContain(
      `\nevent (none): GITHUB_SHA (unset), pull request head (none), HEAD ${good.head}\n`
    )
    expect(run.stdout).not.toMatch(/^::warning::/m)
    await expectCleanRun(run, host, { complete: true })
  })

  test('an unreadable event payload only costs the head in the log line', async () => {
    const bad = path.join(scratchDir('event-'), 'event.json')
    writeFileSync(bad, '{ not json')
    const run = await runAction(verify(merged.dir, merged.merge), {
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_SHA: merged.merge,
      GITHUB_EVENT_PATH: bad
    })
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match', failure: '' })
    expect(run.stdout).toContain(`pull request head (none), HEAD ${merged.merge}\n`)
    expect(run.stdout).not.toMatch(/^::warning::/m)
    await expectCleanRun(run, host, { complete: true })
  })
})
