import { describe, expect, test } from '@jest/globals'
import {
  decideApplicability,
  normalizeRepository,
  parseRepositoryList
} from '../../src/decide/applicability.js'
import { InputError } from '../../src/errors.js'

describe('parseRepositoryList', () => {
  test.each<[string, string, string[]]>([
    ['empty', '', []],
    ['only separators and blanks', ' ,\n , \n\n', []],
    ['one entry', 'acme/shop', ['acme/shop']],
    ['commas', 'acme/shop,acme/api,blog', ['acme/shop', 'acme/api', 'blog']],
    ['newlines', 'acme/shop\nacme/api\n', ['acme/shop', 'acme/api']],
    ['CRLF newlines', 'acme/shop\r\nacme/api\r\n', ['acme/shop', 'acme/api']],
    ['commas and newlines mixed', 'a/b, c/d\n e/f ,\n\n g', ['a/b', 'c/d', 'e/f', 'g']],
    ['YAML block with indentation', '  acme/shop\n  acme/api\n', ['acme/shop', 'acme/api']],
    ['case is kept', 'Acme/Shop', ['Acme/Shop']]
  ])('%s', (_name, raw, expected) => {
    expect(parseRepositoryList(raw)).toEqual(expected)
  })
})

describe('decideApplicability', () => {
  const notApplicable = (repository: string): object => ({
    verdict: 'not-applicable',
    reason: `provenance gate not applicable: ${repository} is not in repositories`,
    pass: true,
    failure: ''
  })

  test.each<[string, boolean, string[], string]>([
    ['disabled with an empty allowlist', false, [], 'acme/shop'],
    ['disabled even when listed', false, ['acme/shop'], 'acme/shop'],
    ['disabled even when not listed', false, ['other/repo'], 'acme/shop']
  ])('%s → disabled, passing', (_name, enabled, allowlist, repository) => {
    expect(decideApplicability(enabled, allowlist, repository)).toEqual({
      verdict: 'disabled',
      reason: 'provenance gate disabled (enabled: false)',
      pass: true,
      failure: ''
    })
  })

  test.each<[string, string[], string]>([
    ['empty allowlist applies everywhere', [], 'acme/shop'],
    ['empty allowlist with unknown repository', [], ''],
    ['empty allowlist with a blank repository', [], '  '],
    ['owner/name match', ['acme/shop'], 'acme/shop'],
    ['owner/name match ignores case', ['ACME/Shop'], 'acme/SHOP'],
    ['bare name match', ['shop'], 'acme/shop'],
    ['bare name match ignores case', ['SHOP'], 'Acme/Shop'],
    ['match among several', ['blog', 'acme/api', 'acme/shop'], 'acme/shop'],
    ['repository with surrounding spaces', ['acme/shop'], ' acme/shop ']
  ])('%s → applies (undefined)', (_name, allowlist, repository) => {
    expect(decideApplicability(true, allowlist, repository)).toBeUndefined()
  })

  test.each<[string, string[], string]>([
    ['owner/name of another owner', ['other/shop'], 'acme/shop'],
    ['other name', ['acme/api'], 'acme/shop'],
    ['bare name that is only a prefix', ['sho'], 'acme/shop'],
    ['bare name that is the owner', ['acme'], 'acme/shop'],
    ['owner/name prefix', ['acme/sho'], 'acme/shop'],
    ['owner/name whose owner is a suffix of the real owner', ['me/shop'], 'acme/shop'],
    ['owner/name with an extra path segment', ['x/acme/shop'], 'acme/shop'],
    ['bare name is not the full name', ['acme/shop'], 'shop']
  ])('%s → not-applicable, passing', (_name, allowlist, repository) => {
    expect(decideApplicability(true, allowlist, repository)).toEqual(notApplicable(repository))
  })

  // An allowlist can only be applied to a known repository: a pass on an unknown one would let
  // any run through without a word, so it fails closed as bad configuration instead.
  test.each<[string, string[], string]>([
    ['owner/name entry, empty repository', ['acme/shop'], ''],
    ['bare name entry, empty repository', ['shop'], ''],
    ['blank repository', ['acme/shop', 'blog'], ' \n']
  ])('%s → invalid-input, failing', (_name, allowlist, repository) => {
    let error: unknown
    try {
      decideApplicability(true, allowlist, repository)
    } catch (thrown) {
      error = thrown
    }
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).failure).toBe('invalid-input')
    expect((error as InputError).message).toBe(
      'GITHUB_REPOSITORY is empty, so the repositories allowlist cannot be applied: run the gate on GitHub Actions (which sets GITHUB_REPOSITORY), or remove repositories'
    )
  })

  test('disabled wins over an allowlist with an unknown repository', () => {
    expect(decideApplicability(false, ['acme/shop'], '')?.verdict).toBe('disabled')
  })
})

describe('normalizeRepository', () => {
  test.each<[string, string]>([
    ['acme/shop', 'acme/shop'],
    ['shop', 'shop'],
    ['Acme/Shop.js', 'Acme/Shop.js'],
    ['a.b-c_d/e', 'a.b-c_d/e'],
    ['acme/shop.git', 'acme/shop'],
    ['shop.git', 'shop'],
    ['acme/shop.GIT', 'acme/shop'],
    ['acme/shop/', 'acme/shop'],
    ['https://github.com/acme/shop', 'acme/shop'],
    ['https://github.com/acme/shop.git', 'acme/shop'],
    ['https://github.com/acme/shop/', 'acme/shop'],
    ['http://github.com/acme/shop', 'acme/shop'],
    ['https://ghe.example.com:8443/acme/shop.git', 'acme/shop'],
    ['HTTPS://GitHub.com/Acme/Shop', 'Acme/Shop'],
    ['github.com/acme/shop', 'acme/shop'],
    ['github.com/acme/shop.git', 'acme/shop'],
    ['ghe.example.com/acme/shop', 'acme/shop'],
    ['acme/shop.github.io', 'acme/shop.github.io'],
    ['acme/.github', 'acme/.github']
  ])('%j → %j', (entry, normalized) => {
    expect(normalizeRepository(entry)).toBe(normalized)
  })

  test.each([
    '',
    '.git',
    'acme/.git',
    'acme/shop/x',
    'acme/shop/x.git',
    'host/acme/shop',
    'https://github.com/shop',
    'https://github.com/acme/shop/tree/main',
    'https://github.com',
    'ftp://github.com/acme/shop',
    'git@github.com:acme/shop.git',
    'ssh://git@github.com/acme/shop.git',
    'https://user@github.com/acme/shop',
    'acme shop',
    '/shop',
    'acme/',
    'acme//shop',
    'acmé/shop',
    'acme/*',
    '.',
    '..',
    'acme/..',
    'acme/shop.git.git'
  ])('%j is not a repository', entry => {
    expect(normalizeRepository(entry)).toBeUndefined()
  })
})
