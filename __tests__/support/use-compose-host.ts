import { afterAll, beforeAll } from '@jest/globals'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { removeScratch } from './action.js'
import { startComposeHost, unmountUnder } from './compose.js'
import { stopStagingHost, type StagingHost } from './services.js'

/**
 * `startComposeHost` for one test file, stopped by PID after it, with the mount dockerd leaves
 * behind removed so the directory can go. Returns a getter, valid inside tests.
 */
export function useComposeHost(): () => StagingHost {
  let host: StagingHost | undefined
  beforeAll(async () => {
    host = await startComposeHost(mkdtempSync(path.join(tmpdir(), 'provenance-gate-compose-')))
  }, 120000)
  afterAll(async () => {
    removeScratch()
    if (!host) return
    await stopStagingHost(host)
    unmountUnder(host.dir)
    rmSync(host.dir, { recursive: true, force: true })
  }, 60000)
  return () => {
    if (!host) throw new Error('the compose host is not running')
    return host
  }
}
