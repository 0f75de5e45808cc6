import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import * as core from '../../src/actions-core.js'

/** What the runner would read: every stdout write, and the file commands' files. */
let written: string[]
let dir: string
const saved = { ...process.env }

beforeEach(() => {
  written = []
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk))
    return true
  })
  dir = mkdtempSync(path.join(tmpdir(), 'pg-core-'))
  for (const name of ['OUTPUT', 'STATE', 'STEP_SUMMARY']) {
    const file = path.join(dir, name)
    writeFileSync(file, '')
    process.env[`GITHUB_${name}`] = file
  }
})

afterEach(() => {
  jest.restoreAllMocks()
  rmSync(dir, { recursive: true, force: true })
  process.env = { ...saved }
  process.exitCode = undefined
})

/** Parses `name<<delimiter` blocks the way the runner does. */
function fileCommands(name: string): Record<string, string> {
  const text = readFileSync(path.join(dir, name), 'utf8')
  const result: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const match = /^(.+)<<(ghadelimiter_[0-9a-f-]{36})$/.exec(lines[i] ?? '')
    if (!match) continue
    const value: string[] = []
    for (i++; lines[i] !== match[2]; i++) value.push(lines[i] ?? '')
    result[match[1] ?? ''] = value.join('\n')
  }
  return result
}

describe('workflow commands on stdout', () => {
  test.each([
    [
      'warning',
      () => core.warning('50% done\r\nnext: a,b'),
      '::warning::50%25 done%0D%0Anext: a,b\n'
    ],
    ['error via setFailed', () => core.setFailed('bad: x'), '::error::bad: x\n'],
    ['add-mask', () => core.setSecret('s3cr%t'), '::add-mask::s3cr%25t\n'],
    ['group', () => core.startGroup('hook output'), '::group::hook output\n'],
    ['endgroup', () => core.endGroup(), '::endgroup::\n'],
    ['info is plain text', () => core.info('::not-a-command'), '::not-a-command\n']
  ])('%s', (_name, act, expected) => {
    act()
    expect(written.join('')).toBe(expected)
  })

  test('setFailed marks the process as failed', () => {
    core.setFailed('x')
    expect(process.exitCode).toBe(1)
  })
})

describe('file commands', () => {
  test.each([
    ['a plain value', 'match'],
    ['an empty value', ''],
    ['a value with newlines and a fake delimiter line', 'a\nghadelimiter_x\nEOF\nb']
  ])('setOutput writes %s as a delimited block', (_name, value) => {
    core.setOutput('verdict', value)
    expect(fileCommands('OUTPUT')).toEqual({ verdict: value })
    expect(written).toEqual([])
  })

  test('saveState writes to GITHUB_STATE and getState reads STATE_*', () => {
    core.saveState('isPost', 'true')
    expect(fileCommands('STATE')).toEqual({ isPost: 'true' })
    process.env.STATE_isPost = 'true'
    expect(core.getState('isPost')).toBe('true')
    expect(core.getState('other')).toBe('')
  })

  test('without GITHUB_OUTPUT the old set-output command is printed', () => {
    delete process.env.GITHUB_OUTPUT
    core.setOutput('reason', 'a\nb')
    expect(written.join('')).toBe('\n::set-output name=reason::a%0Ab\n')
  })

  test('a missing output file is an error, not a silent loss', () => {
    process.env.GITHUB_OUTPUT = path.join(dir, 'missing')
    expect(() => core.setOutput('verdict', 'match')).toThrow('Missing file at path')
  })

  test('the summary is appended to GITHUB_STEP_SUMMARY', async () => {
    await core.summary.addRaw('### one\n').write()
    await core.summary.addRaw('two\n').write()
    expect(readFileSync(path.join(dir, 'STEP_SUMMARY'), 'utf8')).toBe('### one\ntwo\n')
  })
})

describe('getInput', () => {
  test.each([
    ['private-key', 'INPUT_PRIVATE-KEY', '  key  ', 'key'],
    ['known-hosts', 'INPUT_KNOWN-HOSTS', 'a\nb\n', 'a\nb'],
    ['mode', 'INPUT_MODE', undefined, '']
  ])('%s reads %s, trimmed', (name, variable, value, expected) => {
    if (value === undefined) delete process.env[variable]
    else process.env[variable] = value
    expect(core.getInput(name)).toBe(expected)
  })
})
