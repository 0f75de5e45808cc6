import type { ContainerAnswer } from './container-check.js'
import { decideContainer, shortId } from './container-check.js'
import { describeError, GateError } from './errors.js'
import type { EventContext } from './event-context.js'
import type { RegistryImage, RegistryOptions } from './registry.js'
import type { promoteInRegistry } from './registry/promote.js'
import { registryPromotion } from './registry/promote-step.js'
import { headRevision } from './revision.js'
import {
  checkQuick,
  checkStarted,
  readInspect,
  runGateSession,
  runPlanned,
  type SessionFacts
} from './run-session.js'
import type { LocalRunner, Runner } from './runner.js'
import { planPromoteSession } from './session-protocol.js'
import type { Settings, SshTarget } from './settings.js'
import { decideSource } from './source-check.js'
import { decideVerdict, failClosed, revisionOf, showPair, type Decision } from './verdict.js'

/** Where the gate's messages go; the action wires it to the runner's log. */
export interface GateLog {
  info(message: string): void
  /** A warning annotation: something the user should fix even though the gate may pass. */
  warning(message: string): void
  /**
   * Opens a collapsed group for a program's live output and returns the writer for its chunks.
   * The output is shown verbatim and never interpreted as workflow commands.
   */
  openRaw(title: string): (chunk: Buffer) => void
  closeRaw(): void
}

/** The gate's only ways to touch the world, so tests swap objects instead of modules. */
export interface GateDeps {
  /** Runs git on this runner, and every session when no host is set. */
  local: LocalRunner
  /** Opens the shared ssh connection; throws a GateError (`host-key`, `transport`) on failure. */
  openSsh(target: SshTarget): Promise<Runner>
  log: GateLog
  now(): number
  /** Waits between connection attempts. */
  sleep(ms: number): Promise<void>
  /** A fresh random token per session for its result lines (never in any argv). */
  nonce(): string
  /** This run's id: it names the run record on the host that a cancellation reads. */
  runId: string
  /** Reads an image's manifest and config from its registry (label-source registry). */
  readRegistry(reference: string, options: RegistryOptions): Promise<RegistryImage>
  /** Promotes in the registry (promote mode, label-source registry); default promoteInRegistry. */
  promoteRegistry?: typeof promoteInRegistry
  /** Where this run's commit came from (event, GITHUB_SHA, pull request head). */
  event: EventContext
  /** Learns the runner the session uses, so a cancellation can reach the host through it. */
  onRunner?(runner: Runner | undefined): void
}

/** How long one phase took, for the summary. */
export interface PhaseTiming {
  name:
    'git' | 'connect' | 'probe' | 'upload' | 'context' | 'hook' | 'inspect' | 'registry' | 'promote'
  ms: number
}

/**
 * What the gate learned, filled in as it goes so that a failure half-way still reports every
 * value it had (an unknown value stays '').
 */
export interface Facts {
  expectedRevision: string
  imageRevision: string
  imageId: string
  /** Manifest digest, when the labels came from the registry. */
  imageDigest: string
  /** The prod image's id after a promotion: equal to imageId, or the promotion failed. */
  prodImageId: string
  /** Registry promotion: the digest the prod tag read back with (equal to imageDigest on a pass). */
  prodImageDigest: string
  /** Every label of the inspected image, for the checks that read more than the revision. */
  labels: Record<string, string>
  /** What the gate established about the build context (verified, uploaded, not verified). */
  contextNote: string
  /** rebuild mode: 'true' when the hook ran, 'false' when skip-if-fresh found it unneeded. */
  rebuilt: '' | 'true' | 'false'
  /** A session started on the host and has not reported its end: the post step must look. */
  sessionOpen: boolean
  phases: PhaseTiming[]
  /** The phase running when the gate stopped, so even an unexpected error gets a class. */
  current: PhaseTiming['name'] | ''
}

/** A fresh, empty set of facts. */
export function emptyFacts(): Facts {
  return {
    expectedRevision: '',
    imageRevision: '',
    imageId: '',
    imageDigest: '',
    prodImageId: '',
    prodImageDigest: '',
    labels: {},
    contextNote: '',
    rebuilt: '',
    sessionOpen: false,
    phases: [],
    current: ''
  }
}

/** Backoff before connection attempt `attempt + 2`: 1 s, 2 s, 4 s, then 8 s each. */
export function retryDelayMs(attempt: number): number {
  return Math.min(1000 * 2 ** attempt, 8000)
}

/**
 * The gate itself: validated revision, then one remote session (the build context proven or
 * uploaded, the hook in rebuild mode, then the inspect), then the verdict. Expected failures
 * throw a GateError naming the cause; `facts` keeps what was known.
 */
