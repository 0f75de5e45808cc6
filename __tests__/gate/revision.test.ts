import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { GateError, type FailureClass } from '../../src/errors.js'
import { gitProblem, headRevision, resolveRevision } from '../../src/revision.js'
import { LocalRunner } from '../../src/session/runner.js'
import { makeSettings, SHA_A } from '../support/fixtures.js'

describe('gitProblem', () => {
  test.each<[string, string, string]>([
    [
      'an empty repository (unknown revision)',
      "fatal: ambiguous argument 'HEAD': unknown revision or path not in the working tree.\nUse '--' to separate paths from revisions, like this:\n'git <command> [<revision>...] -- [<file>...]'\n",
      "the repository has no commits yet. fatal: ambiguous argument 'HEAD': unknown revision or path not in the working tree."
    ],
    [
      'an empty repository (older wording)',
      "fatal: your current branch 'main' does not have any commits yet\n",
      "the repository has no commits yet. fatal: your current branch 'main' does not have any commits yet"
    ],
    [
      'a missing path',
      "fatal: cannot change to '/nope': No such file or directory\n",
      "the checkout path does not exist. fatal: cannot change to '/nope': No such file or directory"
    ],
    [
      'not a repository',
      'fatal: not a git repository (or any of the parent directories): .git\n',
      'the checkout path is not a git repository. fatal: not a git repository (or any of the parent directories): .git'
    ],
    [
      'a dubious owner: git’s own words, its fatal and error lines only',
      "fatal: detected dubious ownership in repository at '/srv/shop'\nTo add an exception for this directory, call:\n\n\tgit config --global --add safe.directory /srv/shop\n",
      "fatal: detected dubious ownership in repository at '/srv/shop'"
    ],
    [
      'the last three complaints, folded',
      'error: one\nwarning: ignored\nerror: two\nfatal: three\nfatal: four\n',
      'error: two fatal: three fatal: four'
    ],
    ['no complaint: the last lines', 'something\nelse\n', 'something ⏎ else'],
    ['no output', '', 'no output'],
    [
      'CRLF line ends',
      'fatal: not a git repository\r\n',
      'the checkout path is not a git repository. fatal: not a git repository'
    ]
  ])('%s', (_name, output, problem) => {
    expect(gitProblem(output)).toBe(problem)
  })
})

