/**
 * The session protocol, tested by running the planned scripts in real shells: `bash -s` and
 * `dash -s` read the script on stdin as the host's `sh -s` does, with fake `docker` and hooks in
 * a temporary directory on PATH and real git, GNU timeout, ps, tar. What the shell printed on
 * stdout is read back with `parseSession`, the gate's own parser.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import {
  ArchiveFramer,
  cdOperand,
  describeHookCommand,
  hookEnvironment,
  parseContextReport,
  parseSession,
  planCancelSession,
  planGateSession,
  planPromoteSession,
  SESSION_COMMAND,
  type ContextReport,
  type SessionAnswer,
  type SessionIds
} from '../../src/session/protocol.js'
import type { Settings } from '../../src/settings.js'
import {
  IMAGE_HEX,
  makeRebuildSettings,
  makeSettings,
  SHA_A,
  type SettingsOverrides
} from '../support/fixtures.js'

const SHELLS = ['bash', 'dash'] as const
type Shell = (typeof SHELLS)[number]
/** Absolute, so a test may give the shell a PATH without it. */
const SHELL_PATH: Record<Shell, string> = { bash: '/usr/bin/bash', dash: '/usr/bin/dash' }

let root: string
/** Fake tools (docker), first on PATH. */
let bin: string
/** A PATH with the fake tools and the system's, GNU timeout included. */
let PATH: string

/** A fake docker: records its argv (NUL-separated) and answers from its environment. */
const FAKE_DOCKER = `#!/bin/bash
{ printf '%s\\0' "$#" "$@"; } >> "$PG_T/docker-calls"
cat >> "$PG_T/docker-stdin"
case "$1 $2" in
  'image inspect')
    echo 'docker: some warning on stderr' >&2
    [ -z "$INSPECT_EXIT" ] || { echo 'Error: No such image' >&2; exit "$INSPECT_EXIT"; }
    if [ -n "\${INSPECT_OUT+set}" ]; then printf '%s\\n' "$INSPECT_OUT"; else echo '[{"Id":"x"}]'; fi ;;
  'ps -aq') printf '%s' "$PS_LABEL_OUT"; exit "\${PS_EXIT:-0}" ;;
  'ps -a') printf '%s' "$PS_NAMES_OUT"; exit "\${PS_EXIT:-0}" ;;
  'container inspect') shift 3; printf 'inspected %s\\n' "$*" ;;
  tag*) ;;
  *) echo "fake docker: unknown call $*" >&2; exit 99 ;;
esac
`

/** A hook that records what it got (cwd, argv, env -0, stdin, process list) under $PG_T/hook. */
const RECORDING_HOOK = `set -u
d="$PG_T/hook"; mkdir -p "$d"
pwd > "$d/cwd"
printf '%s\\0' "$0" "$@" > "$d/argv"
env -0 > "$d/env"
readlink /proc/self/fd/0 > "$d/stdin-is"
cat > "$d/stdin"
ps -e -o pid= -o args= > "$d/ps"
cat "/proc/$$/cmdline" "/proc/$PPID/cmdline" > "$d/cmdlines"
echo "hook stdout"
echo "hook stderr" >&2
exit "\${HOOK_EXIT:-0}"
`

beforeAll(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pg-proto-')))
  bin = path.join(root, 'bin')
  fs.mkdirSync(bin)
  fs.writeFileSync(path.join(bin, 'docker'), FAKE_DOCKER, { mode: 0o755 })
  PATH = `${bin}:/usr/local/bin:/usr/bin:/bin`
})

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true })
})

/** A fresh directory for one test: $PG_T for the fakes, also its TMPDIR and HOME. */
function scratch(): string {
  const dir = fs.mkdtempSync(path.join(root, 't-'))
  fs.mkdirSync(path.join(dir, 'tmp'))
  return dir
}

function ids(): SessionIds {
  return { nonce: randomBytes(8).toString('hex'), runId: randomBytes(8).toString('hex') }
}

interface Ran {
  stdout: string
  stderr: string
  status: number | null
  ms: number
  answer: SessionAnswer
}

interface RunOptions {
  env?: Record<string, string>
  cwd?: string
  /** Printed by the "login shell" before it runs `sh -s`, as a banner or a profile would. */
  banner?: string
  /** What follows the script on stdin; sent once the begin line came, unless `together`. */
  payload?: Buffer
  together?: boolean
  timeoutMs?: number
}

