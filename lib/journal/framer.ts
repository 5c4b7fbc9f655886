import { constants } from 'node:buffer'
import { ErrorCodes, LogdaemonError, formatWhere } from '../errors.js'

const AT = 0x40
const SP = 0x20
const LF = 0x0a
const CR = 0x0d

/**
 * The largest record accepted by default. p4d itself keeps whole records in
 * memory; 64 MiB is far above any real one (big change descriptions and
 * spec records stay in the low MB) and still bounds what one record can cost.
 */
export const DEFAULT_MAX_ENTRY_BYTES = 64 * 1024 * 1024

/**
 * Checks a `maxEntryBytes` given to a library entry point: undefined (the
 * default) or an integer from 1 to the largest Buffer. Throws a RangeError
 * naming it otherwise: NaN turned the bound off (a record could grow the
 * heap without limit), and 0 or a negative number made every record fail.
 */
export function checkMaxEntryBytes(value: unknown): void {
  if (value === undefined) return
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > constants.MAX_LENGTH) {
    throw new RangeError(`maxEntryBytes must be an integer from 1 to ${constants.MAX_LENGTH} (bytes of one record), got ${String(value)}`)
  }
}

export interface FramerOptions {
  /** Absolute offset of the first byte pushed (resuming mid-file). Default 0. */
  offset?: number
  /** Line number of the first byte pushed. Default 1. */
  line?: number
  /** Largest record, in bytes. Default {@link DEFAULT_MAX_ENTRY_BYTES}. */
  maxEntryBytes?: number
  /** Skip oversize records (counted) instead of failing with ERR_ENTRY_TOO_LARGE. */
  skipOversize?: boolean
  /**
   * Skip malformed records (counted) instead of failing with
   * ERR_JOURNAL_MALFORMED: see {@link JournalFramer.malformedSkipped} for
   * what one malformed record is.
   */
  skipMalformed?: boolean
  /** Journal number and file, only to say where errors happen. */
  journal?: number | null
  file?: string | null
}

/**
 * Called for each whole record: the record is `source[start..end)` (a view
 * is left to the callee: making one costs more than framing the record),
 * with its absolute offset and first line.
 */
export type RecordSink = (source: Buffer, start: number, end: number, offset: number, line: number) => void

/** What the framer skipped, when told to skip. */
export interface SkipReport {
  code: typeof ErrorCodes.JOURNAL_MALFORMED | typeof ErrorCodes.ENTRY_TOO_LARGE
  offset: number
  line: number
  reason: string
}

/**
 * Records in the shapes that take the scan's branches: quoted and bare
 * values, an empty value, an `@@` escape, a value that spans lines, a CRLF
 * record end. See {@link primeFramer}.
 */
const PRIMER = Buffer.from('@pv@ 7 @db.desc@ @a@@b@ @@ 12 @two\nlines@ \r\n@ex@ 11102 1620557182\n@pv@ 3 @db.have@ @//a b@ 1 \n', 'latin1')

/**
 * Rounds of priming: V8 records type feedback only once a function has run
 * a few times (lazy feedback allocation), so one round would leave no trace.
 */
const PRIME_ROUNDS = 16

let primed = false

/**
 * Frames {@link PRIMER} a few times per process, whole and split at every
 * byte, into a sink that drops the records, before the first framer is
 * made. Why: V8 optimizes the scan early (inside the first chunk, by
 * on-stack replacement), with the type feedback gathered until then; a
 * path that runs once per chunk (a record spanning two chunks) had not run
 * yet, and taking it threw the optimized code away, which costs 30–100 ms
 * of CPU to compile again, longer on a busy machine (--trace-deopt showed
 * it in most runs of for-await-source). lib/parallel/prime.ts does the same
 * for the workers.
 */
function primeFramer(): void {
  primed = true
  const drop: RecordSink = () => {}
  for (let round = 0; round < PRIME_ROUNDS; round++) {
    for (const piece of [PRIMER.length, 1]) {
      const framer = new JournalFramer()
      for (let at = 0; at < PRIMER.length; at += piece) framer.push(PRIMER.subarray(at, at + piece), drop)
    }
  }
}

