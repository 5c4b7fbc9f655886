import { access, constants, lstat, mkdir, open, readdir, stat, type FileHandle } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { z } from 'zod'
import { ErrorCodes, LogdaemonError, formatWhere, isErrnoException } from '../../../errors.js'
import type { JournalEntry } from '../../../journal/entry.js'
import type { JournalPosition } from '../../../position.js'
import { BaseListener, type Listener, type ListenerContext } from '../../listener.js'
import { PRIVATE_FILE_MODE } from '../../../files/atomic-write.js'
import { pathSchema } from '../../../path-schema.js'
import { StateLock, lockPathOf } from '../../../files/state-lock.js'
import { journalDirs } from '../../../files/journal-set.js'
import { sameDir } from '../../../files/same-path.js'
import type { JournalLayout } from '../../../files/journal-name.js'
import { MIRROR_DIR_LOCK, MIRROR_JOURNAL } from './mirror-names.js'
import { readMirrorState, writeMirrorState, type MirrorLengths } from './mirror-state.js'

export const optionsSchema = z
  .strictObject({
    dir: pathSchema().describe('Directory of the mirror: journal N is written to DIR/journal.N (relative to the configuration file).'),
    stateFile: pathSchema().optional().describe("The mirror's own state (committed length of each journal). Default DIR/.mirror-state.json."),
    fsync: z
      .boolean()
      .default(true)
      .describe('fsync the mirror files and state at every sync point. Turn off only for tests: a crash may then lose committed bytes.'),
  })
  .describe('mirror: the exact bytes of every journal, to DIR/journal.N, exactly once across crashes.')

export type MirrorOptions = z.infer<typeof optionsSchema>

/**
 * Bytes gathered before one positional write. One write per entry costs a
 * syscall and a promise per record (45k records/s on the test machine);
 * 64 KiB batches, like the reader's chunks, make the mirror as fast as the
 * reader while bounding what waits in memory.
 */
const FLUSH_BYTES = 64 * 1024

/** Mirror files are opened read-write, created when missing, never through a symlink. */
const MIRROR_FLAGS = constants.O_RDWR | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0)

/**
 * Writes the exact bytes of every journal to `DIR/journal.N`.
 *
 * Exactly once across crashes: the mirror keeps its own state, the length
 * of each mirror file that was fsynced at a sync point. On open it cuts
 * every mirror file back to that length; afterwards it skips entries it
 * already has (the daemon replays from its own, never later, commit) and
 * writes each byte at its offset, so a retried write rewrites the same
 * bytes. An entry that starts past the mirror's end would leave a hole:
 * that fails with ERR_MIRROR_GAP (start the daemon at the journal's
 * beginning, `from: N`).
 */
export class MirrorListener extends BaseListener {
  readonly dir: string
  readonly #stateFile: string
  readonly #fsync: boolean
  readonly #fileMode: number
  /** Durable (fsynced) length of each journal, as saved in the state file. */
  #committed: MirrorLengths = new Map()
  /** Bytes written of each journal touched since open. */
  readonly #lengths: MirrorLengths = new Map()
  /** Journals written since the last sync, not yet in the state file. */
  readonly #dirty = new Set<number>()
  #journal: number | null = null
  #fh: FileHandle | null = null
  /** Bytes taken but not yet written, for the current journal from offset #pendingStart. */
  #pending: Buffer[] = []
  #pendingBytes = 0
  #pendingStart = 0
  #opened = false
  /** The directories the server's journals are in: never the mirror's. */
  readonly #serverDirs: readonly string[]
  /** The lock of the mirror's state file: one writer per mirror, whatever daemon or state file it runs with. */
  #lock: StateLock | null = null
  /**
   * The lock of the directory (`DIR/.mirror-dir.lock`), whatever the state file: two mirrors with state files of
   * their own in one directory would both write its journal.N files (a probe: two daemons of two servers started
   * together, both exited 0, one mirror held the other server's bytes).
   */
  #dirLock: StateLock | null = null

  /**
   * `fileMode`: mode of new mirror files (before the umask), normally the
   * server's journal's, so the mirror is no more readable than the journal
   * it copies (it holds db.user rows). Default 0600.
   */
  constructor(options: MirrorOptions & { fileMode?: number; serverDirs?: readonly string[] }, name = 'mirror') {
    super(name)
    this.dir = options.dir
    this.#serverDirs = options.serverDirs ?? []
    this.#stateFile = options.stateFile ?? join(options.dir, '.mirror-state.json')
    this.#fsync = options.fsync
    this.#fileMode = options.fileMode ?? PRIVATE_FILE_MODE
  }

