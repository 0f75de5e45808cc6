import { InputError } from '../errors.js'

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

/** A platform in containerd's normal form: lowercase, aliases resolved, default variant ''. */
export interface NormalPlatform {
  os: string
  architecture: string
  variant: string
}

/** More platforms than any deployment lists; bounds what one read fetches. */
export const MAX_PLATFORMS = 16

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

/**
 * Parses the `platform` input: one or more `os/arch[/variant]`, comma-separated, every one of
 * which the deployment may pull on (a fleet of amd64 and arm64 hosts lists both, and each is
 * verified). Entries naming the same platform once normalised count once. Throws an
 * InputError naming the entry that is wrong.
 */
export function parsePlatforms(raw: string): Platform[] {
  const texts = raw
    .split(',')
    .map(text => text.trim())
    .filter(Boolean)
  if (texts.length === 0) {
    throw new InputError(
      `platform ${JSON.stringify(raw)} names no platform (expected e.g. linux/amd64 or linux/amd64,linux/arm64)`
    )
  }
  if (texts.length > MAX_PLATFORMS) {
    throw new InputError(`platform lists ${texts.length} platforms, more than ${MAX_PLATFORMS}`)
  }
  const seen = new Set<string>()
  const platforms: Platform[] = []
  for (const text of texts) {
    const platform = parsePlatform(text)
    const key = formatPlatform(normalizePlatform(platform))
    if (seen.has(key)) continue
    seen.add(key)
    platforms.push(platform)
  }
  return platforms
}

/** `os/arch[/variant]`, as `docker` prints a platform. */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/')
}

/**
 * containerd's `platforms.Normalize` (github.com/containerd/platforms, database.go), which the
 * engine applies to both sides before comparing: case is ignored, `x86_64`/`x86-64` are
 * amd64, `aarch64` is arm64, `armhf`/`armel` are arm v7/v6, and the baseline variants
 * (amd64 v1, arm64 v8) are ''. An empty os is linux: the engine runs on linux.
 */
export function normalizePlatform(platform: Platform): NormalPlatform {
  let os = platform.os.toLowerCase() || 'linux'
  if (os === 'macos') os = 'darwin'
  let architecture = platform.architecture.toLowerCase()
  let variant = (platform.variant ?? '').toLowerCase()
  switch (architecture) {
    case 'i386':
      architecture = '386'
      variant = ''
      break
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      architecture = 'amd64'
      if (variant === 'v1') variant = ''
      break
    case 'aarch64':
    case 'arm64':
      architecture = 'arm64'
      if (['8', 'v8', 'v8.0'].includes(variant)) variant = ''
      else if (['9', '9.0', 'v9.0'].includes(variant)) variant = 'v9'
      break
    case 'armhf':
      architecture = 'arm'
      variant = 'v7'
      break
    case 'armel':
      architecture = 'arm'
      variant = 'v6'
      break
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7'
      else if (['5', '6', '8'].includes(variant)) variant = `v${variant}`
      break
  }
  return { os, architecture, variant }
}

/** containerd's arm64 variant table (compare.go): each variant runs the older ones. */
const ARM64_VERSIONS: Record<string, [number[], number[]]> = {
  v8: [[8], [0]],
  'v8.0': [[8], [0]],
  ...Object.fromEntries(
    [1, 2, 3, 4, 5, 6, 7, 8, 9].map(minor => [`v8.${minor}`, [[8], [minor]]] as const)
  ),
  v9: [
    [9, 8],
    [0, 5]
  ],
  'v9.0': [
    [9, 8],
    [0, 5]
  ],
  ...Object.fromEntries(
    [1, 2, 3, 4, 5, 6, 7].map(
      minor =>
        [
          `v9.${minor}`,
          [
            [9, 8],
            [minor, Math.min(minor + 5, 9)]
          ]
        ] as const
    )
  )
}

/**
 * containerd's `platformVector` (compare.go): the platforms a host of `host` runs, best first.
 * `platforms.Only(host)` picks the index entry matching the earliest of these; amd64 falls
 * back through its lower v-levels to 386, arm through lower variants, arm64 through lower
 * arm64 variants to 32-bit arm.
 */
