/** The output buffer's least size: one batch of a read chunk's JSON (128 KiB of records) fits with room. */
export const MIN_BUFFER = 1 << 20

/**
 * The largest JSON a record of `n` bytes can take: every byte escaped as
 * \u00XX (6 bytes), plus `prefix` (the line's start up to its first number)
 * and the other keys and numbers (under 256 bytes).
 */
export function worstCase(n: number, prefix: number): number {
  return n * 6 + prefix + 256
}

/**
 * The lines a byte writer (JsonLineWriter, RowLineWriter) has written and
 * not yet handed over: one Buffer, written at `o`, grown when `reserve`
 * asks for more room than is left.
 */
export class LineBuffer {
  out: Buffer = Buffer.allocUnsafe(MIN_BUFFER)
  /** Bytes written. */
  o = 0

  /** Makes room for `n` more bytes at `o`. */
  reserve(n: number): void {
    if (this.o + n <= this.out.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.o + n))
    this.out.copy(grown, 0, 0, this.o)
    this.out = grown
  }

  /** Adds an already formatted line. */
  addText(text: string): void {
    this.reserve(Buffer.byteLength(text))
    this.o += this.out.write(text, this.o)
  }

  /**
   * The lines written since the last take, or null, as a view of this
   * buffer: valid only until the next write, for a caller that copies it
   * at once. The buffer is kept (no new one per take, and so no garbage
   * ArrayBuffer per batch for the GC to find).
   */
  takeView(): Buffer | null {
    if (this.o === 0) return null
    const data = this.out.subarray(0, this.o)
    this.o = 0
    return data
  }

  /**
   * The lines written since the last take, or null. The Buffer is the
   * caller's: a new one is started, in `next` when given and as large as this one
   * (a buffer the caller is done with, so a worker reuses its output
   * buffers instead of allocating one per batch).
   */
  take(next?: Buffer): Buffer | null {
    if (this.o === 0) return null
    const data = this.out.subarray(0, this.o)
    // A given buffer that held this batch will most likely hold the next one; a new one gets a quarter more.
    this.out = next && next.length >= Math.max(MIN_BUFFER, this.o) ? next : Buffer.allocUnsafe(Math.max(MIN_BUFFER, this.o + (this.o >> 2)))
    this.o = 0
    return data
  }
}
