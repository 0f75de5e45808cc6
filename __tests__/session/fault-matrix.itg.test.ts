/**
 * Fault matrix (real): every fault is injected into a real component — the loopback sshd, the
 * test dockerd, git, bash, the host's PATH — never a mock, and the bundled action is run against
 * it exactly as the runner runs it. For each fault the job must fail with one error annotation,
 * the right `failure` class and verdict, a reason that names the cause, no secret in anything it
 * printed or wrote, nothing left in RUNNER_TEMP, no ssh process left, and (where the fault comes
 * before the hook) no sign that the hook ran.
 */
import { beforeAll, describe, expect, test } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs'
import * as path from 'node:path'
import {
  buildImage,
  makeRepo,
  peakMemoryKb,
  runAction,
  scratchDir,
  writeScript,
  type ActionRun,
  OUTPUT_NAMES
} from '../support/action.js'
import { expectCleanRun, outcome, secretLines, sshInputs } from '../support/expect-run.js'
import { freePort, type StagingHost } from '../support/services.js'
import { useStagingHost } from '../support/staging-host.js'

const LABEL = 'org.opencontainers.image.revision'

const stagingHost = useStagingHost()
let host: StagingHost
/** One repository and an image correctly built from its HEAD: the passing baseline. */
let good: { dir: string; head: string; image: string }
let counter = 0

function imageRef(): string {
  counter += 1
  return `localhost:5000/shop/fault:t${process.pid}-${counter}`
}

beforeAll(() => {
  host = stagingHost()
  const repo = makeRepo()
  const image = imageRef()
  buildImage(host.dockerHost, image, { [LABEL]: repo.head })
  good = { ...repo, image }
}, 60_000)

// ---------------------------------------------------------------------------------------------
// /proc helpers: only ever used on processes the harness's sshd started.

interface ProcStat {
  pid: number
  comm: string
  ppid: number
  pgrp: number
}

function procStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const close = text.lastIndexOf(')')
    const [, ppid, pgrp] = text.slice(close + 2).split(' ')
    return {
      pid,
      comm: text.slice(text.indexOf('(') + 1, close),
      ppid: Number(ppid),
      pgrp: Number(pgrp)
    }
  } catch {
    return undefined
  }
}

function allProcesses(): ProcStat[] {
  return readdirSync('/proc')
    .filter(entry => /^[0-9]+$/.test(entry))
    .map(entry => procStat(Number(entry)))
    .filter((stat): stat is ProcStat => stat !== undefined)
}

/** Every live descendant of `root`. */
function descendantsOf(root: number): ProcStat[] {
  const all = allProcesses()
  const found: ProcStat[] = []
  let frontier = [root]
  while (frontier.length) {
    const children = all.filter(stat => frontier.includes(stat.ppid))
    found.push(...children)
    frontier = children.map(stat => stat.pid)
  }
  return found
}

/** Whether a process is alive and not a zombie waiting to be reaped. */
function running(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

/**
 * Cuts every live ssh connection of the harness's sshd the way a crash or a reset does: SIGKILL
 * to the per-connection sshd processes (the privileged monitor and its network child), never to
 * the listening daemon. Returns how many it killed.
 */
function killSshdSessions(): number {
  const victims = descendantsOf(host.sshdPid).filter(stat => stat.comm === 'sshd')
  for (const victim of victims) process.kill(victim.pid, 'SIGKILL')
  return victims.length
}

/** PIDs written one per line by a hook on the host. */
function readPids(file: string): number[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(line => /^[0-9]+$/.test(line))
    .map(Number)
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (condition()) return true
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return condition()
}

/** `SHA256:…` of a public key file, as `ssh-keygen -lf` prints it on the host. */
function fingerprintOf(publicKeyFile: string): string {
  return (
    execFileSync('ssh-keygen', ['-lf', publicKeyFile], { encoding: 'utf8' }).split(' ')[1] ?? ''
  )
}

/** A fresh ed25519 key pair in `dir`; `passphrase` protects it. Returns the private key text. */
function newKey(dir: string, passphrase = ''): string {
  const file = path.join(dir, `key-${passphrase ? 'pw' : 'plain'}`)
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'other', '-f', file])
  return readFileSync(file, 'utf8')
}

