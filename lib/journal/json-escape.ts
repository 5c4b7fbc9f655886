/**
 * Record bytes to JSON string content, written straight into an output
 * Buffer: what both byte writers (JsonLineWriter, RowLineWriter) share. The
 * output is exactly what JSON.stringify gives for the value decoded as
 * JournalEntry decodes it:
 *
 * - `"`, `\` and bytes below 0x20 are escaped as JSON.stringify escapes them
 *   (`\b \t \n \f \r`, else `\u00xx` in lower-case hex); DEL and everything
 *   else stays as it is;
 * - latin1: a byte from 0x80 up is one character, written as its two UTF-8
 *   bytes;
 * - UTF-8: a valid sequence is copied as it is; an invalid one becomes
 *   U+FFFD for each maximal subpart, as Buffer#toString (the WHATWG decoder)
 *   replaces it. Continuation bytes are never ASCII, so a sequence never
 *   runs over `@`, a space or a line end, and decoding value by value gives
 *   what decoding the whole record gives.
 *
 * Every loop is over bytes with table look-ups: for records of about 100
 * bytes a native call per value (indexOf, copy) costs more than the copy.
 */

const AT = 0x40
const SP = 0x20
const QUOTE = 0x22
const BACKSLASH = 0x5c

/** Byte classes. */
const PLAIN = 0
const ESCAPE = 1
const HIGH = 2
const AT_SIGN = 3
const SPACE = 4

/** The class of each byte inside a quoted value (a space is plain there). */
const QUOTED_CLASS = new Uint8Array(256)
/** The class of each byte of a bare value (a space ends it). */
const BARE_CLASS = new Uint8Array(256)
for (const table of [QUOTED_CLASS, BARE_CLASS]) {
  for (let b = 0; b < 0x20; b++) table[b] = ESCAPE
  table[QUOTE] = ESCAPE
  table[BACKSLASH] = ESCAPE
  for (let b = 0x80; b < 0x100; b++) table[b] = HIGH
  table[AT] = AT_SIGN
}
BARE_CLASS[SP] = SPACE

/** Whether a byte can be copied to a JSON string as it is (ASCII, no escape). */
export const JSON_PLAIN = new Uint8Array(256)
for (let b = 0x20; b < 0x80; b++) JSON_PLAIN[b] = b === QUOTE || b === BACKSLASH ? 0 : 1

/** The escape of each byte that needs one, 6 bytes a byte (`\n` and the like use the first 2). */
const ESCAPES = new Uint8Array(256 * 6)
const ESCAPE_LENGTH = new Uint8Array(256)
{
  const HEX = '0123456789abcdef'
  const SHORT: Record<number, string> = { 0x08: 'b', 0x09: 't', 0x0a: 'n', 0x0c: 'f', 0x0d: 'r', 0x22: '"', 0x5c: '\\' }
  for (let b = 0; b < 256; b++) {
    if (QUOTED_CLASS[b] !== ESCAPE) continue
    const text = SHORT[b] !== undefined ? `\\${SHORT[b]}` : `\\u00${HEX[b >> 4]}${HEX[b & 15]}`
    for (let k = 0; k < text.length; k++) ESCAPES[b * 6 + k] = text.charCodeAt(k)
    ESCAPE_LENGTH[b] = text.length
  }
}

/**
 * Where the last copyQuoted / copyBare stopped in the source: just past a
 * quoted value's closing `@`, or at the space or end after a bare value.
 * (A second return value, without an allocation per value.)
 */
export const scan = { end: 0 }

/**
 * DataViews over the last source and output buffers, for reading and
 * writing four bytes at a time (unaligned). Kept for the next value: the
 * same chunk and output buffer serve many records.
 */
let srcBytes: Uint8Array | null = null
let srcView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0))
let outBytes: Uint8Array | null = null
let outView = srcView

function viewOfSrc(src: Uint8Array): DataView {
  if (src !== srcBytes) {
    srcBytes = src
    srcView = new DataView(src.buffer, src.byteOffset, src.byteLength)
  }
  return srcView
}

export function viewOfOut(out: Uint8Array): DataView {
  if (out !== outBytes) {
    outBytes = out
    outView = new DataView(out.buffer, out.byteOffset, out.byteLength)
  }
  return outView
}

