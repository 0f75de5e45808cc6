import { shortId } from '../decide/container.js'
import { decideSource } from '../decide/source.js'
import { decideVerdict, revisionOf, type Decision } from '../decide/verdict.js'
import { GateError } from '../errors.js'
import type { Facts, GateDeps } from '../facts.js'
import type { PromoteModeSettings } from '../settings.js'
import { promoteInRegistry } from './promote.js'

/**
 * The gate's registry promotion (mode promote, label-source registry): no host, no daemon. The
 * checks are the gate's own (revision against `revision`, then the source label rules), applied
 * by the promotion to every image before it writes anything; the facts are filled as soon as the
 * staging image is read, so a refused push still reports what was read. Returns the match with
 * where it was promoted, or the mismatch; any other failure is thrown as a GateError.
 */
export async function registryPromotion(
  settings: PromoteModeSettings,
  deps: GateDeps,
  facts: Facts,
  revision: string
): Promise<Decision> {
  const { promote } = settings
  const label = settings.revisionLabel
  const check = (labels: Record<string, string>): Decision | undefined => {
    try {
      const verdict = decideVerdict(revision, revisionOf(labels, label))
      if (!verdict.pass) return verdict
      decideSource(labels, settings.repositoryUrl, settings.requireSource)
    } catch (error) {
      // The promotion wants each image's refusal as a value, to refuse them all before writing.
      if (!(error instanceof GateError)) throw error
      return { verdict: 'fail-closed', reason: error.message, pass: false, failure: error.failure }
    }
    return undefined
  }
  const start = deps.now()
  facts.current = 'promote'
  const result = await (deps.promoteRegistry ?? promoteInRegistry)(
    {
      image: settings.image,
      prodImage: promote.prodImage,
      imageDigest: promote.imageDigest ?? '',
      check,
      log: message => deps.log.info(message),
      onStaged: image => {
        facts.imageDigest = image.digest
        facts.imageId = image.configDigest
        facts.labels = image.labels
        facts.imageRevision = revisionOf(image.labels, label)
      }
    },
    { ...settings.registry, revisionLabel: label, timeoutMs: settings.timeouts.inspectMs }
  ).finally(() => {
    facts.phases.push({ name: 'promote', ms: deps.now() - start })
  })
  facts.current = ''
  facts.prodImageDigest = result.prodDigest
  const failed = result.failed
  // A mismatch is a verdict; every other refusal travels as the GateError it is.
  if (failed?.verdict === 'mismatch') return failed
  if (failed && failed.failure) {
    throw new GateError(failed.failure, failed.reason.replace(/^provenance fail-closed: /, ''))
  }
  facts.prodImageId = facts.imageId
  const verdict = decideVerdict(revision, facts.imageRevision)
  if (!verdict.pass) return verdict
  return {
    ...verdict,
    reason: `${verdict.reason}, promoted to ${promote.prodImage} as ${shortId(result.prodDigest)}`
  }
}
