/**
 * The part of @actions/core this action uses, with the same workflow-command and file-command
 * formats (see @actions/core's command.ts and file-command.ts). @actions/core itself imports its
 * OIDC client, @actions/http-client and undici (about 1 MB, 90% of the bundle) at startup.
 */
import { randomUUID } from 'node:crypto'
import { appendFileSync, existsSync } from 'node:fs'
import { access, appendFile, constants } from 'node:fs/promises'
import { EOL } from 'node:os'

const escapeData = (text: string): string =>
  text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
const escapeProperty = (text: string): string =>
  escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C')

function issue(command: string, message = '', properties: Record<string, string> = {}): void {
  const props = Object.entries(properties)
    .filter(([, value]) => value)
    .map(([key, value]) => `${key}=${escapeProperty(value)}`)
    .join(',')
  process.stdout.write(`::${command}${props ? ` ${props}` : ''}::${escapeData(message)}${EOL}`)
}

/** `key<<delimiter` blocks in GITHUB_OUTPUT / GITHUB_STATE, else the old stdout command. */
function keyValue(file: 'OUTPUT' | 'STATE', command: string, name: string, value: string): void {
  const path = process.env[`GITHUB_${file}`]
  if (!path) {
    if (file === 'OUTPUT') process.stdout.write(EOL)
    issue(command, value, { name })
    return
  }
  if (!existsSync(path)) throw new Error(`Missing file at path: ${path}`)
  const delimiter = `ghadelimiter_${randomUUID()}`
  if (name.includes(delimiter) || value.includes(delimiter)) {
    throw new Error(`Unexpected input: name or value contains the delimiter "${delimiter}"`)
  }
  appendFileSync(path, `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}${EOL}`, 'utf8')
}

export function getInput(name: string): string {
  return (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] || '').trim()
}
export function setOutput(name: string, value: string): void {
  keyValue('OUTPUT', 'set-output', name, value)
}
export function saveState(name: string, value: string): void {
  keyValue('STATE', 'save-state', name, value)
}
export function getState(name: string): string {
  return process.env[`STATE_${name}`] || ''
}
export function info(message: string): void {
  process.stdout.write(`${message}${EOL}`)
}
export function warning(message: string): void {
  issue('warning', message)
}
export function setFailed(message: string): void {
  process.exitCode = 1
  issue('error', message)
}
export function setSecret(secret: string): void {
  issue('add-mask', secret)
}
export function startGroup(name: string): void {
  issue('group', name)
}
export function endGroup(): void {
  issue('endgroup')
}

/** `summary.addRaw(text).write()`: appends to GITHUB_STEP_SUMMARY, as @actions/core does. */
class Summary {
  private buffer = ''
  addRaw(text: string): this {
    this.buffer += text
    return this
  }
  async write(): Promise<this> {
    const file = process.env.GITHUB_STEP_SUMMARY
    if (!file) throw new Error('Unable to find environment variable for $GITHUB_STEP_SUMMARY.')
    await access(file, constants.R_OK | constants.W_OK)
    await appendFile(file, this.buffer, 'utf8')
    this.buffer = ''
    return this
  }
}
export const summary = new Summary()
