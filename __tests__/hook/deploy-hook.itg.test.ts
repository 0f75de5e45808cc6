/**
 * The reference host hook (hook/deploy-hook.sh), run for real with bash against a real dockerd
 * that this file starts and stops by PID (and against podman on a private store), with real git
 * repositories as build contexts. Every case reads its effects back from the engine: labels,
 * image ids and the files inside the built image.
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
  commit,
  docker,
  makeRepo,
  removeScratch,
  runChild,
  writeScript
} from '../support/action.js'
import { cloneOfOrigin, fileAt, git, writeIn } from '../support/git-context.js'
import { freePort, startDockerd, stopPid } from '../support/services.js'

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

/** The text of `file` inside `image`, copied out of a container that never runs. */
function fileInImage(image: string, file: string): string {
  counter += 1
  const name = `read-${process.pid}-${counter}`
  const out = path.join(scratch, name)
  docker(dockerHost, 'create', '--network', 'none', '--name', name, image, '/none')
  try {
    docker(dockerHost, 'cp', `${name}:${file}`, out)
    return readFileSync(out, 'utf8')
  } finally {
    docker(dockerHost, 'rm', name)
  }
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
    // What the hook runs besides curl (git and coreutils for the context checks).
    const programs = 'bash docker flock sleep cat printf env git mktemp rm dirname grep head'
    for (const program of programs.split(' ')) {
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
    ['a quote', 'a"b'],
    ['a template', '{{.ID}}'],
    ['a space', 'a b']
  ])(
    'a REVISION_LABEL with %s (it goes into the inspect template) is refused, nothing built',
    async (_, name) => {
      const env = buildEnv({ REVISION_LABEL: name })
      const run = await runHook('--build-staging', env)
      expect(run.code).toBe(1)
      expect(run.stderr).toContain(
        `REVISION_LABEL may hold only letters, digits and . _ - /: ${name}`
      )
      expect(imageExists(env.TARGET_IMAGE as string)).toBe(false)
    }
  )

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

