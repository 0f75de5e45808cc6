/**
 * The remote session (protocol v2: a fixed `sh -s`, the script on stdin, results on their own
 * descriptor, a run record for cancellation) through the bundle, against the real sshd and
 * dockerd on loopback, with real accounts: bash, dash and zsh login shells whose startup files
 * print a banner, the README's forced command, a hook that leaves a process behind, a cancelled
 * job (SIGTERM, and SIGKILL followed by the post step, over ssh and locally), a chatty container
 * CLI, podman, and a job environment that points GIT_DIR at another repository.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  buildImage,
  commit,
  docker,
  makeRepo,
  runAction,
  scratchDir,
  writeScript,
  type ActionRun
} from '../support/action.js'
import { expectCleanRun, outcome, shown, sshInputs } from '../support/expect-run.js'
import { git } from '../support/git-context.js'
import {
  addLoginUser,
  allowTraverse,
  BANNER_STDERR,
  installGateShell,
  shareWithUser,
  uniqueUserName,
  type LoginShell,
  type LoginUser,
  type LoginUserOptions
} from '../support/login-users.js'
import { podmanHost, type PodmanHost } from '../support/podman-host.js'
import { startSshd, stopPid, type StagingHost } from '../support/services.js'
import { useStagingHost } from '../support/staging-host.js'

const REFERENCE_HOOK = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../hook/deploy-hook.sh'
)
const LABEL = 'org.opencontainers.image.revision'
const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service'
/** A revision no checkout has: what the old staging containers were built from. */
const OLD = 'e'.repeat(40)
const IS_ROOT = process.getuid?.() === 0

const stagingHost = useStagingHost()
let host: StagingHost
/**
 * A second sshd on the same machine for the login users: the reference hook serialises deploys on
 * LOCK_FILE, and the default (/tmp/provenance-gate-deploy.lock) belongs to whoever made it first,
 * so every user here shares one lock file that all of them may open.
 */
let usersHost: StagingHost
/** Runnable images (busybox sleep): an old build (label OLD). */
let oldRunnable: string
let counter = 0
const users: LoginUser[] = []
const containers: string[] = []

function imageRef(kind = 'staging'): string {
  counter += 1
  return `localhost:5000/shop/${kind}:s${process.pid}-${counter}`
}

/** An image that runs `busybox sleep 3600`, labelled with `revision`. */
function runnableImage(revision: string): string {
  const context = scratchDir('busybox-')
  copyFileSync('/bin/busybox', path.join(context, 'busybox'))
  chmodSync(path.join(context, 'busybox'), 0o755)
  writeFileSync(
    path.join(context, 'Dockerfile'),
    'FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox", "sleep", "3600"]\n'
  )
  const tag = imageRef('runnable')
  execFileSync(
    'docker',
    ['-H', host.dockerHost, 'build', '-q', '--label', `${LABEL}=${revision}`, '-t', tag, context],
    { env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] }
  )
  return docker(host.dockerHost, 'image', 'inspect', '--format', '{{.Id}}', tag)
}

/** A running container of image `id`, optionally labelled as compose's container of `service`. */
function runContainer(name: string, id: string, service?: string): void {
  containers.push(name)
  const label = service ? ['--label', `${COMPOSE_SERVICE_LABEL}=${service}`] : []
  docker(host.dockerHost, 'run', '-d', '--network', 'none', ...label, '--name', name, id)
  expect(
    docker(host.dockerHost, 'container', 'inspect', '--format', '{{.State.Running}}', name)
  ).toBe('true')
}

function imageId(reference: string): string {
  return docker(host.dockerHost, 'image', 'inspect', '--format', '{{.Id}}', reference)
}

function labelOf(reference: string): string {
  return docker(
    host.dockerHost,
    'image',
    'inspect',
    '--format',
    `{{index .Config.Labels "${LABEL}"}}`,
    reference
  )
}

