/**
 * Issue 9: a pass means the image holds HEAD's tree. Real sshd, dockerd and git on loopback, the
 * bundle run as the runner runs it; after every pass a file is read back out of the image and
 * compared with HEAD's.
 */
import { beforeAll, describe, expect, test } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import * as path from 'node:path'
import {
  commit,
  docker,
  makeRepo,
  peakMemoryKb,
  processesMentioning,
  runAction,
  scratchDir,
  writeScript
} from '../support/action.js'
import { expectCleanRun, outcome, sshInputs } from '../support/expect-run.js'
import { cloneOfOrigin } from '../support/git-context.js'
import { startSshd, stopPid, type StagingHost } from '../support/services.js'
import { useStagingHost } from '../support/staging-host.js'

const LABEL = 'org.opencontainers.image.revision'
const stagingHost = useStagingHost()
let host: StagingHost
let counter = 0

beforeAll(() => {
  host = stagingHost()
})

function imageRef(): string {
  counter += 1
  return `localhost:5000/shop/ctx:t${process.pid}-${counter}`
}

/** Runs git in a directory with a fixed identity. */
function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'T',
      GIT_AUTHOR_EMAIL: 't@example.invalid',
      GIT_COMMITTER_NAME: 'T',
      GIT_COMMITTER_EMAIL: 't@example.invalid'
    }
  }).trim()
}

/**
 * The naive custom hook the issue describes: builds $BUILD_CONTEXT as it is and stamps the
 * revision it was asked for. It records the context it saw and appends BUILT to a log when it
 * builds, so a test can tell that it never did.
 */
function naiveHook(extra = ''): { hook: string; log: string } {
  const dir = scratchDir('naive-')
  const log = path.join(dir, 'hook.log')
  const hook = writeScript(
    dir,
    'hook.sh',
    [
      `echo "context $BUILD_CONTEXT source \${BUILD_CONTEXT_SOURCE:-none}" >> ${JSON.stringify(log)}`,
      `ls -A "$BUILD_CONTEXT" | tr '\\n' ' ' >> ${JSON.stringify(log)}; echo >> ${JSON.stringify(log)}`,
      extra,
      `DOCKER_BUILDKIT=0 docker build -q --label "${LABEL}=$GIT_SHA" -t "$TARGET_IMAGE" "$BUILD_CONTEXT" >&2`,
      `echo BUILT >> ${JSON.stringify(log)}`
    ].join('\n')
  )
  return { hook, log }
}

/** A file's content inside an image, read back with `docker create` + `docker cp`. */
function fileInImage(image: string, file: string): string {
  const name = `pg-read-${process.pid}-${++counter}`
  docker(host.dockerHost, 'create', '--name', name, image, '/none')
  try {
    const out = scratchDir('cp-')
    docker(host.dockerHost, 'cp', `${name}:${file}`, out)
    return readFileSync(path.join(out, path.basename(file)), 'utf8')
  } finally {
    docker(host.dockerHost, 'rm', name)
  }
}

/** A host clone of the checkout (what `build-context: /srv/shop` points at). */
function hostClone(checkout: string): string {
  const dir = scratchDir('clone-')
  git(dir, 'clone', '-q', checkout, '.')
  return dir
}

/** Upload directories left in the host's temp dir. */
function uploadDirs(): string[] {
  return readdirSync('/tmp').filter(name => name.startsWith('provenance-gate-ctx.'))
}

