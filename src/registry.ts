import { createHash } from 'node:crypto'
import { describeError, GateError, InputError } from './errors.js'
import { field, isJsonObject, parseStrictJson, type JsonObject } from './registry/json.js'
import {
  candidateEntries,
  configMatches,
  formatPlatform,
  parsePlatforms,
  type Descriptor,
  type Platform
} from './registry/platform.js'
import { httpsTransport, type Transport } from './registry/transport.js'

export { field, foldKey, parseStrictJson } from './registry/json.js'
export type { JsonObject, JsonValue } from './registry/json.js'
export {
  candidateEntries,
  configMatches,
  formatPlatform,
  hostsFor,
  normalizePlatform,
  parsePlatform,
  parsePlatforms,
  platformVector
} from './registry/platform.js'
export type { Descriptor, NormalPlatform, Platform } from './registry/platform.js'

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
const SOURCE_LABEL = 'org.opencontainers.image.source'

/** How to reach the registry and which image of an index to read. */
export interface RegistryOptions {
  /** '' = anonymous. */
  username: string
  password: string
  /**
   * `os/arch[/variant]`, or several comma-separated (`parsePlatforms`); callers default to
   * `linux/amd64`. Every image any of them may resolve to is read.
   */
  platform: string
  /**
   * The label the gate compares: images a platform may resolve to must agree on it (and on
   * `org.opencontainers.image.source`), else the read fails naming them. Default
   * DEFAULT_REVISION_LABEL.
   */
  revisionLabel?: string
  /** Bound on the whole read: every request, redirect and body. */
  timeoutMs: number
  /**
   * Seam for tests only; default is a fetch over `node:https` with its own agent, whose every
   * socket is destroyed when the read ends.
   */
  fetch?: typeof fetch
  /**
   * Registers a secret derived from the credentials with the runner's log masking (base64 of
   * `user:password`, a bearer token), called as soon as the secret exists: a registry may repeat
   * what it was sent anywhere in what it answers.
   */
  mask?: (secret: string) => void
}

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

/** One challenge of a `WWW-Authenticate` header; scheme and parameter names are lowercase. */
export interface Challenge {
  scheme: string
  params: Record<string, string>
}

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
const CONFIG_TYPES: readonly string[] = [
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json'
]
/** Sent on every manifest request: without it registries answer 404 or an old schema. */
const MANIFEST_ACCEPT = [...INDEX_TYPES, ...MANIFEST_TYPES].join(', ')

/** Largest manifest or index we read (the distribution registry's own limit). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024
/** Largest image config we read; real ones are a few KiB, a long history a few hundred. */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024
const MAX_TOKEN_BYTES = 1024 * 1024
const MAX_ERROR_BYTES = 16 * 1024
const MAX_REDIRECTS = 5

const DIGEST = /^sha256:[0-9a-f]{64}$/
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
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*(?=[ \t]*(?:,|$))/

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