describe('deploy-hook.sh --build-staging: the label is never stamped on faith', () => {
  /** Nothing was built: the hook refused before `docker build`. */
  function expectNoBuild(run: HookRun, image: string): void {
    expect(run.code).toBe(1)
    expect(run.stderr).not.toContain('[deploy-hook] building')
    expect(run.stderr).not.toContain('Step 1/')
    expect(imageExists(image)).toBe(false)
  }

  /** The image holds `file` exactly as `revision` of `repo` has it, and says so in its label. */
  function expectBuiltFrom(image: string, repo: string, revision: string, file = 'app.txt'): void {
    expect(label(image)).toBe(revision)
    expect(fileInImage(image, `/${file}`)).toBe(fileAt(repo, revision, file))
  }

  describe('a git context', () => {
    test('clean at GIT_SHA: built, labelled with its HEAD, holding HEAD’s files', async () => {
      const repo = makeRepo({ 'app.txt': 'from HEAD\n' })
      const env = buildEnv({ GIT_SHA: repo.head, BUILD_CONTEXT: repo.dir })
      const run = await runHook('--build-staging', env)
      expect(run.code).toBe(0)
      expect(run.stderr).toContain(`building ${env.TARGET_IMAGE} from ${repo.dir} at ${repo.head}`)
      expectBuiltFrom(env.TARGET_IMAGE as string, repo.dir, git(repo.dir, 'rev-parse', 'HEAD'))
      expect(fileInImage(env.TARGET_IMAGE as string, '/app.txt')).toBe('from HEAD\n')
    })

    test.each([
      ['behind GIT_SHA', 'behind'],
      ['ahead of GIT_SHA', 'ahead']
    ])('a work tree %s is refused, naming its HEAD and GIT_SHA', async (_, where) => {
      const repo = makeRepo()
      const second = commit(repo.dir, 'app.txt', 'v2\n')
      let head = second
      let sha = repo.head
      if (where === 'behind') {
        git(repo.dir, 'checkout', '-q', '--detach', repo.head)
        head = repo.head
        sha = second
      }
      const env = buildEnv({ GIT_SHA: sha, BUILD_CONTEXT: repo.dir })
      const run = await runHook('--build-staging', env)
      expectNoBuild(run, env.TARGET_IMAGE as string)
      expect(run.stderr).toContain(
        `[deploy-hook] error: BUILD_CONTEXT ${repo.dir} is a git work tree at HEAD ${head.slice(0, 12)}, not GIT_SHA ${sha}`
      )
      expect(run.stderr).toContain('SYNC_CONTEXT=1 / sync-context: true')
    })

    test.each([
      [
        'a modified tracked file',
        (dir: string) => writeIn(dir, 'app.txt', 'edited\n'),
        1,
        'app.txt'
      ],
      [
        'a staged change',
        (dir: string) => {
          writeIn(dir, 'app.txt', 'staged\n')
          git(dir, 'add', 'app.txt')
        },
        1,
        'app.txt'
      ],
      ['a deleted tracked file', (dir: string) => rmSync(path.join(dir, 'app.txt')), 1, 'app.txt'],
      ['an untracked file', (dir: string) => writeIn(dir, 'extra.txt', 'x\n'), 1, 'extra.txt'],
      [
        'untracked files in a new directory (each one counted)',
        (dir: string) => {
          mkdirSync(path.join(dir, 'new'))
          writeIn(dir, 'new/a.txt', 'a\n')
          writeIn(dir, 'new/b.txt', 'b\n')
        },
        2,
        'new/a.txt'
      ]
    ])('clean at GIT_SHA except %s: refused', async (_, change, count, first) => {
      const repo = makeRepo({ '.gitignore': '*.log\n' })
      change(repo.dir)
      const env = buildEnv({ GIT_SHA: repo.head, BUILD_CONTEXT: repo.dir })
      const run = await runHook('--build-staging', env)
      expectNoBuild(run, env.TARGET_IMAGE as string)
      expect(run.stderr).toContain(
        `[deploy-hook] error: BUILD_CONTEXT ${repo.dir} at ${repo.head.slice(0, 12)} is not clean, refusing to build it: dirty: ${count} files (first: ${first})`
      )
    })

    test('an ignored untracked file is allowed (and, as documented, reaches the builder)', async () => {
      const repo = makeRepo({
        '.gitignore': '*.log\n',
        Dockerfile: 'FROM scratch\nCOPY app.txt /app.txt\nCOPY debug.log /debug.log\n'
      })
      writeIn(repo.dir, 'debug.log', 'ignored\n')
      expect(git(repo.dir, 'status', '--porcelain', '--untracked-files=all')).toBe('')
      const env = buildEnv({ GIT_SHA: repo.head, BUILD_CONTEXT: repo.dir })
      const run = await runHook('--build-staging', env)
      expect(run.code).toBe(0)
      expectBuiltFrom(env.TARGET_IMAGE as string, repo.dir, repo.head)
      expect(fileInImage(env.TARGET_IMAGE as string, '/debug.log')).toBe('ignored\n')
    })

    test('a subdirectory context: only its own path must be clean, HEAD is the repository’s', async () => {
      const repo = makeRepo()
      const context = path.join(repo.dir, 'app')
      mkdirSync(context)
      writeIn(context, 'Dockerfile', 'FROM scratch\nCOPY app.txt /app.txt\n')
      writeIn(context, 'app.txt', 'sub v1\n')
      git(repo.dir, 'add', 'app')
      git(repo.dir, 'commit', '-qm', 'app in a subdirectory')
      repo.head = git(repo.dir, 'rev-parse', 'HEAD')
      writeIn(repo.dir, 'app.txt', 'dirty outside the context\n')
      const outside = buildEnv({ GIT_SHA: repo.head, BUILD_CONTEXT: context })
      const allowed = await runHook('--build-staging', outside)
      expect(allowed.code).toBe(0)
      expect(label(outside.TARGET_IMAGE as string)).toBe(repo.head)
      expect(fileInImage(outside.TARGET_IMAGE as string, '/app.txt')).toBe('sub v1\n')

      writeIn(context, 'app.txt', 'dirty inside\n')
      const inside = buildEnv({ GIT_SHA: repo.head, BUILD_CONTEXT: context })
      const refused = await runHook('--build-staging', inside)
      expectNoBuild(refused, inside.TARGET_IMAGE as string)
      expect(refused.stderr).toContain('dirty: 1 files (first: app/app.txt)')
    })

    test.each([
      ['assume-unchanged', '--assume-unchanged'],
      ['skip-worktree', '--skip-worktree']
    ])('a tracked file marked %s (git status cannot see its edits) is refused', async (_, flag) => {
      const repo = makeRepo()
      git(repo.dir, 'update-index', flag, 'app.txt')
      writeIn(repo.dir, 'app.txt', 'hidden edit\n')
      expect(git(repo.dir, 'status', '--porcelain', '--untracked-files=all')).toBe('')
      const env = buildEnv({ GIT_SHA: repo.head, BUILD_CONTEXT: repo.dir })
      const run = await runHook('--build-staging', env)
      expectNoBuild(run, env.TARGET_IMAGE as string)
      expect(run.stderr).toContain(
        '1 tracked files are marked assume-unchanged or skip-worktree, so git status cannot vouch for them (first: app.txt)'
      )
    })

    test('an ignored directory inside a clone (no tracked file) is refused', async () => {
      const repo = makeRepo({ '.gitignore': 'out/\n' })
      const context = path.join(repo.dir, 'out')
      mkdirSync(context)
      writeIn(context, 'Dockerfile', 'FROM scratch\nCOPY app.txt /app.txt\n')
      writeIn(context, 'app.txt', 'not from git\n')
      const env = buildEnv({ GIT_SHA: repo.head, BUILD_CONTEXT: context })
      const run = await runHook('--build-staging', env)
      expectNoBuild(run, env.TARGET_IMAGE as string)
      expect(run.stderr).toContain(`BUILD_CONTEXT ${context} holds no file tracked at`)
    })

    test.each([
      ['behind, GIT_DIR at a clean repository at GIT_SHA', true],
      ['at GIT_SHA, GIT_DIR at a repository elsewhere', false]
    ])('GIT_* in the hook’s environment change nothing (%s)', async (_, behind) => {
      const repo = makeRepo()
      const second = commit(repo.dir, 'app.txt', 'v2\n')
      const elsewhere = makeRepo({ 'app.txt': 'elsewhere\n' })
      let sha = second
      if (behind) {
        git(repo.dir, 'checkout', '-q', '--detach', repo.head)
        sha = elsewhere.head
      }
      const env = buildEnv({
        GIT_SHA: sha,
        BUILD_CONTEXT: repo.dir,
        GIT_DIR: path.join(elsewhere.dir, '.git'),
        GIT_WORK_TREE: elsewhere.dir,
        GIT_INDEX_FILE: path.join(elsewhere.dir, '.git', 'index')
      })
      const run = await runHook('--build-staging', env)
      if (behind) {
        expectNoBuild(run, env.TARGET_IMAGE as string)
        expect(run.stderr).toContain(`is a git work tree at HEAD ${repo.head.slice(0, 12)}`)
      } else {
        expect(run.code).toBe(0)
        expectBuiltFrom(env.TARGET_IMAGE as string, repo.dir, second)
      }
    })

    test('a clone owned by another user is read (safe.directory), not misreported', async () => {
      expect(process.getuid?.()).toBe(0) // the integration suite runs as root
      const repo = makeRepo()
      execFileSync('chown', ['-R', '65534:65534', repo.dir])
      const plain = spawnSync('git', ['-C', repo.dir, 'rev-parse', 'HEAD'], { encoding: 'utf8' })
      expect(plain.stderr).toContain('dubious ownership')
      const env = buildEnv({ GIT_SHA: repo.head, BUILD_CONTEXT: repo.dir })
      const run = await runHook('--build-staging', env)
      expect(run.code).toBe(0)
      expect(label(env.TARGET_IMAGE as string)).toBe(repo.head)
      expect(fileInImage(env.TARGET_IMAGE as string, '/app.txt')).toBe('v1\n')
    })

    test('a context reached through a symlink is checked at its real path', async () => {
      const repo = makeRepo()
      const link = path.join(scratch, `link-${counter}`)
      symlinkSync(repo.dir, link)
      const env = buildEnv({ GIT_SHA: repo.head, BUILD_CONTEXT: link })
      const run = await runHook('--build-staging', env)
      expect(run.code).toBe(0)
      expect(run.stderr).toContain(`building ${env.TARGET_IMAGE} from ${link} at ${repo.head}`)
      expectBuiltFrom(env.TARGET_IMAGE as string, repo.dir, repo.head)
    })

    test('a work tree changed while the builder read it: the new image is not tagged', async () => {
      const repo = makeRepo()
      const dir = mkdtempSync(path.join(scratch, 'wrap-'))
      const wrapper = writeScript(
        dir,
        'docker',
        [
          'if [ "${1:-}" = build ]; then',
          `  '${realDocker}' "$@"`,
          `  printf 'late edit\\n' >> '${repo.dir}/app.txt'`,
          '  exit 0',
          'fi',
          `exec '${realDocker}' "$@"`
        ].join('\n')
      )
      const env = buildEnv({ GIT_SHA: repo.head, BUILD_CONTEXT: repo.dir, DOCKER: wrapper })
      const run = await runHook('--build-staging', env)
      expect(run.code).toBe(1)
      expect(run.stderr).toContain('[deploy-hook] building')
      expect(run.stderr).toContain('dirty: 1 files (first: app.txt)')
      expect(run.stderr).toContain(
        `BUILD_CONTEXT ${repo.dir} changed during the build: ${env.TARGET_IMAGE} was not tagged`
      )
      expect(imageExists(env.TARGET_IMAGE as string)).toBe(false)
    })
  })

  describe('a plain directory', () => {
    /** What `git archive` of a commit would leave: the files, no .git. */
    function plainContext(text: string): string {
      const dir = mkdtempSync(path.join(scratch, 'archive-'))
      writeIn(dir, 'Dockerfile', 'FROM scratch\nCOPY app.txt /app.txt\n')
      writeIn(dir, 'app.txt', text)
      return dir
    }

    test('without BUILD_CONTEXT_SOURCE it is refused, saying how to fix the setup', async () => {
      const context = plainContext('unknown origin\n')
      const env = buildEnv({ BUILD_CONTEXT: context })
      const run = await runHook('--build-staging', env)
      expectNoBuild(run, env.TARGET_IMAGE as string)
      expect(run.stderr).toContain(
        `[deploy-hook] error: BUILD_CONTEXT ${context} is not a git work tree, so nothing says which commit it holds: refusing to label it ${env.GIT_SHA}.`
      )
      expect(run.stderr).toContain('upload-context: true sets BUILD_CONTEXT_SOURCE=git-archive')
      expect(run.stderr).toContain('sync-context: true / SYNC_CONTEXT=1')
    })

    test('BUILD_CONTEXT_SOURCE=git-archive (the gate uploaded it): built, labelled GIT_SHA', async () => {
      const repo = makeRepo({ 'app.txt': 'archived\n' })
      const context = mkdtempSync(path.join(scratch, 'archive-'))
      execFileSync('bash', [
        '-c',
        'git -C "$1" archive HEAD | tar -x -C "$2"',
        '_',
        repo.dir,
        context
      ])
      const env = buildEnv({
        GIT_SHA: repo.head,
        BUILD_CONTEXT: context,
        BUILD_CONTEXT_SOURCE: 'git-archive'
      })
      const run = await runHook('--build-staging', env)
      expect(run.code).toBe(0)
      expect(label(env.TARGET_IMAGE as string)).toBe(repo.head)
      expect(fileInImage(env.TARGET_IMAGE as string, '/app.txt')).toBe('archived\n')
    })

    test.each([
      [
        'an unknown BUILD_CONTEXT_SOURCE',
        { BUILD_CONTEXT_SOURCE: 'rsync' },
        'BUILD_CONTEXT_SOURCE=rsync is not known (empty or git-archive)'
      ],
      [
        'SYNC_CONTEXT=1 (there is no clone to move)',
        { SYNC_CONTEXT: '1' },
        'SYNC_CONTEXT=1 needs BUILD_CONTEXT to be a git clone'
      ],
      [
        'SYNC_CONTEXT=1 with git-archive',
        { SYNC_CONTEXT: '1', BUILD_CONTEXT_SOURCE: 'git-archive' },
        'SYNC_CONTEXT=1 needs BUILD_CONTEXT to be a git clone'
      ],
      ['SYNC_CONTEXT=yes', { SYNC_CONTEXT: 'yes' }, 'SYNC_CONTEXT=yes is not 0 or 1']
    ])('%s is refused', async (_, extra, message) => {
      const env = buildEnv({ BUILD_CONTEXT: plainContext('x\n'), ...extra })
      const run = await runHook('--build-staging', env)
      expectNoBuild(run, env.TARGET_IMAGE as string)
      expect(run.stderr).toContain(message)
    })

    test('git-archive pointed inside a clone is refused (an archive is a plain directory)', async () => {
      const repo = makeRepo({ '.gitignore': 'upload/\n' })
      const context = path.join(repo.dir, 'upload')
      mkdirSync(context)
      writeIn(context, 'Dockerfile', 'FROM scratch\n')
      const env = buildEnv({
        GIT_SHA: repo.head,
        BUILD_CONTEXT: context,
        BUILD_CONTEXT_SOURCE: 'git-archive'
      })
      const run = await runHook('--build-staging', env)
      expectNoBuild(run, env.TARGET_IMAGE as string)
      expect(run.stderr).toContain(
        `BUILD_CONTEXT_SOURCE=git-archive but BUILD_CONTEXT ${context} is inside the git work tree ${repo.dir}`
      )
    })
  })

  describe('SYNC_CONTEXT=1 moves a host clone to GIT_SHA first', () => {
    test('a clone behind: fetched from origin, checked out, HEAD’s files built', async () => {
      const setup = cloneOfOrigin()
      const next = setup.advance('app.txt', 'v2 from origin\n')
      const env = buildEnv({ GIT_SHA: next, BUILD_CONTEXT: setup.clone, SYNC_CONTEXT: '1' })
      const run = await runHook('--build-staging', env)
      expect(run.code).toBe(0)
      expect(run.stderr).toContain(`SYNC_CONTEXT=1: moving ${setup.clone}`)
      expect(run.stderr).not.toContain('by id failed')
      expect(git(setup.clone, 'rev-parse', 'HEAD')).toBe(next)
      expectBuiltFrom(env.TARGET_IMAGE as string, setup.clone, next)
      expect(fileInImage(env.TARGET_IMAGE as string, '/app.txt')).toBe('v2 from origin\n')
    })

    test('without SYNC_CONTEXT the same clone is refused (it is behind)', async () => {
      const setup = cloneOfOrigin()
      const next = setup.advance('app.txt', 'v2\n')
      const env = buildEnv({ GIT_SHA: next, BUILD_CONTEXT: setup.clone })
      const run = await runHook('--build-staging', env)
      expectNoBuild(run, env.TARGET_IMAGE as string)
      expect(git(setup.clone, 'rev-parse', 'HEAD')).toBe(setup.first)
    })

    test('a server that refuses a fetch by id: falls back to fetching its branches', async () => {
      const setup = cloneOfOrigin()
      const middle = setup.advance('app.txt', 'middle\n')
      setup.advance('app.txt', 'tip\n')
      // Protocol v0 over file:// refuses a want that is not a ref tip.
      git(setup.clone, 'config', 'protocol.version', '0')
      const env = buildEnv({ GIT_SHA: middle, BUILD_CONTEXT: setup.clone, SYNC_CONTEXT: '1' })
      const run = await runHook('--build-staging', env)
      expect(run.code).toBe(0)
      expect(run.stderr).toContain(`fetching ${middle} by id failed`)
      expectBuiltFrom(env.TARGET_IMAGE as string, setup.clone, middle)
      expect(fileInImage(env.TARGET_IMAGE as string, '/app.txt')).toBe('middle\n')
    })

    test('GIT_SHA that origin does not have: a clear error and no build', async () => {
      const setup = cloneOfOrigin()
      const unpushed = setup.advance('app.txt', 'never pushed\n', false)
      const env = buildEnv({ GIT_SHA: unpushed, BUILD_CONTEXT: setup.clone, SYNC_CONTEXT: '1' })
      const run = await runHook('--build-staging', env)
      expectNoBuild(run, env.TARGET_IMAGE as string)
      expect(run.stderr).toContain(
        `[deploy-hook] error: SYNC_CONTEXT=1: origin (file://${setup.origin}) has no commit ${unpushed}`
      )
      expect(git(setup.clone, 'rev-parse', 'HEAD')).toBe(setup.first)
    })

    test('a clone without an origin remote: a clear error and no build', async () => {
      const repo = makeRepo()
      const env = buildEnv({ GIT_SHA: repo.head, BUILD_CONTEXT: repo.dir, SYNC_CONTEXT: '1' })
      const run = await runHook('--build-staging', env)
      expectNoBuild(run, env.TARGET_IMAGE as string)
      expect(run.stderr).toContain(`the clone ${repo.dir} has no remote named origin`)
    })

    test('a dirty clone: tracked edits discarded, untracked removed, ignored kept, then built', async () => {
      const setup = cloneOfOrigin({ '.gitignore': '*.log\n' })
      const next = setup.advance('app.txt', 'v2\n')
      writeIn(setup.clone, 'app.txt', 'local edit\n')
      writeIn(setup.clone, 'stray.txt', 'untracked\n')
      writeIn(setup.clone, 'cache.log', 'ignored\n')
      const env = buildEnv({ GIT_SHA: next, BUILD_CONTEXT: setup.clone, SYNC_CONTEXT: '1' })
      const run = await runHook('--build-staging', env)
      expect(run.code).toBe(0)
      expect(readFileSync(path.join(setup.clone, 'app.txt'), 'utf8')).toBe('v2\n')
      expect(existsSync(path.join(setup.clone, 'stray.txt'))).toBe(false)
      expect(readFileSync(path.join(setup.clone, 'cache.log'), 'utf8')).toBe('ignored\n')
      expect(git(setup.clone, 'status', '--porcelain', '--untracked-files=all')).toBe('')
      expectBuiltFrom(env.TARGET_IMAGE as string, setup.clone, next)
    })
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

  /** The label exactly as stored (JSON keeps a trailing newline that a trimmed read would drop). */
  function rawLabel(image: string): unknown {
    const labels = docker(
      dockerHost,
      'image',
      'inspect',
      '--format',
      '{{json .Config.Labels}}',
      image
    )
    return (JSON.parse(labels) as Record<string, string> | null)?.[LABEL]
  }

  test.each([
    ['a leading space', ` ${SHA1}`],
    ['a trailing newline', `${SHA1}\n`],
    ['a trailing word', `${SHA1} x`],
    ['a trailing tab', `${SHA1}\t`],
    ['upper case', SHA1.toUpperCase()],
    ['a quote after it', `${SHA1}"`]
  ])(
    'a label that only nearly equals EXPECTED_REVISION (%s) exits 1 before tagging, shown whole',
    async (_, value) => {
      const source = ref('staging')
      const prod = ref('prod')
      buildImage(dockerHost, source, { [LABEL]: value })
      expect(rawLabel(source)).toBe(value)
      const run = await runHook('--promote', {
        SOURCE_IMAGE: source,
        PROD_IMAGE: prod,
        EXPECTED_REVISION: SHA1
      })
      expect(run.code).toBe(1)
      expect(run.stderr).toContain(
        `provenance mismatch: image label ${JSON.stringify(value)} != expected "${SHA1}"`
      )
      expect(run.stderr).not.toContain('provenance match')
      expect(imageExists(prod)).toBe(false)
    }
  )

  test('two revisions with the same 12-character prefix are told apart and shown whole', async () => {
    const source = ref('staging')
    const prod = ref('prod')
    const expected = `${'a'.repeat(39)}b`
    buildImage(dockerHost, source, { [LABEL]: SHA1 })
    const run = await runHook('--promote', {
      SOURCE_IMAGE: source,
      PROD_IMAGE: prod,
      EXPECTED_REVISION: expected
    })
    expect(run.code).toBe(1)
    expect(run.stderr).toContain(
      `provenance mismatch: image label "${SHA1}" != expected "${expected}"`
    )
    expect(imageExists(prod)).toBe(false)
  })

  test('an empty label value is no label: fail-closed', async () => {
    const source = ref('staging')
    const prod = ref('prod')
    buildImage(dockerHost, source, { [LABEL]: '' })
    expect(rawLabel(source)).toBe('')
    const run = await runHook('--promote', {
      SOURCE_IMAGE: source,
      PROD_IMAGE: prod,
      EXPECTED_REVISION: SHA1
    })
    expect(run.code).toBe(1)
    expect(run.stderr).toContain(`provenance fail-closed: ${source} has no ${LABEL} label`)
    expect(imageExists(prod)).toBe(false)
  })

  test('a sha256 revision (64 hex) equal to the label promotes', async () => {
    const source = ref('staging')
    const prod = ref('prod')
    const sha256 = 'c'.repeat(64)
    const id = buildImage(dockerHost, source, { [LABEL]: sha256 })
    const run = await runHook('--promote', {
      SOURCE_IMAGE: source,
      PROD_IMAGE: prod,
      EXPECTED_REVISION: sha256
    })
    expect(run.code).toBe(0)
    expect(imageId(prod)).toBe(id)
  })

  test.each([
    ['short', SHA1.slice(0, 12)],
    ['padded', ` ${SHA1}`],
    ['with a JSON escape', `${SHA1.slice(0, 39)}\\`],
    ['upper case', SHA1.toUpperCase()]
  ])('an EXPECTED_REVISION that is not a full revision (%s) is refused', async (_, expected) => {
    const source = ref('staging')
    const prod = ref('prod')
    buildImage(dockerHost, source, { [LABEL]: expected })
    const run = await runHook('--promote', {
      SOURCE_IMAGE: source,
      PROD_IMAGE: prod,
      EXPECTED_REVISION: expected
    })
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('EXPECTED_REVISION is not a full revision')
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

/** Why podman cannot be exercised on this machine, or '' when it can. */
function whyNoPodman(): string {
  const version = spawnSync('podman', ['--version'], { encoding: 'utf8' })
  if (version.error) return `podman is not installed (${version.error.message})`
  return version.status === 0 ? '' : `podman --version failed: ${version.stderr.trim()}`
}

const NO_PODMAN = whyNoPodman()

describe('deploy-hook.sh with DOCKER=podman (rootful, a private store)', () => {
  let podman = ''

  /** Runs the wrapper (podman on the private store) and returns its trimmed stdout. */
  function pod(...args: string[]): string {
    return execFileSync(podman, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe']
    }).trim()
  }

  function podImageExists(image: string): boolean {
    return spawnSync(podman, ['image', 'exists', image], { stdio: 'ignore' }).status === 0
  }

  beforeAll(() => {
    if (NO_PODMAN) return
    // Everything podman keeps (images, containers, its tmp files) stays under this directory;
    // no events are written (the default journal/file backends live outside it).
    const dir = mkdtempSync(path.join(scratch, 'podman-'))
    podman = writeScript(
      dir,
      'podman',
      [
        `exec podman --root '${dir}/root' --runroot '${dir}/run' --tmpdir '${dir}/tmp'`,
        '  --storage-driver vfs --events-backend none --cgroup-manager cgroupfs "$@"'
      ].join(' \\\n')
    )
  })

  afterAll(() => {
    // Containers hold mounts under the store; remove every one so the scratch directory can go.
    if (podman) spawnSync(podman, ['rm', '--all', '--force'], { stdio: 'ignore' })
  })

  ;(NO_PODMAN ? test.skip : test)(
    `a clean clone is built with its HEAD label and promoted by id only on an exact match${NO_PODMAN ? ` (SKIPPED: ${NO_PODMAN})` : ''}`,
    async () => {
      const repo = makeRepo({ 'app.txt': 'built by podman\n' })
      const staging = `localhost/shop/staging:p${process.pid}`
      const prod = `localhost/shop/prod:p${process.pid}`
      const build = await runHook('--build-staging', {
        GIT_SHA: repo.head,
        BUILD_CONTEXT: repo.dir,
        TARGET_IMAGE: staging,
        TARGET_SERVICE: 'web',
        SKIP_COMPOSE: '1',
        DOCKER: podman
      })
      expect(build.code).toBe(0)
      expect(build.stderr).toContain(`staging web: ${staging} built from ${repo.head}`)
      const labels = JSON.parse(
        pod('image', 'inspect', '--format', '{{json .Config.Labels}}', staging)
      ) as Record<string, string>
      expect(labels[LABEL]).toBe(repo.head)
      const id = pod('image', 'inspect', '--format', '{{.ID}}', staging)
      expect(id).toMatch(/^[0-9a-f]{64}$/)
      // Not on the test dockerd: the wrapper's store is the only place it exists.
      expect(imageExists(staging)).toBe(false)

      const name = `read-${process.pid}`
      const out = path.join(scratch, 'podman-app.txt')
      pod('create', '--name', name, staging, '/none')
      try {
        pod('cp', `${name}:/app.txt`, out)
      } finally {
        pod('rm', name)
      }
      expect(readFileSync(out, 'utf8')).toBe('built by podman\n')

      const mismatch = await runHook('--promote', {
        SOURCE_IMAGE: staging,
        PROD_IMAGE: prod,
        EXPECTED_REVISION: 'b'.repeat(40),
        DOCKER: podman
      })
      expect(mismatch.code).toBe(1)
      expect(mismatch.stderr).toContain(
        `provenance mismatch: image ${repo.head.slice(0, 12)} != expected bbbbbbbbbbbb`
      )
      expect(podImageExists(prod)).toBe(false)

      const promoted = await runHook('--promote', {
        SOURCE_IMAGE: staging,
        PROD_IMAGE: prod,
        EXPECTED_REVISION: repo.head,
        DOCKER: podman
      })
      expect(promoted.code).toBe(0)
      expect(promoted.stderr).toContain(`provenance match: ${repo.head.slice(0, 12)}`)
      expect(promoted.stderr).toContain(`promoted ${id} to ${prod}`)
      expect(pod('image', 'inspect', '--format', '{{.ID}}', prod)).toBe(id)
    }
  )

  ;(NO_PODMAN ? test.skip : test)(
    `an image without the revision label fails closed under podman too${NO_PODMAN ? ` (SKIPPED: ${NO_PODMAN})` : ''}`,
    async () => {
      const context = mkdtempSync(path.join(scratch, 'podman-ctx-'))
      writeIn(context, 'Dockerfile', 'FROM scratch\nCOPY x /x\n')
      writeIn(context, 'x', 'x\n')
      const source = `localhost/shop/unlabelled:p${process.pid}`
      const prod = `localhost/shop/unlabelled-prod:p${process.pid}`
      pod('build', '-q', '-t', source, context)
      // podman labels every build with io.buildah.version; the revision label is what is missing.
      const labels = JSON.parse(
        pod('image', 'inspect', '--format', '{{json .Config.Labels}}', source)
      ) as Record<string, string>
      expect(Object.keys(labels)).toEqual(['io.buildah.version'])
      const run = await runHook('--promote', {
        SOURCE_IMAGE: source,
        PROD_IMAGE: prod,
        EXPECTED_REVISION: SHA1,
        DOCKER: podman
      })
      expect(run.code).toBe(1)
      expect(run.stderr).toContain(`provenance fail-closed: ${source} has no ${LABEL} label`)
      expect(podImageExists(prod)).toBe(false)
    }
  )
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