/** Runs `<shell> -s` with the script (and a payload) on stdin, the way ssh hands it over. */
function runScript(
  shell: Shell,
  script: string,
  t: string,
  nonce: string,
  options: RunOptions = {}
): Promise<Ran> {
  const env = {
    PATH,
    HOME: t,
    TMPDIR: path.join(t, 'tmp'),
    LC_ALL: 'C.UTF-8',
    PG_T: t,
    ...options.env
  }
  const [command, args] =
    options.banner === undefined
      ? [SHELL_PATH[shell], ['-s']]
      : [SHELL_PATH.bash, ['-c', `printf %s "$PG_BANNER"; exec ${SHELL_PATH[shell]} -s`]]
  const started = Date.now()
  const child: ChildProcess = spawn(command, args, {
    cwd: options.cwd ?? t,
    env: options.banner === undefined ? env : { ...env, PG_BANNER: options.banner },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  const out: Buffer[] = []
  const err: Buffer[] = []
  const begin = `provenance-gate-${nonce} begin\n`
  let sent = false
  const stdin = child.stdin!
  stdin.on('error', () => undefined)
  if (options.payload && options.together) {
    stdin.end(Buffer.concat([Buffer.from(script), options.payload]))
    sent = true
  } else {
    stdin.write(script)
    if (!options.payload) stdin.end()
  }
  child.stdout!.on('data', (chunk: Buffer) => {
    out.push(chunk)
    if (!sent && options.payload && Buffer.concat(out).toString('latin1').includes(begin)) {
      sent = true
      stdin.end(options.payload)
    }
  })
  child.stderr!.on('data', (chunk: Buffer) => err.push(chunk))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${shell} -s did not end within ${options.timeoutMs ?? 20_000} ms`))
    }, options.timeoutMs ?? 20_000)
    child.once('error', reject)
    child.once('close', status => {
      clearTimeout(timer)
      const stdout = Buffer.concat(out).toString('utf8')
      resolve({
        stdout,
        stderr: Buffer.concat(err).toString('utf8'),
        status,
        ms: Date.now() - started,
        answer: parseSession(stdout, nonce)
      })
    })
  })
}

/** Settings that run only what a test names: no context check, no inspect, no container check. */
function quiet(overrides: SettingsOverrides = {}): Settings {
  const base = makeSettings({
    hookDir: '',
    buildContext: '',
    labelSource: 'registry',
    containerCheck: 'skip'
  })
  return { ...base, context: { ...base.context, check: 'skip' }, ...overrides } as Settings
}

function writeHook(t: string, body: string, name = 'hook.sh'): string {
  const file = path.join(t, name)
  fs.writeFileSync(file, body)
  return file
}

function dockerCalls(t: string): string[][] {
  const file = path.join(t, 'docker-calls')
  if (!fs.existsSync(file)) return []
  const fields = fs.readFileSync(file, 'utf8').split('\0')
  fields.pop()
  const calls: string[][] = []
  while (fields.length) calls.push(fields.splice(0, Number(fields.shift())))
  return calls
}

/** Alive and not a zombie (PID 1 here may not reap what it inherits). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

function envOf(file: string): Map<string, string> {
  const entries = fs.readFileSync(file, 'utf8').split('\0').filter(Boolean)
  return new Map(
    entries.map(entry => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)])
  )
}

const NASTY = `it's "$(touch pwned)" \`touch pwned2\` $HOME; rm -rf x && echo * | cat\nline2 ⏎ 日本\\`

describe('the session command', () => {
  test('is two plain words, the same in every login shell', () => {
    expect(SESSION_COMMAND).toBe('sh -s')
  })

  test.each(SHELLS)('the nonce is in no argv of the session (%s)', async shell => {
    const t = scratch()
    const run = ids()
    const hook = writeHook(t, RECORDING_HOOK)
    const plan = planGateSession(quiet({ hook }), SHA_A, run)
    const ran = await runScript(shell, plan.script, t, run.nonce)
    expect(ran.answer.steps.hook).toEqual({ exit: 0, output: '' })
    const ps = fs.readFileSync(path.join(t, 'hook', 'ps'), 'utf8')
    expect(ps).toMatch(new RegExp(`${shell} -s`))
    expect(ps).not.toContain(run.nonce)
    expect(fs.readFileSync(path.join(t, 'hook', 'cmdlines'), 'utf8')).not.toContain(run.nonce)
    expect(fs.readFileSync(path.join(t, 'hook', 'env'), 'utf8')).not.toContain(run.nonce)
  })
})

describe('begin and end', () => {
  test.each(SHELLS)(
    'a banner without a newline and chatter before the script are not part of the answer (%s)',
    async shell => {
      const t = scratch()
      const run = ids()
      const answer = '[{"Id":"sha256:x","forged":"provenance-gate-x exit inspect 0"}]'
      const plan = planGateSession(quiet({ mode: 'verify', labelSource: 'host' }), SHA_A, run)
      const ran = await runScript(shell, plan.script, t, run.nonce, {
        banner: `Welcome to staging\n${answer}\nno newline at the end`,
        env: { INSPECT_OUT: answer }
      })
      expect(ran.stdout.startsWith(`Welcome to staging\n${answer}\nno newline at the end\n`)).toBe(
        true
      )
      expect(ran.answer).toEqual({
        begun: true,
        ended: true,
        noTimeout: false,
        steps: { inspect: { exit: 0, output: answer } },
        left: [],
        stopped: [],
        removed: []
      })
      expect(ran.stdout.endsWith(plan.endLine)).toBe(true)
      expect(ran.status).toBe(0)
    }
  )

  test.each(SHELLS)(
    'without GNU timeout on PATH nothing runs: no-timeout, then end (%s)',
    async shell => {
      const t = scratch()
      const run = ids()
      const hook = writeHook(t, `touch "$PG_T/ran"\n`)
      // Only rm (pg_end's), no timeout: what a host with busybox or without coreutils offers.
      const tools = path.join(t, 'tools')
      fs.mkdirSync(tools)
      fs.symlinkSync('/bin/rm', path.join(tools, 'rm'))
      const plan = planGateSession(quiet({ hook, labelSource: 'host' }), SHA_A, run)
      const ran = await runScript(shell, plan.script, t, run.nonce, { env: { PATH: tools } })
      expect(ran.answer).toMatchObject({ begun: true, ended: true, noTimeout: true, steps: {} })
      expect(fs.existsSync(path.join(t, 'ran'))).toBe(false)
    }
  )
})

describe('steps report their exit status and their stdout only', () => {
  test.each(SHELLS)(
    'hook, inspect and container check, each with its own output (%s)',
    async shell => {
      const t = scratch()
      const run = ids()
      const hook = writeHook(t, RECORDING_HOOK)
      const settings = quiet({ hook, labelSource: 'host', containerCheck: 'auto' })
      const ran = await runScript(
        shell,
        planGateSession(settings, SHA_A, run).script,
        t,
        run.nonce,
        {
          env: { INSPECT_OUT: 'the image json', PS_NAMES_OUT: `${IMAGE_HEX} shop-staging\n` }
        }
      )
      expect(ran.answer.steps).toEqual({
        hook: { exit: 0, output: '' },
        inspect: { exit: 0, output: 'the image json' },
        container: { exit: 0, output: `inspected ${IMAGE_HEX}` }
      })
      // What the hook and docker printed on stderr, and the hook's stdout, are shown, never parsed.
      expect(ran.stderr).toContain('hook stdout\nhook stderr\n')
      expect(ran.stderr).toContain('docker: some warning on stderr')
      expect(ran.stdout).not.toContain('hook stdout')
      expect(ran.stdout).not.toContain('warning')
    }
  )

  test.each<[Shell, string, Record<string, string>, SessionAnswer['steps']]>([
    [
      'bash',
      'a failed hook ends the session',
      { HOOK_EXIT: '7' },
      { hook: { exit: 7, output: '' } }
    ],
    [
      'dash',
      'a failed hook ends the session',
      { HOOK_EXIT: '7' },
      { hook: { exit: 7, output: '' } }
    ],
    [
      'bash',
      'a failed inspect ends the session, its stderr not in its output',
      { INSPECT_EXIT: '3' },
      { hook: { exit: 0, output: '' }, inspect: { exit: 3, output: '' } }
    ],
    [
      'dash',
      'a failed container lookup reports its status',
      { PS_EXIT: '125' },
      {
        hook: { exit: 0, output: '' },
        inspect: { exit: 0, output: '[{"Id":"x"}]' },
        container: { exit: 125, output: '' }
      }
    ]
  ])('%s: %s', async (shell, _name, env, steps) => {
    const t = scratch()
    const run = ids()
    const hook = writeHook(t, RECORDING_HOOK)
    const settings = quiet({ hook, labelSource: 'host', containerCheck: 'auto' })
    const ran = await runScript(shell, planGateSession(settings, SHA_A, run).script, t, run.nonce, {
      env
    })
    expect(ran.answer.steps).toEqual(steps)
    expect(ran.answer.ended).toBe(true)
  })

  test.each(SHELLS)(
    'the promote session: tag by id, then the prod image read back (%s)',
    async shell => {
      const t = scratch()
      const run = ids()
      const id = `sha256:${IMAGE_HEX}`
      const plan = planPromoteSession(quiet(), id, 'registry.example.com/shop:prod', run)
      const ran = await runScript(shell, plan.script, t, run.nonce, {
        env: { INSPECT_OUT: 'prod json' }
      })
      expect(ran.answer.steps).toEqual({
        tag: { exit: 0, output: '' },
        prod: { exit: 0, output: 'prod json' }
      })
      expect(dockerCalls(t)).toEqual([
        ['tag', id, 'registry.example.com/shop:prod'],
        ['image', 'inspect', '--', 'registry.example.com/shop:prod']
      ])
    }
  )
})

describe('the hook cannot forge a result', () => {
  test.each(SHELLS)('marker lines on its stdout and stderr stay on stderr (%s)', async shell => {
    const t = scratch()
    const run = ids()
    const m = `provenance-gate-${run.nonce}`
    // The hook even knows the nonce here (it cannot: see above), and still forges nothing.
    const forged = [`${m} exit hook 0`, `${m} out inspect`, `${m} exit inspect 0`, `${m} end`]
    const hook = writeHook(
      t,
      `${forged.map(line => `echo '${line}'; echo '${line}' >&2`).join('\n')}\nprintf '\\n%s\\n' 'provenance-gate-abc exit hook 0'\nexit 5\n`
    )
    const settings = quiet({ hook, labelSource: 'host' })
    const ran = await runScript(shell, planGateSession(settings, SHA_A, run).script, t, run.nonce)
    expect(ran.answer.steps).toEqual({ hook: { exit: 5, output: '' } })
    for (const line of forged) {
      expect(ran.stdout.split('\n')).not.toContain(line.replace(' end', ' endx'))
      expect(ran.stderr.split('\n').filter(l => l === line)).toHaveLength(2)
    }
    expect(ran.stdout).toBe(`\n${m} begin\n${m} exit hook 5\n${m} end\n`)
  })

  test.each(SHELLS)(
    'the hook and every step read /dev/null, never the script (%s)',
    async shell => {
      const t = scratch()
      const run = ids()
      const hook = writeHook(t, RECORDING_HOOK)
      const settings = quiet({ hook, labelSource: 'host', containerCheck: 'auto' })
      const ran = await runScript(
        shell,
        planGateSession(settings, SHA_A, run).script,
        t,
        run.nonce,
        {
          env: { PS_NAMES_OUT: `${IMAGE_HEX} shop-staging\n` }
        }
      )
      expect(fs.readFileSync(path.join(t, 'hook', 'stdin-is'), 'utf8')).toBe('/dev/null\n')
      expect(fs.readFileSync(path.join(t, 'hook', 'stdin'), 'utf8')).toBe('')
      expect(fs.readFileSync(path.join(t, 'docker-stdin'), 'utf8')).toBe('')
      // Every step after the hook still ran: the `cat`s ate nothing of the script.
      expect(Object.keys(ran.answer.steps)).toEqual(['hook', 'inspect', 'container'])
      expect(dockerCalls(t)).toHaveLength(3)
    }
  )

  test.each(SHELLS)(
    'a process the hook leaves holding stdout and stderr is named and stopped; end comes at once (%s)',
    async shell => {
      const t = scratch()
      const run = ids()
      const hook = writeHook(t, `sleep 301 &\necho "$!" > "$PG_T/left.pid"\necho started\n`)
      const ran = await runScript(
        shell,
        planGateSession(quiet({ hook }), SHA_A, run).script,
        t,
        run.nonce
      )
      const pid = Number(fs.readFileSync(path.join(t, 'left.pid'), 'utf8'))
      expect(ran.answer.ended).toBe(true)
      expect(ran.answer.steps.hook).toEqual({ exit: 0, output: '' })
      expect(ran.answer.left).toEqual([`${pid} sleep 301`])
      expect(ran.ms).toBeLessThan(5_000)
      expect(alive(pid)).toBe(false)
    }
  )

  test('the host-side bound stops a hung hook and its group (exit 124)', async () => {
    const t = scratch()
    const run = ids()
    const hook = writeHook(t, `(sleep 3; touch "$PG_T/survived") & sleep 30\n`)
    const settings = quiet({ hook, timeouts: { gitMs: 1, inspectMs: 1, rebuildMs: 1_000 } })
    const ran = await runScript('dash', planGateSession(settings, SHA_A, run).script, t, run.nonce)
    expect(ran.answer.steps.hook).toEqual({ exit: 124, output: '' })
    expect(ran.ms).toBeLessThan(2_500)
    await new Promise(resolve => setTimeout(resolve, 3_500 - ran.ms))
    expect(fs.existsSync(path.join(t, 'survived'))).toBe(false)
  })
})

describe('values reach the hook byte for byte (hookEnvironment through the real shell)', () => {
  /** A hook dir whose name needs quoting, and a relative hook path inside it. */
  const cases: [string, SettingsOverrides, string][] = [
    ['plain values', {}, SHA_A],
    [
      'quotes, $(), backticks, newlines, unicode',
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
        staging: { service: '', port: '', composeProfile: '', container: '', containerNamed: false }
      },
      ''
    ]
  ]
  test.each(SHELLS.flatMap(shell => cases.map(c => [shell, ...c] as const)))(
    '%s: %s',
    async (shell, _name, overrides, revision) => {
      const t = scratch()
      const run = ids()
      const hookDir = path.join(t, "hook dir $(touch pwned) 'q' `x` ;&")
      fs.mkdirSync(path.join(hookDir, 'hooks'), { recursive: true })
      fs.writeFileSync(path.join(hookDir, 'hooks', 'deploy hook.sh'), RECORDING_HOOK)
      const settings = quiet({ hook: 'hooks/deploy hook.sh', hookDir, ...overrides })
      const ran = await runScript(
        shell,
        planGateSession(settings, revision, run).script,
        t,
        run.nonce,
        {
          // Values already in the shell's environment must not leak through to the hook.
          env: { GIT_SHA: 'from-parent', TARGET_PORT: 'from-parent', STAGING_CONTAINER: 'x' }
        }
      )
      expect(ran.answer.steps.hook).toEqual({ exit: 0, output: '' })
      const record = path.join(t, 'hook')
      expect(fs.readFileSync(path.join(record, 'cwd'), 'utf8')).toBe(`${hookDir}\n`)
      expect(fs.readFileSync(path.join(record, 'argv'), 'utf8')).toBe(
        'hooks/deploy hook.sh\0--build-staging\0'
      )
      const env = envOf(path.join(record, 'env'))
      const wanted = {
        GIT_SHA: revision,
        BUILD_CONTEXT: settings.buildContext,
        TARGET_IMAGE: settings.image,
        TARGET_SERVICE: settings.staging.service,
        TARGET_PORT: settings.staging.port,
        COMPOSE_PROFILE: settings.staging.composeProfile,
        STAGING_CONTAINER: settings.staging.container
      }
      for (const [name, value] of Object.entries(wanted))
        expect([name, env.get(name)]).toEqual([name, value])
      expect(env.has('BUILD_CONTEXT_SOURCE')).toBe(false)
      expect(env.has('SYNC_CONTEXT')).toBe(false)
      expect([...env.keys()].filter(name => name.startsWith('pg_'))).toEqual([])
      // Nothing in any value was executed.
      expect(fs.readdirSync(hookDir)).toEqual(['hooks'])
      expect(fs.readdirSync(t).filter(name => name.startsWith('pwned'))).toEqual([])
    }
  )

  test('the variables in the documented order; the upload and sync ones only when set', () => {
    const settings = makeSettings()
    expect(hookEnvironment(settings, SHA_A).map(([name]) => name)).toEqual([
      'GIT_SHA',
      'BUILD_CONTEXT',
      'TARGET_IMAGE',
      'TARGET_SERVICE',
      'TARGET_PORT',
      'COMPOSE_PROFILE',
      'STAGING_CONTAINER'
    ])
    const synced = { ...settings, context: { ...settings.context, sync: true } }
    expect(hookEnvironment(synced, SHA_A, true).slice(7)).toEqual([
      ['BUILD_CONTEXT_SOURCE', 'git-archive'],
      ['SYNC_CONTEXT', '1']
    ])
    expect(hookEnvironment(synced, SHA_A, true)[1]).toEqual(['BUILD_CONTEXT', '"$pg_up/ctx"'])
  })

  test.each<[string, string]>([
    ['/srv/shop', '/srv/shop'],
    ['./shop', './shop'],
    ['shop', './shop'],
    ['-P', './-P'],
    ['-', './-'],
    ['--help', './--help'],
    ['.', './.'],
    ['../x', './../x']
  ])('cdOperand(%j) is %j', (dir, operand) => {
    expect(cdOperand(dir)).toBe(operand)
  })

  test.each(SHELLS)(
    'a hook-dir and a hook named like options are a directory and a script (%s)',
    async shell => {
      const t = scratch()
      const run = ids()
      fs.mkdirSync(path.join(t, '-P'))
      fs.writeFileSync(path.join(t, '-P', '-deploy.sh'), RECORDING_HOOK)
      const settings = quiet({ hook: '-deploy.sh', hookDir: '-P' })
      const ran = await runScript(
        shell,
        planGateSession(settings, SHA_A, run).script,
        t,
        run.nonce,
        {
          env: { CDPATH: '/' }
        }
      )
      expect(ran.answer.steps.hook).toEqual({ exit: 0, output: '' })
      expect(fs.readFileSync(path.join(t, 'hook', 'cwd'), 'utf8')).toBe(`${path.join(t, '-P')}\n`)
    }
  )

  test.each(SHELLS)(
    'a hook-dir that does not exist: cd fails, that is the hook status (%s)',
    async shell => {
      const t = scratch()
      const run = ids()
      const hook = writeHook(t, RECORDING_HOOK)
      const settings = quiet({ hook, hookDir: path.join(t, 'missing'), labelSource: 'host' })
      const ran = await runScript(shell, planGateSession(settings, SHA_A, run).script, t, run.nonce)
      expect(ran.answer.steps.hook?.exit).not.toBe(0)
      expect(ran.answer.steps.inspect).toBeUndefined()
      expect(fs.existsSync(path.join(t, 'hook'))).toBe(false)
      expect(ran.stderr).toMatch(/missing/)
    }
  )

  test('a NUL byte in any value refuses to plan the session', () => {
    expect(() => planGateSession(makeSettings({ buildContext: '/srv/\0x' }), SHA_A, ids())).toThrow(
      'NUL'
    )
  })

  test('describeHookCommand shows the command line the log names', () => {
    expect(describeHookCommand(makeRebuildSettings({ hook: './hook.sh' }), SHA_A)).toBe(
      `cd '/srv/shop' && GIT_SHA='${SHA_A}' BUILD_CONTEXT='/srv/shop' ` +
        "TARGET_IMAGE='registry.example.com/shop:staging' TARGET_SERVICE='staging' " +
        "TARGET_PORT='8081' COMPOSE_PROFILE='staging' STAGING_CONTAINER='shop-staging' " +
        "timeout -k 10 1200 bash -- './hook.sh' --build-staging"
    )
  })
})

describe('the upload', () => {
  let repo: string
  let archive: Buffer
  /** 2.5 MiB that do not compress: several frames. */
  const big = randomBytes(2.5 * 1024 * 1024)
  const git = (...args: string[]): string =>
    spawnSync('git', ['-C', repo, ...args], {
      encoding: 'utf8',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'a',
        GIT_AUTHOR_EMAIL: 'a@b',
        GIT_COMMITTER_NAME: 'a',
        GIT_COMMITTER_EMAIL: 'a@b'
      }
    }).stdout

  beforeAll(() => {
    repo = path.join(root, 'upload-repo')
    fs.mkdirSync(path.join(repo, 'dir with space'), { recursive: true })
    spawnSync('git', ['init', '-q', repo])
    fs.writeFileSync(path.join(repo, 'Dockerfile'), 'FROM scratch\n')
    fs.writeFileSync(path.join(repo, 'dir with space', 'ünï "$(x)"'), 'text\n')
    fs.writeFileSync(path.join(repo, 'big.bin'), big)
    git('add', '-A')
    git('commit', '-qm', 'one')
    archive = spawnSync('git', ['-C', repo, 'archive', '--format=tar', 'HEAD'], {
      maxBuffer: 64 << 20
    }).stdout
  })

  async function framed(bytes: Buffer): Promise<Buffer> {
    const framer = new ArchiveFramer()
    const chunks: Buffer[] = []
    framer.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)))
    const done = new Promise(resolve => framer.on('end', resolve))
    // Chunks of 64 KiB, as git archive's pipe delivers them.
    for (let at = 0; at < bytes.length; at += 65_536) framer.write(bytes.subarray(at, at + 65_536))
    framer.end()
    await done
    return Buffer.concat(chunks)
  }

  function uploadSettings(t: string, hook: string, uploadDir = ''): Settings {
    const base = quiet({ hook })
    return { ...base, context: { ...base.context, upload: true, uploadDir } }
  }

  const LISTING_HOOK = `cd "$BUILD_CONTEXT" && find . -type f | sort > "$PG_T/files" && cp big.bin "$PG_T/big.bin" && echo "$BUILD_CONTEXT $BUILD_CONTEXT_SOURCE" > "$PG_T/ctx" && stat -c %a "$BUILD_CONTEXT/.." > "$PG_T/mode"\n`

  test.each(SHELLS)(
    'the framed archive, sent after begin, arrives whole; the dir is removed (%s)',
    async shell => {
      const t = scratch()
      const run = ids()
      const hook = writeHook(t, LISTING_HOOK)
      const parent = path.join(t, 'uploads')
      fs.mkdirSync(parent)
      const plan = planGateSession(uploadSettings(t, hook, parent), SHA_A, run)
      expect(plan.upload).toBe(true)
      const ran = await runScript(shell, plan.script, t, run.nonce, {
        payload: await framed(archive)
      })
      expect(ran.answer.steps.upload?.exit).toBe(0)
      expect(ran.answer.steps.hook).toEqual({ exit: 0, output: '' })
      const [dir] = /^dir (.*)$/m.exec(ran.answer.steps.upload?.output ?? '')?.slice(1) ?? []
      expect(dir).toMatch(new RegExp(`^${parent}/provenance-gate-ctx\\.[A-Za-z0-9]{10}/ctx$`))
      expect(fs.readFileSync(path.join(t, 'ctx'), 'utf8')).toBe(`${dir} git-archive\n`)
      expect(fs.readFileSync(path.join(t, 'mode'), 'utf8')).toBe('700\n')
      expect(fs.readFileSync(path.join(t, 'files'), 'utf8')).toBe(
        './Dockerfile\n./big.bin\n./dir with space/ünï "$(x)"\n'
      )
      expect(fs.readFileSync(path.join(t, 'big.bin')).equals(big)).toBe(true)
      expect(fs.readdirSync(parent)).toEqual([])
      expect(fs.readdirSync(path.join(t, 'tmp'))).toEqual([])
    }
  )

  test('sent together with the script, dash reads archive bytes as script: the upload fails', async () => {
    // Why the gate waits for the begin line (Upload.start): dash reads its script in blocks.
    const t = scratch()
    const run = ids()
    const hook = writeHook(t, LISTING_HOOK)
    const plan = planGateSession(uploadSettings(t, hook), SHA_A, run)
    const ran = await runScript('dash', plan.script, t, run.nonce, {
      payload: await framed(archive),
      together: true
    })
    expect(ran.answer.begun).toBe(true)
    expect(ran.answer.steps.upload?.exit).not.toBe(0)
    expect(ran.answer.steps.hook).toBeUndefined()
    expect(fs.existsSync(path.join(t, 'files'))).toBe(false)
  })

  test('bash reads its script byte by byte: sent together, the upload still arrives', async () => {
    const t = scratch()
    const run = ids()
    const hook = writeHook(t, LISTING_HOOK)
    const plan = planGateSession(uploadSettings(t, hook), SHA_A, run)
    const ran = await runScript('bash', plan.script, t, run.nonce, {
      payload: await framed(archive),
      together: true
    })
    expect(ran.answer.steps.upload?.exit).toBe(0)
    expect(ran.answer.steps.hook?.exit).toBe(0)
  })

  test.each(SHELLS)(
    'a stream cut between two tar members, without the 0 frame: exit 3, the hook never runs (%s)',
    async shell => {
      const t = scratch()
      const run = ids()
      const hook = writeHook(t, `touch "$PG_T/ran"\n`)
      // The pax header (512 + 512) and the Dockerfile (512 + 512): whole members, tar accepts them.
      const members = archive.subarray(0, 2048)
      expect(spawnSync('tar', ['-t', '-f', '-'], { input: members }).status).toBe(0)
      // What ArchiveFramer sends of those bytes before end(): their frame, no terminator.
      const payload = Buffer.concat([Buffer.from(`${members.length}\n`), members])
      const ran = await runScript(
        shell,
        planGateSession(uploadSettings(t, hook), SHA_A, run).script,
        t,
        run.nonce,
        {
          payload
        }
      )
      expect(ran.answer.steps).toEqual({
        upload: { exit: 3, output: expect.stringMatching(/^dir /) }
      })
      expect(ran.stderr).toContain('the archive arrived incomplete')
      expect(ran.answer.ended).toBe(true)
      expect(fs.existsSync(path.join(t, 'ran'))).toBe(false)
      expect(fs.readdirSync(path.join(t, 'tmp'))).toEqual([])
    }
  )

  test.each<[string, string]>([
    ['not a number', 'abc\n'],
    ['nothing at all', '']
  ])('a stream that is %s: the upload fails, the hook never runs', async (_name, text) => {
    const t = scratch()
    const run = ids()
    const hook = writeHook(t, `touch "$PG_T/ran"\n`)
    const ran = await runScript(
      'dash',
      planGateSession(uploadSettings(t, hook), SHA_A, run).script,
      t,
      run.nonce,
      {
        payload: Buffer.from(text)
      }
    )
    expect(ran.answer.steps.upload?.exit).not.toBe(0)
    expect(ran.answer.steps.hook).toBeUndefined()
    expect(fs.existsSync(path.join(t, 'ran'))).toBe(false)
  })

  test.each(SHELLS)(
    'an upload-dir that cannot hold a directory: exit 3, its name in the message, never run (%s)',
    async shell => {
      const t = scratch()
      const run = ids()
      const hook = writeHook(t, `touch "$PG_T/ran"\n`)
      // upload-dir is only checked to be absolute and one line: quotes, $() and backticks pass.
      const dir = path.join(
        t,
        `no such dir $(touch "$PG_T/pwned") \`touch "$PG_T/pwned2"\` 'q' "$HOME"`
      )
      const plan = planGateSession(uploadSettings(t, hook, dir), SHA_A, run)
      const ran = await runScript(shell, plan.script, t, run.nonce, {
        payload: await framed(archive)
      })
      expect(ran.answer.steps).toEqual({ upload: { exit: 3, output: '' } })
      expect(ran.stderr).toContain(`cannot create a private directory under ${dir}\n`)
      expect(fs.readdirSync(t).filter(name => name.startsWith('pwned'))).toEqual([])
      expect(fs.existsSync(path.join(t, 'ran'))).toBe(false)
    }
  )

  test.each<[string, number[], string]>([
    ['one small chunk', [10], '10\n'],
    ['two chunks under 1 MiB: one frame', [1000, 24], '1024\n'],
    ['nothing', [], '']
  ])('ArchiveFramer: %s', async (_name, sizes, head) => {
    const bytes = Buffer.concat(sizes.map(size => Buffer.alloc(size, 120)))
    const framer = new ArchiveFramer()
    const chunks: Buffer[] = []
    framer.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)))
    const ended = new Promise(resolve => framer.on('end', resolve))
    Readable.from(sizes.map(size => Buffer.alloc(size, 120))).pipe(framer)
    await ended
    expect(Buffer.concat(chunks).toString('latin1')).toBe(`${head}${bytes.toString('latin1')}0\n`)
    expect(framer.bytes).toBe(bytes.length)
  })
})

