import { describe, expect, test } from '@jest/globals'
import type { FailureClass } from '../../src/errors.js'
import { FAILURE_HELP } from '../../src/failure-help.js'
import { emptyFacts, type Facts } from '../../src/facts.js'
import type { Decision } from '../../src/decide/verdict.js'
import {
  escapeCell,
  failureMessage,
  formatDuration,
  renderSummary,
  reportOutputs
} from '../../src/report.js'
import { IMAGE_HEX, makeReport, SHA_A, SHA_B } from '../support/fixtures.js'

/** The rows of a passing run's table; there is no reason row, the reason is above the table. */
const ROW_NAMES = [
  'Repository',
  'Mode',
  'Host',
  'Image',
  'Expected revision',
  'Image revision',
  'Image id',
  'Verdict',
  'Failure',
  'Time'
]
/** A failed run's table has what to do right after the failure class. */
const FAILED_ROW_NAMES = [...ROW_NAMES.slice(0, -1), 'What to do', 'Time']

const ALL_FAILURES = Object.keys(FAILURE_HELP) as FailureClass[]

const mismatch: Decision = {
  verdict: 'mismatch',
  reason: 'provenance mismatch: image fedcba987654 != expected 0123456789ab',
  pass: false,
  failure: 'mismatch'
}

/** The table's rows as [name, value], checking each row is exactly one two-column line. */
function tableRows(summary: string): [string, string][] {
  const lines = summary.split('\n')
  const start = lines.indexOf('| --- | --- |')
  expect(start).toBeGreaterThan(0)
  return lines
    .slice(start + 1)
    .filter(line => line !== '')
    .map(line => {
      const match = /^\| ([^|]*) \| ([^|]*) \|$/.exec(line)
      expect(match).not.toBeNull()
      return [match?.[1] ?? '', match?.[2] ?? '']
    })
}

describe('reportOutputs', () => {
  test('sets exactly the declared outputs', () => {
    const outputs = reportOutputs(makeReport({ decision: mismatch }, { imageRevision: SHA_B }))
    expect(outputs).toEqual({
      expected_revision: SHA_A,
      image_revision: SHA_B,
      image_id: `sha256:${IMAGE_HEX}`,
      image_digest: '',
      prod_image_id: '',
      prod_image_digest: '',
      rebuilt: '',
      verdict: 'mismatch',
      reason: 'provenance mismatch: image fedcba987654 != expected 0123456789ab',
      failure: 'mismatch'
    })
  })

  test('a registry read and a promotion set image_digest, prod_image_id and prod_image_digest', () => {
    const digest = `sha256:${'d'.repeat(64)}`
    const outputs = reportOutputs(
      makeReport(
        {},
        { imageDigest: digest, prodImageId: `sha256:${IMAGE_HEX}`, prodImageDigest: digest }
      )
    )
    expect(outputs.image_digest).toBe(digest)
    expect(outputs.prod_image_digest).toBe(digest)
    expect(renderSummary(makeReport({}, { prodImageDigest: digest }))).toContain(
      `| Prod image digest | <code>${digest}</code> |`
    )
    expect(outputs.prod_image_id).toBe(`sha256:${IMAGE_HEX}`)
    expect(outputs.image_id).toBe(`sha256:${IMAGE_HEX}`)
  })

  test.each<[string, Facts['rebuilt']]>([
    ['not a rebuild (verify, promote, or stopped before the hook was decided)', ''],
    ['the hook ran', 'true'],
    ['skip-if-fresh skipped the hook', 'false']
  ])('rebuilt is passed through as it is: %s → %j', (_name, rebuilt) => {
    expect(reportOutputs(makeReport({}, { rebuilt })).rebuilt).toBe(rebuilt)
  })

  test.each<[string, Decision['failure']]>([
    ['a pass', ''],
    ['a timeout', 'timeout'],
    ['a refused host key', 'host-key'],
    ['a mismatch', 'mismatch']
  ])('failure is the class of %s', (_name, failure) => {
    const decision: Decision = failure
      ? { verdict: 'fail-closed', reason: 'r', pass: false, failure }
      : { verdict: 'match', reason: 'r', pass: true, failure }
    expect(reportOutputs(makeReport({ decision })).failure).toBe(failure)
  })

  test('unknown facts are empty strings, never missing', () => {
    const outputs = reportOutputs(
      makeReport(
        {
          decision: {
            verdict: 'fail-closed',
            reason: 'provenance fail-closed: bad input',
            pass: false,
            failure: 'invalid-input'
          }
        },
        emptyFacts()
      )
    )
    expect(Object.keys(outputs).sort()).toEqual([
      'expected_revision',
      'failure',
      'image_digest',
      'image_id',
      'image_revision',
      'prod_image_digest',
      'prod_image_id',
      'reason',
      'rebuilt',
      'verdict'
    ])
    expect(outputs.image_digest).toBe('')
    expect(outputs.rebuilt).toBe('')
    expect(outputs.prod_image_id).toBe('')
    expect(outputs.prod_image_digest).toBe('')
    expect(outputs.failure).toBe('invalid-input')
    expect(outputs.expected_revision).toBe('')
    expect(outputs.image_revision).toBe('')
    expect(outputs.image_id).toBe('')
    expect(outputs.verdict).toBe('fail-closed')
  })
})

