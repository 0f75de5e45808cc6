import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { commit, makeRepo, scratchDir } from './action.js'

/**
 * Runs git in `dir` with a fixed identity and returns its trimmed stdout. The test process's own
 * GIT_* variables are dropped, so a case that sets GIT_DIR for the hook cannot leak into setup.
 */
export function git(dir: string, ...args: string[]): string {
  return gitOutput(dir, args).trim()
}

/** `file` exactly as commit `revision` of `repo` holds it (untrimmed, unlike `git`). */
export function fileAt(repo: string, revision: string, file: string): string {
  return gitOutput(repo, ['show', `${revision}:${file}`])
}

function gitOutput(dir: string, args: string[]): string {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('GIT_'))
  ) as Record<string, string>
  return execFileSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: {
      ...env,
      GIT_AUTHOR_NAME: 'Test',
      GIT_AUTHOR_EMAIL: 'test@example.invalid',
      GIT_COMMITTER_NAME: 'Test',
      GIT_COMMITTER_EMAIL: 'test@example.invalid'
    }
  })
}

/** A host clone of an "origin" on disk, and the developer repository that pushes to origin. */
export interface CloneSetup {
  /** The developer's repository (makeRepo): new commits are made here. */
  work: string
  /** A bare repository, the clone's `origin`. */
  origin: string
  /** The host clone the hook is pointed at (BUILD_CONTEXT). */
  clone: string
  /** The commit all three share at the start. */
  first: string
  /** Commits `text` to `file` in the developer repository; pushes it to origin unless told not to. */
  advance(file: string, text: string, push?: boolean): string
}

/**
 * A bare origin and a host clone of it over file:// (a plain path would copy every object, so the
 * clone would already hold commits it never fetched), both at the developer repository's first
 * commit. New commits reach origin on the branch `next`, which a plain `git fetch origin` gets.
 */
export function cloneOfOrigin(files: Record<string, string> = {}): CloneSetup {
  const repo = makeRepo(files)
  const origin = path.join(scratchDir('origin-'), 'origin.git')
  git(repo.dir, 'clone', '-q', '--bare', repo.dir, origin)
  const clone = path.join(scratchDir('clone-'), 'clone')
  git(repo.dir, 'clone', '-q', `file://${origin}`, clone)
  return {
    work: repo.dir,
    origin,
    clone,
    first: repo.head,
    advance(file: string, text: string, push = true): string {
      const head = commit(repo.dir, file, text)
      if (push) git(repo.dir, 'push', '-q', origin, 'HEAD:refs/heads/next')
      return head
    }
  }
}

/** Writes `text` to `file` under `dir` (a work tree change the hook must notice or allow). */
export function writeIn(dir: string, file: string, text: string): void {
  writeFileSync(path.join(dir, file), text)
}
