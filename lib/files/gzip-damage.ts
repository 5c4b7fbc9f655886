import type { Readable } from 'node:stream'
import { ErrorCodes, LogdaemonError, formatWhere } from '../errors.js'

/**
 * What to report when the bytes inflated from a gzip member failed to
 * frame (`framing`: malformed, oversize) before the member's trailer was
 * checked, and checking it then gave `gzip`. Damage in deflate data often
 * inflates to wrong bytes without a deflate error, so framing fails first;
 * the member's CRC-32 then says the bytes were not the ones compressed:
 * ERR_GZIP_CORRUPT, at its compressed offset, naming where framing failed
 * (the framing error is its cause). Anything else (`gzip` null: the member
 * checked out; a file cut short, a read error) leaves the framing error,
 * which the bytes as they are do have.
 */
export function framingOrDamage(framing: Error, gzip: unknown): Error {
  if (!(gzip instanceof LogdaemonError) || gzip.code !== ErrorCodes.GZIP_CORRUPT) return framing
  // Where it failed, without the file the gzip error names already.
  const failed =
    framing instanceof LogdaemonError
      ? ` at ${formatWhere({ journal: framing.journal, offset: framing.offset, line: framing.line })}${ownPart(framing)} [${framing.code}]`
      : `: ${framing.message}`
  return new LogdaemonError(ErrorCodes.GZIP_CORRUPT, `${gzip.message}. Framing had already failed inside the damaged member${failed}`, {
    file: gzip.file,
    offset: gzip.offset,
    ...(framing instanceof LogdaemonError
      ? { journal: framing.journal, details: { framing: { code: framing.code, offset: framing.offset, line: framing.line } } }
      : {}),
    cause: framing,
    retryable: gzip.retryable,
  })
}

/** The framing error's message after its position: `: reason`, or ` (bad byte at offset O, line L): reason`. */
function ownPart(framing: LogdaemonError): string {
  const where = framing.where
  return where && framing.message.startsWith(where) ? framing.message.slice(where.length) : `: ${framing.message}`
}

/** An error of the framer's own (malformed input, an oversize record), which damaged gzip data can cause. */
export function isFramingError(err: unknown): err is LogdaemonError {
  return err instanceof LogdaemonError && (err.code === ErrorCodes.JOURNAL_MALFORMED || err.code === ErrorCodes.ENTRY_TOO_LARGE)
}

/**
 * After framing failed with `err`, `through` bytes of output taken: while
 * those are not all verified (`verified()`, the end of the last gzip member
 * whose trailer was checked), takes the output on and drops it
 * (`drop()`, false at the end), until they are, the output ends or it
 * fails. Returns framingOrDamage's choice. Draining costs the inflating of
 * the rest of the member, as `gzip -t` would; nothing is kept.
 */
export async function checkFramingError(err: Error, through: number, verified: () => number, drop: () => Promise<boolean>): Promise<Error> {
  try {
    while (verified() < through) if (!(await drop())) break
  } catch (gzip) {
    return framingOrDamage(err, gzip)
  }
  return err
}

/**
 * `drop` for checkFramingError over a Readable: reads one chunk, or waits
 * for one or for its `verified` event (GunzipTransform: a trailer checked,
 * maybe with no output after it, while the input is held open), and
 * returns true for the caller to look at `verified` again; false at the
 * end; throws its error.
 */
export function dropFrom(stream: Readable): () => Promise<boolean> {
  return async () => {
    if (stream.errored) throw stream.errored
    if (stream.readableEnded || stream.destroyed) return false
    if (stream.read() !== null) return true
    await new Promise<void>((resolve) => {
      const done = (): void => {
        for (const event of EVENTS) stream.off(event, done)
        resolve()
      }
      for (const event of EVENTS) stream.on(event, done)
    })
    if (stream.errored) throw stream.errored
    return true
  }
}

const EVENTS = ['readable', 'end', 'error', 'close', 'verified'] as const