/**
 * Parses a `WWW-Authenticate` header (RFC 7235): one or more challenges, each a scheme and
 * `name=value` parameters whose values are tokens or quoted strings (which may hold commas and
 * backslash escapes). A token68 (`Negotiate abc==`) is skipped.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = []
  let i = 0
  const at = (): string => header[i] ?? ''
  const skip = (chars: RegExp): void => {
    while (i < header.length && chars.test(at())) i++
  }
  const token = (): string => {
    const start = i
    while (i < header.length && TOKEN_CHAR.test(at())) i++
    return header.slice(start, i)
  }
  // Lenient: an unquoted value runs to the next comma or space (some servers leave URLs bare).
  const bare = (): string => {
    const start = i
    while (i < header.length && !/[\s,]/.test(at())) i++
    return header.slice(start, i)
  }
  const quoted = (): string => {
    let value = ''
    for (i++; i < header.length && at() !== '"'; i++) {
      if (at() === '\\' && i + 1 < header.length) i++
      value += at()
    }
    i++
    return value
  }
  while (i < header.length) {
    skip(/[\s,]/)
    const scheme = token()
    if (!scheme) {
      i++
      continue
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} }
    challenges.push(challenge)
    skip(/[ \t]/)
    const token68 = TOKEN68.exec(header.slice(i))
    if (token68) i += token68[0].length
    for (;;) {
      const start = i
      skip(/[\s,]/)
      const name = token().toLowerCase()
      skip(/[ \t]/)
      if (!name || at() !== '=') {
        i = start
        break
      }
      i++
      skip(/[ \t]/)
      const value = at() === '"' ? quoted() : bare()
      if (!(name in challenge.params)) challenge.params[name] = value
    }
  }
  return challenges
}

/**
 * Reads an image's labels straight from its registry (Registry HTTP API v2 over HTTPS), the way
 * the engine will read them: the manifest, for an index every entry a host of any of
 * `options.platform` could pull (containerd's matcher), then each config blob. Every body is
 * checked against the digest it was asked by; every document is parsed refusing keys that Go's
 * decoder would merge; the entries read must agree on the revision and source labels. Anonymous
 * first; only the registry's own 401 is answered (Basic, or a Bearer token from its realm). The
 * whole read, TLS handshakes included, ends within `options.timeoutMs` and leaves no socket.
 * Throws only GateErrors: `registry-auth`, `registry-not-found` or `registry-error`.
 */
export async function readRegistryImage(
  reference: string,
  options: RegistryOptions
): Promise<RegistryImage> {
  const ref = parseImageReference(reference)
  const platforms = parsePlatforms(options.platform)
  const transport = options.fetch ? undefined : httpsTransport()
  const session = new Session(ref, options, transport)
  try {
    return await session.read(platforms)
  } catch (error) {
    throw session.worded(error)
  } finally {
    transport?.close()
  }
}

/** A manifest or index as read: bound to its digest, with the exact bytes that hash to it. */
export interface Manifest {
  digest: string
  mediaType: string
  json: JsonObject
  /** What messages call it (`manifest <registry>/<repo>@sha256:…`). */
  what: string
  /** The bytes read: a promotion writes exactly these, so the digest cannot change. */
  body: Buffer
}

/** What a write sends besides its method: the body and its Content-Type. */
export interface SendOptions {
  accept: string
  body?: Buffer
  contentType?: string
  /** What a 401/403 means here, for its message (default: the pull advice). */
  refused?: string
}

/**
 * Runs `work` with one registry session for `reference` (the same credentials, token cache,
 * deadline and masking as `readRegistryImage`), then closes every socket it opened. What `work`
 * throws comes back as a GateError with every secret of the session redacted. For writers (a
 * promotion) that need the reader's hardened reads and its authentication for a few requests of
 * their own.
 */
export async function withRegistrySession<T>(
  reference: string,
  options: RegistryOptions,
  work: (session: RegistrySession) => Promise<T>
): Promise<T> {
  const ref = parseImageReference(reference)
  const transport = options.fetch ? undefined : httpsTransport()
  const session = new Session(ref, options, transport)
  try {
    return await work(session)
  } catch (error) {
    throw session.worded(error)
  } finally {
    transport?.close()
  }
}

/** The session `withRegistrySession` hands out: the reader's requests, open for writers. */
export type RegistrySession = Pick<
  Session,
  'ref' | 'name' | 'manifest' | 'config' | 'configDescriptor' | 'checkPlatform' | 'send' | 'error'
>

/** A response, and the URL that answered it once redirects were followed. */
interface Answer {
  response: Response
  url: string
}

/** What the gate reads from a config blob. */
export interface ImageConfig {
  labels: Record<string, string>
  platform: Platform | undefined
}

