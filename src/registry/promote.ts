import { GateError } from '../errors.js'
import type { Decision } from '../decide/verdict.js'
import type { FailureClass } from '../errors.js'
import { discard, statusText, type RegistryOptions } from './auth.js'
import { withRegistrySession, type WriterSession as RegistrySession } from './client.js'
import {
  descriptor,
  descriptors,
  INDEX_TYPES,
  MANIFEST_TYPES,
  type ImageConfig,
  type Manifest,
  type PlatformImage,
  type RegistryImage
} from './oci.js'
import { parseImageReference } from './reference.js'

/** A check's refusal as a verdict, before anything is written. */
function failClosed(reason: string, failure: FailureClass): Decision {
  return { verdict: 'fail-closed', reason, pass: false, failure }
}
import { field, isJsonObject } from './json.js'
import { candidateEntries, formatPlatform, parsePlatforms, type Platform } from './platform.js'

/** What a registry promotion writes, and what must hold before it writes anything. */
export interface RegistryPromoteRequest {
  /** The staging reference (input `image`); its repository is where blobs are mounted from. */
  image: string
  /** The tag written (input `prod-image`): same registry as `image`, a tag, never a digest. */
  prodImage: string
  /**
   * The gate job's `image_digest` (input `image-digest`): exactly this manifest is promoted,
   * wherever the staging tag points now; '' resolves `image` at the start of the promotion.
   */
  imageDigest: string
  /**
   * The checks one image must pass (revision label, source label): a failed decision, or
   * undefined. Applied to every image read, each entry of an index included: the engine of a
   * prod host may pull any of them.
   */
  check(labels: Record<string, string>): Decision | undefined
  /** Progress lines for the log. */
  log(message: string): void
  /**
   * Learns the staging image once it is read, before anything is written, so that a failure
   * later (a refused push) still reports what was read.
   */
  onStaged?(image: RegistryImage): void
}

/** How a promotion ended when it threw nothing. */
export interface RegistryPromoteResult {
  staged: RegistryImage
  /** The digest `prodImage` has when read back after the write; '' when nothing was written. */
  prodDigest: string
  /** A failed decision (a check refused, or the read-back saw another digest); else undefined. */
  failed: Decision | undefined
}

/** A manifest as `blobsToMount` needs it: its parsed document and what messages call it. */
export type ManifestDocument = Pick<Manifest, 'json' | 'what'>

/**
 * Promotes by digest in the registry, with no host and no daemon: reads the staging manifest
 * (exactly `imageDigest` when given) with the hardened reader, requires every image in it, each
 * entry of an index, to pass `check`; only then mounts the blobs into the prod repository (when
 * it is another one), puts the child manifests of an index by digest, puts the exact bytes read
 * under the prod tag, and reads the tag back, requiring the same digest. A stale or unlabelled
 * image writes nothing. Throws only GateErrors (`registry-auth` for refused credentials or a
 * missing push right, `registry-error`, `registry-not-found`), with every secret redacted.
 */
export async function promoteInRegistry(
  request: RegistryPromoteRequest,
  options: RegistryOptions
): Promise<RegistryPromoteResult> {
  const staging = parseImageReference(request.image)
  const prod = parseImageReference(request.prodImage)
  if (prod.registry.toLowerCase() !== staging.registry.toLowerCase()) {
    throw new GateError(
      'registry-error',
      `prod-image ${request.prodImage} is on ${prod.registry}, not on ${staging.registry} where ${request.image} is: a registry promotion writes within one registry`
    )
  }
  if (prod.digest !== undefined || prod.tag === undefined) {
    throw new GateError('registry-error', `prod-image ${request.prodImage} must be a tag to write`)
  }
  const prodTag = prod.tag
  const platforms = parsePlatforms(options.platform)
  return withRegistrySession(request.image, options, async session => {
    const pinned = request.imageDigest || staging.digest
    const top = await session.manifest(pinned ?? staging.tag ?? 'latest', pinned)
    const read = await readAll(session, top, platforms)
    const staged = stagedImage(top, read.images, platforms)
    request.log(
      `registry: ${request.image}${request.imageDigest ? ` (image-digest ${request.imageDigest})` : ''} is ${top.digest}: ${describeImages(read.images)}`
    )
    request.onStaged?.(staged)
    const failed = firstFailure(
      read.images,
      labels => request.check(labels),
      INDEX_TYPES.includes(top.mediaType)
    )
    if (failed) {
      request.log(`not promoting: ${failed.reason}; ${request.prodImage} is left as it is`)
      return { staged, prodDigest: '', failed }
    }
    const refused = `check that registry-username may push to ${prod.repository} and pull ${staging.repository} (a token needs pull on the staging repository and push on the prod one; the registry's answer is not shown: it may repeat the credentials)`
    if (prod.repository !== staging.repository) {
      const blobs = blobsToMount(read.children.length ? read.children : [top])
      request.log(
        `mounting ${blobs.length} blob${blobs.length === 1 ? '' : 's'} from ${staging.repository} into ${prod.repository}`
      )
      for (const digest of blobs) {
        await mountBlob(session, digest, staging.repository, prod.repository, refused)
      }
      for (const child of read.children) {
        await putManifest(session, prod.repository, child.digest, child, refused)
      }
    }
    await putManifest(session, prod.repository, prodTag, top, refused)
    const back = await session.manifest(prodTag, undefined, undefined, prod.repository)
    if (back.digest !== top.digest) {
      return {
        staged,
        prodDigest: back.digest,
        failed: failClosed(
          `provenance fail-closed: after the push, ${request.prodImage} is ${back.digest}, not the verified ${top.digest}: something else wrote the tag at the same time`,
          'mismatch'
        )
      }
    }
    request.log(`promoted: ${request.prodImage} is ${back.digest} (read back)`)
    return { staged, prodDigest: back.digest, failed: undefined }
  })
}

