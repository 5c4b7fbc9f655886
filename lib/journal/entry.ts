import { isDataOp } from './data-ops.js'
import { countValues, fieldRange, parseRecord, splitFields, type ParsedRecord, type SplitRecord } from './parse-record.js'
import type { Layout } from '../schema/layout.js'
import { nameRow, type NamedRow, type Row } from '../schema/row.js'
import { isExactInteger } from '../schema/typed-value.js'

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
const SP = 0x20
const LF = 0x0a
const CR = 0x0d
/** A version longer than this is left to the full split (p4d's are one or two digits). */
const MAX_VERSION_BYTES = 20

/** Interned two-letter ops, by their two bytes: reading `op` allocates nothing for them. */
const TWO_LETTER_OPS = new Map<number, string>(['pv', 'rv', 'dv', 'vv', 'dl', 'ex', 'mx', 'nx'].map((op) => [(op.charCodeAt(0) << 8) | op.charCodeAt(1), op]))

/** Bits of JournalEntry's flags. */
const INCOMPLETE = 1
const LATIN1 = 2
const DID_ROTATE = 4
const CONSISTENT = 8

/** What an entry decodes when first asked, kept apart so that framing allocates none of it. */
class Decoded {
  raw: Buffer | undefined = undefined
  parsed: ParsedRecord | undefined = undefined
  bytes: ParsedRecord | undefined = undefined
  named: NamedRow | null | undefined = undefined
  split: SplitRecord | undefined = undefined
  data: boolean | undefined = undefined
  /** A data record's version and table text read from its bytes (#quickHead); null when its shape needs the full split. */
  head: readonly [version: string, table: string] | null | undefined = undefined
}

/**
 * One record of a journal or checkpoint. Framing creates it from a range of
 * the input chunk without copying; `raw`, fields and lines are made only
 * when somebody reads them (a Buffer view costs more than framing a record).
 * An entry holds little more than its position and where its bytes are:
 * the flags are bits, and what decoding makes lives in one object made on
 * first use (framing makes an entry for every record, most never decoded).
 */
export class JournalEntry {
  readonly position: EntryPosition

  readonly #source: Buffer
  readonly #start: number
  readonly #end: number
  /** INCOMPLETE, LATIN1, DID_ROTATE, CONSISTENT. */
  #flags: number
  #op: string | undefined = undefined
  #decoded: Decoded | undefined = undefined

  constructor(source: Buffer, position: EntryPosition, options?: JournalEntryOptions) {
    this.#source = source
    this.position = position
    if (options === undefined) {
      this.#start = 0
      this.#end = source.length
      this.#flags = 0
    } else {
      this.#start = options.start ?? 0
      this.#end = options.end ?? source.length
      this.#flags = (options.incomplete === true ? INCOMPLETE : 0) | (options.encoding === 'latin1' ? LATIN1 : 0)
    }
  }

