import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { describeError, GateError, InputError } from '../errors.js'
import { runProcess, type ProcessResult } from './process.js'
import type { Runner, RunOptions } from './runner.js'
import { SESSION_COMMAND } from './protocol.js'
import type { Readable } from 'node:stream'
import type { SshTarget } from '../settings.js'
import { lastLines } from './tail-buffer.js'

/** Seconds ssh may spend on the TCP connect before giving up. */
const CONNECT_TIMEOUT_SECONDS = 20
/** Hard bound on opening the connection: TCP connect, key exchange and authentication. */
const OPEN_BOUND_MS = (CONNECT_TIMEOUT_SECONDS + 25) * 1000
/** Bound on closing the shared connection at the end, and on the local key check. */
const CLOSE_BOUND_MS = 5000
/** Bound on asking the host which key it offers, to word a host-key failure. */
const KEYSCAN_SECONDS = 5
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

    const keyProblem = await checkPrivateKey(args)
    if (keyProblem) {
      await removeDirs(resources)
      throw keyProblem
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
      const offered = isHostKeyFailure(opened.outputTail) ? await offeredHostKeys(target) : []
      throw connectError(runner.where, opened, offered, target.knownHosts)
    }
    return runner
  }

  session(input: string | Readable, options: RunOptions): Promise<ProcessResult> {
    const args = [
      ...this.args,
      '-o', 'ControlMaster=no',
      '--', this.resources.destination, SESSION_COMMAND
    ] // prettier-ignore
    return runProcess('ssh', args, { ...options, input })
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

/**
 * Checks the key locally before connecting, so a key that ssh cannot use fails as bad input with
 * its real cause instead of a bare "Permission denied" from the host. A passphrase is the usual
 * one: batch mode cannot type it. Returns `undefined` when the key is usable or there is none.
 */
async function checkPrivateKey(sshArgs: string[]): Promise<InputError | undefined> {
  const keyFile = sshArgs[sshArgs.indexOf('-i') + 1]
  if (!sshArgs.includes('-i') || !keyFile) return undefined
  const result = await runProcess('ssh-keygen', ['-y', '-P', '', '-f', keyFile], {
    timeoutMs: CLOSE_BOUND_MS
  })
  // Without ssh-keygen the check is skipped; ssh itself still refuses an unusable key.
  if (result.exitCode === 0 || result.spawnError) return undefined
  if (/passphrase/i.test(result.outputTail)) {
    return new InputError(
      'input private-key is protected by a passphrase: the gate runs ssh in batch mode and cannot type it. Use a deploy key without a passphrase, kept in a secret'
    )
  }
  const detail = lastLines(result.outputTail.split(keyFile).join('<key>')) || 'unreadable'
  return new InputError(`input private-key is not a usable private key (ssh-keygen: ${detail})`)
}

/** A key the host offered, as ssh-keyscan printed it. */
export interface OfferedKey {
  /** The known_hosts line to pin, e.g. `[127.0.0.1]:2222 ssh-ed25519 AAAA…`. */
  line: string
  type: string
  /** `SHA256:…`, the form `ssh-keygen -lf` prints on the host. */
  fingerprint: string
}

/** Asks the host for its keys with ssh-keyscan (bounded); an empty list when it cannot. */
async function offeredHostKeys(target: SshTarget): Promise<OfferedKey[]> {
  const result = await runProcess(
    'ssh-keyscan',
    ['-T', String(KEYSCAN_SECONDS), '-p', String(target.port), '--', target.host],
    { timeoutMs: (KEYSCAN_SECONDS + 2) * 1000 }
  )
  return parseKeyscan(result.stdout)
}

/** Parses ssh-keyscan output into pin-able lines with their SHA256 fingerprints. */
export function parseKeyscan(stdout: string): OfferedKey[] {
  const keys: OfferedKey[] = []
  for (const line of stdout.split('\n')) {
    const [host, type, blob] = line.trim().split(/\s+/)
    if (!host || host.startsWith('#') || !type || !blob || !/^[A-Za-z0-9+/]+=*$/.test(blob)) {
      continue
    }
    const digest = createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64')
    keys.push({
      line: `${host} ${type} ${blob}`,
      type,
      fingerprint: `SHA256:${digest.replace(/=+$/, '')}`
    })
  }
  return keys
}

const HOST_KEY_FAILURE =
  /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key .* not known|No [A-Z0-9]+ host key is known/i

function isHostKeyFailure(output: string): boolean {
  return HOST_KEY_FAILURE.test(output)
}

/** The key ssh complained about: the type it names (`ED25519` → `ssh-ed25519`), else ed25519. */
function pickOffered(output: string, offered: OfferedKey[]): OfferedKey | undefined {
  const named = /\b(ED25519|ECDSA|RSA)\b/.exec(output)?.[1] ?? 'ED25519'
  const prefix = named === 'ECDSA' ? 'ecdsa-' : named === 'RSA' ? 'ssh-rsa' : 'ssh-ed25519'
  return offered.find(key => key.type.startsWith(prefix)) ?? offered[0]
}

/** ssh's words for a host key listed on an `@revoked` line (OpenSSH 9.2, tried for real). */
const REVOKED_OUTPUT = /REVOKED HOST KEY DETECTED|is marked as revoked|was revoked/i

/** The key blobs of the `@revoked` lines of a known_hosts text. */
function revokedBlobs(knownHosts: string): Set<string> {
  const blobs = new Set<string>()
  for (const line of knownHosts.split('\n')) {
    const [marker, , , blob] = line.trim().split(/\s+/)
    if (marker === '@revoked' && blob) blobs.add(blob)
  }
  return blobs
}

function blobOf(key: OfferedKey): string {
  return key.line.split(' ')[2] ?? ''
}

/**
 * Words a failed connect for the user: a host-key problem (with the key the host offered and the
 * line to pin, or, for a key on an `@revoked` line of `knownHosts`, never a line to pin), a
 * refused login, or the network. Only the network kind may be retried: nothing has run on the
 * host yet, and a new attempt can succeed.
 */
export function connectError(
  where: string,
  result: ProcessResult,
  offered: OfferedKey[] = [],
  knownHosts = ''
): GateError {
  if (result.spawnError) {
    return new GateError('transport', `cannot run ssh on this runner: ${result.spawnError}`)
  }
  if (result.timedOut) {
    return new GateError(
      'transport',
      `ssh connection to ${where} timed out after ${OPEN_BOUND_MS / 1000} s`,
      true
    )
  }
  const detail = lastLines(result.outputTail) || `exit ${result.exitCode}`
  if (isHostKeyFailure(result.outputTail)) {
    const revoked = revokedBlobs(knownHosts)
    const complained = pickOffered(result.outputTail, offered)
    // ssh 9.2 calls a key that is both revoked and pinned "not known": the offered key tells.
    if (REVOKED_OUTPUT.test(result.outputTail) || (complained && revoked.has(blobOf(complained)))) {
      const shown = [complained, ...offered].find(k => k && revoked.has(blobOf(k)))
      return new GateError(
        'host-key',
        `ssh host key of ${where} is REVOKED in known-hosts: an @revoked line lists the key the host offered${shown ? ` (${shown.type} ${shown.fingerprint})` : ''}, so ssh refused it (the hook did not run). A revoked key may be in someone else's hands: do not pin it again. Find out why it was revoked; if the host has a new key, check its fingerprint out of band (\`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub\` on the host) and pin that key in known-hosts.`
      )
    }
    const changed = /CHANGED/.test(result.outputTail)
    const key = pickOffered(
      result.outputTail,
      offered.filter(k => !revoked.has(blobOf(k)))
    )
    const advice = key
      ? `The host offered ${key.type} ${key.fingerprint}. If that is your staging host's key (compare with \`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub\` on the host), pin this line in known-hosts: ${key.line}`
      : 'Run ssh-keyscan against the host from a network you trust, compare the fingerprint with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the host, and pin the line in known-hosts.'
    return new GateError(
      'host-key',
      `ssh host key of ${where} ${changed ? 'has CHANGED from' : 'does not match'} the pinned known-hosts (the hook did not run). ${advice}`
    )
  }
  if (/Permission denied|Too many authentication failures|no mutual signature/i.test(detail)) {
    return new GateError(
      'transport',
      `ssh login to ${where} refused (${detail}): the host does not accept private-key for this user; check user and the key's line in authorized_keys (not retried)`
    )
  }
  return new GateError('transport', `ssh connection to ${where} failed: ${detail}`, true)
}
