/**
 * noData comes after the entries read before the quiet, never before them:
 * not ahead of entries waiting in the chain's buffer for a slow listener,
 * nor of entries still in the stream piped into the chain. (A review found
 * both: notify's markerless mode takes noData(true) as a transaction's end,
 * and a change cut there lost its mail.)
 */
import t from 'tap'
import { once } from 'node:events'
import { PassThrough } from 'node:stream'
import { finished } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { ListenerChain } from '../../lib/listeners/listener-chain.js'
import { BaseListener } from '../../lib/listeners/listener.js'
import { transactions } from '../helpers/entries.js'

/** Logs listens and noData calls in order; each listen takes `ms`. */
class Slow extends BaseListener {
  calls: string[] = []
  constructor(readonly ms: number) {
    super('slow')
  }
  async listen(e: JournalEntry): Promise<void> {
    if (this.ms > 0) await sleep(this.ms)
    this.calls.push(`listen ${e.position.end}`)
  }
  override noData(hadData: boolean): void {
    this.calls.push(`noData(${hadData})`)
  }
}

function batchesOf(entries: JournalEntry[], size: number): JournalEntry[][] {
  const out: JournalEntry[][] = []
  for (let i = 0; i < entries.length; i += size) out.push(entries.slice(i, i + size))
  return out
}

/** The listens before and after the first noData(true). */
function split(calls: string[]): { before: number; after: number; at: number } {
  const at = calls.indexOf('noData(true)')
  const listens = (from: number, to: number) => calls.slice(from, to).filter((c) => c.startsWith('listen')).length
  return { at, before: listens(0, at < 0 ? calls.length : at), after: at < 0 ? 0 : listens(at + 1, calls.length) }
}

t.test('batch mode: quiet() while batches wait in the chain for a slow listener comes after all of them', async (t) => {
  const { entries } = transactions(20)
  const slow = new Slow(2)
  const chain = new ListenerChain({ listeners: [slow], batch: true, quietMs: 0, commitIntervalMs: 0 })
  for (const b of batchesOf(entries, 10)) chain.write(b)
  t.ok(chain.writableLength > 0, 'batches wait in the chain')
  let queued = false
  const quiet = chain.quiet().then(() => {
    queued = true
  })
  await sleep(5)
  t.notOk(queued, 'not applied while entries wait')
  await quiet
  chain.end()
  await finished(chain)
  const { at, before, after } = split(slow.calls)
  t.ok(at >= 0, 'noData(true) came')
  t.equal(before, entries.length, 'every entry written before the quiet was handled first')
  t.equal(after, 0)
})

for (const batch of [true, false]) {
  t.test(`${batch ? 'batch' : 'entry'} mode: quiet(through) goes right after the entry at \`through\`, before what was read after it`, async (t) => {
    const { entries } = transactions(12)
    const half = Math.floor(entries.length / 2)
    const through = entries[half - 1] as JournalEntry
    const slow = new Slow(1)
    const input = new PassThrough({ objectMode: true, highWaterMark: 2 })
    const chain = new ListenerChain({ listeners: [slow], batch, quietMs: 0, commitIntervalMs: 0, highWaterMark: 2 })
    input.pipe(chain)
    const first = entries.slice(0, half)
    const rest = entries.slice(half)
    if (batch) for (const b of batchesOf(first, 3)) input.write(b)
    else for (const e of first) input.write(e)
    const quiet = chain.quiet({ journal: through.position.journal as number, offset: through.position.end })
    if (batch) for (const b of batchesOf(rest, 3)) input.write(b)
    else for (const e of rest) input.write(e)
    await quiet
    input.end()
    await finished(chain)
    const { at, before, after } = split(slow.calls)
    t.equal(before, half, 'noData(true) after the entries up to `through`')
    t.equal(after, entries.length - half, 'and before the ones after it')
    t.equal(slow.calls[at - 1], `listen ${through.position.end}`)
  })
}

t.test('entries still in the stream piped into the chain come before a quiet() without a position', async (t) => {
  const { entries } = transactions(30)
  const slow = new Slow(1)
  const input = new PassThrough({ objectMode: true, highWaterMark: 64 })
  const chain = new ListenerChain({ listeners: [slow], batch: true, quietMs: 0, commitIntervalMs: 0 })
  input.pipe(chain)
  for (const b of batchesOf(entries, 5)) input.write(b)
  await sleep(2)
  t.ok(input.readableLength > 0, 'the input still holds batches')
  await chain.quiet()
  t.equal(split(slow.calls).before, entries.length, 'noData(true) after every entry the input held')
  input.end()
  await finished(chain)
})

