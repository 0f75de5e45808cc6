/**
 * The reference host hook (hook/deploy-hook.sh), run for real with bash against a real dockerd
 * that this file starts and stops by PID. Every case reads its effects back from the engine.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  buildImage,
  docker,
  makeRepo,
  removeScratch,
  runChild,
  writeScript
} from './harness/action.js'
import { freePort, startDockerd, stopPid } from './harness/services.js'

const HOOK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../hook/deploy-hook.sh')
const LABEL = 'org.opencontainers.image.revision'
const SHA1 = 'a'.repeat(40)

let scratch: string
let dockerdPid = 0
let dockerHost: string
let realDocker: string
let lockFile: string
let counter = 0

interface HookRun {
  code: number | null
  stdout: string
  stderr: string
}

/** Where a program lives on this machine's PATH. */
function which(program: string): string {
  return execFileSync('bash', ['-c', `command -v ${program}`], { encoding: 'utf8' }).trim()
}

/**
 * Runs `bash hook/deploy-hook.sh <mode>` asynchronously (so servers in this process keep
 * answering) with only the environment given here plus the test engine and a private lock.
 */
async function runHook(mode: string, env: Record<string, string> = {}): Promise<HookRun> {
  const run = await runChild('/bin/bash', [HOOK, mode], {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    DOCKER_HOST: dockerHost,
    DOCKER_BUILDKIT: '0',
    LOCK_FILE: lockFile,
    ...env
  })
  return { code: run.exitCode, stdout: run.stdout, stderr: run.stderr }
}

/** A unique image reference per call, so cases never see each other's images. */
function ref(name: string): string {
  counter += 1
  return `localhost:5000/shop/${name}:t${process.pid}-${counter}`
}

function imageExists(image: string): boolean {
  return (
    spawnSync('docker', ['-H', dockerHost, 'image', 'inspect', image], { stdio: 'ignore' })
      .status === 0
  )
}

function imageId(image: string): string {
  return docker(dockerHost, 'image', 'inspect', '--format', '{{.Id}}', image)
}

/** The image's label `name`, '' when absent (`with` guards an image that has no labels at all). */
function label(image: string, name = LABEL): string {
  const format = `{{with .Config}}{{with .Labels}}{{index . "${name}"}}{{end}}{{end}}`
  return docker(dockerHost, 'image', 'inspect', '--format', format, image)
}

/** Settings for a staging build that needs no compose and no health check. */
function buildEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const repo = makeRepo()
  return {
    GIT_SHA: repo.head,
    BUILD_CONTEXT: repo.dir,
    TARGET_IMAGE: ref('staging'),
    TARGET_SERVICE: 'web',
    SKIP_COMPOSE: '1',
    ...overrides
  }
}

/**
 * A `docker` stand-in for the hook's $DOCKER: forwards every command to the real client except
 * `compose …`, whose arguments it records one per line (this host has no compose plugin).
 */
function composeRecorder(): { wrapper: string; record: string } {
  const dir = mkdtempSync(path.join(scratch, 'wrap-'))
  const record = path.join(dir, 'compose.args')
  const wrapper = writeScript(
    dir,
    'docker',
    [
      'if [ "${1:-}" = compose ]; then',
      `  printf '%s\\n' "$@" > '${record}'`,
      '  exit 0',
      'fi',
      `exec '${realDocker}' "$@"`
    ].join('\n')
  )
  return { wrapper, record }
}

function recordedArgs(record: string): string[] {
  return readFileSync(record, 'utf8').split('\n').slice(0, -1)
}

/** A loopback HTTP server that answers 200 to everything, on a free port. */
async function healthServer(): Promise<{ server: Server; port: number }> {
  const port = await freePort()
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.end('ok\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  return { server, port }
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections()
  return new Promise(resolve => server.close(() => resolve()))
}

/** A PATH holding only what the hook needs, without curl: forces the /dev/tcp health probe. */
function pathWithoutCurl(): string {
  const dir = path.join(scratch, 'bin-no-curl')
  if (!existsSync(dir)) {
    mkdirSync(dir)
    for (const program of ['bash', 'docker', 'flock', 'tr', 'sleep', 'cat', 'printf']) {
      symlinkSync(which(program), path.join(dir, program))
    }
  }
  return dir
}

beforeAll(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), 'pg-hook-'))
  lockFile = path.join(scratch, 'deploy.lock')
  realDocker = which('docker')
  const engine = await startDockerd(path.join(scratch, 'docker'))
  dockerdPid = engine.pid
  dockerHost = engine.dockerHost
}, 90000)

afterAll(async () => {
  if (dockerdPid) await stopPid(dockerdPid, 15000)
  if (scratch) rmSync(scratch, { recursive: true, force: true })
  removeScratch()
}, 60000)

