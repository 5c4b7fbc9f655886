import type { JournalEntry } from '../../../journal/entry.js'

/**
 * Rows of the four tables a submit writes that the notify listener reads,
 * located by table version. Only the leading fields are read; they have kept
 * their places in every version listed here, later versions append fields.
 *
 * Sources of the layouts: the real p4d journals in the shared fixtures
 * (db.change 0 and 2, db.rev 3 and 9, db.revcx 0, db.desc 0), p4convert's
 * schema tables (db.rev 0-8, db.change 0-1) and Perforce's published schema
 * documentation (2014.x: db.rev 9, db.revcx 0; 2024.x: db.change 7,
 * db.desc 1). A version outside these ranges is reported as unknown and its
 * row is skipped: guessing a layout could mail wrong data.
 */

/** A changelist row (db.change). */
export interface ChangeRow {
  readonly change: number
  /** The db.desc key holding the full description (the change's first number). */
  readonly descKey: number
  readonly client: string
  readonly user: string
  /** Epoch seconds. */
  readonly date: number
  /** 0 pending, 1 submitted; anything else (shelved, flag bits) is not a plain submit. */
  readonly status: number
  /** The description as db.change keeps it (p4d may shorten it; db.desc holds the full text). */
  readonly description: string
}

/** A change description row (db.desc). */
export interface DescRow {
  readonly descKey: number
  readonly description: string
}

/** A revision of a file in a change (db.revcx, or db.rev). */
export interface FileRow {
  readonly change: number
  readonly depotFile: string
  readonly revision: number
  /** Perforce's file action number: 0 add, 1 edit, 2 delete, … (see actionName). */
  readonly action: number
}

export type TableName = 'db.change' | 'db.desc' | 'db.rev' | 'db.revcx'

/** The tables read, for a quick membership test. */
export const CHANGE_TABLES: ReadonlySet<string> = new Set<TableName>(['db.change', 'db.desc', 'db.rev', 'db.revcx'])

export type RowResult<T> =
  | { readonly ok: true; readonly row: T }
  | { readonly ok: false; readonly reason: 'unknown-version' | 'malformed'; readonly detail: string }

type Decode = (bytes: Buffer) => string

interface Layout {
  /** Field index of each named field in the row (after op, version and table). */
  readonly at: Readonly<Record<string, number>>
  /** Fields that must hold a decimal integer. */
  readonly ints: readonly string[]
}

const CHANGE_LAYOUT: Layout = {
  at: { change: 0, descKey: 1, client: 2, user: 3, date: 4, status: 5, description: 6 },
  ints: ['change', 'descKey', 'date', 'status'],
}
const DESC_LAYOUT: Layout = { at: { descKey: 0, description: 1 }, ints: ['descKey'] }
const REVCX_LAYOUT: Layout = {
  at: { change: 0, depotFile: 1, revision: 2, action: 3 },
  ints: ['change', 'revision', 'action'],
}
// db.rev 0-1 carry an `ishead` flag before the action; version 2 dropped it.
const REV_LAYOUT_0: Layout = {
  at: { depotFile: 0, revision: 1, action: 4, change: 5 },
  ints: ['change', 'revision', 'action'],
}
const REV_LAYOUT_2: Layout = {
  at: { depotFile: 0, revision: 1, action: 3, change: 4 },
  ints: ['change', 'revision', 'action'],
}

/** The layout of `table` at `version`, or null when the version is not known. */
export function layoutOf(table: TableName, version: number): Layout | null {
  switch (table) {
    case 'db.change':
      return version >= 0 && version <= 7 ? CHANGE_LAYOUT : null
    case 'db.desc':
      return version >= 0 && version <= 1 ? DESC_LAYOUT : null
    case 'db.revcx':
      return version === 0 ? REVCX_LAYOUT : null
    case 'db.rev':
      if (version === 0 || version === 1) return REV_LAYOUT_0
      return version >= 2 && version <= 9 ? REV_LAYOUT_2 : null
  }
}

const INT_RE = /^-?\d+$/

/** Reads the named fields of a data entry by its table's layout. */
function readFields(entry: JournalEntry, table: TableName, decode: Decode): RowResult<Record<string, string | number>> {
  const version = entry.version
  const layout = version === null || !Number.isInteger(version) ? null : layoutOf(table, version)
  if (layout === null) {
    return { ok: false, reason: 'unknown-version', detail: `${table} version ${String(version)} is not a known layout` }
  }
  const bytes = entry.fieldBytes
  const out: Record<string, string | number> = {}
  for (const [name, index] of Object.entries(layout.at)) {
    const b = bytes[index]
    if (b === undefined) {
      return { ok: false, reason: 'malformed', detail: `${table} version ${version} row has no field ${index} (${name})` }
    }
    if (layout.ints.includes(name)) {
      const text = b.toString('latin1')
      if (!INT_RE.test(text) || !Number.isSafeInteger(Number(text))) {
        return { ok: false, reason: 'malformed', detail: `${table} field ${index} (${name}) is not an integer: ${JSON.stringify(text.slice(0, 40))}` }
      }
      out[name] = Number(text)
    } else {
      out[name] = decode(b)
    }
  }
  return { ok: true, row: out }
}

export function readChangeRow(entry: JournalEntry, decode: Decode): RowResult<ChangeRow> {
  return readFields(entry, 'db.change', decode) as RowResult<ChangeRow>
}

export function readDescRow(entry: JournalEntry, decode: Decode): RowResult<DescRow> {
  return readFields(entry, 'db.desc', decode) as RowResult<DescRow>
}

/** Reads a db.revcx or db.rev row as the file revision it records. */
export function readFileRow(entry: JournalEntry, table: 'db.rev' | 'db.revcx', decode: Decode): RowResult<FileRow> {
  return readFields(entry, table, decode) as RowResult<FileRow>
}

// Perforce's FileAction numbers, as `p4 describe` names them.
const ACTIONS = ['add', 'edit', 'delete', 'branch', 'integrate', 'import', 'purge', 'move/add', 'move/delete', 'archive']

/** `add`, `edit`, … for an action number; `action N` for numbers this table does not know. */
export function actionName(action: number): string {
  return ACTIONS[action] ?? `action ${action}`
}
