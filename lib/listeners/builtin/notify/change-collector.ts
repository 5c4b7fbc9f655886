import { isDataOp, type EntryPosition, type JournalEntry } from '../../../journal/entry.js'
import { actionName, CHANGE_TABLES, readChangeRow, readDescRow, readFileRow, type ChangeRow, type RowResult, type TableName } from './change-rows.js'
import { textDecoder } from './text-decoder.js'
import { TransactionDraft } from './transaction-draft.js'

/** One file of a submitted change. */
export interface ChangeFile {
  readonly depotFile: string
  readonly revision: number
  /** `add`, `edit`, `delete`, `branch`, `integrate`, … as `p4 describe` prints it. */
  readonly action: string
}

/** A changelist submitted by one transaction, as the journal recorded it. */
export interface SubmittedChange {
  readonly change: number
  readonly user: string
  readonly client: string
  /** When the change was submitted, epoch seconds (db.change `date`). */
  readonly date: number
  readonly description: string
  /**
   * False when the text is db.change's own copy, which p4d may shorten: no
   * db.desc row was seen, or it was too large or too old to be remembered
   * until the submit (see DESC_CACHE_BYTES).
   */
  readonly descriptionComplete: boolean
  /** The files, in journal order, at most `maxFiles`. */
  readonly files: readonly ChangeFile[]
  /** How many file revisions the transaction recorded for the change (may exceed `files.length`). */
  readonly fileCount: number
  /** False when files were left out: over `maxFiles`, or rows of an unknown table version were skipped. */
  readonly filesComplete: boolean
  /**
   * The entry that completed the transaction (its `@ex@`); for records
   * without markers, the change's own last record (its db.change, db.desc or
   * file row, whichever comes last), so that a change has the same position
   * however a replay groups the unmarked records into flushes.
   */
  readonly position: EntryPosition
  /** The process id of the `@ex@` marker, or null for records without markers. */
  readonly pid: string | null
}

/** Something the collector left out, for the caller to log. Never thrown. */
export interface CollectorSkip {
  readonly reason: 'unknown-version' | 'malformed' | 'too-many-changes' | 'too-many-open' | 'restart'
  readonly detail: string
  readonly table?: string
  readonly version?: number | null
  readonly position?: EntryPosition
}

export interface ChangeCollectorOptions {
  /** Field bytes to text. Default: UTF-8, invalid bytes as U+FFFD. */
  decode?: (bytes: Buffer) => string
  /** Files listed per change; more are counted, not listed. Default 1000. */
  maxFiles?: number
  /** Told about every row or transaction left out. */
  onSkip?: (skip: CollectorSkip) => void
}

/**
 * p4d writes one changelist per submit transaction; import tools (p4convert)
 * write thousands of changes with no markers at all. Beyond this many
 * changes in one transaction the rest are dropped with a skip report, so an
 * import journal cannot grow memory without bound.
 */
const MAX_CHANGES_PER_TRANSACTION = 10_000

/**
 * Open transactions are one per p4d process with an `@mx@` outstanding;
 * p4d's concurrent processes stay far below this. More means `@ex@`
 * markers were lost (a journal cut mid-transaction): the oldest is dropped.
 */
const MAX_OPEN_TRANSACTIONS = 1024

/** Full descriptions remembered across transactions (a change's db.desc row is written when it is created, long before its submit). */
const DESC_CACHE_SIZE = 4096

/**
 * The same cache bounded by memory: descriptions are free text of any size
 * (a record may be 64 MiB), and 600 pending changes of 1 MB each once held
 * 600 MB. 16 MiB keeps the last 4096 descriptions of a few KB, the size real
 * ones have; past it the oldest are dropped. A description over 1 MiB is not
 * kept at all, so one cannot push out a thousand ordinary ones. A submit whose
 * description was dropped is mailed with db.change's own copy and says so, as
 * when the daemon never saw the db.desc row.
 */
const DESC_CACHE_BYTES = 16 * 1024 * 1024
const DESC_CACHE_MAX_ONE = 1024 * 1024

/**
 * Assembles submitted changelists from journal entries.
 *
 * Transactions: p4d writes a transaction's records and then `@ex@ pid time`;
 * a long transaction may be written in pieces, each followed by
 * `@mx@ pid`, with other processes' transactions in between. So the records
 * since the previous marker belong to the process named by the next marker:
 * `@mx@` parks them with that pid, `@ex@` completes the pid's transaction.
 * A restart note (`@nx@ 7`) abandons every parked transaction, as p4d does.
 * Records followed by no marker at all (journals written by import tools)
 * form one transaction when `flushUnmarked()` is called.
 *
 * A change counts as submitted by a transaction when the transaction writes
 * its db.change row with status 1 and at least one of its file revisions
 * (db.revcx or db.rev). So creating or editing a pending change (status 0),
 * shelving, and `p4 change -f` edits of an already submitted change (status
 * 1 but no files) are not submits. Rows in unknown table versions are
 * skipped and reported; a status-1 change whose transaction also held
 * unreadable file rows is still reported, with `filesComplete: false`.
 */