/**
 * Cuts a byte stream into journal records: a record ends at a LF outside a
 * quoted field, and the quote state is the parity of `@` since the record's
 * start. It also checks the few things framing can see cheaply: a record
 * starts with `@`, a closing `@` is followed by a space, a line end, or a
 * second `@` (the `@@` escape), and an opening `@` follows a space.
 *
 * State carries across `push` calls, so where chunks split never matters.
 * Bytes of a record that spans chunks are kept as a list and joined once.
 */
export class JournalFramer {
  readonly #max: number
  readonly #skipOversize: boolean
  readonly #skipMalformed: boolean
  readonly #journal: number | null
  readonly #file: string | null

  /** Absolute offset of the next byte to be pushed. */
  #offset: number
  /** Line number at the next byte. */
  #line: number

  /** Bytes of the current record from earlier chunks. */
  #parts: Buffer[] = []
  #partsLength = 0
  /** Where the current record starts. */
  #recOffset: number
  #recLine: number

  #atStart = true
  #inQuote = false
  /** The last byte seen was a closing `@` whose successor is still to check. */
  #afterClose = false
  /** The last bytes seen were a closing `@` and a CR: the next byte must be the LF that ends the record. */
  #afterCloseCr = false
  /** The last byte seen (for the "opening `@` follows a space" check across chunks). */
  #prev = LF
  /** Dropping bytes up to the end of an oversize record. */
  #discarding = false
  /** Skipping malformed bytes up to the next LF. */
  #resync = false
  /** A malformed record is being skipped: lines that do not start with `@` belong to it. */
  #recovering = false

  /**
   * Records skipped as malformed. One malformed record is the bytes from
   * the start of a record (a line that starts with `@`) in which the framer
   * found an error, through the end of the line with the error, plus the
   * lines after it up to the next line that starts with `@`: those cannot
   * start a record, so they are taken as the rest of the bad one. Bytes
   * that are not in any record (lines before the first `@` line, or after
   * a well-formed record) count as one malformed record up to the next
   * line that starts with `@`. So adjacent bad records count one each,
   * and a bad record's continuation lines do not count again. A record
   * whose quoted value is left open swallows the lines up to where the
   * error shows (the framer cannot tell where a broken record would have
   * ended): those count as the one record.
   */
  malformedSkipped = 0
  /** Records skipped as oversize. */
  oversizeSkipped = 0
  /** Bytes dropped by skipping. */
  bytesSkipped = 0
  /** Called for each skip, when skipping is on. */
  onSkip: ((report: SkipReport) => void) | undefined

  constructor(options: FramerOptions = {}) {
    if (!primed) primeFramer()
    checkMaxEntryBytes(options.maxEntryBytes)
    this.#max = options.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES
    this.#skipOversize = options.skipOversize ?? false
    this.#skipMalformed = options.skipMalformed ?? false
    this.#journal = options.journal ?? null
    this.#file = options.file ?? null
    this.#offset = options.offset ?? 0
    this.#line = options.line ?? 1
    this.#recOffset = this.#offset
    this.#recLine = this.#line
  }

  /** Offset of the next byte to be pushed. */
  get offset(): number {
    return this.#offset
  }

  /** Line number at the next byte to be pushed (1 plus the LF bytes pushed, from the `line` it started at). */
  get line(): number {
    return this.#line
  }

  /** Whether bytes of an unfinished record are held. */
  get pending(): boolean {
    return !this.#atStart && !this.#resync
  }

  /**
   * Frames `buf`, calling `sink` for each whole record. Throws a
   * LogdaemonError on malformed or oversize input unless told to skip; the
   * records before the bad one have been delivered by then.
   */
  push(buf: Buffer, sink: RecordSink): void {
    const n = buf.length
    const base = this.#offset
    let i = 0
    while (i < n) i = this.#scan(buf, base, i, sink)
    if (n > 0) this.#prev = buf[n - 1] as number
    this.#offset = base + n
  }

  /**
   * The framer proper: a state machine over the bytes, exact for any input,
   * that also finds and reports errors. Only `@` and LF change its state,
   * so between them it skips a 32-bit word at a time (a SWAR test for
   * either byte in the word): several times faster than a byte loop, and
   * faster than matching records with a regular expression on latin1 text.
   * Runs from `start` to the end of `buf`; returns early only after a
   * malformed record when skipping (the caller calls again to resync).
   */
  #scan(buf: Buffer, base: number, start: number, sink: RecordSink): number {
    const n = buf.length
    let i = start
    /** Start of the current record within buf (start when it began in an earlier chunk). */
    let chunkStart = start
    let line = this.#line
    // The scan state lives in locals while the loop runs (V8 keeps them in registers).
    let inQuote = this.#inQuote
    let afterClose = this.#afterClose
    let afterCloseCr = this.#afterCloseCr
    let atStart = this.#atStart
    // The byte before buf (read here, not in the rare branch that needs it: see the loop).
    const prev = this.#prev
    // buf read four bytes at a time, from any offset up to lastWord.
    const view = new DataView(buf.buffer, buf.byteOffset, n)
    const lastWord = n - 4

