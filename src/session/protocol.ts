/**
 * The remote session's protocol, both halves in one place: the POSIX sh script the gate sends and
 * the parser of what comes back. The script reaches the host on the stdin of a fixed `sh -s`, so
 * the ssh user's login shell (bash, dash, zsh…) only ever sees those two words; it holds the run's
 * nonce, which therefore never appears in any argv. Results travel on the session's stdout, which
 * only the session shell and the container CLI's answers write to: the hook, every step's stderr
 * and every child get other descriptors, and stdin from /dev/null.
 */
import { Transform, type TransformCallback } from 'node:stream'
import { inspectedImage, type RebuildSettings, type Settings } from '../settings.js'
import { shellQuote } from './shell-quote.js'

/**
 * Seconds the host's `timeout` waits after SIGTERM before it sends SIGKILL, so a step that ignores
 * SIGTERM still ends within a known bound.
 */
export const HOST_KILL_AFTER_SECONDS = 10
const HOST_KILL_AFTER_MS = HOST_KILL_AFTER_SECONDS * 1000
/** Slack on top of the host's own bounds before the local side gives up on the session. */
const SESSION_MARGIN_MS = 15_000

/** The command ssh asks the login shell to run: two plain words, the same in every shell. */
export const SESSION_COMMAND = 'sh -s'

/** A session's steps, in the order they may run. */
export type StepName = 'context' | 'upload' | 'hook' | 'inspect' | 'container' | 'tag' | 'prod'

/** Per-run tokens: the nonce marks result lines, the run id names the host-side run record. */
export interface SessionIds {
  nonce: string
  runId: string
}

/** A planned session: what to send, what it will report, and how long the local side waits. */
export interface SessionPlan {
  script: string
  steps: StepName[]
  /** The line that ends the answer; after it the gate stops reading. */
  endLine: string
  boundMs: number
  /** A framed archive follows the script on stdin (see `frameArchive`). */
  upload: boolean
}

/**
 * The environment the hook receives, in the order the hook contract documents. The staging target
 * is always explicit so a change of the hook's own defaults can never aim it at prod. The values
 * are shell words (quoted here), because BUILD_CONTEXT of an upload is only known on the host.
 */
export function hookEnvironment(
  settings: Settings,
  revision: string,
  uploaded = false
): [string, string][] {
  const env: [string, string][] = [
    ['GIT_SHA', shellQuote(revision)],
    ['BUILD_CONTEXT', uploaded ? '"$pg_up/ctx"' : shellQuote(settings.buildContext)],
    ['TARGET_IMAGE', shellQuote(settings.image)],
    ['TARGET_SERVICE', shellQuote(settings.staging.service)],
    ['TARGET_PORT', shellQuote(settings.staging.port)],
    ['COMPOSE_PROFILE', shellQuote(settings.staging.composeProfile)],
    ['STAGING_CONTAINER', shellQuote(settings.staging.container)]
  ]
  if (uploaded) env.push(['BUILD_CONTEXT_SOURCE', 'git-archive'])
  if (settings.context.sync) env.push(['SYNC_CONTEXT', '1'])
  return env
}

/** The hook as one command line, for the log. */
export function describeHookCommand(settings: RebuildSettings, revision: string): string {
  const uploaded = settings.context.upload
  const env = hookEnvironment(settings, revision, uploaded)
    .map(
      ([name, value]) => `${name}=${uploaded && name === 'BUILD_CONTEXT' ? '<uploaded>' : value}`
    )
    .join(' ')
  const run = `${env} ${boundHook(settings)} ${shellQuote(settings.hook)} --build-staging`
  return settings.hookDir ? `cd ${shellQuote(cdOperand(settings.hookDir))} && ${run}` : run
}

function boundHook(settings: Settings): string {
  return `timeout -k ${HOST_KILL_AFTER_SECONDS} ${Math.ceil(settings.timeouts.rebuildMs / 1000)} bash --`
}

/**
 * `cd`'s operand for hook-dir: a relative directory gets `./`, so a name that starts with a dash
 * (`-P`, `-`, `--help`) is a directory and not an option, and CDPATH cannot redirect it.
 */
export function cdOperand(dir: string): string {
  return dir.startsWith('/') || dir.startsWith('./') ? dir : `./${dir}`
}

