/*
 * Why not @actions/exec (v3, measured on node 24 here; README "Dependencies"): it has no timeout
 * and hands back no child to kill, so `exec('sleep', ['600'])` was still waiting after 5 s with
 * nothing to stop it; it does not start a process group, so a hook's children would outlive a
 * kill; `getExecOutput` keeps all output (40 MB of output: 605 MiB max RSS, 11 s, against 1 MiB
 * kept and about 22 MiB here); `input` is one Buffer, not a stream with backpressure (the context
 * upload); and it cannot stop at an end line. Every process the gate starts needs one of these.
 */
import { spawn } from 'node:child_process'
import type { Readable } from 'node:stream'
import { TailBuffer } from './tail-buffer.js'

/** How a bounded process ended. */
export interface ProcessResult {
  /** `null` when it was killed by a signal or never started. */
  exitCode: number | null
  timedOut: boolean
  /** Set when the program could not be started at all (e.g. not on PATH). */
  spawnError?: string
  /** The last bytes of stdout: all of it for the answers that are parsed. */
  stdout: string
  /** Set when stdout was longer than what is kept, so a parsed answer may be missing its start. */
  stdoutTruncated?: boolean
  /** The last bytes of stdout and stderr interleaved, for messages. */
  outputTail: string
  /** Set when `endsWith` was seen on stdout and the process was stopped there, not awaited. */
  ended?: boolean
}

/** Options for one bounded process. */
export interface ProcessOptions {
  timeoutMs: number
  /** Receives every output chunk as it arrives, with the stream it came from, for live logs. */
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void
  /** What the program reads on stdin; nothing (`/dev/null`) when absent. */
  input?: string | Readable
  /**
   * A line that ends the answer: once stdout has it, the result is complete and the process (and
   * whatever holds its pipes) is stopped instead of awaited, so a stray child cannot hold the gate.
   */
  endsWith?: string
  /** The environment; `childEnvironment()` when absent. */
  env?: NodeJS.ProcessEnv
}

/** Bytes of stdout kept: a session's answers (container inspects run to several KiB each). */
export const KEEP_BYTES = 1024 * 1024
/** Bytes of combined output kept for messages. */
const TAIL_BYTES = 64 * 1024
/** After SIGTERM a process gets this long before SIGKILL. */
const KILL_GRACE_MS = 3000
/** After the end line, how long the process may take to exit by itself before it is stopped. */
const END_GRACE_MS = 300
/** After exit, how long descendants holding the pipes may keep them before we stop reading. */
const PIPE_GRACE_MS = 500

/**
 * Variables no child may inherit: the inputs (the private key and registry password among them),
 * the runner's tokens, and the file commands, through which a hook could write this step's outputs
 * or the state the post step trusts.
 */
const PRIVATE_VARIABLES =
  /^(INPUT_.*|ACTIONS_RUNTIME_TOKEN|ACTIONS_ID_TOKEN_REQUEST_TOKEN|ACTIONS_ID_TOKEN_REQUEST_URL|ACTIONS_RUNTIME_URL|ACTIONS_RESULTS_URL|ACTIONS_CACHE_URL|GITHUB_TOKEN|GITHUB_OUTPUT|GITHUB_STATE|GITHUB_ENV|GITHUB_PATH|GITHUB_STEP_SUMMARY|STATE_.*)$/i

/**
 * The environment every process the gate starts gets: the action's own minus its inputs, tokens
 * and file commands. `withoutGit` also drops every `GIT_*` variable, so a `GIT_DIR` or
 * `GIT_WORK_TREE` in the job cannot move the revision the gate reads.
 */
export function childEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  withoutGit = false
): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(env)) {
    if (PRIVATE_VARIABLES.test(name)) continue
    if (withoutGit && /^GIT_/i.test(name)) continue
    clean[name] = value
  }
  return clean
}

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
    const combined = new TailBuffer(TAIL_BYTES)
    let timedOut = false
    let ended = false
    let settled = false
    let recent = ''
    const timers: NodeJS.Timeout[] = []

    const child = spawn(file, args, {
      detached: true,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: options.env ?? childEnvironment()
    })

    const finish = (exitCode: number | null, spawnError?: string): void => {
      if (settled) return
      settled = true
      timers.forEach(clearTimeout)
      child.stdout?.destroy()
      child.stderr?.destroy()
      child.stdin?.destroy()
      if (typeof options.input === 'object') options.input.destroy()
      resolve({
        exitCode,
        timedOut,
        spawnError,
        stdout: stdout.text(),
        ...(stdout.total > KEEP_BYTES ? { stdoutTruncated: true } : {}),
        outputTail: combined.text(),
        ...(ended ? { ended: true } : {})
      })
    }

    const killGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal)
      } catch {
        // The group is already gone.
      }
    }

    if (child.stdin) {
      // The reader may stop early (a refused session, a finished answer): that is not our error.
      child.stdin.on('error', () => undefined)
      if (typeof options.input === 'string') child.stdin.end(options.input)
      else if (options.input) options.input.pipe(child.stdin)
    }
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout.push(chunk)
      combined.push(chunk)
      options.onOutput?.(chunk, 'stdout')
      if (options.endsWith && !ended) {
        recent = (recent + chunk.toString('latin1')).slice(-(options.endsWith.length + 4096))
        if (recent.includes(options.endsWith)) {
          // The answer is whole. A stray child may hold the pipes open: after a moment for the
          // last stderr bytes, stop the local end (for ssh, the channel); the exit then reports.
          ended = true
          timers.push(setTimeout(() => killGroup('SIGKILL'), END_GRACE_MS))
        }
      }
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

/** A bounded process whose stdout is consumed as a stream (never buffered whole). */
export interface StreamingProcess {
  stdout: Readable
  /** How it ended: stdout is always empty here; stderr's tail is in `outputTail`. */
  done: Promise<ProcessResult>
  /** Stops its whole process group now. */
  stop(): void
}

/** Like runProcess, but stdout is handed to the caller as a stream with backpressure. */
export function spawnStream(
  file: string,
  args: string[],
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv }
): StreamingProcess {
  const stderr = new TailBuffer(TAIL_BYTES)
  let timedOut = false
  const child = spawn(file, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? childEnvironment()
  })
  const stop = (): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
  const deadline = setTimeout(() => {
    timedOut = true
    stop()
  }, options.timeoutMs)
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
  const done = new Promise<ProcessResult>(resolve => {
    child.on('error', error => {
      clearTimeout(deadline)
      resolve({ exitCode: null, timedOut, spawnError: error.message, stdout: '', outputTail: '' })
    })
    child.on('close', code => {
      clearTimeout(deadline)
      resolve({ exitCode: code, timedOut, stdout: '', outputTail: stderr.text() })
    })
  })
  return { stdout: child.stdout, done, stop }
}
