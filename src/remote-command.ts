import type { ContainerState } from './container-check.js'
import type { Settings } from './settings.js'
import { shellQuote } from './shell-quote.js'

/**
 * Seconds the host's `timeout` waits after SIGTERM before it sends SIGKILL to the whole process
 * group, so a hook that ignores SIGTERM still ends within a known bound.
 */
export const HOST_KILL_AFTER_SECONDS = 10

/**
 * The environment the hook receives, in the order the hook contract documents. The staging
 * target is always explicit so a change of the hook's own defaults can never aim it at prod.
 */
export function hookEnvironment(settings: Settings, revision: string): [string, string][] {
  return [
    ['GIT_SHA', revision],
    ['BUILD_CONTEXT', settings.buildContext],
    ['TARGET_IMAGE', settings.image],
    ['TARGET_SERVICE', settings.staging.service],
    ['TARGET_PORT', settings.staging.port],
    ['COMPOSE_PROFILE', settings.staging.composeProfile],
    ['STAGING_CONTAINER', settings.staging.container]
  ]
}

/**
 * The hook invocation: `GIT_SHA=… … timeout -k 10 <s> bash -- <hook> --build-staging`, every
 * value shell-quoted. `timeout` makes rebuild-timeout bind the host too: without a tty a remote
 * command outlives its ssh client, so only a bound on the host stops a hung hook.
 */
export function planHookInvocation(settings: Settings, revision: string): string {
  const assignments = hookEnvironment(settings, revision)
    .map(([name, value]) => `${name}=${shellQuote(value)}`)
    .join(' ')
  const seconds = Math.ceil(settings.timeouts.rebuildMs / 1000)
  // `--` keeps a hook path that starts with a dash from being read as an option of bash.
  return `${assignments} timeout -k ${HOST_KILL_AFTER_SECONDS} ${seconds} bash -- ${shellQuote(settings.hook)} --build-staging`
}

/** The hook as one command line, `cd <hook-dir> && <invocation>`, as the log shows it. */
export function planHookCommand(settings: Settings, revision: string): string {
  const run = planHookInvocation(settings, revision)
  return settings.hookDir ? `cd ${shellQuote(cdOperand(settings.hookDir))} && ${run}` : run
}

/**
 * `cd`'s operand for hook-dir: a relative directory gets `./`, so a name that starts with a dash
 * (`-P`, `-`, `--help`) is a directory and not an option, and CDPATH cannot redirect it.
 */
export function cdOperand(dir: string): string {
  return dir.startsWith('/') || dir.startsWith('./') ? dir : `./${dir}`
}

/**
 * One inspect that yields the image id and all labels as JSON, so the id the retag step promotes
 * is the id whose label was checked, and no label value (spaces, newlines) can blur the answer.
 * The `with` guard matters: an image without a config must not fail the template.
 */
export function planInspectCommand(settings: Settings, image = settings.image): string {
  const format = '{{json .Id}} {{with .Config}}{{json .Labels}}{{else}}null{{end}}'
  return `${bounded(settings)} ${shellQuote(settings.docker)} image inspect --format ${shellQuote(format)} ${shellQuote(image)}`
}

/** The host-side bound of one quick docker call: inspect-timeout, then SIGKILL. */
function bounded(settings: Settings): string {
  const seconds = Math.ceil(settings.timeouts.inspectMs / 1000)
  return `timeout -k ${HOST_KILL_AFTER_SECONDS} ${seconds}`
}

/**
 * The staging containers and the image id each runs, one `<json name> <json image> <running>`
 * line per container: compose does not always recreate a container when its tag moves, so a
 * verified image can sit next to a container still running the old one. Without an explicit
 * staging-container, the compose service's containers are found by their label (compose names
 * them `<project>-<service>-1`); when there are none, the service name is tried as is.
 */
export function planContainerCommand(settings: Settings): string {
  const docker = shellQuote(settings.docker)
  const { container, service, containerNamed } = settings.staging
  const format = shellQuote('{{json .Name}} {{json .Image}} {{json .State.Running}}')
  // `--`: a container name is free text, and the CLI would read a leading dash as a flag.
  const inspect = `${bounded(settings)} ${docker} container inspect --format ${format} -- "$@"`
  if (containerNamed) return `set -- ${shellQuote(container)}; ${inspect}`
  const filter = shellQuote(`label=com.docker.compose.service=${service}`)
  // A failed or timed-out `ps` fails the step: falling back to the bare name would let a missed
  // compose container pass as absent.
  const ps = `${bounded(settings)} ${docker} ps -aq --no-trunc --filter ${filter}`
  // Only 64-hex words are ids: a warning ps prints on stderr must not become container names.
  const ids =
    'set -f; set --; for pg_w in $pg_ids; do case "$pg_w" in *[!0-9a-f]*) ;; *) [ "${#pg_w}" -eq 64 ] && set -- "$@" "$pg_w" ;; esac; done; set +f'
  return `if pg_ids=$(${ps} 2>&1); then ${ids}; [ "$#" -gt 0 ] || set -- ${shellQuote(container)}; ${inspect}; else pg_rc=$?; printf '%s\\n' "$pg_ids"; (exit "$pg_rc"); fi`
}