// ---------------------------------------------------------------------------------------------
// The table.

/** What one fault row gets to build its case from. */
interface Ctx {
  /** A private scratch directory for this row. */
  dir: string
  /** Written by every hook of this row as its first act: its presence means the hook ran. */
  marker: string
  /** The hook's PID (`$$`), written just before the marker. */
  hookPid: string
  /** A hook that writes the marker and then runs `body`. */
  hook(body?: string): string
  /** Inputs of a run that passes: ssh to the loopback host, the good checkout and image. */
  base: Record<string, string>
}

interface Case {
  inputs: Record<string, string>
  env?: Record<string, string>
  /** Polled every 25 ms while the action runs, with the main step's PID. */
  during?: (mainPid: number) => void
  /** Extra assertions for this row, with the run's wall time. */
  check?: (run: ActionRun, ms: number) => void | Promise<void>
  /** Stops what the fault left on the host (only processes our sshd started). */
  cleanup?: () => void | Promise<void>
}

interface Fault {
  name: string
  setup: (ctx: Ctx) => Case | Promise<Case>
  failure: string
  verdict: 'fail-closed' | 'mismatch'
  /** Matched against the `reason` output; also the error annotation's text. */
  reason: RegExp
  /** Whether the hook ran before the failure (rows in verify mode never run it). */
  hookRuns: boolean
}

/** Jest's own bound per case; the slowest row takes about 5 s. */
const CASE_TIMEOUT_MS = 60_000

const WHERE = String.raw`root@127\.0\.0\.1:\d+`

/** A docker stand-in on the host, passed as the `docker` input. */
function dockerWrapper(ctx: Ctx, name: string, body: string): string {
  return writeScript(ctx.dir, name, body)
}

/** An image on the test dockerd whose revision label is exactly `value`. */
function imageLabelled(value: string | undefined): string {
  const image = imageRef()
  buildImage(host.dockerHost, image, value === undefined ? { other: 'x' } : { [LABEL]: value })
  return image
}

