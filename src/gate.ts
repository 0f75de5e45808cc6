import { decideContainer, shortId, type ContainerAnswer } from './decide/container.js'
import { decideSource } from './decide/source.js'
import { decideVerdict, revisionOf, type Decision } from './decide/verdict.js'
import { describeError, GateError } from './errors.js'
import {
  emptyFacts,
  GateStopped,
  type Facts,
  type GateDeps,
  type GateOutcome,
  type PhaseTiming
} from './facts.js'
import { promote } from './promote.js'
import { registryPromotion } from './registry/promote-step.js'
import { headRevision } from './revision.js'
import { connect } from './session/connect.js'
import { runGateSession, type SessionFacts } from './session/run-session.js'
import type { Runner } from './session/runner.js'
import { inspectedImage, type Settings } from './settings.js'

/**
 * The gate, in the order of the README's "What it does": the validated revision (while the
 * connection opens), one remote session (the build context proven or uploaded and the hook in
 * rebuild mode, then the inspect; or only a read-only probe when skip-if-fresh finds the image
 * fresh), or the registry's labels, then the decisions, then (promote mode) the promotion.
 * Returns the verdict (match or mismatch) with every fact learned; every other ending throws a
 * GateStopped carrying the error (a GateError naming the cause when it was expected) and the
 * facts known by then.
 */
export async function runGate(settings: Settings, deps: GateDeps): Promise<GateOutcome> {
  const facts = emptyFacts()
  try {
    return { decision: await gate(settings, deps, facts), facts }
  } catch (error) {
    throw new GateStopped(error, facts)
  }
}

async function gate(settings: Settings, deps: GateDeps, facts: Facts): Promise<Decision> {
  const timed = phaseTimer(deps, facts)
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
      (settings.mode === 'promote' && settings.promote.expectedRevision) ||
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
    if (runner && settings.mode === 'rebuild' && settings.skipIfFresh) {
      const fresh = await probeFresh(runner, settings, revision, deps, facts)
      if (fresh) return fresh
    }
    const session = runner ? await runGateSession(runner, settings, revision, deps, facts) : {}
    facts.contextNote = session.contextNote ?? ''
    // Registry promotion: no host was opened; read, check and write in the registry only.
    if (settings.mode === 'promote' && settings.labelSource === 'registry') {
      return await registryPromotion(settings, deps, facts, revision)
    }
    await readImage(settings, deps, facts, session, timed)
    facts.current = ''
    const verdict = decide(settings, deps, facts, revision, session.container)
    if (!verdict.pass || settings.mode !== 'promote' || !runner) return verdict
    const { prodImage } = settings.promote
    const host = runner
    await timed('promote', () => promote(host, settings, revision, deps, facts))
    facts.current = ''
    return {
      ...verdict,
      reason: `${verdict.reason}, promoted to ${prodImage} as ${shortId(facts.imageId)}`
    }
  } finally {
    deps.onRunner?.(undefined)
    // Cleanup trouble must not replace the verdict; the post step retries what is left.
    await runner?.close().catch((error: unknown) => {
      deps.log.warning(`could not close the connection cleanly: ${describeError(error)}`)
    })
  }
}

type Timed = <T>(name: PhaseTiming['name'], work: () => Promise<T>) => Promise<T>

/** Runs one phase: it is the current one while it runs, and its time is kept however it ends. */
function phaseTimer(deps: GateDeps, facts: Facts): Timed {
  return async (name, work) => {
    const start = deps.now()
    facts.current = name
    try {
      return await work()
    } finally {
      facts.phases.push({ name, ms: deps.now() - start })
    }
  }
}

/** The image's identity and labels, from the session's inspect or from the registry. */
async function readImage(
  settings: Settings,
  deps: GateDeps,
  facts: Facts,
  session: SessionFacts,
  timed: Timed
): Promise<void> {
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
    `image ${inspectedImage(settings)}: id ${facts.imageId}, ${settings.revisionLabel}=${facts.imageRevision ? JSON.stringify(facts.imageRevision) : '(none)'}`
  )
}

/**
 * The checks on what was read, in order: the revision (a mismatch is the verdict), the source,
 * the running containers. Each failed check throws its GateError.
 */
function decide(
  settings: Settings,
  deps: GateDeps,
  facts: Facts,
  revision: string,
  container: ContainerAnswer | undefined
): Decision {
  const verdict = decideVerdict(revision, facts.imageRevision)
  if (!verdict.pass) return verdict
  decideSource(facts.labels, settings.repositoryUrl, settings.requireSource)
  if (container && !container.exists) {
    deps.log.info(
      `no container ${settings.staging.container} on the host: nothing runs, nothing to compare`
    )
  }
  decideContainer(container, facts.imageId, settings.containerCheck, settings.staging.container)
  return verdict
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
  const stale = staleness(settings, revision, imageRevision, labels, imageId, probe.container)
  if (stale) {
    deps.log.info(`skip-if-fresh: not fresh (${stale}); rebuilding`)
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

/** Why the probed image is not fresh, or '' when it would pass every check as it stands. */
function staleness(
  settings: Settings,
  revision: string,
  imageRevision: string,
  labels: Record<string, string>,
  imageId: string,
  container: ContainerAnswer | undefined
): string {
  if (!imageRevision || !decideVerdict(revision, imageRevision).pass) {
    return `the image carries ${JSON.stringify(imageRevision)}`
  }
  try {
    decideSource(labels, settings.repositoryUrl, settings.requireSource)
    decideContainer(container, imageId, settings.containerCheck, settings.staging.container)
    return ''
  } catch (error) {
    if (error instanceof GateError) return error.message
    throw error
  }
}