export async function runGate(settings: Settings, deps: GateDeps, facts: Facts): Promise<Decision> {
  const timed = async <T>(name: PhaseTiming['name'], work: () => Promise<T>): Promise<T> => {
    const start = deps.now()
    facts.current = name
    try {
      return await work()
    } finally {
      facts.phases.push({ name, ms: deps.now() - start })
    }
  }

  // Registry labels in verify mode need nothing on the host: no connection at all.
  const needsHost = settings.mode === 'rebuild' || settings.labelSource === 'host'
  const { ssh } = settings
  // The connection (key check, handshake) is opened while git answers: nothing runs on the host
  // before the revision is known, and a failed git closes the connection unused.
  const connecting = needsHost && ssh ? timed('connect', () => connect(deps, ssh)) : undefined
  connecting?.catch(() => undefined)
  let revision: string
  try {
    revision =
      settings.promote?.expectedRevision ||
      (await timed('git', () =>
        headRevision(deps.local, settings, deps.event, deps.log, resolved => {
          facts.expectedRevision = resolved
        })
      ))
  } catch (error) {
    const unused = await connecting?.catch(() => undefined)
    await unused?.close().catch(() => undefined)
    throw error
  }
  facts.expectedRevision = revision

  let runner: Runner | undefined
  try {
    if (needsHost) {
      facts.current = 'connect'
      runner = connecting ? await connecting : deps.local
    }
    deps.onRunner?.(runner)
    if (runner && settings.skipIfFresh) {
      const fresh = await probeFresh(runner, settings, revision, deps, facts)
      if (fresh) return fresh
    }
    const session = runner ? await runGateSession(runner, settings, revision, deps, facts) : {}
    facts.contextNote = session.contextNote ?? ''
    if (session.decision) return session.decision
    // Registry promotion: no host was opened; read, check and write in the registry only.
    if (settings.promote && settings.labelSource === 'registry') {
      return await registryPromotion(settings, deps, facts, revision)
    }
    if (settings.labelSource === 'registry') {
      const image = await timed('registry', () =>
        deps.readRegistry(settings.image, {
          ...settings.registry,
          revisionLabel: settings.revisionLabel,
          timeoutMs: settings.timeouts.inspectMs
        })
      )
      facts.imageId = image.configDigest
      facts.imageDigest = image.digest
      facts.labels = image.labels
      deps.log.info(
        `registry: ${settings.image} is ${image.digest} (${settings.registry.platform}: manifest ${image.manifestDigest}, config ${image.configDigest})`
      )
    } else if (session.inspected) {
      facts.imageId = session.inspected.imageId
      facts.labels = session.inspected.labels
    }
    facts.imageRevision = revisionOf(facts.labels, settings.revisionLabel)
    deps.log.info(
      `image ${settings.promote?.imageId || settings.image}: id ${facts.imageId}, ${settings.revisionLabel}=${facts.imageRevision ? JSON.stringify(facts.imageRevision) : '(none)'}`
    )
    facts.current = ''
    return await decide(settings, deps, facts, revision, session.container, runner)
  } finally {
    deps.onRunner?.(undefined)
    // Cleanup trouble must not replace the verdict; the post step retries what is left.
    await runner?.close().catch((error: unknown) => {
      deps.log.warning(`could not close the connection cleanly: ${describeError(error)}`)
    })
  }
}

/**
 * skip-if-fresh: one read-only session (the inspect and the container check, as in verify mode)
 * before any rebuild. When the image already carries the validated revision, names the right
 * source and every running staging container runs it, the hook is skipped and that is the pass;
 * otherwise nothing of the probe is kept and the gate rebuilds as usual.
 */
async function probeFresh(
  runner: Runner,
  settings: Settings,
  revision: string,
  deps: GateDeps,
  facts: Facts
): Promise<Decision | undefined> {
  const before = facts.phases.length
  let probe: SessionFacts
  try {
    probe = await runGateSession(runner, { ...settings, mode: 'verify' }, revision, deps, facts)
  } catch (error) {
    // A session that ended answered: no image to trust there (none yet, on a first deploy) is
    // not fresh. No answer (a lost connection, a timeout) stays a failure, as in verify mode.
    if (!(error instanceof GateError) || error.failure !== 'inspect-failed' || facts.sessionOpen) {
      throw error
    }
    deps.log.info(`skip-if-fresh: not fresh (${error.message}); rebuilding`)
    return undefined
  } finally {
    for (const phase of facts.phases.slice(before)) phase.name = 'probe'
  }
  const labels = probe.inspected?.labels ?? {}
  const imageRevision = revisionOf(labels, settings.revisionLabel)
  const imageId = probe.inspected?.imageId ?? ''
  const stale = decideVerdict(revision, imageRevision).pass
    ? (decideSource(labels, settings.repositoryUrl, settings.requireSource) ??
      decideContainer(
        probe.container,
        imageId,
        settings.containerCheck,
        settings.staging.container
      ))
    : failClosed(`the image carries ${JSON.stringify(imageRevision)}`, 'mismatch')
  if (stale) {
    deps.log.info(`skip-if-fresh: not fresh (${stale.reason}); rebuilding`)
    return undefined
  }
  Object.assign(facts, { imageId, labels, imageRevision, rebuilt: 'false', current: '' })
  facts.contextNote = 'not consulted: nothing was built (skip-if-fresh)'
  deps.log.info(
    `skip-if-fresh: ${settings.image} (${shortId(imageId)}) already carries ${revision.slice(0, 12)} and the staging containers run it: the hook was skipped, so its build, health check and smoke test did not run now`
  )
  const verdict = decideVerdict(revision, imageRevision)
  return {
    ...verdict,
    reason: `${verdict.reason} (already built and running; hook skipped: skip-if-fresh)`
  }
}

