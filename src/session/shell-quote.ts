/**
 * Quotes a value as one POSIX shell word that the shell hands on byte for byte.
 * Single quotes disable every expansion; a single quote itself is closed, escaped and reopened.
 * Every value is quoted, even a plain one, so no character class is ever special-cased.
 * This is the only way values reach a shell command line.
 */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new Error('a shell word cannot hold a NUL byte')
  return `'${value.replace(/'/g, `'\\''`)}'`
}
