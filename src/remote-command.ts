import type { Settings } from './settings.js'
import { shellQuote } from './shell-quote.js'

/**
 * The environment the hook receives, in the order the hook contract documents. The staging
 * target is always explicit so a change of the hook's own defaults can never aim it at prod.
 */
export function hookEnvironment(settings: Settings, revision: string): [string, string][] {
  return [
    ['GIT_SHA', revision],
    ['BUILD_CONTEXT', settings.buildContext],
    ['TARGET_IMAGE', settings.image],
    ['TARGET_SERVICE', settings.staging.service],
    ['TARGET_PORT', settings.staging.port],
    ['COMPOSE_PROFILE', settings.staging.composeProfile],
    ['STAGING_CONTAINER', settings.staging.container]
  ]
}

/**
 * The one command line that runs the hook on the host:
 * `cd <hook-dir> && GIT_SHA=… … bash -- <hook> --build-staging`, every value shell-quoted.
 */
export function planHookCommand(settings: Settings, revision: string): string {
  const assignments = hookEnvironment(settings, revision)
    .map(([name, value]) => `${name}=${shellQuote(value)}`)
    .join(' ')
  // `--` keeps a hook path that starts with a dash from being read as an option of bash.
  const run = `${assignments} bash -- ${shellQuote(settings.hook)} --build-staging`
  return settings.hookDir ? `cd ${shellQuote(settings.hookDir)} && ${run}` : run
}

/**
 * One inspect that yields the image id and the revision label together, so the id the retag step
 * promotes is the id whose label was checked. The `with` guards matter: on an image with no labels
 * at all, `.Config.Labels` is null and a bare `index` fails the whole inspect.
 */
export function planInspectCommand(settings: Settings): string {
  const label = JSON.stringify(settings.revisionLabel)
  const format = `{{.Id}} {{with .Config}}{{with .Labels}}{{index . ${label}}}{{end}}{{end}}`
  return `${shellQuote(settings.docker)} image inspect --format ${shellQuote(format)} ${shellQuote(settings.image)}`
}

/** What the inspect read back; `revision` is '' when the image carries no such label. */
export interface InspectResult {
  imageId: string
  revision: string
}

/**
 * Parses `<id> <label>` from the inspect. Docker prints an empty label (or `<no value>` on older
 * versions) when the label is missing; podman prints the id without its `sha256:` prefix.
 * Returns `undefined` when the output is not of that shape, which the gate treats as an error.
 */
export function parseInspectOutput(stdout: string): InspectResult | undefined {
  const text = stdout.replace(/\r?\n$/, '')
  const space = text.indexOf(' ')
  if (space < 0) return undefined
  const rawId = text.slice(0, space)
  const id = /^[0-9a-f]{64}$/.test(rawId) ? `sha256:${rawId}` : rawId
  if (!/^sha256:[0-9a-f]{64}$/.test(id)) return undefined
  const label = text.slice(space + 1).trim()
  return { imageId: id, revision: label === '<no value>' ? '' : label }
}
