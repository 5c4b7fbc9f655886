import type { Writable } from 'node:stream'
import { ErrorCodes, isLogdaemonError, toError } from '../errors.js'
import { formatPosition } from '../position.js'
import { parseOptions, renderHelp, type OptionTable } from './options.js'
import { sqlLoad } from './sql-load.js'

export const SQL_OPTIONS: OptionTable = {
  url: { type: 'string', arg: 'URL', help: 'the replica: sqlite:FILE or postgres://user@host:5432/database (PG* variables and PGPASSFILE work)' },
  replace: { type: 'boolean', help: "drop the replica's tables first (refused without it when the database holds a replica)" },
  journal: { type: 'string', arg: 'N', help: 'the journal the replica continues from (default: N of checkpoint.N)' },
  tables: { type: 'string', arg: 'PATTERN', multiple: true, help: 'journal tables to load (default db.*)' },
  exclude: { type: 'string', arg: 'PATTERN', multiple: true, help: 'journal tables to leave out, e.g. db.have*' },
  encoding: { type: 'string', arg: 'NAME', choices: ['utf8', 'latin1'], default: 'utf8', help: "the server's text encoding" },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
}

const USAGE = 'logdaemon sql load --url URL [--replace] CHECKPOINT'
const SUMMARY =
  'Loads a checkpoint (plain or .gz) into an SQL replica in one transaction and records the position N/0 for checkpoint.N:\n' +
  '`logdaemon run` with the sql listener then continues from journal N (from: N). See docs/sql.md.'

export interface SqlIO {
  stdout: Writable
  stderr: Writable & { isTTY?: boolean }
}

/** `logdaemon sql …`: returns the exit code (0 ok, 1 runtime or data error, 2 usage). */
export async function sqlMain(argv: readonly string[], io: SqlIO): Promise<number> {
  const say = (msg: string): void => void io.stderr.write(`logdaemon: ${msg}\n`)
  let parsed
  try {
    parsed = parseOptions(argv, SQL_OPTIONS)
  } catch (err) {
    say(`${toError(err).message}\nTry 'logdaemon sql --help'.`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    io.stdout.write(renderHelp(USAGE, SUMMARY, SQL_OPTIONS))
    return 0
  }
  const [sub, checkpoint, ...rest] = positionals
  const usage = (msg: string) => {
    say(`${msg}\nTry 'logdaemon sql --help'.`)
    return 2
  }
  if (sub !== 'load') return usage(sub ? `unknown sql command ${JSON.stringify(sub)} (expected load)` : 'expected: logdaemon sql load --url URL CHECKPOINT')
  if (!checkpoint) return usage('the checkpoint file is missing')
  if (rest.length) return usage(`unexpected argument ${JSON.stringify(rest[0])}`)
  if (typeof values.url !== 'string') return usage('--url is required')
  let journal: number | undefined
  if (typeof values.journal === 'string') {
    journal = Number(values.journal)
    if (!/^\d+$/.test(values.journal) || !Number.isSafeInteger(journal))
      return usage(`--journal must be a journal number (got ${JSON.stringify(values.journal)})`)
  }
  try {
    const summary = await sqlLoad({
      url: values.url,
      checkpoint,
      replace: values.replace === true,
      ...(journal !== undefined ? { journal } : {}),
      ...(Array.isArray(values.tables) ? { tables: values.tables } : {}),
      ...(Array.isArray(values.exclude) ? { exclude: values.exclude } : {}),
      encoding: values.encoding === 'latin1' ? 'latin1' : 'utf8',
      ...(io.stderr.isTTY ? { progress: io.stderr } : {}),
    })
    io.stdout.write(
      `loaded ${summary.rows} rows into ${summary.tables} tables of ${summary.url}` +
        `${summary.unmapped ? ` (${summary.unmapped} records in logdaemon_unmapped)` : ''}` +
        `${summary.replaced ? ` (${summary.replaced} rows replaced by later rows with the same key)` : ''} in ${summary.seconds.toFixed(1)} s; ` +
        `position ${formatPosition(summary.position)}: run the daemon with the sql listener and from: ${summary.position.journal}\n`,
    )
    return 0
  } catch (err) {
    say(isLogdaemonError(err) ? err.message : toError(err).message)
    return isLogdaemonError(err) && err.code === ErrorCodes.USAGE ? 2 : 1
  }
}
