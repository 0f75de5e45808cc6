import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {
  HOST_KILL_AFTER_SECONDS,
  hookEnvironment,
  inspectTarget,
  parseContainerOutput,
  parseInspectOutput,
  parseSession,
  planContainerCommand,
  planHookCommand,
  planInspectCommand,
  planPromoteSession,
  planSession,
  revisionOf,
  type InspectResult,
  type SessionResult
} from '../../src/remote-command.js'
import type { ContainerState } from '../../src/container-check.js'
import type { Settings } from '../../src/settings.js'
import { IMAGE_HEX, makeSettings, SHA_A, SHA_B } from './fixtures.js'

/** Names the hook dumps, in this order, after its cwd and argument count. */
const HOOK_VARS = [
  'GIT_SHA',
  'BUILD_CONTEXT',
  'TARGET_IMAGE',
  'TARGET_SERVICE',
  'TARGET_PORT',
  'COMPOSE_PROFILE',
  'STAGING_CONTAINER'
] as const

/**
 * A hook that writes its working directory, its arguments and every contract variable to $DUMP,
 * NUL-separated (no value can hold a NUL), so the test sees exactly the bytes the hook got.
 */
const HOOK_SCRIPT = `#!/usr/bin/env bash
{
  printf '%s\\0' "$PWD" "$#" "$@"
${HOOK_VARS.map(name => `  printf '%s\\0' "\${${name}-<unset>}"`).join('\n')}
} > "$DUMP"
`

interface HookRun {
  cwd: string
  args: string[]
  env: Record<(typeof HOOK_VARS)[number], string>
}

let root: string
/** A hook directory whose name needs quoting, holding the hook script. */
let hookDir: string
let elsewhere: string

beforeAll(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pg-remote-')))
  hookDir = path.join(root, "hook dir $(touch pwned) 'q' `x` ;&")
  elsewhere = path.join(root, 'elsewhere')
  fs.mkdirSync(hookDir)
  fs.mkdirSync(elsewhere)
  fs.mkdirSync(path.join(hookDir, 'hooks'))
  fs.writeFileSync(path.join(hookDir, 'hook.sh'), HOOK_SCRIPT)
  fs.writeFileSync(path.join(hookDir, 'hooks', 'deploy hook.sh'), HOOK_SCRIPT)
})

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true })
})

/** Runs the planned command line in real bash, the way a runner's shell would. */
function runHookCommand(command: string, dump: string): HookRun {
  const result = spawnSync('bash', ['-c', command], {
    cwd: elsewhere,
    encoding: 'buffer',
    env: {
      ...process.env,
      DUMP: dump,
      // Values already in the caller's environment must not leak through to the hook.
      GIT_SHA: 'from-parent',
      TARGET_PORT: 'from-parent',
      STAGING_CONTAINER: 'from-parent'
    }
  })
  expect(result.stderr.toString('utf8')).toBe('')
  expect(result.status).toBe(0)
  const fields = fs.readFileSync(dump).toString('utf8').split('\0')
  expect(fields.pop()).toBe('')
  const [cwd = '', argc = '', ...rest] = fields
  const args = rest.slice(0, Number(argc))
  const values = rest.slice(Number(argc))
  expect(values).toHaveLength(HOOK_VARS.length)
  const env = Object.fromEntries(
    HOOK_VARS.map((name, i) => [name, values[i] ?? ''])
  ) as HookRun['env']
  return { cwd, args, env }
}

const NASTY = `it's "$(touch pwned)" \`touch pwned2\` $HOME; rm -rf x && echo * | cat\nline2 ⏎ 日本\\`

describe('planHookCommand in real bash', () => {
  test.each<[string, Partial<Settings>, string]>([
    ['plain values', {}, SHA_A],
    [
      'values with shell metacharacters and newlines',
      {
        buildContext: `/srv/${NASTY}`,
        image: `img ${NASTY}`,
        staging: {
          service: `svc ${NASTY}`,
          port: "80'80",
          composeProfile: `profile\n${NASTY}\n`,
          container: `-container ${NASTY}`,
          containerNamed: true
        }
      },
      `${SHA_A}$(id)`
    ],
    [
      'empty values arrive empty, not unset and not inherited',
      {
        buildContext: '',
        staging: {
          service: '',
          port: '',
          composeProfile: '',
          container: '',
          containerNamed: false
        }
      },
      ''
    ]
  ])('%s reach the hook byte for byte', (_name, overrides, revision) => {
    const settings = makeSettings({
      hook: path.join(hookDir, 'hook.sh'),
      hookDir,
      ...overrides
    })
    const dump = path.join(root, `dump-${Math.random().toString(36).slice(2)}`)
    const run = runHookCommand(planHookCommand(settings, revision), dump)

    expect(run.cwd).toBe(hookDir)
    expect(run.args).toEqual(['--build-staging'])
    expect(run.env).toEqual({
      GIT_SHA: revision,
      BUILD_CONTEXT: settings.buildContext,
      TARGET_IMAGE: settings.image,
      TARGET_SERVICE: settings.staging.service,
      TARGET_PORT: settings.staging.port,
      COMPOSE_PROFILE: settings.staging.composeProfile,
      STAGING_CONTAINER: settings.staging.container
    })
    // Nothing in any value was executed.
    expect(fs.readdirSync(hookDir).sort()).toEqual(['hook.sh', 'hooks'])
    expect(fs.readdirSync(elsewhere)).toEqual([])
  })

  test('a relative hook path is found from hook-dir', () => {
    const settings = makeSettings({ hook: 'hooks/deploy hook.sh', hookDir })
    const run = runHookCommand(planHookCommand(settings, SHA_A), path.join(root, 'dump-relative'))
    expect(run.cwd).toBe(hookDir)
    expect(run.args).toEqual(['--build-staging'])
    expect(run.env.GIT_SHA).toBe(SHA_A)
  })

  test('a hook path beginning with a dash is run as the script, not read as a bash option', () => {
    const dashDir = path.join(root, 'dash')
    fs.mkdirSync(dashDir, { recursive: true })
    fs.writeFileSync(path.join(dashDir, '-deploy.sh'), HOOK_SCRIPT)
    const settings = makeSettings({ hook: '-deploy.sh', hookDir: dashDir })
    const run = runHookCommand(planHookCommand(settings, SHA_A), path.join(root, 'dump-dash'))
    expect(run.cwd).toBe(dashDir)
    expect(run.args).toEqual(['--build-staging'])
    expect(run.env.GIT_SHA).toBe(SHA_A)
  })

  test('without hook-dir there is no cd and the hook runs where the shell starts', () => {
    const settings = makeSettings({ hook: path.join(hookDir, 'hook.sh'), hookDir: '' })
    const command = planHookCommand(settings, SHA_A)
    expect(command).not.toMatch(/^cd /)
    expect(command).not.toContain('&&')
    const run = runHookCommand(command, path.join(root, 'dump-no-cd'))
    expect(run.cwd).toBe(elsewhere)
    expect(run.args).toEqual(['--build-staging'])
    expect(run.env.BUILD_CONTEXT).toBe('/srv/shop')
  })

  test('a hook-dir that does not exist stops the command before the hook runs', () => {
    const dump = path.join(root, 'dump-missing-dir')
    const settings = makeSettings({
      hook: path.join(hookDir, 'hook.sh'),
      hookDir: path.join(root, 'missing')
    })
    const result = spawnSync('bash', ['-c', planHookCommand(settings, SHA_A)], {
      cwd: elsewhere,
      env: { ...process.env, DUMP: dump }
    })
    expect(result.status).not.toBe(0)
    expect(fs.existsSync(dump)).toBe(false)
  })

  test('the command line has the documented shape', () => {
    const settings = makeSettings({ hookDir: '/srv/shop', hook: './hook.sh' })
    expect(planHookCommand(settings, SHA_A)).toBe(
      `cd '/srv/shop' && GIT_SHA='${SHA_A}' BUILD_CONTEXT='/srv/shop' ` +
        "TARGET_IMAGE='registry.example.com/shop:staging' TARGET_SERVICE='staging' " +
        "TARGET_PORT='8081' COMPOSE_PROFILE='staging' STAGING_CONTAINER='shop-staging' " +
        "timeout -k 10 1200 bash -- './hook.sh' --build-staging"
    )
  })

  test.each<[number, string]>([
    [1_200_000, 'timeout -k 10 1200 bash'],
    [1_000, 'timeout -k 10 1 bash'],
    [1_500, 'timeout -k 10 2 bash'],
    [86_400_000, 'timeout -k 10 86400 bash']
  ])('rebuild-timeout %d ms bounds the hook on the host as %j', (rebuildMs, bound) => {
    const settings = makeSettings({ timeouts: { gitMs: 1, inspectMs: 1, rebuildMs } })
    const command = planHookCommand(settings, SHA_A)
    expect(command).toContain(` ${bound} -- '/srv/shop/hook.sh' --build-staging`)
    expect(command.split('timeout ')).toHaveLength(2)
    expect(HOST_KILL_AFTER_SECONDS).toBe(10)
  })

  test('the host-side bound stops a hung hook and what it started in the background (exit 124)', async () => {
    const dir = path.join(root, 'hung')
    fs.mkdirSync(dir, { recursive: true })
    const survived = path.join(dir, 'survived')
    fs.writeFileSync(path.join(dir, 'hang.sh'), `(sleep 2; touch '${survived}') & sleep 30\n`)
    const settings = makeSettings({
      hook: 'hang.sh',
      hookDir: dir,
      timeouts: { gitMs: 1, inspectMs: 1, rebuildMs: 1_000 }
    })
    const started = Date.now()
    const result = spawnSync('bash', ['-c', planHookCommand(settings, SHA_A)])
    expect(result.status).toBe(124)
    expect(Date.now() - started).toBeLessThan(1_900)
    // timeout signals its whole process group, so the background job dies with the hook.
    await new Promise(resolve => setTimeout(resolve, 2_600 - (Date.now() - started)))
    expect(fs.existsSync(survived)).toBe(false)
  })

  test('a NUL byte in any value refuses to build the command', () => {
    const settings = makeSettings({ buildContext: '/srv/\0x' })
    expect(() => planHookCommand(settings, SHA_A)).toThrow('NUL')
  })
})

describe('hookEnvironment', () => {
  test('lists the contract variables in the documented order', () => {
    const settings = makeSettings()
    expect(hookEnvironment(settings, SHA_A)).toEqual([
      ['GIT_SHA', SHA_A],
      ['BUILD_CONTEXT', '/srv/shop'],
      ['TARGET_IMAGE', 'registry.example.com/shop:staging'],
      ['TARGET_SERVICE', 'staging'],
      ['TARGET_PORT', '8081'],
      ['COMPOSE_PROFILE', 'staging'],
      ['STAGING_CONTAINER', 'shop-staging']
    ])
  })
})

