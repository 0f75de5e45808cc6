import { createHash } from 'node:crypto'
import { describeError, GateError, InputError } from './errors.js'

/** What the registry says about one image, bound to immutable digests. */
export interface RegistryImage {
  /**
   * Digest of the manifest the reference resolved to (the top-level one: an index's digest when
   * the tag is an index). Output `image_digest`.
   */
  digest: string
  /** Digest of the platform manifest actually read (equals digest for a single-platform image). */
  manifestDigest: string
  /** Digest of the config blob; equals what `docker image inspect .Id` shows once pulled. */
  configDigest: string
  labels: Record<string, string>
}

/** How to reach the registry and which image of an index to read. */
export interface RegistryOptions {
  /** '' = anonymous. */
  username: string
  password: string
  /** `os/arch` or `os/arch/variant`; callers default to `linux/amd64`. */
  platform: string
  /** Bound on the whole read: every request, redirect and body. */
  timeoutMs: number
  /** Seam for tests only; default is Node's built-in fetch. */
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

/** A platform as an index describes it. */
export interface Platform {
  os: string
  architecture: string
  variant?: string
}

/** An OCI descriptor: what an index or a manifest says about the blob it points to. */
export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: Platform
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

/** Parses `os/arch` or `os/arch/variant`; throws an InputError otherwise. */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/')
  const word = /^[a-z0-9._-]+$/
  if (parts.length < 2 || parts.length > 3 || !parts.every(part => word.test(part))) {
    throw new InputError(
      `platform ${JSON.stringify(text)} is not os/arch or os/arch/variant (e.g. linux/amd64)`
    )
  }
  const [os = '', architecture = '', variant] = parts
  return variant === undefined ? { os, architecture } : { os, architecture, variant }
}

/** `os/arch[/variant]`, as `docker` prints a platform. */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/')
}

const ARCHITECTURE_ALIASES: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64' }
/** Variants that mean "the baseline" and are often left out. */
const DEFAULT_VARIANTS: Record<string, string> = { arm64: 'v8', amd64: 'v1' }

function normalize(platform: Platform): Required<Platform> {
  const os = platform.os.toLowerCase()
  const architecture = ARCHITECTURE_ALIASES[platform.architecture] ?? platform.architecture
  let variant = platform.variant ?? ''
  if (variant === DEFAULT_VARIANTS[architecture]) variant = ''
  return { os, architecture, variant }
}

/**
 * The first entry of an index whose platform matches: same os and architecture, and the same
 * variant when `wanted` names one (`arm64/v8` and `arm64` are the same). Entries without a
 * platform (attestations, artifacts) never match.
 */
export function pickPlatform(entries: Descriptor[], wanted: Platform): Descriptor | undefined {
  const want = normalize(wanted)
  return entries.find(entry => {
    if (!entry.platform) return false
    const have = normalize(entry.platform)
    return (
      have.os === want.os &&
      have.architecture === want.architecture &&
      (wanted.variant === undefined || have.variant === want.variant)
    )
  })
}

/**
 * Reads an image's labels straight from its registry (Registry HTTP API v2 over HTTPS): the
 * manifest (an index resolves to `options.platform`), then the config blob. Every body is checked
 * against the digest it was asked by, so the labels belong to `configDigest` and `digest`.
 * Anonymous first; a 401 is answered per its challenge (Basic, or a Bearer token from the realm).
 * Throws only GateErrors: `registry-auth`, `registry-not-found` or `registry-error`.
 */
export async function readRegistryImage(
  reference: string,
  options: RegistryOptions
): Promise<RegistryImage> {
  const ref = parseImageReference(reference)
  const platform = parsePlatform(options.platform)
  const session = new Session(ref, options)
  try {
    return await session.read(platform)
  } catch (error) {
    throw session.worded(error)
  }
}

interface Manifest {
  digest: string
  mediaType: string
  json: Record<string, unknown>
}

