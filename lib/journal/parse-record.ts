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
  return walkRecord(text) ?? parseRecordGeneral(text)
}

/**
 * The parser without walkRecord's fast path (what parseRecord was before
 * it): the fallback, and what the tests hold walkRecord equal to.
 */
export function parseRecordGeneral(text: string): ParsedRecord {
  return splitRecord(text) ?? scanRecord(text)
}

const AT = 0x40
const SP = 0x20
const LF = 0x0a
const CR = 0x0d

/**
 * The common case, value by value: a native indexOf finds each value's end
 * and a slice takes it (no array of parts, no concatenation). It takes only
 * records in the shape p4d writes (starts with `@`, ends with a line end
 * outside quotes, values separated by spaces, no `@` in a bare value) and
 * returns null for anything else, which splitRecord and scanRecord then
 * handle as before: where it answers, it answers as they do.
 */
function walkRecord(text: string): ParsedRecord | null {
  const values: string[] = []
  const quoted: boolean[] = []
  const shape = walk(text, 0, values, values, quoted)
  if (shape < 0) return null
  return { values, quoted, trailingSpace: (shape & TRAILING_SPACE) !== 0, eol: (shape & CRLF) !== 0 ? '\r\n' : '\n' }
}

/** The values of a record in two arrays: the first few (op, version, table) and the rest (the fields). */
export interface SplitRecord {
  head: string[]
  fields: string[]
}

/**
 * The values of a record as parseRecord gives them, the first `skip` in
 * `head` and the rest in `fields`: what reading an entry's fields costs,
 * without the arrays of parseRecord an entry would slice them from.
 */
export function splitFields(text: string, skip: number): SplitRecord {
  const head: string[] = []
  const fields: string[] = []
  if (walk(text, skip, head, fields, null) >= 0) return { head, fields }
  const { values } = parseRecord(text)
  return { head: values.slice(0, skip), fields: values.slice(skip) }
}

/**
 * Fields of a record, counted from 0 after its first `skip` values (in
 * `head`): the first `keep`, or with `pick` (ascending, below `keep`) only
 * those; and how many fields it has, without making the others: `--where`
 * reads a column or two of records that may hold millions of fields. Null
 * when the record is not in the common shape (splitFields then parses it
 * whole).
 */
export function fieldRange(text: string, skip: number, keep: number, pick: readonly number[] | null = null): (SplitRecord & { count: number }) | null {
  const head: string[] = []
  const fields: string[] = []
  const shape = walk(text, skip, head, fields, null, skip + keep, pick)
  return shape < 0 ? null : { head, fields, count: Math.max(0, Math.floor(shape / 4) - skip) }
}

/** walk's answer: bits of the record's shape, or -1 when it is not the common case. */
const TRAILING_SPACE = 1
const CRLF = 2

/**
 * How many values a record holds, op included, without making them: what
 * walk answers without a place to put them (a summary counts a record's
 * fields; one record of 30 M fields made 30 M strings, ~790 MB, to be
 * counted). -1 when the record is not in the common shape: then only the
 * full parse can say.
 */
export function countValues(text: string): number {
  const shape = walk(text, 0, null, null, null)
  return shape < 0 ? -1 : Math.floor(shape / 4)
}

/**
 * walkRecord's loop: the first `skip` values go to `head`, the others to
 * `rest` (the same array when all go together), but only those whose index
 * (the op's is 0) is below `keep`, and with `pick` (ascending indexes
 * counted after the first `skip`) only those: the others are only counted;
 * `quoted`, when given, gets whether each was quoted. Without `head` and
 * `rest` the values are only counted. Returns the shape bits plus 4 times the number of values,
 * or -1 (the arrays then hold garbage).
 */
