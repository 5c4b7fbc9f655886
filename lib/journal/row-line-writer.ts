import type { FieldEncoding } from './entry.js'
import { JournalEntry } from './entry.js'
import { entryToRowLine } from './entry-row.js'
import { isDataOpBytes } from './data-ops.js'
import { JSON_PLAIN, copyBare, copyQuoted, copyWritten, piece, scan, viewOfOut, writePiece, type Piece } from './json-escape.js'
import { copyInteger, isExactIntegerBytes, writeInt } from './json-numbers.js'
import { LinePrefix, writeJsonRecord } from './json-line-writer.js'
import { LineBuffer, worstCase } from './line-buffer.js'
import { layoutOf, type Layout } from '../schema/layout.js'
import { positionalName } from '../schema/typed-value.js'

const AT = 0x40
const SP = 0x20
const LF = 0x0a
const CR = 0x0d
const QUOTE = 0x22

const END = piece(',"end":')
const LINE = piece(',"line":')
const OP = piece(',"op":"')
const KEY = piece('},"key":')
const NULL = piece('null')
const FIELD_NAME = piece(',"field')

/** What #writeRow returns when the record's field count is not the plan's. */
const WRONG_PLAN = -2

/**
 * Names a plan keeps as pieces; the positional names of fields past them
 * (no table documents a tenth of this many columns) are written digit by
 * digit. Such records went the general way, which named millions of
 * fields on an object (4,000,000 fields: 32 s and 990 MB, against 0.4 s
 * for --format json).
 */
const MAX_NAMED = 4096
/** Plans kept for (table, version, field count); real journals bring a few hundred. */
const MAX_PLANS = 4096
/** Table versions are small numbers; longer ones go the general way. */
const MAX_VERSION_DIGITS = 9

/** How to write the rows of one (table, version, field count). */
interface Plan {
  /** The table name's bytes as the record has them, and the version: what a guessed plan is checked against. */
  readonly table: Buffer
  readonly version: number
  readonly count: number
  /** `","table":"T","version":V,"row":{` */
  readonly head: Piece
  /** The first MAX_NAMED fields' `"name":` (from the second on `,"name":`); the others are `,"fieldN":`. */
  readonly names: readonly Piece[]
  /** 1 for columns whose values become numbers when they are exact integers. */
  readonly numeric: Uint8Array
  /** Key field indexes, or null when the row gets `"key":null`. */
  readonly keyIndexes: Int32Array | null
  /** `"name":` / `,"name":` for each key column. */
  readonly keyNames: readonly Piece[]
  /**
   * How many key columns there are when they are the first columns, in
   * order (every documented table's key is): the key object's content is
   * then the row's own first bytes, `"name":value` up to the last key
   * column's value, copied in one piece. 0 otherwise.
   */
  readonly keySpan: number
  /** The bytes the head, names and key names take. */
  readonly fixedBytes: number
}

/**
 * The plan for one (table, version, field count). Names are written in
 * field order, as nameRow sets them on a plain object: that holds because
 * no documented column name repeats, looks like an array index, or is
 * `__proto__` or `fieldN` (test/journal/row-line-writer.ts checks every
 * layout).
 */
function planFor(tableBytes: Buffer, table: string, version: number, count: number): Plan {
  const layout: Layout | null = layoutOf(table, version, count)
  const columns = layout?.columns ?? []
  const namedCount = Math.min(count, MAX_NAMED)
  const names: string[] = []
  for (let i = 0; i < namedCount; i++) names.push(columns[i]?.name ?? positionalName(i))
  const parts: Piece[] = []
  const numeric = new Uint8Array(namedCount)
  // The names written digit by digit: `,"field` N `":`.
  let fixedBytes = (count - namedCount) * (FIELD_NAME.length + String(count).length + 2)
  for (let i = 0; i < namedCount; i++) {
    const part = piece(`${i > 0 ? ',' : ''}${JSON.stringify(names[i])}:`)
    parts.push(part)
    fixedBytes += part.length
    numeric[i] = i < columns.length && columns[i]?.kind !== 'text' ? 1 : 0
  }
  let keyIndexes: Int32Array | null = null
  const keyNames: Piece[] = []
  if (layout !== null && layout.key.length > 0) {
    const indexes = layout.key.map((k) => columns.findIndex((c) => c.name === k))
    // A key column the record has no field for: no key (as keyOf says).
    if (indexes.every((i) => i >= 0 && i < count)) {
      keyIndexes = Int32Array.from(indexes)
      for (const [n, i] of indexes.entries()) keyNames.push(piece(`${n > 0 ? ',' : ''}${JSON.stringify(columns[i]?.name)}:`))
    }
  }
  const keySpan = keyIndexes?.every((f, k) => f === k) ? keyIndexes.length : 0
  const head = piece(`","table":${JSON.stringify(table)},"version":${version},"row":{`)
  fixedBytes += head.length
  for (const k of keyNames) fixedBytes += k.length
  return { table: tableBytes, version, count, head, names: parts, numeric, keyIndexes, keyNames, keySpan, fixedBytes }
}

