import { stat } from 'node:fs/promises'
import { ErrorCodes, isErrnoException, LogdaemonError } from '../errors.js'
import type { JournalPosition } from '../position.js'
import { archiveCandidates, liveJournalPath, type JournalLayout } from '../files/journal-name.js'
import { describeJournalChain, findArchive, isJournalFileName, journalDirs, journalGapError, type ArchiveFile } from '../files/journal-set.js'
import { openIfExists } from '../files/if-exists.js'
import { checkFramingError, isFramingError } from '../files/gzip-damage.js'
import { STATE_TAIL_BYTES, tailFingerprint, type PreviousJournal, type StateFileIdentity } from '../files/state-file.js'
import { type AdviceAs, fromAdvice, prefixAdvice } from '../files/start-advice.js'
import { ArchiveReader, lastBytes, type GzipRetryOptions } from './archive-reader.js'
import { ChangeWatcher } from './change-watcher.js'
import { identityOf, LiveFile } from './live-file.js'
import { isUnreadable } from './unreadable.js'
import { COUNTER_SEARCH_BYTES, journalCounterLook } from './start-point.js'

/** How journal N came to its end: its live file renamed, copied and truncated, or already archived when reached. */
export type RotationMode = 'rename' | 'copy-truncate' | 'archived'

/** One step of the cursor: bytes of the current journal, or the end of it. */
export type CursorStep =
  | { readonly kind: 'data'; readonly bytes: Buffer }
  | {
      readonly kind: 'end'
      readonly journal: number
      readonly end: number
      readonly mode: RotationMode
      /** The journal that follows: journal + 1, unless the server archived the file under another number. */
      readonly next: number
    }

export interface JournalCursorOptions {
  layout: JournalLayout
  /** Safety-net poll while waiting at the live journal's end, ms. Default 1000. */
  pollMs?: number
  gzipRetry?: GzipRetryOptions
  /**
   * How long the live journal may stay shorter than the read offset, or an
   * empty archive face a live file with other bytes, before the cursor
   * decides. Default 5000 ms.
   */
  graceMs?: number
  /** The clock the grace period is measured by, in ms. Default `performance.now` (monotonic); tests pass their own. */
  now?: () => number
  /** Aborts waits and retries. */
  signal: AbortSignal
  /** Called each time the cursor starts waiting at the live journal's end. */
  onWait?: () => void
  /**
   * Called when new bytes came that are held back: the first bytes of a
   * live journal, not one whole record yet, while its number is in doubt
   * (see #counterDecided). They are data for the quiet signal, as they were
   * when handed out to the framer.
   */
  onHeldBack?: () => void
  /** How messages name the settings (`--from N`, `--prefix`, or the daemon's `from: N`, `server.prefix`). Default `option`. */
  adviceAs?: AdviceAs
}

/** What `open()` found at the start offset, for checking a saved state. */
export interface OpenedAt {
  /** The bytes just before the offset (up to STATE_TAIL_BYTES). */
  readonly before: Buffer
  /** Whether the journal reaches the offset. */
  readonly reached: boolean
  /** When it does not: how many bytes it has (null when there is no file at all). */
  readonly available: number | null
}

/** Bytes compared at each end of a plain archive to tell a copy of the live journal under way from a finished archive (see #liveHolding). */
const COPY_CHECK_BYTES = 4096

/** The first and last `k` bytes of a file of `size` bytes; null when it is gone or shorter now. */
async function readEnds(path: string, size: number, k: number): Promise<{ head: Buffer; tail: Buffer } | null> {
  const fh = await openIfExists(path)
  if (fh === null) return null
  try {
    if (!(await fh.stat()).isFile()) return null
    const head = Buffer.alloc(k)
    const tail = Buffer.alloc(k)
    const a = await fh.read(head, 0, k, 0)
    const b = await fh.read(tail, 0, k, size - k)
    return a.bytesRead === k && b.bytesRead === k ? { head, tail } : null
  } finally {
    await fh.close()
  }
}

type Source = { kind: 'archive'; reader: ArchiveReader; mode: RotationMode } | { kind: 'live'; file: LiveFile; renamed: boolean; archivedAs?: number }

