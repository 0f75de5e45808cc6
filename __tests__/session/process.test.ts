import { afterEach, describe, expect, test } from '@jest/globals'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { childEnvironment, KEEP_BYTES, runProcess, spawnStream } from '../../src/session/process.js'

/** Real bash processes: the bound, the group kill and the tails are what the gate relies on. */
describe('runProcess', () => {
  const bash = (script: string, timeoutMs = 5000) =>
    runProcess('bash', ['-c', script], { timeoutMs })

  test.each([
    ['exit 0 with output', 'echo out; echo err >&2', 0, 'out\n'],
    ['exit code passed through', 'echo partial; exit 7', 7, 'partial\n'],
    ['no output', 'true', 0, '']
  ])('%s', async (_name, script, exitCode, stdout) => {
    const result = await bash(script)
    expect(result).toMatchObject({ exitCode, timedOut: false, stdout })
    expect(result.spawnError).toBeUndefined()
  })

  test('stderr reaches the combined tail but not stdout', async () => {
    const result = await bash('echo one; echo two >&2; echo three')
    expect(result.stdout).toBe('one\nthree\n')
    expect(result.outputTail.split('\n').sort()).toEqual(['', 'one', 'three', 'two'])
  })

  test('onOutput is told which stream each chunk came from', async () => {
    const seen: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' }
    const result = await runProcess(
      'bash',
      ['-c', 'echo out1; echo err1 >&2; sleep 0.05; echo out2; echo err2 >&2'],
      {
        timeoutMs: 5000,
        onOutput: (chunk, stream) => {
          seen[stream] += chunk.toString('utf8')
        }
      }
    )
    expect(seen).toEqual({ stdout: 'out1\nout2\n', stderr: 'err1\nerr2\n' })
    expect(result.stdout).toBe('out1\nout2\n')
  })

  test('a program that is not installed is a spawn error, not a crash', async () => {
    const result = await runProcess('no-such-program-xyz', [], { timeoutMs: 5000 })
    expect(result.exitCode).toBeNull()
    expect(result.spawnError).toMatch(/ENOENT/)
  })

  test('a timeout stops the whole process group, grandchildren included', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pg-process-'))
    const marker = path.join(dir, 'survived')
    try {
      const started = Date.now()
      const result = await bash(`(sleep 2; touch '${marker}') & sleep 30`, 300)
      expect(result.timedOut).toBe(true)
      expect(result.exitCode).toBeNull()
      expect(Date.now() - started).toBeLessThan(2000)
      await new Promise(resolve => setTimeout(resolve, 2500))
      expect(existsSync(marker)).toBe(false)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('a program that ignores SIGTERM is killed after the grace period', async () => {
    const result = await bash("trap '' TERM; sleep 30 & wait; sleep 30", 200)
    expect(result.timedOut).toBe(true)
  }, 10000)

  test('a background child holding the pipes does not keep the call waiting', async () => {
    const started = Date.now()
    const result = await bash('sleep 5 & echo done')
    expect(result).toMatchObject({ exitCode: 0, timedOut: false, stdout: 'done\n' })
    expect(Date.now() - started).toBeLessThan(2000)
  })

  test.each<[string, boolean, string]>([
    ['no stdout', false, 'true'],
    ['stdout of exactly KEEP_BYTES', false, `head -c ${KEEP_BYTES} /dev/zero | tr '\\0' x`],
    ['stdout one byte longer', true, `head -c ${KEEP_BYTES + 1} /dev/zero | tr '\\0' x`],
    ['megabytes of stdout', true, `head -c 3000000 /dev/zero | tr '\\0' x`],
    [
      'megabytes on stderr only, a short stdout',
      false,
      `head -c 3000000 /dev/zero | tr '\\0' x >&2; echo answer`
    ]
  ])('%s: stdoutTruncated %s', async (_name, truncated, script) => {
    const result = await runProcess('bash', ['-c', script], { timeoutMs: 10000 })
    expect(result.exitCode).toBe(0)
    expect(result.stdoutTruncated === true).toBe(truncated)
    // Only ever set to true: an untruncated answer has no such property at all.
    if (!truncated) expect('stdoutTruncated' in result).toBe(false)
    expect(Buffer.byteLength(result.stdout)).toBeLessThanOrEqual(KEEP_BYTES)
  })

  test('megabytes of output keep only a bounded tail, ending with the last line', async () => {
    const chunks: number[] = []
    const result = await runProcess(
      'bash',
      ['-c', 'head -c 5000000 /dev/zero | tr "\\0" x; echo; echo LAST LINE'],
      { timeoutMs: 10000, onOutput: chunk => chunks.push(chunk.length) }
    )
    expect(chunks.reduce((a, b) => a + b, 0)).toBe(5_000_000 + 1 + 10)
    expect(result.outputTail.length).toBeLessThanOrEqual(64 * 1024)
    expect(result.outputTail.endsWith('\nLAST LINE\n')).toBe(true)
  })
})

/** Everything a test put into process.env, removed again after it. */
const added: string[] = []
function setEnv(values: Record<string, string>): void {
  for (const [name, value] of Object.entries(values)) {
    if (!(name in process.env)) added.push(name)
    process.env[name] = value
  }
}
afterEach(() => {
  for (const name of added.splice(0)) delete process.env[name]
})

/** The environment a real child saw, as `env -0` printed it. */
function parseEnv(stdout: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const entry of stdout.split('\0')) {
    const at = entry.indexOf('=')
    if (at > 0) env[entry.slice(0, at)] = entry.slice(at + 1)
  }
  return env
}

describe('runProcess input', () => {
  test.each<[string, () => string | Readable, string]>([
    ['a string', () => 'line one\nline two\n', 'line one\nline two\n'],
    ['an empty string', () => '', ''],
    [
      'a Readable',
      () => Readable.from(['chunk 1 ', Buffer.from('chunk 2\n')]),
      'chunk 1 chunk 2\n'
    ],
    [
      'a Readable of a megabyte',
      () => Readable.from([Buffer.alloc(1024 * 1024, 'y')]),
      'y'.repeat(1024 * 1024)
    ]
  ])('%s reaches the program on stdin, whole', async (_name, input, stdout) => {
    const result = await runProcess('cat', [], { timeoutMs: 5000, input: input() })
    expect(result).toMatchObject({ exitCode: 0, timedOut: false })
    expect(result.stdout).toBe(stdout)
  })

  test('without input the program reads /dev/null: end of file at once, no waiting', async () => {
    const started = Date.now()
    const result = await runProcess('bash', ['-c', 'cat; echo "read $?"'], { timeoutMs: 5000 })
    expect(result).toMatchObject({ exitCode: 0, timedOut: false, stdout: 'read 0\n' })
    expect(Date.now() - started).toBeLessThan(2000)
  })

  test('a program that stops reading early is no error, and the Readable is destroyed', async () => {
    const input = Readable.from(
      (function* () {
        for (let i = 0; i < 1000; i++) yield Buffer.alloc(64 * 1024, 'z')
      })()
    )
    const result = await runProcess('bash', ['-c', 'head -c 10 >/dev/null; echo stopped'], {
      timeoutMs: 5000,
      input
    })
    expect(result).toMatchObject({ exitCode: 0, timedOut: false, stdout: 'stopped\n' })
    expect(input.destroyed).toBe(true)
  })
})

describe('runProcess endsWith', () => {
  const END = '\nprovenance-gate-0123456789abcdef end\n'
  const endsWith = END
  const printEnd = `printf 'answer\\nprovenance-gate-0123456789abcdef end\\n'`

  test.each<[string, string]>([
    ['the program goes on running after the end line', `${printEnd}; sleep 30`],
    ['the program exits but a background child holds stdout and stderr', `sleep 30 & ${printEnd}`],
    [
      'the end line arrives in two chunks',
      `printf 'answer\\nprovenance-gate-0123'; sleep 0.2; printf '456789abcdef end\\n'; sleep 30`
    ]
  ])('%s: resolves within about a second, ended', async (_name, script) => {
    const started = Date.now()
    const result = await runProcess('bash', ['-c', script], { timeoutMs: 20_000, endsWith })
    expect(Date.now() - started).toBeLessThan(1500)
    expect(result.ended).toBe(true)
    expect(result.timedOut).toBe(false)
    expect(result.stdout).toBe(`answer${END}`)
  })

  test('what holds the pipes after the end line is stopped, with its whole group', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pg-process-'))
    const marker = path.join(dir, 'survived')
    try {
      const result = await runProcess(
        'bash',
        ['-c', `(sleep 1.5; touch '${marker}') & ${printEnd}; sleep 30`],
        { timeoutMs: 20_000, endsWith }
      )
      expect(result.ended).toBe(true)
      await new Promise(resolve => setTimeout(resolve, 2000))
      expect(existsSync(marker)).toBe(false)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('stderr written right after the end line still reaches onOutput', async () => {
    let stderr = ''
    const result = await runProcess('bash', ['-c', `${printEnd}; echo late >&2; sleep 30`], {
      timeoutMs: 20_000,
      endsWith,
      onOutput: (chunk, stream) => {
        if (stream === 'stderr') stderr += chunk.toString('utf8')
      }
    })
    expect(result.ended).toBe(true)
    expect(stderr).toBe('late\n')
  })

  test.each<[string, string, string | undefined]>([
    ['no end line at all', 'echo answer', endsWith],
    [
      'the end line without its leading newline',
      `printf 'provenance-gate-0123456789abcdef end\\n'`,
      endsWith
    ],
    ['another nonce', `printf '\\nprovenance-gate-ffffffffffffffff end\\n'`, endsWith],
    ['no endsWith option', printEnd, undefined]
  ])('%s: awaited to its exit, no ended property', async (_name, script, end) => {
    const result = await runProcess('bash', ['-c', script], {
      timeoutMs: 5000,
      ...(end ? { endsWith: end } : {})
    })
    expect(result.exitCode).toBe(0)
    expect('ended' in result).toBe(false)
  })

  test('a program that never prints the end line still times out', async () => {
    const result = await runProcess('bash', ['-c', 'echo answer; sleep 30'], {
      timeoutMs: 300,
      endsWith
    })
    expect(result.timedOut).toBe(true)
    expect('ended' in result).toBe(false)
  })
})

describe('childEnvironment', () => {
  test.each<[string, boolean, boolean]>([
    ['INPUT_PRIVATE-KEY', true, true],
    ['INPUT_REGISTRY-PASSWORD', true, true],
    ['INPUT_HOST', true, true],
    ['input_lower', true, true],
    ['ACTIONS_RUNTIME_TOKEN', true, true],
    ['ACTIONS_ID_TOKEN_REQUEST_TOKEN', true, true],
    ['ACTIONS_ID_TOKEN_REQUEST_URL', true, true],
    ['ACTIONS_RUNTIME_URL', true, true],
    ['ACTIONS_RESULTS_URL', true, true],
    ['ACTIONS_CACHE_URL', true, true],
    ['GITHUB_TOKEN', true, true],
    ['GITHUB_OUTPUT', true, true],
    ['GITHUB_STATE', true, true],
    ['GITHUB_ENV', true, true],
    ['GITHUB_PATH', true, true],
    ['GITHUB_STEP_SUMMARY', true, true],
    ['STATE_isPost', true, true],
    ['STATE_ssh-resources', true, true],
    ['PATH', false, false],
    ['HOME', false, false],
    ['GITHUB_SHA', false, false],
    ['GITHUB_WORKSPACE', false, false],
    ['RUNNER_TEMP', false, false],
    ['MY_INPUT_X', false, false],
    ['GITHUB_TOKEN_X', false, false],
    ['GIT_DIR', false, true],
    ['GIT_WORK_TREE', false, true],
    ['GIT_INDEX_FILE', false, true],
    ['git_dir', false, true],
    ['GITHUB_REF', false, false],
    ['GITLAB', false, false]
  ])('%s: dropped %s, dropped without git %s', (name, dropped, droppedWithoutGit) => {
    const env = { PATH: '/usr/bin', [name]: 'value' }
    expect(name in childEnvironment(env)).toBe(!dropped)
    expect(name in childEnvironment(env, true)).toBe(!droppedWithoutGit)
    // The given environment is never changed.
    expect(env[name]).toBe('value')
  })

  test('without an argument it reads process.env', () => {
    setEnv({ INPUT_PROBE_X: 'secret', PG_PROBE_KEPT: 'kept' })
    const env = childEnvironment()
    expect(env.INPUT_PROBE_X).toBeUndefined()
    expect(env.PG_PROBE_KEPT).toBe('kept')
  })
})

describe('the environment a real child gets', () => {
  const secrets = {
    'INPUT_PRIVATE-KEY': '-----BEGIN OPENSSH PRIVATE KEY-----',
    INPUT_REGISTRY_PASSWORD: 'pull-token',
    ACTIONS_RUNTIME_TOKEN: 'runtime-token',
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'oidc-token',
    GITHUB_STATE: '/tmp/state-file',
    GITHUB_OUTPUT: '/tmp/output-file',
    GITHUB_ENV: '/tmp/env-file',
    GITHUB_STEP_SUMMARY: '/tmp/summary-file',
    STATE_isPost: 'true'
  }
  const kept = { PG_PROBE_KEPT: 'kept', GIT_DIR: '/elsewhere/.git' }

  test('runProcess without env: childEnvironment(), so no input, token or file command', async () => {
    setEnv({ ...secrets, ...kept })
    const result = await runProcess('env', ['-0'], { timeoutMs: 5000 })
    const env = parseEnv(result.stdout)
    for (const name of Object.keys(secrets)) expect(env[name]).toBeUndefined()
    expect(env.PG_PROBE_KEPT).toBe('kept')
    expect(env.GIT_DIR).toBe('/elsewhere/.git')
    expect(env.PATH).toBe(process.env.PATH)
  })

  test('runProcess with env: exactly that environment', async () => {
    setEnv({ ...secrets, ...kept })
    const result = await runProcess('/usr/bin/env', ['-0'], {
      timeoutMs: 5000,
      env: childEnvironment(process.env, true)
    })
    const env = parseEnv(result.stdout)
    for (const name of Object.keys(secrets)) expect(env[name]).toBeUndefined()
    expect(env.GIT_DIR).toBeUndefined()
    expect(env.PG_PROBE_KEPT).toBe('kept')
  })

  test('spawnStream without env: childEnvironment() too', async () => {
    setEnv({ ...secrets, ...kept })
    const child = spawnStream('env', ['-0'], { timeoutMs: 5000 })
    const env = parseEnv(await readAll(child.stdout))
    await child.done
    for (const name of Object.keys(secrets)) expect(env[name]).toBeUndefined()
    expect(env.PG_PROBE_KEPT).toBe('kept')
  })
})

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

describe('spawnStream', () => {
  test('stdout is a stream, stderr only in the tail, the exit code reported', async () => {
    const child = spawnStream('bash', ['-c', 'printf abc; echo oops >&2; printf def; exit 3'], {
      timeoutMs: 5000
    })
    expect(await readAll(child.stdout)).toBe('abcdef')
    expect(await child.done).toEqual({
      exitCode: 3,
      timedOut: false,
      stdout: '',
      outputTail: 'oops\n'
    })
  })

  test('megabytes arrive whole, read with backpressure', async () => {
    const child = spawnStream('bash', ['-c', 'head -c 5000000 /dev/zero'], { timeoutMs: 10_000 })
    let bytes = 0
    for await (const chunk of child.stdout) {
      bytes += (chunk as Buffer).length
      // A slow reader: the writer has to wait, nothing is lost.
      if (bytes < 200_000) await new Promise(resolve => setTimeout(resolve, 5))
    }
    expect(bytes).toBe(5_000_000)
    expect((await child.done).exitCode).toBe(0)
  })

  test('the bound stops the whole group and says so', async () => {
    const started = Date.now()
    const child = spawnStream('bash', ['-c', 'sleep 30 & sleep 30'], { timeoutMs: 300 })
    const [, result] = await Promise.all([readAll(child.stdout), child.done])
    expect(result.timedOut).toBe(true)
    expect(result.exitCode).toBeNull()
    expect(Date.now() - started).toBeLessThan(2000)
  })

  test('stop() ends it at once, not as a timeout', async () => {
    const child = spawnStream('bash', ['-c', 'printf first; sleep 30'], { timeoutMs: 20_000 })
    const first = await new Promise<string>(resolve =>
      child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString('utf8')))
    )
    expect(first).toBe('first')
    child.stop()
    child.stdout.resume()
    const result = await child.done
    expect(result.timedOut).toBe(false)
    expect(result.exitCode).toBeNull()
  })

  test('a program that is not installed is a spawn error', async () => {
    const child = spawnStream('no-such-program-xyz', [], { timeoutMs: 5000 })
    const result = await child.done
    expect(result.exitCode).toBeNull()
    expect(result.spawnError).toMatch(/ENOENT/)
  })
})