describe('planInspectCommand', () => {
  const FORMAT = '{{json .Id}} {{with .Config}}{{json .Labels}}{{else}}null{{end}}'

  test.each([
    ['org.opencontainers.image.revision', 'localhost:5000/app:staging'],
    ['vcs-ref', `ghcr.io/acme/app@sha256:${IMAGE_HEX}`],
    ['com.example/rev_1', 'app']
  ])('label %s and image %s reach docker as separate arguments', (label, image) => {
    const dump = path.join(root, `inspect-${label.replace(/\W/g, '_')}`)
    const fakeDocker = path.join(root, 'fake-docker')
    fs.writeFileSync(fakeDocker, `#!/usr/bin/env bash\nprintf '%s\\0' "$@" > "$DUMP"\n`, {
      mode: 0o755
    })
    const settings = makeSettings({ docker: fakeDocker, revisionLabel: label, image })
    const command = planInspectCommand(settings)

    // Real GNU timeout on PATH: the bound's syntax is what coreutils accepts.
    const result = spawnSync('bash', ['-c', command], { env: { ...process.env, DUMP: dump } })
    expect(result.stderr.toString()).toBe('')
    expect(result.status).toBe(0)
    const args = fs.readFileSync(dump, 'utf8').split('\0')
    expect(args.pop()).toBe('')
    // Every label is read back, so the label key is not part of the command at all.
    expect(args).toEqual(['image', 'inspect', '--format', FORMAT, image])
  })

  test.each([
    ['docker', 45_000, `timeout -k 10 45 'docker'`],
    ['podman', 1_000, `timeout -k 10 1 'podman'`],
    ['/usr/local/bin/docker', 1_001, `timeout -k 10 2 '/usr/local/bin/docker'`]
  ])('%s with inspect-timeout %d ms starts with %s', (docker, inspectMs, start) => {
    const settings = makeSettings({ docker, timeouts: { gitMs: 1, inspectMs, rebuildMs: 1 } })
    expect(planInspectCommand(settings)).toBe(
      `${start} image inspect --format '${FORMAT}' 'registry.example.com/shop:staging'`
    )
  })
})

/** The fields of a session result that the hook and the inspect report. */
type Reported = Pick<SessionResult, 'noTimeout' | 'hookExit' | 'inspectExit' | 'inspectOutput'>

function reported(stdout: string, nonce: string): Reported {
  const { noTimeout, hookExit, inspectExit, inspectOutput } = parseSession(stdout, nonce)
  return { noTimeout, hookExit, inspectExit, inspectOutput }
}

const NONCE = '0f1e2d3c4b5a6978'
const MARK = `provenance-gate-${NONCE}`
const ID_JSON = `"sha256:${IMAGE_HEX}"`
const LABELS_JSON = `{"org.opencontainers.image.revision":"${SHA_A}","maintainer":"ops team"}`
/** Every session's first line: the begin marker, then the check for GNU timeout. */
const PREFLIGHT = `echo '${MARK} begin'; timeout --version >/dev/null 2>&1 || { echo '${MARK} no-timeout'; exit 0; }`

describe('planSession', () => {
  test('is the begin marker and the GNU timeout check, then the hook with its marker, then the inspect with its marker', () => {
    const settings = makeSettings()
    const lines = planSession(settings, SHA_A, NONCE).split('\n')
    expect(lines[0]).toBe(PREFLIGHT)
    // The last step reports its status and ends the script; nothing follows it.
    expect(lines.slice(-2)).toEqual([
      `${planInspectCommand(settings)} 2>&1`,
      `pg_rc=$?; printf '\\n${MARK} inspect-exit %s\\n' "$pg_rc"`
    ])
    const hook = lines.slice(1, -2).join('\n')
    expect(hook.split('--build-staging')).toHaveLength(2)
    expect(hook.split(`${MARK} hook-exit`)).toHaveLength(2)
    expect(hook).toContain(`GIT_SHA='${SHA_A}'`)
    expect(hook).toContain("timeout -k 10 1200 bash -- '/srv/shop/hook.sh' --build-staging")
    expect(hook).toContain("cd '/srv/shop'")
  })

  test('verify mode has no hook and no hook marker', () => {
    const settings = makeSettings({ mode: 'verify' })
    const script = planSession(settings, SHA_A, NONCE)
    expect(script).not.toContain('--build-staging')
    expect(script).not.toContain('hook-exit')
    expect(script.split('\n')).toHaveLength(3)
  })

  test.each(['bash', 'sh', 'dash'])('parses as a %s script', shell => {
    const script = planSession(makeSettings({ buildContext: `/srv/${NASTY}` }), SHA_A, NONCE)
    const result = spawnSync(shell, ['-n', '-c', script], { encoding: 'utf8' })
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
  })

  test.each<[string, Settings['mode'], Settings['containerCheck']]>([
    ['rebuild, check-container auto', 'rebuild', 'auto'],
    ['verify, check-container auto', 'verify', 'auto'],
    ['verify, check-container true', 'verify', 'require']
  ])(
    '%s: the inspect stops the script on failure, then the container check ends it',
    (_name, mode, containerCheck) => {
      const settings = makeSettings({ mode, containerCheck })
      const lines = planSession(settings, SHA_A, NONCE).split('\n')
      expect(lines.slice(-4)).toEqual([
        `${planInspectCommand(settings)} 2>&1`,
        `pg_rc=$?; printf '\\n${MARK} inspect-exit %s\\n' "$pg_rc"; [ "$pg_rc" -eq 0 ] || exit 0`,
        `${planContainerCommand(settings)} 2>&1`,
        `pg_rc=$?; printf '\\n${MARK} container-exit %s\\n' "$pg_rc"`
      ])
      expect(lines).toHaveLength(mode === 'rebuild' ? 10 : 5)
    }
  )

  test('label-source registry with a rebuild: the hook alone, no inspect, no container check', () => {
    const settings = makeSettings({ labelSource: 'registry' })
    const script = planSession(settings, SHA_A, NONCE)
    const lines = script.split('\n')
    expect(lines.at(-1)).toBe(`echo "${MARK} hook-exit $pg_rc"; [ "$pg_rc" -eq 0 ] || exit 0`)
    expect(script).toContain('--build-staging')
    expect(script).not.toContain('inspect')
    expect(script).not.toContain(' container ')
  })

  test.each(['bash', 'sh', 'dash'])('with the container check, parses as a %s script', shell => {
    const settings = makeSettings({
      containerCheck: 'auto',
      staging: { ...makeSettings().staging, container: `c ${NASTY}` }
    })
    const result = spawnSync(shell, ['-n', '-c', planSession(settings, SHA_A, NONCE)], {
      encoding: 'utf8'
    })
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
  })
})