export class ChangeCollector {
  readonly #decode: (bytes: Buffer) => string
  readonly #maxFiles: number
  readonly #onSkip: (skip: CollectorSkip) => void
  /** Records since the last marker: they belong to the next marker's pid. */
  #segment: TransactionDraft
  #segmentEnd: EntryPosition | null = null
  /** In the current segment, the last record of each change (db.change and file rows) and of each description, by key. */
  #changeEnds = new Map<number, EntryPosition>()
  #descEnds = new Map<number, EntryPosition>()
  /** In the current segment, each change's last db.change row: where a change without a marker is placed. */
  #changeRows = new Map<number, EntryPosition>()
  /** In the current segment, the last file row (db.rev, db.revcx). */
  #lastFileRow: EntryPosition | null = null
  /** Parked pieces of transactions, by pid, in order of their first `@mx@`. */
  readonly #open = new Map<string, TransactionDraft>()
  readonly #descCache = new Map<number, { readonly text: string; readonly cost: number }>()
  /** What the cached descriptions take in memory, as `descCost` counts it. */
  #descCacheBytes = 0
  #sawMarkers = false

  constructor(options: ChangeCollectorOptions = {}) {
    this.#decode = options.decode ?? textDecoder('utf8')
    this.#maxFiles = options.maxFiles ?? 1000
    this.#onSkip = options.onSkip ?? (() => {})
    this.#segment = this.#draft()
  }

  /** Whether the collector needs to see this entry at all. */
  static wants(entry: JournalEntry): boolean {
    const op = entry.op
    if (op === 'ex' || op === 'mx' || op === 'nx') return true
    return isDataOp(op) && CHANGE_TABLES.has(entry.table ?? '')
  }

  /** Transactions parked by `@mx@` and not yet ended. */
  get openTransactions(): number {
    return this.#open.size
  }

  /** Memory the remembered descriptions take (at most DESC_CACHE_BYTES). */
  get cachedDescriptionBytes(): number {
    return this.#descCacheBytes
  }

  /** Whether records without a marker after them are waiting. */
  get hasUnmarked(): boolean {
    return !this.#segment.isEmpty
  }

  /**
   * Whether transaction markers (`@ex@`, `@mx@`) were seen: the journal is
   * p4d's, so records waiting for a marker are a transaction still being
   * written, not an import tool's unmarked records.
   */
  get sawMarkers(): boolean {
    return this.#sawMarkers
  }

  /** The journal is known to have markers (a delivery state saved by an earlier process says so). */
  assumeMarkers(): void {
    this.#sawMarkers = true
  }

  /** Takes one entry; returns the changes the transaction it completes submitted (usually none). */
  add(entry: JournalEntry): SubmittedChange[] {
    switch (entry.op) {
      case 'ex':
        this.#sawMarkers = true
        return this.#end(entry)
      case 'mx':
        this.#sawMarkers = true
        this.#park(entry)
        return []
      case 'nx':
        this.#note(entry)
        return []
      default:
        if (isDataOp(entry.op)) this.#row(entry)
        return []
    }
  }

