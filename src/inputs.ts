import * as core from '@actions/core'
import * as path from 'node:path'
import { normalizeRepository, parseRepositoryList } from './decide/applicability.js'
import { describeError, InputError } from './errors.js'
import { parsePlatforms } from './registry/platform.js'
import {
  canonicalImageReference,
  parseImageReference,
  type ImageReference,
  splitImageReference
} from './registry/reference.js'
import { REVISION_PATTERN } from './decide/verdict.js'
import type {
  ContextSettings,
  PromoteSettings,
  RegistrySettings,
  RunContext,
  Settings,
  SshTarget,
  StagingTarget
} from './settings.js'

/**
 * Every input the action reads, with the default action.yml declares (a test keeps the two equal).
 * Defaults are applied here too, because an input passed as an empty expression (`${{ vars.X }}`)
 * reaches the action as '' and must not silently mean something else than the documented default.
 */
export const INPUT_DEFAULTS = {
  mode: 'rebuild',
  path: '.',
  image: '',
  host: '',
  user: '',
  port: '22',
  'private-key': '',
  'known-hosts': '',
  'strict-host-key-checking': 'true',
  'ssh-retries': '2',
  hook: '',
  'hook-dir': '',
  'build-context': '',
  'path-mapping': '',
  'check-context': 'auto',
  'upload-context': 'false',
  'upload-dir': '',
  'upload-max-mib': '512',
  'sync-context': 'false',
  service: 'staging',
  'staging-port': '',
  'compose-profile': 'staging',
  'staging-container': '',
  'prod-service': '',
  'prod-port': '',
  enabled: 'true',
  repositories: '',
  'revision-label': 'org.opencontainers.image.revision',
  docker: 'docker',
  'label-source': 'host',
  'registry-username': '',
  'registry-password': '',
  platform: 'linux/amd64',
  'check-container': 'auto',
  'skip-if-fresh': 'false',
  'require-source': 'false',
  'prod-image': '',
  'expected-revision': '',
  'image-id': '',
  'image-digest': '',
  'git-timeout': '30',
  'inspect-timeout': '30',
  'rebuild-timeout': '1200'
} as const

/** The name of an input, exactly as action.yml spells it. */
export type InputName = keyof typeof INPUT_DEFAULTS

/** Where raw input text comes from: the runner in production, a table in tests. */
export type ReadInput = (name: InputName) => string

/** Upper bound for any timeout input: a day is longer than any sane rebuild. */
const MAX_TIMEOUT_SECONDS = 86_400
/** Upper bound for ssh-retries: with backoff capped at 8 s, ten retries wait about a minute. */
const MAX_SSH_RETRIES = 10

/** Reads inputs from the runner, masking the private key the moment it is read. */
export function readInputsFromRunner(): ReadInput {
  return name => {
    const value = core.getInput(name)
    if (name === 'private-key' || name === 'registry-password') maskLines(value)
    return value
  }
}

/**
 * Reads the runner's context from its environment, with sane fallbacks for local runs. The main
 * step takes the repository and server URL from @actions/github's context instead (loadGithubRun);
 * these are what the post step, which needs neither, and a fallback read.
 */
export function readRunContext(env: NodeJS.ProcessEnv = process.env): RunContext {
  return {
    repository: env.GITHUB_REPOSITORY ?? '',
    workspace: env.GITHUB_WORKSPACE || process.cwd(),
    runnerTemp: env.RUNNER_TEMP || '',
    serverUrl: env.GITHUB_SERVER_URL || 'https://github.com'
  }
}

/** The kill switch and allowlist, read apart from the rest so they work when the rest is broken. */
export function parseSwitch(read: ReadInput): { enabled: boolean; allowlist: string[] } {
  const enabled = parseBoolean(read, 'enabled')
  return {
    enabled,
    // Off means off: a broken allowlist must not fail a run that the switch disabled.
    allowlist: enabled ? checkedAllowlist(parseRepositoryList(read('repositories'))) : []
  }
}