describe('planContainerCommand', () => {
  const FORMAT = '{{json .Name}} {{json .Image}} {{json .State.Running}}'
  const staging = (over: Partial<Settings['staging']>): Settings['staging'] => ({
    ...makeSettings().staging,
    ...over
  })

  test.each<[string, number, Settings['staging'], string]>([
    [
      'docker',
      45_000,
      staging({ container: 'shop-staging', containerNamed: true }),
      `set -- 'shop-staging'; timeout -k 10 45 'docker' container inspect --format '${FORMAT}' -- "$@"`
    ],
    [
      'podman',
      1_500,
      staging({ container: "it's", containerNamed: true }),
      `set -- 'it'\\''s'; timeout -k 10 2 'podman' container inspect --format '${FORMAT}' -- "$@"`
    ],
    [
      'docker',
      45_000,
      staging({ service: 'staging', container: 'staging', containerNamed: false }),
      `if pg_ids=$(timeout -k 10 45 'docker' ps -aq --no-trunc --filter 'label=com.docker.compose.service=staging' 2>&1); ` +
        'then set -f; set --; for pg_w in $pg_ids; do case "$pg_w" in *[!0-9a-f]*) ;; *) [ "${#pg_w}" -eq 64 ] && set -- "$@" "$pg_w" ;; esac; done; set +f; ' +
        `[ "$#" -gt 0 ] || set -- 'staging'; ` +
        `timeout -k 10 45 'docker' container inspect --format '${FORMAT}' -- "$@"; ` +
        `else pg_rc=$?; printf '%s\\n' "$pg_ids"; (exit "$pg_rc"); fi`
    ],
    [
      'podman',
      1_001,
      staging({ service: "it's", container: "it's", containerNamed: false }),
      `if pg_ids=$(timeout -k 10 2 'podman' ps -aq --no-trunc --filter 'label=com.docker.compose.service=it'\\''s' 2>&1); ` +
        'then set -f; set --; for pg_w in $pg_ids; do case "$pg_w" in *[!0-9a-f]*) ;; *) [ "${#pg_w}" -eq 64 ] && set -- "$@" "$pg_w" ;; esac; done; set +f; ' +
        `[ "$#" -gt 0 ] || set -- 'it'\\''s'; ` +
        `timeout -k 10 2 'podman' container inspect --format '${FORMAT}' -- "$@"; ` +
        `else pg_rc=$?; printf '%s\\n' "$pg_ids"; (exit "$pg_rc"); fi`
    ]
  ])('%s, inspect-timeout %d ms, staging %j', (docker, inspectMs, target, command) => {
    const settings = makeSettings({
      docker,
      timeouts: { gitMs: 1, inspectMs, rebuildMs: 1 },
      staging: target
    })
    expect(planContainerCommand(settings)).toBe(command)
  })

  test('a named container is never looked up by label: staging-container is taken as given', () => {
    const command = planContainerCommand(
      makeSettings({ staging: staging({ service: 'web', container: 'web', containerNamed: true }) })
    )
    expect(command).not.toContain(' ps ')
    expect(command).not.toContain('com.docker.compose')
  })

  /**
   * A fake docker that appends each call as `<argc>\0<arg>\0…` to $DUMP and answers `ps` with
   * $PS_OUT on stdout, $PS_ERR on stderr and exit $PS_EXIT (after $PS_SLEEP seconds).
   */
  let fakeDocker: string
  beforeAll(() => {
    fakeDocker = path.join(root, 'fake-docker-containers')
    fs.writeFileSync(
      fakeDocker,
      `#!/usr/bin/env bash\nprintf '%s\\0' "$#" "$@" >> "$DUMP"\n` +
        `if [ "$1" = ps ]; then\n` +
        `  [ -z "$PS_SLEEP" ] || exec sleep "$PS_SLEEP"\n` +
        `  printf '%s' "$PS_OUT"; printf '%s' "$PS_ERR" >&2; exit "\${PS_EXIT:-0}"\n` +
        `fi\n`,
      { mode: 0o755 }
    )
  })

  /** Runs the command in real bash (real GNU timeout on PATH) and returns every docker argv. */
  function dockerCalls(
    settings: Settings,
    env: Record<string, string> = {}
  ): { calls: string[][]; stdout: string; stderr: string; status: number | null; ms: number } {
    const dump = path.join(root, `containers-${Math.random().toString(36).slice(2)}`)
    fs.writeFileSync(dump, '')
    const started = Date.now()
    const result = spawnSync('bash', ['-c', planContainerCommand(settings)], {
      env: { ...process.env, DUMP: dump, PS_OUT: '', PS_ERR: '', PS_SLEEP: '', ...env },
      timeout: 20_000
    })
    const ms = Date.now() - started
    const fields = fs.readFileSync(dump, 'utf8').split('\0')
    expect(fields.pop()).toBe('')
    const calls: string[][] = []
    while (fields.length) {
      const argc = Number(fields.shift())
      calls.push(fields.splice(0, argc))
    }
    return {
      calls,
      stdout: result.stdout.toString(),
      stderr: result.stderr.toString(),
      status: result.status,
      ms
    }
  }

  const psCall = (service: string): string[] => [
    'ps',
    '-aq',
    '--no-trunc',
    '--filter',
    `label=com.docker.compose.service=${service}`
  ]
  const inspectCall = (...names: string[]): string[] => [
    'container',
    'inspect',
    '--format',
    FORMAT,
    '--',
    ...names
  ]
  const WEIRD = [`web ${NASTY}`, '-x', '--help', '--format={{.Id}}', '*', 'a=b,c', ' padded ']

  test.each(WEIRD)(
    'the container name %j reaches docker as one operand after --, byte for byte',
    container => {
      const { calls, stderr, status } = dockerCalls(
        makeSettings({ docker: fakeDocker, staging: staging({ container, containerNamed: true }) })
      )
      expect(stderr).toBe('')
      expect(status).toBe(0)
      expect(calls).toEqual([inspectCall(container)])
    }
  )

  test.each(WEIRD)(
    'without staging-container, the service %j reaches ps as one filter and the fallback as one operand, byte for byte',
    service => {
      const { calls, stderr, status } = dockerCalls(
        makeSettings({
          docker: fakeDocker,
          staging: staging({ service, container: service, containerNamed: false })
        })
      )
      expect(stderr).toBe('')
      expect(status).toBe(0)
      expect(calls).toEqual([psCall(service), inspectCall(service)])
    }
  )

  const ID_1 = 'a'.repeat(64)
  const ID_2 = `${'0123456789abcdef'.repeat(4)}`
  const byLabel = (): Settings =>
    makeSettings({
      docker: fakeDocker,
      staging: staging({ service: 'web', container: 'web', containerNamed: false })
    })

  test.each<[string, Record<string, string>, string[]]>([
    ['one container found by its label: inspected by id', { PS_OUT: `${ID_1}\n` }, [ID_1]],
    [
      'several containers (scaled, or stopped ones): all inspected, in the order ps printed',
      { PS_OUT: `${ID_2}\n${ID_1}\n` },
      [ID_2, ID_1]
    ],
    ['an answer without a final newline', { PS_OUT: ID_1 }, [ID_1]],
    ['no container with the label: the service name as is', { PS_OUT: '' }, ['web']],
    ['ps prints only blank lines: the service name', { PS_OUT: '\n\n' }, ['web']]
  ])('%s', (_name, env, names) => {
    const { calls, stdout, stderr, status } = dockerCalls(byLabel(), env)
    expect(stdout).toBe('')
    expect(stderr).toBe('')
    expect(status).toBe(0)
    expect(calls).toEqual([psCall('web'), inspectCall(...names)])
  })

  test.each<[string, Record<string, string>, number, string]>([
    [
      'ps fails (daemon down): the step fails with its error and status, nothing is inspected',
      { PS_ERR: 'Cannot connect to the Docker daemon\n', PS_EXIT: '1' },
      1,
      'Cannot connect to the Docker daemon\n'
    ],
    [
      'ps fails with output on both streams: all of it is the answer',
      { PS_OUT: `${ID_1}\n`, PS_ERR: 'Error: permission denied\n', PS_EXIT: '3' },
      3,
      `${ID_1}\nError: permission denied\n`
    ],
    ['ps fails silently: the step still fails, with an empty answer', { PS_EXIT: '125' }, 125, '\n']
  ])('%s', (_name, env, exit, output) => {
    const { calls, stdout, stderr, status } = dockerCalls(byLabel(), env)
    expect(status).toBe(exit)
    expect(stdout).toBe(output)
    expect(stderr).toBe('')
    // Never the bare service name: a missed compose container must not pass as absent.
    expect(calls).toEqual([psCall('web')])
  })

  test('a hung ps is bounded by inspect-timeout on the host and fails the step (124), nothing is inspected', () => {
    const settings = makeSettings({
      ...byLabel(),
      timeouts: { gitMs: 1, inspectMs: 1_000, rebuildMs: 1 }
    })
    const { calls, stdout, stderr, status, ms } = dockerCalls(settings, { PS_SLEEP: '30' })
    expect(status).toBe(124)
    expect(stdout).toBe('\n')
    expect(stderr).toBe('')
    expect(calls).toEqual([psCall('web')])
    expect(ms).toBeLessThan(8_000)
  })

  // KNOWN SRC PROBLEM (reported, src/ not edited): `pg_ids=$(… ps … 2>&1)` takes a warning that
  // a successful ps prints on stderr (rootless podman's `WARN[0000] …`, docker's "Error loading
  // config file") as container ids: the service-named container is then never inspected, and
  // the words all answer "no such object", which check-container auto passes as "no container".
  // Turn this into a plain `test` once planContainerCommand keeps stderr out of the ids.
  test('a warning on the stderr of a successful ps is not taken for container ids', () => {
    const { calls, status } = dockerCalls(byLabel(), {
      PS_ERR:
        'WARN[0000] The cgroupv2 manager is set to systemd but there is no systemd user session\n'
    })
    expect(status).toBe(0)
    expect(calls).toEqual([psCall('web'), inspectCall('web')])
  })

  test.each(['bash', 'sh', 'dash'])(
    'with and without staging-container, parses as a %s script',
    shell => {
      for (const containerNamed of [true, false]) {
        const settings = makeSettings({
          staging: staging({ service: `s ${NASTY}`, container: `c ${NASTY}`, containerNamed })
        })
        const result = spawnSync(shell, ['-n', '-c', planContainerCommand(settings)], {
          encoding: 'utf8'
        })
        expect(result.stderr).toBe('')
        expect(result.status).toBe(0)
      }
    }
  )
})

describe('inspectTarget', () => {
  const IMAGE_ID = `sha256:${IMAGE_HEX}`
  const promote = (imageId: string): Settings['promote'] => ({
    prodImage: 'registry.example.com/shop:prod',
    expectedRevision: '',
    imageId
  })

  test.each<[string, Partial<Settings>, string]>([
    ['rebuild: the staging image', {}, 'registry.example.com/shop:staging'],
    ['verify: the staging image', { mode: 'verify' }, 'registry.example.com/shop:staging'],
    [
      'promote without image-id: the staging tag as it is now',
      { mode: 'promote', promote: promote('') },
      'registry.example.com/shop:staging'
    ],
    [
      'promote with image-id: that exact image, not the tag',
      { mode: 'promote', promote: promote(IMAGE_ID) },
      IMAGE_ID
    ]
  ])('%s', (_name, over, target) => {
    expect(inspectTarget(makeSettings(over))).toBe(target)
  })

  test('planSession inspects the image-id in promote mode, and never the staging tag', () => {
    const settings = makeSettings({ mode: 'promote', hook: '', promote: promote(IMAGE_ID) })
    const lines = planSession(settings, SHA_A, NONCE).split('\n')
    expect(lines.slice(1)).toEqual([
      `${planInspectCommand(settings, IMAGE_ID)} 2>&1`,
      `pg_rc=$?; printf '\\n${MARK} inspect-exit %s\\n' "$pg_rc"`
    ])
    expect(lines.join('\n')).not.toContain('shop:staging')
  })

  test('planSession inspects the staging tag in promote mode without image-id', () => {
    const settings = makeSettings({ mode: 'promote', hook: '', promote: promote('') })
    expect(planSession(settings, SHA_A, NONCE).split('\n')[1]).toBe(
      `${planInspectCommand(settings, 'registry.example.com/shop:staging')} 2>&1`
    )
  })
})

describe('planPromoteSession', () => {
  const IMAGE_ID = `sha256:${IMAGE_HEX}`
  const promote = (over: Partial<Settings> = {}): Settings =>
    makeSettings({
      mode: 'promote',
      hook: '',
      promote: { prodImage: 'registry.example.com/shop:prod', expectedRevision: '', imageId: '' },
      ...over
    })

  test('is the begin marker and the GNU timeout check, the tag by id (stopping on failure), then the prod inspect', () => {
    const settings = promote()
    expect(planPromoteSession(settings, IMAGE_ID, NONCE).split('\n')).toEqual([
      PREFLIGHT,
      `timeout -k 10 45 'docker' tag '${IMAGE_ID}' 'registry.example.com/shop:prod' 2>&1`,
      `pg_rc=$?; printf '\\n${MARK} tag-exit %s\\n' "$pg_rc"; [ "$pg_rc" -eq 0 ] || exit 0`,
      `${planInspectCommand(settings, 'registry.example.com/shop:prod')} 2>&1`,
      `pg_rc=$?; printf '\\n${MARK} inspect-exit %s\\n' "$pg_rc"`
    ])
  })

  test('never names the staging tag: the verified id is what gets the prod tag', () => {
    const script = planPromoteSession(promote(), IMAGE_ID, NONCE)
    expect(script).not.toContain('shop:staging')
    expect(script).not.toContain('--build-staging')
    expect(script).not.toContain('container inspect')
  })

  test('needs promote settings', () => {
    expect(() => planPromoteSession(makeSettings(), IMAGE_ID, NONCE)).toThrow(
      'planPromoteSession needs promote settings'
    )
  })

  test.each(['bash', 'sh', 'dash'])('parses as a %s script', shell => {
    const result = spawnSync(shell, ['-n', '-c', planPromoteSession(promote(), IMAGE_ID, NONCE)], {
      encoding: 'utf8'
    })
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
  })
})

