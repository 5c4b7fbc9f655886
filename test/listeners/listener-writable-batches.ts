import t from 'tap'
import { finished } from 'node:stream/promises'
import { ListenerWritable } from '../../lib/listeners/listener-writable.js'
import { BaseListener } from '../../lib/listeners/listener.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import type { JournalPosition } from '../../lib/position.js'
import { transactions, tick } from '../helpers/entries.js'

const fast = { retries: 3, minTimeout: 1, maxTimeout: 2, randomize: false }

/** A ListenerWritable that records the size of every batch `_writev` gets. */
class BatchSpy extends ListenerWritable {
  batches: number[] = []
  override _writev(chunks: { chunk: unknown }[], cb: (err?: Error | null) => void): void {
    this.batches.push(chunks.length)
    super._writev(chunks, cb)
  }
}

/** Writes entries while corked, so that they reach the listener as one `_writev` batch. */
function writeBatch(w: ListenerWritable, items: readonly JournalEntry[]): void {
  w.cork()
  for (const e of items) w.write(e)
  w.uncork()
}

t.test('a listen that returns without a promise finishes inside write()', async (t) => {
  const { entries } = transactions(2)
  const l = new (class extends BaseListener {
    listen(): void {}
  })('sync')
  const w = new ListenerWritable(l)
  await tick() // writes wait for _construct until then
  w.write(entries[0])
  t.equal(w.handled, 1, 'handled before write() returned')
  t.equal(w.writableLength, 0)
  t.same(w.through, entries[0]!.position)
  w.end()
  await finished(w)
})

t.test('an async listen is awaited: the next entry waits for it', async (t) => {
  const { entries } = transactions(1)
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const l = new (class extends BaseListener {
    async listen(): Promise<void> {
      await gate
    }
  })('async')
  const w = new ListenerWritable(l)
  w.write(entries[0])
  w.write(entries[1])
  t.equal(w.handled, 0)
  release()
  await tick()
  t.equal(w.handled, 2)
  w.end()
  await finished(w)
})

t.test('entries that waited come as one batch, mixed sync and async listens, in order', async (t) => {
  const { entries } = transactions(20)
  const order: number[] = []
  let running = 0
  let most = 0
  const l = new (class extends BaseListener {
    listen(e: JournalEntry): void | Promise<void> {
      // Every third entry returns a promise, the others return at once.
      if (e.position.line % 3 !== 0) {
        order.push(e.position.offset)
        return
      }
      running++
      most = Math.max(most, running)
      return tick(1).then(() => {
        order.push(e.position.offset)
        running--
      })
    }
  })('mixed')
  const w = new BatchSpy(l, { highWaterMark: 64 })
  await tick() // constructed: the first entry goes to _write, those written meanwhile wait
  for (const e of entries) w.write(e)
  w.end()
  await finished(w)
  t.same(
    order,
    entries.map((e) => e.position.offset),
  )
  t.equal(most, 1, 'one call at a time')
  t.ok(
    w.batches.some((n) => n > 1),
    `batches ${w.batches.join(',')}`,
  )
  t.equal(w.handled, entries.length)
})

t.test('a failure inside a batch is retried, then the rest of the batch runs in order', async (t) => {
  const { entries } = transactions(3)
  const batch = entries.slice(0, 6)
  let throws = 2
  let rejects = 1
  const order: number[] = []
  const l = new (class extends BaseListener {
    listen(e: JournalEntry): void | Promise<void> {
      if (e === batch[2] && throws-- > 0) throw new Error('busy')
      if (e === batch[3] && rejects-- > 0) return Promise.reject(new Error('later'))
      order.push(e.position.offset)
    }
  })('flaky')
  let retries = 0
  const w = new BatchSpy(l, { retry: fast, observer: { listenerRetry: () => retries++ } })
  writeBatch(w, batch)
  w.end()
  await finished(w)
  t.same(w.batches, [6])
  t.same(
    order,
    batch.map((e) => e.position.offset),
  )
  t.equal(retries, 3)
})

t.test('a batch that fails for good stops at the failing entry', async (t) => {
  const { entries } = transactions(3, 9)
  const batch = entries.slice(0, 6)
  const order: number[] = []
  const l = new (class extends BaseListener {
    async listen(e: JournalEntry): Promise<void> {
      if (e === batch[3]) throw new Error('disk full')
      order.push(e.position.offset)
    }
  })('backup')
  const w = new BatchSpy(l, { retry: fast })
  writeBatch(w, batch)
  const err = await finished(w).then(
    () => null,
    (e: unknown) => e as Error & { code: string; offset: number },
  )
  t.same(w.batches, [6])
  t.equal(err?.code, 'ERR_LISTENER_FAILED')
  t.equal(err?.offset, batch[3]!.position.offset)
  t.same(
    order,
    batch.slice(0, 3).map((e) => e.position.offset),
    'nothing after the failed entry',
  )
  t.same(w.through, batch[2]!.position)
})

