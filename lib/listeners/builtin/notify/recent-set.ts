/** A Set that keeps only its `limit` most recently added members: the oldest is forgotten first. */
export class RecentSet<T> {
  readonly #members = new Set<T>()
  readonly #limit: number

  constructor(limit: number) {
    this.#limit = limit
  }

  get size(): number {
    return this.#members.size
  }

  has(value: T): boolean {
    return this.#members.has(value)
  }

  /** Adds `value` as the newest member (moving it up if it was there). */
  add(value: T): void {
    this.#members.delete(value)
    this.#members.add(value)
    if (this.#members.size > this.#limit) {
      const [oldest] = this.#members
      this.#members.delete(oldest as T)
    }
  }
}