/** The host-side bound of one quick call: inspect-timeout, then SIGKILL. */
function bounded(settings: Settings): string {
  return `timeout -k ${HOST_KILL_AFTER_SECONDS} ${Math.ceil(settings.timeouts.inspectMs / 1000)}`
}

/** Marker lines start with this and the run's nonce. */
const MARKER_PREFIX = 'provenance-gate-'

/**
 * Shell functions every session starts with. `pg_say` writes one result line on descriptor 3 (the
 * session's stdout); `pg_end` removes what the run made on the host and says `end`, after which the
 * gate stops reading, whatever a stray child may still hold open.
 */
function prelude(ids: SessionIds): string[] {
  return [
    `pg_m=${MARKER_PREFIX}${ids.nonce}`,
    `pg_rec="\${TMPDIR:-/tmp}/provenance-gate-run.${ids.runId}"`,
    "pg_up=''; pg_own=''",
    'pg_say() { printf \'%s %s\\n\' "$pg_m" "$*" >&3; }',
    // Only the session that made the run record removes it.
    'pg_end() { [ -z "$pg_up" ] || rm -rf -- "$pg_up"; [ -z "$pg_own" ] || rm -f -- "$pg_rec"; pg_say end; }',
    // A quick step: its stdout is the answer (on descriptor 3), its stderr is only shown.
    'pg_step() { pg_n=$1; shift; pg_say out "$pg_n"; "$@" >&3 3>&-; pg_rc=$?; pg_say exit "$pg_n" "$pg_rc"; return "$pg_rc"; }',
    // The processes left in a process group, named, then stopped.
    'pg_reap() { pg_l=$(ps -e -o pgid= -o pid= -o args= 2>/dev/null | awk -v g="$1" \'$1 == g { $1 = ""; print substr($0, 2) }\'); [ -z "$pg_l" ] || printf \'%s\\n\' "$pg_l" | while IFS= read -r pg_x; do pg_say left "$pg_x"; done; kill -9 "-$1" 2>/dev/null; }'
  ]
}

/**
 * Wraps the steps in a function whose stdin is /dev/null (the script itself is the shell's stdin,
 * and no step may read it), with the original stdout as descriptor 3 and descriptor 1 sent to
 * stderr. The shell parses the whole function before it runs any of it.
 */
function wrap(ids: SessionIds, defs: string[], body: string[]): string {
  return [
    ...prelude(ids),
    ...defs,
    'pg_main() {',
    // A leading newline: a login banner printed without one must not glue onto the begin line.
    "printf '\\n' >&3; pg_say begin",
    'timeout --version >/dev/null 2>&1 || { pg_say no-timeout; pg_end; return 0; }',
    ...body,
    'pg_end',
    '}',
    // One line: the shell has read `exit` before the upload reads the rest of stdin (bash reads
    // its script byte by byte, so a separate `exit 0` line would be read as the archive's first
    // frame, and the archive after it run as script).
    'pg_main 3>&1 1>&2 4<&0 </dev/null; exit 0',
    ''
  ].join('\n')
}

/**
 * The context check: git on the host, with every GIT_* variable cleared and a bound, reports the
 * build context's state as lines the gate decides on (`decideContext`).
 */