const FAULTS: Fault[] = [
  // --- transport -----------------------------------------------------------------------------
  {
    name: 'sshd not listening (default ssh-retries 2: three attempts, backoff 1 s, 2 s)',
    setup: async ctx => ({
      inputs: { ...ctx.base, port: String(await freePort()) },
      check: (run, ms) => {
        expect(run.stdout).toContain('nothing ran on the host, retrying in 1 s (attempt 2 of 3)')
        expect(run.stdout).toContain('nothing ran on the host, retrying in 2 s (attempt 3 of 3)')
        expect(ms).toBeGreaterThanOrEqual(3000)
      }
    }),
    failure: 'transport',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: ssh connection to ${WHERE} failed: .*Connection refused \\(3 attempts, ssh-retries 2\\)$`
    ),
    hookRuns: false
  },
  {
    name: 'sshd killed mid-hook (the per-connection sshd processes get SIGKILL)',
    setup: ctx => {
      let killed = 0
      return {
        inputs: { ...ctx.base, hook: ctx.hook('sleep 30'), 'rebuild-timeout': '30' },
        during: () => {
          if (!killed && existsSync(ctx.marker)) killed = killSshdSessions()
        },
        check: () => expect(killed).toBeGreaterThan(0),
        cleanup: () => {
          // The hook outlives its connection (no tty, no SIGHUP) until its host-side bound;
          // stop its process group (timeout, bash, sleep) now instead of in 30 s.
          const [pid] = readPids(ctx.hookPid)
          const group = pid === undefined ? undefined : procStat(pid)?.pgrp
          if (group && group > 1 && group !== process.pid) process.kill(-group, 'SIGKILL')
        }
      }
    },
    failure: 'transport',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: ssh connection to ${WHERE} was lost while the hook was running \\(.*\\); not retried, because the hook had started\\. Its host-side bound stops it after 30 s \\(rebuild-timeout\\)$`
    ),
    hookRuns: true
  },
  {
    name: 'connection reset during the inspect (docker kills its own sshd session)',
    setup: ctx => {
      const ran = path.join(ctx.dir, 'wrapper-ran')
      const wrapper = dockerWrapper(
        ctx,
        'docker-reset',
        [
          `touch ${JSON.stringify(ran)}`,
          // Walk up the parents to the listening sshd; kill every sshd of this connection.
          'pid=$PPID',
          'victims=()',
          `while [ "$pid" -gt 1 ] && [ "$pid" != ${host.sshdPid} ]; do`,
          '  [ "$(cat /proc/$pid/comm)" = sshd ] && victims+=("$pid")',
          "  pid=$(awk '{print $4}' /proc/$pid/stat)",
          'done',
          'kill -KILL "${victims[@]}"',
          'sleep 1'
        ].join('\n')
      )
      return {
        inputs: { ...ctx.base, mode: 'verify', docker: wrapper },
        check: () => expect(existsSync(ran)).toBe(true)
      }
    },
    failure: 'transport',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: ssh connection to ${WHERE} was lost during the inspect \\(.*\\)$`
    ),
    hookRuns: false
  },
  {
    name: 'host name that does not resolve (ssh-retries 0)',
    setup: ctx => ({
      inputs: { ...ctx.base, host: 'nohost.invalid', 'ssh-retries': '0' },
      check: run => expect(run.stdout).not.toContain('retrying')
    }),
    failure: 'transport',
    verdict: 'fail-closed',
    reason:
      /^provenance fail-closed: ssh connection to root@nohost\.invalid:\d+ failed: .*Could not resolve hostname nohost\.invalid.*\(1 attempt, ssh-retries 0\)$/,
    hookRuns: false
  },
  {
    name: 'authentication refused (a valid key that is not in authorized_keys)',
    setup: ctx => ({
      inputs: { ...ctx.base, 'private-key': newKey(ctx.dir) },
      check: run => expect(run.stdout).not.toContain('retrying')
    }),
    failure: 'transport',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: ssh login to ${WHERE} refused \\(.*Permission denied \\(publickey\\).*\\): the host does not accept private-key for this user; .*\\(not retried\\)$`
    ),
    hookRuns: false
  },

  // --- host key ------------------------------------------------------------------------------
  {
    name: 'unknown host key (known-hosts pins a line for another host name)',
    setup: ctx => {
      const [, type, blob] = host.knownHosts.trim().split(' ')
      return {
        inputs: {
          ...ctx.base,
          'known-hosts': `[staging.example.invalid]:${host.sshPort} ${type} ${blob}`
        },
        check: run => {
          const fingerprint = fingerprintOf(path.join(host.dir, 'ssh', 'host_ed25519.pub'))
          expect(fingerprint).toMatch(/^SHA256:/)
          expect(run.outputs.reason).toContain(`The host offered ssh-ed25519 ${fingerprint}.`)
          expect(run.outputs.reason).toContain(
            `pin this line in known-hosts: ${host.knownHosts.trim()}`
          )
        }
      }
    },
    failure: 'host-key',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: ssh host key of ${WHERE} does not match the pinned known-hosts \\(the hook did not run\\)\\. The host offered ssh-ed25519 SHA256:\\S+\\. .*pin this line in known-hosts: \\[127\\.0\\.0\\.1\\]:\\d+ ssh-ed25519 AAAA\\S+$`
    ),
    hookRuns: false
  },
  {
    name: 'changed host key (known-hosts pins another key for this host)',
    setup: ctx => ({
      inputs: { ...ctx.base, 'known-hosts': host.wrongKnownHosts },
      check: run =>
        expect(run.outputs.reason).toContain(
          fingerprintOf(path.join(host.dir, 'ssh', 'host_ed25519.pub'))
        )
    }),
    failure: 'host-key',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: ssh host key of ${WHERE} has CHANGED from the pinned known-hosts \\(the hook did not run\\)\\. The host offered ssh-ed25519 SHA256:`
    ),
    hookRuns: false
  },
  {
    name: 'changed host key with strict-host-key-checking false (still refused)',
    setup: ctx => ({
      inputs: {
        ...ctx.base,
        'known-hosts': host.wrongKnownHosts,
        'strict-host-key-checking': 'false'
      },
      check: run => expect(run.stdout).toMatch(/^::warning::strict-host-key-checking is false: /m)
    }),
    failure: 'host-key',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: ssh host key of ${WHERE} has CHANGED from the pinned known-hosts \\(the hook did not run\\)`
    ),
    hookRuns: false
  },

  // --- the private key -----------------------------------------------------------------------
  {
    name: 'garbage private key between BEGIN and END lines',
    setup: ctx => ({
      inputs: {
        ...ctx.base,
        'private-key': [
          '-----BEGIN OPENSSH PRIVATE KEY-----',
          Buffer.from(`garbage ${ctx.dir} `.repeat(4)).toString('base64'),
          '-----END OPENSSH PRIVATE KEY-----'
        ].join('\n')
      }
    }),
    failure: 'invalid-input',
    verdict: 'fail-closed',
    reason:
      /^provenance fail-closed: input private-key is not a usable private key \(ssh-keygen: .*\)$/,
    hookRuns: false
  },
  {
    name: 'private key text that is not a key at all',
    setup: ctx => ({
      inputs: { ...ctx.base, 'private-key': `ghp_${Buffer.from(ctx.dir).toString('hex')}` }
    }),
    failure: 'invalid-input',
    verdict: 'fail-closed',
    reason: /^provenance fail-closed: input private-key does not look like a private key/,
    hookRuns: false
  },
  {
    name: 'passphrase-protected private key (fails fast, no ssh attempt)',
    setup: ctx => ({
      inputs: { ...ctx.base, 'private-key': newKey(ctx.dir, 'pw') },
      // ConnectTimeout is 20 s: a prompt or a connect attempt would show here.
      check: (_run, ms) => expect(ms).toBeLessThan(5000)
    }),
    failure: 'invalid-input',
    verdict: 'fail-closed',
    reason:
      /^provenance fail-closed: input private-key is protected by a passphrase: the gate runs ssh in batch mode and cannot type it/,
    hookRuns: false
  },

  // --- the hook ------------------------------------------------------------------------------
  {
    name: 'hook exits non-zero',
    setup: ctx => ({
      inputs: {
        ...ctx.base,
        hook: ctx.hook(
          'echo "step 1 ok"\necho "docker build: disk full on /var/lib/docker" >&2\nexit 3'
        )
      }
    }),
    failure: 'hook-failed',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: hook failed \\(exit code 3\\) on ${WHERE}: step 1 ok ⏎ docker build: disk full on /var/lib/docker$`
    ),
    hookRuns: true
  },
  {
    name: 'hook hangs (sleep 600, rebuild-timeout 2): the host stops it and its children, even one that ignores SIGTERM',
    setup: ctx => {
      const children = path.join(ctx.dir, 'children')
      return {
        inputs: {
          ...ctx.base,
          'rebuild-timeout': '2',
          hook: ctx.hook(
            [
              `sleep 600 & echo $! >> ${JSON.stringify(children)}`,
              `(sleep 600; echo never) & echo $! >> ${JSON.stringify(children)}`,
              `(trap '' TERM; exec sleep 600) & echo $! >> ${JSON.stringify(children)}`,
              'echo "waiting for the registry"',
              'sleep 600'
            ].join('\n')
          )
        },
        check: async (_run, ms) => {
          expect(ms).toBeLessThan(6000)
          const pids = [...readPids(ctx.hookPid), ...readPids(children)]
          expect(pids).toHaveLength(4)
          // The host-side `timeout` signalled the hook's whole process group, then SIGKILL.
          expect(await until(() => pids.every(pid => !running(pid)), 2000)).toBe(true)
        }
      }
    },
    failure: 'timeout',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: hook timed out after 2 s \\(rebuild-timeout\\) on ${WHERE}; the host stopped it .*Last output: waiting for the registry$`
    ),
    hookRuns: true
  },
  {
    name: 'hook prints 40 MB, then a last line, and exits 1: bounded memory',
    setup: ctx => {
      let peakKb = 0
      return {
        inputs: {
          ...ctx.base,
          hook: ctx.hook(
            [
              "yes 'build log line padded to look like a chatty docker build ...............' | head -c 40000000 || true",
              'echo',
              'echo "the very last line"',
              'exit 1'
            ].join('\n')
          )
        },
        during: pid => {
          peakKb = Math.max(peakKb, peakMemoryKb(pid) ?? 0)
        },
        check: run => {
          expect(run.stdout.length).toBeGreaterThan(40_000_000)
          expect(peakKb).toBeGreaterThan(0)
          expect(peakKb).toBeLessThan(PEAK_MEMORY_BOUND_KB)
        }
      }
    },
    failure: 'hook-failed',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: hook failed \\(exit code 1\\) on ${WHERE}: .* ⏎ the very last line$`
    ),
    hookRuns: true
  },
  {
    name: 'hook output that is not valid UTF-8',
    setup: ctx => ({
      inputs: {
        ...ctx.base,
        hook: ctx.hook("printf 'bad bytes: \\xff\\xfe\\xc3\\x28 end\\n'\nexit 4")
      },
      check: run => {
        expect(run.outputs.reason).toContain('\uFFFD')
        expect(run.summary).toContain('bad bytes: ')
      }
    }),
    failure: 'hook-failed',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: hook failed \\(exit code 4\\) on ${WHERE}: bad bytes: .* end$`
    ),
    hookRuns: true
  },
  {
    name: 'hook-dir does not exist on the host',
    setup: ctx => ({
      inputs: { ...ctx.base, 'hook-dir': path.join(ctx.dir, 'no-such-dir') }
    }),
    failure: 'hook-failed',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: hook failed \\(exit code [12]\\) on ${WHERE}: .*cd: (can't cd to .*no-such-dir|.*no-such-dir: No such file or directory)$`
    ),
    hookRuns: false
  },
  {
    name: 'hook script does not exist on the host',
    setup: ctx => ({ inputs: { ...ctx.base, hook: path.join(ctx.dir, 'no-such-hook.sh') } }),
    failure: 'hook-failed',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: hook failed \\(exit code 127\\) on ${WHERE}: .*no-such-hook\\.sh: No such file or directory$`
    ),
    hookRuns: false
  },
  {
    name: 'dockerd down while the hook builds (the hook fails)',
    setup: ctx => ({
      inputs: {
        ...ctx.base,
        hook: ctx.hook(
          'docker -H unix:///nonexistent-provenance-gate/docker.sock build -q -t "$TARGET_IMAGE" .'
        ),
        'hook-dir': good.dir
      }
    }),
    failure: 'hook-failed',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: hook failed \\(exit code 1\\) on ${WHERE}: .*Cannot connect to the Docker daemon at unix:///nonexistent-provenance-gate/docker\\.sock`
    ),
    hookRuns: true
  },

  // --- the inspect ---------------------------------------------------------------------------
  {
    name: 'docker not on the host PATH',
    setup: ctx => ({ inputs: { ...ctx.base, mode: 'verify', docker: 'docker-missing-xyz' } }),
    failure: 'inspect-failed',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: docker-missing-xyz image inspect \\S+ on ${WHERE} failed \\(exit code 127\\): docker-missing-xyz is not on the host's PATH \\(set the docker input to its path\\)\\. `
    ),
    hookRuns: false
  },
  {
    name: 'dockerd down at the inspect (the CLI points at a dead socket)',
    setup: ctx => ({
      inputs: {
        ...ctx.base,
        mode: 'verify',
        docker: dockerWrapper(
          ctx,
          'docker-dead',
          'DOCKER_HOST=unix:///nonexistent-provenance-gate/docker.sock exec docker "$@"'
        )
      }
    }),
    failure: 'inspect-failed',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: \\S+/docker-dead image inspect \\S+ on ${WHERE} failed \\(exit code 1\\): the container engine on the host is not running or not reachable\\. .*Cannot connect to the Docker daemon`
    ),
    hookRuns: false
  },
  {
    name: 'image does not exist (verify mode)',
    setup: ctx => ({ inputs: { ...ctx.base, mode: 'verify', image: imageRef() } }),
    failure: 'inspect-failed',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: docker image inspect (\\S+) on ${WHERE} failed \\(exit code 1\\): the image \\1 does not exist on the host\\. .*No such image`
    ),
    hookRuns: false
  },
  {
    name: 'inspect hangs (docker stand-in sleeps, inspect-timeout 1)',
    setup: ctx => ({
      inputs: {
        ...ctx.base,
        mode: 'verify',
        'inspect-timeout': '1',
        docker: dockerWrapper(ctx, 'docker-hang', 'exec sleep 600')
      },
      check: (_run, ms) => expect(ms).toBeLessThan(5000)
    }),
    failure: 'timeout',
    verdict: 'fail-closed',
    reason: new RegExp(
      `^provenance fail-closed: \\S+/docker-hang image inspect \\S+ on ${WHERE} timed out after 1 s \\(inspect-timeout\\); the host stopped it$`
    ),
    hookRuns: false
  },

  // --- the label -----------------------------------------------------------------------------
  {
    name: 'revision label missing (the hook ran, the image has no label)',
    setup: ctx => ({ inputs: { ...ctx.base, image: imageLabelled(undefined) } }),
    failure: 'missing-label',
    verdict: 'fail-closed',
    reason: /^provenance fail-closed: image has no revision label$/,
    hookRuns: true
  },
  {
    name: 'revision label "<no value>" (an unset build argument)',
    setup: ctx => ({ inputs: { ...ctx.base, image: imageLabelled('<no value>') } }),
    failure: 'missing-label',
    verdict: 'fail-closed',
    reason: /^provenance fail-closed: image has no revision label$/,
    hookRuns: true
  },
  {
    name: 'revision label with a leading space (exact comparison)',
    setup: ctx => ({
      inputs: { ...ctx.base, image: imageLabelled(` ${good.head}`) },
      check: run => expect(run.outputs.image_revision).toBe(` ${good.head}`)
    }),
    failure: 'mismatch',
    verdict: 'mismatch',
    reason:
      /^provenance mismatch: image " [0-9a-f]{40}" \(surrounding whitespace\) != expected [0-9a-f]{12}$/,
    hookRuns: true
  },
  {
    name: 'revision label with a trailing newline (exact comparison)',
    setup: ctx => ({
      inputs: { ...ctx.base, image: imageLabelled(`${good.head}\n`) },
      check: run => expect(run.outputs.image_revision).toBe(`${good.head}\n`)
    }),
    failure: 'mismatch',
    verdict: 'mismatch',
    reason:
      /^provenance mismatch: image "[0-9a-f]{40}\\n" \(surrounding whitespace\) != expected [0-9a-f]{12}$/,
    hookRuns: true
  },

  // --- git on the runner ---------------------------------------------------------------------
  {
    name: 'checkout path missing',
    setup: ctx => ({ inputs: { ...ctx.base, path: path.join(ctx.dir, 'no-checkout') } }),
    failure: 'git-failed',
    verdict: 'fail-closed',
    reason:
      /^provenance fail-closed: git rev-parse HEAD in \S+\/no-checkout failed \(exit code 128\): .*cannot change to .*no-checkout.*No such file or directory$/,
    hookRuns: false
  },
  {
    name: 'checkout path is not a git repository',
    setup: ctx => ({ inputs: { ...ctx.base, path: ctx.dir } }),
    failure: 'git-failed',
    verdict: 'fail-closed',
    reason:
      /^provenance fail-closed: git rev-parse HEAD in \S+ failed \(exit code 128\): .*not a git repository/,
    hookRuns: false
  },
  {
    name: 'repository without commits',
    setup: ctx => {
      const empty = path.join(ctx.dir, 'empty-repo')
      execFileSync('git', ['init', '-q', empty])
      return { inputs: { ...ctx.base, path: empty } }
    },
    failure: 'git-failed',
    verdict: 'fail-closed',
    // Only the class, the command and git's exit code are asserted: the reason is the last three
    // lines of stdout and stderr in arrival order, so git's `fatal: ambiguous argument 'HEAD':
    // unknown revision` line, the one that names the cause, is there in some runs and pushed out
    // by the stdout line "HEAD" in others (reported: src/revision.ts resolveRevision).
    reason:
      /^provenance fail-closed: git rev-parse HEAD in \S+\/empty-repo failed \(exit code 128\): /,
    hookRuns: false
  },
  {
    name: 'git not on the runner PATH',
    setup: ctx => {
      const bin = path.join(ctx.dir, 'bin')
      mkdirSync(bin)
      for (const program of ['bash', 'ssh', 'ssh-keygen', 'ssh-keyscan', 'timeout']) {
        const real = execFileSync('bash', ['-c', `command -v ${program}`], { encoding: 'utf8' })
        symlinkSync(real.trim(), path.join(bin, program))
      }
      return { inputs: { ...ctx.base }, env: { PATH: bin } }
    },
    failure: 'git-failed',
    verdict: 'fail-closed',
    reason:
      /^provenance fail-closed: git rev-parse HEAD in \S+ failed \(could not start\): git is not on this runner.s PATH \(spawn git ENOENT\)$/,
    hookRuns: false
  },
  {
    name: 'git hangs (.git/HEAD is a FIFO nobody writes, git-timeout 1)',
    setup: ctx => {
      const repo = makeRepo()
      const head = path.join(repo.dir, '.git', 'HEAD')
      execFileSync('rm', [head])
      execFileSync('mkfifo', [head])
      return {
        inputs: { ...ctx.base, path: repo.dir, 'git-timeout': '1' },
        check: (_run, ms) => expect(ms).toBeLessThan(6000)
      }
    },
    failure: 'timeout',
    verdict: 'fail-closed',
    reason:
      /^provenance fail-closed: git rev-parse HEAD in \S+ timed out after 1 s \(git-timeout\)$/,
    hookRuns: false
  }
]

