/**
 * Issue §5 "Fuzzed inputs": seeded property tests (fast-check), reproducible.
 *
 * (a) every input that reaches the host is refused by parseSettings with an InputError, or the
 *     session planned for it (planGateSession; planPromoteSession for prod-image), its script
 *     fed unchanged on the stdin of a real `bash -s` or `dash -s` (the usual /bin/sh) behind
 *     recording `cd`/`timeout`/`awk` functions, delivers it byte for byte: as the argument `cd`,
 *     git and docker take as a directory or operand, as the hook's argv and environment;
 * (b) the verdict passes iff both revisions are non-empty and exactly equal;
 * (c) parseSettings and parseSwitch throw nothing but an InputError, whatever every input holds.
 *
 * Seeds are fixed (see fuzz-helpers.ts; each test name shows its seed, the summary printed after
 * the file shows the runs per property). Reproduce a failure with the `{ seed, path }` that
 * fast-check prints:
 *   FUZZ_REPLAY='<seed>:<path>' npm run test:unit -- --testPathPatterns fuzz -t '<test name>'
 * and try other cases with FUZZ_SEED=<integer>.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import fc from 'fast-check'
import { InputError } from '../../src/errors.js'
import { INPUT_DEFAULTS, parseSwitch, type InputName } from '../../src/inputs.js'
import { canonicalImageReference } from '../../src/registry/reference.js'
import { planGateSession } from '../../src/session/protocol.js'
import { decideVerdict } from '../../src/decide/verdict.js'
import { decided } from '../support/fixtures.js'
import {
  allInputsCase,
  assertInputError,
  CONTEXT,
  constructedMapping,
  deliverOrRefuse,
  describeThrown,
  dockerText,
  FuzzStats,
  fuzzParameters,
  given,
  hookExitArb,
  imageIdText,
  imageText,
  inputText,
  labelText,
  nonceArb,
  portOf,
  portText,
  reader,
  revisionArb,
  runShellOnce,
  shellString,
  ShellWorker,
  tryParse,
  validImage,
  VALID_INPUTS,
  VALID_PROMOTE_INPUTS,
  type Case,
  type CaseOptions,
  type Inputs,
  type ScriptRunner
} from '../support/fuzz-helpers.js'

// Each shell property runs hundreds of sessions: more than jest's default 5 s per test.
jest.setTimeout(60_000)

const stats = new FuzzStats()
/** The runs every property asks for, summed while the file's tests are collected. */
let PLANNED_RUNS = 0
function planned(offset: number, runs: number): ReturnType<typeof fuzzParameters> {
  PLANNED_RUNS += runs
  return fuzzParameters(offset, runs)
}
/** Replaying one recorded case (FUZZ_REPLAY): the run-count bounds do not apply. */
const replaying = Boolean(process.env.FUZZ_REPLAY?.trim())
let home: string

beforeAll(() => {
  home = mkdtempSync(path.join(tmpdir(), 'pg-fuzz-home-'))
})

afterAll(() => {
  if (home) rmSync(home, { recursive: true, force: true })
  console.log(stats.summary('fuzz (__tests__/session/fuzz.test.ts)'))
})

const nul = (value: string): boolean => value.includes('\0')
const PROD_SERVICE = VALID_INPUTS['prod-service'] as string
const PROD_PORT = VALID_INPUTS['prod-port'] as string
const prodLike = fc.constantFrom(
  PROD_SERVICE,
  ` ${PROD_SERVICE}\n`,
  `\t${PROD_SERVICE}`,
  'SHOP',
  'shop '
)
const timeoutText = fc.oneof(
  portText,
  fc.integer({ min: 0, max: 100_000 }).map(String),
  fc.constantFrom('86400', '86401', '0', '1', '999999999', '1e3', ' 45 ')
)
const wholeSeconds = (raw: string): boolean => {
  const text = raw.trim()
  if (!text) return true
  return /^[0-9]{1,9}$/.test(text) && Number(text) >= 1 && Number(text) <= 86_400
}

