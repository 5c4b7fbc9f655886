#!/usr/bin/env node
import type { Readable, Writable } from 'node:stream'
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { catInput, openInput, totalSize, type CatFormat } from '../lib/cli/cat.js'
import { parseOptions, renderHelp, type OptionTable } from '../lib/cli/options.js'
import { createProgress, type ProgressReporter } from '../lib/cli/progress.js'
import { ErrorCodes, isErrnoException, isLogdaemonError } from '../lib/errors.js'
import { inflaterName } from '../lib/files/gunzip.js'
import type { FieldEncoding } from '../lib/journal/entry.js'
import { VERSION } from '../lib/version.js'

const NAME = 'logdaemon-cat'

export const OPTIONS: OptionTable = {
  format: { type: 'string', short: 'f', arg: 'FORMAT', help: 'output the records exactly (raw) or one JSON object per line (json)', choices: ['raw', 'json'], default: 'raw' },
  encoding: { type: 'string', short: 'e', arg: 'ENC', help: 'how JSON strings decode field bytes', choices: ['utf8', 'latin1'], default: 'utf8' },
  table: { type: 'string', short: 't', multiple: true, arg: 'PATTERN', help: 'only records of tables matching PATTERN (* wildcards, e.g. db.rev*)' },
  op: { type: 'string', short: 'o', multiple: true, arg: 'OP', help: 'only records with this op (pv, rv, dv, ex, nx, …)' },
  'skip-malformed': { type: 'boolean', help: 'skip malformed records (counted on stderr) instead of stopping' },
  'allow-incomplete': { type: 'boolean', help: 'print a record the input ends inside instead of failing' },
  'max-entry-bytes': { type: 'string', arg: 'N', help: 'largest record accepted, in bytes (default 67108864)' },
  progress: { type: 'boolean', help: 'progress bar on stderr (default when stderr is a terminal)' },
  'no-progress': { type: 'boolean', help: 'no progress bar' },
  version: { type: 'boolean', short: 'V', help: 'print the version and the gzip inflater in use' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
}

const USAGE = `${NAME} [options] [FILE...]`
const SUMMARY =
  'Prints the records of Perforce journals and checkpoints, plain or gzip (recognised by content),\n' +
  'in order. With no FILE, or with -, reads standard input.'

export interface CatIO {
  stdin: Readable
  stdout: Writable
  stderr: Writable
  /** Whether stderr is a terminal (turns the progress bar on by default). */
  stderrIsTTY?: boolean
}

class UsageError extends Error {}

function positiveInt(text: string, name: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive integer (got ${JSON.stringify(text)})`)
  return n
}

/** Whether an error is the reader going away (`| head`): not a failure. */
function isBrokenPipe(err: unknown): boolean {
  return isErrnoException(err) && (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED')
}

/** Runs `logdaemon-cat` and returns its exit code: 0 ok, 1 data or I/O error, 2 usage. */
export async function main(argv: readonly string[], io: CatIO): Promise<number> {
  const say = (msg: string) => io.stderr.write(`${NAME}: ${msg}\n`)
  let parsed
  try {
    parsed = parseOptions(argv, OPTIONS)
  } catch (err) {
    say(`${(err as Error).message}\nTry '${NAME} --help'.`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    io.stdout.write(renderHelp(USAGE, SUMMARY, OPTIONS))
    return 0
  }
  if (values.version) {
    io.stdout.write(`${NAME} ${VERSION} (gzip inflater: ${inflaterName()})\n`)
    return 0
  }
  let maxEntryBytes: number | undefined
  try {
    if (typeof values['max-entry-bytes'] === 'string') maxEntryBytes = positiveInt(values['max-entry-bytes'], 'max-entry-bytes')
  } catch (err) {
    say(`${(err as Error).message}\nTry '${NAME} --help'.`)
    return 2
  }
  const files = positionals.length ? positionals : ['-']
  const options = {
    format: values.format as CatFormat,
    encoding: values.encoding as FieldEncoding,
    tables: (values.table as string[] | undefined) ?? [],
    ops: (values.op as string[] | undefined) ?? [],
    skipMalformed: values['skip-malformed'] === true,
    allowIncomplete: values['allow-incomplete'] === true,
    ...(maxEntryBytes !== undefined ? { maxEntryBytes } : {}),
  }
  const wantProgress = values['no-progress'] ? false : values.progress === true || io.stderrIsTTY === true
  const total = wantProgress ? await totalSize(files) : null
  const progress: ProgressReporter | null = total !== null ? createProgress(total, io.stderr) : null

  let brokenPipe = false
  io.stdout.on('error', (err) => {
    if (isBrokenPipe(err)) brokenPipe = true
  })
  try {
    for (const file of files) {
      if (brokenPipe) break
      const input = openInput(file, io.stdin, progress ? (n) => progress.advance(n) : undefined)
      const counts = await catInput(input, file, io.stdout, options)
      if (counts.malformedSkipped || counts.oversizeSkipped) {
        say(`${file}: skipped ${counts.malformedSkipped} malformed and ${counts.oversizeSkipped} oversize record(s)`)
      }
    }
  } catch (err) {
    progress?.stop()
    if (brokenPipe || isBrokenPipe(err)) return 0
    if (isLogdaemonError(err)) say(err.message)
    else if (isErrnoException(err)) say(`${err.path ?? ''}${err.path ? ': ' : ''}${err.message}`)
    else say(String(err))
    return err instanceof UsageError || (isLogdaemonError(err) && err.code === ErrorCodes.USAGE) ? 2 : 1
  }
  progress?.stop()
  return 0
}

function isMain(): boolean {
  const arg = process.argv[1]
  if (!arg) return false
  try {
    return realpathSync(arg) === fileURLToPath(import.meta.url)
  } catch {
    return false
  }
}

if (isMain()) {
  const code = await main(process.argv.slice(2), {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    stderrIsTTY: process.stderr.isTTY === true,
  })
  process.exitCode = code
}
