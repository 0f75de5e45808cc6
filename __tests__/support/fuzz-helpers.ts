/**
 * Shared pieces of the seeded property tests (issue §5 "Fuzzed inputs"):
 * __tests__/session/fuzz.test.ts (real bash and dash on this machine) and
 * __tests__/session/fuzz-ssh.itg.test.ts (the same checks through a real sshd).
 *
 * - seeds: every property runs with a fixed seed derived from FUZZ_SEED (default BASE_SEED) and
 *   the property's own offset; the test name shows it, so a run is reproducible;
 * - generators biased to shell metacharacters next to full-unicode strings;
 * - an oracle, independent of src/, of what each input must deliver to the host;
 * - recording shell functions (`cd`, `timeout`, `awk`) put in front of the planned session
 *   script, which itself runs unchanged on the stdin of `sh -s`, and the checks that compare what
 *   they recorded with the oracle, byte for byte, and read the session's answer with parseSession.
 *
 * Reproducing a failure: fast-check prints `{ seed: S, path: "P" }` with the counterexample.
 *   FUZZ_REPLAY='S:P' npm run test:unit -- --testPathPatterns fuzz   # replays exactly that case
 *   FUZZ_SEED=12345 npm run test:unit -- --testPathPatterns fuzz     # another (fixed) set of cases
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import fc from 'fast-check'
import { InputError } from '../../src/errors.js'
import { INPUT_DEFAULTS, parseSettings, type InputName, type ReadInput } from '../../src/inputs.js'
import { parseContainerInspect, parseImageInspect } from '../../src/session/container-json.js'
import {
  parseSession,
  planGateSession,
  planPromoteSession,
  type SessionIds
} from '../../src/session/protocol.js'
import { shellQuote } from '../../src/session/shell-quote.js'
import type { RunContext, Settings } from '../../src/settings.js'
import { decideVerdict } from '../../src/decide/verdict.js'

// ---------------------------------------------------------------------------------------------
// Seeds

/** The fixed base seed; FUZZ_SEED overrides it. */
export const BASE_SEED = 0x5eed_2025

/** The base seed of this run: FUZZ_SEED when set, else BASE_SEED. */
export function baseSeed(): number {
  const raw = process.env.FUZZ_SEED?.trim()
  if (!raw) return BASE_SEED
  const seed = Number(raw)
  if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, got ${raw}`)
  return seed | 0
}

/** The seed of one property: the base seed moved by the property's fixed offset. */
export function propertySeed(offset: number): number {
  return (baseSeed() + offset * 1_000_003) | 0
}

/** fast-check parameters for one property; FUZZ_REPLAY='seed:path' replays one recorded case. */
export function fuzzParameters(
  offset: number,
  numRuns: number
): { seed: number; numRuns: number; path?: string; endOnFailure: boolean } {
  const seed = propertySeed(offset)
  const replay = /^(-?[0-9]+):(.+)$/.exec(process.env.FUZZ_REPLAY?.trim() ?? '')
  const base = { seed, numRuns, endOnFailure: false }
  return replay && Number(replay[1]) === seed ? { ...base, path: replay[2] } : base
}

// ---------------------------------------------------------------------------------------------
// Generators

/** Single characters a shell (or a quoting bug) treats specially, plus awkward unicode. */
export const METACHARACTERS = [
  "'", '"', '\\', '$', '`', '(', ')', '{', '}', '[', ']', '*', '?', '~', '!', '#', ';', '|', '&',
  '<', '>', '\n', '\r', '\t', ' ', '-', '=', '%', '^', ',', ':', '@', '+', '.', '/', '\x01',
  '\x1b', '\x7f', '\v', '\f', '\u0085', '\u00a0', '\u2028', '\u200b', '\ufeff', 'é', '€', '😀'
] // prettier-ignore

/** Multi-character fragments that break naive quoting or read as options. */
export const SNIPPETS = [
  '$(id)', '`id`', "'\\''", "'", "''", '"$HOME"', '${IFS}', "$'\\n'", '; echo pwned >&2;',
  '&& false', '|| true', '> /dev/null', '<(true)', '\n#', '-', '--', '-P', '-L', '-e', '--help',
  '-rf', '~', '~root', '!!', '!$', '*', '?', '[!a]', '[[', '\\', '\\\\', '$0', '$1', '$@', '$*',
  '$$', '${x:-y}', '$((1+1))', '%s%n', '\r\n', '\t', '  ', '\\n', '{a,b}', 'a=b', '\x01\x7f',
  '\u202e', 'provenance-gate-', ' hook-exit 0', ' inspect-exit 0'
] // prettier-ignore

const metaChar = fc.constantFrom(...METACHARACTERS)
const fragment = fc.oneof(
  fc.constantFrom(...SNIPPETS),
  fc.string({ unit: 'binary-ascii', maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 3 })
)

/**
 * Any string a runner can hand over (full unicode, no lone surrogates: inputs reach the action
 * as UTF-8 environment variables), biased to shell metacharacters, leading dashes, surrounding
 * whitespace and length. (The full-unicode branch can hold a NUL; `inputText` adds more.)
 */
export const shellString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 4, arbitrary: fc.string({ unit: metaChar, maxLength: 40 }) },
  { weight: 5, arbitrary: fc.array(fragment, { maxLength: 8 }).map(parts => parts.join('')) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.string({ unit: metaChar, minLength: 1, maxLength: 16 }),
        fc.integer({ min: 20, max: 250 })
      )
      .map(([unit, times]) => unit.repeat(times))
  }
)

/** An input value: mostly `shellString`, sometimes with a NUL byte (which must be refused). */
export const inputText: fc.Arbitrary<string> = fc.oneof(
  { weight: 30, arbitrary: shellString },
  {
    weight: 1,
    arbitrary: fc.tuple(shellString, shellString).map(([a, b]) => `${a}\0${b}`)
  }
)

/** `base` with a fragment inserted at some position: a valid value made almost valid. */
export function spliced(base: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .tuple(base, fc.oneof(fc.constantFrom(...SNIPPETS), metaChar), fc.nat())
    .map(([text, insert, at]) => {
      const i = at % (text.length + 1)
      return `${text.slice(0, i)}${insert}${text.slice(i)}`
    })
}

const alnumLower = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'),
  minLength: 1,
  maxLength: 8
})
const hex = (length: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length })

