import { describe, expect, test } from '@jest/globals'
import { lastLines, TailBuffer } from '../../src/session/tail-buffer.js'

function filled(chunks: (string | Buffer)[], limit: number): TailBuffer {
  const buffer = new TailBuffer(limit)
  for (const chunk of chunks) buffer.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  return buffer
}

/** Bytes the buffer still holds, read through its private fields. */
function heldBytes(buffer: TailBuffer): number {
  const inside = buffer as unknown as { chunks: Buffer[] }
  return inside.chunks.reduce((sum, chunk) => sum + chunk.length, 0)
}

describe('TailBuffer', () => {
  test.each<[string, number, string[], string]>([
    ['nothing pushed', 5, [], ''],
    ['less than the limit', 5, ['ab', 'cd'], 'abcd'],
    ['exactly the limit', 5, ['ab', 'cde'], 'abcde'],
    ['one byte over, across chunks', 5, ['abc', 'def'], 'bcdef'],
    ['a whole chunk dropped', 5, ['abc', 'defgh'], 'defgh'],
    ['one chunk larger than the limit', 5, ['abcdefgh'], 'defgh'],
    ['a small chunk after a big one', 5, ['abcdefgh', 'i'], 'efghi'],
    ['many small chunks', 4, ['a', 'b', 'c', 'd', 'e', 'f', 'g'], 'defg'],
    ['empty chunks', 5, ['', 'abc', '', 'de', ''], 'abcde'],
    ['a big chunk then many small', 3, ['0123456789', 'x', 'y'], '9xy']
  ])('%s: limit %d keeps the last bytes', (_name, limit, chunks, kept) => {
    const buffer = filled(chunks, limit)
    expect(buffer.text()).toBe(kept)
    expect(buffer.total).toBe(chunks.join('').length)
  })

  test('10 MB in 64 KiB chunks keeps the last bytes in bounded memory', () => {
    const limit = 100_000
    const chunkSize = 64 * 1024
    const chunkCount = Math.ceil((10 * 1024 * 1024) / chunkSize)
    const buffer = new TailBuffer(limit)
    const all: Buffer[] = []
    let maxHeld = 0
    for (let i = 0; i < chunkCount; i++) {
      // Each chunk has its own letters, so a wrong slice shows as wrong content.
      const chunk = Buffer.alloc(chunkSize)
      for (let j = 0; j < chunkSize; j++) chunk[j] = 0x61 + ((i + j) % 26)
      all.push(chunk)
      buffer.push(chunk)
      maxHeld = Math.max(maxHeld, heldBytes(buffer))
    }
    const everything = Buffer.concat(all)
    expect(buffer.total).toBe(10 * 1024 * 1024)
    expect(buffer.text().length).toBeLessThanOrEqual(limit)
    expect(buffer.text()).toBe(everything.subarray(everything.length - limit).toString('utf8'))
    // At most the limit plus the one chunk that straddles its start.
    expect(maxHeld).toBeLessThan(limit + chunkSize)
  })

  test.each<[string, number, number[][], string]>([
    ['an invalid byte', 10, [[0x61, 0xff, 0x62]], 'a\uFFFDb'],
    ['a lone continuation byte', 10, [[0x80, 0x7a]], '\uFFFDz'],
    ['a multi-byte character split across chunks', 10, [[0x61, 0xe2, 0x82], [0xac]], 'a€'],
    ['a multi-byte character cut by the limit', 3, [[0xe2, 0x82, 0xac, 0x61, 0x62]], '\uFFFDab']
  ])('%s decodes leniently', (_name, limit, chunks, text) => {
    expect(
      filled(
        chunks.map(bytes => Buffer.from(bytes)),
        limit
      ).text()
    ).toBe(text)
  })

  test('text() can be read repeatedly and keeps accumulating', () => {
    const buffer = filled(['hello '], 8)
    expect(buffer.text()).toBe('hello ')
    buffer.push(Buffer.from('world'))
    expect(buffer.text()).toBe('lo world')
    expect(buffer.total).toBe(11)
  })
})

describe('lastLines', () => {
  test.each<[string, string, number | undefined, number | undefined, string]>([
    ['empty text', '', undefined, undefined, ''],
    ['only blank lines', '\n  \n\t\n', undefined, undefined, ''],
    ['one line', 'error: boom\n', undefined, undefined, 'error: boom'],
    ['the last three by default', 'a\nb\nc\nd\ne\n', undefined, undefined, 'c ⏎ d ⏎ e'],
    ['blank lines do not count', 'a\nb\n\n  \nc\n\n\n', undefined, undefined, 'a ⏎ b ⏎ c'],
    ['lines are trimmed', '  a  \n\tb\t\n', undefined, undefined, 'a ⏎ b'],
    ['CRLF line ends', 'a\r\nb\r\nc\r\n', undefined, undefined, 'a ⏎ b ⏎ c'],
    ['a chosen count', 'a\nb\nc\nd', 2, undefined, 'c ⏎ d'],
    ['count 1', 'a\nb\nlast', 1, undefined, 'last'],
    ['fewer lines than the count', 'only', 5, undefined, 'only'],
    ['a wide line is cut with an ellipsis', 'abcdefghij', 1, 4, 'abcd…'],
    ['a line exactly as wide is kept', 'abcd', 1, 4, 'abcd'],
    ['only wide lines are cut', 'ab\nabcdef', 2, 4, 'ab ⏎ abcd…']
  ])('%s', (_name, text, count, width, expected) => {
    expect(lastLines(text, count, width)).toBe(expected)
  })

  test('the default width is 200 characters', () => {
    const wide = 'x'.repeat(250)
    expect(lastLines(wide)).toBe(`${'x'.repeat(200)}…`)
    expect(lastLines('y'.repeat(200))).toBe('y'.repeat(200))
  })
})
