import { describe, expect, test } from '@jest/globals'
import { GateError, InputError, type FailureClass } from '../../src/errors.js'
import {
  decideVerdict,
  failedDecision,
  shortSha,
  showPair,
  type Decision
} from '../../src/decide/verdict.js'
import { decided, SHA_A, SHA_B } from '../support/fixtures.js'

const SHA256_A = `${SHA_A}${'0123456789abcdef01234567'}`

describe('decideVerdict', () => {
  test.each<[string, string, string, Decision]>([
    [
      'equal revisions match',
      SHA_A,
      SHA_A,
      { verdict: 'match', reason: 'provenance match: 0123456789ab', pass: true, failure: '' }
    ],
    [
      'equal SHA-256 revisions match',
      SHA256_A,
      SHA256_A,
      { verdict: 'match', reason: 'provenance match: 0123456789ab', pass: true, failure: '' }
    ],
    [
      'different revisions mismatch',
      SHA_A,
      SHA_B,
      {
        verdict: 'mismatch',
        reason: 'provenance mismatch: image fedcba987654 != expected 0123456789ab',
        pass: false,
        failure: 'mismatch'
      }
    ],
    [
      'a shared 12-character prefix is still a mismatch, shown whole',
      SHA_A,
      `${SHA_A.slice(0, 39)}8`,
      {
        verdict: 'mismatch',
        reason: `provenance mismatch: image ${SHA_A.slice(0, 39)}8 != expected ${SHA_A}`,
        pass: false,
        failure: 'mismatch'
      }
    ],
    [
      'an abbreviated label is a mismatch, shown whole',
      SHA_A,
      SHA_A.slice(0, 12),
      {
        verdict: 'mismatch',
        reason: `provenance mismatch: image 0123456789ab != expected ${SHA_A}`,
        pass: false,
        failure: 'mismatch'
      }
    ],
    [
      'a SHA-256 revision against its SHA-1-length prefix, shown whole',
      SHA256_A,
      SHA_A,
      {
        verdict: 'mismatch',
        reason: `provenance mismatch: image ${SHA_A} != expected ${SHA256_A}`,
        pass: false,
        failure: 'mismatch'
      }
    ],
    [
      'comparison is case-sensitive',
      SHA_A,
      SHA_A.toUpperCase(),
      {
        verdict: 'mismatch',
        reason:
          'provenance mismatch: image "0123456789ABCDEF0123456789ABCDEF01234567" != expected 0123456789ab',
        pass: false,
        failure: 'mismatch'
      }
    ],
    [
      'short label values are shown whole',
      SHA_A,
      'main',
      {
        verdict: 'mismatch',
        reason: 'provenance mismatch: image "main" != expected 0123456789ab',
        pass: false,
        failure: 'mismatch'
      }
    ],
    [
      'empty expected revision fails closed',
      '',
      SHA_A,
      {
        verdict: 'fail-closed',
        reason: 'provenance fail-closed: empty expected revision',
        pass: false,
        failure: 'empty-revision'
      }
    ],
    [
      'empty image revision fails closed',
      SHA_A,
      '',
      {
        verdict: 'fail-closed',
        reason: 'provenance fail-closed: image has no revision label',
        pass: false,
        failure: 'missing-label'
      }
    ],
    [
      'both empty report the expected side first',
      '',
      '',
      {
        verdict: 'fail-closed',
        reason: 'provenance fail-closed: empty expected revision',
        pass: false,
        failure: 'empty-revision'
      }
    ]
  ])('%s', (_name, expected, image, decision) => {
    expect(decided(() => decideVerdict(expected, image))).toEqual(decision)
  })
})

/** Exact comparison: nothing is trimmed, so a label that is almost right is a mismatch to look at. */
describe('decideVerdict is exact', () => {
  const mismatchOf = (reason: string): Decision => ({
    verdict: 'mismatch',
    reason: `provenance mismatch: ${reason}`,
    pass: false,
    failure: 'mismatch'
  })

  test.each<[string, string, string, string]>([
    [
      'a trailing newline on the label',
      SHA_A,
      `${SHA_A}\n`,
      `image "${SHA_A}\\n" (surrounding whitespace) != expected 0123456789ab`
    ],
    [
      'CRLF on the label',
      SHA_A,
      `${SHA_A}\r\n`,
      `image "${SHA_A}\\r\\n" (surrounding whitespace) != expected 0123456789ab`
    ],
    [
      'a leading space on the label',
      SHA_A,
      ` ${SHA_A}`,
      `image " ${SHA_A}" (surrounding whitespace) != expected 0123456789ab`
    ],
    [
      'a tab around the label',
      SHA_A,
      `\t${SHA_A}\t`,
      `image "\\t${SHA_A}\\t" (surrounding whitespace) != expected 0123456789ab`
    ],
    [
      'a whitespace-only label',
      SHA_A,
      ' \n',
      'image " \\n" (surrounding whitespace) != expected 0123456789ab'
    ],
    [
      'whitespace around the expected revision',
      `${SHA_A}\n`,
      SHA_A,
      `image 0123456789ab != expected "${SHA_A}\\n" (surrounding whitespace)`
    ],
    [
      'whitespace on both sides is compared, not trimmed',
      ` ${SHA_A}`,
      `${SHA_A} `,
      `image "${SHA_A} " (surrounding whitespace) != expected " ${SHA_A}" (surrounding whitespace)`
    ],
    [
      'two revisions on two lines (81 characters, cut to 80)',
      SHA_A,
      `${SHA_A}\n${SHA_B}`,
      `image "${SHA_A}\\n${SHA_B.slice(0, 39)}…" != expected 0123456789ab`
    ],
    [
      'a quote in the label is escaped, not closing the quotes',
      SHA_A,
      'v1 "stable"',
      'image "v1 \\"stable\\"" != expected 0123456789ab'
    ],
    [
      'a long label is cut to 80 characters',
      SHA_A,
      'x'.repeat(200),
      `image "${'x'.repeat(80)}…" != expected 0123456789ab`
    ],
    [
      'a long label with a newline at the end is cut, the whitespace still noted',
      SHA_A,
      `${'y'.repeat(100)}\n`,
      `image "${'y'.repeat(80)}…" (surrounding whitespace) != expected 0123456789ab`
    ],
    ['a 7-hex label is a short name', SHA_A, 'abcdef0', 'image abcdef0 != expected 0123456789ab'],
    ['a 6-hex label is quoted', SHA_A, 'abcdef', 'image "abcdef" != expected 0123456789ab'],
    [
      'a label with a sha1: prefix is quoted',
      SHA_A,
      `sha1:${SHA_A}`,
      `image "sha1:${SHA_A}" != expected 0123456789ab`
    ],
    [
      'a 65-hex label is quoted whole',
      SHA_A,
      `${SHA_A}${'0'.repeat(25)}`,
      `image "${SHA_A}${'0'.repeat(25)}" != expected 0123456789ab`
    ]
  ])('%s is a mismatch', (_name, expected, image, reason) => {
    expect(decideVerdict(expected, image)).toEqual(mismatchOf(reason))
  })

  test('a mismatch reason is one line, whatever the label holds', () => {
    const reason = decideVerdict(SHA_A, `${SHA_A}\r\n\u2028x\n`).reason
    expect(reason).not.toMatch(/[\r\n]/)
  })
})