function contextCheck(settings: Settings, revision: string): string[] {
  const git = `${bounded(settings)} git -C "$pg_ctx"`
  // Refused unless a clean work tree at the revision, or (auto) not a work tree at all: the host
  // decides before the hook may run, the gate words the same decision from the report.
  const plain = settings.context.check === 'auto' ? 0 : 1
  return [
    // A subshell: the GIT_* variables it clears stay set for everything else.
    'pg_context() (',
    'for pg_v in $(env | sed -n \'s/^\\(GIT_[A-Za-z0-9_]*\\)=.*/\\1/p\'); do unset "$pg_v"; done',
    'command -v git >/dev/null 2>&1 || { echo no-git; return 1; }',
    `pg_o=$(${git} rev-parse --is-inside-work-tree 2>&1); pg_r=$?`,
    'case "$pg_r" in 124|137) echo timeout; return 1;; esac',
    'case "$pg_o" in *"dubious ownership"*) echo unsafe; return 1;; esac',
    `[ "$pg_r" -eq 0 ] && [ "$pg_o" = true ] || { echo not-a-work-tree; return ${plain}; }`,
    `pg_o=$(${git} rev-parse --show-toplevel) && echo "top $pg_o" || { echo "failed rev-parse --show-toplevel"; return 1; }`,
    `pg_h=$(${git} rev-parse --verify HEAD) && echo "head $pg_h" || { echo "failed rev-parse HEAD"; return 1; }`,
    // Files marked assume-unchanged or skip-worktree hide their edits from status: they count too.
    `pg_o=$(${git} ls-files -v -- . | sed -n 's/^[a-zS] //p') || { echo "failed ls-files"; return 1; }`,
    `pg_s=$(${git} status --porcelain --untracked-files=all --ignore-submodules=none -- .) || { echo "failed status"; return 1; }`,
    "pg_o=$(printf '%s\\n%s' \"$pg_s\" \"$(printf '%s\\n' \"$pg_o\" | sed '/^$/d; s/^/hidden /')\" | sed '/^$/d')",
    '[ -z "$pg_o" ] && echo "dirty 0" || { echo "dirty $(printf \'%s\\n\' "$pg_o" | wc -l)"; printf \'%s\\n\' "$pg_o" | sed -n \'1s/^ */first /p\'; }',
    `[ "$pg_h" = ${shellQuote(revision)} ] && [ -z "$pg_o" ]`,
    ')'
  ]
}

/**
 * The upload: a private directory (mktemp, 0700) under upload-dir or the user's temp dir, then the
 * framed archive from the rest of stdin into it. Only a terminating frame marks it complete, so a
 * transfer cut short between two tar members (which tar would accept) never builds.
 */
function uploadStep(settings: Settings): string[] {
  const parent = settings.context.uploadDir
    ? shellQuote(settings.context.uploadDir)
    : '"${TMPDIR:-/tmp}"'
  return [
    'pg_upload() {',
    `pg_up=$(umask 077 && mktemp -d ${parent}/provenance-gate-ctx.XXXXXXXXXX) || { pg_up=''; printf 'cannot create a private directory under %s\\n' ${parent} >&2; return 3; }`,
    'printf \'up %s\\n\' "$pg_up" >> "$pg_rec"',
    'mkdir "$pg_up/ctx" || return 3',
    'echo "dir $pg_up/ctx"',
    '{ while IFS= read -r pg_f <&4; do case "$pg_f" in 0) : > "$pg_up/complete"; break;; ""|*[!0-9]*) break;; *) head -c "$pg_f" <&4 || break;; esac; done; } | tar -x -f - --no-same-owner -C "$pg_up/ctx" >&2',
    'pg_t=$?',
    '[ "$pg_t" -eq 0 ] || return "$pg_t"',
    '[ -f "$pg_up/complete" ] || { echo "the archive arrived incomplete" >&2; return 3; }',
    'rm -f -- "$pg_up/complete"',
    '}'
  ]
}

/**
 * The hook, in its own process group under `timeout`, its output on stderr, its group reaped when
 * it exits. `before` runs after the cd into hook-dir (the context check reads the context as the
 * hook will see it); a failed cd is reported as the hook's exit status, with cd's message shown.
 */
function hookStep(settings: RebuildSettings, revision: string, before: string[]): string[] {
  const env = hookEnvironment(settings, revision, settings.context.upload)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ')
  return [
    'pg_rc=0',
    ...(settings.hookDir ? [`cd ${shellQuote(cdOperand(settings.hookDir))} || pg_rc=$?`] : []),
    'if [ "$pg_rc" -eq 0 ]; then',
    ...before,
    // A cancellation that came before the hook started: it never starts.
    'if grep -qx cancelled "$pg_rec" 2>/dev/null; then pg_rc=143; echo "the job was cancelled: the hook was not started" >&2; else',
    `${env} ${boundHook(settings)} ${shellQuote(settings.hook)} --build-staging 3>&- 4<&- & pg_pid=$!`,
    // The record lets a cancelled job (or its post step) stop this group on the host.
    'printf \'pg %s\\n\' "$pg_pid" >> "$pg_rec"',
    'wait "$pg_pid"; pg_rc=$?',
    'pg_reap "$pg_pid"',
    'fi',
    'fi',
    'pg_say exit hook "$pg_rc"',
    '[ "$pg_rc" -eq 0 ] || { pg_end; return 0; }'
  ]
}

