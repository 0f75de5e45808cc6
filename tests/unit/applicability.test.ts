import { describe, expect, test } from '@jest/globals'
import { decideApplicability, parseRepositoryList } from '../../src/applicability.js'

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

  test('an unknown repository is named as such', () => {
    expect(decideApplicability(true, ['acme/shop'], '')).toEqual(
      notApplicable('(unknown repository)')
    )
  })
})
