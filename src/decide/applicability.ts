import { InputError } from '../errors.js'
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

/** A repository's owner or name as GitHub allows it (`.` and `..` are not names). */
const REPOSITORY_PART = /^(?!\.\.?$)[A-Za-z0-9_.-]+$/
/** A server prefix people paste with the repository: `https://host[:port]/` or `http://…`. */
const URL_PREFIX = /^https?:\/\/[A-Za-z0-9.-]+(?::[0-9]{1,5})?\//i
/** A dotted host written before `owner/name` without a scheme, as in `github.com/acme/shop`. */
const HOST_PREFIX = /^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\/(?=[^/]+\/[^/]+$)/

/**
 * An allowlist entry as the `owner/name` or bare `name` GITHUB_REPOSITORY is compared with: the
 * clone URL or `.git` suffix people paste would otherwise never match, and the gate would be
 * `not-applicable` (a pass) on every run of the very repository it was meant to guard. Returns
 * `undefined` for anything that still is not a repository, so the caller can refuse it.
 */
export function normalizeRepository(entry: string): string | undefined {
  let rest = entry.replace(URL_PREFIX, '')
  // A URL must name owner/name: `https://host/shop` would otherwise pass as a bare name.
  if (rest !== entry && rest.replace(/\/$/, '').split('/').length !== 2) return undefined
  // One trailing slash after owner/name is a URL's; `acme/` alone is an owner without a name.
  rest = rest.replace(/^([^/]+\/[^/]+)\/$/, '$1')
  rest = rest.replace(HOST_PREFIX, '').replace(/\.git$/i, '')
  const parts = rest.split('/')
  if (parts.length > 2 || !parts.every(part => REPOSITORY_PART.test(part))) return undefined
  // GitHub reserves the .git suffix: a name still ending in it is a typo, not a repository.
  return /\.git$/i.test(rest) ? undefined : rest
}

/**
 * Decides whether the gate applies to this run before any input beyond the switch is checked, so
 * the kill switch works even when the rest of the configuration is broken or its secrets are absent.
 * Returns `undefined` when the gate applies; otherwise the passing verdict to report. An allowlist
 * with an unknown repository throws an InputError: it cannot be applied, and a pass would let any
 * run through unchecked.
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
  if (!full) {
    throw new InputError(
      'GITHUB_REPOSITORY is empty, so the repositories allowlist cannot be applied: run the gate on GitHub Actions (which sets GITHUB_REPOSITORY), or remove repositories'
    )
  }
  const name = full.slice(full.lastIndexOf('/') + 1)
  const listed = allowlist.some(entry => {
    const wanted = entry.toLowerCase()
    return wanted.includes('/') ? wanted === full : wanted === name
  })
  if (listed) return undefined
  return {
    verdict: 'not-applicable',
    reason: `provenance gate not applicable: ${repository} is not in repositories`,
    pass: true,
    failure: ''
  }
}