/** Whether two references name the same tag, as docker reads them (false when one is bad). */
function sameImage(a: string, b: string): boolean {
  try {
    return canonicalImageReference(a) === canonicalImageReference(b)
  } catch {
    return false
  }
}

/**
 * One host-bound input fuzzed against otherwise valid inputs. `accepted` is the oracle's answer
 * where the rule is simple enough to state (undefined: either answer is allowed); `prodTarget`
 * says a refusal must be the prod guard rather than bad input.
 */
interface Field {
  name: InputName
  /** The property's name when it is not the input's (the same input on another base). */
  title?: string
  values: fc.Arbitrary<string>
  runs: number
  accepted?: (value: string) => boolean
  prodTarget?: (value: string) => boolean
  /** The input a refusal names, when it is not this one (a combination with the base inputs). */
  refusedAs?: (value: string) => string
  /** Share of cases that must reach the shell, so the delivery check is never vacuous. */
  minDelivered: number
  /** The otherwise valid inputs (VALID_INPUTS unless said). */
  base?: Inputs
  /** Which session delivers it: the gate's (default) or the promotion's. */
  session?: 'gate' | 'promote'
}

/**
 * The inputs the context check hands to git (`git -C <context>`): the others are fuzzed with the
 * check off, which halves a run (five bounded git calls); the all-inputs properties fuzz
 * check-context and sync-context themselves.
 */
const REACHES_GIT: readonly InputName[] = ['hook-dir', 'build-context']
const NO_CONTEXT_CHECK: Inputs = { 'check-context': 'false' }

const FIELDS: Field[] = [
  {
    name: 'hook',
    values: inputText,
    runs: 600,
    accepted: v => !nul(v) && v.trim() !== '',
    minDelivered: 0.8
  },
  { name: 'hook-dir', values: inputText, runs: 450, accepted: v => !nul(v), minDelivered: 0.8 },
  {
    name: 'build-context',
    values: inputText,
    runs: 300,
    accepted: v => !nul(v),
    minDelivered: 0.8
  },
  {
    name: 'service',
    values: fc.oneof({ weight: 6, arbitrary: inputText }, { weight: 1, arbitrary: prodLike }),
    runs: 400,
    accepted: v => !nul(v) && given({ service: v }, 'service') !== PROD_SERVICE,
    prodTarget: v => !nul(v),
    minDelivered: 0.7
  },
  {
    name: 'staging-container',
    values: fc.oneof({ weight: 6, arbitrary: inputText }, { weight: 1, arbitrary: prodLike }),
    runs: 400,
    accepted: v => !nul(v) && (v.trim() || VALID_INPUTS.service) !== PROD_SERVICE,
    prodTarget: v => !nul(v),
    minDelivered: 0.7
  },
  {
    name: 'compose-profile',
    values: inputText,
    runs: 300,
    accepted: v => !nul(v),
    minDelivered: 0.8
  },
  {
    name: 'staging-port',
    values: fc.oneof(
      portText,
      fc.integer({ min: 1, max: 65_535 }).map(String),
      fc.constantFrom(PROD_PORT, `0${PROD_PORT}`, ` ${PROD_PORT} `)
    ),
    runs: 400,
    accepted: v => portOf(v) !== undefined && portOf(v) !== PROD_PORT,
    prodTarget: v => portOf(v) !== undefined,
    minDelivered: 0.2
  },
  { name: 'image', values: imageText, runs: 400, minDelivered: 0.15 },
  { name: 'docker', values: dockerText, runs: 400, minDelivered: 0.3 },
  { name: 'revision-label', values: labelText, runs: 300, minDelivered: 0.2 },
  {
    name: 'mode',
    values: fc.oneof(
      fc.constantFrom('rebuild', 'verify', 'promote', ' promote\n', '', 'Rebuild', 'VERIFY'),
      inputText
    ),
    runs: 300,
    // With prod-image set, only promote is accepted: rebuild or verify with a prod tag is refused
    // as a forgotten `mode: promote`, naming prod-image.
    accepted: v => v.trim() === 'promote',
    refusedAs: v => (['rebuild', 'verify'].includes(v.trim() || 'rebuild') ? 'prod-image' : 'mode'),
    minDelivered: 0.1,
    base: { ...VALID_INPUTS, 'prod-image': VALID_PROMOTE_INPUTS['prod-image'] }
  },
  {
    name: 'rebuild-timeout',
    values: timeoutText,
    runs: 200,
    accepted: wholeSeconds,
    minDelivered: 0.2
  },
  {
    name: 'inspect-timeout',
    values: timeoutText,
    runs: 200,
    accepted: wholeSeconds,
    minDelivered: 0.2
  },
  {
    name: 'prod-image',
    values: fc.oneof(
      validImage,
      imageText,
      fc.constantFrom(
        VALID_INPUTS.image as string,
        ` Registry.Example.COM/shop:staging\n`,
        'registry.example.com/shop:Staging'
      )
    ),
    runs: 300,
    // The staging image itself, however written, is the prod guard's refusal.
    prodTarget: v => sameImage(v.trim(), VALID_PROMOTE_INPUTS.image as string),
    minDelivered: 0.15,
    base: VALID_PROMOTE_INPUTS,
    session: 'promote'
  },
  {
    // Without staging-container the service also reaches the container check: inside the one
    // `--filter label=com.docker.compose.service=<service>` argument of `docker ps`, and as the
    // operand after `--` of the container inspect when compose has no such container.
    name: 'service',
    title: 'service without staging-container',
    values: fc.oneof({ weight: 6, arbitrary: inputText }, { weight: 1, arbitrary: prodLike }),
    runs: 400,
    accepted: v => !nul(v) && given({ service: v }, 'service') !== PROD_SERVICE,
    prodTarget: v => !nul(v),
    minDelivered: 0.7,
    base: { ...VALID_INPUTS, 'staging-container': '' }
  },
  {
    // A promotion's gate session inspects the image-id (when given) instead of the staging tag.
    name: 'image-id',
    values: imageIdText,
    runs: 300,
    accepted: v => !nul(v) && (v.trim() === '' || /^sha256:[0-9a-f]{64}$/.test(v.trim())),
    minDelivered: 0.3,
    base: VALID_PROMOTE_INPUTS
  }
]

