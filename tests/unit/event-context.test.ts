import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {
  describeOrigin,
  needsMergeCheck,
  readEventContext,
  type EventContext
} from '../../src/event-context.js'
import { SHA_A, SHA_B } from './fixtures.js'

/** A third commit: the merge commit GitHub makes for a pull request. */
const MERGE = '1111111111111111111111111111111111111111'

let root: string

beforeAll(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pg-event-')))
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

describe('readEventContext', () => {
  test.each<[string, string, string | undefined, EventContext]>([
    [
      'pull_request: the head SHA from the payload',
      'pull_request',
      prPayload(SHA_B),
      { eventName: 'pull_request', sha: MERGE, prHeadSha: SHA_B }
    ],
    [
      'pull_request_target: the head SHA from the payload',
      'pull_request_target',
      prPayload(SHA_B),
      { eventName: 'pull_request_target', sha: MERGE, prHeadSha: SHA_B }
    ],
    [
      'push: the payload is not read for a head SHA',
      'push',
      JSON.stringify({ after: SHA_A, pull_request: { head: { sha: SHA_B } } }),
      { eventName: 'push', sha: MERGE, prHeadSha: '' }
    ],
    [
      'workflow_dispatch with an empty payload',
      'workflow_dispatch',
      '{}',
      { eventName: 'workflow_dispatch', sha: MERGE, prHeadSha: '' }
    ],
    [
      'pull_request with a payload that is not JSON',
      'pull_request',
      'not json {',
      { eventName: 'pull_request', sha: MERGE, prHeadSha: '' }
    ],
    [
      'pull_request with an empty payload file',
      'pull_request',
      '',
      { eventName: 'pull_request', sha: MERGE, prHeadSha: '' }
    ],
    [
      'pull_request with a JSON null payload',
      'pull_request',
      'null',
      { eventName: 'pull_request', sha: MERGE, prHeadSha: '' }
    ],
    [
      'pull_request without pull_request in the payload',
      'pull_request',
      JSON.stringify({ action: 'opened' }),
      { eventName: 'pull_request', sha: MERGE, prHeadSha: '' }
    ],
    [
      'pull_request whose head sha is not a string',
      'pull_request',
      prPayload(42),
      { eventName: 'pull_request', sha: MERGE, prHeadSha: '' }
    ],
    [
      'pull_request whose payload file does not exist',
      'pull_request',
      undefined,
      { eventName: 'pull_request', sha: MERGE, prHeadSha: '' }
    ]
  ])('%s', (name, eventName, content, expected) => {
    const env = {
      GITHUB_EVENT_NAME: eventName,
      GITHUB_SHA: MERGE,
      GITHUB_EVENT_PATH: payloadFile(name, content)
    }
    expect(readEventContext(env)).toEqual(expected)
  })

  test('a payload path that is a directory costs only the head SHA', () => {
    const env = { GITHUB_EVENT_NAME: 'pull_request', GITHUB_SHA: MERGE, GITHUB_EVENT_PATH: root }
    expect(readEventContext(env)).toEqual({
      eventName: 'pull_request',
      sha: MERGE,
      prHeadSha: ''
    })
  })

  test.each<[string, NodeJS.ProcessEnv]>([
    ['no variables at all', {}],
    ['empty variables', { GITHUB_EVENT_NAME: '', GITHUB_SHA: '', GITHUB_EVENT_PATH: '' }]
  ])('%s: everything empty', (_name, env) => {
    expect(readEventContext(env)).toEqual({ eventName: '', sha: '', prHeadSha: '' })
  })

  test('a pull request without GITHUB_EVENT_PATH has no head SHA', () => {
    expect(readEventContext({ GITHUB_EVENT_NAME: 'pull_request', GITHUB_SHA: MERGE })).toEqual({
      eventName: 'pull_request',
      sha: MERGE,
      prHeadSha: ''
    })
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
