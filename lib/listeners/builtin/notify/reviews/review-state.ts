import { isDataOp, type JournalEntry } from '../../../../journal/entry.js'
import { comparePositions, formatPosition, parsePosition, type JournalPosition } from '../../../../position.js'
import type { ChangeFile, SubmittedChange } from '../change-collector.js'
import { DeliveryState, type DeliveryJson, type MailProgress } from '../delivery-state.js'
import { textDecoder, type TextEncodingName } from '../text-decoder.js'
import { asciiLower, ReviewView, reviewLineFromRow, sortNames } from './review-view.js'

/** What the review state is made of: two tables of the server's database. */
export const REVIEW_TABLES: ReadonlySet<string> = new Set(['db.user', 'db.review'])

/** A user's address book entry (db.user). */
export interface ReviewUser {
  /** The user name as the server spells it. */
  readonly user: string
  readonly email: string
  readonly fullName: string
}

/** One subscription line (db.review), by its sequence number. */
export interface ReviewRow {
  readonly seq: number
  readonly mapFlag: number
  readonly path: string
}

/**
 * One db.user or db.review record, decoded (ReviewState.edit): where it is
 * in the journal (its journal number, null when unknown; the offsets of its
 * first byte and just past its last) and the row it sets or deletes, or
 * null when it changes nothing the state keeps (a row it cannot read, a
 * verify record).
 */
export interface ReviewEdit {
  readonly journal: number | null
  readonly offset: number
  readonly end: number
  readonly change:
    | { readonly table: 'db.user'; readonly id: string; readonly user: ReviewUser | null }
    | { readonly table: 'db.review'; readonly id: string; readonly seq: number; readonly row: ReviewRow | null }
    | null
}

/** Who receives a change, with the files that matched and the lines that decided. */
export interface ReviewRecipient extends ReviewUser {
  readonly files: readonly ChangeFile[]
  /** For each file in `files`, the Reviews line that matched it (the last matching line). */
  readonly lines: readonly string[]
}

/** A user whose subscriptions were looked at for a change, matched or not (for `logdaemon reviews`). */
export interface ReviewExplanation extends ReviewRecipient {
  /** Why the user gets no mail although files matched (the author, no address), or null. */
  readonly excluded: string | null
}

/**
 * The state file's shape. Version 2 (written): `mailedChange`. Version 1
 * (read): `mailedThrough` covers every change completed at it, unless
 * `mailedChanges` (written by the versions between) lists which; an older
 * daemon reading a version 2 file refuses it rather than take every change
 * at `mailedThrough` for delivered.
 */
export interface ReviewStateJson extends DeliveryJson {
  readonly version: 1 | 2
  /** The end of the last journal entry applied to the state (`N/offset`), or null. */
  readonly appliedThrough: string | null
  /** Version 1 only: the changes delivered at `mailedThrough`. */
  readonly mailedChanges?: readonly number[]
  /** Where the state was first read from (a checkpoint path), for logs. */
  readonly origin: string
  /** The server root (P4ROOT) the state belongs to, or null. */
  readonly server?: string | null
  /** The notify listener the state belongs to (absent in files written before it was recorded). */
  readonly listener?: string | null
  readonly caseInsensitive: boolean
  readonly users: readonly ReviewUser[]
  readonly reviews: readonly { readonly user: string; readonly rows: readonly ReviewRow[] }[]
}

export type { MailProgress }

/**
 * Who reviews what, as the server's db.user and db.review tables say at a
 * point of the journal: built from a checkpoint, then kept current by
 * applying the journal's db.user and db.review records in order, so a user
 * who edits their Reviews field is honoured from the next change on.
 *
 * `pv`, `rv` and `put` set a row by key, `dv` and `del` delete it (p4d
 * rewrites a user's Reviews field as deletes of the old rows and puts of the
 * new ones, in one transaction). User names and paths compare ignoring
 * ASCII case on a case-insensitive server.
 */
export class ReviewState {
  readonly caseInsensitive: boolean
  origin: string
  /** The server root the state belongs to (P4ROOT), when known: a state file of another server is refused. */
  server: string | null = null
  /** The notify listener the state belongs to, when known: another listener's state file is refused. */
  listener: string | null = null
  /**
   * The journal's text encoding (the listener's `encoding`): db.user and
   * db.review fields are decoded with it whatever encoding the entries
   * carry, as the change collector decodes depot paths and user names, so
   * that a Reviews line and a file compare as the same text. Not saved.
   */
  textEncoding: TextEncodingName = 'utf8'
  #users = new Map<string, ReviewUser>()
  #reviews = new Map<string, Map<number, ReviewRow>>()
  #views = new Map<string, ReviewView>()
  #applied: JournalPosition | null = null
  /** What was delivered (the part of the file every notify listener keeps, see DeliveryState). */
  #delivery = new DeliveryState()
  #dirty = false

  constructor(options: { caseInsensitive: boolean; origin: string }) {
    this.caseInsensitive = options.caseInsensitive
    this.origin = options.origin
  }