    while (i < n) {
      if (this.#resync) {
        const k = buf.indexOf(LF, i)
        const stop = k < 0 ? n : k + 1
        this.bytesSkipped += stop - i
        i = stop
        if (k >= 0) {
          line++
          this.#resync = false
          atStart = true
          inQuote = false
          afterClose = false
          afterCloseCr = false
        }
        continue
      }

      let bad = ''
      while (!bad && i < n) {
        // What the byte at i owes to the byte before it (in this chunk or the previous one): a record starts
        // with `@`; after a closing `@` comes `@` (a literal `@`, the value goes on), a space or the line end.
        // Each check has one place, run for every record, so that V8 has seen it run before it optimizes the
        // loop: a path that first runs after that (a chunk that ends between a record's LF and its `@`, or
        // right after a closing `@`) costs a deoptimization and a slow stretch until it is optimized again.
        if (atStart) {
          if (buf[i] !== AT) {
            bad = 'a record must start with @op@'
            break
          }
          atStart = false
          inQuote = true
          this.#recOffset = base + i
          this.#recLine = line
          chunkStart = i
          i++
        } else if (afterClose) {
          afterClose = false
          const c = buf[i]
          if (c === AT) {
            inQuote = true
            i++
          } else if (c === CR) {
            // Only the CR of a CRLF record end: the LF must follow (here, or first in the next chunk).
            if (i + 1 >= n) {
              afterCloseCr = true
              i++
              continue
            }
            if (buf[i + 1] !== LF) {
              i++
              bad = `byte 0x${hex(buf[i])} after a closing @ and a CR (expected a space or the end of the line)`
              break
            }
          } else if (c !== SP && c !== LF) {
            bad = `byte 0x${hex(c)} after a closing @ (expected a space or the end of the line)`
            break
          }
        } else if (afterCloseCr) {
          afterCloseCr = false
          if (buf[i] !== LF) {
            bad = `byte 0x${hex(buf[i])} after a closing @ and a CR (expected a space or the end of the line)`
            break
          }
        }
        // The next `@` or LF at or after i: a word at a time (unaligned
        // loads), then the last bytes one by one.
        let k = -1
        while (i <= lastWord) {
          // x ^ 0x40404040 has a zero byte where x has `@`, x ^ 0x0a0a0a0a
          // where it has LF; (v - 0x01010101) & ~v & 0x80808080 marks zero
          // bytes, exactly at the lowest one (a mark above it can be false:
          // the byte is checked below).
          const x = view.getInt32(i, true)
          const at = x ^ 0x40404040
          const lf = x ^ 0x0a0a0a0a
          const m = (((at - 0x01010101) & ~at) | ((lf - 0x01010101) & ~lf)) & 0x80808080
          if (m !== 0) {
            // Little-endian words: the lowest marked byte comes first.
            k = i + ((31 - Math.clz32(m & -m)) >> 3)
            break
          }
          i += 4
        }
        if (k < 0) {
          for (; i < n; i++) {
            const c = buf[i]
            if (c === AT || c === LF) {
              k = i
              break
            }
          }
        }
        if (k < 0) {
          i = n
          break
        }
        i = k
        const b = buf[i]
        if (b === LF) {
          // One line count for a LF inside a quoted value and one that ends the record (see above).
          line++
          i++
          if (inQuote) continue
          // A LF outside a quote ends the record; the next must start with `@` (checked at the top).
          this.#line = line
          this.#emit(buf, chunkStart, i, sink)
          atStart = true
          continue
        }
        if (b !== AT) {
          i++
          continue
        }
        if (inQuote) {
          // A closing `@`. Most are followed by a space and then the next value: the bytes are checked here, in
          // one step, and an opening `@` after the space is taken with them (it follows a space). On short
          // records (many quoted values, db.have and db.integed) this framed ~15 % faster than a stop at each
          // `@` (pairs of interleaved passes over 200 MB in one process).
          if (i + 2 < n && buf[i + 1] === SP) {
            if (buf[i + 2] === AT) {
              i += 3
              continue
            }
            inQuote = false
            i += 2
            continue
          }
          // Otherwise the next byte says what follows (checked at the top, or by the next chunk).
          inQuote = false
          afterClose = true
          i++
          continue
        }
        if ((i > 0 ? buf[i - 1] : prev) !== SP) {
          bad = 'a quoted value must follow a space'
          break
        }
        inQuote = true
        i++
      }

      if (bad) {
        this.#line = line
        if (atStart) {
          // A line that does not start with `@`: the rest of the malformed record being skipped, or stray bytes.
          this.#malformed(base + i, line, bad, !this.#recovering)
        } else {
          // A record already over the limit before its bad byte is oversize first, wherever the chunks end: else
          // the code (and, skipping malformed only, whether the run fails) depended on whether a chunk ended
          // between the limit and the bad byte (the size is checked there): a plain file (128 KiB reads) and its
          // .gz (64 KiB) or a pipe disagreed.
          if (!this.#discarding && this.#partsLength + (i - chunkStart) > this.#max) this.#oversize()
          this.#malformedInRecord(i - chunkStart, base + i, line, bad)
        }
        // Only reached when skipping: #resync is set and scans on from i.
        atStart = false
        inQuote = false
        afterClose = false
        afterCloseCr = false
      }
    }

    this.#inQuote = inQuote
    this.#afterClose = afterClose
    this.#afterCloseCr = afterCloseCr
    this.#atStart = atStart
    this.#line = line
    if (i >= n && !atStart && !this.#resync) this.#hold(buf.subarray(chunkStart, n))
    return i
  }

  /** Keeps the unfinished record's bytes of this chunk (or drops them when discarding). */
  #hold(piece: Buffer): void {
    // No empty piece is held: no bytes held is then no piece held (see #emit).
    if (piece.length === 0) return
    if (this.#discarding) {
      this.bytesSkipped += piece.length
      return
    }
    this.#parts.push(piece)
    this.#partsLength += piece.length
    if (this.#partsLength > this.#max) {
      this.#oversize()
      this.bytesSkipped += this.#partsLength
      this.#parts = []
      this.#partsLength = 0
      this.#discarding = true
    }
  }