/**
 * Gives a property its own long-lived shell. The shell properties run concurrently
 * (`test.concurrent`, at most jest's maxConcurrency at a time), each on its own worker, so both
 * cores stay busy while one worker waits on the other side of a pipe.
 */
async function withWorker(
  shell: 'bash' | 'dash',
  body: (runner: ScriptRunner) => Promise<void>
): Promise<void> {
  const worker = ShellWorker.start(shell)
  try {
    await body({ recordFile: worker.recordFile, run: text => worker.run(text) })
  } finally {
    await worker.close()
  }
}

/** A `<shell> -s` per run, the script on a pipe as ssh gives it; records in a file of `name`. */
function once(shell: 'bash' | 'dash', name: string): ScriptRunner {
  return {
    // home is made in beforeAll, after the tests are collected.
    get recordFile() {
      return path.join(home, `records-${name}`)
    },
    run(text) {
      return runShellOnce(shell, text, home, this.recordFile)
    }
  }
}

/** Runs one case and checks how a refusal was worded; counts it. */
async function check(
  property: string,
  seed: number,
  c: Case,
  run: ScriptRunner,
  options: CaseOptions,
  refusal?: (error: InputError) => void
): Promise<void> {
  const outcome = await deliverOrRefuse(c, run, options)
  stats.count(property, seed, outcome.delivered)
  if (!outcome.delivered) refusal?.(outcome.error)
}

