/**
 * Issue 12: the whole staging step for real. The bundle over a real sshd runs the reference hook,
 * which builds the validated commit and recreates a real compose service with Debian's standalone
 * docker-compose v1.29; the service serves the repository's www/ over HTTP on the staging port.
 * Every case reads back what runs: the container's image id, and the page it serves.
 */
import { beforeAll, describe, expect, test } from '@jest/globals'
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, readdirSync, readFileSync, symlinkSync } from 'node:fs'
import * as path from 'node:path'
import { commit, docker, runAction, scratchDir } from '../support/action.js'
import {
  composeDown,
  composeHook,
  composeRepo,
  hostClone,
  httpGet,
  projectContainers,
  SERVICE,
  type ComposeRepo
} from '../support/compose.js'
import { useComposeHost } from '../support/use-compose-host.js'
import { expectCleanRun, outcome, sshInputs } from '../support/expect-run.js'
import { fileAt, git } from '../support/git-context.js'
import { freePort, startSshd, stopPid, type StagingHost } from '../support/services.js'

const composeHost = useComposeHost()
let host: StagingHost
let counter = 0

beforeAll(() => {
  host = composeHost()
})

function imageExists(image: string): boolean {
  const inspect = spawnSync('docker', ['-H', host.dockerHost, 'image', 'inspect', image], {
    stdio: 'ignore'
  })
  return inspect.status === 0
}

function imageRef(): string {
  counter += 1
  return `localhost:5000/shop/compose:t${process.pid}-${counter}`
}

/** The gate's inputs for the staging step: the host clone is both hook-dir and build-context. */
function gateInputs(
  repo: ComposeRepo,
  clone: string,
  hook: string,
  image = imageRef()
): Record<string, string> {
  return {
    ...sshInputs(host),
    path: repo.dir,
    image,
    hook,
    'hook-dir': clone,
    'build-context': clone,
    service: SERVICE,
    'staging-port': String(repo.port)
  }
}

/** A new page committed in the developer repository and pulled into the host clone. */
function advance(repo: ComposeRepo, clone: string, page: string): string {
  const head = commit(repo.dir, 'www/index.html', page)
  git(clone, 'pull', '-q', '--ff-only')
  return head
}

/** Runs `body` with a fresh compose project and its host clone, then downs that project. */
async function withProject(
  options: { port?: number; page?: string; image?: string },
  body: (repo: ComposeRepo, clone: string) => Promise<void>
): Promise<void> {
  const repo = composeRepo({
    port: options.port ?? (await freePort()),
    page: options.page ?? '<h1>shop v1</h1>\n',
    image: options.image
  })
  const clone = hostClone(repo.dir)
  try {
    await body(repo, clone)
  } finally {
    composeDown(host.dockerHost, clone)
    expect(projectContainers(host.dockerHost, repo.project)).toEqual([])
  }
}

