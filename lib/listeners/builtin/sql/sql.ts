import { ErrorCodes, LogdaemonError, isLogdaemonError, toError } from '../../../errors.js'
import type { JournalLayout } from '../../../files/journal-name.js'
import { archiveHoldsExactly, journalHoldsAtLeast } from '../../../files/journal-sizes.js'
import { describeJournalChain } from '../../../files/journal-set.js'
import type { JournalEntry } from '../../../journal/entry.js'
import { comparePositions, formatPosition, type JournalPosition } from '../../../position.js'
import { BaseListener, type Listener, type ListenerContext, type ListenerLogger } from '../../listener.js'
import { openAdapter } from './open-adapter.js'
import { Replica } from './replica.js'
import { KeyGate } from './key-gate.js'
import { RowMapper, type RowOp, type UnmappedRecord } from './row-mapper.js'
import { optionsSchema, type SqlOptions } from './sql-options.js'
import { parseSqlUrl, type SqlTarget } from './sql-url.js'
import { TableFilter } from './table-filter.js'

export { optionsSchema, type SqlOptions }

const silent: ListenerLogger = { debug() {}, info() {}, warn() {}, error() {} }

function permanent(err: LogdaemonError): LogdaemonError {
  return Object.assign(err, { retryable: false })
}

/**
 * Applies the journal to SQL tables (SQLite or PostgreSQL), exactly once
 * across crashes.
 *
 * Row changes of the entries since the last consistency point are held in
 * memory (up to `batchRows` changes or `batchBytes` of their records, then
 * written into the open database transaction); at each `sync(position)`,
 * which the daemon calls only at consistency points, they are applied and
 * `logdaemon_position` is set to `position` in one database transaction.
 * So a kill -9 leaves the database at a consistency point, and on restart
 * entries that end at or before the database's position are skipped (the
 * daemon replays from its own commit, which is never later).
 *
 * A failure while nothing of the transaction has left memory is retried
 * (the daemon's retry, after a reconnect). A failure after rows were
 * written into the transaction fails for good: the transaction is rolled
 * back and the daemon stops; a restart resumes from the database's position.
 */
export class SqlListener extends BaseListener {
  readonly target: SqlTarget
  readonly #options: SqlOptions
  readonly #mapper: RowMapper
  #replica: Replica | null = null
  #logger: ListenerLogger = silent
  /** Row changes held in memory, in journal order, each with the end of its entry. */
  #pending: RowOp[] = []
  #pendingEnds: JournalPosition[] = []
  #unmapped: UnmappedRecord[] = []
  #unmappedEnds: JournalPosition[] = []
  /**
   * Record bytes of the held changes, as running totals in journal order
   * (both kinds together): `#heldBytes[i]` is the sum up to the i-th held
   * change counted from `#heldBase`, with its end in `#heldEnds[i]`.
   */
  #heldEnds: JournalPosition[] = []
  #heldBytes: number[] = []
  #heldBase = 0
  /** End of the last consistent entry taken: a point the database may be committed at. */
  #lastConsistent: JournalPosition | null = null
  /** Where the rows written into the open transaction end (null: none written). */
  #flushedTo: JournalPosition | null = null
  /** The open transaction holds rows that are no longer in memory: it cannot be redone after a failure. */
  #flushedInTransaction = false
  /** End position of the last entry taken (a retried `listen` brings it again). */
  #last: JournalPosition | null = null
  /** A call failed: reconnect and re-read the database before the next. */
  #broken = false
  /** The server's journals, to tell whether a later journal's start continues the database's position. */
  readonly #server: JournalLayout | null
  /** The first entry past the database's position was checked to continue it. */
  #startChecked = false
  /** Where the daemon resumed (from open's context), or null when not known. */
  #start: JournalPosition | null = null
  /** The database's position, met ahead of the daemon's entries, was checked to lie in the server's journals. */
  #aheadChecked = false

  constructor(options: SqlOptions, target: SqlTarget, name = 'sql', server: JournalLayout | null = null) {
    super(name)
    this.#options = { ...options }
    this.#server = server
    this.target = target
    this.#mapper = new RowMapper(new TableFilter(options.tables, options.exclude), options.encoding)
  }

  /** The database's position: everything before it is applied (null before open, or for an empty replica). */
  get position(): JournalPosition | null {
    return this.#replica?.position ?? null
  }

