import type { ChangeRow, FileRow } from './change-rows.js'

/** The table a file row came from. */
export type FileSource = 'rev' | 'revcx'

export interface DraftFile {
  readonly row: FileRow
  readonly from: FileSource
}

/**
 * What one transaction (or one piece of it, between two markers) wrote to
 * the change tables. Later rows replace earlier rows with the same key, as
 * they do in the database; a deleted row is remembered as `null` so that a
 * later piece can still replace it.
 */
export class TransactionDraft {
  /** Change number → its last db.change row in the transaction, null when deleted. */
  readonly changes = new Map<number, ChangeRow | null>()
  /** Description key → its last db.desc text, null when deleted. */
  readonly descs = new Map<number, string | null>()
  /** Change number → `depotFile#rev` → file row and the table it came from (at most `maxFiles` per change). */
  readonly files = new Map<number, Map<string, DraftFile>>()
  /** Change number → rows counted per table, to report the real count when the list is cut. */
  readonly fileRowCounts = new Map<number, { rev: number; revcx: number }>()
  /** Whether a db.rev row of a layout we could not read was skipped. */
  unknownRevRows = false
  /** Whether a db.revcx row of a layout we could not read was skipped. */
  unknownRevcxRows = false
  /** Whether change rows were dropped because the draft held too many changes. */
  droppedChanges = false
  readonly #maxFiles: number
  readonly #maxChanges: number

  constructor(limits: { maxFiles: number; maxChanges: number }) {
    this.#maxFiles = limits.maxFiles
    this.#maxChanges = limits.maxChanges
  }

  /** Whether a file row of a layout we could not read was skipped. */
  get unknownFileRows(): boolean {
    return this.unknownRevRows || this.unknownRevcxRows
  }

  get isEmpty(): boolean {
    return this.changes.size === 0 && this.descs.size === 0 && this.files.size === 0 && !this.unknownFileRows
  }

  /** Records a db.change row; `deleted` for `@dv@`. Returns false when the change was dropped by the limit. */
  putChange(row: ChangeRow, deleted: boolean): boolean {
    if (!this.changes.has(row.change) && this.changes.size >= this.#maxChanges) {
      this.droppedChanges = true
      return false
    }
    this.changes.set(row.change, deleted ? null : row)
    return true
  }

  putDesc(descKey: number, description: string, deleted: boolean): void {
    this.descs.set(descKey, deleted ? null : description)
  }

  /** Records a file revision of a change (rows of deleted revisions are not a submit's and are not passed here). */
  putFile(row: FileRow, table: FileSource): void {
    this.#count(row.change, table, 1)
    this.#merge(row.change, `${row.depotFile}#${row.revision}`, { row, from: table })
  }

  #count(change: number, table: FileSource, n: number): void {
    const counts = this.fileRowCounts.get(change)
    if (counts === undefined) this.fileRowCounts.set(change, { rev: 0, revcx: 0, [table]: n })
    else counts[table] += n
  }

  #merge(change: number, key: string, file: DraftFile): void {
    let files = this.files.get(change)
    if (files === undefined) {
      files = new Map()
      this.files.set(change, files)
    }
    const had = files.get(key)
    if (had === undefined) {
      if (files.size < this.#maxFiles) files.set(key, file)
    } else if (file.from === 'revcx' || had.from === 'rev') {
      // db.revcx is the change index `p4 describe` reads: it wins over db.rev;
      // otherwise the later row wins, as in the database.
      files.set(key, file)
    }
  }

  /** Appends a later piece of the same transaction. */
  absorb(later: TransactionDraft): void {
    for (const [n, row] of later.changes) {
      if (row === null) this.changes.set(n, null)
      else this.putChange(row, false)
    }
    for (const [k, d] of later.descs) this.descs.set(k, d)
    for (const [n, files] of later.files) {
      for (const [key, file] of files) this.#merge(n, key, file)
    }
    for (const [n, counts] of later.fileRowCounts) {
      this.#count(n, 'rev', counts.rev)
      this.#count(n, 'revcx', counts.revcx)
    }
    this.unknownRevRows ||= later.unknownRevRows
    this.unknownRevcxRows ||= later.unknownRevcxRows
    this.droppedChanges ||= later.droppedChanges
  }
}
