/**
 * `npm run bench`: measures the gate the way users meet it, on one machine in one run, and writes
 * the table to docs/benchmarks.md (and prints it).
 *
 * 1. A gate run (`node dist/index.js`, mode rebuild, a hook that only prints a line, the image
 *    already built with the right label) over ssh with the real key and pinned known_hosts, against
 *    the two `ssh` commands a user writes instead (hook, then `docker image inspect`).
 * 2. Cold start: `node dist/index.js` with `INPUT_ENABLED=false`, until exit, and its peak RSS.
 * 3. The size of dist/index.js.
 * 4. Reading the revision label from an OCI registry: src/registry/client.ts bundled with ncc against
 *    `skopeo inspect --config` (when src/registry/client.ts and its test harness exist).
 * 5. upload-context: the gate shipping `git archive` of a 50 MB tree to the host (its connect and
 *    upload phases) against `git archive HEAD | ssh host 'tar -x -C dir'` with the same ssh
 *    options, and the action's peak RSS while it uploads.
 * Then where the gate's time goes: its phase times and each step on its own.
 *
 * Starts a loopback sshd + dockerd (and a registry) through the integration harness, plus a
 * second sshd on the same dockerd whose sessions get an empty HOME (a login shell that runs no
 * dotfiles), and stops exactly those processes. The bundle measured is a copy of dist/ taken at
 * the start. Every series runs BENCH_RUNS times (default 12) after 2 warm-ups;
 * the series of one table are interleaved, so load from elsewhere hits them alike.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs'
import { register } from 'node:module'
import * as os from 'node:os'
import * as path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import {
  ACTION_NODE,
  BUNDLE,
  buildImage,
  makeRepo,
  parseCommandFile,
  removeScratch,
  runChild,
  scratchDir,
  writeScript,
  type ChildRun
} from '../__tests__/support/action.js'
import {
  startSshd,
  startStagingHost,
  stopPid,
  stopStagingHost,
  type StagingHost
} from '../__tests__/support/services.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const RUNS = Math.max(10, Number(process.env.BENCH_RUNS) || 12)
const WARMUPS = 2
const IMAGE = 'registry.example.com/shop:staging'
const LABEL = 'org.opencontainers.image.revision'
const DOC = path.join(ROOT, 'docs/benchmarks.md')
/** Everything from this heading on in docs/benchmarks.md is written by hand and kept as is. */
const NOTES_HEADING = '## Analysis'

/** The hand-written analysis at the end of the previous docs/benchmarks.md, to carry over. */
function keptNotes(): string {
  try {
    const old = readFileSync(DOC, 'utf8')
    const at = old.indexOf(NOTES_HEADING)
    return at < 0 ? '' : old.slice(at)
  } catch {
    return ''
  }
}
const COMMAND = 'npm run bench'
const SCRIPT = (
  JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>
  }
).scripts.bench

// ---------------------------------------------------------------- numbers

interface Stats {
  runs: number
  median: number
  min: number
  max: number
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  const median =
    sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
  return { runs: sorted.length, median, min: sorted[0] ?? 0, max: sorted[sorted.length - 1] ?? 0 }
}

