/**
 * A real PostgreSQL server as a test fixture: a private cluster (initdb) in
 * a temporary directory, on 127.0.0.1 and a free port, stopped by `stop()`.
 * The implementation is shared with the benchmarks.
 */
export { PG_BIN, postgresSkip, startPostgres, type Postgres, type StartPostgresOptions } from '../../benchmarks/harness/postgres-server.js'
