import { failClosed, type Decision } from './verdict.js'

/** The OCI label that names the repository an image was built from. */
export const SOURCE_LABEL = 'org.opencontainers.image.source'

/** A repository URL in the one form two spellings of it share: lower case, no `.git`, no `/`. */
export function normalizeRepositoryUrl(url: string): string {
  return url
    .trim()
    .toLowerCase()
    .replace(/\/+$/, '')
    .replace(/\.git$/, '')
}

/**
 * Checks the image's source label against this workflow's repository, so an image built from a
 * fork or another project with the same commit id cannot pass. A missing label passes unless
 * `required`; an unknown repository (no GITHUB_REPOSITORY) cannot vouch for any label.
 * Returns `undefined` when the source is fine, else the failed decision.
 */
export function decideSource(
  labels: Record<string, string>,
  repositoryUrl: string,
  required: boolean
): Decision | undefined {
  const source = labels[SOURCE_LABEL]
  if (source === undefined || source.trim() === '') {
    return required
      ? failClosed(
          `provenance fail-closed: the image has no ${SOURCE_LABEL} label and require-source is true`,
          'wrong-source'
        )
      : undefined
  }
  if (!repositoryUrl) {
    return failClosed(
      `provenance fail-closed: the image names its source ${JSON.stringify(source)} but this run does not know its repository (GITHUB_REPOSITORY is not set)`,
      'wrong-source'
    )
  }
  if (normalizeRepositoryUrl(source) === normalizeRepositoryUrl(repositoryUrl)) return undefined
  return failClosed(
    `provenance fail-closed: the image was built from ${JSON.stringify(source)}, not from ${repositoryUrl}`,
    'wrong-source'
  )
}
