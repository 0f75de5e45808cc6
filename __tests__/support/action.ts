import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { parse } from 'yaml'
import { fileURLToPath } from 'node:url'

/** The bundle the action ships: integration tests run exactly this file. */
export const BUNDLE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../dist/index.js'
)

let scratchRoot: string | undefined

/** A fresh directory under this process's scratch root, which `removeScratch` deletes whole. */
export function scratchDir(prefix: string): string {
  scratchRoot ??= mkdtempSync(path.join(tmpdir(), 'provenance-gate-scratch-'))
  return mkdtempSync(path.join(scratchRoot, prefix))
}

/** Removes every directory `scratchDir` made (runs, repositories, build contexts). */
export function removeScratch(): void {
  if (scratchRoot) rmSync(scratchRoot, { recursive: true, force: true })
  scratchRoot = undefined
}

/** The node that runs the bundle: node24 (the runner's runtime) when the test command found it. */
export const ACTION_NODE = process.env.PROVENANCE_GATE_NODE || process.execPath

/** What one run of the bundled action produced. */
export interface ActionRun {
  exitCode: number | null
  stdout: string
  stderr: string
  outputs: Record<string, string>
  summary: string
  /** What the run left in its RUNNER_TEMP (must be nothing of ours). */
  leftInRunnerTemp: string[]
  runnerTemp: string
}

/** Parses the runner's `GITHUB_OUTPUT` file (`name<<DELIM … DELIM` blocks). */
export function parseCommandFile(text: string): Record<string, string> {
  const values: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const match = /^([^<=]+)<<(.+)$/.exec(lines[i] ?? '')
    if (!match) continue
    const [, name, delimiter] = match
    const body: string[] = []
    while (++i < lines.length && lines[i] !== delimiter) body.push(lines[i] ?? '')
    values[name as string] = body.join('\n')
  }
  return values
}

/**
 * Runs `node dist/index.js` the way the runner does: inputs as `INPUT_*`, file commands, a fresh
 * RUNNER_TEMP. Then runs the post step with the state the main step saved.
 */
export async function runAction(
  inputs: Record<string, string>,
  env: Record<string, string> = {},
  options: {
    post?: boolean
    /** Polled every 50 ms; once it holds, the main step gets `killSignal` (once), as a cancel would. */
    killMainWhen?: () => boolean
    /** The signal `killMainWhen` sends: SIGKILL unless told (SIGTERM/SIGINT: a cancelled job). */
    killSignal?: NodeJS.Signals
    /** Learns the main step's PID as soon as it is spawned (e.g. to sample its memory). */
    onMainSpawn?: (pid: number) => void
  } = {}
): Promise<ActionRun> {
  const dir = scratchDir('run-')
  const runnerTemp = path.join(dir, 'runner-temp')
  mkdirSync(runnerTemp)
  const files = {
    GITHUB_OUTPUT: path.join(dir, 'output'),
    GITHUB_STEP_SUMMARY: path.join(dir, 'summary'),
    GITHUB_STATE: path.join(dir, 'state'),
    GITHUB_ENV: path.join(dir, 'env'),
    GITHUB_PATH: path.join(dir, 'path')
  }
  for (const file of Object.values(files)) writeFileSync(file, '')
  const inputEnv = Object.fromEntries(
    Object.entries(inputs).map(([name, value]) => [`INPUT_${name.toUpperCase()}`, value])
  )
  const baseEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    GITHUB_REPOSITORY: 'acme/shop',
    GITHUB_WORKSPACE: dir,
    RUNNER_TEMP: runnerTemp,
    ...files,
    ...env
  }
  const main = await runChild(
    ACTION_NODE,
    [BUNDLE],
    { ...baseEnv, ...inputEnv },
    options.killMainWhen,
    options.onMainSpawn,
    options.killSignal
  )
  if (options.post !== false) {
    const state = parseCommandFile(readFileSync(files.GITHUB_STATE, 'utf8'))
    const stateEnv = Object.fromEntries(
      Object.entries(state).map(([name, value]) => [`STATE_${name}`, value])
    )
    // The runner gives the post step the same inputs as the main step, and the saved state.
    const post = await runChild(ACTION_NODE, [BUNDLE], { ...baseEnv, ...inputEnv, ...stateEnv })
    main.stdout += post.stdout
    main.stderr += post.stderr
  }
  return {
    exitCode: main.exitCode,
    stdout: main.stdout,
    stderr: main.stderr,
    outputs: parseCommandFile(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
    summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
    leftInRunnerTemp: readdirSync(runnerTemp),
    runnerTemp
  }
}

/** How a child process ended, with everything it printed. */
export interface ChildRun {
  exitCode: number | null
  stdout: string
  stderr: string
}