  /** Path of the mirror of journal `n`. */
  fileOf(n: number): string {
    return join(this.dir, `journal.${n}`)
  }

  async open(context?: ListenerContext): Promise<void> {
    if (this.#opened) return
    try {
      await mkdir(this.dir, { recursive: true })
    } catch (err) {
      // A file where the directory goes, a path through a file, a dangling symlink: no retry can fix them.
      if (isErrnoException(err) && ['EEXIST', 'ENOTDIR', 'ENOENT', 'ELOOP'].includes(err.code ?? '')) {
        throw new LogdaemonError(ErrorCodes.MIRROR_MISMATCH, unmakeableDir(this.dir, `${err.code}: ${err.message}`), {
          file: this.dir,
          cause: err,
          retryable: false,
        })
      }
      throw err
    }
    await this.#refuseServerDir()
    this.#lock ??= await StateLock.acquire(this.#stateFile)
    try {
      this.#dirLock ??= await StateLock.acquire(join(this.dir, MIRROR_DIR_LOCK))
    } catch (err) {
      await this.#releaseLock()
      throw err
    }
    try {
      await this.#cutBack(context?.start ?? null)
      this.#refuseGapAt(context?.start ?? null)
    } catch (err) {
      await this.#releaseLock()
      throw err
    }
    this.#opened = true
  }

  /**
   * The daemon resumes at `start`: the mirror must hold journal N up to
   * there (it syncs before the daemon commits, so its own lengths are never
   * shorter). A mirror removed behind the daemon's back, or added to a
   * daemon that has read on, has a hole before `start`: ERR_MIRROR_GAP now,
   * not an empty mirror and exit 0 until the next record comes.
   */
  #refuseGapAt(start: JournalPosition | null): void {
    const gap = mirrorGap(this.dir, this.#committed, start)
    if (gap) throw gap
  }

  async #releaseLock(): Promise<void> {
    const lock = this.#lock
    const dirLock = this.#dirLock
    this.#lock = null
    this.#dirLock = null
    await lock?.release()
    await dirLock?.release()
  }

  /** The mirror writes `journal.N` files: in the server's journal directory it would write over the server's own. */
  async #refuseServerDir(): Promise<void> {
    const problem = await serverDirProblem(this.dir, this.#serverDirs)
    if (problem) throw new LogdaemonError(ErrorCodes.CONFIG_INVALID, problem, { file: this.dir, retryable: false, details: { key: 'dir' } })
  }