describe('the context check on real git repositories', () => {
  let base: string
  let head1 = ''
  let head2 = ''
  const gitEnv = {
    ...process.env,
    GIT_AUTHOR_NAME: 'a',
    GIT_AUTHOR_EMAIL: 'a@b',
    GIT_COMMITTER_NAME: 'a',
    GIT_COMMITTER_EMAIL: 'a@b',
    GIT_CONFIG_NOSYSTEM: '1'
  }
  const git = (dir: string, ...args: string[]): string => {
    const result = spawnSync('git', ['-C', dir, ...args], { encoding: 'utf8', env: gitEnv })
    if (result.status !== 0) throw new Error(`git ${args.join(' ')}: ${result.stderr}`)
    return result.stdout.trim()
  }

  /** A clone of the two-commit repository, in a state. */
  function repoIn(state: (dir: string) => void): string {
    const dir = fs.mkdtempSync(path.join(root, 'ctx-'))
    spawnSync('git', ['clone', '-q', path.join(base, 'origin'), dir], { env: gitEnv })
    state(dir)
    return dir
  }

  beforeAll(() => {
    base = fs.mkdtempSync(path.join(root, 'ctx-base-'))
    const origin = path.join(base, 'origin')
    fs.mkdirSync(origin)
    git(origin, 'init', '-q')
    fs.writeFileSync(path.join(origin, 'a.txt'), 'one\n')
    fs.writeFileSync(path.join(origin, '.gitignore'), '*.log\n')
    git(origin, 'add', '-A')
    git(origin, 'commit', '-qm', 'one')
    head1 = git(origin, 'rev-parse', 'HEAD')
    fs.writeFileSync(path.join(origin, 'a.txt'), 'two\n')
    git(origin, 'commit', '-qam', 'two')
    head2 = git(origin, 'rev-parse', 'HEAD')
  })

  type Row = [
    string,
    Settings['context']['check'],
    (dir: string) => void,
    number,
    (dir: string) => ContextReport,
    boolean
  ]
  const tree = (dir: string, head: string, dirty = 0, first = ''): ContextReport => ({
    kind: 'tree',
    top: dir,
    head,
    dirty,
    first
  })
  const rows: Row[] = [
    ['clean at the revision', 'auto', () => undefined, 0, dir => tree(dir, head2), true],
    [
      'behind the revision',
      'auto',
      dir => git(dir, 'checkout', '-q', head1),
      1,
      dir => tree(dir, head1),
      false
    ],
    [
      'a modified file',
      'auto',
      dir => fs.writeFileSync(path.join(dir, 'a.txt'), 'x\n'),
      1,
      dir => tree(dir, head2, 1, 'M a.txt'),
      false
    ],
    [
      'an untracked file',
      'auto',
      dir => fs.writeFileSync(path.join(dir, 'new.txt'), 'x\n'),
      1,
      dir => tree(dir, head2, 1, '?? new.txt'),
      false
    ],
    // An ignored file is not reported: git status leaves it out (the hook's build may still see it).
    [
      'an ignored file',
      'require',
      dir => fs.writeFileSync(path.join(dir, 'build.log'), 'x\n'),
      0,
      dir => tree(dir, head2),
      true
    ],
    [
      'an edit hidden by assume-unchanged',
      'auto',
      dir => {
        git(dir, 'update-index', '--assume-unchanged', 'a.txt')
        fs.writeFileSync(path.join(dir, 'a.txt'), 'x\n')
      },
      1,
      dir => tree(dir, head2, 1, 'hidden a.txt'),
      false
    ],
    [
      'a staged and an untracked file',
      'auto',
      dir => {
        fs.writeFileSync(path.join(dir, 'b.txt'), 'x\n')
        git(dir, 'add', 'b.txt')
        fs.writeFileSync(path.join(dir, 'c.txt'), 'x\n')
      },
      1,
      dir => tree(dir, head2, 2, 'A  b.txt'),
      false
    ]
  ]

  test.each(SHELLS.flatMap(shell => rows.map(row => [shell, ...row] as const)))(
    '%s: %s (check %s)',
    async (shell, _name, check, state, exit, report, hookRuns) => {
      const t = scratch()
      const run = ids()
      const dir = repoIn(state)
      const hook = writeHook(t, `touch "$PG_T/ran"\n`)
      const base = quiet({ hook, buildContext: dir })
      const settings = { ...base, context: { ...base.context, check } }
      const ran = await runScript(shell, planGateSession(settings, head2, run).script, t, run.nonce)
      const step = ran.answer.steps.context
      expect(step?.exit).toBe(exit)
      expect(parseContextReport(step?.output ?? '')).toEqual(report(dir))
      expect(ran.answer.steps.hook?.exit).toBe(hookRuns ? 0 : undefined)
      expect(fs.existsSync(path.join(t, 'ran'))).toBe(hookRuns)
    }
  )

  test.each<[Shell, Settings['context']['check'], number, boolean]>([
    ['bash', 'auto', 0, true],
    ['dash', 'auto', 0, true],
    ['bash', 'require', 1, false],
    ['dash', 'require', 1, false]
  ])('%s: not a work tree, check %s: exit %d', async (shell, check, exit, hookRuns) => {
    const t = scratch()
    const run = ids()
    const dir = fs.mkdtempSync(path.join(root, 'plain-'))
    const hook = writeHook(t, `touch "$PG_T/ran"\n`)
    const base = quiet({ hook, buildContext: dir })
    const settings = { ...base, context: { ...base.context, check } }
    const ran = await runScript(shell, planGateSession(settings, head2, run).script, t, run.nonce, {
      env: { GIT_CEILING_DIRECTORIES: root }
    })
    expect(ran.answer.steps.context).toEqual({ exit, output: 'not-a-work-tree' })
    expect(fs.existsSync(path.join(t, 'ran'))).toBe(hookRuns)
  })

  test.each(SHELLS)(
    'GIT_DIR and GIT_WORK_TREE in the shell do not redirect the check (%s)',
    async shell => {
      const t = scratch()
      const run = ids()
      const other = repoIn(dir => git(dir, 'checkout', '-q', head1))
      const dir = repoIn(() => undefined)
      const hook = writeHook(t, `printf '%s\\n' "\${GIT_DIR-unset}" > "$PG_T/ran"\n`)
      const ran = await runScript(
        shell,
        planGateSession(
          quiet({ hook, buildContext: dir, context: { ...quiet().context, check: 'auto' } }),
          head2,
          run
        ).script,
        t,
        run.nonce,
        {
          env: {
            GIT_DIR: path.join(other, '.git'),
            GIT_WORK_TREE: other,
            GIT_INDEX_FILE: path.join(other, '.git', 'index')
          }
        }
      )
      expect(ran.answer.steps.context?.exit).toBe(0)
      expect(parseContextReport(ran.answer.steps.context?.output ?? '')).toEqual(tree(dir, head2))
      // Only the check's subshell clears them: the hook still gets the shell's environment.
      expect(fs.readFileSync(path.join(t, 'ran'), 'utf8')).toBe(`${path.join(other, '.git')}\n`)
    }
  )

  test.each(SHELLS)('no git on PATH: no-git, exit 1, the hook never runs (%s)', async shell => {
    const t = scratch()
    const run = ids()
    const tools = path.join(t, 'tools')
    fs.mkdirSync(tools)
    for (const tool of ['timeout', 'rm', 'env', 'sed', 'bash', 'ps', 'awk', 'touch']) {
      fs.symlinkSync(
        spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim(),
        path.join(tools, tool)
      )
    }
    const hook = writeHook(t, `touch "$PG_T/ran"\n`)
    const base = quiet({ hook, buildContext: t })
    const ran = await runScript(
      shell,
      planGateSession({ ...base, context: { ...base.context, check: 'auto' } }, head2, run).script,
      t,
      run.nonce,
      {
        env: { PATH: tools }
      }
    )
    expect(ran.answer.steps.context).toEqual({ exit: 1, output: 'no-git' })
    expect(fs.existsSync(path.join(t, 'ran'))).toBe(false)
  })

  test.each(SHELLS)(
    'sync-context: the check runs after the hook moved the clone (%s)',
    async shell => {
      const t = scratch()
      const run = ids()
      const dir = repoIn(d => git(d, 'checkout', '-q', head1))
      const hook = writeHook(
        t,
        `git -C "$BUILD_CONTEXT" checkout -q "$GIT_SHA" && [ "$SYNC_CONTEXT" = 1 ]\n`
      )
      const base = quiet({ hook, buildContext: dir })
      const settings = { ...base, context: { ...base.context, check: 'auto' as const, sync: true } }
      const plan = planGateSession(settings, head2, run)
      expect(plan.steps).toEqual(['hook', 'context'])
      const ran = await runScript(shell, plan.script, t, run.nonce)
      expect(ran.answer.steps.hook).toEqual({ exit: 0, output: '' })
      expect(ran.answer.steps.context?.exit).toBe(0)
      expect(parseContextReport(ran.answer.steps.context?.output ?? '')).toEqual(tree(dir, head2))
    }
  )
})