describe('formatDuration', () => {
  test.each<[number, string]>([
    [0, '0 ms'],
    [1, '1 ms'],
    [12.4, '12 ms'],
    [850, '850 ms'],
    [999.4, '999 ms'],
    [1_000, '1.0 s'],
    [1_234, '1.2 s'],
    [1_250, '1.3 s'],
    [9_999, '10.0 s'],
    [59_900, '59.9 s'],
    [60_000, '1 min 0 s'],
    [61_000, '1 min 1 s'],
    [119_499, '1 min 59 s'],
    [119_500, '2 min 0 s'],
    [185_000, '3 min 5 s'],
    [3_600_000, '60 min 0 s']
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
  })
})

describe('escapeCell', () => {
  test.each<[string, string, string]>([
    ['plain text', 'provenance match', 'provenance match'],
    ['empty', '', ''],
    ['pipe', 'a|b', 'a&#124;b'],
    ['newline', 'a\nb', 'a b'],
    ['CRLF with indentation', 'a  \r\n   b', 'a b'],
    ['several newlines', 'a\n\n\nb', 'a b'],
    ['a lone carriage return (progress output)', 'step 1\rstep 2', 'step 1 step 2'],
    ['script tag', '<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['ampersand first, so entities stay visible', '&lt; &amp;', '&amp;lt; &amp;amp;'],
    ['backticks', '`code`', '\\`code\\`'],
    ['emphasis', '*a* _b_', '\\*a\\* \\_b\\_'],
    ['link', '[x](http://e.com)', '\\[x\\](http://e.com)'],
    ['backslash', 'C:\\dir', 'C:\\\\dir'],
    ['unicode kept', 'build ⏎ 日本 🚀', 'build ⏎ 日本 🚀']
  ])('%s', (_name, value, escaped) => {
    expect(escapeCell(value)).toBe(escaped)
  })
})

describe('failureMessage', () => {
  test.each<[string, Decision, string]>([
    [
      'a fail-closed run names its class after the reason',
      {
        verdict: 'fail-closed',
        reason: 'provenance fail-closed: x',
        pass: false,
        failure: 'timeout'
      },
      'provenance fail-closed: x [timeout]'
    ],
    [
      'bad input',
      {
        verdict: 'fail-closed',
        reason: 'provenance fail-closed: input image is required',
        pass: false,
        failure: 'invalid-input'
      },
      'provenance fail-closed: input image is required [invalid-input]'
    ],
    [
      'a mismatch, whose class is its verdict, is not named twice',
      mismatch,
      'provenance mismatch: image fedcba987654 != expected 0123456789ab'
    ],
    [
      'a pass is the reason alone',
      { verdict: 'match', reason: 'provenance match: 0123456789ab', pass: true, failure: '' },
      'provenance match: 0123456789ab'
    ],
    [
      'disabled is the reason alone',
      { verdict: 'disabled', reason: 'provenance gate disabled', pass: true, failure: '' },
      'provenance gate disabled'
    ]
  ])('%s', (_name, decision, message) => {
    expect(failureMessage(decision)).toBe(message)
  })

  test.each(ALL_FAILURES.filter(f => f !== 'mismatch'))('class %s ends the annotation', failure => {
    const message = failureMessage({ verdict: 'fail-closed', reason: 'why', pass: false, failure })
    expect(message).toBe(`why [${failure}]`)
  })
})

describe('renderSummary', () => {
  test.each<[string, Partial<Facts>, [string, string][]]>([
    ['neither', {}, []],
    [
      'a registry digest',
      { imageDigest: `sha256:${'d'.repeat(64)}` },
      [['Image digest', `<code>sha256:${'d'.repeat(64)}</code>`]]
    ],
    [
      'a promotion',
      { prodImageId: `sha256:${IMAGE_HEX}` },
      [['Prod image id', `<code>sha256:${IMAGE_HEX}</code>`]]
    ],
    [
      'both',
      { imageDigest: `sha256:${'d'.repeat(64)}`, prodImageId: `sha256:${IMAGE_HEX}` },
      [
        ['Image digest', `<code>sha256:${'d'.repeat(64)}</code>`],
        ['Prod image id', `<code>sha256:${IMAGE_HEX}</code>`]
      ]
    ],
    [
      'a verified build context',
      { contextNote: 'build context /srv/shop on local: clean work tree at 0123456789ab' },
      [['Build context', 'build context /srv/shop on local: clean work tree at 0123456789ab']]
    ],
    [
      'an uploaded build context and a promotion',
      {
        contextNote:
          'build context uploaded: git archive of 0123456789ab (2.0 KiB) into a fresh /tmp/provenance-gate-ctx.Ab/ctx on local, removed after the run',
        prodImageId: `sha256:${IMAGE_HEX}`
      },
      [
        [
          'Build context',
          'build context uploaded: git archive of 0123456789ab (2.0 KiB) into a fresh /tmp/provenance-gate-ctx.Ab/ctx on local, removed after the run'
        ],
        ['Prod image id', `<code>sha256:${IMAGE_HEX}</code>`]
      ]
    ],
    [
      'a context note with markup in a path',
      { contextNote: 'build context /srv/<x>|y on local: clean work tree at 0123456789ab' },
      [
        [
          'Build context',
          'build context /srv/&lt;x&gt;&#124;y on local: clean work tree at 0123456789ab'
        ]
      ]
    ]
  ])(
    'build context, digest and prod id rows (%s) come right after the image id, only when known',
    (_name, facts, extra) => {
      const rows = tableRows(renderSummary(makeReport({}, facts)))
      const names = rows.map(([name]) => name)
      expect(names).toEqual([
        ...ROW_NAMES.slice(0, 7),
        ...extra.map(([name]) => name),
        ...ROW_NAMES.slice(7)
      ])
      expect(rows.slice(7, 7 + extra.length)).toEqual(extra)
    }
  )

  test.each<[string, Decision, string]>([
    [
      'match',
      { verdict: 'match', reason: 'provenance match: 0123456789ab', pass: true, failure: '' },
      '✅'
    ],
    [
      'disabled',
      {
        verdict: 'disabled',
        reason: 'provenance gate disabled (enabled: false)',
        pass: true,
        failure: ''
      },
      '✅'
    ],
    [
      'not-applicable',
      {
        verdict: 'not-applicable',
        reason: 'provenance gate not applicable to acme/shop',
        pass: true,
        failure: ''
      },
      '✅'
    ]
  ])(
    '%s: a pass is a heading with the icon and the reason, then the table',
    (_name, decision, icon) => {
      const lines = renderSummary(makeReport({ decision })).split('\n')
      expect(lines.slice(0, 3)).toEqual([
        `### ${icon} ${decision.reason} — deploy@staging.example.com:22`,
        '',
        '| provenance-gate | |'
      ])
    }
  )

  test.each<[string, Decision, string]>([
    ['mismatch', mismatch, '### ❌ mismatch — deploy@staging.example.com:22'],
    [
      'fail-closed timeout',
      {
        verdict: 'fail-closed',
        reason: 'provenance fail-closed: hook timed out after 1200 s',
        pass: false,
        failure: 'timeout'
      },
      '### ❌ fail-closed · timeout — deploy@staging.example.com:22'
    ],
    [
      'fail-closed host-key',
      {
        verdict: 'fail-closed',
        reason: 'provenance fail-closed: ssh host key of h:22 has CHANGED',
        pass: false,
        failure: 'host-key'
      },
      '### ❌ fail-closed · host-key — deploy@staging.example.com:22'
    ]
  ])(
    '%s: a failure is a short heading, then the reason as a paragraph, then the table',
    (_name, decision, heading) => {
      const lines = renderSummary(makeReport({ decision })).split('\n')
      expect(lines.slice(0, 5)).toEqual([heading, '', decision.reason, '', '| provenance-gate | |'])
    }
  )

  test('the table has every row, in order, with its value', () => {
    const rows = tableRows(
      renderSummary(makeReport({ decision: mismatch }, { imageRevision: SHA_B }))
    )
    expect(rows.map(([name]) => name)).toEqual(FAILED_ROW_NAMES)
    expect(Object.fromEntries(rows)).toEqual({
      Repository: 'acme/shop',
      Mode: 'rebuild',
      Host: 'deploy@staging.example.com:22',
      Image: '<code>registry.example.com/shop:staging</code>',
      'Expected revision': `<code>${SHA_A}</code>`,
      'Image revision': `<code>${SHA_B}</code>`,
      'Image id': `<code>sha256:${IMAGE_HEX}</code>`,
      Verdict: '**mismatch**',
      Failure: 'mismatch',
      'What to do': escapeCell(FAILURE_HELP.mismatch),
      Time: 'git 12 ms · connect 1.2 s · hook 3 min 5 s · inspect 850 ms · total 3 min 7 s'
    })
    expect(renderSummary(makeReport()).endsWith('|\n')).toBe(true)
  })

  test('unknown values show a dash', () => {
    const rows = Object.fromEntries(
      tableRows(
        renderSummary(
          makeReport(
            {
              decision: {
                verdict: 'fail-closed',
                reason: 'provenance fail-closed: input image is required',
                pass: false,
                failure: 'invalid-input'
              },
              repository: '',
              mode: '',
              where: '',
              image: '',
              totalMs: 3
            },
            emptyFacts()
          )
        )
      )
    )
    expect(rows).toEqual({
      Repository: '—',
      Mode: '—',
      Host: '—',
      Image: '—',
      'Expected revision': '—',
      'Image revision': '—',
      'Image id': '—',
      Verdict: '**fail-closed**',
      Failure: 'invalid-input',
      'What to do': 'Fix the named input. Nothing ran on the host.',
      Time: 'total 3 ms'
    })
  })

  test('a pass shows no failure class and nothing to do', () => {
    const rows = tableRows(renderSummary(makeReport()))
    expect(rows.map(([name]) => name)).toEqual(ROW_NAMES)
    expect(Object.fromEntries(rows).Failure).toBe('—')
    expect(Object.fromEntries(rows).Verdict).toBe('**match**')
  })

  test.each(ALL_FAILURES)('failure %s: what to do is its help text, escaped', failure => {
    const decision: Decision = {
      verdict: failure === 'mismatch' ? 'mismatch' : 'fail-closed',
      reason: 'provenance fail-closed: x',
      pass: false,
      failure
    }
    const rows = tableRows(renderSummary(makeReport({ decision })))
    expect(rows.map(([name]) => name)).toEqual(FAILED_ROW_NAMES)
    const help = Object.fromEntries(rows)['What to do']
    expect(FAILURE_HELP[failure].length).toBeGreaterThan(10)
    expect(help).toBe(escapeCell(FAILURE_HELP[failure]))
    expect(Object.fromEntries(rows).Failure).toBe(escapeCell(failure))
  })

  test('hostile values cannot break the table or inject HTML', () => {
    const hostile = 'x | y\n| injected | row |\n<script>alert(1)</script> `z`'
    const summary = renderSummary(
      makeReport(
        {
          decision: { ...mismatch, reason: hostile },
          repository: hostile,
          image: hostile,
          where: hostile
        },
        { imageRevision: hostile }
      )
    )
    expect(summary).not.toContain('<script>')
    // heading, blank, reason, blank, header, separator, rows, final newline
    expect(summary.split('\n')).toHaveLength(6 + FAILED_ROW_NAMES.length + 1)
    const rows = tableRows(summary)
    expect(rows.map(([name]) => name)).toEqual(FAILED_ROW_NAMES)
    const escaped =
      'x &#124; y &#124; injected &#124; row &#124; &lt;script&gt;alert(1)&lt;/script&gt; \\`z\\`'
    expect(summary.split('\n')[2]).toBe(escaped)
    expect(Object.fromEntries(rows)['Image revision']).toBe(`<code>${escaped}</code>`)
    expect(Object.fromEntries(rows).Repository).toBe(escaped)
    expect(summary.split('\n')[0]).toBe(`### ❌ mismatch — ${escaped}`)
  })

  // A fleet's summaries in one job list are told apart by the host in the title.
  test.each<[string, string, Decision, string]>([
    [
      'a pass over ssh',
      'deploy@staging.example.com:22',
      { verdict: 'match', reason: 'provenance match: 0123456789ab', pass: true, failure: '' },
      '### ✅ provenance match: 0123456789ab — deploy@staging.example.com:22'
    ],
    [
      'a failure on another host',
      'ci@10.0.0.7:2222',
      mismatch,
      '### ❌ mismatch — ci@10.0.0.7:2222'
    ],
    [
      'a run on the runner itself',
      'local',
      { verdict: 'match', reason: 'provenance match: 0123456789ab', pass: true, failure: '' },
      '### ✅ provenance match: 0123456789ab — local'
    ],
    [
      'an unknown host: no dash, nothing after the verdict line',
      '',
      {
        verdict: 'fail-closed',
        reason: 'provenance fail-closed: input image is required',
        pass: false,
        failure: 'invalid-input'
      },
      '### ❌ fail-closed · invalid-input'
    ],
    [
      'a host with markup is escaped like every cell',
      'deploy@<b>h</b>|x:22',
      mismatch,
      '### ❌ mismatch — deploy@&lt;b&gt;h&lt;/b&gt;&#124;x:22'
    ]
  ])('the title names the host when known: %s', (_name, where, decision, title) => {
    const summary = renderSummary(makeReport({ decision, where }))
    expect(summary.split('\n')[0]).toBe(title)
    expect(Object.fromEntries(tableRows(summary)).Host).toBe(where ? escapeCell(where) : '—')
  })

  test('carriage returns from hook progress output cannot break a row', () => {
    // CommonMark ends a line at a lone CR too, so a CR left in a cell splits the table row.
    const reason =
      'provenance fail-closed: hook failed (exit code 1) on local: 10%\r50%\r100% ⏎ boom'
    const summary = renderSummary(makeReport({ decision: { ...mismatch, reason } }))
    const lines = summary.split(/\r\n|\r|\n/)
    expect(lines).toHaveLength(6 + FAILED_ROW_NAMES.length + 1)
    expect(lines[2]).toBe(
      'provenance fail-closed: hook failed (exit code 1) on local: 10% 50% 100% ⏎ boom'
    )
  })
})
