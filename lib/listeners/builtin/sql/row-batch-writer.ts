import type { FieldEncoding } from '../../../journal/entry.js'
import { JournalEntry } from '../../../journal/entry.js'
import { LineBuffer } from '../../../journal/line-buffer.js'
import type { ColumnSpec, SqlValue } from './sql-adapter.js'
import type { SqlLayout } from './sql-layout.js'
import { RowMapper, type UnmappedRecord } from './row-mapper.js'
import { TableFilter } from './table-filter.js'

/**
 * How a batch's values are written: `copy`, PostgreSQL's COPY text format
 * (the payload goes to `COPY … FROM STDIN` as it is); `values`, each value
 * tagged and length-prefixed, an integer column's short ones as float64s
 * (SQLite binds them: see {@link readValues}).
 */
export type RowPayload = 'copy' | 'values'

/** What a thread needs to map records to rows: the same for every thread of a load. */
export interface RowBatchOptions {
  payload: RowPayload
  tables: readonly string[]
  exclude: readonly string[]
  encoding: FieldEncoding
  /** The journal the records belong to (checkpoint.N: N). */
  journal: number
  /** The database's longest key (SqlAdapter.maxKeyBytes); a longer one's record goes to logdaemon_unmapped. Default: no limit. */
  maxKeyBytes?: number
}

/** A segment's kind: rows of one layout, or records for logdaemon_unmapped. */
export const SEGMENT_ROWS = 1
export const SEGMENT_UNMAPPED = 2

/** Rows of one segment at most: the loader's bulk calls stay as small as they were (one call per segment). */
export const SEGMENT_ROWS_MAX = 500
/** And at most about this many bytes of payload (large records: 500 of 10 KB would be 5 MB). */
export const SEGMENT_BYTES_MAX = 256 * 1024

/** A `values` payload's tags. */
const NULL_TAG = 0
const TEXT_TAG = 1
const BYTES_TAG = 2
const ASCII_TAG = 3
/** An integer column's value as a float64 (LE): see {@link exactNumber}. */
const NUMBER_TAG = 4

const TAB = 0x09
const LF = 0x0a

/** Segment header: kind (1), rows (4), id length (2); then the id, then the payload length (4). */
const HEAD_BYTES = 7

/** The columns of logdaemon_unmapped, in the order of {@link unmappedRow}. */
export const UNMAPPED_COLUMNS: readonly ColumnSpec[] = [
  { name: 'source', type: 'text' },
  { name: 'journal', type: 'integer' },
  { name: 'offset', type: 'integer' },
  { name: 'op', type: 'text' },
  { name: 'table_name', type: 'text' },
  { name: 'version', type: 'integer' },
  { name: 'fields', type: 'text' },
  { name: 'raw', type: 'bytes' },
  { name: 'reason', type: 'text' },
]

/** The columns a load inserts into a layout's table: its columns, then logdaemon_raw. */
export function bulkColumnsOf(l: SqlLayout): ColumnSpec[] {
  return l.insertColumns.map((name, i) => ({ name, type: i === l.columns.length ? 'bytes' : l.columns[i]?.integer ? 'integer' : 'text' }))
}

/**
 * Maps checkpoint records to the rows a load inserts, and writes them as
 * segments into one Buffer per batch: rows of one table layout (a segment
 * ends where the layout changes, or at {@link SEGMENT_ROWS_MAX} rows or
 * {@link SEGMENT_BYTES_MAX} bytes), and the records for logdaemon_unmapped
 * gathered into segments of their own, written at the same bounds and at
 * the end of the batch (their order among themselves is the file's; their
 * place among other tables' rows does not matter). The same
 * code runs in a load's worker threads and, for one thread, in the loader
 * itself, so both load the same rows. Read a batch with {@link readSegments}.
 *
 * A segment: kind (u8), rows (u32 LE), id length (u16 LE), id (UTF-8:
 * `table\0version\0fieldCount` for rows, empty for unmapped), payload
 * length (u32 LE), payload.
 */
