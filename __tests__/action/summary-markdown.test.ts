import { describe, expect, test } from '@jest/globals'
import MarkdownIt, { type Token } from 'markdown-it'
import { emptyFacts, type Facts } from '../../src/facts.js'
import { renderSummary, type Report } from '../../src/report.js'
import type { Decision } from '../../src/decide/verdict.js'
import { makeReport, SHA_B } from '../support/fixtures.js'

/**
 * The job summary read the way GitHub reads it: GitHub-flavoured Markdown with tables, inline
 * HTML allowed (GitHub sanitizes it afterwards). `html: true` lets any raw HTML that gets through
 * the escaping show up as an html token, so the tests can see it.
 */
const markdown = new MarkdownIt({ html: true })

/** The only raw HTML the summary may contain: the `<code>` around image and revision values. */
const ALLOWED_HTML = ['<code>', '</code>']

/** One leaf block as a reader sees it: its plain text, and the raw HTML tags inside it. */
interface Leaf {
  kind: 'heading' | 'paragraph' | 'th' | 'td'
  text: string
  html: string[]
}

interface Parsed {
  /** The top-level blocks in order: heading, paragraph, table, … */
  blocks: string[]
  headingTag: string
  leaves: Leaf[]
  /** The one table: header cells, then each body row's cells as plain text. */
  header: string[]
  rows: string[][]
  /** Every token type, to look for links, images and raw HTML blocks. */
  types: Set<string>
}

function leaf(kind: Leaf['kind'], inline: Token): Leaf {
  let text = ''
  const html: string[] = []
  for (const child of inline.children ?? []) {
    if (child.type === 'text' || child.type === 'code_inline') text += child.content
    else if (child.type === 'softbreak' || child.type === 'hardbreak') text += '\n'
    else if (child.type === 'html_inline') html.push(child.content)
  }
  return { kind, text, html }
}

function allTypes(tokens: Token[]): string[] {
  return tokens.flatMap(token => [token.type, ...allTypes(token.children ?? [])])
}

function parse(summary: string): Parsed {
  const tokens = markdown.parse(summary, {})
  const parsed: Parsed = {
    blocks: [],
    headingTag: '',
    leaves: [],
    header: [],
    rows: [],
    types: new Set(allTypes(tokens))
  }
  let row: string[] | undefined
  let inHeader = false
  let kind: Leaf['kind'] | undefined
  for (const token of tokens) {
    if (token.level === 0 && token.nesting !== -1)
      parsed.blocks.push(token.type.replace(/_open$/, ''))
    if (token.type === 'heading_open') {
      kind = 'heading'
      if (!parsed.headingTag) parsed.headingTag = token.tag
    } else if (token.type === 'paragraph_open') kind = 'paragraph'
    else if (token.type === 'thead_open') inHeader = true
    else if (token.type === 'thead_close') inHeader = false
    else if (token.type === 'tr_open') row = []
    else if (token.type === 'tr_close' && row) {
      if (inHeader) parsed.header = row
      else parsed.rows.push(row)
      row = undefined
    } else if (token.type === 'th_open') kind = 'th'
    else if (token.type === 'td_open') kind = 'td'
    else if (token.type === 'inline' && kind) {
      const found = leaf(kind, token)
      parsed.leaves.push(found)
      row?.push(found.text)
      kind = undefined
    }
  }
  return parsed
}

/** How a value reads once rendered: escapeCell folds line breaks (and the blanks around them). */
function shown(value: string): string {
  return value ? value.replace(/\s*(?:\r\n|\r|\n)\s*/g, ' ') : '—'
}

/** The shared report fixture with this test's decision first. */
function reportOf(
  decision: Decision,
  overrides: Partial<Report> = {},
  facts: Partial<Facts> = {}
): Report {
  return makeReport({ decision, ...overrides }, facts)
}

const match: Decision = {
  verdict: 'match',
  reason: 'provenance match: 0123456789ab',
  pass: true,
  failure: ''
}
const mismatch: Decision = {
  verdict: 'mismatch',
  reason: 'provenance mismatch: image fedcba987654 != expected 0123456789ab',
  pass: false,
  failure: 'mismatch'
}
const hookFailed: Decision = {
  verdict: 'fail-closed',
  reason: 'provenance fail-closed: hook failed (exit code 1) on local: boom',
  pass: false,
  failure: 'hook-failed'
}

/** Everything a hook's output or a hostile image reference could try inside a summary. */
const HOSTILE = [
  'a | b',
  '| injected | row |',
  '| --- | --- |',
  '<script>alert(1)</script> <img src=x onerror=alert(1)>',
  '`rm -rf /` ```fence``` **bold** _em_',
  '[click](javascript:alert(1)) ![img](http://example.com/x.png) <http://example.com>',
  '&lt;b&gt; &amp; C:\\dir\\',
  '### not a heading',
  '  progress 10%\r50%\r100%'
].join('\n')