/** The image's JSON as the container CLI prints it (no Go template: podman's differs). */
function inspectCommand(settings: Settings, image: string): string {
  return `${bounded(settings)} ${shellQuote(settings.docker)} image inspect -- ${shellQuote(image)}`
}

/**
 * The staging containers' JSON. Without an explicit staging-container, the compose service's
 * containers are found by label (v1 names them `<project>_<service>_1`, v2 `<project>-<service>-1`);
 * when there are none, or with an explicit name, the container of exactly that name. Only 64-hex
 * words count as ids; no container prints nothing and succeeds.
 */
function containerCheck(settings: Settings): string[] {
  const docker = `${bounded(settings)} ${shellQuote(settings.docker)}`
  const { container, service, containerNamed } = settings.staging
  const byLabel = `${docker} ps -aq --no-trunc --filter ${shellQuote(`label=com.docker.compose.service=${service}`)}`
  const byName = `${docker} ps -a --no-trunc --format '{{.ID}} {{.Names}}'`
  return [
    'pg_containers() {',
    "pg_ids=''",
    ...(containerNamed ? [] : [`pg_ids=$(${byLabel}) || return $?`]),
    `[ -n "$pg_ids" ] || { pg_ids=$(${byName}) || return $?; pg_ids=$(printf '%s\\n' "$pg_ids" | pg_want=${shellQuote(container)} awk '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == ENVIRON["pg_want"]) print $1 }'); }`,
    'set -f; set --; for pg_w in $pg_ids; do case "$pg_w" in *[!0-9a-f]*) ;; *) [ "${#pg_w}" -eq 64 ] && set -- "$@" "$pg_w";; esac; done; set +f',
    '[ "$#" -gt 0 ] || return 0',
    `${docker} container inspect -- "$@"`,
    '}'
  ]
}

/** A quick step that must succeed before the next one runs. */
function quick(name: StepName, command: string): string {
  return `pg_step ${name} ${command} || { pg_end; return 0; }`
}

/**
 * The one session of a gate run: (rebuild) the context check or the upload, then the hook; then
 * the inspect and the container check. Each reports its exit status; a failed step ends the
 * session. The local bound is the sum of the host's own bounds plus a margin, so the host's fire
 * first and are the ones reported.
 */
export function planGateSession(
  settings: Settings,
  revision: string,
  ids: SessionIds
): SessionPlan {
  const rebuild = settings.mode === 'rebuild'
  const { context } = settings
  const defs: string[] = []
  const body: string[] = []
  const steps: StepName[] = []
  const quickMs = settings.timeouts.inspectMs + HOST_KILL_AFTER_MS
  let boundMs = SESSION_MARGIN_MS
  if (rebuild) {
    // The run record: this session's shell, then its upload and the hook's process group.
    body.push('pg_own=1; printf \'sh %s\\n\' "$$" >> "$pg_rec"')
    if (context.upload) {
      defs.push(...uploadStep(settings))
      body.push(quick('upload', 'pg_upload'))
      steps.push('upload')
      boundMs += settings.timeouts.rebuildMs
    }
    const checked = !context.upload && context.check !== 'skip'
    const check = [
      `pg_ctx=${shellQuote(settings.buildContext || '.')}`,
      quick('context', 'pg_context')
    ]
    if (checked) {
      defs.push(...contextCheck(settings, revision))
      boundMs += 4 * quickMs
    }
    // A synced context is checked after the hook moved it; any other before the hook may run.
    const before = checked && !context.sync
    if (before) steps.push('context')
    body.push('exec 4<&-', ...hookStep(settings, revision, before ? check : []))
    steps.push('hook')
    boundMs += settings.timeouts.rebuildMs + HOST_KILL_AFTER_MS
    if (checked && context.sync) {
      body.push(...check)
      steps.push('context')
    }
  } else {
    body.push('exec 4<&-')
  }
  if (settings.labelSource === 'host') {
    body.push(quick('inspect', inspectCommand(settings, inspectedImage(settings))))
    steps.push('inspect')
    boundMs += quickMs
  }
  if (settings.containerCheck !== 'skip') {
    defs.push(...containerCheck(settings))
    body.push(quick('container', 'pg_containers'))
    steps.push('container')
    boundMs += 3 * quickMs
  }
  return {
    script: wrap(ids, defs, body),
    steps,
    endLine: endLine(ids),
    boundMs,
    upload: rebuild && context.upload
  }
}

