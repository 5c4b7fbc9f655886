import type { JournalEntry } from '../journal/entry.js'
import type { Listener, ListenerContext } from '../listeners/listener.js'
import { formatPosition, type JournalPosition } from '../position.js'

/** A listener call that has not settled yet. */
export interface PendingCall {
  readonly listener: string
  /** `open`, `listen`, `noData`, `sync` or `close`. */
  readonly call: string
  /** The entry's position (`listen`) or the sync position, as `N/offset`; null for the others. */
  readonly at: string | null
  /** When it was made (epoch ms). */
  readonly since: number
}

interface Slot {
  call: string
  at: string | null
  since: number
  seq: number
}

const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function'

/**
 * Knows which listener calls are in flight, so that a stop that times out
 * can say what it waited on. The daemon calls each listener one call at a
 * time, so one slot per listener is enough: memory is bounded by the
 * number of listeners. Synchronous calls are not recorded (they cannot
 * hang a stop without hanging the whole process).
 */
export class CallWatch {
  readonly #slots = new Map<string, Slot>()
  #seq = 0

  /** A listener that forwards to `listener` and records its pending asynchronous calls. */
  wrap(listener: Listener): Listener {
    const l = listener
    const track = <T>(call: string, at: string | null, result: T): T => {
      if (!isThenable(result)) return result
      const seq = ++this.#seq
      this.#slots.set(l.name, { call, at, since: Date.now(), seq })
      const clear = (): void => {
        if (this.#slots.get(l.name)?.seq === seq) this.#slots.delete(l.name)
      }
      result.then(clear, clear)
      return result
    }
    const wrapped: Listener = {
      name: l.name,
      isHandled: (entry: JournalEntry) => l.isHandled(entry),
      listen: (entry: JournalEntry) => track('listen', positionText(entry), l.listen(entry)),
      noData: (hadData: boolean) => track('noData', null, l.noData(hadData)),
      close: () => track('close', null, l.close()),
    }
    if (l.open) wrapped.open = (context: ListenerContext) => track('open', null, l.open!(context))
    if (l.sync) wrapped.sync = (position: JournalPosition) => track('sync', formatPosition(position), l.sync!(position))
    if (l.acknowledged) wrapped.acknowledged = () => l.acknowledged!()
    return wrapped
  }

  /** The calls in flight now, oldest first. */
  pending(): PendingCall[] {
    return [...this.#slots.entries()].map(([listener, s]) => ({ listener, call: s.call, at: s.at, since: s.since })).sort((a, b) => a.since - b.since)
  }
}

function positionText(entry: JournalEntry): string | null {
  const p = entry.position
  return p.journal === null ? null : `${p.journal}/${p.offset}`
}

/** One line: `listener "x" in listen of the entry at 3/1234 for 12 s, …`, or `nothing (…)`. */
export function describePending(calls: readonly PendingCall[], now = Date.now()): string {
  if (calls.length === 0) return 'no listener call was pending (the source or the state file was slow to close)'
  return calls
    .map(
      (c) =>
        `listener "${c.listener}" in ${c.call}${c.at ? ` (${c.call === 'sync' ? 'to' : 'entry at'} ${c.at})` : ''} for ${Math.round((now - c.since) / 1000)} s`,
    )
    .join(', ')
}
