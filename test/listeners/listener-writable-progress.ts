import t from 'tap'
import { finished } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { ListenerWritable, type ListenerObserver } from '../../lib/listeners/listener-writable.js'
import { BaseListener } from '../../lib/listeners/listener.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { transactions } from '../helpers/entries.js'

const fast = { retries: 3, minTimeout: 1, maxTimeout: 2, randomize: false }

/** An observer with `listenerProgress` that records every report. */
function progressObserver(): ListenerObserver & { reports: [number, number][]; events: string[]; handled: number; skipped: number } {
  const o = {
    reports: [] as [number, number][],
    events: [] as string[],
    handled: 0,
    skipped: 0,
    listenerProgress(_name: string, handled: number, skipped: number): void {
      o.reports.push([handled, skipped])
      o.events.push(`progress ${handled} ${skipped}`)
      o.handled += handled
      o.skipped += skipped
    },
    listenerHandled(): void {
      o.events.push('handled (per entry)')
    },
    listenerSkipped(): void {
      o.events.push('skipped (per entry)')
    },
    listenerRetry(): void {
      o.events.push('retry')
    },
  }
  return o
}

t.test('a fast listener: one progress report per turn of the event loop, not one per entry; all told by the end', async (t) => {
  const { entries } = transactions(300) // 600 entries, @ex@ skipped
  const o = progressObserver()
  const l = new (class extends BaseListener {
    override isHandled(e: JournalEntry): boolean {
      return e.op !== 'ex'
    }
    async listen(): Promise<void> {}
  })('fast')
  const w = new ListenerWritable(l, { observer: o, highWaterMark: 2 })
  w.write(entries.slice(0, 300))
  w.write(entries.slice(300))
  w.end()
  await finished(w)
  t.equal(w.handled, 300)
  t.equal(w.skipped, 300)
  t.equal(o.handled, 300, 'every handled entry reported')
  t.equal(o.skipped, 300, 'every skipped entry reported')
  t.ok(o.reports.length <= 4, `few reports (${o.reports.length}) for 600 entries`)
  t.notOk(
    o.events.some((e) => e.includes('per entry')),
    'no call per entry',
  )
})

t.test('a slow listener: each entry is reported a turn after it finished, while the next one runs', async (t) => {
  const { entries } = transactions(3)
  const o = progressObserver()
  const seenBefore: number[] = []
  const l = new (class extends BaseListener {
    async listen(): Promise<void> {
      await sleep(2)
      seenBefore.push(o.handled)
    }
  })('slow')
  const w = new ListenerWritable(l, { observer: o })
  w.write(entries)
  w.end()
  await finished(w)
  t.same(seenBefore, [0, 1, 2, 3, 4, 5], 'while an entry ran, the status knew of every one finished before it')
  t.equal(o.handled, 6)
})

t.test('entries handled before a retry are reported before it (the retry report stays the newest)', async (t) => {
  const { entries } = transactions(2)
  const o = progressObserver()
  let failures = 1
  const l = new (class extends BaseListener {
    listen(e: JournalEntry): void {
      if (e === entries[2] && failures-- > 0) throw new Error('busy')
    }
  })('flaky')
  const w = new ListenerWritable(l, { observer: o, retry: fast })
  w.write(entries)
  w.end()
  await finished(w)
  t.same(o.events.slice(0, 2), ['progress 2 0', 'retry'])
  t.equal(o.handled, 4)
})

t.test('a listenerProgress that throws is logged, not fatal; a destroy reports what was done', async (t) => {
  const { entries } = transactions(2)
  const logged: unknown[] = []
  const logger = { debug() {}, info() {}, warn() {}, error: (o: unknown) => void logged.push(o) }
  const w = new ListenerWritable(
    new (class extends BaseListener {
      listen(): void {}
    })('sync'),
    {
      logger,
      observer: {
        listenerProgress() {
          throw new Error('observer bug')
        },
      },
    },
  )
  w.write(entries)
  w.end()
  await finished(w)
  t.equal(logged.length, 1)
  t.equal(w.handled, 4)

  const o = progressObserver()
  const d = new ListenerWritable(
    new (class extends BaseListener {
      listen(): void {}
    })('sync'),
    { observer: o },
  )
  d.write(entries)
  await new Promise((r) => process.nextTick(r))
  d.destroy()
  await finished(d).catch(() => {})
  t.equal(o.handled, d.handled, 'reported on destroy, before the turn ends')
  t.ok(d.handled > 0)
})
