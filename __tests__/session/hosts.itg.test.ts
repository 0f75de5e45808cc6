/**
 * The test hosts themselves, before any gate runs on them: login users with bash, dash and zsh
 * whose startup files print a banner, a user whose key forces the reference gate-shell, and a
 * podman host behind a docker wrapper whose JSON the container-json parsers read.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { execFileSync } from 'node:child_process'
import { parseContainerInspect, parseImageInspect } from '../../src/session/container-json.js'
import { buildImage, docker, scratchDir } from '../support/action.js'
import {
  addLoginUser,
  BANNER,
  BANNER_STDERR,
  installGateShell,
  shareWithUser,
  sshAs,
  uniqueUserName,
  type LoginShell,
  type LoginUser,
  type LoginUserOptions
} from '../support/login-users.js'
import { conmonsOf, ended, podmanHost, type PodmanHost } from '../support/podman-host.js'
import type { StagingHost } from '../support/services.js'
import { useStagingHost } from '../support/staging-host.js'

const LABEL = 'org.opencontainers.image.revision'
const REVISION = '0123456789abcdef0123456789abcdef01234567'

const stagingHost = useStagingHost()
let host: StagingHost
const users: LoginUser[] = []

beforeAll(() => {
  host = stagingHost()
})

afterAll(async () => {
  for (const user of users) await user.remove()
  for (const user of users) {
    expect(() => execFileSync('id', [user.name], { stdio: 'ignore' })).toThrow()
    expect(existsSync(user.home)).toBe(false)
  }
}, 60000)

/** A login user on the staging host that afterAll removes. */
function loginUser(name: string, shell: LoginShell, options?: LoginUserOptions): LoginUser {
  const user = addLoginUser(host, name, shell, options)
  users.push(user)
  return user
}

/** What every session script prints: its shell, who runs it, and that the test dockerd answers. */
const SCRIPT = [
  'echo "script: $0"',
  'id -un',
  'docker image ls -q >/dev/null && echo docker-ok',
  'exit 3',
  ''
].join('\n')

describe('login users', () => {
  test.each<[LoginShell, string]>([
    ['bash', '.bashrc'],
    ['dash', '.ssh/rc'],
    ['zsh', '.zshenv']
  ])(
    '%s with a banner in ~/%s: ssh … sh -s shows the banner, then the script output',
    (shell, file) => {
      const user = loginUser(uniqueUserName(shell), shell, { banner: true })
      expect(user.bannerFile).toBe(path.join(user.home, file))
      const run = sshAs(host, user.name, 'sh -s', SCRIPT)
      expect(run).toEqual({
        status: 3,
        stdout: `${BANNER}script: sh\n${user.name}\ndocker-ok\n`,
        stderr: `${BANNER_STDERR}\n`
      })
      expect(execFileSync('getent', ['passwd', user.name], { encoding: 'utf8' })).toMatch(
        new RegExp(`:${user.shell}\\n$`)
      )
    }
  )

  test.each<LoginShell>(['bash', 'dash', 'zsh'])(
    '%s without a banner: only the script output',
    shell => {
      const user = loginUser(uniqueUserName(`${shell}q`), shell)
      expect(user.bannerFile).toBeUndefined()
      expect(sshAs(host, user.name, 'sh -s', SCRIPT)).toEqual({
        status: 3,
        stdout: `script: sh\n${user.name}\ndocker-ok\n`,
        stderr: ''
      })
    }
  )

  test('the test key logs in as root still, and as no user that was not given it', () => {
    expect(sshAs(host, 'root', 'sh -s', 'id -un\n')).toMatchObject({ status: 0, stdout: 'root\n' })
    const other = addLoginUser(host, uniqueUserName('nokey'), 'bash')
    users.push(other)
    rmSync(path.join(other.home, '.ssh', 'authorized_keys'))
    const run = sshAs(host, other.name, 'sh -s', 'id -un\n')
    expect(run.status).toBe(255)
    expect(run.stderr).toContain('Permission denied (publickey)')
  })

  test('a scratch directory is out of a user’s reach until shareWithUser', () => {
    const user = loginUser(uniqueUserName('share'), 'dash')
    const dir = scratchDir('shared-')
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\n')
    const read = `cat '${dir}/Dockerfile' && touch '${dir}/written' && echo ok\n`
    const before = sshAs(host, user.name, 'sh -s', read)
    expect(before.status).not.toBe(0)
    expect(before.stderr).toContain('Permission denied')
    shareWithUser(dir, user)
    expect(sshAs(host, user.name, 'sh -s', read)).toEqual({
      status: 0,
      stdout: 'FROM scratch\nok\n',
      stderr: ''
    })
  })
})

