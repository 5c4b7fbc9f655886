import type { JournalEntry } from '../../../journal/entry.js'
import { layoutOf, type Layout } from '../../../schema/layout.js'
import { flagName } from '../../../schema/flags.js'
import { isExactInteger } from '../../../schema/typed-value.js'

/**
 * Rows of the four tables a submit writes that the notify listener reads,
 * named by the schema Perforce published for releases 2006.2–2024.1
 * (lib/schema): every documented version of db.change, db.desc, db.rev and
 * db.revcx is read by its documented column names. A version the documents
 * do not describe (older than 2006.2, as conversion tools write, or newer
 * than 2024.1) is reported as unknown and its row is skipped: guessing a
 * layout could mail wrong data.
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

/** What notify reads from each table: its own name → the documented column, and which are integers. */
interface Wanted {
  readonly columns: Readonly<Record<string, string>>
  readonly ints: ReadonlySet<string>
}

const WANTED: Readonly<Record<TableName, Wanted>> = {
  'db.change': {
    columns: { change: 'change', descKey: 'descKey', client: 'client', user: 'user', date: 'date', status: 'status', description: 'description' },
    ints: new Set(['change', 'descKey', 'date', 'status']),
  },
  'db.desc': { columns: { descKey: 'descKey', description: 'description' }, ints: new Set(['descKey']) },
  'db.revcx': {
    columns: { change: 'change', depotFile: 'depotFile', revision: 'depotRev', action: 'action' },
    ints: new Set(['change', 'revision', 'action']),
  },
  'db.rev': { columns: { depotFile: 'depotFile', revision: 'depotRev', action: 'action', change: 'change' }, ints: new Set(['change', 'revision', 'action']) },
}

/** Field index of each wanted column, per layout (null when the layout lacks one). */
const indexes = new WeakMap<Layout, Readonly<Record<string, number>> | null>()

function indexesOf(layout: Layout, wanted: Wanted): Readonly<Record<string, number>> | null {
  let found = indexes.get(layout)
  if (found === undefined) {
    const at: Record<string, number> = {}
    found = at
    for (const [name, column] of Object.entries(wanted.columns)) {
      const i = layout.columns.findIndex((c) => c.name === column)
      if (i < 0) {
        found = null
        break
      }
      at[name] = i
    }
    indexes.set(layout, found)
  }
  return found
}

/** Reads the wanted fields of a data entry by its table's documented layout. */
function readFields(entry: JournalEntry, table: TableName, decode: Decode): RowResult<Record<string, string | number>> {
  const version = entry.version
  const bytes = entry.fieldBytes
  const layout = version === null || !Number.isInteger(version) ? null : layoutOf(table, version, bytes.length)
  const wanted = WANTED[table]
  const at = layout === null ? null : indexesOf(layout, wanted)
  if (at === null) {
    return { ok: false, reason: 'unknown-version', detail: `${table} version ${String(version)} is not a documented layout` }
  }
  const out: Record<string, string | number> = {}
  for (const [name, index] of Object.entries(at)) {
    const b = bytes[index]
    if (b === undefined) {
      return { ok: false, reason: 'malformed', detail: `${table} version ${version} row has no field ${index} (${wanted.columns[name]})` }
    }
    if (wanted.ints.has(name)) {
      const text = b.toString('latin1')
      if (!isExactInteger(text)) {
        return {
          ok: false,
          reason: 'malformed',
          detail: `${table} field ${index} (${wanted.columns[name]}) is not an integer: ${JSON.stringify(text.slice(0, 40))}`,
        }
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

/**
 * `add`, `edit`, … for an action number, as `p4 describe` names them (the
 * schema's Action names, with its spelling of the move and integrate
 * actions); `action N` for numbers the schema does not name.
 */
export function actionName(action: number): string {
  const name = flagName('Action', action)
  if (name === null) return `action ${action}`
  return DESCRIBE_NAMES[name] ?? name
}

/**
 * Where `p4 describe` says it differently from the schema's Action names:
 * the new file of a move was moved from the old one (move/add), the old
 * one was moved to the new one (move/delete).
 */
const DESCRIBE_NAMES: Readonly<Record<string, string>> = { integ: 'integrate', movefrom: 'move/add', moveto: 'move/delete' }
