import { GateError } from '../errors.js'
import { field, isJsonObject } from './json.js'
import {
  candidateEntries,
  configMatches,
  formatPlatform,
  parsePlatforms,
  type Descriptor,
  type Platform
} from './platform.js'
import {
  discard,
  errorDetail,
  mib,
  RegistrySession,
  statusText,
  type RegistryOptions,
  type SendOptions
} from './auth.js'
import {
  CONFIG_TYPES,
  DEFAULT_REVISION_LABEL,
  descriptor,
  descriptors,
  INDEX_TYPES,
  MANIFEST_ACCEPT,
  MANIFEST_TYPES,
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  mediaTypeOf,
  parseObject,
  platformOf,
  sha256,
  SOURCE_LABEL,
  type ImageConfig,
  type Manifest,
  type PlatformImage,
  type RegistryImage
} from './oci.js'
import { parseImageReference, type ImageReference } from './reference.js'
import { httpsTransport } from './transport.js'

export type { RegistryOptions } from './auth.js'
export type { PlatformImage, RegistryImage } from './oci.js'

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
  const session = new RegistrySession(ref, options, transport)
  try {
    return await new ImageReader(ref, options, session).read(platforms)
  } catch (error) {
    throw session.worded(error)
  } finally {
    transport?.close()
  }
}

/**
 * Runs `work` with one registry session for `reference` (the same credentials, token cache,
 * deadline and masking as `readRegistryImage`), then closes every socket it opened. What `work`
 * throws comes back as a GateError with every secret of the session redacted. For writers (a
 * promotion) that need the reader's hardened reads and its authentication for requests of their
 * own.
 */
export async function withRegistrySession<T>(
  reference: string,
  options: RegistryOptions,
  work: (session: WriterSession) => Promise<T>
): Promise<T> {
  const ref = parseImageReference(reference)
  const transport = options.fetch ? undefined : httpsTransport()
  const http = new RegistrySession(ref, options, transport)
  const reader = new ImageReader(ref, options, http)
  try {
    return await work({
      ref,
      name: http.name,
      manifest: (reference, digest, size, repository) =>
        reader.manifest(reference, digest, size, repository),
      config: (config, manifestDigest) => reader.config(config, manifestDigest),
      configDescriptor: manifest => reader.configDescriptor(manifest),
      checkPlatform: (image, claimed, what) => reader.checkPlatform(image, claimed, what),
      single: (top, platforms) => reader.single(top, platforms),
      send: (method, repository, path, what, options) =>
        http.send(method, repository, path, what, options),
      error: message => http.error(message)
    })
  } catch (error) {
    throw http.worded(error)
  } finally {
    transport?.close()
  }
}

/** What `withRegistrySession` hands a writer: the reader's requests, open for writers. */
export interface WriterSession {
  ref: ImageReference
  name: string
  manifest(
    reference: string,
    expectedDigest: string | undefined,
    expectedSize?: number,
    repository?: string
  ): Promise<Manifest>
  config(config: Descriptor, manifestDigest: string): Promise<ImageConfig>
  configDescriptor(manifest: Manifest): Descriptor
  checkPlatform(image: ImageConfig, claimed: Platform, what: string): void
  single(top: Manifest, platforms: Platform[]): Promise<PlatformImage>
  send(
    method: string,
    repository: string,
    path: string,
    what: string,
    options: SendOptions
  ): Promise<Response>
  error(message: string): GateError
}

/** What one read fetches and checks through its session: manifests, index entries, configs. */
class ImageReader {
  private readonly name: string

  constructor(
    private readonly ref: ImageReference,
    private readonly options: RegistryOptions,
    private readonly http: RegistrySession
  ) {
    this.name = http.name
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
      images.push(await this.single(top, platforms))
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

  /**
   * A single-platform image (a manifest, not an index): its config, which must be of every
   * platform asked for, as the engine will refuse it on a host of another.
   */
  async single(top: Manifest, platforms: Platform[]): Promise<PlatformImage> {
    const config = this.configDescriptor(top)
    const image = await this.config(config, top.digest)
    for (const platform of platforms) {
      this.checkPlatform(
        image,
        platform,
        `${this.name} (a single-platform image, asked for ${formatPlatform(platform)})`
      )
    }
    return {
      platform: image.platform ? formatPlatform(image.platform) : '',
      manifestDigest: top.digest,
      configDigest: config.digest,
      labels: image.labels
    }
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
    const response = await this.http.send('GET', repository, `manifests/${reference}`, what, {
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
    const body = await this.http.body(response, MAX_MANIFEST_BYTES, what)
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
    const response = await this.http.get(`blobs/${config.digest}`, `${config.mediaType}, */*`, what)
    if (response.status === 404) {
      throw this.error(
        `${what} is missing (404${await errorDetail(response)}) although manifest ${manifestDigest} names it`
      )
    }
    if (!response.ok) throw this.error(`${what}: ${await statusText(response)}`)
    const body = await this.http.body(response, MAX_CONFIG_BYTES, what)
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

  private error(message: string): GateError {
    return new GateError('registry-error', message)
  }
}
