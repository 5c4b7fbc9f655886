import type { FieldEncoding } from './entry.js'
import { JournalEntry } from './entry.js'
import { entryToJsonLine } from './entry-json.js'

const AT = 0x40
const SP = 0x20
const LF = 0x0a
const CR = 0x0d
const QUOTE = 0x22
const BACKSLASH = 0x5c

/** What a byte needs in a JSON string: 0 copy, 1 escape, 2 not ASCII. */
export const BYTE_CLASS = new Uint8Array(256)
for (let b = 0; b < 0x20; b++) BYTE_CLASS[b] = 1
BYTE_CLASS[QUOTE] = 1
BYTE_CLASS[BACKSLASH] = 1
for (let b = 0x80; b < 0x100; b++) BYTE_CLASS[b] = 2

const HEX = '0123456789abcdef'
/** Short escapes JSON defines; other control bytes become \u00XX. */
const SHORT_ESCAPE: Record<number, number> = { 0x08: 0x62, 0x09: 0x74, 0x0a: 0x6e, 0x0c: 0x66, 0x0d: 0x72, 0x22: 0x22, 0x5c: 0x5c }

/** The output buffer's least size: one batch of a read chunk's JSON (128 KiB of records) fits with room. */
export const MIN_BUFFER = 1 << 20

export const DATA_OPS: ReadonlySet<string> = new Set(['pv', 'rv', 'dv', 'put', 'del', 'vv', 'dl'])

/**
 * The largest output one record of `n` bytes can take: every byte escaped
 * as \u00XX (6 bytes), plus the fixed keys and numbers (under 200 bytes
 * beyond the file name).
 */
export function worstCase(n: number, prefix: number): number {
  return n * 6 + prefix + 256
}

/**
 * Writes entries as NDJSON lines (the form of {@link entryToJsonLine})
 * straight from the record bytes into one output Buffer per batch, with no
 * string per field: this is what lets `logdaemon-cat --format json` keep up
 * with framing. A record with bytes outside ASCII, or in a layout this
 * byte writer does not take, is written by entryToJsonLine instead, so the
 * output is always exactly what entryToJsonLine gives.
 */
export class JsonLineWriter {
  readonly #file: string | null
  readonly #encoding: FieldEncoding
  /** `{"file":…,"journal":` */
  readonly #head: Buffer
  #out: Buffer
  #o = 0

  constructor(file: string | null, encoding: FieldEncoding) {
    this.#file = file
    this.#encoding = encoding
    this.#head = Buffer.from(`{"file":${JSON.stringify(file)},"journal":`)
    this.#out = Buffer.allocUnsafe(MIN_BUFFER)
  }

