/**
 * Framing an inflated stream on a worker pool: the stream comes in chunks
 * (in memory, not ranges of a file), and each chunk is framed on a worker
 * from a guessed record start to its last whole record. The thread that
 * hands out the chunks frames what lies between (the record that spans
 * two chunks) and checks each guess: see cat-gzip-parallel.ts.
 */
import { DEFAULT_MAX_ENTRY_BYTES, JournalFramer } from '../journal/framer.js'
import { concat, isFramingError, looksLikeStart, pushInPieces, type RangeContext } from './frame-range.js'

const LF = 0x0a

/** One chunk of the stream: `length` bytes of `data`, the first at `offset`. */
export interface ChunkTask {
  data: ArrayBuffer
  length: number
  /** Offset of the chunk's first byte in the stream. */
  offset: number
  /** The line number at the chunk's first byte, when lines are wanted (json, row); else null. */
  line: number | null
  /** The chunk starts at a true record start (the first chunk): frame from it, no guess. */
  exact: boolean
  /** The byte before the chunk is a LF (a record may start at the chunk's first byte). */
  afterLf: boolean
}

/** What a worker made of a chunk. */
export interface ChunkResult {
  /** Where framing started (the guessed record start, as a stream offset); -1 when no guess fit in the chunk. */
  from: number
  /** The end of the last whole record framed from `from` (`from` when none). */
  stop: number
  records: number
  /** Records kept by the filters. */
  entries: number
  /** LF bytes in [from, stop). */
  lines: number
  /**
   * The kept records' lines (json, row) or bytes (raw with filters); null
   * when none, and for raw output without filters: the chunk's own bytes
   * in [from, stop) are the output then.
   */
  out: Uint8Array | null
  /**
   * Framing from `from` failed (malformed or oversize input): nothing of
   * the chunk is given, and the caller frames it from the true boundary.
   */
  failed: boolean
  /** The chunk's buffer, handed back. */
  data: ArrayBuffer
}

function countLf(buf: Uint8Array, start: number, end: number): number {
  let lines = 0
  for (let i = buf.indexOf(LF, start); i !== -1 && i < end; i = buf.indexOf(LF, i + 1)) lines++
  return lines
}

/** The first place in `buf` (of `n` bytes) that looks like a record start; -1 when none. */
function guessStart(buf: Buffer, n: number, afterLf: boolean): number {
  if (afterLf && n > 0 && buf[0] === 0x40) {
    // looksLikeStart looks at the byte before: give it one.
    const head = Buffer.allocUnsafe(Math.min(n, 12) + 1)
    head[0] = LF
    buf.copy(head, 1, 0, head.length - 1)
    if (looksLikeStart(head, 1, head.length)) return 0
  }
  for (let i = buf.indexOf(LF); i !== -1 && i + 1 < n; i = buf.indexOf(LF, i + 1)) if (looksLikeStart(buf, i + 1, n)) return i + 1
  return -1
}

/**
 * Frames the whole records of one chunk, from its first (guessed) record
 * start to the end of its last whole record, and writes the kept ones in
 * the context's format. The bytes after `stop` (a record going on into the
 * next chunk) are left to the caller. Exact whenever `from` is a true
 * record start, which the caller checks.
 */
export function frameChunk(task: ChunkTask, context: RangeContext): ChunkResult {
  const { options, filter, writer } = context
  const buf = Buffer.from(task.data, 0, task.length)
  const at = task.exact ? 0 : guessStart(buf, task.length, task.afterLf)
  const none: ChunkResult = { from: -1, stop: -1, records: 0, entries: 0, lines: 0, out: null, failed: false, data: task.data }
  if (at < 0) return none
  const from = task.offset + at
  const line = task.line === null ? 1 : task.line + countLf(buf, 0, at)
  const format = options.format
  const keepAll = !filter && (format === 'raw' || format === 'none')
  const framer = new JournalFramer({
    offset: from,
    line,
    maxEntryBytes: options.maxEntryBytes || DEFAULT_MAX_ENTRY_BYTES,
    journal: options.journal,
    file: options.file,
  })
  // Lines of a chunk that failed before are not this chunk's.
  writer?.takeView()
  const runs: Buffer[] = []
  // The run of kept records that lie end to end, in the source they came in: a record cut by a piece's end
  // comes in a view of its own (see pushInPieces).
  let runSource = null as Buffer | null
  let runStart = -1
  let runEnd = -1
  let records = 0
  let entries = 0
  let stop = from
  const view = buf.subarray(at, task.length)
  let lastLine = line
  let lastSource: Buffer = view
  let lastStart = 0
  let lastEnd = 0
  const sink = (source: Buffer, s: number, e: number, offset: number, recLine: number): void => {
    records++
    lastSource = source
    lastStart = s
    lastEnd = e
    lastLine = recLine
    stop = offset + e - s
    if (keepAll) {
      entries++
      return
    }
    if (filter && !filter(source, s, e, offset, recLine)) return
    entries++
    if (writer) writer.add(source, s, e, options.journal, offset, recLine)
    else if (source === runSource && s === runEnd) runEnd = e
    else {
      if (runSource) runs.push(runSource.subarray(runStart, runEnd))
      runSource = source
      runStart = s
      runEnd = e
    }
  }
  try {
    pushInPieces(framer, view, sink)
  } catch (err) {
    if (!isFramingError(err)) throw err
    return { ...none, from, stop: from, failed: true }
  }
  const lines = records === 0 ? 0 : lastLine - line + countLf(lastSource, lastStart, lastEnd)
  const result: ChunkResult = { from, stop, records, entries, lines, out: null, failed: false, data: task.data }
  if (writer) result.out = writer.take(context.buffers.largest())
  else if (!keepAll && format === 'raw') {
    if (runSource) runs.push(runSource.subarray(runStart, runEnd))
    result.out = runs.length ? concat(runs, context.buffers) : null
  }
  return result
}

/** A task for a chunk worker; `spares` are output buffers written and given back for reuse. */
export type ChunkWorkerTask = ChunkTask & { spares?: ArrayBuffer[] }

/** Runs one task (in a worker, or on this thread for tests). */
export function runChunkTask(task: ChunkWorkerTask, context: RangeContext): ChunkResult {
  if (task.spares) for (const spare of task.spares) context.buffers.give(spare)
  return frameChunk(task, context)
}
