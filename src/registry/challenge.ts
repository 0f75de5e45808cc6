/** One challenge of a `WWW-Authenticate` header; scheme and parameter names are lowercase. */
export interface Challenge {
  scheme: string
  params: Record<string, string>
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*(?=[ \t]*(?:,|$))/

/**
 * Parses a `WWW-Authenticate` header (RFC 7235): one or more challenges, each a scheme and
 * `name=value` parameters whose values are tokens or quoted strings (which may hold commas and
 * backslash escapes). A token68 (`Negotiate abc==`) is skipped.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = []
  let i = 0
  const at = (): string => header[i] ?? ''
  const skip = (chars: RegExp): void => {
    while (i < header.length && chars.test(at())) i++
  }
  const token = (): string => {
    const start = i
    while (i < header.length && TOKEN_CHAR.test(at())) i++
    return header.slice(start, i)
  }
  // Lenient: an unquoted value runs to the next comma or space (some servers leave URLs bare).
  const bare = (): string => {
    const start = i
    while (i < header.length && !/[\s,]/.test(at())) i++
    return header.slice(start, i)
  }
  const quoted = (): string => {
    let value = ''
    for (i++; i < header.length && at() !== '"'; i++) {
      if (at() === '\\' && i + 1 < header.length) i++
      value += at()
    }
    i++
    return value
  }
  while (i < header.length) {
    skip(/[\s,]/)
    const scheme = token()
    if (!scheme) {
      i++
      continue
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} }
    challenges.push(challenge)
    skip(/[ \t]/)
    const token68 = TOKEN68.exec(header.slice(i))
    if (token68) i += token68[0].length
    for (;;) {
      const start = i
      skip(/[\s,]/)
      const name = token().toLowerCase()
      skip(/[ \t]/)
      if (!name || at() !== '=') {
        i = start
        break
      }
      i++
      skip(/[ \t]/)
      const value = at() === '"' ? quoted() : bare()
      if (!(name in challenge.params)) challenge.params[name] = value
    }
  }
  return challenges
}