/** Every image of the staging manifest, and for an index its child manifests as read. */
interface ReadImages {
  images: PlatformImage[]
  /** The index's image manifests, in index order, each once; empty for a single image. */
  children: Manifest[]
}

/**
 * Reads every image the manifest holds: for an index every entry (not only the platforms a
 * host would pick: the whole index is what gets promoted), each bound to its digest and size,
 * each an image manifest whose config names the platform its entry claims. The platforms asked
 * for must each have an entry, as when reading for a verdict.
 */
async function readAll(
  session: RegistrySession,
  top: Manifest,
  platforms: Platform[]
): Promise<ReadImages> {
  if (!INDEX_TYPES.includes(top.mediaType)) {
    return { images: [await session.single(top, platforms)], children: [] }
  }
  const index = `index ${top.digest} of ${session.name}`
  const entries = descriptors(field(top.json, 'manifests', top.what), index)
  if (entries.length === 0) throw session.error(`${index} lists no manifests: nothing to promote`)
  for (const platform of platforms) {
    if (candidateEntries(entries, platform).length === 0) {
      throw new GateError(
        'registry-not-found',
        `${index} has no manifest for ${formatPlatform(platform)}`
      )
    }
  }
  const images: PlatformImage[] = []
  const children = new Map<string, Manifest>()
  const configs = new Map<string, { digest: string; image: ImageConfig }>()
  for (const [n, entry] of entries.entries()) {
    const claimed = entry.platform ?? { os: '', architecture: '' }
    const shown = formatPlatform(claimed)
    const what = `entry ${n} (${shown || 'no platform'}, ${entry.digest}) of ${index}`
    let config = configs.get(entry.digest)
    if (!config) {
      const child = await session.manifest(entry.digest, entry.digest, entry.size)
      if (!MANIFEST_TYPES.includes(child.mediaType)) {
        throw session.error(
          `${what} is ${child.mediaType}, not an image manifest; only an index of images is promoted`
        )
      }
      children.set(entry.digest, child)
      const found = session.configDescriptor(child)
      config = { digest: found.digest, image: await session.config(found, child.digest) }
      configs.set(entry.digest, config)
    }
    session.checkPlatform(config.image, claimed, what)
    images.push({
      platform: shown,
      manifestDigest: entry.digest,
      configDigest: config.digest,
      labels: config.image.labels
    })
  }
  return { images, children: [...children.values()] }
}

/**
 * The staging image as the gate reports it: the top digest, and of the images the first
 * platform asked for resolves to, the first (the image id a host of that platform gets); the
 * labels every image shares.
 */
function stagedImage(top: Manifest, images: PlatformImage[], platforms: Platform[]): RegistryImage {
  const [wanted] = platforms
  let first = images[0]
  if (wanted && INDEX_TYPES.includes(top.mediaType)) {
    const entries = images.map(image => ({
      mediaType: '',
      digest: image.manifestDigest,
      size: 0,
      platform: platformOf(image.platform)
    }))
    const [entry] = candidateEntries(entries, wanted)
    first = images.find(image => image.manifestDigest === entry?.digest) ?? first
  }
  return {
    digest: top.digest,
    manifestDigest: first?.manifestDigest ?? '',
    configDigest: first?.configDigest ?? '',
    labels: sharedLabels(images),
    images
  }
}

function platformOf(shown: string): Platform | undefined {
  const [os = '', architecture = '', variant] = shown.split('/')
  if (!architecture) return undefined
  return variant ? { os, architecture, variant } : { os, architecture }
}

/** The labels every image carries with the same value (one that differs is left out). */
export function sharedLabels(images: readonly PlatformImage[]): Record<string, string> {
  const [first, ...rest] = images
  return Object.fromEntries(
    Object.entries(first?.labels ?? {}).filter(([name, value]) =>
      rest.every(image => Object.hasOwn(image.labels, name) && image.labels[name] === value)
    )
  )
}

function describeImages(images: readonly PlatformImage[]): string {
  return images
    .map(
      image =>
        `${image.platform || '?'} manifest ${image.manifestDigest}, config ${image.configDigest}`
    )
    .join('; ')
}