  /** The position the database acknowledged, as `N/offset` (the status page's per-listener position). */
  acknowledged(): string | null {
    const p = this.position
    return p ? formatPosition(p) : null
  }

  async open(context?: ListenerContext): Promise<void> {
    if (context) {
      this.#logger = context.logger
      this.#start = context.start
    }
    if (this.#replica) return
    const replica = new Replica(await openAdapter(this.target, { timeoutMs: this.#options.timeoutMs }))
    try {
      await this.#guard(() => replica.open(), 'cannot open the database')
    } catch (err) {
      await replica.adapter.close().catch(() => {})
      throw err
    }
    this.#broken = false
    this.#replica = replica
    this.#mapper.maxKeyBytes = replica.adapter.maxKeyBytes
    this.#mapper.gate = new KeyGate()
    this.#mapper.gate.seed(replica.keys, replica.journalTables)
    replica.onRekey = (layout, replaced) =>
      this.#logger.warn(
        { listener: this.name, table: layout.table, key: layout.key, replaced },
        `sql: ${layout.journalTable} version ${layout.version} (${layout.columns.length} fields) keys rows by (${layout.key.join(', ')}): ` +
          `table ${layout.table} re-keyed${replaced ? `, ${replaced} rows the new key made one with a later row deleted` : ''}`,
      )
    const p = replica.position
    this.#logger.info(
      { listener: this.name, url: this.target.masked, position: p ? formatPosition(p) : null },
      `sql replica ${this.target.masked} ${p ? `at ${formatPosition(p)}` : 'has no position yet'}`,
    )
    // The daemon resumes past the database's position: the records between must be none, known now, not at the next
    // entry (a probe: a replica emptied while the daemon's state stayed at 1/264 waited, empty, for the server's next
    // record, and --until-caught-up said caught up, exit 0).
    const start = this.#start
    if (start && !this.#startChecked && (p === null || comparePositions(start, p) > 0)) {
      try {
        await this.#checkStart(start.journal, start.offset, null, p)
      } catch (err) {
        // Refused: the database is let go now, not at close.
        this.#replica = null
        await replica.adapter.close().catch(() => {})
        throw err
      }
    }
  }

  isHandled(_entry: JournalEntry): boolean {
    return true // every entry: positions must be seen whole, even of tables not kept
  }

  listen(entry: JournalEntry): void | Promise<void> {
    if (!this.#replica) return this.open().then(() => this.listen(entry))
    const journal = entry.position.journal
    if (journal === null) {
      throw permanent(
        new LogdaemonError(ErrorCodes.SQL_GAP, `the sql listener needs numbered journals, but the entry at offset ${entry.position.offset} has none`, {
          offset: entry.position.offset,
        }),
      )
    }
    const end: JournalPosition = { journal, offset: entry.position.end }
    const applied = this.#replica.position
    if (applied && comparePositions(end, applied) <= 0) {
      // The database has it: a replay after a restart. Once, that the database's position is one of this server's.
      return this.#aheadChecked ? undefined : this.#checkAhead(entry, journal, applied)
    }
    if (this.#last && comparePositions(end, this.#last) <= 0) {
      // The same entry again: the daemon retries a listen whose flush failed.
      return this.#full() ? this.#flush() : undefined
    }
    if (!this.#startChecked) {
      const checked = this.#checkStart(journal, entry.position.offset, entry.position.line, applied)
      if (checked) return checked.then(() => this.listen(entry))
    }
    this.#last = end
    if (!entry.incomplete) {
      const m = this.#mapper.map(entry, journal)
      if (m) {
        if (m.kind === 'unmapped') {
          this.#unmapped.push(m)
          this.#unmappedEnds.push(end)
        } else {
          this.#pending.push(m)
          this.#pendingEnds.push(end)
        }
        const n = this.#heldBytes.length
        this.#heldBytes.push((n ? (this.#heldBytes[n - 1] as number) : this.#heldBase) + entry.length)
        this.#heldEnds.push(end)
      }
    }
    if (entry.consistent) this.#lastConsistent = end
    if (this.#full()) return this.#flush()
  }

  /**
   * Whether held rows should go into the open transaction: a batch
   * (`batchRows` changes or `batchBytes` of their records) up to the last
   * consistency point, or, inside one transaction larger than
   * GIANT_FACTOR batches, all of them (and then its rest a batch at a
   * time).
   */
  #full(): boolean {
    if (this.#batches(this.#heldEnds.length) < 1) return false
    return this.#consistentBatch() || this.#giant()
  }

  /**
   * The held changes are more than one transaction may hold in memory (it
   * goes into the database transaction unfinished), or the rest of such a
   * transaction, already partly there: that goes on a batch at a time.
   */
  #giant(): boolean {
    const flushed = this.#flushedTo
    const last = this.#lastConsistent
    if (flushed !== null && (last === null || comparePositions(flushed, last) > 0)) return true
    return this.#batches(this.#heldEnds.length) >= GIANT_FACTOR
  }

  /** The first `n` held changes, in batches: the larger of their count over `batchRows` and their bytes over `batchBytes`. */
  #batches(n: number): number {
    const bytes = n === 0 ? 0 : (this.#heldBytes[n - 1] as number) - this.#heldBase
    return Math.max(n / this.#options.batchRows, bytes / this.#options.batchBytes)
  }

  /** Whether the held changes up to the last consistency point make a batch. */
  #consistentBatch(): boolean {
    const c = this.#lastConsistent
    return c !== null && this.#batches(countUpTo(this.#heldEnds, c)) >= 1
  }

  /**
   * The first entry past the database's position must continue it: the same
   * journal at that offset, or a later journal's start when nothing lies
   * between (the database's journal ends at its position, every journal
   * between is empty: an idle server's rotations). The server's files tell
   * (a `.gz` is inflated to count); without them (a listener made by
   * library code) or with the database's journal gone from disk, the next
   * journal's start is taken as continuing it. Returns a promise while the
   * files are looked at.
   */
  #checkStart(journal: number, offset: number, line: number | null, applied: JournalPosition | null): Promise<void> | undefined {
    const done = (): undefined => {
      this.#startChecked = true
      return undefined
    }
    if (applied ? journal === applied.journal && offset === applied.offset : offset === 0) return done()
    const server = this.#server
    if (!applied || offset !== 0 || journal <= applied.journal) throw this.#gap(journal, offset, line, applied)
    if (!server) {
      if (journal === applied.journal + 1) return done()
      throw this.#gap(journal, offset, line, applied)
    }
    return (async () => {
      const ends = await archiveHoldsExactly(server, applied.journal, applied.offset)
      if (ends === false || (ends === null && journal > applied.journal + 1)) throw this.#gap(journal, offset, line, applied)
      for (let n = applied.journal + 1; n < journal; n++) {
        if ((await archiveHoldsExactly(server, n, 0)) !== true) throw this.#gap(journal, offset, line, applied)
      }
      if (ends === null) {
        this.#logger.warn(
          { listener: this.name, url: this.target.masked, position: formatPosition(applied) },
          `journal ${applied.journal} is not on disk to tell whether it ends at ${formatPosition(applied)}: journal ${journal}'s start is taken as continuing it`,
        )
      }
      done()
    })()
  }

  /**
   * The database is ahead of the daemon's entries (they are skipped): after
   * a crash, by what the daemon had not committed yet. Its position must be
   * in the server's journals: journal N holds at least its offset (the
   * live journal, or an archive; one no longer on disk cannot tell). A
   * replica of another server, or of journals since restored from an older
   * backup, was otherwise ahead of every entry: the daemon read the whole
   * live journal, applied nothing and said it was caught up (a probe).
   */
  #checkAhead(entry: JournalEntry, journal: number, applied: JournalPosition): Promise<void> | undefined {
    const server = this.#server
    if (!server) {
      this.#aheadChecked = true
      return undefined
    }
    return (async () => {
      // Checked once it answered: a look that failed (EIO) is made again at the retry, not taken as passed.
      if ((await journalHoldsAtLeast(server, journal, applied.journal, applied.offset)) !== false) {
        this.#aheadChecked = true
        return
      }
      const live = (await describeJournalChain(server, { from: journal }).catch(() => null))?.live.journal ?? null
      const holds =
        live !== null && applied.journal > live
          ? `this server has no journal ${applied.journal} yet (its live journal is ${live})`
          : `this server's journal ${applied.journal} holds less`
      throw permanent(
        new LogdaemonError(
          ErrorCodes.SQL_GAP,
          `${this.target.masked} holds the journal up to ${formatPosition(applied)}, but ${holds} ` +
            `(the daemon reads journal ${journal}): the replica is of another server, or the journals were restored from an older backup. ` +
            `Point the listener at this server's replica, or reload it: logdaemon sql load --replace --url URL checkpoint.N`,
          { journal, offset: entry.position.offset, line: entry.position.line, details: { url: this.target.masked, position: formatPosition(applied) } },
        ),
      )
    })()
  }

