import { shortId } from '../container-check.js'
import type { Facts, GateDeps } from '../gate.js'
import type { Settings } from '../settings.js'
import { decideSource } from '../source-check.js'
import { decideVerdict, revisionOf, type Decision } from '../verdict.js'
import { promoteInRegistry } from './promote.js'

/**
 * The gate's registry promotion (mode promote, label-source registry): no host, no daemon. The
 * checks are the gate's own (revision against `revision`, then the source label rules), applied
 * by the promotion to every image before it writes anything; the facts are filled as soon as the
 * staging image is read, so a refused push still reports what was read. Returns the verdict:
 * the promotion's failure, or the match with where it was promoted.
 */
export async function registryPromotion(
  settings: Settings,
  deps: GateDeps,
  facts: Facts,
  revision: string
): Promise<Decision> {
  const promote = settings.promote
  if (!promote) throw new Error('registryPromotion needs promote settings')
  const label = settings.revisionLabel
  const check = (labels: Record<string, string>): Decision | undefined => {
    const verdict = decideVerdict(revision, revisionOf(labels, label))
    if (!verdict.pass) return verdict
    return decideSource(labels, settings.repositoryUrl, settings.requireSource)
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
  if (result.failed) return result.failed
  facts.prodImageId = facts.imageId
  const verdict = decideVerdict(revision, facts.imageRevision)
  if (!verdict.pass) return verdict
  return {
    ...verdict,
    reason: `${verdict.reason}, promoted to ${promote.prodImage} as ${shortId(result.prodDigest)}`
  }
}
