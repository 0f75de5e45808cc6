/**
 * Issue §5 "Fuzzed inputs", through a real sshd: a seeded sample of generated inputs (every
 * host-bound input at once, biased to shell metacharacters) that parseSettings accepts is planned
 * with planGateSession, its script sent over one real ssh connection (SshRunner.session, as the
 * gate sends it: `sh -s` with the script on stdin, whatever the login shell) behind recording
 * `cd`/`timeout`/`awk` functions; every value must arrive byte for byte. The generators and checks are the unit fuzz file's (__tests__/support/fuzz-helpers.ts);
 * reproduce with FUZZ_SEED / FUZZ_REPLAY as described there.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import fc from 'fast-check'
import type { SshTarget } from '../../src/settings.js'
import { SshRunner } from '../../src/session/ssh-runner.js'
import {
  allInputsCase,
  baseSeed,
  deliverOrRefuse,
  FuzzStats,
  fuzzParameters,
  tryParse,
  type ScriptRunner,
  type ShellResult
} from '../support/fuzz-helpers.js'
import { useStagingHost } from '../support/staging-host.js'

const RUNS = 50
/** Offset of this property's seed (the unit file uses 0–51). */
const OFFSET = 60
/** Bound on one session: the fakes return at once; a hang is a failure, not a wait. */
const SESSION_MS = 20_000

const stagingHost = useStagingHost()
const stats = new FuzzStats()
let runner: SshRunner | undefined
let scratch: string

beforeAll(async () => {
  const host = stagingHost()
  scratch = mkdtempSync(path.join(tmpdir(), 'pg-fuzz-ssh-'))
  const target: SshTarget = {
    host: '127.0.0.1',
    user: 'root',
    port: host.sshPort,
    privateKey: host.privateKey,
    knownHosts: host.knownHosts,
    strictHostKeyChecking: true,
    retries: 0
  }
  runner = await SshRunner.open(target, scratch)
}, 60_000)

afterAll(async () => {
  await runner?.close()
  if (scratch) rmSync(scratch, { recursive: true, force: true })
  console.log(stats.summary('fuzz (__tests__/session/fuzz-ssh.itg.test.ts)'))
})

let counter = 0

/**
 * Runs one script over the ssh connection as the gate does (`sh -s`, the script on stdin). The
 * records go to a file on the host (this machine: the sshd is on loopback), since the session's
 * own descriptors are all taken.
 */
function overSsh(recordFile: string): ScriptRunner {
  return {
    recordFile,
    async run(text: string): Promise<ShellResult> {
      if (!runner) throw new Error('no ssh connection')
      const stderr: Buffer[] = []
      const result = await runner.session(text, {
        timeoutMs: SESSION_MS,
        onOutput: (chunk, stream) => {
          if (stream === 'stderr') stderr.push(chunk)
        }
      })
      if (result.spawnError || result.timedOut) {
        throw new Error(
          `ssh session failed: ${result.spawnError ?? 'timed out'}: ${result.outputTail}`
        )
      }
      return {
        status: result.exitCode ?? -1,
        records: existsSync(recordFile) ? readFileSync(recordFile) : Buffer.alloc(0),
        stdout: Buffer.from(result.stdout, 'utf8'),
        stderr: Buffer.concat(stderr)
      }
    }
  }
}

/** Only cases parseSettings accepts: refusals are the unit file's business, ssh is for delivery. */
const accepted = allInputsCase.filter(c => tryParse(c.inputs).ok)

describe('fuzzed inputs through a real sshd', () => {
  const params = fuzzParameters(OFFSET, RUNS)
  test(`every host-bound input at once over ssh (sh -s): ${RUNS} runs, seed ${params.seed} (base ${baseSeed()})`, async () => {
    await fc.assert(
      fc.asyncProperty(accepted, async c => {
        const recordFile = path.join(scratch, `records-${++counter}`)
        const outcome = await deliverOrRefuse(c, overSsh(recordFile), { flavour: 'exec' })
        stats.count('all inputs (ssh)', params.seed, outcome.delivered)
      }),
      params
    )
    const row = stats.get('all inputs (ssh)')
    if (!process.env.FUZZ_REPLAY?.trim()) {
      expect(row.runs).toBeGreaterThanOrEqual(RUNS)
      expect(row.accepted).toBe(row.runs)
    }
  }, 120_000)
})
