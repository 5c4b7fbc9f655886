/**
 * Where a text stops being JSON, without quoting it: V8's JSON.parse
 * messages quote the text around the error ("Unexpected token 'a', "{"token":
 * abc}" is not valid JSON"), which would put a configuration's secrets in
 * logs. This scanner follows RFC 8259 and says only where and what was
 * expected.
 */

/** The first syntax error of `text` as JSON, or null when it is valid. */
export function jsonSyntaxError(text: string): { offset: number; line: number; column: number; expected: string } | null {
  const found = scan(text, false)
  if (!(found instanceof Stop)) return null
  return { ...where(text, found.at), expected: found.expected }
}

/**
 * The first property name that appears twice in one object of `text`
 * (valid JSON), or null. JSON.parse keeps the last silently: in a
 * configuration, one of the two settings would be ignored unseen.
 */
export function jsonDuplicateKey(text: string): { offset: number; line: number; column: number; key: string } | null {
  const found = scan(text, true)
  if (!(found instanceof Duplicate)) return null
  return { ...where(text, found.at), key: found.key }
}

/** Line and column (from 1) of `offset` in `text`. */
function where(text: string, offset: number): { offset: number; line: number; column: number } {
  let line = 1
  let lineStart = 0
  for (let i = 0; i < offset; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++
      lineStart = i + 1
    }
  }
  return { offset, line, column: offset - lineStart + 1 }
}

/** Deeper nesting than this is refused rather than risk the stack (no configuration comes near it). */
const MAX_DEPTH = 512

class Stop {
  constructor(
    readonly at: number,
    readonly expected: string,
  ) {}
}

class Duplicate {
  constructor(
    readonly at: number,
    readonly key: string,
  ) {}
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
const HEX4 = /[0-9a-fA-F]{4}/y

/** The first syntax error of `text`, or (when `duplicates`) the first property name repeated in one object before it; null for neither. */
function scan(text: string, duplicates: boolean): Stop | Duplicate | null {
  let i = 0
  const stop = (expected: string): never => {
    throw new Stop(i, expected)
  }
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++
  }
  const string = (): void => {
    i++
    while (i < text.length) {
      const c = text.charCodeAt(i)
      if (c === 0x22) {
        i++
        return
      }
      if (c < 0x20) stop('the string to be closed before the line ends (write \\n for a line break)')
      if (c === 0x5c) {
        i++
        const e = text[i]
        if (e === 'u') {
          HEX4.lastIndex = i + 1
          if (!HEX4.test(text)) stop('4 hex digits after \\u')
          i += 5
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++
        else stop('a valid escape (\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)')
      } else i++
    }
    stop('the closing " of the string')
  }
  const value = (depth: number): void => {
    ws()
    if (depth > MAX_DEPTH) stop('less nesting')
    const c = text[i]
    if (c === '{') {
      i++
      ws()
      if (text[i] === '}') {
        i++
        return
      }
      const names = new Set<string>()
      for (;;) {
        ws()
        if (text[i] !== '"') stop('a property name in double quotes')
        const start = i
        string()
        const name = JSON.parse(text.slice(start, i)) as string
        if (duplicates && names.has(name)) throw new Duplicate(start, name)
        names.add(name)
        ws()
        if (text[i] !== ':') stop("':' after the property name")
        i++
        value(depth + 1)
        ws()
        if (text[i] === ',') {
          i++
          continue
        }
        if (text[i] === '}') {
          i++
          return
        }
        stop("',' or '}'")
      }
    }
    if (c === '[') {
      i++
      ws()
      if (text[i] === ']') {
        i++
        return
      }
      for (;;) {
        value(depth + 1)
        ws()
        if (text[i] === ',') {
          i++
          continue
        }
        if (text[i] === ']') {
          i++
          return
        }
        stop("',' or ']'")
      }
    }
    if (c === '"') return string()
    NUMBER.lastIndex = i
    if (NUMBER.test(text)) {
      i = NUMBER.lastIndex
      return
    }
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, i)) {
        i += literal.length
        return
      }
    }
    stop('a value (a string in double quotes, a number, true, false, null, an object or an array)')
  }
  try {
    value(0)
    ws()
    if (i < text.length) stop('the end of the file')
    return null
  } catch (err) {
    if (err instanceof Stop || err instanceof Duplicate) return err
    throw err
  }
}