/**
 * Allowlist entries must be `owner/name` or a bare `name` (a `.git` suffix or a server prefix is
 * removed first): anything else would make the gate `not-applicable`, which passes, on every run
 * without a word.
 */
function checkedAllowlist(entries: string[]): string[] {
  return entries.map(entry => {
    const normalized = normalizeRepository(entry)
    if (normalized === undefined) {
      throw new InputError(
        `input repositories: ${JSON.stringify(entry.slice(0, 80))} is not owner/name or a bare repository name`
      )
    }
    return normalized
  })
}

/** Validates every input and returns typed settings, or throws an InputError naming the input. */
export function parseSettings(read: ReadInput, context: RunContext): Settings {
  const value = (name: InputName): string => {
    const raw = read(name)
    if (raw.includes('\0')) throw new InputError(`input ${name} contains a NUL byte`)
    return raw.trim() || INPUT_DEFAULTS[name]
  }

  const mode = value('mode')
  if (mode !== 'rebuild' && mode !== 'verify' && mode !== 'promote') {
    throw new InputError(
      `input mode must be "rebuild", "verify" or "promote", got ${JSON.stringify(mode)}`
    )
  }

  const image = value('image')
  if (!image) throw new InputError('input image is required (the staging image reference)')
  if (!isImageReference(image)) {
    throw new InputError(
      `input image is not a valid image reference: ${JSON.stringify(image)} (expected e.g. registry.example.com/app:staging)`
    )
  }

  const hook = mode === 'rebuild' ? value('hook') : ''
  if (mode === 'rebuild' && !hook) {
    throw new InputError('input hook is required in rebuild mode (the hook script on the host)')
  }

  const staging: StagingTarget = {
    service: value('service'),
    port: optionalPort(value('staging-port'), 'staging-port'),
    composeProfile: value('compose-profile'),
    container: value('staging-container') || value('service'),
    containerNamed: value('staging-container') !== ''
  }
  checkNotProd(staging, value('prod-service'), optionalPort(value('prod-port'), 'prod-port'))

  const revisionLabel = value('revision-label')
  if (!/^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/.test(revisionLabel)) {
    throw new InputError(
      `input revision-label must be a label key such as org.opencontainers.image.revision, got ${JSON.stringify(revisionLabel)}`
    )
  }

  const docker = value('docker')
  if (!/^[A-Za-z0-9_./+-]+$/.test(docker) || docker.startsWith('-')) {
    throw new InputError(
      `input docker must be a command name or path such as docker or podman, got ${JSON.stringify(docker)}`
    )
  }

  const checkoutPath = path.resolve(context.workspace, value('path'))
  const hookDir = value('hook-dir')
  const ssh = parseSsh(value)
  const labelSource = oneOf(value('label-source'), 'label-source', ['host', 'registry'] as const)
  const registry = parseRegistry(value)
  if (labelSource === 'registry') {
    // The registry's own reading of the reference, now: after the hook it would be too late.
    try {
      parseImageReference(image)
    } catch (error) {
      throw new InputError(`input image cannot be read from a registry: ${describeError(error)}`)
    }
  }
  const containerCheck = ({ auto: 'auto', true: 'require', false: 'skip' } as const)[
    oneOf(value('check-container'), 'check-container', ['auto', 'true', 'false'] as const, yamlWord)
  ]
  if (containerCheck === 'require' && (labelSource === 'registry' || mode === 'promote')) {
    throw new InputError(
      'input check-container true needs mode rebuild or verify with label-source host: the container is inspected on the host'
    )
  }
  const promote = mode === 'promote' ? parsePromote(value, image, labelSource) : undefined
  for (const name of ['prod-image', 'expected-revision', 'image-id', 'image-digest'] as const) {
    if (!promote && value(name)) {
      throw new InputError(
        `input ${name} is only used in promote mode: set mode: promote, or remove ${name}`
      )
    }
  }
  const repository = context.repository

  const common = {
    checkoutPath,
    image,
    ssh,
    hookDir,
    buildContext: deriveBuildContext(
      value('build-context'),
      value('path-mapping'),
      checkoutPath,
      hookDir
    ),
    context: parseContext(value, mode),
    staging,
    revisionLabel,
    docker,
    timeouts: {
      gitMs: timeoutMs(value('git-timeout'), 'git-timeout'),
      inspectMs: timeoutMs(value('inspect-timeout'), 'inspect-timeout'),
      rebuildMs: timeoutMs(value('rebuild-timeout'), 'rebuild-timeout')
    },
    labelSource,
    registry,
    containerCheck:
      mode === 'promote' || labelSource === 'registry' ? ('skip' as const) : containerCheck,
    requireSource: parseBoolean(value, 'require-source')
  }
  const skipIfFresh = parseSkipIfFresh(value, mode, labelSource)
  const repositoryUrl = repository ? `${context.serverUrl.replace(/\/+$/, '')}/${repository}` : ''
  if (promote) return { mode: 'promote', ...common, repositoryUrl, promote }
  if (mode === 'rebuild') return { mode, ...common, repositoryUrl, hook, skipIfFresh }
  return { mode: 'verify', ...common, repositoryUrl }
}

