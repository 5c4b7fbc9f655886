import { constants as bufferConstants } from 'node:buffer'
import { fstatSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import type { Readable, Writable } from 'node:stream'
import type { FieldEncoding } from '../journal/entry.js'
import type { CatFormat, CatOptions } from './cat-input.js'
import type { JournalSummary, summarizeInput } from './summary.js'
import type { WhereClause } from '../journal/entry-filter.js'
import type { CliIO } from './command.js'
import { exitCodeOf, isBrokenPipe, messageOf, usageError } from './cli-errors.js'
import { fdWasClosed } from './closed-stdout.js'
import { isErrnoException, isLogdaemonError } from '../errors.js'
import { parseOptions, renderHelp, type HelpText, type OptionTable, type ParsedValues } from './options.js'
import type { ProgressReporter } from './progress.js'
import { catFileParallel, MIN_PARALLEL_ENCODED_BYTES } from './cat-file-parallel.js'
import { MAX_THREADS } from '../parallel/worker-pool.js'
import { threadCount } from './thread-count.js'
import { flushed } from './write-out.js'

// Start-up: logdaemon-cat on a plain file (the parallel path) loads only the
// modules above and what cat-file-parallel.ts imports; the rest (gzip, the
// serial framer's writers, the schema, the progress bar) is imported where
// it is used, so a run reads its first byte sooner (measured: ~15 ms less
// CPU before the workers start, from 40 modules to 16).

const NAME = 'logdaemon-cat'

export const OPTIONS: OptionTable = {
  format: {
    type: 'string',
    short: 'f',
    arg: 'FORMAT',
    help: 'output the records exactly (raw), one JSON object per line (json), or per line data records with named, typed columns (row)',
    choices: ['raw', 'json', 'row'],
    default: 'raw',
  },
  encoding: { type: 'string', short: 'e', arg: 'ENC', help: 'how JSON strings decode field bytes', choices: ['utf8', 'latin1'], default: 'utf8' },
  table: { type: 'string', short: 't', multiple: true, arg: 'PATTERN', help: 'only records of tables matching PATTERN (* wildcards, e.g. db.rev*)' },
  op: { type: 'string', short: 'o', multiple: true, arg: 'OP', help: 'only records with this op (pv, rv, dv, ex, nx, …)' },
  where: { type: 'string', short: 'w', multiple: true, arg: 'COL=VALUE', help: 'only data records whose column COL (as --format row names it) reads VALUE' },
  summary: {
    type: 'boolean',
    short: 's',
    help: 'instead of the records: per table the records, bytes and versions, the ops, and the server releases that wrote them (--format json: one JSON object)',
  },
  follow: { type: 'boolean', short: 'F', help: "follow a server's journal chain and live journal across rotations (needs --root)" },
  root: { type: 'string', arg: 'DIR', help: 'with --follow: the server root (P4ROOT), where journal.N archives are' },
  journal: { type: 'string', arg: 'PATH', help: 'with --follow: the live journal (P4JOURNAL, default ROOT/journal)' },
  prefix: { type: 'string', arg: 'P', help: 'with --follow: the journal prefix; archives are P.jnl.N (relative to ROOT)' },
  from: { type: 'string', arg: 'N|end', help: 'with --follow and no saved state: start at journal N, or at the live end' },
  state: { type: 'string', arg: 'FILE', help: 'with --follow: resume from and save positions to FILE' },
  jetstream: { type: 'string', arg: 'URL', help: 'print the records of a JetStream stream, nats://[USER:PASSWORD@]HOST:PORT/STREAM, up to its end' },
  durable: { type: 'string', arg: 'NAME', help: 'with --jetstream: read with this durable consumer, after what it acknowledged, and acknowledge' },
  subject: {
    type: 'string',
    arg: 'PREFIX',
    help: "with --jetstream: the subject prefix the records were published under (the jetstream listener's subject; default p4.journal)",
  },
  'skip-malformed': { type: 'boolean', help: 'skip malformed records (counted on stderr) instead of stopping' },
  'allow-incomplete': { type: 'boolean', help: 'print a record the input ends inside instead of failing' },
  'max-entry-bytes': { type: 'string', arg: 'N', help: 'largest record accepted, in bytes (default 67108864)' },
  threads: {
    type: 'string',
    short: 'j',
    arg: 'N',
    help: `threads that frame and encode a plain file in parallel, or encode json or row lines of stdin or a .gz (default LOGDAEMON_THREADS, else the cores, at most 4; 1: none; at most ${MAX_THREADS})`,
  },
  progress: { type: 'boolean', help: 'progress bar on stderr (default when stderr is a terminal)' },
  'no-progress': { type: 'boolean', help: 'no progress bar' },
  version: { type: 'boolean', short: 'V', help: 'print the version and the gzip inflater in use' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
}

const HELP: HelpText = {
  usage:
    `${NAME} [options] [FILE...]\n       ${NAME} --follow --root DIR [--journal PATH] [--prefix P] [--from N|end] [--state FILE] [options]` +
    `\n       ${NAME} --jetstream nats://HOST:PORT/STREAM [--durable NAME] [--subject PREFIX] [options]`,
  summary:
    'Prints the records of Perforce journals and checkpoints, plain or gzip (recognised by content),\n' +
    'in order. With no FILE, or with -, reads standard input.\n' +
    'With --follow, prints the journals of a server from journal N (or the saved state) on, then the\n' +
    'live journal as it grows, across rotations; SIGINT or SIGTERM saves the position and exits 0.',
  examples: [
    [`${NAME} /p4/root/journal.41.gz | less`, 'the records of one archived journal'],
    [`${NAME} -f json -t 'db.rev*' -o pv checkpoint.41 | head`, 'the first new revision records, as JSON'],
    [`${NAME} -f row -w user=alice -t db.change checkpoint.41`, "alice's changes, columns named by the schema"],
    [`${NAME} --summary checkpoint.41`, 'what it holds, and which server release wrote it'],
    [`${NAME} --follow --root /p4/root --from end -t db.change`, 'the changes as the server writes them'],
    [`${NAME} --follow --root /p4/root --state cat.state.json`, 'resume where the last run stopped'],
    [`${NAME} --jetstream nats://127.0.0.1:4222/P4JOURNAL -f json`, 'the records a JetStream stream holds (docs/jetstream.md)'],
  ],
}

/** Options that only make sense with --follow. */
const FOLLOW_ONLY = ['root', 'journal', 'prefix', 'from', 'state'] as const

/** logdaemon-cat's stdio. `signal` stops --follow (default SIGINT, SIGTERM): the position is saved and the exit code is 0. */
export interface CatIO extends CliIO {
  stdin: Readable
  stdout: Writable
  /** Standard output was closed at start (`>&-`): refuse, since nothing written would be kept. Default: asks /proc when stdout is the process's. */
  stdoutClosed?: boolean
}

/** A positive integer option; `most`, when given, is the largest allowed and `why` says why. */
function positiveInt(text: string, name: string, most?: { value: number; why: string }): number {
  // Digits only: Number() would also take 1e3, 0x10, ' 12 ' and 1.0.
  const n = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(n) || n <= 0) throw usageError(`--${name} must be a positive integer (got ${JSON.stringify(text)})`)
  if (most && n > most.value) throw usageError(`--${name} must be at most ${most.value}, ${most.why} (got ${text})`)
  return n
}

/**
 * Bytes per range of the parallel path: LOGDAEMON_CAT_RANGE_BYTES, for tests (tiny ranges make every edge case reachable).
 * Set, the workers also start on inputs of any size (two ranges of a file, a chunk of a .gz, the first batch of a stream).
 */
function rangeBytesFromEnv(io: CatIO): { rangeBytes?: number } {
  const text = (io.env ?? process.env).LOGDAEMON_CAT_RANGE_BYTES
  const n = text && /^[0-9]+$/.test(text) ? Number(text) : 0
  return n > 0 ? { rangeBytes: n } : {}
}

/** Runs `logdaemon-cat` and returns its exit code: 0 ok, 1 data or I/O error, 2 usage. */
export async function main(argv: readonly string[], io: CatIO): Promise<number> {
  const say = (msg: string): void => void io.stderr.write(`${NAME}: ${msg}\n`)
  /** A message about the output so far: after it, even with stdout and stderr on one pipe (see flushed). */
  const sayAfterOutput = async (msg: string, err?: unknown): Promise<void> => {
    if (!isOutputError(err)) await flushed(io.stdout)
    say(msg)
  }
  let parsed
  try {
    parsed = parseOptions(argv, OPTIONS)
  } catch (err) {
    io.early?.reraise()
    say(`${messageOf(err)}\nTry '${NAME} --help'.`)
    return 2
  }
  const { values, positionals } = parsed
  // Signals held since the bin's first line: a follower takes them over as it starts; anything else gets them back now.
  if (!values.follow) io.early?.reraise()
  if (values.help) {
    io.stdout.write(renderHelp(HELP, OPTIONS))
    return 0
  }
  if (values.version) {
    const [{ VERSION }, { inflaterName }] = await Promise.all([import('../version.js'), import('../files/gunzip.js')])
    try {
      io.stdout.write(`${NAME} ${VERSION} (gzip inflater: ${inflaterName('file')})\n`)
    } catch (err) {
      // LOGDAEMON_INFLATER names no inflater: one line, as for a file.
      say(messageOf(err))
      return 1
    }
    return 0
  }
  let maxEntryBytes: number | undefined
  let threads: number
  try {
    if (typeof values['max-entry-bytes'] === 'string')
      maxEntryBytes = positiveInt(values['max-entry-bytes'], 'max-entry-bytes', { value: bufferConstants.MAX_LENGTH, why: 'the largest record a Buffer holds' })
    threads = threadCount(values.threads, (io.env ?? process.env).LOGDAEMON_THREADS)
  } catch (err) {
    say(`${messageOf(err)}\nTry '${NAME} --help'.`)
    return 2
  }
  let where: WhereClause[] = []
  try {
    const clauses = (values.where as string[] | undefined) ?? []
    if (clauses.length) where = (await import('./where.js')).parseWhere(clauses)
    if (values.summary && values.follow) throw usageError('--summary does not go with --follow')
    if (values.summary && values.format === 'row') throw usageError('--summary prints a table or, with --format json, one JSON object')
    // An empty pattern matches no table and an empty op no record: a run would print nothing and exit 0 (`-t "$UNSET"`).
    for (const name of ['table', 'op'] as const) {
      if (((values[name] as string[] | undefined) ?? []).some((v) => v === '')) throw usageError(`--${name} needs a value that is not empty`)
    }
  } catch (err) {
    say(`${messageOf(err)}\nTry '${NAME} --help'.`)
    return 2
  }
  if (io.stdoutClosed ?? (io.stdout === process.stdout && fdWasClosed(1))) {
    say('standard output is closed (>&-): the records would be lost, and with --state saved as done. Redirect it to a file, or to /dev/null to discard them')
    return 1
  }
  if (values.follow) return follow(values, positionals, maxEntryBytes, where, io, say)
  if (typeof values.jetstream === 'string') return fromStream(values, positionals, where, io, say)
  for (const name of ['durable', 'subject'] as const) {
    if (values[name] !== undefined) {
      say(`--${name} needs --jetstream\nTry '${NAME} --help'.`)
      return 2
    }
  }
  const stray = FOLLOW_ONLY.find((name) => values[name] !== undefined)
  if (stray) {
    say(`--${stray} needs --follow\nTry '${NAME} --help'.`)
    return 2
  }
  const files = positionals.length ? positionals : ['-']
  const options = {
    format: values.format as CatFormat,
    encoding: values.encoding as FieldEncoding,
    tables: (values.table as string[] | undefined) ?? [],
    ops: (values.op as string[] | undefined) ?? [],
    where,
    skipMalformed: values['skip-malformed'] === true,
    allowIncomplete: values['allow-incomplete'] === true,
    ...(maxEntryBytes !== undefined ? { maxEntryBytes } : {}),
  }
  const summarizing = values.summary ? await import('./summary.js') : null
  const summary: JournalSummary | null = summarizing ? new summarizing.JournalSummary() : null
  const wantProgress = values['no-progress'] ? false : values.progress === true || io.stderrIsTTY === true
  const total = wantProgress ? await (await import('./cat-input.js')).totalSize(files) : null
  const progress: ProgressReporter | null = total !== null ? (await import('./progress.js')).createProgress(total, io.stderr) : null

  let brokenPipe = false
  io.stdout.on('error', (err) => {
    if (isBrokenPipe(err)) brokenPipe = true
  })
  let current = '-'
  try {
    for (const file of files) {
      current = file
      if (brokenPipe) break
      const onBytes = progress ? (n: number) => progress.advance(n) : undefined
      const counts =
        (summary ? null : await catFileParallel(file, io.stdout, options, { threads, ...rangeBytesFromEnv(io), ...(onBytes ? { onBytes } : {}) })) ??
        (summary ? null : await catGzip(file, io, options, threads, onBytes)) ??
        (await catSerial(file, io, options, summarizing && summary ? { summary, summarizeInput: summarizing.summarizeInput } : null, threads, onBytes))
      if (counts.malformedSkipped || counts.oversizeSkipped) {
        await sayAfterOutput(`${file}: skipped ${counts.malformedSkipped} malformed and ${counts.oversizeSkipped} oversize record(s)`)
      }
    }
  } catch (err) {
    progress?.stop()
    if (brokenPipe || isBrokenPipe(err)) return 0
    // A read error (EISDIR) carries no path: name the input being read. A write error (ENOSPC) is the output's, not the input's.
    if (isErrnoException(err) && !isLogdaemonError(err) && !err.path)
      await sayAfterOutput(`${err.syscall === 'write' ? 'standard output' : current === '-' ? 'standard input' : current}: ${err.message}`, err)
    else await sayAfterOutput(messageOf(err), err)
    return exitCodeOf(err)
  }
  progress?.stop()
  if (summary) io.stdout.write(options.format === 'json' ? `${JSON.stringify(summary.toJSON())}\n` : summary.format())
  return 0
}

/**
 * An error of the output itself (a full disk, a file past `ulimit -f`): no
 * record waits behind the message then, and a write that failed may never
 * call back (FileOutput's writes throw).
 */
function isOutputError(err: unknown): boolean {
  return isErrnoException(err) && err.syscall === 'write'
}

/**
 * A .gz file: inflated on one worker, framed in chunks on the others (the
 * range size, when set, is the chunk size); null, having read nothing, when
 * the file is not for that path.
 */
async function catGzip(file: string, io: CatIO, options: CatOptions, threads: number, onBytes: ((n: number) => void) | undefined) {
  const { catGzipParallel } = await import('./cat-gzip-parallel.js')
  return catGzipParallel(file, io.stdout, options, { threads, chunkBytes: rangeBytesFromEnv(io).rangeBytes, ...(onBytes ? { onBytes } : {}) })
}

/**
 * One input the serial way (stdin, a pipe, a .gz, a small file, --summary,
 * --threads 1): framed on this thread, json and row lines encoded on a
 * worker pool when there are threads and more than 2 cores.
 */
async function catSerial(
  file: string,
  io: CatIO,
  options: CatOptions,
  summary: { summary: JournalSummary; summarizeInput: typeof summarizeInput } | null,
  threads: number,
  onBytes: ((n: number) => void) | undefined,
): Promise<{ malformedSkipped: number; oversizeSkipped: number }> {
  const { catInput, openInput } = await import('./cat-input.js')
  if (file === '-' && io.stdin === process.stdin) refuseDirectoryStdin()
  const testSizes = rangeBytesFromEnv(io).rangeBytes !== undefined
  // This thread frames a stream and copies its records out for the workers, so it needs a core of its own: on 2 cores
  // the pool made json on standard input slower (200 MB: 3.6 s with 2 threads, 2.6-2.9 s with 1; 32 MB: 1.06-1.15 s
  // against 0.82-0.86 s), and the stream stays serial there (not with tests' range sizes, which exercise the pool).
  const pooled = !summary && threads > 1 && options.format !== 'raw' && (testSizes || availableParallelism() > 2)
  // Loaded before the input opens: an error of the input (a directory's EISDIR) while it loaded found no handler yet.
  const parallel = pooled ? await import('./cat-stream-parallel.js') : null
  const input = openInput(file, io.stdin, onBytes)
  if (summary) return summary.summarizeInput(input, file, summary.summary, options)
  if (parallel) {
    // Workers only past the first MIN_PARALLEL_ENCODED_BYTES (from the first batch with tests' range sizes).
    const poolAfterBytes = testSizes ? 0 : MIN_PARALLEL_ENCODED_BYTES
    return parallel.catStreamParallel(input, file, io.stdout, options, { threads, poolAfterBytes })
  }
  return catInput(input, file, io.stdout, options)
}

/**
 * Standard input opened on a directory (`< DIR`) is, in Node, a stream that
 * ends at once: refused as reading a directory FILE is (EISDIR), not taken
 * for an empty input.
 */
function refuseDirectoryStdin(): void {
  let directory = false
  try {
    directory = fstatSync(0).isDirectory()
  } catch {
    return
  }
  if (directory) throw Object.assign(new Error('EISDIR: illegal operation on a directory, read'), { code: 'EISDIR', errno: -21, syscall: 'read' })
}

/** `--follow`: the journal chain and the live journal, until a signal or a closed output. */
async function follow(
  values: ParsedValues,
  positionals: readonly string[],
  maxEntryBytes: number | undefined,
  where: WhereClause[],
  io: CatIO,
  say: (msg: string) => void,
): Promise<number> {
  const usage = (msg: string): number => {
    say(`${msg}\nTry '${NAME} --help'.`)
    return 2
  }
  if (positionals.length) return usage("--follow reads the server's journals: give --root, not FILE arguments")
  if (typeof values.root !== 'string') return usage('--follow needs --root DIR (the server root)')
  if (values['allow-incomplete']) return usage('--allow-incomplete does not go with --follow (a record being written is waited for)')
  let from: number | 'end' | undefined
  if (typeof values.from === 'string') {
    from = values.from === 'end' ? 'end' : Number(values.from)
    if (from !== 'end' && (!Number.isSafeInteger(from) || from < 0))
      return usage(`--from must be a journal number or "end" (got ${JSON.stringify(values.from)})`)
  }
  const str = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined)
  const source = {
    root: values.root,
    ...(str('journal') !== undefined ? { journal: str('journal') } : {}),
    ...(str('prefix') !== undefined ? { prefix: str('prefix') } : {}),
    ...(str('state') !== undefined ? { state: str('state') } : {}),
    ...(from !== undefined ? { from } : {}),
    ...(maxEntryBytes !== undefined ? { maxEntryBytes } : {}),
    encoding: values.encoding as FieldEncoding,
    skipMalformed: values['skip-malformed'] === true,
  }
  // Only a follower turns SIGINT/SIGTERM into a clean stop; plain cat keeps their default (die).
  const stop = io.signal ? null : stopOnSignals()
  // One of them held while the modules loaded stops it before it starts (exit 0); the others end it as they would have.
  if (stop) io.early?.stopWith(stop.abort)
  io.early?.reraise()
  try {
    // Loaded when used: --follow and --jetstream pull in modules that would
    // cost every plain cat a quarter of a second of start-up (measured).
    const { followJournal } = await import('./follow.js')
    await followJournal(io.stdout, {
      source,
      format: values.format as CatFormat,
      encoding: values.encoding as FieldEncoding,
      tables: (values.table as string[] | undefined) ?? [],
      ops: (values.op as string[] | undefined) ?? [],
      where,
      onSkip: say,
      signal: io.signal ?? stop!.signal,
    })
  } catch (err) {
    if (isBrokenPipe(err)) return 0
    if (!isOutputError(err)) await flushed(io.stdout)
    say(messageOf(err))
    return 1
  } finally {
    stop?.dispose()
  }
  return 0
}