/** References of the distribution grammar: optional domain, components, tag, digest. */
export const validImage: fc.Arbitrary<string> = fc
  .tuple(
    fc.option(fc.constantFrom('registry.example.com', 'localhost:5000', 'ghcr.io', '[::1]:5000')),
    fc.array(
      fc
        .tuple(
          alnumLower,
          fc.option(fc.tuple(fc.constantFrom('.', '_', '__', '-', '--'), alnumLower))
        )
        .map(([a, rest]) => (rest ? `${a}${rest[0]}${rest[1]}` : a)),
      { minLength: 1, maxLength: 3 }
    ),
    fc.option(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/)),
    fc.option(hex(64))
  )
  .map(
    ([domain, components, tag, digest]) =>
      `${domain ? `${domain}/` : ''}${components.join('/')}${tag ? `:${tag}` : ''}${digest ? `@sha256:${digest}` : ''}`
  )

/** image: valid references, almost valid ones, anything. */
export const imageText = fc.oneof(validImage, spliced(validImage), inputText)

/** docker: command names and paths, almost valid ones, anything. */
export const dockerText = fc.oneof(
  fc.constantFrom('docker', 'podman', '/usr/bin/docker', './bin/docker', 'nerdctl', 'bash', 'a+b'),
  fc.stringMatching(/^[A-Za-z0-9_./+-]{1,24}$/),
  spliced(fc.constantFrom('docker', '/usr/local/bin/podman')),
  inputText
)

/** revision-label: label keys, almost label keys, anything. */
export const labelText = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9._/-]{0,30}[A-Za-z0-9])?$/),
  spliced(fc.constant('org.opencontainers.image.revision')),
  inputText
)

/** A port input: numbers in and out of range, padded, zero-led, or anything. */
export const portText = fc.oneof(
  fc.integer({ min: -5, max: 70_000 }).map(String),
  fc
    .tuple(
      fc.constantFrom('', ' ', '\t', '\n', '0', '00', '+', '-', '0x'),
      fc.integer({ min: 0, max: 99_999 }),
      fc.constantFrom('', ' ', '\n', '.0', 'e0', '\u00a0')
    )
    .map(([a, n, b]) => `${a}${n}${b}`),
  inputText
)

/** image-id: image ids (the gate's image_id output), almost ids, anything. */
export const imageIdText = fc.oneof(
  { weight: 3, arbitrary: hex(64).map(h => `sha256:${h}`) },
  { weight: 1, arbitrary: hex(64) },
  { weight: 1, arbitrary: spliced(hex(64).map(h => `sha256:${h}`)) },
  { weight: 1, arbitrary: inputText }
)

/** Container ids the fake `docker ps` may answer with (64 hex, as `--no-trunc` prints them). */
export const FAKE_CONTAINER_IDS = [
  'c0ffee00'.repeat(8),
  '0123456789abcdef'.repeat(4),
  'd15ea5e0'.repeat(8)
] as const

/** What the fake `docker ps` answers: no compose container, one, or a scaled service. */
export const psIdsArb: fc.Arbitrary<readonly string[]> = fc.constantFrom<readonly string[]>(
  [],
  [],
  [FAKE_CONTAINER_IDS[0]],
  FAKE_CONTAINER_IDS
)

/** What `git rev-parse HEAD` prints: 40 (SHA-1) or 64 (SHA-256) lowercase hex. */
export const revisionArb = fc.oneof(hex(40), hex(64))
/** A session nonce, as the gate makes one. */
export const nonceArb = hex(16)
/** What the fake hook exits with: mostly success, sometimes any failure. */
export const hookExitArb = fc.oneof(
  { weight: 9, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 255 }) }
)

// ---------------------------------------------------------------------------------------------
// Inputs and the delivery oracle

/** Raw input text by name; a missing name reads as '' (the runner's unset input). */
export type Inputs = Partial<Record<InputName, string>>

export function reader(inputs: Inputs): ReadInput {
  return name => inputs[name] ?? ''
}

export const CONTEXT: RunContext = {
  repository: 'acme/shop',
  workspace: '/home/runner/work/shop/shop',
  runnerTemp: '/home/runner/_temp',
  serverUrl: 'https://github.com'
}

/** A valid local rebuild with every host-bound input set, prod guards on. */
export const VALID_INPUTS: Inputs = {
  image: 'registry.example.com/shop:staging',
  hook: '/srv/shop/deploy-hook.sh',
  'hook-dir': '/srv/shop',
  service: 'shop-staging',
  'staging-port': '8501',
  'compose-profile': 'staging',
  'staging-container': 'shop-staging-1',
  'prod-service': 'shop',
  'prod-port': '8500'
}

/** A valid promotion: VALID_INPUTS in promote mode with a prod tag. */
export const VALID_PROMOTE_INPUTS: Inputs = {
  ...VALID_INPUTS,
  mode: 'promote',
  'prod-image': 'registry.example.com/shop:prod'
}

/**
 * The value an input stands for: surrounding whitespace dropped (as `core.getInput` does, with
 * JavaScript's `trim`), then the documented default when nothing is left.
 */
export function given(inputs: Inputs, name: InputName): string {
  return (inputs[name] ?? '').trim() || INPUT_DEFAULTS[name]
}

/**
 * The port a port input stands for: '' when unset, the number without leading zeros when it is
 * 1..65535 written in decimal digits, `undefined` when it must be refused.
 */
export function portOf(raw: string): string | undefined {
  const text = raw.trim()
  if (!text) return ''
  if (!/^[0-9]{1,5}$/.test(text)) return undefined
  const n = Number(text)
  return n >= 1 && n <= 65_535 ? String(n) : undefined
}

/** The variables the hook receives, in the documented order (the last two only when set). */
export const HOOK_VARIABLES = [
  'GIT_SHA',
  'BUILD_CONTEXT',
  'TARGET_IMAGE',
  'TARGET_SERVICE',
  'TARGET_PORT',
  'COMPOSE_PROFILE',
  'STAGING_CONTAINER',
  'BUILD_CONTEXT_SOURCE',
  'SYNC_CONTEXT'
] as const
export type HookVariable = (typeof HOOK_VARIABLES)[number]

/** The label compose puts on a service's containers; the lookup filters on it. */
export const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service'
/** The `docker ps` format the lookup by name reads: id, then the comma-separated names. */
export const NAMES_FORMAT = '{{.ID}} {{.Names}}'

/** A docker step of a session, named as its result lines name it. */
export type DockerStep = 'inspect' | 'container' | 'tag' | 'prod'