  #gap(journal: number, offset: number, line: number | null, applied: JournalPosition | null): LogdaemonError {
    const at = formatPosition({ journal, offset })
    return permanent(
      new LogdaemonError(
        ErrorCodes.SQL_GAP,
        applied
          ? `${this.target.masked} holds the journal up to ${formatPosition(applied)}, but the daemon's next entry is at ${at}: the records between would be missing. ` +
              `Start the daemon at ${formatPosition(applied)} (its state file), or reload the replica: logdaemon sql load --replace --url URL checkpoint.N`
          : `${this.target.masked} has no position yet, but the daemon's next entry is at ${at}: the records before it would be missing. ` +
              `Load a checkpoint first (logdaemon sql load --url URL checkpoint.N, then from: N), or start the daemon at a journal's beginning (from: N with a fresh state file)`,
        { journal, offset, line, details: { url: this.target.masked } },
      ),
    )
  }

  /**
   * Writes held row changes into the open transaction (opening one): those
   * up to the last consistency point; all of them only inside a giant
   * transaction (then the next commit is inside that transaction).
   */
  async #flush(): Promise<void> {
    const replica = await this.#ready(null)
    let to = this.#consistentBatch() ? this.#lastConsistent : this.#last
    if (!to) return
    if (this.#flushedTo && comparePositions(to, this.#flushedTo) < 0) to = this.#flushedTo
    await this.#applyUpTo(replica, to, false)
  }

  /**
   * Makes the database durable at `position`, a consistency point. The
   * listener may already hold entries past it (the chain writes ahead, and
   * stops its commits at bytes not yet known good: a `.gz` member before
   * its CRC is checked): their rows stay in memory for a later commit.
   * When rows past it already went into the open transaction (a batch
   * written ahead, a giant transaction's first part), committing would
   * make them durable too, bytes the daemon does not vouch for yet among
   * them (a probe: a corrupt member's rows stayed in the replica): then
   * nothing is committed, and the database's position is returned, so the
   * daemon commits no later; the transaction commits at the first sync at
   * or past them.
   */
  async sync(position: JournalPosition): Promise<JournalPosition | undefined> {
    const ahead = this.#flushedTo !== null && comparePositions(this.#flushedTo, position) > 0
    if (ahead) {
      const replica = await this.#ready(null)
      const durable = replica.position ?? this.#start
      if (durable) return comparePositions(durable, position) < 0 ? durable : undefined
      // Neither known (a listener made by library code on an empty database): they are committed with it.
    }
    const at = ahead ? (this.#flushedTo as JournalPosition) : position
    const replica = await this.#ready(at)
    const applied = replica.position
    // Nothing new: every entry up to it was skipped, or this commit went through.
    if (!applied || comparePositions(at, applied) > 0) await this.#applyUpTo(replica, at, true)
    return undefined
  }

  /** Applies held rows of entries ending at or before `to`, then (when `commit`) sets the position `to` and commits. */
  async #applyUpTo(replica: Replica, to: JournalPosition, commit: boolean): Promise<void> {
    const n = countUpTo(this.#pendingEnds, to)
    const u = countUpTo(this.#unmappedEnds, to)
    await this.#guard(
      async () => {
        if (!replica.inTransaction) await replica.begin()
        await replica.apply(n === this.#pending.length ? this.#pending : this.#pending.slice(0, n))
        await replica.insertUnmapped(u === this.#unmapped.length ? this.#unmapped : this.#unmapped.slice(0, u), 'journal')
        if (commit) {
          await replica.setPosition(to)
          await replica.commit()
        }
      },
      commit ? `cannot commit ${formatPosition(to)}` : 'cannot write rows',
    )
    this.#pending = this.#pending.slice(n)
    this.#pendingEnds = this.#pendingEnds.slice(n)
    this.#unmapped = this.#unmapped.slice(u)
    this.#unmappedEnds = this.#unmappedEnds.slice(u)
    const h = n + u
    if (h > 0) this.#heldBase = this.#heldBytes[h - 1] as number
    this.#heldBytes = this.#heldBytes.slice(h)
    this.#heldEnds = this.#heldEnds.slice(h)
    if (commit) {
      this.#flushedTo = null
      this.#flushedInTransaction = false
    } else {
      this.#flushedTo = to
      this.#flushedInTransaction = true
    }
  }

  /**
   * The replica, reconnected after a failure. Then the database's position
   * says what happened: unchanged (retry the work in memory), or already at
   * `target` (the failed commit went through).
   */
  async #ready(target: JournalPosition | null): Promise<Replica> {
    const replica = this.#replica
    if (!replica) {
      await this.open()
      return this.#ready(target)
    }
    if (!this.#broken) return replica
    const before = replica.position
    await this.#guard(async () => {
      await replica.adapter.close()
      await replica.open()
    }, 'cannot reconnect')
    this.#broken = false
    const now = replica.position
    const same = (a: JournalPosition | null, b: JournalPosition | null) => (a === null ? b === null : b !== null && comparePositions(a, b) === 0)
    if (!same(before, now) && !(target && same(target, now))) {
      throw permanent(
        new LogdaemonError(
          ErrorCodes.SQL_CONFLICT,
          `${this.target.masked}: the position changed from ${before ? formatPosition(before) : 'none'} to ${now ? formatPosition(now) : 'none'} while the listener was reconnecting: ` +
            'another writer uses this database. Run one writer per database, then restart',
        ),
      )
    }
    return replica
  }

  /**
   * Runs database work; a failure rolls the transaction back and becomes
   * ERR_SQL_FAILED (masked URL), retryable unless rows had already left
   * memory for the lost transaction.
   */
  async #guard(work: () => Promise<void>, what: string): Promise<void> {
    try {
      await work()
    } catch (err) {
      const cause = toError(err)
      this.#broken = true
      await this.#replica?.rollback()
      const lost = this.#flushedInTransaction
      this.#flushedInTransaction = false
      if (lost) {
        // The rows written into the transaction are gone with it: only a restart can replay them.
        this.#clear()
      }
      if (isLogdaemonError(cause) && (cause as { retryable?: boolean }).retryable === false) throw cause
      throw Object.assign(
        new LogdaemonError(
          ErrorCodes.SQL_FAILED,
          `${this.target.masked}: ${what}: ${cause.message}` +
            (lost ? ". The open transaction was rolled back with rows no longer in memory: restart the daemon, it resumes from the database's position" : ''),
          { cause, details: { url: this.target.masked } },
        ),
        { retryable: !lost },
      )
    }
  }

  #clear(): void {
    this.#pending = []
    this.#pendingEnds = []
    this.#unmapped = []
    this.#unmappedEnds = []
    this.#heldEnds = []
    this.#heldBytes = []
    this.#heldBase = 0
    this.#flushedTo = null
  }

  /** Rolls back what was not committed (the daemon replays it next time) and disconnects. */
  async close(): Promise<void> {
    const replica = this.#replica
    this.#replica = null
    this.#clear()
    if (!replica) return
    await replica.rollback()
    await replica.adapter.close()
  }
}

/**
 * How many batches (`batchRows`, `batchBytes`) one open transaction may
 * hold in memory before its rows go into the database transaction
 * unfinished (readers may then see it in part); the rest of it then goes
 * a batch at a time, not GIANT_FACTOR batches again: held rows are
 * promoted by V8, and holding 2,000 at a time took sql-follow (200 MB, one
 * giant transaction) to 147–158 MB peak RSS in 11 of 24 runs.
 */
const GIANT_FACTOR = 4

/** How many of `ends` (ascending) are at or before `to`. */
function countUpTo(ends: readonly JournalPosition[], to: JournalPosition): number {
  let lo = 0
  let hi = ends.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (comparePositions(ends[mid] as JournalPosition, to) <= 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The `sql` built-in: `{ url, tables, exclude, encoding }`; a sqlite: file is relative to the configuration file. */
export function create(options: SqlOptions, context: { name: string; baseDir?: string; server?: JournalLayout }): Listener {
  return new SqlListener(options, parseSqlUrl(options.url, context.baseDir ?? '.'), context.name, context.server ?? null)
}