function walk(
  text: string,
  skip: number,
  head: string[] | null,
  rest: string[] | null,
  quoted: boolean[] | null,
  keep = Number.POSITIVE_INFINITY,
  pick: readonly number[] | null = null,
): number {
  const n = text.length
  if (text.charCodeAt(n - 1) !== LF || text.charCodeAt(0) !== AT) return -1
  let stop = n - 1
  let shape = 0
  if (text.charCodeAt(stop - 1) === CR) {
    stop--
    shape = CRLF
  }
  let count = 0
  /** The next of `pick`. */
  let p = 0
  let nextAt = 0
  let i = 0
  for (;;) {
    if (i === nextAt) {
      let close = text.indexOf('@', i + 1)
      let escaped = false
      while (close >= 0 && close < stop && text.charCodeAt(close + 1) === AT) {
        escaped = true
        close = text.indexOf('@', close + 2)
      }
      if (close < 0 || close >= stop) return -1
      if (rest !== null && count < keep && (count < skip || pick === null || count - skip === pick[p])) {
        let value = text.slice(i + 1, close)
        if (escaped) value = value.length < LARGE_VALUE ? value.replaceAll('@@', '@') : unescapeLarge(value)
        if (count < skip) (head as string[]).push(value)
        else {
          rest.push(value)
          p++
        }
      }
      quoted?.push(true)
      i = close + 1
      nextAt = text.indexOf('@', i)
      if (nextAt < 0) nextAt = n
    } else {
      let space = text.indexOf(' ', i)
      if (space < 0 || space > stop) space = stop
      if (nextAt < space) return -1 // an `@` inside a bare value
      if (rest !== null && count < keep && (count < skip || pick === null || count - skip === pick[p])) {
        const value = text.slice(i, space)
        if (count < skip) (head as string[]).push(value)
        else {
          rest.push(value)
          p++
        }
      }
      quoted?.push(false)
      i = space
    }
    count++
    if (i === stop) break
    if (text.charCodeAt(i) !== SP) return -1
    i++
    if (i === stop) {
      shape |= TRAILING_SPACE
      break
    }
  }
  return shape + count * 4
}

/**
 * From this length on, a quoted value's `@@` are undone by unescapeLarge:
 * V8's replaceAll (and replace, and split then join) built a 20 MB
 * description full of `@@` with 350 MB of transient heap (445 MB peak RSS,
 * 1.2 s); unescapeLarge took 90 MB (128 MB peak, 0.25 s).
 */
const LARGE_VALUE = 64 * 1024

/** `value` with each `@@` as one `@`, joined a few thousand pieces at a time (see LARGE_VALUE). */
function unescapeLarge(value: string): string {
  const chunks: string[] = []
  let pieces: string[] = []
  let from = 0
  for (let at = value.indexOf('@@'); at >= 0; at = value.indexOf('@@', at + 2)) {
    pieces.push(value.slice(from, at + 1))
    from = at + 2
    if (pieces.length === 8192) {
      chunks.push(pieces.join(''))
      pieces = []
    }
  }
  pieces.push(value.slice(from))
  chunks.push(pieces.join(''))
  return chunks.length === 1 ? (chunks[0] as string) : chunks.join('')
}

/**
 * The common case in one native `split('@')`: parts alternate between what
 * lies outside quotes (even indexes: spaces and bare values) and quoted
 * values (odd indexes). An empty outside part between two quoted parts can
 * only come from `@@` inside a value (outside parts start with a space), so
 * the two parts are joined with one `@`. Returns null for what it does not
 * handle (no line end, unbalanced quotes); scanRecord takes those.
 */
function splitRecord(text: string): ParsedRecord | null {
  const n = text.length
  if (text.charCodeAt(n - 1) !== 0x0a) return null
  const parts = text.split('@')
  const last = parts.length - 1
  // Balanced quotes leave an odd number of parts, and a record starts with `@`.
  if ((last & 1) !== 0 || parts[0] !== '') return null
  const values: string[] = []
  const quoted: boolean[] = []
  let i = 1
  while (i < last) {
    let value = parts[i] as string
    i++
    // Empty outside parts are `@@` escapes: the value goes on.
    while (i < last && parts[i] === '') {
      value += '@' + (parts[i + 1] as string)
      i += 2
    }
    values.push(value)
    quoted.push(true)
    let outside = parts[i] as string
    if (i === last) break
    i++
    // A middle outside part is ` ` or ` bare bare `.
    if (outside.length > 1) {
      outside = outside.slice(1, -1)
      for (const bare of outside.split(' ')) {
        values.push(bare)
        quoted.push(false)
      }
    }
  }
  // The last outside part: optional bare values, optional space, line end.
  let tail = parts[last] as string
  let eol = '\n'
  tail = tail.slice(0, -1)
  if (tail.charCodeAt(tail.length - 1) === 0x0d) {
    eol = '\r\n'
    tail = tail.slice(0, -1)
  }
  let trailingSpace = false
  if (tail.length > 0) {
    if (tail.charCodeAt(0) !== 0x20) return null
    tail = tail.slice(1)
    if (tail.length === 0) {
      trailingSpace = true
    } else {
      const bare = tail.split(' ')
      if (bare[bare.length - 1] === '') {
        bare.pop()
        trailingSpace = true
      }
      for (const b of bare) {
        values.push(b)
        quoted.push(false)
      }
    }
  }
  return { values, quoted, trailingSpace, eol }
}

/** The general parser: walks the text value by value. */
function scanRecord(text: string): ParsedRecord {
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