/** The checks on what was read, in order, then (promote mode) the promotion. */
async function decide(
  settings: Settings,
  deps: GateDeps,
  facts: Facts,
  revision: string,
  container: ContainerAnswer | undefined,
  runner: Runner | undefined
): Promise<Decision> {
  const verdict = decideVerdict(revision, facts.imageRevision)
  if (!verdict.pass) return verdict
  const source = decideSource(facts.labels, settings.repositoryUrl, settings.requireSource)
  if (source) return source
  if (container && !container.exists) {
    deps.log.info(
      `no container ${settings.staging.container} on the host: nothing runs, nothing to compare`
    )
  }
  const stale = decideContainer(
    container,
    facts.imageId,
    settings.containerCheck,
    settings.staging.container
  )
  if (stale) return stale
  if (!settings.promote || !runner) return verdict
  const { prodImage } = settings.promote
  const start = deps.now()
  facts.current = 'promote'
  const promoted = await promote(runner, settings, revision, deps, facts).finally(() => {
    facts.phases.push({ name: 'promote', ms: deps.now() - start })
  })
  facts.current = ''
  if (promoted) return promoted
  return {
    ...verdict,
    reason: `${verdict.reason}, promoted to ${prodImage} as ${shortId(facts.imageId)}`
  }
}

/**
 * The promotion, after the staging image passed: tag it by id to prod-image, read prod-image back
 * and require the same id and revision. Returns a failed decision, or `undefined` when promoted.
 */
async function promote(
  runner: Runner,
  settings: Settings,
  revision: string,
  deps: GateDeps,
  facts: Facts
): Promise<Decision | undefined> {
  if (!settings.promote) return undefined
  const { prodImage } = settings.promote
  const where = runner.where
  const nonce = deps.nonce()
  const plan = planPromoteSession(settings, facts.imageId, prodImage, { nonce, runId: deps.runId })
  deps.log.info(`promoting ${facts.imageId} to ${prodImage} on ${where}`)
  const phases = facts.phases.length
  const { result, answer, tail } = await runPlanned(runner, plan, nonce, deps, facts, {
    title: `output on ${where} (tag)`
  })
  facts.phases.splice(phases)
  checkStarted(answer, result, where, tail, 'inspect-failed')
  checkQuick(
    'tag',
    `${settings.docker} tag ${facts.imageId} ${prodImage}`,
    answer.steps.tag,
    result,
    settings,
    where,
    tail,
    facts.imageId
  )
  const prod = readInspect(answer.steps.prod, result, settings, where, tail, prodImage)
  facts.prodImageId = prod.imageId
  if (prod.imageId !== facts.imageId) {
    const [got, want] = showPair(prod.imageId, facts.imageId, shortId)
    return failClosed(
      `provenance fail-closed: after docker tag, ${prodImage} has id ${got}, not the verified ${want}: something else wrote the tag at the same time`,
      'mismatch'
    )
  }
  const prodRevision = revisionOf(prod.labels, settings.revisionLabel)
  if (prodRevision !== revision) {
    return failClosed(
      `provenance fail-closed: after docker tag, ${prodImage} carries revision ${JSON.stringify(prodRevision)}, not ${revision}`,
      'mismatch'
    )
  }
  return undefined
}

/**
 * Opens the ssh connection, trying again with backoff only when the failure is one that happened
 * before anything ran on the host (see GateError.retryable).
 */
async function connect(deps: GateDeps, target: SshTarget): Promise<Runner> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await deps.openSsh(target)
    } catch (error) {
      if (!(error instanceof GateError) || !error.retryable) throw error
      if (attempt >= target.retries) {
        const tries = attempt + 1
        throw new GateError(
          error.failure,
          `${error.message} (${tries} attempt${tries === 1 ? '' : 's'}, ssh-retries ${target.retries})`
        )
      }
      const delay = retryDelayMs(attempt)
      deps.log.info(
        `${error.message}; nothing ran on the host, retrying in ${delay / 1000} s (attempt ${attempt + 2} of ${target.retries + 1})`
      )
      await deps.sleep(delay)
    }
  }
}
