import { describe, expect, test } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { shellQuote } from '../../src/session/shell-quote.js'

/** What real bash makes of `printf %s <quoted word>`: the word, byte for byte, if quoting holds. */
function echoedByBash(value: string): Buffer {
  const result = spawnSync('bash', ['-c', `printf %s ${shellQuote(value)}`], {
    cwd: '/',
    encoding: 'buffer'
  })
  expect(result.error).toBeUndefined()
  expect(result.stderr.toString('utf8')).toBe('')
  expect(result.status).toBe(0)
  return result.stdout
}

const NASTY: [string, string][] = [
  ['empty string', ''],
  ['plain word', 'staging'],
  ['space', 'two words'],
  ['single quote', "it's"],
  ['only single quotes', "'''"],
  ['quote at both ends', "'x'"],
  ['double quotes', '"quoted" ""'],
  ['command substitution', '$(touch /tmp/shell-quote-pwned)'],
  ['backticks', '`id`'],
  ['variables', '$HOME ${PATH} $1 $@ $$ $?'],
  ['arithmetic', '$((1+1))'],
  ['newline', 'line1\nline2'],
  ['trailing newlines', 'end\n\n'],
  ['CR and tab', 'a\rb\tc'],
  ['glob star', '*'],
  ['glob classes', '/?[a-z]*{x,y}'],
  ['semicolon', 'a; echo injected'],
  ['and-and', 'true && echo injected'],
  ['pipe and redirect', 'a | cat > /tmp/x < /etc/passwd 2>&1'],
  ['background and subshell', '(sleep 1) & wait'],
  ['history and tilde', '!! ~root ~'],
  ['comment', '# not a comment'],
  ['unicode', 'héllo wörld — 日本語 🚀'],
  ['leading dash', '-n'],
  ['leading double dash', '--help'],
  ['backslashes', 'C:\\dir\\n \\\\ \\'],
  ['backslash before quote', "\\'"],
  ['escape sequences left alone', '\\x41\\101\\e'],
  ['percent format', '%s %d %%'],
  ['control bytes', '\x01\x1b[31mred\x1b[0m\x7f'],
  ['quote soup', `'"'"'$'\\''"`]
]

describe('shellQuote', () => {
  test.each(NASTY)('%s survives bash byte for byte', (_name, value) => {
    expect(echoedByBash(value).equals(Buffer.from(value, 'utf8'))).toBe(true)
    expect(echoedByBash(value).toString('utf8')).toBe(value)
  })

  test('several quoted words stay separate arguments', () => {
    const words = ['a b', "c'd", '', '$(x)', '-e']
    const result = spawnSync('bash', ['-c', `printf '%s\\0' ${words.map(shellQuote).join(' ')}`], {
      encoding: 'buffer'
    })
    expect(result.status).toBe(0)
    expect(result.stdout.toString('utf8').split('\0')).toEqual([...words, ''])
  })

  test.each([
    ['plain', 'abc', "'abc'"],
    ['empty', '', "''"],
    ['single quote', "a'b", "'a'\\''b'"]
  ])('%s quotes as %j', (_name, value, quoted) => {
    expect(shellQuote(value)).toBe(quoted)
  })

  test.each(['\0', 'a\0b', 'tail\0'])('a NUL byte (%j) throws', value => {
    expect(() => shellQuote(value)).toThrow('a shell word cannot hold a NUL byte')
  })
})
