import { ErrorCodes, LogdaemonError } from '../errors.js'

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

export interface FramerOptions {
  /** Absolute offset of the first byte pushed (resuming mid-file). Default 0. */
  offset?: number
  /** Line number of the first byte pushed. Default 1. */
  line?: number
  /** Largest record, in bytes. Default {@link DEFAULT_MAX_ENTRY_BYTES}. */
  maxEntryBytes?: number
  /** Skip oversize records (counted) instead of failing with ERR_ENTRY_TOO_LARGE. */
  skipOversize?: boolean
  /** Skip malformed input to the next line (counted) instead of failing with ERR_JOURNAL_MALFORMED. */
  skipMalformed?: boolean
  /** Journal number and file, only to say where errors happen. */
  journal?: number | null
  file?: string | null
}

/** Called for each whole record: its bytes, first offset and first line. */
export type RecordSink = (raw: Buffer, offset: number, line: number, lineCount: number) => void

/** What the framer skipped, when told to skip. */
export interface SkipReport {
  code: typeof ErrorCodes.JOURNAL_MALFORMED | typeof ErrorCodes.ENTRY_TOO_LARGE
  offset: number
  line: number
  reason: string
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
  /** The last byte seen (for the "opening `@` follows a space" check across chunks). */
  #prev = LF
  /** Dropping bytes up to the end of an oversize record. */
  #discarding = false
  /** Skipping malformed bytes up to the next LF. */
  #resync = false
  /** A skip region is open: further malformed lines join it instead of counting anew. */
  #recovering = false

  /** Records skipped as malformed (each run of bad lines counts once). */
  malformedSkipped = 0
  /** Records skipped as oversize. */
  oversizeSkipped = 0
  /** Bytes dropped by skipping. */
  bytesSkipped = 0
  /** Called for each skip, when skipping is on. */
  onSkip: ((report: SkipReport) => void) | undefined

  constructor(options: FramerOptions = {}) {
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
    /** Start of the current record within buf (0 when it began in an earlier chunk). */
    let chunkStart = 0
    /** Cached position of the next LF at or after i, or -1 for none in buf. */
    let nl = -2
    let line = this.#line

    while (i < n) {
      if (this.#resync) {
        const k = buf.indexOf(LF, i)
        const stop = k < 0 ? n : k + 1
        this.bytesSkipped += stop - i
        if (k >= 0) line++
        i = stop
        if (k >= 0) {
          this.#resync = false
          this.#atStart = true
          this.#prev = LF
        }
        continue
      }

      if (this.#atStart) {
        if (buf[i] !== AT) {
          this.#line = line
          this.#malformed(base + i, line, 'a record must start with @op@')
          // skipping: #resync is set; the bad byte is dropped by the resync scan
          continue
        }
        this.#atStart = false
        this.#inQuote = true
        this.#recOffset = base + i
        this.#recLine = line
        chunkStart = i
        i++
        continue
      }

      if (this.#afterClose) {
        const b = buf[i]
        this.#afterClose = false
        if (b === AT) {
          // `@@` inside a quoted value: a literal `@`, the value goes on.
          this.#inQuote = true
          i++
          continue
        }
        if (b !== SP && b !== LF && b !== CR) {
          this.#line = line
          this.#malformedInRecord(i - chunkStart, base + i, line, `byte 0x${hex(b)} after a closing @ (expected a space or the end of the line)`)
          continue
        }
      }

      if (nl !== -1 && nl < i) nl = buf.indexOf(LF, i)

      if (this.#inQuote) {
        const at = buf.indexOf(AT, i)
        const stop = at < 0 ? n : at
        // LFs inside the quoted value are lines of the record.
        while (nl >= 0 && nl < stop) {
          line++
          nl = buf.indexOf(LF, nl + 1)
        }
        if (at < 0) {
          i = n
          break
        }
        this.#inQuote = false
        this.#afterClose = true
        i = at + 1
        continue
      }

      // Outside a quote: the record ends at the next LF unless a quote opens first.
      const at = buf.indexOf(AT, i)
      if (nl >= 0 && (at < 0 || nl < at)) {
        line++
        i = nl + 1
        const size = this.#partsLength + (i - chunkStart)
        if (this.#discarding) {
          this.bytesSkipped += i - chunkStart
          this.#endDiscard()
        } else if (size > this.#max) {
          this.#line = line
          this.#oversize(size)
          this.bytesSkipped += i - chunkStart
          this.#endDiscard()
        } else {
          const tail = buf.subarray(chunkStart, i)
          const raw = this.#parts.length === 0 ? tail : Buffer.concat([...this.#parts, tail], size)
          this.#parts = []
          this.#partsLength = 0
          this.#recovering = false
          sink(raw, this.#recOffset, this.#recLine, line - this.#recLine)
        }
        this.#atStart = true
        this.#prev = LF
        continue
      }
      if (at < 0) {
        i = n
        break
      }
      const before = at > 0 ? buf[at - 1] : this.#prev
      if (before !== SP) {
        this.#line = line
        this.#malformedInRecord(i - chunkStart, base + at, line, 'a quoted value must follow a space')
        continue
      }
      this.#inQuote = true
      i = at + 1
    }

    // Keep the unfinished record's bytes of this chunk.
    if (!this.#atStart && !this.#resync) {
      const piece = buf.subarray(chunkStart, n)
      if (this.#discarding) {
        this.bytesSkipped += piece.length
      } else {
        this.#parts.push(piece)
        this.#partsLength += piece.length
        if (this.#partsLength > this.#max) {
          this.#line = line
          this.#oversize(this.#partsLength)
          this.bytesSkipped += this.#partsLength
          this.#parts = []
          this.#partsLength = 0
          this.#discarding = true
        }
      }
    }
    if (n > 0) this.#prev = buf[n - 1] as number
    this.#offset = base + n
    this.#line = line
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
      `${this.#where(this.#recOffset, this.#recLine)}: the input ends inside a record ` +
        `(${this.#offset - this.#recOffset} bytes without a final line end)`,
      { file: this.#file, journal: this.#journal, offset: this.#recOffset, line: this.#recLine },
    )
  }

  #endDiscard(): void {
    this.#discarding = false
    this.#parts = []
    this.#partsLength = 0
  }

  #oversize(size: number): void {
    const reason = `record of more than ${this.#max} bytes (maxEntryBytes); ${size} bytes so far`
    if (!this.#skipOversize) {
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
    this.#malformed(at, line, reason, this.#recOffset, this.#recLine)
    this.bytesSkipped += dropped
  }

  #malformed(at: number, line: number, reason: string, recOffset = at, recLine = line): void {
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
    if (!this.#recovering) {
      this.malformedSkipped++
      this.onSkip?.({ code: ErrorCodes.JOURNAL_MALFORMED, offset: recOffset, line: recLine, reason })
    }
    this.#recovering = true
    this.#atStart = false
    this.#resync = true
  }

  #where(offset: number, line: number): string {
    const parts = [] as string[]
    if (this.#file != null) parts.push(this.#file)
    const at = [] as string[]
    if (this.#journal != null) at.push(`journal ${this.#journal}`)
    at.push(`offset ${offset}`, `line ${line}`)
    return parts.length ? `${parts[0]}: ${at.join(', ')}` : at.join(', ')
  }
}

function hex(b: number | undefined): string {
  return (b ?? 0).toString(16).padStart(2, '0')
}
