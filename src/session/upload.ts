import { PassThrough, type Readable } from 'node:stream'
import { GateError, InputError } from '../errors.js'
import type { ProcessResult } from './process.js'
import type { LocalRunner } from './runner.js'
import { ArchiveFramer } from './protocol.js'
import type { Settings } from '../settings.js'
import { lastLines } from './tail-buffer.js'

/** A progress line at least this often while the archive is sent. */
const PROGRESS_MS = 5000

/** What the upload did, once its session ended. */
export interface UploadOutcome {
  bytes: number
  /** Set when the upload failed on this side (too large, git archive failed). */
  error?: GateError
}

/**
 * A started upload: the session's stdin (the script now, the archive after `start`), and its
 * outcome once the session is over.
 */
export interface Upload {
  input: Readable
  /**
   * Sends the archive. Called once the host's shell has begun the script: a shell reads its
   * script in blocks (dash does), so archive bytes already in the pipe could be read as script.
   */
  start(): void
  finish(): Promise<UploadOutcome>
}

/**
 * Refuses, before anything runs on the host, a commit whose `git archive` would not be its tree:
 * submodules (the archive leaves them empty) and `export-ignore`/`export-subst` attributes (the
 * archive drops or rewrites files). Either way the image would not hold HEAD's tree.
 */
export async function checkArchivable(
  local: LocalRunner,
  settings: Settings,
  revision: string
): Promise<void> {
  const git = (args: string[]): Promise<ProcessResult> =>
    local.git(['-C', settings.checkoutPath, ...args], settings.timeouts.gitMs)
  const gitlinks = await git(['ls-tree', '-r', '-d', '--full-tree', '-z', revision])
  if (gitlinks.exitCode !== 0 || gitlinks.stdoutTruncated) {
    throw new GateError(
      'git-failed',
      `git ls-tree ${revision} in ${settings.checkoutPath} failed: ${lastLines(gitlinks.outputTail) || gitlinks.spawnError || 'no output'}`
    )
  }
  const submodule = gitlinks.stdout.split('\0').find(entry => entry.startsWith('160000 '))
  if (submodule) {
    throw new InputError(
      `upload-context does not ship submodules, and ${submodule.split('\t')[1] ?? 'one'} is a submodule of ${revision.slice(0, 12)}: git archive would leave it empty. Build from a clone on the host instead (sync-context)`
    )
  }
  const attributes = await git([
    'grep', '-l', '-I', '-E', 'export-(ignore|subst)', revision, '--',
    '.gitattributes', ':(glob)**/.gitattributes'
  ]) // prettier-ignore
  if (attributes.exitCode === 0) {
    const file = attributes.stdout.split('\n')[0]?.replace(`${revision}:`, '') ?? '.gitattributes'
    throw new InputError(
      `upload-context cannot ship ${revision.slice(0, 12)} as it is: ${file} uses export-ignore or export-subst, so git archive would drop or rewrite files. Remove those attributes, or build from a clone on the host (sync-context)`
    )
  }
}

/**
 * Streams `git archive` of the revision behind the session's script, framed for the upload step,
 * never holding more than one frame. Only an archive that git finished without error and that
 * stayed under the size bound gets the terminating frame; otherwise the host sees an incomplete
 * upload and never runs the hook.
 */
export function startUpload(
  local: LocalRunner,
  settings: Settings,
  revision: string,
  script: string,
  progress: (line: string) => void,
  now: () => number
): Upload {
  const max = settings.context.uploadMaxBytes
  const input = new PassThrough()
  const framer = new ArchiveFramer()
  const since = now()
  let error: GateError | undefined
  input.write(script)
  const archive = local.gitStream(
    ['-C', settings.checkoutPath, 'archive', '--format=tar', revision],
    settings.timeouts.rebuildMs
  )
  const abort = (reason: GateError): void => {
    error ??= reason
    archive.stop()
    archive.stdout.unpipe(framer)
    framer.unpipe(input)
    input.end()
  }
  // Counted here, as each chunk arrives: the framer counts a chunk only once it takes it, so a
  // last chunk that crosses the bound would pass unseen.
  let received = 0
  archive.stdout.on('data', (chunk: Buffer) => {
    received += chunk.length
    if (received > max && !error) {
      abort(
        new InputError(
          `the archive of ${revision.slice(0, 12)} exceeds upload-max-mib (${max / 1024 / 1024} MiB); nothing was built. Raise upload-max-mib or shrink the tree`
        )
      )
    }
  })
  archive.stdout.pipe(framer, { end: false })
  const timer = setInterval(() => {
    progress(
      `upload: ${(framer.bytes / 1024 / 1024).toFixed(1)} MiB sent in ${((now() - since) / 1000).toFixed(0)} s`
    )
  }, PROGRESS_MS)
  const ended = archive.done.then(result => {
    clearInterval(timer)
    if (error) return
    if (result.exitCode === 0 && !result.timedOut) {
      framer.end()
      return
    }
    abort(
      new GateError(
        result.timedOut ? 'timeout' : 'git-failed',
        `git archive ${revision.slice(0, 12)} in ${settings.checkoutPath} ${result.timedOut ? 'timed out' : 'failed'}: ${result.spawnError ?? (lastLines(result.outputTail) || `exit ${result.exitCode}`)}; nothing was built`
      )
    )
  })
  let started = false
  return {
    input,
    start: () => {
      if (started || error) return
      started = true
      framer.pipe(input)
    },
    finish: async () => {
      // The session is over: whatever is still being read is of no use now.
      archive.stop()
      await ended
      clearInterval(timer)
      return { bytes: framer.bytes, ...(error ? { error } : {}) }
    }
  }
}
