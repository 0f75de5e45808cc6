import { describe, expect, test } from '@jest/globals'
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
      'whitespace around either side is trimmed',
      `  ${SHA_A}\n`,
      `\t${SHA_A} \r\n`,
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
        reason: 'provenance mismatch: image 0123456789AB != expected 0123456789ab',
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
        reason: 'provenance mismatch: image main != expected 0123456789ab',
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
      'whitespace-only expected revision fails closed',
      ' \n ',
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
      'whitespace-only image revision fails closed',
      SHA_A,
      '\t\n',
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
  test('is a failing fail-closed decision with the given reason', () => {
    expect(failClosed('because', 'hook-failed')).toEqual({
      verdict: 'fail-closed',
      reason: 'because',
      pass: false,
      failure: 'hook-failed'
    })
  })
})
