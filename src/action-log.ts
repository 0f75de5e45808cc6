import * as core from './actions-core.js'
import { randomUUID } from 'node:crypto'
import type { GateLog } from './gate.js'

/**
 * The gate's log on a GitHub runner. A program's raw output is shown in a collapsed group between
 * `stop-commands` markers, so a line it prints such as `::add-mask::` or `::set-output` is only text.
 */
export function actionLog(out: NodeJS.WritableStream = process.stdout): GateLog {
  let token = ''
  let atLineStart = true
  return {
    info: message => core.info(message),
    warning: message => core.warning(message),
    openRaw: title => {
      core.startGroup(title)
      token = randomUUID()
      out.write(`::stop-commands::${token}\n`)
      atLineStart = true
      return chunk => {
        if (chunk.length === 0) return
        out.write(chunk)
        atLineStart = chunk[chunk.length - 1] === 0x0a
      }
    },
    closeRaw: () => {
      if (!atLineStart) out.write('\n')
      out.write(`::${token}::\n`)
      core.endGroup()
    }
  }
}