/** A step's command with its output on stdout and its exit status in a marker line after it. */
function step(mark: string, name: string, command: string, last: boolean): string[] {
  const report = `pg_rc=$?; printf '\\n${mark} ${name}-exit %s\\n' "$pg_rc"`
  return [`${command} 2>&1`, last ? report : `${report}; [ "$pg_rc" -eq 0 ] || exit 0`]
}

/**
 * The one remote session of a run: (rebuild mode) the hook with its output sent to stderr, then
 * the inspect, each followed by a marker line carrying its exit status on stdout. One session
 * means one round trip; the markers keep the two results apart, and the nonce keeps anything the
 * hook might print from passing for a marker. POSIX sh, because ssh runs the login shell.
 */
export function planSession(settings: Settings, revision: string, nonce: string): string {
  const mark = markerOf(nonce)
  const lines = [preflight(mark)]
  if (settings.mode === 'rebuild') {
    // `timeout` leads its own process group and stops the hook's group on expiry, but a child
    // that ignores SIGTERM outlives the hook; after a timeout the whole group gets SIGKILL.
    const cd = settings.hookDir
      ? `cd ${shellQuote(cdOperand(settings.hookDir))} 1>&2 || pg_rc=$?`
      : ''
    lines.push(
      'pg_rc=0',
      ...(cd ? [cd] : []),
      `if [ "$pg_rc" -eq 0 ]; then ${planHookInvocation(settings, revision)} 1>&2 & pg_pid=$!; wait "$pg_pid"; pg_rc=$?; fi`,
      `case "$pg_rc" in 124|137) kill -9 "-$pg_pid" 2>/dev/null;; esac`,
      `echo "${mark} hook-exit $pg_rc"; [ "$pg_rc" -eq 0 ] || exit 0`
    )
  }
  const checks: [string, string][] = []
  if (settings.labelSource === 'host') {
    checks.push(['inspect', planInspectCommand(settings, inspectTarget(settings))])
  }
  if (settings.containerCheck !== 'skip') checks.push(['container', planContainerCommand(settings)])
  checks.forEach(([name, command], i) =>
    lines.push(...step(mark, name, command, i === checks.length - 1))
  )
  return lines.join('\n')
}

/**
 * The promotion's session: `docker tag <image id> <prod-image>` (by id, never by the mutable
 * staging tag, so what was verified is what gets the prod tag), then the prod image read back.
 */
export function planPromoteSession(settings: Settings, imageId: string, nonce: string): string {
  if (!settings.promote) throw new Error('planPromoteSession needs promote settings')
  const mark = markerOf(nonce)
  const { prodImage } = settings.promote
  const tag = `${bounded(settings)} ${shellQuote(settings.docker)} tag ${shellQuote(imageId)} ${shellQuote(prodImage)}`
  return [
    preflight(mark),
    ...step(mark, 'tag', tag, false),
    ...step(mark, 'inspect', planInspectCommand(settings, prodImage), true)
  ].join('\n')
}

/**
 * What the session inspects: in promote mode with image-id, that exact image (the staging tag may
 * have moved since the gate ran); else the staging image reference.
 */
export function inspectTarget(settings: Settings): string {
  return settings.promote?.imageId || settings.image
}

/**
 * The session's first line: a `begin` marker (whatever a chatty login shell printed before it is
 * not an answer), then the check for GNU `timeout`, whose process group the hook's bound relies on
 * (busybox's execs the command in place and has no group to stop).
 */
function preflight(mark: string): string {
  return `echo '${mark} begin'; timeout --version >/dev/null 2>&1 || { echo '${mark} no-timeout'; exit 0; }`
}

/** Every marker line starts with this, then the run's nonce. */
const MARKER_PREFIX = 'provenance-gate-'

function markerOf(nonce: string): string {
  return `${MARKER_PREFIX}${nonce}`
}

/** Output without a session's marker lines, which mean nothing to a reader. */
export function withoutMarkers(output: string): string {
  return output.replace(new RegExp(`^${MARKER_PREFIX}[0-9a-f]+ .*$`, 'gm'), '')
}

/** What one remote session reported; an absent exit status means that step never reported. */
export interface SessionResult {
  /** The host has no `timeout` command, so nothing was run. */
  noTimeout: boolean
  hookExit: number | undefined
  inspectExit: number | undefined
  /** The inspect's stdout and stderr, without the marker lines. */
  inspectOutput: string
  /** The running container's check (`container inspect`), when the session included it. */
  containerExit: number | undefined
  containerOutput: string
  /** `docker tag` of a promotion, when the session included it. */
  tagExit: number | undefined
  tagOutput: string
}

