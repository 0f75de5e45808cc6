import type { Readable } from 'node:stream'
import {
  childEnvironment,
  runProcess,
  spawnStream,
  type ProcessOptions,
  type ProcessResult,
  type StreamingProcess
} from './process.js'
import { SESSION_COMMAND } from './protocol.js'

/** Options for one session: its bound, a live output sink, and where its answer ends. */
export type RunOptions = Omit<ProcessOptions, 'input' | 'env'>

/**
 * The one seam every remote (or local) session goes through: a POSIX sh script, read by a fixed
 * `sh -s` on the staging host over ssh or on this runner, optionally followed by a payload on the
 * same stdin. Tests swap this object, not modules.
 */
export interface Runner {
  /** Where commands run, for messages (`local` or `user@host:port`). */
  readonly where: string
  session(input: string | Readable, options: RunOptions): Promise<ProcessResult>
  /** Releases what the runner holds (connection, files); safe to call more than once. */
  close(): Promise<void>
}

/**
 * This runner itself: sessions for a self-hosted runner on the staging host, and git, run as argv
 * (never a shell string) with every GIT_* variable cleared, so the job's environment cannot point
 * the revision at another repository.
 */
export class LocalRunner implements Runner {
  readonly where = 'local'

  session(input: string | Readable, options: RunOptions): Promise<ProcessResult> {
    const [shell = 'sh', ...args] = SESSION_COMMAND.split(' ')
    return runProcess(shell, args, { ...options, input })
  }

  git(args: string[], timeoutMs: number): Promise<ProcessResult> {
    return runProcess('git', args, { timeoutMs, env: childEnvironment(process.env, true) })
  }

  /** git with its stdout as a stream (the upload's archive), bounded like every process. */
  gitStream(args: string[], timeoutMs: number): StreamingProcess {
    return spawnStream('git', args, { timeoutMs, env: childEnvironment(process.env, true) })
  }

  async close(): Promise<void> {}
}