/** A host clone of the checkout at its HEAD (what `build-context: /srv/shop` points at). */
function hostClone(checkout: string, user?: LoginUser): string {
  const dir = scratchDir('clone-')
  git(dir, 'clone', '-q', checkout, 'shop')
  if (user) shareWithUser(dir, user)
  return path.join(dir, 'shop')
}

/** The ssh inputs for `user` on the login users' sshd. */
function userInputs(user: LoginUser): Record<string, string> {
  return { ...sshInputs(usersHost), user: user.name }
}

function loginUser(shell: LoginShell, options: LoginUserOptions = {}): LoginUser {
  const user = addLoginUser(usersHost, uniqueUserName(shell), shell, options)
  users.push(user)
  return user
}

/** PIDs whose process group is `pgid` (from /proc/PID/stat, field 5). */
function groupMembers(pgid: number): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      // fields[0] is the state (a zombie has ended), fields[2] the process group.
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) found.push(Number(entry))
    } catch {
      // ended meanwhile
    }
  }
  return found
}

/** Waits up to `ms` for the group to be empty; returns what is left of it. */
async function groupGone(pgid: number, ms: number): Promise<number[]> {
  const deadline = Date.now() + ms
  for (;;) {
    const left = groupMembers(pgid)
    if (!left.length || Date.now() > deadline) return left
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/**
 * A hook that writes its process group to `pgid`, then a `started` marker, then runs `body`.
 * `ps` is procps here; the group is the one `timeout` made for the hook.
 */
function markingHook(body: string): { hook: string; pgidFile: string; started: string } {
  const dir = scratchDir('hook-')
  chmodSync(dir, 0o755)
  const pgidFile = path.join(dir, 'pgid')
  const started = path.join(dir, 'started')
  const hook = writeScript(
    dir,
    'hook.sh',
    [
      `ps -o pgid= -p $$ | tr -d ' ' > ${JSON.stringify(pgidFile)}.tmp`,
      `mv ${JSON.stringify(`${pgidFile}.tmp`)} ${JSON.stringify(pgidFile)}`,
      `touch ${JSON.stringify(started)}`,
      body
    ].join('\n')
  )
  return { hook, pgidFile, started }
}

function readPgid(file: string): number {
  const pgid = Number(readFileSync(file, 'utf8').trim())
  expect(pgid).toBeGreaterThan(1)
  return pgid
}

/** The hook's build, as a naive custom hook does it (the context is checked by the gate). */
const BUILD = `DOCKER_BUILDKIT=0 docker build -q --label "${LABEL}=$GIT_SHA" -t "$TARGET_IMAGE" "$BUILD_CONTEXT" >&2`

beforeAll(async () => {
  host = stagingHost()
  const dir = mkdtempSync(path.join(tmpdir(), 'provenance-gate-users-sshd-'))
  const locks = path.join(dir, 'locks')
  mkdirSync(locks)
  chmodSync(locks, 0o755)
  const lockFile = path.join(locks, 'deploy.lock')
  writeFileSync(lockFile, '')
  chmodSync(lockFile, 0o666)
  allowTraverse(lockFile)
  const sshd = await startSshd(path.join(dir, 'ssh'), {
    DOCKER_HOST: host.dockerHost,
    DOCKER_BUILDKIT: '0',
    SKIP_COMPOSE: '1',
    LOCK_FILE: lockFile
  })
  usersHost = { ...host, ...sshd, dir }
  oldRunnable = runnableImage(OLD)
}, 60_000)

afterEach(() => {
  for (const name of containers.splice(0)) {
    try {
      docker(host.dockerHost, 'rm', '-f', name)
    } catch {
      // already gone
    }
  }
})

afterAll(async () => {
  for (const user of users) await user.remove()
  if (usersHost) {
    await stopPid(usersHost.sshdPid)
    rmSync(usersHost.dir, { recursive: true, force: true })
  }
}, 60_000)

// ---------------------------------------------------------------------------------------------

describe.each<LoginShell>(['bash', 'dash', 'zsh'])(
  'a %s login shell with a banner (no newline) and a stderr line',
  shell => {
    let user: LoginUser
    beforeAll(() => {
      user = loginUser(shell, { banner: true })
    })

    test('rebuild (reference hook, host clone at HEAD), then verify, then promote by image id', async () => {
      const repo = makeRepo({ 'app.txt': `built for ${shell}\n` })
      const clone = hostClone(repo.dir, user)
      const image = imageRef()
      const rebuild = await runAction({
        ...userInputs(user),
        path: repo.dir,
        image,
        hook: REFERENCE_HOOK,
        'build-context': clone
      })
      expect(outcome(rebuild)).toEqual({
        exitCode: 0,
        verdict: 'match',
        failure: '',
        reason: `provenance match: ${repo.head.slice(0, 12)}`
      })
      const id = imageId(image)
      expect(rebuild.outputs.image_id).toBe(id)
      expect(labelOf(image)).toBe(repo.head)
      expect(rebuild.stdout).toContain(`clean work tree at ${repo.head.slice(0, 12)}`)
      expect(rebuild.stdout).toContain(`[deploy-hook] building ${image}`)
      // The rc file's stderr line is shown; its stdout banner is chatter before the begin line.
      expect(rebuild.stdout).toContain(BANNER_STDERR)
      await expectCleanRun(rebuild, usersHost, { complete: true })

      const verify = await runAction({
        ...userInputs(user),
        mode: 'verify',
        path: repo.dir,
        image
      })
      expect(outcome(verify)).toEqual({
        exitCode: 0,
        verdict: 'match',
        failure: '',
        reason: `provenance match: ${repo.head.slice(0, 12)}`
      })
      expect(verify.outputs.image_id).toBe(id)
      await expectCleanRun(verify, usersHost, { complete: true })

      const prod = imageRef('prod')
      const promote = await runAction({
        ...userInputs(user),
        mode: 'promote',
        path: repo.dir,
        image,
        'prod-image': prod,
        'image-id': rebuild.outputs.image_id ?? ''
      })
      expect(outcome(promote)).toEqual({
        exitCode: 0,
        verdict: 'match',
        failure: '',
        reason: `provenance match: ${repo.head.slice(0, 12)}, promoted to ${prod} as ${id.slice(0, 19)}`
      })
      expect(promote.outputs.prod_image_id).toBe(id)
      expect(imageId(prod)).toBe(id)
      await expectCleanRun(promote, usersHost, { complete: true })
    })

    test('rebuild with upload-context: true', async () => {
      const repo = makeRepo({ 'app.txt': `uploaded for ${shell}\n` })
      const image = imageRef()
      const run = await runAction({
        ...userInputs(user),
        path: repo.dir,
        image,
        hook: REFERENCE_HOOK,
        'upload-context': 'true'
      })
      expect(outcome(run)).toEqual({
        exitCode: 0,
        verdict: 'match',
        failure: '',
        reason: `provenance match: ${repo.head.slice(0, 12)}`
      })
      expect(labelOf(image)).toBe(repo.head)
      expect(run.stdout).toMatch(/build context uploaded: git archive of [0-9a-f]{12}/)
      // No upload directory of this user is left in the temp dir.
      const own = readdirSync('/tmp').filter(
        name => name.startsWith('provenance-gate-ctx.') && statSync(`/tmp/${name}`).uid === user.uid
      )
      expect(own).toEqual([])
      await expectCleanRun(run, usersHost, { complete: true })
    })

    test('two running compose containers of the service on an old image: stale-container', async () => {
      const repo = makeRepo({ 'app.txt': `fresh for ${shell}\n` })
      const clone = hostClone(repo.dir, user)
      counter += 1
      const service = `svc${process.pid}x${counter}`
      runContainer(`proj_${service}_1`, oldRunnable, service)
      runContainer(`proj_${service}_2`, oldRunnable, service)
      const image = imageRef()
      const run = await runAction({
        ...userInputs(user),
        path: repo.dir,
        image,
        hook: REFERENCE_HOOK,
        'build-context': clone,
        service,
        'check-container': 'auto'
      })
      const fresh = imageId(image)
      expect(labelOf(image)).toBe(repo.head)
      expect(outcome(run)).toMatchObject({
        exitCode: 1,
        verdict: 'fail-closed',
        failure: 'stale-container'
      })
      expect(run.outputs.reason).toMatch(
        new RegExp(
          `the staging container proj_${service}_[12] runs image ${oldRunnable.slice(0, 19)}, not the verified ${fresh.slice(0, 19)}`
        )
      )
      await expectCleanRun(run, usersHost, { complete: true })
    })
  }
)

describe("the README's forced command", () => {
  test('restrict,command="<gate-shell>": the rebuild passes, and the gate only ever asked for sh -s', async () => {
    const user = loginUser('bash', { banner: true, forcedCommand: installGateShell(usersHost) })
    const repo = makeRepo()
    const clone = hostClone(repo.dir, user)
    const image = imageRef()
    const run = await runAction({
      ...userInputs(user),
      path: repo.dir,
      image,
      hook: REFERENCE_HOOK,
      'build-context': clone
    })
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${repo.head.slice(0, 12)}`
    })
    expect(labelOf(image)).toBe(repo.head)
    const requests = readFileSync(user.gateShellLog, 'utf8').split('\n').filter(Boolean)
    expect(requests.length).toBeGreaterThan(0)
    expect(new Set(requests)).toEqual(new Set(['sh -s']))
    await expectCleanRun(run, usersHost, { complete: true })
  })

  test.each([
    ['exits 1', 'exit 1'],
    ['exits 0', 'exit 0']
  ])(
    'a forced command that refuses (and %s): the session did not start, never a pass',
    async (_name, exit) => {
      const dir = path.join(usersHost.dir, 'bin')
      mkdirSync(dir, { recursive: true })
      chmodSync(dir, 0o755)
      const refuse = path.join(dir, `refuse-${++counter}`)
      writeFileSync(
        refuse,
        `#!/bin/sh\necho "deploy: this key may not run commands here" >&2\n${exit}\n`
      )
      chmodSync(refuse, 0o755)
      allowTraverse(refuse)
      const user = loginUser('bash', { forcedCommand: refuse })
      const repo = makeRepo()
      const hookRan = path.join(scratchDir('refused-'), 'ran')
      const { hook } = markingHook(`touch ${JSON.stringify(hookRan)}`)
      for (const mode of ['rebuild', 'verify']) {
        const run = await runAction({
          ...userInputs(user),
          mode,
          path: repo.dir,
          image: imageRef(),
          hook,
          'check-context': 'false'
        })
        expect(outcome(run)).toMatchObject({ exitCode: 1, verdict: 'fail-closed' })
        expect(run.outputs.failure).toBe(mode === 'rebuild' ? 'hook-failed' : 'inspect-failed')
        expect(run.outputs.reason).toContain('did not start')
        expect(run.outputs.reason).toContain('deploy: this key may not run commands here')
        await expectCleanRun(run, usersHost, { complete: true })
      }
      expect(existsSync(hookRan)).toBe(false)
    }
  )
})

describe('a hook that leaves a process behind', () => {
  test('`sleep 300 &` holding the output: the run ends with the hook, passes, names and stops it', async () => {
    const repo = makeRepo()
    const clone = hostClone(repo.dir)
    const { hook, pgidFile } = markingHook(`${BUILD}\nsleep 300 &\necho "hook done"`)
    const image = imageRef()
    const started = Date.now()
    const run = await runAction({
      ...sshInputs(host),
      path: repo.dir,
      image,
      hook,
      'build-context': clone,
      'rebuild-timeout': '600'
    })
    const seconds = (Date.now() - started) / 1000
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${repo.head.slice(0, 12)}`
    })
    expect(seconds).toBeLessThan(15)
    expect(run.stdout).toMatch(
      /^::warning::the hook left 1 process running on root@127\.0\.0\.1:\d+, stopped now: \d+ sleep 300$/m
    )
    expect(await groupGone(readPgid(pgidFile), 0)).toEqual([])
    await expectCleanRun(run, host, { complete: true })
  })
})

describe('a cancelled job stops the hook on the host', () => {
  /** A hook that would run for two minutes, with a child of its own in the same group. */
  const longHook = (): ReturnType<typeof markingHook> =>
    markingHook('sleep 120 &\necho "hook building"\nsleep 120')

  const where: [string, () => Record<string, string>, Record<string, string>][] = [
    ['over ssh', () => sshInputs(host), {}],
    ['locally (no host)', () => ({}), {}]
  ]

  test.each(where)('SIGTERM of the main step mid-hook (%s)', async (_name, inputs) => {
    const repo = makeRepo()
    const { hook, pgidFile, started } = longHook()
    const begun = Date.now()
    const run = await runAction(
      {
        ...inputs(),
        path: repo.dir,
        image: imageRef(),
        hook,
        'check-context': 'false',
        'rebuild-timeout': '600'
      },
      { DOCKER_HOST: host.dockerHost },
      { killMainWhen: () => existsSync(pgidFile) && existsSync(started), killSignal: 'SIGTERM' }
    )
    const seconds = (Date.now() - begun) / 1000
    const pgid = readPgid(pgidFile)
    expect(await groupGone(pgid, 15_000)).toEqual([])
    expect(outcome(run)).toMatchObject({ exitCode: 1, verdict: 'fail-closed' })
    expect(run.outputs.reason).toMatch(/the job was cancelled \(SIGTERM/)
    expect(run.stdout).toContain(`stopped the hook's process group ${pgid}`)
    expect(seconds).toBeLessThan(30)
    await expectCleanRun(run, host, { complete: true })
  })

  test.each(where)(
    'SIGKILL of the main step mid-hook, then the post step (%s)',
    async (_name, inputs) => {
      const repo = makeRepo()
      const { hook, pgidFile, started } = longHook()
      const run = await runAction(
        {
          ...inputs(),
          path: repo.dir,
          image: imageRef(),
          hook,
          'check-context': 'false',
          'rebuild-timeout': '600'
        },
        { DOCKER_HOST: host.dockerHost },
        { killMainWhen: () => existsSync(pgidFile) && existsSync(started) }
      )
      expect(run.exitCode).toBeNull()
      const pgid = readPgid(pgidFile)
      expect(await groupGone(pgid, 15_000)).toEqual([])
      expect(run.stdout).toMatch(
        new RegExp(`post step: stopped the hook's process group ${pgid}\\b`)
      )
      await expectCleanRun(run, host)
    }
  )
})

describe('a container CLI that warns on every call', () => {
  test('a docker wrapper printing a warning on stderr: still match, and the warning is shown', async () => {
    const repo = makeRepo()
    const id = runnableImage(repo.head)
    const image = imageRef()
    docker(host.dockerHost, 'tag', id, image)
    counter += 1
    const name = `pg-warn-${process.pid}-${counter}`
    runContainer(name, id)
    const wrapper = writeScript(
      scratchDir('wrapper-'),
      'docker-warn',
      'echo "WARNING: config file malformed" >&2\nexec docker "$@"'
    )
    const run = await runAction({
      ...sshInputs(host),
      mode: 'verify',
      path: repo.dir,
      image,
      docker: wrapper,
      'staging-container': name,
      'check-container': 'true'
    })
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${repo.head.slice(0, 12)}`
    })
    expect(run.outputs.image_id).toBe(id)
    expect(shown(run)).toContain('WARNING: config file malformed')
    await expectCleanRun(run, host, { complete: true })
  })
})

const podmanTest = IS_ROOT ? describe : describe.skip

podmanTest('podman behind a docker wrapper (root)', () => {
  let podman: PodmanHost
  let podmanSshd: StagingHost
  let dir: string

  beforeAll(async () => {
    // Short: podman refuses a runroot path over 50 characters.
    dir = mkdtempSync(path.join(tmpdir(), 'pg-pd-'))
    podman = podmanHost(path.join(dir, 'p'))
    // The reference hook reads DOCKER; sshd gives it to every session on this host.
    const sshd = await startSshd(path.join(dir, 'ssh'), {
      DOCKER: podman.docker,
      SKIP_COMPOSE: '1',
      LOCK_FILE: path.join(dir, 'deploy.lock')
    })
    podmanSshd = { ...host, ...sshd, dir }
  }, 60_000)

  afterAll(async () => {
    if (podmanSshd) await stopPid(podmanSshd.sshdPid)
    if (podman) await podman.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  }, 60_000)

  test('rebuild with the reference hook, then verify: match; a stale image: mismatch', async () => {
    const repo = makeRepo({ 'app.txt': 'built by podman\n' })
    const clone = hostClone(repo.dir)
    const image = imageRef('podman')
    const inputs = { ...sshInputs(podmanSshd), path: repo.dir, image, docker: podman.docker }
    const rebuild = await runAction({
      ...inputs,
      hook: REFERENCE_HOOK,
      'build-context': clone
    })
    expect(outcome(rebuild)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${repo.head.slice(0, 12)}`
    })
    const id = execFileSync(podman.docker, ['image', 'inspect', '--format', '{{.ID}}', image], {
      encoding: 'utf8'
    }).trim()
    expect(rebuild.outputs.image_id).toBe(`sha256:${id}`)
    await expectCleanRun(rebuild, podmanSshd, { complete: true })

    const verify = await runAction({ ...inputs, mode: 'verify' })
    expect(outcome(verify)).toMatchObject({ exitCode: 0, verdict: 'match' })
    expect(verify.outputs.image_id).toBe(`sha256:${id}`)
    await expectCleanRun(verify, podmanSshd, { complete: true })

    // The checkout moves on; the image on the host is the old build.
    const head = commit(repo.dir, 'app.txt', 'moved on\n')
    const stale = await runAction({ ...inputs, mode: 'verify' })
    expect(outcome(stale)).toEqual({
      exitCode: 1,
      verdict: 'mismatch',
      failure: 'mismatch',
      reason: `provenance mismatch: image ${repo.head.slice(0, 12)} != expected ${head.slice(0, 12)}`
    })
    await expectCleanRun(stale, podmanSshd, { complete: true })
  })
})