  /** A record ends at `end` (exclusive) in `buf`: hand it over, or drop it when oversize. */
  #emit(buf: Buffer, chunkStart: number, end: number, sink: RecordSink): void {
    const size = this.#partsLength + (end - chunkStart)
    // A record ended (delivered, or dropped as oversize): lines after it are no part of a malformed record before it.
    this.#recovering = false
    if (this.#discarding) {
      this.bytesSkipped += end - chunkStart
      this.#endDiscard()
    } else if (size > this.#max) {
      this.#oversize()
      this.bytesSkipped += size // the bytes held from earlier chunks too
      this.#endDiscard()
    } else {
      // No bytes held from earlier chunks (the number, not the array, is looked at: an array's map changes with
      // what it held, and one the optimized code had not seen cost a deoptimization per run, --trace-deopt).
      if (this.#partsLength === 0) {
        sink(buf, chunkStart, end, this.#recOffset, this.#recLine)
      } else {
        const raw = this.#joined(buf.subarray(chunkStart, end), size)
        this.#parts = []
        this.#partsLength = 0
        sink(raw, 0, size, this.#recOffset, this.#recLine)
      }
    }
  }

  /**
   * The held pieces and `last` as one buffer of `size` bytes: a view when
   * they lie end to end in one buffer (a caller that reads a long record
   * into one buffer it grows, see moveHeld), else a copy.
   */
  #joined(last: Buffer, size: number): Buffer {
    const parts = this.#parts
    const first = parts[0] as Buffer
    let at = first.byteOffset + first.length
    for (let i = 1; i < parts.length; i++) {
      const p = parts[i] as Buffer
      if (p.buffer !== first.buffer || p.byteOffset !== at) return Buffer.concat([...parts, last], size)
      at += p.length
    }
    if (last.buffer !== first.buffer || last.byteOffset !== at) return Buffer.concat([...parts, last], size)
    return Buffer.from(first.buffer, first.byteOffset, size)
  }