/** skip-if-fresh: only where a hook would run and the host can show what runs. */
function parseSkipIfFresh(
  value: (name: InputName) => string,
  mode: string,
  labelSource: string
): boolean {
  const skip = parseBoolean(value, 'skip-if-fresh')
  if (skip && mode !== 'rebuild') {
    throw new InputError(
      `input skip-if-fresh is only used in rebuild mode: the ${mode} mode runs no hook`
    )
  }
  if (skip && labelSource !== 'host') {
    throw new InputError(
      'input skip-if-fresh needs label-source host: freshness includes the running staging containers, read on the host'
    )
  }
  return skip
}

/** The build-context inputs, refused where they would be silently ignored or contradict. */
function parseContext(value: (name: InputName) => string, mode: string): ContextSettings {
  const check = ({ auto: 'auto', true: 'require', false: 'skip' } as const)[
    oneOf(value('check-context'), 'check-context', ['auto', 'true', 'false'] as const, yamlWord)
  ]
  const upload = parseBoolean(value, 'upload-context')
  const sync = parseBoolean(value, 'sync-context')
  const uploadDir = value('upload-dir')
  const uploadMaxBytes = wholeNumber(value('upload-max-mib'), 'upload-max-mib', 1, 65536) * MIB
  if (mode !== 'rebuild' && (upload || sync)) {
    throw new InputError(
      `input ${upload ? 'upload-context' : 'sync-context'} is only used in rebuild mode: the ${mode} mode builds nothing`
    )
  }
  if (upload && (value('build-context') || value('path-mapping'))) {
    throw new InputError(
      `inputs upload-context and ${value('build-context') ? 'build-context' : 'path-mapping'} contradict each other: with upload-context the hook builds the uploaded archive, so remove ${value('build-context') ? 'build-context' : 'path-mapping'}`
    )
  }
  if (upload && sync) {
    throw new InputError(
      'inputs upload-context and sync-context contradict each other: sync-context moves a clone on the host, upload-context ships the commit instead; choose one'
    )
  }
  if (uploadDir && (!uploadDir.startsWith('/') || /[\n\r]/.test(uploadDir))) {
    throw new InputError(
      `input upload-dir must be an absolute directory on the host, got ${JSON.stringify(uploadDir)}`
    )
  }
  if (uploadDir && !upload) {
    throw new InputError('input upload-dir is only used with upload-context: true')
  }
  return { check, upload, uploadDir, uploadMaxBytes, sync }
}

const MIB = 1024 * 1024

