import type { Writable } from 'node:stream'
import type { FieldEncoding, JournalEntry } from '../journal/entry.js'
import { createEntryFilter, type EntryFilterOptions } from '../journal/entry-filter.js'
import { JsonLineWriter } from '../journal/json-line-writer.js'
import { RowLineWriter } from '../journal/row-line-writer.js'
import { RotatingJournalSource, type RotatingJournalSourceOptions } from '../source/rotating-journal-source.js'

export interface FollowOptions extends EntryFilterOptions {
  source: RotatingJournalSourceOptions
  format: 'raw' | 'json' | 'row'
  encoding: FieldEncoding
  /** Stops following: what was written is committed, then the source closes. */
  signal?: AbortSignal
  /** Called for each record skipped (skipMalformed). */
  onSkip?: (message: string) => void
}

/**
 * Output is gathered while entries are at hand and written in one piece
 * when the source has no more buffered (or at this many bytes): a write per
 * record would cost more than reading it.
 */
const FLUSH_BYTES = 1 << 20

/**
 * `logdaemon-cat --follow`: prints the entries of the journal chain and then
 * of the live journal as it grows, until `signal` aborts or the output
 * closes. After each write has been handed to the output, the last entry
 * written is committed, so with a state file a restart (even after
 * `kill -9`) goes on from there; records after the last saved consistency
 * point may be printed again. Resolves when done; rejects with the
 * source's error (ERR_JOURNAL_GAP, ERR_STATE_MISMATCH, …) or the output's.
 */
export async function followJournal(out: Writable, options: FollowOptions): Promise<void> {
  // Batches: a chunk's entries at a time, and `readableLength === 0` below means nothing more is read yet.
  const source = new RotatingJournalSource({ ...options.source, batch: true })
  const filter = createEntryFilter(options)
  const json =
    options.format === 'json' ? new JsonLineWriter(null, options.encoding) : options.format === 'row' ? new RowLineWriter(null, options.encoding) : null
  let raw: Buffer[] = []
  let bytes = 0
  let last: JournalEntry | null = null
  let writing = false
  let stopping = false
  const stop = (): void => {
    stopping = true
    // A write under way is committed first (see below); otherwise close now.
    if (!writing) source.destroy()
  }
  if (options.signal?.aborted) stop()
  options.signal?.addEventListener('abort', stop, { once: true })
  source.on('skip', (r) => options.onSkip?.(`journal ${r.journal}, offset ${r.offset}, line ${r.line}: skipped: ${r.reason}`))
  // The output going away ends following quietly (the caller sees its error).
  const outputGone = (): void => stop()
  out.on('close', outputGone).on('error', outputGone)

  const flush = async (): Promise<void> => {
    const data = json ? json.take() : raw.length === 0 ? null : raw.length === 1 ? raw[0] : Buffer.concat(raw, bytes)
    raw = []
    bytes = 0
    const entry = last
    if (!entry) return
    writing = true
    try {
      if (data) await write(out, data)
      source.commit(entry)
      last = null
    } finally {
      writing = false
    }
    if (stopping) source.destroy()
  }

  try {
    for await (const batch of source as AsyncIterable<JournalEntry[]>) {
      for (const e of batch) {
        last = e
        if (!filter || filter(e)) {
          if (json) json.add(e.raw, 0, e.length, e.position.journal, e.position.offset, e.position.line)
          else raw.push(e.raw)
          bytes += e.length
        }
        if (bytes >= FLUSH_BYTES) await flush()
        if (stopping) break
      }
      if (!stopping && source.readableLength === 0) await flush()
    }
  } finally {
    out.off('close', outputGone).off('error', outputGone)
    options.signal?.removeEventListener('abort', stop)
    source.destroy()
    // The state is saved on close; wait for it (errors were thrown by the loop already).
    if (!source.closed) await new Promise((resolve) => source.once('close', resolve))
  }
}

/** Writes and waits until the output has taken the data; rejects if it closes first. */
function write(out: Writable, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (out.destroyed || out.writableEnded) {
      reject(Object.assign(new Error('output closed'), { code: 'EPIPE' }))
      return
    }
    out.write(data, (err) => (err ? reject(err) : resolve()))
  })
}
