import { comparePositions, type JournalPosition } from '../../../position.js'

/** Bytes of one journal from `offset`, sent (or to be sent) and not yet acknowledged. */
export interface Chunk {
  readonly journal: number
  offset: number
  data: Buffer
  /** What it was last written to (a channel), or null while unsent. */
  sentOn: object | null
}

/** Bytes of the current journal taken from entries and not yet sent. */
interface Pending {
  readonly journal: number
  readonly offset: number
  parts: Buffer[]
  bytes: number
  /** Bytes up to the end of the last complete transaction. */
  completeBytes: number
}

/**
 * What hot-backup holds in memory: the pending bytes of the journal being
 * read (a transaction in progress and complete ones not yet sent), then the
 * chunks sent and not yet acknowledged, oldest first. Pure bookkeeping, no
 * I/O: hot-backup decides when to flush and where chunks go.
 */
export class HeldBytes {
  #pending: Pending | null = null
  #chunks: Chunk[] = []
  #chunkBytes = 0

  /** All bytes held. */
  get bytes(): number {
    return this.#chunkBytes + (this.#pending?.bytes ?? 0)
  }

  /** Bytes in chunks (sent, or taken off pending to be sent). */
  get chunkBytes(): number {
    return this.#chunkBytes
  }

  get chunks(): readonly Chunk[] {
    return this.#chunks
  }

  get pendingBytes(): number {
    return this.#pending?.bytes ?? 0
  }

  /** Pending bytes that end a complete transaction. */
  get completeBytes(): number {
    return this.#pending?.completeBytes ?? 0
  }

  /** Where the pending bytes start, or null. */
  get pendingStart(): JournalPosition | null {
    const p = this.#pending
    return p === null ? null : { journal: p.journal, offset: p.offset }
  }

  /**
   * Appends `bytes` of `journal` starting at `offset`; `complete` when they
   * end a transaction. Flush a previous journal's bytes first: the offsets
   * of pending bytes are contiguous in one journal.
   */
  add(journal: number, offset: number, bytes: Buffer, complete: boolean): void {
    const p = this.#pending
    if (p !== null && (p.journal !== journal || p.offset + p.bytes !== offset)) {
      // A bug in the caller, not an operator's problem: no error code.
      throw new Error(`HeldBytes: ${journal}/${offset} does not follow ${p.journal}/${p.offset + p.bytes}`)
    }
    this.#pending ??= { journal, offset, parts: [], bytes: 0, completeBytes: 0 }
    const q = this.#pending
    q.parts.push(bytes)
    q.bytes += bytes.length
    if (complete) q.completeBytes = q.bytes
  }

  /** Moves the first `bytes` (default: all) pending bytes to a new chunk, or returns null when none. */
  flush(bytes?: number): Chunk | null {
    const p = this.#pending
    if (p === null) return null
    const n = Math.min(bytes ?? p.bytes, p.bytes)
    const all = Buffer.concat(p.parts, p.bytes)
    this.#pending =
      n < p.bytes
        ? { journal: p.journal, offset: p.offset + n, parts: [all.subarray(n)], bytes: p.bytes - n, completeBytes: Math.max(p.completeBytes - n, 0) }
        : null
    const chunk: Chunk = { journal: p.journal, offset: p.offset, data: all.subarray(0, n), sentOn: null }
    this.#chunks.push(chunk)
    this.#chunkBytes += n
    return chunk
  }

  /** The standby acknowledged `chunk`. */
  acknowledged(chunk: Chunk): void {
    const i = this.#chunks.indexOf(chunk)
    if (i < 0) return
    this.#chunks.splice(i, 1)
    this.#chunkBytes -= chunk.data.length
  }

  /**
   * The standby holds `size` bytes of `journal`: drops those bytes from the
   * chunks. Returns the offset of the first byte held for `journal` when the
   * standby lacks bytes before it (a gap), else null.
   */
  trim(journal: number, size: number): number | null {
    const mine = this.#chunks.filter((c) => c.journal === journal)
    const first = mine[0]
    if (first !== undefined && size < first.offset) return first.offset
    for (const c of mine) {
      const cut = Math.min(Math.max(size - c.offset, 0), c.data.length)
      if (cut === 0) continue
      c.data = c.data.subarray(cut)
      c.offset += cut
      this.#chunkBytes -= cut
    }
    this.#chunks = this.#chunks.filter((c) => c.data.length > 0)
    return null
  }

  /** Whether no byte before `position` is held. */
  clearBefore(position: JournalPosition): boolean {
    const p = this.pendingStart
    if (p !== null && comparePositions(p, position) < 0) return false
    return this.#chunks.every((c) => comparePositions({ journal: c.journal, offset: c.offset }, position) >= 0)
  }
}
