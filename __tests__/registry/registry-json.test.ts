import { describe, expect, test } from '@jest/globals'
import { GateError } from '../../src/errors.js'
import { field, foldKey, parseStrictJson, type JsonObject } from '../../src/registry/json.js'

/** The GateError a call threw (a test fails if it returned or threw anything else). */
function thrown(work: () => unknown): GateError {
  try {
    work()
  } catch (error) {
    if (error instanceof GateError) return error
    throw error
  }
  throw new Error('expected a GateError')
}

describe('parseStrictJson reads what JSON.parse reads', () => {
  test.each([
    '{}',
    '[]',
    '{"a":1,"b":[true,false,null],"c":{"d":"e"}}',
    ' { "n" : -0.5e+3 , "s" : "\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00" } ',
    '"plain"',
    '0',
    '{"__proto__":{"x":1},"constructor":"c"}',
    '{"a":{"a":{"a":1}}}'
  ])('%s', text => {
    expect(JSON.stringify(parseStrictJson(text, 'doc'))).toBe(JSON.stringify(JSON.parse(text)))
  })

  test('a __proto__ key is an own key, not a prototype', () => {
    const value = parseStrictJson('{"__proto__":{"polluted":true}}', 'doc') as JsonObject
    expect(Object.keys(value)).toEqual(['__proto__'])
    expect((value as Record<string, unknown>).polluted).toBeUndefined()
  })

  test('a lone surrogate escape becomes U+FFFD, as Go decodes it', () => {
    expect(parseStrictJson('"a\\ud800b"', 'doc')).toBe('a\ufffdb')
  })
})

describe('parseStrictJson refuses', () => {
  test.each<[string, string, RegExp]>([
    ['an exact duplicate key', '{"config":{},"config":{}}', /has the key "config" twice/],
    [
      'a duplicate written with an escape',
      '{"config":1,"\\u0063onfig":2}',
      /has the key "config" twice/
    ],
    [
      'a duplicate deep down, named by its path',
      '{"config":{"Labels":{"a":"1","a":"2"}}}',
      /has the key "config\.Labels\.a" twice/
    ],
    ['trailing data', '{} {}', /not valid JSON: has data after the JSON value/],
    ['a trailing comma', '{"a":1,}', /not valid JSON: expected a key/],
    ['single quotes', "{'a':1}", /not valid JSON: expected a key/],
    ['a raw control character', '"a\u0001"', /not valid JSON: has a control character/],
    ['a bad escape', '"\\x41"', /not valid JSON: has a malformed escape/],
    ['a leading zero', '01', /not valid JSON: has data after/],
    ['NaN', 'NaN', /not valid JSON: unexpected character at offset 0/],
    ['an unterminated string', '{"a":"b', /not valid JSON: has an unterminated string/],
    ['nothing', '', /not valid JSON: unexpected end/],
    ['a byte-order mark', '\ufeff{}', /not valid JSON: unexpected character/],
    ['nesting past the bound', `${'['.repeat(600)}${']'.repeat(600)}`, /nests deeper than 512/]
  ])('%s', (_name, text, message) => {
    const error = thrown(() => parseStrictJson(text, 'config blob X'))
    expect(error.failure).toBe('registry-error')
    expect(error.message).toMatch(/^config blob X /)
    expect(error.message).toMatch(message)
  })

  test('never quotes the document, only where it stopped', () => {
    const error = thrown(() => parseStrictJson('{"secret-token-value" "x"}', 'token endpoint'))
    expect(error.message).not.toContain('secret-token-value')
  })
})

describe("foldKey: Go encoding/json's key folding", () => {
  test.each<[string, string, boolean]>([
    ['config', 'Config', true],
    ['config', 'CONFIG', true],
    ['Labels', 'labels', true],
    // U+017F LATIN SMALL LETTER LONG S folds to s.
    ['Labels', 'Label\u017f', true],
    ['schemaVersion', '\u017fchemaVersion', true],
    // U+212A KELVIN SIGN folds to k.
    ['k', '\u212a', true],
    ['kind', '\u212aIND', true],
    ['mediaType', 'MEDIATYPE', true],
    ['os', 'OS', true],
    // Dotted and dotless i (U+0130, U+0131) are not in Go's simple folding with i.
    ['digest', 'd\u0130gest', false],
    ['digest', 'd\u0131gest', false],
    // Neither is anything else non-ASCII, nor lookalikes.
    ['config', 'c\u043enfig', false],
    ['Labels', 'Labels ', false],
    ['size', 'siz\u0435', false],
    ['os', 'o_s', false]
  ])('%j and %j: %s', (a, b, equal) => {
    expect(foldKey(a) === foldKey(b)).toBe(equal)
  })
})

describe('field: the one key Go would decode into a struct field', () => {
  const object = (text: string): JsonObject => parseStrictJson(text, 'doc') as JsonObject

  test.each<[string, string, unknown]>([
    ['{"config":1}', 'config', 1],
    ['{"Config":1}', 'config', 1],
    ['{"CONFIG":1,"other":2}', 'config', 1],
    ['{"Label\u017f":{"a":"b"}}', 'Labels', { a: 'b' }],
    ['{"x":1}', 'config', undefined],
    ['{}', 'config', undefined]
  ])('%s .%s', (text, name, expected) => {
    expect(field(object(text), name, 'doc')).toEqual(expected)
  })

  test.each<[string, string, RegExp]>([
    ['{"config":1,"Config":2}', 'config', /has the keys "config" and "Config"/],
    ['{"Labels":{},"Label\u017f":{}}', 'Labels', /has the keys "Labels" and "Label\u017f"/],
    ['{"mediaType":"a","MediaType":"b"}', 'mediaType', /"mediaType" and "MediaType"/],
    ['{"os":"linux","OS":"windows"}', 'os', /"os" and "OS"/],
    ['{"a":1,"A":2,"config":3,"CONFIG":4}', 'config', /"config" and "CONFIG"/]
  ])('%s refuses .%s', (text, name, message) => {
    const error = thrown(() => field(object(text), name, 'config blob X'))
    expect(error.failure).toBe('registry-error')
    expect(error.message).toMatch(message)
    expect(error.message).toMatch(/engine reads as the same field/)
  })

  test('keys the gate does not read may differ only in case (labels are a map)', () => {
    const labels = object('{"a":"1","A":"2"}')
    expect(field(labels, 'b', 'doc')).toBeUndefined()
  })
})
