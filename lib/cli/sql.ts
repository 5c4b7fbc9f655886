import { formatPosition } from '../position.js'
import { usageError, type Command } from './command.js'
import { MAX_THREADS } from '../parallel/worker-pool.js'
import { sqlLoad } from './sql-load.js'
import { threadCount } from './thread-count.js'

/** `logdaemon sql load --url URL CHECKPOINT`: see docs/sql.md. */
export const sqlCommand: Command = {
  brief: 'load a checkpoint into an SQL replica (SQLite or PostgreSQL) for the sql listener',
  usage: 'logdaemon sql load --url URL [--replace] [--journal N] [--threads N] CHECKPOINT',
  summary:
    'Loads a checkpoint (plain or .gz; - reads standard input, with --journal) into an SQL replica in one\n' +
    'transaction and records the position N/0 for checkpoint.N: `logdaemon run` with the sql listener on the\n' +
    'same URL then continues from journal N (from: N). Refuses a database that holds a replica unless\n' +
    '--replace. See docs/sql.md.',
  options: {
    url: { type: 'string', arg: 'URL', help: 'the replica: sqlite:FILE or postgres://user@host:5432/database (PG* variables and PGPASSFILE work)' },
    replace: { type: 'boolean', help: "drop the replica's tables first, in the same transaction" },
    journal: { type: 'string', arg: 'N', help: 'the journal the replica continues from (default: N of checkpoint.N)' },
    tables: { type: 'string', arg: 'PATTERN', multiple: true, help: 'journal tables to load (default db.*)' },
    exclude: { type: 'string', arg: 'PATTERN', multiple: true, help: 'journal tables to leave out, e.g. db.have*' },
    encoding: { type: 'string', arg: 'NAME', choices: ['utf8', 'latin1'], default: 'utf8', help: "the server's text encoding" },
    threads: {
      type: 'string',
      short: 'j',
      arg: 'N',
      help: `threads that frame a plain checkpoint and map its records to rows, while this one inserts them (default LOGDAEMON_THREADS, else the cores, at most 4; 1: none; at most ${MAX_THREADS})`,
    },
  },
  maxArgs: 2, // load CHECKPOINT
  examples: [
    ['logdaemon sql load --url sqlite:replica.db /p4/root/checkpoint.42.gz', 'a replica in SQLite, continuing from journal 42'],
    ['logdaemon sql load --url postgres://replica@db/p4 --exclude "db.have*" checkpoint.42', 'PostgreSQL, without client have lists'],
  ],
  async run(values, io, _say, positionals) {
    const [sub, checkpoint, ...rest] = positionals
    if (sub !== 'load')
      throw usageError(sub ? `unknown sql command ${JSON.stringify(sub)} (expected load)` : 'expected: logdaemon sql load --url URL CHECKPOINT')
    if (!checkpoint) throw usageError('the checkpoint file is missing')
    if (rest.length) throw usageError(`unexpected argument ${JSON.stringify(rest[0])}`)
    if (typeof values.url !== 'string') throw usageError('--url is required')
    let journal: number | undefined
    if (typeof values.journal === 'string') {
      journal = Number(values.journal)
      if (!/^\d+$/.test(values.journal) || !Number.isSafeInteger(journal))
        throw usageError(`--journal must be a journal number (got ${JSON.stringify(values.journal)})`)
    }
    const threads = threadCount(values.threads, (io.env ?? process.env).LOGDAEMON_THREADS)
    const summary = await sqlLoad({
      url: values.url,
      checkpoint,
      replace: values.replace === true,
      ...(journal !== undefined ? { journal } : {}),
      ...(Array.isArray(values.tables) ? { tables: values.tables } : {}),
      ...(Array.isArray(values.exclude) ? { exclude: values.exclude } : {}),
      encoding: values.encoding === 'latin1' ? 'latin1' : 'utf8',
      threads,
      ...(io.stderrIsTTY ? { progress: io.stderr } : {}),
    })
    io.stdout.write(
      `loaded ${summary.rows} rows into ${summary.tables} tables of ${summary.url}` +
        `${summary.unmapped ? ` (${summary.unmapped} records in logdaemon_unmapped)` : ''}` +
        `${summary.replaced ? ` (${summary.replaced} rows replaced by later rows with the same key)` : ''} in ${summary.seconds.toFixed(1)} s; ` +
        `position ${formatPosition(summary.position)}: run the daemon with the sql listener and from: ${summary.position.journal}\n`,
    )
    return 0
  },
}