function ms(value: number): string {
  return value >= 10 ? `${Math.round(value)} ms` : `${value.toFixed(1)} ms`
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`
}

function ratio(value: number): string {
  return value.toFixed(2)
}

/**
 * The bundle measured: a copy of dist/ taken when the bench starts, so a rebuild while it runs
 * cannot mix two bundles into one table.
 */
let bundle = BUNDLE

/** Runs `work` WARMUPS + RUNS times, keeping the last RUNS results. */
async function repeat<T>(work: (index: number) => Promise<T>): Promise<T[]> {
  const kept: T[] = []
  for (let i = 0; i < WARMUPS + RUNS; i++) {
    const result = await work(i)
    if (i >= WARMUPS) kept.push(result)
  }
  return kept
}

/** Wall time of one child process, from spawn until its pipes closed. */
async function timeChild(
  file: string,
  args: string[],
  env: Record<string, string>
): Promise<{ ms: number; run: ChildRun }> {
  const start = performance.now()
  const run = await runChild(file, args, env)
  return { ms: performance.now() - start, run }
}

function must(ok: boolean, what: string, run?: ChildRun): void {
  if (ok) return
  const detail = run ? ` (exit ${run.exitCode}):\n${run.stdout}\n${run.stderr}` : ''
  throw new Error(`${what}${detail}`)
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------- runner steps

interface Step {
  env: Record<string, string>
  files: Record<'GITHUB_OUTPUT' | 'GITHUB_STEP_SUMMARY' | 'GITHUB_STATE', string>
}

/** A fresh RUNNER_TEMP and file-command files, as the runner gives every step. */
function freshStep(): Step {
  const dir = scratchDir('step-')
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
  return {
    files,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      GITHUB_REPOSITORY: 'acme/shop',
      GITHUB_WORKSPACE: dir,
      RUNNER_TEMP: runnerTemp,
      ...files
    }
  }
}

function inputEnv(inputs: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(inputs).map(([name, value]) => [`INPUT_${name.toUpperCase()}`, value])
  )
}

/** The phase times of the job summary's `Time` row, e.g. `git 4 ms · connect 310 ms · …`. */
function summaryTimes(summary: string): Record<string, number> {
  const row = summary.split('\n').find(line => line.startsWith('| Time |')) ?? ''
  const times: Record<string, number> = {}
  for (const match of row.matchAll(/([a-z]+) ([0-9.]+) (ms|s)\b/g)) {
    const [, name = '', value = '0', unit] = match
    times[name] = Number(value) * (unit === 's' ? 1000 : 1)
  }
  return times
}

/** One sshd to run the gate and the naive shell against. */
interface SshHost {
  port: number
  keyFile: string
  knownHostsFile: string
  inputs: Record<string, string>
  naive: string
}

/** The phases of the job summary's `Time` row. */
const PHASES = ['git', 'connect', 'context', 'hook', 'inspect', 'total']

interface GateSample {
  mainMs: number
  postMs: number
  phases: Record<string, number>
}

async function gateRun(
  inputs: Record<string, string>,
  env: Record<string, string> = {}
): Promise<GateSample> {
  const step = freshStep()
  const main = await timeChild(ACTION_NODE, [bundle], {
    ...step.env,
    ...env,
    ...inputEnv(inputs)
  })
  const outputs = parseCommandFile(readFileSync(step.files.GITHUB_OUTPUT, 'utf8'))
  must(main.run.exitCode === 0 && outputs.verdict === 'match', 'the gate did not pass', main.run)
  const state = parseCommandFile(readFileSync(step.files.GITHUB_STATE, 'utf8'))
  const stateEnv = Object.fromEntries(
    Object.entries(state).map(([name, value]) => [`STATE_${name}`, value])
  )
  const post = await timeChild(ACTION_NODE, [bundle], { ...step.env, ...stateEnv })
  must(post.run.exitCode === 0, 'the post step failed', post.run)
  const phases = summaryTimes(readFileSync(step.files.GITHUB_STEP_SUMMARY, 'utf8'))
  return { mainMs: main.ms, postMs: post.ms, phases }
}

/** Records the process's peak RSS and CPU time as it exits (`node --require`). */
const PEAK_PRELOAD = `
const { readFileSync, writeFileSync } = require('node:fs')
process.on('exit', () => {
  const hwm = /^VmHWM:\\s+(\\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))
  const cpu = process.cpuUsage()
  writeFileSync(process.env.BENCH_PEAK_FILE, JSON.stringify({
    peakBytes: Number(hwm ? hwm[1] : 0) * 1024,
    cpuMs: (cpu.user + cpu.system) / 1000
  }))
})
`

async function coldRun(): Promise<number> {
  const step = freshStep()
  const run = await timeChild(ACTION_NODE, [bundle], { ...step.env, INPUT_ENABLED: 'false' })
  const outputs = parseCommandFile(readFileSync(step.files.GITHUB_OUTPUT, 'utf8'))
  must(run.run.exitCode === 0 && outputs.verdict === 'disabled', 'the cold start run', run.run)
  return run.ms
}

async function coldPeak(preload: string): Promise<{ peakBytes: number; cpuMs: number }> {
  const step = freshStep()
  const out = path.join(step.env.RUNNER_TEMP ?? '', '..', 'peak.json')
  const run = await runChild(ACTION_NODE, ['--require', preload, bundle], {
    ...step.env,
    INPUT_ENABLED: 'false',
    BENCH_PEAK_FILE: out
  })
  must(run.exitCode === 0, 'the instrumented cold start run', run)
  return JSON.parse(readFileSync(out, 'utf8')) as { peakBytes: number; cpuMs: number }
}

/** Peak RSS as GNU time reports it, as a cross-check of the preload's reading. */
function gnuTimePeak(): number | undefined {
  if (!existsSync('/usr/bin/time')) return undefined
  const step = freshStep()
  const run = spawnSync('/usr/bin/time', ['-v', ACTION_NODE, bundle], {
    env: { ...step.env, INPUT_ENABLED: 'false' },
    encoding: 'utf8'
  })
  const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(run.stderr)
  return match ? Number(match[1]) * 1024 : undefined
}

// ---------------------------------------------------------------- upload-context

/** Files of random bytes, so git and the archive really carry the size. */
const UPLOAD_FILES = 25
const UPLOAD_FILE_BYTES = 2 * 1024 * 1024

/**
 * The gate's upload of a 50 MB tree (the connect and upload phases of its summary) against the
 * plain pipe a user would write, interleaved; and the main step's peak RSS for one such run.
 */
async function uploadBench(
  target: SshHost,
  host: StagingHost,
  baseEnv: Record<string, string>,
  preload: string
): Promise<{ bytes: number; gate: Stats; naive: Stats; ratios: Stats; whole: Stats; peak: Stats }> {
  const repo = makeRepo()
  mkdirSync(path.join(repo.dir, 'data'))
  for (let i = 0; i < UPLOAD_FILES; i++) {
    writeFileSync(path.join(repo.dir, 'data', `f${i}.bin`), randomBytes(UPLOAD_FILE_BYTES))
  }
  const git = (...args: string[]): string =>
    execFileSync('git', ['-C', repo.dir, ...args], {
      encoding: 'utf8',
      env: { ...process.env, GIT_AUTHOR_NAME: 'B', GIT_AUTHOR_EMAIL: 'b@example.invalid', GIT_COMMITTER_NAME: 'B', GIT_COMMITTER_EMAIL: 'b@example.invalid' }
    }).trim() // prettier-ignore
  git('add', 'data')
  git('commit', '-qm', 'data')
  const head = git('rev-parse', 'HEAD')
  const image = `${IMAGE}-upload`
  buildImage(host.dockerHost, image, { [LABEL]: head })
  const bytes = Number(execFileSync('bash', ['-c', `git -C ${repo.dir} archive HEAD | wc -c`], { encoding: 'utf8' }).trim()) // prettier-ignore
  const inputs: Record<string, string> = {
    ...target.inputs,
    path: repo.dir,
    image,
    'upload-context': 'true'
  }
  delete inputs['build-context']
  const ssh = [
    'ssh', '-T', '-o', 'BatchMode=yes', '-i', target.keyFile, '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${target.knownHostsFile}`, '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes', '-p', String(target.port), 'root@127.0.0.1'
  ].join(' ') // prettier-ignore
  const dir = '/tmp/provenance-gate-bench-naive-upload'
  const naive = `git -C ${repo.dir} archive HEAD | ${ssh} 'mkdir -p ${dir} && tar -x -C ${dir}'`
  const samples = await repeat(async () => {
    const gate = await gateRun(inputs)
    rmSync(dir, { recursive: true, force: true })
    const shell = await timeChild('bash', ['-c', naive], baseEnv)
    must(shell.run.exitCode === 0 && existsSync(path.join(dir, 'data', 'f0.bin')), 'the naive upload', shell.run)
    rmSync(dir, { recursive: true, force: true })
    const shipped = (gate.phases.connect ?? NaN) + (gate.phases.upload ?? NaN)
    return { gate: shipped, naive: shell.ms, whole: gate.mainMs }
  }) // prettier-ignore
  const peaks: number[] = []
  for (let i = 0; i < 3; i++) {
    const step = freshStep()
    const out = path.join(step.env.RUNNER_TEMP ?? '', '..', 'peak.json')
    const run = await runChild(ACTION_NODE, ['--require', preload, bundle], { ...step.env, ...inputEnv(inputs), BENCH_PEAK_FILE: out }) // prettier-ignore
    must(run.exitCode === 0, 'the instrumented upload run', run)
    peaks.push((JSON.parse(readFileSync(out, 'utf8')) as { peakBytes: number }).peakBytes)
  }
  return {
    bytes,
    gate: stats(samples.map(s => s.gate)),
    naive: stats(samples.map(s => s.naive)),
    ratios: stats(samples.map(s => s.gate / s.naive)),
    whole: stats(samples.map(s => s.whole)),
    peak: stats(peaks)
  }
}