/** Real repositories in a temp dir, read through the real LocalRunner (git as argv, no GIT_*). */
describe('resolveRevision with real git', () => {
  let root: string
  let repo: string
  let repoHead: string
  let other: string
  let otherHead: string
  const savedEnv = { ...process.env }

  const git = (cwd: string, ...args: string[]): string => {
    const result = spawnSync(
      'git',
      ['-C', cwd, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args],
      { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: root } }
    )
    expect(result.status).toBe(0)
    return result.stdout.trim()
  }
  const repository = (name: string): [string, string] => {
    const dir = path.join(root, name)
    fs.mkdirSync(dir)
    git(dir, 'init', '-q')
    git(dir, 'commit', '-q', '--allow-empty', '-m', name)
    return [dir, git(dir, 'rev-parse', 'HEAD')]
  }
  const settings = (checkoutPath: string) => makeSettings({ checkoutPath })

  async function failure(checkoutPath: string): Promise<GateError> {
    try {
      await resolveRevision(new LocalRunner(), settings(checkoutPath))
    } catch (error) {
      expect(error).toBeInstanceOf(GateError)
      return error as GateError
    }
    throw new Error('expected resolveRevision to reject')
  }

  beforeAll(() => {
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pg-revision-')))
    ;[repo, repoHead] = repository('repo')
    ;[other, otherHead] = repository('other')
    fs.mkdirSync(path.join(repo, 'sub'))
    fs.mkdirSync(path.join(root, 'plain'))
    fs.mkdirSync(path.join(root, 'empty'))
    git(path.join(root, 'empty'), 'init', '-q')
    fs.symlinkSync(repo, path.join(root, 'link'))
  })

  afterAll(() => {
    fs.rmSync(root, { recursive: true, force: true })
  })

  afterEach(() => {
    process.env = { ...savedEnv }
  })

  test('a checkout: its HEAD, 40 hex', async () => {
    expect(repoHead).toMatch(/^[0-9a-f]{40}$/)
    expect(await resolveRevision(new LocalRunner(), settings(repo))).toBe(repoHead)
  })

  test('a symlink to the checkout is the checkout', async () => {
    expect(await resolveRevision(new LocalRunner(), settings(path.join(root, 'link')))).toBe(
      repoHead
    )
  })

  test.each(['GIT_DIR', 'GIT_WORK_TREE+GIT_DIR'])(
    '%s in the environment pointing elsewhere does not move the revision',
    async names => {
      for (const name of names.split('+')) {
        process.env[name] =
          name === 'GIT_WORK_TREE' ? other : name === 'GIT_DIR' ? path.join(other, '.git') : '/nope'
      }
      expect(otherHead).not.toBe(repoHead)
      expect(await resolveRevision(new LocalRunner(), settings(repo))).toBe(repoHead)
    }
  )

  test.each<[string, (root: string) => string, FailureClass, string]>([
    [
      'a plain folder inside the checkout: another work tree’s HEAD is refused',
      root => path.join(root, 'repo', 'sub'),
      'git-failed',
      'is not the top of a git checkout: it lies inside the work tree'
    ],
    [
      'an empty repository',
      root => path.join(root, 'empty'),
      'git-failed',
      'failed (exit code 128): the repository has no commits yet.'
    ],
    [
      'a folder that is no repository',
      root => path.join(root, 'plain'),
      'git-failed',
      'failed (exit code 128): the checkout path is not a git repository.'
    ],
    [
      'a path that does not exist',
      root => path.join(root, 'missing'),
      'git-failed',
      'failed (exit code 128): the checkout path does not exist.'
    ]
  ])('%s: %s', async (_name, where, failureClass, text) => {
    const checkout = where(root)
    const error = await failure(checkout)
    expect(error.failure).toBe(failureClass)
    expect(error.message).toContain(text)
    expect(
      error.message.startsWith(`git rev-parse HEAD in ${checkout}`) ||
        error.message.startsWith(`path ${checkout}`)
    ).toBe(true)
  })

  test('the plain folder names the enclosing work tree', async () => {
    const error = await failure(path.join(repo, 'sub'))
    expect(error.message).toBe(
      `path ${path.join(repo, 'sub')} is not the top of a git checkout: it lies inside the work tree ${repo}, whose HEAD is not this checkout's. Point path at the checkout itself (actions/checkout's path)`
    )
  })

  test('GIT_DIR cannot make a plain folder look like a checkout', async () => {
    process.env.GIT_DIR = path.join(other, '.git')
    process.env.GIT_WORK_TREE = path.join(root, 'plain')
    const error = await failure(path.join(root, 'plain'))
    expect(error.message).toContain('the checkout path is not a git repository')
  })

  test('headRevision logs the revision and the event, and hands it over first', async () => {
    const infos: string[] = []
    const seen: string[] = []
    const revision = await headRevision(
      new LocalRunner(),
      settings(repo),
      { eventName: 'push', sha: SHA_A, prHeadSha: '' },
      {
        info: message => {
          expect(seen).toEqual([repoHead])
          infos.push(message)
        },
        warning: () => undefined
      },
      resolved => seen.push(resolved)
    )
    expect(revision).toBe(repoHead)
    expect(infos[0]).toBe(`validated revision: ${repoHead} (HEAD of ${repo})`)
    expect(infos[1]).toBe(
      `event push: GITHUB_SHA ${SHA_A}, pull request head (none), HEAD ${repoHead}`
    )
  })
})