describe('the container check with a fake docker', () => {
  const ID_1 = 'a'.repeat(64)
  const ID_2 = '0123456789abcdef'.repeat(4)
  const staging = (over: Partial<Settings['staging']>): Settings['staging'] => ({
    ...makeSettings().staging,
    ...over
  })

  test.each<[string, Settings['staging'], Record<string, string>, string[][], string]>([
    [
      'compose label: the ids ps found are inspected',
      staging({ service: 'web', container: 'web', containerNamed: false }),
      { PS_LABEL_OUT: `${ID_2}\n${ID_1}\n` },
      [
        ['ps', '-aq', '--no-trunc', '--filter', 'label=com.docker.compose.service=web'],
        ['container', 'inspect', '--', ID_2, ID_1]
      ],
      `inspected ${ID_2} ${ID_1}`
    ],
    [
      'no compose container: the one named like the service',
      staging({ service: 'web', container: 'web', containerNamed: false }),
      { PS_NAMES_OUT: `${ID_1} other\n${ID_2} web\n` },
      [
        ['ps', '-aq', '--no-trunc', '--filter', 'label=com.docker.compose.service=web'],
        ['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}}'],
        ['container', 'inspect', '--', ID_2]
      ],
      `inspected ${ID_2}`
    ],
    [
      'staging-container by name, among several names of one container',
      staging({ container: 'shop-staging', containerNamed: true }),
      { PS_NAMES_OUT: `${ID_1} x,shop-staging,y\n` },
      [
        ['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}}'],
        ['container', 'inspect', '--', ID_1]
      ],
      `inspected ${ID_1}`
    ],
    [
      'a name that only partly matches is not taken: no container',
      staging({ container: 'shop-staging', containerNamed: true }),
      { PS_NAMES_OUT: `${ID_1} shop-staging-old\n${ID_2} xshop-staging\n${ID_2} shop\n` },
      [['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}}']],
      ''
    ],
    [
      'words that are not 64-hex ids are never inspected',
      staging({ service: 'web', container: 'web', containerNamed: false }),
      { PS_LABEL_OUT: `WARN[0000] cgroup\n${ID_1.slice(1)}\n${ID_1.toUpperCase()}\n-q\n*\n` },
      [['ps', '-aq', '--no-trunc', '--filter', 'label=com.docker.compose.service=web']],
      ''
    ],
    [
      'a container name with quotes and $() is compared, never run',
      staging({ container: `a'b $(touch pwned)`, containerNamed: true }),
      { PS_NAMES_OUT: `${ID_1} a'b\n` },
      [['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}}']],
      ''
    ]
  ])('%s', async (_name, target, env, calls, output) => {
    for (const shell of SHELLS) {
      const t = scratch()
      const run = ids()
      const settings = quiet({ mode: 'verify', containerCheck: 'auto', staging: target })
      const ran = await runScript(
        shell,
        planGateSession(settings, SHA_A, run).script,
        t,
        run.nonce,
        { env }
      )
      expect([shell, ran.answer.steps]).toEqual([shell, { container: { exit: 0, output } }])
      expect([shell, dockerCalls(t)]).toEqual([shell, calls])
      expect(fs.readdirSync(t).filter(name => name === 'pwned')).toEqual([])
    }
  })
})