describe('(a) a host-bound input is refused or delivered byte for byte (real bash -s)', () => {
  FIELDS.forEach((field, index) => {
    const params = planned(index, field.runs)
    const title = field.title ?? field.name
    const property = `${title} (bash)`
    test.concurrent(`${title}: ${field.runs} runs, seed ${params.seed}`, async () => {
      await withWorker('bash', throughBash =>
        fc.assert(
          fc.asyncProperty(
            field.values,
            revisionArb,
            nonceArb,
            hookExitArb,
            async (value, revision, nonce, hookExit) => {
              const inputs: Inputs = {
                ...(field.base ?? VALID_INPUTS),
                ...(REACHES_GIT.includes(field.name) ? {} : NO_CONTEXT_CHECK),
                [field.name]: value
              }
              await check(
                property,
                params.seed,
                { inputs, revision, nonce, hookExit },
                throughBash,
                { flavour: 'builtin', session: field.session },
                error => {
                  const prod = field.prodTarget?.(value) ?? false
                  if (prod) {
                    expect(error.failure).toBe('prod-target')
                    expect(error.message).toContain('the staging target equals the prod target')
                  } else {
                    expect(error.failure).toBe('invalid-input')
                    expect(error.message).toContain(
                      `input ${field.refusedAs?.(value) ?? field.name}`
                    )
                  }
                }
              )
              if (field.accepted) expect(tryParse(inputs).ok).toBe(field.accepted(value))
            }
          ),
          params
        )
      )
      if (replaying) return
      const { runs, accepted } = stats.get(property)
      expect(runs).toBeGreaterThanOrEqual(field.runs)
      expect(accepted / runs).toBeGreaterThanOrEqual(field.minDelivered)
    })
  })

  const mappingParams = planned(20, 300)
  test.concurrent(
    `path-mapping → BUILD_CONTEXT by construction: ${mappingParams.numRuns} runs, seed ${mappingParams.seed}`,
    async () => {
      await withWorker('bash', throughBash =>
        fc.assert(
          fc.asyncProperty(
            constructedMapping,
            revisionArb,
            nonceArb,
            async (mapping, revision, nonce) => {
              const inputs: Inputs = {
                ...VALID_INPUTS,
                path: mapping.path,
                'path-mapping': mapping.mapping
              }
              const c: Case = {
                inputs,
                revision,
                nonce,
                hookExit: 0,
                mappedContext: mapping.buildContext
              }
              const outcome = await deliverOrRefuse(c, throughBash, { flavour: 'builtin' })
              stats.count('path-mapping constructed (bash)', mappingParams.seed, outcome.delivered)
              if (!outcome.delivered)
                throw new Error(`a valid mapping was refused: ${outcome.error.message}`)
              expect(outcome.settings.buildContext).toBe(mapping.buildContext)
            }
          ),
          mappingParams
        )
      )
    }
  )

  const absolutePath = fc.array(shellString, { maxLength: 3 }).map(parts => `/${parts.join('/')}`)
  const anyMapping = fc.oneof(
    inputText,
    fc.tuple(absolutePath, inputText).map(([a, b]) => `${a}=${b}`),
    fc.tuple(inputText, absolutePath).map(([a, b]) => `${a}=${b}`),
    fc.constant('/home/runner=/srv'),
    fc.tuple(inputText).map(([b]) => `/home/runner/work=${b}`)
  )
  const pathInput = fc.oneof(
    fc.constantFrom('.', 'sub/dir', '../shop', '/home/runner/work/x'),
    inputText
  )
  const anyMappingParams = planned(21, 400)
  test.concurrent(
    `path-mapping and path, arbitrary: ${anyMappingParams.numRuns} runs, seed ${anyMappingParams.seed}`,
    async () => {
      const property = 'path-mapping arbitrary (bash)'
      await withWorker('bash', throughBash =>
        fc.assert(
          fc.asyncProperty(
            anyMapping,
            pathInput,
            revisionArb,
            nonceArb,
            async (mapping, where, revision, nonce) => {
              const inputs: Inputs = { ...VALID_INPUTS, path: where, 'path-mapping': mapping }
              const c: Case = { inputs, revision, nonce, hookExit: 0 }
              const outcome = await deliverOrRefuse(c, throughBash, { flavour: 'builtin' })
              stats.count(property, anyMappingParams.seed, outcome.delivered)
              if (!outcome.delivered) {
                expect(outcome.error.failure).toBe('invalid-input')
                expect(outcome.error.message).toMatch(/^input path/)
              } else {
                expect(outcome.settings.buildContext.startsWith('/')).toBe(true)
              }
            }
          ),
          anyMappingParams
        )
      )
      if (!replaying) expect(stats.get(property).accepted).toBeGreaterThan(0)
    }
  )
})

