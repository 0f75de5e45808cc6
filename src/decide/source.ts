import { GateError } from '../errors.js'

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
 * Throws a `wrong-source` GateError unless the source is fine.
 */
export function decideSource(
  labels: Record<string, string>,
  repositoryUrl: string,
  required: boolean
): void {
  const source = labels[SOURCE_LABEL]
  if (source === undefined || source.trim() === '') {
    if (!required) return
    throw new GateError(
      'wrong-source',
      `the image has no ${SOURCE_LABEL} label and require-source is true`
    )
  }
  if (!repositoryUrl) {
    throw new GateError(
      'wrong-source',
      `the image names its source ${JSON.stringify(source)} but this run does not know its repository (GITHUB_REPOSITORY is not set)`
    )
  }
  if (normalizeRepositoryUrl(source) === normalizeRepositoryUrl(repositoryUrl)) return
  throw new GateError(
    'wrong-source',
    `the image was built from ${JSON.stringify(source)}, not from ${repositoryUrl}`
  )
}