describe('deploy-hook.sh --build-staging', () => {
  test('SKIP_COMPOSE=1 builds TARGET_IMAGE labelled with GIT_SHA and never calls compose', async () => {
    const { wrapper, record } = composeRecorder()
    const env = buildEnv({ DOCKER: wrapper })
    const run = await runHook('--build-staging', env)
    expect(run.code).toBe(0)
    expect(label(env.TARGET_IMAGE as string)).toBe(env.GIT_SHA)
    expect(run.stderr).toContain('SKIP_COMPOSE=1: not recreating web')
    expect(run.stderr).toContain(`staging web: ${env.TARGET_IMAGE} built from ${env.GIT_SHA}`)
    expect(existsSync(record)).toBe(false)
  })

  test('a sha256 repository revision (64 hex) is accepted', async () => {
    const repo = makeRepo({}, 'sha256')
    expect(repo.head).toMatch(/^[0-9a-f]{64}$/)
    const env = buildEnv({ GIT_SHA: repo.head, BUILD_CONTEXT: repo.dir })
    const run = await runHook('--build-staging', env)
    expect(run.code).toBe(0)
    expect(label(env.TARGET_IMAGE as string)).toBe(repo.head)
  })

  test('a custom REVISION_LABEL is the label written', async () => {
    const env = buildEnv({ REVISION_LABEL: 'com.acme.git-sha' })
    const run = await runHook('--build-staging', env)
    expect(run.code).toBe(0)
    expect(label(env.TARGET_IMAGE as string, 'com.acme.git-sha')).toBe(env.GIT_SHA)
    expect(label(env.TARGET_IMAGE as string)).toBe('')
  })

  test.each([
    ['short', 'abc1234'],
    ['uppercase', 'A'.repeat(40)],
    ['41 hex', 'a'.repeat(41)],
    ['a ref name', 'main'],
    ['a sha with a newline', `${'a'.repeat(40)}\nb`]
  ])(
    'a GIT_SHA that is not a full revision (%s) is refused and nothing is built',
    async (_, sha) => {
      const env = buildEnv({ GIT_SHA: sha })
      const run = await runHook('--build-staging', env)
      expect(run.code).not.toBe(0)
      expect(run.stderr).toContain('GIT_SHA is not a full revision')
      expect(imageExists(env.TARGET_IMAGE as string)).toBe(false)
    }
  )

  test('a BUILD_CONTEXT that is not a directory fails naming it', async () => {
    const missing = path.join(scratch, 'no-such-context')
    const env = buildEnv({ BUILD_CONTEXT: missing })
    const run = await runHook('--build-staging', env)
    expect(run.code).toBe(1)
    expect(run.stderr).toContain(`BUILD_CONTEXT ${missing} is not a directory`)
    expect(imageExists(env.TARGET_IMAGE as string)).toBe(false)
  })

  test('without SKIP_COMPOSE it recreates the service with the profile, without building', async () => {
    const { wrapper, record } = composeRecorder()
    const env = buildEnv({
      DOCKER: wrapper,
      COMPOSE_PROFILE: 'staging',
      TARGET_SERVICE: 'shop-web'
    })
    delete env.SKIP_COMPOSE
    const run = await runHook('--build-staging', env)
    expect(run.code).toBe(0)
    expect(recordedArgs(record)).toEqual([
      'compose',
      '--profile',
      'staging',
      'up',
      '-d',
      '--no-build',
      '--',
      'shop-web'
    ])
    expect(label(env.TARGET_IMAGE as string)).toBe(env.GIT_SHA)
  })

  test('with COMPOSE_PROFILE empty no --profile is passed', async () => {
    const { wrapper, record } = composeRecorder()
    const env = buildEnv({ DOCKER: wrapper, COMPOSE_PROFILE: '', SKIP_COMPOSE: '0' })
    const run = await runHook('--build-staging', env)
    expect(run.code).toBe(0)
    expect(recordedArgs(record)).toEqual(['compose', 'up', '-d', '--no-build', '--', 'web'])
  })

  test('a failing compose step fails the hook', async () => {
    const dir = mkdtempSync(path.join(scratch, 'wrap-'))
    const wrapper = writeScript(
      dir,
      'docker',
      `if [ "\${1:-}" = compose ]; then echo "no such service" >&2; exit 4; fi\nexec '${realDocker}' "$@"`
    )
    const env = buildEnv({ DOCKER: wrapper, SKIP_COMPOSE: '0' })
    const run = await runHook('--build-staging', env)
    expect(run.code).toBe(4)
    expect(run.stderr).toContain('no such service')
    expect(run.stderr).not.toContain('built from')
  })

  describe('health on 127.0.0.1:TARGET_PORT', () => {
    test('curl is installed here, so the default probe is an HTTP GET', () => {
      expect(which('curl')).not.toBe('')
    })

    test.each([
      ['curl', false],
      ['/dev/tcp', true]
    ])('a listener answering 200 passes (%s probe)', async (_, noCurl) => {
      const { server, port } = await healthServer()
      const paths: string[] = []
      server.on('request', req => paths.push(req.url ?? ''))
      try {
        const env = buildEnv({
          TARGET_PORT: String(port),
          HEALTH_TIMEOUT: '10',
          HEALTH_PATH: '/healthz'
        })
        if (noCurl) env.PATH = pathWithoutCurl()
        const run = await runHook('--build-staging', env)
        expect(run.code).toBe(0)
        expect(run.stderr).toContain(`waiting up to 10s for 127.0.0.1:${port}`)
        // curl sends GET /healthz; the bash probe only connects.
        expect(paths).toEqual(noCurl ? [] : ['/healthz'])
      } finally {
        await closeServer(server)
      }
    })

    test.each([
      ['curl', false],
      ['/dev/tcp', true]
    ])('nothing listening fails after HEALTH_TIMEOUT (%s probe)', async (_, noCurl) => {
      const port = await freePort()
      const env = buildEnv({ TARGET_PORT: String(port), HEALTH_TIMEOUT: '2' })
      if (noCurl) env.PATH = pathWithoutCurl()
      const started = Date.now()
      const run = await runHook('--build-staging', env)
      expect(run.code).toBe(1)
      expect(run.stderr).toContain(`staging did not become healthy on 127.0.0.1:${port} within 2s`)
      expect(Date.now() - started).toBeLessThan(15000)
    })

    test('an HTTP error status is not healthy when curl probes', async () => {
      const port = await freePort()
      let requests = 0
      const server = createServer((_req, res) => {
        requests += 1
        res.writeHead(503)
        res.end()
      })
      await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
      try {
        const run = await runHook(
          '--build-staging',
          buildEnv({ TARGET_PORT: String(port), HEALTH_TIMEOUT: '1' })
        )
        expect(run.code).toBe(1)
        expect(run.stderr).toContain('did not become healthy')
        expect(requests).toBeGreaterThan(0)
      } finally {
        await closeServer(server)
      }
    })
  })

  test('SMOKE_COMMAND runs after the build, against the built image', async () => {
    const marker = path.join(scratch, `smoke-${counter}`)
    const env = buildEnv()
    env.SMOKE_COMMAND = `docker image inspect --format '{{.Id}}' '${env.TARGET_IMAGE}' > '${marker}'`
    const run = await runHook('--build-staging', env)
    expect(run.code).toBe(0)
    expect(run.stderr).toContain('[deploy-hook] smoke: docker image inspect')
    expect(readFileSync(marker, 'utf8').trim()).toBe(imageId(env.TARGET_IMAGE as string))
  })

  test('a failing SMOKE_COMMAND fails the hook', async () => {
    const run = await runHook(
      '--build-staging',
      buildEnv({ SMOKE_COMMAND: 'echo "smoke: 500 on /" >&2; exit 7' })
    )
    expect(run.code).toBe(7)
    expect(run.stderr).toContain('smoke: 500 on /')
    expect(run.stderr).not.toContain('built from')
  })

  test('missing TARGET_IMAGE fails naming it', async () => {
    const env = buildEnv()
    delete env.TARGET_IMAGE
    const run = await runHook('--build-staging', env)
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('TARGET_IMAGE is required for --build-staging')
  })
})

