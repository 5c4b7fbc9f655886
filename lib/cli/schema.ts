import { ErrorCodes, LogdaemonError } from '../errors.js'
import type { Command } from './command.js'
import { layoutsOf, schemaTables, tableVersions, type Layout } from '../schema/layout.js'
import { releasesOf } from '../schema/releases.js'
import { SCHEMA_SOURCE } from '../schema/p4-schema-data.js'

function range(first: string | undefined, last: string | undefined): string {
  return first === last ? String(first) : `${first}–${last}`
}

/** Pads the cells of each column to one width. */
function columns(rows: readonly (readonly string[])[], indent: string): string[] {
  const widths: number[] = []
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length)
  }
  return rows.map(
    (row) =>
      indent +
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
  )
}

function describeLayout(layout: Layout): string {
  const head = `${layout.table} version ${layout.version}, documented ${range(layout.releases.first, layout.releases.last)}: ${layout.columns.length} columns, key ${layout.key.length ? layout.key.join(', ') : '(none documented)'}`
  const rows = layout.columns.map((c) => [String(c.index), c.name, c.type, c.kind, layout.key.includes(c.name) ? 'key' : ''])
  return [head, ...columns([['#', 'column', 'type', 'kind', ''], ...rows], '  ')].join('\n') + '\n'
}

/** The table list: each table with its documented versions and their releases. */
function listTables(): string {
  const rows = schemaTables().map((table) => {
    const versions = tableVersions(table)
    const all = versions.flatMap((v) => releasesOf(table, v))
    return [table, versions.join(' '), range(all[0], all[all.length - 1])]
  })
  return (
    `${rows.length} tables in ${SCHEMA_SOURCE}.\n` +
    `logdaemon schema TABLE shows a table's layouts, TABLE:VERSION one version's.\n\n` +
    columns([['table', 'versions', 'documented'], ...rows], '').join('\n') +
    '\n'
  )
}

/**
 * `logdaemon schema [TABLE[:VERSION]]`: the table list, every documented
 * layout of a table, or one version's layouts (several when the documents
 * describe that version differently), like `p4 dbschema`. Throws ERR_USAGE
 * for a table or version the documents do not describe.
 */
export function describeSchema(arg: string | undefined): string {
  if (arg === undefined) return listTables()
  const m = /^([^:]+)(?::(\d+))?$/.exec(arg)
  if (m === null) throw new LogdaemonError(ErrorCodes.USAGE, `schema: expected TABLE or TABLE:VERSION (got ${JSON.stringify(arg)})`)
  const table = m[1] as string
  const versions = tableVersions(table)
  if (versions.length === 0) throw new LogdaemonError(ErrorCodes.USAGE, `schema: no documented table ${JSON.stringify(table)} (logdaemon schema lists them)`)
  const wanted = m[2] === undefined ? versions : [Number(m[2])]
  const layouts = wanted.flatMap((v) => layoutsOf(table, v))
  if (layouts.length === 0) {
    throw new LogdaemonError(ErrorCodes.USAGE, `schema: ${table} version ${m[2]} is not documented (documented: ${versions.join(', ')})`)
  }
  return layouts.map(describeLayout).join('\n')
}

/** `logdaemon schema [TABLE[:VERSION]]`. */
export const schemaCommand: Command = {
  brief: "the documented tables, or a table's columns, types, key and releases",
  usage: 'logdaemon schema [TABLE[:VERSION]]',
  summary:
    "Prints Perforce's published database schema (releases 2006.2 to 2024.1), as logdaemon-cat\n" +
    '--format row uses it: without an argument the tables and their versions; with TABLE every\n' +
    'documented layout of the table, with TABLE:VERSION those of one version, like p4 dbschema.',
  options: {},
  maxArgs: 1,
  examples: [
    ['logdaemon schema', 'the tables, their versions and the releases that documented them'],
    ['logdaemon schema db.rev:9', 'the columns, types and key of db.rev version 9'],
  ],
  async run(_values, io, _say, args) {
    io.stdout.write(describeSchema(args[0]))
    return 0
  },
}
