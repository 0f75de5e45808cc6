/**
 * A throwaway loopback "staging host": a real OpenSSH server and a real Docker engine, each with
 * its own files under one directory, started by us and stopped by the PIDs we started.
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import * as path from 'node:path'

/** What the tests need to reach the host; written to a JSON file for the test workers. */
export interface StagingHost {
  dir: string
  sshPort: number
  sshdPid: number
  dockerdPid: number
  dockerHost: string
  /** Private key text for root on the sshd. */
  privateKey: string
  privateKeyFile: string
  /** The pinned line for the sshd's host key, as `ssh-keyscan -p PORT 127.0.0.1` prints it. */
  knownHosts: string
  /** A valid known_hosts line for another key, to play a changed host key. */
  wrongKnownHosts: string
}

/** Asks the kernel for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

function keygen(file: string): void {
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    'provenance-gate-test',
    '-f',
    file
  ])
}

async function waitFor(what: string, ready: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (ready()) return
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`${what} did not become ready within ${timeoutMs} ms`)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Stops one process we started, by PID: SIGTERM, then SIGKILL if it lingers. */
export async function stopPid(pid: number, graceMs = 8000): Promise<void> {
  if (!pid || !alive(pid)) return
  process.kill(pid, 'SIGTERM')
  try {
    await waitFor(`pid ${pid} exit`, () => !alive(pid), graceMs)
  } catch {
    if (alive(pid)) process.kill(pid, 'SIGKILL')
  }
}

/** Starts dockerd on its own socket and data root, creating no network outside loopback. */
export async function startDockerd(dir: string): Promise<{ pid: number; dockerHost: string }> {
  mkdirSync(dir, { recursive: true })
  const socket = path.join(dir, 'docker.sock')
  const pidFile = path.join(dir, 'dockerd.pid')
  const child = spawn(
    'dockerd',
    [
      '-H', `unix://${socket}`,
      '--data-root', path.join(dir, 'data'),
      '--exec-root', path.join(dir, 'exec'),
      '--pidfile', pidFile,
      '--storage-driver', 'vfs',
      '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false'
    ], // prettier-ignore
    { detached: true, stdio: ['ignore', 'ignore', 'ignore'] }
  )
  child.unref()
  const dockerHost = `unix://${socket}`
  await waitFor(
    'dockerd',
    () => {
      try {
        execFileSync('docker', ['-H', dockerHost, 'version'], { stdio: 'ignore' })
        return true
      } catch {
        return false
      }
    },
    60000
  )
  return { pid: child.pid ?? 0, dockerHost }
}

/** Starts sshd on a free loopback port that lets root in with one generated key. */
export async function startSshd(
  dir: string,
  env: Record<string, string>
): Promise<Omit<StagingHost, 'dir' | 'dockerdPid' | 'dockerHost'>> {
  mkdirSync(dir, { recursive: true })
  mkdirSync('/run/sshd', { recursive: true })
  const hostKey = path.join(dir, 'host_ed25519')
  const otherKey = path.join(dir, 'other_ed25519')
  const userKey = path.join(dir, 'user_ed25519')
  for (const key of [hostKey, otherKey, userKey]) if (!existsSync(key)) keygen(key)
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(`${userKey}.pub`))
  const port = await freePort()
  const pidFile = path.join(dir, 'sshd.pid')
  const config = path.join(dir, 'sshd_config')
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${pidFile}`,
      // Every user but root has their own ~/.ssh/authorized_keys (login-users.ts); root only the
      // file here (the Match block below), not the machine's /root/.ssh. One file for all users
      // would let the test key in as anyone, past a forced command on the user's own line.
      'AuthorizedKeysFile .ssh/authorized_keys',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'MaxSessions 50',
      'MaxStartups 50:30:100',
      // sshd takes the first SetEnv line only: every variable goes on that one line.
      `SetEnv ${Object.entries(env)
        .map(([name, value]) => `${name}=${value}`)
        .join(' ')}`,
      // A Match block runs to the end of the file: it stays last.
      'Match User root',
      `  AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      ''
    ].join('\n')
  )
  execFileSync('/usr/sbin/sshd', ['-t', '-f', config])
  execFileSync('/usr/sbin/sshd', ['-f', config, '-E', path.join(dir, 'sshd.log')])
  // sshd creates the pid file before it writes the number: wait for the number itself.
  const readPid = (): number =>
    existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || 0 : 0
  await waitFor('sshd pid file', () => readPid() > 0, 10000)
  const pid = readPid()
  const hostLine = (pub: string): string => {
    const [type, key] = readFileSync(pub, 'utf8').trim().split(/\s+/)
    return `[127.0.0.1]:${port} ${type} ${key}\n`
  }
  return {
    sshPort: port,
    sshdPid: pid,
    privateKey: readFileSync(userKey, 'utf8'),
    privateKeyFile: userKey,
    knownHosts: hostLine(`${hostKey}.pub`),
    wrongKnownHosts: hostLine(`${otherKey}.pub`)
  }
}

/** The programs the staging host needs; the test command installs them when missing. */
export const REQUIRED_PROGRAMS = ['/usr/sbin/sshd', 'dockerd', 'docker', 'ssh', 'ssh-keygen', 'git']

/** Fails early with the fix when a program is missing (the test command installs them). */
export function checkPrograms(): void {
  const missing = REQUIRED_PROGRAMS.filter(program => {
    try {
      execFileSync('bash', ['-c', `command -v ${program}`], { stdio: 'ignore' })
      return false
    } catch {
      return true
    }
  })
  if (missing.length) {
    throw new Error(`missing ${missing.join(', ')}: run scripts/provision.sh (npm test does) first`)
  }
}

/** Starts the whole staging host under `dir`. */
export async function startStagingHost(dir: string): Promise<StagingHost> {
  checkPrograms()
  const docker = await startDockerd(path.join(dir, 'docker'))
  try {
    const ssh = await startSshd(path.join(dir, 'ssh'), {
      DOCKER_HOST: docker.dockerHost,
      // No buildx and no compose plugin on this host: the legacy builder, and the reference
      // hook's documented switch to build without recreating a compose service.
      DOCKER_BUILDKIT: '0',
      SKIP_COMPOSE: '1'
    })
    return { dir, dockerdPid: docker.pid, dockerHost: docker.dockerHost, ...ssh }
  } catch (error) {
    await stopPid(docker.pid)
    throw error
  }
}

/** Stops exactly the two daemons `startStagingHost` started. */
export async function stopStagingHost(host: StagingHost): Promise<void> {
  await Promise.all([stopPid(host.sshdPid), stopPid(host.dockerdPid, 15000)])
}