/** One call the host must see, with the values it must receive. */
export type ExpectedCall =
  | { kind: 'cd'; dir: string }
  | { kind: 'hook'; argv: string[]; env: Record<HookVariable, string | undefined> }
  /** The context check's git, bounded: `-C <context>` and its question, matched exactly. */
  | { kind: 'git'; argv: string[] }
  /** The container lookup by name: the name awk compares with, from its environment. */
  | { kind: 'want'; value: string }
  /**
   * `operands`: the values docker must take as operands (never as options), closing the argv.
   * `endOfOptions`: the argv itself holds `--` right before them, and must be matched exactly.
   * `ps` and `psnames` are the container check's lookups (by compose label, by name).
   */
  | {
      kind: DockerStep | 'ps' | 'psnames'
      argv: string[]
      operands: string[]
      endOfOptions?: boolean
    }

/** What the host must see for a set of inputs. */
export interface Delivery {
  /** Every call in order, as when every step succeeds. */
  calls: ExpectedCall[]
  revisionLabel: string
  /** What the session's inspect reads back: the revision label (gate) or just the id (promote). */
  readBack: 'revision' | 'id'
  /** The container ids the check must inspect (none: it reports no container). */
  containerIds: readonly string[]
}

/** The steps a gate session has; which ones is the settings' business, not the oracle's. */
export interface SessionShape {
  labelSource: string
  containerCheck: string
}

const bound = (inputs: Inputs): string[] => [
  '-k',
  '10',
  String(Number(given(inputs, 'inspect-timeout')))
]

/** The id the fake `docker ps -a` gives the container named like the wanted one. */
export const NAMED_CONTAINER_ID = 'feed0000'.repeat(8)

/** What a docker container name can be (docker and podman refuse anything else). */
export function containerNameLike(name: string): boolean {
  return /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)
}

/** The git calls of the context check, in order, for the context `-C` names. */
export function contextCalls(inputs: Inputs, context: string): ExpectedCall[] {
  return [
    ['rev-parse', '--is-inside-work-tree'],
    ['rev-parse', '--show-toplevel'],
    ['rev-parse', '--verify', 'HEAD'],
    ['ls-files', '-v', '--', '.'],
    ['status', '--porcelain', '--untracked-files=all', '--ignore-submodules=none', '--', '.']
  ].map(question => ({ kind: 'git', argv: [...bound(inputs), 'git', '-C', context, ...question] }))
}

/**
 * The oracle for planGateSession, from the raw inputs alone: the values every call must receive.
 * `mappedContext` is BUILD_CONTEXT when it comes from `path-mapping` (known by construction);
 * `psIds` is what the fake `docker ps` answers (the containers compose's label finds).
 */
export function expectedDelivery(
  inputs: Inputs,
  revision: string,
  shape: SessionShape,
  mappedContext?: string,
  psIds: readonly string[] = []
): Delivery {
  const hookDir = given(inputs, 'hook-dir')
  const service = given(inputs, 'service')
  const container = given(inputs, 'staging-container') || service
  const explicitContext = given(inputs, 'build-context')
  if (!explicitContext && given(inputs, 'path-mapping') && mappedContext === undefined) {
    throw new Error('expectedDelivery: a path-mapping needs the mapped context')
  }
  const buildContext = explicitContext || (mappedContext ?? hookDir)
  const docker = given(inputs, 'docker')
  const image = given(inputs, 'image')
  // A promotion given the gate's image id reads exactly that image, not the staging tag.
  const inspected = (given(inputs, 'mode') === 'promote' && given(inputs, 'image-id')) || image
  const calls: ExpectedCall[] = []
  let containerIds: readonly string[] = []
  if (given(inputs, 'mode') === 'rebuild') {
    const checked = given(inputs, 'check-context') !== 'false'
    const sync = given(inputs, 'sync-context') === 'true'
    const check = checked ? contextCalls(inputs, buildContext || '.') : []
    if (hookDir) calls.push({ kind: 'cd', dir: hookDir })
    if (!sync) calls.push(...check)
    calls.push({
      kind: 'hook',
      argv: [
        ...['-k', '10', String(Number(given(inputs, 'rebuild-timeout')))],
        ...['bash', '--', given(inputs, 'hook'), '--build-staging']
      ],
      env: {
        GIT_SHA: revision,
        BUILD_CONTEXT: buildContext,
        TARGET_IMAGE: image,
        TARGET_SERVICE: service,
        TARGET_PORT: portOf(inputs['staging-port'] ?? '') ?? '<refused>',
        COMPOSE_PROFILE: given(inputs, 'compose-profile'),
        STAGING_CONTAINER: container,
        BUILD_CONTEXT_SOURCE: undefined,
        SYNC_CONTEXT: sync ? '1' : undefined
      }
    })
    if (sync) calls.push(...check)
  }
  if (shape.labelSource === 'host') {
    calls.push({
      kind: 'inspect',
      argv: [...bound(inputs), docker, 'image', 'inspect', '--', inspected],
      operands: [inspected],
      endOfOptions: true
    })
  }
  if (shape.containerCheck !== 'skip') {
    // Without staging-container, compose's containers of the service are looked up by label
    // (the service byte for byte inside the one filter argument); when there are none, the
    // container of exactly that name (awk compares the names ps lists with it).
    const named = given(inputs, 'staging-container') !== ''
    if (!named) {
      calls.push({
        kind: 'ps',
        argv: [
          ...bound(inputs),
          docker,
          'ps',
          '-aq',
          '--no-trunc',
          '--filter',
          `label=${COMPOSE_SERVICE_LABEL}=${service}`
        ],
        operands: [],
        endOfOptions: true
      })
    }
    if (named || !psIds.length) {
      calls.push(
        {
          kind: 'psnames',
          argv: [...bound(inputs), docker, 'ps', '-a', '--no-trunc', '--format', NAMES_FORMAT],
          operands: [],
          endOfOptions: true
        },
        { kind: 'want', value: container }
      )
      containerIds = containerNameLike(container) ? [NAMED_CONTAINER_ID] : []
    } else {
      containerIds = psIds
    }
    if (containerIds.length) {
      calls.push({
        kind: 'container',
        argv: [...bound(inputs), docker, 'container', 'inspect', '--', ...containerIds],
        operands: [...containerIds],
        endOfOptions: true
      })
    }
  }
  return {
    calls,
    revisionLabel: given(inputs, 'revision-label'),
    readBack: 'revision',
    containerIds
  }
}

/** The oracle for planPromoteSession: tag the verified id as prod-image, then read it back. */
export function expectedPromotion(inputs: Inputs, imageId: string): Delivery {
  const docker = given(inputs, 'docker')
  const prodImage = given(inputs, 'prod-image')
  return {
    calls: [
      {
        kind: 'tag',
        argv: [...bound(inputs), docker, 'tag', imageId, prodImage],
        operands: [imageId, prodImage]
      },
      {
        kind: 'prod',
        argv: [...bound(inputs), docker, 'image', 'inspect', '--', prodImage],
        operands: [prodImage],
        endOfOptions: true
      }
    ],
    revisionLabel: given(inputs, 'revision-label'),
    readBack: 'id',
    containerIds: []
  }
}

