/**
 * Where a text stops being JSON, without quoting it: V8's JSON.parse
 * messages quote the text around the error ("Unexpected token 'a', "{"token":
 * abc}" is not valid JSON"), which would put a configuration's secrets in
 * logs. This scanner follows RFC 8259 and says only where and what was
 * expected.
 */

/** The first syntax error of `text` as JSON, or null when it is valid. */
export function jsonSyntaxError(text: string): { offset: number; line: number; column: number; expected: string } | null {
  const offset = scan(text)
  if (offset === null) return null
  let line = 1
  let lineStart = 0
  for (let i = 0; i < offset.at; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++
      lineStart = i + 1
    }
  }
  return { offset: offset.at, line, column: offset.at - lineStart + 1, expected: offset.expected }
}

/** Deeper nesting than this is refused rather than risk the stack (no configuration comes near it). */
const MAX_DEPTH = 512

class Stop {
  constructor(
    readonly at: number,
    readonly expected: string,
  ) {}
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
const HEX4 = /[0-9a-fA-F]{4}/y

function scan(text: string): Stop | null {
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
      for (;;) {
        ws()
        if (text[i] !== '"') stop('a property name in double quotes')
        string()
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
    if (err instanceof Stop) return err
    throw err
  }
}
