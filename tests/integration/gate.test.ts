import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildImage, commit, docker, makeRepo, runAction, writeScript, type ActionRun } from './harness/action.js'
import type { StagingHost } from './harness/services.js'
import { useStagingHost } from './harness/staging-host.js'

const REFERENCE_HOOK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../hook/deploy-hook.sh')
const LABEL = 'org.opencontainers.image.revision'

const stagingHost = useStagingHost()
let host: StagingHost
let scratch: string
let counter = 0

/** A unique image reference per test, so tests never see each other's images. */
function imageRef(): string {
  counter += 1
  return `localhost:5000/shop/staging:t${process.pid}-${counter}`
}

/** Inputs that reach the loopback sshd as root with the pinned host key. */
function sshInputs(): Record<string, string> {
  return {
    host: '127.0.0.1',
    user: 'root',
    port: String(host.sshPort),
    'private-key': host.privateKey,
    'known-hosts': host.knownHosts
  }
}

/** The three facts most assertions start with; a failing diff shows the reason. */
function outcome(run: ActionRun): { exitCode: number | null; verdict?: string; reason?: string } {
  return { exitCode: run.exitCode, verdict: run.outputs.verdict, reason: run.outputs.reason }
}

/** Asserts nothing secret or private outlived the run. */
function expectCleanRun(run: ActionRun): void {
  expect(run.leftInRunnerTemp).toEqual([])
  // `::add-mask::` lines are commands the runner consumes (and never shows): they register the
  // key's lines as secrets. Everything else must not hold a line of the key.
  const shown = (run.stdout + run.stderr)
    .split('\n')
    .filter(line => !line.startsWith('::add-mask::'))
    .join('\n')
  for (const line of host.privateKey.split('\n').filter(l => l && !l.startsWith('-----'))) {
    expect(shown + run.summary + JSON.stringify(run.outputs)).not.toContain(line)
  }
}

beforeAll(() => {
  host = stagingHost()
  scratch = mkdtempSync(path.join(tmpdir(), 'pg-gate-'))
})

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true })
})

describe('rebuild mode over ssh with the reference hook', () => {
  test('a fresh image built from HEAD matches and exports the revision and image id', async () => {
    const repo = makeRepo()
    const image = imageRef()
    const run = await runAction({
      ...sshInputs(),
      path: repo.dir,
      image,
      hook: REFERENCE_HOOK,
      'hook-dir': repo.dir,
      'build-context': repo.dir
    }, { })
    expect(outcome(run)).toEqual({
      exitCode: 0,
      verdict: 'match',
      reason: `provenance match: ${repo.head.slice(0, 12)}`
    })
    expect(run.outputs.expected_revision).toBe(repo.head)
    expect(run.outputs.image_revision).toBe(repo.head)
    const id = docker(host.dockerHost, 'image', 'inspect', '--format', '{{.Id}}', image)
    expect(run.outputs.image_id).toBe(id)
    expect(run.outputs.reason).toBe(`provenance match: ${repo.head.slice(0, 12)}`)
    expect(run.summary).toContain('| Verdict | **match** |')
    expectCleanRun(run)
  })
})
