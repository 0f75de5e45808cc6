import { describe, expect, test } from '@jest/globals'
import MarkdownIt from 'markdown-it'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import type { FailureClass } from '../../src/errors.js'
import { FAILURE_HELP } from '../../src/failure-help.js'

/**
 * The README's failure table ("How it fails") is a promise: every failure class has a row, and
 * every row names the integration tests that inject that fault (`file`: case name, joined by ` · `).
 * A row whose named case does not exist in that file is a sentence no test proves.
 */
const tokens = new MarkdownIt().parse(readFileSync('README.md', 'utf8'), {})
const start = tokens.findIndex(
  (token, i) => token.type === 'heading_open' && tokens[i + 1]?.content.trim() === 'How it fails'
)
const rows: string[][] = []
let row: string[] = []
let body = false
for (const token of tokens.slice(
  tokens.findIndex((t, i) => i > start && t.type === 'table_open')
)) {
  if (token.type === 'table_close') break
  if (token.type === 'tbody_open') body = true
  if (token.type === 'tr_open') row = []
  if (token.type === 'inline') row.push(token.content.trim())
  if (token.type === 'tr_close' && body) rows.push(row)
}

/** `file`: name · `file`: name → [file, name] pairs. */
function provedBy(cell: string): [string, string][] {
  return cell.split(' · ').map(part => {
    const match = /^`([a-z0-9-]+)`: (.+)$/.exec(part.trim())
    return match ? [match[1] as string, match[2] as string] : ['(malformed)', part]
  })
}

const classes = Object.keys(FAILURE_HELP) as FailureClass[]

describe('README failure table', () => {
  test('has rows, each with five cells', () => {
    expect(rows.length).toBeGreaterThan(20)
    expect(rows.filter(cells => cells.length !== 5)).toEqual([])
  })

  test.each(classes)('failure class %s has a row and a "what to do" entry', failure => {
    expect(rows.some(cells => cells[2] === `\`${failure}\``)).toBe(true)
    expect(FAILURE_HELP[failure].length).toBeGreaterThan(20)
  })

  test.each(rows.map(cells => [cells[0] ?? '', cells[4] ?? '']))(
    '%s: every named test case exists',
    (_fault, cell) => {
      for (const [file, name] of provedBy(cell)) {
        const source =
          readdirSync('__tests__')
            .map(area => `__tests__/${area}/${file}.itg.test.ts`)
            .find(candidate => existsSync(candidate)) ?? `__tests__/*/${file}.itg.test.ts`
        expect({ source, exists: existsSync(source) }).toEqual({ source, exists: true })
        const text = readFileSync(source, 'utf8')
        expect({ source, name, found: text.includes(name) }).toEqual({ source, name, found: true })
      }
    }
  )
})
