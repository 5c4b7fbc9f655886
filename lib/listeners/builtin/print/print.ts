import { heldFifoWriter, wholeWritesTo } from '../../../files/file-output.js'
import { closeSync, createWriteStream, fstatSync, fsync, type Stats, statSync, type WriteStream } from 'node:fs'
import { isErrnoException, toError } from '../../../errors.js'
import { dirname, resolve } from 'node:path'
import type { Writable } from 'node:stream'
import { z } from 'zod'
import type { JournalEntry } from '../../../journal/entry.js'
import { PRIVATE_FILE_MODE } from '../../../files/atomic-write.js'
import { pathSchema } from '../../../path-schema.js'
import { createEntryFilter } from '../../../journal/entry-filter.js'
import { entryToJsonLine } from '../../../journal/entry-json.js'
import { entryToRowLine } from '../../../journal/entry-row.js'
import { BaseListener, type Listener } from '../../listener.js'

export const optionsSchema = z
  .strictObject({
    format: z
      .enum(['raw', 'json', 'row'])
      .default('json')
      .describe(
        'raw: the records exactly as in the journal; json: one JSON object per line (NDJSON), as logdaemon-cat --format json; row: data records with columns named and typed by the schema, as logdaemon-cat --format row.',
      ),
    output: pathSchema().default('-').describe('File to append to (relative to the configuration file), or - for standard output.'),
    table: z
      .array(z.string().min(1))
      .default([])
      .describe('Only records of tables matching one of these patterns (* wildcards, e.g. db.rev*), as logdaemon-cat --table.'),
    op: z.array(z.string().min(1)).default([]).describe('Only records with one of these ops (pv, rv, dv, ex, nx, …), as logdaemon-cat --op.'),
    encoding: z.enum(['utf8', 'latin1']).default('utf8').describe('How JSON strings decode field bytes.'),
  })
  .describe('print: entries as raw journal bytes, NDJSON or schema rows, to standard output or a file, with the filters of logdaemon-cat.')

export type PrintOptions = z.infer<typeof optionsSchema>

/**
 * Prints entries, raw or as NDJSON, to a stream (standard output by
 * default, never ended) or a file it appends to. Waits for `drain`, so a
 * slow reader slows the daemon rather than filling memory.
 */
