/**
 * A host whose "docker" is podman, as on Fedora/RHEL and Debian hosts people run: rootful podman
 * 4.3, isolated from the machine's own podman store, behind a wrapper script that stands in for
 * `docker` wherever the gate or a hook calls it.
 *
 * What podman 4.3 needs on this machine kind (found by trying, Debian 12, no systemd):
 * - `--root/--runroot/--storage-driver vfs` keep images and containers under DIR; `--tmpdir`
 *   keeps its run state (exit files, events log, alive lock) out of /run/libpod.
 * - `lock_type = "file"` keeps its locks under DIR too; the default shared-memory locks live in
 *   /dev/shm/libpod_lock, shared with every other rootful podman on the machine.
 * - `netns = "host"`: without it `run` puts containers on podman's bridge (10.88.0.0/16, via
 *   CNI); the tests stay on loopback.
 * - `default_ulimits`: rootful podman raises RLIMIT_NOFILE to 1048576 and RLIMIT_NPROC above what
 *   it runs with itself (32768 here), and runc may not raise limits in this sandbox ("error
 *   setting rlimit type 7/6: operation not permitted", exit 126). `--ulimit host` does not help
 *   in 4.3 (it still asks for 1048576 files). A `--ulimit` on the command line replaces this
 *   whole list, so a hook that passes one must pass both.
 * - `cgroup_manager = "cgroupfs"`, `events_logger = "file"`: what it picks without systemd; set
 *   so a machine with systemd behaves the same.
 * - runc's own state stays in /run/runc (shared, keyed by the unique container id).
 * - `rm -f` waits 10 s for a container whose PID 1 ignores SIGTERM (busybox sleep); `stop` uses
 *   `-t 0`.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'

export interface PodmanHost {
  dir: string
  /** The wrapper script: use it as the `docker` command (`<docker> build|run|image inspect …`). */
  docker: string
  /** Removes every container of this store, then ends what is left of them by PID. */
  stop(): Promise<void>
}

/** Limits below this machine's hard limits and podman's own (see the module comment). */
const ULIMITS = ['nofile=4096:4096', 'nproc=4096:4096']

function containersConf(dir: string): string {
  return [
    '[containers]',
    'netns = "host"',
    `default_ulimits = [${ULIMITS.map(limit => `"${limit}"`).join(', ')}]`,
    '',
    '[engine]',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    'lock_type = "file"',
    `tmp_dir = "${path.join(dir, 'tmp')}"`,
    ''
  ].join('\n')
}

/** PIDs of conmon processes serving containers of the store under `dir` (none after `stop`). */
export function conmonsOf(dir: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      if (path.basename(argv[0] ?? '') === 'conmon' && argv.some(a => a.startsWith(`${dir}/`))) {
        pids.push(Number(entry))
      }
    } catch {
      // gone meanwhile
    }
  }
  return pids
}

/** Whether `pid` has ended: exited, or a zombie waiting for its parent (init) to reap it. */
export function ended(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z'
  } catch {
    return true
  }
}

/** Ends one process of ours by PID: SIGTERM, SIGKILL after `graceMs`. */
async function end(pid: number, graceMs: number): Promise<void> {
  const deadline = Date.now() + graceMs
  let signal: NodeJS.Signals = 'SIGTERM'
  while (!ended(pid)) {
    try {
      process.kill(pid, signal)
    } catch {
      return
    }
    if (Date.now() > deadline) signal = 'SIGKILL'
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/** Mount points under `dir` (podman mounts a shm tmpfs per container). */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map(line => line.split(' ')[1] ?? '')
    .map(point => point.replace(/\\040/g, ' '))
    .filter(point => point.startsWith(`${dir}/`))
}

/**
 * Sets up an isolated rootful podman under `dir` (absolute, created if missing) and checks that it
 * answers from that store. Root only. Nothing runs until a test uses the wrapper.
 */
export function podmanHost(dir: string): PodmanHost {
  try {
    execFileSync('podman', ['--version'], { stdio: 'ignore' })
  } catch {
    throw new Error('podman is missing: run scripts/provision.sh (npm test does) first')
  }
  const root = path.resolve(dir)
  mkdirSync(root, { recursive: true })
  const conf = path.join(root, 'containers.conf')
  writeFileSync(conf, containersConf(root))
  const docker = path.join(root, 'docker')
  const q = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`
  writeFileSync(
    docker,
    [
      '#!/bin/sh',
      '# docker stand-in: rootful podman with its own store (__tests__/support/podman-host.ts)',
      `CONTAINERS_CONF=${q(conf)}`,
      'export CONTAINERS_CONF',
      `exec podman --root ${q(path.join(root, 'root'))} --runroot ${q(path.join(root, 'run'))} --storage-driver vfs --tmpdir ${q(path.join(root, 'tmp'))} "$@"`,
      ''
    ].join('\n')
  )
  chmodSync(docker, 0o755)
  const graphRoot = execFileSync(docker, ['info', '--format', '{{.Store.GraphRoot}}'], {
    encoding: 'utf8'
  }).trim()
  if (graphRoot !== path.join(root, 'root')) {
    throw new Error(`podman wrapper answers from ${graphRoot}, not ${path.join(root, 'root')}`)
  }
  return {
    dir: root,
    docker,
    async stop() {
      // The containers' own PIDs, to make sure they are gone even if podman is not.
      let pids: number[] = []
      try {
        const ids = execFileSync(docker, ['ps', '-q', '--no-trunc'], { encoding: 'utf8' })
          .split('\n')
          .filter(Boolean)
        if (ids.length) {
          pids = execFileSync(docker, ['inspect', '--format', '{{.State.Pid}}', ...ids], {
            encoding: 'utf8'
          })
            .split('\n')
            .map(Number)
            .filter(pid => pid > 0)
        }
      } catch {
        // podman does not answer: the conmon and mount checks below still run.
      }
      try {
        execFileSync(docker, ['rm', '--all', '--force', '--time', '0'], { stdio: 'pipe' })
      } catch {
        // as above
      }
      await Promise.all([...pids, ...conmonsOf(root)].map(pid => end(pid, 3000)))
      for (const point of mountsUnder(root).reverse()) {
        execFileSync('umount', ['-l', point], { stdio: 'ignore' })
      }
    }
  }
}
