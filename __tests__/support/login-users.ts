/**
 * Test hosts the way users have them: real system users on the loopback sshd with bash, dash or
 * zsh as login shell, startup files that print a banner, or a forced command on their key. sshd
 * runs every command through the user's login shell, so these are where a remote session meets
 * word splitting, rc-file chatter and `restrict,command=…`.
 *
 * Tests create the users they need and remove them again (`remove`), so a fresh CI machine works.
 * Needs root (useradd/userdel), like the rest of the harness.
 *
 * Verified on Debian 12 (OpenSSH 9.2, bash 5.2, dash 0.5.12, zsh 5.9), sshd without PAM:
 * - bash reads ~/.bashrc for a command sent over ssh (Debian builds it to), before the skeleton's
 *   "not interactive: return" line, so a banner has to go above that line.
 * - zsh reads ~/.zshenv for every shell, interactive or not.
 * - dash reads no file when not interactive; sshd runs ~/.ssh/rc with /bin/sh before the command
 *   of every user whose key line lacks `restrict`/`no-user-rc`, and its stdout reaches the client.
 * - A forced command is run through the user's login shell too (`bash -c <forced>`), so a bash
 *   user's ~/.bashrc banner still shows before it; `restrict` turns ~/.ssh/rc off.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { StagingHost } from './services.js'

/** The login shells tests cover, as Debian installs them. */
export const LOGIN_SHELLS = {
  bash: '/bin/bash',
  dash: '/bin/dash',
  zsh: '/usr/bin/zsh'
} as const

export type LoginShell = keyof typeof LOGIN_SHELLS

/** What the banner option prints on stdout, with no newline after it (as real banners do). */
export const BANNER = 'Welcome to staging'
/** The line the banner option prints on stderr, next to the stdout banner. */
export const BANNER_STDERR = 'staging: this host is shared, be nice'

/** The reference forced command (POSIX sh): runs `sh -s` only, logs every request. */
export const GATE_SHELL_SOURCE = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  'gate-shell.sh'
)

export interface LoginUserOptions {
  /**
   * Startup files print `BANNER` (no trailing newline) on stdout and `BANNER_STDERR` on stderr
   * before every command: bash ~/.bashrc, zsh ~/.zshenv, dash ~/.ssh/rc.
   */
  banner?: boolean
  /**
   * Absolute path of a forced command: the key's line becomes `restrict,command="<path>" <key>`.
   * `installGateShell` provides the reference one. The path must be reachable by the user.
   */
  forcedCommand?: string
}

/** A system user created for one test file; `remove` deletes it with its home. */
export interface LoginUser {
  name: string
  /** The login shell's path, e.g. /usr/bin/zsh. */
  shell: string
  home: string
  uid: number
  gid: number
  /** The startup file that prints the banner, when `banner` was asked for. */
  bannerFile?: string
  /** Where the reference gate-shell logs the requests it got (`~/gate-shell.log`). */
  gateShellLog: string
  /** Ends the user's leftover processes (by PID), then `userdel -r`. Safe to call twice. */
  remove(): Promise<void>
}

let userCounter = 0

/**
 * A user name no other test process picks (`pg<tag><pid><n>`, at most 32 characters), so test
 * files can run side by side and a run killed half way does not block the next.
 */
export function uniqueUserName(tag: string): string {
  userCounter += 1
  const name = `pg${tag}${process.pid}${userCounter}`.toLowerCase()
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(name)) throw new Error(`bad user name ${name}`)
  return name
}

