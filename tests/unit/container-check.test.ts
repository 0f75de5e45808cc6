import { describe, expect, test } from '@jest/globals'
import { decideContainer, shortId, type ContainerAnswer } from '../../src/container-check.js'
import type { ContainerCheck } from '../../src/settings.js'
import type { Decision } from '../../src/verdict.js'
import { IMAGE_HEX } from './fixtures.js'

const VERIFIED = `sha256:${IMAGE_HEX}`
const OTHER_HEX = 'b'.repeat(64)
const OTHER = `sha256:${OTHER_HEX}`
const CONTAINER = 'shop-staging'

const stale = (reason: string): Decision => ({
  verdict: 'fail-closed',
  reason,
  pass: false,
  failure: 'stale-container'
})
const runsOther = stale(
  `provenance fail-closed: the staging container ${CONTAINER} runs image sha256:bbbbbbbbbbbb, not the verified sha256:a3f1c2d4e5b6: it was not recreated after the rebuild`
)
const absent = stale(
  `provenance fail-closed: the staging container ${CONTAINER} does not exist on the host (check-container true)`
)

describe('shortId', () => {
  test.each<[string, string]>([
    [VERIFIED, 'sha256:a3f1c2d4e5b6'],
    [IMAGE_HEX, 'a3f1c2d4e5b6'],
    ['sha256:abc', 'sha256:abc'],
    ['sha256:', 'sha256:'],
    ['', ''],
    ['sha512:0123456789abcdef', 'sha512:01234'],
    ['SHA256:0123456789abcdef', 'SHA256:01234']
  ])('%j → %j', (id, short) => {
    expect(shortId(id)).toBe(short)
  })
})

describe('decideContainer', () => {
  const missing: ContainerAnswer = { exists: false }
  const same: ContainerAnswer = { exists: true, imageId: VERIFIED }
  const other: ContainerAnswer = { exists: true, imageId: OTHER }

  test.each<[string, ContainerAnswer | undefined, ContainerCheck, Decision | undefined]>([
    ['not checked (no answer), auto', undefined, 'auto', undefined],
    ['not checked (no answer), require', undefined, 'require', undefined],
    ['skip ignores a container running another image', other, 'skip', undefined],
    ['skip ignores a missing container', missing, 'skip', undefined],
    ['auto: same image id passes', same, 'auto', undefined],
    ['require: same image id passes', same, 'require', undefined],
    [
      'auto: a missing container passes (nothing runs, nothing is stale)',
      missing,
      'auto',
      undefined
    ],
    ['require: a missing container fails', missing, 'require', absent],
    ['auto: another image id is stale', other, 'auto', runsOther],
    ['require: another image id is stale', other, 'require', runsOther],
    [
      'ids are compared exactly (the gate normalises the prefix before)',
      { exists: true, imageId: IMAGE_HEX },
      'auto',
      stale(
        `provenance fail-closed: the staging container ${CONTAINER} runs image a3f1c2d4e5b6, not the verified sha256:a3f1c2d4e5b6: it was not recreated after the rebuild`
      )
    ]
  ])('%s', (_name, answer, check, decision) => {
    expect(decideContainer(answer, VERIFIED, check, CONTAINER)).toEqual(decision)
  })

  test('the reason names the container as configured', () => {
    const decision = decideContainer(other, VERIFIED, 'auto', 'web-blue-1')
    expect(decision?.reason).toContain('the staging container web-blue-1 runs image')
  })
})