/** One bounded read: the credentials, the token once obtained, and the deadline. */
class Session {
  private readonly signal: AbortSignal
  private readonly fetch: typeof fetch
  /** `https://<registry>`: the only origin credentials and challenges are taken from. */
  private readonly origin: string
  /** The `Authorization` value that worked (or is being tried); reused for every request. */
  private authorization: string | undefined
  /** The image as the user wrote it, normalized, for messages. */
  readonly name: string
  /** `Basic <base64>` when credentials were given. */
  private readonly basicAuthorization: string | undefined
  /** Every secret this read knows, kept out of every message it words. */
  private readonly secrets: string[] = []

  constructor(
    readonly ref: ImageReference,
    private readonly options: RegistryOptions,
    transport: Transport | undefined
  ) {
    this.signal = AbortSignal.timeout(options.timeoutMs)
    this.fetch = options.fetch ?? transport?.fetch ?? fetch
    this.origin = new URL(`https://${ref.registry}`).origin
    this.name = `${ref.registry}/${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`}`
    if (options.username) {
      const pair = `${options.username}:${options.password}`
      const encoded = Buffer.from(pair, 'utf8').toString('base64')
      this.basicAuthorization = `Basic ${encoded}`
      this.secret(encoded)
      this.secrets.push(pair, options.password)
    }
  }

  /** A secret from now on: masked in the runner's log and kept out of this read's messages. */
  private secret(value: string): void {
    this.secrets.push(value)
    this.options.mask?.(value)
  }

  async read(platforms: Platform[]): Promise<RegistryImage> {
    const top = await this.manifest(this.ref.digest ?? this.ref.tag ?? 'latest', this.ref.digest)
    const images: PlatformImage[] = []
    if (INDEX_TYPES.includes(top.mediaType)) {
      const entries = descriptors(field(top.json, 'manifests', top.what), `index ${this.name}`)
      const chosen: Descriptor[] = []
      for (const platform of platforms) {
        const candidates = candidateEntries(entries, platform)
        if (candidates.length === 0) {
          const have = [
            ...new Set(entries.flatMap(e => (e.platform ? [formatPlatform(e.platform)] : [])))
          ]
          throw new GateError(
            'registry-not-found',
            `${this.name} is an index with no manifest for ${formatPlatform(platform)} (it has ${have.join(', ') || 'no platforms'})`
          )
        }
        for (const entry of candidates) if (!chosen.includes(entry)) chosen.push(entry)
      }
      const read = new Map<string, { manifest: Manifest; config: Descriptor; image: ImageConfig }>()
      for (const entry of chosen) {
        const claimed = entry.platform ?? { os: '', architecture: '' }
        const shown = formatPlatform(claimed)
        let done = read.get(entry.digest)
        if (!done) {
          const manifest = await this.manifest(entry.digest, entry.digest, entry.size)
          if (!MANIFEST_TYPES.includes(manifest.mediaType)) {
            throw this.error(
              `the ${shown} entry ${entry.digest} of index ${this.name} is ${manifest.mediaType}, not an image manifest`
            )
          }
          const config = this.configDescriptor(manifest)
          done = { manifest, config, image: await this.config(config, manifest.digest) }
          read.set(entry.digest, done)
        }
        const { manifest, config, image } = done
        this.checkPlatform(
          image,
          claimed,
          `the ${shown} entry ${entry.digest} of index ${this.name}`
        )
        images.push({
          platform: shown,
          manifestDigest: manifest.digest,
          configDigest: config.digest,
          labels: image.labels
        })
      }
    } else {
      const config = this.configDescriptor(top)
      const image = await this.config(config, top.digest)
      for (const platform of platforms) {
        this.checkPlatform(
          image,
          platform,
          `${this.name} (a single-platform image, asked for ${formatPlatform(platform)})`
        )
      }
      images.push({
        platform: image.platform ? formatPlatform(image.platform) : '',
        manifestDigest: top.digest,
        configDigest: config.digest,
        labels: image.labels
      })
    }
    const [first] = images
    if (!first) throw this.error(`${this.name}: no image was read`)
    return {
      digest: top.digest,
      manifestDigest: first.manifestDigest,
      configDigest: first.configDigest,
      labels: this.agreed(images),
      images
    }
  }

  /**
   * The labels all `images` share. They must agree on the revision and source labels: the
   * engine may pull any one of them (which one depends on the host's CPU level, on case and
   * alias spellings of the platform, on the order of the index), so every one must carry what
   * the gate checks.
   */
  private agreed(images: PlatformImage[]): Record<string, string> {
    const valueOf = (image: PlatformImage, name: string): string | undefined =>
      Object.hasOwn(image.labels, name) ? image.labels[name] : undefined
    const revision = this.options.revisionLabel || DEFAULT_REVISION_LABEL
    for (const name of new Set([revision, SOURCE_LABEL])) {
      if (new Set(images.map(image => valueOf(image, name))).size <= 1) continue
      const each = images.map(image => {
        const value = valueOf(image, name)
        return `${image.platform} (manifest ${image.manifestDigest}) has ${value === undefined ? 'none' : JSON.stringify(value.slice(0, 80))}`
      })
      throw this.error(
        `${this.name}: the images the engine may pull for ${this.options.platform} disagree on ${name}: ${each.join('; ')}. Which one a host pulls depends on its CPU and the index, so every one must carry the same value`
      )
    }
    const [first, ...rest] = images
    return Object.fromEntries(
      Object.entries(first?.labels ?? {}).filter(([name, value]) =>
        rest.every(image => valueOf(image, name) === value)
      )
    )
  }

  /** Refuses a config whose own os/architecture/variant is not the platform it was chosen as. */
  checkPlatform(image: ImageConfig, claimed: Platform, what: string): void {
    if (!image.platform) {
      throw this.error(`${what}: its config names no os and architecture`)
    }
    if (!configMatches(image.platform, claimed)) {
      throw this.error(
        `${what}: its config says ${formatPlatform(image.platform)}, not ${formatPlatform(claimed)}; refusing an image whose platform is not what was asked for`
      )
    }
  }

  /** The manifest's config descriptor; only container image configs are read. */
  configDescriptor(manifest: Manifest): Descriptor {
    const config = descriptor(
      field(manifest.json, 'config', manifest.what),
      `config of ${manifest.what}`
    )
    if (!CONFIG_TYPES.includes(config.mediaType)) {
      throw this.error(
        `manifest ${manifest.digest} of ${this.name} has a ${config.mediaType} config: not a container image`
      )
    }
    return config
  }

  /**
   * Fetches a manifest by tag or digest and binds it: its sha256 must equal every claim. From
   * `repository` of the same registry when given (a promotion reads its target back).
   */
  async manifest(
    reference: string,
    expectedDigest: string | undefined,
    expectedSize?: number,
    repository = this.ref.repository
  ): Promise<Manifest> {
    const what = `manifest ${this.ref.registry}/${repository}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`
    if (expectedSize !== undefined && expectedSize > MAX_MANIFEST_BYTES) {
      throw this.error(
        `${what} is ${expectedSize} bytes, over the ${mib(MAX_MANIFEST_BYTES)} limit`
      )
    }
    const response = await this.send('GET', repository, `manifests/${reference}`, what, {
      accept: MANIFEST_ACCEPT
    })
    if (response.status === 404) {
      throw new GateError(
        'registry-not-found',
        `${what} not found (404${await errorDetail(response)})`
      )
    }
    if (!response.ok) throw this.error(`${what}: ${await statusText(response)}`)
    const contentType = mediaTypeOf(response.headers.get('content-type'))
    if (!INDEX_TYPES.includes(contentType) && !MANIFEST_TYPES.includes(contentType)) {
      await discard(response)
      throw this.error(
        `${what} came as Content-Type ${JSON.stringify(contentType)}, not an OCI or Docker v2 manifest or index`
      )
    }
    const body = await this.body(response, MAX_MANIFEST_BYTES, what)
    const digest = sha256(body)
    const claimed = response.headers.get('docker-content-digest')
    if (claimed && claimed !== digest) {
      throw this.error(
        `${what}: the registry says its digest is ${claimed} but its body hashes to ${digest}`
      )
    }
    if (expectedDigest && digest !== expectedDigest) {
      throw this.error(`${what}: asked for ${expectedDigest} but the body hashes to ${digest}`)
    }
    if (expectedSize !== undefined && body.length !== expectedSize) {
      throw this.error(`${what} is ${body.length} bytes but its descriptor says ${expectedSize}`)
    }
    const json = parseObject(body, what)
    const schemaVersion = field(json, 'schemaVersion', what)
    if (schemaVersion !== 2) {
      throw this.error(`${what} has schemaVersion ${JSON.stringify(schemaVersion)}, not 2`)
    }
    const mediaType = field(json, 'mediaType', what)
    if (mediaType !== undefined && mediaType !== contentType) {
      throw this.error(
        `${what} came as Content-Type ${contentType} but says it is ${JSON.stringify(mediaType)}`
      )
    }
    return { digest, mediaType: contentType, json, what, body }
  }

  /**
   * Fetches the config blob, checks it against its descriptor, and returns `config.Labels` and
   * its platform, every field found the way the engine's Go decoder finds it.
   */
  async config(config: Descriptor, manifestDigest: string): Promise<ImageConfig> {
    const what = `config blob ${config.digest} of ${this.name}`
    if (config.size > MAX_CONFIG_BYTES) {
      throw this.error(`${what} is ${config.size} bytes, over the ${mib(MAX_CONFIG_BYTES)} limit`)
    }
    const response = await this.send('GET', this.ref.repository, `blobs/${config.digest}`, what, {
      accept: `${config.mediaType}, */*`
    })
    if (response.status === 404) {
      throw this.error(
        `${what} is missing (404${await errorDetail(response)}) although manifest ${manifestDigest} names it`
      )
    }
    if (!response.ok) throw this.error(`${what}: ${await statusText(response)}`)
    const body = await this.body(response, MAX_CONFIG_BYTES, what)
    const digest = sha256(body)
    if (digest !== config.digest) throw this.error(`${what}: the body hashes to ${digest}`)
    if (body.length !== config.size) {
      throw this.error(`${what} is ${body.length} bytes but the manifest says ${config.size}`)
    }
    const json = parseObject(body, what)
    const platform = platformOf(json, what)
    const inner = field(json, 'config', what)
    if (inner === undefined || inner === null) return { labels: {}, platform }
    if (!isJsonObject(inner)) throw this.error(`${what} has a config that is not an object`)
    const labels = field(inner, 'Labels', `${what} (in its config)`)
    if (labels === undefined || labels === null) return { labels: {}, platform }
    if (!isJsonObject(labels) || !Object.values(labels).every(value => typeof value === 'string')) {
      throw this.error(`${what} has config.Labels that is not a map of strings`)
    }
    return {
      labels: Object.fromEntries(Object.entries(labels)) as Record<string, string>,
      platform
    }
  }

  /**
   * `method` on `/v2/<repository>/<path>` of this registry (or on an absolute URL of its own
   * origin, such as an upload's Location), answering one 401 per its challenge and retrying
   * once. A 401 or 403 left after that is `registry-auth` (worded by `options.refused`, never
   * quoting the answer); any other status is the caller's. Only the registry's own 401 is
   * answered: a 401 or 403 from where it redirected (blob storage, another host) is
   * `registry-error`, so credentials never go to a realm another origin names. Only GET and
   * HEAD follow redirects.
   */
  async send(
    method: string,
    repository: string,
    path: string,
    what: string,
    options: SendOptions
  ): Promise<Response> {
    const url = /^https:\/\//.test(path)
      ? path
      : `https://${this.ref.registry}/v2/${repository}/${path}`
    if (new URL(url).origin !== this.origin) {
      throw this.error(
        `${what}: ${new URL(url).origin} is not ${this.ref.registry}; refusing to send`
      )
    }
    const init = { method, body: options.body, contentType: options.contentType }
    let answer = await this.follow(url, options.accept, what, this.authorization, init)
    this.refuseForeignAuth(answer, what)
    if (answer.response.status === 401) {
      const challenge = answer.response.headers.get('www-authenticate') ?? ''
      await discard(answer.response)
      const authorization = await this.authenticate(challenge, what)
      if (authorization !== this.authorization) {
        this.authorization = authorization
        answer = await this.follow(url, options.accept, what, authorization, init)
        this.refuseForeignAuth(answer, what)
      }
    }
    const { response } = answer
    if (response.status === 401 || response.status === 403) {
      await discard(response)
      throw new GateError(
        'registry-auth',
        `${this.ref.registry} refused ${this.options.username ? 'the given credentials' : 'anonymous access'} for ${what} (${response.status}): ${options.refused ?? this.authAdvice()}`
      )
    }
    return response
  }