export class RowBatchWriter {
  readonly #mapper: RowMapper
  readonly #payload: RowPayload
  readonly #journal: number
  readonly #encoding: FieldEncoding
  readonly #source: string
  readonly #out = new LineBuffer()
  readonly #unmapped = new LineBuffer()
  #unmappedRows = 0
  /** The open rows segment: its layout, where its header is, where its payload starts, its rows. */
  #layout: SqlLayout | null = null
  #head = 0
  #payloadAt = 0
  #rows = 0
  /** Rows and unmapped records written since the last take. */
  rows = 0
  unmapped = 0

  constructor(options: RowBatchOptions) {
    this.#mapper = new RowMapper(new TableFilter(options.tables, options.exclude), options.encoding, options.maxKeyBytes)
    this.#payload = options.payload
    this.#journal = options.journal
    this.#encoding = options.encoding
    this.#source = `checkpoint.${options.journal}`
  }

  /** The LineWriter side (a range worker's writer): the record `source[start..end)` at `offset`. */
  add(source: Buffer, start: number, end: number, journal: number | null, offset: number, line: number): void {
    this.addEntry(new JournalEntry(source, { journal, offset, end: offset + end - start, line }, { start, end, encoding: this.#encoding }))
  }

  /** Maps one record and writes its row (or its unmapped record). */
  addEntry(entry: JournalEntry): void {
    const n = this.#journal
    const m = this.#mapper.map(entry, n)
    if (!m) return
    if (m.kind === 'unmapped' || m.kind === 'del') {
      const u = m.kind === 'unmapped' ? m : asUnmapped(m, n, entry.position.offset, entry.raw, entry.op)
      this.#unmappedValues(this.#unmapped, unmappedRow(this.#source, u))
      this.#unmappedRows++
      this.unmapped++
      if (this.#unmappedRows >= SEGMENT_ROWS_MAX || this.#unmapped.o >= SEGMENT_BYTES_MAX) this.#flushUnmapped()
      return
    }
    const out = this.#out
    if (m.layout !== this.#layout || this.#rows >= SEGMENT_ROWS_MAX || out.o - this.#payloadAt >= SEGMENT_BYTES_MAX) {
      this.#endSegment()
      this.#begin(SEGMENT_ROWS, `${m.layout.journalTable}\0${m.layout.version}\0${m.layout.columns.length}`)
      this.#layout = m.layout
    }
    const values = m.values
    if (this.#payload === 'copy') {
      for (let i = 0; i < values.length; i++) {
        writeCopyValue(out, values[i] ?? null)
        out.out[out.o++] = TAB
      }
      writeCopyValue(out, m.raw)
      out.out[out.o++] = LF
    } else {
      const columns = m.layout.columns
      for (let i = 0; i < values.length; i++) {
        const v = values[i] ?? null
        if (v !== null && columns[i]?.integer && exactNumber(v)) writeNumber(out, Number(v))
        else writeValue(out, v)
      }
      writeValue(out, m.raw)
    }
    this.#rows++
    this.rows++
  }

  /** The batch written since the last take (null when none), the caller's: the writer starts a new one (in `next` when it fits). */
  take(next?: Buffer): Buffer | null {
    this.#finish()
    return this.#out.take(next)
  }

  /** The batch as a view, valid until the next add (or, discarding it, nothing). */
  takeView(): Buffer | null {
    this.#finish()
    return this.#out.takeView()
  }

  #finish(): void {
    this.#flushUnmapped()
    this.#endSegment()
    this.rows = 0
    this.unmapped = 0
  }

  /** Ends the open segment and writes the unmapped records gathered since the last time as one segment. */
  #flushUnmapped(): void {
    this.#endSegment()
    const un = this.#unmapped.takeView()
    if (un) {
      this.#begin(SEGMENT_UNMAPPED, '')
      this.#out.reserve(un.length)
      un.copy(this.#out.out, this.#out.o)
      this.#out.o += un.length
      this.#rows = this.#unmappedRows
      this.#endSegment()
    }
    this.#unmappedRows = 0
  }

  #begin(kind: number, id: string): void {
    const out = this.#out
    const idBytes = Buffer.byteLength(id)
    out.reserve(HEAD_BYTES + idBytes + 4)
    this.#head = out.o
    out.out[out.o] = kind
    out.out.writeUInt16LE(idBytes, out.o + 5)
    out.o += HEAD_BYTES
    out.o += out.out.write(id, out.o)
    out.o += 4
    this.#payloadAt = out.o
    this.#rows = 0
  }

  #endSegment(): void {
    if (this.#payloadAt === 0) return
    const out = this.#out
    out.out.writeUInt32LE(this.#rows, this.#head + 1)
    out.out.writeUInt32LE(out.o - this.#payloadAt, this.#payloadAt - 4)
    this.#payloadAt = 0
    this.#rows = 0
    this.#layout = null
  }

  #unmappedValues(buf: LineBuffer, row: readonly SqlValue[]): void {
    if (this.#payload === 'copy') {
      for (let i = 0; i < row.length; i++) {
        writeCopyValue(buf, row[i] ?? null)
        buf.out[buf.o++] = i === row.length - 1 ? LF : TAB
      }
    } else {
      // Its integer columns (journal, offset, version) as numbers where they can.
      for (let i = 0; i < row.length; i++) {
        const v = row[i] ?? null
        if (typeof v === 'string' && UNMAPPED_COLUMNS[i]?.type === 'integer' && exactNumber(v)) writeNumber(buf, Number(v))
        else writeValue(buf, v)
      }
    }
  }
}

const COPY_SPECIAL = /[\\\t\n\r]/

/** A value in COPY's text format, with one byte to spare after it: `\N` for NULL, `\\x…` for bytes, text with backslash, tab, LF and CR escaped. */
function writeCopyValue(buf: LineBuffer, v: SqlValue): void {
  if (v === null) {
    buf.reserve(3)
    buf.out[buf.o++] = 0x5c
    buf.out[buf.o++] = 0x4e
    return
  }
  if (typeof v !== 'string') {
    buf.reserve(3 + v.length * 2 + 1)
    buf.o += buf.out.write('\\\\x', buf.o, 'latin1')
    buf.o += buf.out.write(v.toString('hex'), buf.o, 'latin1')
    return
  }
  const text = COPY_SPECIAL.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : v
  // UTF-8 takes at most 3 bytes per UTF-16 unit.
  buf.reserve(text.length * 3 + 1)
  buf.o += buf.out.write(text, buf.o)
}

/**
 * Whether an integer's text goes as a number: decimal digits with an
 * optional minus, 15 characters at most (so exact in a float64), in the
 * form String(number) gives back (no leading zero, no "-0"), so a reader
 * that needs the text gets the same text. Anything else stays text.
 */
function exactNumber(v: string): boolean {
  const n = v.length
  if (n === 0 || n > 15) return false
  let i = v.charCodeAt(0) === 0x2d ? 1 : 0
  if (i === n) return false
  if (v.charCodeAt(i) === 0x30) return n === 1
  for (; i < n; i++) {
    const c = v.charCodeAt(i)
    if (c < 0x30 || c > 0x39) return false
  }
  return true
}

function writeNumber(buf: LineBuffer, v: number): void {
  buf.reserve(9)
  buf.out[buf.o] = NUMBER_TAG
  buf.out.writeDoubleLE(v, buf.o + 1)
  buf.o += 9
}

/** A value tagged and length-prefixed: NULL, text (UTF-8) or bytes. */
function writeValue(buf: LineBuffer, v: SqlValue): void {
  if (v === null) {
    buf.reserve(1)
    buf.out[buf.o++] = NULL_TAG
    return
  }
  if (typeof v === 'string') {
    buf.reserve(5 + v.length * 3)
    const n = buf.out.write(v, buf.o + 5)
    // As many bytes as UTF-16 units: all ASCII, which the reader decodes faster as latin1.
    buf.out[buf.o] = n === v.length ? ASCII_TAG : TEXT_TAG
    buf.out.writeUInt32LE(n, buf.o + 1)
    buf.o += 5 + n
    return
  }
  buf.reserve(5 + v.length)
  buf.out[buf.o] = BYTES_TAG
  buf.out.writeUInt32LE(v.length, buf.o + 1)
  v.copy(buf.out, buf.o + 5)
  buf.o += 5 + v.length
}

/** One segment of a batch: see {@link RowBatchWriter}. `payload` is a view of the batch. */
export interface Segment {
  kind: number
  rows: number
  /** `table\0version\0fieldCount` for rows; empty for unmapped. */
  id: string
  payload: Buffer
}

/** The segments of a batch, in order. */
export function* readSegments(batch: Buffer): Generator<Segment> {
  let p = 0
  while (p < batch.length) {
    const kind = batch[p] as number
    const rows = batch.readUInt32LE(p + 1)
    const idBytes = batch.readUInt16LE(p + 5)
    const id = batch.toString('utf8', p + HEAD_BYTES, p + HEAD_BYTES + idBytes)
    p += HEAD_BYTES + idBytes
    const length = batch.readUInt32LE(p)
    p += 4
    yield { kind, rows, id, payload: batch.subarray(p, p + length) }
    p += length
  }
}

/** Buffer's own decoders (Node's, undocumented but stable since 0.x), without toString's argument checks per value. */
type SlicingBuffer = Buffer & { latin1Slice(start: number, end: number): string; utf8Slice(start: number, end: number): string }

/** A value of a `values` payload as read: a number only where the reader asked for one (see {@link readValues}). */
export type BoundValue = SqlValue | number

/**
 * Reads a `values` payload's rows of `width` values each into `row` (reused,
 * and its bytes values are views of `payload`: the callback must use them
 * before it returns), calling `each` per row. An integer column's value
 * written as a number is given as a number where `numbers[i]` is true (the
 * column stores integers: SQLite makes the exact float an INTEGER), else
 * as its text, as it was in the record.
 */
export function readValues(
  payload: SlicingBuffer,
  width: number,
  row: BoundValue[],
  each: (row: BoundValue[]) => void,
  numbers: readonly boolean[] = [],
): void {
  let p = 0
  while (p < payload.length) {
    for (let i = 0; i < width; i++) {
      const tag = payload[p] as number
      if (tag === NULL_TAG) {
        row[i] = null
        p++
        continue
      }
      if (tag === NUMBER_TAG) {
        const x = payload.readDoubleLE(p + 1)
        row[i] = numbers[i] === true ? x : String(x)
        p += 9
        continue
      }
      const n = payload.readUInt32LE(p + 1)
      p += 5
      // Bytes as a view of the payload: valid while `each` runs, and SQLite copies what it binds.
      row[i] = tag === ASCII_TAG ? payload.latin1Slice(p, p + n) : tag === TEXT_TAG ? payload.utf8Slice(p, p + n) : payload.subarray(p, p + n)
      p += n
    }
    each(row)
  }
}

/** The values of a logdaemon_unmapped row, in the order of {@link UNMAPPED_COLUMNS}. */
export function unmappedRow(source: string, r: UnmappedRecord): SqlValue[] {
  return [source, String(r.journal), String(r.offset), r.op, r.table, r.version === null ? null : String(r.version), r.fields, r.raw, r.reason]
}

/** A delete in a checkpoint, as a logdaemon_unmapped record (a checkpoint holds rows, never changes to them). */
export function asUnmapped(
  m: { layout: SqlLayout; values: readonly (string | null)[] },
  journal: number,
  offset: number,
  raw: Buffer,
  op: string,
): UnmappedRecord {
  return {
    kind: 'unmapped',
    journal,
    offset,
    op,
    table: m.layout.journalTable,
    version: m.layout.version,
    fields: JSON.stringify(m.values),
    raw: Buffer.from(raw),
    reason: 'a delete in a checkpoint',
  }
}