/** parseSettings, with its throw caught: settings, or the error it threw. */
export function tryParse(
  inputs: Inputs,
  context: RunContext = CONTEXT
): { ok: true; settings: Settings } | { ok: false; error: unknown } {
  try {
    return { ok: true, settings: parseSettings(reader(inputs), context) }
  } catch (error) {
    return { ok: false, error }
  }
}

/** Throws unless `error` is an InputError of an allowed class with a message. */
export function assertInputError(
  error: unknown,
  allowed: readonly ('invalid-input' | 'prod-target')[] = ['invalid-input', 'prod-target']
): asserts error is InputError {
  if (!(error instanceof InputError)) {
    throw new Error(`expected an InputError, got ${describeThrown(error)}`, { cause: error })
  }
  if (!(allowed as readonly string[]).includes(error.failure)) {
    throw new Error(
      `InputError of class ${error.failure}, expected one of ${allowed.join(', ')}: ${error.message}`
    )
  }
  if (!error.message) throw new Error('InputError without a message')
}

export function describeThrown(error: unknown): string {
  if (error instanceof Error) {
    return `${error.constructor.name}: ${error.message}\n${error.stack ?? ''}`
  }
  return `a non-Error ${typeof error}: ${String(error)}`
}

// ---------------------------------------------------------------------------------------------
// Recording functions

/** How the fake `timeout` reports the hook's environment. */
export type Flavour =
  /** Shell expansions of each variable: cheap, checks the quoting of every value. */
  | 'builtin'
  /** `env -0` run as a child process: the environment a real program receives (one exec). */
  | 'exec'

export interface Fakes {
  flavour: Flavour
  hookExit: number
  nonce: string
  /** What the fake git says HEAD is: the revision, so the context check passes. */
  head: string
  /** What the fake image inspect prints on stdout, as docker would (JSON). */
  inspectJson: string
  /** Where the records go (appended): the session's own descriptors are all taken. */
  recordFile: string
  /** What the fake `docker ps -aq` prints, one id a line; none: compose has no such containers. */
  psIds?: readonly string[]
  /** The container name the session looks for: the fake `docker ps -a` lists it when docker could. */
  wanted?: string
}

/** Image id the fake inspects report. */
export const FAKE_IMAGE_ID = `sha256:${'a3f1c2d4e5b69788'.repeat(4)}`
/** What the fake container inspect prints: one running container with the verified image. */
export const CONTAINER_JSON = JSON.stringify([
  { Name: '/shop-staging-1', Image: FAKE_IMAGE_ID, State: { Running: true } }
])

/** What `docker image inspect` prints for an image with `labels`. */
export function inspectJsonFor(labels: Record<string, string>): string {
  return JSON.stringify([{ Id: FAKE_IMAGE_ID, Config: { Labels: labels } }])
}

/** Result lines the fake hook prints on its stdout; the session must keep them off stdout. */
export function decoyLines(nonce: string): string[] {
  // Statuses no process can exit with, so a decoy never equals a real result line.
  return [`provenance-gate-${nonce} exit hook 4242`, `provenance-gate-${nonce} exit inspect 4343`]
}

/**
 * Shell function definitions (POSIX sh: bash and dash) put in front of the planned script, which
 * runs unchanged after them on the same `sh -s` stdin. They append NUL-separated records to
 * `recordFile`:
 *   version <argc> <argv…>
 *   cd <argc> <argv…>
 *   want <'=value' or ''>                   (awk of the container lookup by name: $pg_want)
 *   timeout <argc> <argv…> vars <'=value' or '' per HOOK_VARIABLES> [env <NAME=value…> END]
 * `timeout --version` (the session's check for GNU timeout) answers as GNU coreutils does, exit 0,
 * and is recorded as `version`: it is no delivery. Any other `timeout` is told apart by its argv
 * (the hook runs in a background job): `-k N S bash -- …` plays the hook (prints decoy result
 * lines on its stdout, exits `hookExit`); `… git -C <dir> …` answers as a clean work tree at
 * `head`; `… <docker> image …` prints `inspectJson`, `ps -aq` prints `psIds`, `ps -a` lists
 * `wanted` when docker could name a container so, `container` prints CONTAINER_JSON; `tag`
 * prints nothing. `ps` (the hook's leftovers) is nothing: the fake hook leaves none.
 */
export function recorderPrefix(fakes: Fakes): string {
  const vars = HOOK_VARIABLES.map(name => `"\${${name}+=}\${${name}-}"`).join(' ')
  const sink = `>>${shellQuote(fakes.recordFile)}`
  const env = fakes.flavour === 'exec' ? `fz_rec env; env -0 ${sink}; fz_rec END` : ':'
  const decoys = decoyLines(fakes.nonce).map(shellQuote).join(' ')
  const ids = (fakes.psIds ?? []).map(shellQuote).join(' ')
  const listed = containerNameLike(fakes.wanted ?? '') ? (fakes.wanted as string) : 'someone-else'
  return [
    `fz_rec() { printf '%s\\0' "$@" ${sink}; }`,
    `cd() { fz_rec cd "$#" "$@"; }`,
    'ps() { :; }',
    'awk() { [ "$#" -ne 1 ] || fz_rec want "${pg_want+=}${pg_want-}"; command awk "$@"; }',
    'timeout() {',
    '  if [ "$#" -eq 1 ] && [ "$1" = --version ]; then',
    `    fz_rec version "$#" "$@"; echo 'timeout (GNU coreutils) 9.4'; return 0`,
    '  fi',
    `  fz_rec timeout "$#" "$@"`,
    `  fz_rec vars ${vars}`,
    `  ${env}`,
    '  case "$5" in',
    `    --) printf '%s\\n' ${decoys}; return ${fakes.hookExit} ;;`,
    '    -C) case "$7 $8" in',
    "      'rev-parse --is-inside-work-tree') echo true ;;",
    `      'rev-parse --show-toplevel') printf '%s\\n' "$6" ;;`,
    `      'rev-parse --verify') echo ${shellQuote(fakes.head)} ;;`,
    "      'ls-files -v') echo 'H Dockerfile' ;;",
    '    esac ;;',
    `    image) printf '%s\\n' ${shellQuote(fakes.inspectJson)} ;;`,
    `    ps) if [ "$6" = -aq ]; then ${ids ? `printf '%s\\n' ${ids}` : ':'}; else printf '%s %s\\n' ${shellQuote('0'.repeat(64))} other ${NAMED_CONTAINER_ID} ${shellQuote(listed)}; fi ;;`,
    `    container) printf '%s\\n' ${shellQuote(CONTAINER_JSON)} ;;`,
    '  esac',
    '}',
    ''
  ].join('\n')
}

