import { describe, expect, test } from '@jest/globals'
import type { FailureClass } from '../../src/errors.js'
import { decideVerdict, failClosed, shortSha, type Decision } from '../../src/verdict.js'
import { SHA_A, SHA_B } from './fixtures.js'

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
      'a shared 12-character prefix is still a mismatch',
      SHA_A,
      `${SHA_A.slice(0, 39)}8`,
      {
        verdict: 'mismatch',
        reason: 'provenance mismatch: image 0123456789ab != expected 0123456789ab',
        pass: false,
        failure: 'mismatch'
      }
    ],
    [
      'an abbreviated label is a mismatch',
      SHA_A,
      SHA_A.slice(0, 12),
      {
        verdict: 'mismatch',
        reason: 'provenance mismatch: image 0123456789ab != expected 0123456789ab',
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
    expect(decideVerdict(expected, image)).toEqual(decision)
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

describe('shortSha', () => {
  test.each([
    [SHA_A, '0123456789ab'],
    ['abc', 'abc'],
    ['', '']
  ])('%j → %j', (sha, short) => {
    expect(shortSha(sha)).toBe(short)
  })
})

describe('failClosed', () => {
  test.each<FailureClass>(['hook-failed', 'invalid-input', 'transport', 'timeout'])(
    'is a failing fail-closed decision with the given reason and class %s',
    failure => {
      expect(failClosed('because', failure)).toEqual({
        verdict: 'fail-closed',
        reason: 'because',
        pass: false,
        failure
      })
    }
  )

  test('requires a failure class', () => {
    // @ts-expect-error a fail-closed decision without a class is a type error
    const decision = failClosed('because', '')
    expect(decision.pass).toBe(false)
  })
})