  /** Whether an entry changes the state: data records of db.user or db.review. */
  static wants(entry: JournalEntry): boolean {
    return isDataOp(entry.op) && REVIEW_TABLES.has(entry.table ?? '')
  }

  /** Users with at least one Reviews line. */
  get reviewerCount(): number {
    return this.#reviews.size
  }

  get userCount(): number {
    return this.#users.size
  }

  /** Whether something changed since the last `markSaved()`. */
  get dirty(): boolean {
    return this.#dirty || this.#delivery.dirty
  }

  /** What was delivered: the delivery part of the state. */
  get delivery(): DeliveryState {
    return this.#delivery
  }

  get appliedThrough(): JournalPosition | null {
    return this.#applied
  }

  get mailedThrough(): JournalPosition | null {
    return this.#delivery.mailedThrough
  }

  markSaved(): void {
    this.#dirty = false
    this.#delivery.markSaved()
  }

  /** A save that failed: the state is to be saved again. */
  markDirty(): void {
    this.#dirty = true
  }

  /** Applies one record (any record: others are ignored). Returns whether the state changed. */
  apply(entry: JournalEntry): boolean {
    const edit = this.edit(entry)
    return edit !== null && this.applyEdit(edit)
  }

  /**
   * What a db.user or db.review record does to the state, decoded now and
   * applied later (`applyEdit`): ReviewTransactions holds a record until
   * the server commits its transaction. Null for any other record.
   */
  edit(entry: JournalEntry): ReviewEdit | null {
    if (!ReviewState.wants(entry)) return null
    const p = entry.position
    return { journal: p.journal, offset: p.offset, end: p.end, change: this.#changeOf(entry) }
  }

  /**
   * Applies an edit made by `edit`. Returns whether it set or deleted a row.
   *
   * A replay after a restart applies again what was applied after the
   * daemon's last commit, in the same order, and that leaves the state as it
   * was: each record sets or deletes one row by its key, so the rows end as
   * the last record of each key in the replay left them, which is how the
   * first run left them (the replay ends where it did, or goes on). So no
   * record is skipped by position: records are applied in the order their
   * transactions commit, which is not journal order (a parked transaction
   * commits after later ones), and skipping those that end before the last
   * one applied would apply only part of a transaction again, out of order.
   */
  applyEdit(edit: ReviewEdit): boolean {
    const end = edit.journal === null ? null : { journal: edit.journal, offset: edit.end }
    if (end !== null && (this.#applied === null || comparePositions(end, this.#applied) > 0)) this.#applied = end
    this.#dirty = true
    const c = edit.change
    if (c === null) return false
    if (c.table === 'db.user') {
      if (c.user === null) this.#users.delete(c.id)
      else this.#users.set(c.id, c.user)
      return true
    }
    let rows = this.#reviews.get(c.id)
    if (c.row === null) {
      rows?.delete(c.seq)
      if (rows?.size === 0) this.#reviews.delete(c.id)
    } else {
      if (rows === undefined) this.#reviews.set(c.id, (rows = new Map()))
      rows.set(c.seq, c.row)
    }
    this.#views.delete(c.id)
    return true
  }

  #changeOf(entry: JournalEntry): ReviewEdit['change'] {
    // Decoded as the listener reads the journal (the daemon hands out entries decoded as UTF-8).
    const bytes = this.textEncoding === 'utf8' ? 'utf8' : 'latin1'
    const row = (entry.encoding === bytes ? entry : entry.withEncoding(bytes)).row
    if (row === null) return null
    const text = this.textEncoding === 'windows-1252' ? (v: unknown) => cp1252(Buffer.from(textOf(v), 'latin1')) : textOf
    const put = entry.op === 'pv' || entry.op === 'rv' || entry.op === 'put'
    const del = entry.op === 'dv' || entry.op === 'del'
    if (!put && !del) return null
    const user = text(row.user ?? row.field0)
    if (user === '') return null
    const id = this.#fold(user)
    if (entry.table === 'db.user') {
      return { table: 'db.user', id, user: del ? null : { user, email: text(row.email ?? row.field1), fullName: text(row.fullName ?? row.field5) } }
    }
    const seq = Number(row.seq ?? row.field1)
    if (!Number.isFinite(seq)) return null
    return { table: 'db.review', id, seq, row: del ? null : { seq, mapFlag: Number(row.mapFlag ?? row.field2) || 0, path: text(row.depotFile ?? row.field3) } }
  }

  /** The user's address book entry, or null. */
  user(name: string): ReviewUser | null {
    return this.#users.get(this.#fold(name)) ?? null
  }

  /** The user's Reviews lines, in order. */
  view(name: string): ReviewView {
    const id = this.#fold(name)
    let view = this.#views.get(id)
    if (view === undefined) {
      const rows = [...(this.#reviews.get(id)?.values() ?? [])].sort((a, b) => a.seq - b.seq)
      view = new ReviewView(
        rows.map((r) => reviewLineFromRow(r.mapFlag, r.path)),
        { caseInsensitive: this.caseInsensitive },
      )
      this.#views.set(id, view)
    }
    return view
  }

  /**
   * Every user whose Reviews lines match a file of the change, with the
   * files and lines, and why one of them gets no mail. In user order.
   */
  explain(change: Pick<SubmittedChange, 'user' | 'files'>, options: { includeAuthor?: boolean } = {}): ReviewExplanation[] {
    const out: ReviewExplanation[] = []
    const author = this.#fold(change.user)
    // Each name folded once, and sorted once: a user is tried only on the files an include line of theirs can fit
    // (2000 reviewers against a change of 10,000 files took 8–13 s, trying every file against every line).
    const names = change.files.map((f) => (this.caseInsensitive ? asciiLower(f.depotFile) : f.depotFile))
    const by = sortNames(names)
    const every = names.map((_, i) => i)
    for (const id of [...this.#reviews.keys()].sort()) {
      const view = this.view(id)
      const files: ChangeFile[] = []
      const lines: string[] = []
      for (const i of view.candidates(by) ?? every) {
        const m = view.matchFolded(names[i] as string)
        if (m.reviewed && m.line !== null) {
          files.push(change.files[i] as ChangeFile)
          lines.push(m.line.text)
        }
      }
      if (files.length === 0) continue
      const who = this.#users.get(id)
      const user = who?.user ?? id
      const email = who?.email ?? ''
      let excluded: string | null = null
      if (id === author && options.includeAuthor !== true) excluded = 'the change is their own'
      else if (who === undefined) excluded = 'no such user in db.user'
      else if (email === '') excluded = 'no e-mail address'
      else if (!isPlainAddress(email)) excluded = `the e-mail address ${JSON.stringify(email)} is not one plain address`
      out.push({ user, email, fullName: who?.fullName ?? '', files, lines, excluded })
    }
    return out
  }

  /** The users who get a mail for the change: `explain` without the excluded. */
  recipients(change: Pick<SubmittedChange, 'user' | 'files'>, options: { includeAuthor?: boolean } = {}): ReviewRecipient[] {
    return this.explain(change, options)
      .filter((e) => e.excluded === null)
      .map(({ excluded: _excluded, ...r }) => r)
  }

  toJSON(): ReviewStateJson {
    return {
      version: 2,
      appliedThrough: this.#applied === null ? null : formatPosition(this.#applied),
      ...this.#delivery.toJSON(),
      origin: this.origin,
      server: this.server,
      listener: this.listener,
      caseInsensitive: this.caseInsensitive,
      users: [...this.#users.values()],
      reviews: [...this.#reviews].map(([user, rows]) => ({ user, rows: [...rows.values()] })),
    }
  }

  static fromJSON(json: unknown): ReviewState {
    const j = json as Partial<ReviewStateJson> | null
    if (j === null || typeof j !== 'object' || (j.version !== 1 && j.version !== 2) || !Array.isArray(j.users) || !Array.isArray(j.reviews)) {
      throw new TypeError('not a review state file (version 1 or 2)')
    }
    const state = new ReviewState({ caseInsensitive: j.caseInsensitive === true, origin: String(j.origin ?? '') })
    const str = (v: unknown, what: string): string => {
      if (typeof v !== 'string') throw new TypeError(`${what} is not a string`)
      return v
    }
    const int = (v: unknown, what: string): number => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new TypeError(`${what} is not an integer`)
      return v
    }
    for (const u of j.users)
      state.#users.set(state.#fold(str(u.user, 'a user name')), { user: u.user, email: str(u.email, 'an email'), fullName: str(u.fullName, 'a full name') })
    for (const r of j.reviews) {
      const rows = new Map<number, ReviewRow>()
      if (!Array.isArray(r.rows)) throw new TypeError('a review list is not an array')
      for (const row of r.rows) rows.set(int(row.seq, 'a seq'), { seq: row.seq, mapFlag: int(row.mapFlag, 'a mapFlag'), path: str(row.path, 'a path') })
      state.#reviews.set(str(r.user, 'a reviewer name'), rows)
    }
    if (j.server !== undefined && j.server !== null) state.server = str(j.server, 'the server root')
    if (j.listener !== undefined && j.listener !== null) state.listener = str(j.listener, 'the listener')
    state.#applied = j.appliedThrough ? parsePosition(j.appliedThrough) : null
    state.#delivery = DeliveryState.fromJSON(j as ReviewStateJson, j.version === 1)
    return state
  }

  #fold(name: string): string {
    return this.caseInsensitive ? name.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : name
  }
}

/**
 * One plain address (`local@domain`), nothing a mailer would read as a list,
 * a display name or a group: the Email field of `p4 user` is free text, and a
 * user must not be able to have the review daemon mail third parties.
 */
export function isPlainAddress(email: string): boolean {
  return /^[^\s@<>(),;:"[\]\\]+@[^\s@<>(),;:"[\]\\]+$/.test(email)
}

const cp1252 = textDecoder('windows-1252')

function textOf(value: unknown): string {
  return value === undefined || value === null ? '' : String(value)
}