/**
 * Writes entries as `logdaemon-cat --format row` lines (the form of
 * {@link entryToRowLine}) straight from the record bytes into one output
 * Buffer per batch, like {@link JsonLineWriter}. The schema layout for
 * (table, version, field count) is looked up once and kept as a plan (names
 * as bytes, which columns are numeric, where the key is); each record is
 * written in one pass with the plan its table had last time, and only when
 * its field count differs is it counted and written again with the right
 * one. Records it does not take (odd spacing, an incomplete record, an odd
 * table name) are written by entryToRowLine, so the output is always
 * exactly what entryToRowLine gives.
 */
export class RowLineWriter {
  readonly #file: string | null
  readonly #encoding: FieldEncoding
  readonly #latin1: boolean
  readonly #prefix: LinePrefix
  readonly #lines = new LineBuffer()
  /** Where each field's value went in the output (for the key), reused from record to record. */
  #from = new Int32Array(64)
  #to = new Int32Array(64)
  /** The plans, by `table version count`, and the last one used for each table name and version (by hash). */
  readonly #plans = new Map<string, Plan>()
  readonly #guess = new Map<number, Plan>()
  /** The plan of the last record written by a plan. */
  #last: Plan | null = null

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
    // Enough for the JSON form (non-data records); #write reserves what names and keys add.
    lines.reserve(worstCase(end - start, prefix.length))
    const o = this.#write(prefix, source, start, end, offset, line)
    if (o >= 0) {
      lines.o = o
      return
    }
    const entry = new JournalEntry(source, { journal, offset, end: offset + end - start, line }, { encoding: this.#encoding, start, end })
    lines.addText(entryToRowLine(entry, this.#file))
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

  /** Writes one record; returns the new output offset, or -1 to leave it to the general path. */
  #write(prefix: Piece, src: Buffer, start: number, end: number, offset: number, line: number): number {
    if (src[end - 1] !== LF || src[start] !== AT) return -1 // an incomplete record, or not one at all
    let stop = end - 1
    if (src[stop - 1] === CR) stop--
    let opEnd = start + 1
    while (opEnd < stop && src[opEnd] !== AT) opEnd++
    if (opEnd >= stop || !isDataOpBytes(src, start + 1, opEnd)) {
      return writeJsonRecord(this.#lines.out, this.#lines.o, prefix, src, start, end, offset, line, this.#latin1)
    }

    // ` version @table@`, the version as Number() prints it back, the table plain ASCII.
    let i = opEnd + 1
    if (src[i] !== SP) return -1
    i++
    const vStart = i
    let version = 0
    while (i < stop && src[i] !== SP) {
      const b = src[i] as number
      if (b < 0x30 || b > 0x39) return -1
      version = version * 10 + (b - 0x30)
      i++
    }
    const digits = i - vStart
    if (digits === 0 || digits > MAX_VERSION_DIGITS || (src[vStart] === 0x30 && digits > 1)) return -1
    if (src[i] !== SP || src[i + 1] !== AT) return -1
    const tStart = i + 2

    // Most records come in runs of one table: the plan of the last record
    // first, its table name compared byte for byte (it was checked plain
    // when the plan was made).
    const last = this.#last
    if (last !== null && last.version === version) {
      const tEnd = tStart + last.table.length
      if (tEnd < stop && src[tEnd] === AT && src[tEnd + 1] !== AT && sameBytes(last.table, src, tStart, tEnd)) {
        const o = this.#writeRow(last, prefix, src, start, end, stop, opEnd, tEnd + 1, offset, line)
        if (o !== WRONG_PLAN) return o
      }
    }

    let hash = version
    for (i = tStart; i < stop && src[i] !== AT; i++) {
      const b = src[i] as number
      if (JSON_PLAIN[b] === 0) return -1
      hash = (Math.imul(hash, 31) + b) | 0
    }
    const tEnd = i
    if (tEnd >= stop || src[tEnd + 1] === AT) return -1
    const fieldsAt = tEnd + 1

    // Most records come in runs of one table, and a table's rows have one
    // field count: try the plan this table had last time.
    const guess = this.#guess.get(hash)
    if (guess !== undefined && guess !== last && guess.version === version && sameBytes(guess.table, src, tStart, tEnd)) {
      const o = this.#writeRow(guess, prefix, src, start, end, stop, opEnd, fieldsAt, offset, line)
      if (o !== WRONG_PLAN) {
        this.#last = guess
        return o
      }
    }
    const count = countFields(src, fieldsAt, stop)
    if (count < 0) return -1
    const plan = this.#plan(src, tStart, tEnd, version, count)
    this.#guess.set(hash, plan)
    this.#last = plan
    const o = this.#writeRow(plan, prefix, src, start, end, stop, opEnd, fieldsAt, offset, line)
    return o === WRONG_PLAN ? -1 : o
  }

  /**
   * Writes a data record with `plan`, copying each value as it finds its
   * end. Returns the new output offset, -1 for the general path, or
   * WRONG_PLAN when the record's field count is not the plan's.
   */
  #writeRow(plan: Plan, prefix: Piece, src: Buffer, start: number, end: number, stop: number, opEnd: number, i: number, offset: number, line: number): number {
    const count = plan.count
    const lines = this.#lines
    // Values at most as in the JSON form, key values again, and the names.
    lines.reserve(2 * worstCase(end - start, prefix.length) + plan.fixedBytes)
    if (this.#from.length < count) {
      this.#from = new Int32Array(count)
      this.#to = new Int32Array(count)
    }
    const out = lines.out
    const from = this.#from
    const to = this.#to
    const latin1 = this.#latin1
    const names = plan.names
    const numeric = plan.numeric
    const ov = viewOfOut(out)

    let o = writePiece(out, lines.o, prefix)
    o = writeInt(out, o, offset)
    o = writePiece(out, o, END)
    o = writeInt(out, o, offset + end - start)
    o = writePiece(out, o, LINE)
    o = writeInt(out, o, line)
    o = writePiece(out, o, OP)
    for (let k = start + 1; k < opEnd; k++) out[o++] = src[k] as number
    o = writePiece(out, o, plan.head)
    const rowStart = o

    let n = 0
    while (i < stop) {
      if (src[i] !== SP) return -1
      i++
      if (i === stop) break // the trailing space
      if (n === count) return WRONG_PLAN
      const name = names[n]
      if (name !== undefined) {
        const nameView = name.view
        const nameLength = name.length
        for (let k = 0; k < nameLength; k += 4) ov.setInt32(o + k, nameView.getInt32(k, true), true)
        o += nameLength
      } else {
        o = writePiece(out, o, FIELD_NAME)
        o = writeInt(out, o, n)
        out[o++] = QUOTE
        out[o++] = 0x3a // :
      }
      const at = o
      if (numeric[n] === 1 && src[i] !== AT) {
        // Most numeric values are bare integers: the digits as they are.
        const q = copyInteger(src, i, stop, out, o)
        if (q >= 0) {
          o = q
          i = scan.end
          from[n] = at
          to[n] = o
          n++
          continue
        }
      }
      out[o++] = QUOTE
      o = src[i] === AT ? copyQuoted(src, i + 1, stop, out, o, latin1) : copyBare(src, i, stop, out, o, latin1)
      if (o < 0) return -1
      i = scan.end
      if (numeric[n] === 1 && isExactIntegerBytes(out, at + 1, o)) {
        // A number: the digits without the opening quote.
        for (let k = at + 1; k < o; k++) out[k - 1] = out[k] as number
        o--
      } else {
        out[o++] = QUOTE
      }
      // Where the value went, for the key.
      from[n] = at
      to[n] = o
      n++
    }
    if (n !== count) return WRONG_PLAN

    // `},"key":{…}}` and the line end; key values are copied from where the row's values went.
    o = writePiece(out, o, KEY)
    const keys = plan.keyIndexes
    if (keys === null) {
      o = writePiece(out, o, NULL)
    } else if (plan.keySpan > 0) {
      // The key columns lead the row: `{"k1":v1,"k2":v2}` is the row's start, names and all.
      out[o++] = 0x7b // {
      o = copyWritten(out, rowStart, to[plan.keySpan - 1] as number, o)
      out[o++] = 0x7d // }
    } else {
      out[o++] = 0x7b // {
      for (let k = 0; k < keys.length; k++) {
        const f = keys[k] as number
        o = writePiece(out, o, plan.keyNames[k] as Piece)
        o = copyWritten(out, from[f] as number, to[f] as number, o)
      }
      out[o++] = 0x7d // }
    }
    out[o++] = 0x7d // }
    out[o++] = LF
    return o
  }

  /** The plan for this table, version and field count. */
  #plan(src: Buffer, tStart: number, tEnd: number, version: number, count: number): Plan {
    const table = src.toString('latin1', tStart, tEnd)
    const key = `${table} ${version} ${count}`
    let plan = this.#plans.get(key)
    if (plan === undefined) {
      if (this.#plans.size >= MAX_PLANS) {
        this.#plans.clear()
        this.#guess.clear()
        this.#last = null
      }
      plan = planFor(Buffer.from(table, 'latin1'), table, version, count)
      this.#plans.set(key, plan)
    }
    return plan
  }
}

/** Whether `bytes` equals `src[a..b)`. */
function sameBytes(bytes: Buffer, src: Buffer, a: number, b: number): boolean {
  if (bytes.length !== b - a) return false
  for (let k = 0; k < bytes.length; k++) if (bytes[k] !== src[a + k]) return false
  return true
}

/** How many values follow `src[i]` (just past the table name) before `stop`; -1 for an odd record. */
function countFields(src: Buffer, i: number, stop: number): number {
  let n = 0
  while (i < stop) {
    if (src[i] !== SP) return -1
    i++
    if (i === stop) break // the trailing space
    if (src[i] === AT) {
      // Up to the `@` that is not doubled.
      let k = i + 1
      for (;;) {
        if (k >= stop) return -1
        if (src[k] === AT) {
          if (src[k + 1] !== AT) break
          k++
        }
        k++
      }
      i = k + 1
    } else {
      while (i < stop && src[i] !== SP) i++
    }
    n++
  }
  return n
}
