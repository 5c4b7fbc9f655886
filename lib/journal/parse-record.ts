/** The values of one record, as bytes, with what is needed to write it back. */
export interface ParsedRecord {
  /** Every value, op first, `@@` decoded. */
  values: Buffer[]
  /** For each value, whether it was quoted. */
  quoted: boolean[]
  /** Whether a space follows the last value. */
  trailingSpace: boolean
  /** `\n`, `\r\n`, or `` when the record has no terminator. */
  eol: string
}

const AT = 0x40
const SP = 0x20
const LF = 0x0a
const CR = 0x0d

/**
 * Splits a framed record into its values. Framing has already checked the
 * quoting, so this never fails: an odd byte simply lands in a bare value.
 */
export function parseRecord(raw: Buffer): ParsedRecord {
  const values: Buffer[] = []
  const quoted: boolean[] = []
  let eol = ''
  let end = raw.length
  if (end > 0 && raw[end - 1] === LF) {
    end--
    eol = '\n'
    // A CR before the LF ends the record only outside a quote: the last
    // value is then bare or closed, so the byte before the CR is not inside one.
    if (end > 0 && raw[end - 1] === CR && !crIsQuoted(raw, end - 1)) {
      end--
      eol = '\r\n'
    }
  }
  let trailingSpace = false
  let i = 0
  while (i < end) {
    if (raw[i] === AT) {
      const { value, next } = readQuoted(raw, i + 1, end)
      values.push(value)
      quoted.push(true)
      i = next
    } else {
      let j = raw.indexOf(SP, i)
      if (j < 0 || j > end) j = end
      values.push(raw.subarray(i, j))
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

/** Reads a quoted value whose first content byte is at `start`. */
function readQuoted(raw: Buffer, start: number, end: number): { value: Buffer; next: number } {
  let i = start
  let pieces: Buffer[] | undefined
  for (;;) {
    const at = raw.indexOf(AT, i)
    if (at < 0 || at >= end) {
      // Unterminated (an incomplete record): the rest is the value.
      const tail = raw.subarray(i, end)
      return { value: pieces ? Buffer.concat([...pieces, tail]) : tail, next: end }
    }
    if (raw[at + 1] === AT && at + 1 < end) {
      // `@@` is a literal `@`: keep it once and go on.
      ;(pieces ??= []).push(raw.subarray(i, at + 1))
      i = at + 2
      continue
    }
    const last = raw.subarray(i, at)
    const value = pieces ? Buffer.concat([...pieces, last]) : last
    return { value, next: at + 1 }
  }
}

/** Whether the byte at `pos` lies inside a quoted value (odd `@` count before it). */
function crIsQuoted(raw: Buffer, pos: number): boolean {
  let count = 0
  let i = raw.indexOf(AT)
  while (i >= 0 && i < pos) {
    count++
    i = raw.indexOf(AT, i + 1)
  }
  return count % 2 === 1
}