/**
 * A `timeout` that answers `--version` as GNU coreutils' does (exit 0), else checks for
 * `-k 10 <seconds>` and runs the rest of its arguments.
 */
const GNU_TIMEOUT =
  `[ "$1" = --version ] && { echo 'timeout (GNU coreutils) 9.4'; exit 0; }\n` +
  `[ "$1" = -k ] && [ "$2" = 10 ] || exit 125\nshift 3\nexec "$@"\n`
/**
 * busybox's `timeout` (its own process, no process group of the command's to stop): `--version`
 * is an unknown option; otherwise it would run the command like GNU's.
 */
const BUSYBOX_TIMEOUT =
  `[ "$1" = --version ] && { echo "timeout: unrecognized option '--version'" >&2; ` +
  `echo 'BusyBox v1.36.1 (2024-06-10 07:11:47 UTC) multi-call binary.' >&2; exit 1; }\n` +
  `[ "$1" = -k ] && [ "$2" = 10 ] || exit 125\nshift 3\nexec "$@"\n`

/**
 * Fake host tools in a temp dir: `timeout` (GNU-like, or busybox-like in `busybox`) and `docker`
 * log their argv to $CALLS; `timeout` then runs the rest of its arguments, docker prints
 * $DOCKER_OUT, $DOCKER_ERR to stderr and exits $DOCKER_EXIT. The hook prints $HOOK_OUT on stdout
 * and $HOOK_ERR on stderr and exits $HOOK_EXIT.
 */
describe('planSession run by a real shell with fake tools', () => {
  let bins: { tools: string; busybox: string; docker: string; hookDir: string }

  beforeAll(() => {
    const base = path.join(root, 'session')
    bins = {
      tools: path.join(base, 'tools'),
      busybox: path.join(base, 'busybox'),
      docker: path.join(base, 'docker'),
      hookDir: path.join(base, 'hook')
    }
    for (const dir of Object.values(bins)) fs.mkdirSync(dir, { recursive: true })
    const script = (file: string, body: string): void =>
      fs.writeFileSync(file, `#!/bin/sh\n${body}`, { mode: 0o755 })
    const logged = `printf 'timeout' >> "$CALLS"; printf ' %s' "$@" >> "$CALLS"; echo >> "$CALLS"\n`
    script(path.join(bins.tools, 'timeout'), logged + GNU_TIMEOUT)
    script(path.join(bins.busybox, 'timeout'), logged + BUSYBOX_TIMEOUT)
    fs.symlinkSync('/bin/bash', path.join(bins.tools, 'bash'))
    fs.symlinkSync('/bin/bash', path.join(bins.busybox, 'bash'))
    script(
      path.join(bins.docker, 'docker'),
      `printf 'docker' >> "$CALLS"; printf ' %s' "$@" >> "$CALLS"; echo >> "$CALLS"\n` +
        `printf '%s' "$DOCKER_OUT"\nprintf '%s' "$DOCKER_ERR" >&2\nexit "$DOCKER_EXIT"\n`
    )
    fs.writeFileSync(
      path.join(bins.hookDir, 'hook.sh'),
      `echo "hook $1" >> "$CALLS"\nprintf '%s' "$HOOK_OUT"\nprintf '%s' "$HOOK_ERR" >&2\n` +
        `[ -z "$HOOK_SLEEP" ] || sleep "$HOOK_SLEEP"\nexit "$HOOK_EXIT"\n`
    )
  })

  type PathKind = 'fake' | 'no-timeout' | 'busybox' | 'no-docker' | 'real-timeout'
  interface Row {
    name: string
    mode: Settings['mode']
    path: PathKind
    env: Record<string, string>
    stdout: string
    stderr: string
    session: Reported
    calls: string[]
    rebuildMs?: number
    /** What a chatty login shell prints before the session text runs (put in front of it). */
    chatter?: string
  }

  const ok = { DOCKER_OUT: `${ID_JSON} ${LABELS_JSON}\n`, DOCKER_ERR: '', DOCKER_EXIT: '0' }
  const hookOk = { HOOK_OUT: 'building\n', HOOK_ERR: 'step 1/2\n', HOOK_EXIT: '0' }
  const hookCall = 'hook --build-staging'
  /** The session's check for GNU timeout, before anything else runs. */
  const versionCall = 'timeout --version'
  const BEGIN = `${MARK} begin\n`
  const timeoutHook = (s: number): string => `timeout -k 10 ${s} bash -- hook.sh --build-staging`
  const dockerCall = `docker image inspect --format {{json .Id}} {{with .Config}}{{json .Labels}}{{else}}null{{end}} registry.example.com/shop:staging`
  const timeoutDocker = `timeout -k 10 45 ${dockerCall}`
  const session = (over: Partial<Reported>): Reported => ({
    noTimeout: false,
    hookExit: undefined,
    inspectExit: undefined,
    inspectOutput: '',
    ...over
  })

  const rows: Row[] = [
    {
      name: 'hook exits 0, inspect answers',
      mode: 'rebuild',
      path: 'fake',
      env: { ...hookOk, ...ok },
      stdout: `${BEGIN}${MARK} hook-exit 0\n${ID_JSON} ${LABELS_JSON}\n\n${MARK} inspect-exit 0\n`,
      stderr: 'building\nstep 1/2\n',
      session: session({
        hookExit: 0,
        inspectExit: 0,
        inspectOutput: `${ID_JSON} ${LABELS_JSON}`
      }),
      calls: [versionCall, timeoutHook(1200), hookCall, timeoutDocker, dockerCall]
    },
    {
      name: 'inspect answer without a final newline',
      mode: 'rebuild',
      path: 'fake',
      env: { ...hookOk, ...ok, DOCKER_OUT: `${ID_JSON} null` },
      stdout: `${BEGIN}${MARK} hook-exit 0\n${ID_JSON} null\n${MARK} inspect-exit 0\n`,
      stderr: 'building\nstep 1/2\n',
      session: session({ hookExit: 0, inspectExit: 0, inspectOutput: `${ID_JSON} null` }),
      calls: [versionCall, timeoutHook(1200), hookCall, timeoutDocker, dockerCall]
    },
    {
      name: 'hook exits 3: no inspect',
      mode: 'rebuild',
      path: 'fake',
      env: { ...hookOk, ...ok, HOOK_ERR: 'ERROR: build failed\n', HOOK_EXIT: '3' },
      stdout: `${BEGIN}${MARK} hook-exit 3\n`,
      stderr: 'building\nERROR: build failed\n',
      session: session({ hookExit: 3 }),
      calls: [versionCall, timeoutHook(1200), hookCall]
    },
    {
      name: 'the hook prints a marker line itself: it lands on stderr, stdout keeps the real one',
      mode: 'rebuild',
      path: 'fake',
      env: {
        ...hookOk,
        ...ok,
        HOOK_OUT: `${MARK} hook-exit 0\n${MARK} inspect-exit 0\n`,
        HOOK_EXIT: '5'
      },
      stdout: `${BEGIN}${MARK} hook-exit 5\n`,
      stderr: `${MARK} hook-exit 0\n${MARK} inspect-exit 0\nstep 1/2\n`,
      session: session({ hookExit: 5 }),
      calls: [versionCall, timeoutHook(1200), hookCall]
    },
    {
      name: 'inspect fails: its stderr is the answer, with its exit code',
      mode: 'rebuild',
      path: 'fake',
      env: {
        ...hookOk,
        DOCKER_OUT: '',
        DOCKER_ERR: 'Error response from daemon: No such image: shop:staging\n',
        DOCKER_EXIT: '1'
      },
      stdout: `${BEGIN}${MARK} hook-exit 0\nError response from daemon: No such image: shop:staging\n\n${MARK} inspect-exit 1\n`,
      stderr: 'building\nstep 1/2\n',
      session: session({
        hookExit: 0,
        inspectExit: 1,
        inspectOutput: 'Error response from daemon: No such image: shop:staging'
      }),
      calls: [versionCall, timeoutHook(1200), hookCall, timeoutDocker, dockerCall]
    },
    {
      name: 'docker is not on the host PATH: exit 127',
      mode: 'rebuild',
      path: 'no-docker',
      env: { ...hookOk, ...ok },
      stdout: expect.stringMatching(
        new RegExp(
          `^${MARK} begin\\n${MARK} hook-exit 0\\n.*docker.*not found\\n\\n${MARK} inspect-exit 127\\n$`
        )
      ) as unknown as string,
      stderr: 'building\nstep 1/2\n',
      session: expect.objectContaining({
        hookExit: 0,
        inspectExit: 127,
        inspectOutput: expect.stringContaining('not found')
      }) as unknown as Reported,
      calls: [versionCall, timeoutHook(1200), hookCall, timeoutDocker]
    },
    {
      name: 'no timeout on the host: nothing runs',
      mode: 'rebuild',
      path: 'no-timeout',
      env: { ...hookOk, ...ok },
      stdout: `${BEGIN}${MARK} no-timeout\n`,
      stderr: '',
      session: session({ noTimeout: true }),
      calls: []
    },
    {
      name: 'verify mode, no timeout on the host: nothing runs',
      mode: 'verify',
      path: 'no-timeout',
      env: ok,
      stdout: `${BEGIN}${MARK} no-timeout\n`,
      stderr: '',
      session: session({ noTimeout: true }),
      calls: []
    },
    {
      name: 'busybox timeout (no --version) on the host: nothing runs',
      mode: 'rebuild',
      path: 'busybox',
      env: { ...hookOk, ...ok },
      stdout: `${BEGIN}${MARK} no-timeout\n`,
      stderr: '',
      session: session({ noTimeout: true }),
      calls: [versionCall]
    },
    {
      name: 'verify mode, busybox timeout on the host: nothing runs',
      mode: 'verify',
      path: 'busybox',
      env: ok,
      stdout: `${BEGIN}${MARK} no-timeout\n`,
      stderr: '',
      session: session({ noTimeout: true }),
      calls: [versionCall]
    },
    {
      name: 'login-shell chatter before the begin marker is not part of the answer (rebuild)',
      mode: 'rebuild',
      path: 'fake',
      env: { ...hookOk, ...ok },
      chatter: `Welcome to staging\n${ID_JSON} null\n`,
      stdout: `Welcome to staging\n${ID_JSON} null\n${BEGIN}${MARK} hook-exit 0\n${ID_JSON} ${LABELS_JSON}\n\n${MARK} inspect-exit 0\n`,
      stderr: 'building\nstep 1/2\n',
      session: session({
        hookExit: 0,
        inspectExit: 0,
        inspectOutput: `${ID_JSON} ${LABELS_JSON}`
      }),
      calls: [versionCall, timeoutHook(1200), hookCall, timeoutDocker, dockerCall]
    },
    {
      name: 'login-shell chatter before the begin marker is not part of the answer (verify)',
      mode: 'verify',
      path: 'fake',
      env: { ...hookOk, ...ok },
      // Shaped like an answer, with another revision: it must not reach the inspect's output.
      chatter: `Last login: today\n${ID_JSON} {"org.opencontainers.image.revision":"${SHA_B}"}\n`,
      stdout: `Last login: today\n${ID_JSON} {"org.opencontainers.image.revision":"${SHA_B}"}\n${BEGIN}${ID_JSON} ${LABELS_JSON}\n\n${MARK} inspect-exit 0\n`,
      stderr: '',
      session: session({ inspectExit: 0, inspectOutput: `${ID_JSON} ${LABELS_JSON}` }),
      calls: [versionCall, timeoutDocker, dockerCall]
    },
    {
      name: 'login-shell chatter, then no timeout on the host: still no-timeout',
      mode: 'verify',
      path: 'no-timeout',
      env: ok,
      chatter: 'Welcome to staging\n',
      stdout: `Welcome to staging\n${BEGIN}${MARK} no-timeout\n`,
      stderr: '',
      session: session({ noTimeout: true }),
      calls: []
    },
    {
      name: 'verify mode: only the inspect',
      mode: 'verify',
      path: 'fake',
      env: { ...hookOk, ...ok },
      stdout: `${BEGIN}${ID_JSON} ${LABELS_JSON}\n\n${MARK} inspect-exit 0\n`,
      stderr: '',
      session: session({ inspectExit: 0, inspectOutput: `${ID_JSON} ${LABELS_JSON}` }),
      calls: [versionCall, timeoutDocker, dockerCall]
    },
    {
      name: 'real GNU timeout: a hook over rebuild-timeout is stopped on the host (124)',
      mode: 'rebuild',
      path: 'real-timeout',
      env: { ...hookOk, ...ok, HOOK_SLEEP: '5' },
      stdout: `${BEGIN}${MARK} hook-exit 124\n`,
      stderr: 'building\nstep 1/2\n',
      session: session({ hookExit: 124 }),
      calls: [hookCall],
      rebuildMs: 1_000
    },
    {
      name: 'real GNU timeout: hook and inspect pass',
      mode: 'rebuild',
      path: 'real-timeout',
      env: { ...hookOk, ...ok },
      stdout: `${BEGIN}${MARK} hook-exit 0\n${ID_JSON} ${LABELS_JSON}\n\n${MARK} inspect-exit 0\n`,
      stderr: 'building\nstep 1/2\n',
      session: session({
        hookExit: 0,
        inspectExit: 0,
        inspectOutput: `${ID_JSON} ${LABELS_JSON}`
      }),
      calls: [hookCall, dockerCall]
    }
  ]

  /** bash, and the system sh; dash as well when sh is something else (ssh may run either). */
  const shells = [
    ['bash', '/bin/bash'],
    ['sh', '/bin/sh'],
    ['dash', '/usr/bin/dash']
  ].filter(
    ([, file], i, all) =>
      fs.existsSync(file ?? '') &&
      all.findIndex(
        ([, other]) =>
          fs.existsSync(other ?? '') && fs.realpathSync(other ?? '') === fs.realpathSync(file ?? '')
      ) === i
  )

  test.each(
    shells.flatMap(([shell, file]) => rows.map(row => [shell, row.name, file, row] as const))
  )('%s: %s', (_shell, _name, file, row) => {
    const calls = path.join(root, `calls-${Math.random().toString(36).slice(2)}`)
    fs.writeFileSync(calls, '')
    const PATH = {
      fake: `${bins.tools}:${bins.docker}`,
      'no-timeout': bins.docker,
      busybox: `${bins.busybox}:${bins.docker}`,
      'no-docker': bins.tools,
      'real-timeout': `${bins.docker}:/usr/bin:/bin`
    }[row.path]
    const settings = makeSettings({
      mode: row.mode,
      hook: 'hook.sh',
      hookDir: bins.hookDir,
      timeouts: { gitMs: 1, inspectMs: 45_000, rebuildMs: row.rebuildMs ?? 1_200_000 }
    })
    // A login shell's chatter is printed before the session text runs, as `printf` here does.
    const chatter = row.chatter === undefined ? '' : `printf '%s' '${row.chatter}'; `
    const result = spawnSync(file ?? '', ['-c', chatter + planSession(settings, SHA_A, NONCE)], {
      encoding: 'utf8',
      // stdin is /dev/null, as runProcess gives it: on a socket, bash would read ~/.bashrc.
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH, CALLS: calls, HOOK_SLEEP: '', ...row.env }
    })

    expect(result.status).toBe(0)
    expect(result.stdout).toEqual(row.stdout)
    expect(result.stderr).toBe(row.stderr)
    expect(reported(result.stdout, NONCE)).toEqual(row.session)
    const logged = fs.readFileSync(calls, 'utf8').split('\n').filter(Boolean)
    expect(logged.map(line => line.replace(bins.hookDir, '').trim())).toEqual(row.calls)
  })

  test.each(shells)(
    '%s: a missing hook-dir is a failed hook, its error on stderr, no inspect',
    (_shell, file) => {
      const calls = path.join(root, `calls-${Math.random().toString(36).slice(2)}`)
      fs.writeFileSync(calls, '')
      const missing = path.join(root, 'no such dir')
      const settings = makeSettings({ hook: 'hook.sh', hookDir: missing })
      const result = spawnSync(file ?? '', ['-c', planSession(settings, SHA_A, NONCE)], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: `${bins.tools}:${bins.docker}`, CALLS: calls, DOCKER_EXIT: '0' }
      })
      expect(result.status).toBe(0)
      const session = reported(result.stdout, NONCE)
      expect(session.hookExit).toBeGreaterThan(0)
      expect(result.stdout).toBe(`${MARK} begin\n${MARK} hook-exit ${session.hookExit}\n`)
      expect(result.stderr).toContain('no such dir')
      // Only the check for GNU timeout ran: no hook, no docker.
      expect(fs.readFileSync(calls, 'utf8')).toBe('timeout --version\n')
    }
  )

  test.each(shells)(
    '%s: after a timeout, a hook child that ignores SIGTERM is stopped and the session ends',
    async (_shell, file) => {
      const dir = path.join(root, `stubborn-${_shell}`)
      fs.mkdirSync(dir, { recursive: true })
      const survived = path.join(dir, 'survived')
      fs.writeFileSync(
        path.join(dir, 'hook.sh'),
        `echo started >&2\n(trap '' TERM; sleep 2; touch '${survived}') &\nsleep 30\n`
      )
      const settings = makeSettings({
        hook: 'hook.sh',
        hookDir: dir,
        timeouts: { gitMs: 1, inspectMs: 45_000, rebuildMs: 1_000 }
      })
      const started = Date.now()
      const result = spawnSync(file ?? '', ['-c', planSession(settings, SHA_A, NONCE)], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        // Were the child left running, it would hold stderr open and the session would not end.
        timeout: 15_000,
        env: { PATH: `${bins.docker}:/usr/bin:/bin`, CALLS: path.join(dir, 'calls') }
      })
      expect(result.status).toBe(0)
      expect(result.stdout).toBe(`${MARK} begin\n${MARK} hook-exit 124\n`)
      expect(result.stderr).toBe('started\n')
      expect(Date.now() - started).toBeLessThan(1_900)
      await new Promise(resolve => setTimeout(resolve, 2_600 - (Date.now() - started)))
      expect(fs.existsSync(survived)).toBe(false)
    },
    20_000
  )
})

