import { finished, type Readable } from 'node:stream'
import { type GunzipTransform, isPlainFile, maybeGunzip } from '../files/gunzip.js'
import { FileReader } from '../files/file-reader.js'
import { journalNumberOf } from '../files/journal-name.js'
import { checkReaderOptions, JournalEntryTransform, type JournalEntryTransformOptions } from './journal-entry-transform.js'
import { checkMaxEntryBytes } from './framer.js'

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
 *
 * The result is the framing stage itself, fed by the stages before it: its
 * entries reach the consumer without another stream hop each, and its
 * `for await` reads them in batches (JournalEntryTransform). It emits
 * `close` once the stages it opened (the file, gunzip) are closed. A
 * failure before framing (a read error, the file cut under it, corrupt
 * gzip) reaches the consumer after the entries of the bytes that came
 * through before it.
 */
export function createJournalReader(file: string | null, options: JournalReaderOptions = {}): Readable {
  const opts = { ...options }
  checkReaderOptions(opts)
  checkMaxEntryBytes(opts.maxEntryBytes)
  const ownInput = !opts.input && file !== null
  const journal = opts.journal !== undefined ? opts.journal : file ? journalNumberOf(file) : null
  const input = opts.input ?? (file ? new FileReader(file, { journal }) : process.stdin)
  const fileOptions = { ...opts, journal, file: opts.file ?? file }
  // A plain file is framed as it is read; anything else goes through gunzip, which inflates gzip and passes
  // the rest through. A stage less is a stream hop per chunk less: `for await` over the bench's 200 MB
  // checkpoints took 6-13 ms less CPU (of 410-450 ms, the process's), its wall time the same within the
  // noise (16 interleaved runs, medians). A file made gzip between this look and the first read fails
  // framing at its first byte (ERR_JOURNAL_MALFORMED), as any file that is not a journal does.
  if (ownInput && isPlainFile(file)) {
    const entries = new JournalReader(fileOptions, [input], input, null)
    input.on('error', (err: Error) => entries.failInput(err))
    finished(entries, () => {})
    input.pipe(entries)
    return entries
  }
  const gunzip = maybeGunzip({ file: file ?? '-' })
  const entries = new JournalReader(fileOptions, ownInput ? [input, gunzip] : [gunzip], input, gunzip)
  // A failure of a stage reaches the framing stage, where the consumer sees it, after the output that came
  // through before it (as the framer's own errors come after the entries before them): `pipeline` would
  // destroy every stage at once and drop what they hold. Destroying the framing stage destroys the others.
  input.on('error', (err: Error) => gunzip.failInput(err))
  gunzip.on('error', (err: Error) => entries.failInput(err))
  // Its errors are the consumer's (`for await`, a pipe's callback): none is thrown as unhandled here.
  finished(entries, () => {})
  input.pipe(gunzip).pipe(entries)
  return entries
}

/** The framing stage of createJournalReader: destroying it destroys the stages before it and waits for those it opened to close. */
class JournalReader extends JournalEntryTransform {
  readonly #own: readonly Readable[]
  readonly #input: Readable
  readonly #gunzip: GunzipTransform | null

  constructor(options: JournalEntryTransformOptions, own: readonly Readable[], input: Readable, gunzip: GunzipTransform | null) {
    super(options)
    this.#own = own
    this.#input = input
    this.#gunzip = gunzip
    gunzip?.on('verified', () => this.inputVerified())
  }

  /** Up to the end of the last gzip member whose CRC-32 the gunzip stage checked (all of plain input). */
  protected override verifiedInput(): number {
    return this.#gunzip ? this.#gunzip.verified : Number.POSITIVE_INFINITY
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (!this.#input.destroyed) this.#input.destroy()
    const open = this.#own.filter((s) => !s.closed)
    for (const s of open) s.destroy()
    let left = open.length
    if (left === 0) {
      cb(err)
      return
    }
    for (const s of open) s.once('close', () => --left === 0 && cb(err))
  }
}