/**
 * The bytes of the journal set in order: each archived journal from the
 * start, then the live journal as it grows, across rotations. It reads only
 * when asked (`next()`), so the consumer's pace is the file's pace, and it
 * finds out about rotations when it reads: a rotation that happened while
 * nobody asked is handled in order, since the renamed file stays open and
 * a truncated one is finished from its archive.
 *
 * Each read from the live file checks the bytes before the offset in the
 * same read (LiveFile.readAfter): new bytes are handed out only when what
 * precedes them is what was delivered. When it is not, or at the end of
 * the file (or at offset 0, where there is no window), the cursor looks
 * whether journal N has been archived meanwhile (a few stat calls): with
 * the same inode at the live path that means copy and truncate, and the
 * bytes just read may already be journal N+1's, so the rest of N comes
 * from the archive at the same offset; with another file at the live path,
 * a rename, found when the old file's descriptor reaches its end. While
 * the journal is caught up on, that is no stat call per chunk, and the
 * next chunk is read while this one is framed.
 */
export class JournalCursor {
  /** The journal being read. */
  journal = 0
  /** Offset of the next byte in that journal. */
  offset = 0

  readonly #layout: JournalLayout
  readonly #livePath: string
  readonly #options: JournalCursorOptions
  readonly #watcher: ChangeWatcher
  #src: Source | null = null
  /** The last bytes before `offset` (up to STATE_TAIL_BYTES), to recognise the live file's content. */
  #tail: Buffer = Buffer.alloc(0)
  /** The last barrier known (see `verified`). */
  #verified: JournalPosition = { journal: 0, offset: 0 }
  /** Since when a doubtful situation (shrunk without archive, empty archive) lasts. */
  #doubtSince: number | null = null
  /**
   * The journal read to its end last (or, at a start at N/0, the one the
   * saved state says came before): its number, its length and the
   * fingerprint of its last bytes. A live file that still holds those bytes
   * there is that journal, not the next one (see #stillHoldsEnded).
   */
  #ended: PreviousJournal | null = null
  /**
   * The live file was taken for journal N holding no whole record yet (and
   * fewer than COUNTER_SEARCH_BYTES): its first bytes are looked at again
   * when they come, before any is delivered (see #nextLive).
   */
  #counterPending = false
  /** The bytes held back so far while #counterPending. */
  #heldBytes = 0
  readonly #adviceAs: AdviceAs