/**
 * The container check and the promotion, run by real shells with fake host tools: `timeout` as
 * above; `docker` logs its argv to $CALLS and answers per subcommand: `image` with $IMAGE_OUT /
 * $IMAGE_EXIT, `ps` with $PS_OUT / $PS_EXIT, `container` with $CONTAINER_OUT / $CONTAINER_EXIT,
 * `tag` with $TAG_OUT / $TAG_EXIT (each output on stdout, or on stderr when the exit status is
 * not 0).
 */
describe('container check and promote sessions run by a real shell with fake tools', () => {
  let bins: { tools: string; busybox: string; docker: string; hookDir: string }
  const IMAGE_ID = `sha256:${IMAGE_HEX}`
  const PROD = 'registry.example.com/shop:prod'
  const BEGIN = `${MARK} begin\n`

  beforeAll(() => {
    const base = path.join(root, 'steps')
    bins = {
      tools: path.join(base, 'tools'),
      busybox: path.join(base, 'busybox'),
      docker: path.join(base, 'docker'),
      hookDir: path.join(base, 'hook')
    }
    for (const dir of Object.values(bins)) fs.mkdirSync(dir, { recursive: true })
    const script = (file: string, body: string): void =>
      fs.writeFileSync(file, `#!/bin/sh\n${body}`, { mode: 0o755 })
    script(path.join(bins.tools, 'timeout'), GNU_TIMEOUT)
    script(path.join(bins.busybox, 'timeout'), BUSYBOX_TIMEOUT)
    fs.symlinkSync('/bin/bash', path.join(bins.tools, 'bash'))
    fs.symlinkSync('/bin/bash', path.join(bins.busybox, 'bash'))
    script(
      path.join(bins.docker, 'docker'),
      `printf 'docker' >> "$CALLS"; printf ' %s' "$@" >> "$CALLS"; echo >> "$CALLS"\n` +
        `case "$1" in image) out=$IMAGE_OUT; rc=$IMAGE_EXIT;; ps) out=$PS_OUT; rc=$PS_EXIT;; container) out=$CONTAINER_OUT; rc=$CONTAINER_EXIT;; tag) out=$TAG_OUT; rc=$TAG_EXIT;; *) exit 99;; esac\n` +
        `if [ "$rc" -eq 0 ]; then printf '%s' "$out"; else printf '%s' "$out" >&2; fi\nexit "$rc"\n`
    )
    fs.writeFileSync(
      path.join(bins.hookDir, 'hook.sh'),
      `echo "hook $1" >> "$CALLS"\necho building >&2\nexit "$HOOK_EXIT"\n`
    )
  })

  const FORMAT = '{{json .Id}} {{with .Config}}{{json .Labels}}{{else}}null{{end}}'
  const inspectCall = (image: string): string => `docker image inspect --format ${FORMAT} ${image}`
  const CONTAINER_FORMAT = '{{json .Name}} {{json .Image}} {{json .State.Running}}'
  const containerCall = (...names: string[]): string =>
    `docker container inspect --format ${CONTAINER_FORMAT} -- ${names.join(' ')}`
  const psCall = 'docker ps -aq --no-trunc --filter label=com.docker.compose.service=staging'
  const tagCall = `docker tag ${IMAGE_ID} ${PROD}`
  const answer = `${ID_JSON} ${LABELS_JSON}`
  const running = `"/shop-staging" ${ID_JSON} true`
  const ID_1 = 'c'.repeat(64)
  const ID_2 = 'd'.repeat(64)
  const fine = {
    HOOK_EXIT: '0',
    IMAGE_OUT: `${answer}\n`,
    IMAGE_EXIT: '0',
    PS_OUT: '',
    PS_EXIT: '0',
    CONTAINER_OUT: `${running}\n`,
    CONTAINER_EXIT: '0',
    TAG_OUT: '',
    TAG_EXIT: '0'
  }
  const none: SessionResult = {
    noTimeout: false,
    hookExit: undefined,
    inspectExit: undefined,
    inspectOutput: '',
    containerExit: undefined,
    containerOutput: '',
    tagExit: undefined,
    tagOutput: ''
  }

  interface Row {
    name: string
    plan: (settings: Settings) => string
    settings: Partial<Settings>
    env: Partial<typeof fine>
    /** No `timeout` on the host at all, or busybox's (no `--version`). */
    timeout?: 'none' | 'busybox'
    stdout: string
    session: Partial<SessionResult>
    calls: string[]
  }

  const check = (settings: Settings): string => planSession(settings, SHA_A, NONCE)
  const promote = (settings: Settings): string => planPromoteSession(settings, IMAGE_ID, NONCE)
  const promoteSettings: Partial<Settings> = {
    mode: 'promote',
    promote: { prodImage: PROD, expectedRevision: '', imageId: '' }
  }
  const byLabel: Partial<Settings> = {
    mode: 'verify',
    containerCheck: 'auto',
    staging: { ...makeSettings().staging, container: 'staging', containerNamed: false }
  }

  const rows: Row[] = [
    {
      name: 'verify with check-container auto: the image, then the container',
      plan: check,
      settings: { mode: 'verify', containerCheck: 'auto' },
      env: {},
      stdout: `${answer}\n\n${MARK} inspect-exit 0\n${running}\n\n${MARK} container-exit 0\n`,
      session: {
        inspectExit: 0,
        inspectOutput: answer,
        containerExit: 0,
        containerOutput: running
      },
      calls: [inspectCall('registry.example.com/shop:staging'), containerCall('shop-staging')]
    },
    {
      name: 'rebuild with check-container auto: hook, image, container',
      plan: check,
      settings: { containerCheck: 'auto' },
      env: {},
      stdout: `${MARK} hook-exit 0\n${answer}\n\n${MARK} inspect-exit 0\n${running}\n\n${MARK} container-exit 0\n`,
      session: {
        hookExit: 0,
        inspectExit: 0,
        inspectOutput: answer,
        containerExit: 0,
        containerOutput: running
      },
      calls: [
        'hook --build-staging',
        inspectCall('registry.example.com/shop:staging'),
        containerCall('shop-staging')
      ]
    },
    {
      name: 'without staging-container: ps by the compose label, then every container it found',
      plan: check,
      settings: byLabel,
      env: {
        PS_OUT: `${ID_1}\n${ID_2}\n`,
        CONTAINER_OUT: `"/proj-staging-1" ${ID_JSON} true\n"/proj-staging-2" ${ID_JSON} false\n`
      },
      stdout: `${answer}\n\n${MARK} inspect-exit 0\n"/proj-staging-1" ${ID_JSON} true\n"/proj-staging-2" ${ID_JSON} false\n\n${MARK} container-exit 0\n`,
      session: {
        inspectExit: 0,
        inspectOutput: answer,
        containerExit: 0,
        containerOutput: `"/proj-staging-1" ${ID_JSON} true\n"/proj-staging-2" ${ID_JSON} false`
      },
      calls: [inspectCall('registry.example.com/shop:staging'), psCall, containerCall(ID_1, ID_2)]
    },
    {
      name: 'without staging-container, no labelled container: the service name is inspected',
      plan: check,
      settings: byLabel,
      env: { CONTAINER_OUT: `"/staging" ${ID_JSON} true\n` },
      stdout: `${answer}\n\n${MARK} inspect-exit 0\n"/staging" ${ID_JSON} true\n\n${MARK} container-exit 0\n`,
      session: {
        inspectExit: 0,
        inspectOutput: answer,
        containerExit: 0,
        containerOutput: `"/staging" ${ID_JSON} true`
      },
      calls: [inspectCall('registry.example.com/shop:staging'), psCall, containerCall('staging')]
    },
    {
      name: "without staging-container, ps fails: its error and status are the step's, the service name is never tried",
      plan: check,
      settings: byLabel,
      env: {
        PS_OUT: 'Error: permission denied\n',
        PS_EXIT: '1',
        CONTAINER_OUT: 'Error response from daemon: No such container: staging\n',
        CONTAINER_EXIT: '1'
      },
      stdout: `${answer}\n\n${MARK} inspect-exit 0\nError: permission denied\n\n${MARK} container-exit 1\n`,
      session: {
        inspectExit: 0,
        inspectOutput: answer,
        containerExit: 1,
        containerOutput: 'Error: permission denied'
      },
      calls: [inspectCall('registry.example.com/shop:staging'), psCall]
    },
    {
      name: 'without staging-container, the host stops a hung ps (124): the step reports 124',
      plan: check,
      settings: byLabel,
      env: { PS_EXIT: '124' },
      stdout: `${answer}\n\n${MARK} inspect-exit 0\n\n\n${MARK} container-exit 124\n`,
      session: {
        inspectExit: 0,
        inspectOutput: answer,
        containerExit: 124,
        containerOutput: ''
      },
      calls: [inspectCall('registry.example.com/shop:staging'), psCall]
    },
    {
      name: 'promote with image-id: that id is inspected, not the staging tag',
      plan: check,
      settings: {
        ...promoteSettings,
        hook: '',
        promote: { prodImage: PROD, expectedRevision: '', imageId: IMAGE_ID }
      },
      env: {},
      stdout: `${answer}\n\n${MARK} inspect-exit 0\n`,
      session: { inspectExit: 0, inspectOutput: answer },
      calls: [inspectCall(IMAGE_ID)]
    },
    {
      name: 'promote without image-id: the staging tag is inspected',
      plan: check,
      settings: { ...promoteSettings, hook: '' },
      env: {},
      stdout: `${answer}\n\n${MARK} inspect-exit 0\n`,
      session: { inspectExit: 0, inspectOutput: answer },
      calls: [inspectCall('registry.example.com/shop:staging')]
    },
    {
      name: 'no such container: its error and status are reported',
      plan: check,
      settings: { mode: 'verify', containerCheck: 'auto' },
      env: {
        CONTAINER_OUT: 'Error response from daemon: No such container: shop-staging\n',
        CONTAINER_EXIT: '1'
      },
      stdout: `${answer}\n\n${MARK} inspect-exit 0\nError response from daemon: No such container: shop-staging\n\n${MARK} container-exit 1\n`,
      session: {
        inspectExit: 0,
        inspectOutput: answer,
        containerExit: 1,
        containerOutput: 'Error response from daemon: No such container: shop-staging'
      },
      calls: [inspectCall('registry.example.com/shop:staging'), containerCall('shop-staging')]
    },
    {
      name: 'a failed image inspect stops before the container check',
      plan: check,
      settings: { mode: 'verify', containerCheck: 'require' },
      env: { IMAGE_OUT: 'Error: No such image\n', IMAGE_EXIT: '1' },
      stdout: `Error: No such image\n\n${MARK} inspect-exit 1\n`,
      session: { inspectExit: 1, inspectOutput: 'Error: No such image' },
      calls: [inspectCall('registry.example.com/shop:staging')]
    },
    {
      name: 'a failed hook stops before both checks',
      plan: check,
      settings: { containerCheck: 'auto' },
      env: { HOOK_EXIT: '4' },
      stdout: `${MARK} hook-exit 4\n`,
      session: { hookExit: 4 },
      calls: ['hook --build-staging']
    },
    {
      name: 'label-source registry with a rebuild: the hook and nothing on docker',
      plan: check,
      settings: { labelSource: 'registry' },
      env: {},
      stdout: `${MARK} hook-exit 0\n`,
      session: { hookExit: 0 },
      calls: ['hook --build-staging']
    },
    {
      name: 'promote: tag by id, then the prod image read back',
      plan: promote,
      settings: promoteSettings,
      env: {},
      stdout: `\n${MARK} tag-exit 0\n${answer}\n\n${MARK} inspect-exit 0\n`,
      session: { tagExit: 0, inspectExit: 0, inspectOutput: answer },
      calls: [tagCall, inspectCall(PROD)]
    },
    {
      name: 'promote: a failed tag stops before the read-back',
      plan: promote,
      settings: promoteSettings,
      env: {
        TAG_OUT: `Error response from daemon: No such image: ${IMAGE_ID}\n`,
        TAG_EXIT: '1'
      },
      stdout: `Error response from daemon: No such image: ${IMAGE_ID}\n\n${MARK} tag-exit 1\n`,
      session: {
        tagExit: 1,
        tagOutput: `Error response from daemon: No such image: ${IMAGE_ID}`
      },
      calls: [tagCall]
    },
    {
      name: 'promote: the read-back fails',
      plan: promote,
      settings: promoteSettings,
      env: { IMAGE_OUT: 'Error: No such image\n', IMAGE_EXIT: '1' },
      stdout: `\n${MARK} tag-exit 0\nError: No such image\n\n${MARK} inspect-exit 1\n`,
      session: { tagExit: 0, inspectExit: 1, inspectOutput: 'Error: No such image' },
      calls: [tagCall, inspectCall(PROD)]
    },
    {
      name: 'promote without timeout on the host: nothing runs',
      plan: promote,
      settings: promoteSettings,
      env: {},
      timeout: 'none',
      stdout: `${MARK} no-timeout\n`,
      session: { noTimeout: true },
      calls: []
    },
    {
      name: 'promote with busybox timeout on the host: nothing runs',
      plan: promote,
      settings: promoteSettings,
      env: {},
      timeout: 'busybox',
      stdout: `${MARK} no-timeout\n`,
      session: { noTimeout: true },
      calls: []
    },
    {
      name: 'the container check with busybox timeout on the host: nothing runs',
      plan: check,
      settings: byLabel,
      env: {},
      timeout: 'busybox',
      stdout: `${MARK} no-timeout\n`,
      session: { noTimeout: true },
      calls: []
    }
  ]

  /** bash, and the system sh (dash on Debian). */
  const shells = [
    ['bash', '/bin/bash'],
    ['sh', '/bin/sh']
  ].filter(([, file]) => fs.existsSync(file ?? ''))

  test.each(
    shells.flatMap(([shell, file]) => rows.map(row => [shell, row.name, file, row] as const))
  )('%s: %s', (_shell, _name, file, row) => {
    const calls = path.join(root, `calls-${Math.random().toString(36).slice(2)}`)
    fs.writeFileSync(calls, '')
    const settings = makeSettings({
      hook: 'hook.sh',
      hookDir: bins.hookDir,
      ...row.settings
    })
    const result = spawnSync(file ?? '', ['-c', row.plan(settings)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: {
          gnu: `${bins.tools}:${bins.docker}`,
          none: bins.docker,
          busybox: `${bins.busybox}:${bins.docker}`
        }[row.timeout ?? 'gnu'],
        CALLS: calls,
        ...fine,
        ...row.env
      }
    })
    expect(result.status).toBe(0)
    // Every session starts with its begin marker, before the check for GNU timeout.
    expect(result.stdout).toBe(`${BEGIN}${row.stdout}`)
    expect(parseSession(result.stdout, NONCE)).toEqual({ ...none, ...row.session })
    const logged = fs.readFileSync(calls, 'utf8').split('\n').filter(Boolean)
    expect(logged.map(line => line.trim())).toEqual(row.calls)
  })
})