function userExists(name: string): boolean {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * Adds the o+x (search, not list) bit to every directory above `target` up to the temp
 * directory, so another user can reach `target` through root's 0700 `mkdtemp` directories.
 * Refuses paths outside the temp directory: this is for test scratch only.
 */
export function allowTraverse(target: string): void {
  const top = realpathSync(tmpdir())
  let dir = path.dirname(realpathSync(target))
  if (!dir.startsWith(`${top}/`) && dir !== top) {
    throw new Error(`allowTraverse: ${target} is not under ${top}`)
  }
  while (dir.startsWith(`${top}/`)) {
    const { mode } = statSync(dir)
    if (!(mode & 0o001)) chmodSync(dir, (mode & 0o7777) | 0o001)
    dir = path.dirname(dir)
  }
}

/**
 * Makes a scratch directory (git repository, build context, hook) usable by a login user: the
 * user owns it and everything in it, and can reach it through the root-owned 0700 directories
 * `mkdtemp` made above it. Call it after filling the directory, before the user's session.
 */
export function shareWithUser(dir: string, user: Pick<LoginUser, 'name' | 'uid' | 'gid'>): void {
  execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir])
  allowTraverse(dir)
}

/**
 * Puts the reference gate-shell into the host's directory, reachable by every user, and returns
 * its path for `forcedCommand`. Root owns it, so the user cannot change what is forced on them.
 */
export function installGateShell(host: Pick<StagingHost, 'dir'>): string {
  const bin = path.join(host.dir, 'bin')
  mkdirSync(bin, { recursive: true })
  chmodSync(bin, 0o755)
  const target = path.join(bin, 'gate-shell')
  copyFileSync(GATE_SHELL_SOURCE, target)
  chmodSync(target, 0o755)
  allowTraverse(target)
  return target
}

/** The group owning the test dockerd's socket (`docker`, from the docker.io package). */
function dockerSocketGroup(dockerHost: string): string {
  if (!dockerHost.startsWith('unix://')) throw new Error(`not a unix socket: ${dockerHost}`)
  const socket = dockerHost.slice('unix://'.length)
  const { gid } = statSync(socket)
  if (gid === 0) {
    throw new Error(
      `${socket} belongs to group root: no docker group on this machine (scripts/provision.sh installs docker.io, which adds it)`
    )
  }
  allowTraverse(socket)
  return execFileSync('getent', ['group', String(gid)], { encoding: 'utf8' }).split(':')[0] ?? ''
}

/** Processes running as `uid`, by PID (what the user's ssh sessions left). */
function processesOf(uid: number): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (statSync(`/proc/${entry}`).uid === uid) pids.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}

function writeOwned(file: string, text: string, mode: number, uid: number, gid: number): void {
  writeFileSync(file, text, { mode })
  chmodSync(file, mode)
  chownSync(file, uid, gid)
}

/** What one `ssh` client run returned. */
export interface SshRun {
  status: number | null
  stdout: string
  stderr: string
}

/**
 * Runs the real ssh client as the gate does: `ssh -T … user@127.0.0.1 <command>` with the host's
 * test key, its pinned host key and `input` on stdin (`sh -s` reads the script from there).
 */
export function sshAs(
  host: Pick<StagingHost, 'dir' | 'sshPort' | 'privateKeyFile' | 'knownHosts'>,
  user: string,
  command: string,
  input = ''
): SshRun {
  const knownHosts = path.join(host.dir, 'login-users-known_hosts')
  writeFileSync(knownHosts, host.knownHosts)
  const run = spawnSync(
    'ssh',
    [
      '-T',
      '-F', '/dev/null',
      '-i', host.privateKeyFile,
      '-p', String(host.sshPort),
      '-o', 'BatchMode=yes',
      '-o', 'IdentitiesOnly=yes',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', `UserKnownHostsFile=${knownHosts}`,
      '-o', 'LogLevel=ERROR',
      `${user}@127.0.0.1`,
      command
    ], // prettier-ignore
    { input, encoding: 'utf8', timeout: 30000 }
  )
  return { status: run.status, stdout: run.stdout, stderr: run.stderr }
}

/** The banner lines for a startup file: stdout without a newline, then one stderr line. */
const bannerLines = `printf '%s' '${BANNER}'\necho '${BANNER_STDERR}' >&2\n`