/** One call a recorder saw; fields are the raw bytes. */
export interface Call {
  /** `version`: the session's `timeout --version`, its check for GNU timeout. */
  name: 'cd' | 'timeout' | 'version' | 'want'
  argv: Buffer[]
  vars?: Buffer[]
  env?: Map<string, Buffer>
}

function splitNul(buffer: Buffer): Buffer[] {
  const fields: Buffer[] = []
  let start = 0
  for (let i = buffer.indexOf(0); i >= 0; i = buffer.indexOf(0, start)) {
    fields.push(buffer.subarray(start, i))
    start = i + 1
  }
  if (start < buffer.length)
    throw new Error(`record ends without NUL: ${buffer.subarray(start).toString('latin1')}`)
  return fields
}

/** Parses what the recorders wrote. */
export function parseRecords(records: Buffer): Call[] {
  const fields = splitNul(records)
  const calls: Call[] = []
  let i = 0
  const next = (): Buffer => {
    const field = fields[i++]
    if (field === undefined) throw new Error('records end in the middle of a call')
    return field
  }
  while (i < fields.length) {
    const name = next().toString('latin1')
    if (name === 'want') {
      calls.push({ name, argv: [next()] })
      continue
    }
    if (name !== 'cd' && name !== 'timeout' && name !== 'version') {
      throw new Error(`unknown record ${name}`)
    }
    const argc = Number(next().toString('latin1'))
    const argv = Array.from({ length: argc }, next)
    const call: Call = { name, argv }
    if (name === 'timeout') {
      if (next().toString('latin1') !== 'vars') throw new Error('timeout record without vars')
      call.vars = HOOK_VARIABLES.map(next)
      if (fields[i]?.toString('latin1') === 'env') {
        i++
        call.env = new Map()
        for (let entry = next(); entry.toString('latin1') !== 'END'; entry = next()) {
          const eq = entry.indexOf('=')
          call.env.set(entry.subarray(0, eq).toString('latin1'), entry.subarray(eq + 1))
        }
      }
    }
    calls.push(call)
  }
  return calls
}

/** Decodes bytes that must be UTF-8; the re-encoding must give the same bytes back. */
function utf8(bytes: Buffer): string {
  const text = bytes.toString('utf8')
  if (!Buffer.from(text, 'utf8').equals(bytes)) return `<not UTF-8: ${bytes.toString('hex')}>`
  return text
}

/**
 * Where `cd <argv…>` goes in bash and dash: options (`-L`, `-P`, `-e`, `-@`) and `--` are read
 * first, no operand is $HOME, `-` is $OLDPWD. A relative operand is given as `./…` (CDPATH unset),
 * so `x` and `./x` are the same place.
 */
export function cdDestination(argv: string[]): string {
  let i = 0
  for (; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') {
      i++
      break
    }
    if (!arg.startsWith('-') || arg === '-') break
    if (!/^-[LPe@]+$/.test(arg)) return `<cd error: invalid option ${JSON.stringify(arg)}>`
  }
  const operands = argv.slice(i)
  if (operands.length === 0) return '<$HOME>'
  if (operands.length > 1) return '<cd error: too many arguments>'
  const dir = operands[0] as string
  if (dir === '-') return '<$OLDPWD>'
  if (dir === '') return '<cd error: empty directory>'
  return intendedDirectory(dir)
}

/** The directory a hook-dir value names, in the form `cdDestination` reports. */
export function intendedDirectory(dir: string): string {
  return dir.startsWith('/') ? dir : `./${dir.replace(/^(?:\.\/+)+/, '')}`
}

/**
 * Whether the docker CLI (cobra/pflag, flags allowed anywhere) takes an argument as an operand:
 * anything that starts with a dash and is longer than `-` is read as a flag (`--` ends them).
 */
export function dockerTakesAsOperand(arg: string): boolean {
  return !(arg.length > 1 && arg.startsWith('-'))
}

function show(value: unknown): string {
  return JSON.stringify(value)
}

/** The calls that run when the hook exits `hookExit`: a failed hook ends the session. */
export function callsThatRun(expected: Delivery, hookExit: number): ExpectedCall[] {
  const hook = expected.calls.findIndex(call => call.kind === 'hook')
  return hook >= 0 && hookExit !== 0 ? expected.calls.slice(0, hook + 1) : expected.calls
}

/**
 * Compares what the recorders saw with the oracle. Returns every difference, worded; an empty
 * list means each value arrived byte for byte, where the program that reads it takes it as data.
 * The session's check for GNU timeout (`timeout --version`) must come once, before any other call;
 * it is no delivery, so the comparison is of the calls after it.
 */