/**
 * The counterexamples the hook-dir property found, checked with the shells' real `cd`: in a
 * directory that holds a subdirectory of each name, `hook-dir: <name>` must run the hook there.
 * A leading dash makes `cd` read the name as an option (`-P`, `-L`, `--`: $HOME; `--help`, `-x`:
 * an error) or as $OLDPWD (`-`), so the hook runs elsewhere or not at all.
 */
describe('hook-dir names that start with a dash (real cd)', () => {
  const names = ['-', '-P', '-L', '-e', '--', '--help', '-x', '-P/sub']
  for (const shell of ['bash', 'dash']) {
    test(`${shell} -s: hook-dir ${names.map(name => JSON.stringify(name)).join(', ')} each run the hook in that directory`, async () => {
      const cwd = mkdtempSync(path.join(tmpdir(), 'pg-fuzz-cd-'))
      const ranIn: Record<string, string> = {}
      const intended: Record<string, string> = {}
      try {
        for (const dir of [...names, 'home-sentinel', 'oldpwd-sentinel']) {
          mkdirSync(path.join(cwd, dir), { recursive: true })
        }
        for (const name of names) {
          const parsed = tryParse({ ...VALID_INPUTS, 'hook-dir': name })
          if (!parsed.ok) {
            assertInputError(parsed.error) // refusing the name is a fix too
            continue
          }
          // GNU-like on `--version` (the session's check); the hook says where it would run;
          // git fails (the context is then no work tree, which check-context auto lets pass).
          const records = path.join(cwd, 'records')
          const prefix = `timeout() { case "$1 $5" in '--version '*) return 0;; *' --') printf '%s' "$PWD" >>'${records}';; esac; return 1; }\n`
          const ids = { nonce: 'feedfacefeedface', runId: 'r' }
          const result = await runShellOnce(
            shell,
            prefix + planGateSession(parsed.settings, '0'.repeat(40), ids).script,
            path.join(cwd, 'home-sentinel'),
            records,
            { cwd, env: { OLDPWD: path.join(cwd, 'oldpwd-sentinel') } }
          )
          const where = result.records.toString('utf8')
          ranIn[name] = where ? path.relative(cwd, where) || '.' : '(the hook did not run)'
          intended[name] = name
        }
      } finally {
        rmSync(cwd, { recursive: true, force: true })
      }
      expect(ranIn).toEqual(intended)
    })
  }
})

describe('(a) every host-bound input at once', () => {
  const cases: {
    name: string
    offset: number
    runs: number
    /** Runs the property with a way to run one session text. */
    using: (body: (runner: ScriptRunner) => Promise<void>) => Promise<void>
  }[] = [
    { name: 'bash worker', offset: 30, runs: 500, using: body => withWorker('bash', body) },
    {
      name: 'bash -s, one process per run',
      offset: 31,
      runs: 100,
      using: body => body(once('bash', 'bash-once'))
    },
    { name: 'dash worker', offset: 32, runs: 400, using: body => withWorker('dash', body) },
    {
      name: 'dash -s (sh), one process per run',
      offset: 33,
      runs: 100,
      using: body => body(once('dash', 'dash-once'))
    }
  ]
  for (const { name, offset, runs, using } of cases) {
    const params = planned(offset, runs)
    const property = `all inputs (${name})`
    test.concurrent(
      `${name}, hook env read by a child (env -0): ${runs} runs, seed ${params.seed}`,
      async () => {
        await using(run =>
          fc.assert(
            fc.asyncProperty(allInputsCase, async c => {
              await check(property, params.seed, c, run, { flavour: 'exec' })
            }),
            params
          )
        )
        const row = stats.get(property)
        if (!replaying) expect(row.accepted / row.runs).toBeGreaterThanOrEqual(0.2)
      }
    )
  }
})