/**
 * Peak resident memory (VmHWM) allowed to the action while a hook prints 40 MB. Measured on node
 * 24: ~67 MB for a run with 1 KB of hook output, ~102 MB with 40 MB and 140–165 MB with 200 MB
 * (GC slack that grows slower than the output, not retention). Keeping the 40 MB would add at
 * least 40 MB on top of the ~102 MB.
 */
const PEAK_MEMORY_BOUND_KB = 128 * 1024

describe('fault matrix (real sshd, dockerd, git, bash)', () => {
  test.each(FAULTS)(
    '$name → $failure',
    async fault => {
      const dir = scratchDir('fault-')
      const marker = path.join(dir, 'hook-ran')
      const hookPid = path.join(dir, 'hook-pid')
      const ctx: Ctx = {
        dir,
        marker,
        hookPid,
        hook: (body = '') =>
          writeScript(
            dir,
            `hook-${readdirSync(dir).length}.sh`,
            `echo $$ > ${JSON.stringify(hookPid)}\ntouch ${JSON.stringify(marker)}\n${body}`
          ),
        base: {}
      }
      ctx.base = {
        ...sshInputs(host),
        path: good.dir,
        image: good.image,
        hook: ctx.hook(),
        'hook-dir': dir,
        'git-timeout': '10',
        'inspect-timeout': '10',
        'rebuild-timeout': '20'
      }
      const spec = await fault.setup(ctx)

      let mainPid = 0
      const poll = setInterval(() => mainPid && spec.during?.(mainPid), 25)
      const started = Date.now()
      let run: ActionRun
      try {
        run = await runAction(spec.inputs, spec.env, { onMainSpawn: pid => (mainPid = pid) })
      } finally {
        clearInterval(poll)
        await spec.cleanup?.()
      }
      const ms = Date.now() - started

      expect(outcome(run)).toEqual({
        exitCode: 1,
        verdict: fault.verdict,
        failure: fault.failure,
        reason: expect.stringMatching(fault.reason)
      })
      // Every output is set, and exactly one error annotation names the reason and the class.
      expect(Object.keys(run.outputs).sort()).toEqual(OUTPUT_NAMES)
      const errors = run.stdout.match(/^::error\b.*$/gm) ?? []
      expect(errors).toHaveLength(1)
      expect(errors[0]).toMatch(/^::error::provenance (fail-closed|mismatch)/)
      // The class is appended unless it only repeats the verdict (`mismatch`).
      const suffix = fault.failure === fault.verdict ? '' : ` [${fault.failure}]`
      expect(errors[0]).toBe(`::error::${run.outputs.reason}${suffix}`)
      expect(run.summary).toContain(`| Verdict | **${fault.verdict}** |`)
      expect(run.summary).toContain(`| Failure | ${fault.failure} |`)
      expect(existsSync(marker)).toBe(fault.hookRuns)
      await expectCleanRun(run, host, { keys: [spec.inputs['private-key'] ?? ''] })
      await spec.check?.(run, ms)
    },
    CASE_TIMEOUT_MS
  )
})

