/**
 * Baseline: PostgreSQL's own limit on the checkpoint's rows. The rows are
 * parsed, mapped and rendered as COPY text (TSV) before the clock starts;
 * timed: one transaction that creates each table, `COPY … FROM STDIN` of
 * its TSV, adds the primary key, commits.
 */
import { stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { quoteIdent as q } from '../../lib/listeners/builtin/sql/sql-names.js'
import type { SqlValue } from '../../lib/listeners/builtin/sql/sql-adapter.js'
import { parsedRows } from '../harness/parsed-rows.js'
import { postgresSkip, startPostgres } from '../harness/postgres-server.js'
import { runScenario, skipped } from '../harness/scenario.js'

function tsv(v: SqlValue): string {
  if (v === null) return '\\N'
  if (typeof v !== 'string') return '\\\\x' + v.toString('hex')
  return v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'))
}

runScenario('postgres-copy-tsv', async ({ input }) => {
  if (postgresSkip) return skipped('records', postgresSkip)
  const { tables, rows } = await parsedRows(input)
  const bytes = (await stat(input)).size
  const texts = [...tables.values()].map(({ layout, rows }) => ({ layout, chunks: chunked(rows.map((r) => r.map(tsv).join('\t') + '\n')) }))
  const server = await startPostgres()
  try {
    const client = new pg.Client({ connectionString: await server.createDatabase('baseline') })
    await client.connect()
    const t0 = performance.now()
    await client.query('BEGIN')
    for (const { layout: l, chunks } of texts) {
      const types = l.columns.map((c) => `${q(c.name)} ${c.integer ? 'bigint' : 'text'}`)
      await client.query(`CREATE TABLE ${q(l.table)} (${types.join(', ')}, logdaemon_raw bytea)`)
      await pipeline(Readable.from(chunks), client.query(copyFrom(`COPY ${q(l.table)} FROM STDIN`)))
      await client.query(`ALTER TABLE ${q(l.table)} ADD PRIMARY KEY (${l.key.map(q).join(', ')})`)
    }
    await client.query('COMMIT')
    const ms = performance.now() - t0
    await client.end()
    return { bytes, records: rows, unit: 'records', ms }
  } finally {
    await server.stop()
  }
})

/** Lines joined into chunks of about 256 KiB, as a COPY client writes them. */
function chunked(lines: string[]): string[] {
  const out: string[] = []
  let cur: string[] = []
  let size = 0
  for (const line of lines) {
    cur.push(line)
    size += line.length
    if (size >= 256 * 1024) {
      out.push(cur.join(''))
      cur = []
      size = 0
    }
  }
  if (cur.length) out.push(cur.join(''))
  return out
}
