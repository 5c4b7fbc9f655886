import type { Readable } from 'node:stream'
import pumpify from 'pumpify'
import { maybeGunzip } from '../files/gunzip.js'
import { FileReader } from '../files/file-reader.js'
import { journalNumberOf } from '../files/journal-name.js'
import { JournalEntryTransform, type JournalEntryTransformOptions } from './journal-entry-transform.js'

export interface JournalReaderOptions extends JournalEntryTransformOptions {
  /** Read from this stream instead of opening `file` (stdin, a socket, …). */
  input?: Readable
}

/**
 * One stream from a file (or any byte stream) to journal entries: the
 * input, gunzip when its first bytes say gzip, then framing. The journal
 * number defaults to the one in the file name (`journal.N`, `PREFIX.jnl.N[.gz]`).
 * The result is an object-mode `Readable` of `JournalEntry`; destroying it
 * destroys every stage (and closes the file).
 */
export function createJournalReader(file: string | null, options: JournalReaderOptions = {}): Readable {
  const opts = { ...options }
  const input = opts.input ?? (file ? new FileReader(file) : process.stdin)
  const journal = opts.journal !== undefined ? opts.journal : file ? journalNumberOf(file) : null
  const entries = new JournalEntryTransform({ ...opts, journal, file: opts.file ?? file })
  return new pumpify.obj(input, maybeGunzip({ file: file ?? '-' }), entries)
}