  /** A 401/403 from an origin the registry redirected to ends the read, unanswered. */
  private refuseForeignAuth(answer: Answer, what: string): void {
    const { response, url } = answer
    if (response.status !== 401 && response.status !== 403) return
    const origin = new URL(url).origin
    if (origin === this.origin) return
    void discard(response)
    throw this.error(
      `${what}: the registry redirected to ${origin}, which answered ${response.status}; credentials are only sent to ${this.ref.registry} and the token realm its own challenge names, so this is not retried`
    )
  }

  /**
   * What to check after a refusal. The registry's answer is never quoted on a 401 or 403: some
   * repeat the request's Authorization header, i.e. the credentials, in their error body.
   */
  private authAdvice(): string {
    return this.options.username
      ? `check registry-username and registry-password, and that this user may pull ${this.ref.repository} (the registry's answer is not shown: it may repeat the credentials)`
      : 'if the repository is private, set registry-username and registry-password'
  }

  /** The `Authorization` value a challenge asks for; throws `registry-auth` when there is none. */
  private async authenticate(header: string, what: string): Promise<string> {
    const challenges = parseChallenges(header)
    const bearer = challenges.find(c => c.scheme === 'bearer')
    if (bearer) return `Bearer ${await this.token(bearer.params)}`
    if (challenges.some(c => c.scheme === 'basic')) {
      if (!this.options.username) {
        throw new GateError(
          'registry-auth',
          `${this.ref.registry} requires credentials for ${what} (401, Basic) and none were given`
        )
      }
      return this.basicAuthorization ?? ''
    }
    throw new GateError(
      'registry-auth',
      `${this.ref.registry} answered 401 for ${what} without a Basic or Bearer challenge (WWW-Authenticate: ${JSON.stringify(header.slice(0, 200))})`
    )
  }