  /** True for a trailing record the input ended inside. */
  get incomplete(): boolean {
    return (this.#flags & INCOMPLETE) !== 0
  }

  /** How `fields`, `table` and `lines` decode bytes. */
  get encoding(): FieldEncoding {
    return (this.#flags & LATIN1) !== 0 ? 'latin1' : 'utf8'
  }

  /** True on the first entry of a journal reached by rotation. */
  get didRotate(): boolean {
    return (this.#flags & DID_ROTATE) !== 0
  }

  set didRotate(value: boolean) {
    this.#flags = value ? this.#flags | DID_ROTATE : this.#flags & ~DID_ROTATE
  }

  /**
   * True when this entry ends a consistency point: an `@ex@` after which no
   * process has an open transaction. Set by the rotating source.
   */
  get consistent(): boolean {
    return (this.#flags & CONSISTENT) !== 0
  }

  set consistent(value: boolean) {
    this.#flags = value ? this.#flags | CONSISTENT : this.#flags & ~CONSISTENT
  }

  get #d(): Decoded {
    this.#decoded ??= new Decoded()
    return this.#decoded
  }

  /** The exact bytes of the record, including its line terminator. */
  get raw(): Buffer {
    const d = this.#d
    d.raw ??= this.#start === 0 && this.#end === this.#source.length ? this.#source : this.#source.subarray(this.#start, this.#end)
    return d.raw
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
      const end = this.#end
      // `@pv@` and the like, unless an `@@` follows (`@pv@@x@` is the op `pv@x`).
      if (end - s > 3 && src[s + 3] === AT && (s + 4 >= end || src[s + 4] !== AT)) {
        const known = TWO_LETTER_OPS.get(((src[s + 1] as number) << 8) | (src[s + 2] as number))
        if (known !== undefined) return (this.#op = known)
      }
      // The op is everything up to the second `@`, when that one closes it and the op is ASCII (as p4d's are);
      // else (an `@@` escape in the op, bytes to decode with the encoding) the op is the first value, as parsed.
      const close = src.indexOf(AT, s + 1)
      if (close <= s || close >= end) return (this.#op = '')
      let plain = close + 1 >= end || src[close + 1] !== AT
      for (let k = s + 1; plain && k < close; k++) if ((src[k] as number) >= 0x80) plain = false
      this.#op = plain ? src.toString('latin1', s + 1, close) : (this.values[0] ?? '')
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
    const head = this.#d.split === undefined ? this.#quickHead() : null
    const v = head ? head[0] : this.#split().head[1]
    return v === undefined ? null : Number(v)
  }

  /** The table name for data records, else null. */
  get table(): string | null {
    if (!this.#isData()) return null
    const head = this.#d.split === undefined ? this.#quickHead() : null
    return head ? head[1] : (this.#split().head[2] ?? null)
  }

  /** Field values decoded with `encoding`: the row for data records, all after the op otherwise. Bare values keep their text. */
  get fields(): readonly string[] {
    return this.#split().fields
  }

  /**
   * How many fields `fields` holds, counted without making them when the
   * record has the common shape (a summary counts every record's fields).
   */
  get fieldCount(): number {
    const d = this.#d
    if (d.split === undefined && d.parsed === undefined) {
      // Latin-1 text has the record's structure (`@`, space, CR, LF are ASCII) in one byte a character.
      const values = countValues(this.text('latin1'))
      if (values >= 0) return values - (this.#isData() ? 3 : 1)
    }
    return this.fields.length
  }

  /**
   * The first `n` fields (all of them when it has fewer) and how many the
   * record has, the others not made when the record has the common shape:
   * a filter reads a column or two of a record that may hold millions of
   * fields (30 M fields made 30 M strings, ~820 MB, for one `--where`).
   */
  fieldsUpTo(n: number): { fields: readonly string[]; count: number } {
    const range = this.#fieldRange(n, null)
    if (range === null) {
      const fields = this.fields
      return { fields, count: fields.length }
    }
    // All of them (the usual record): kept, as `fields` would keep them, for whatever reads them next.
    if (range.fields.length === range.count) this.#d.split = { head: range.head, fields: range.fields }
    return { fields: range.fields, count: range.count }
  }

  /**
   * Fields at these indexes (from 0; undefined past the last), in one pass
   * that makes only them when the record has the common shape (see fieldsUpTo).
   */
  fieldsAt(indexes: readonly number[]): (string | undefined)[] {
    const wanted = [...new Set(indexes)].filter((i) => Number.isInteger(i) && i >= 0).sort((a, b) => a - b)
    const { values } = this.pickFields(wanted)
    // The values came in `wanted`'s order.
    const at = new Map(wanted.map((i, k) => [i, values[k]]))
    return indexes.map((i) => at.get(i))
  }

  /**
   * The fields at `sorted` (ascending indexes from 0, no repeats: undefined
   * past the last) and how many fields the record has, in one pass that
   * makes only those when the record has the common shape: what `--where`
   * reads of each record (an empty `sorted` only counts).
   */
  pickFields(sorted: readonly number[]): { values: (string | undefined)[]; count: number } {
    for (let k = 0; k < sorted.length; k++) {
      const i = sorted[k] as number
      if (!Number.isSafeInteger(i) || i < 0 || (k > 0 && i <= (sorted[k - 1] as number))) {
        throw new RangeError(`pickFields wants ascending field indexes without repeats, got [${sorted.join(', ')}]`)
      }
    }
    const range = this.#fieldRange(sorted.length === 0 ? 0 : (sorted.at(-1) as number) + 1, sorted)
    if (range === null) {
      const fields = this.fields
      return { values: sorted.map((i) => fields[i]), count: fields.length }
    }
    const values: (string | undefined)[] = range.fields
    // As far as the record went: the rest are past its last field.
    for (let k = values.length; k < sorted.length; k++) values.push(undefined)
    return { values, count: range.count }
  }

  /** Field `i` (from 0), or undefined past the last, made alone when the record has the common shape. */
  field(i: number): string | undefined {
    return Number.isSafeInteger(i) && i >= 0 ? this.pickFields([i]).values[0] : undefined
  }

  /** The first `keep` fields of a record in the common shape, or only those in `pick`, when its fields have not been made. */
  #fieldRange(keep: number, pick: readonly number[] | null): (SplitRecord & { count: number }) | null {
    const d = this.#d
    if (d.split !== undefined || d.parsed !== undefined) return null
    return fieldRange(this.text(), this.#isData() ? 3 : 1, keep, pick)
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

  /**
   * Whether the record reads as data: a data op, and a version written as
   * an integer the way p4d writes it (isExactInteger). A version such as
   * `x1`, `007` or `9007199254740993` has no number that keeps its bytes
   * (Number() read them as NaN, 7 and 9007199254740992): such a record is
   * generic, its version and table among the fields, like an unknown op.
   */
  #isData(): boolean {
    const d = this.#d
    if (d.data === undefined) {
      // Provisional, so that #split takes the version and table apart.
      d.data = isDataOp(this.op)
      if (d.data) {
        const head = this.#quickHead()
        const version = head ? head[0] : this.#split().head[1]
        if (version !== undefined && !isExactInteger(version)) {
          d.data = false
          d.split = undefined
        }
      }
    }
    return d.data
  }

  /**
   * A data op's version and table text read from the record's bytes alone,
   * when it has p4d's shape there: `@op@ VERSION @TABLE@` followed by a
   * space or the line end (VERSION bare, TABLE quoted, `@@` an `@`); null
   * for any other shape, which the full split then reads as it always did.
   * So `table` and `version` (a --table filter, a summary) cost a few bytes
   * instead of splitting and decoding every field: `logdaemon-cat --table
   * db.rev` on 200 MB took 1.7 s against 0.6 s without the filter.
   */
  #quickHead(): readonly [string, string] | null {
    const d = this.#d
    if (d.head !== undefined) return d.head
    d.head = null
    const src = this.#source
    const end = this.#end
    // The source may be a chunk of many records: every search is checked against this record's end.
    const opClose = src.indexOf(AT, this.#start + 1)
    if (opClose < 0 || opClose + 2 >= end || src[opClose + 1] !== SP) return null
    const v0 = opClose + 2
    const limit = Math.min(end, v0 + MAX_VERSION_BYTES + 1)
    let v1 = v0
    for (; v1 < limit; v1++) {
      const b = src[v1]
      if (b === SP) break
      if (b === AT || b === LF || b === CR) return null
    }
    if (v1 === v0 || v1 + 1 >= end || src[v1] !== SP || src[v1 + 1] !== AT) return null
    const t0 = v1 + 2
    let close = src.indexOf(AT, t0)
    let escaped = false
    while (close >= 0 && close + 1 < end && src[close + 1] === AT) {
      escaped = true
      close = src.indexOf(AT, close + 2)
    }
    if (close < 0 || close + 1 >= end) return null
    const after = src[close + 1]
    if (after !== SP && after !== LF && !(after === CR && close + 2 < end && src[close + 2] === LF)) return null
    const encoding = this.encoding
    const table = src.toString(encoding, t0, close)
    d.head = [src.toString(encoding, v0, v1), escaped ? table.replaceAll('@@', '@') : table]
    return d.head
  }

  #nameRow(): NamedRow | null {
    const d = this.#d
    if (d.named === undefined) {
      const table = this.table
      const version = this.version
      d.named = table === null || version === null ? null : nameRow(table, version, this.fields)
    }
    return d.named
  }

  /** The values split into the head (op, and version and table for data records) and the fields. */
  #split(): SplitRecord {
    const d = this.#d
    if (d.split === undefined) {
      const skip = this.#isData() ? 3 : 1
      if (d.parsed === undefined) {
        d.split = splitFields(this.text(), skip)
      } else {
        const values = d.parsed.values
        d.split = { head: values.slice(0, skip), fields: values.slice(skip) }
      }
    }
    return d.split
  }

  #parse(): ParsedRecord {
    const d = this.#d
    d.parsed ??= (this.#flags & LATIN1) !== 0 ? this.#parseBytes() : parseRecord(this.text())
    return d.parsed
  }

  /** Parsed from latin1 text, whose code units are the bytes. */
  #parseBytes(): ParsedRecord {
    const d = this.#d
    d.bytes ??= parseRecord(this.text('latin1'))
    return d.bytes
  }
}