describe('check-context on a host clone (naive hook)', () => {
  test.each([
    [
      'behind HEAD',
      (clone: string) => git(clone, 'reset', '-q', '--hard', 'HEAD~1'),
      /is at [0-9a-f]{12}, not the validated [0-9a-f]{12}/
    ],
    [
      'at HEAD, a modified file',
      (clone: string) => writeFileSync(path.join(clone, 'app.txt'), 'local edit\n'),
      /is dirty: 1 files \(first: M app\.txt\)/
    ],
    [
      'at HEAD, an untracked file',
      (clone: string) => writeFileSync(path.join(clone, 'extra.txt'), 'x\n'),
      /is dirty: 1 files \(first: \?\? extra\.txt\)/
    ]
  ])('%s: stale-context, the hook never runs', async (_name, spoil, reason) => {
    const repo = makeRepo()
    const head = commit(repo.dir, 'app.txt', 'v2\n')
    const clone = hostClone(repo.dir)
    spoil(clone)
    const { hook, log } = naiveHook()
    const run = await runAction({
      ...sshInputs(host),
      path: repo.dir,
      image: imageRef(),
      hook,
      'build-context': clone,
      'check-container': 'false'
    })
    expect(outcome(run)).toMatchObject({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'stale-context'
    })
    expect(run.outputs.reason).toMatch(reason)
    expect(run.outputs.reason).toContain(clone)
    expect(run.outputs.reason).toContain(head.slice(0, 12))
    expect(existsSync(log)).toBe(false)
    await expectCleanRun(run, host, { complete: true })
  })

  test('an ignored untracked file is not dirt: the clean clone at HEAD passes and holds HEAD', async () => {
    const repo = makeRepo({ '.gitignore': 'build/\n' })
    const head = commit(repo.dir, 'app.txt', 'v2\n')
    const clone = hostClone(repo.dir)
    mkdirSync(path.join(clone, 'build'))
    writeFileSync(path.join(clone, 'build', 'cache'), 'ignored\n')
    const { hook, log } = naiveHook()
    const image = imageRef()
    const run = await runAction({
      ...sshInputs(host),
      path: repo.dir,
      image,
      hook,
      'build-context': clone,
      'check-container': 'false'
    })
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match' })
    expect(run.outputs.expected_revision).toBe(head)
    expect(readFileSync(log, 'utf8')).toContain('BUILT')
    expect(fileInImage(image, '/app.txt')).toBe('v2\n')
    expect(run.stdout).toContain(`clean work tree at ${head.slice(0, 12)}`)
    expect(run.summary).toContain('clean work tree')
    await expectCleanRun(run, host, { complete: true })
  })

  test('check-context true refuses a context that is not a git work tree', async () => {
    const repo = makeRepo()
    const plain = scratchDir('plain-')
    writeFileSync(path.join(plain, 'Dockerfile'), 'FROM scratch\nCOPY app.txt /app.txt\n')
    writeFileSync(path.join(plain, 'app.txt'), 'old\n')
    const { hook, log } = naiveHook()
    const inputs = {
      ...sshInputs(host),
      path: repo.dir,
      image: imageRef(),
      hook,
      'build-context': plain,
      'check-container': 'false'
    }
    const strict = await runAction({ ...inputs, 'check-context': 'true' })
    expect(outcome(strict)).toMatchObject({ exitCode: 1, failure: 'stale-context' })
    expect(strict.outputs.reason).toMatch(/is not a git work tree \(check-context: true\)/)
    expect(existsSync(log)).toBe(false)
    // auto: said out loud in the log and the summary, and the hook is trusted.
    const auto = await runAction(inputs)
    expect(outcome(auto)).toMatchObject({ exitCode: 0, verdict: 'match' })
    expect(auto.stdout).toContain('build context not verified')
    expect(auto.summary).toContain('build context not verified')
    // false: no check, and a warning every run.
    const off = await runAction({ ...inputs, 'check-context': 'false' })
    expect(outcome(off)).toMatchObject({ exitCode: 0, verdict: 'match' })
    expect(off.stdout).toMatch(/^::warning::check-context is false/m)
  })

  test('a context owned by another user is named as such, not as "not a work tree"', async () => {
    const repo = makeRepo()
    const clone = hostClone(repo.dir)
    execFileSync('chown', ['-R', 'nobody', clone])
    const { hook, log } = naiveHook()
    const run = await runAction({
      ...sshInputs(host),
      path: repo.dir,
      image: imageRef(),
      hook,
      'build-context': clone,
      'check-container': 'false'
    })
    expect(outcome(run)).toMatchObject({ exitCode: 1, failure: 'stale-context' })
    expect(run.outputs.reason).toMatch(/belongs to another user \(safe\.directory\)/)
    expect(existsSync(log)).toBe(false)
  })

  test('GIT_DIR in the host session does not move what the context check reads', async () => {
    const repo = makeRepo()
    commit(repo.dir, 'app.txt', 'v2\n')
    const clone = hostClone(repo.dir)
    git(clone, 'reset', '-q', '--hard', 'HEAD~1')
    const other = makeRepo() // a repository at another commit, clean
    const { hook, log } = naiveHook()
    const dir = scratchDir('gitdir-sshd-')
    const sshd = await startSshd(dir, {
      DOCKER_HOST: host.dockerHost,
      GIT_DIR: path.join(other.dir, '.git'),
      GIT_WORK_TREE: other.dir
    })
    try {
      const run = await runAction({
        ...sshInputs({ ...host, ...sshd }),
        path: repo.dir,
        image: imageRef(),
        hook,
        'build-context': clone,
        'check-container': 'false'
      })
      expect(outcome(run)).toMatchObject({ exitCode: 1, failure: 'stale-context' })
      expect(existsSync(log)).toBe(false)
    } finally {
      await stopPid(sshd.sshdPid)
    }
  })

  test('a host without git: stale-context naming git, never a pass', async () => {
    const repo = makeRepo()
    const clone = hostClone(repo.dir)
    // A PATH with every program of /usr/bin but git.
    const bin = scratchDir('nogit-bin-')
    for (const name of readdirSync('/usr/bin')) {
      if (name !== 'git') symlinkSync(path.join('/usr/bin', name), path.join(bin, name))
    }
    chmodSync(bin, 0o755)
    const { hook, log } = naiveHook()
    const dir = scratchDir('nogit-sshd-')
    const sshd = await startSshd(dir, {
      DOCKER_HOST: host.dockerHost,
      PATH: `${bin}:/usr/sbin:/sbin`
    })
    try {
      const run = await runAction({
        ...sshInputs({ ...host, ...sshd }),
        path: repo.dir,
        image: imageRef(),
        hook,
        'build-context': clone,
        'check-container': 'false'
      })
      expect(outcome(run)).toMatchObject({ exitCode: 1, failure: 'stale-context' })
      expect(run.outputs.reason).toMatch(/git is not installed on/)
      expect(existsSync(log)).toBe(false)
    } finally {
      await stopPid(sshd.sshdPid)
    }
  })
})