/**
 * Creates a real system user that logs in to `host`'s sshd with the host's test key
 * (`host.privateKeyFile`), has `shell` as login shell and may use the host's test dockerd
 * (member of the socket's group; DOCKER_HOST comes from the sshd's SetEnv). Throws if the user
 * exists already: tests never touch accounts they did not create.
 */
export function addLoginUser(
  host: Pick<StagingHost, 'privateKeyFile' | 'dockerHost'>,
  name: string,
  shell: LoginShell,
  options: LoginUserOptions = {}
): LoginUser {
  const shellPath = LOGIN_SHELLS[shell]
  if (!existsSync(shellPath)) {
    throw new Error(`${shellPath} is missing: run scripts/provision.sh (npm test does) first`)
  }
  if (options.banner && shell === 'dash' && options.forcedCommand) {
    // restrict implies no-user-rc: the dash banner (~/.ssh/rc) would silently not show.
    throw new Error('a dash banner comes from ~/.ssh/rc, which restrict (forcedCommand) turns off')
  }
  if (options.forcedCommand && /["\\\s]/.test(options.forcedCommand)) {
    throw new Error(`forcedCommand must be a plain path: ${options.forcedCommand}`)
  }
  if (userExists(name)) throw new Error(`user ${name} exists already`)
  const group = dockerSocketGroup(host.dockerHost)
  execFileSync('useradd', ['-m', '-s', shellPath, '-G', group, name], { stdio: 'pipe' })
  let removed = false
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim())
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim())
  const home = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).split(':')[5] ?? ''
  const user: LoginUser = {
    name,
    shell: shellPath,
    home,
    uid,
    gid,
    gateShellLog: path.join(home, 'gate-shell.log'),
    async remove() {
      if (removed) return
      removed = true
      for (let i = 0; i < 50; i++) {
        const left = processesOf(uid)
        if (!left.length) break
        for (const pid of left) {
          try {
            process.kill(pid, i < 20 ? 'SIGTERM' : 'SIGKILL')
          } catch {
            // exited meanwhile
          }
        }
        await new Promise(resolve => setTimeout(resolve, 100))
      }
      execFileSync('userdel', ['-r', name], { stdio: 'pipe' })
    }
  }
  try {
    // sshd without PAM refuses a locked account ("!" in shadow); "*" is unlocked but has no password.
    execFileSync('usermod', ['-p', '*', name])
    const sshDir = path.join(home, '.ssh')
    mkdirSync(sshDir, { recursive: true })
    chmodSync(sshDir, 0o700)
    chownSync(sshDir, uid, gid)
    const key = readFileSync(`${host.privateKeyFile}.pub`, 'utf8').trim()
    const line = options.forcedCommand ? `restrict,command="${options.forcedCommand}" ${key}` : key
    writeOwned(path.join(sshDir, 'authorized_keys'), `${line}\n`, 0o600, uid, gid)
    if (options.banner) {
      if (shell === 'bash') {
        // Above the skeleton's "not interactive: return", where such lines end up in practice.
        const bashrc = path.join(home, '.bashrc')
        const skeleton = existsSync(bashrc) ? readFileSync(bashrc, 'utf8') : ''
        writeOwned(bashrc, `${bannerLines}${skeleton}`, 0o644, uid, gid)
        user.bannerFile = bashrc
      } else if (shell === 'zsh') {
        user.bannerFile = path.join(home, '.zshenv')
        writeOwned(user.bannerFile, bannerLines, 0o644, uid, gid)
      } else {
        user.bannerFile = path.join(sshDir, 'rc')
        writeOwned(user.bannerFile, bannerLines, 0o644, uid, gid)
      }
    }
    return user
  } catch (error) {
    // Nothing has logged in yet: no process to end first.
    removed = true
    try {
      execFileSync('userdel', ['-r', name], { stdio: 'ignore' })
    } catch {
      // The error that stopped the setup is the one to report.
    }
    throw error
  }
}