describe('the staging step with docker-compose v1', () => {
  test('a rebuild recreates the service on the verified image, serving HEAD: match', async () => {
    await withProject({}, async (repo, clone) => {
      const smokeLog = path.join(scratchDir('smoke-'), 'env')
      const hook = composeHook({
        HEALTH_TIMEOUT: '20',
        SMOKE_COMMAND: `env | grep -E '^(TARGET_PORT|TARGET_SERVICE|STAGING_CONTAINER)=' | sort > '${smokeLog}'`
      })
      const first = await runAction(gateInputs(repo, clone, hook))
      expect(outcome(first)).toMatchObject({ exitCode: 0, verdict: 'match' })
      const [before] = projectContainers(host.dockerHost, repo.project)
      expect(before).toBe(`${repo.project}_${SERVICE}_1 ${first.outputs.image_id}`)

      // The next commit: the same container name, recreated on the new image.
      const head = advance(repo, clone, '<h1>shop v2</h1>\n')
      const run = await runAction(gateInputs(repo, clone, hook))
      expect(outcome(run)).toMatchObject({ exitCode: 0, verdict: 'match' })
      expect(run.outputs.image_revision).toBe(head)
      expect(run.outputs.image_id).not.toBe(first.outputs.image_id)
      expect(projectContainers(host.dockerHost, repo.project)).toEqual([
        `${repo.project}_${SERVICE}_1 ${run.outputs.image_id}`
      ])
      expect(await httpGet(repo.port)).toBe(`200 ${fileAt(repo.dir, head, 'www/index.html')}`)
      expect(run.stderr + run.stdout).toContain('[deploy-hook] compose: docker-compose')
      expect(run.stderr + run.stdout).toMatch(/Recreating \S+_web_1 \.\.\. done/)
      expect(readFileSync(smokeLog, 'utf8')).toBe(
        `STAGING_CONTAINER=${SERVICE}\nTARGET_PORT=${repo.port}\nTARGET_SERVICE=${SERVICE}\n`
      )
      await expectCleanRun(run, host, { complete: true })
    })
  })

  test('health never comes (the service listens on another port): hook-failed with the health message', async () => {
    const staging = await freePort()
    await withProject({}, async (repo, clone) => {
      const hook = composeHook({ HEALTH_TIMEOUT: '3' })
      const run = await runAction({
        ...gateInputs(repo, clone, hook),
        'staging-port': String(staging)
      })
      expect(outcome(run)).toMatchObject({ exitCode: 1, failure: 'hook-failed' })
      expect(run.outputs.reason).toContain(
        `staging did not become healthy on 127.0.0.1:${staging} within 3s`
      )
      // The service did come up, on its own port: it was the port that was wrong.
      expect(await httpGet(repo.port)).toMatch(/^200 /)
      await expectCleanRun(run, host, { complete: true })
    })
  })

  test('a failing SMOKE_COMMAND: hook-failed', async () => {
    await withProject({}, async (repo, clone) => {
      const hook = composeHook({
        HEALTH_TIMEOUT: '20',
        SMOKE_COMMAND: 'echo "smoke: checkout page missing on :$TARGET_PORT" >&2; exit 1'
      })
      const run = await runAction(gateInputs(repo, clone, hook))
      expect(outcome(run)).toMatchObject({ exitCode: 1, failure: 'hook-failed' })
      expect(run.outputs.reason).toContain(`smoke: checkout page missing on :${repo.port}`)
      await expectCleanRun(run, host, { complete: true })
    })
  })

  test('a service whose image: is not TARGET_IMAGE is not recreated: the hook fails naming its container', async () => {
    const pinned = `localhost:5000/shop/pinned:t${process.pid}`
    await withProject({ image: pinned }, async (repo, clone) => {
      execFileSync('docker', ['-H', host.dockerHost, 'build', '-q', '-t', pinned, clone], {
        env: { ...process.env, DOCKER_BUILDKIT: '0' },
        stdio: 'ignore'
      })
      const old = docker(host.dockerHost, 'image', 'inspect', '--format', '{{.Id}}', pinned)
      const image = imageRef()
      const run = await runAction(gateInputs(repo, clone, composeHook(), image))
      expect(outcome(run)).toMatchObject({ exitCode: 1, failure: 'hook-failed' })
      const built = docker(host.dockerHost, 'image', 'inspect', '--format', '{{.Id}}', image)
      expect(run.outputs.reason).toContain(
        `compose did not recreate the staging container ${repo.project}_${SERVICE}_1: it runs image ${old.slice(7, 19)}, not ${built.slice(7, 19)} just built as ${image}`
      )
      expect(run.stdout).toContain("the service's image: must be TARGET_IMAGE")
      await expectCleanRun(run, host, { complete: true })
    })
  })

  test('a stale v1 container (recreate skipped) is found by its compose label: stale-container', async () => {
    await withProject({}, async (repo, clone) => {
      const image = imageRef()
      const first = await runAction(
        gateInputs(repo, clone, composeHook({ HEALTH_TIMEOUT: '20' }), image)
      )
      expect(outcome(first)).toMatchObject({ exitCode: 0, verdict: 'match' })
      const page = fileAt(repo.dir, repo.head, 'www/index.html')

      advance(repo, clone, '<h1>shop v2</h1>\n')
      const skipped = composeHook({ SKIP_COMPOSE: '1', HEALTH_TIMEOUT: '20' })
      const run = await runAction(gateInputs(repo, clone, skipped, image))
      expect(outcome(run)).toMatchObject({
        exitCode: 1,
        verdict: 'fail-closed',
        failure: 'stale-container'
      })
      // v1's name, not the service's: the gate found it by com.docker.compose.service.
      expect(run.outputs.reason).toContain(
        `the staging container ${repo.project}_${SERVICE}_1 runs image`
      )
      expect(run.outputs.reason).toContain('it was not recreated after the rebuild')
      expect(projectContainers(host.dockerHost, repo.project)).toEqual([
        `${repo.project}_${SERVICE}_1 ${first.outputs.image_id}`
      ])
      expect(await httpGet(repo.port)).toBe(`200 ${page}`)
      await expectCleanRun(run, host, { complete: true })
    })
  })
})

describe('a host without compose', () => {
  test('neither the plugin nor docker-compose: hook-failed naming both, nothing built', async () => {
    // A PATH with every program of /usr/bin but docker-compose (this docker has no compose plugin).
    const bin = scratchDir('nocompose-bin-')
    for (const name of readdirSync('/usr/bin')) {
      if (name !== 'docker-compose') symlinkSync(path.join('/usr/bin', name), path.join(bin, name))
    }
    chmodSync(bin, 0o755)
    const dir = scratchDir('nocompose-sshd-')
    const sshd = await startSshd(dir, {
      DOCKER_HOST: host.dockerHost,
      DOCKER_BUILDKIT: '0',
      PATH: `${bin}:/usr/local/bin:/usr/sbin:/sbin`
    })
    try {
      await withProject({}, async (repo, clone) => {
        const image = imageRef()
        const run = await runAction({
          ...gateInputs(repo, clone, composeHook(), image),
          ...sshInputs({ ...host, ...sshd })
        })
        expect(outcome(run)).toMatchObject({ exitCode: 1, failure: 'hook-failed' })
        expect(run.outputs.reason).toContain(
          'no compose on this host: neither `docker compose` (plugin) nor `docker-compose` (standalone) is installed'
        )
        // What this host's docker says about the missing plugin, and the fix, shown before it.
        expect(run.stdout).toMatch(/`docker compose version`: docker: .*compose/)
        expect(run.outputs.reason).toContain(
          'install one (Debian/Ubuntu: apt-get install docker-compose)'
        )
        expect(imageExists(image)).toBe(false)
        await expectCleanRun(run, host, { complete: true, keys: [sshd.privateKey] })
      })
    } finally {
      await stopPid(sshd.sshdPid)
    }
  })
})