export function deliveryProblems(recorded: Call[], expected: Delivery, fakes: Fakes): string[] {
  const problems: string[] = []
  const checks = recorded.filter(call => call.name === 'version')
  if (checks.length !== 1 || recorded[0]?.name !== 'version') {
    problems.push(
      `the check for GNU timeout ran ${checks.length} times, first call ${show(recorded[0]?.name ?? 'none')}: expected once, before anything else`
    )
  }
  const calls = recorded.filter(call => call.name !== 'version')
  const want = callsThatRun(expected, fakes.hookExit)
  const gotNames = calls.map(call => call.name)
  const wantNames = want.map(call =>
    call.kind === 'cd' || call.kind === 'want' ? call.kind : 'timeout'
  )
  if (show(gotNames) !== show(wantNames)) {
    const kinds = want.map(call => call.kind)
    return [
      ...problems,
      `calls ${show(gotNames)}, expected ${show(wantNames)} (${kinds.join(', ')})`
    ]
  }
  want.forEach((wanted, k) => {
    const call = calls[k] as Call
    const argv = call.argv.map(utf8)
    if (wanted.kind === 'cd') {
      const where = cdDestination(argv)
      const intended = intendedDirectory(wanted.dir)
      if (where !== intended) {
        problems.push(
          `hook-dir ${show(wanted.dir)}: cd received ${show(argv)} and goes to ${show(where)}, not ${show(intended)}`
        )
      }
      return
    }
    if (wanted.kind === 'want') {
      if (argv[0] !== `=${wanted.value}`) {
        problems.push(
          `the name awk compares with: ${show(argv[0])}, expected ${show(wanted.value)}`
        )
      }
      return
    }
    if (wanted.kind === 'git' || (wanted.kind !== 'hook' && wanted.endOfOptions)) {
      // `--` (or git's -C <dir>) is part of what must arrive: what follows is data.
      if (show(argv) !== show(wanted.argv)) {
        problems.push(`${wanted.kind} call argv ${show(argv)}, expected ${show(wanted.argv)}`)
      }
      return
    }
    if (wanted.kind !== 'hook') {
      // The operands close the argv; a `--` in front of them (which ends docker's options) is
      // as good as an operand that cannot be read as an option.
      const first = wanted.argv.length - wanted.operands.length
      const guarded = [...wanted.argv.slice(0, first), '--', ...wanted.argv.slice(first)]
      if (show(argv) === show(guarded)) return
      if (show(argv) !== show(wanted.argv)) {
        problems.push(`${wanted.kind} call argv ${show(argv)}, expected ${show(wanted.argv)}`)
      }
      for (const operand of wanted.operands.filter(o => !dockerTakesAsOperand(o))) {
        problems.push(`${wanted.kind}: docker reads the operand ${show(operand)} as an option`)
      }
      return
    }
    if (show(argv) !== show(wanted.argv)) {
      problems.push(`${wanted.kind} call argv ${show(argv)}, expected ${show(wanted.argv)}`)
    }
    HOOK_VARIABLES.forEach((name, v) => {
      const seen = utf8(call.vars?.[v] ?? Buffer.alloc(0))
      const value = wanted.env[name]
      if (seen !== (value === undefined ? '' : `=${value}`)) {
        problems.push(
          `${name} in the shell: ${show(seen.startsWith('=') ? seen.slice(1) : '<unset>')}, expected ${show(value ?? '<unset>')}`
        )
      }
      if (fakes.flavour === 'exec') {
        const exported = call.env?.get(name)
        const text = exported === undefined ? '<not exported>' : utf8(exported)
        if (text !== (value ?? '<not exported>')) {
          problems.push(`${name} in a child's environment: ${show(text)}, expected ${show(value)}`)
        }
      }
    })
    if (fakes.flavour === 'exec') {
      for (const [name, bytes] of call.env ?? []) {
        if (name.startsWith('pg_') || bytes.includes(fakes.nonce)) {
          problems.push(`the hook's environment holds ${show(name)} (session state or the nonce)`)
        }
      }
    }
  })
  return problems
}

/**
 * Checks the session's own reporting on the real output, read with parseSession: it began and
 * ended, the hook's decoy result lines stayed off stdout, each step reports exit 0 with the
 * fake's output, and the inspect's answer reads back the revision (a match) or the image id.
 */
export function sessionProblems(
  stdout: string,
  stderr: string,
  expected: Delivery,
  fakes: Fakes,
  revision: string
): string[] {
  const problems: string[] = []
  const session = parseSession(stdout, fakes.nonce)
  if (!session.begun) problems.push('the session never said begin')
  if (!session.ended) problems.push('the session never said end')
  if (session.noTimeout) problems.push('the session reported no-timeout')
  const ran = callsThatRun(expected, fakes.hookExit).map(call => call.kind)
  if (ran.includes('hook')) {
    if (session.steps.hook?.exit !== fakes.hookExit) {
      problems.push(`hook exit ${show(session.steps.hook)}, expected ${fakes.hookExit}`)
    }
    for (const decoy of decoyLines(fakes.nonce)) {
      if (stdout.includes(decoy))
        problems.push(`the hook's stdout line ${show(decoy)} reached stdout`)
      if (!stderr.includes(decoy))
        problems.push(`the hook's stdout line ${show(decoy)} is not on stderr`)
    }
  }
  if (ran.includes('git') && session.steps.context?.exit !== 0) {
    problems.push(`the context check reported ${show(session.steps.context)}, expected exit 0`)
  }
  const fakeOutput: Record<DockerStep, string> = {
    inspect: fakes.inspectJson,
    container: expected.containerIds.length ? CONTAINER_JSON : '',
    tag: '',
    prod: fakes.inspectJson
  }
  for (const step of ['inspect', 'container', 'tag', 'prod'] as const) {
    const reported = session.steps[step]
    const runs =
      step === 'container' ? ran.includes('psnames') || ran.includes('ps') : ran.includes(step)
    if (!runs) {
      if (reported)
        problems.push(`${step} reported ${show(reported)} from a step that must not run`)
      continue
    }
    if (reported?.exit !== 0) problems.push(`${step} reported ${show(reported)}, expected exit 0`)
    else if (reported.output !== fakeOutput[step]) {
      problems.push(`${step} output ${show(reported.output)}, expected ${show(fakeOutput[step])}`)
    }
  }
  if (expected.containerIds.length && ran.includes('container')) {
    const containers = parseContainerInspect(session.steps.container?.output ?? '')
    if (containers?.length !== 1 || containers[0]?.imageId !== FAKE_IMAGE_ID) {
      problems.push(`the container check read back ${show(containers)}`)
    }
  }
  const read = ran.includes('inspect') ? 'inspect' : ran.includes('prod') ? 'prod' : undefined
  if (read) {
    const inspected = parseImageInspect(session.steps[read]?.output ?? '')
    const label = inspected?.labels[expected.revisionLabel] ?? '<no label>'
    if (inspected?.imageId !== FAKE_IMAGE_ID) {
      problems.push(`${read} read back ${show(inspected)}`)
    } else if (expected.readBack === 'revision' && !decideVerdict(revision, label).pass) {
      problems.push(`the label read back (${show(label)}) is not a match for ${revision}`)
    }
  }
  return problems
}

// ---------------------------------------------------------------------------------------------
// Shells

/** What one run of a session script produced. */
export interface ShellResult {
  status: number
  records: Buffer
  stdout: Buffer
  stderr: Buffer
}

/** A clean environment: no CDPATH, no stray GIT_SHA or TARGET_*; a UTF-8 locale when present. */
export function shellEnvironment(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    TMPDIR: home,
    LC_ALL: 'C.UTF-8'
  }
}

/** Scratch space on tmpfs when there is one: the worker writes a few small files per run. */
function fastTempDir(prefix: string): string {
  const shm = '/dev/shm'
  try {
    if (existsSync(shm)) return mkdtempSync(path.join(shm, prefix))
  } catch {
    // not writable: fall back
  }
  return mkdtempSync(path.join(tmpdir(), prefix))
}

/**
 * One long-lived shell that, for each line it reads, runs `<shell> -s` with the script (from a
 * file: the worker's own stdin is its command channel) on stdin, stdout and stderr in files, and
 * says its status. Saves node's process start per run; `runShellOnce` feeds the script through a
 * pipe, as ssh does. Records go to `recordFile`, emptied before each run.
 */
