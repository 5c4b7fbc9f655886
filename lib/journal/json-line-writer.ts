import type { FieldEncoding } from './entry.js'
import { JournalEntry } from './entry.js'
import { entryToJsonLine } from './entry-json.js'
import { isDataOpBytes } from './data-ops.js'
import { JSON_PLAIN, copyBare, copyQuoted, piece, scan, writePiece, type Piece } from './json-escape.js'
import { writeInt } from './json-numbers.js'
import { LineBuffer, worstCase } from './line-buffer.js'

const AT = 0x40
const SP = 0x20
const LF = 0x0a
const CR = 0x0d
const QUOTE = 0x22
const COMMA = 0x2c

/** Table versions longer than this go the general way (Number() would round them). */
const MAX_VERSION_DIGITS = 15

const END = piece(',"end":')
const LINE = piece(',"line":')
const OP = piece(',"op":"')
const VERSION = piece('","version":')
const TABLE = piece(',"table":"')
const DATA_FIELDS = piece('","fields":[')
const NO_TABLE_FIELDS = piece('","version":null,"table":null,"fields":[')

/**
 * `{"file":…,"journal":J,"offset":` for one writer: made again only when
 * the journal number changes.
 */
export class LinePrefix {
  readonly #head: string
  #journal: number | null | undefined = undefined
  #piece: Piece = piece('')

  constructor(file: string | null) {
    this.#head = `{"file":${JSON.stringify(file)},"journal":`
  }

  /** The prefix for records of `journal`. */
  for(journal: number | null): Piece {
    if (journal !== this.#journal) {
      this.#journal = journal
      this.#piece = piece(`${this.#head}${JSON.stringify(journal)},"offset":`)
    }
    return this.#piece
  }
}

/**
 * Writes entries as NDJSON lines (the form of {@link entryToJsonLine})
 * straight from the record bytes into one output Buffer per batch, with no
 * string per field: this is what lets `logdaemon-cat --format json` keep up
 * with framing. A record in a shape this byte writer does not take (an
 * incomplete record, odd spacing, an op that is not a plain word) is written
 * by entryToJsonLine instead, so the output is always exactly what
 * entryToJsonLine gives.
 */
export class JsonLineWriter {
  readonly #file: string | null
  readonly #encoding: FieldEncoding
  readonly #latin1: boolean
  readonly #prefix: LinePrefix
  readonly #lines = new LineBuffer()

  constructor(file: string | null, encoding: FieldEncoding) {
    this.#file = file
    this.#encoding = encoding
    this.#latin1 = encoding === 'latin1'
    this.#prefix = new LinePrefix(file)
  }

  /** Adds the record `source[start..end)` at `position`. */
  add(source: Buffer, start: number, end: number, journal: number | null, offset: number, line: number): void {
    const lines = this.#lines
    const prefix = this.#prefix.for(journal)
    lines.reserve(worstCase(end - start, prefix.length))
    const o = writeJsonRecord(lines.out, lines.o, prefix, source, start, end, offset, line, this.#latin1)
    if (o >= 0) {
      lines.o = o
      return
    }
    // Not for the byte writer: the general path, same output.
    const entry = new JournalEntry(source, { journal, offset, end: offset + end - start, line }, { encoding: this.#encoding, start, end })
    lines.addText(entryToJsonLine(entry, this.#file))
  }

  /** Adds an already formatted line. */
  addText(text: string): void {
    this.#lines.addText(text)
  }

  /** The lines added since the last take. The Buffer is the caller's: the writer starts a new one (in `next`, when given and large enough). */
  take(next?: Buffer): Buffer | null {
    return this.#lines.take(next)
  }

  /** The lines added since the last take, as a view valid until the next add (for a caller that copies them at once). */
  takeView(): Buffer | null {
    return this.#lines.takeView()
  }
}

/**
 * Writes `prefix` (LinePrefix) and the rest of the NDJSON line of the
 * record `src[start..end)` into `out` at `o` (room for worstCase()
 * reserved). Returns the new output offset, or -1 to leave the record to
 * the general path (what was written past `o` is then garbage).
 */
export function writeJsonRecord(
  out: Buffer,
  o: number,
  prefix: Piece,
  src: Buffer,
  start: number,
  end: number,
  offset: number,
  line: number,
  latin1: boolean,
): number {
  if (src[end - 1] !== LF || src[start] !== AT) return -1 // an incomplete record, or not one at all
  let stop = end - 1
  if (src[stop - 1] === CR) stop--

  o = writePiece(out, o, prefix)
  o = writeInt(out, o, offset)
  o = writePiece(out, o, END)
  o = writeInt(out, o, offset + end - start)
  o = writePiece(out, o, LINE)
  o = writeInt(out, o, line)
  o = writePiece(out, o, OP)

  // The op: a word of printable ASCII that JSON takes as it is; anything else goes the general way.
  let i = start + 1
  for (;;) {
    if (i >= stop) return -1
    const b = src[i] as number
    if (b === AT) break
    if (b === SP || JSON_PLAIN[b] === 0) return -1
    out[o++] = b
    i++
  }
  if (i === start + 1) return -1 // `@@`: no op
  const opEnd = i
  i++

  if (isDataOpBytes(src, start + 1, opEnd)) {
    // ` version @table@`: digits as Number() prints them back.
    if (src[i] !== SP) return -1
    i++
    const vStart = i
    while (i < stop && src[i] !== SP) {
      const b = src[i] as number
      if (b < 0x30 || b > 0x39) return -1
      i++
    }
    const digits = i - vStart
    if (digits === 0 || digits > MAX_VERSION_DIGITS || (src[vStart] === 0x30 && digits > 1)) return -1
    o = writePiece(out, o, VERSION)
    for (let k = vStart; k < i; k++) out[o++] = src[k] as number
    if (src[i] !== SP || src[i + 1] !== AT) return -1
    o = writePiece(out, o, TABLE)
    o = copyQuoted(src, i + 2, stop, out, o, latin1)
    if (o < 0) return -1
    i = scan.end
    o = writePiece(out, o, DATA_FIELDS)
  } else {
    o = writePiece(out, o, NO_TABLE_FIELDS)
  }

  // i is just past the previous value: a space and the next value, a trailing space, or the end.
  let first = true
  while (i < stop) {
    if (src[i] !== SP) return -1
    i++
    if (i === stop) break // the trailing space
    if (!first) out[o++] = COMMA
    first = false
    out[o++] = QUOTE
    o = src[i] === AT ? copyQuoted(src, i + 1, stop, out, o, latin1) : copyBare(src, i, stop, out, o, latin1)
    if (o < 0) return -1
    i = scan.end
    out[o++] = QUOTE
  }
  out[o++] = 0x5d // ]
  out[o++] = 0x7d // }
  out[o++] = LF
  return o
}
