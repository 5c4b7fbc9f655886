import type { KeyGate } from './key-gate.js'
import { isUtf8 } from 'node:buffer'
import type { FieldEncoding, JournalEntry } from '../../../journal/entry.js'
import { sqlLayoutOf, type SqlLayout } from './sql-layout.js'
import type { TableFilter } from './table-filter.js'

/** A row change: insert-or-replace (`put`) or delete (`del`) by key. */
export interface RowOp {
  readonly kind: 'put' | 'del'
  readonly layout: SqlLayout
  /** One per layout column: integers as their decimal text, text decoded; null for an empty integer field. */
  readonly values: readonly (string | null)[]
  /** The record's exact bytes when its columns cannot say them (a text field not valid in the encoding, an integer written as `007`), kept in logdaemon_raw; else null. */
  readonly raw: Buffer | null
}

/** A data record the schema cannot name: kept whole in logdaemon_unmapped. */
export interface UnmappedRecord {
  readonly kind: 'unmapped'
  readonly journal: number
  readonly offset: number
  readonly op: string
  readonly table: string
  readonly version: number | null
  /** The row fields as a JSON array of strings (decoded; the bytes are in `raw`). */
  readonly fields: string
  readonly raw: Buffer
  readonly reason: string
}

export type MappedRecord = RowOp | UnmappedRecord

/** Ops that insert or replace a row by key, and ops that delete one. Other ops change no row. */
const PUT_OPS: ReadonlySet<string> = new Set(['pv', 'rv', 'put'])
const DEL_OPS: ReadonlySet<string> = new Set(['dv', 'del'])

/** int64's limits, for fields longer than 15 digits (shorter ones always fit). */
const INT64_MAX = 9223372036854775807n
const INT64_MIN = -9223372036854775808n
/** An integer as p4d writes one: no sign on zero, no leading zero. */
const CANONICAL_RE = /^(?:0|-?[1-9][0-9]*)$/
/** Any decimal integer: one that is not canonical (`007`, `-0`) is stored as its value, and the record's bytes are kept. */
const INTEGER_RE = /^-?[0-9]+$/

const NUL = 0

/**
 * Maps journal records to row changes: the one mapping code path of the
 * listener and the loader, whatever the database.
 *
 * Text: fields are decoded with `encoding`. A record whose bytes are not
 * valid in it (or hold a NUL, which PostgreSQL text cannot store) keeps
 * its text columns decoded with U+FFFD replacement characters and its exact
 * bytes in the `logdaemon_raw` column: nothing is lost. Its text key
 * columns are decoded without loss instead (see {@link decodeKeepingBytes}):
 * two keys that differ only in such bytes stay two rows.
 */
export class RowMapper {
  readonly #filter: TableFilter
  readonly #encoding: FieldEncoding
  /** When set, a record whose layout's key the replica no longer has goes to logdaemon_unmapped (see KeyGate). */
  gate: KeyGate | null = null
  /** A record whose key is longer than the database's index holds goes to logdaemon_unmapped (see {@link keyBytes}). */
  maxKeyBytes: number

  constructor(filter: TableFilter, encoding: FieldEncoding, maxKeyBytes = Number.POSITIVE_INFINITY) {
    this.#filter = filter
    this.#encoding = encoding
    this.maxKeyBytes = maxKeyBytes
  }

