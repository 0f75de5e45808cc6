// Guards the bundle ncc just wrote: ncc can exit 0 with a broken bundle when ESM settings are
// wrong, so look for its tell-tale and run the bundle once (kill switch off: it touches nothing).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const bundle = readFileSync('dist/index.js', 'utf8')
if (bundle.includes('webpackMissingModule')) {
  console.error('dist/index.js contains webpackMissingModule: the bundle is broken')
  process.exit(1)
}

const dir = mkdtempSync(join(tmpdir(), 'bundle-smoke-'))
try {
  const output = join(dir, 'output')
  writeFileSync(output, '')
  writeFileSync(join(dir, 'state'), '')
  const run = spawnSync(process.execPath, ['dist/index.js'], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      INPUT_ENABLED: 'false',
      GITHUB_OUTPUT: output,
      GITHUB_STATE: join(dir, 'state'),
      RUNNER_TEMP: dir
    }
  })
  const outputs = readFileSync(output, 'utf8')
  if (run.status !== 0 || !/^disabled$/m.test(outputs)) {
    console.error(
      `smoke run of dist/index.js failed (exit ${run.status}):\n${run.stdout}${run.stderr}`
    )
    process.exitCode = 1
  } else {
    console.log('dist/index.js: bundle complete, smoke run passed (verdict disabled)')
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