/**
 * The promotion's session: `tag <image id> <prod-image>` (by id, never by the mutable staging
 * tag, so what was verified is what gets the prod tag), then the prod image read back.
 */
export function planPromoteSession(
  settings: Settings,
  imageId: string,
  prodImage: string,
  ids: SessionIds
): SessionPlan {
  const docker = `${bounded(settings)} ${shellQuote(settings.docker)}`
  return {
    script: wrap(
      ids,
      [],
      [
        'exec 4<&-',
        quick('tag', `${docker} tag ${shellQuote(imageId)} ${shellQuote(prodImage)}`),
        quick('prod', inspectCommand(settings, prodImage))
      ]
    ),
    steps: ['tag', 'prod'],
    endLine: endLine(ids),
    boundMs: 2 * (settings.timeouts.inspectMs + HOST_KILL_AFTER_MS) + SESSION_MARGIN_MS,
    upload: false
  }
}

/**
 * What a cancelled run sends (from the main step on SIGTERM/SIGINT, or from the post step after a
 * SIGKILL): the run record names the hook's process group and the upload directory; the group is
 * named, stopped (TERM, then KILL) and the directory removed. Only a directory named like the
 * gate's own is removed, whatever the record says.
 */
export function planCancelSession(ids: SessionIds): SessionPlan {
  return {
    script: wrap(
      ids,
      [],
      [
        'exec 4<&-',
        '[ -f "$pg_rec" ] || { pg_say none; pg_end; return 0; }',
        // A session that has not started its hook yet sees this and never starts it.
        'echo cancelled >> "$pg_rec"',
        // A session still running removes its own record as it ends; else this one does.
        'pg_s=$(sed -n \'s/^sh \\([0-9][0-9]*\\)$/\\1/p\' "$pg_rec" | head -n 1); [ -n "$pg_s" ] && kill -0 "$pg_s" 2>/dev/null || pg_own=1',
        // Read the record whole first: the stopped session removes it (and the upload) as it ends.
        'pg_d=$(sed -n \'s/^up \\(.*provenance-gate-ctx\\.[A-Za-z0-9]*\\)$/\\1/p\' "$pg_rec" | head -n 1)',
        'pg_gs=$(sed -n \'s/^pg \\([0-9][0-9]*\\)$/\\1/p\' "$pg_rec"); pg_had=\'\'; [ -z "$pg_d" ] || [ ! -d "$pg_d" ] || pg_had=1',
        'for pg_g in $pg_gs; do kill -TERM "-$pg_g" 2>/dev/null && { sleep 1; pg_reap "$pg_g"; pg_say stopped "$pg_g"; }; done',
        '[ -z "$pg_had" ] || { rm -rf -- "$pg_d"; pg_say removed "$pg_d"; }'
      ]
    ),
    steps: [],
    endLine: endLine(ids),
    boundMs: 20_000,
    upload: false
  }
}

function endLine(ids: SessionIds): string {
  return `\n${MARKER_PREFIX}${ids.nonce} end\n`
}

/** One step's report: its exit status and what it printed on the result channel. */
export interface StepResult {
  exit: number
  output: string
}

/** What a session reported, step by step; a step that never reported is absent. */
export interface SessionAnswer {
  /** The session's script started (the begin line came). */
  begun: boolean
  /** It ran to its end line: every step it was going to run has reported. */
  ended: boolean
  /** The host has no GNU `timeout`, so nothing was run. */
  noTimeout: boolean
  steps: Partial<Record<StepName, StepResult>>
  /** Processes the hook left behind, as the host named them before stopping them. */
  left: string[]
  /** Process groups a cancel session stopped, and the upload directory it removed. */
  stopped: string[]
  removed: string[]
}

/**
 * Reads a session's stdout. Only lines after this run's begin line count (a login shell's chatter
 * comes before it); a step's output is what came between its `out` and `exit` lines; a step
 * reports once.
 */