describe('planCancelSession', () => {
  function record(t: string, runId: string, lines: string[]): void {
    fs.writeFileSync(
      path.join(t, 'tmp', `provenance-gate-run.${runId}`),
      lines.map(l => `${l}\n`).join('')
    )
  }

  test.each(SHELLS)(
    'stops the recorded process group and removes the upload dir (%s)',
    async shell => {
      const t = scratch()
      const run = ids()
      // A group like the hook's under timeout: a leader and a background child.
      const group = spawn(
        'setsid',
        [
          'sh',
          '-c',
          'sleep 302 & echo "$!" > "$1"; exec sleep 303',
          'sh',
          path.join(t, 'child.pid')
        ],
        {
          stdio: 'ignore'
        }
      )
      const leader = group.pid as number
      for (let i = 0; i < 100 && !fs.existsSync(path.join(t, 'child.pid')); i++)
        await new Promise(r => setTimeout(r, 20))
      const child = Number(fs.readFileSync(path.join(t, 'child.pid'), 'utf8'))
      const upload = path.join(t, 'tmp', 'provenance-gate-ctx.AbC123xyz0')
      fs.mkdirSync(path.join(upload, 'ctx'), { recursive: true })
      const elsewhere = path.join(t, 'keep-me')
      fs.mkdirSync(elsewhere)
      try {
        record(t, run.runId, [`up ${upload}`, `pg ${leader}`, `up ${elsewhere}`, 'pg 1; rm -rf /'])
        const ran = await runScript(shell, planCancelSession(run).script, t, run.nonce)
        expect(ran.answer.ended).toBe(true)
        expect(ran.answer.stopped).toEqual([String(leader)])
        expect(ran.answer.removed).toEqual([upload])
        expect(alive(leader)).toBe(false)
        expect(alive(child)).toBe(false)
        expect(fs.existsSync(upload)).toBe(false)
        expect(fs.existsSync(elsewhere)).toBe(true)
        expect(fs.readdirSync(path.join(t, 'tmp'))).toEqual([])
      } finally {
        for (const pid of [leader, child]) if (alive(pid)) process.kill(pid, 'SIGKILL')
      }
    }
  )

  test.each(SHELLS)('without a run record: none (%s)', async shell => {
    const t = scratch()
    const run = ids()
    const ran = await runScript(shell, planCancelSession(run).script, t, run.nonce)
    expect(ran.stdout).toContain(`provenance-gate-${run.nonce} none\n`)
    expect(ran.answer).toMatchObject({ begun: true, ended: true, stopped: [], removed: [] })
  })
})