  constructor(options: JournalCursorOptions) {
    this.#options = { ...options }
    this.#adviceAs = options.adviceAs ?? 'option'
    this.#layout = options.layout
    this.#livePath = liveJournalPath(options.layout)
    this.#watcher = new ChangeWatcher({
      dirs: journalDirs(options.layout),
      isInteresting: (name) => isJournalFileName(this.#layout, name),
      pollMs: options.pollMs ?? 1000,
    })
  }

  /** The file the bytes come from now, for the state file. */
  get file(): StateFileIdentity | null {
    const src = this.#src
    if (!src) return null
    if (src.kind === 'live') return { path: src.file.path, dev: src.file.dev, ino: src.file.ino, compressed: false }
    const r = src.reader
    return { path: r.file.path, dev: r.dev, ino: r.ino, compressed: r.file.compressed }
  }

  /** The live journal when the cursor is in it: number, path, size seen last. */
  get live(): { journal: number; path: string; size: number } | null {
    const src = this.#src
    return src?.kind === 'live' ? { journal: this.journal, path: src.file.path, size: src.file.size } : null
  }

  /**
   * Where the bytes returned so far are known good: the end of the last
   * checked gzip member of a `.gz` being read, else everything (the live
   * journal and plain archives are what is on disk). Only grows, except
   * that a copied-and-truncated journal finished from its `.gz` restarts
   * at the offset reached (the bytes before came from the live file).
   */
  get verified(): JournalPosition {
    const src = this.#src
    if (src?.kind === 'archive') this.#verified = { journal: this.journal, offset: src.reader.verified }
    else if (src?.kind === 'live') this.#verified = { journal: this.journal, offset: Number.MAX_SAFE_INTEGER }
    // No file open: what was known when the last one closed (an error or close must not widen it).
    return this.#verified
  }

  /** Watch events seen so far. */
  get watchEvents(): number {
    return this.#watcher.events
  }

  /**
   * Positions the cursor at `start`. Returns the bytes just before the
   * offset and whether the journal reaches the offset at all, for checking
   * a saved state.
   */
  async open(journal: number, offset: number, previous?: PreviousJournal): Promise<OpenedAt> {
    this.journal = journal
    this.offset = offset
    this.#verified = { journal, offset }
    this.#ended = offset === 0 && previous && previous.journal < journal ? previous : null
    return this.#openJournal(journal, offset)
  }

  /**
   * The next chunk of the current journal, or its end; waits at the live
   * journal's end. A journal directory (or journal) that cannot be read for
   * a while (EACCES, EPERM: its permissions changed) is waited out: the
   * cursor stays where it is and looks again at the next change or poll
   * (the daemon's status says Behind meanwhile, docs/operations.md).
   */
  async next(): Promise<CursorStep> {
    for (;;) {
      this.#options.signal.throwIfAborted()
      let step: CursorStep | null
      try {
        step = await this.#step()
      } catch (err) {
        if (!isUnreadable(err)) throw err
        await this.#watcher.wait(this.#options.signal)
        continue
      }
      if (step) return step
    }
  }

  /** One look: a step, or null to look again. A failure leaves the cursor as it was (no byte handed out, no file given up). */
  async #step(): Promise<CursorStep | null> {
    if (!this.#src) await this.#openJournal(this.journal, 0)
    const src = this.#src as Source | null
    if (!src) return null
    if (src.kind === 'archive') {
      const chunk = await src.reader.read()
      if (chunk) return this.#data(chunk)
      return this.#end(src.mode)
    }
    return this.#nextLive(src)
  }

  /**
   * Framing failed with `err` in the bytes handed out: in a `.gz` archive
   * whose member holding them was not checked yet, reads on (dropping what
   * it reads; `offset` stays) until it is, and returns the error to report
   * (framingOrDamage: ERR_GZIP_CORRUPT where the member's CRC-32 fails).
   * Elsewhere the bytes are what is on disk: `err` as it is.
   */
  async checkFramingError(err: Error): Promise<Error> {
    const src = this.#src
    if (src?.kind !== 'archive' || !isFramingError(err)) return err
    const reader = src.reader
    return checkFramingError(
      err,
      this.offset,
      () => reader.verified,
      async () => (await reader.read()) !== null,
    )
  }

  /** Closes the file and the watcher. Idempotent. */
  async close(): Promise<void> {
    this.#watcher.close()
    void this.verified // frozen as it is now
    const src = this.#src
    this.#src = null
    if (src?.kind === 'archive') await src.reader.close()
    else if (src?.kind === 'live') await src.file.close()
  }

  async #nextLive(src: Source & { kind: 'live' }): Promise<CursorStep | null> {
    const f = src.file
    if (src.renamed) {
      // Checked like any read: a file that no longer has the bytes read before the offset is not journal N.
      const bytes = await f.readAfter(this.offset, this.#tail)
      if (bytes !== null) return bytes.length > 0 ? this.#data(bytes) : this.#end('rename')
      return this.#fromCopy(src)
    }
    // Every read checks the bytes before the offset in the same read (see LiveFile.readAfter): new bytes are
    // trusted only when what precedes them is what was delivered, whether or not a wait came between.
    const bytes = await f.readAfter(this.offset, this.#tail)
    // New bytes after a window that matched need no look for an archive: when journal N was copied and
    // truncated, the file at the offset is shorter or holds N+1's bytes, and the window says so (null), which
    // brings the look below. Without a window (offset 0) the beginning of the file is all there is to go by.
    if (bytes !== null && bytes.length > 0 && this.#tail.length > 0) return this.#data(bytes)
    if (bytes === null && (await this.#rewritten(f))) {
      await this.#watcher.wait(this.#options.signal)
      return null
    }
    const where = await this.#locate(f, bytes === null || bytes.length === 0)
    if (where === 'live') {
      if (bytes === null) return null // the window changed back meanwhile: read again
      if (bytes.length > 0) {
        if (this.offset === 0 && this.#counterPending && !this.#counterDecided(bytes, f.path)) {
          // Not one whole record yet: nothing a framer could hand out is held back. Bytes that came meanwhile still
          // restart the quiet period (a probe: without, --until-caught-up stopped while the record was being written).
          if (bytes.length > this.#heldBytes) {
            this.#heldBytes = bytes.length
            this.#options.onHeldBack?.()
          }
          this.#options.onWait?.()
          await this.#watcher.wait(this.#options.signal)
          return null
        }
        this.#counterPending = false
        return this.#data(bytes)
      }
      this.#options.onWait?.()
      await this.#watcher.wait(this.#options.signal)
      return null
    }
    if (typeof where === 'object' && 'renamedTo' in where) {
      // Renamed, but the bytes before the offset are not the ones read: this file was journal N's, copied to
      // journal N's archive and truncated, written again as a later journal and renamed to that one's name (or
      // compressed). Drained as N, that journal's bytes would be read as the rest of N.
      if (bytes === null) return this.#fromCopy(src)
      // At offset 0 no bytes before it vouch for the file: when journal N has an archive that is another file (N
      // copied and truncated, the held file then written as N+1 and renamed), the held file must begin as it does
      // (a probe: opened at N/0 and read later, N+1 was drained as N).
      if (this.offset === 0) {
        const copy = await this.#archiveElsewhere(f)
        const holds = copy ? await this.#liveStillHolds(f, copy) : 'live'
        if (holds === 'wait') {
          await this.#watcher.wait(this.#options.signal)
          return null
        }
        if (holds !== 'live') return this.#fromCopy(src, copy)
      }
      // The descriptor still reads journal N: drain it to its end.
      src.renamed = true
      if (where.renamedTo !== this.journal) src.archivedAs = where.renamedTo
      return bytes && bytes.length > 0 ? this.#data(bytes) : null
    }
    if (where === 'wait') {
      await this.#watcher.wait(this.#options.signal)
      return null
    }
    // Copied and truncated: what was just read may be N+1's; the rest of N is in the archive.
    await this.#switchToArchive(src, where)
    return null
  }

  /** Journal N's archive when it is another file than `f` (a copy, or a compressed one), else null. */
  async #archiveElsewhere(f: LiveFile): Promise<ArchiveFile | null> {
    const archive = await findArchive(this.#layout, this.journal)
    if (!archive) return null
    const id = await identityOf(archive.path)
    return id && id.dev === f.dev && id.ino === f.ino ? null : archive
  }

  /**
   * The held file no longer has the bytes read before the offset, and the
   * live path names another file: journal N was copied and truncated, and
   * the file held went on as a later journal. The rest of N is in N's
   * archive (`found`, when the caller has looked already), which must hold
   * those bytes; none yet: wait for the grace period (a copy being
   * compressed), then ERR_JOURNAL_SHRUNK.
   */
  async #fromCopy(src: Source & { kind: 'live' }, found: ArchiveFile | null = null): Promise<null> {
    const archive = found ?? (await findArchive(this.#layout, this.journal))
    if (archive) {
      await this.#switchToArchive(src, archive)
      return null
    }
    if (this.#doubtful()) {
      await this.#watcher.wait(this.#options.signal)
      return null
    }
    throw this.#shrunkError(
      `the file it was read from now holds other bytes before that offset, and no archive of journal ${this.journal} was found ` +
        `(looked for ${archiveCandidates(this.#layout, this.journal).join(', ')})`,
    )
  }

  /**
   * Goes on from journal N's archive at the offset reached (copy and
   * truncate). The archive must reach the offset and hold the bytes read
   * before it: another file (an older journal N, a copy of something else)
   * read from there would garble or lose records without a word.
   */
  async #switchToArchive(src: Source & { kind: 'live' }, archive: ArchiveFile): Promise<void> {
    // The archive first: when it cannot be opened (yet), the live file is still the one read, at the same offset.
    const reader = await this.#openArchive(archive, this.offset)
    await src.file.close()
    this.#verified = { journal: this.journal, offset: this.offset }
    this.#src = { kind: 'archive', reader, mode: 'copy-truncate' }
    if (!reader.reachedOffset) {
      throw this.#shrunkError(`its archive ${archive.path} holds only ${reader.offset} bytes`)
    }
    // The bytes known before the offset (none when reading started at an offset the live file did not reach).
    const known = this.#tail.length
    if (known > 0 && !reader.before.subarray(reader.before.length - known).equals(this.#tail)) {
      throw new LogdaemonError(
        ErrorCodes.STATE_MISMATCH,
        `${this.#livePath}: journal ${this.journal} was copied and truncated at offset ${this.offset}, where reading stands, but its archive ` +
          `${archive.path} holds other bytes before that offset than the ones read: it is not a copy of the journal read. ` +
          'Records after the offset cannot be told apart from other content: check the archive, restore the replica from a checkpoint and start from it',
        { file: archive.path, journal: this.journal, offset: this.offset },
      )
    }
  }

  /**
   * After a read that found other bytes before the offset (or none): whether
   * the live journal was rewritten in place (one small read). Rewritten in
   * place (same inode, the same or a larger size) with no archive of the
   * journal to explain it (copy and truncate, which `#locate` handles), the
   * bytes before the offset are not the ones delivered, and going on from
   * the offset would skip or garble records: ERR_STATE_MISMATCH, after the
   * grace period (true while it lasts: wait and look again).
   */
  async #rewritten(f: LiveFile): Promise<boolean> {
    const k = this.#tail.length
    if (this.offset === 0 || k === 0) return false
    const b = await f.read(this.offset - k, k)
    if (b.length < k || b.equals(this.#tail)) return false // shorter: #locate decides
    if (await findArchive(this.#layout, this.journal)) return false
    if (await f.replaced()) return false
    if (this.#doubtful()) return true
    throw new LogdaemonError(
      ErrorCodes.STATE_MISMATCH,
      `${this.#livePath}: the ${k} bytes before offset ${this.offset} of journal ${this.journal}, where reading stands, ` +
        'are no longer the ones read: the live journal was rewritten in place (same file, new content) and no archive of it was found. ' +
        'Records before the offset may have been skipped or changed: check how the journal was replaced, restore the replica from a checkpoint ' +
        'of the rewritten journal and start from it (with a fresh state file)',
      { file: this.#livePath, journal: this.journal, offset: this.offset },
    )
  }

  /** Where journal N's byte at `offset` is now: the live file, renamed (to archive number M), an archive, or not known yet. */
  async #locate(f: LiveFile, atEnd: boolean): Promise<'live' | { renamedTo: number } | 'wait' | ArchiveFile> {
    const archive = await findArchive(this.#layout, this.journal)
    if (!archive) {
      if (!atEnd) return 'live'
      if (await f.replaced()) return this.#whereRenamed(f)
      if ((await f.stat()) >= this.offset) {
        this.#doubtSince = null
        return 'live'
      }
      if (this.#doubtful()) return 'wait'
      throw this.#shrunkError(`no archive of it was found (looked for ${archiveCandidates(this.#layout, this.journal).join(', ')})`)
    }
    if (await f.replaced()) return this.#whereRenamed(f)
    // The same inode at the live path and an archive of N: copy and truncate, done or under way.
    if ((await f.stat()) < this.offset) return archive
    const holds = await this.#liveStillHolds(f, archive)
    if (holds === 'wait') return this.#doubtful() ? 'wait' : archive
    return holds
  }

  /**
   * The live path names another file now. The file being read is recognised
   * by its identity (device and inode), not assumed: renamed to journal.N it
   * is a rotation; renamed to journal.M (M > N) it is journal M, and the
   * number the reading started from was wrong: it is drained as N, and M+1
   * comes next (M is not read again). Renamed and already compressed (no
   * name left, journal.N.gz there) is a rotation too, and so is a rename to
   * a name outside the journal set (its number is unknown: N is kept).
   * Deleted (no name left) with no archive of N is not a rotation: p4d may
   * go on writing to the unlinked file, where nobody can read it:
   * ERR_JOURNAL_DELETED after the grace period.
   */
  async #whereRenamed(f: LiveFile): Promise<{ renamedTo: number } | 'wait'> {
    const n = this.journal
    for (const path of archiveCandidates(this.#layout, n)) {
      const id = await identityOf(path)
      if (id && id.dev === f.dev && id.ino === f.ino) return { renamedTo: n }
    }
    const chain = await describeJournalChain(this.#layout)
    for (const a of chain.archives) {
      for (const file of a.files) {
        const id = await identityOf(file.path)
        if (!id || id.dev !== f.dev || id.ino !== f.ino) continue
        if (a.journal < n) {
          throw new LogdaemonError(
            ErrorCodes.JOURNAL_NUMBER,
            `${this.#livePath} was read as journal ${n}, but the server archived it as ${file.path} (journal ${a.journal}): ` +
              `the journal numbers contradict the files. Start again with ${fromAdvice(a.journal, this.#adviceAs)} (and a fresh state file)`,
            { file: file.path, journal: n, offset: this.offset },
          )
        }
        return { renamedTo: a.journal }
      }
    }
    if ((await f.links()) > 0) {
      // Nothing at the live path, and the file still has a name, none in the journal set: the root moved away or
      // was unmounted for a while (or p4d is between its rename and the new journal). Not a rotation yet: taken
      // for one, the same file was read again from its start as journal N+1 once the root was back.
      if ((await identityOf(this.#livePath)) === null) return 'wait'
      // Renamed to a place outside the journal set (its number unknown), another file live: drained as N, as before.
      return { renamedTo: n }
    }
    // No name left: renamed and then compressed (journal.N.gz is there), or deleted.
    if (await findArchive(this.#layout, n)) return { renamedTo: n }
    if (this.#doubtful()) return 'wait'
    throw new LogdaemonError(
      ErrorCodes.JOURNAL_DELETED,
      `${this.#livePath} (journal ${n}) was deleted (or replaced by another file), not rotated: no archive of journal ${n} exists ` +
        `(looked for ${archiveCandidates(this.#layout, n).join(', ')}). Records written to it after offset ${this.offset} are lost to this reader; ` +
        `if the server rotates its journal elsewhere, set the journal prefix (${prefixAdvice(this.#adviceAs)})`,
      { file: this.#livePath, journal: n, offset: this.offset },
    )
  }

  /**
   * Whether the live file still holds journal N (its copy is under way and
   * the truncation has not come yet): the bytes before `offset` are the ones
   * read before. At offset 0 the beginnings of the live file and the archive
   * are compared instead.
   */
  async #liveStillHolds(f: LiveFile, archive: ArchiveFile): Promise<'live' | 'wait' | ArchiveFile> {
    if (this.offset > 0) {
      const k = this.#tail.length
      const b = await f.read(this.offset - k, k)
      return b.equals(this.#tail) ? 'live' : archive
    }
    const head = await f.read(0, STATE_TAIL_BYTES)
    if (head.length === 0) return archive
    let first: Buffer | null
    try {
      const r = await ArchiveReader.open(archive, { offset: 0, gzipRetry: { stableMs: 0 }, signal: this.#options.signal })
      first = await r.read().finally(() => r.close())
    } catch (err) {
      if (err instanceof LogdaemonError && err.code === ErrorCodes.GZIP_TRUNCATED) return 'wait'
      if (isErrnoException(err) && err.code === 'ENOENT') return 'wait' // gzip replaced it meanwhile
      throw err
    }
    if (first === null) return 'wait'
    this.#doubtSince = null
    // Shorter than what its copy already holds, the file is not journal N (which only grows): truncated, and
    // begun again (a probe: the next journal's first bytes, like N's first, were taken for N still being written).
    if ((await f.stat()) < first.length) return archive
    const n = Math.min(first.length, head.length)
    return first.subarray(0, n).equals(head.subarray(0, n)) ? 'live' : archive
  }

  async #openJournal(n: number, offset: number): Promise<OpenedAt> {
    for (;;) {
      this.#options.signal.throwIfAborted()
      const archive = await findArchive(this.#layout, n)
      if (archive) {
        const live = await this.#liveHolding(archive)
        if (live === 'wait') {
          await this.#watcher.wait(this.#options.signal)
          continue
        }
        if (live) {
          // Truncated since it was judged (the copy done): judge again, now from the archive.
          if ((await live.stat()) < offset) {
            await live.close()
            continue
          }
          return this.#openLive(live, offset)
        }
        const reader = await this.#openArchive(archive, offset)
        this.#src = { kind: 'archive', reader, mode: 'archived' }
        return this.#opened(reader.before, reader.reachedOffset, reader.offset)
      }
      const chain = await describeJournalChain(this.#layout, { from: n })
      if (chain.archives.some((a) => a.journal === n)) continue
      if (chain.newest !== null) throw journalGapError(chain.gaps, n, chain.live.journal, this.#adviceAs)
      const file = await LiveFile.open(this.#livePath)
      if (!file) {
        // Between a rename and the new file; or no journal yet.
        if (offset > 0) return this.#opened(Buffer.alloc(0), false, null)
        await this.#watcher.wait(this.#options.signal)
        continue
      }
      // Its first bytes are read before the last look for N's archive: N copied and truncated (or renamed) between
      // that look and this read left the next journal's counter record here with N's archive there, and N was taken
      // for missing (ERR_JOURNAL_GAP as a run moved on to N: seen in the kill -9 tests). Read first, bytes that say
      // a later journal mean N's archive was made before the look.
      let head: Buffer
      let archived: ArchiveFile | null
      try {
        head = await file.read(0, COUNTER_SEARCH_BYTES)
        archived = await findArchive(this.#layout, n)
      } catch (err) {
        await file.close()
        throw err
      }
      if (archived) {
        await file.close()
        continue
      }
      // No archive from N on, so the live file is taken for journal N: unless its journal counter record says a later
      // number. Then N (and those after it) were archived and removed while the reader was away or behind. Before,
      // the live journal M was read as N, the journals between were skipped without a word, and a mirror wrote
      // journal M's bytes to its journal.N (a probe: journal.3 archived and removed while the daemon was stopped
      // with SIGSTOP in journal 2; the state went on as 3/…, and only the next start found the gap).
      const { counter, whole } = journalCounterLook(head, file.path)
      if (counter !== null && counter > n) {
        await file.close()
        throw this.#gap(n, counter)
      }
      let earlier: boolean
      try {
        earlier = await this.#stillHoldsEnded(file, n)
      } catch (err) {
        await file.close()
        throw err
      }
      // The journal before, copied to its archive and not truncated yet: the truncation makes it journal N. Its
      // counter record saying so, that is certain; else it is waited on for the grace period, then taken for N
      // (a journal N that begins with the very bytes of the one before, and holds no more yet).
      if (earlier && (counter === this.#ended?.journal || this.#doubtful())) {
        await file.close()
        await this.#watcher.wait(this.#options.signal)
        continue
      }
      const opened = await this.#openLive(file, offset)
      // A new live journal may hold no whole record yet (p4d writes its counter record as it writes the file): look again.
      this.#counterPending = !whole && head.length < COUNTER_SEARCH_BYTES
      return opened
    }
  }

  /**
   * Whether the live file, about to be read as journal N, still holds the
   * journal read before it (#ended): exactly as long as that journal was,
   * with its last bytes at its end, and not written since its archive was
   * made. So it is while the server copies the live
   * journal to the archive and has not truncated it yet: with `-z` the copy
   * is `journal.M.gz`, which the cursor reads whole (#liveHolding only
   * knows a plain copy under way), and then came here to read the same
   * bytes again as journal M+1, its state saved inside them, until the
   * truncation stopped it with ERR_JOURNAL_SHRUNK (a probe: a reader
   * catching up behind a compressed copy and truncate). The cursor waits
   * for the truncation instead: for good when the file's journal counter
   * record says it is that journal, else for the grace period (a journal
   * that begins with the very bytes of the one before is not told apart
   * otherwise). One read of the bytes before that end.
   */
  async #stillHoldsEnded(file: LiveFile, n: number): Promise<boolean> {
    const ended = this.#ended
    if (!ended || ended.journal >= n || ended.end === 0 || ended.tail.length === 0) return false
    // Exactly as long: the copy was made of the whole file, and nothing is written to it until it is truncated.
    if ((await file.stat()) !== ended.end) return false
    const k = ended.tail.length
    const bytes = await file.read(ended.end - k, k)
    if (bytes.length !== k || tailFingerprint(bytes).sha256 !== ended.tail.sha256) return false
    // A copy has its archive, made after the last write to the file: a live file written since is the next journal.
    const archive = await findArchive(this.#layout, ended.journal)
    const made = archive ? await stat(archive.path, { bigint: true }).catch(() => null) : null
    return made !== null && made.mtimeNs >= (await file.modified())
  }

  /**
   * The first bytes of a live journal taken for journal N that had none (or
   * fewer, without a counter record) then: whether they decide what it is.
   * A journal counter record above N throws ERR_JOURNAL_GAP (N archived and
   * removed meanwhile: before, such a file still empty when taken was read
   * as N whatever its counter record said once written). Undecided (false)
   * while they hold no whole record, up to COUNTER_SEARCH_BYTES: the
   * counter record may be half written (a probe: 15 bytes of it first).
   */
  #counterDecided(bytes: Buffer, path: string): boolean {
    const { counter, whole } = journalCounterLook(bytes, path)
    if (counter !== null && counter > this.journal) throw this.#gap(this.journal, counter)
    return whole || bytes.length >= COUNTER_SEARCH_BYTES
  }

  /** ERR_JOURNAL_GAP: the live file says it is journal `counter`, read as `n`; n … counter-1 are missing. */
  #gap(n: number, counter: number): LogdaemonError {
    const missing = Array.from({ length: counter - n }, (_, i) => n + i)
    return journalGapError(missing, n, counter, this.#adviceAs)
  }

  /** Reads journal N from the live file, from `offset`. */
  async #openLive(file: LiveFile, offset: number): Promise<OpenedAt> {
    this.#src = { kind: 'live', file, renamed: false }
    this.#counterPending = false
    this.#heldBytes = 0
    if (file.size < offset) return this.#opened(Buffer.alloc(0), false, file.size)
    const k = Math.min(offset, STATE_TAIL_BYTES)
    return this.#opened(k > 0 ? await file.read(offset - k, k) : Buffer.alloc(0), true, file.size)
  }

  /**
   * Whether the live file still holds journal N although a plain
   * `journal.N` exists: the live journal being copied to journal.N, to be
   * truncated once the copy is done (p4d's copy and truncate, or a
   * script's). A copy under way looks like a finished archive that is too
   * short: read as one, the rest of journal N would be lost and its bytes
   * read again as journal N+1. The live file holds N when it is another
   * file than the archive, at least as long, with the archive's bytes at
   * both ends of the archive (its first and last COPY_CHECK_BYTES): then
   * it is read as journal N, the cursor waits at its end as at any live
   * journal's, and the truncation hands the rest over to the archive at
   * the offset reached (copy and truncate, as when the cursor was there
   * first). An empty archive beside a live file with bytes (a copy not
   * begun, or an empty journal renamed) is doubtful: 'wait' for the grace
   * period, then the archive. Null: read the archive.
   */
  async #liveHolding(archive: ArchiveFile): Promise<LiveFile | 'wait' | null> {
    if (archive.compressed) return null
    const file = await LiveFile.open(this.#livePath)
    if (!file) return null
    let holds = false
    try {
      const st = await stat(archive.path).catch((err: unknown) => {
        // gzip replaced it meanwhile: #openArchive looks again.
        if (isErrnoException(err) && err.code === 'ENOENT') return null
        throw err
      })
      if (!st || (st.dev === file.dev && st.ino === file.ino)) return null
      const liveSize = await file.stat()
      if (liveSize < st.size) return null
      // A later journal archived already: this one's copy is long finished, the live file is a later journal. Before,
      // every empty archive of the chain was doubted for the grace period: a catch-up over a server that rotates empty
      // journals (a quiet server, `p4 admin journal` by cron) waited 5 s at each (a probe: 30 of them in 160 s).
      if (st.size === 0) return liveSize > 0 && !(await findArchive(this.#layout, archive.journal + 1)) && this.#doubtful() ? 'wait' : null
      const k = Math.min(st.size, COPY_CHECK_BYTES)
      const copied = await readEnds(archive.path, st.size, k)
      holds = copied !== null && (await file.read(0, k)).equals(copied.head) && (await file.read(st.size - k, k)).equals(copied.tail)
      return holds ? file : null
    } finally {
      if (!holds) await file.close()
    }
  }

  /**
   * Opens an archive found a moment ago. Between finding and opening, gzip
   * may have replaced `journal.N` by `journal.N.gz`: then the search runs
   * again (a few times: each round means a file really went away).
   */
  async #openArchive(found: ArchiveFile, offset: number): Promise<ArchiveReader> {
    let archive = found
    for (let attempt = 1; ; attempt++) {
      try {
        return await ArchiveReader.open(archive, { offset, before: STATE_TAIL_BYTES, ...this.#retryOptions() })
      } catch (err) {
        if (!isErrnoException(err) || err.code !== 'ENOENT' || attempt >= 3) throw err
        const again = await findArchive(this.#layout, archive.journal)
        if (!again) throw err
        archive = again
      }
    }
  }

  #opened(before: Buffer, reached: boolean, available: number | null): OpenedAt {
    this.#tail = before
    this.#doubtSince = null
    return { before, reached, available: reached ? null : available }
  }

  #data(bytes: Buffer): CursorStep {
    this.offset += bytes.length
    this.#tail = lastBytes(this.#tail, bytes, STATE_TAIL_BYTES)
    return { kind: 'data', bytes }
  }

  async #end(mode: RotationMode): Promise<CursorStep> {
    const src = this.#src
    this.#src = null
    if (src?.kind === 'archive') await src.reader.close()
    else if (src?.kind === 'live') await src.file.close()
    const next = src?.kind === 'live' && src.archivedAs !== undefined ? src.archivedAs + 1 : this.journal + 1
    const step: CursorStep = { kind: 'end', journal: this.journal, end: this.offset, mode, next }
    this.#ended = this.offset > 0 ? { journal: this.journal, end: this.offset, tail: tailFingerprint(this.#tail) } : null
    this.journal = next
    this.offset = 0
    // A doubt of this journal's is over: the next one's starts afresh (see #liveHolding's empty archive).
    this.#doubtSince = null
    // The journal ended whole (a .gz: its last member checked): every byte of it is good.
    this.#verified = { journal: this.journal, offset: 0 }
    this.#tail = Buffer.alloc(0)
    return step
  }

  /** True while a doubtful situation is younger than the grace period (starting it if new). */
  #doubtful(): boolean {
    // By default the monotonic clock: a wall clock stepped forward cut the grace period short.
    const now = this.#options.now ? this.#options.now() : performance.now()
    this.#doubtSince ??= now
    return now - this.#doubtSince < (this.#options.graceMs ?? 5000)
  }

  #retryOptions(): { gzipRetry?: GzipRetryOptions; signal: AbortSignal } {
    const r = this.#options.gzipRetry
    return r ? { gzipRetry: r, signal: this.#options.signal } : { signal: this.#options.signal }
  }

  #shrunkError(why: string): LogdaemonError {
    return new LogdaemonError(
      ErrorCodes.JOURNAL_SHRUNK,
      `${this.#livePath}: journal ${this.journal} shrank below offset ${this.offset}, where reading stands, and ${why}. ` +
        `If the server rotates its journal elsewhere, set the journal prefix (${prefixAdvice(this.#adviceAs)}); if the file was truncated by hand, ` +
        `the records after offset ${this.offset} are lost: restore the replica from a newer checkpoint and start from it`,
      { file: this.#livePath, journal: this.journal, offset: this.offset },
    )
  }
}
