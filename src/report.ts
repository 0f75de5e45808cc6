import { FAILURE_HELP } from './failure-help.js'
import type { Facts } from './facts.js'
import type { Decision } from './decide/verdict.js'

/** Everything one run reports: outputs, the job summary and the final annotation come from it. */
export interface Report {
  decision: Decision
  facts: Facts
  /** `owner/name` of the workflow's repository. */
  repository: string
  /** `rebuild`, `verify`, or '' when the inputs were never read that far. */
  mode: string
  /** `local`, `user@host:port`, or '' when unknown. */
  where: string
  image: string
  totalMs: number
}

/** Output names, exactly as action.yml declares them; every one is set on every path. */
export function reportOutputs(report: Report): Record<string, string> {
  const { decision, facts } = report
  return {
    expected_revision: facts.expectedRevision,
    image_revision: facts.imageRevision,
    image_id: facts.imageId,
    image_digest: facts.imageDigest,
    prod_image_id: facts.prodImageId,
    prod_image_digest: facts.prodImageDigest,
    rebuilt: facts.rebuilt,
    verdict: decision.verdict,
    reason: decision.reason,
    failure: decision.failure
  }
}

/** Milliseconds for people: `850 ms`, `1.2 s`, `3 min 5 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const seconds = Math.round(ms / 1000)
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`
}

/** The failure annotation: the reason with its class, so a log reader can act on one line. */
export function failureMessage(decision: Decision): string {
  const { failure, verdict, reason } = decision
  return failure && failure !== verdict ? `${reason} [${failure}]` : reason
}

/**
 * The job summary as GitHub-flavoured Markdown: a short verdict line (with the failure class),
 * the reason, then the table, with what to do first when the gate failed.
 */
export function renderSummary(report: Report): string {
  const { decision, facts } = report
  const icon = decision.pass ? '✅' : '❌'
  const { failure, verdict } = decision
  const headline = !failure
    ? decision.reason
    : failure === verdict
      ? verdict
      : `${verdict} · ${failure}`
  const code = (value: string): string => (value ? `<code>${escapeCell(value)}</code>` : '—')
  const text = (value: string): string => (value ? escapeCell(value) : '—')
  const times = [
    ...facts.phases.map(phase => `${phase.name} ${formatDuration(phase.ms)}`),
    `total ${formatDuration(report.totalMs)}`
  ].join(' · ')
  const rows: [string, string][] = [
    ['Repository', text(report.repository)],
    ['Mode', text(report.mode)],
    ['Host', text(report.where)],
    ['Image', code(report.image)],
    ['Expected revision', code(facts.expectedRevision)],
    ['Image revision', code(facts.imageRevision)],
    ['Image id', code(facts.imageId)],
    ...(facts.contextNote ? [['Build context', text(facts.contextNote)] as [string, string]] : []),
    ...(facts.imageDigest ? [['Image digest', code(facts.imageDigest)] as [string, string]] : []),
    ...(facts.prodImageId ? [['Prod image id', code(facts.prodImageId)] as [string, string]] : []),
    ...(facts.prodImageDigest
      ? [['Prod image digest', code(facts.prodImageDigest)] as [string, string]]
      : []),
    ['Verdict', `**${decision.verdict}**`],
    ['Failure', text(decision.failure)],
    ...(decision.failure
      ? [['What to do', escapeCell(FAILURE_HELP[decision.failure])] as [string, string]]
      : []),
    ['Time', escapeCell(times)]
  ]
  return [
    // The host in the title: a fleet's N summaries in one job list must be told apart.
    `### ${icon} ${escapeCell(headline)}${report.where ? ` — ${escapeCell(report.where)}` : ''}`,
    '',
    ...(decision.failure ? [escapeCell(decision.reason), ''] : []),
    '| provenance-gate | |',
    '| --- | --- |',
    ...rows.map(([name, value]) => `| ${name} | ${value} |`),
    ''
  ].join('\n')
}

/** Makes any text safe inside one table cell: no HTML, no column breaks, no line breaks. */
export function escapeCell(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '&#124;')
    .replace(/[`*_~[\]\\]/g, match => `\\${match}`)
    .replace(/\s*(?:\r\n|\r|\n)\s*/g, ' ')
}
