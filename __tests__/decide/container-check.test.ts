import { describe, expect, test } from '@jest/globals'
import {
  decideContainer,
  shortId,
  type ContainerAnswer,
  type ContainerState
} from '../../src/decide/container.js'
import type { ContainerCheck } from '../../src/settings.js'
import type { Decision } from '../../src/decide/verdict.js'
import { decided, IMAGE_HEX, reasonOf } from '../support/fixtures.js'

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
  const state = (name: string, imageId: string, running: boolean): ContainerState => ({
    name,
    imageId,
    running
  })
  const answer = (...containers: ContainerState[]): ContainerAnswer => ({
    exists: true,
    containers
  })
  const missing: ContainerAnswer = { exists: false }
  const same = answer(state(CONTAINER, VERIFIED, true))
  const other = answer(state(CONTAINER, OTHER, true))
  const stoppedOther = answer(state(CONTAINER, OTHER, false))
  const stoppedSame = answer(state(CONTAINER, VERIFIED, false))
  const stopped = (names: string): Decision =>
    stale(
      `provenance fail-closed: the staging container ${names} exists but is not running (check-container true)`
    )
  const runs = (name: string, short: string): Decision =>
    stale(
      `provenance fail-closed: the staging container ${name} runs image ${short}, not the verified sha256:a3f1c2d4e5b6: it was not recreated after the rebuild`
    )

  test.each<[string, ContainerAnswer | undefined, ContainerCheck, Decision | undefined]>([
    ['not checked (no answer), auto', undefined, 'auto', undefined],
    ['not checked (no answer), require', undefined, 'require', undefined],
    ['skip ignores a container running another image', other, 'skip', undefined],
    ['skip ignores a missing container', missing, 'skip', undefined],
    ['skip ignores a stopped container', stoppedOther, 'skip', undefined],
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
    [
      'an image id differing from the verified one after 12 digits is shown whole',
      answer(state(CONTAINER, `sha256:${IMAGE_HEX.slice(0, 63)}0`, true)),
      'auto',
      stale(
        `provenance fail-closed: the staging container ${CONTAINER} runs image sha256:${IMAGE_HEX.slice(0, 63)}0, not the verified ${VERIFIED}: it was not recreated after the rebuild`
      )
    ],
    ['require: another image id is stale', other, 'require', runsOther],
    [
      'auto: a stopped container with another image is ignored (it runs nothing)',
      stoppedOther,
      'auto',
      undefined
    ],
    ['auto: a stopped container with the verified image passes', stoppedSame, 'auto', undefined],
    [
      'require: a stopped container with another image fails as not running, not as stale',
      stoppedOther,
      'require',
      stopped(CONTAINER)
    ],
    [
      'require: a stopped container with the verified image still fails: nothing runs',
      stoppedSame,
      'require',
      stopped(CONTAINER)
    ],
    [
      'require: several stopped containers are all named, in the host order',
      answer(state('shop-web-2', OTHER, false), state('shop-web-1', VERIFIED, false)),
      'require',
      stopped('shop-web-2, shop-web-1')
    ],
    [
      'auto: several stopped containers pass',
      answer(state('shop-web-1', OTHER, false), state('shop-web-2', OTHER, false)),
      'auto',
      undefined
    ],
    [
      'auto: mixed, the running one fresh and a stopped one stale: passes',
      answer(state('shop-web-1', OTHER, false), state('shop-web-2', VERIFIED, true)),
      'auto',
      undefined
    ],
    [
      'require: mixed, the running one fresh and a stopped one stale: passes',
      answer(state('shop-web-1', OTHER, false), state('shop-web-2', VERIFIED, true)),
      'require',
      undefined
    ],
    [
      'auto: mixed, the running one stale and a stopped one fresh: stale, naming the running one',
      answer(state('shop-web-1', VERIFIED, false), state('shop-web-2', OTHER, true)),
      'auto',
      runs('shop-web-2', 'sha256:bbbbbbbbbbbb')
    ],
    [
      'require: mixed, the running one stale: stale, not "not running"',
      answer(state('shop-web-1', VERIFIED, false), state('shop-web-2', OTHER, true)),
      'require',
      runs('shop-web-2', 'sha256:bbbbbbbbbbbb')
    ],
    [
      'auto: several running, all fresh: passes',
      answer(state('shop-web-1', VERIFIED, true), state('shop-web-2', VERIFIED, true)),
      'auto',
      undefined
    ],
    [
      'require: several running, all fresh: passes',
      answer(state('shop-web-1', VERIFIED, true), state('shop-web-2', VERIFIED, true)),
      'require',
      undefined
    ],
    [
      'auto: several running, the second stale: names the second',
      answer(state('shop-web-1', VERIFIED, true), state('shop-web-2', OTHER, true)),
      'auto',
      runs('shop-web-2', 'sha256:bbbbbbbbbbbb')
    ],
    [
      'auto: several running and stale: names the first stale one in the host order',
      answer(
        state('shop-web-1', VERIFIED, true),
        state('shop-web-3', `sha256:${'c'.repeat(64)}`, true),
        state('shop-web-2', OTHER, true)
      ),
      'auto',
      runs('shop-web-3', 'sha256:cccccccccccc')
    ],
    ['an empty container list counts as none running: auto passes', answer(), 'auto', undefined],
    [
      'an empty container list counts as none running: require fails as not running',
      answer(),
      'require',
      stopped('')
    ],
    [
      'ids are compared exactly (the gate normalises the prefix before)',
      answer(state(CONTAINER, IMAGE_HEX, true)),
      'auto',
      stale(
        `provenance fail-closed: the staging container ${CONTAINER} runs image a3f1c2d4e5b6, not the verified sha256:a3f1c2d4e5b6: it was not recreated after the rebuild`
      )
    ]
  ])('%s', (_name, answer, check, decision) => {
    expect(decided(() => decideContainer(answer, VERIFIED, check, CONTAINER))).toEqual(decision)
  })

  test('the stale reason names the container as the host reported it, not as configured', () => {
    const reason = reasonOf(() =>
      decideContainer(answer(state('proj-web-1', OTHER, true)), VERIFIED, 'auto', 'web')
    )
    expect(reason).toContain('the staging container proj-web-1 runs image')
    expect(reason).not.toContain('container web ')
  })

  test('the missing reason names the container as configured', () => {
    const reason = reasonOf(() => decideContainer(missing, VERIFIED, 'require', 'web-blue-1'))
    expect(reason).toContain('the staging container web-blue-1 does not exist')
  })

  test('the not-running reason names the containers the host reported', () => {
    const reason = reasonOf(() =>
      decideContainer(answer(state('proj-web-1', VERIFIED, false)), VERIFIED, 'require', 'web')
    )
    expect(reason).toContain('the staging container proj-web-1 exists but is not running')
  })
})
