import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {
  describeOrigin,
  fromGithubContext,
  loadGithubRun,
  needsMergeCheck,
  type EventContext,
  type GithubContext,
  type GithubRun
} from '../../src/event-context.js'
import { SHA_A, SHA_B } from '../support/fixtures.js'

/** A third commit: the merge commit GitHub makes for a pull request. */
const MERGE = '1111111111111111111111111111111111111111'

let root: string
const savedEnv = { ...process.env }
const RUN_VARIABLES = [
  'GITHUB_EVENT_NAME',
  'GITHUB_EVENT_PATH',
  'GITHUB_SHA',
  'GITHUB_REPOSITORY',
  'GITHUB_SERVER_URL'
]

beforeAll(async () => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pg-event-')))
  // @actions/github builds its own context while it is imported: import it once with no payload,
  // as the action's first import on a runner with a readable one does.
  for (const name of RUN_VARIABLES) delete process.env[name]
  await import('@actions/github')
})

afterEach(() => {
  process.env = { ...savedEnv }
})

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true })
})

/** Writes an event payload file and returns its path; `undefined` means no file at all. */
function payloadFile(name: string, content: string | undefined): string {
  const file = path.join(root, `${name.replace(/\W+/g, '-')}.json`)
  if (content !== undefined) fs.writeFileSync(file, content)
  return file
}

const prPayload = (sha: unknown): string =>
  JSON.stringify({ action: 'synchronize', number: 7, pull_request: { head: { sha, ref: 'fix' } } })

/** What a run of this event reads when the payload is of no use: everything but the head SHA. */
const withoutHead = (eventName: string): EventContext => ({ eventName, sha: MERGE, prHeadSha: '' })

describe('loadGithubRun (the real @actions/github context, real payload files)', () => {
  /** Sets the runner's variables for one run; `payload` undefined: a path to no file. */
  function runner(eventName: string, payload: string | undefined, name: string): void {
    for (const variable of RUN_VARIABLES) delete process.env[variable]
    process.env.GITHUB_EVENT_NAME = eventName
    process.env.GITHUB_SHA = MERGE
    process.env.GITHUB_REPOSITORY = 'acme/shop'
    process.env.GITHUB_EVENT_PATH = payloadFile(name, payload)
  }

  test.each<[string, string, string | undefined, EventContext, boolean]>([
    [
      'pull_request: the head SHA from the payload',
      'pull_request',
      prPayload(SHA_B),
      { eventName: 'pull_request', sha: MERGE, prHeadSha: SHA_B },
      false
    ],
    [
      'pull_request_target: the head SHA from the payload',
      'pull_request_target',
      prPayload(SHA_B),
      { eventName: 'pull_request_target', sha: MERGE, prHeadSha: SHA_B },
      false
    ],
    [
      'push: the payload is not read for a head SHA',
      'push',
      JSON.stringify({ after: SHA_A, pull_request: { head: { sha: SHA_B } } }),
      withoutHead('push'),
      false
    ],
    [
      'workflow_dispatch with an empty payload',
      'workflow_dispatch',
      '{}',
      withoutHead('workflow_dispatch'),
      false
    ],
    [
      'pull_request with a payload that is not JSON',
      'pull_request',
      'not json {',
      withoutHead('pull_request'),
      true
    ],
    [
      'pull_request with an empty payload file',
      'pull_request',
      '',
      withoutHead('pull_request'),
      true
    ],
    [
      'pull_request with a JSON null payload',
      'pull_request',
      'null',
      withoutHead('pull_request'),
      false
    ],
    [
      'pull_request without pull_request in the payload',
      'pull_request',
      JSON.stringify({ action: 'opened' }),
      withoutHead('pull_request'),
      false
    ],
    [
      'pull_request whose head sha is not a string',
      'pull_request',
      prPayload(42),
      withoutHead('pull_request'),
      false
    ],
    [
      'pull_request whose payload file does not exist',
      'pull_request',
      undefined,
      withoutHead('pull_request'),
      false
    ]
  ])('%s', async (name, eventName, content, event, problem) => {
    runner(eventName, content, name)
    const run = await loadGithubRun()
    expect(run).toEqual({
      repository: 'acme/shop',
      serverUrl: 'https://github.com',
      event,
      problem: problem ? expect.stringContaining('@actions/github could not read the event: ') : ''
    })
  })

  test('a payload path that is a directory costs only the head SHA', async () => {
    runner('pull_request', undefined, 'unused')
    process.env.GITHUB_EVENT_PATH = root
    const run = await loadGithubRun()
    expect(run.event).toEqual(withoutHead('pull_request'))
    expect(run.problem).toMatch(/EISDIR/)
  })

  test('reads the server URL of a GitHub Enterprise Server', async () => {
    runner('push', '{}', 'ghes')
    process.env.GITHUB_SERVER_URL = 'https://ghe.example.com'
    expect((await loadGithubRun()).serverUrl).toBe('https://ghe.example.com')
  })

  test.each<[string, NodeJS.ProcessEnv]>([
    ['no variables at all', {}],
    [
      'empty variables',
      {
        GITHUB_EVENT_NAME: '',
        GITHUB_SHA: '',
        GITHUB_EVENT_PATH: '',
        GITHUB_REPOSITORY: '',
        GITHUB_SERVER_URL: ''
      }
    ]
  ])('%s: everything empty, github.com', async (_name, env) => {
    for (const variable of RUN_VARIABLES) delete process.env[variable]
    Object.assign(process.env, env)
    expect(await loadGithubRun()).toEqual({
      repository: '',
      serverUrl: 'https://github.com',
      event: { eventName: '', sha: '', prHeadSha: '' },
      problem: ''
    })
  })
})

