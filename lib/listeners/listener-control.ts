import type { JournalPosition } from '../position.js'

/** A control item travelling in order with the entries: run `sync` or `noData` between two entries. */
export class ListenerControl {
  readonly kind: 'sync' | 'noData'
  readonly position: JournalPosition | null
  readonly hadData: boolean
  readonly done: Promise<void>
  resolve!: () => void
  reject!: (err: Error) => void

  constructor(kind: 'sync' | 'noData', position: JournalPosition | null, hadData: boolean) {
    this.kind = kind
    this.position = position
    this.hadData = hadData
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    // A destroyed stream rejects pending controls; nobody may be waiting.
    this.done.catch(() => {})
  }
}
