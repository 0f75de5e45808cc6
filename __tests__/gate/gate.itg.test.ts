import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  buildImage,
  commit,
  docker,
  makeRepo,
  runAction,
  writeScript,
  OUTPUT_NAMES
} from '../support/action.js'
import { expectCleanRun, outcome, sshInputs } from '../support/expect-run.js'
import { freePort, type StagingHost } from '../support/services.js'
import { useStagingHost } from '../support/staging-host.js'

const REFERENCE_HOOK = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../hook/deploy-hook.sh'
)
const LABEL = 'org.opencontainers.image.revision'

const stagingHost = useStagingHost()
let host: StagingHost
let scratch: string
let counter = 0

/** A unique image reference per test, so tests never see each other's images. */
function imageRef(): string {
  counter += 1
  return `localhost:5000/shop/staging:t${process.pid}-${counter}`
}

/** A new staging image whose revision label says it was built from `revision`. */
function imageBuiltFrom(revision: string): string {
  const image = imageRef()
  buildImage(host.dockerHost, image, { [LABEL]: revision })
  return image
}

beforeAll(() => {
  host = stagingHost()
  scratch = mkdtempSync(path.join(tmpdir(), 'pg-gate-'))
})

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true })
})

/** A hook that records its environment and arguments (NUL-separated) and touches a marker. */
function recordingHook(name: string, tail = ''): { hook: string; record: string } {
  const record = path.join(scratch, `${name}.record`)
  const hook = writeScript(
    scratch,
    `${name}.sh`,
    [
      `printf '%s\\0' "$GIT_SHA" "$BUILD_CONTEXT" "$TARGET_IMAGE" "$TARGET_SERVICE" "$TARGET_PORT" "$COMPOSE_PROFILE" "$STAGING_CONTAINER" "$PWD" "$@" > ${JSON.stringify(record)}`,
      'echo "hook ran for $TARGET_IMAGE"',
      tail
    ].join('\n')
  )
  return { hook, record }
}

/** The values a recording hook saw, in the order it wrote them. */
function recorded(record: string): string[] {
  return readFileSync(record, 'utf8').split('\0').slice(0, -1)
}

