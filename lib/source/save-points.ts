import { STATE_TAIL_BYTES, type StateFileIdentity } from '../files/state-file.js'
import type { JournalEntry } from '../journal/entry.js'
import { lastBytes } from './archive-reader.js'
import { countLines } from './start-point.js'
import type { SavePoint } from './state-keeper.js'

const EMPTY = Buffer.alloc(0)

/**
 * Makes save points with the fingerprint the state file needs: the bytes
 * just before a position (STATE_TAIL_BYTES). It knows the chunk being framed
 * and the bytes of the journal before that chunk, so a point costs one
 * small copy, and nothing is copied for the entries in between.
 */
export class SavePoints {
  #chunk: Buffer = EMPTY
  #chunkStart = 0
  /** The last bytes of the journal before `#chunk`. */
  #history: Buffer = EMPTY

  /** A journal starts (or resumes) at `chunkStart`; `before` are the bytes just before it. */
  reset(before: Buffer, chunkStart: number): void {
    this.#history = before
    this.#chunk = EMPTY
    this.#chunkStart = chunkStart
  }

  /** `chunk`, at journal offset `start`, is about to be framed. */
  chunk(chunk: Buffer, start: number): void {
    this.#chunk = chunk
    this.#chunkStart = start
  }

  /** The chunk has been framed: its bytes become history. */
  chunkDone(): void {
    this.#history = lastBytes(this.#history, this.#chunk, STATE_TAIL_BYTES)
    this.#chunkStart += this.#chunk.length
    this.#chunk = EMPTY
  }

  /** A consistency point at offset `end` (inside or at the end of the current chunk) of `journal`, where line `line` starts. */
  at(journal: number, end: number, line: number, file: StateFileIdentity | null): SavePoint {
    const inChunk = end - this.#chunkStart
    const chunk = this.#chunk
    const history = this.#history
    const tail =
      inChunk >= STATE_TAIL_BYTES
        ? Buffer.from(chunk.subarray(inChunk - STATE_TAIL_BYTES, inChunk))
        : Buffer.concat([history.subarray(Math.max(0, history.length - (STATE_TAIL_BYTES - inChunk))), chunk.subarray(0, inChunk)])
    return { journal, offset: end, line, tail, file, consistent: true }
  }
}

/** A point at an entry's end whose fingerprint is the record's own last bytes (`consistentOnly: false`). */
export function savePointOf(entry: JournalEntry, journal: number, file: StateFileIdentity | null): SavePoint {
  const raw = entry.raw
  const tail = Buffer.from(raw.subarray(Math.max(0, raw.length - STATE_TAIL_BYTES)))
  return { journal, offset: entry.position.end, line: entry.position.line + countLines(raw), tail, file }
}