  /** Completes the records that no marker followed as one transaction. */
  flushUnmarked(): SubmittedChange[] {
    const end = this.#segmentEnd
    if (this.#segment.isEmpty || end === null) return []
    const changeEnds = this.#changeEnds
    const descEnds = this.#descEnds
    const changeRows = this.#changeRows
    const waiting = this.#awaitingFiles()
    const draft = this.#takeSegment()
    const changes = this.#complete(draft, end, null).map((c) => {
      // At its db.change row: one row per submit, where a quiet cannot fall inside it (a quiet between two of
      // its file rows mails it at the first and a replay reads them together: its last record would move).
      const row = changeRows.get(c.change)
      if (row !== undefined) return { ...c, position: row }
      const own = [changeEnds.get(c.change), descEnds.get(draft.changes.get(c.change)?.descKey ?? Number.NaN)]
      const last = own.reduce<EntryPosition | undefined>((a, b) => (b !== undefined && (a === undefined || compareEnds(b, a) > 0) ? b : a), undefined)
      return last === undefined ? c : { ...c, position: last }
    })
    // A submit whose db.change row came after the segment's last file row may have its files still to come (the
    // import paused between its row and its files): kept for the next segment, as it would have been dropped for
    // want of files and then, its files without their row, never built.
    for (const { row, at } of waiting) {
      this.#segment.putChange(row, false)
      this.#changeRows.set(row.change, at)
      this.#changeEnds.set(row.change, at)
      this.#segmentEnd = at
    }
    // Delivered in journal order: the review state's mailedThrough only moves forward.
    return changes.sort((a, b) => compareEnds(a.position, b.position) || a.change - b.change)
  }

  /** The segment's submitted changes without files whose db.change row comes after its last file row. */
  #awaitingFiles(): { row: ChangeRow; at: EntryPosition }[] {
    const s = this.#segment
    const out: { row: ChangeRow; at: EntryPosition }[] = []
    if (s.unknownFileRows) return out
    for (const [change, row] of s.changes) {
      const at = this.#changeRows.get(change)
      if (row === null || row.status !== 1 || s.files.has(change) || at === undefined) continue
      if (this.#lastFileRow === null || compareEnds(at, this.#lastFileRow) > 0) out.push({ row, at })
    }
    return out
  }

  #draft(): TransactionDraft {
    return new TransactionDraft({ maxFiles: this.#maxFiles, maxChanges: MAX_CHANGES_PER_TRANSACTION })
  }

  #pidOf(entry: JournalEntry): string {
    return entry.fieldBytes[0]?.toString('latin1') ?? ''
  }

  #takeSegment(): TransactionDraft {
    const s = this.#segment
    this.#segment = this.#draft()
    this.#segmentEnd = null
    this.#changeEnds = new Map()
    this.#descEnds = new Map()
    this.#changeRows = new Map()
    this.#lastFileRow = null
    return s
  }

  #end(entry: JournalEntry): SubmittedChange[] {
    const pid = this.#pidOf(entry)
    const segment = this.#takeSegment()
    const parked = this.#open.get(pid)
    this.#open.delete(pid)
    let draft = segment
    if (parked) {
      parked.absorb(segment)
      draft = parked
    }
    return this.#complete(draft, entry.position, pid)
  }

  #park(entry: JournalEntry): void {
    const pid = this.#pidOf(entry)
    const segment = this.#takeSegment()
    const parked = this.#open.get(pid)
    if (parked) {
      parked.absorb(segment)
      return
    }
    if (this.#open.size >= MAX_OPEN_TRANSACTIONS) {
      const [oldest] = this.#open.keys()
      if (oldest !== undefined) this.#open.delete(oldest)
      this.#onSkip({
        reason: 'too-many-open',
        detail: `more than ${MAX_OPEN_TRANSACTIONS} transactions open: dropped the one of pid ${oldest}, whose @ex@ never came`,
        position: entry.position,
      })
    }
    this.#open.set(pid, segment)
  }

  #note(entry: JournalEntry): void {
    // @nx@ type 7: server restart. Transactions still open were never committed; in a journal with markers, so
    // were the records no marker followed yet (a process that died before its @mx@ or @ex@): they are not the
    // next marker's, which is another process's, of the restarted server.
    if (entry.fieldBytes[0]?.toString('latin1') !== '7') return
    const cut = this.#sawMarkers && !this.#segment.isEmpty
    if (this.#open.size === 0 && !cut) return
    const parts = [
      ...(this.#open.size > 0 ? [`${this.#open.size} open transaction(s) of pid ${[...this.#open.keys()].join(', ')}`] : []),
      ...(cut ? ['the records of a transaction no marker ended'] : []),
    ]
    this.#onSkip({ reason: 'restart', detail: `server restart note: abandoned ${parts.join(' and ')}`, position: entry.position })
    this.#open.clear()
    if (cut) this.#takeSegment()
  }

  #row(entry: JournalEntry): void {
    const table = entry.table as TableName | null
    if (table === null || !CHANGE_TABLES.has(table)) return
    const op = entry.op
    // vv (verify) and dl (delete librarian) change no rows.
    if (op === 'vv' || op === 'dl') return
    const deleted = op === 'dv' || op === 'del'
    const s = this.#segment
    this.#segmentEnd = entry.position
    switch (table) {
      case 'db.change': {
        const r = this.#ok(readChangeRow(entry, this.#decode), entry, table)
        // A submitted change's row written again (its description edited: p4 change -f, -u) keeps the change where
        // it was submitted: a live run mailed it there, the edit coming in a later quiet without files, and a replay
        // reading both in one segment must find it there too (else it is taken for a change not delivered yet).
        const resubmitted = r !== null && r.status === 1 && s.changes.get(r.change)?.status === 1 && this.#changeRows.has(r.change)
        if (r && !resubmitted) {
          this.#changeEnds.set(r.change, entry.position)
          this.#changeRows.set(r.change, entry.position)
        }
        const alreadyDropping = s.droppedChanges
        if (r && !s.putChange(r, deleted) && !alreadyDropping) {
          // Reported once per transaction piece, not once per dropped row.
          this.#onSkip({
            reason: 'too-many-changes',
            detail: `more than ${MAX_CHANGES_PER_TRANSACTION} changes in one transaction: change ${r.change} and later ones are not notified`,
            table,
            position: entry.position,
          })
        }
        return
      }
      case 'db.desc': {
        const r = this.#ok(readDescRow(entry, this.#decode), entry, table)
        if (r) {
          this.#descEnds.set(r.descKey, entry.position)
          s.putDesc(r.descKey, r.description, deleted)
        }
        return
      }
      case 'db.rev':
      case 'db.revcx': {
        const result = readFileRow(entry, table, this.#decode)
        const r = this.#ok(result, entry, table)
        this.#lastFileRow = entry.position
        if (r) this.#changeEnds.set(r.change, entry.position)
        if (r === null && table === 'db.rev') s.unknownRevRows = true
        else if (r === null) s.unknownRevcxRows = true
        else if (!deleted) s.putFile(r, table === 'db.rev' ? 'rev' : 'revcx')
        return
      }
    }
  }

  #ok<T>(result: RowResult<T>, entry: JournalEntry, table: string): T | null {
    if (result.ok) return result.row
    this.#onSkip({ reason: result.reason, detail: result.detail, table, version: entry.version, position: entry.position })
    return null
  }

  #complete(draft: TransactionDraft, end: EntryPosition, pid: string | null): SubmittedChange[] {
    const out: SubmittedChange[] = []
    for (const [change, row] of draft.changes) {
      if (row === null || row.status !== 1) continue
      const files = draft.files.get(change)
      if (files === undefined && !draft.unknownFileRows) continue
      const listed = [...(files?.values() ?? [])].map(({ row: f }) => ({
        depotFile: f.depotFile,
        revision: f.revision,
        action: actionName(f.action),
      }))
      const counts = draft.fileRowCounts.get(change)
      const fileCount = Math.max(listed.length, counts?.rev ?? 0, counts?.revcx ?? 0)
      const desc = draft.descs.get(row.descKey) ?? this.#descCache.get(row.descKey)?.text
      out.push({
        change,
        user: row.user,
        client: row.client,
        date: row.date,
        description: desc ?? row.description,
        descriptionComplete: desc !== undefined,
        files: listed,
        fileCount,
        // db.revcx is the change's file index: when it was read, db.rev rows
        // of an undocumented layout (conversion tools write pre-2006.2 ones)
        // take nothing away from the list.
        filesComplete: listed.length === fileCount && !draft.unknownRevcxRows && (!draft.unknownRevRows || (counts?.revcx ?? 0) > 0),
        position: end,
        pid,
      })
    }
    for (const [key, d] of draft.descs) this.#remember(key, d)
    return out.sort((a, b) => a.change - b.change)
  }

  #remember(key: number, description: string | null): void {
    this.#forget(key)
    if (description === null) return
    // A character takes a byte at least: a longer text (a record may be 64 MiB) is not scanned to learn it is too large.
    if (description.length > DESC_CACHE_MAX_ONE) return
    const cost = descCost(description)
    if (cost > DESC_CACHE_MAX_ONE) return
    this.#descCache.set(key, { text: description, cost })
    this.#descCacheBytes += cost
    // Oldest first; the one just added is last and alone within the budget, so it stays.
    for (const oldest of this.#descCache.keys()) {
      if (this.#descCache.size <= DESC_CACHE_SIZE && this.#descCacheBytes <= DESC_CACHE_BYTES) break
      this.#forget(oldest)
    }
  }

  #forget(key: number): void {
    const had = this.#descCache.get(key)
    if (had === undefined) return
    this.#descCache.delete(key)
    this.#descCacheBytes -= had.cost
  }
}

/**
 * The bytes V8 holds a decoded string in: one per character when every
 * character is Latin-1, else two (UTF-16).
 */
function descCost(text: string): number {
  return /[\u0100-\uffff]/.test(text) ? text.length * 2 : text.length
}

/** Journal order of two records' ends. */
function compareEnds(a: EntryPosition, b: EntryPosition): number {
  return (a.journal ?? 0) - (b.journal ?? 0) || a.end - b.end
}