describe('§6 secrets on the passing paths', () => {
  function passingInputs(): Record<string, string> {
    const dir = scratchDir('pass-')
    return {
      ...sshInputs(host),
      path: good.dir,
      image: good.image,
      hook: writeScript(dir, 'hook.sh', 'echo "rebuilt $TARGET_IMAGE at $GIT_SHA"'),
      'rebuild-timeout': '20'
    }
  }

  test(
    'a passing run over ssh masks every key line and leaves no trace',
    async () => {
      const run = await runAction(passingInputs())
      expect({
        exitCode: run.exitCode,
        verdict: run.outputs.verdict,
        failure: run.outputs.failure
      }).toEqual({ exitCode: 0, verdict: 'match', failure: '' })
      expect(run.stdout).not.toMatch(/^::(error|warning)\b/m)
      const masked = run.stdout
        .split('\n')
        .filter(line => line.startsWith('::add-mask::'))
        .map(line => line.slice('::add-mask::'.length))
      expect(masked).toEqual(expect.arrayContaining(secretLines(host.privateKey)))
      await expectCleanRun(run, host)
    },
    CASE_TIMEOUT_MS
  )

  test(
    'strict-host-key-checking false warns on every run (two runs), and each still passes',
    async () => {
      for (let i = 0; i < 2; i++) {
        const run = await runAction({
          ...passingInputs(),
          'known-hosts': '',
          'strict-host-key-checking': 'false',
          mode: 'verify'
        })
        expect({ exitCode: run.exitCode, verdict: run.outputs.verdict }).toEqual({
          exitCode: 0,
          verdict: 'match'
        })
        expect(
          run.stdout.match(/^::warning::strict-host-key-checking is false: .*$/gm)
        ).toHaveLength(1)
        await expectCleanRun(run, host)
      }
    },
    CASE_TIMEOUT_MS
  )
})