/** `--jetstream URL`: the records a stream holds, up to its end. */
async function fromStream(values: ParsedValues, positionals: readonly string[], where: WhereClause[], io: CatIO, say: (msg: string) => void): Promise<number> {
  const wrong = positionals.length
    ? 'give no FILE arguments'
    : values.format === 'row'
      ? 'it prints raw or json, not row'
      : values.summary
        ? '--summary is for files'
        : null
  if (wrong) {
    say(`--jetstream reads a stream: ${wrong}\nTry '${NAME} --help'.`)
    return 2
  }
  try {
    const { catJetStream } = await import('./cat-jetstream.js')
    await catJetStream(io.stdout, {
      url: values.jetstream as string,
      ...(typeof values.durable === 'string' ? { durable: values.durable } : {}),
      ...(typeof values.subject === 'string' ? { subject: values.subject } : {}),
      format: values.format as 'raw' | 'json',
      encoding: values.encoding as FieldEncoding,
      tables: (values.table as string[] | undefined) ?? [],
      ops: (values.op as string[] | undefined) ?? [],
      where,
      ...(io.signal ? { signal: io.signal } : {}),
    })
  } catch (err) {
    if (isBrokenPipe(err)) return 0
    if (!isOutputError(err)) await flushed(io.stdout)
    say(messageOf(err))
    return exitCodeOf(err)
  }
  return 0
}

/** SIGINT and SIGTERM abort the signal (each once). */
/* c8 ignore start -- process signals: exercised by the tests that spawn the built bin */
function stopOnSignals(): { signal: AbortSignal; abort: () => void; dispose: () => void } {
  const stop = new AbortController()
  const on = (): void => stop.abort()
  process.once('SIGINT', on).once('SIGTERM', on)
  return { signal: stop.signal, abort: on, dispose: () => void process.off('SIGINT', on).off('SIGTERM', on) }
}
/* c8 ignore stop */
