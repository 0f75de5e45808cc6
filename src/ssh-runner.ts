import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { describeError, GateError } from './errors.js'
import { runProcess, type ProcessResult } from './process.js'
import type { Runner, RunOptions } from './runner.js'
import type { SshTarget } from './settings.js'
import { lastLines } from './tail-buffer.js'

/** Seconds ssh may spend on the TCP connect before giving up. */
const CONNECT_TIMEOUT_SECONDS = 20
/** Hard bound on opening the connection: TCP connect, key exchange and authentication. */
const OPEN_BOUND_MS = (CONNECT_TIMEOUT_SECONDS + 25) * 1000
/** Bound on closing the shared connection at the end. */
const CLOSE_BOUND_MS = 5000
/** A unix socket path must fit in 108 bytes and ssh appends a 17-byte suffix while creating it. */
const MAX_CONTROL_PATH = 90
/** The master exits by itself after this long unused, should this process die before closing it. */
const CONTROL_PERSIST_SECONDS = 600

/** Where commands run, as messages and the summary name it: `user@host:port`, or `local`. */
export function describeTarget(target: SshTarget | undefined): string {
  if (!target) return 'local'
  return `${target.user ? `${target.user}@` : ''}${target.host}:${target.port}`
}

/** The private files one connection needs, all removed on close. */
export interface SshResources {
  /** Directories created for this run (key, known_hosts, control socket). */
  dirs: string[]
  controlPath: string
  destination: string
}

/**
 * One authenticated ssh connection to the staging host, shared by every command of the run
 * (ControlMaster in a private directory), so the host key is checked once and each further
 * command costs a round trip, not a handshake.
 */
export class SshRunner implements Runner {
  private closed = false

  private constructor(
    readonly where: string,
    private readonly args: string[],
    private readonly resources: SshResources
  ) {}

  /**
   * Writes the key (0600) and known_hosts into a fresh private directory under `tempRoot`, then
   * opens the master connection. Throws a GateError (`host-key` or `transport`) naming the cause;
   * on failure nothing is left behind. `remember` learns the resources first, for the post step.
   */
  static async open(
    target: SshTarget,
    tempRoot: string,
    remember: (resources: SshResources) => void = () => undefined
  ): Promise<SshRunner> {
    const destination = target.user ? `${target.user}@${target.host}` : target.host
    const resources: SshResources = { dirs: [], controlPath: '', destination }
    let args: string[]
    try {
      args = await prepareFiles(target, tempRoot, resources, remember)
    } catch (error) {
      await removeDirs(resources)
      throw new GateError(
        'transport',
        `cannot write the ssh key and known_hosts under ${tempRoot || os.tmpdir()}: ${describeError(error)}`
      )
    }

    const runner = new SshRunner(describeTarget(target), args, resources)
    const opened = await runProcess(
      'ssh',
      [
        ...args,
        '-o', 'ControlMaster=yes',
        '-o', `ControlPersist=${CONTROL_PERSIST_SECONDS}`,
        '-f', '-N',
        '--', destination
      ], // prettier-ignore
      { timeoutMs: OPEN_BOUND_MS }
    )
    if (opened.exitCode !== 0 || opened.timedOut) {
      // No master exists: ssh forks it only after authenticating, and then exits 0.
      await removeDirs(resources)
      throw connectError(runner.where, opened)
    }
    return runner
  }

  run(command: string, options: RunOptions): Promise<ProcessResult> {
    const args = [...this.args, '-o', 'ControlMaster=no', '--', this.resources.destination, command]
    return runProcess('ssh', args, options)
  }

  /** Stops the master connection and removes the key, known_hosts and socket directories. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await closeSshResources(this.resources)
  }
}

/**
 * Creates the private directory with known_hosts and the key (0600), and returns ssh's options.
 * `resources` learns each directory as soon as it exists, so a failure half-way removes it.
 */
async function prepareFiles(
  target: SshTarget,
  tempRoot: string,
  resources: SshResources,
  remember: (resources: SshResources) => void
): Promise<string[]> {
  const dir = await mkdtemp(path.join(tempRoot || os.tmpdir(), 'provenance-gate-'))
  resources.dirs.push(dir)
  resources.controlPath = path.join(dir, 'cm')
  if (resources.controlPath.length > MAX_CONTROL_PATH) {
    const socketDir = await mkdtemp(path.join(os.tmpdir(), 'pg-'))
    resources.dirs.push(socketDir)
    resources.controlPath = path.join(socketDir, 'cm')
  }
  remember(resources)

  const knownHostsFile = path.join(dir, 'known_hosts')
  await writeFile(knownHostsFile, target.knownHosts, { mode: 0o600 })
  const args = [
    '-T',
    '-o', 'BatchMode=yes',
    '-o', `ConnectTimeout=${CONNECT_TIMEOUT_SECONDS}`,
    '-o', 'ServerAliveInterval=15',
    '-o', 'ServerAliveCountMax=4',
    '-o', `StrictHostKeyChecking=${target.strictHostKeyChecking ? 'yes' : 'accept-new'}`,
    '-o', `UserKnownHostsFile=${knownHostsFile}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', `ControlPath=${resources.controlPath}`,
    '-o', 'LogLevel=ERROR',
    '-p', String(target.port)
  ] // prettier-ignore
  if (target.privateKey) {
    const keyFile = path.join(dir, 'key')
    await writeFile(keyFile, target.privateKey, { mode: 0o600 })
    args.push('-i', keyFile, '-o', 'IdentitiesOnly=yes')
  }
  return args
}

/** Closes a master and removes its files; used by `close` and, after a crash, by the post step. */
export async function closeSshResources(resources: SshResources): Promise<void> {
  const { controlPath, destination } = resources
  await runProcess('ssh', ['-o', `ControlPath=${controlPath}`, '-O', 'exit', '--', destination], {
    timeoutMs: CLOSE_BOUND_MS
  })
  await removeDirs(resources)
}

/** Removes the private directories (key, known_hosts, socket) of one connection. */
async function removeDirs(resources: SshResources): Promise<void> {
  await Promise.all(resources.dirs.map(dir => rm(dir, { recursive: true, force: true })))
}

/** Words a failed connect for the user, telling a host-key problem apart from the network. */
export function connectError(where: string, result: ProcessResult): GateError {
  if (result.spawnError) {
    return new GateError('transport', `cannot run ssh on this runner: ${result.spawnError}`)
  }
  if (result.timedOut) {
    return new GateError(
      'transport',
      `ssh connection to ${where} timed out after ${OPEN_BOUND_MS / 1000} s`
    )
  }
  const detail = lastLines(result.outputTail) || `exit ${result.exitCode}`
  if (
    /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key .* not known/i.test(
      result.outputTail
    )
  ) {
    return new GateError(
      'host-key',
      `ssh host key of ${where} does not match known-hosts (the hook did not run): ${detail}`
    )
  }
  return new GateError('transport', `ssh connection to ${where} failed: ${detail}`)
}
