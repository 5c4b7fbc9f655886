import type { FieldEncoding } from './entry.js'
import { JournalEntry } from './entry.js'
import { entryToRowLine } from './entry-row.js'
import { BYTE_CLASS, MIN_BUFFER, copyBytes, utf8Tail, worstCase, writeInt, writeJsonRecord } from './json-line-writer.js'
import { layoutOf, type Layout } from '../schema/layout.js'
import { isExactInteger, positionalName } from '../schema/typed-value.js'

const AT = 0x40
const SP = 0x20
const LF = 0x0a
const CR = 0x0d
const QUOTE = 0x22

/** The fixed pieces of a row line, as bytes. */
const OFFSET = Buffer.from(',"offset":')
const END = Buffer.from(',"end":')
const LINE = Buffer.from(',"line":')
const OP = Buffer.from(',"op":"')
const TABLE = Buffer.from('","table":"')
const VERSION = Buffer.from('","version":')
const ROW = Buffer.from(',"row":{')
const KEY = Buffer.from('},"key":')
const NULL = Buffer.from('null')

/** What #onePass returns when the record does not fit the plan it tried. */
const WRONG_PLAN = -2

/** Records with more fields go the general way: no table documents a tenth of this. */
const MAX_FIELDS = 4096
/** Plans kept for (table, version, field count); real journals bring a few hundred. */
const MAX_PLANS = 4096

/** How to write the rows of one (table, version, field count). */
interface Plan {
  readonly layout: Layout | null
  /** `"name":` for each documented column, and `,"name":` for the rest. */
  readonly names: readonly Buffer[]
  readonly nextNames: readonly Buffer[]
  /** 1 for columns whose values become numbers when they are exact integers. */
  readonly numeric: Uint8Array
  /** Key column indexes, or null when the row gets `"key":null`. */
  readonly keyIndexes: readonly number[] | null
  /** `"name":` / `,"name":` for each key column. */
  readonly keyNames: readonly Buffer[]
  /** The bytes all names take. */
  readonly nameBytes: number
}

function planFor(table: string, version: number, fieldCount: number): Plan {
  const layout = layoutOf(table, version, fieldCount)
  const columns = layout?.columns ?? []
  const name = (i: number): string => JSON.stringify(columns[i]?.name ?? positionalName(i)) + ':'
  const names: Buffer[] = []
  const nextNames: Buffer[] = []
  const numeric = new Uint8Array(fieldCount)
  for (let i = 0; i < fieldCount; i++) {
    names.push(Buffer.from(name(i)))
    nextNames.push(Buffer.from(',' + name(i)))
    numeric[i] = i < columns.length && columns[i]?.kind !== 'text' ? 1 : 0
  }
  let keyIndexes: number[] | null = null
  const keyNames: Buffer[] = []
  if (layout !== null && layout.key.length > 0) {
    keyIndexes = layout.key.map((k) => columns.findIndex((c) => c.name === k))
    // A key column the record has no field for: no key (as keyOf says).
    if (keyIndexes.some((i) => i < 0 || i >= fieldCount)) keyIndexes = null
    else for (const [n, i] of keyIndexes.entries()) keyNames.push(Buffer.from(`${n > 0 ? ',' : ''}${JSON.stringify(columns[i]?.name)}:`))
  }
  let nameBytes = 0
  for (const b of [...nextNames, ...keyNames]) nameBytes += b.length
  return { layout, names, nextNames, numeric, keyIndexes, keyNames, nameBytes }
}

/**
 * Writes entries as `logdaemon-cat --format row` lines (the form of
 * {@link entryToRowLine}) straight from the record bytes into one output
 * Buffer per batch, like {@link JsonLineWriter}: a first pass finds the
 * fields, the schema layout for (table, version, field count) is looked up
 * once per run of such records, a second pass writes names and values.
 * Records it does not take (bytes outside UTF-8, odd spacing, an
 * incomplete record) are written by entryToRowLine, so the output is
 * always exactly what entryToRowLine gives.
 */
export class RowLineWriter {
  readonly #file: string | null
  readonly #encoding: FieldEncoding
  readonly #latin1: boolean
  /** `{"file":…,"journal":` */
  readonly #head: Buffer
  #out: Buffer
  #o = 0
  /** Field content ranges of the current record (`@@` not yet collapsed) and whether each was quoted. */
  #from = new Int32Array(64)
  #to = new Int32Array(64)
  #quoted = new Uint8Array(64)
  /** The last plan, and the table bytes, version and field count it is for. */
  #lastTable: Buffer = Buffer.alloc(0)
  #lastVersion = -1
  #lastCount = -1
  #lastPlan: Plan | null = null
  readonly #plans = new Map<string, Plan>()

