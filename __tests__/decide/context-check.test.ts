import { describe, expect, test } from '@jest/globals'
import { decideContext } from '../../src/decide/context.js'
import type { Decision } from '../../src/decide/verdict.js'
import { parseContextReport, type ContextReport } from '../../src/session/protocol.js'
import type { ContextSettings } from '../../src/settings.js'
import { decided, SHA_A, SHA_B } from '../support/fixtures.js'

const WHERE = 'deploy@staging.example.com:22'
const CTX = '/srv/shop'
const AT = `build context ${CTX} on ${WHERE}`
const BEFORE = 'the hook did not run'
const AFTER =
  'the hook (sync-context) did not leave it at the validated commit, so what it built is not proven'
const CLEAN_NOTE = `${AT}: clean work tree at 0123456789ab`
const PLAIN_NOTE = `build context not verified: ${CTX} on ${WHERE} is not a git work tree, so the gate trusts the hook to build the validated commit (check-context: true refuses this)`

const tree = (head: string, dirty = 0, first = ''): Extract<ContextReport, { kind: 'tree' }> => ({
  kind: 'tree',
  top: CTX,
  head,
  dirty,
  first
})
/** The check's outcome as the action reports it: the note of a pass, or the failed decision. */
type ContextOutcome = string | Decision

const fail = (reason: string, failure = 'stale-context', when = BEFORE): ContextOutcome => ({
  verdict: 'fail-closed',
  reason: `provenance fail-closed: ${reason}; ${when}`,
  pass: false,
  failure: failure as 'stale-context'
})

describe('decideContext', () => {
  test.each<[string, ContextReport | undefined, ContextSettings['check'], ContextOutcome]>([
    ['a clean tree at the revision (auto)', tree(SHA_A), 'auto', CLEAN_NOTE],
    ['a clean tree at the revision (true)', tree(SHA_A), 'require', CLEAN_NOTE],
    [
      'a clean tree whose top is elsewhere still decides by HEAD',
      { ...tree(SHA_A), top: '/srv' },
      'auto',
      CLEAN_NOTE
    ],
    [
      'another commit',
      tree(SHA_B),
      'auto',
      fail(`${AT} is at fedcba987654, not the validated 0123456789ab`)
    ],
    [
      'another commit with the same short form: both whole',
      tree(`${SHA_A.slice(0, 39)}8`),
      'require',
      fail(`${AT} is at ${SHA_A.slice(0, 39)}8, not the validated ${SHA_A}`)
    ],
    [
      'an unborn HEAD (empty)',
      tree(''),
      'auto',
      fail(`${AT} is at "", not the validated 0123456789ab`)
    ],
    [
      'dirty with a first file',
      tree(SHA_A, 4, '?? new.txt'),
      'auto',
      fail(`${AT} is dirty: 4 files (first: ?? new.txt), at 0123456789ab`)
    ],
    [
      'dirty without a first file',
      tree(SHA_A, 1),
      'auto',
      fail(`${AT} is dirty: 1 files, at 0123456789ab`)
    ],
    [
      'dirty with a very long first line: cut to 200 characters',
      tree(SHA_A, 1, `M ${'x'.repeat(300)}`),
      'auto',
      fail(`${AT} is dirty: 1 files (first: M ${'x'.repeat(198)}), at 0123456789ab`)
    ],
    [
      'behind and dirty: behind first',
      tree(SHA_B, 9, 'M a'),
      'auto',
      fail(`${AT} is at fedcba987654, not the validated 0123456789ab`)
    ],
    ['not a work tree under auto', { kind: 'not-a-work-tree' }, 'auto', PLAIN_NOTE],
    [
      'not a work tree under true',
      { kind: 'not-a-work-tree' },
      'require',
      fail(
        `${AT} is not a git work tree (check-context: true): nothing proves which commit it holds. Use upload-context: true, or a clone at the validated commit`
      )
    ],
    [
      'no git',
      { kind: 'no-git' },
      'auto',
      fail(
        `git is not installed on ${WHERE}, so the build context ${CTX} cannot be checked; install git there, or use upload-context: true`
      )
    ],
    [
      'dubious ownership',
      { kind: 'unsafe' },
      'auto',
      fail(
        `git on ${WHERE} refuses ${CTX}: it belongs to another user (safe.directory). Let the ssh user own it, or add it with git config --global --add safe.directory ${CTX} for that user`
      )
    ],
    [
      'git timed out: the timeout class',
      { kind: 'timeout' },
      'auto',
      fail(`git on ${WHERE} did not answer about ${CTX} within inspect-timeout`, 'timeout')
    ],
    [
      'a git call failed',
      { kind: 'failed', what: 'status' },
      'require',
      fail(`git status failed in ${AT}`)
    ],
    [
      'no report',
      undefined,
      'auto',
      fail(`${AT} could not be read (the context check gave no answer)`)
    ],
    [
      'no report under true',
      undefined,
      'require',
      fail(`${AT} could not be read (the context check gave no answer)`)
    ]
  ])('%s', (_name, report, check, outcome) => {
    expect(decided(() => decideContext(report, SHA_A, check, CTX, WHERE))).toEqual(outcome)
  })

  test.each<[string, ContextReport | undefined, ContextOutcome]>([
    ['after the hook: clean at the revision', tree(SHA_A), CLEAN_NOTE],
    [
      'after the hook: still behind',
      tree(SHA_B),
      fail(`${AT} is at fedcba987654, not the validated 0123456789ab`, 'stale-context', AFTER)
    ],
    [
      'after the hook: dirty',
      tree(SHA_A, 2, 'M x'),
      fail(`${AT} is dirty: 2 files (first: M x), at 0123456789ab`, 'stale-context', AFTER)
    ],
    [
      'after the hook: timeout',
      { kind: 'timeout' },
      fail(`git on ${WHERE} did not answer about ${CTX} within inspect-timeout`, 'timeout', AFTER)
    ]
  ])('%s', (_name, report, outcome) => {
    expect(decided(() => decideContext(report, SHA_A, 'auto', CTX, WHERE, 'after'))).toEqual(
      outcome
    )
  })
})