export function platformVector(host: NormalPlatform): NormalPlatform[] {
  const { os } = host
  const vector: NormalPlatform[] = [host]
  const level = (variant: string): number =>
    /^v?\d+$/.test(variant) ? Number(variant.replace('v', '')) : NaN
  switch (host.architecture) {
    case 'amd64': {
      const version = level(host.variant)
      for (let v = version - 1; v >= 1; v--) {
        vector.push(normalizePlatform({ os, architecture: 'amd64', variant: `v${v}` }))
      }
      vector.push({ os, architecture: '386', variant: '' })
      break
    }
    case 'arm': {
      const version = level(host.variant)
      for (let v = version - 1; v >= 5; v--) {
        vector.push({ os, architecture: 'arm', variant: `v${v}` })
      }
      break
    }
    case 'arm64': {
      let variant = host.variant || 'v8'
      const versions = ARM64_VERSIONS[variant]
      vector.length = 0
      if (!versions) break
      const [majors, minors] = versions
      majors.forEach((major, n) => {
        for (let minor = minors[n] ?? 0; minor >= 0; minor--) {
          const arm64Variant = minor === 0 ? `v${major}` : `v${major}.${minor}`
          vector.push(normalizePlatform({ os, architecture: 'arm64', variant: arm64Variant }))
        }
      })
      if (variant.startsWith('v8') || variant.startsWith('v9')) variant = 'v8'
      vector.push(...platformVector(normalizePlatform({ os, architecture: 'arm', variant })))
      break
    }
  }
  return vector
}

/**
 * The hosts a requested platform stands for. Without a variant it is any host of that
 * architecture: the engine pulls for its own CPU level (docker asks for `linux/amd64/v3` on a
 * v3 machine), so `linux/amd64` covers amd64 v1 to v4 and `linux/arm64` every arm64 variant.
 * With a variant it is that host only.
 */
export function hostsFor(requested: Platform): NormalPlatform[] {
  const host = normalizePlatform(requested)
  if (requested.variant !== undefined) return [host]
  if (host.architecture === 'amd64') {
    return ['', 'v2', 'v3', 'v4'].map(variant => ({ ...host, variant }))
  }
  if (host.architecture === 'arm64') {
    const variants = new Set(
      Object.keys(ARM64_VERSIONS).map(variant => normalizePlatform({ ...host, variant }).variant)
    )
    return [...variants].map(variant => ({ ...host, variant }))
  }
  return [host]
}

function same(a: NormalPlatform, b: NormalPlatform): boolean {
  return a.os === b.os && a.architecture === b.architecture && a.variant === b.variant
}

/**
 * Every entry of an index the engine could pull for `requested`: for each host it stands for
 * (`hostsFor`), the entries matching the best-ranked platform of that host's vector, all of
 * them when several tie (engines break ties by order, which an index can game). In index
 * order, each once. Entries without a platform (attestations) are never chosen; an index with
 * nothing else for the platform is not found.
 */
export function candidateEntries(entries: Descriptor[], requested: Platform): Descriptor[] {
  const normal = entries.map(entry =>
    entry.platform ? normalizePlatform(entry.platform) : undefined
  )
  const chosen = new Set<number>()
  for (const host of hostsFor(requested)) {
    for (const wanted of platformVector(host)) {
      const matched = normal.flatMap((have, n) => (have && same(have, wanted) ? [n] : []))
      if (matched.length === 0) continue
      for (const n of matched) chosen.add(n)
      break
    }
  }
  return entries.filter((_entry, n) => chosen.has(n))
}

/**
 * Whether an image config's own platform agrees with what its index entry (or, for a
 * single-platform image, the request) says: os and architecture as containerd normalises
 * them, and the variant when both name one. An entry labelled linux/amd64 over an arm64
 * config would make the gate vouch for an image the engine runs differently.
 */
export function configMatches(config: Platform, claimed: Platform): boolean {
  const have = normalizePlatform(config)
  const want = normalizePlatform(claimed)
  if (have.os !== want.os || have.architecture !== want.architecture) return false
  // Without a variant on either side there is nothing to compare: a request without one stands
  // for every variant of its architecture.
  if (!config.variant || !claimed.variant) return true
  return have.variant === want.variant
}