  /** The row change of a data record of a kept table, or null for everything else. */
  map(entry: JournalEntry, journal: number): MappedRecord | null {
    const op = entry.op
    const put = PUT_OPS.has(op)
    if (!put && !DEL_OPS.has(op)) return null
    const e = entry.encoding === this.#encoding ? entry : entry.withEncoding(this.#encoding)
    const table = e.table
    // A put or a delete that names no table (a damaged record): kept in logdaemon_unmapped, not dropped.
    if (table === null || !TABLE_NAME.test(table)) return unmapped(e, journal, op, table ?? '', null, [], 'the record names no table')
    if (!this.#filter.has(table)) return null
    const version = e.version
    const raw = e.raw
    const clean = raw.indexOf(NUL) < 0 && (this.#encoding === 'latin1' || (isUtf8(raw) && !hasKeptRange(raw)))
    let fields: readonly string[]
    let fieldBytes: readonly Buffer[] | null = null
    let badBytes = false
    if (clean) {
      fields = e.fields
    } else {
      fieldBytes = e.fieldBytes
      const decoded = decodeFields(fieldBytes, this.#encoding)
      fields = decoded.fields
      badBytes = decoded.bad
    }
    const layout = version === null || !Number.isSafeInteger(version) ? null : sqlLayoutOf(table, version, fields.length)
    if (!layout) return unmapped(e, journal, op, table, version, fields, 'no documented layout for this table version and field count')
    const values = new Array<string | null>(fields.length)
    // An integer written other than canonically keeps the record's bytes too: its column holds the value, not the text.
    let inexact = badBytes
    for (let i = 0; i < fields.length; i++) {
      const v = fields[i] as string
      if (!(layout.columns[i] as { integer: boolean }).integer) values[i] = v
      else if (v === '') values[i] = null
      else if (CANONICAL_RE.test(v) && fitsInt64(v)) values[i] = v
      else if (INTEGER_RE.test(v) && fitsInt64(v)) {
        // Its value, as p4d would write it: a column widened to text stores what it is given (SQLite kept `0043`, PostgreSQL 43).
        values[i] = BigInt(v).toString()
        inexact = true
      } else return unmapped(e, journal, op, table, version, fields, `field ${layout.columns[i]?.name} is not a 64-bit integer`)
    }
    for (const k of layout.keyIndex) {
      if (values[k] === null) return unmapped(e, journal, op, table, version, fields, `key field ${layout.columns[k]?.name} is empty`)
      // A probe: keys k\xff, k\xfe and k\x00 all read k\uFFFD, and three rows became one.
      if (fieldBytes && !(layout.columns[k] as { integer: boolean }).integer) values[k] = decodeKeepingBytes(fieldBytes[k] as Buffer, this.#encoding)
    }
    // A key can be longer than its record only by decoding (a byte as up to 3 in UTF-8): short records need no count.
    if (raw.length * 3 > this.maxKeyBytes) {
      const n = keyBytes(layout, values)
      if (n > this.maxKeyBytes) {
        return unmapped(e, journal, op, table, version, fields, `its key is ${n} bytes, more than the database's index holds (${this.maxKeyBytes})`)
      }
    }
    const refused = this.gate?.admit(layout) ?? null
    if (refused !== null) return unmapped(e, journal, op, table, version, fields, refused)
    return { kind: put ? 'put' : 'del', layout, values, raw: inexact ? Buffer.from(raw) : null }
  }
}

/**
 * A row's key as an index entry counts it, about: each text key column's
 * UTF-8 bytes and 4 more (its length), 8 for each integer key column.
 */
export function keyBytes(layout: SqlLayout, values: readonly (string | null)[]): number {
  let n = 0
  for (const k of layout.keyIndex) {
    const v = values[k]
    n += (layout.columns[k] as { integer: boolean }).integer ? 8 : 4 + (v === null || v === undefined ? 0 : Buffer.byteLength(v))
  }
  return n
}

/** What a journal table is called: `db.rev`, `db.have.rp`, `rdb.lbr`. */
const TABLE_NAME = /^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+$/

/** Whether a decimal integer's text fits in 64 bits. */
function fitsInt64(v: string): boolean {
  if (v.length <= 15) return true
  const n = BigInt(v)
  return n <= INT64_MAX && n >= INT64_MIN
}

/** Decodes each field; a field with a NUL or bytes invalid in the encoding gets U+FFFD for them. */
function decodeFields(bytes: readonly Buffer[], encoding: FieldEncoding): { fields: string[]; bad: boolean } {
  let bad = false
  const fields = bytes.map((b) => {
    const ok = b.indexOf(NUL) < 0 && (encoding === 'latin1' || (isUtf8(b) && !hasKeptRange(b)))
    if (ok) return b.toString(encoding)
    bad = true
    return b.toString(encoding).replaceAll('\0', '\uFFFD')
  })
  return { fields, bad }
}

/** The private-use code point a byte stands for in a key ({@link decodeKeepingBytes}). */
export const KEPT_BYTE_BASE = 0xf700

/**
 * Whether UTF-8 bytes hold a character of U+F700–U+F7FF (EF 9C 80 to
 * EF 9F BF), which a key decoded by {@link decodeKeepingBytes} uses for
 * kept bytes: such a key is written byte by byte too.
 */
function hasKeptRange(b: Buffer): boolean {
  for (let i = b.indexOf(0xef); i >= 0 && i + 1 < b.length; i = b.indexOf(0xef, i + 1)) {
    const next = b[i + 1] as number
    if (next >= 0x9c && next <= 0x9f) return true
  }
  return false
}

/**
 * Decodes a text key without losing a byte: valid text as itself, and each
 * NUL or byte not part of a valid sequence in `encoding` as one private-use
 * character, U+F700 plus the byte (U+F7FF for 0xFF). Keys that differ in
 * such bytes stay distinct; the record's exact bytes are in `logdaemon_raw`.
 * A character of that range in valid UTF-8 is written the same way, each of
 * its 3 bytes (U+F7FF, EF 9F BF, is U+F7EF U+F79F U+F7BF): else the key
 * `k` + U+F7FF and the key `k` + byte 0xFF read the same, and one row
 * replaced the other (a probe). So every U+F7xx in a key stands for a byte.
 */
export function decodeKeepingBytes(b: Buffer, encoding: FieldEncoding): string {
  let out = ''
  let from = 0
  const keep = (i: number, n: number): void => {
    out += b.toString(encoding, from, i)
    for (let j = i; j < i + n; j++) out += String.fromCharCode(KEPT_BYTE_BASE + (b[j] as number))
    from = i + n
  }
  for (let i = 0; i < b.length; ) {
    const c = b[i] as number
    if (c === NUL) keep(i, 1)
    if (c < 0x80 || encoding === 'latin1') {
      i++
      continue
    }
    const n = utf8SequenceLength(b, i)
    if (n === 0) keep(i, 1)
    else if (c === 0xef && (b[i + 1] as number) >= 0x9c && (b[i + 1] as number) <= 0x9f) keep(i, 3)
    i += n || 1
  }
  return from === 0 ? b.toString(encoding) : out + b.toString(encoding, from)
}

/** The length of the valid UTF-8 sequence at `i` (a byte at or above 0x80 starts it), or 0 when there is none. */
function utf8SequenceLength(b: Buffer, i: number): number {
  const c = b[i] as number
  const cont = (j: number, lo = 0x80, hi = 0xbf): boolean => j < b.length && (b[j] as number) >= lo && (b[j] as number) <= hi
  if (c >= 0xc2 && c <= 0xdf) return cont(i + 1) ? 2 : 0
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80
    const hi = c === 0xed ? 0x9f : 0xbf
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80
    const hi = c === 0xf4 ? 0x8f : 0xbf
    return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0
  }
  return 0
}

function unmapped(
  e: JournalEntry,
  journal: number,
  op: string,
  table: string,
  version: number | null,
  fields: readonly string[],
  reason: string,
): UnmappedRecord {
  return {
    kind: 'unmapped',
    journal,
    offset: e.position.offset,
    op,
    // Nor may the table name: a damaged one (`db.cou\0nters`) is kept with U+FFFD there, as a text column is (a probe:
    // PostgreSQL refused it, and every commit, and every load, failed on it). The exact bytes are in `raw`.
    table: table.includes('\0') ? table.replaceAll('\0', '\uFFFD') : table,
    version: version !== null && Number.isSafeInteger(version) ? version : null,
    // No field holds a NUL (PostgreSQL text cannot): map() decoded any record with one through decodeFields.
    fields: JSON.stringify(fields),
    raw: Buffer.from(e.raw),
    reason,
  }
}
