import { InputError } from '../errors.js'

/** An image reference split the way the Registry HTTP API needs it. */
export interface ImageReference {
  /** `host[:port]` the API is served on (`registry-1.docker.io` for Docker Hub). */
  registry: string
  /** Repository path, `library/` included for Docker Hub's official images. */
  repository: string
  /** `latest` when the reference names neither tag nor digest. */
  tag: string | undefined
  /** `sha256:<hex>`; when set it wins over the tag, as with `docker pull`. */
  digest: string | undefined
}

/** A sha256 digest, the only kind the registry reader can verify. */
export const DIGEST = /^sha256:[0-9a-f]{64}$/
const TAG = /^\w[\w.-]{0,127}$/
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const DOMAIN_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?'
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[0-9A-Fa-f:]+\\])(?::([0-9]+))?$`
)
/** Any digest the reference grammar allows (`algorithm:hex`); the registry reader wants sha256. */
const ANY_DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/
/** docker's NameTotalLengthMax: registry and repository together. */
const MAX_NAME = 255
/** Bound on the whole reference (it ends up in argv and in messages). */
const MAX_REFERENCE = 512

/** An image reference split by the reference grammar, nothing resolved or defaulted. */
export interface ReferenceParts {
  /** `host[:port]` as written, or '' when the reference names none (Docker Hub). */
  domain: string
  /** The repository path as written (no `library/` added). */
  path: string
  tag: string | undefined
  digest: string | undefined
}

/**
 * The one image reference grammar of the action (distribution/reference, as `docker` reads a
 * reference): the first component is a registry when it has a `.` or `:`, is `localhost`, or has
 * uppercase letters. Input checks, the registry reader and the promote target comparison all
 * split by it, so they cannot disagree about what a reference names. Throws an InputError naming
 * what is wrong.
 */
export function splitImageReference(reference: string): ReferenceParts {
  const bad = (why: string): InputError => badReference(reference, why)
  if (reference.length > MAX_REFERENCE) throw bad(`is longer than ${MAX_REFERENCE} characters`)
  let rest = reference
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at >= 0) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!ANY_DIGEST.test(digest)) throw bad('has a malformed digest (expected sha256:<64 hex>)')
  }
  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!TAG.test(tag)) throw bad('has a malformed tag')
  }
  let domain = ''
  let path = rest
  const slash = rest.indexOf('/')
  if (slash >= 0) {
    const head = rest.slice(0, slash)
    if (/[.:]/.test(head) || head === 'localhost' || head !== head.toLowerCase()) {
      domain = head
      path = rest.slice(slash + 1)
    }
  }
  if (domain && !DOMAIN.test(domain)) throw bad('has a malformed registry host')
  if (!path || !path.split('/').every(part => PATH_COMPONENT.test(part))) {
    throw bad('has a malformed repository (lowercase letters and digits, separated by . _ - or /)')
  }
  if (rest.length > MAX_NAME) throw bad(`has a name longer than ${MAX_NAME} characters`)
  return { domain, path, tag, digest }
}

function badReference(reference: string, why: string): InputError {
  const shown = reference.length > 200 ? `${reference.slice(0, 200)}…` : reference
  return new InputError(`image reference ${JSON.stringify(shown)} ${why}`)
}

/**
 * The reference as docker names the image locally (`docker.io/library/shop:latest` for `shop`):
 * two references name the same tag exactly when these are equal. Registry hosts compare without
 * case (DNS), tags and digests as written. Throws an InputError for a malformed reference.
 */
export function canonicalImageReference(reference: string): string {
  const { domain, path, tag, digest } = splitImageReference(reference)
  const host = domain.toLowerCase()
  const hub = !host || host === 'docker.io' || host === 'index.docker.io'
  const name = hub
    ? `docker.io/${path.includes('/') ? path : `library/${path}`}`
    : `${host}/${path}`
  const tagPart = tag !== undefined ? `:${tag}` : digest === undefined ? ':latest' : ''
  return `${name}${tagPart}${digest !== undefined ? `@${digest}` : ''}`
}

/**
 * Splits an image reference the way the Registry HTTP API needs it: Docker Hub is
 * `registry-1.docker.io` with bare names under `library/`; no tag and no digest means `latest`.
 * Stricter than the grammar where the reader must be: only sha256 digests (all it can verify)
 * and ports up to 65535. Throws an InputError naming what is wrong.
 */
export function parseImageReference(reference: string): ImageReference {
  const parts = splitImageReference(reference)
  const bad = (why: string): InputError => badReference(reference, why)
  if (parts.digest !== undefined && !DIGEST.test(parts.digest)) {
    throw bad('has a malformed digest (expected sha256:<64 hex>)')
  }
  if (Number(DOMAIN.exec(parts.domain)?.[1] ?? 0) > 65535) {
    throw bad('has a malformed registry host')
  }
  let registry = parts.domain || 'docker.io'
  let repository = parts.path
  if (['docker.io', 'index.docker.io'].includes(registry.toLowerCase())) {
    registry = 'registry-1.docker.io'
    if (!repository.includes('/')) repository = `library/${repository}`
  }
  const { digest } = parts
  const tag = parts.tag === undefined && digest === undefined ? 'latest' : parts.tag
  return { registry, repository, tag, digest }
}
