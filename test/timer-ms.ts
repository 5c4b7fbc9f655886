import t from 'tap'
import { ListenerChain } from '../lib/listeners/listener-chain.js'
import { ListenerWritable } from '../lib/listeners/listener-writable.js'
import type { Listener } from '../lib/listeners/listener.js'
import { DEFAULT_RECONNECT, retrySettings } from '../lib/retry.js'
import { JetStreamJournalSource } from '../lib/source/jetstream/jetstream-journal-source.js'
import { RotatingJournalSource } from '../lib/source/rotating-journal-source.js'
import { checkTimerMs, MAX_TIMER_MS } from '../lib/timer-ms.js'

// Node fires a timer longer than 2^31-1 ms after 1 ms (TimeoutOverflowWarning):
// the library's entry points refuse such an option with a RangeError instead.
const tooLong = [MAX_TIMER_MS + 1, 3e9, Number.POSITIVE_INFINITY, Number.NaN, -1]

t.test('checkTimerMs', async (t) => {
  t.doesNotThrow(() => checkTimerMs('x', undefined))
  t.doesNotThrow(() => checkTimerMs('x', 0))
  t.doesNotThrow(() => checkTimerMs('x', MAX_TIMER_MS))
  t.throws(() => checkTimerMs('x', 0, 1), RangeError)
  t.throws(() => checkTimerMs('x', '5'), RangeError)
  t.throws(() => checkTimerMs('quietMs', 3e9), {
    name: 'RangeError',
    message: 'quietMs must be a number of milliseconds from 0 to 2147483647 ms (about 24.8 days, the longest timer Node.js can set), got 3000000000',
  })
})

t.test('RotatingJournalSource refuses a time option past 2^31-1 ms', async (t) => {
  const root = t.testdir()
  for (const key of ['quietMs', 'pollMs', 'saveIntervalMs', 'graceMs'] as const) {
    for (const v of tooLong)
      t.throws(() => new RotatingJournalSource({ root, from: 1, [key]: v }), { name: 'RangeError', message: new RegExp(`^${key} `) }, `${key} ${v}`)
    new RotatingJournalSource({ root, from: 1, [key]: MAX_TIMER_MS }).destroy()
  }
  for (const key of ['pollMs', 'stableMs'] as const) {
    t.throws(() => new RotatingJournalSource({ root, from: 1, gzipRetry: { [key]: 3e9 } }), { name: 'RangeError', message: new RegExp(`^gzipRetry\\.${key} `) })
  }
})

t.test('JetStreamJournalSource refuses a time option past 2^31-1 ms', async (t) => {
  const base = { servers: 'nats://127.0.0.1:1', stream: 'S' }
  t.throws(() => new JetStreamJournalSource({ ...base, quietMs: 3e9 }), { name: 'RangeError', message: /^quietMs / })
  t.throws(() => new JetStreamJournalSource({ ...base, ackWaitMs: 3e9 }), { name: 'RangeError', message: /^ackWaitMs / })
  t.throws(() => new JetStreamJournalSource({ ...base, skipProgressMs: -1 }), { name: 'RangeError', message: /^skipProgressMs / })
  t.throws(() => new JetStreamJournalSource({ ...base, retry: { maxTimeout: 3e9 } }), { name: 'RangeError', message: /^retry\.maxTimeout / })
  new JetStreamJournalSource({ ...base, quietMs: MAX_TIMER_MS, ackWaitMs: MAX_TIMER_MS, skipProgressMs: MAX_TIMER_MS }).destroy()
})

t.test('ListenerChain, ListenerWritable and retrySettings refuse a delay past 2^31-1 ms', async (t) => {
  const listener: Listener = { name: 'l', isHandled: () => true, listen: () => {}, noData: () => {}, close: () => {} }
  t.throws(() => new ListenerChain({ listeners: [listener], commitIntervalMs: 3e9 }), { name: 'RangeError', message: /^commitIntervalMs / })
  t.throws(() => new ListenerChain({ listeners: [listener], quietMs: 3e9 }), { name: 'RangeError', message: /^quietMs / })
  t.throws(() => new ListenerChain({ listeners: [listener], retry: { minTimeout: 3e9 } }), { name: 'RangeError', message: /^retry\.minTimeout / })
  t.throws(() => new ListenerWritable(listener, { retry: { maxTimeout: 3e9 } }), { name: 'RangeError', message: /^retry\.maxTimeout / })
  t.throws(() => retrySettings({ maxTimeout: MAX_TIMER_MS + 1 }), RangeError)
  t.same(retrySettings({ maxTimeout: MAX_TIMER_MS }).maxTimeout, MAX_TIMER_MS)
})

t.test("retrySettings refuses a minTimeout above the maxTimeout given with it; one given against the other's default wins", async (t) => {
  t.throws(() => retrySettings({ minTimeout: 5000, maxTimeout: 100 }), {
    name: 'RangeError',
    message: 'retry.minTimeout must not be above maxTimeout (5000 > 100)',
  })
  const listener: Listener = { name: 'l', isHandled: () => true, listen: () => {}, noData: () => {}, close: () => {} }
  t.throws(() => new ListenerWritable(listener, { retry: { minTimeout: 2, maxTimeout: 1 } }), RangeError)
  // A lone maxTimeout below the default minTimeout (1 s): retries within it, as p-retry would wait.
  t.same(retrySettings({ maxTimeout: 500 }), { retries: 8, minTimeout: 500, maxTimeout: 500, factor: 2, randomize: true })
  t.same(retrySettings({ minTimeout: 200, maxTimeout: 200 }).minTimeout, 200)
  // A lone minTimeout above the default maxTimeout (60 s, 30 s for reconnects): the value given wins, not the default.
  t.same(retrySettings({ minTimeout: 120_000 }), { retries: 8, minTimeout: 120_000, maxTimeout: 120_000, factor: 2, randomize: true })
  t.match(retrySettings({ minTimeout: 40_000 }, DEFAULT_RECONNECT), { minTimeout: 40_000, maxTimeout: 40_000 })
})
