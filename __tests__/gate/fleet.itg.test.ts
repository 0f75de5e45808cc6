/**
 * skip-if-fresh (issue 12 §4) and fleets (issue 13 §2): real sshd, dockerd and git on loopback,
 * the bundle run as the runner runs it, several gates at the same time on one runner.
 */
import { afterEach, beforeAll, describe, expect, test } from '@jest/globals'
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import {
  buildImage,
  commit,
  docker,
  makeRepo,
  runAction,
  scratchDir,
  writeScript
} from '../support/action.js'
import { expectCleanRun, outcome, sshInputs } from '../support/expect-run.js'
import { startSshd, stopPid, type StagingHost } from '../support/services.js'
import { useStagingHost } from '../support/staging-host.js'

const LABEL = 'org.opencontainers.image.revision'
const stagingHost = useStagingHost()
let host: StagingHost
let counter = 0
const containers: string[] = []

function imageRef(): string {
  counter += 1
  return `localhost:5000/shop/fleet:t${process.pid}-${counter}`
}

/** A runnable image (busybox) labelled with `revision`, and its id. */
function runnableImage(tag: string, revision: string, variant = ''): string {
  const context = scratchDir('busybox-')
  copyFileSync('/bin/busybox', path.join(context, 'busybox'))
  writeFileSync(path.join(context, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\n')
  docker(host.dockerHost, 'build', '-q', '--label', `${LABEL}=${revision}`, '--label', `variant=${variant}`, '-t', tag, context) // prettier-ignore
  return docker(host.dockerHost, 'image', 'inspect', '--format', '{{.Id}}', tag)
}

/** A running staging container of compose service `service` on `image`. */
function runStaging(service: string, image: string): void {
  const name = `pg-fleet-${process.pid}-${++counter}`
  docker(host.dockerHost, 'run', '-d', '--network', 'none', '--name', name, '--label', `com.docker.compose.service=${service}`, image, '/bin/busybox', 'sleep', '600') // prettier-ignore
  containers.push(name)
}

/** A hook that records that it ran (and the context it saw), then builds nothing. */
function recordingHook(): { hook: string; log: string } {
  const dir = scratchDir('fleet-hook-')
  const log = path.join(dir, 'hook.log')
  const hook = writeScript(dir, 'hook.sh', `echo "ran $BUILD_CONTEXT" >> ${JSON.stringify(log)}`)
  return { hook, log }
}

beforeAll(() => {
  host = stagingHost()
})

afterEach(removeContainers)

/** Removes the containers a test started (before the harness stops dockerd). */
function removeContainers(): void {
  for (const name of containers.splice(0)) docker(host.dockerHost, 'rm', '-f', name)
}

describe('skip-if-fresh', () => {
  test('image and running container already at HEAD: the hook is skipped, rebuilt false, the log and summary say so', async () => {
    const repo = makeRepo()
    const image = imageRef()
    runnableImage(image, repo.head)
    const service = `svc${counter}`
    runStaging(service, image)
    const { hook, log } = recordingHook()
    const run = await runAction({
      ...sshInputs(host),
      path: repo.dir,
      image,
      hook,
      service,
      'skip-if-fresh': 'true'
    })
    expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match' })
    expect(run.outputs.rebuilt).toBe('false')
    expect(run.outputs.reason).toMatch(/hook skipped: skip-if-fresh/)
    expect(existsSync(log)).toBe(false)
    expect(run.stdout).toMatch(/skip-if-fresh: .* the hook was skipped/)
    expect(run.summary).toMatch(/probe \d+ ms/)
    expect(run.summary).toContain('nothing was built (skip-if-fresh)')
    await expectCleanRun(run, host, { complete: true })
  })

  test.each([
    ['the label is an older commit', 'old'],
    ['the label is HEAD but a running container runs another image', 'container']
  ])('%s: the hook runs (rebuilt true)', async (_name, kind) => {
    const repo = makeRepo()
    const old = repo.head
    const head = commit(repo.dir, 'app.txt', 'v2\n')
    const image = imageRef()
    const service = `svc${counter}`
    if (kind === 'old') {
      runnableImage(image, old)
    } else {
      runStaging(service, runnableImage(imageRef(), head, 'another build'))
      runnableImage(image, head)
    }
    const { hook, log } = recordingHook()
    const run = await runAction({
      ...sshInputs(host),
      path: repo.dir,
      image,
      hook,
      service,
      'skip-if-fresh': 'true',
      'check-context': 'false'
    })
    expect(readFileSync(log, 'utf8')).toMatch(/^ran /)
    expect(run.outputs.rebuilt).toBe('true')
    expect(run.stdout).toMatch(/skip-if-fresh: not fresh \(.*\); rebuilding/)
    // The hook built nothing: the old label (or the old container) still fails the gate.
    expect(outcome(run)).toMatchObject({ exitCode: 1 })
  })

  test('skip-if-fresh outside rebuild mode is refused before anything runs', async () => {
    const repo = makeRepo()
    const run = await runAction({
      ...sshInputs(host),
      mode: 'verify',
      path: repo.dir,
      image: imageRef(),
      'skip-if-fresh': 'true'
    })
    expect(outcome(run)).toMatchObject({ exitCode: 1, failure: 'invalid-input' })
    expect(run.outputs.rebuilt).toBe('')
  })
})

describe('fleets: several gates at once on one runner', () => {
  test('two hosts and one host twice, all at the same time: every verdict right, nothing shared', async () => {
    const repo = makeRepo()
    const image = imageRef()
    buildImage(host.dockerHost, image, { [LABEL]: repo.head })
    const stale = imageRef()
    buildImage(host.dockerHost, stale, { [LABEL]: 'f'.repeat(40) })
    const second = await startSshd(scratchDir('fleet-ssh-'), { DOCKER_HOST: host.dockerHost })
    try {
      const hooks = [recordingHook(), recordingHook(), recordingHook()]
      const gate = (target: StagingHost | typeof second, which: string, hook: string) =>
        runAction({
          ...sshInputs({ ...host, ...target }),
          path: repo.dir,
          image: which,
          hook,
          'upload-context': 'true',
          'check-container': 'false'
        })
      const [a, b, c] = await Promise.all([
        gate(host, image, hooks[0]?.hook ?? ''),
        gate(second, image, hooks[1]?.hook ?? ''),
        gate(host, stale, hooks[2]?.hook ?? '')
      ])
      expect([a, b, c].map(run => outcome(run).verdict)).toEqual(['match', 'match', 'mismatch'])
      expect(a?.summary).toContain(`— root@127.0.0.1:${host.sshPort}`)
      expect(b?.summary).toContain(`— root@127.0.0.1:${second.sshPort}`)
      // Each run made its own upload directory on the host and its own private files here.
      const contexts = hooks.map(({ log }) => readFileSync(log, 'utf8').trim())
      expect(new Set(contexts).size).toBe(3)
      for (const run of [a, b, c]) if (run) await expectCleanRun(run, host)
      expect(new Set([a, b, c].map(run => run?.runnerTemp)).size).toBe(3)
    } finally {
      await stopPid(second.sshdPid)
    }
  })
})
