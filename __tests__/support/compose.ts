/**
 * The staging step for real: a loopback host whose sessions may run compose (Debian's standalone
 * docker-compose v1.29, the only compose this machine has), and a real compose project with a
 * `staging` profile service that serves the repository's www/ over HTTP from a FROM-scratch busybox
 * image on the host network (the test dockerd has no bridge). No jest here: the demo uses it too.
 */
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { scratchDir } from './action.js'
import { git } from './git-context.js'
import { checkPrograms, startDockerd, startSshd, stopPid, type StagingHost } from './services.js'

/** The reference hook, as installed on a staging host. */
export const REFERENCE_HOOK = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../hook/deploy-hook.sh'
)

/** The static busybox (package busybox-static) the service image runs as its only program. */
export const BUSYBOX = '/bin/busybox'

/** The compose service and profile the projects here declare. */
export const SERVICE = 'web'
export const PROFILE = 'staging'

/** Fails early with the fix when compose or busybox is missing (provision.sh installs both). */
export function checkComposePrograms(): void {
  checkPrograms()
  try {
    execFileSync('bash', ['-c', `command -v docker-compose && test -x ${BUSYBOX}`], {
      stdio: 'ignore'
    })
  } catch {
    throw new Error(
      'missing docker-compose or busybox-static: run scripts/provision.sh (npm test does) first'
    )
  }
}

/**
 * Starts sshd + dockerd like `startStagingHost`, but without its SKIP_COMPOSE=1: on this host the
 * reference hook recreates the service with whatever compose it finds.
 */
export async function startComposeHost(dir: string): Promise<StagingHost> {
  checkComposePrograms()
  const docker = await startDockerd(path.join(dir, 'docker'))
  try {
    const ssh = await startSshd(path.join(dir, 'ssh'), {
      DOCKER_HOST: docker.dockerHost,
      DOCKER_BUILDKIT: '0'
    })
    return { dir, dockerdPid: docker.pid, dockerHost: docker.dockerHost, ...ssh }
  } catch (error) {
    await stopPid(docker.pid, 15000)
    throw error
  }
}

/**
 * Unmounts what a stopped dockerd left mounted under `dir`: once a container ran on the host
 * network, dockerd 20.10 keeps `<exec-root>/netns/default` bind-mounted after it exits, and the
 * directory cannot be removed until it is unmounted.
 */
export function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map(line => line.split(' ')[1] ?? '')
    .filter(target => target.startsWith(`${dir}/`))
  for (const target of mounts.reverse()) execFileSync('umount', [target])
}

/** A developer repository holding a compose project, and what it was made with. */
export interface ComposeRepo {
  dir: string
  head: string
  /** COMPOSE_PROJECT_NAME (in the repository's .env): containers are `<project>_web_1`. */
  project: string
  /** Where the service's busybox httpd listens (127.0.0.1, host network). */
  port: number
}

let projects = 0

/**
 * A git repository with a Dockerfile (`FROM scratch`, busybox, www/), www/index.html holding
 * `page`, and a docker-compose.yml whose `web` service (profile `staging`) runs `image` (by default
 * `${TARGET_IMAGE}`, what the hook just built) and serves www/ on 127.0.0.1:`port`.
 */
export function composeRepo(options: { port: number; page: string; image?: string }): ComposeRepo {
  const dir = scratchDir('compose-repo-')
  projects += 1
  const project = `pg${process.pid}c${projects}`
  const { port } = options
  mkdirSync(path.join(dir, 'www'))
  copyFileSync(BUSYBOX, path.join(dir, 'busybox'))
  writeFileSync(path.join(dir, 'www', 'index.html'), options.page)
  writeFileSync(
    path.join(dir, 'Dockerfile'),
    [
      'FROM scratch',
      'COPY busybox /bin/busybox',
      'COPY www /www',
      `CMD ["/bin/busybox","httpd","-f","-p","127.0.0.1:${port}","-h","/www"]`,
      ''
    ].join('\n')
  )
  writeFileSync(
    path.join(dir, 'docker-compose.yml'),
    [
      "version: '3.9'",
      'services:',
      `  ${SERVICE}:`,
      `    image: ${options.image ?? '${TARGET_IMAGE:?TARGET_IMAGE is the image the hook built}'}`,
      `    profiles: [${PROFILE}]`,
      // The test dockerd runs with --bridge=none.
      '    network_mode: host',
      // busybox httpd as PID 1 ignores SIGTERM: stop it at once instead of after 10 s.
      '    stop_signal: SIGKILL',
      ''
    ].join('\n')
  )
  writeFileSync(path.join(dir, '.env'), `COMPOSE_PROJECT_NAME=${project}\n`)
  git(dir, 'init', '-q')
  git(dir, 'add', '-A')
  git(dir, 'commit', '-q', '-m', 'compose project')
  return { dir, head: git(dir, 'rev-parse', 'HEAD'), project, port }
}

/** A clean clone of `repo` at its HEAD: the host's checkout, used as hook-dir and build-context. */
export function hostClone(repo: string): string {
  const clone = path.join(scratchDir('compose-clone-'), 'shop')
  git(repo, 'clone', '-q', repo, clone)
  return clone
}

/**
 * A hook that exports `settings` (per-case HEALTH_TIMEOUT, SMOKE_COMMAND, SKIP_COMPOSE…, and a
 * private LOCK_FILE) and runs the reference hook, which the sshd's environment cannot vary per run.
 */
export function composeHook(settings: Record<string, string> = {}): string {
  const dir = scratchDir('compose-hook-')
  const quote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`
  const env = { LOCK_FILE: path.join(dir, 'deploy.lock'), ...settings }
  const file = path.join(dir, 'hook.sh')
  writeFileSync(
    file,
    [
      '#!/usr/bin/env bash',
      ...Object.entries(env).map(([name, value]) => `export ${name}=${quote(value)}`),
      `exec bash ${quote(REFERENCE_HOOK)} "$@"`,
      ''
    ].join('\n'),
    { mode: 0o755 }
  )
  return file
}

/**
 * `docker-compose down` of the project in `clone` against the test dockerd: removes exactly the
 * containers (and the default network, if any) that project made, stopped without the grace time.
 */
export function composeDown(dockerHost: string, clone: string): void {
  execFileSync('docker-compose', ['--profile', PROFILE, 'down', '--timeout', '0'], {
    cwd: clone,
    env: { ...process.env, DOCKER_HOST: dockerHost, TARGET_IMAGE: 'unused-by-down' },
    stdio: ['ignore', 'ignore', 'pipe']
  })
}

/** The running containers of `project` on the test dockerd, as `<name> <image id>`. */
export function projectContainers(dockerHost: string, project: string): string[] {
  const ids = execFileSync(
    'docker',
    ['-H', dockerHost, 'ps', '-q', '--filter', `label=com.docker.compose.project=${project}`],
    { encoding: 'utf8' }
  )
    .split('\n')
    .filter(Boolean)
  if (!ids.length) return []
  return execFileSync(
    'docker',
    ['-H', dockerHost, 'container', 'inspect', '--format', '{{.Name}} {{.Image}}', ...ids],
    { encoding: 'utf8' }
  )
    .split('\n')
    .filter(Boolean)
    .map(line => line.replace(/^\//, ''))
}

/** The body of `GET http://127.0.0.1:<port>/`, or the error, so a failed assertion shows why. */
export async function httpGet(port: number): Promise<string> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/`, {
      signal: AbortSignal.timeout(5000)
    })
    return `${response.status} ${await response.text()}`
  } catch (error) {
    return `no answer: ${error instanceof Error ? error.message : String(error)}`
  }
}
