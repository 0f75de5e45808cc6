import { describe, expect, test } from '@jest/globals'
import MarkdownIt, { type Token } from 'markdown-it'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'

/**
 * The README's Inputs and Outputs tables are what users read; action.yml is what the runner
 * reads. Every input and output of action.yml must have exactly one row, with the same default.
 *
 * Table format (the first table after the `### Inputs` / `### Outputs` heading):
 *
 *   | input | default | meaning |        a name cell is exactly `name` in backticks; a default
 *   | `mode` | `rebuild` | … |           cell is `value` in backticks, `''` (or '') for an empty
 *   | `host` | `''` | … |                default, or the word required for a required input
 *   | `image` | required | … |
 *
 *   | output | meaning |
 *   | `verdict` | … |
 */

interface ActionYml {
  inputs: Record<string, { description: string; required?: boolean; default?: unknown }>
  outputs: Record<string, { description: string }>
}

const action = parse(readFileSync('action.yml', 'utf8')) as ActionYml
const readme = new MarkdownIt().parse(readFileSync('README.md', 'utf8'), {})

/** The body rows of the first table after the heading whose text is `title`, as raw cell source. */
function tableAfter(tokens: Token[], title: string): { header: string[]; rows: string[][] } {
  const start = tokens.findIndex(
    (token, i) => token.type === 'heading_open' && tokens[i + 1]?.content.trim() === title
  )
  if (start < 0) throw new Error(`README.md has no heading "${title}"`)
  const open = tokens.findIndex((token, i) => i > start && token.type === 'table_open')
  const nextHeading = tokens.findIndex((token, i) => i > start && token.type === 'heading_open')
  if (open < 0 || (nextHeading >= 0 && nextHeading < open)) {
    throw new Error(`README.md has no table under "${title}"`)
  }
  const header: string[] = []
  const rows: string[][] = []
  let row: string[] = []
  let inHeader = false
  for (const token of tokens.slice(open)) {
    if (token.type === 'table_close') break
    if (token.type === 'thead_open') inHeader = true
    if (token.type === 'thead_close') inHeader = false
    if (token.type === 'tr_open') row = []
    if (token.type === 'inline') row.push(token.content.trim())
    if (token.type === 'tr_close') {
      if (inHeader) header.push(...row)
      else rows.push(row)
    }
  }
  return { header, rows }
}

/** `name` → name; anything else is not a name cell. */
function codeCell(cell: string | undefined): string | undefined {
  return /^`([^`]+)`$/.exec(cell ?? '')?.[1]
}

/** What a README default cell says: a value, '' or required; undefined when it is malformed. */
function defaultCell(cell: string | undefined): { required: true } | { value: string } | undefined {
  if (cell === 'required') return { required: true }
  if (cell === "''" || cell === "`''`") return { value: '' }
  const value = /^`([^`]*)`$/.exec(cell ?? '')?.[1]
  return value === undefined ? undefined : { value }
}

/** Rows by name; a row whose name cell is malformed is kept under its raw text to show up. */
function byName(rows: string[][]): Map<string, string[]> {
  const map = new Map<string, string[]>()
  for (const row of rows) {
    const name = codeCell(row[0]) ?? `malformed name cell: ${row[0] ?? ''}`
    map.set(map.has(name) ? `duplicate row: ${name}` : name, row)
  }
  return map
}

const inputs = tableAfter(readme, 'Inputs')
const outputs = tableAfter(readme, 'Outputs')
const inputRows = byName(inputs.rows)
const outputRows = byName(outputs.rows)

/** What action.yml says an input's default is, in the README's terms. */
function declaredDefault(name: string): { required: true } | { value: string } {
  const input = action.inputs[name]
  if (input?.required) return { required: true }
  const value = input?.default
  return {
    value: value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value)
  }
}

describe('README.md Inputs table matches action.yml', () => {
  test('has the columns input, default, meaning', () => {
    expect(inputs.header).toEqual(['input', 'default', 'meaning'])
  })

  test('lists exactly the inputs of action.yml, each once', () => {
    const missing = Object.keys(action.inputs).filter(name => !inputRows.has(name))
    const extra = [...inputRows.keys()].filter(name => !(name in action.inputs))
    expect({ missing, extra }).toEqual({ missing: [], extra: [] })
  })

  test.each(Object.keys(action.inputs))('input %s: the same default as action.yml', name => {
    const row = inputRows.get(name)
    expect(row).toBeDefined()
    expect(row).toHaveLength(3)
    expect(defaultCell(row?.[1])).toEqual(declaredDefault(name))
    expect(row?.[2]?.length).toBeGreaterThan(3)
  })
})

describe('README.md Outputs table matches action.yml', () => {
  test('has the columns output, meaning', () => {
    expect(outputs.header).toEqual(['output', 'meaning'])
  })

  test('lists exactly the outputs of action.yml, each once', () => {
    const missing = Object.keys(action.outputs).filter(name => !outputRows.has(name))
    const extra = [...outputRows.keys()].filter(name => !(name in action.outputs))
    expect({ missing, extra }).toEqual({ missing: [], extra: [] })
  })

  test.each(Object.keys(action.outputs))('output %s: a row with its meaning', name => {
    const row = outputRows.get(name)
    expect(row).toBeDefined()
    expect(row).toHaveLength(2)
    expect(row?.[1]?.length).toBeGreaterThan(3)
  })
})