describe('parseSession', () => {
  const none: Reported = {
    noTimeout: false,
    hookExit: undefined,
    inspectExit: undefined,
    inspectOutput: ''
  }
  const answer = `${ID_JSON} ${LABELS_JSON}`

  test.each<[string, string, Partial<Reported>]>([
    ['empty output', '', {}],
    ['no-timeout', `${MARK} no-timeout\n`, { noTimeout: true }],
    ['begin, then no-timeout', `${MARK} begin\n${MARK} no-timeout\n`, { noTimeout: true }],
    ['the begin marker alone reports nothing', `${MARK} begin\n`, {}],
    [
      'login-shell chatter before the begin marker is not part of the inspect answer (verify)',
      `Welcome to staging\n${answer}\n${MARK} begin\n${answer}\n\n${MARK} inspect-exit 0\n`,
      { inspectExit: 0, inspectOutput: answer }
    ],
    [
      'login-shell chatter before the begin marker, then the hook and the inspect (rebuild)',
      `motd\n\n${MARK} begin\n${MARK} hook-exit 0\n${answer}\n\n${MARK} inspect-exit 0\n`,
      { hookExit: 0, inspectExit: 0, inspectOutput: answer }
    ],
    [
      'a begin marker with another nonce is text of the answer',
      `provenance-gate-ffffffffffffffff begin\n${answer}\n${MARK} inspect-exit 0\n`,
      { inspectExit: 0, inspectOutput: `provenance-gate-ffffffffffffffff begin\n${answer}` }
    ],
    [
      'hook and inspect, inspect answer with a final newline',
      `${MARK} hook-exit 0\n${answer}\n\n${MARK} inspect-exit 0\n`,
      { hookExit: 0, inspectExit: 0, inspectOutput: answer }
    ],
    [
      'inspect answer without a final newline',
      `${MARK} hook-exit 0\n${answer}\n${MARK} inspect-exit 0\n`,
      { hookExit: 0, inspectExit: 0, inspectOutput: answer }
    ],
    [
      'verify mode: only the inspect',
      `${answer}\n\n${MARK} inspect-exit 0\n`,
      { inspectExit: 0, inspectOutput: answer }
    ],
    [
      'the last marker without its final newline (cut off stream)',
      `${MARK} hook-exit 0\n${answer}\n\n${MARK} inspect-exit 0`,
      { hookExit: 0, inspectExit: 0, inspectOutput: answer }
    ],
    ['hook failed: only its marker', `${MARK} hook-exit 2\n`, { hookExit: 2 }],
    ['hook exit 255', `${MARK} hook-exit 255\n`, { hookExit: 255 }],
    ['hook ok, inspect never reported', `${MARK} hook-exit 0\n${answer}\n`, { hookExit: 0 }],
    [
      'inspect error text, several lines, kept whole',
      `${MARK} hook-exit 0\nError: first\n  detail: second\n\n${MARK} inspect-exit 1\n`,
      { hookExit: 0, inspectExit: 1, inspectOutput: 'Error: first\n  detail: second' }
    ],
    [
      'text before the hook marker (a login banner) is not part of the inspect answer',
      `Welcome to staging\n${MARK} hook-exit 0\n${answer}\n\n${MARK} inspect-exit 0\n`,
      { hookExit: 0, inspectExit: 0, inspectOutput: answer }
    ],
    [
      'text after the inspect marker is ignored',
      `${MARK} hook-exit 0\n${answer}\n\n${MARK} inspect-exit 0\nlogout\n`,
      { hookExit: 0, inspectExit: 0, inspectOutput: answer }
    ],
    [
      'the first inspect marker wins',
      `${answer}\n${MARK} inspect-exit 0\nother\n${MARK} inspect-exit 1\n`,
      { inspectExit: 0, inspectOutput: answer }
    ],
    [
      'markers in reverse order: the hook marker still counts',
      `${MARK} inspect-exit 0\n${MARK} hook-exit 0\n`,
      { hookExit: 0, inspectExit: 0 }
    ],
    [
      'a marker inside a line is text',
      `${MARK} hook-exit 0\nsay ${MARK} inspect-exit 0\n`,
      { hookExit: 0 }
    ],
    [
      'a forged marker with another nonce is text',
      `provenance-gate-ffffffffffffffff hook-exit 0\nprovenance-gate-ffffffffffffffff inspect-exit 0\n`,
      {}
    ],
    [
      'a forged inspect marker with another nonce is part of the answer',
      `${MARK} hook-exit 0\nprovenance-gate-0000 inspect-exit 0\n\n${MARK} inspect-exit 3\n`,
      { hookExit: 0, inspectExit: 3, inspectOutput: 'provenance-gate-0000 inspect-exit 0' }
    ],
    [
      'a longer nonce sharing the prefix is not ours',
      `${MARK}0 hook-exit 0\n${MARK}0 no-timeout\n`,
      {}
    ],
    [
      'the marker word without the nonce is not ours',
      `provenance-gate hook-exit 0\nprovenance-gate- hook-exit 0\n`,
      {}
    ],
    [
      'malformed exit statuses are ignored',
      `${MARK} hook-exit\n${MARK} hook-exit -1\n${MARK} hook-exit 1 2\n${MARK} inspect-exit x\n`,
      {}
    ],
    ['a CR after the status is not a marker', `${MARK} hook-exit 0\r\n`, {}],
    ['an unknown marker word reports nothing', `${MARK} hello\n${answer}\n`, {}],
    [
      'each step reports once: the first hook marker counts',
      `${MARK} hook-exit 0\n${MARK} hook-exit 1\n`,
      { hookExit: 0 }
    ]
  ])('%s', (_name, stdout, expected) => {
    expect(reported(stdout, NONCE)).toEqual({ ...none, ...expected })
  })

  describe('container-exit and tag-exit', () => {
    const all: SessionResult = {
      ...none,
      containerExit: undefined,
      containerOutput: '',
      tagExit: undefined,
      tagOutput: ''
    }
    const running = `"/shop-staging" "sha256:${IMAGE_HEX}" true`
    const two = `"/web-1" "sha256:${IMAGE_HEX}" true\n"/web-2" "sha256:${IMAGE_HEX}" false`

    test.each<[string, string, Partial<SessionResult>]>([
      [
        'inspect, then the container check',
        `${answer}\n\n${MARK} inspect-exit 0\n${running}\n\n${MARK} container-exit 0\n`,
        { inspectExit: 0, inspectOutput: answer, containerExit: 0, containerOutput: running }
      ],
      [
        'hook, inspect and container check',
        `${MARK} hook-exit 0\n${answer}\n${MARK} inspect-exit 0\n${running}\n${MARK} container-exit 0\n`,
        {
          hookExit: 0,
          inspectExit: 0,
          inspectOutput: answer,
          containerExit: 0,
          containerOutput: running
        }
      ],
      [
        'several containers: one line each, kept whole',
        `${answer}\n\n${MARK} inspect-exit 0\n${two}\n\n${MARK} container-exit 0\n`,
        { inspectExit: 0, inspectOutput: answer, containerExit: 0, containerOutput: two }
      ],
      [
        'no such container: its error is its output',
        `${answer}\n\n${MARK} inspect-exit 0\nError: No such container: web\n\n${MARK} container-exit 1\n`,
        {
          inspectExit: 0,
          inspectOutput: answer,
          containerExit: 1,
          containerOutput: 'Error: No such container: web'
        }
      ],
      [
        'the container check never reported',
        `${answer}\n\n${MARK} inspect-exit 0\n${running}\n`,
        { inspectExit: 0, inspectOutput: answer }
      ],
      [
        'the container answer is not mistaken for the inspect answer',
        `${running}\n\n${MARK} container-exit 0\n`,
        { containerExit: 0, containerOutput: running }
      ],
      [
        'the first container marker wins',
        `${running}\n${MARK} container-exit 0\nx\n${MARK} container-exit 1\n`,
        { containerExit: 0, containerOutput: running }
      ],
      [
        'a forged container marker with another nonce is part of the output',
        `provenance-gate-0000 container-exit 0\n${MARK} container-exit 2\n`,
        { containerExit: 2, containerOutput: 'provenance-gate-0000 container-exit 0' }
      ],
      [
        'promote: tag without output, then the prod inspect',
        `\n${MARK} tag-exit 0\n${answer}\n\n${MARK} inspect-exit 0\n`,
        { tagExit: 0, inspectExit: 0, inspectOutput: answer }
      ],
      [
        'promote: the tag failed with an error',
        `Error response from daemon: No such image: sha256:abc\n\n${MARK} tag-exit 1\n`,
        { tagExit: 1, tagOutput: 'Error response from daemon: No such image: sha256:abc' }
      ],
      [
        'promote: the tag reported, the inspect never did',
        `\n${MARK} tag-exit 0\n${answer}\n`,
        { tagExit: 0 }
      ],
      ['the first tag marker wins', `\n${MARK} tag-exit 0\n${MARK} tag-exit 1\n`, { tagExit: 0 }],
      [
        'a CR after the container status is not a marker',
        `${running}\n${MARK} container-exit 0\r\n`,
        {}
      ],
      [
        'malformed container and tag statuses are ignored',
        `${MARK} container-exit\n${MARK} tag-exit -1\n${MARK} container-exit 1 2\n`,
        {}
      ]
    ])('%s', (_name, stdout, expected) => {
      expect(parseSession(stdout, NONCE)).toEqual({ ...all, ...expected })
    })
  })

  test('the nonce is matched literally, not as a pattern', () => {
    expect(parseSession('provenance-gate-.* hook-exit 0\n', '.*').hookExit).toBe(0)
    expect(parseSession('provenance-gate-ab hook-exit 0\n', '.*').hookExit).toBeUndefined()
  })
})