function oneOf<T extends string>(
  raw: string,
  name: InputName,
  allowed: readonly T[],
  fold: (raw: string) => string = word => word
): T {
  const found = allowed.find(option => option === fold(raw))
  if (found === undefined) {
    throw new InputError(
      `input ${name} must be ${allowed.map(option => JSON.stringify(option)).join(' or ')}, got ${JSON.stringify(raw)}`
    )
  }
  return found
}

function parsePromote(
  value: (name: InputName) => string,
  image: string,
  labelSource: string
): PromoteSettings {
  const prodImage = value('prod-image')
  if (!prodImage) {
    throw new InputError('input prod-image is required in promote mode (the tag to promote to)')
  }
  if (!isImageReference(prodImage)) {
    throw new InputError(
      `input prod-image is not a valid image reference: ${JSON.stringify(prodImage)}`
    )
  }
  // Compared as docker names them: `docker.io/acme/shop:staging` is the tag `acme/shop:staging`.
  if (canonicalImageReference(prodImage) === canonicalImageReference(image)) {
    throw new InputError(
      `the staging target equals the prod target: input prod-image ${JSON.stringify(prodImage)} names the same image as image ${JSON.stringify(image)}; promote retags staging to a different prod tag`,
      'prod-target'
    )
  }
  const expectedRevision = value('expected-revision')
  if (expectedRevision && !REVISION_PATTERN.test(expectedRevision)) {
    throw new InputError(
      `input expected-revision must be a full 40- or 64-hex lowercase commit id (the gate's expected_revision output), got ${JSON.stringify(expectedRevision.slice(0, 80))}`
    )
  }
  const imageId = value('image-id')
  if (imageId && !/^sha256:[0-9a-f]{64}$/.test(imageId)) {
    throw new InputError(
      `input image-id must be an image id sha256:<64 hex> (the gate's image_id output), got ${JSON.stringify(imageId.slice(0, 80))}`
    )
  }
  const imageDigest = parsePromoteSource(value, image, prodImage, labelSource)
  // Only a registry promotion has a digest to pin; the host one keeps its settings as they were.
  return labelSource === 'registry'
    ? { prodImage, expectedRevision, imageId, imageDigest }
    : { prodImage, expectedRevision, imageId }
}

/**
 * What a promotion starts from, by label source: `image-id` names an image on the host (host
 * promotion, `docker tag`), `image-digest` a manifest in the registry (registry promotion, a
 * manifest PUT by digest within the same registry, to a tag). Each is refused with the other
 * source, where it would silently pin nothing. Returns the image digest ('' = none).
 */
function parsePromoteSource(
  value: (name: InputName) => string,
  image: string,
  prodImage: string,
  labelSource: string
): string {
  const imageDigest = value('image-digest')
  if (labelSource !== 'registry') {
    if (imageDigest) {
      throw new InputError(
        'input image-digest needs label-source registry (a registry promotion); with label-source host, pin the image with image-id'
      )
    }
    return ''
  }
  if (value('image-id')) {
    throw new InputError(
      "input image-id is for label-source host (docker tag on the host); a registry promotion pins the manifest with image-digest (the gate job's image_digest output)"
    )
  }
  if (imageDigest && !/^sha256:[0-9a-f]{64}$/.test(imageDigest)) {
    throw new InputError(
      `input image-digest must be a manifest digest sha256:<64 hex> (the gate's image_digest output), got ${JSON.stringify(imageDigest.slice(0, 80))}`
    )
  }
  let staging: ImageReference
  let prod: ImageReference
  try {
    staging = parseImageReference(image)
    prod = parseImageReference(prodImage)
  } catch (error) {
    throw new InputError(
      `input prod-image cannot be written in a registry: ${describeError(error)}`
    )
  }
  if (prod.digest !== undefined) {
    throw new InputError(
      `input prod-image must be a tag for a registry promotion (it is written), got the digest reference ${JSON.stringify(prodImage)}`
    )
  }
  if (prod.registry.toLowerCase() !== staging.registry.toLowerCase()) {
    throw new InputError(
      `input prod-image is on ${prod.registry} but image is on ${staging.registry}: a registry promotion writes within one registry (blob mounts)`
    )
  }
  if (imageDigest && staging.digest !== undefined && staging.digest !== imageDigest) {
    throw new InputError(
      `input image-digest ${imageDigest} contradicts the digest in image ${JSON.stringify(image)}`
    )
  }
  return imageDigest
}