/*
 * Four bytes at a time: a word is copied as it is when none of its bytes is
 * special. The tests are the classic SWAR ones (bit 7 of a byte of
 * `(w - 0x01010101 * n) & ~w` is set for a byte below n, n <= 0x80; `w ^ c`
 * has a zero byte where w has the byte c). They may flag a plain byte next
 * to a special one but never miss a special one; a flagged word is done
 * byte by byte.
 */
const HIGH_BITS = 0x80808080 | 0
const ONES = 0x01010101
const BELOW_SPACE = 0x20202020
const BELOW_BANG = 0x21212121
const QUOTES = 0x22222222
const BACKSLASHES = 0x5c5c5c5c
const ATS = 0x40404040

/** Whether a word of a quoted value has a byte other than plain ASCII (below 0x20, `"`, `\`, `@`, 0x80 up). */
function quotedWordSpecial(w: number): boolean {
  const q = w ^ QUOTES
  const b = w ^ BACKSLASHES
  const a = w ^ ATS
  return ((((w - BELOW_SPACE) & ~w) | w | ((q - ONES) & ~q) | ((b - ONES) & ~b) | ((a - ONES) & ~a)) & HIGH_BITS) !== 0
}

/** Whether a word of a bare value has a byte other than plain ASCII (a space too). */
function bareWordSpecial(w: number): boolean {
  const q = w ^ QUOTES
  const b = w ^ BACKSLASHES
  const a = w ^ ATS
  return ((((w - BELOW_BANG) & ~w) | w | ((q - ONES) & ~q) | ((b - ONES) & ~b) | ((a - ONES) & ~a)) & HIGH_BITS) !== 0
}

/**
 * Copies the content of the quoted value whose first content byte is
 * `src[k]` (just after the opening `@`) as JSON string content, `@@` as one
 * `@`, up to the first `@` that is not doubled. Returns the new output
 * offset and sets scan.end past the closing `@`; -1 when no closing `@`
 * comes before `stop` (`src[stop]` must exist and be a CR or LF: the
 * record's line end).
 */
export function copyQuoted(src: Uint8Array, k: number, stop: number, out: Uint8Array, o: number, latin1: boolean): number {
  const sv = viewOfSrc(src)
  const ov = viewOfOut(out)
  for (;;) {
    while (k + 4 <= stop) {
      const w = sv.getInt32(k, true)
      if (quotedWordSpecial(w)) break
      ov.setInt32(o, w, true)
      k += 4
      o += 4
    }
    // Plain bytes up to the special one (src[stop] is a line end: it stops this).
    let b = src[k] as number
    while (QUOTED_CLASS[b] === PLAIN) {
      out[o++] = b
      b = src[++k] as number
    }
    if (k >= stop) return -1
    const c = QUOTED_CLASS[b]
    if (c === AT_SIGN) {
      if (src[k + 1] !== AT) break
      out[o++] = AT
      k += 2
    } else if (c === ESCAPE) {
      o = writeEscape(out, o, b)
      k++
    } else if (latin1) {
      out[o++] = 0xc0 | (b >> 6)
      out[o++] = 0x80 | (b & 0x3f)
      k++
    } else {
      o = copyUtf8(src, k, stop, out, o)
      k = scan.end
    }
  }
  scan.end = k + 1
  return o
}

/**
 * Copies the bare value starting at `src[k]` up to the next space or `stop`
 * as JSON string content. Returns the new output offset and sets scan.end
 * to where it stopped; -1 for an `@` inside it (an odd record, left to the
 * general parser). `src[stop]` must exist and be a CR or LF.
 */
