/** Packs record texts into large Buffers for the checkpoint generator. */

/** Extra room in a batch Buffer, so that most records never straddle a flush. */
const BATCH_SLACK = 64 * 1024

/** Encodes record texts into large Buffers; finished Buffers wait in `ready`. */
export class BatchWriter {
  readonly ready: Buffer[] = []
  bytes = 0
  records = 0
  readonly #size: number
  #buf: Buffer
  #used = 0

  constructor(batchBytes: number) {
    this.#size = batchBytes
    this.#buf = Buffer.allocUnsafe(batchBytes > 0 ? batchBytes + Math.min(batchBytes, BATCH_SLACK) : 0)
  }

  /** Appends one record; returns its exact size in bytes. */
  write(text: string): number {
    this.records++
    if (this.#size === 0) {
      const one = Buffer.from(text, 'utf8')
      this.ready.push(one)
      this.bytes += one.length
      return one.length
    }
    const worst = text.length * 3 // UTF-8 bytes per UTF-16 unit, at most
    if (this.#used + worst > this.#buf.length) {
      this.flush()
      if (worst > this.#buf.length) this.#buf = Buffer.allocUnsafe(worst)
    }
    const n = this.#buf.write(text, this.#used, 'utf8')
    this.#used += n
    this.bytes += n
    if (this.#used >= this.#size) this.flush()
    return n
  }

  flush(): void {
    if (this.#used === 0) return
    this.ready.push(this.#buf.subarray(0, this.#used))
    this.#buf = Buffer.allocUnsafe(this.#size + Math.min(this.#size, BATCH_SLACK))
    this.#used = 0
  }
}