/**
 * Reads the marker lines of a planned session out of its stdout. Each step's output is what
 * came after the previous marker; only markers with this run's nonce count.
 */
export function parseSession(stdout: string, nonce: string): SessionResult {
  const mark = `${markerOf(nonce)} `
  const result: SessionResult = {
    noTimeout: false,
    hookExit: undefined,
    inspectExit: undefined,
    inspectOutput: '',
    containerExit: undefined,
    containerOutput: '',
    tagExit: undefined,
    tagOutput: ''
  }
  let pending: string[] = []
  for (const line of stdout.split('\n')) {
    const step = line.startsWith(mark)
      ? /^([a-z]+)-exit ([0-9]+)$/.exec(line.slice(mark.length))
      : null
    if (line === `${mark}begin`) {
      // Anything before it came from the login shell, not from a step.
    } else if (line === `${mark}no-timeout`) {
      result.noTimeout = true
    } else if (!step) {
      pending.push(line)
      continue
    } else {
      const exit = Number(step[2])
      const output = pending.join('\n').replace(/^\n+|\n+$/g, '')
      if (step[1] === 'hook' && result.hookExit === undefined) result.hookExit = exit
      if (step[1] === 'inspect' && result.inspectExit === undefined) {
        result.inspectExit = exit
        result.inspectOutput = output
      }
      if (step[1] === 'container' && result.containerExit === undefined) {
        result.containerExit = exit
        result.containerOutput = output
      }
      if (step[1] === 'tag' && result.tagExit === undefined) {
        result.tagExit = exit
        result.tagOutput = output
      }
    }
    pending = []
  }
  return result
}

/** What the inspect read back: the image id and every label the image carries. */
export interface InspectResult {
  imageId: string
  labels: Record<string, string>
}

/**
 * Parses `<json id> <json labels>` from the inspect. Podman prints the id without its `sha256:`
 * prefix; an image without labels prints `null`. Returns `undefined` for anything else (more
 * than one line, not JSON, not an image id), which the gate treats as an error.
 */
export function parseInspectOutput(output: string): InspectResult | undefined {
  const text = output.replace(/\r?\n$/, '')
  if (text.includes('\n')) return undefined
  const space = text.indexOf(' ')
  if (space < 0) return undefined
  let rawId: unknown
  let labels: unknown
  try {
    rawId = JSON.parse(text.slice(0, space))
    labels = JSON.parse(text.slice(space + 1))
  } catch {
    return undefined
  }
  if (typeof rawId !== 'string') return undefined
  const id = /^[0-9a-f]{64}$/.test(rawId) ? `sha256:${rawId}` : rawId
  if (!/^sha256:[0-9a-f]{64}$/.test(id)) return undefined
  if (labels === null) return { imageId: id, labels: {} }
  if (typeof labels !== 'object' || Array.isArray(labels)) return undefined
  const strings: Record<string, string> = {}
  for (const [key, value] of Object.entries(labels as Record<string, unknown>)) {
    if (typeof value === 'string') strings[key] = value
  }
  return { imageId: id, labels: strings }
}

/**
 * Parses the container step's `<json name> <json image id> <running>` lines. Podman prints ids
 * without `sha256:`; names lose docker's leading `/`. `undefined` for anything else.
 */
export function parseContainerOutput(output: string): ContainerState[] | undefined {
  const lines = output.split(/\r?\n/).filter(line => line !== '')
  const containers: ContainerState[] = []
  for (const line of lines) {
    const match = /^("(?:[^"\\]|\\.)*") ("(?:[^"\\]|\\.)*") (true|false)$/.exec(line)
    if (!match) return undefined
    let name: unknown
    let image: unknown
    try {
      name = JSON.parse(match[1] as string)
      image = JSON.parse(match[2] as string)
    } catch {
      return undefined
    }
    if (typeof name !== 'string' || typeof image !== 'string') return undefined
    const imageId = /^[0-9a-f]{64}$/.test(image) ? `sha256:${image}` : image
    if (!/^sha256:[0-9a-f]{64}$/.test(imageId)) return undefined
    containers.push({ name: name.replace(/^\//, ''), imageId, running: match[3] === 'true' })
  }
  return containers.length ? containers : undefined
}

/**
 * The revision an image claims: its label's value, or '' when the label is absent or holds the
 * placeholder `<no value>` that some tooling writes for an unset build argument.
 */
export function revisionOf(inspected: InspectResult, label: string): string {
  const value = Object.hasOwn(inspected.labels, label) ? (inspected.labels[label] ?? '') : ''
  return value === '<no value>' ? '' : value
}
