import t from 'tap'
import { CallWatch, describePending } from '../../lib/daemon/call-watch.js'
import { JournalEntry } from '../../lib/journal/entry.js'
import type { Listener } from '../../lib/listeners/listener.js'

t.test('records the pending asynchronous call of each listener; sync calls stay sync', async (t) => {
  const watch = new CallWatch()
  let release!: () => void
  const calls: string[] = []
  const inner: Listener = {
    name: 'slow',
    isHandled: () => true,
    listen(e) {
      calls.push(`listen ${e.position.offset}`)
      if (e.position.offset === 0) return undefined
      return new Promise<void>((r) => (release = r))
    },
    noData() {},
    sync() {
      return Promise.resolve()
    },
    close() {},
    acknowledged: () => '1/5',
  }
  const w = watch.wrap(inner)
  t.equal(w.name, 'slow')
  t.equal(w.open, undefined, 'no open on the inner listener: none on the wrapper')
  t.equal(w.acknowledged?.(), '1/5')
  const e0 = new JournalEntry(Buffer.from('@ex@ 1 1 \n'), { journal: 1, offset: 0, end: 10, line: 1 })
  const e1 = new JournalEntry(Buffer.from('@ex@ 1 1 \n'), { journal: 1, offset: 10, end: 20, line: 2 })
  t.equal(w.listen(e0), undefined, 'a synchronous listen stays synchronous')
  t.same(watch.pending(), [])
  const p = w.listen(e1) as Promise<void>
  t.match(watch.pending(), [{ listener: 'slow', call: 'listen', at: '1/10' }])
  t.match(describePending(watch.pending()), /^listener "slow" in listen \(entry at 1\/10\) for \d+ s$/)
  release()
  await p
  t.same(watch.pending(), [], 'settled: no longer pending')
  await w.sync!({ journal: 1, offset: 20 })
  t.same(calls, ['listen 0', 'listen 10'])
  t.match(describePending([]), /no listener call was pending/)
})