describe('rebuild mode over ssh', () => {
  test('a fresh image built from HEAD by the reference hook matches and exports revision and id', async () => {
    const repo = makeRepo()
    const image = imageRef()
    const run = await runAction({
      ...sshInputs(host),
      path: repo.dir,
      image,
      hook: REFERENCE_HOOK,
      'hook-dir': repo.dir,
      'build-context': repo.dir
    })
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${repo.head.slice(0, 12)}`
    })
    expect(run.outputs.expected_revision).toBe(repo.head)
    expect(run.outputs.image_revision).toBe(repo.head)
    const id = docker(host.dockerHost, 'image', 'inspect', '--format', '{{.Id}}', image)
    expect(run.outputs.image_id).toBe(id)
    expect(run.stdout).toContain('::group::hook output')
    expect(run.stdout).toContain(`[deploy-hook] building ${image}`)
    expect(run.summary).toMatch(/^### ✅ provenance match: /)
    expect(run.summary).toContain('| Verdict | **match** |')
    expect(run.summary).toContain(`| Image id | <code>${id}</code> |`)
    expect(run.summary).toMatch(
      /\| Time \| git \d+ ms · connect .* · hook .* · inspect .* · total /
    )
    await expectCleanRun(run, host)
  })

  test('a hook that exits 0 without rebuilding leaves a stale label: mismatch', async () => {
    const repo = makeRepo()
    const old = repo.head
    const head = commit(repo.dir, 'app.txt', 'v2\n')
    const image = imageRef()
    buildImage(host.dockerHost, image, { [LABEL]: old })
    const { hook, record } = recordingHook('stale')
    const run = await runAction({ ...sshInputs(host), path: repo.dir, image, hook })
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'mismatch',
      failure: 'mismatch',
      reason: `provenance mismatch: image ${old.slice(0, 12)} != expected ${head.slice(0, 12)}`
    })
    expect(existsSync(record)).toBe(true)
    expect(run.outputs.expected_revision).toBe(head)
    expect(run.outputs.image_revision).toBe(old)
    // Exactly one error annotation: the verdict.
    expect(run.stdout.match(/^::error::.*$/gm)).toEqual([
      `::error::provenance mismatch: image ${old.slice(0, 12)} != expected ${head.slice(0, 12)}`
    ])
    expect(run.summary).toMatch(/^### ❌ mismatch — root@127\.0\.0\.1:\d+\n\nprovenance mismatch: /)
    await expectCleanRun(run, host)
  })

  test('an image without the revision label fails closed', async () => {
    const repo = makeRepo()
    const image = imageRef()
    const id = buildImage(host.dockerHost, image, { other: 'x' })
    const { hook } = recordingHook('unlabelled')
    const run = await runAction({ ...sshInputs(host), path: repo.dir, image, hook })
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'missing-label',
      reason: 'provenance fail-closed: image has no revision label'
    })
    expect(run.outputs.image_id).toBe(id)
    expect(run.outputs.image_revision).toBe('')
    await expectCleanRun(run, host)
  })

  test('an image with no labels at all (null Labels) fails closed as unlabelled', async () => {
    const repo = makeRepo()
    const image = imageRef()
    const id = buildImage(host.dockerHost, image, {})
    expect(
      docker(host.dockerHost, 'image', 'inspect', '--format', '{{json .Config.Labels}}', image)
    ).toBe('null')
    const run = await runAction({ ...sshInputs(host), mode: 'verify', path: repo.dir, image })
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'missing-label',
      reason: 'provenance fail-closed: image has no revision label'
    })
    expect(run.outputs.image_id).toBe(id)
  })

  test('an image that does not exist on the host fails closed naming the inspect', async () => {
    const repo = makeRepo()
    const image = imageRef()
    const run = await runAction({ ...sshInputs(host), mode: 'verify', path: repo.dir, image })
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'inspect-failed',
      reason: expect.stringMatching(
        new RegExp(
          `docker image inspect ${image.replace(/[.]/g, '\\.')} on root@127\\.0\\.0\\.1:\\d+ failed \\(exit code 1\\): .*No such image`
        )
      )
    })
    await expectCleanRun(run, host)
  })

  test('a failing hook fails closed with its exit code and the tail of its output', async () => {
    const repo = makeRepo()
    const image = imageBuiltFrom(repo.head)
    const { hook } = recordingHook(
      'failing',
      'echo "docker build: no space left on device" >&2\nexit 3'
    )
    const run = await runAction({ ...sshInputs(host), path: repo.dir, image, hook })
    expect(run.exitCode).toBe(1)
    expect(run.outputs.verdict).toBe('fail-closed')
    expect(run.outputs.reason).toMatch(
      /^provenance fail-closed: hook failed \(exit code 3\) on root@127\.0\.0\.1:\d+: .*no space left on device$/
    )
    // The image was fine, but a failed rebuild never reaches the inspect: no verdict on faith.
    expect(run.outputs.image_revision).toBe('')
    await expectCleanRun(run, host)
  })

  test('a hook over rebuild-timeout is stopped and fails closed', async () => {
    const repo = makeRepo()
    const { hook } = recordingHook('hanging', 'sleep 5')
    const started = Date.now()
    const run = await runAction({
      ...sshInputs(host),
      path: repo.dir,
      image: imageRef(),
      hook,
      'rebuild-timeout': '1'
    })
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'timeout',
      reason: expect.stringMatching(/hook timed out after 1 s \(rebuild-timeout\)/)
    })
    expect(Date.now() - started).toBeLessThan(4500)
    await expectCleanRun(run, host)
  })

  test('an unreachable host fails closed before any hook runs', async () => {
    const repo = makeRepo()
    const { hook, record } = recordingHook('unreachable')
    const closedPort = String(await freePort())
    const run = await runAction({
      ...sshInputs(host),
      port: closedPort,
      path: repo.dir,
      image: imageRef(),
      hook
    })
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'transport',
      reason: expect.stringMatching(
        new RegExp(
          `ssh connection to root@127\\.0\\.0\\.1:${closedPort} failed: .*[Cc]onnection refused`
        )
      )
    })
    expect(run.outputs.expected_revision).toBe(repo.head)
    expect(existsSync(record)).toBe(false)
    await expectCleanRun(run, host)
  })

  test('a host key that does not match the pinned one stops the run before the hook', async () => {
    const repo = makeRepo()
    const { hook, record } = recordingHook('wrong-key')
    const run = await runAction({
      ...sshInputs(host),
      'known-hosts': host.wrongKnownHosts,
      path: repo.dir,
      image: imageRef(),
      hook
    })
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'host-key',
      reason: expect.stringMatching(
        /ssh host key of root@127\.0\.0\.1:\d+ has CHANGED from the pinned known-hosts \(the hook did not run\)\. The host offered ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}\. .*pin this line in known-hosts: \[127\.0\.0\.1\]:\d+ ssh-ed25519 AAAA/
      )
    })
    expect(existsSync(record)).toBe(false)
    await expectCleanRun(run, host)
  })

  test('hook output cannot forge workflow commands: it is shown between stop-commands markers', async () => {
    const repo = makeRepo()
    const image = imageBuiltFrom(repo.head)
    const { hook } = recordingHook(
      'forging',
      'echo "::error::forged by the hook"\necho "::add-mask::${GIT_SHA}"\nprintf "no newline at the end"'
    )
    const run = await runAction({ ...sshInputs(host), path: repo.dir, image, hook })
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: expect.any(String)
    })
    const block = /::stop-commands::([0-9a-f-]{36})\n([\s\S]*?)\n::\1::\n/.exec(run.stdout)
    expect(block?.[2]).toContain('::error::forged by the hook\n')
    expect(block?.[2]).toMatch(/no newline at the end$/)
    const outside = run.stdout.replace(block?.[0] ?? '', '')
    expect(outside).not.toContain('forged')
    expect(outside).not.toContain(`::add-mask::${repo.head}`)
    await expectCleanRun(run, host)
  })

  test('a run cancelled mid-hook (main step killed) is cleaned up by the post step', async () => {
    const repo = makeRepo()
    const { hook, record } = recordingHook('cancelled', 'sleep 3')
    const run = await runAction(
      { ...sshInputs(host), path: repo.dir, image: imageRef(), hook },
      {},
      { killMainWhen: () => existsSync(record) }
    )
    expect(run.exitCode).toBeNull()
    expect(existsSync(record)).toBe(true)
    await expectCleanRun(run, host)
  })

  test('strict-host-key-checking false accepts an unpinned host and warns on the run', async () => {
    const repo = makeRepo()
    const image = imageBuiltFrom(repo.head)
    const run = await runAction({
      ...sshInputs(host),
      'known-hosts': '',
      'strict-host-key-checking': 'false',
      mode: 'verify',
      path: repo.dir,
      image
    })
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: expect.any(String)
    })
    expect(run.stdout).toMatch(/^::warning::strict-host-key-checking is false: /m)
    await expectCleanRun(run, host)
  })

  test('path-mapping turns the runner checkout path into the host path for BUILD_CONTEXT', async () => {
    const repo = makeRepo()
    const runnerPrefix = path.dirname(repo.dir)
    const hostPrefix = path.join(scratch, 'host-view')
    symlinkSync(runnerPrefix, hostPrefix)
    const image = imageRef()
    const run = await runAction({
      ...sshInputs(host),
      'path-mapping': `${runnerPrefix}=${hostPrefix}`,
      path: repo.dir,
      image,
      hook: REFERENCE_HOOK
    })
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: expect.any(String)
    })
    const hostPath = path.join(hostPrefix, path.basename(repo.dir))
    expect(run.stdout).toContain(`BUILD_CONTEXT='${hostPath}'`)
    expect(run.stdout).toContain(`[deploy-hook] building ${image} from ${hostPath} at ${repo.head}`)
    await expectCleanRun(run, host)
  })

  test('every value reaches the hook byte for byte, shell metacharacters included', async () => {
    const repo = makeRepo()
    const image = imageBuiltFrom(repo.head)
    const pwned = path.join(scratch, 'pwned')
    const hookDir = mkdtempSync(path.join(scratch, "dir with 'quotes' and $HOME "))
    const { hook, record } = recordingHook('metachar')
    const nasty = {
      service: `svc$(touch ${pwned})\`touch ${pwned}\`;touch ${pwned}`,
      'compose-profile': `it's "quoted" && echo $PATH | cat * ~ \\n`,
      'staging-container': 'tab\there|pipe>redirect<in&bg!bang#hash',
      'build-context': '/srv/repos/ünïcode path/日本',
      'staging-port': '8501'
    }
    const run = await runAction({
      ...sshInputs(host),
      ...nasty,
      path: repo.dir,
      image,
      hook,
      'hook-dir': hookDir
    })
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: expect.any(String)
    })
    expect(recorded(record)).toEqual([
      repo.head,
      nasty['build-context'],
      image,
      nasty.service,
      '8501',
      nasty['compose-profile'],
      nasty['staging-container'],
      hookDir,
      '--build-staging'
    ])
    expect(existsSync(pwned)).toBe(false)
    await expectCleanRun(run, host)
  })

  test('a SHA-256 repository: the 64-hex revision is built, read back and matched', async () => {
    const repo = makeRepo({}, 'sha256')
    expect(repo.head).toMatch(/^[0-9a-f]{64}$/)
    const image = imageRef()
    const run = await runAction({
      ...sshInputs(host),
      path: repo.dir,
      image,
      hook: REFERENCE_HOOK,
      'build-context': repo.dir
    })
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${repo.head.slice(0, 12)}`
    })
    expect(run.outputs.image_revision).toBe(repo.head)
    await expectCleanRun(run, host)
  })
})

describe('other modes and switches', () => {
  test('local mode (self-hosted runner on the host) runs the hook and inspect without ssh', async () => {
    const repo = makeRepo()
    const image = imageRef()
    const run = await runAction(
      { path: repo.dir, image, hook: REFERENCE_HOOK, 'build-context': repo.dir },
      { DOCKER_HOST: host.dockerHost, DOCKER_BUILDKIT: '0', SKIP_COMPOSE: '1' }
    )
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${repo.head.slice(0, 12)}`
    })
    expect(run.stdout).toContain('running the hook on local:')
    expect(run.summary).toContain('| Host | local |')
    await expectCleanRun(run, host)
  })

  test('verify mode reads the label without running any hook', async () => {
    const repo = makeRepo()
    const image = imageRef()
    const id = buildImage(host.dockerHost, image, { [LABEL]: repo.head })
    const run = await runAction({ ...sshInputs(host), mode: 'verify', path: repo.dir, image })
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: `provenance match: ${repo.head.slice(0, 12)}`
    })
    expect(run.outputs.image_id).toBe(id)
    expect(run.stdout).not.toContain('running the hook')
    expect(run.summary).not.toContain('hook ')
    await expectCleanRun(run, host)
  })

  test('verify mode with a custom revision label and a stale image: mismatch', async () => {
    const repo = makeRepo()
    const old = repo.head
    commit(repo.dir, 'app.txt', 'v3\n')
    const image = imageRef()
    buildImage(host.dockerHost, image, { 'com.example.commit': old, [LABEL]: 'ignored' })
    const run = await runAction({
      ...sshInputs(host),
      mode: 'verify',
      path: repo.dir,
      image,
      'revision-label': 'com.example.commit'
    })
    expect(run.outputs.verdict).toBe('mismatch')
    expect(run.outputs.image_revision).toBe(old)
  })

  test('disabled: passes without touching anything, even with the rest unset', async () => {
    const run = await runAction({ enabled: 'false', host: 'staging.invalid' })
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'disabled',
      failure: '',
      reason: 'provenance gate disabled (enabled: false)'
    })
    expect(Object.keys(run.outputs).sort()).toEqual([...OUTPUT_NAMES].sort())
    expect(run.outputs.expected_revision).toBe('')
    expect(run.stdout).not.toContain('validated revision')
    await expectCleanRun(run, host)
  })

  test('not-applicable: a repository outside the allowlist passes without touching anything', async () => {
    const repo = makeRepo()
    const { hook, record } = recordingHook('not-applicable')
    const run = await runAction({
      ...sshInputs(host),
      repositories: 'acme/billing, warehouse',
      path: repo.dir,
      image: imageRef(),
      hook
    })
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'not-applicable',
      failure: '',
      reason: 'provenance gate not applicable: acme/shop is not in repositories'
    })
    expect(run.outputs.expected_revision).toBe('')
    expect(existsSync(record)).toBe(false)
  })

  test('the allowlist applies by bare name, case-insensitively', async () => {
    const repo = makeRepo()
    const image = imageBuiltFrom(repo.head)
    const run = await runAction({
      ...sshInputs(host),
      repositories: 'billing\nSHOP',
      mode: 'verify',
      path: repo.dir,
      image
    })
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      failure: '',
      reason: expect.any(String)
    })
  })
})