describe('parseInspectOutput', () => {
  const id = `sha256:${IMAGE_HEX}`
  const rev = 'org.opencontainers.image.revision'
  test.each<[string, string, InspectResult | undefined]>([
    [
      'docker output with labels',
      `${ID_JSON} ${LABELS_JSON}\n`,
      { imageId: id, labels: { [rev]: SHA_A, maintainer: 'ops team' } }
    ],
    [
      'without a final newline',
      `${ID_JSON} {"${rev}":"${SHA_A}"}`,
      { imageId: id, labels: { [rev]: SHA_A } }
    ],
    [
      'CRLF line end',
      `${ID_JSON} {"${rev}":"${SHA_A}"}\r\n`,
      { imageId: id, labels: { [rev]: SHA_A } }
    ],
    ['an image without labels (null)', `${ID_JSON} null\n`, { imageId: id, labels: {} }],
    ['an empty label map', `${ID_JSON} {}\n`, { imageId: id, labels: {} }],
    ['more space between the two', `${ID_JSON}   null  \n`, { imageId: id, labels: {} }],
    [
      'podman id without the sha256: prefix',
      `"${IMAGE_HEX}" {"${rev}":"${SHA_A}"}\n`,
      { imageId: id, labels: { [rev]: SHA_A } }
    ],
    ['podman id, no labels', `"${IMAGE_HEX}" null\n`, { imageId: id, labels: {} }],
    [
      'a label value with spaces is kept whole',
      `${ID_JSON} {"${rev}":"built from main"}\n`,
      { imageId: id, labels: { [rev]: 'built from main' } }
    ],
    [
      'JSON-escaped newline and whitespace arrive unescaped, untrimmed',
      `${ID_JSON} {"${rev}":" ${SHA_A}\\n","b":"x\\ty"}\n`,
      { imageId: id, labels: { [rev]: ` ${SHA_A}\n`, b: 'x\ty' } }
    ],
    [
      'escaped quotes and unicode',
      `${ID_JSON} {"q":"say \\"hi\\" \\u00e9 日本","k with space":"v"}\n`,
      { imageId: id, labels: { q: 'say "hi" é 日本', 'k with space': 'v' } }
    ],
    [
      '<no value> is kept as the label text',
      `${ID_JSON} {"${rev}":"<no value>"}\n`,
      { imageId: id, labels: { [rev]: '<no value>' } }
    ],
    [
      'non-string label values are dropped',
      `${ID_JSON} {"n":1,"z":null,"t":true,"o":{"a":"b"},"a":["c"],"${rev}":"${SHA_A}"}\n`,
      { imageId: id, labels: { [rev]: SHA_A } }
    ],
    [
      'a __proto__ key is dropped, not turned into a prototype',
      `${ID_JSON} {"__proto__":"x","${rev}":"${SHA_A}"}\n`,
      { imageId: id, labels: { [rev]: SHA_A } }
    ],
    ['no space at all', `${ID_JSON}\n`, undefined],
    ['empty output', '', undefined],
    ['only a newline', '\n', undefined],
    ['garbage', 'Error: No such image: app:staging\n', undefined],
    ['the old format (bare id and label)', `${id} ${SHA_A}\n`, undefined],
    ['bare id with JSON labels', `${id} null\n`, undefined],
    ['labels not JSON', `${ID_JSON} ${SHA_A}\n`, undefined],
    ['labels cut off', `${ID_JSON} {"${rev}":"${SHA_A}\n`, undefined],
    ['labels an array', `${ID_JSON} ["${SHA_A}"]\n`, undefined],
    ['labels a string', `${ID_JSON} "${SHA_A}"\n`, undefined],
    ['labels a number', `${ID_JSON} 42\n`, undefined],
    ['labels followed by more JSON', `${ID_JSON} {} {}\n`, undefined],
    ['id a number', `42 {}\n`, undefined],
    ['id null', `null {}\n`, undefined],
    ['id too short', `"sha256:${IMAGE_HEX.slice(1)}" null\n`, undefined],
    ['id in upper case', `"sha256:${IMAGE_HEX.toUpperCase()}" null\n`, undefined],
    ['other digest algorithm', `"sha512:${IMAGE_HEX}" null\n`, undefined],
    ['id with a space inside its JSON', `"sha256: ${IMAGE_HEX}" null\n`, undefined],
    ['leading space', ` ${ID_JSON} null\n`, undefined],
    ['two lines', `${ID_JSON} null\n${ID_JSON} null\n`, undefined],
    ['an extra blank line', `${ID_JSON} null\n\n`, undefined],
    ['a warning before the answer', `WARNING: x\n${ID_JSON} null\n`, undefined],
    ['template not expanded', '{{json .Id}} {{json .Labels}}\n', undefined]
  ])('%s', (_name, output, expected) => {
    const parsed = parseInspectOutput(output)
    expect(parsed).toEqual(expected)
    if (parsed) expect(Object.getPrototypeOf(parsed.labels)).toBe(Object.prototype)
  })
})