describe('forced command (reference gate-shell)', () => {
  let user: LoginUser
  beforeAll(() => {
    const gateShell = installGateShell(host)
    user = loginUser(uniqueUserName('forced'), 'bash', { banner: true, forcedCommand: gateShell })
  })

  test('sh -s runs the script; the login shell still reads ~/.bashrc first', () => {
    expect(sshAs(host, user.name, 'sh -s', SCRIPT)).toEqual({
      status: 3,
      stdout: `${BANNER}script: sh\n${user.name}\ndocker-ok\n`,
      stderr: `${BANNER_STDERR}\n`
    })
  })

  test.each<[string]>([['id'], ['sh -s -x'], ['sh  -s'], ['sh -c "id"'], ['bash -s']])(
    '%j is refused with exit 1 and a reason on stderr, and nothing runs',
    command => {
      const run = sshAs(host, user.name, command, 'echo ran\n')
      expect(run.status).toBe(1)
      expect(run.stdout).toBe(BANNER)
      expect(run.stderr).toBe(
        `${BANNER_STDERR}\ngate-shell: refused "${command}": only "sh -s" is allowed\n`
      )
    }
  )

  test('every request is logged, allowed or not', () => {
    const log = (): string => execFileSync('cat', [user.gateShellLog], { encoding: 'utf8' })
    const before = log()
    sshAs(host, user.name, 'sh -s', 'true\n')
    sshAs(host, user.name, 'uname -a')
    expect(log().slice(before.length)).toBe('sh -s\nuname -a\n')
  })

  test('a dash banner with a forced command is refused: restrict turns ~/.ssh/rc off', () => {
    expect(() =>
      addLoginUser(host, uniqueUserName('dashforced'), 'dash', {
        banner: true,
        forcedCommand: installGateShell(host)
      })
    ).toThrow('restrict')
  })
})

describe('container inspect JSON from the live engines', () => {
  test('docker 20.10: image inspect and container inspect parse', () => {
    const ref = `hosts-test/docker:${process.pid}`
    const id = buildImage(host.dockerHost, ref, { [LABEL]: REVISION })
    const image = parseImageInspect(docker(host.dockerHost, 'image', 'inspect', '--', ref))
    expect(image).toEqual({ imageId: id, labels: { [LABEL]: REVISION } })
    const name = `hosts-test-${process.pid}`
    docker(host.dockerHost, 'create', '--name', name, '--network', 'none', ref, '/x')
    try {
      expect(
        parseContainerInspect(docker(host.dockerHost, 'container', 'inspect', '--', name))
      ).toEqual([{ name, imageId: id, running: false }])
    } finally {
      docker(host.dockerHost, 'rm', '-f', name)
    }
  })
})

describe('podman host (docker wrapper)', () => {
  let podman: PodmanHost
  let podmanDir: string
  let context: string
  beforeAll(() => {
    podmanDir = mkdtempSync(path.join(tmpdir(), 'provenance-gate-podman-'))
    podman = podmanHost(podmanDir)
    context = scratchDir('podman-ctx-')
    copyFileSync('/bin/busybox', path.join(context, 'busybox'))
    writeFileSync(
      path.join(context, 'Dockerfile'),
      'FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox","sleep","300"]\n'
    )
  }, 60000)
  afterAll(async () => {
    await podman.stop()
    rmSync(podmanDir, { recursive: true, force: true })
  }, 60000)

  const wrapper = (...args: string[]): string =>
    execFileSync(podman.docker, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

  test('builds a labelled FROM-scratch image; image inspect parses to its id and label', () => {
    const built = wrapper(
      'build',
      '-q',
      '-t',
      'shop/staging:podman',
      '--label',
      `${LABEL}=${REVISION}`,
      context
    ).trim()
    expect(built).toMatch(/^[0-9a-f]{64}$/)
    const image = parseImageInspect(wrapper('image', 'inspect', '--', 'shop/staging:podman'))
    expect(image).toEqual({
      imageId: `sha256:${built}`,
      labels: { [LABEL]: REVISION, 'io.buildah.version': expect.any(String) }
    })
  })

  test('the wrapper works in a root ssh session too (sh -s, PATH from sshd)', () => {
    const run = sshAs(
      host,
      'root',
      'sh -s',
      `'${podman.docker}' image inspect -- shop/staging:podman\n`
    )
    expect(run.status).toBe(0)
    expect(parseImageInspect(run.stdout)?.labels[LABEL]).toBe(REVISION)
  })

  test('a container it runs (host network, no flags) parses as running, then as stopped', () => {
    const id = wrapper('run', '-d', '--name', 'shop-staging', 'shop/staging:podman').trim()
    const imageId = parseImageInspect(
      wrapper('image', 'inspect', '--', 'shop/staging:podman')
    )?.imageId
    expect(parseContainerInspect(wrapper('container', 'inspect', '--', id))).toEqual([
      { name: 'shop-staging', imageId, running: true }
    ])
    expect(
      wrapper('container', 'inspect', '--format', '{{.HostConfig.NetworkMode}}', id).trim()
    ).toBe('host')
    wrapper('stop', '-t', '0', id)
    expect(parseContainerInspect(wrapper('container', 'inspect', '--', 'shop-staging'))).toEqual([
      { name: 'shop-staging', imageId, running: false }
    ])
  })

  test('stop leaves no container, conmon or mount of this store behind', async () => {
    const id = wrapper('run', '-d', '--name', 'shop-staging-2', 'shop/staging:podman').trim()
    const pid = Number(wrapper('inspect', '--format', '{{.State.Pid}}', id).trim())
    expect(pid).toBeGreaterThan(0)
    expect(conmonsOf(podmanDir)).toHaveLength(1)
    await podman.stop()
    expect(wrapper('ps', '-a', '-q')).toBe('')
    expect(ended(pid)).toBe(true)
    expect(conmonsOf(podmanDir)).toEqual([])
    expect(execFileSync('cat', ['/proc/self/mounts'], { encoding: 'utf8' })).not.toContain(
      podmanDir
    )
  })
})