/**
 * The first image that fails `check`, as a decision naming it. An index is promoted only when
 * every entry passes: prod hosts of any platform pull from the promoted tag, so one stale or
 * unlabelled entry would ship a build of another commit. Undefined when all pass.
 */
export function firstFailure(
  images: readonly PlatformImage[],
  check: (labels: Record<string, string>) => Decision | undefined,
  isIndex: boolean
): Decision | undefined {
  const failures = images.flatMap((image, n) => {
    const failed = check(image.labels)
    return failed ? [{ n, image, failed }] : []
  })
  const [first] = failures
  if (!first) return undefined
  if (!isIndex) return first.failed
  const others = failures.length - 1
  const more = others ? ` (and ${others} more of its ${images.length} entries)` : ''
  return {
    ...first.failed,
    reason: `${first.failed.reason} in index entry ${first.n} (${first.image.platform || 'no platform'}, manifest ${first.image.manifestDigest})${more}; an index is promoted only when every entry passes`
  }
}

/**
 * The blobs a repository needs before these image manifests can be put into it: each config,
 * then each layer, in order, each digest once. Only sha256 descriptors are accepted (what the
 * reader verifies); a manifest without a layers list is refused.
 */
export function blobsToMount(manifests: readonly ManifestDocument[]): string[] {
  const digests: string[] = []
  const add = (digest: string): void => {
    if (!digests.includes(digest)) digests.push(digest)
  }
  for (const manifest of manifests) {
    add(
      descriptor(field(manifest.json, 'config', manifest.what), `config of ${manifest.what}`).digest
    )
    const layers = field(manifest.json, 'layers', manifest.what)
    if (!Array.isArray(layers)) {
      throw new GateError('registry-error', `${manifest.what} has no layers list`)
    }
    for (const [n, layer] of layers.entries()) {
      if (!isJsonObject(layer)) {
        throw new GateError('registry-error', `layer ${n} of ${manifest.what} is not a descriptor`)
      }
      add(descriptor(layer, `layer ${n} of ${manifest.what}`).digest)
    }
  }
  return digests
}

/**
 * Makes a blob of `from` available in `to` by a cross-repository mount (201). A registry that
 * answers 202 started an upload instead (it could not or would not mount): the upload is
 * cancelled and the promotion fails, since copying layers through the runner is not done.
 */
async function mountBlob(
  session: RegistrySession,
  digest: string,
  from: string,
  to: string,
  refused: string
): Promise<void> {
  const { registry } = session.ref
  const what = `mounting blob ${digest} from ${from} into ${registry}/${to}`
  const query = `mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`
  const response = await session.send('POST', to, `blobs/uploads/?${query}`, what, {
    accept: '*/*',
    refused
  })
  if (response.status === 201) {
    await discard(response)
    return
  }
  if (response.status === 202) {
    await discard(response)
    const location = response.headers.get('location')
    const cancelled = location ? await cancelUpload(session, to, location, refused) : false
    throw session.error(
      `${registry} did not mount blob ${digest} from ${from} into ${to}: it started an upload instead (202${cancelled ? ', cancelled' : location ? ', which could not be cancelled' : ''}). A registry promotion into another repository needs cross-repository blob mounts; promote within the staging repository, or check that the blob exists in ${from}`
    )
  }
  throw session.error(`${what}: ${await statusText(response)}`)
}

/** Deletes an upload the registry started instead of mounting; true when it answered 2xx. */
async function cancelUpload(
  session: RegistrySession,
  repository: string,
  location: string,
  refused: string
): Promise<boolean> {
  try {
    const url = new URL(location, `https://${session.ref.registry}/v2/${repository}/blobs/uploads/`)
    const response = await session.send('DELETE', repository, url.href, 'cancelling an upload', {
      accept: '*/*',
      refused
    })
    await discard(response)
    return response.ok
  } catch {
    // Best effort: the registry purges abandoned uploads; the promotion fails either way.
    return false
  }
}

/**
 * Puts the exact bytes read under `reference` of `repository`, with the media type they were
 * read as, so the registry stores the same digest; requires 201 and, when the registry names
 * one, that digest.
 */
async function putManifest(
  session: RegistrySession,
  repository: string,
  reference: string,
  manifest: Manifest,
  refused: string
): Promise<void> {
  const at = reference.startsWith('sha256:') ? '@' : ':'
  const what = `writing manifest ${manifest.digest} to ${session.ref.registry}/${repository}${at}${reference}`
  const response = await session.send('PUT', repository, `manifests/${reference}`, what, {
    accept: '*/*',
    body: manifest.body,
    contentType: manifest.mediaType,
    refused
  })
  if (response.status !== 201) throw session.error(`${what}: ${await statusText(response)}`)
  const stored = response.headers.get('docker-content-digest')
  await discard(response)
  if (stored && stored !== manifest.digest) {
    throw session.error(`${what}: the registry says it stored ${stored}`)
  }
}