describe('parseContainerOutput', () => {
  const id = `sha256:${IMAGE_HEX}`
  const other = `sha256:${'b'.repeat(64)}`
  const c = (name: string, imageId: string, running: boolean): ContainerState => ({
    name,
    imageId,
    running
  })
  test.each<[string, string, ContainerState[] | undefined]>([
    [
      'docker: one running container',
      `"/shop-staging" "${id}" true\n`,
      [c('shop-staging', id, true)]
    ],
    ['a stopped container', `"/shop-staging" "${id}" false\n`, [c('shop-staging', id, false)]],
    ['without a final newline', `"/shop-staging" "${id}" true`, [c('shop-staging', id, true)]],
    [
      'CRLF line ends',
      `"/a" "${id}" true\r\n"/b" "${other}" false\r\n`,
      [c('a', id, true), c('b', other, false)]
    ],
    [
      'several containers, in the host order',
      `"/proj-web-2" "${other}" true\n"/proj-web-1" "${id}" false\n`,
      [c('proj-web-2', other, true), c('proj-web-1', id, false)]
    ],
    [
      'blank lines between are skipped',
      `\n"/a" "${id}" true\n\n"/b" "${id}" true\n\n`,
      [c('a', id, true), c('b', id, true)]
    ],
    [
      'podman: name without /, id without sha256:',
      `"shop-staging" "${IMAGE_HEX}" true\n`,
      [c('shop-staging', id, true)]
    ],
    ['only one leading / is dropped', `"//x" "${id}" true\n`, [c('/x', id, true)]],
    ['a / inside the name is kept', `"/a/b" "${id}" true\n`, [c('a/b', id, true)]],
    [
      'JSON escapes in the name are decoded',
      `"/we\\"ird\\u00e9 \\\\ x" "${id}" true\n`,
      [c('we"irdé \\ x', id, true)]
    ],
    ['an empty name is a name', `"" "${id}" true\n`, [c('', id, true)]],
    ['empty output', '', undefined],
    ['only newlines', '\n\n', undefined],
    ['the old format (bare image id)', `"${id}"\n`, undefined],
    ['docker error text', 'Error response from daemon: No such container: web\n', undefined],
    [
      'one good line and an error line: nothing is trusted',
      `"/a" "${id}" true\nError: No such container: b\n`,
      undefined
    ],
    ['running not a boolean', `"/a" "${id}" "true"\n`, undefined],
    ['running in upper case', `"/a" "${id}" True\n`, undefined],
    ['running missing', `"/a" "${id}"\n`, undefined],
    ['running null (no State)', `"/a" "${id}" null\n`, undefined],
    ['two spaces between fields', `"/a"  "${id}" true\n`, undefined],
    ['a trailing space', `"/a" "${id}" true \n`, undefined],
    ['a leading space', ` "/a" "${id}" true\n`, undefined],
    ['fields in another order', `"${id}" "/a" true\n`, undefined],
    ['name not a string', `42 "${id}" true\n`, undefined],
    ['name unquoted', `/a "${id}" true\n`, undefined],
    ['image id too short', `"/a" "sha256:${IMAGE_HEX.slice(1)}" true\n`, undefined],
    ['image id in upper case', `"/a" "sha256:${IMAGE_HEX.toUpperCase()}" true\n`, undefined],
    ['other digest algorithm', `"/a" "sha512:${IMAGE_HEX}" true\n`, undefined],
    ['an image reference, not an id', `"/a" "registry.example.com/shop:staging" true\n`, undefined],
    ['image null', `"/a" null true\n`, undefined],
    ['an invalid JSON escape in the name', `"/a\\x" "${id}" true\n`, undefined],
    ['template not expanded', '{{json .Name}} {{json .Image}} {{json .State.Running}}\n', undefined]
  ])('%s', (_name, output, expected) => {
    expect(parseContainerOutput(output)).toEqual(expected)
  })
})

describe('revisionOf', () => {
  const inspected = (labels: Record<string, string>): InspectResult => ({
    imageId: `sha256:${IMAGE_HEX}`,
    labels
  })
  const rev = 'org.opencontainers.image.revision'

  test.each<[string, Record<string, string>, string, string]>([
    ['the label is present', { [rev]: SHA_A, other: SHA_B }, rev, SHA_A],
    ['another label key', { [rev]: SHA_A, 'vcs-ref': SHA_B }, 'vcs-ref', SHA_B],
    ['the label is absent', { other: SHA_A }, rev, ''],
    ['no labels at all', {}, rev, ''],
    ['the label is empty', { [rev]: '' }, rev, ''],
    ['the <no value> placeholder', { [rev]: '<no value>' }, rev, ''],
    ['<no value> with spaces is a value', { [rev]: ' <no value>' }, rev, ' <no value>'],
    ['whitespace is kept for the verdict to see', { [rev]: `${SHA_A}\n` }, rev, `${SHA_A}\n`],
    ['keys are case-sensitive', { [rev.toUpperCase()]: SHA_A }, rev, ''],
    ['an inherited name is not a label', {}, 'constructor', ''],
    ['toString is not a label', {}, 'toString', '']
  ])('%s', (_name, labels, label, expected) => {
    expect(revisionOf(inspected(labels), label)).toBe(expected)
  })
})