/**
 * Runs a program asynchronously (servers in the test process keep answering) and collects its
 * output. `killWhen` is polled; once it holds, the program gets `signal` (SIGKILL unless told) once,
 * as a cancelled runner would send it. `onSpawn` learns the program's PID once it is started.
 */
export function runChild(
  file: string,
  args: string[],
  env: Record<string, string>,
  killWhen?: () => boolean,
  onSpawn?: (pid: number) => void,
  signal: NodeJS.Signals = 'SIGKILL'
): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    if (onSpawn && child.pid !== undefined) onSpawn(child.pid)
    let stdout = ''
    let stderr = ''
    // Once only: a second SIGTERM would end a process that handles the first.
    const poll: NodeJS.Timeout | undefined = killWhen
      ? setInterval(() => {
          if (!killWhen()) return
          clearInterval(poll)
          child.kill(signal)
        }, 50)
      : undefined
    child.stdout.on('data', chunk => (stdout += chunk))
    child.stderr.on('data', chunk => (stderr += chunk))
    child.on('error', reject)
    child.on('close', exitCode => {
      if (poll) clearInterval(poll)
      resolve({ exitCode, stdout, stderr })
    })
  })
}

/** Command lines of live processes that mention `text` (e.g. a run's RUNNER_TEMP). */
export function processesMentioning(text: string): string[] {
  const found: string[] = []
  for (const pid of readdirSync('/proc').filter(entry => /^[0-9]+$/.test(entry))) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
      if (command.includes(text)) found.push(`${pid}: ${command}`)
    } catch {
      // The process ended while we looked.
    }
  }
  return found
}

/**
 * The peak resident memory (`VmHWM`, in KiB) of a live process, or `undefined` once it has
 * ended. The kernel keeps the high-water mark, so the last sample before exit is the peak.
 */
export function peakMemoryKb(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) : undefined
  } catch {
    return undefined
  }
}

/** Runs git in `dir` with a fixed identity and returns its trimmed stdout. */
function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'Test',
      GIT_AUTHOR_EMAIL: 'test@example.invalid',
      GIT_COMMITTER_NAME: 'Test',
      GIT_COMMITTER_EMAIL: 'test@example.invalid'
    }
  }).trim()
}

/** Makes a real git repository with one commit and returns its path and HEAD. */
export function makeRepo(
  files: Record<string, string> = {},
  objectFormat: 'sha1' | 'sha256' = 'sha1'
): { dir: string; head: string } {
  const dir = scratchDir('repo-')
  git(dir, 'init', '-q', `--object-format=${objectFormat}`)
  const content = {
    Dockerfile: 'FROM scratch\nCOPY app.txt /app.txt\n',
    'app.txt': 'v1\n',
    ...files
  }
  for (const [name, text] of Object.entries(content)) writeFileSync(path.join(dir, name), text)
  git(dir, 'add', '-A')
  git(dir, 'commit', '-q', '-m', 'initial')
  return { dir, head: git(dir, 'rev-parse', 'HEAD') }
}

/** Adds a commit, for "the image is one commit behind" cases. */
export function commit(dir: string, file: string, text: string): string {
  writeFileSync(path.join(dir, file), text)
  git(dir, 'commit', '-qam', `change ${file}`)
  return git(dir, 'rev-parse', 'HEAD')
}

/** Builds a tiny `FROM scratch` image on the test dockerd, with the given labels. */
export function buildImage(
  dockerHost: string,
  tag: string,
  labels: Record<string, string>
): string {
  const context = scratchDir('ctx-')
  writeFileSync(path.join(context, 'Dockerfile'), 'FROM scratch\nCOPY x /x\n')
  writeFileSync(path.join(context, 'x'), `${tag}\n`)
  const labelArgs = Object.entries(labels).flatMap(([name, value]) => [
    '--label',
    `${name}=${value}`
  ])
  execFileSync('docker', ['-H', dockerHost, 'build', '-q', '-t', tag, ...labelArgs, context], {
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  return docker(dockerHost, 'image', 'inspect', '--format', '{{.Id}}', tag)
}

/** Runs the docker client against the test dockerd and returns its trimmed stdout. */
export function docker(dockerHost: string, ...args: string[]): string {
  return execFileSync('docker', ['-H', dockerHost, ...args], { encoding: 'utf8' }).trim()
}

/** Writes an executable bash script (a hook) and returns its path. */
export function writeScript(dir: string, name: string, body: string): string {
  const file = path.join(dir, name)
  writeFileSync(file, `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`, { mode: 0o755 })
  return file
}

/** The outputs action.yml declares: every run must set each of them, on every path. */
export const OUTPUT_NAMES: string[] = Object.keys(
  (parse(readFileSync(path.join(process.cwd(), 'action.yml'), 'utf8')) as { outputs: object })
    .outputs
).sort()