describe("the delivery oracle checks the session's check for GNU timeout", () => {
  const c: Case = {
    inputs: VALID_INPUTS,
    revision: '0123456789abcdef0123456789abcdef01234567',
    nonce: 'feedfacefeedface',
    hookExit: 0
  }
  const through = once('bash', 'oracle')
  const deliver = (plan?: CaseOptions['plan']): Promise<unknown> =>
    deliverOrRefuse(c, through, { flavour: 'builtin', plan })

  test('the session as planned checks once, first, and delivers', async () => {
    await expect(deliver()).resolves.toMatchObject({ delivered: true })
  })

  test('a session without the check is not delivered', async () => {
    const plan: CaseOptions['plan'] = (settings, revision, ids) =>
      planGateSession(settings, revision, ids).script.replace('timeout --version', 'true')
    await expect(deliver(plan)).rejects.toThrow(
      'the check for GNU timeout ran 0 times, first call "cd": expected once, before anything else'
    )
  })

  test('a session that checks twice is not delivered', async () => {
    const plan: CaseOptions['plan'] = (settings, revision, ids) =>
      `timeout --version >/dev/null\n${planGateSession(settings, revision, ids).script}`
    await expect(deliver(plan)).rejects.toThrow('the check for GNU timeout ran 2 times')
  })

  test('a session that splits the build context before git is not delivered', async () => {
    const spaced: Case = { ...c, inputs: { ...VALID_INPUTS, 'build-context': '/srv/a b' } }
    const plan: CaseOptions['plan'] = (settings, revision, ids) =>
      planGateSession(settings, revision, ids).script.replaceAll('-C "$pg_ctx"', '-C $pg_ctx')
    // git reads `/srv/a` as the context, and `b` as its command: the fake is no work tree then.
    await expect(deliverOrRefuse(spaced, through, { flavour: 'builtin', plan })).rejects.toThrow(
      '(cd, git, git, git, git, git, hook,'
    )
  })

  test("a session that lets the hook's stdout onto the result channel is not delivered", async () => {
    const plan: CaseOptions['plan'] = (settings, revision, ids) =>
      planGateSession(settings, revision, ids).script.replace('3>&1 1>&2 4<&0', '3>&1 4<&0')
    await expect(deliver(plan)).rejects.toThrow("the hook's stdout line")
  })
})

describe('(b) the verdict passes iff both revisions are non-empty and exactly equal', () => {
  const whitespace = fc.string({
    unit: fc.constantFrom(' ', '\t', '\n', '\r', '\u00a0', '\u2028', '\ufeff', '\v'),
    minLength: 1,
    maxLength: 3
  })
  const revisionText = fc.oneof(revisionArb, shellString, fc.constant(''), whitespace)
  const pair = fc.oneof(
    fc.tuple(revisionText, revisionText),
    revisionText.map(s => [s, s] as [string, string]),
    fc.tuple(revisionText, whitespace).map(([s, w]) => [s, `${s}${w}`] as [string, string]),
    fc.tuple(revisionText, whitespace).map(([s, w]) => [`${w}${s}`, s] as [string, string]),
    revisionArb.map(s => [s, s.toUpperCase()] as [string, string]),
    revisionArb.map(s => [s, s.slice(0, 12)] as [string, string]),
    revisionText.map(s => ['', s] as [string, string]),
    revisionText.map(s => [s, ''] as [string, string])
  )
  const params = planned(40, 2000)
  test(`decideVerdict: ${params.numRuns} runs, seed ${params.seed}`, () => {
    fc.assert(
      fc.property(pair, ([expected, image]) => {
        stats.count('decideVerdict', params.seed, undefined)
        const decision = decided(() => decideVerdict(expected, image))
        const pass = expected !== '' && expected === image
        expect(decision.pass).toBe(pass)
        expect(decision.verdict).toBe(
          pass ? 'match' : expected && image ? 'mismatch' : 'fail-closed'
        )
        const failure = !expected
          ? 'empty-revision'
          : !image
            ? 'missing-label'
            : pass
              ? ''
              : 'mismatch'
        expect(decision.failure).toBe(failure)
        expect(decision.reason.startsWith(`provenance ${decision.verdict}`)).toBe(true)
        if (decision.verdict !== 'match') expect(decision.reason).not.toMatch(/[\r\n]/)
      }),
      params
    )
  })
})