describe('showPair', () => {
  const LONG_A = `v1-${'x'.repeat(100)}-a`
  const LONG_B = `v1-${'x'.repeat(100)}-b`
  const HUGE = 'z'.repeat(300)
  test.each<[string, string, string, [string, string]]>([
    ['different short forms stay short', SHA_A, SHA_B, ['0123456789ab', 'fedcba987654']],
    ['equal values stay short', SHA_A, SHA_A, ['0123456789ab', '0123456789ab']],
    [
      'a difference after character 12',
      SHA_A,
      `${SHA_A.slice(0, 39)}8`,
      [SHA_A, `${SHA_A.slice(0, 39)}8`]
    ],
    ['an abbreviation', SHA_A.slice(0, 12), SHA_A, [SHA_A.slice(0, 12), SHA_A]],
    [
      'long quoted values differing after 80 characters',
      LONG_A,
      LONG_B,
      [JSON.stringify(LONG_A), JSON.stringify(LONG_B)]
    ],
    [
      'very long values show where they differ',
      `${HUGE}a`,
      `${HUGE}b`,
      [
        `…${JSON.stringify(`${'z'.repeat(40)}a`)} (from character 261 of 301)`,
        `…${JSON.stringify(`${'z'.repeat(40)}b`)} (from character 261 of 301)`
      ]
    ],
    [
      'a quoted value with whitespace keeps the note',
      `${LONG_A}\n`,
      `${LONG_A} `,
      [
        `${JSON.stringify(`${LONG_A}\n`)} (surrounding whitespace)`,
        `${JSON.stringify(`${LONG_A} `)} (surrounding whitespace)`
      ]
    ]
  ])('%s', (_name, a, b, shown) => {
    expect(showPair(a, b)).toEqual(shown)
    const [first, second] = shown
    if (a !== b) expect(first).not.toBe(second)
  })

  test.each<[string, string, [string, string]]>([
    [
      `sha256:${'a'.repeat(64)}`,
      `sha256:${'b'.repeat(64)}`,
      ['sha256:aaaaaaaaaaaa', 'sha256:bbbbbbbbbbbb']
    ],
    [
      `sha256:${'a'.repeat(63)}1`,
      `sha256:${'a'.repeat(63)}2`,
      [`sha256:${'a'.repeat(63)}1`, `sha256:${'a'.repeat(63)}2`]
    ]
  ])('with another short form: %s, %s', (a, b, shown) => {
    expect(showPair(a, b, id => id.slice(0, 19))).toEqual(shown)
  })
})

describe('shortSha', () => {
  test.each([
    [SHA_A, '0123456789ab'],
    ['abc', 'abc'],
    ['', '']
  ])('%j → %j', (sha, short) => {
    expect(shortSha(sha)).toBe(short)
  })
})

describe('failedDecision, the one place a failure becomes a verdict', () => {
  test.each<[string, unknown, string, FailureClass]>([
    [
      'a GateError keeps its class and message, behind the prefix',
      new GateError('hook-failed', 'hook failed (exit code 2)'),
      'provenance fail-closed: hook failed (exit code 2)',
      'hook-failed'
    ],
    [
      'an InputError is a GateError too',
      new InputError('input mode is wrong', 'prod-target'),
      'provenance fail-closed: input mode is wrong',
      'prod-target'
    ],
    [
      'an unexpected Error gets the class of the phase it broke',
      new TypeError('x is undefined'),
      'provenance fail-closed: unexpected error: x is undefined',
      'inspect-failed'
    ],
    [
      'a thrown non-Error is worded too',
      'boom',
      'provenance fail-closed: unexpected error: boom',
      'inspect-failed'
    ]
  ])('%s', (_name, error, reason, failure) => {
    expect(failedDecision(error, 'inspect-failed')).toEqual({
      verdict: 'fail-closed',
      reason,
      pass: false,
      failure
    })
  })
})