describe('planGateSession', () => {
  const context = (over: Partial<Settings['context']>): Settings['context'] => ({
    ...makeSettings().context,
    ...over
  })
  test.each<[string, SettingsOverrides, string[], boolean]>([
    ['rebuild, check auto, inspect', {}, ['context', 'hook', 'inspect'], false],
    ['rebuild, check skip', { context: context({ check: 'skip' }) }, ['hook', 'inspect'], false],
    [
      'rebuild, upload',
      { context: context({ upload: true }) },
      ['upload', 'hook', 'inspect'],
      true
    ],
    ['rebuild, sync', { context: context({ sync: true }) }, ['hook', 'context', 'inspect'], false],
    [
      'verify with the container check',
      { mode: 'verify', containerCheck: 'auto' },
      ['inspect', 'container'],
      false
    ],
    ['rebuild, registry labels', { labelSource: 'registry' }, ['context', 'hook'], false]
  ])('%s: steps %j', (_name, overrides, steps, upload) => {
    const plan = planGateSession(makeSettings(overrides), SHA_A, { nonce: 'n0', runId: 'r0' })
    expect(plan.steps).toEqual(steps)
    expect(plan.upload).toBe(upload)
    expect(plan.endLine).toBe('\nprovenance-gate-n0 end\n')
  })
})