// ---------------------------------------------------------------- registry (optional)

/** What the bench uses from __tests__/support/registry.ts. */
interface RegistryHarness {
  startRegistry(dir: string): Promise<{
    pid: number
    host: string
    caFile: string
    username: string
    password: string
  }>
  pushImage(
    registry: unknown,
    repository: string,
    tag: string,
    options: { labels: Record<string, string> }
  ): Promise<{ configDigest: string }>
}

type RegistryRow =
  | { todo: string }
  | {
      bundle: Stats
      skopeo: Stats
      ratios: Stats
      bundleBytes: number
      nodeFloor: Stats
      gate: Stats
      gateRatios: Stats
    }

/**
 * The registry harness imports `@jest/globals` for its jest helpers, which throws outside jest:
 * resolve it to two no-ops for this process only.
 */
function stubJestGlobals(): void {
  const stub = 'data:text/javascript,export const beforeAll=()=>{};export const afterAll=()=>{};'
  const hooks = `export async function resolve(specifier, context, next) {
    if (specifier === '@jest/globals') return { url: ${JSON.stringify(stub)}, shortCircuit: true }
    return next(specifier, context)
  }`
  register(`data:text/javascript,${encodeURIComponent(hooks)}`)
}

async function registryBench(
  scratch: string,
  revision: string,
  checkout: string,
  stopLater: (stop: () => Promise<void>) => void,
  nodeFloor: () => Promise<number>
): Promise<RegistryRow> {
  const harnessFile = path.join(ROOT, '__tests__/support/registry.ts')
  for (const file of [path.join(ROOT, 'src/registry/client.ts'), harnessFile]) {
    if (!existsSync(file)) return { todo: `${path.relative(ROOT, file)} does not exist yet` }
  }
  if (spawnSync('bash', ['-c', 'command -v skopeo']).status !== 0) {
    return { todo: 'skopeo is not installed (apt-get install skopeo)' }
  }
  let harness: RegistryHarness
  try {
    stubJestGlobals()
    harness = (await import(pathToFileURL(harnessFile).href)) as RegistryHarness
  } catch (error) {
    return { todo: `the registry harness does not load: ${String(error)}` }
  }

  const dir = path.join(scratch, 'registry')
  mkdirSync(dir)
  const registry = await harness.startRegistry(dir)
  stopLater(() => stopPid(registry.pid))
  await harness.pushImage(registry, 'bench/shop', 'staging', { labels: { [LABEL]: revision } })
  const reference = `${registry.host}/bench/shop:staging`

  // readRegistryImage bundled the way the action ships (ncc, ESM), in a directory of its own
  // whose tsconfig lets it import from src/.
  mkdirSync(path.join(ROOT, '.tmp'), { recursive: true })
  const build = mkdtempSync(path.join(ROOT, '.tmp/bench-'))
  stopLater(() => Promise.resolve(rmSync(build, { recursive: true, force: true })))
  writeFileSync(
    path.join(build, 'tsconfig.json'),
    JSON.stringify({
      extends: path.relative(build, path.join(ROOT, 'tsconfig.json')),
      compilerOptions: { rootDir: path.relative(build, ROOT) },
      include: ['*.ts']
    })
  )
  writeFileSync(
    path.join(build, 'read.ts'),
    `import { readRegistryImage } from '${path.relative(build, path.join(ROOT, 'src/registry/client.js'))}'

readRegistryImage(process.argv[2] ?? '', {
  username: process.env.BENCH_REGISTRY_USER ?? '',
  password: process.env.BENCH_REGISTRY_PASSWORD ?? '',
  platform: 'linux/amd64',
  timeoutMs: 30000
}).then(
  image => process.stdout.write(JSON.stringify(image.labels)),
  (error: unknown) => {
    process.stderr.write(String(error))
    process.exitCode = 1
  }
)
`
  )
  execFileSync(
    path.join(ROOT, 'node_modules/.bin/ncc'),
    ['build', path.join(build, 'read.ts'), '-o', path.join(build, 'out')],
    { cwd: ROOT, stdio: 'ignore' }
  )
  const reader = path.join(build, 'out/index.js')

  // skopeo trusts the registry's self-signed certificate through --cert-dir, as node does through
  // NODE_EXTRA_CA_CERTS: both verify TLS.
  const certDir = path.join(dir, 'skopeo-certs')
  mkdirSync(certDir)
  writeFileSync(path.join(certDir, 'ca.crt'), readFileSync(registry.caFile))
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    NODE_EXTRA_CA_CERTS: registry.caFile,
    BENCH_REGISTRY_USER: registry.username,
    BENCH_REGISTRY_PASSWORD: registry.password
  }
  const skopeoArgs = [
    'inspect', '--config', '--cert-dir', certDir,
    '--creds', `${registry.username}:${registry.password}`, `docker://${reference}`
  ] // prettier-ignore

  const samples = await repeat(async () => {
    const read = await timeChild(ACTION_NODE, [reader, reference], env)
    const labels = parseJson(read.run.stdout) as Record<string, string> | undefined
    must(
      read.run.exitCode === 0 && labels?.[LABEL] === revision,
      'readRegistryImage did not read the label',
      read.run
    )
    const skopeo = await timeChild('skopeo', skopeoArgs, env)
    const config = parseJson(skopeo.run.stdout) as
      { config?: { Labels?: Record<string, string> } } | undefined
    must(
      skopeo.run.exitCode === 0 && config?.config?.Labels?.[LABEL] === revision,
      'skopeo did not read the label',
      skopeo.run
    )
    // The whole action reading the label from the registry: mode verify, nothing on a host.
    const gate = await gateRun(
      {
        mode: 'verify',
        'label-source': 'registry',
        image: reference,
        'registry-username': registry.username,
        'registry-password': registry.password,
        path: checkout
      },
      { NODE_EXTRA_CA_CERTS: registry.caFile }
    )
    return { read: read.ms, skopeo: skopeo.ms, gate: gate.mainMs, floor: await nodeFloor() }
  })
  return {
    bundle: stats(samples.map(s => s.read)),
    skopeo: stats(samples.map(s => s.skopeo)),
    ratios: stats(samples.map(s => s.read / s.skopeo)),
    gate: stats(samples.map(s => s.gate)),
    gateRatios: stats(samples.map(s => s.gate / s.skopeo)),
    nodeFloor: stats(samples.map(s => s.floor)),
    bundleBytes: statSync(reader).size
  }
}

