/**
 * `npm run demo`: a throwaway loopback "staging host" (real sshd + dockerd), a real git repository,
 * and the real bundle run twice: on an image rebuilt from HEAD (pass), then after a new commit that
 * nobody rebuilt (fail). Prints each run's outputs and job summary, then stops what it started.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import {
  commit,
  makeRepo,
  removeScratch,
  runAction,
  type ActionRun
} from '../tests/integration/harness/action.js'
import { startStagingHost, stopStagingHost } from '../tests/integration/harness/services.js'

const hook = path.resolve('hook/deploy-hook.sh')

function show(title: string, run: ActionRun): void {
  console.log(`\n=== ${title}: exit code ${run.exitCode}`)
  for (const [name, value] of Object.entries(run.outputs)) console.log(`  ${name}=${value}`)
  console.log('\n--- job summary (GitHub-flavoured Markdown) ---')
  console.log(run.summary.trim())
}

async function main(): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'provenance-gate-demo-'))
  console.log('starting a loopback staging host (sshd + dockerd) …')
  const host = await startStagingHost(dir)
  try {
    const repo = makeRepo()
    const ssh = {
      host: '127.0.0.1',
      user: 'root',
      port: String(host.sshPort),
      'private-key': host.privateKey,
      'known-hosts': host.knownHosts,
      image: 'registry.example.com/shop:staging',
      path: repo.dir
    }
    console.log(
      `staging host: root@127.0.0.1:${host.sshPort}; repository ${repo.dir} at ${repo.head}`
    )

    const fresh = await runAction({ ...ssh, hook, 'build-context': repo.dir })
    show('1. rebuild from the validated commit, then verify', fresh)

    const next = commit(repo.dir, 'app.txt', 'v2\n')
    console.log(`\n(new commit ${next} validated, but the staging image was not rebuilt)`)
    const stale = await runAction({ ...ssh, mode: 'verify' })
    show('2. verify the stale staging image against the new commit', stale)

    const asExpected = fresh.exitCode === 0 && stale.exitCode !== 0
    console.log(
      asExpected
        ? '\ndemo: the fresh image passed and the stale one was refused, as a deploy gate must.'
        : '\ndemo: UNEXPECTED result (see above).'
    )
    return asExpected ? 0 : 1
  } finally {
    await stopStagingHost(host)
    removeScratch()
    rmSync(dir, { recursive: true, force: true })
    console.log('stopped sshd and dockerd, removed their files.')
  }
}

main().then(
  code => process.exit(code),
  (error: unknown) => {
    console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  }
)
