import { shortId } from './decide/container.js'
import { revisionOf, showPair } from './decide/verdict.js'
import { GateError } from './errors.js'
import type { Facts, GateDeps } from './facts.js'
import { planPromoteSession } from './session/protocol.js'
import type { Runner } from './session/runner.js'
import { checkQuick, checkStarted, readInspect, runPlanned } from './session/run-session.js'
import type { PromoteModeSettings } from './settings.js'

/**
 * The promotion, after the staging image passed: tag it by id to prod-image, read prod-image back
 * and require the same id and revision. Anything else (a concurrent writer of the tag, a failed
 * tag) throws a GateError; `facts.prodImageId` keeps what was read back.
 */
export async function promote(
  runner: Runner,
  settings: PromoteModeSettings,
  revision: string,
  deps: GateDeps,
  facts: Facts
): Promise<void> {
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
    throw new GateError(
      'mismatch',
      `after docker tag, ${prodImage} has id ${got}, not the verified ${want}: something else wrote the tag at the same time`
    )
  }
  const prodRevision = revisionOf(prod.labels, settings.revisionLabel)
  if (prodRevision !== revision) {
    throw new GateError(
      'mismatch',
      `after docker tag, ${prodImage} carries revision ${JSON.stringify(prodRevision)}, not ${revision}`
    )
  }
}
