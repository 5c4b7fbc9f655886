/**
 * The stable mapping of journal names to SQL names (docs/sql.md). Other
 * tools query the replica by these names: change them only with a new
 * major version.
 */

/** The SQL table of a journal table: without the leading `db.`, other dots as `_` (`db.have.rp` → `have_rp`). */
export function sqlTableName(journalTable: string): string {
  const bare = journalTable.startsWith('db.') ? journalTable.slice(3) : journalTable
  return identifier(bare.replaceAll('.', '_'))
}

/**
 * A schema column name in snake_case: an underscore before each capital
 * that follows a lower-case letter or a digit, then all lower case
 * (`depotFile` → `depot_file`, `lbrIsLazy` → `lbr_is_lazy`, `baseSHA` →
 * `base_sha`, `MD5` → `md5`).
 */
export function sqlColumnName(schemaColumn: string): string {
  return identifier(schemaColumn.replace(/([a-z0-9])([A-Z])/g, '$1_$2'))
}

/** Lower case; any character other than a-z, 0-9 and `_` becomes `_`; a leading digit gets a `_` before it. */
function identifier(name: string): string {
  const s = name.toLowerCase().replace(/[^a-z0-9_]/g, '_')
  return /^[0-9]/.test(s) || s === '' ? `_${s}` : s
}

/**
 * Column names of one layout, made distinct: a name met twice (two schema
 * names with the same snake_case) gets `_2`, `_3`, … in schema order.
 */
export function distinctColumnNames(schemaColumns: readonly string[]): string[] {
  const seen = new Set<string>()
  return schemaColumns.map((c) => {
    const base = sqlColumnName(c)
    let name = base
    for (let i = 2; seen.has(name) || RESERVED_COLUMNS.has(name); i++) name = `${base}_${i}`
    seen.add(name)
    return name
  })
}

/** The column that keeps a record's bytes when a text field is not valid in the configured encoding. */
export const RAW_COLUMN = 'logdaemon_raw'

const RESERVED_COLUMNS: ReadonlySet<string> = new Set([RAW_COLUMN])

/** Quotes an SQL identifier (both SQLite and PostgreSQL: double quotes, `"` doubled). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}
