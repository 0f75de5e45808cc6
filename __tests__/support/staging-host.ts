import { afterAll, beforeAll } from '@jest/globals'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { removeScratch } from './action.js'
import { startStagingHost, stopStagingHost, type StagingHost } from './services.js'

/**
 * Starts a loopback staging host (sshd + dockerd) for the calling test file and stops exactly
 * those daemons afterwards. Returns a getter, valid inside tests.
 */
export function useStagingHost(): () => StagingHost {
  let host: StagingHost | undefined
  beforeAll(async () => {
    host = await startStagingHost(mkdtempSync(path.join(tmpdir(), 'provenance-gate-it-')))
  }, 120000)
  afterAll(async () => {
    removeScratch()
    if (!host) return
    await stopStagingHost(host)
    rmSync(host.dir, { recursive: true, force: true })
  }, 60000)
  return () => {
    if (!host) throw new Error('the staging host is not running')
    return host
  }
}
