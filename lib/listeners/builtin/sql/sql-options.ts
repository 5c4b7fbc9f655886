import { z } from 'zod'

/**
 * Row changes held in memory by default. Held rows live across the young
 * generation's collections and are promoted, and V8 then lets the old
 * generation grow with them: the daemon applying 200 MB into SQLite peaked
 * at 189 MB RSS with 2,000 (up to 8,000 held inside a large transaction),
 * 108 MB with 500 (benchmarks/, sql-follow; see GIANT_FACTOR in sql.ts for
 * the large transaction). The rows held are also what a failure can still
 * retry, so fewer is not free: with a large transaction's rest a batch at
 * a time, 500 peaked at 107–108 MB in 15 runs of 16 (155 MB once, with
 * the test suite running alongside), 250 at 107–109 MB in 8 of 8.
 */
export const DEFAULT_BATCH_ROWS = 500

/** Bytes of records whose row changes are held by default: the bound for large records (500 of 10 KB would hold 5 MB). */
export const DEFAULT_BATCH_BYTES = 256 * 1024

/** A PostgreSQL statement's answer is waited for this long by default: longer than any lock a report can hold it behind for long. */
export const DEFAULT_TIMEOUT_MS = 600_000

/** The `sql` listener's options. */
export const optionsSchema = z
  .strictObject({
    url: z
      .string()
      .min(1)
      .describe(
        'The database: sqlite:FILE (relative to the configuration file) or postgres://user@host:5432/database. ' +
          'A password may be in the URL (it is masked in logs and errors), or come from PGPASSWORD or the PGPASSFILE; the other PG* variables fill what the URL leaves out.',
      ),
    tables: z.array(z.string().min(1)).min(1).default(['db.*']).describe('Journal tables to keep, as patterns with * and ? (db.*).'),
    exclude: z.array(z.string().min(1)).default([]).describe('Journal tables to leave out, as patterns (db.have*).'),
    encoding: z
      .enum(['utf8', 'latin1'])
      .default('utf8')
      .describe(
        "The server's text encoding: utf8 (Unicode-mode servers) or latin1 (every byte one character). A record with bytes not valid in it keeps its exact bytes in logdaemon_raw.",
      ),
    batchRows: z
      .number()
      .int()
      .min(1)
      .default(DEFAULT_BATCH_ROWS)
      .describe('Row changes held in memory before they are written into the open database transaction (it commits at the next consistency point).'),
    batchBytes: z
      .number()
      .int()
      .min(1)
      .default(DEFAULT_BATCH_BYTES)
      .describe(
        'Bytes of journal records whose row changes are held in memory before they are written into the open database transaction: bounds memory whatever the size of the records.',
      ),
    timeoutMs: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(DEFAULT_TIMEOUT_MS)
      .describe(
        'PostgreSQL: a statement not answered after this many ms fails and its connection is dropped, then the daemon retries on a new one (a network cut that leaves the connection open would hang the listener). 0: wait for ever. SQLite ignores it.',
      ),
  })
  .describe('sql: the journal applied to SQLite or PostgreSQL tables, exactly once across crashes.')

export type SqlOptions = z.infer<typeof optionsSchema>
