import * as core from '@actions/core'
import { randomUUID } from 'node:crypto'
import type { GateLog } from './facts.js'

/** Folds line breaks into ` ⏎ `, so a message is exactly one log line. */
export function oneLine(text: string): string {
  return text.replace(/\r\n|\r|\n/g, ' ⏎ ')
}

/**
 * The gate's log on a GitHub runner. A program's raw output is shown in a collapsed group between
 * `stop-commands` markers, so a line it prints such as `::add-mask::` or `::set-output` is only text.
 */
export function actionLog(out: NodeJS.WritableStream = process.stdout): GateLog {
  let token = ''
  let atLineStart = true
  return {
    // One line each: a value with a newline must not start a line the runner reads as a command.
    info: message => core.info(oneLine(message)),
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
