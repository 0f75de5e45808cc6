import { describe, expect, test } from '@jest/globals'
import { decideSource, normalizeRepositoryUrl, SOURCE_LABEL } from '../../src/decide/source.js'
import { decided } from '../support/fixtures.js'
import type { Decision } from '../../src/decide/verdict.js'

const REPO = 'https://github.com/acme/shop'

const wrong = (reason: string): Decision => ({
  verdict: 'fail-closed',
  reason,
  pass: false,
  failure: 'wrong-source'
})
const builtFrom = (source: string, repository = REPO): Decision =>
  wrong(
    `provenance fail-closed: the image was built from ${JSON.stringify(source)}, not from ${repository}`
  )
const noLabel = wrong(
  `provenance fail-closed: the image has no ${SOURCE_LABEL} label and require-source is true`
)

describe('normalizeRepositoryUrl', () => {
  test.each<[string, string]>([
    [REPO, REPO],
    ['https://GitHub.com/Acme/Shop', REPO],
    ['https://github.com/acme/shop.git', REPO],
    ['https://github.com/acme/shop/', REPO],
    ['https://github.com/acme/shop///', REPO],
    ['https://github.com/acme/shop.git/', REPO],
    ['  https://github.com/acme/shop \n', REPO],
    ['HTTPS://GITHUB.COM/ACME/SHOP.GIT', REPO],
    // Only one suffix goes, and only at the end.
    ['https://github.com/acme/shop.git.git', 'https://github.com/acme/shop.git'],
    ['https://github.com/acme/shop.github', 'https://github.com/acme/shop.github'],
    ['https://github.com/acme.git/shop', 'https://github.com/acme.git/shop'],
    ['', '']
  ])('%j → %j', (url, normalized) => {
    expect(normalizeRepositoryUrl(url)).toBe(normalized)
  })
})

describe('decideSource', () => {
  const label = (source: string): Record<string, string> => ({ [SOURCE_LABEL]: source })

  test.each<[string, Record<string, string>, string, boolean, Decision | undefined]>([
    ['no source label, not required: passes', {}, REPO, false, undefined],
    ['no source label, required: wrong-source', {}, REPO, true, noLabel],
    ['other labels only, required', { maintainer: 'ops' }, REPO, true, noLabel],
    ['empty source label counts as missing (not required)', label(''), REPO, false, undefined],
    ['empty source label counts as missing (required)', label(''), REPO, true, noLabel],
    ['blank source label counts as missing (required)', label(' \n'), REPO, true, noLabel],
    ['the same repository', label(REPO), REPO, false, undefined],
    ['the same repository, required', label(REPO), REPO, true, undefined],
    ['differs only by case', label('https://github.com/ACME/Shop'), REPO, true, undefined],
    ['with a trailing .git', label(`${REPO}.git`), REPO, true, undefined],
    ['with a trailing slash', label(`${REPO}/`), REPO, true, undefined],
    [
      'with .git and a slash, upper case',
      label('HTTPS://GITHUB.COM/ACME/SHOP.GIT/'),
      REPO,
      false,
      undefined
    ],
    ['repository URL with a trailing slash', label(REPO), `${REPO}/`, true, undefined],
    [
      'a fork (another owner)',
      label('https://github.com/mallory/shop'),
      REPO,
      false,
      builtFrom('https://github.com/mallory/shop')
    ],
    [
      'another repository of the same owner',
      label('https://github.com/acme/blog'),
      REPO,
      false,
      builtFrom('https://github.com/acme/blog')
    ],
    [
      'a repository whose name only starts like ours',
      label(`${REPO}-old`),
      REPO,
      false,
      builtFrom(`${REPO}-old`)
    ],
    [
      'the same path on another server (GHES run, github.com label)',
      label(REPO),
      'https://ghe.example.com/acme/shop',
      false,
      builtFrom(REPO, 'https://ghe.example.com/acme/shop')
    ],
    [
      'unknown repository: a label cannot be vouched for',
      label(REPO),
      '',
      false,
      wrong(
        `provenance fail-closed: the image names its source ${JSON.stringify(REPO)} but this run does not know its repository (GITHUB_REPOSITORY is not set)`
      )
    ],
    ['unknown repository, no label, not required', {}, '', false, undefined],
    ['unknown repository, no label, required', {}, '', true, noLabel]
  ])('%s', (_name, labels, repositoryUrl, required, decision) => {
    expect(decided(() => decideSource(labels, repositoryUrl, required))).toEqual(decision)
  })

  test('the reason quotes the label value verbatim, whitespace and all', () => {
    const source = ' https://github.com/other/x\n'
    expect(() => decideSource(label(source), REPO, false)).toThrow(
      `the image was built from " https://github.com/other/x\\n", not from ${REPO}`
    )
  })
})
