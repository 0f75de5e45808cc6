import { describe, expect, test } from '@jest/globals'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { KEEP_BYTES, runProcess } from '../../src/process.js'

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

  test('KEEP_BYTES is 64 KiB', () => {
    expect(KEEP_BYTES).toBe(64 * 1024)
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
