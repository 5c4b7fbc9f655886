/**
 * Reading an SQL replica back in tests: every table of the replica as
 * sorted rows of text, so two replicas compare with t.same, and a
 * from-scratch replay of journals into a fresh replica.
 */
import type { JournalEntry } from '../../lib/journal/entry.js'
import { JournalEntryTransform } from '../../lib/journal/journal-entry-transform.js'
import { openAdapter } from '../../lib/listeners/builtin/sql/open-adapter.js'
import { SqlListener, optionsSchema } from '../../lib/listeners/builtin/sql/sql.js'
import { parseSqlUrl } from '../../lib/listeners/builtin/sql/sql-url.js'
import type { SqlValue } from '../../lib/listeners/builtin/sql/sql-adapter.js'
import { Readable } from 'node:stream'

/** Rows of one query as text lines, sorted. */
export async function rowsOf(url: string, sql: string, params: SqlValue[] = []): Promise<Record<string, unknown>[]> {
  const a = await openAdapter(parseSqlUrl(url))
  await a.connect()
  try {
    return await a.query(sql, params)
  } finally {
    await a.close()
  }
}

function text(v: unknown): string {
  if (v === null || v === undefined) return 'NULL'
  if (Buffer.isBuffer(v)) return `x${v.toString('hex')}`
  if (v instanceof Uint8Array) return `x${Buffer.from(v).toString('hex')}`
  return String(v)
}

/** Every replica table (those in logdaemon_tables, and logdaemon_unmapped) and the position, rows as sorted text. */
export async function dumpReplica(url: string): Promise<Record<string, string[]>> {
  const a = await openAdapter(parseSqlUrl(url))
  await a.connect()
  try {
    const tables = (await a.query('SELECT table_name FROM logdaemon_tables ORDER BY table_name')).map((r) => String(r.table_name))
    const out: Record<string, string[]> = {}
    for (const t of [...tables, 'logdaemon_unmapped']) {
      const rows = await a.query(`SELECT * FROM "${t}"`)
      out[t] = rows
        .map((r) =>
          Object.entries(r)
            .map(([k, v]) => `${k}=${text(v)}`)
            .join(' | '),
        )
        .sort()
    }
    out.logdaemon_position = (await a.query('SELECT journal, "offset" FROM logdaemon_position')).map((r) => `${text(r.journal)}/${text(r.offset)}`)
    return out
  } finally {
    await a.close()
  }
}

/** Entries of a journal's bytes, `@ex@` at the end of a transaction marked consistent as far as the framer knows. */
export async function entriesOfBytes(bytes: Buffer, journal: number): Promise<JournalEntry[]> {
  const out: JournalEntry[] = []
  for await (const e of Readable.from([bytes]).pipe(new JournalEntryTransform({ journal }))) out.push(e as JournalEntry)
  return out
}

/** Applies whole journals, in order, to a fresh replica with the listener (one commit per journal). */
export async function replay(url: string, journals: readonly { n: number; bytes: Buffer }[], options: Record<string, unknown> = {}): Promise<void> {
  const l = new SqlListener(optionsSchema.parse({ url, ...options }), parseSqlUrl(url))
  await l.open()
  try {
    for (const { n, bytes } of journals) {
      const entries = await entriesOfBytes(bytes, n)
      for (const e of entries) await l.listen(e)
      const last = entries.at(-1)
      if (last) await l.sync({ journal: n, offset: last.position.end })
    }
  } finally {
    await l.close()
  }
}
