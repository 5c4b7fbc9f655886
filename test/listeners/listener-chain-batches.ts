import t from 'tap'
import { finished } from 'node:stream/promises'
import { ListenerChain } from '../../lib/listeners/listener-chain.js'
import { BaseListener } from '../../lib/listeners/listener.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import type { JournalPosition } from '../../lib/position.js'
import { transactions, tick } from '../helpers/entries.js'

const fast = { retries: 1, minTimeout: 1, maxTimeout: 2, randomize: false }

/** Records entries and syncs; every `asyncEvery`-th entry is handled after a timer. */
class Recorder extends BaseListener {
  got: JournalEntry[] = []
  syncs: JournalPosition[] = []
  constructor(
    name: string,
    readonly asyncEvery = 0,
  ) {
    super(name)
  }
  listen(e: JournalEntry): void | Promise<void> {
    if (this.asyncEvery && this.got.length % this.asyncEvery === 0) {
      return tick().then(() => {
        this.got.push(e)
      })
    }
    this.got.push(e)
  }
  sync(p: JournalPosition): void {
    this.syncs.push(p)
  }
}

/** A ListenerChain that records the size of every batch `_writev` gets. */
class BatchSpy extends ListenerChain {
  batches: number[] = []
  override _writev(chunks: { chunk: unknown }[], cb: (err?: Error | null) => void): void {
    this.batches.push(chunks.length)
    super._writev(chunks, cb)
  }
}

t.test('entries written as one batch reach every listener in order and the last consistency point is committed', async (t) => {
  const { entries } = transactions(30)
  const listeners = [new Recorder('sync'), new Recorder('async', 3)]
  const commits: JournalPosition[] = []
  const chain = new BatchSpy({ listeners, highWaterMark: 4, commitIntervalMs: 0, commit: (p) => void commits.push(p) })
  chain.cork()
  for (const e of entries) chain.write(e)
  chain.uncork()
  chain.end()
  await finished(chain)
  t.same(chain.batches, [entries.length])
  for (const l of listeners) t.same(l.got, entries, `${l.name} got every entry in order`)
  const last = entries.at(-1)!
  t.same(commits.at(-1), { journal: 1, offset: last.position.end })
  for (let i = 1; i < commits.length; i++) t.ok(commits[i]!.offset > commits[i - 1]!.offset, 'commits in order')
  for (const l of listeners) t.same(l.syncs.at(-1), commits.at(-1), `${l.name} synced before the commit`)
})

t.test('a batch larger than highWaterMark is handed on in parts: no listener holds more', async (t) => {
  const { entries } = transactions(20)
  let most = 0
  let chain!: ListenerChain
  const slow = new (class extends BaseListener {
    async listen(): Promise<void> {
      most = Math.max(most, chain.writables[0]!.writableLength)
      await tick()
    }
  })('slow')
  chain = new ListenerChain({ listeners: [slow], highWaterMark: 4 })
  chain.cork()
  for (const e of entries) chain.write(e)
  chain.uncork()
  chain.end()
  await finished(chain)
  // highWaterMark entries plus at most one sync and one noData control (the chain's stated bound).
  t.ok(most <= 4 + 2, `at most ${most} <= 6 items in the listener`)
  t.equal(chain.writables[0]!.handled, entries.length)
})

t.test('a listener that fails while the chain waits for it to drain fails the chain; nothing after is committed', async (t) => {
  const { entries } = transactions(10)
  const bad = entries[6]!
  const commits: JournalPosition[] = []
  const failing = new (class extends BaseListener {
    async listen(e: JournalEntry): Promise<void> {
      await tick()
      if (e === bad) throw new Error('remote gone')
    }
  })('failing')
  const chain = new ListenerChain({
    listeners: [new Recorder('ok'), { listener: failing, retry: fast }],
    highWaterMark: 2,
    commitIntervalMs: 0,
    commit: (p) => void commits.push(p),
  })
  chain.cork()
  for (const e of entries) chain.write(e)
  chain.uncork()
  await t.rejects(finished(chain), { code: 'ERR_LISTENER_FAILED', details: { listener: 'failing' } })
  for (const c of commits) t.ok(c.offset <= bad.position.offset, `commit ${c.offset} before the failed entry`)
})

t.test('an entryRead observer that throws is logged, not fatal', async (t) => {
  const { entries } = transactions(2)
  const logged: string[] = []
  const log = (_o: object | string, msg?: string): void => void logged.push(msg ?? '')
  const chain = new ListenerChain({
    listeners: [new Recorder('r')],
    observer: {
      entryRead() {
        throw new Error('observer bug')
      },
    },
    logger: { debug: log, info: log, warn: log, error: log },
  })
  for (const e of entries) chain.write(e)
  chain.end()
  await finished(chain)
  t.equal(logged.filter((m) => m === 'status observer failed').length, entries.length)
})

t.test('an entriesRead observer is told each batch once, instead of entryRead per entry; one that throws is logged', async (t) => {
  const { entries } = transactions(4)
  const batches = [entries.slice(0, 3), entries.slice(3)]
  const seen: number[] = []
  const perEntry: JournalEntry[] = []
  const logged: string[] = []
  const log = (_o: object | string, msg?: string): void => void logged.push(msg ?? '')
  let calls = 0
  const recorder = new Recorder('r')
  const chain = new ListenerChain({
    listeners: [recorder],
    batch: true,
    observer: {
      entriesRead(es) {
        seen.push(es.length)
        if (++calls === 2) throw new Error('observer bug')
      },
      entryRead: (e) => void perEntry.push(e),
    },
    logger: { debug: log, info: log, warn: log, error: log },
  })
  for (const b of batches) chain.write(b)
  chain.end()
  await finished(chain)
  t.same(seen, [3, entries.length - 3], 'one call per batch, with the batch')
  t.equal(perEntry.length, 0, 'entryRead is not called as well')
  t.equal(logged.filter((m) => m === 'status observer failed').length, 1)
  t.equal(recorder.got.length, entries.length, 'the entries went on')
})

t.test('without batches, an entriesRead observer is told each entry as a batch of one', async (t) => {
  const { entries } = transactions(2)
  const seen: JournalEntry[][] = []
  const chain = new ListenerChain({ listeners: [new Recorder('r')], observer: { entriesRead: (es) => void seen.push([...es]) } })
  for (const e of entries) chain.write(e)
  chain.end()
  await finished(chain)
  t.same(
    seen.map((b) => b.length),
    entries.map(() => 1),
  )
  t.same(
    seen.map((b) => b[0]?.position.offset),
    entries.map((e) => e.position.offset),
  )
})