describe('deploy-hook.sh --promote', () => {
  test('EXPECTED_REVISION equal to the label retags the very same image id', async () => {
    const source = ref('staging')
    const prod = ref('prod')
    const id = buildImage(dockerHost, source, { [LABEL]: SHA1 })
    const run = await runHook('--promote', {
      SOURCE_IMAGE: source,
      PROD_IMAGE: prod,
      EXPECTED_REVISION: SHA1
    })
    expect(run.code).toBe(0)
    expect(imageId(prod)).toBe(id)
    expect(run.stderr).toContain(`provenance match: ${SHA1.slice(0, 12)}`)
    expect(run.stderr).toContain(`promoted ${id} to ${prod}`)
  })

  test('a different EXPECTED_REVISION exits 1 before tagging', async () => {
    const source = ref('staging')
    const prod = ref('prod')
    buildImage(dockerHost, source, { [LABEL]: SHA1 })
    const run = await runHook('--promote', {
      SOURCE_IMAGE: source,
      PROD_IMAGE: prod,
      EXPECTED_REVISION: 'b'.repeat(40)
    })
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('provenance mismatch: image aaaaaaaaaaaa != expected bbbbbbbbbbbb')
    expect(imageExists(prod)).toBe(false)
  })

  test('an unlabelled image with EXPECTED_REVISION set fails closed', async () => {
    const source = ref('staging')
    const prod = ref('prod')
    buildImage(dockerHost, source, {})
    // No labels at all: Docker reports a null Labels map, which a bare `index` cannot read.
    expect(
      docker(dockerHost, 'image', 'inspect', '--format', '{{json .Config.Labels}}', source)
    ).toBe('null')
    const run = await runHook('--promote', {
      SOURCE_IMAGE: source,
      PROD_IMAGE: prod,
      EXPECTED_REVISION: SHA1
    })
    expect(run.code).toBe(1)
    expect(run.stderr).toContain(`provenance fail-closed: ${source} has no ${LABEL} label`)
    expect(imageExists(prod)).toBe(false)
  })

  test('a label under another name does not count (fail-closed on REVISION_LABEL)', async () => {
    const source = ref('staging')
    const prod = ref('prod')
    buildImage(dockerHost, source, { 'com.acme.git-sha': SHA1 })
    const run = await runHook('--promote', {
      SOURCE_IMAGE: source,
      PROD_IMAGE: prod,
      EXPECTED_REVISION: SHA1
    })
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('provenance fail-closed')
    expect(imageExists(prod)).toBe(false)
  })

  test('EXPECTED_REVISION empty retags without a check and says so', async () => {
    const source = ref('staging')
    const prod = ref('prod')
    const id = buildImage(dockerHost, source, {})
    const run = await runHook('--promote', {
      SOURCE_IMAGE: source,
      PROD_IMAGE: prod,
      EXPECTED_REVISION: ''
    })
    expect(run.code).toBe(0)
    expect(run.stderr).toContain('EXPECTED_REVISION is empty: promoting without a provenance check')
    expect(imageId(prod)).toBe(id)
  })

  test('SOURCE_IMAGE given as the image id works', async () => {
    const prod = ref('prod')
    const id = buildImage(dockerHost, ref('staging'), { [LABEL]: SHA1 })
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/)
    const run = await runHook('--promote', {
      SOURCE_IMAGE: id,
      PROD_IMAGE: prod,
      EXPECTED_REVISION: SHA1
    })
    expect(run.code).toBe(0)
    expect(imageId(prod)).toBe(id)
  })

  test('a SOURCE_IMAGE that does not exist fails and tags nothing', async () => {
    const prod = ref('prod')
    const run = await runHook('--promote', {
      SOURCE_IMAGE: ref('missing'),
      PROD_IMAGE: prod,
      EXPECTED_REVISION: SHA1
    })
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('cannot inspect')
    expect(imageExists(prod)).toBe(false)
  })

  test('missing PROD_IMAGE fails naming it', async () => {
    const run = await runHook('--promote', {
      SOURCE_IMAGE: ref('staging'),
      EXPECTED_REVISION: SHA1
    })
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('PROD_IMAGE is required for --promote')
  })
})