describe('parseSession', () => {
  const N = '0123456789abcdef'
  const M = `provenance-gate-${N}`
  const empty: SessionAnswer = {
    begun: false,
    ended: false,
    noTimeout: false,
    steps: {},
    left: [],
    stopped: [],
    removed: []
  }
  test.each<[string, string, Partial<SessionAnswer>]>([
    ['nothing', '', {}],
    ['chatter only', 'Welcome\nmotd\n', {}],
    ['results before begin are chatter', `${M} exit hook 0\n${M} begin\n`, { begun: true }],
    ['a begin glued to a banner is not a begin', `Welcome${M} begin\n${M} exit hook 0\n`, {}],
    ['begin and end', `\n${M} begin\n${M} end\n`, { begun: true, ended: true }],
    [
      'a step with its output, trailing newlines dropped, blank lines inside kept',
      `${M} begin\n${M} out inspect\nline 1\n\nline 3\n\n${M} exit inspect 0\n`,
      { begun: true, steps: { inspect: { exit: 0, output: 'line 1\n\nline 3' } } }
    ],
    [
      'an exit without out: empty output',
      `${M} begin\n${M} exit hook 0\n`,
      { begun: true, steps: { hook: { exit: 0, output: '' } } }
    ],
    [
      'duplicate exit lines: the first wins',
      `${M} begin\n${M} out inspect\na\n${M} exit inspect 0\n${M} out inspect\nb\n${M} exit inspect 1\n`,
      { begun: true, steps: { inspect: { exit: 0, output: 'a' } } }
    ],
    [
      'lines after end are ignored',
      `${M} begin\n${M} end\n${M} exit hook 0\n${M} no-timeout\n`,
      { begun: true, ended: true }
    ],
    [
      'another nonce is text, also inside an output',
      `${M} begin\nprovenance-gate-ffff exit hook 0\n${M} out inspect\nprovenance-gate-ffff exit inspect 0\n${M} exit inspect 2\n`,
      {
        begun: true,
        steps: { inspect: { exit: 2, output: 'provenance-gate-ffff exit inspect 0' } }
      }
    ],
    [
      'a longer nonce sharing the prefix is not ours',
      `${M} begin\n${M}0 exit hook 0\n${M}0 end\n`,
      { begun: true }
    ],
    [
      'malformed exit lines and unknown steps are ignored',
      `${M} begin\n${M} exit hook\n${M} exit hook -1\n${M} exit hook x\n${M} exit build 0\n${M} exit hook 0\r\n${M} hello\n`,
      { begun: true }
    ],
    [
      'an exit for another step than the open one: empty output',
      `${M} begin\n${M} out inspect\nx\n${M} exit container 0\n`,
      { begun: true, steps: { container: { exit: 0, output: '' } } }
    ],
    [
      'no-timeout',
      `${M} begin\n${M} no-timeout\n${M} end\n`,
      { begun: true, ended: true, noTimeout: true }
    ],
    [
      'left, stopped and removed, in order',
      `${M} begin\n${M} left 12 sleep 300\n${M} left 13 sh -c x y\n${M} stopped 12\n${M} removed /tmp/provenance-gate-ctx.x\n`,
      {
        begun: true,
        left: ['12 sleep 300', '13 sh -c x y'],
        stopped: ['12'],
        removed: ['/tmp/provenance-gate-ctx.x']
      }
    ],
    [
      'a marker inside a line is text',
      `${M} begin\n${M} out hook\nsay ${M} exit inspect 0\n${M} exit hook 0\n`,
      { begun: true, steps: { hook: { exit: 0, output: `say ${M} exit inspect 0` } } }
    ],
    ['the nonce is matched literally', `provenance-gate-${'.'.repeat(16)} begin\n`, {}]
  ])('%s', (_name, stdout, expected) => {
    expect(parseSession(stdout, N)).toEqual({ ...empty, ...expected })
  })
})

