import { readSync } from 'node:fs'
import { type FieldEncoding, JournalEntry } from '../journal/entry.js'
import { createEntryFilter, type WhereClause } from '../journal/entry-filter.js'
import { DEFAULT_MAX_ENTRY_BYTES, JournalFramer } from '../journal/framer.js'
import { JsonLineWriter } from '../journal/json-line-writer.js'
import { RowLineWriter } from '../journal/row-line-writer.js'

const AT = 0x40
const LF = 0x0a
const SP = 0x20

/**
 * Bytes read past a range's end at a time while its last record goes on:
 * small, since every record after the one that ends past the range is read
 * and framed for nothing (most records are under 1 KiB; the reads double
 * up to 1 MiB for a long one).
 */
const TAIL_BYTES = 4 * 1024

/** What a range produces besides its boundaries; the same for every range of a run. */
export interface RangeOptions {
  /** `none`: frame only (count); `raw`: the records' bytes; `json`/`row`: their lines. */
  format: 'none' | 'raw' | 'json' | 'row'
  encoding: FieldEncoding
  tables: readonly string[]
  ops: readonly string[]
  where: readonly WhereClause[]
  maxEntryBytes: number
  /** The name in JSON lines and errors (null for none). */
  file: string | null
  journal: number | null
}

/** One range: frame the records from a start in [start, end) to the first record end at or past `end`. */
export interface RangeTask {
  start: number
  end: number
  /** The file's size at open: nothing past it is read. */
  size: number
  /** `start` is a true record start: frame from it, no guess. */
  exact: boolean
  /** The line number at `start`, when known (JSON and row lines need it); else lines are relative. */
  line: number | null
}

/** What a range found. */
export interface RangeResult {
  /** Where framing started: the guessed (or, when exact, given) record start; -1 when no guess fit in the range. */
  from: number
  /** The end of the last record framed: the first record end at or past the task's end, or the size. */
  stop: number
  /** Records framed in [from, stop). */
  records: number
  /** Records kept by the filters (all when none). */
  entries: number
  /** LF bytes in [from, stop). */
  lines: number
  /** The output: the records' bytes (raw) or their lines; null when empty or framing only. */
  out: Uint8Array | null
  /**
   * Framing from `from` failed (malformed or oversize input) or the input
   * ended inside a record: the records are not given, and the caller, when
   * `from` is the true boundary, frames serially from it to learn the exact
   * error after delivering every record before it.
   */
  failed: boolean
}

/** Reads `length` bytes at `position` into `buf` at `at`; fewer only at the end of the file. */
function readFully(fd: number, buf: Buffer, at: number, length: number, position: number): number {
  let done = 0
  while (done < length) {
    const n = readSync(fd, buf, at + done, length - done, position + done)
    if (n === 0) break
    done += n
  }
  return done
}

/** LF bytes of the file in [start, end). */
export function countLines(fd: number, start: number, end: number, buffers: BufferCache = new BufferCache()): number {
  const buf = buffers.scratch(Math.min(end - start, 4 << 20))
  let lines = 0
  for (let pos = start; pos < end; ) {
    const n = readFully(fd, buf, 0, Math.min(buf.length, end - pos), pos)
    if (n === 0) break
    lines += countLf(buf, 0, n)
    pos += n
  }
  return lines
}

function countLf(buf: Buffer, start: number, end: number): number {
  let lines = 0
  for (let i = buf.indexOf(LF, start); i !== -1 && i < end; i = buf.indexOf(LF, i + 1)) lines++
  return lines
}

/**
 * Whether a record looks like it starts at `p`: after a LF, `@op@ ` with a
 * short lower-case op. Only a guess (a quoted value can hold such a line);
 * a wrong one is caught when the ranges are joined.
 */
function looksLikeStart(buf: Buffer, p: number, n: number): boolean {
  if (buf[p] !== AT || buf[p - 1] !== LF) return false
  let i = p + 1
  const opEnd = Math.min(n, p + 10)
  while (i < opEnd) {
    const c = buf[i] as number
    if (c === AT) return i > p + 1 && buf[i + 1] === SP
    if (c < 0x61 || c > 0x7a) return false
    i++
  }
  return false
}

/** Builds what a worker needs once per run. */
export function rangeContext(options: RangeOptions): RangeContext {
  const writer =
    options.format === 'json'
      ? new JsonLineWriter(options.file, options.encoding)
      : options.format === 'row'
        ? new RowLineWriter(options.file, options.encoding)
        : null
  return { options, filter: createEntryFilter(options), buffers: new BufferCache(), writer }
}

export interface RangeContext {
  options: RangeOptions
  filter: ((entry: JournalEntry) => boolean) | null
  buffers: BufferCache
  /** One writer for every range of the thread (a new one per range would allocate its buffer anew). */
  writer: JsonLineWriter | RowLineWriter | null
}

/** Output buffers are sized in steps of this, so a returned one fits the next range's output. */
const OUTPUT_STEP = 1 << 20
/** Returned output buffers a thread keeps for reuse. */
const SPARES = 1

