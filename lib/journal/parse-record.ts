/** The values of one record, with what is needed to write it back. */
export interface ParsedRecord {
  /** Every value, op first, `@@` decoded. */
  values: string[]
  /** For each value, whether it was quoted. */
  quoted: boolean[]
  /** Whether a space follows the last value. */
  trailingSpace: boolean
  /** `\n`, `\r\n`, or `` when the record has no terminator. */
  eol: string
}

/**
 * Splits a framed record, decoded to text, into its values. Works on text
 * from any decoding: `@`, space, CR and LF are ASCII and never part of a
 * UTF-8 multi-byte sequence, so the structure is the same as in the bytes;
 * on latin1 text, string indexes are byte offsets. Framing has already
 * checked the quoting, so this never fails: an odd byte lands in a bare value.
 */
export function parseRecord(text: string): ParsedRecord {
  const values: string[] = []
  const quoted: boolean[] = []
  let eol = ''
  let end = text.length
  if (text.charCodeAt(end - 1) === 0x0a) {
    end--
    eol = '\n'
    // A CR before the LF ends the record only outside a quote.
    if (text.charCodeAt(end - 1) === 0x0d && !isQuoted(text, end - 1)) {
      end--
      eol = '\r\n'
    }
  }
  let trailingSpace = false
  let i = 0
  while (i < end) {
    if (text.charCodeAt(i) === 0x40) {
      i = readQuoted(text, i + 1, end, values)
      quoted.push(true)
    } else {
      let j = text.indexOf(' ', i)
      if (j < 0 || j > end) j = end
      values.push(text.slice(i, j))
      quoted.push(false)
      i = j
    }
    if (i >= end) break
    // i is at the separating space
    i++
    if (i >= end) trailingSpace = true
  }
  return { values, quoted, trailingSpace, eol }
}

/** Reads a quoted value whose first content character is at `start`; returns the index after its closing `@`. */
function readQuoted(text: string, start: number, end: number, out: string[]): number {
  let i = start
  let escaped = false
  for (;;) {
    const at = text.indexOf('@', i)
    if (at < 0 || at >= end) {
      // Unterminated (an incomplete record): the rest is the value.
      const v = text.slice(start, end)
      out.push(escaped ? v.replaceAll('@@', '@') : v)
      return end
    }
    if (at + 1 < end && text.charCodeAt(at + 1) === 0x40) {
      // `@@` is a literal `@`.
      escaped = true
      i = at + 2
      continue
    }
    const v = text.slice(start, at)
    out.push(escaped ? v.replaceAll('@@', '@') : v)
    return at + 1
  }
}

/** Whether the character at `pos` lies inside a quoted value (odd `@` count before it). */
function isQuoted(text: string, pos: number): boolean {
  let count = 0
  let i = text.indexOf('@')
  while (i >= 0 && i < pos) {
    count++
    i = text.indexOf('@', i + 1)
  }
  return count % 2 === 1
}
