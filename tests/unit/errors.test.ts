import { describe, expect, test } from '@jest/globals'
import { describeError, GateError, InputError } from '../../src/errors.js'

describe('GateError and InputError', () => {
  test('GateError carries its failure class and message', () => {
    const error = new GateError('host-key', 'host key changed')
    expect(error).toBeInstanceOf(Error)
    expect(error.name).toBe('GateError')
    expect(error.failure).toBe('host-key')
    expect(error.message).toBe('host key changed')
  })

  test.each<[string, GateError, boolean]>([
    ['is not retryable by default', new GateError('transport', 'refused'), false],
    ['is retryable only when said so', new GateError('transport', 'refused', true), true],
    ['may say so explicitly', new GateError('transport', 'refused', false), false],
    ['an InputError never is', new InputError('bad'), false]
  ])('GateError %s', (_name, error, retryable) => {
    expect(error.retryable).toBe(retryable)
  })

  test.each<[string, InputError, string]>([
    ['defaults to invalid-input', new InputError('bad'), 'invalid-input'],
    ['may be prod-target', new InputError('bad', 'prod-target'), 'prod-target']
  ])('InputError %s', (_name, error, failure) => {
    expect(error).toBeInstanceOf(GateError)
    expect(error).toBeInstanceOf(Error)
    expect(error.name).toBe('InputError')
    expect(error.failure).toBe(failure)
    expect(error.message).toBe('bad')
  })
})

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