describe('upload-context', () => {
  test('ships exactly HEAD: the image holds HEAD, not the untracked or ignored files; the fresh directory is gone after', async () => {
    const repo = makeRepo({ '.gitignore': 'secret.env\n' })
    const head = commit(repo.dir, 'app.txt', 'v2\n')
    writeFileSync(path.join(repo.dir, 'app.txt'), 'uncommitted edit\n')
    writeFileSync(path.join(repo.dir, 'untracked.txt'), 'u\n')
    writeFileSync(path.join(repo.dir, 'secret.env'), 'TOKEN=x\n')
    const before = uploadDirs()
    const { hook, log } = naiveHook()
    const image = imageRef()
    const run = await runAction({
      ...sshInputs(host),
      path: repo.dir,
      image,
      hook,
      'upload-context': 'true',
      'check-container': 'false'
    })
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match' })
    expect(run.outputs.expected_revision).toBe(head)
    expect(fileInImage(image, '/app.txt')).toBe('v2\n')
    const seen = readFileSync(log, 'utf8')
    expect(seen).toMatch(
      /^context \/tmp\/provenance-gate-ctx\.[A-Za-z0-9]{10}\/ctx source git-archive$/m
    )
    expect(seen).toMatch(/^\.gitignore Dockerfile app\.txt $/m)
    const context = /^context (\S+)/m.exec(seen)?.[1] ?? ''
    expect(existsSync(path.dirname(context))).toBe(false)
    expect(uploadDirs()).toEqual(before)
    expect(run.summary).toContain('build context uploaded')
    expect(run.stdout).toMatch(/uploading git archive/)
    await expectCleanRun(run, host, { complete: true })
  })

  test.each([
    ['the hook fails', 'exit 3', { 'rebuild-timeout': '60' }, 'hook-failed'],
    ['the hook times out', 'sleep 30', { 'rebuild-timeout': '2' }, 'timeout']
  ])(
    '%s: the uploaded directory is removed all the same',
    async (_name, extra, inputs, failure) => {
      const repo = makeRepo()
      const before = uploadDirs()
      const { hook } = naiveHook(extra)
      const run = await runAction({
        ...sshInputs(host),
        path: repo.dir,
        image: imageRef(),
        hook,
        'upload-context': 'true',
        'check-container': 'false',
        ...inputs
      })
      expect(outcome(run)).toMatchObject({ exitCode: 1, failure })
      expect(uploadDirs()).toEqual(before)
      await expectCleanRun(run, host, { complete: true })
    }
  )

  test('a main step killed mid-hook: the post step stops the hook and removes the upload', async () => {
    const repo = makeRepo()
    const before = uploadDirs()
    const marker = path.join(scratchDir('killed-'), 'started')
    const { hook } = naiveHook(`touch ${JSON.stringify(marker)}; sleep 300`)
    const run = await runAction(
      {
        ...sshInputs(host),
        path: repo.dir,
        image: imageRef(),
        hook,
        'upload-context': 'true',
        'check-container': 'false'
      },
      {},
      { killMainWhen: () => existsSync(marker) }
    )
    expect(run.exitCode).toBeNull()
    expect(run.stdout).toMatch(/post step: stopped the hook's process group \d+/)
    expect(run.stdout).toMatch(/removed the upload \/tmp\/provenance-gate-ctx\./)
    expect(processesMentioning('sleep 300').filter(line => line.includes(hook))).toEqual([])
    expect(uploadDirs()).toEqual(before)
    await expectCleanRun(run, host)
  })

  test('inputs that contradict upload-context are refused before anything runs', async () => {
    const repo = makeRepo()
    const base = {
      ...sshInputs(host),
      path: repo.dir,
      image: imageRef(),
      hook: '/nonexistent',
      'upload-context': 'true'
    }
    const extras: Record<string, string>[] = [
      { 'build-context': '/srv/shop' },
      { 'sync-context': 'true' }
    ]
    for (const extra of extras) {
      const run = await runAction({ ...base, ...extra })
      expect(outcome(run)).toMatchObject({ exitCode: 1, failure: 'invalid-input' })
    }
  })

  test.each([
    [
      'a submodule',
      (dir: string) => {
        const sub = makeRepo()
        git(dir, '-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', sub.dir, 'sub')
        git(dir, 'commit', '-qm', 'add submodule')
      },
      /does not ship submodules, and sub is a submodule/
    ],
    [
      'export-ignore',
      (dir: string) => {
        writeFileSync(path.join(dir, '.gitattributes'), 'app.txt export-ignore\n')
        git(dir, 'add', '.gitattributes')
        git(dir, 'commit', '-qm', 'attributes')
      },
      /\.gitattributes uses export-ignore or export-subst/
    ],
    [
      'an archive over upload-max-mib',
      (dir: string) => {
        writeFileSync(path.join(dir, 'big.bin'), Buffer.alloc(3 * 1024 * 1024, 7))
        git(dir, 'add', 'big.bin')
        git(dir, 'commit', '-qm', 'big')
      },
      /exceeds upload-max-mib \(1 MiB\); nothing was built/
    ]
  ])(
    '%s is refused as invalid-input; the hook never runs and nothing is left',
    async (_name, setup, reason) => {
      const repo = makeRepo()
      setup(repo.dir)
      const before = uploadDirs()
      const { hook, log } = naiveHook()
      const run = await runAction({
        ...sshInputs(host),
        path: repo.dir,
        image: imageRef(),
        hook,
        'upload-context': 'true',
        'upload-max-mib': '1',
        'check-container': 'false'
      })
      expect(outcome(run)).toMatchObject({ exitCode: 1, failure: 'invalid-input' })
      expect(run.outputs.reason).toMatch(reason)
      expect(existsSync(log)).toBe(false)
      expect(uploadDirs()).toEqual(before)
    }
  )

  test('a 200 MB tree uploads with flat memory', async () => {
    const repo = makeRepo()
    const big = path.join(repo.dir, 'big')
    mkdirSync(big)
    for (let i = 0; i < 20; i++) {
      // Incompressible, so git and the archive really carry 200 MB.
      writeFileSync(
        path.join(big, `f${i}.bin`),
        execFileSync('head', ['-c', String(10 * 1024 * 1024), '/dev/urandom'], {
          maxBuffer: 11 * 1024 * 1024
        })
      )
    }
    git(repo.dir, 'add', 'big')
    git(repo.dir, 'commit', '-qm', 'big tree')
    const { hook, log } = naiveHook(
      `echo "files $(ls "$BUILD_CONTEXT/big" | wc -l)" >> "$(dirname "$0")/hook.log"`
    )
    let pid = 0
    let peakKb = 0
    const sampler = setInterval(() => {
      const kb = pid ? peakMemoryKb(pid) : undefined
      if (kb) peakKb = Math.max(peakKb, kb)
    }, 20)
    const run = await runAction(
      {
        ...sshInputs(host),
        path: repo.dir,
        image: imageRef(),
        hook: hook,
        'upload-context': 'true',
        'check-container': 'false'
      },
      {},
      { onMainSpawn: spawned => (pid = spawned) }
    ).finally(() => clearInterval(sampler))
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match' })
    expect(readFileSync(log, 'utf8')).toMatch(/^files 20$/m)
    expect(run.stdout).toMatch(
      /upload: \d+\.\d MiB sent|build context uploaded: .*\(2\d\d\.\d MiB\)/
    )
    // The archive is 200 MB; the action holds one frame of it at a time.
    expect(peakKb).toBeGreaterThan(0)
    expect(peakKb).toBeLessThan(150 * 1024)
  }, 300_000)
})

describe('local mode (self-hosted runner on the host)', () => {
  test('check-context refuses a local clone behind HEAD; upload-context ships HEAD into a local temp dir', async () => {
    const repo = makeRepo()
    commit(repo.dir, 'app.txt', 'v2\n')
    const clone = hostClone(repo.dir)
    git(clone, 'reset', '-q', '--hard', 'HEAD~1')
    const { hook, log } = naiveHook()
    const env = { DOCKER_HOST: host.dockerHost }
    const stale = await runAction(
      {
        path: repo.dir,
        image: imageRef(),
        hook,
        'build-context': clone,
        'check-container': 'false'
      },
      env
    )
    expect(outcome(stale)).toMatchObject({ exitCode: 1, failure: 'stale-context' })
    expect(stale.outputs.reason).toContain('on local')
    expect(existsSync(log)).toBe(false)
    const image = imageRef()
    const uploaded = await runAction(
      { path: repo.dir, image, hook, 'upload-context': 'true', 'check-container': 'false' },
      env
    )
    expect(outcome(uploaded)).toMatchObject({ exitCode: 0, verdict: 'match' })
    expect(fileInImage(image, '/app.txt')).toBe('v2\n')
    expect(readFileSync(log, 'utf8')).toMatch(/source git-archive/)
  })
})

describe('the reference hook and the documented setups', () => {
  const REFERENCE_HOOK = path.resolve('hook/deploy-hook.sh')

  test('a host clone synced by the hook (sync-context): the clone behind HEAD is moved, built and verified', async () => {
    const setup = cloneOfOrigin()
    const head = setup.advance('app.txt', 'v2\n')
    const image = imageRef()
    const run = await runAction({
      ...sshInputs(host),
      path: setup.work,
      image,
      hook: REFERENCE_HOOK,
      'build-context': setup.clone,
      'sync-context': 'true',
      'check-container': 'false'
    })
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match' })
    expect(run.outputs.image_revision).toBe(head)
    expect(fileInImage(image, '/app.txt')).toBe('v2\n')
    expect(git(setup.clone, 'rev-parse', 'HEAD')).toBe(head)
    expect(run.stdout).toContain(`clean work tree at ${head.slice(0, 12)}`)
    await expectCleanRun(run, host, { complete: true })
  })

  test('without sync-context the same clone behind HEAD is refused before the reference hook runs', async () => {
    const setup = cloneOfOrigin()
    setup.advance('app.txt', 'v2\n')
    const run = await runAction({
      ...sshInputs(host),
      path: setup.work,
      image: imageRef(),
      hook: REFERENCE_HOOK,
      'build-context': setup.clone,
      'check-container': 'false'
    })
    expect(outcome(run)).toMatchObject({ exitCode: 1, failure: 'stale-context' })
    expect(run.stdout).not.toContain('[deploy-hook]')
  })

  test('a plain directory as the context: the gate says "not verified", the reference hook refuses to build it', async () => {
    const repo = makeRepo()
    const plain = scratchDir('plain-')
    writeFileSync(path.join(plain, 'Dockerfile'), 'FROM scratch\nCOPY app.txt /app.txt\n')
    writeFileSync(path.join(plain, 'app.txt'), 'old\n')
    const run = await runAction({
      ...sshInputs(host),
      path: repo.dir,
      image: imageRef(),
      hook: REFERENCE_HOOK,
      'build-context': plain,
      'check-container': 'false'
    })
    expect(outcome(run)).toMatchObject({ exitCode: 1, failure: 'hook-failed' })
    expect(run.stdout).toContain('build context not verified')
    expect(run.outputs.reason).toMatch(/is not a git work tree/)
    expect(run.stdout).toMatch(/upload-context: true/)
  })

  test('a GitHub-hosted runner with upload-context and the reference hook: HEAD is built', async () => {
    const repo = makeRepo()
    const head = commit(repo.dir, 'app.txt', 'v3\n')
    const image = imageRef()
    const run = await runAction({
      ...sshInputs(host),
      path: repo.dir,
      image,
      hook: REFERENCE_HOOK,
      'upload-context': 'true',
      'check-container': 'false'
    })
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match' })
    expect(run.outputs.image_revision).toBe(head)
    expect(fileInImage(image, '/app.txt')).toBe('v3\n')
  })
})