describe("GIT_DIR in the job's environment", () => {
  test.each([
    ['a plain folder inside a repository', true],
    ['a plain folder in no repository', false]
  ])('path is %s: git-failed, never the other repository’s HEAD', async (_name, inside) => {
    const other = makeRepo({ 'app.txt': 'the other repository\n' })
    const repo = makeRepo()
    const folder = inside ? path.join(repo.dir, 'sub') : scratchDir('plain-')
    mkdirSync(folder, { recursive: true })
    writeFileSync(path.join(folder, 'file.txt'), 'x\n')
    const image = imageRef()
    buildImage(host.dockerHost, image, { [LABEL]: other.head })
    const run: ActionRun = await runAction(
      { ...sshInputs(host), mode: 'verify', path: folder, image },
      { GIT_DIR: path.join(other.dir, '.git'), GIT_WORK_TREE: other.dir }
    )
    expect(outcome(run)).toMatchObject({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'git-failed'
    })
    expect(run.outputs.expected_revision).toBe('')
    const visible = [shown(run), run.summary, JSON.stringify(run.outputs)].join('\n')
    expect(visible).not.toContain(other.head.slice(0, 12))
    if (inside) expect(run.outputs.reason).toContain('is not the top of a git checkout')
    await expectCleanRun(run, host, { complete: true })
  })
})