function parseRegistry(value: (name: InputName) => string): RegistrySettings {
  const username = value('registry-username')
  const password = value('registry-password')
  const platform = value('platform')
  // One platform grammar, the registry reader's (a comma list, each os/arch[/variant]).
  try {
    parsePlatforms(platform)
  } catch (error) {
    throw new InputError(`input ${describeError(error)}`)
  }
  if (!!username !== !!password) {
    throw new InputError(
      'inputs registry-username and registry-password go together: set both or neither'
    )
  }
  return { username, password, platform }
}

/**
 * BUILD_CONTEXT as the host sees it: explicit wins; else the checkout path translated through
 * `path-mapping` (a runner container that mounts the host's repositories); else `hook-dir`.
 */
export function deriveBuildContext(
  explicit: string,
  mapping: string,
  checkoutPath: string,
  hookDir: string
): string {
  if (explicit) return explicit
  if (!mapping) return hookDir
  const eq = mapping.indexOf('=')
  const from = trimSlashes(mapping.slice(0, eq))
  const to = trimSlashes(mapping.slice(eq + 1))
  if (eq < 1 || !from.startsWith('/') || !to.startsWith('/')) {
    throw new InputError(
      `input path-mapping must be <runner-prefix>=<host-prefix> with two absolute paths, got ${JSON.stringify(mapping)}`
    )
  }
  const inside = from === '/' || checkoutPath === from || checkoutPath.startsWith(`${from}/`)
  if (!inside) {
    throw new InputError(
      `input path-mapping: the checkout ${checkoutPath} is not under the runner prefix ${from}`
    )
  }
  const rest = checkoutPath.slice(from.length)
  return path.posix.join(to, rest)
}

/**
 * Whether a string is a container image reference (`[host[:port]/]name[:tag][@digest]`), by the
 * one reference grammar the registry reader and the promote check use too. It also keeps
 * option-like values (`-x`) out of argv.
 */
export function isImageReference(ref: string): boolean {
  try {
    splitImageReference(ref)
    return true
  } catch {
    return false
  }
}

function parseSsh(value: (name: InputName) => string): SshTarget | undefined {
  const host = value('host')
  if (!host) return undefined
  if (host.startsWith('-') || !/^[A-Za-z0-9._:%[\]-]+$/.test(host)) {
    throw new InputError(`input host must be a host name or address, got ${JSON.stringify(host)}`)
  }
  const user = value('user')
  if (user && (user.startsWith('-') || !/^[A-Za-z0-9._][A-Za-z0-9._-]*\$?$/.test(user))) {
    throw new InputError(`input user must be a login name, got ${JSON.stringify(user)}`)
  }
  const port = parsePort(value('port'), 'port')
  const strictHostKeyChecking = parseBoolean(value, 'strict-host-key-checking')
  const knownHosts = value('known-hosts')
    .split(/\r?\n/)
    .map(line => line.trim())
    .filter(line => line !== '' && !line.startsWith('#'))
  if (strictHostKeyChecking && knownHosts.length === 0) {
    throw new InputError(
      `input known-hosts is required when host is set: pin the staging host's key, e.g. the output of \`ssh-keyscan -p ${port} ${host}\`, stored as a secret or variable`
    )
  }
  const badLine = knownHosts.find(line => line.split(/\s+/).length < 3)
  if (badLine !== undefined) {
    throw new InputError(
      'input known-hosts has a line that is not "<host> <key-type> <key>" (use the output of ssh-keyscan)'
    )
  }
  return {
    host,
    user,
    port,
    privateKey: normalizePrivateKey(value('private-key')),
    knownHosts: knownHosts.length ? `${knownHosts.join('\n')}\n` : '',
    strictHostKeyChecking,
    retries: wholeNumber(value('ssh-retries'), 'ssh-retries', 0, MAX_SSH_RETRIES)
  }
}