export function copyBare(src: Uint8Array, k: number, stop: number, out: Uint8Array, o: number, latin1: boolean): number {
  const sv = viewOfSrc(src)
  const ov = viewOfOut(out)
  for (;;) {
    while (k + 4 <= stop) {
      const w = sv.getInt32(k, true)
      if (bareWordSpecial(w)) break
      ov.setInt32(o, w, true)
      k += 4
      o += 4
    }
    let b = src[k] as number
    while (BARE_CLASS[b] === PLAIN) {
      out[o++] = b
      b = src[++k] as number
    }
    if (k >= stop) break
    const c = BARE_CLASS[b]
    if (c === SPACE) {
      break
    } else if (c === ESCAPE) {
      o = writeEscape(out, o, b)
      k++
    } else if (c === AT_SIGN) {
      return -1
    } else if (latin1) {
      out[o++] = 0xc0 | (b >> 6)
      out[o++] = 0x80 | (b & 0x3f)
      k++
    } else {
      o = copyUtf8(src, k, stop, out, o)
      k = scan.end
    }
  }
  scan.end = k
  return o
}

function writeEscape(out: Uint8Array, o: number, b: number): number {
  const n = ESCAPE_LENGTH[b] as number
  const at = b * 6
  out[o++] = BACKSLASH
  out[o++] = ESCAPES[at + 1] as number
  if (n === 6) {
    // u00 and two hex digits
    out[o++] = 0x30
    out[o++] = 0x30
    out[o++] = ESCAPES[at + 4] as number
    out[o++] = ESCAPES[at + 5] as number
  }
  return o
}

const isCont = (b: number): boolean => (b & 0xc0) === 0x80

/**
 * Copies the UTF-8 sequence whose lead byte (0x80 or above) is `src[k]`,
 * bytes before `to`: as it is when valid, else U+FFFD (EF BF BD) for its
 * maximal subpart (the WHATWG decoder's rule, which Buffer#toString follows).
 * Sets scan.end past what it took.
 */
export function copyUtf8(src: Uint8Array, k: number, to: number, out: Uint8Array, o: number): number {
  const b = src[k] as number
  // How many continuation bytes the lead byte asks for, and the bounds of the first one.
  let need = 0
  let lo = 0x80
  let hi = 0xbf
  if (b >= 0xc2 && b <= 0xdf) {
    need = 1
  } else if (b >= 0xe0 && b <= 0xef) {
    need = 2
    if (b === 0xe0) lo = 0xa0
    else if (b === 0xed) hi = 0x9f
  } else if (b >= 0xf0 && b <= 0xf4) {
    need = 3
    if (b === 0xf0) lo = 0x90
    else if (b === 0xf4) hi = 0x8f
  }
  let taken = 1
  if (need > 0) {
    const c1 = k + 1 < to ? (src[k + 1] as number) : -1
    if (c1 >= lo && c1 <= hi) {
      taken = 2
      while (taken <= need && k + taken < to && isCont(src[k + taken] as number)) taken++
    }
  }
  if (need > 0 && taken === need + 1) {
    for (let j = 0; j < taken; j++) out[o++] = src[k + j] as number
  } else {
    out[o++] = 0xef
    out[o++] = 0xbf
    out[o++] = 0xbd
  }
  scan.end = k + taken
  return o
}

/**
 * Bytes written often (the fixed pieces of a line, names), padded to whole
 * words so they are copied four bytes at a time.
 */
export interface Piece {
  readonly length: number
  readonly view: DataView
}

export function piece(content: string | Uint8Array): Piece {
  const bytes = typeof content === 'string' ? Buffer.from(content) : content
  const padded = new Uint8Array((bytes.length + 3) & ~3)
  padded.set(bytes)
  return { length: bytes.length, view: new DataView(padded.buffer) }
}

/**
 * Writes a piece. It may write up to 3 bytes past its end (garbage the next
 * write covers): the writers reserve room for that (worstCase() has 256
 * bytes to spare).
 */
export function writePiece(out: Uint8Array, o: number, p: Piece): number {
  const ov = viewOfOut(out)
  const v = p.view
  const n = p.length
  for (let k = 0; k < n; k += 4) ov.setInt32(o + k, v.getInt32(k, true), true)
  return o + n
}

/** Copies `out[a..b)` to `out[o..)`, `o >= b` (a value written earlier), four bytes at a time; may write 3 bytes past the end, as writePiece. */
export function copyWritten(out: Uint8Array, a: number, b: number, o: number): number {
  const ov = viewOfOut(out)
  for (let k = a; k < b; k += 4) ov.setInt32(o + k - a, ov.getInt32(k, true), true)
  return o + b - a
}
