import { parseRecord, type ParsedRecord } from './parse-record.js'

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

/** Ops whose records carry a table version and a table name before the row. */
const DATA_OPS: ReadonlySet<string> = new Set(['pv', 'rv', 'dv', 'put', 'del', 'vv', 'dl'])

export function isDataOp(op: string): boolean {
  return DATA_OPS.has(op)
}

/**
 * One record of a journal or checkpoint. Framing creates it from the exact
 * bytes; fields are parsed and decoded only when somebody reads them.
 */
export class JournalEntry {
  /** The exact bytes of the record, including its line terminator. */
  readonly raw: Buffer
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

  #parsed: ParsedRecord | undefined
  #op: string | undefined
  #fields: string[] | undefined

  constructor(
    raw: Buffer,
    position: EntryPosition,
    options: { incomplete?: boolean; encoding?: FieldEncoding } = {},
  ) {
    this.raw = raw
    this.position = position
    this.incomplete = options.incomplete ?? false
    this.encoding = options.encoding ?? 'utf8'
  }

  /** The op without its `@`s: `pv`, `ex`, `nx`, or any other op text. */
  get op(): string {
    if (this.#op === undefined) {
      // The op is the first quoted field; ops never contain `@`.
      const close = this.raw.indexOf(0x40, 1)
      this.#op = close > 0 ? this.raw.toString('latin1', 1, close) : ''
    }
    return this.#op
  }

  /** Every value of the record as bytes, `@@` decoded, op included. */
  get values(): readonly Buffer[] {
    return this.#parse().values
  }

  /** For each of `values`, whether it was written quoted. */
  get quoted(): readonly boolean[] {
    return this.#parse().quoted
  }

  /** Whether the last field is followed by a space (p4d does this for data and notes). */
  get trailingSpace(): boolean {
    return this.#parse().trailingSpace
  }

  /** The line terminator: `\n`, `\r\n`, or `` for an incomplete record. */
  get eol(): string {
    return this.#parse().eol
  }

  /** The table's schema version for data records, else null. */
  get version(): number | null {
    if (!isDataOp(this.op)) return null
    const v = this.#parse().values[1]
    return v === undefined ? null : Number(v.toString('latin1'))
  }

  /** The table name for data records, else null. */
  get table(): string | null {
    if (!isDataOp(this.op)) return null
    const v = this.#parse().values[2]
    return v === undefined ? null : v.toString(this.encoding)
  }

  /** Field values as bytes: the row for data records, all after the op otherwise. */
  get fieldBytes(): readonly Buffer[] {
    return this.#parse().values.slice(isDataOp(this.op) ? 3 : 1)
  }

  /** Field values decoded with `encoding`. Bare values keep their text. */
  get fields(): readonly string[] {
    if (this.#fields === undefined) {
      const enc = this.encoding
      this.#fields = this.fieldBytes.map((b) => b.toString(enc))
    }
    return this.#fields
  }

  /** The physical lines of the record, without their terminators (the original logDaemon API). */
  get lines(): string[] {
    const body = this.raw.subarray(0, this.raw.length - this.eol.length)
    return body.toString(this.encoding).split('\n')
  }

  /** A copy of this entry read from another encoding. */
  withEncoding(encoding: FieldEncoding): JournalEntry {
    const e = new JournalEntry(this.raw, this.position, { incomplete: this.incomplete, encoding })
    e.didRotate = this.didRotate
    e.consistent = this.consistent
    return e
  }

  #parse(): ParsedRecord {
    this.#parsed ??= parseRecord(this.raw)
    return this.#parsed
  }
}