describe('parseContextReport, what decideContext reads', () => {
  test.each<[string, string, ContextReport | undefined]>([
    ['a clean tree', `top ${CTX}\nhead ${SHA_A}\ndirty 0\n`, tree(SHA_A)],
    [
      'a dirty tree',
      `top ${CTX}\nhead ${SHA_A}\ndirty 3\nfirst  M a b.txt\n`,
      tree(SHA_A, 3, ' M a b.txt')
    ],
    [
      'wc -l padding',
      `top ${CTX}\nhead ${SHA_A}\ndirty       2\nfirst ?? x\n`,
      tree(SHA_A, 2, '?? x')
    ],
    [
      'a top with spaces',
      `top /srv/my shop\nhead ${SHA_A}\ndirty 0`,
      { ...tree(SHA_A), top: '/srv/my shop' }
    ],
    ['no-git', 'no-git\n', { kind: 'no-git' }],
    ['not-a-work-tree', 'not-a-work-tree', { kind: 'not-a-work-tree' }],
    ['unsafe', 'unsafe\n', { kind: 'unsafe' }],
    ['timeout', 'timeout\n', { kind: 'timeout' }],
    [
      'failed after top',
      `top ${CTX}\nfailed rev-parse HEAD\n`,
      { kind: 'failed', what: 'rev-parse HEAD' }
    ],
    ['a word with more lines', 'no-git\nhead x\n', undefined],
    ['no dirty line', `top ${CTX}\nhead ${SHA_A}\n`, undefined],
    ['a dirty count that is not a number', `top ${CTX}\nhead ${SHA_A}\ndirty many\n`, undefined],
    ['no head line', `top ${CTX}\ndirty 0\n`, undefined],
    ['nothing', '', undefined],
    ['something else', 'fatal: not a git repository\n', undefined]
  ])('%s', (_name, output, report) => {
    expect(parseContextReport(output)).toEqual(report)
  })
})
