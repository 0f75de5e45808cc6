import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {
  hookEnvironment,
  parseInspectOutput,
  planHookCommand,
  planInspectCommand
} from '../../src/remote-command.js'
import type { Settings } from '../../src/settings.js'
import { IMAGE_HEX, makeSettings, SHA_A } from './fixtures.js'

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
          container: `-container ${NASTY}`
        }
      },
      `${SHA_A}$(id)`
    ],
    [
      'empty values arrive empty, not unset and not inherited',
      {
        buildContext: '',
        staging: { service: '', port: '', composeProfile: '', container: '' }
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
        "bash -- './hook.sh' --build-staging"
    )
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

    const result = spawnSync('bash', ['-c', command], { env: { ...process.env, DUMP: dump } })
    expect(result.status).toBe(0)
    const args = fs.readFileSync(dump, 'utf8').split('\0')
    expect(args.pop()).toBe('')
    expect(args).toHaveLength(5)
    const [verb, sub, flag, format = '', last] = args
    expect([verb, sub, flag, last]).toEqual(['image', 'inspect', '--format', image])
    expectRevisionTemplate(format, label)
  })

  test.each(['docker', 'podman', '/usr/local/bin/docker'])(
    'the command starts with the quoted %s and ends with the quoted image',
    docker => {
      const command = planInspectCommand(makeSettings({ docker }))
      expect(command.startsWith(`'${docker}' image inspect --format '`)).toBe(true)
      expect(command.endsWith(`' 'registry.example.com/shop:staging'`)).toBe(true)
    }
  )
})

/**
 * The Go template prints the id, one space, then the label: the label key appears exactly once,
 * double-quoted, as an argument of `index` on the image's labels, and every action is closed.
 */
function expectRevisionTemplate(format: string, label: string): void {
  expect(format.startsWith('{{.Id}} ')).toBe(true)
  expect(format.split(JSON.stringify(label))).toHaveLength(2)
  expect(format).toMatch(
    new RegExp(`\\{\\{index [^{}]* ${escapeRegExp(JSON.stringify(label))}\\}\\}`)
  )
  expect(format).toContain('.Labels')
  expect(format.split('{{').length).toBe(format.split('}}').length)
  expect(format).not.toContain("'")
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

describe('parseInspectOutput', () => {
  const id = `sha256:${IMAGE_HEX}`
  test.each<[string, string, { imageId: string; revision: string } | undefined]>([
    ['docker output with a label', `${id} ${SHA_A}\n`, { imageId: id, revision: SHA_A }],
    ['without a final newline', `${id} ${SHA_A}`, { imageId: id, revision: SHA_A }],
    ['CRLF line end', `${id} ${SHA_A}\r\n`, { imageId: id, revision: SHA_A }],
    ['empty label', `${id} \n`, { imageId: id, revision: '' }],
    ['<no value> (older docker)', `${id} <no value>\n`, { imageId: id, revision: '' }],
    ['<no value> with spaces', `${id}  <no value> \n`, { imageId: id, revision: '' }],
    [
      'label with surrounding whitespace',
      `${id}   ${SHA_A} \t\n`,
      { imageId: id, revision: SHA_A }
    ],
    ['label followed by an extra newline', `${id} ${SHA_A}\n\n`, { imageId: id, revision: SHA_A }],
    [
      'podman id without the sha256: prefix',
      `${IMAGE_HEX} ${SHA_A}\n`,
      { imageId: id, revision: SHA_A }
    ],
    ['podman id with an empty label', `${IMAGE_HEX} \n`, { imageId: id, revision: '' }],
    [
      'label containing spaces is kept whole',
      `${id} built from main\n`,
      { imageId: id, revision: 'built from main' }
    ],
    ['no space at all', `${id}\n`, undefined],
    ['empty output', '', undefined],
    ['garbage', 'Error: No such image: app:staging\n', undefined],
    ['id too short', `sha256:${IMAGE_HEX.slice(1)} ${SHA_A}\n`, undefined],
    ['id in upper case', `sha256:${IMAGE_HEX.toUpperCase()} ${SHA_A}\n`, undefined],
    ['other digest algorithm', `sha512:${IMAGE_HEX} ${SHA_A}\n`, undefined],
    ['leading space', ` ${id} ${SHA_A}\n`, undefined],
    ['template not expanded', '{{.Id}} {{index .Config.Labels "x"}}\n', undefined]
  ])('%s', (_name, stdout, expected) => {
    expect(parseInspectOutput(stdout)).toEqual(expected)
  })
})