/** One bounded read: the credentials, the token once obtained, and the deadline. */
class Session {
  private readonly signal: AbortSignal
  private readonly fetch: typeof fetch
  /** The `Authorization` value that worked (or is being tried); reused for every request. */
  private authorization: string | undefined
  /** The image as the user wrote it, normalized, for messages. */
  private readonly name: string
  /** `Basic <base64>` when credentials were given. */
  private readonly basicAuthorization: string | undefined
  /** Every secret this read knows, kept out of every message it words. */
  private readonly secrets: string[] = []

  constructor(
    private readonly ref: ImageReference,
    private readonly options: RegistryOptions
  ) {
    this.signal = AbortSignal.timeout(options.timeoutMs)
    this.fetch = options.fetch ?? fetch
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

  async read(platform: Platform): Promise<RegistryImage> {
    const top = await this.manifest(this.ref.digest ?? this.ref.tag ?? 'latest', this.ref.digest)
    let image = top
    if (INDEX_TYPES.includes(top.mediaType)) {
      const entries = descriptors(top.json.manifests, `index ${this.name}`)
      const chosen = pickPlatform(entries, platform)
      if (!chosen) {
        const have = [
          ...new Set(entries.flatMap(e => (e.platform ? [formatPlatform(e.platform)] : [])))
        ]
        throw new GateError(
          'registry-not-found',
          `${this.name} is an index with no manifest for ${formatPlatform(platform)} (it has ${have.join(', ') || 'no platforms'})`
        )
      }
      image = await this.manifest(chosen.digest, chosen.digest, chosen.size)
      if (!MANIFEST_TYPES.includes(image.mediaType)) {
        throw this.error(
          `the ${formatPlatform(platform)} entry ${chosen.digest} of index ${this.name} is ${image.mediaType}, not an image manifest`
        )
      }
    }
    const config = descriptor(image.json.config, `config of manifest ${image.digest}`)
    if (!CONFIG_TYPES.includes(config.mediaType)) {
      throw this.error(
        `manifest ${image.digest} of ${this.name} has a ${config.mediaType} config: not a container image`
      )
    }
    const labels = await this.labels(config, image.digest)
    return { digest: top.digest, manifestDigest: image.digest, configDigest: config.digest, labels }
  }

  /** Fetches a manifest by tag or digest and binds it: its sha256 must equal every claim. */
  private async manifest(
    reference: string,
    expectedDigest: string | undefined,
    expectedSize?: number
  ): Promise<Manifest> {
    const what = `manifest ${this.ref.registry}/${this.ref.repository}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`
    if (expectedSize !== undefined && expectedSize > MAX_MANIFEST_BYTES) {
      throw this.error(
        `${what} is ${expectedSize} bytes, over the ${mib(MAX_MANIFEST_BYTES)} limit`
      )
    }
    const response = await this.get(`manifests/${reference}`, MANIFEST_ACCEPT, what)
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
    if (json.schemaVersion !== 2) {
      throw this.error(`${what} has schemaVersion ${JSON.stringify(json.schemaVersion)}, not 2`)
    }
    if (json.mediaType !== undefined && json.mediaType !== contentType) {
      throw this.error(
        `${what} came as Content-Type ${contentType} but says it is ${JSON.stringify(json.mediaType)}`
      )
    }
    return { digest, mediaType: contentType, json }
  }

  /** Fetches the config blob, checks it against its descriptor, and returns `config.Labels`. */
  private async labels(
    config: Descriptor,
    manifestDigest: string
  ): Promise<Record<string, string>> {
    const what = `config blob ${config.digest} of ${this.name}`
    if (config.size > MAX_CONFIG_BYTES) {
      throw this.error(`${what} is ${config.size} bytes, over the ${mib(MAX_CONFIG_BYTES)} limit`)
    }
    const response = await this.get(`blobs/${config.digest}`, `${config.mediaType}, */*`, what)
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
    const inner = parseObject(body, what).config
    const labels = isObject(inner) ? inner.Labels : undefined
    if (labels === undefined || labels === null) return {}
    if (!isObject(labels) || !Object.values(labels).every(value => typeof value === 'string')) {
      throw this.error(`${what} has config.Labels that is not a map of strings`)
    }
    return { ...(labels as Record<string, string>) }
  }

  /**
   * GET `/v2/<repository>/<path>`, answering one 401 per its challenge and retrying once. A 401 or
   * 403 left after that is `registry-auth`; any other status is the caller's.
   */
  private async get(path: string, accept: string, what: string): Promise<Response> {
    const url = `https://${this.ref.registry}/v2/${this.ref.repository}/${path}`
    let response = await this.follow(url, accept, what, this.authorization)
    if (response.status === 401) {
      const challenge = response.headers.get('www-authenticate') ?? ''
      await discard(response)
      const authorization = await this.authenticate(challenge, what)
      if (authorization !== this.authorization) {
        this.authorization = authorization
        response = await this.follow(url, accept, what, authorization)
      }
    }
    if (response.status === 401 || response.status === 403) {
      await discard(response)
      throw new GateError(
        'registry-auth',
        `${this.ref.registry} refused ${this.options.username ? 'the given credentials' : 'anonymous access'} for ${what} (${response.status}): ${this.authAdvice()}`
      )
    }
    return response
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
    const response = await this.follow(url.href, 'application/json', endpoint, credentials)
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
    authorization: string | undefined
  ): Promise<Response> {
    let current = url
    let auth = authorization
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { accept }
      if (auth) headers.authorization = auth
      let response: Response
      try {
        response = await this.fetch(current, { headers, redirect: 'manual', signal: this.signal })
      } catch (error) {
        throw this.networkError(error, current)
      }
      if (![301, 302, 303, 307, 308].includes(response.status)) return response
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

  private error(message: string): GateError {
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

function parseObject(body: Buffer, what: string): Record<string, unknown> {
  let json: unknown
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch {
    // Not the parser's message: it quotes the body, which may repeat what was sent.
    throw new GateError('registry-error', `${what} is not valid JSON`)
  }
  if (!isObject(json)) throw new GateError('registry-error', `${what} is not a JSON object`)
  return json
}

/** Checks one descriptor's shape; only sha256 digests are accepted (all we can verify). */
function descriptor(value: unknown, what: string): Descriptor {
  const bad = (why: string): GateError => new GateError('registry-error', `${what} ${why}`)
  if (!isObject(value)) throw bad('is missing or not a descriptor')
  const { mediaType, digest, size, platform } = value
  if (typeof mediaType !== 'string') throw bad('has no mediaType')
  if (typeof digest !== 'string' || !DIGEST.test(digest)) {
    throw bad(`has digest ${JSON.stringify(digest)}, not sha256:<64 hex>`)
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw bad(`has size ${JSON.stringify(size)}, not a byte count`)
  }
  const result: Descriptor = { mediaType, digest, size }
  if (isObject(platform)) {
    const { os, architecture, variant } = platform
    if (typeof os === 'string' && typeof architecture === 'string') {
      result.platform = { os, architecture }
      if (typeof variant === 'string' && variant) result.platform.variant = variant
    }
  }
  return result
}

function descriptors(value: unknown, what: string): Descriptor[] {
  if (!Array.isArray(value)) {
    throw new GateError('registry-error', `${what} has no manifests list`)
  }
  return value.map((entry, n) => descriptor(entry, `entry ${n} of ${what}`))
}

async function discard(response: Response): Promise<void> {
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

async function statusText(response: Response): Promise<string> {
  const status = `${response.status}${response.statusText ? ` ${response.statusText}` : ''}`
  const hint = response.status === 429 ? ' (rate limited)' : ''
  return `the registry answered ${status}${hint}${await errorDetail(response)}`
}
