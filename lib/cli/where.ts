import { ErrorCodes, LogdaemonError } from '../errors.js'
import type { WhereClause } from '../journal/entry-filter.js'
import { layoutsOf, schemaTables, tableVersions } from '../schema/layout.js'

let columnNames: Set<string> | undefined

/** Every column name some documented layout has. */
function knownColumns(): Set<string> {
  if (columnNames === undefined) {
    columnNames = new Set()
    for (const table of schemaTables())
      for (const version of tableVersions(table)) for (const layout of layoutsOf(table, version)) for (const c of layout.columns) columnNames.add(c.name)
  }
  return columnNames
}

/**
 * Parses `--where COL=VALUE` texts. COL must be a column some documented
 * layout names, or a positional `fieldN`; a typo is a usage error
 * (ERR_USAGE) rather than a filter that silently matches nothing.
 */
export function parseWhere(texts: readonly string[]): WhereClause[] {
  return texts.map((text) => {
    const eq = text.indexOf('=')
    if (eq <= 0) throw new LogdaemonError(ErrorCodes.USAGE, `--where needs COLUMN=VALUE (got ${JSON.stringify(text)})`)
    const column = text.slice(0, eq)
    if (!/^field\d+$/.test(column) && !knownColumns().has(column)) {
      throw new LogdaemonError(ErrorCodes.USAGE, `--where: no documented table has a column ${JSON.stringify(column)} (see logdaemon schema TABLE)`)
    }
    return { column, value: text.slice(eq + 1) }
  })
}