  /** Asks the Bearer challenge's realm for a pull token, with Basic credentials when given. */
  private async token(params: Record<string, string>): Promise<string> {
    let url: URL
    try {
      url = new URL(params.realm ?? '')
    } catch {
      throw this.error(
        `${this.ref.registry} sent a Bearer challenge without a usable realm (${JSON.stringify(params.realm ?? '')})`
      )
    }
    if (url.protocol !== 'https:') {
      throw this.error(
        `${this.ref.registry} sent a token realm that is not HTTPS (${url.origin}${url.pathname}); refusing to use it`
      )
    }
    if (params.service) url.searchParams.set('service', params.service)
    const scopes = (params.scope ?? `repository:${this.ref.repository}:pull`).split(' ')
    for (const scope of scopes.filter(Boolean)) url.searchParams.append('scope', scope)
    const endpoint = `token endpoint ${url.origin}${url.pathname}`
    const credentials = this.basicAuthorization
    const { response } = await this.follow(url.href, 'application/json', endpoint, credentials)
    if (response.status === 401 || response.status === 403) {
      await discard(response)
      throw new GateError(
        'registry-auth',
        `${endpoint} refused ${credentials ? 'the given credentials' : 'an anonymous token'} (${response.status}): ${this.authAdvice()}`
      )
    }
    if (!response.ok) throw this.error(`${endpoint}: ${await statusText(response)}`)
    const json = parseObject(await this.body(response, MAX_TOKEN_BYTES, endpoint), endpoint)
    const token = [json.token, json.access_token].find(t => typeof t === 'string' && t !== '')
    if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token)) {
      throw this.error(`${endpoint} answered without a usable token or access_token`)
    }
    this.secret(token)
    return token
  }

  /**
   * One request, following redirects by hand: only to HTTPS, at most MAX_REDIRECTS, and without
   * the Authorization header once the origin changes (blob storage gets a signed URL instead).
   */
  private async follow(
    url: string,
    accept: string,
    what: string,
    authorization: string | undefined,
    init: { method?: string; body?: Buffer; contentType?: string } = {}
  ): Promise<Answer> {
    let current = url
    let auth = authorization
    const method = init.method ?? 'GET'
    const reads = method === 'GET' || method === 'HEAD'
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { accept }
      if (auth) headers.authorization = auth
      if (init.contentType) headers['content-type'] = init.contentType
      let response: Response
      try {
        response = await this.fetch(current, {
          method,
          headers,
          redirect: 'manual',
          signal: this.signal,
          ...(init.body ? { body: init.body } : {})
        })
      } catch (error) {
        throw this.networkError(error, current)
      }
      const redirect = [301, 302, 303, 307, 308].includes(response.status)
      if (!redirect || !reads) return { response, url: current }
      await discard(response)
      const location = response.headers.get('location')
      if (!location) throw this.error(`${what}: redirect ${response.status} without a Location`)
      if (hop >= MAX_REDIRECTS) throw this.error(`${what}: more than ${MAX_REDIRECTS} redirects`)
      const next = new URL(location, current)
      if (next.protocol !== 'https:') {
        throw this.error(`${what}: redirected to ${next.protocol}//${next.host}, not HTTPS`)
      }
      if (next.origin !== new URL(current).origin) auth = undefined
      current = next.href
    }
  }

  /** Reads a body of at most `limit` bytes; a larger one is refused without reading it all. */
  private async body(response: Response, limit: number, what: string): Promise<Buffer> {
    const tooLarge = (): GateError =>
      this.error(`${what} is larger than the ${mib(limit)} limit; refusing to read it`)
    const declared = Number(response.headers.get('content-length') ?? 0)
    if (declared > limit) {
      await discard(response)
      throw this.error(
        `${what} is ${declared} bytes (Content-Length), over the ${mib(limit)} limit; refusing to read it`
      )
    }
    if (!response.body) return Buffer.alloc(0)
    const reader = response.body.getReader()
    const chunks: Uint8Array[] = []
    let total = 0
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>
      try {
        chunk = await reader.read()
      } catch (error) {
        throw this.networkError(error, response.url || what)
      }
      if (chunk.done) break
      total += chunk.value.byteLength
      if (total > limit) {
        await reader.cancel().catch(() => undefined)
        throw tooLarge()
      }
      chunks.push(chunk.value)
    }
    return Buffer.concat(chunks)
  }

  /** Words a failed request; a timeout is worded by `worded`, which sees the aborted signal. */
  private networkError(error: unknown, url: string): GateError {
    // Duck-typed: fetch's errors may come from another realm (a test VM), where instanceof fails.
    const cause = isObject(error) && isObject(error.cause) ? error.cause : undefined
    const code = typeof cause?.code === 'string' ? cause.code : ''
    const message = typeof cause?.message === 'string' ? firstLine(cause.message) : ''
    const detail = cause ? [code, message].filter(Boolean).join(': ') : describeError(error)
    let host = url
    try {
      host = new URL(url).host
    } catch {
      // Not a URL (a body read names what it read); use it as it is.
    }
    if (UNTRUSTED_CERTIFICATE.has(code)) {
      return this.error(
        `the TLS certificate of ${host} is not trusted (${detail}); if the registry uses its own CA, set NODE_EXTRA_CA_CERTS to the registry's CA file`
      )
    }
    if (code.startsWith('ERR_SSL_') || code === 'EPROTO') {
      return this.error(
        `TLS handshake with ${host} failed (${detail}); is it serving plain HTTP? Registries are only read over HTTPS`
      )
    }
    return this.error(`cannot read from ${host}: ${detail}`)
  }

  private timeout(): GateError {
    return this.error(
      `reading ${this.name} from the registry timed out after ${this.options.timeoutMs / 1000} s`
    )
  }

  error(message: string): GateError {
    return new GateError('registry-error', message)
  }

  /**
   * Any failure as a GateError: a timeout wins, then a worded error, then anything else. Every
   * secret of the read is replaced by `***` in the message, whatever text of the registry's it
   * quotes (a 404 body, a challenge, a status line) and whether or not the runner masks it.
   */
  worded(error: unknown): GateError {
    const worded = this.signal.aborted
      ? this.timeout()
      : error instanceof GateError
        ? error
        : this.error(`reading ${this.name} failed: ${describeError(error)}`)
    const message = redact(worded.message, this.secrets)
    return message === worded.message ? worded : new GateError(worded.failure, message)
  }
}

