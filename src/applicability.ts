import type { Decision } from './verdict.js'

/**
 * Splits an allowlist given as commas or newlines (how YAML users write lists) into entries.
 */
export function parseRepositoryList(raw: string): string[] {
  return raw
    .split(/[,\n]/)
    .map(entry => entry.trim())
    .filter(entry => entry !== '')
}

/**
 * Decides whether the gate applies to this run before any input beyond the switch is checked, so
 * the kill switch works even when the rest of the configuration is broken or its secrets are absent.
 * Returns `undefined` when the gate applies; otherwise the passing verdict to report.
 */
export function decideApplicability(
  enabled: boolean,
  allowlist: string[],
  repository: string
): Decision | undefined {
  if (!enabled) {
    return {
      verdict: 'disabled',
      reason: 'provenance gate disabled (enabled: false)',
      pass: true,
      failure: ''
    }
  }
  if (allowlist.length === 0) return undefined
  const full = repository.trim().toLowerCase()
  const name = full.slice(full.lastIndexOf('/') + 1)
  const listed = allowlist.some(entry => {
    const wanted = entry.toLowerCase()
    return wanted.includes('/') ? wanted === full : wanted === name
  })
  if (listed) return undefined
  return {
    verdict: 'not-applicable',
    reason: `provenance gate not applicable: ${repository || '(unknown repository)'} is not in repositories`,
    pass: true,
    failure: ''
  }
}
