import { GateError } from '../errors.js'

/** A JSON value as the strict parser returns it; objects have no prototype. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject
/** A JSON object whose keys were all distinct (the parser refuses exact duplicates). */
export interface JsonObject {
  [key: string]: JsonValue
}

/** Deeper nesting than any manifest or config has; bounds the parser's recursion. */
export const MAX_JSON_DEPTH = 512

/**
 * Parses a registry document, refusing any object with the same key twice. JSON.parse keeps the
 * last of two equal keys, Go's decoder (the engine's) merges both into one struct or map: the
 * same bytes would give the gate and the engine different labels, so such a document is
 * refused whatever the duplicate is. Throws a `registry-error` naming `what`, never quoting
 * the body (it may repeat what was sent).
 */
export function parseStrictJson(text: string, what: string): JsonValue {
  return new StrictParser(text, what).document()
}

class StrictParser {
  private i = 0

  constructor(
    private readonly text: string,
    private readonly what: string
  ) {}

  document(): JsonValue {
    const value = this.value(0, '')
    this.space()
    if (this.i < this.text.length) throw this.fail('has data after the JSON value')
    return value
  }

  private fail(why: string): GateError {
    return new GateError('registry-error', `${this.what} is not valid JSON: ${why}`)
  }

  private space(): void {
    const text = this.text
    while (this.i < text.length) {
      const c = text.charCodeAt(this.i)
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break
      this.i++
    }
  }

  private value(depth: number, path: string): JsonValue {
    if (depth > MAX_JSON_DEPTH) throw this.fail(`nests deeper than ${MAX_JSON_DEPTH} levels`)
    this.space()
    const c = this.text[this.i]
    if (c === '{') return this.object(depth, path)
    if (c === '[') return this.array(depth, path)
    if (c === '"') return this.string()
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number()
    for (const [word, result] of [
      ['true', true],
      ['false', false],
      ['null', null]
    ] as const) {
      if (this.text.startsWith(word, this.i)) {
        this.i += word.length
        return result
      }
    }
    throw this.fail(`unexpected ${c === undefined ? 'end' : 'character'} at offset ${this.i}`)
  }

  private object(depth: number, path: string): JsonObject {
    const result = Object.create(null) as JsonObject
    this.i++
    this.space()
    if (this.text[this.i] === '}') {
      this.i++
      return result
    }
    for (;;) {
      this.space()
      if (this.text[this.i] !== '"') throw this.fail(`expected a key at offset ${this.i}`)
      const key = this.string()
      const where = path ? `${path}.${key}` : key
      if (Object.prototype.hasOwnProperty.call(result, key)) {
        throw new GateError(
          'registry-error',
          `${this.what} has the key ${JSON.stringify(where)} twice; JSON readers disagree on which one counts, so it is refused`
        )
      }
      this.space()
      if (this.text[this.i] !== ':') throw this.fail(`expected ':' at offset ${this.i}`)
      this.i++
      result[key] = this.value(depth + 1, where)
      this.space()
      const next = this.text[this.i++]
      if (next === '}') return result
      if (next !== ',') throw this.fail(`expected ',' or '}' at offset ${this.i - 1}`)
    }
  }

  private array(depth: number, path: string): JsonValue[] {
    const result: JsonValue[] = []
    this.i++
    this.space()
    if (this.text[this.i] === ']') {
      this.i++
      return result
    }
    for (;;) {
      result.push(this.value(depth + 1, `${path}[${result.length}]`))
      this.space()
      const next = this.text[this.i++]
      if (next === ']') return result
      if (next !== ',') throw this.fail(`expected ',' or ']' at offset ${this.i - 1}`)
    }
  }

  private number(): number {
    const match = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
    match.lastIndex = this.i
    const found = match.exec(this.text)
    if (!found) throw this.fail(`malformed number at offset ${this.i}`)
    this.i += found[0].length
    return Number(found[0])
  }

  /** A string with its escapes decoded; a lone surrogate becomes U+FFFD, as Go decodes it. */
  private string(): string {
    const text = this.text
    let out = ''
    let start = ++this.i
    for (;;) {
      if (this.i >= text.length) throw this.fail('has an unterminated string')
      const c = text.charCodeAt(this.i)
      if (c === 0x22) {
        out += text.slice(start, this.i++)
        return out.replace(LONE_SURROGATE, '\ufffd')
      }
      if (c < 0x20) throw this.fail(`has a control character in a string at offset ${this.i}`)
      if (c !== 0x5c) {
        this.i++
        continue
      }
      out += text.slice(start, this.i)
      const escape = text[this.i + 1]
      const simple = escape === undefined ? undefined : ESCAPES[escape]
      if (simple !== undefined) {
        out += simple
        this.i += 2
      } else if (escape === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(this.i + 2, this.i + 6))) {
        out += String.fromCharCode(parseInt(text.slice(this.i + 2, this.i + 6), 16))
        this.i += 6
      } else {
        throw this.fail(`has a malformed escape at offset ${this.i}`)
      }
      start = this.i
    }
  }
}

const ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t'
}
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/**
 * A key as Go's encoding/json compares it with a struct field name: ASCII letters without case,
 * and the two non-ASCII runes whose simple case folding reaches ASCII, U+017F (ſ, an `s`) and
 * U+212A (the Kelvin sign, a `k`). Every other rune folds to a non-ASCII one and so can never
 * equal a field name the gate reads (all ASCII); it is kept as it is.
 */
export function foldKey(key: string): string {
  return key.replace(/[a-z\u017f\u212a]/g, c =>
    c === '\u017f' ? 'S' : c === '\u212a' ? 'K' : c.toUpperCase()
  )
}

/** True for a JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * The value of field `name` of `object` as the engine's Go decoder sees it: the key equal to
 * `name` under Go's case folding. Two keys that both fold to `name` (`config` and `Config`,
 * `Labels` and `Labelſ`) are refused: Go decodes both into the one field, merging or
 * overwriting in document order, which no JavaScript reading reproduces safely. `where`
 * names the object for the message (`config blob sha256:…`, `.config`).
 */
export function field(object: JsonObject, name: string, where: string): JsonValue | undefined {
  const folded = foldKey(name)
  const keys = Object.keys(object).filter(key => foldKey(key) === folded)
  if (keys.length > 1) {
    throw new GateError(
      'registry-error',
      `${where} has the keys ${keys.map(key => JSON.stringify(key)).join(' and ')}, which the engine reads as the same field ${JSON.stringify(name)} (Go's JSON matches keys without case); refusing an image the gate and the engine would read differently`
    )
  }
  const [key] = keys
  return key === undefined ? undefined : object[key]
}