  /** Adds the record `source[start..end)` at `position`. */
  add(source: Buffer, start: number, end: number, journal: number | null, offset: number, line: number): void {
    this.#reserve(worstCase(end - start, this.#head.length))
    const o = writeJsonRecord(this.#out, this.#o, this.#head, source, start, end, journal, offset, line, this.#encoding === 'latin1')
    if (o >= 0) {
      this.#o = o
      return
    }
    // Not for the byte writer: the general path, same output.
    const entry = new JournalEntry(source, { journal, offset, end: offset + end - start, line }, { encoding: this.#encoding, start, end })
    this.addText(entryToJsonLine(entry, this.#file))
  }

  /** Adds an already formatted line. */
  addText(text: string): void {
    this.#reserve(Buffer.byteLength(text))
    this.#o += this.#out.write(text, this.#o)
  }

  /** The lines added since the last take. The Buffer is the caller's: the writer starts a new one. */
  take(): Buffer | null {
    if (this.#o === 0) return null
    const data = this.#out.subarray(0, this.#o)
    this.#out = Buffer.allocUnsafe(Math.max(MIN_BUFFER, this.#o + (this.#o >> 2)))
    this.#o = 0
    return data
  }

  #reserve(n: number): void {
    if (this.#o + n <= this.#out.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.#out.length * 2, this.#o + n))
    this.#out.copy(grown, 0, 0, this.#o)
    this.#out = grown
  }
}

/**
 * Writes the NDJSON line of the record `src[start..end)` into `out` at `o`
 * (room for worstCase() reserved); `head` is `{"file":…,"journal":`. Returns
 * the new output offset, or -1 to leave the record to the general path.
 */
export function writeJsonRecord(
  out: Buffer,
  o: number,
  head: Buffer,
  src: Buffer,
  start: number,
  end: number,
  journal: number | null,
  offset: number,
  line: number,
  latin1: boolean,
): number {
  let stop = end
  if (src[stop - 1] === LF) {
    stop--
    if (src[stop - 1] === CR) stop--
  } else {
    return -1 // an incomplete record
  }
  if (src[start] !== AT) return -1
  const opEnd = src.indexOf(AT, start + 1)
  if (opEnd < 0 || opEnd >= stop) return -1
  // Ops are ASCII words; anything else goes the general way.
  const op = src.toString('latin1', start + 1, opEnd)
  if (/[^\x21-\x7e]/.test(op)) return -1
  const data = DATA_OPS.has(op)

  head.copy(out, o)
  o += head.length
  o = journal === null ? writeAscii(out, o, 'null') : writeInt(out, o, journal)
  o = writeAscii(out, o, ',"offset":')
  o = writeInt(out, o, offset)
  o = writeAscii(out, o, ',"end":')
  o = writeInt(out, o, offset + end - start)
  o = writeAscii(out, o, ',"line":')
  o = writeInt(out, o, line)
  o = writeAscii(out, o, ',"op":')
  o = copyString(src, start + 1, opEnd, out, o, latin1)
  if (o < 0) return -1

  let i = opEnd + 1
  if (data) {
    // ` version @table@`
    if (src[i] !== SP) return -1
    const vEnd = src.indexOf(SP, i + 1)
    // Digits without a leading zero print as Number() would.
    if (vEnd < 0 || vEnd >= stop || vEnd === i + 1 || (src[i + 1] === 0x30 && vEnd > i + 2)) return -1
    o = writeAscii(out, o, ',"version":')
    for (let k = i + 1; k < vEnd; k++) {
      const b = src[k] as number
      if (b < 0x30 || b > 0x39) return -1
      out[o++] = b
    }
    if (src[vEnd + 1] !== AT) return -1
    const tEnd = src.indexOf(AT, vEnd + 2)
    if (tEnd < 0 || tEnd >= stop || src[tEnd + 1] === AT) return -1
    o = writeAscii(out, o, ',"table":')
    o = copyString(src, vEnd + 2, tEnd, out, o, latin1)
    if (o < 0) return -1
    i = tEnd + 1
  } else {
    o = writeAscii(out, o, ',"version":null,"table":null')
  }
  o = writeAscii(out, o, ',"fields":[')
  let first = true
  // i is just past the previous value: a space and the next value, a trailing space, or the end.
  while (i < stop) {
    if (src[i] !== SP) return -1
    i++
    if (i === stop) break // the trailing space
    if (!first) out[o++] = 0x2c
    first = false
    out[o++] = QUOTE
    if (src[i] === AT) {
      // A quoted value: up to the `@` that is not doubled; `@@` is one `@`.
      // One pass copies, escapes and finds the end (a native indexOf per
      // value would cost more than the copy).
      let k = i + 1
      for (;;) {
        if (k >= stop) return -1
        const b = src[k] as number
        if (b === AT) {
          if (src[k + 1] !== AT) break
          out[o++] = AT
          k += 2
          continue
        }
        if (BYTE_CLASS[b] === 0) {
          out[o++] = b
          k++
          continue
        }
        const n = b >= 0x80 && !latin1 ? utf8Tail(src, k, stop) : 0
        o = copyBytes(src, k, k + 1 + n, out, o, latin1)
        if (o < 0) return -1
        k += 1 + n
      }
      i = k + 1
    } else {
      let k = i
      for (; k < stop; k++) {
        const b = src[k] as number
        if (b === SP) break
        if (BYTE_CLASS[b] === 0) {
          out[o++] = b
          continue
        }
        const n = b >= 0x80 && !latin1 ? utf8Tail(src, k, stop) : 0
        o = copyBytes(src, k, k + 1 + n, out, o, latin1)
        if (o < 0) return -1
        k += n
      }
      i = k
    }
    out[o++] = QUOTE
  }
  out[o++] = 0x5d // ]
  out[o++] = 0x7d // }
  out[o++] = LF
  return o
}

export function writeAscii(out: Buffer, o: number, text: string): number {
  for (let k = 0; k < text.length; k++) out[o++] = text.charCodeAt(k)
  return o
}

export function writeInt(out: Buffer, o: number, n: number): number {
  if (n < 0 || !Number.isSafeInteger(n)) return writeAscii(out, o, String(n))
  let digits = 1
  for (let v = n; v >= 10; v = Math.floor(v / 10)) digits++
  let v = n
  for (let k = o + digits - 1; k >= o; k--) {
    out[k] = 0x30 + (v % 10)
    v = Math.floor(v / 10)
  }
  return o + digits
}

export function copyString(src: Buffer, from: number, to: number, out: Buffer, o: number, latin1: boolean): number {
  out[o++] = QUOTE
  o = copyBytes(src, from, to, out, o, latin1)
  if (o < 0) return -1
  out[o++] = QUOTE
  return o
}

/**
 * Copies bytes as JSON string content, escaping what JSON needs. Bytes
 * outside ASCII: in latin1 mode each is one character, written as its two
 * UTF-8 bytes; in UTF-8 mode a valid sequence is copied as it is (which is
 * what decoding and JSON.stringify give), anything else returns -1 (the
 * general path then writes U+FFFD exactly as Buffer#toString does).
 */
export function copyBytes(src: Buffer, from: number, to: number, out: Buffer, o: number, latin1: boolean): number {
  for (let k = from; k < to; k++) {
    const b = src[k] as number
    const cls = BYTE_CLASS[b]
    if (cls === 0) {
      out[o++] = b
    } else if (cls === 1) {
      out[o++] = BACKSLASH
      const short = SHORT_ESCAPE[b]
      if (short !== undefined) {
        out[o++] = short
      } else {
        out[o++] = 0x75 // u
        out[o++] = 0x30
        out[o++] = 0x30
        out[o++] = HEX.charCodeAt(b >> 4)
        out[o++] = HEX.charCodeAt(b & 15)
      }
    } else if (latin1) {
      out[o++] = 0xc0 | (b >> 6)
      out[o++] = 0x80 | (b & 0x3f)
    } else {
      const n = utf8SequenceLength(src, k, to)
      if (n === 0) return -1
      for (let j = 0; j < n; j++) out[o++] = src[k + j] as number
      k += n - 1
    }
  }
  return o
}

/** How many continuation bytes follow a UTF-8 lead byte (0 for an invalid sequence: copyBytes then refuses it). */
export function utf8Tail(src: Buffer, k: number, to: number): number {
  const n = utf8SequenceLength(src, k, to)
  return n > 0 ? n - 1 : 0
}

const isCont = (b: number | undefined): boolean => b !== undefined && (b & 0xc0) === 0x80

/** Length of the valid UTF-8 sequence starting at `k` (lead byte ≥ 0x80) before `to`, or 0 if invalid. */
function utf8SequenceLength(src: Buffer, k: number, to: number): number {
  const b = src[k] as number
  const c1 = k + 1 < to ? src[k + 1] : undefined
  if (b >= 0xc2 && b <= 0xdf) return isCont(c1) ? 2 : 0
  const c2 = k + 2 < to ? src[k + 2] : undefined
  if (b >= 0xe0 && b <= 0xef) {
    if (c1 === undefined || !isCont(c2)) return 0
    if (b === 0xe0) return c1 >= 0xa0 && c1 <= 0xbf ? 3 : 0
    if (b === 0xed) return c1 >= 0x80 && c1 <= 0x9f ? 3 : 0
    return isCont(c1) ? 3 : 0
  }
  const c3 = k + 3 < to ? src[k + 3] : undefined
  if (b >= 0xf0 && b <= 0xf4) {
    if (c1 === undefined || !isCont(c2) || !isCont(c3)) return 0
    if (b === 0xf0) return c1 >= 0x90 && c1 <= 0xbf ? 4 : 0
    if (b === 0xf4) return c1 >= 0x80 && c1 <= 0x8f ? 4 : 0
    return isCont(c1) ? 4 : 0
  }
  return 0
}