describe('parseContextReport', () => {
  test.each<[string, string, ContextReport | undefined]>([
    ['no-git', 'no-git', { kind: 'no-git' }],
    ['not-a-work-tree', 'not-a-work-tree\n', { kind: 'not-a-work-tree' }],
    ['unsafe', 'unsafe', { kind: 'unsafe' }],
    ['timeout', 'timeout', { kind: 'timeout' }],
    ['a word with more after it', 'no-git\ntop /x', undefined],
    ['failed', 'top /x\nfailed rev-parse HEAD', { kind: 'failed', what: 'rev-parse HEAD' }],
    [
      'a clean tree',
      `top /srv/a b\nhead ${SHA_A}\ndirty 0`,
      { kind: 'tree', top: '/srv/a b', head: SHA_A, dirty: 0, first: '' }
    ],
    [
      'a dirty tree with its first line',
      `top /x\nhead ${SHA_A}\ndirty 3\nfirst ?? new file`,
      { kind: 'tree', top: '/x', head: SHA_A, dirty: 3, first: '?? new file' }
    ],
    [
      'wc -l padded with spaces (BSD)',
      `top /x\nhead ${SHA_A}\ndirty       2`,
      { kind: 'tree', top: '/x', head: SHA_A, dirty: 2, first: '' }
    ],
    ['dirty not a number', `top /x\nhead ${SHA_A}\ndirty many`, undefined],
    ['no head', 'top /x\ndirty 0', undefined],
    ['no top', `head ${SHA_A}\ndirty 0`, undefined],
    ['no dirty', `top /x\nhead ${SHA_A}`, undefined],
    ['nothing', '', undefined],
    ['something else', 'fatal: not a git repository', undefined]
  ])('%s', (_name, output, report) => {
    expect(parseContextReport(output)).toEqual(report)
  })
})
