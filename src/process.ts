import { spawn } from 'node:child_process'
import { TailBuffer } from './tail-buffer.js'

/** How a bounded process ended. */
export interface ProcessResult {
  /** `null` when it was killed by a signal or never started. */
  exitCode: number | null
  timedOut: boolean
  /** Set when the program could not be started at all (e.g. not on PATH). */
  spawnError?: string
  /** The last bytes of stdout: all of it for the short commands whose answer is parsed. */
  stdout: string
  /** Set when stdout was longer than what is kept, so a parsed answer may be missing its start. */
  stdoutTruncated?: boolean
  /** The last bytes of stdout and stderr interleaved, for messages. */
  outputTail: string
}

/** Options for one bounded process. */
export interface ProcessOptions {
  timeoutMs: number
  /** Receives every output chunk as it arrives, with the stream it came from, for live logs. */
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void
}

/** Bytes of output kept per stream; enough for any answer we parse and any tail we show. */
export const KEEP_BYTES = 64 * 1024
/** After SIGTERM a process gets this long before SIGKILL. */
const KILL_GRACE_MS = 3000
/** After exit, how long descendants holding the pipes may keep them before we stop reading. */
const PIPE_GRACE_MS = 500

/**
 * Runs a program with a hard time bound. It runs in its own process group, so on timeout the whole
 * group (the program and everything it started) is stopped: first SIGTERM, then SIGKILL.
 * Never rejects: every way of ending is described in the result.
 */
export function runProcess(
  file: string,
  args: string[],
  options: ProcessOptions
): Promise<ProcessResult> {
  return new Promise(resolve => {
    const stdout = new TailBuffer(KEEP_BYTES)
    const combined = new TailBuffer(KEEP_BYTES)
    let timedOut = false
    let settled = false
    const timers: NodeJS.Timeout[] = []

    // stdin is /dev/null: nothing may wait for input (ssh's BatchMode covers its own prompts).
    const child = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })

    const finish = (exitCode: number | null, spawnError?: string): void => {
      if (settled) return
      settled = true
      timers.forEach(clearTimeout)
      child.stdout?.destroy()
      child.stderr?.destroy()
      resolve({
        exitCode,
        timedOut,
        spawnError,
        stdout: stdout.text(),
        ...(stdout.total > KEEP_BYTES ? { stdoutTruncated: true } : {}),
        outputTail: combined.text()
      })
    }

    const killGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal)
      } catch {
        // The group is already gone.
      }
    }

    child.stdout?.on('data', (chunk: Buffer) => {
      stdout.push(chunk)
      combined.push(chunk)
      options.onOutput?.(chunk, 'stdout')
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      combined.push(chunk)
      options.onOutput?.(chunk, 'stderr')
    })
    child.on('error', error => finish(null, error.message))
    child.on('exit', code => {
      clearTimeout(deadline)
      // Whatever the timed-out program left in its group goes now, not after the grace period.
      if (timedOut) killGroup('SIGKILL')
      // Wait briefly for the pipes to drain; a descendant left holding them must not hang the gate.
      child.on('close', () => finish(code))
      timers.push(setTimeout(() => finish(code), PIPE_GRACE_MS))
    })
    const deadline = setTimeout(() => {
      timedOut = true
      killGroup('SIGTERM')
      timers.push(setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS))
    }, options.timeoutMs)
    timers.push(deadline)
  })
}