export class ShellWorker {
  private buffered = ''
  private waiting: ((line: string) => void) | undefined
  readonly recordFile: string

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string
  ) {
    this.recordFile = path.join(dir, 'records')
    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (text: string) => {
      this.buffered += text
      this.deliver()
    })
    child.stderr?.resume()
  }

  static start(shell: 'bash' | 'dash' = 'bash'): ShellWorker {
    const dir = fastTempDir('pg-fuzz-')
    const loop = [
      'while read -r fz_go; do',
      '  : > "$FZ_DIR/records"',
      `  ${shell} -s <"$FZ_DIR/text" >"$FZ_DIR/stdout" 2>"$FZ_DIR/stderr"`,
      `  printf 'status %s\\n' "$?"`,
      'done'
    ].join('\n')
    const child = spawn('sh', ['-c', loop], {
      env: { ...shellEnvironment(dir), FZ_DIR: dir },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    return new ShellWorker(child, dir)
  }

  private deliver(): void {
    const eol = this.buffered.indexOf('\n')
    if (eol < 0 || !this.waiting) return
    const line = this.buffered.slice(0, eol)
    this.buffered = this.buffered.slice(eol + 1)
    const resolve = this.waiting
    this.waiting = undefined
    resolve(line)
  }

  /** Runs one script; its records, stdout and stderr come back as bytes. */
  run(text: string): Promise<ShellResult> {
    if (text.includes('\0')) throw new Error('a session script cannot hold a NUL byte')
    if (this.waiting) throw new Error('the worker runs one script at a time')
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined
        reject(new Error('the worker did not answer within 10 s'))
      }, 10_000)
      this.waiting = line => {
        clearTimeout(timer)
        const status = /^status ([0-9]+)$/.exec(line)
        if (!status) return reject(new Error(`the worker said ${show(line)}`))
        resolve({
          status: Number(status[1]),
          records: readFileSync(this.recordFile),
          stdout: readFileSync(path.join(this.dir, 'stdout')),
          stderr: readFileSync(path.join(this.dir, 'stderr'))
        })
      }
      writeFileSync(path.join(this.dir, 'text'), text)
      this.child.stdin?.write('go\n')
      this.deliver()
    })
  }

  /** Ends the worker (end of its input) and removes its files. */
  async close(): Promise<void> {
    const exited = new Promise<void>(resolve => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve()
      else this.child.once('exit', () => resolve())
    })
    this.child.stdin?.end()
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** Runs a script the way sshd hands it over: `<shell> -s` with the script on a pipe. */
export function runShellOnce(
  shell: string,
  text: string,
  home: string,
  recordFile: string,
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}
): Promise<ShellResult> {
  writeFileSync(recordFile, '')
  return new Promise((resolve, reject) => {
    const child = spawn(shell, ['-s'], {
      cwd: options.cwd,
      env: { ...shellEnvironment(home), ...options.env },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    const chunks: Buffer[][] = [[], [], []]
    for (const fd of [1, 2]) {
      const stream = child.stdio[fd] as NodeJS.ReadableStream
      stream.on('data', (chunk: Buffer) => (chunks[fd] as Buffer[]).push(chunk))
    }
    child.stdin?.on('error', () => undefined)
    child.stdin?.end(text)
    child.once('error', reject)
    child.once('close', code =>
      resolve({
        status: code ?? -1,
        stdout: Buffer.concat(chunks[1] as Buffer[]),
        stderr: Buffer.concat(chunks[2] as Buffer[]),
        records: readFileSync(recordFile)
      })
    )
  })
}

// ---------------------------------------------------------------------------------------------
// Counting

/** Runs, accepted and refused cases per property, for the summary line and the sanity bounds. */
export class FuzzStats {
  readonly rows = new Map<
    string,
    { seed: number; runs: number; accepted: number; refused: number }
  >()

  count(property: string, seed: number, accepted: boolean | undefined): void {
    const row = this.rows.get(property) ?? { seed, runs: 0, accepted: 0, refused: 0 }
    row.runs++
    if (accepted === true) row.accepted++
    if (accepted === false) row.refused++
    this.rows.set(property, row)
  }

  get(property: string): { runs: number; accepted: number; refused: number } {
    return this.rows.get(property) ?? { runs: 0, accepted: 0, refused: 0 }
  }

  total(): number {
    return [...this.rows.values()].reduce((sum, row) => sum + row.runs, 0)
  }

  summary(title: string): string {
    const lines = [...this.rows].map(
      ([name, row]) =>
        `  ${name}: ${row.runs} runs (seed ${row.seed})${row.accepted + row.refused ? `, ${row.accepted} delivered, ${row.refused} refused` : ''}`
    )
    return [`${title}: ${this.total()} runs, base seed ${baseSeed()}`, ...lines].join('\n')
  }
}

// ---------------------------------------------------------------------------------------------
// One case, end to end

/** One generated case: raw inputs and what the run around them supplies. */
export interface Case {
  inputs: Inputs
  revision: string
  nonce: string
  hookExit: number
  /** BUILD_CONTEXT by construction, when `path-mapping` is set. */
  mappedContext?: string
  /** What the fake `docker ps` answers (compose's containers of the service); none by default. */
  psIds?: readonly string[]
}

/** What happened to one case. */
export type Outcome =
  { delivered: true; settings: Settings } | { delivered: false; error: InputError }

export interface CaseOptions {
  flavour: Flavour
  /** `gate`: planGateSession (default); `promote`: planPromoteSession of the fake image id. */
  session?: 'gate' | 'promote'
  /** Replaces the planner under test, e.g. to try a fix before it is made in src/. */
  plan?: (settings: Settings, revision: string, ids: SessionIds) => string
}

/** Runs one script as `sh -s` would; the recorders append to its record file. */
export interface ScriptRunner {
  recordFile: string
  run(text: string): Promise<ShellResult>
}

/**
 * The property of issue §5 for one case: parseSettings refuses it with an InputError, or the
 * session planned for it, run by `runner` behind the recorders, delivers every value byte for byte.
 * Throws with every difference (and the planned script) when it does not.
 */
export async function deliverOrRefuse(
  c: Case,
  runner: ScriptRunner,
  options: CaseOptions
): Promise<Outcome> {
  const parsed = tryParse(c.inputs)
  if (!parsed.ok) {
    assertInputError(parsed.error)
    return { delivered: false, error: parsed.error }
  }
  const { settings } = parsed
  const promote = options.session === 'promote'
  const mapped = given(c.inputs, 'path-mapping')
    ? (c.mappedContext ?? settings.buildContext)
    : undefined
  const expected = promote
    ? expectedPromotion(c.inputs, FAKE_IMAGE_ID)
    : expectedDelivery(c.inputs, c.revision, settings, mapped, c.psIds)
  const fakes: Fakes = {
    flavour: options.flavour,
    hookExit: c.hookExit,
    nonce: c.nonce,
    head: c.revision,
    inspectJson: inspectJsonFor({ [expected.revisionLabel]: c.revision, other: 'x y' }),
    recordFile: runner.recordFile,
    psIds: c.psIds,
    wanted: given(c.inputs, 'staging-container') || given(c.inputs, 'service')
  }
  const ids: SessionIds = { nonce: c.nonce, runId: c.nonce.split('').reverse().join('') }
  const plan =
    options.plan ??
    (promote
      ? (s: Settings, _revision: string, i: SessionIds) =>
          planPromoteSession(s, FAKE_IMAGE_ID, given(c.inputs, 'prod-image'), i).script
      : (s: Settings, revision: string, i: SessionIds) => planGateSession(s, revision, i).script)
  const planned = plan(settings, c.revision, ids)
  const result = await runner.run(recorderPrefix(fakes) + planned)
  const stdout = result.stdout.toString('utf8')
  const stderr = result.stderr.toString('utf8')
  const problems = [
    ...deliveryProblems(parseRecords(result.records), expected, fakes),
    ...sessionProblems(stdout, stderr, expected, fakes, c.revision)
  ]
  if (result.status !== 0) problems.push(`the session exited ${result.status}`)
  if (problems.length) {
    throw new Error(
      [
        'not delivered byte for byte:',
        ...problems.map(problem => `- ${problem}`),
        `planned session script: ${show(planned)}`,
        `stdout: ${show(stdout.slice(-2000))}`,
        `stderr: ${show(stderr.slice(-2000))}`
      ].join('\n')
    )
  }
  return { delivered: true, settings }
}

// ---------------------------------------------------------------------------------------------
// path-mapping by construction

const isSpace = (text: string): boolean => text.trim() !== text
const segmentUnit = fc.oneof(
  fc.constantFrom(...METACHARACTERS.filter(ch => ch !== '/')),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter(ch => ch !== '/' && ch !== '\0')
)
/** One path segment: anything but '/', NUL, '', '.' and '..'. */
const segment = (extra: (s: string) => boolean = () => true): fc.Arbitrary<string> =>
  fc
    .string({ unit: segmentUnit, minLength: 1, maxLength: 10 })
    .filter(s => s !== '.' && s !== '..' && extra(s))
const absolute = (segments: string[]): string => `/${segments.join('/')}`

/**
 * A checkout under a runner prefix and a mapping to a host prefix, with the BUILD_CONTEXT they
 * must give: the host prefix followed by the checkout's path below the runner prefix, unchanged.
 */
export const constructedMapping = fc
  .tuple(
    fc.array(
      segment(s => !s.includes('=')),
      { maxLength: 3 }
    ),
    fc.array(segment(), { maxLength: 3 }),
    fc.array(segment(), { maxLength: 3 }),
    fc.constantFrom('', ' ', '\t'),
    fc.constantFrom('', '/', '//'),
    fc.constantFrom('', ' ', '\t'),
    fc.constantFrom('', '/', '///')
  )
  .filter(([from, rest, to]) =>
    [from, [...from, ...rest], to].every(parts => !isSpace(absolute(parts)))
  )
  .map(([from, rest, to, pad1, slash1, pad2, slash2]) => {
    const runnerPrefix = absolute(from)
    const hostPrefix = absolute(to)
    const checkout = absolute([...from, ...rest])
    const tail = rest.join('/')
    return {
      path: checkout,
      mapping: `${runnerPrefix}${from.length ? slash1 : ''}${pad1}=${pad2}${hostPrefix}${to.length ? slash2 : ''}`,
      buildContext: tail ? `${hostPrefix === '/' ? '' : hostPrefix}/${tail}` : hostPrefix
    }
  })

// ---------------------------------------------------------------------------------------------
// Every host-bound input at once

/**
 * Every host-bound input at once: valid, fuzzed or left out (then its default applies); sometimes
 * a path-mapping built so its BUILD_CONTEXT is known.
 */
export const allInputsCase: fc.Arbitrary<Case> = fc
  .tuple(
    fc.record(
      {
        mode: fc.constantFrom('rebuild', 'verify', ' verify ', '', 'promote'),
        'prod-image': fc.oneof(
          { weight: 4, arbitrary: fc.constant('registry.example.com/shop:prod') },
          { weight: 1, arbitrary: imageText }
        ),
        'image-id': imageIdText,
        'label-source': fc.constantFrom('', 'host', 'registry'),
        'check-container': fc.constantFrom('', 'auto', 'true', 'false'),
        image: fc.oneof({ weight: 4, arbitrary: validImage }, { weight: 1, arbitrary: imageText }),
        hook: inputText,
        'hook-dir': inputText,
        'build-context': inputText,
        service: inputText,
        'staging-port': fc.oneof(
          { weight: 4, arbitrary: fc.integer({ min: 1, max: 65_535 }).map(String) },
          { weight: 1, arbitrary: portText }
        ),
        'compose-profile': inputText,
        'staging-container': inputText,
        'revision-label': fc.oneof(
          { weight: 4, arbitrary: fc.constant('org.opencontainers.image.revision') },
          { weight: 1, arbitrary: labelText }
        ),
        docker: fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom('docker', 'podman', '/usr/bin/docker') },
          { weight: 1, arbitrary: dockerText }
        ),
        'check-context': fc.constantFrom('', 'auto', 'true', 'false'),
        'sync-context': fc.constantFrom('', 'false', 'true'),
        'rebuild-timeout': fc.constantFrom('', '1200', '7', '86400'),
        'inspect-timeout': fc.constantFrom('', '30', '1')
      },
      // image and hook are always set: their absence is the per-input properties' business.
      { requiredKeys: ['image', 'hook'] }
    ),
    fc.option(constructedMapping, { freq: 4 }),
    revisionArb,
    nonceArb,
    hookExitArb,
    psIdsArb
  )
  .map(([fields, mapping, revision, nonce, hookExit, psIds]) => {
    const inputs: Inputs = { ...fields }
    // prod-image and image-id belong to promote mode only (elsewhere they are refused as a
    // forgotten mode).
    if ((fields.mode ?? '').trim() !== 'promote') {
      delete inputs['prod-image']
      delete inputs['image-id']
    }
    if (mapping) {
      inputs.path = mapping.path
      inputs['path-mapping'] = mapping.mapping
    }
    return { inputs, revision, nonce, hookExit, mappedContext: mapping?.buildContext, psIds }
  })
