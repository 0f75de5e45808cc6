import { createHash } from 'node:crypto'
import { GateError } from '../errors.js'
import { field, isJsonObject, parseStrictJson, type JsonObject } from './json.js'
import type { Descriptor, Platform } from './platform.js'
import { DIGEST } from './reference.js'

/** What the registry says about one image, bound to immutable digests. */
export interface RegistryImage {
  /**
   * Digest of the manifest the reference resolved to (the top-level one: an index's digest when
   * the tag is an index). Output `image_digest`.
   */
  digest: string
  /**
   * Digest of the platform manifest read (equals digest for a single-platform image); of the
   * first one when several were (see `images`).
   */
  manifestDigest: string
  /** Digest of the config blob; equals what `docker image inspect .Id` shows once pulled. */
  configDigest: string
  /**
   * The labels every image in `images` carries with the same value. A label on which they
   * differ is left out, so no check can pass on a value only some of them have.
   */
  labels: Record<string, string>
  /**
   * Every image the engine could pull for the requested platforms, in the order read: one for
   * a single-platform image, more when an index has several entries a host could choose
   * (`linux/amd64` and `linux/amd64/v3`, `amd64` and `AMD64`) or several platforms were asked.
   * Always set by `readRegistryImage`; optional so that fakes of the reader may leave it out.
   */
  images?: PlatformImage[]
}

/** One image of an index that a requested platform can resolve to. */
export interface PlatformImage {
  /** The entry's platform as the index states it (the config's, for a single-platform image). */
  platform: string
  manifestDigest: string
  configDigest: string
  labels: Record<string, string>
}

/** The label the gate compares when the caller names none (input revision-label's default). */
export const DEFAULT_REVISION_LABEL = 'org.opencontainers.image.revision'
/** The label every image a platform may resolve to must agree on, besides the revision. */
export const SOURCE_LABEL = 'org.opencontainers.image.source'

/** Manifest types that list one manifest per platform. */
export const INDEX_TYPES: readonly string[] = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json'
]
/** Manifest types of one image. */
export const MANIFEST_TYPES: readonly string[] = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json'
]
/** Config media types of container images; any other config is not an image. */
export const CONFIG_TYPES: readonly string[] = [
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json'
]
/** Sent on every manifest request: without it registries answer 404 or an old schema. */
export const MANIFEST_ACCEPT = [...INDEX_TYPES, ...MANIFEST_TYPES].join(', ')

/** Largest manifest or index we read (the distribution registry's own limit). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024
/** Largest image config we read; real ones are a few KiB, a long history a few hundred. */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024

/** A manifest read and bound to its digest. */
export interface Manifest {
  digest: string
  mediaType: string
  json: JsonObject
  /** What messages call it (`manifest <registry>/<repo>@sha256:…`). */
  what: string
  /** The bytes read: a promotion writes exactly these, so the digest cannot change. */
  body: Buffer
}

/** What the gate reads from a config blob. */
export interface ImageConfig {
  labels: Record<string, string>
  platform: Platform | undefined
}

/** The `sha256:<hex>` digest of a body, to bind it to what it was asked by. */
export function sha256(body: Buffer): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`
}

/** A Content-Type's media type, lowercased, without parameters. */
export function mediaTypeOf(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
}

/** A body parsed as one strict JSON object (Go's decoder would refuse anything else). */
export function parseObject(body: Buffer, what: string): JsonObject {
  const json = parseStrictJson(body.toString('utf8'), what)
  if (!isJsonObject(json)) throw new GateError('registry-error', `${what} is not a JSON object`)
  return json
}

/** A string field or nothing; any other type is refused (the engine's decoder refuses it too). */
function stringField(object: JsonObject, name: string, what: string): string | undefined {
  const value = field(object, name, what)
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') {
    throw new GateError('registry-error', `${what} has ${name} that is not a string`)
  }
  return value
}

/** The platform an object (index entry's `platform`, image config) names, if it names one. */
export function platformOf(object: JsonObject, what: string): Platform | undefined {
  const os = stringField(object, 'os', what)
  const architecture = stringField(object, 'architecture', what)
  const variant = stringField(object, 'variant', what)
  if (!architecture) return undefined
  const platform: Platform = { os: os ?? '', architecture }
  if (variant) platform.variant = variant
  return platform
}

/** Checks one descriptor's shape; only sha256 digests are accepted (all we can verify). */
export function descriptor(value: unknown, what: string): Descriptor {
  const bad = (why: string): GateError => new GateError('registry-error', `${what} ${why}`)
  if (!isJsonObject(value)) throw bad('is missing or not a descriptor')
  const mediaType = field(value, 'mediaType', what)
  const digest = field(value, 'digest', what)
  const size = field(value, 'size', what)
  const platform = field(value, 'platform', what)
  if (typeof mediaType !== 'string') throw bad('has no mediaType')
  if (typeof digest !== 'string' || !DIGEST.test(digest)) {
    throw bad(`has digest ${JSON.stringify(digest)}, not sha256:<64 hex>`)
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw bad(`has size ${JSON.stringify(size)}, not a byte count`)
  }
  const result: Descriptor = { mediaType, digest, size }
  if (platform !== undefined && platform !== null) {
    if (!isJsonObject(platform)) throw bad('has a platform that is not an object')
    const named = platformOf(platform, `the platform of ${what}`)
    if (named) result.platform = named
  }
  return result
}

/** An index's `manifests` list, each entry a checked descriptor. */
export function descriptors(value: unknown, what: string): Descriptor[] {
  if (!Array.isArray(value)) {
    throw new GateError('registry-error', `${what} has no manifests list`)
  }
  return value.map((entry, n) => descriptor(entry, `entry ${n} of ${what}`))
}