  async #cutBack(start: JournalPosition | null): Promise<void> {
    const fresh = !(await exists(this.#stateFile))
    this.#committed = await readMirrorState(this.#stateFile)
    if (fresh) {
      // No state: nothing here was written by this mirror, and cutting foreign journal files back to 0 would destroy them.
      // Unless a mirror died here holding the lock before its first commit (a version that wrote no state until then): its own files,
      // but only those the daemon has not committed past (`start`): a file it has is a mirror whose state was lost.
      const problem = await foreignFilesProblem(this.dir, this.#stateFile, this.#lock?.tookOverFrom != null, start)
      if (problem) throw new LogdaemonError(ErrorCodes.MIRROR_MISMATCH, problem, { file: this.dir, retryable: false })
      // From now on the files here are the mirror's: a crash before the first commit leaves a state that says so.
      await writeMirrorState(this.#stateFile, this.#committed, this.#fsync)
    }
    // Cut mirror files back to their committed length: bytes past it were never synced. Only the
    // newest committed journal and journals after it can hold such bytes; older mirror files may
    // have been removed by a retention script and are left alone.
    for (const n of await journalsToCutBack(this.dir, this.#committed)) await (await this.#openFile(n)).close()
  }

  /** Opens journal.N for writing, cut back to its committed length. */
  async #openFile(n: number): Promise<FileHandle> {
    const file = this.fileOf(n)
    const committed = this.#committed.get(n) ?? 0
    const size = await mirrorFileSize(file, n, committed, this.#stateFile)
    const fh = await open(file, MIRROR_FLAGS, this.#fileMode)
    if (size > committed) await fh.truncate(committed)
    this.#lengths.set(n, committed)
    return fh
  }

  async #switchTo(n: number): Promise<FileHandle> {
    if (this.#fh && this.#journal === n) return this.#fh
    if (this.#fh) {
      // The previous journal is complete: make it durable now; the state records it at the next sync.
      await this.#flush()
      if (this.#journal !== null && this.#dirty.has(this.#journal)) {
        if (this.#fsync) await this.#fh.sync()
        await this.#checkWritten(this.#fh)
      }
      const fh = this.#fh
      this.#fh = null
      await fh.close()
    }
    const fh = await this.#openFile(n)
    this.#fh = fh
    this.#journal = n
    return fh
  }

  /**
   * Takes the entry's bytes into the write buffer (or skips them when the
   * mirror has them). Synchronous for the common case: the current
   * journal, room in the buffer.
   */
  listen(entry: JournalEntry): void | Promise<void> {
    const n = entry.position.journal
    if (
      !this.#opened ||
      !this.#fh ||
      n === null ||
      n !== this.#journal ||
      this.#pendingBytes >= FLUSH_BYTES ||
      entry.position.offset < (this.#lengths.get(n) ?? 0)
    ) {
      return this.#listenSlowly(entry)
    }
    this.#accept(entry, n)
    if (this.#pendingBytes >= FLUSH_BYTES) return this.#flush()
  }

  async #listenSlowly(entry: JournalEntry): Promise<void> {
    if (!this.#opened) await this.open()
    // A flush that failed is tried again first: the retried entry may already be in the buffer.
    if (this.#pendingBytes >= FLUSH_BYTES) await this.#flush()
    const n = entry.position.journal
    if (n === null) {
      throw new LogdaemonError(
        ErrorCodes.JOURNAL_UNNUMBERED,
        `the mirror needs numbered journals, but the entry at ${formatWhere(entry.position)} has no journal number`,
        {
          offset: entry.position.offset,
          line: entry.position.line,
          retryable: false,
        },
      )
    }
    await this.#switchTo(n)
    await this.#compareHad(entry, n)
    this.#accept(entry, n)
    if (this.#pendingBytes >= FLUSH_BYTES) await this.#flush()
  }

  /**
   * An entry the mirror already has (a replay after a restart): its bytes must be the ones in the file. Skipped
   * unseen, a mirror of another journal N (the server reset or restored from a checkpoint, its journals numbered
   * again, and the daemon started afresh as ERR_STATE_MISMATCH advises) kept its old bytes and took the new
   * journal's only past them: a splice of two servers' journals, the daemon exiting 0 (a probe).
   */
  async #compareHad(entry: JournalEntry, n: number): Promise<void> {
    const fh = this.#fh
    if (!fh) return
    const { offset, end } = entry.position
    // Bytes in the file: all the mirror holds but what waits in the buffer (taken this run, from these entries).
    const inFile = this.#pendingBytes > 0 ? this.#pendingStart : (this.#lengths.get(n) ?? 0)
    const length = Math.min(end, inFile) - offset
    if (length <= 0) return
    const had = Buffer.alloc(length)
    let got = 0
    while (got < length) {
      const { bytesRead } = await fh.read(had, got, length - got, offset + got)
      if (bytesRead === 0) break
      got += bytesRead
    }
    const want = entry.raw.subarray(0, length)
    if (got === length && had.equals(want)) return
    let at = 0
    while (at < got && had[at] === want[at]) at++
    const file = this.fileOf(n)
    throw new LogdaemonError(
      ErrorCodes.MIRROR_MISMATCH,
      `mirror ${file} holds other bytes than journal ${n} at offset ${offset + at}: it is not a copy of this server's journal ${n} ` +
        `(the server was reset or restored and numbers its journals again, or the mirror is another server's). ` +
        `Move the mirror's files and ${this.#stateFile} away and restart from the first journal to mirror`,
      { file, journal: n, offset: offset + at, line: entry.position.line, retryable: false },
    )
  }

  #accept(entry: JournalEntry, n: number): void {
    const { offset, end } = entry.position
    const length = this.#lengths.get(n) ?? 0
    if (end <= length) return // already mirrored: a replay after a restart
    if (offset > length) {
      throw new LogdaemonError(
        ErrorCodes.MIRROR_GAP,
        `mirror ${this.fileOf(n)} has ${length} bytes but the next entry starts at offset ${offset}: the bytes between would be missing. ` +
          `Start the daemon at the beginning of journal ${n} (from: ${n}, with a fresh state file)`,
        { file: this.fileOf(n), journal: n, offset, line: entry.position.line, retryable: false },
      )
    }
    if (this.#pendingBytes === 0) this.#pendingStart = length
    const bytes = entry.raw.subarray(length - offset)
    this.#pending.push(bytes)
    this.#pendingBytes += bytes.length
    this.#lengths.set(n, end)
    this.#dirty.add(n)
  }

  /** Writes the buffered bytes at their offset in the current journal's mirror (a retry rewrites the same bytes). */
  async #flush(): Promise<void> {
    if (this.#pendingBytes === 0 || !this.#fh) return
    const fh = this.#fh
    const bytes = this.#pending.length === 1 ? (this.#pending[0] as Buffer) : Buffer.concat(this.#pending, this.#pendingBytes)
    this.#pending = [bytes]
    // The file holds every byte before the write (the mirror wrote them): a shorter one was cut behind its back, and a
    // write at the offset would leave a hole of zeros, kept for good once later writes pass the committed length.
    const { size } = await this.#checkSameFile(fh)
    if (size < this.#pendingStart) {
      const file = this.#journal === null ? this.dir : this.fileOf(this.#journal)
      throw new LogdaemonError(
        ErrorCodes.MIRROR_MISMATCH,
        `mirror ${file} has ${size} bytes but the mirror wrote ${this.#pendingStart}: it was truncated or replaced while the daemon ran. ` +
          `Restore it, or remove it and its entry in ${this.#stateFile} and restart from journal ${this.#journal} (from: ${this.#journal})`,
        { file, journal: this.#journal ?? undefined, offset: size, retryable: false },
      )
    }
    let done = 0
    while (done < bytes.length) {
      const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, this.#pendingStart + done)
      done += bytesWritten
    }
    this.#pending = []
    this.#pendingBytes = 0
  }

  /**
   * The open file's stat, once it is known to be still the file at the mirror's path. A file renamed, removed or
   * replaced (a copy moved over it: a new inode) while the daemon ran would take the writes through the handle while
   * `journal.N` kept other bytes for good: the state would record lengths the file does not have, and once the
   * journal rotated nothing would look at it again (an adversarial probe: a replaced journal.1 stayed a prefix, the
   * daemon exited 0).
   */
  async #checkSameFile(fh: FileHandle): Promise<{ size: number }> {
    const st = await fh.stat()
    if (this.#journal === null) return st
    const file = this.fileOf(this.#journal)
    let there: { dev: number; ino: number } | null = null
    try {
      there = await lstat(file)
    } catch (err) {
      if (!isErrnoException(err) || err.code !== 'ENOENT') throw err
    }
    if (there === null || there.dev !== st.dev || there.ino !== st.ino) {
      throw new LogdaemonError(
        ErrorCodes.MIRROR_MISMATCH,
        `mirror ${file} was ${there === null ? 'removed or renamed' : 'replaced by another file'} while the daemon wrote it: ` +
          `the bytes written since went to the old file. Restore it, or remove it and its entry in ${this.#stateFile} and restart from journal ${this.#journal} (from: ${this.#journal})`,
        { file, journal: this.#journal, retryable: false },
      )
    }
    return st
  }

  /**
   * After a flush: the file at the mirror's path, holding exactly the bytes the mirror wrote. Bytes past them were
   * written by someone else (appended behind the daemon's back): once the journal rotated nothing would cut them
   * back, and the copy would stay longer than the journal for good, the daemon exiting 0 (a probe: 3 MB appended to
   * the current journal.2, which kept them after its rotation; only `verify` saw it).
   */
  async #checkWritten(fh: FileHandle): Promise<void> {
    const { size } = await this.#checkSameFile(fh)
    const n = this.#journal
    const written = n === null ? size : (this.#lengths.get(n) ?? 0)
    if (size > written) {
      const file = this.fileOf(n as number)
      throw new LogdaemonError(
        ErrorCodes.MIRROR_MISMATCH,
        `mirror ${file} has ${size} bytes but the mirror wrote ${written}: bytes were added to it while the daemon ran. ` +
          `Restore it, or remove it and its entry in ${this.#stateFile} and restart from journal ${n} (from: ${n})`,
        { file, journal: n ?? undefined, offset: written, retryable: false },
      )
    }
  }

  /**
   * fsyncs what was written and records the new lengths in the mirror's
   * state file, up to `position` and no further: bytes taken after it (the
   * entries the chain handed on past its commit point, perhaps from a gzip
   * member whose CRC is not checked yet) are written but not committed, so
   * a restart cuts them back and writes them again from the source.
   */
  async sync(position: JournalPosition): Promise<void> {
    if (this.#dirty.size === 0) return
    await this.#flush()
    if (this.#fh && this.#journal !== null && this.#dirty.has(this.#journal)) {
      if (this.#fsync) await this.#fh.sync()
      await this.#checkWritten(this.#fh)
    }
    const next = new Map(this.#committed)
    let changed = false
    for (const n of [...this.#dirty]) {
      if (n > position.journal) continue
      const written = this.#lengths.get(n) ?? 0
      const length = n < position.journal ? written : Math.min(written, position.offset)
      if (length > (next.get(n) ?? 0)) {
        next.set(n, length)
        changed = true
      }
      if (length === written) this.#dirty.delete(n)
    }
    if (!changed) return
    await writeMirrorState(this.#stateFile, next, this.#fsync)
    this.#committed = next
  }

  /** The newest journal's synced (fsynced and recorded) length, `N/length`, or null before the first sync. */
  acknowledged(): string | null {
    let newest = -1
    for (const n of this.#committed.keys()) if (n > newest) newest = n
    return newest < 0 ? null : `${newest}/${this.#committed.get(newest) ?? 0}`
  }

  /** Closes the file. Bytes taken after the last sync are dropped, or cut back at the next open. */
  async close(): Promise<void> {
    this.#pending = []
    this.#pendingBytes = 0
    const fh = this.#fh
    this.#fh = null
    this.#journal = null
    this.#opened = false
    try {
      if (fh) await fh.close()
    } finally {
      await this.#releaseLock()
    }
  }
}

/**
 * The `mirror` built-in: `{ dir }`, relative to `baseDir` (the configuration file's directory);
 * new mirror files take `journalMode`, the server journal's mode, when the daemon knows it.
 */
export function create(options: MirrorOptions, context: { name: string; baseDir?: string; journalMode?: number; server?: JournalLayout }): Listener {
  const dir = resolve(context.baseDir ?? '.', options.dir)
  const stateFile = options.stateFile === undefined ? undefined : resolve(context.baseDir ?? '.', options.stateFile)
  const fileMode = context.journalMode
  const serverDirs = context.server ? journalDirs(context.server) : []
  return new MirrorListener({ ...options, dir, serverDirs, ...(stateFile ? { stateFile } : {}), ...(fileMode === undefined ? {} : { fileMode }) }, context.name)
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if (isErrnoException(err) && err.code === 'ENOENT') return false
    throw err
  }
}

/**
 * Why a mirror may not write in `dir` because the server keeps its journals
 * there (the same directory through any path), or null. `logdaemon check`
 * asks it too.
 */
export async function serverDirProblem(dir: string, serverDirs: readonly string[]): Promise<string | null> {
  for (const server of serverDirs) {
    if (!(await sameDir(dir, server))) continue
    return (
      `mirror dir ${dir} is where the server keeps its journals (${server}): the mirror would write over the server's own journal.N files. ` +
      'Give the mirror a directory of its own'
    )
  }
  return null
}

/**
 * Why a mirror without a state file may not start in `dir`: it holds
 * `journal.N` files with bytes that this mirror did not write. Null when
 * there is a state file, or no such file, or `mirrorRanHere`: a mirror's
 * lock was found beside the state (one running, or one that died holding
 * it before its first commit, from a version that wrote no state until
 * then: the files are its own). `logdaemon check` asks it too.
 */
export async function foreignFilesProblem(
  dir: string,
  stateFile: string,
  mirrorRanHere: boolean,
  start: JournalPosition | null = null,
): Promise<string | null> {
  if (await exists(stateFile)) return null
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    if (isErrnoException(err) && err.code === 'ENOENT') return null
    throw err
  }
  const foreign: string[] = []
  for (const name of names) {
    if (!MIRROR_JOURNAL.test(name)) continue
    // A symlink or other is refused as such when opened (#openFile).
    const st = await lstat(join(dir, name))
    if (st.isFile() && st.size > 0) foreign.push(name)
  }
  if (foreign.length === 0) return null
  if (mirrorRanHere) {
    // A dead mirror's own files are those of journals the daemon has not committed past: it commits only once the
    // mirror has synced them, and a mirror that synced wrote its state. A file of a journal before where the daemon
    // resumes (or the start journal's, resumed inside it) means the state was lost, and cutting the files back to
    // nothing would destroy the mirror (a probe: state removed, daemon killed, the next start emptied every journal.N).
    const committedPast = start === null ? [] : foreign.filter((name) => mirrorCommittedPast(Number(MIRROR_JOURNAL.exec(name)?.[1]), start))
    if (committedPast.length === 0) return null
    return (
      `mirror dir ${dir} holds journal files (${committedPast.sort().slice(0, 5).join(', ')}${committedPast.length > 5 ? ', …' : ''}) that the daemon ` +
      `has committed past (it resumes at ${start?.journal}/${start?.offset}), but no mirror state ${stateFile}: the state was lost, and cutting them ` +
      `to the length it records, nothing, would destroy them. Restore the state file, or move the files away and start the daemon from the first journal to mirror`
    )
  }
  return (
    `mirror dir ${dir} holds journal files this mirror did not write (${foreign.sort().slice(0, 5).join(', ')}${foreign.length > 5 ? ', …' : ''}; ` +
    `no mirror state ${stateFile}): the mirror would cut them to the length it committed, nothing. Move them away, or give the mirror an empty directory`
  )
}

/** Whether a daemon resuming at `start` has committed bytes of journal `n` (a mirror syncs before the daemon commits). */
function mirrorCommittedPast(n: number, start: JournalPosition): boolean {
  return n < start.journal || (n === start.journal && start.offset > 0)
}

/** What run's mirror says of a directory it cannot make (`why`), and what to do. */
function unmakeableDir(dir: string, why: string): string {
  return `the mirror directory ${dir} cannot be made (${why}): a file or a dangling symlink in its place, or a path through a file. Fix the path and restart`
}

/**
 * The mirror files a mirror opening in `dir` cuts back to their committed
 * lengths: the newest journal in `committed` and every one after it in
 * `dir` (bytes past a committed length were never synced). Older files may
 * have been removed by a retention script and are left alone.
 */
async function journalsToCutBack(dir: string, committed: MirrorLengths): Promise<number[]> {
  const newest = Math.max(-1, ...committed.keys())
  const journals = new Set<number>()
  // No directory (check, before run makes it): no file.
  const names = await readdir(dir).catch((err: unknown) => {
    if (isErrnoException(err) && err.code === 'ENOENT') return []
    throw err
  })
  for (const name of names) {
    const m = MIRROR_JOURNAL.exec(name)
    const n = m ? Number(m[1]) : NaN
    if (Number.isSafeInteger(n) && n >= newest) journals.add(n)
  }
  if (newest >= 0) journals.add(newest)
  return [...journals].sort((a, b) => a - b)
}

/**
 * The size of mirror file `file` (journal `n`, `committed` bytes of it
 * synced), 0 when it does not exist; ERR_MIRROR_MISMATCH when it is not a
 * regular file or holds less than was committed.
 */
async function mirrorFileSize(file: string, n: number, committed: number, stateFile: string): Promise<number> {
  let size = 0
  try {
    const st = await lstat(file)
    if (!st.isFile()) {
      throw new LogdaemonError(
        ErrorCodes.MIRROR_MISMATCH,
        `mirror ${file} is not a regular file (a symlink or other): the mirror writes only files it creates. Move it away and restart`,
        { file, journal: n, retryable: false },
      )
    }
    size = st.size
  } catch (err) {
    if (!isErrnoException(err) || err.code !== 'ENOENT') throw err
  }
  if (size < committed) {
    throw new LogdaemonError(
      ErrorCodes.MIRROR_MISMATCH,
      `mirror ${file} has ${size} bytes but ${committed} were committed: it was truncated or replaced. ` +
        `Restore it, or remove it and its entry in ${stateFile} and restart from journal ${n} (from: ${n})`,
      { file, journal: n, offset: size, retryable: false },
    )
  }
  return size
}

/**
 * What the mirror of `options` would refuse as it opens for a daemon that
 * resumes at `start` (null: not known), looked at without writing anything:
 * for `logdaemon check`. A directory it cannot make, the server's journal
 * directory, a state file whose directory is missing (its lock cannot be
 * made), journal files it did not write, a state file it cannot read, a
 * file cut back that is not a regular file or holds less than its state
 * says, and a start past what it holds (ERR_MIRROR_GAP). Null when none.
 * Not looked at: its locks (another live daemon holding them).
 */
export async function mirrorOpenProblem(
  options: MirrorOptions,
  baseDir: string,
  serverDirs: readonly string[],
  start: JournalPosition | null,
): Promise<string | null> {
  const { dir, stateFile } = mirrorPaths(options, baseDir)
  // A lock beside the state: a mirror ran here (see foreignFilesProblem).
  const mirrorRanHere = (await stat(lockPathOf(stateFile)).catch(() => null)) !== null
  const made = await dirProblem(dir)
  if (made) return `the mirror directory ${dir} cannot be made or written (${made}): run would stop as the mirror opens. Fix the path, or its permissions`
  const server = await serverDirProblem(dir, serverDirs)
  if (server) return server
  // run makes the mirror directory (not there yet: it holds nothing); the state file's directory, when another, must
  // be there for its lock.
  const stateDir = dirname(stateFile) === dir ? null : await dirProblem(dirname(stateFile), false)
  if (stateDir) {
    return `the mirror's state file ${stateFile} cannot be written (${stateDir}): run could not make its lock (ERR_STATE_WRITE). Create the directory, or set stateFile to a file in an existing one`
  }
  const foreign = await foreignFilesProblem(dir, stateFile, mirrorRanHere, start)
  if (foreign) return foreign
  try {
    const committed = await readMirrorState(stateFile)
    for (const n of await journalsToCutBack(dir, committed)) await mirrorFileSize(join(dir, `journal.${n}`), n, committed.get(n) ?? 0, stateFile)
    return mirrorGap(dir, committed, start)?.message ?? null
  } catch (err) {
    if (err instanceof LogdaemonError) return err.message
    throw err
  }
}

/**
 * Why `mkdir -p dir` would fail (`make`), or why a directory that must be
 * there is not (`!make`): a file or a dangling symlink in its place, a path
 * through a file, no write permission where it would be made. Null when
 * none.
 */
async function dirProblem(dir: string, make = true): Promise<string | null> {
  for (let p = dir; ; p = dirname(p)) {
    const st = await stat(p).catch((err: unknown) => err as NodeJS.ErrnoException)
    if (!(st instanceof Error)) {
      if (!st.isDirectory()) return `${p} is not a directory`
      // The directory, or the nearest one there is (the rest is made in it): written to.
      return await access(p, constants.W_OK | constants.X_OK).then(
        () => null,
        (err: NodeJS.ErrnoException) => `${p} is not writable (${err.code})`,
      )
    }
    if (st.code !== 'ENOENT') return `${st.code}: ${st.message}`
    if ((await lstat(p).catch(() => null))?.isSymbolicLink()) return `${p} is a dangling symlink`
    if (!make) return `${p} does not exist`
    if (dirname(p) === p) return `${p} does not exist`
  }
}

/**
 * ERR_MIRROR_GAP when a mirror whose durable lengths are `committed` (its
 * state file's) lacks bytes of journal N before `start` (N/offset), where
 * the daemon resumes: the bytes between would be missing. Null otherwise.
 * What the mirror refuses at open, and what `logdaemon check` reports.
 */
function mirrorGap(dir: string, committed: MirrorLengths, start: JournalPosition | null): LogdaemonError | null {
  if (start === null || start.offset === 0) return null
  const n = start.journal
  const length = committed.get(n) ?? 0
  if (length >= start.offset) return null
  const file = join(dir, `journal.${n}`)
  return new LogdaemonError(
    ErrorCodes.MIRROR_GAP,
    `mirror ${file} has ${length} bytes of journal ${n} but the daemon resumes at offset ${start.offset}: the bytes between would be missing ` +
      `(a mirror removed or added after the daemon read on, or a new mirror with from: "end", which starts inside the live journal: a mirror ` +
      `holds whole journals). Start the daemon at the beginning of the first journal the mirror lacks ` +
      `(from: N, with a fresh state file), or restore the mirror`,
    { file, journal: n, offset: start.offset, retryable: false },
  )
}

/** Where `create` puts a mirror's directory and state file. */
export function mirrorPaths(options: MirrorOptions, baseDir: string): { dir: string; stateFile: string } {
  const dir = resolve(baseDir, options.dir)
  return { dir, stateFile: options.stateFile === undefined ? join(dir, '.mirror-state.json') : resolve(baseDir, options.stateFile) }
}