export class PrintListener extends BaseListener {
  readonly #format: 'raw' | 'json' | 'row'
  readonly #filter: ((entry: JournalEntry) => boolean) | null
  readonly #encoding: 'utf8' | 'latin1'
  readonly #file: string | null
  readonly #fileMode: number
  #out: Writable | null
  /** The file opened is a regular file, which `sync` fsyncs. */
  #fsyncs = false
  #error: Error | null = null
  readonly #onError = (err: Error): void => {
    this.#error ??= err
  }

  /**
   * `output` is a file path, `-` for standard output, or any Writable (which it never ends).
   * `fileMode`: mode of a new output file (before the umask); it holds journal rows. Default 0600.
   */
  constructor(options: Omit<PrintOptions, 'output'> & { output: string | Writable; fileMode?: number }, name = 'print') {
    super(name)
    this.#fileMode = options.fileMode ?? PRIVATE_FILE_MODE
    this.#format = options.format
    this.#encoding = options.encoding
    this.#filter = createEntryFilter({ tables: options.table, ops: options.op })
    if (typeof options.output === 'string' && options.output !== '-') {
      this.#file = options.output
      this.#out = null
    } else {
      this.#file = null
      // Standard output as a regular file is written whole: process.stdout drops what a full disk did not take (file-output.ts).
      this.#out = typeof options.output === 'string' ? wholeWritesTo(process.stdout) : options.output
      this.#out.on('error', this.#onError)
    }
  }

  open(): Promise<void> | void {
    if (!this.#file || this.#out) return
    let writer: number | null
    try {
      writer = heldFifoWriter(this.#file)
    } catch (err) {
      return Promise.reject(err)
    }
    const ws: WriteStream = createWriteStream(this.#file, { flags: 'a', mode: this.#fileMode })
    ws.on('error', this.#onError)
    this.#out = ws
    return new Promise<void>((res, rej) => {
      ws.once('ready', () => {
        if (writer !== null) closeSync(writer)
        // fsync is for a file: a device, a FIFO or a socket (/dev/null, /dev/stdout on a pipe) refuses it (EINVAL).
        this.#fsyncs = fstatSync((ws as WriteStream & { fd: number }).fd).isFile()
        res()
      })
      ws.once('error', (err: NodeJS.ErrnoException) => {
        if (writer !== null) closeSync(writer)
        // A directory, or a path through a file, is no output a retry can open: the listener fails at once (a
        // probe: run retried it for minutes). A missing directory or permissions may be fixed meanwhile.
        rej(err.code === 'EISDIR' || err.code === 'ENOTDIR' ? Object.assign(err, { retryable: false }) : err)
      })
    })
  }

  override isHandled(entry: JournalEntry): boolean {
    return this.#filter === null || this.#filter(entry)
  }

  listen(entry: JournalEntry): void | Promise<void> {
    const out = this.#out
    if (!out) return Promise.resolve(this.open()).then(() => this.listen(entry))
    if (this.#error) throw this.#error
    const data =
      this.#format === 'raw'
        ? entry.raw
        : this.#format === 'row'
          ? entryToRowLine(entry.withEncoding(this.#encoding), null)
          : entryToJsonLine(entry.withEncoding(this.#encoding), null)
    if (out.write(data)) return
    return new Promise<void>((res, rej) => {
      const done = (err?: Error): void => {
        out.off('drain', ok).off('error', done)
        if (err) rej(err)
        else res()
      }
      const ok = (): void => done()
      out.on('drain', ok).on('error', done)
    })
  }

  /** Waits until everything written so far has been handed to the OS (and fsynced, for a file). */
  async sync(): Promise<void> {
    const out = this.#out
    if (!out) return
    await new Promise<void>((res, rej) => out.write('', (err) => (err ? rej(err) : res())))
    if (this.#error) throw this.#error
    if (this.#file && this.#fsyncs) {
      const fd = (out as WriteStream & { fd?: number | null }).fd
      if (typeof fd === 'number') {
        await new Promise<void>((res, rej) => fsync(fd, (err) => (err ? rej(err) : res())))
      }
    }
  }

  /** Ends the file it opened; standard output and given streams are left open. */
  async close(): Promise<void> {
    const out = this.#out
    if (!out) return
    if (!this.#file) {
      out.off('error', this.#onError)
      return
    }
    this.#out = null
    await new Promise<void>((res) => out.end(() => res()))
  }
}

/** The `print` built-in. A relative `output` is taken from `baseDir` (the configuration file's directory). */
export function create(options: PrintOptions, context: { name: string; baseDir?: string; journalMode?: number }): Listener {
  const output = options.output === '-' ? '-' : resolve(context.baseDir ?? '.', options.output)
  const fileMode = context.journalMode
  return new PrintListener({ ...options, output, ...(fileMode === undefined ? {} : { fileMode }) }, context.name)
}

/**
 * What keeps a `print` output file from opening, or null: what `logdaemon
 * check` says before run retries it (a directory, a missing directory).
 * Standard output (`-`) has nothing to check.
 */
export function printOutputProblem(options: PrintOptions, baseDir: string): string | null {
  if (options.output === '-') return null
  const path = resolve(baseDir, options.output)
  let info: Stats
  try {
    info = statSync(path)
  } catch (err) {
    if (!isErrnoException(err) || err.code !== 'ENOENT') return `${path} cannot be looked at (${toError(err).message})`
    const dir = dirname(path)
    const parent = statSync(dir, { throwIfNoEntry: false })
    return parent?.isDirectory() ? null : `${path} cannot be made: its directory ${dir} ${parent ? 'is not a directory' : 'does not exist'}`
  }
  // A FIFO is not opened to see whether something reads it: closing that writer would end the file for its
  // reader. Without one, the listener's open fails at once (heldFifoWriter).
  return info.isDirectory() ? `${path} is a directory` : null
}
