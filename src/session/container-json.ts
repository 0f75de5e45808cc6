/**
 * Reads what a container CLI prints for `image inspect -- REF` and `container inspect -- ID…`
 * without a Go template: podman's template has no `.Id` (it is `.ID`), so a template written for
 * docker fails there, while the JSON answer exists on both. The answer decides a deploy, so these
 * parsers accept only what the real programs print and return `undefined` on anything else.
 *
 * Where docker 20.10 and podman 4.3 differ (fixtures in __fixtures__/, captured from both):
 * - image `Id`: docker `sha256:<64 hex>`; podman the bare `<64 hex>` (its `Digest` is the
 *   manifest digest, a different value, and is not read).
 * - image labels: docker `Config.Labels`, `null` without labels; podman `Config.Labels` (left out
 *   when there are none) and a top-level `Labels` copy (`null` without labels). podman's own
 *   builds always carry `io.buildah.version`.
 * - container `Name`: docker `/name`; podman `name`.
 * - container `Image`: docker `sha256:<64 hex>`; podman the bare `<64 hex>` (podman has no
 *   `ImageID`; its `ImageName` is the reference the container was created from).
 * - both print `[]` on stdout for a missing object (docker exits 1, podman 125); `container
 *   inspect` with one missing id still prints the others, so the exit code must be checked too.
 */
import type { ContainerState } from '../decide/container.js'

/** The image id and labels the gate compares, in docker's notation whatever printed them. */
export interface InspectResult {
  /** Always `sha256:<64 lowercase hex>`. */
  imageId: string
  labels: Record<string, string>
}

type JsonObject = Record<string, unknown>

const HEX64 = /^[0-9a-f]{64}$/
/** Container names as docker and podman both validate them. */
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Go's decoder matches object keys to struct fields without regard to case and keeps the last, so
 * `{"Id": a, "ID": b}` means `b` to a Go program and `a` to an exact lookup. An object whose keys
 * collide ignoring case, or that spells a key we read in another case, is refused: the two readings
 * could disagree.
 */
function unambiguous(object: JsonObject, read: readonly string[]): boolean {
  const seen = new Set<string>()
  for (const key of Object.keys(object)) {
    const folded = key.toLowerCase()
    if (seen.has(folded)) return false
    seen.add(folded)
    if (read.some(name => name.toLowerCase() === folded && name !== key)) return false
  }
  return true
}

/** `sha256:<hex>` or podman's bare `<hex>`, as `sha256:<hex>`; anything else undefined. */
function imageIdOf(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  const hex = value.startsWith('sha256:') ? value.slice(7) : value
  return HEX64.test(hex) ? `sha256:${hex}` : undefined
}

/** Labels as a string map; `null` and absent are none; any other shape undefined. */
function labelsOf(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return {}
  if (!isObject(value)) return undefined
  const entries = Object.entries(value)
  if (!entries.every(([, v]) => typeof v === 'string')) return undefined
  // fromEntries defines own properties, so a `__proto__` label stays a label.
  return Object.fromEntries(entries) as Record<string, string>
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a)
  return (
    keys.length === Object.keys(b).length &&
    keys.every(key => Object.prototype.hasOwnProperty.call(b, key) && a[key] === b[key])
  )
}

function parseArray(stdout: string): unknown[] | undefined {
  try {
    const parsed: unknown = JSON.parse(stdout)
    return Array.isArray(parsed) ? parsed : undefined
  } catch {
    return undefined
  }
}

/**
 * Reads the one image `<docker> image inspect -- REF` describes, from docker or podman. Fails
 * closed (undefined) on anything but exactly one well-formed image: a reference that matched two
 * images, none, a non-JSON answer, an id that is not a 64-hex digest, non-string labels, or podman's
 * two label copies disagreeing.
 */
export function parseImageInspect(stdout: string): InspectResult | undefined {
  const images = parseArray(stdout)
  if (!images || images.length !== 1) return undefined
  const [image] = images
  if (!isObject(image) || !unambiguous(image, ['Id', 'Config', 'Labels'])) return undefined
  const imageId = imageIdOf(image.Id)
  if (!imageId) return undefined
  const config = image.Config
  if (config !== undefined && config !== null) {
    if (!isObject(config) || !unambiguous(config, ['Labels'])) return undefined
  }
  const labels = labelsOf(isObject(config) ? config.Labels : undefined)
  if (!labels) return undefined
  if ('Labels' in image) {
    const topLevel = labelsOf(image.Labels)
    if (!topLevel || !sameLabels(labels, topLevel)) return undefined
  }
  return { imageId, labels }
}

/**
 * Reads every container `<docker> container inspect -- ID…` describes, from docker or podman: its
 * name (without docker's leading slash), the image id it runs and whether it runs. Fails closed
 * (undefined) when the answer is empty, not JSON, or any element does not look like a container
 * either program prints.
 */
export function parseContainerInspect(stdout: string): ContainerState[] | undefined {
  const containers = parseArray(stdout)
  if (!containers || containers.length === 0) return undefined
  const states: ContainerState[] = []
  for (const container of containers) {
    if (!isObject(container) || !unambiguous(container, ['Name', 'Image', 'State'])) {
      return undefined
    }
    const { Name: rawName, State: state } = container
    if (typeof rawName !== 'string') return undefined
    const name = rawName.startsWith('/') ? rawName.slice(1) : rawName
    const imageId = imageIdOf(container.Image)
    if (!CONTAINER_NAME.test(name) || !imageId) return undefined
    if (!isObject(state) || !unambiguous(state, ['Running'])) return undefined
    if (typeof state.Running !== 'boolean') return undefined
    states.push({ name, imageId, running: state.Running })
  }
  return states
}
