import { type FileHandle, open, stat } from 'node:fs/promises'
import type { JournalEntry } from '../journal/entry.js'
import { ErrorCodes, LogdaemonError } from '../errors.js'

/**
 * Whether a checkpoint is whole, from its ends. p4d starts a checkpoint
 * with a header note (`@nx@ 0`; `@nx@ 2` for a `-jd` dump) and ends it with
 * the matching trailer (`@nx@ 1`, `@nx@ 3`) and an `@ex@`
 * (docs/journal-format.md, section 5). A file that starts with a header
 * and lacks the trailer was cut, or is still being written: loading it
 * would make a replica with the rest of its rows missing and no error. A
 * file without a header is not from p4d (a hand-made one, a filtered
 * copy): only its being empty can be told.
 */

/** The trailer each header calls for. */
const TRAILER_OF = new Map([
  [0x30, 0x31],
  [0x32, 0x33],
])

/** Bytes read from the end of a plain file to find the trailer: the trailer note and the `@ex@` after it are ~100 bytes. */
const TAIL_BYTES = 4096

/** The type digit of an `@nx@ T ` note at `at` in `b` (its char code), or -1. */
function noteType(b: Buffer, at: number, end = b.length): number {
  if (end - at < 7 || b[at] !== 0x40 || b[at + 1] !== 0x6e || b[at + 2] !== 0x78 || b[at + 3] !== 0x40 || b[at + 4] !== 0x20 || b[at + 6] !== 0x20) return -1
  return b[at + 5] as number
}

/** The type of the trailer note that ends `tail` (the last bytes of a file; `whole` when they are all of it), or -1. */
function trailerAtEnd(tail: Buffer, whole: boolean): number {
  // The last line: an `@ex@` after the trailer, or the trailer itself.
  let end = tail.length
  if (end === 0 || tail[end - 1] !== 0x0a) return -1
  let start = tail.lastIndexOf(0x0a, end - 2) + 1
  if (start === 0 && !whole) return -1
  if (tail.subarray(start, start + 5).toString('latin1') === '@ex@ ') {
    end = start
    start = tail.lastIndexOf(0x0a, end - 2) + 1
    if (end === 0 || (start === 0 && !whole)) return -1
  }
  return noteType(tail, start, end)
}

function incomplete(file: string, journal: number | null, offset: number, why: string): LogdaemonError {
  return new LogdaemonError(ErrorCodes.CHECKPOINT_INCOMPLETE, `${file}: ${why}`, { file, journal, offset })
}

const WITHOUT_TRAILER = "without p4d's trailer (an `@nx@ 1` note, then `@ex@`): it is cut, or still being written; load it once p4d has finished it"

/**
 * A plain checkpoint's size now, checked to be whole from its first and
 * last bytes (see the module comment); null for what is checked as it is
 * read instead (gzip, a pipe): see {@link CheckpointEnds}. Throws
 * ERR_CHECKPOINT_INCOMPLETE.
 */
export async function wholeCheckpointSize(file: string, journal: number | null): Promise<number | null> {
  // Looked at before it is opened: opening a named pipe and closing it again would cut off its writer.
  if (!(await stat(file)).isFile()) return null
  const handle = await open(file, 'r')
  try {
    const found = await handle.stat()
    return found.isFile() ? await checkWhole(handle, found.size, file, journal) : null
  } finally {
    await handle.close()
  }
}

/**
 * The check of {@link wholeCheckpointSize} on the first `size` bytes of a
 * plain file open as `handle`: `size`, or null for gzip. The loader runs it
 * again on the descriptor it reads (a file replaced or cut since the first
 * check is not loaded as it was checked).
 */
export async function checkWhole(handle: FileHandle, size: number, file: string, journal: number | null): Promise<number | null> {
  if (size === 0) throw incomplete(file, journal, 0, 'the checkpoint is empty: it holds no record')
  const head = Buffer.alloc(Math.min(size, 8))
  await handle.read(head, 0, head.length, 0)
  if (head[0] === 0x1f && head[1] === 0x8b) return null
  const trailer = TRAILER_OF.get(noteType(head, 0))
  if (trailer === undefined) return size
  const tail = Buffer.alloc(Math.min(size, TAIL_BYTES))
  const { bytesRead } = await handle.read(tail, 0, tail.length, size - tail.length)
  if (trailerAtEnd(tail.subarray(0, bytesRead), tail.length === size) !== trailer) {
    throw incomplete(file, journal, size, `the checkpoint starts with p4d's header and ends at byte ${size} ${WITHOUT_TRAILER}`)
  }
  return size
}

/** The same check on the entries of a checkpoint as they are read (gzip, a pipe, and the bytes a plain one's loader read): `see` each, then `check` at the end. */
export class CheckpointEnds {
  #records = 0
  /** The trailer the header calls for, or -1 without a header. */
  #trailer = -1
  /** Records since the last trailer note (-1: none seen). */
  #sinceTrailer = -1
  #lastIsEx = false
  #end = 0

  see(entry: JournalEntry): void {
    const op = entry.op
    this.#end = entry.position.end
    if (this.#sinceTrailer >= 0) this.#sinceTrailer++
    this.#lastIsEx = op === 'ex'
    if (op === 'nx') {
      const type = noteType(entry.raw, 0)
      if (this.#records === 0) this.#trailer = TRAILER_OF.get(type) ?? -1
      else if (type === this.#trailer) this.#sinceTrailer = 0
    }
    this.#records++
  }

  /** Throws ERR_CHECKPOINT_INCOMPLETE when the records seen do not make a whole checkpoint. */
  check(file: string, journal: number | null): void {
    if (this.#records === 0) throw incomplete(file, journal, 0, 'the checkpoint holds no record')
    if (this.#trailer < 0) return
    if (this.#sinceTrailer === 0 || (this.#sinceTrailer === 1 && this.#lastIsEx)) return
    throw incomplete(file, journal, this.#end, `the checkpoint starts with p4d's header and its records end at byte ${this.#end} ${WITHOUT_TRAILER}`)
  }
}
