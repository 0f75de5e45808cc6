import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals'
import { EOL } from 'node:os'
import { PassThrough } from 'node:stream'
import { actionLog, oneLine } from '../../src/action-log.js'

describe('oneLine', () => {
  test.each<[string, string, string]>([
    ['no line break', 'provenance match: 0123456789ab', 'provenance match: 0123456789ab'],
    ['empty', '', ''],
    ['LF', 'a\nb', 'a ⏎ b'],
    ['CRLF is one break', 'a\r\nb', 'a ⏎ b'],
    ['a lone CR', 'a\rb', 'a ⏎ b'],
    ['mixed and repeated', 'a\n\nb\r\n\rc\n', 'a ⏎  ⏎ b ⏎  ⏎ c ⏎ '],
    ['a command on its own line', 'x\n::add-mask::secret', 'x ⏎ ::add-mask::secret']
  ])('%s', (_name, text, folded) => {
    expect(oneLine(text)).toBe(folded)
  })
})

describe('actionLog', () => {
  /** What the gate's log wrote to the runner's stdout (where core.info and core.warning go). */
  let written: string[]
  beforeEach(() => {
    written = []
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'))
      return true
    })
  })
  afterEach(() => {
    jest.restoreAllMocks()
  })

  /** The lines written, split at the runner's line ends. */
  const lines = (): string[] => written.join('').split(EOL).slice(0, -1)

  test.each<[string, string, string]>([
    ['one line stays as it is', 'validated revision: abc', 'validated revision: abc'],
    [
      'a label value with newlines is one line',
      'image x: id sha256:1, rev="a\nb"',
      'image x: id sha256:1, rev="a ⏎ b"'
    ],
    [
      'a value that would start a workflow command is folded into the line',
      'hook said\n::add-mask::token\r\n::stop-commands::x\r',
      'hook said ⏎ ::add-mask::token ⏎ ::stop-commands::x ⏎ '
    ]
  ])('info: %s', (_name, message, line) => {
    actionLog(new PassThrough()).info(message)
    expect(written.join('')).toBe(`${line}${EOL}`)
    expect(lines()).toEqual([line])
    expect(lines().filter(text => text.startsWith('::'))).toEqual([])
  })

  test('warning stays one escaped workflow command', () => {
    actionLog(new PassThrough()).warning('could not close\nthe connection')
    expect(lines()).toEqual(['::warning::could not close%0Athe connection'])
  })

  test("raw output keeps its own lines, between stop-commands markers, on the log's stream", () => {
    const out = new PassThrough()
    let raw = ''
    out.on('data', (chunk: Buffer) => {
      raw += chunk.toString('utf8')
    })
    const log = actionLog(out)
    const write = log.openRaw('hook output')
    write(Buffer.from('step 1\n::add-mask::x\nno newline'))
    log.closeRaw()
    const token = /^::stop-commands::(.+)\n/.exec(raw)?.[1] ?? ''
    expect(token).toMatch(/^[0-9a-f-]{36}$/)
    expect(raw).toBe(`::stop-commands::${token}\nstep 1\n::add-mask::x\nno newline\n::${token}::\n`)
    expect(lines()).toEqual(['::group::hook output', '::endgroup::'])
  })
})
