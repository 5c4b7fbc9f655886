import { createReadStream, statSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { Readable, Writable } from 'node:stream'
import { framingFailure, gunzipFile, maybeGunzip } from '../files/gunzip.js'
import { FileReader } from '../files/file-reader.js'
import { journalNumberOf } from '../files/journal-name.js'
import { JournalEntry, type FieldEncoding } from '../journal/entry.js'
import { createEntryFilter, type EntryFilterOptions } from '../journal/entry-filter.js'
import { entryToJsonLine } from '../journal/entry-json.js'
import { JsonLineWriter } from '../journal/json-line-writer.js'
import { RowLineWriter } from '../journal/row-line-writer.js'
import { entryToRowLine } from '../journal/entry-row.js'
import { JournalFramer } from '../journal/framer.js'
import { write } from './write-out.js'

export { write }

export type CatFormat = 'raw' | 'json' | 'row'

export interface CatOptions extends EntryFilterOptions {
  format: CatFormat
  encoding: FieldEncoding
  skipMalformed: boolean
  allowIncomplete: boolean
  maxEntryBytes?: number
}

/** What one input produced. */
export interface CatCounts {
  entries: number
  malformedSkipped: number
  oversizeSkipped: number
}

/**
 * Whether `file` is (or links to) a regular file, read by position. A named
 * pipe, a character device or a socket is read as a stream instead: a
 * positional read there fails with ESPIPE. A path that cannot be looked at
 * counts as a file, so that opening it reports why.
 */
function regularFile(file: string): boolean {
  try {
    return statSync(file).isFile()
  } catch {
    return true
  }
}

/**
 * Opens `file` (or stdin for `-`) as a stream of decompressed bytes, gzip
 * recognised by its magic bytes. `onBytes` sees the bytes as read from the
 * file (compressed), for progress against the file's size.
 */
export function openInput(file: string, stdin: Readable, onBytes?: (n: number) => void): Readable {
  // A .gz file whose inflate worker reads it: this thread only frames and writes.
  const direct = file === '-' ? null : gunzipFile(file, { file, ...(onBytes ? { onRead: onBytes } : {}) })
  if (direct) return direct
  const raw =
    file === '-'
      ? stdin
      : regularFile(file)
        ? // As it was when opened, as the range-parallel path reads it: the same output whatever the thread count.
          new FileReader(file, { journal: journalNumberOf(file), snapshot: true })
        : createReadStream(file, { highWaterMark: 128 * 1024 })
  const inflated = maybeGunzip({ file })
  // Whatever came through before the input failed is good: it is read first.
  raw.on('error', (err: Error) => inflated.failInput(err))
  if (onBytes) raw.on('data', (chunk: Buffer) => onBytes(chunk.length))
  return raw.pipe(inflated)
}

/**
 * Raw runs are joined into one write per input chunk unless one is at least
 * this long: a record of many chunks (a description of tens of MB) is
 * written as it is, not copied once more. A 45 MiB record peaked at 196 MB
 * RSS with the copy, 150 MB without.
 */
const JOIN_RUNS_BELOW = 1 << 20

/**
 * Writes one input's records to `out` in the chosen format. Throws the
 * framing error after writing every good record before it. `at`: the input
 * starts at this record boundary of the file (offset and line), not at 0.
 */
export async function catInput(input: Readable, file: string, out: Writable, options: CatOptions, at?: { offset: number; line: number }): Promise<CatCounts> {
  const name = file === '-' ? null : file
  const framer = new JournalFramer({
    ...(at ? { offset: at.offset, line: at.line } : {}),
    journal: name ? journalNumberOf(name) : null,
    file: file === '-' ? '-' : file,
    skipMalformed: options.skipMalformed,
    ...(options.maxEntryBytes !== undefined ? { maxEntryBytes: options.maxEntryBytes } : {}),
  })
  const journal = name ? journalNumberOf(name) : null
  const filter = createEntryFilter(options)
  const encoding = options.encoding
  let entries = 0
  const jsonOut = options.format === 'json' ? new JsonLineWriter(name, encoding) : options.format === 'row' ? new RowLineWriter(name, encoding) : null
  // Raw output is kept as runs of adjacent records: one view per run, not per record.
  let runs: Buffer[] = []
  let runSource: Buffer | null = null
  let runStart = 0
  let runEnd = 0
  const addRaw = (source: Buffer, start: number, end: number): void => {
    if (source === runSource && start === runEnd) {
      runEnd = end
      return
    }
    if (runSource) runs.push(runSource.subarray(runStart, runEnd))
    runSource = source
    runStart = start
    runEnd = end
  }

  const toEntry = (source: Buffer, start: number, end: number, offset: number, line: number, incomplete = false): JournalEntry =>
    new JournalEntry(source, { journal, offset, end: offset + end - start, line }, { encoding, incomplete, start, end })

  const sink = (source: Buffer, start: number, end: number, offset: number, line: number): void => {
    if (!filter) {
      entries++
      if (jsonOut) jsonOut.add(source, start, end, journal, offset, line)
      else addRaw(source, start, end)
      return
    }
    const entry = toEntry(source, start, end, offset, line)
    if (filter && !filter(entry)) return
    entries++
    if (jsonOut) jsonOut.add(source, start, end, journal, offset, line)
    else addRaw(source, start, end)
  }

  const flush = async (): Promise<void> => {
    if (jsonOut) {
      const data = jsonOut.take()
      if (data) await write(out, data)
    } else {
      if (runSource) runs.push(runSource.subarray(runStart, runEnd))
      runSource = null
      if (runs.length) {
        const pieces = runs
        runs = []
        // One write for the chunk's records, unless one is a record of many chunks (see JOIN_RUNS_BELOW).
        if (pieces.every((run) => run.length < JOIN_RUNS_BELOW)) await write(out, pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces))
        else for (const run of pieces) await write(out, run)
      }
    }
  }

  let seen = 0
  try {
    for await (const chunk of input) {
      seen += (chunk as Buffer).length
      try {
        framer.push(chunk as Buffer, sink)
      } catch (err) {
        throw await framingFailure(err, input, seen, flush)
      }
      await flush()
    }
    const rest = options.allowIncomplete ? framer.takePending() : null
    if (rest) {
      const entry = toEntry(rest.raw, 0, rest.raw.length, rest.offset, rest.line, true)
      if (!filter || filter(entry)) {
        entries++
        if (jsonOut) jsonOut.addText(options.format === 'row' ? entryToRowLine(entry, name) : entryToJsonLine(entry, name))
        else addRaw(rest.raw, 0, rest.raw.length)
      }
    }
    const incomplete = framer.incompleteError()
    if (incomplete) throw incomplete
  } finally {
    // Whatever was framed before an error is good: it goes out first.
    await flush()
  }
  return { entries, malformedSkipped: framer.malformedSkipped, oversizeSkipped: framer.oversizeSkipped }
}

/** Total size of the named files, or null when any is stdin or unknown. */
export async function totalSize(files: readonly string[]): Promise<number | null> {
  let total = 0
  for (const f of files) {
    if (f === '-') return null
    try {
      total += (await stat(f)).size
    } catch {
      return null
    }
  }
  return total
}
