import type { PostgresAdapterOptions } from './postgres-adapter.js'
import type { SqlAdapter } from './sql-adapter.js'
import type { SqlTarget } from './sql-url.js'

/** The adapter for a parsed URL. The database drivers load on first use. `options` apply to PostgreSQL. */
export async function openAdapter(target: SqlTarget, options: PostgresAdapterOptions = {}): Promise<SqlAdapter> {
  if (target.kind === 'sqlite') {
    const { SqliteAdapter } = await import('./sqlite-adapter.js')
    return new SqliteAdapter(target.file, target.masked)
  }
  const { PostgresAdapter } = await import('./postgres-adapter.js')
  return new PostgresAdapter(target.connectionString, target.masked, options)
}