/** Node's codes for a certificate chain that does not end in a trusted CA. */
const UNTRUSTED_CERTIFICATE = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED'
])

/** Shortest secret replaced in messages: shorter ones would cut words apart (the runner masks them). */
const MIN_REDACTED = 4

/** `text` with every secret of at least MIN_REDACTED characters replaced by `***`, longest first. */
function redact(text: string, secrets: string[]): string {
  return secrets
    .filter(secret => secret.length >= MIN_REDACTED)
    .sort((a, b) => b.length - a.length)
    .reduce((result, secret) => result.split(secret).join('***'), text)
}

function sha256(body: Buffer): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`
}

function mib(bytes: number): string {
  return `${bytes / 1024 / 1024} MiB`
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').slice(0, 200)
}

function mediaTypeOf(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function parseObject(body: Buffer, what: string): JsonObject {
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
function platformOf(object: JsonObject, what: string): Platform | undefined {
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

/** An index's `manifests`: every entry a descriptor, or a registry-error. */
export function descriptors(value: unknown, what: string): Descriptor[] {
  if (!Array.isArray(value)) {
    throw new GateError('registry-error', `${what} has no manifests list`)
  }
  return value.map((entry, n) => descriptor(entry, `entry ${n} of ${what}`))
}

/** Ends a response unread, so its socket is released (writers discard what they do not quote). */
export async function discard(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined)
}

/** ` CODE: message` from a registry's JSON error body, or the start of a text one, or ''. */
async function errorDetail(response: Response): Promise<string> {
  let text = ''
  try {
    const reader = response.body?.getReader()
    const decoder = new TextDecoder()
    while (reader && text.length < MAX_ERROR_BYTES) {
      const { done, value } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
    }
    await reader?.cancel().catch(() => undefined)
  } catch {
    // A body that cannot be read adds nothing to the message.
  }
  try {
    const json: unknown = JSON.parse(text)
    const first = isObject(json) && Array.isArray(json.errors) ? json.errors[0] : undefined
    if (isObject(first) && typeof first.code === 'string') {
      const message = typeof first.message === 'string' ? `: ${first.message}` : ''
      return ` ${first.code}${message}`.slice(0, 200)
    }
  } catch {
    // Not JSON: show the start of the text instead.
  }
  const line = text.replace(/\s+/g, ' ').trim().slice(0, 120)
  return line ? ` ${JSON.stringify(line)}` : ''
}

/**
 * `the registry answered <status>` with the registry's error code, for a status nobody expected;
 * never used on a 401/403 (their body may repeat the credentials).
 */
export async function statusText(response: Response): Promise<string> {
  const status = `${response.status}${response.statusText ? ` ${response.statusText}` : ''}`
  const hint = response.status === 429 ? ' (rate limited)' : ''
  return `the registry answered ${status}${hint}${await errorDetail(response)}`
}