  /**
   * The caller copied `from` into `to` at the same offsets (a read buffer it
   * grew): the held bytes that are views of `from` become views of `to`, so
   * that `from` can be collected while a long record goes on, and the
   * record can be handed over as a view of `to` instead of a copy.
   */
  moveHeld(from: Buffer, to: Buffer): void {
    const parts = this.#parts
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] as Buffer
      const at = p.byteOffset - from.byteOffset
      if (p.buffer === from.buffer && at >= 0 && at + p.length <= from.length && at + p.length <= to.length) parts[i] = to.subarray(at, at + p.length)
    }
  }

  /**
   * The unfinished record's bytes, if any, with its offset and line: what a
   * caller that allows incomplete input turns into an entry. Resets the framer.
   */
  takePending(): { raw: Buffer; offset: number; line: number } | null {
    if (!this.pending || this.#discarding) return null
    const raw = Buffer.concat(this.#parts, this.#partsLength)
    this.#parts = []
    this.#partsLength = 0
    this.#atStart = true
    return { raw, offset: this.#recOffset, line: this.#recLine }
  }

  /** The error for input that ends inside a record, or null when it ended cleanly. */
  incompleteError(): LogdaemonError | null {
    if (!this.pending) return null
    return new LogdaemonError(
      ErrorCodes.JOURNAL_INCOMPLETE,
      `${this.#where(this.#recOffset, this.#recLine)}: the input ends inside a record ` + `(${this.#offset - this.#recOffset} bytes without a final line end)`,
      { file: this.#file, journal: this.#journal, offset: this.#recOffset, line: this.#recLine },
    )
  }

  #endDiscard(): void {
    this.#discarding = false
    this.#parts = []
    this.#partsLength = 0
  }

  #oversize(): void {
    // No count of the bytes seen: it depends on where reads end (a probe: 67232539 or 67115144 by thread count and inflater).
    const reason = `record of more than ${this.#max} bytes (maxEntryBytes)`
    if (!this.#skipOversize) {
      // The record's bytes held so far (up to the limit) are dropped, as a malformed record's are: the framer is done, but
      // a caller may keep it while it goes on (a .gz read to its member's trailer to check it, see gzip-damage.ts).
      this.#parts = []
      this.#partsLength = 0
      throw new LogdaemonError(ErrorCodes.ENTRY_TOO_LARGE, `${this.#where(this.#recOffset, this.#recLine)}: ${reason}`, {
        file: this.#file,
        journal: this.#journal,
        offset: this.#recOffset,
        line: this.#recLine,
      })
    }
    this.oversizeSkipped++
    this.#discarding = true
    this.onSkip?.({ code: ErrorCodes.ENTRY_TOO_LARGE, offset: this.#recOffset, line: this.#recLine, reason })
  }

  /** Malformed byte inside a record: the record is dropped from its start. */
  #malformedInRecord(heldHere: number, at: number, line: number, reason: string): void {
    const dropped = this.#partsLength + heldHere
    this.#parts = []
    this.#partsLength = 0
    this.#discarding = false
    this.#inQuote = false
    // The record started at a line that starts with `@`: a malformed record of its own, even right after another.
    this.#malformed(at, line, reason, true, this.#recOffset, this.#recLine)
    this.bytesSkipped += dropped
  }

  /** Fails, or (skipping) counts a malformed record when `counts` and skips to the next line. */
  #malformed(at: number, line: number, reason: string, counts: boolean, recOffset = at, recLine = line): void {
    if (!this.#skipMalformed) {
      const where = recOffset === at ? this.#where(at, line) : `${this.#where(recOffset, recLine)} (bad byte at offset ${at}, line ${line})`
      throw new LogdaemonError(ErrorCodes.JOURNAL_MALFORMED, `${where}: ${reason}`, {
        file: this.#file,
        journal: this.#journal,
        offset: recOffset,
        line: recLine,
        details: { byteOffset: at, byteLine: line },
      })
    }
    if (counts) {
      this.malformedSkipped++
      this.onSkip?.({ code: ErrorCodes.JOURNAL_MALFORMED, offset: recOffset, line: recLine, reason })
    }
    this.#recovering = true
    this.#atStart = false
    this.#resync = true
  }

  #where(offset: number, line: number): string {
    return formatWhere({ file: this.#file, journal: this.#journal, offset, line })
  }
}

function hex(b: number | undefined): string {
  return (b ?? 0).toString(16).padStart(2, '0')
}