describe('(c) parseSettings and parseSwitch throw nothing but an InputError', () => {
  const NAMES = Object.keys(INPUT_DEFAULTS) as InputName[]
  const KNOWN_HOST =
    '127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'
  const KEY =
    '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----'
  const plausible: Partial<Record<InputName, string[]>> = {
    mode: ['rebuild', 'verify', 'promote'],
    'label-source': ['host', 'registry', 'Host'],
    'registry-username': ['', 'ci-bot'],
    'registry-password': ['', 'token'],
    platform: ['linux/amd64', 'linux/arm64/v8', 'Linux/AMD64', 'linux'],
    'check-container': ['auto', 'true', 'false', 'TRUE', 'Auto', 'yes'],
    'require-source': ['true', 'false', 'maybe'],
    'prod-image': ['registry.example.com/shop:prod', 'registry.example.com/shop:staging', '-x'],
    'expected-revision': ['0123456789abcdef0123456789abcdef01234567', 'HEAD', '0123ABCD'],
    'image-id': [
      '',
      `sha256:${'0123456789abcdef'.repeat(4)}`,
      '0123456789abcdef'.repeat(4),
      'sha256:'
    ],
    'staging-container': ['', 'shop-staging-1', ' ', '-x'],
    path: ['.', 'sub', '/abs/path', '..'],
    image: ['registry.example.com/shop:staging', 'shop'],
    host: ['127.0.0.1', 'staging.example.com', '[::1]', '-oProxyCommand=x', 'host name'],
    user: ['deploy', 'root', 'machine$', '-l'],
    port: ['22', '0', '65536'],
    'private-key': [
      KEY,
      KEY.replace(/\n/g, '\r\n'),
      `  ${KEY}  `,
      '-----BEGIN X PRIVATE KEY-----\n\n-----END X PRIVATE KEY-----'
    ],
    'known-hosts': [KNOWN_HOST, `# comment\n${KNOWN_HOST}\r\n`, 'one-word', '\n\n'],
    'strict-host-key-checking': ['true', 'false', 'False', 'no'],
    'ssh-retries': ['0', '2', '10', '11'],
    hook: ['/srv/shop/hook.sh'],
    'path-mapping': [
      '/home/runner/work=/srv',
      '/=/',
      '=/',
      '/a=',
      'a=b',
      '/home/runner/work/shop/shop=/x'
    ],
    'prod-service': ['staging', 'shop'],
    'prod-port': ['8500', '0'],
    enabled: ['true', 'false', 'yes'],
    repositories: ['acme/shop', 'shop, other', ' , ,\n'],
    'git-timeout': ['30', '0', '86401']
  }
  const anyValue = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.string({
      unit: fc.integer({ min: 0, max: 0xffff }).map(code => String.fromCharCode(code)),
      maxLength: 30
    }),
    inputText,
    fc.constantFrom(
      '',
      ' ',
      '\0',
      '\t\r\n',
      'true',
      'TRUE',
      '0',
      '1',
      '65535',
      '-1',
      '1e3',
      '0x10',
      ' 22 ',
      '=',
      '/',
      '-',
      '--'
    )
  )
  const valueOf = (name: InputName): fc.Arbitrary<string> =>
    fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...(plausible[name] ?? [INPUT_DEFAULTS[name]])) },
      { weight: 1, arbitrary: anyValue }
    )
  /** Every input set (or left out) at once: mostly refused somewhere, exploring each refusal. */
  const everyInput = fc.record(
    Object.fromEntries(NAMES.map(name => [name, valueOf(name)])) as Record<
      InputName,
      fc.Arbitrary<string>
    >,
    { requiredKeys: [] }
  )
  /** A few inputs changed on a valid base, so accepted settings are common too. */
  const fewInputs = fc
    .uniqueArray(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 4 })
    .chain(names => fc.tuple(...names.map(name => valueOf(name).map(value => [name, value]))))
    .map(entries => Object.fromEntries(entries) as Inputs)
  const inputsArb = fc
    .tuple(
      fc.constantFrom<Inputs>({}, VALID_INPUTS, {
        ...VALID_INPUTS,
        host: '127.0.0.1',
        'known-hosts': KNOWN_HOST
      }),
      fc.oneof(everyInput, fewInputs),
      fc.constantFrom(
        CONTEXT,
        { ...CONTEXT, workspace: '/' },
        { ...CONTEXT, workspace: '/w s/$(x)/\n' }
      )
    )
    .map(([base, overlay, context]) => ({ inputs: { ...base, ...overlay }, context }))

  const params = planned(50, 2500)
  test(`parseSettings: ${params.numRuns} runs, seed ${params.seed}`, () => {
    fc.assert(
      fc.property(inputsArb, revisionArb, nonceArb, ({ inputs, context }, revision, nonce) => {
        const parsed = tryParse(inputs, context)
        stats.count('parseSettings never throws a non-InputError', params.seed, parsed.ok)
        if (!parsed.ok) {
          assertInputError(parsed.error)
          return
        }
        const { settings } = parsed
        const strings = [
          settings.image,
          settings.mode === 'rebuild' ? settings.hook : '',
          settings.hookDir,
          settings.buildContext,
          settings.docker,
          settings.revisionLabel,
          settings.staging.service,
          settings.staging.port,
          settings.staging.composeProfile,
          settings.staging.container,
          settings.mode === 'promote' ? settings.promote.prodImage : '',
          settings.mode === 'promote' ? settings.promote.imageId : ''
        ]
        expect(strings.some(nul)).toBe(false)
        // Named exactly when staging-container was given (the check then skips compose's label).
        expect(settings.staging.containerNamed).toBe(
          (inputs['staging-container'] ?? '').trim() !== ''
        )
        // An accepted configuration always plans: no throw from quoting.
        try {
          planGateSession(settings, revision, { nonce, runId: nonce })
        } catch (error) {
          throw new Error(`planGateSession threw on accepted settings: ${describeThrown(error)}`, {
            cause: error
          })
        }
      }),
      params
    )
    const row = stats.get('parseSettings never throws a non-InputError')
    if (replaying) return
    expect(row.accepted).toBeGreaterThan(0)
    expect(row.refused).toBeGreaterThan(0)
  })

  const switchParams = planned(51, 1000)
  test(`parseSwitch: ${switchParams.numRuns} runs, seed ${switchParams.seed}`, () => {
    fc.assert(
      fc.property(inputsArb, ({ inputs }) => {
        stats.count('parseSwitch never throws a non-InputError', switchParams.seed, undefined)
        try {
          const result = parseSwitch(reader(inputs))
          expect(typeof result.enabled).toBe('boolean')
          expect(result.allowlist.every(entry => typeof entry === 'string' && entry !== '')).toBe(
            true
          )
        } catch (error) {
          if (!(error instanceof InputError))
            throw new Error(`parseSwitch threw ${describeThrown(error)}`, { cause: error })
          assertInputError(error, ['invalid-input'])
        }
      }),
      switchParams
    )
  })
})

describe('the fuzz budget', () => {
  test(`${PLANNED_RUNS.toLocaleString('en')} runs planned in total (at least 10,000)`, () => {
    expect(PLANNED_RUNS).toBeGreaterThanOrEqual(10_000)
    // What actually ran is in the summary printed after the file (fewer when a property failed early).
  })
})
