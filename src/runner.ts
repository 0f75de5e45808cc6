import { runProcess, type ProcessOptions, type ProcessResult } from './process.js'

/** Options for one command on the target: its bound and, for the hook, a live output sink. */
export type RunOptions = ProcessOptions

/**
 * The one seam every process call goes through: a POSIX shell command line run on the staging
 * host, over ssh or on this runner. Tests swap this object, not modules.
 */
export interface Runner {
  /** Where commands run, for messages (`local` or `user@host:port`). */
  readonly where: string
  run(command: string, options: RunOptions): Promise<ProcessResult>
  /** Releases what the runner holds (connection, files); safe to call more than once. */
  close(): Promise<void>
}

/** Runs commands on this machine with bash, for git and for a self-hosted runner on the host. */
export class LocalRunner implements Runner {
  readonly where = 'local'

  run(command: string, options: RunOptions): Promise<ProcessResult> {
    return runProcess('bash', ['-c', command], options)
  }

  async close(): Promise<void> {}
}