export function parseSession(stdout: string, nonce: string): SessionAnswer {
  const mark = `${MARKER_PREFIX}${nonce} `
  const answer: SessionAnswer = {
    begun: false,
    ended: false,
    noTimeout: false,
    steps: {},
    left: [],
    stopped: [],
    removed: []
  }
  let open: { name: StepName; lines: string[] } | undefined
  for (const line of stdout.split('\n')) {
    if (!answer.begun) {
      answer.begun = line === `${mark}begin`
      continue
    }
    if (answer.ended) break
    if (!line.startsWith(mark)) {
      open?.lines.push(line)
      continue
    }
    const [word = '', ...rest] = line.slice(mark.length).split(' ')
    const arg = rest.join(' ')
    if (word === 'end') answer.ended = true
    else if (word === 'no-timeout') answer.noTimeout = true
    else if (word === 'left') answer.left.push(arg)
    else if (word === 'stopped') answer.stopped.push(arg)
    else if (word === 'removed') answer.removed.push(arg)
    else if (word === 'out' && isStep(arg)) open = { name: arg, lines: [] }
    else if (word === 'exit') {
      const [name = '', code = ''] = rest
      if (!isStep(name) || !/^[0-9]+$/.test(code) || answer.steps[name]) continue
      const output = open?.name === name ? open.lines.join('\n').replace(/\n+$/, '') : ''
      answer.steps[name] = { exit: Number(code), output }
      open = undefined
    }
  }
  return answer
}

const STEPS: readonly StepName[] = [
  'context',
  'upload',
  'hook',
  'inspect',
  'container',
  'tag',
  'prod'
]

function isStep(name: string): name is StepName {
  return (STEPS as readonly string[]).includes(name)
}

/** What the host said about the build context, before (or, when synced, after) the hook. */
export type ContextReport =
  | { kind: 'no-git' }
  | { kind: 'not-a-work-tree' }
  | { kind: 'unsafe' }
  | { kind: 'timeout' }
  | { kind: 'failed'; what: string }
  | { kind: 'tree'; top: string; head: string; dirty: number; first: string }

/** Parses the context step's lines; `undefined` for anything the script would not print. */
export function parseContextReport(output: string): ContextReport | undefined {
  const lines = output.split('\n').filter(line => line !== '')
  const [first = ''] = lines
  if (
    first === 'no-git' ||
    first === 'not-a-work-tree' ||
    first === 'unsafe' ||
    first === 'timeout'
  ) {
    return lines.length === 1 ? { kind: first } : undefined
  }
  const failed = lines.find(line => line.startsWith('failed '))
  if (failed) return { kind: 'failed', what: failed.slice(7) }
  // Each key once: a path with a line break (a top-level directory named "x\nhead <sha>") must
  // not add a second, forged line.
  const value = (key: string): string | undefined => {
    const found = lines.filter(line => line.startsWith(`${key} `))
    return found.length === 1 ? found[0]?.slice(key.length + 1) : undefined
  }
  if (lines.filter(line => line.startsWith('first ')).length > 1) return undefined
  const top = value('top')
  const head = value('head')
  const dirty = value('dirty')
  if (
    top === undefined ||
    head === undefined ||
    dirty === undefined ||
    !/^[0-9]+$/.test(dirty.trim())
  ) {
    return undefined
  }
  return { kind: 'tree', top, head, dirty: Number(dirty.trim()), first: value('first') ?? '' }
}

/**
 * Frame size of the upload: the host runs one `head -c` per frame, so bigger frames cost fewer
 * processes there (measured: 4 MiB frames ship 50 MB ~25 ms faster than 1 MiB ones), and one
 * frame is what the action holds.
 */
const FRAME_BYTES = 4 * 1024 * 1024

/**
 * Frames an archive for the upload step: `<length>\n<bytes>` frames of about 4 MiB, then `0\n`
 * once the archive ended well. Memory stays at one frame whatever the archive's size; the
 * terminator is only written by `end()`, so a stream cut short is never taken as complete.
 */
export class ArchiveFramer extends Transform {
  private pending: Buffer[] = []
  private size = 0
  /** Bytes of archive seen so far. */
  bytes = 0

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length
    this.pending.push(chunk)
    this.size += chunk.length
    if (this.size >= FRAME_BYTES) this.flushFrame()
    done()
  }

  override _flush(done: TransformCallback): void {
    this.flushFrame()
    this.push('0\n')
    done()
  }

  private flushFrame(): void {
    if (this.size === 0) return
    this.push(`${this.size}\n`)
    // The chunks as they came: no copy into one buffer.
    for (const chunk of this.pending) this.push(chunk)
    this.pending = []
    this.size = 0
  }
}