  constructor(file: string | null, encoding: FieldEncoding) {
    this.#file = file
    this.#encoding = encoding
    this.#latin1 = encoding === 'latin1'
    this.#head = Buffer.from(`{"file":${JSON.stringify(file)},"journal":`)
    this.#out = Buffer.allocUnsafe(MIN_BUFFER)
  }

  /** Adds the record `source[start..end)` at `position`. */
  add(source: Buffer, start: number, end: number, journal: number | null, offset: number, line: number): void {
    // Enough for the JSON form (non-data records); #write reserves what names and keys add.
    this.#reserve(worstCase(end - start, this.#head.length))
    const o = this.#write(source, start, end, journal, offset, line)
    if (o >= 0) {
      this.#o = o
      return
    }
    const entry = new JournalEntry(source, { journal, offset, end: offset + end - start, line }, { encoding: this.#encoding, start, end })
    this.addText(entryToRowLine(entry, this.#file))
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

  /** Writes one record; returns the new output offset, or -1 to leave it to the general path. */
  #write(src: Buffer, start: number, end: number, journal: number | null, offset: number, line: number): number {
    let stop = end
    if (src[stop - 1] !== LF) return -1 // an incomplete record
    stop--
    if (src[stop - 1] === CR) stop--
    if (src[start] !== AT) return -1
    const opEnd = src.indexOf(AT, start + 1)
    if (opEnd < 0 || opEnd >= stop) return -1
    if (!isDataOp(src, start + 1, opEnd)) {
      return writeJsonRecord(this.#out, this.#o, this.#head, src, start, end, journal, offset, line, this.#latin1)
    }

    // ` version @table@`
    let i = opEnd + 1
    if (src[i] !== SP) return -1
    const vEnd = src.indexOf(SP, i + 1)
    // Digits without a leading zero, as Number() prints them; 9 at most.
    if (vEnd < 0 || vEnd >= stop || vEnd === i + 1 || vEnd > i + 10 || (src[i + 1] === 0x30 && vEnd > i + 2)) return -1
    let version = 0
    for (let k = i + 1; k < vEnd; k++) {
      const b = src[k] as number
      if (b < 0x30 || b > 0x39) return -1
      version = version * 10 + (b - 0x30)
    }
    if (src[vEnd + 1] !== AT) return -1
    const tStart = vEnd + 2
    const tEnd = src.indexOf(AT, tStart)
    if (tEnd < 0 || tEnd >= stop || src[tEnd + 1] === AT) return -1
    for (let k = tStart; k < tEnd; k++) if (BYTE_CLASS[src[k] as number] !== 0) return -1

    // Most records come in runs of one table version (a checkpoint holds
    // nothing else): try the last plan in one pass, and fall back to two
    // passes when the field count says it was the wrong one.
    if (this.#lastPlan !== null && this.#sameTable(src, tStart, tEnd, version)) {
      const o = this.#onePass(this.#lastPlan, src, start, end, stop, opEnd, tStart, tEnd, version, journal, offset, line)
      if (o !== WRONG_PLAN) return o
    }

    // Pass 1: where each field's content is.
    i = tEnd + 1
    let n = 0
    while (i < stop) {
      if (src[i] !== SP) return -1
      i++
      if (i === stop) break // the trailing space
      if (n === this.#from.length) {
        if (n >= MAX_FIELDS) return -1
        this.#grow()
      }
      if (src[i] === AT) {
        // The closing `@` is the first one not doubled (native search: values run long).
        let k = src.indexOf(AT, i + 1)
        while (k >= 0 && k < stop && src[k + 1] === AT) k = src.indexOf(AT, k + 2)
        if (k < 0 || k >= stop) return -1
        this.#from[n] = i + 1
        this.#to[n] = k
        this.#quoted[n] = 1
        i = k + 1
      } else {
        let k = i
        while (k < stop && src[k] !== SP) k++
        this.#from[n] = i
        this.#to[n] = k
        this.#quoted[n] = 0
        i = k
      }
      n++
    }

    const plan = this.#plan(src, tStart, tEnd, version, n)

    // Pass 2: the line. Values at most as in the JSON form, key values again, and the names.
    this.#reserve(2 * worstCase(end - start, this.#head.length) + plan.nameBytes)
    const out = this.#out
    let o = this.#writeHead(out, src, start, end, opEnd, tStart, tEnd, version, journal, offset, line)
    const from = this.#from
    const to = this.#to
    const quoted = this.#quoted
    for (let f = 0; f < n; f++) {
      o = copyName(f === 0 ? (plan.names[f] as Buffer) : (plan.nextNames[f] as Buffer), out, o)
      const at = o
      o = this.#value(src, from[f] as number, to[f] as number, quoted[f] === 1, plan.numeric[f] === 1, out, o)
      if (o < 0) return -1
      // From here on the ranges are where the values went: the key copies them.
      from[f] = at
      to[f] = o
    }
    return this.#writeKey(plan, out, o)
  }

  /** `},"key":{…}}` and the line end; the key values are copied from where the row's values went. */
  #writeKey(plan: Plan, out: Buffer, o: number): number {
    o = copyName(KEY, out, o)
    const keys = plan.keyIndexes
    if (keys === null) {
      o = copyName(NULL, out, o)
    } else {
      const from = this.#from
      const to = this.#to
      out[o++] = 0x7b // {
      for (let k = 0; k < keys.length; k++) {
        const f = keys[k] as number
        o = copyName(plan.keyNames[k] as Buffer, out, o)
        // The value as the row has it, already escaped.
        const a = from[f] as number
        const b = to[f] as number
        if (b - a > 32) {
          out.copyWithin(o, a, b)
          o += b - a
        } else {
          for (let j = a; j < b; j++) out[o++] = out[j] as number
        }
      }
      out[o++] = 0x7d // }
    }
    out[o++] = 0x7d // }
    out[o++] = LF
    return o
  }

  /** `{"file":…,"journal":…` up to `"row":{`. */
  #writeHead(
    out: Buffer,
    src: Buffer,
    start: number,
    end: number,
    opEnd: number,
    tStart: number,
    tEnd: number,
    version: number,
    journal: number | null,
    offset: number,
    line: number,
  ): number {
    let o = this.#o
    this.#head.copy(out, o)
    o += this.#head.length
    o = journal === null ? copyName(NULL, out, o) : writeInt(out, o, journal)
    o = copyName(OFFSET, out, o)
    o = writeInt(out, o, offset)
    o = copyName(END, out, o)
    o = writeInt(out, o, offset + end - start)
    o = copyName(LINE, out, o)
    o = writeInt(out, o, line)
    o = copyName(OP, out, o)
    for (let k = start + 1; k < opEnd; k++) out[o++] = src[k] as number
    o = copyName(TABLE, out, o)
    for (let k = tStart; k < tEnd; k++) out[o++] = src[k] as number
    o = copyName(VERSION, out, o)
    o = writeInt(out, o, version)
    o = copyName(ROW, out, o)
    return o
  }

  /**
   * Writes a data record with `plan` in one pass (copying each value as it
   * finds its end). Returns the new output offset, -1 for the general
   * path, or WRONG_PLAN when the record's field count is not the plan's.
   */
  #onePass(
    plan: Plan,
    src: Buffer,
    start: number,
    end: number,
    stop: number,
    opEnd: number,
    tStart: number,
    tEnd: number,
    version: number,
    journal: number | null,
    offset: number,
    line: number,
  ): number {
    const count = plan.numeric.length
    this.#reserve(2 * worstCase(end - start, this.#head.length) + plan.nameBytes)
    const out = this.#out
    const latin1 = this.#latin1
    const from = this.#from
    const to = this.#to
    let o = this.#writeHead(out, src, start, end, opEnd, tStart, tEnd, version, journal, offset, line)
    let i = tEnd + 1
    let n = 0
    while (i < stop) {
      if (src[i] !== SP) return -1
      i++
      if (i === stop) break // the trailing space
      if (n === count) return WRONG_PLAN
      o = copyName(n === 0 ? (plan.names[n] as Buffer) : (plan.nextNames[n] as Buffer), out, o)
      const at = o
      if (src[i] === AT && plan.numeric[n] === 0) {
        // Quoted text, copied while looking for the `@` that is not doubled.
        out[o++] = QUOTE
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
          const tail = b >= 0x80 && !latin1 ? utf8Tail(src, k, stop) : 0
          o = copyBytes(src, k, k + 1 + tail, out, o, latin1)
          if (o < 0) return -1
          k += 1 + tail
        }
        out[o++] = QUOTE
        i = k + 1
      } else if (src[i] === AT) {
        let k = src.indexOf(AT, i + 1)
        while (k >= 0 && k < stop && src[k + 1] === AT) k = src.indexOf(AT, k + 2)
        if (k < 0 || k >= stop) return -1
        o = this.#value(src, i + 1, k, true, true, out, o)
        i = k + 1
      } else {
        let k = i
        while (k < stop && src[k] !== SP) k++
        o = this.#value(src, i, k, false, plan.numeric[n] === 1, out, o)
        i = k
      }
      if (o < 0) return -1
      // Where the value went, for the key.
      from[n] = at
      to[n] = o
      n++
    }
    if (n !== count) return WRONG_PLAN
    return this.#writeKey(plan, out, o)
  }

  /** Whether the table name at `src[tStart..tEnd)` and `version` are those of the last plan. */
  #sameTable(src: Buffer, tStart: number, tEnd: number, version: number): boolean {
    const last = this.#lastTable
    if (version !== this.#lastVersion || last.length !== tEnd - tStart) return false
    for (let k = 0; k < last.length; k++) if (last[k] !== src[tStart + k]) return false
    return true
  }

  /** The plan for this table, version and field count: the last one when they repeat (as in checkpoints). */
  #plan(src: Buffer, tStart: number, tEnd: number, version: number, n: number): Plan {
    if (this.#lastPlan !== null && n === this.#lastCount && this.#sameTable(src, tStart, tEnd, version)) return this.#lastPlan
    const table = src.toString('latin1', tStart, tEnd)
    const key = `${table} ${version} ${n}`
    let plan = this.#plans.get(key)
    if (plan === undefined) {
      if (this.#plans.size >= MAX_PLANS) this.#plans.clear()
      plan = planFor(table, version, n)
      this.#plans.set(key, plan)
    }
    this.#lastTable = Buffer.from(table, 'latin1')
    this.#lastVersion = version
    this.#lastCount = n
    this.#lastPlan = plan
    return plan
  }

  /** Writes a field's value: a number for an exact integer in a numeric column, else a JSON string. */
  #value(src: Buffer, a: number, b: number, quoted: boolean, numeric: boolean, out: Buffer, o: number): number {
    if (numeric && isExactIntegerBytes(src, a, b)) {
      for (let k = a; k < b; k++) out[o++] = src[k] as number
      return o
    }
    const latin1 = this.#latin1
    out[o++] = QUOTE
    let k = a
    while (k < b) {
      const c = src[k] as number
      if (c === AT && quoted) {
        // `@@` inside a quoted value is one `@` (pass 1 saw it in pairs).
        out[o++] = AT
        k += 2
        continue
      }
      if (BYTE_CLASS[c] === 0) {
        out[o++] = c
        k++
        continue
      }
      const tail = c >= 0x80 && !latin1 ? utf8Tail(src, k, b) : 0
      o = copyBytes(src, k, k + 1 + tail, out, o, latin1)
      if (o < 0) return -1
      k += 1 + tail
    }
    out[o++] = QUOTE
    return o
  }

  #grow(): void {
    const size = this.#from.length * 2
    const from = new Int32Array(size)
    const to = new Int32Array(size)
    const quoted = new Uint8Array(size)
    from.set(this.#from)
    to.set(this.#to)
    quoted.set(this.#quoted)
    this.#from = from
    this.#to = to
    this.#quoted = quoted
  }
}

/** Whether the op `src[a..b)` is one of the data ops (pv rv dv vv dl put del), without making a string. */
function isDataOp(src: Buffer, a: number, b: number): boolean {
  const c0 = src[a]
  const c1 = src[a + 1]
  if (b - a === 2) return (c1 === 0x76 && (c0 === 0x70 || c0 === 0x72 || c0 === 0x64 || c0 === 0x76)) || (c0 === 0x64 && c1 === 0x6c)
  if (b - a === 3) {
    const c2 = src[a + 2]
    return (c0 === 0x70 && c1 === 0x75 && c2 === 0x74) || (c0 === 0x64 && c1 === 0x65 && c2 === 0x6c)
  }
  return false
}

/** isExactInteger on the bytes `src[a..b)`. */
function isExactIntegerBytes(src: Buffer, a: number, b: number): boolean {
  const n = b - a
  if (n === 0 || n > 17) return false
  let k = src[a] === 0x2d ? a + 1 : a
  if (k === b) return false
  if (src[k] === 0x30) return n === 1
  for (; k < b; k++) {
    const c = src[k] as number
    if (c < 0x30 || c > 0x39) return false
  }
  return n < 16 || isExactInteger(src.toString('latin1', a, b))
}

function copyName(name: Buffer, out: Buffer, o: number): number {
  for (let k = 0; k < name.length; k++) out[o++] = name[k] as number
  return o
}
