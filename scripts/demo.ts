/**
 * `npm run demo`: the whole staging step on a throwaway loopback host (real sshd, dockerd and
 * Debian's docker-compose). The real bundle runs the reference hook, which builds the validated
 * commit and recreates the compose service on the staging port; the demo fetches the page it
 * serves. Then a new commit that nobody rebuilt is refused. Stops and removes what it started.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { commit, removeScratch, runAction, type ActionRun } from '../__tests__/support/action.js'
import {
  composeDown,
  composeRepo,
  hostClone,
  httpGet,
  projectContainers,
  REFERENCE_HOOK,
  SERVICE,
  startComposeHost,
  unmountUnder
} from '../__tests__/support/compose.js'
import { freePort, stopStagingHost } from '../__tests__/support/services.js'

function show(title: string, run: ActionRun): void {
  console.log(`\n=== ${title}: exit code ${run.exitCode}`)
  // What the hook did on the host, in its own words (compose's progress lines included).
  const hookLines = run.stdout
    .split('\n')
    .filter(line => /\[deploy-hook\]|ing \S+ \.\.\. done/.test(line))
  for (const line of hookLines) console.log(`  host| ${line}`)
  for (const [name, value] of Object.entries(run.outputs)) console.log(`  ${name}=${value}`)
  console.log('\n--- job summary (GitHub-flavoured Markdown) ---')
  console.log(run.summary.trim())
}

async function main(): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'provenance-gate-demo-'))
  console.log('starting a loopback staging host (sshd + dockerd, docker-compose) …')
  const host = await startComposeHost(dir)
  let clone: string | undefined
  try {
    const port = await freePort()
    const repo = composeRepo({ port, page: '<h1>shop v1</h1>\n' })
    clone = hostClone(repo.dir)
    const inputs = {
      host: '127.0.0.1',
      user: 'root',
      port: String(host.sshPort),
      'private-key': host.privateKey,
      'known-hosts': host.knownHosts,
      image: 'registry.example.com/shop:staging',
      path: repo.dir,
      service: SERVICE,
      'staging-port': String(port)
    }
    console.log(
      `staging host: root@127.0.0.1:${host.sshPort}; checkout ${repo.dir} at ${repo.head}`
    )
    console.log(
      `host clone with docker-compose.yml: ${clone} (service ${SERVICE}, profile staging)`
    )

    const fresh = await runAction({
      ...inputs,
      hook: REFERENCE_HOOK,
      'hook-dir': clone,
      'build-context': clone
    })
    show('1. rebuild from the validated commit, recreate staging, verify', fresh)
    const page = await httpGet(port)
    console.log(`\nGET http://127.0.0.1:${port}/ -> ${page.trim()}`)
    console.log(`running: ${projectContainers(host.dockerHost, repo.project).join(', ')}`)

    const next = commit(repo.dir, 'www/index.html', '<h1>shop v2</h1>\n')
    console.log(`\n(new commit ${next} validated, but the staging image was not rebuilt)`)
    const stale = await runAction({ ...inputs, mode: 'verify' })
    show('2. verify the stale staging image against the new commit', stale)

    const asExpected =
      fresh.outputs.verdict === 'match' &&
      page === '200 <h1>shop v1</h1>\n' &&
      stale.outputs.verdict === 'mismatch'
    console.log(
      asExpected
        ? '\ndemo: staging was rebuilt, recreated and served the validated commit; the stale image was refused.'
        : '\ndemo: UNEXPECTED result (see above).'
    )
    return asExpected ? 0 : 1
  } finally {
    try {
      if (clone) composeDown(host.dockerHost, clone)
    } finally {
      await stopStagingHost(host)
    }
    unmountUnder(dir)
    removeScratch()
    rmSync(dir, { recursive: true, force: true })
    console.log('removed the compose project, stopped sshd and dockerd, removed their files.')
  }
}

main().then(
  code => process.exit(code),
  (error: unknown) => {
    console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  }
)