const cases: [string, Report][] = [
  ['match', reportOf(match)],
  ['mismatch', reportOf(mismatch, {}, { imageRevision: SHA_B })],
  [
    'fail-closed before anything ran (no facts)',
    reportOf(
      {
        verdict: 'fail-closed',
        reason: 'provenance fail-closed: input image is required',
        pass: false,
        failure: 'invalid-input'
      },
      { mode: '', where: '', image: '', totalMs: 3 },
      { ...emptyFacts() }
    )
  ],
  [
    'disabled',
    reportOf(
      {
        verdict: 'disabled',
        reason: 'provenance gate disabled (enabled: false)',
        pass: true,
        failure: ''
      },
      { mode: '', where: '', image: '', totalMs: 0 },
      { ...emptyFacts() }
    )
  ],
  [
    'hostile hook output in the reason',
    reportOf(
      { ...hookFailed, reason: `${hookFailed.reason}\n${HOSTILE}` },
      {},
      { imageRevision: '' }
    )
  ],
  [
    'hostile image reference, label and host',
    reportOf(
      { ...mismatch, reason: `provenance mismatch: image ${HOSTILE} != expected 0123456789ab` },
      {
        image: `registry.example.com/shop:staging\n${HOSTILE}`,
        where: HOSTILE,
        repository: HOSTILE
      },
      { imageRevision: HOSTILE }
    )
  ]
]

/** The same report with every value plain: the hostile one must render to the same shape. */
function plainTwin(report: Report): Report {
  return reportOf(
    { ...report.decision, reason: 'provenance plain reason' },
    { mode: report.mode, totalMs: report.totalMs },
    { phases: report.facts.phases }
  )
}

describe('renderSummary read as GitHub-flavoured Markdown', () => {
  test.each(cases)('%s: a heading with the verdict line, then one real table', (_name, report) => {
    const { decision } = report
    const parsed = parse(renderSummary(report))

    expect(parsed.blocks[0]).toBe('heading')
    expect(parsed.headingTag).toBe('h3')
    const heading = parsed.leaves[0]
    expect(heading?.kind).toBe('heading')
    expect(heading?.text.startsWith(decision.pass ? '✅ ' : '❌ ')).toBe(true)
    expect(heading?.text).toContain(decision.verdict)
    // The verdict line, then the host when known, so a fleet's summaries can be told apart.
    const icon = decision.pass ? '✅ ' : '❌ '
    const where = report.where ? ` — ${shown(report.where)}` : ''
    const headline = decision.pass
      ? shown(decision.reason)
      : decision.failure === decision.verdict
        ? decision.verdict
        : `${decision.verdict} · ${decision.failure}`
    expect(heading?.text).toBe(`${icon}${headline}${where}`)

    // Only headings, paragraphs and exactly one table: no list, quote, code block or HTML block.
    expect(parsed.blocks.filter(block => block === 'table')).toEqual(['table'])
    expect(parsed.blocks.every(block => ['heading', 'paragraph', 'table'].includes(block))).toBe(
      true
    )
    expect(parsed.blocks.indexOf('table')).toBeGreaterThan(0)
    expect(parsed.blocks.filter(block => block === 'heading')).toEqual(['heading'])

    expect(parsed.header).toEqual(['provenance-gate', ''])
    expect(parsed.rows.length).toBeGreaterThan(5)
    for (const row of parsed.rows) expect(row).toHaveLength(2)
    const cells = Object.fromEntries(parsed.rows as [string, string][])
    expect(cells).toMatchObject({
      Repository: shown(report.repository),
      Mode: shown(report.mode),
      Host: shown(report.where),
      Image: shown(report.image),
      'Expected revision': shown(report.facts.expectedRevision),
      'Image revision': shown(report.facts.imageRevision),
      'Image id': shown(report.facts.imageId),
      Verdict: decision.verdict,
      Failure: shown(decision.failure)
    })
    expect(cells.Time).toMatch(/total \d/)

    // The reason reads whole, in one block: the heading (before the host), a paragraph of its
    // own or a cell.
    const texts = parsed.leaves.map(found =>
      found.kind === 'heading'
        ? found.text.slice(icon.length, found.text.length - where.length)
        : found.text
    )
    expect(texts).toContain(shown(decision.reason))
  })

  test.each(cases)('%s: no raw HTML, links or images get through', (_name, report) => {
    const summary = renderSummary(report)
    const parsed = parse(summary)
    expect(parsed.types.has('html_block')).toBe(false)
    for (const type of ['link_open', 'image', 'fence', 'code_block', 'em_open']) {
      expect([type, parsed.types.has(type)]).toEqual([type, false])
    }
    for (const found of parsed.leaves) {
      expect(found.html.every(tag => ALLOWED_HTML.includes(tag))).toBe(true)
      expect(found.html.filter(tag => tag === '<code>')).toHaveLength(
        found.html.filter(tag => tag === '</code>').length
      )
    }

    const html = markdown.render(summary)
    expect(html).not.toMatch(/<(script|img|a|pre|h[1-24-6])\b/i)
    expect(html.match(/<table>/g)).toHaveLength(1)
    expect(html.match(/<tr>/g)).toHaveLength(parse(summary).rows.length + 1)
    // Every element in the output is one the summary's own layout uses.
    const tags = new Set([...html.matchAll(/<\/?([a-z0-9]+)/g)].map(m => m[1]))
    const layout = ['h3', 'p', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'strong', 'code']
    expect([...tags].filter(tag => !layout.includes(tag ?? ''))).toEqual([])
  })

  test.each(cases)('%s: same rows as the same verdict with plain values', (_name, report) => {
    const names = (r: Report): string[] => parse(renderSummary(r)).rows.map(([name]) => name ?? '')
    expect(names(report)).toEqual(names(plainTwin(report)))
    expect(names(report)).toEqual(expect.arrayContaining(['Image', 'Verdict', 'Failure', 'Time']))
  })
})
