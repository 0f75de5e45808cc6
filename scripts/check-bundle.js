// Guards the bundle ncc just wrote: ncc can exit 0 with a broken bundle when ESM settings are
// wrong, so look for its tell-tale in every chunk and run the bundle (nothing is touched):
// - kill switch off: verdict disabled;
// - on, but this repository is not in `repositories`: the gate reads the event through the
//   @actions/github chunk (loaded on demand) and passes as not-applicable. With a valid payload
//   nothing may be reported as unreadable (a missing chunk would be); with a payload that is not
//   JSON the verdict is the same and the debug line names the cause.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The shipped bundle's budget (issue 11): all of dist/ together. */
const MAX_BYTES = 2 * 1024 * 1024

const files = readdirSync('dist')
let bytes = 0
for (const name of files) {
  bytes += statSync(join('dist', name)).size
  if (
    name.endsWith('.js') &&
    readFileSync(join('dist', name), 'utf8').includes('webpackMissingModule')
  ) {
    console.error(`dist/${name} contains webpackMissingModule: the bundle is broken`)
    process.exit(1)
  }
}
if (bytes > MAX_BYTES) {
  console.error(`dist/ is ${bytes} bytes, over the ${MAX_BYTES} budget`)
  process.exit(1)
}

const dir = mkdtempSync(join(tmpdir(), 'bundle-smoke-'))
const payload = join(dir, 'event.json')

/** Runs the bundle once with these variables; returns why it failed, or ''. */
function smoke(name, env, verdict, stdoutCheck) {
  const output = join(dir, 'output')
  writeFileSync(output, '')
  writeFileSync(join(dir, 'state'), '')
  const run = spawnSync(process.execPath, ['dist/index.js'], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      GITHUB_OUTPUT: output,
      GITHUB_STATE: join(dir, 'state'),
      RUNNER_TEMP: dir,
      ...env
    }
  })
  const outputs = readFileSync(output, 'utf8')
  if (
    run.status !== 0 ||
    !new RegExp(`^${verdict}$`, 'm').test(outputs) ||
    !stdoutCheck(run.stdout)
  ) {
    return `smoke run "${name}" of dist/index.js failed (exit ${run.status}, expected verdict ${verdict}):\n${run.stdout}${run.stderr}`
  }
  return ''
}

const notHere = {
  INPUT_ENABLED: 'true',
  INPUT_REPOSITORIES: 'acme/elsewhere',
  GITHUB_REPOSITORY: 'acme/shop',
  GITHUB_EVENT_NAME: 'pull_request',
  GITHUB_EVENT_PATH: payload
}
try {
  const problems = [
    smoke('kill switch off', { INPUT_ENABLED: 'false' }, 'disabled', () => true),
    (writeFileSync(payload, '{"pull_request":{"head":{"sha":"x"}}}'),
    smoke('event read', notHere, 'not-applicable', out => !out.includes('::debug::'))),
    (writeFileSync(payload, '{ not json'),
    smoke('event not JSON', notHere, 'not-applicable', out => /^::debug::.*JSON/m.test(out)))
  ].filter(Boolean)
  if (problems.length) {
    console.error(problems.join('\n'))
    process.exitCode = 1
  } else {
    console.log(
      `dist/: ${files.length} files, ${bytes} bytes, bundle complete; smoke runs passed (disabled, event read, event not JSON)`
    )
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