t.test("the chain's own timer: a listener in a retry backoff with entries waiting is not a quiet journal", async (t) => {
  const { entries } = transactions(40)
  const calls: string[] = []
  let failed = false
  const listener = {
    name: 'busy',
    isHandled: () => true,
    listen(e: JournalEntry): Promise<void> | void {
      if (!failed && e === entries[10]) {
        failed = true
        return Promise.reject(new Error('peer busy'))
      }
      calls.push('listen')
    },
    noData: (hadData: boolean) => void calls.push(`noData(${hadData})`),
    close() {},
  }
  const chain = new ListenerChain({
    listeners: [{ listener, retry: { retries: 2, minTimeout: 300, maxTimeout: 300, randomize: false } }],
    batch: true,
    quietMs: 50,
    commitIntervalMs: 0,
  })
  for (const b of batchesOf(entries, 10)) chain.write(b)
  while (calls.filter((c) => c === 'listen').length < entries.length) await sleep(10)
  await once(chain, 'quiet')
  const at = calls.indexOf('noData(true)')
  t.ok(at >= 0, 'quiet once the listener is through')
  t.equal(calls.slice(0, at).filter((c) => c === 'listen').length, entries.length, 'not while entries waited behind the backoff')
  chain.end()
  await finished(chain)
})

t.test('a quiet that waits when the input ends comes before the last sync; one after the end does nothing', async (t) => {
  const { entries } = transactions(10)
  const slow = new Slow(2)
  const chain = new ListenerChain({ listeners: [slow], batch: true, quietMs: 0, commitIntervalMs: 0 })
  for (const b of batchesOf(entries, 5)) chain.write(b)
  const quiet = chain.quiet()
  chain.end()
  await quiet
  await finished(chain)
  t.same(split(slow.calls), { at: slow.calls.length - 1, before: entries.length, after: 0 })
  await chain.quiet()
  t.equal(slow.calls.filter((c) => c.startsWith('noData')).length, 1)
})

t.test('entry mode: entries written after a quiet applied in the middle of one write count as data for the next noData', async (t) => {
  const { entries } = transactions(200)
  const slow = new Slow(0)
  const chain = new ListenerChain({ listeners: [slow], batch: false, quietMs: 0, commitIntervalMs: 0 })
  // The listener's buffer fills (its highWaterMark), so the next entries wait in the chain and come as one write:
  // the quiet is due in the middle of it, and the entries after it in the same write go on at once.
  const fill = chain.writableHighWaterMark
  const all = entries.slice(0, fill + 6)
  t.equal(all.length, fill + 6)
  for (const e of all.slice(0, fill + 2)) chain.write(e)
  const first = chain.quiet({ journal: 1, offset: (all[fill + 1] as JournalEntry).position.end })
  for (const e of all.slice(fill + 2)) chain.write(e)
  await first
  while (slow.calls.filter((c) => c.startsWith('listen')).length < all.length) await sleep(5)
  await chain.quiet({ journal: 1, offset: (all.at(-1) as JournalEntry).position.end })
  chain.end()
  await finished(chain)
  t.same(
    slow.calls.filter((c) => c.startsWith('noData')),
    ['noData(true)', 'noData(true)'],
    'the second noData says there was data since the first',
  )
})

t.test('a quiet waiting for the input settles when the input is unpiped', async (t) => {
  const { entries } = transactions(10)
  const slow = new Slow(0)
  const input = new PassThrough({ objectMode: true })
  const chain = new ListenerChain({ listeners: [slow], batch: false, quietMs: 0, commitIntervalMs: 0 })
  input.pipe(chain)
  input.write(entries[0])
  await sleep(10)
  // The program pauses its source: the entries written to it wait there.
  input.pause()
  for (const e of entries.slice(1)) input.write(e)
  let settled = false
  const quiet = chain.quiet().then(() => {
    settled = true
  })
  await sleep(20)
  t.notOk(settled, 'it waits for the entries the input holds')
  // Then it stops feeding the chain: those entries will not come.
  input.unpipe(chain)
  await sleep(50)
  t.ok(settled, 'settled without an end or a destroy')
  await quiet
  chain.end()
  await finished(chain)
})