describe('bad input and a bad checkout fail before anything remote', () => {
  test.each([
    ['port', { port: '70000' }, /input port must be a TCP port/],
    ['mode', { mode: 'promote-now' }, /input mode must be "rebuild", "verify" or "promote"/],
    ['image', { image: 'Shop Staging' }, /input image is not a valid image reference/],
    [
      'timeout',
      { 'rebuild-timeout': '10m' },
      /input rebuild-timeout must be a whole number of seconds/
    ],
    [
      'prod target',
      { service: 'web', 'prod-service': 'web' },
      /the staging target equals the prod target/
    ],
    [
      'prod port',
      { 'staging-port': '8500', 'prod-port': '8500' },
      /staging-port 8500 is prod-port/
    ],
    [
      'known-hosts',
      { 'known-hosts': '' },
      /input known-hosts is required when host is set: .*ssh-keyscan -p \d+ 127\.0\.0\.1/
    ]
  ])('%s', async (_name, bad, message) => {
    const repo = makeRepo()
    const { hook, record } = recordingHook(`bad-${_name.replace(/ /g, '-')}`)
    const run = await runAction({
      ...sshInputs(host),
      path: repo.dir,
      image: imageRef(),
      hook,
      ...bad
    })
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: /prod/.test(_name) ? 'prod-target' : 'invalid-input',
      reason: expect.stringMatching(message)
    })
    expect(Object.keys(run.outputs).sort()).toEqual([...OUTPUT_NAMES].sort())
    expect(run.outputs.expected_revision).toBe('')
    expect(existsSync(record)).toBe(false)
    await expectCleanRun(run, host)
  })

  test('a checkout that is not a git repository fails closed naming git, nothing remote runs', async () => {
    const notRepo = mkdtempSync(path.join(scratch, 'not-a-repo-'))
    const { hook, record } = recordingHook('not-a-repo')
    const run = await runAction({ ...sshInputs(host), path: notRepo, image: imageRef(), hook })
    expect(outcome(run)).toEqual({
      exitCode: 1,
      verdict: 'fail-closed',
      failure: 'git-failed',
      reason: expect.stringMatching(
        /git rev-parse HEAD in .* failed \(exit code 128\): .*not a git repository/
      )
    })
    expect(existsSync(record)).toBe(false)
    await expectCleanRun(run, host)
  })
})
