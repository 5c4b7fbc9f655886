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
 * bytes in the `logdaemon_raw` column: nothing is lost.
 */
export class RowMapper {
  readonly #filter: TableFilter
  readonly #encoding: FieldEncoding

  constructor(filter: TableFilter, encoding: FieldEncoding) {
    this.#filter = filter
    this.#encoding = encoding
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
    const clean = raw.indexOf(NUL) < 0 && (this.#encoding === 'latin1' || isUtf8(raw))
    let fields: readonly string[]
    let badBytes = false
    if (clean) {
      fields = e.fields
    } else {
      const decoded = decodeFields(e.fieldBytes, this.#encoding)
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
        values[i] = v
        inexact = true
      } else return unmapped(e, journal, op, table, version, fields, `field ${layout.columns[i]?.name} is not a 64-bit integer`)
    }
    for (const k of layout.keyIndex) {
      if (values[k] === null) return unmapped(e, journal, op, table, version, fields, `key field ${layout.columns[k]?.name} is empty`)
    }
    return { kind: put ? 'put' : 'del', layout, values, raw: inexact ? Buffer.from(raw) : null }
  }
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
    const ok = b.indexOf(NUL) < 0 && (encoding === 'latin1' || isUtf8(b))
    if (ok) return b.toString(encoding)
    bad = true
    return b.toString(encoding).replaceAll('\0', '\uFFFD')
  })
  return { fields, bad }
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
    table,
    version: version !== null && Number.isSafeInteger(version) ? version : null,
    // No field holds a NUL (PostgreSQL text cannot): map() decoded any record with one through decodeFields.
    fields: JSON.stringify(fields),
    raw: Buffer.from(e.raw),
    reason,
  }
}