// ---------------------------------------------------------------- machine

function capture(file: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const run = spawnSync(file, args, { encoding: 'utf8', env: env ?? process.env })
  return `${run.stdout ?? ''}${run.stderr ?? ''}`.trim().split('\n')[0] ?? ''
}

function machine(host: StagingHost): string[] {
  const cpus = os.cpus()
  const release = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : ''
  const distro = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(release)?.[1] ?? 'unknown'
  const docker = capture('docker', [
    '-H', host.dockerHost, 'version', '--format', 'client {{.Client.Version}}, engine {{.Server.Version}}'
  ]) // prettier-ignore
  return [
    `- CPU: ${cpus[0]?.model ?? 'unknown'}, ${cpus.length} cores`,
    `- memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- kernel: ${os.type()} ${os.release()} (${distro})`,
    `- node running the bundle: ${capture(ACTION_NODE, ['--version'])} (${ACTION_NODE}); the bench itself: ${process.version}`,
    `- OpenSSH: ${capture('ssh', ['-V'])}`,
    `- docker: ${docker}`,
    `- skopeo: ${capture('bash', ['-c', 'skopeo --version 2>/dev/null || echo not installed'])}; registry: ${capture('bash', ['-c', 'docker-registry --version 2>/dev/null || echo not installed'])}`
  ]
}

