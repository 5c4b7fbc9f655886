import { ErrorCodes, LogdaemonError, isLogdaemonError, toError } from '../../../errors.js'
import type { JournalEntry } from '../../../journal/entry.js'
import { comparePositions, formatPosition, type JournalPosition } from '../../../position.js'
import { BaseListener, type Listener, type ListenerContext, type ListenerLogger } from '../../listener.js'
import { openAdapter } from './open-adapter.js'
import { Replica } from './replica.js'
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
 * memory (up to `batchRows`, then written into the open database
 * transaction); at each `sync(position)`, which the daemon calls only at
 * consistency points, they are applied and `logdaemon_position` is set to
 * `position` in one database transaction. So a kill -9 leaves the
 * database at a consistency point, and on restart entries that end at or
 * before the database's position are skipped (the daemon replays from its
 * own commit, which is never later).
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
  #pending: RowOp[] = []
  #unmapped: UnmappedRecord[] = []
  /** The open transaction holds rows that are no longer in memory: it cannot be redone after a failure. */
  #flushedInTransaction = false
  /** End position of the last entry taken (a retried `listen` brings it again). */
  #last: JournalPosition | null = null
  /** A call failed: reconnect and re-read the database before the next. */
  #broken = false

  constructor(options: SqlOptions, target: SqlTarget, name = 'sql') {
    super(name)
    this.#options = { ...options }
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
    if (context) this.#logger = context.logger
    if (this.#replica) return
    const replica = new Replica(await openAdapter(this.target))
    try {
      await this.#guard(() => replica.open(), 'cannot open the database')
    } catch (err) {
      await replica.adapter.close().catch(() => {})
      throw err
    }
    this.#broken = false
    this.#replica = replica
    const p = replica.position
    this.#logger.info(
      { listener: this.name, url: this.target.masked, position: p ? formatPosition(p) : null },
      `sql replica ${this.target.masked} ${p ? `at ${formatPosition(p)}` : 'has no position yet'}`,
    )
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
    if (applied && comparePositions(end, applied) <= 0) return // the database has it: a replay after a restart
    if (this.#last && comparePositions(end, this.#last) <= 0) {
      // The same entry again: the daemon retries a listen whose flush failed.
      return this.#full() ? this.#flush() : undefined
    }
    if (!this.#last) this.#checkStart(entry, journal, applied)
    this.#last = end
    if (!entry.incomplete) {
      const m = this.#mapper.map(entry, journal)
      if (m) {
        if (m.kind === 'unmapped') this.#unmapped.push(m)
        else this.#pending.push(m)
      }
    }
    if (this.#full()) return this.#flush()
  }

  #full(): boolean {
    return this.#pending.length + this.#unmapped.length >= this.#options.batchRows
  }

  /** The first entry past the database's position must continue it: the same journal at that offset, or the next journal's start. */
  #checkStart(entry: JournalEntry, journal: number, applied: JournalPosition | null): void {
    const { offset } = entry.position
    const continues = applied ? (journal === applied.journal && offset === applied.offset) || (journal === applied.journal + 1 && offset === 0) : offset === 0
    if (continues) return
    const at = formatPosition({ journal, offset })
    throw permanent(
      new LogdaemonError(
        ErrorCodes.SQL_GAP,
        applied
          ? `${this.target.masked} holds the journal up to ${formatPosition(applied)}, but the daemon's next entry is at ${at}: the records between would be missing. ` +
              `Start the daemon at ${formatPosition(applied)} (its state file), or reload the replica: logdaemon sql load --replace --url URL checkpoint.N`
          : `${this.target.masked} has no position yet, but the daemon's next entry is at ${at}: the records before it would be missing. ` +
              `Load a checkpoint first (logdaemon sql load --url URL checkpoint.N, then from: N), or start the daemon at a journal's beginning (from: N with a fresh state file)`,
        { journal, offset, line: entry.position.line, details: { url: this.target.masked } },
      ),
    )
  }

  /** Writes the held row changes into the open transaction (opening one). */
  async #flush(): Promise<void> {
    const replica = await this.#ready(null)
    await this.#guard(async () => {
      if (!replica.inTransaction) await replica.begin()
      await replica.apply(this.#pending)
      await replica.insertUnmapped(this.#unmapped, 'journal')
    }, 'cannot write rows')
    this.#pending = []
    this.#unmapped = []
    this.#flushedInTransaction = true
  }

  /** Applies what is held and sets the position, in one transaction; commits it. */
  async sync(position: JournalPosition): Promise<void> {
    const replica = await this.#ready(position)
    const applied = replica.position
    if (applied && comparePositions(position, applied) <= 0) {
      // Nothing new: every entry up to `position` was skipped (or this commit already went through).
      this.#pending = []
      this.#unmapped = []
      return
    }
    await this.#guard(
      async () => {
        if (!replica.inTransaction) await replica.begin()
        await replica.apply(this.#pending)
        await replica.insertUnmapped(this.#unmapped, 'journal')
        await replica.setPosition(position)
        await replica.commit()
      },
      `cannot commit ${formatPosition(position)}`,
    )
    this.#pending = []
    this.#unmapped = []
    this.#flushedInTransaction = false
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
        this.#pending = []
        this.#unmapped = []
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

  /** Rolls back what was not committed (the daemon replays it next time) and disconnects. */
  async close(): Promise<void> {
    const replica = this.#replica
    this.#replica = null
    this.#pending = []
    this.#unmapped = []
    if (!replica) return
    await replica.rollback()
    await replica.adapter.close()
  }
}

/** The `sql` built-in: `{ url, tables, exclude, encoding }`; a sqlite: file is relative to the configuration file. */
export function create(options: SqlOptions, context: { name: string; baseDir?: string }): Listener {
  return new SqlListener(options, parseSqlUrl(options.url, context.baseDir ?? '.'), context.name)
}