t.test('a throwing isHandled inside a batch fails without retries; the entries before it were handled', async (t) => {
  for (const async of [false, true]) {
    const { entries } = transactions(2)
    const batch = entries.slice(0, 4)
    const l = new (class extends BaseListener {
      override isHandled(e: JournalEntry): boolean {
        if (e === batch[2]) throw new Error('bug')
        return true
      }
      listen(): void | Promise<void> {
        return async ? Promise.resolve() : undefined
      }
    })(async ? 'picky-async' : 'picky')
    const w = new BatchSpy(l, { retry: fast })
    writeBatch(w, batch)
    await t.rejects(finished(w), { code: 'ERR_LISTENER_FAILED', details: { operation: 'isHandled' } })
    t.equal(w.handled, 2)
  }
})

t.test('sync and noData inside a batch run between the entries around them', async (t) => {
  for (const async of [false, true]) {
    const { entries } = transactions(2, 4)
    const calls: string[] = []
    const l = new (class extends BaseListener {
      listen(e: JournalEntry): void | Promise<void> {
        calls.push(`listen ${e.position.offset}`)
        return async ? tick() : undefined
      }
      override noData(hadData: boolean): void | Promise<void> {
        calls.push(`noData ${hadData}`)
        return async ? tick() : undefined
      }
      sync(p: JournalPosition): void | Promise<void> {
        calls.push(`sync ${p.journal}/${p.offset}`)
        return async ? tick() : undefined
      }
    })('ordered')
    const w = new BatchSpy(l, { syncOnEnd: false })
    w.cork()
    w.write(entries[0])
    const synced = w.requestSync({ journal: 4, offset: entries[0]!.position.end })
    w.write(entries[1])
    const noData = w.requestNoData(true)
    w.write(entries[2])
    w.uncork()
    await Promise.all([synced, noData])
    w.end()
    await finished(w)
    t.same(w.batches, [5], `one batch (${async ? 'async' : 'sync'} listener)`)
    t.same(calls, [
      `listen ${entries[0]!.position.offset}`,
      `sync 4/${entries[0]!.position.end}`,
      `listen ${entries[1]!.position.offset}`,
      'noData true',
      `listen ${entries[2]!.position.offset}`,
    ])
  }
})

t.test('a sync that fails for good inside a batch rejects its request and fails the stream', async (t) => {
  const { entries } = transactions(1)
  const l = new (class extends BaseListener {
    listen(): void {}
    sync(): void {
      throw Object.assign(new Error('remote gone'), { retryable: false })
    }
  })('syncer')
  const w = new ListenerWritable(l, { syncOnEnd: false })
  w.cork()
  w.write(entries[0])
  const synced = w.requestSync({ journal: 1, offset: entries[0]!.position.end })
  w.write(entries[1])
  w.uncork()
  await t.rejects(synced, { code: 'ERR_LISTENER_FAILED', details: { operation: 'sync' } })
  await t.rejects(finished(w), { code: 'ERR_LISTENER_FAILED' })
  t.equal(w.handled, 1, 'the entry after the failed sync was not handled')
})

t.test('destroy during an async batch: the entries after the call in progress are not handled', async (t) => {
  const { entries } = transactions(3)
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  let listens = 0
  let closes = 0
  const l = new (class extends BaseListener {
    async listen(): Promise<void> {
      listens++
      await gate
    }
    override close(): void {
      closes++
    }
  })('gated')
  const w = new ListenerWritable(l)
  writeBatch(w, entries)
  await tick()
  w.destroy()
  release()
  await finished(w).catch(() => {})
  t.equal(listens, 1)
  t.equal(closes, 1)
})

t.test('an open that throws synchronously is retried before any entry', async (t) => {
  const { entries } = transactions(1)
  let opens = 0
  const l = new (class extends BaseListener {
    open(): void {
      if (opens++ === 0) throw new Error('not yet')
    }
    listen(): void {}
  })('opener')
  const w = new ListenerWritable(l, { retry: fast })
  for (const e of entries) w.write(e)
  w.end()
  await finished(w)
  t.equal(opens, 2)
  t.equal(w.handled, 2)
})

t.test('a listen that returns a thenable (not a native promise) is waited for; one that rejects is retried', async (t) => {
  const { entries } = transactions(3)
  const order: string[] = []
  let failures = 0
  const l = {
    name: 'thenable',
    isHandled: () => true,
    listen(e: JournalEntry) {
      // A minimal PromiseLike that settles on a later turn (typed as the promise the API names).
      return {
        then(resolve: () => void, reject: (err: Error) => void) {
          setImmediate(() => {
            if (e.position.offset === entries[2]?.position.offset && failures === 0) {
              failures++
              reject(new Error('once'))
              return
            }
            order.push(`${e.position.offset}`)
            resolve()
          })
        },
      } as unknown as Promise<void>
    },
    noData() {},
    close() {},
  }
  const w = new ListenerWritable(l, { retry: { retries: 2, minTimeout: 1, maxTimeout: 2, randomize: false } })
  w.write(entries)
  w.end()
  await finished(w)
  t.same(
    order,
    entries.map((e) => `${e.position.offset}`),
    'each entry once, in order, the failed one after its retry',
  )
  t.equal(failures, 1)
  t.equal(w.handled, entries.length)
})