function load(): string {
  return os
    .loadavg()
    .map(value => value.toFixed(2))
    .join(', ')
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const loadBefore = load()
  const started = new Date()
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'provenance-gate-bench-'))
  const stops: (() => Promise<void>)[] = []
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined)
  }
  const onSignal = (): void => {
    void stopAll().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  stops.push(() => {
    removeScratch()
    rmSync(scratch, { recursive: true, force: true })
    return Promise.resolve()
  })

  try {
    const snapshot = path.join(scratch, 'dist')
    cpSync(path.dirname(BUNDLE), snapshot, { recursive: true })
    bundle = path.join(snapshot, path.basename(BUNDLE))
    const bundleHash = createHash('sha256').update(readFileSync(bundle)).digest('hex')
    const revision = capture('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])
    const dirty = capture('git', ['-C', ROOT, 'status', '--porcelain', '--', 'dist', 'src']) !== ''
    console.log(`bench: ${RUNS} runs per series after ${WARMUPS} warm-ups; load ${loadBefore}`)
    console.log(`bench: measuring a copy of dist/index.js (sha256 ${bundleHash.slice(0, 16)}…)`)
    console.log('bench: starting a loopback staging host (sshd + dockerd) …')
    const host = await startStagingHost(path.join(scratch, 'host'))
    stops.push(() => stopStagingHost(host))
    // A second sshd on the same dockerd whose sessions get an empty HOME: the login shell runs no
    // dotfiles, as on a staging host whose ~/.bashrc returns early for non-interactive shells
    // (Debian's default). The harness's sshd logs in as this machine's root, whose ~/.bashrc may
    // do real work on every session; both are measured.
    const cleanHome = path.join(scratch, 'clean-home')
    mkdirSync(cleanHome)
    const clean = await startSshd(path.join(scratch, 'clean-ssh'), {
      DOCKER_HOST: host.dockerHost,
      DOCKER_BUILDKIT: '0',
      SKIP_COMPOSE: '1',
      HOME: cleanHome
    })
    stops.push(() => stopPid(clean.sshdPid))
    const machineLines = machine(host)

    // The image the hook would build, built once; the hook only prints a line.
    const repo = makeRepo()
    buildImage(host.dockerHost, IMAGE, { [LABEL]: repo.head })
    const hookDir = scratchDir('hook-')
    const hook = writeScript(hookDir, 'hook.sh', 'echo "hook: ${GIT_SHA:0:12} is already built"')
    const empty = path.join(scratch, 'empty.mjs')
    writeFileSync(empty, '')
    const preload = path.join(scratch, 'peak.cjs')
    writeFileSync(preload, PEAK_PRELOAD)
    const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' }
    const nodeFloor = async (): Promise<number> =>
      (await timeChild(ACTION_NODE, [empty], baseEnv)).ms

    const sshHost = (name: string, ssh: typeof clean): SshHost => {
      const knownHostsFile = path.join(scratch, `${name}-known_hosts`)
      writeFileSync(knownHostsFile, ssh.knownHosts)
      const keyFile = path.join(scratch, `${name}-key`)
      writeFileSync(keyFile, ssh.privateKey, { mode: 0o600 })
      const options = [
        'ssh', '-o', 'BatchMode=yes', '-i', keyFile, '-o', `UserKnownHostsFile=${knownHostsFile}`,
        '-p', String(ssh.sshPort), 'root@127.0.0.1'
      ].join(' ') // prettier-ignore
      const format = `'{{ index .Config.Labels \\"${LABEL}\\" }}'`
      return {
        port: ssh.sshPort,
        keyFile,
        knownHostsFile,
        inputs: {
          mode: 'rebuild',
          host: '127.0.0.1',
          user: 'root',
          port: String(ssh.sshPort),
          'private-key': ssh.privateKey,
          'known-hosts': ssh.knownHosts,
          image: IMAGE,
          hook,
          'hook-dir': hookDir,
          'build-context': repo.dir,
          path: repo.dir
        },
        naive:
          `${options} 'cd ${hookDir} && GIT_SHA=${repo.head} bash ${hook} --build-staging'` +
          ` && ${options} "docker image inspect --format ${format} ${IMAGE}"`
      }
    }
    const hosts = { clean: sshHost('clean', clean), asIs: sshHost('as-is', host) }

    // 1. gate against the naive two-connection shell, interleaved, on both sshds.
    console.log('bench: 1. gate vs naive ssh …')
    const pairs = await repeat(async () => {
      const pair = async (target: SshHost): Promise<{ gate: GateSample; naiveMs: number }> => {
        const gate = await gateRun(target.inputs)
        const shell = await timeChild('bash', ['-c', target.naive], baseEnv)
        must(
          shell.run.exitCode === 0 && shell.run.stdout.includes(repo.head),
          'the naive shell did not print the label',
          shell.run
        )
        return { gate, naiveMs: shell.ms }
      }
      const clean = await pair(hosts.clean)
      // The same gate without the running-container check, i.e. the naive shell's work exactly.
      const imageOnly = await gateRun({ ...hosts.clean.inputs, 'check-container': 'false' })
      return { clean, imageOnly, asIs: await pair(hosts.asIs) }
    })
    const imageOnly = stats(pairs.map(p => p.imageOnly.mainMs))
    const imageOnlyRatios = stats(pairs.map(p => p.imageOnly.mainMs / p.clean.naiveMs))
    const imageOnlyInspect = stats(pairs.map(p => p.imageOnly.phases.inspect ?? NaN))
    const compare = (which: 'clean' | 'asIs') => {
      const runs = pairs.map(p => p[which])
      return {
        gate: stats(runs.map(p => p.gate.mainMs)),
        naive: stats(runs.map(p => p.naiveMs)),
        post: stats(runs.map(p => p.gate.postMs)),
        ratios: stats(runs.map(p => p.gate.mainMs / p.naiveMs)),
        phases: Object.fromEntries(
          PHASES.map(name => [name, stats(runs.map(p => p.gate.phases[name] ?? NaN))])
        ),
        outsideRun: stats(runs.map(p => p.gate.mainMs - (p.gate.phases.total ?? 0)))
      }
    }
    const onClean = compare('clean')
    const onAsIs = compare('asIs')

    // 2. cold start, with `node` on an empty module as the floor, interleaved.
    console.log('bench: 2. cold start …')
    const cold = await repeat(async () => ({ bundle: await coldRun(), floor: await nodeFloor() }))
    const coldStats = stats(cold.map(c => c.bundle))
    const floorStats = stats(cold.map(c => c.floor))
    const peaks = await repeat(() => coldPeak(preload))
    const peak = stats(peaks.map(p => p.peakBytes))
    const cpu = stats(peaks.map(p => p.cpuMs))
    const gnuPeak = gnuTimePeak()

    // 3. size.
    const bundleText = readFileSync(bundle)
    const size = bundleText.length
    const gzipped = gzipSync(bundleText).length
    // Every JavaScript file ncc wrote (index.js and the chunks it loads on demand).
    const distDir = path.dirname(bundle)
    const chunks = readdirSync(distDir).filter(name => name.endsWith('.js') && name !== 'index.js')
    const chunkSize = chunks.reduce((sum, name) => sum + statSync(path.join(distDir, name)).size, 0)

    // 4. registry label read.
    console.log('bench: 4. registry label read …')
    const registry = await registryBench(
      scratch,
      repo.head,
      repo.dir,
      stop => stops.push(stop),
      nodeFloor
    )

    // 5. upload-context of a 50 MB tree against the plain pipe.
    console.log('bench: 5. upload-context (50 MB) …')
    const upload = await uploadBench(hosts.clean, host, baseEnv, preload)

    // Where the time goes: each step of a gate run on its own, interleaved.
    console.log('bench: breakdown …')
    const control = path.join(scratch, 'cm')
    const sshBase = (target: SshHost): string[] => [
      '-T', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes',
      '-o', `UserKnownHostsFile=${target.knownHostsFile}`, '-o', 'GlobalKnownHostsFile=/dev/null',
      '-i', target.keyFile, '-o', 'IdentitiesOnly=yes', '-o', 'LogLevel=ERROR',
      '-o', `ControlPath=${control}`, '-p', String(target.port)
    ] // prettier-ignore
    const destination = ['--', 'root@127.0.0.1']
    const step = async (file: string, args: string[]): Promise<number> => {
      const run = await timeChild(file, args, baseEnv)
      must(run.run.exitCode === 0, `${file} ${args.join(' ')}`, run.run)
      return run.ms
    }
    const c = sshBase(hosts.clean)
    const direct = ['-o', 'ControlMaster=no', '-o', 'ControlPath=none']
    const parts = await repeat(async () => ({
      git: await step('git', ['-C', repo.dir, 'rev-parse', 'HEAD']),
      keygen: await step('ssh-keygen', ['-y', '-P', '', '-f', hosts.clean.keyFile]),
      open: await step('ssh', [...c, '-o', 'ControlMaster=yes', '-o', 'ControlPersist=600', '-f', '-N', ...destination]),
      muxed: await step('ssh', [...c, '-o', 'ControlMaster=no', ...destination, 'true']),
      exit: await step('ssh', ['-o', `ControlPath=${control}`, '-O', 'exit', ...destination]),
      direct: await step('ssh', [...c, ...direct, ...destination, 'true']),
      directAsIs: await step('ssh', [...sshBase(hosts.asIs), ...direct, ...destination, 'true']),
      classicKex: await step('ssh', [...c, ...direct, '-o', 'KexAlgorithms=curve25519-sha256', ...destination, 'true'])
    })) // prettier-ignore
    const part = (name: keyof (typeof parts)[number]): Stats => stats(parts.map(p => p[name]))

    const loadAfter = load()
    const range = (s: Stats, unit: (n: number) => string): string =>
      `${unit(s.min)} – ${unit(s.max)}`
    const verdict = (ok: boolean): string => (ok ? 'yes' : '**no**')
    const row = (id: string, what: string, s: Stats, unit = ms, target = '', met = ''): string =>
      `| ${id} | ${what} | ${s.runs} | ${unit(s.median)} | ${range(s, unit)} | ${target} | ${met} |`
    const gateRows = (id: string, where: string, r: typeof onClean): string[] => [
      row(`${id}a`, `gate: \`node dist/index.js\`, mode rebuild, print-only hook (main step), ${where}`, r.gate),
      row(`${id}b`, `naive: \`ssh … 'cd dir && GIT_SHA=… bash hook --build-staging' && ssh … 'docker image inspect …'\`, ${where}`, r.naive),
      row(id, `ratio gate / naive, ${where} (per pair; ratio of medians ${ratio(r.gate.median / r.naive.median)})`, r.ratios, ratio, '≤ 0.60', verdict(r.ratios.median <= 0.6))
    ] // prettier-ignore
    const registryRows =
      'todo' in registry
        ? [
            `| 4 | label from a registry: readRegistryImage vs \`skopeo inspect --config\` | — | **TODO** | ${registry.todo} | — | — |`
          ]
        : [
            row('4a', `label from a registry: \`node\` + readRegistryImage bundled with ncc (${(registry.bundleBytes / 1000).toFixed(0)} kB), whole process`, registry.bundle),
            row('4b', 'label from a registry: `skopeo inspect --config`, whole process', registry.skopeo),
            row('4', 'ratio readRegistryImage / skopeo (per pair)', registry.ratios, ratio),
            row('4d', 'the whole action: `node dist/index.js`, mode verify, `label-source: registry` (main step)', registry.gate),
            row('4d', 'ratio of that action run / skopeo (per pair)', registry.gateRatios, ratio),
            row('4c', 'floor: `node` on an empty module, same runs', registry.nodeFloor)
          ] // prettier-ignore
    const table = [
      '| # | measure | runs | median | min – max | target | met |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...gateRows('1', 'clean login shell', onClean),
      `| 1f | floor: \`node\` on an empty module + one direct \`ssh host true\` (medians of 2d and the breakdown below) | — | ${ms(floorStats.median + part('direct').median)} | — | | |`,
      `| 1f | distance of the gate (1a) to that floor | — | ${ms(onClean.gate.median - floorStats.median - part('direct').median)} | — | | |`,
      row('1d', 'gate with `check-container: false` (image inspect only, as the naive shell), clean login shell', imageOnly),
      row('1d', 'ratio of that gate / naive, clean login shell (per pair)', imageOnlyRatios, ratio, '≤ 0.60', verdict(imageOnlyRatios.median <= 0.6)),
      ...gateRows("1'", "this machine's root login (~/.bashrc)", onAsIs),
      row('1c', 'gate post step (runs at the end of the job; nothing to clean up)', onClean.post),
      row('2', 'cold start: `node dist/index.js`, `INPUT_ENABLED=false`, until exit', coldStats, ms, '≤ 120 ms', verdict(coldStats.median <= 120)),
      row('2b', 'cold start peak RSS (VmHWM at exit)', peak, mb),
      row('2c', 'cold start CPU time (user + system)', cpu),
      row('2d', 'floor: the same `node` on an empty module', floorStats),
      `| 3 | size of dist/index.js (gzip ${mb(gzipped)}) and the chunks it loads on demand (${chunks.join(', ') || 'none'}, ${mb(chunkSize)}) | — | ${mb(size + chunkSize)} | — | ≤ 2 MB | ${verdict(size + chunkSize <= 2e6)} |`,
      ...registryRows,
      row('5a', `upload-context: the gate's connect + upload phases, a ${mb(upload.bytes)} tree (\`git archive\`, framed, over its ssh connection into a fresh 0700 dir)`, upload.gate),
      row('5b', "naive: `git archive HEAD | ssh … 'mkdir -p d && tar -x -C d'`, same ssh options", upload.naive),
      row('5', 'ratio gate connect + upload / naive (per pair)', upload.ratios, ratio, '≤ 1.10', verdict(upload.ratios.median <= 1.1)),
      row('5c', 'the whole gate run with that upload (main step)', upload.whole),
      row('5d', 'peak RSS of the main step while uploading (VmHWM at exit)', upload.peak, mb)
    ] // prettier-ignore
    const line = (what: string, s: Stats): string =>
      `| ${what} | ${ms(s.median)} | ${range(s, ms)} |`
    const breakdown = [
      '| step (clean login shell) | median | min – max |',
      '| --- | --- | --- |',
      ...PHASES.map(name => line(`gate phase \`${name}\` (job summary)`, onClean.phases[name] ?? stats([]))),
      line('gate phase `inspect` with `check-container: false`', imageOnlyInspect),
      line('gate main step outside `run()` (node start, module load, exit) = wall − total', onClean.outsideRun),
      line('`git rev-parse HEAD`', part('git')),
      line('`ssh-keygen -y` (local key check)', part('keygen')),
      line('ssh master open (`-f -N`: key exchange + auth)', part('open')),
      line('one command over the master (`true`)', part('muxed')),
      line('`ssh -O exit` (close the master)', part('exit')),
      line('one direct connection running `true` (what each naive `ssh` pays)', part('direct')),
      line("the same on this machine's root login (its ~/.bashrc runs on every session)", part('directAsIs')),
      line('the same with `KexAlgorithms=curve25519-sha256` (no post-quantum key exchange; for scale only)', part('classicKex'))
    ] // prettier-ignore
    const doc = [
      '# Benchmarks',
      '',
      `Measured ${started.toISOString().replace(/\.\d+Z$/, 'Z')} with \`${COMMAND}\` (\`${SCRIPT}\`), ${RUNS} runs per series after ${WARMUPS} warm-ups; the series of each table are interleaved run by run. Load average (1, 5, 15 min) ${loadBefore} before, ${loadAfter} after: other jobs shared the CPUs, so read the spread, not only the median.`,
      '',
      `Bundle: dist/index.js of commit ${revision}${dirty ? ' with uncommitted changes in src/ or dist/' : ''}, sha256 \`${bundleHash}\` (copied when the bench started).`,
      '',
      '## Machine',
      '',
      ...machineLines,
      '',
      '## Results',
      '',
      'Everything runs against a loopback sshd and dockerd started for the run (__tests__/support); "ssh" means a real connection with the real key and the pinned known_hosts, `BatchMode=yes`. Loopback has no network latency, which is the worst case for the gate: over a real network each extra connection of the naive shell also pays several round trips. The gate runs the committed bundle exactly as the runner does (inputs as `INPUT_*`, file commands, a fresh `RUNNER_TEMP`); its hook only prints a line, because the image with the right label was built once before the loop. The naive shell gets its key file and known_hosts written beforehand and the SHA inlined, which favours it. "Clean login shell": sessions get an empty HOME, so the remote login shell reads no dotfiles, like a staging host whose ~/.bashrc returns early for non-interactive shells. MB are 10^6 bytes.',
      '',
      ...table,
      '',
      'The naive shell, exactly (clean login shell):',
      '',
      '```sh',
      hosts.clean.naive,
      '```',
      '',
      '## Where the time goes',
      '',
      "A gate run: `git rev-parse`, then `connect` (key and known_hosts files, `ssh-keygen -y`, the ssh master), then one remote session over the master (the hook, then the image inspect and, with the default `check-container: auto`, the running-container check, both in the `inspect` phase), then the master is closed (inside `total`, in no phase). Each step below on its own, with the gate's ssh options:",
      '',
      ...breakdown,
      ''
    ].join('\n')
    writeFileSync(DOC, `${doc}\n${keptNotes()}`)
    console.log(`\n${table.join('\n')}\n\n${breakdown.join('\n')}\n`)
    if (gnuPeak !== undefined) {
      console.log(
        `cross-check: /usr/bin/time -v reports a peak RSS of ${mb(gnuPeak)} for one cold start`
      )
    }
    console.log(
      `bench: load ${loadBefore} before, ${loadAfter} after; wrote ${path.relative(ROOT, DOC)}`
    )
  } finally {
    await stopAll()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`
    )
    process.exit(1)
  }
)