/**
 * A thread's buffers, reused: dead buffers are freed only when V8 collects
 * their (tiny) owner objects, and a thread that allocates a range's worth
 * of buffers per range and little else holds tens of MB of them meanwhile
 * (measured: 1 MiB ranges peaked at 92 MB RSS on one thread). So the read
 * buffer is kept, and output buffers, once written, come back from the
 * main thread as spares.
 */
export class BufferCache {
  #scratch: Buffer | null = null
  readonly #spares: ArrayBuffer[] = []

  /** The thread's read buffer, at least `n` bytes (its contents are the caller's until the next call). */
  scratch(n: number): Buffer {
    if (!this.#scratch || this.#scratch.length < n) this.#scratch = Buffer.allocUnsafeSlow(n)
    return this.#scratch
  }

  /** A buffer of `n` bytes that owns its memory (so it can be transferred): a spare when one fits. */
  output(n: number): Buffer {
    const i = this.#spares.findIndex((b) => b.byteLength >= n)
    if (i >= 0) return Buffer.from(this.#spares.splice(i, 1)[0] as ArrayBuffer, 0, n)
    const capacity = Math.ceil((n + (n >> 4)) / OUTPUT_STEP) * OUTPUT_STEP
    return Buffer.from(new ArrayBuffer(capacity), 0, n)
  }

  /** An output buffer back from its consumer. */
  give(spare: ArrayBuffer): void {
    if (this.#spares.length < SPARES) this.#spares.push(spare)
  }
}

/**
 * Frames one range of the file open as `fd` (positional reads: any thread
 * may share the fd). See {@link RangeTask} and {@link RangeResult}.
 */
export function frameRange(fd: number, task: RangeTask, context: RangeContext): RangeResult {
  const { options, filter } = context
  const { start, end, size } = task
  // From one byte before the range, to see whether its first byte follows a LF.
  const bufStart = start > 0 ? start - 1 : 0
  const want = Math.min(end, size) + Math.min(64, size - Math.min(end, size)) - bufStart
  const head = context.buffers.scratch(want)
  const got = readFully(fd, head, 0, want, bufStart)
  let from = -1
  if (task.exact || start === 0) {
    from = start
  } else {
    for (let i = head.indexOf(LF, 0); i !== -1 && bufStart + i + 1 < end; i = head.indexOf(LF, i + 1)) {
      if (looksLikeStart(head, i + 1, got)) {
        from = bufStart + i + 1
        break
      }
    }
  }
  const none: RangeResult = { from, stop: from, records: 0, entries: 0, lines: 0, out: null, failed: false }
  if (from < 0 || from >= size) return none
  const line = task.line === null ? 1 : task.line + countLf(head, start - bufStart, from - bufStart)

  const framer = new JournalFramer({
    offset: from,
    line,
    maxEntryBytes: options.maxEntryBytes || DEFAULT_MAX_ENTRY_BYTES,
    journal: options.journal,
    file: options.file,
  })
  const format = options.format
  const writer = context.writer
  // Lines of a range that failed before are not this range's.
  writer?.takeView()
  /** Raw output with filters: the kept records, as runs of adjacent ones. */
  const runs: Buffer[] = []
  let runSource: Buffer | null = null
  let runStart = 0
  let runEnd = 0
  let stop = -1
  let records = 0
  let entries = 0
  /** The last record seen, to count its lines once at the end. */
  let lastSource: Buffer = head
  let lastStart = 0
  let lastEnd = 0
  let lastLine = line
  const keepAll = !filter && (format === 'raw' || format === 'none')
  const sink = (source: Buffer, s: number, e: number, offset: number, recLine: number): void => {
    if (stop >= 0) return
    records++
    lastSource = source
    lastStart = s
    lastEnd = e
    lastLine = recLine
    const recEnd = offset + e - s
    if (recEnd >= end) stop = recEnd
    if (keepAll) {
      entries++
      return
    }
    if (filter) {
      const entry = new JournalEntry(source, { journal: options.journal, offset, end: recEnd, line: recLine }, { encoding: options.encoding, start: s, end: e })
      if (!filter(entry)) return
    }
    entries++
    if (writer) writer.add(source, s, e, options.journal, offset, recLine)
    else if (format === 'raw') {
      if (source === runSource && s === runEnd) runEnd = e
      else {
        if (runSource) runs.push(runSource.subarray(runStart, runEnd))
        runSource = source
        runStart = s
        runEnd = e
      }
    }
  }

  const headEnd = bufStart + got
  /** Chunks read past the head (while the last record goes on), kept for raw output. */
  const tails: Buffer[] = []
  try {
    const inRange = Math.min(end, headEnd) - from
    framer.push(head.subarray(from - bufStart, from - bufStart + inRange), sink)
    if (stop < 0 && from + inRange < headEnd) framer.push(head.subarray(from - bufStart + inRange, got), sink)
    let pos = headEnd
    let chunkBytes = TAIL_BYTES
    while (stop < 0 && pos < size) {
      const chunk = Buffer.allocUnsafe(Math.min(chunkBytes, size - pos))
      const n = readFully(fd, chunk, 0, chunk.length, pos)
      if (n === 0) break
      const piece = chunk.subarray(0, n)
      tails.push(piece)
      framer.push(piece, sink)
      pos += n
      chunkBytes = Math.min(chunkBytes * 2, 1 << 20)
    }
    if (stop < 0) {
      // The end of the file (as of its size at open, or earlier when it shrank): it must end a record.
      if (framer.pending || pos < size) return { ...none, failed: true }
      stop = pos
    }
  } catch (err) {
    // An error past the stop belongs to the next range.
    if (stop < 0) {
      if (isFramingError(err)) return { ...none, failed: true }
      throw err
    }
  }
  const lines = records === 0 ? 0 : lastLine - line + countLf(lastSource, lastStart, lastEnd)
  const result: RangeResult = { from, stop, records, entries, lines, out: null, failed: false }
  if (format === 'none') return result
  if (writer) {
    // A view of the writer's buffer, copied at once: the buffer serves the next range.
    const text = writer.takeView()
    result.out = text ? concat([text], context.buffers) : null
  } else if (keepAll) {
    // Every byte in [from, stop) belongs to a record.
    if (stop <= headEnd) result.out = concat([head.subarray(from - bufStart, stop - bufStart)], context.buffers)
    else {
      const parts: Uint8Array[] = [head.subarray(from - bufStart, got)]
      let left = stop - headEnd
      for (const t of tails) {
        if (left <= 0) break
        const take = Math.min(t.length, left)
        parts.push(t.subarray(0, take))
        left -= take
      }
      result.out = concat(parts, context.buffers)
    }
  } else {
    if (runSource) runs.push((runSource as Buffer).subarray(runStart, runEnd))
    result.out = runs.length ? concat(runs, context.buffers) : null
  }
  return result
}

function isFramingError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return code === 'ERR_JOURNAL_MALFORMED' || code === 'ERR_ENTRY_TOO_LARGE'
}

/** `parts` joined into an output buffer. */
function concat(parts: readonly Uint8Array[], buffers: BufferCache): Buffer {
  let n = 0
  for (const p of parts) n += p.length
  const out = buffers.output(n)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/**
 * Whole records framed elsewhere (a stream the main thread frames: stdin,
 * a pipe, inflated gzip), to be filtered and encoded here: `data` holds
 * `length` bytes of adjacent records, the first at `offset` and `line`.
 */
export interface RecordsTask {
  data: ArrayBuffer
  length: number
  offset: number
  line: number
}

/** What {@link encodeRecords} made of a {@link RecordsTask}. */
export interface RecordsResult {
  /** Records kept by the filters. */
  entries: number
  /** Their lines; null when none was kept. */
  out: Uint8Array | null
}

/**
 * Frames the records of `task` again (they are whole and adjacent, so this
 * is exact and cannot fail on input the main thread framed) and writes the
 * kept ones with the context's writer.
 */
export function encodeRecords(task: RecordsTask, context: RangeContext): RecordsResult {
  const { options, filter, writer } = context
  if (!writer) throw new TypeError(`encodeRecords writes json or row lines, not ${options.format}`)
  writer.take()
  const framer = new JournalFramer({
    offset: task.offset,
    line: task.line,
    maxEntryBytes: options.maxEntryBytes || DEFAULT_MAX_ENTRY_BYTES,
    journal: options.journal,
    file: options.file,
  })
  let entries = 0
  framer.push(Buffer.from(task.data, 0, task.length), (source, s, e, offset, line) => {
    if (filter) {
      const entry = new JournalEntry(source, { journal: options.journal, offset, end: offset + e - s, line }, { encoding: options.encoding, start: s, end: e })
      if (!filter(entry)) return
    }
    entries++
    writer.add(source, s, e, options.journal, offset, line)
  })
  if (framer.pending) throw new Error(`a batch of records at offset ${task.offset} ends inside a record`)
  const text = writer.take()
  return { entries, out: text ? concat([text], context.buffers) : null }
}

/** A task for a range worker; `spare` is an output buffer the main thread has written and gives back for reuse. */
export type RangeWorkerTask = ({ kind: 'count'; start: number; end: number } | ({ kind: 'range' } & RangeTask) | ({ kind: 'records' } & RecordsTask)) & {
  spare?: ArrayBuffer
}
export type RangeWorkerResult = { kind: 'count'; lines: number } | ({ kind: 'range' } & RangeResult) | ({ kind: 'records' } & RecordsResult)
/** What every range worker of a run gets. */
export interface RangeWorkerData {
  fd: number
  options: RangeOptions
}

/** Runs one task (in a worker, or on this thread for tests and small runs). */
export function runRangeTask(fd: number, task: RangeWorkerTask, context: RangeContext): RangeWorkerResult {
  if (task.spare) context.buffers.give(task.spare)
  if (task.kind === 'count') return { kind: 'count', lines: countLines(fd, task.start, task.end, context.buffers) }
  if (task.kind === 'records') return { kind: 'records', ...encodeRecords(task, context) }
  return { kind: 'range', ...frameRange(fd, task, context) }
}