describe('fromGithubContext', () => {
  /** A context as @actions/github builds it; `repo` throws as the package's does without a name. */
  const context = (over: Partial<GithubContext>, repo?: [string, string]): GithubContext => ({
    eventName: 'pull_request',
    sha: MERGE,
    serverUrl: 'https://github.com',
    payload: JSON.parse(prPayload(SHA_B)),
    get repo() {
      if (!repo) throw new Error('context.repo requires a GITHUB_REPOSITORY environment variable')
      return { owner: repo[0], repo: repo[1] }
    },
    ...over
  })

  test.each<[string, GithubContext, NodeJS.ProcessEnv, Partial<GithubRun>]>([
    [
      'owner/name from context.repo',
      context({}, ['acme', 'shop']),
      {},
      { repository: 'acme/shop' }
    ],
    ['no repository anywhere: empty', context({}), {}, { repository: '' }],
    [
      'a GITHUB_REPOSITORY that is not owner/name is kept as it is',
      context({}, ['shop', undefined as unknown as string]),
      { GITHUB_REPOSITORY: 'shop' },
      { repository: 'shop' }
    ],
    [
      'an empty server URL is github.com',
      context({ serverUrl: '' }),
      {},
      { serverUrl: 'https://github.com' }
    ],
    [
      'a payload that is not an object has no head SHA',
      context({ payload: 42 }),
      {},
      { event: withoutHead('pull_request') }
    ],
    [
      'unset event name and SHA are empty',
      context({ eventName: undefined, sha: undefined }),
      {},
      { event: { eventName: '', sha: '', prHeadSha: '' } }
    ]
  ])('%s', (_name, githubContext, env, expected) => {
    expect(fromGithubContext(githubContext, env)).toMatchObject(expected)
  })
})

const pr = (over: Partial<EventContext> = {}): EventContext => ({
  eventName: 'pull_request',
  sha: MERGE,
  prHeadSha: SHA_B,
  ...over
})

describe('needsMergeCheck', () => {
  test.each<[string, EventContext, string, boolean]>([
    ['pull_request, HEAD is not the PR head', pr(), MERGE, true],
    [
      'pull_request_target, HEAD is not the PR head',
      pr({ eventName: 'pull_request_target' }),
      SHA_A,
      true
    ],
    ['pull_request, HEAD is the PR head (checked out by ref)', pr(), SHA_B, false],
    ['pull_request without a head SHA (unreadable payload)', pr({ prHeadSha: '' }), MERGE, false],
    ['push', { eventName: 'push', sha: SHA_A, prHeadSha: '' }, SHA_A, false],
    [
      'push with a stray head SHA',
      { eventName: 'push', sha: SHA_A, prHeadSha: SHA_B },
      SHA_A,
      false
    ],
    ['no event', { eventName: '', sha: '', prHeadSha: '' }, SHA_A, false]
  ])('%s → %s', (_name, event, head, needed) => {
    expect(needsMergeCheck(event, head)).toBe(needed)
  })
})

describe('describeOrigin', () => {
  const mergeWarning = `HEAD 111111111111 is the merge commit GitHub made for this pull request, not its head fedcba987654. The gate requires the image to be built from HEAD (what this run tested); a hook that builds the PR head will be reported as a mismatch. Build from GIT_SHA, or check out the head (actions/checkout with ref: \${{ github.event.pull_request.head.sha }}).`

  test.each<[string, EventContext, string, boolean, string, string]>([
    [
      'pull_request, HEAD is the merge commit',
      pr(),
      MERGE,
      true,
      `event pull_request: GITHUB_SHA ${MERGE}, pull request head ${SHA_B}, HEAD ${MERGE}`,
      mergeWarning
    ],
    [
      'pull_request, HEAD differs but is not a merge commit',
      pr(),
      MERGE,
      false,
      `event pull_request: GITHUB_SHA ${MERGE}, pull request head ${SHA_B}, HEAD ${MERGE}`,
      ''
    ],
    [
      'pull_request, HEAD is the PR head: no warning even if told it is a merge',
      pr(),
      SHA_B,
      true,
      `event pull_request: GITHUB_SHA ${MERGE}, pull request head ${SHA_B}, HEAD ${SHA_B}`,
      ''
    ],
    [
      'pull_request without a head SHA',
      pr({ prHeadSha: '' }),
      MERGE,
      true,
      `event pull_request: GITHUB_SHA ${MERGE}, pull request head (none), HEAD ${MERGE}`,
      ''
    ],
    [
      'push: no warning',
      { eventName: 'push', sha: SHA_A, prHeadSha: '' },
      SHA_A,
      true,
      `event push: GITHUB_SHA ${SHA_A}, pull request head (none), HEAD ${SHA_A}`,
      ''
    ],
    [
      'no event at all (a local run)',
      { eventName: '', sha: '', prHeadSha: '' },
      SHA_A,
      false,
      `event (none): GITHUB_SHA (unset), pull request head (none), HEAD ${SHA_A}`,
      ''
    ]
  ])('%s', (_name, event, head, merge, line, warning) => {
    expect(describeOrigin(event, head, merge)).toEqual({ line, warning })
  })
})