describe('deploy-hook.sh usage, locking and lint', () => {
  test.each([['--deploy'], ['']])('an unknown mode (%p) exits 2 with usage', async mode => {
    const run = await runHook(mode)
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('usage:')
    expect(run.stderr).toContain('--build-staging | --promote')
  })

  test('a held lock stops the run after LOCK_WAIT; without contention it runs', async () => {
    const source = ref('staging')
    const prod = ref('prod')
    const id = buildImage(dockerHost, source, { [LABEL]: SHA1 })
    const env = { SOURCE_IMAGE: source, PROD_IMAGE: prod, EXPECTED_REVISION: SHA1, LOCK_WAIT: '1' }
    // `exec sleep` keeps the holder a single process, so stopping its PID releases the lock.
    const holder: ChildProcess = spawn(
      'bash',
      ['-c', 'exec 9>"$1"; flock 9; echo locked; exec sleep 30', 'holder', lockFile],
      { stdio: ['ignore', 'pipe', 'inherit'] }
    )
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout?.on('data', chunk => {
          if (String(chunk).includes('locked')) resolve()
        })
        holder.once('exit', code => reject(new Error(`lock holder exited early (${code})`)))
      })
      const blocked = await runHook('--promote', env)
      expect(blocked.code).toBe(1)
      expect(blocked.stderr).toContain(`another deploy still holds ${lockFile} after 1s`)
      expect(imageExists(prod)).toBe(false)
    } finally {
      await stopPid(holder.pid ?? 0, 3000)
    }
    const free = await runHook('--promote', env)
    expect(free.code).toBe(0)
    expect(imageId(prod)).toBe(id)
  })

  test('shellcheck hook/deploy-hook.sh is clean', () => {
    const result = spawnSync('shellcheck', [HOOK], { encoding: 'utf8' })
    expect({ status: result.status, output: result.stdout + result.stderr }).toEqual({
      status: 0,
      output: ''
    })
  })
})
