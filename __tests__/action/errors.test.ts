import { describe, expect, test } from '@jest/globals'
import { describeError, GateError } from '../../src/errors.js'

describe('describeError', () => {
  test.each<[string, unknown, string]>([
    ['an Error gives its message', new Error('boom'), 'boom'],
    ['a GateError gives its message', new GateError('timeout', 'too slow'), 'too slow'],
    ['an Error without message gives its name', new TypeError(''), 'TypeError'],
    ['a string is itself', 'plain text', 'plain text'],
    ['a number', 42, '42'],
    ['undefined', undefined, 'undefined'],
    ['null', null, 'null'],
    ['an object', { toString: () => 'custom' }, 'custom']
  ])('%s', (_name, error, expected) => {
    expect(describeError(error)).toBe(expected)
  })
})