/** Private keys pasted into secrets often carry CRLF or lose the final newline; ssh needs both fixed. */
function normalizePrivateKey(raw: string): string {
  if (!raw) return ''
  const key = raw.replace(/\r\n?/g, '\n').trim()
  if (
    !/^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\n[\s\S]+\n-----END [A-Z0-9 ]*PRIVATE KEY-----$/.test(
      key
    )
  ) {
    throw new InputError(
      'input private-key does not look like a private key (expected the whole file, from "-----BEGIN … PRIVATE KEY-----" to its END line)'
    )
  }
  return `${key}\n`
}

function checkNotProd(staging: StagingTarget, prodService: string, prodPort: string): void {
  if (prodService && (staging.service === prodService || staging.container === prodService)) {
    throw new InputError(
      `the staging target equals the prod target: service/staging-container ${JSON.stringify(prodService)} is prod-service; the gate only ever rebuilds staging`,
      'prod-target'
    )
  }
  if (prodPort && staging.port === prodPort) {
    throw new InputError(
      `the staging target equals the prod target: staging-port ${prodPort} is prod-port; the gate only ever rebuilds staging`,
      'prod-target'
    )
  }
}

/**
 * A keyword in lower case when written as YAML 1.2's core schema writes booleans (`true`, `True`
 * or `TRUE`), so every keyword input folds case alike; other spellings are kept for the refusal.
 */
function yamlWord(raw: string): string {
  const lower = raw.toLowerCase()
  const capitalised = `${lower.charAt(0).toUpperCase()}${lower.slice(1)}`
  return [lower, capitalised, lower.toUpperCase()].includes(raw) ? lower : raw
}

function parseBoolean(read: (name: InputName) => string, name: InputName): boolean {
  const raw = read(name).trim() || INPUT_DEFAULTS[name]
  const word = yamlWord(raw)
  if (word === 'true') return true
  if (word === 'false') return false
  throw new InputError(`input ${name} must be true or false, got ${JSON.stringify(raw)}`)
}

function parsePort(raw: string, name: InputName): number {
  const port = /^[0-9]{1,5}$/.test(raw) ? Number(raw) : NaN
  if (!(port >= 1 && port <= 65535)) {
    throw new InputError(
      `input ${name} must be a TCP port from 1 to 65535, got ${JSON.stringify(raw)}`
    )
  }
  return port
}

function optionalPort(raw: string, name: InputName): string {
  return raw ? String(parsePort(raw, name)) : ''
}

function timeoutMs(raw: string, name: InputName): number {
  return wholeNumber(raw, name, 1, MAX_TIMEOUT_SECONDS, ' of seconds') * 1000
}

function wholeNumber(raw: string, name: InputName, min: number, max: number, unit = ''): number {
  const n = /^[0-9]{1,9}$/.test(raw) ? Number(raw) : NaN
  if (!(n >= min && n <= max)) {
    throw new InputError(
      `input ${name} must be a whole number${unit} from ${min} to ${max}, got ${JSON.stringify(raw)}`
    )
  }
  return n
}

function trimSlashes(p: string): string {
  const trimmed = p.trim().replace(/\/+$/, '')
  return trimmed || (p.trim().startsWith('/') ? '/' : '')
}

/** The runner masks line by line, so a multi-line secret is registered one line at a time. */
function maskLines(secret: string): void {
  for (const line of secret.split(/\r?\n/)) {
    if (line.trim()) core.setSecret(line.trim())
  }
}
