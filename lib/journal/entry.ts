import { isDataOp } from './data-ops.js'
import { parseRecord, type ParsedRecord } from './parse-record.js'
import type { Layout } from '../schema/layout.js'
import { nameRow, type NamedRow, type Row } from '../schema/row.js'

/** How field bytes become strings. `latin1` maps every byte to one code unit. */
export type FieldEncoding = 'utf8' | 'latin1'

/** Where a record stands in its journal. Offsets are byte offsets. */
export interface EntryPosition {
  /** The journal number (N of `journal.N`), or null when unknown. */
  readonly journal: number | null
  /** Offset of the record's first byte. */
  readonly offset: number
  /** Offset just past the record's last byte (its LF). */
  readonly end: number
  /** 1-based number of the record's first physical line. */
  readonly line: number
}

export interface JournalEntryOptions {
  incomplete?: boolean
  encoding?: FieldEncoding
  /** Where the record's bytes start in `source`. Default 0. */
  start?: number
  /** Where they end in `source`. Default `source.length`. */
  end?: number
}

export { isDataOp }

const AT = 0x40

/** Interned two-letter ops, by their two bytes: reading `op` allocates nothing for them. */
const TWO_LETTER_OPS = new Map<number, string>(['pv', 'rv', 'dv', 'vv', 'dl', 'ex', 'mx', 'nx'].map((op) => [(op.charCodeAt(0) << 8) | op.charCodeAt(1), op]))

/**
 * One record of a journal or checkpoint. Framing creates it from a range of
 * the input chunk without copying; `raw`, fields and lines are made only
 * when somebody reads them (a Buffer view costs more than framing a record).
 */
export class JournalEntry {
  readonly position: EntryPosition
  /** True for a trailing record the input ended inside. */
  readonly incomplete: boolean
  /** How `fields`, `table` and `lines` decode bytes. */
  readonly encoding: FieldEncoding
  /** True on the first entry of a journal reached by rotation. */
  didRotate = false
  /**
   * True when this entry ends a consistency point: an `@ex@` after which no
   * process has an open transaction. Set by the rotating source.
   */
  consistent = false

  readonly #source: Buffer
  readonly #start: number
  readonly #end: number
  #raw: Buffer | undefined
  #op: string | undefined
  #parsed: ParsedRecord | undefined
  #bytes: ParsedRecord | undefined
  #named: NamedRow | null | undefined
  #fields: readonly string[] | undefined
  #data: boolean | undefined

  constructor(source: Buffer, position: EntryPosition, options: JournalEntryOptions = {}) {
    this.#source = source
    this.#start = options.start ?? 0
    this.#end = options.end ?? source.length
    this.position = position
    this.incomplete = options.incomplete ?? false
    this.encoding = options.encoding ?? 'utf8'
  }

  /** The exact bytes of the record, including its line terminator. */
  get raw(): Buffer {
    if (this.#raw === undefined) {
      this.#raw = this.#start === 0 && this.#end === this.#source.length ? this.#source : this.#source.subarray(this.#start, this.#end)
    }
    return this.#raw
  }

  /** Length of the record in bytes. */
  get length(): number {
    return this.#end - this.#start
  }

  /** The record decoded with `encoding` (or another), without copying the bytes first. */
  text(encoding: FieldEncoding = this.encoding): string {
    return this.#source.toString(encoding, this.#start, this.#end)
  }

  /** The op without its `@`s: `pv`, `ex`, `nx`, or any other op text. */
  get op(): string {
    if (this.#op === undefined) {
      const src = this.#source
      const s = this.#start
      if (this.#end - s > 3 && src[s + 3] === AT) {
        const known = TWO_LETTER_OPS.get(((src[s + 1] as number) << 8) | (src[s + 2] as number))
        if (known !== undefined) return (this.#op = known)
      }
      // Ops never contain `@`: the op is everything up to the second one.
      const close = src.indexOf(AT, s + 1)
      this.#op = close > s && close < this.#end ? src.toString('latin1', s + 1, close) : ''
    }
    return this.#op
  }

  /** Every value as text decoded with `encoding`, `@@` decoded, op included. */
  get values(): readonly string[] {
    return this.#parse().values
  }

  /** Every value as bytes, `@@` decoded, op included. */
  get valueBytes(): readonly Buffer[] {
    return this.#parseBytes().values.map((v) => Buffer.from(v, 'latin1'))
  }

  /** For each value, whether it was written quoted. */
  get quoted(): readonly boolean[] {
    return this.#parseBytes().quoted
  }

  /** Whether the last value is followed by a space (p4d does this for data and notes). */
  get trailingSpace(): boolean {
    return this.#parseBytes().trailingSpace
  }

  /** The line terminator: `\n`, `\r\n`, or `` for an incomplete record. */
  get eol(): string {
    return this.#parseBytes().eol
  }

  /** The table's schema version for data records, else null. */
  get version(): number | null {
    if (!this.#isData()) return null
    const v = this.#parse().values[1]
    return v === undefined ? null : Number(v)
  }

  /** The table name for data records, else null. */
  get table(): string | null {
    if (!this.#isData()) return null
    return this.#parse().values[2] ?? null
  }

  /** Field values decoded with `encoding`: the row for data records, all after the op otherwise. Bare values keep their text. */
  get fields(): readonly string[] {
    this.#fields ??= this.#parse().values.slice(this.#isData() ? 3 : 1)
    return this.#fields
  }

  /** Field values as bytes (for servers whose text is not UTF-8). */
  get fieldBytes(): readonly Buffer[] {
    return this.valueBytes.slice(this.#isData() ? 3 : 1)
  }

  /**
   * For data records, the row as the schema documents name it: column name
   * → value in column order, integer columns as numbers (text past 2^53
   * stays text), fields no documented layout names under positional names
   * (`field13`, 0-based) after the named ones. Null for other records.
   * Made when first read.
   */
  get row(): Row | null {
    return this.#nameRow()?.row ?? null
  }

  /** For data records of a documented table version, the key columns and their values; else null. */
  get key(): Row | null {
    return this.#nameRow()?.key ?? null
  }

  /** The documented layout `row` uses, or null (not a data record, or an undocumented table version). */
  get layout(): Layout | null {
    return this.#nameRow()?.layout ?? null
  }

  /** The physical lines of the record, without their terminators (the original logDaemon API). */
  get lines(): string[] {
    const text = this.text()
    return text.slice(0, text.length - this.eol.length).split('\n')
  }

  /** A copy of this entry that decodes with another encoding. */
  withEncoding(encoding: FieldEncoding): JournalEntry {
    const e = new JournalEntry(this.#source, this.position, {
      incomplete: this.incomplete,
      encoding,
      start: this.#start,
      end: this.#end,
    })
    e.didRotate = this.didRotate
    e.consistent = this.consistent
    return e
  }

  /** Whether the op is a data op (the record has a version and a table). */
  #isData(): boolean {
    this.#data ??= isDataOp(this.op)
    return this.#data
  }

  #nameRow(): NamedRow | null {
    if (this.#named === undefined) {
      const table = this.table
      const version = this.version
      this.#named = table === null || version === null ? null : nameRow(table, version, this.fields)
    }
    return this.#named
  }

  #parse(): ParsedRecord {
    if (this.#parsed === undefined) {
      this.#parsed = this.encoding === 'latin1' ? this.#parseBytes() : parseRecord(this.text())
    }
    return this.#parsed
  }

  /** Parsed from latin1 text, whose code units are the bytes. */
  #parseBytes(): ParsedRecord {
    this.#bytes ??= parseRecord(this.text('latin1'))
    return this.#bytes
  }
}
