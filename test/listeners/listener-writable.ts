import t from 'tap'
import { Readable } from 'node:stream'
import { finished, pipeline } from 'node:stream/promises'
import { ListenerWritable } from '../../lib/listeners/listener-writable.js'
import { ErrorCodes, LogdaemonError } from '../../lib/errors.js'
import { isStopping } from '../../lib/listeners/listener-call.js'
import { BaseListener, type Listener, type ListenerContext } from '../../lib/listeners/listener.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import type { JournalPosition } from '../../lib/position.js'
import { transactions, tick } from '../helpers/entries.js'

const fast = { retries: 3, minTimeout: 1, maxTimeout: 2, randomize: false }

/** Records every call, in order. */
class Recorder extends BaseListener {
  calls: string[] = []
  seen: JournalEntry[] = []
  override isHandled(e: JournalEntry): boolean {
    return e.op !== 'ex' || this.handleEx
  }
  handleEx = true
  open(ctx: ListenerContext): void {
    this.calls.push(`open ${ctx.start ? `${ctx.start.journal}/${ctx.start.offset}` : 'null'}`)
  }
  listen(e: JournalEntry): void {
    this.seen.push(e)
    this.calls.push(`listen ${e.position.offset}`)
  }
  override noData(hadData: boolean): void {
    this.calls.push(`noData ${hadData}`)
  }
  sync(p: JournalPosition): void {
    this.calls.push(`sync ${p.journal}/${p.offset}`)
  }
  override close(): void {
    this.calls.push('close')
  }
}

t.test('handles entries in order, skips what isHandled declines, syncs the end, then closes', async (t) => {
  const { entries } = transactions(3, 7)
  const l = new Recorder()
  l.handleEx = false
  const seen: string[] = []
  const w = new ListenerWritable(l, {
    start: { journal: 7, offset: 0 },
    observer: {
      listenerHandled: (name, e) => seen.push(`${name} handled ${e.position.offset}`),
      listenerSkipped: (name) => seen.push(`${name} skipped`),
    },
  })
  await pipeline(Readable.from(entries), w)
  const last = entries.at(-1)!
  t.same(l.calls, ['open 7/0', ...entries.filter((e) => e.op !== 'ex').map((e) => `listen ${e.position.offset}`), `sync 7/${last.position.end}`, 'close'])
  t.equal(w.handled, 3)
  t.equal(w.skipped, 3)
  t.same(w.through, last.position)
  t.equal(seen.filter((s) => s.endsWith('skipped')).length, 3)
  t.equal(seen[0], `Recorder handled 0`)
})

t.test('async listen runs one entry at a time, in order', async (t) => {
  const { entries } = transactions(20)
  let running = 0
  let most = 0
  const order: number[] = []
  const l = new (class extends BaseListener {
    async listen(e: JournalEntry): Promise<void> {
      running++
      most = Math.max(most, running)
      await tick(e.position.offset % 3)
      order.push(e.position.offset)
      running--
    }
  })('slow')
  await pipeline(Readable.from(entries), new ListenerWritable(l))
  t.equal(most, 1)
  t.same(
    order,
    entries.map((e) => e.position.offset),
  )
})

t.test('a failing listen is retried with backoff and the entry handled once it succeeds', async (t) => {
  const { entries } = transactions(2)
  let failures = 2
  const done: number[] = []
  const retries: string[] = []
  const l = new (class extends BaseListener {
    listen(e: JournalEntry): void {
      if (e.position.offset === entries[1]!.position.offset && failures-- > 0) throw new Error('remote busy')
      done.push(e.position.offset)
    }
  })('flaky')
  const w = new ListenerWritable(l, { retry: fast, observer: { listenerRetry: (name, err) => retries.push(`${name}: ${err.message}`) } })
  await pipeline(Readable.from(entries), w)
  t.same(
    done,
    entries.map((e) => e.position.offset),
  )
  t.same(retries, ['flaky: remote busy', 'flaky: remote busy'])
})

t.test('rejections are retried like throws', async (t) => {
  const { entries } = transactions(1)
  let failures = 1
  const l = new (class extends BaseListener {
    async listen(): Promise<void> {
      if (failures-- > 0) throw new Error('later')
    }
  })('rejecting')
  const w = new ListenerWritable(l, { retry: fast })
  await pipeline(Readable.from(entries), w)
  t.equal(w.handled, 2)
})

t.test('when retries run out it fails with ERR_LISTENER_FAILED naming the listener and the position', async (t) => {
  const { entries } = transactions(3, 41)
  const bad = entries[3]!
  const errors: string[] = []
  let closes = 0
  let attempts = 0
  const l = new (class extends BaseListener {
    listen(e: JournalEntry): void {
      if (e === bad) {
        attempts++
        throw new Error('disk full')
      }
    }
    override close(): void {
      closes++
    }
  })('backup')
  const w = new ListenerWritable(l, { retry: fast, observer: { listenerError: (name) => errors.push(name) } })
  const err = await pipeline(Readable.from(entries), w).then(
    () => null,
    (e: unknown) => e as Error & { code: string; journal: number; offset: number; line: number; details: Record<string, unknown> },
  )
  t.ok(err)
  t.equal(err?.code, 'ERR_LISTENER_FAILED')
  t.equal(err?.journal, 41)
  t.equal(err?.offset, bad.position.offset)
  t.equal(err?.line, bad.position.line)
  t.equal(err?.details.listener, 'backup')
  t.match(err?.message, /"backup".*journal 41, offset \d+.*4 attempts: disk full/)
  t.equal(attempts, 4, 'the first attempt and 3 retries')
  t.equal((err as Error).cause instanceof Error && ((err as Error).cause as Error).message, 'disk full')
  t.same(errors, ['backup'])
  t.same(w.through, entries[2]!.position, 'nothing past the last fully handled entry')
  t.equal(closes, 1, 'closed once')
})

t.test('errors marked retryable: false and TypeErrors fail at once', async (t) => {
  for (const make of [() => Object.assign(new Error('gap'), { retryable: false }), () => new TypeError('bug')]) {
    const { entries } = transactions(1)
    let attempts = 0
    const l = new (class extends BaseListener {
      listen(): void {
        attempts++
        throw make()
      }
    })('once')
    await t.rejects(pipeline(Readable.from(entries), new ListenerWritable(l, { retry: fast })), { code: 'ERR_LISTENER_FAILED' })
    t.equal(attempts, 1)
  }
})

t.test('a throwing isHandled fails the stream without retries', async (t) => {
  const { entries } = transactions(1)
  const l: Listener = {
    name: 'picky',
    isHandled() {
      throw new Error('boom')
    },
    listen() {},
    noData() {},
    close() {},
  }
  await t.rejects(pipeline(Readable.from(entries), new ListenerWritable(l, { retry: fast })), {
    code: 'ERR_LISTENER_FAILED',
    details: { listener: 'picky', operation: 'isHandled' },
  })
})

t.test('a failing open fails the stream before any entry', async (t) => {
  const { entries } = transactions(1)
  let listened = 0
  const l = new (class extends BaseListener {
    async open(): Promise<void> {
      throw new Error('no such dir')
    }
    listen(): void {
      listened++
    }
  })('opener')
  await t.rejects(pipeline(Readable.from(entries), new ListenerWritable(l, { retry: { ...fast, retries: 1 } })), {
    code: 'ERR_LISTENER_FAILED',
    details: { operation: 'open' },
  })
  t.equal(listened, 0)
})

t.test('a non-entry chunk is a TypeError', async (t) => {
  const w = new ListenerWritable(new Recorder())
  await t.rejects(pipeline(Readable.from([{ not: 'an entry' }]), w), TypeError)
})

t.test('sync and noData run in order between entries', async (t) => {
  const { entries } = transactions(2, 3)
  const l = new Recorder()
  const w = new ListenerWritable(l, { syncOnEnd: false })
  w.write(entries[0])
  w.write(entries[1])
  const synced = w.requestSync({ journal: 3, offset: entries[1]!.position.end })
  w.write(entries[2])
  const quiet = w.requestNoData(true)
  w.end(entries[3])
  await Promise.all([synced, quiet, finished(w)])
  t.same(l.calls, [
    'open null',
    `listen ${entries[0]!.position.offset}`,
    `listen ${entries[1]!.position.offset}`,
    `sync 3/${entries[1]!.position.end}`,
    `listen ${entries[2]!.position.offset}`,
    'noData true',
    `listen ${entries[3]!.position.offset}`,
    'close',
  ])
  await t.rejects(w.requestSync({ journal: 3, offset: 0 }), { code: 'ERR_LISTENER_FAILED' }, 'no control after the end')
})

t.test('write() returns false once highWaterMark entries wait: the buffer is bounded', async (t) => {
  const { entries } = transactions(20)
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const l = new (class extends BaseListener {
    async listen(): Promise<void> {
      await gate
    }
  })('gated')
  const w = new ListenerWritable(l, { highWaterMark: 4 })
  let accepted = 0
  for (const e of entries) {
    accepted++
    if (!w.write(e)) break
  }
  t.equal(accepted, 4)
  t.equal(w.writableLength, 4)
  release()
  w.end()
  await finished(w)
})

t.test('destroy during retries ends promptly, rejects pending controls, closes once, and is idempotent', async (t) => {
  const { entries } = transactions(1)
  let closes = 0
  const l = new (class extends BaseListener {
    listen(): void {
      throw new Error('down')
    }
    override close(): void {
      closes++
    }
  })('down')
  const w = new ListenerWritable(l, { retry: { retries: 100, minTimeout: 60_000, randomize: false } })
  w.on('error', () => {})
  w.write(entries[0])
  const pending = w.requestSync({ journal: 1, offset: 1 })
  await tick(10)
  w.destroy()
  w.destroy()
  w.destroy(new Error('again'))
  await t.rejects(pending)
  await new Promise((r) => (w.closed ? r(null) : w.on('close', r)))
  t.equal(closes, 1)
})

t.test('an observer that throws is logged, not fatal', async (t) => {
  const { entries } = transactions(1)
  const logged: unknown[] = []
  const logger = { debug() {}, info() {}, warn() {}, error: (o: unknown) => void logged.push(o) }
  const w = new ListenerWritable(new Recorder(), {
    logger,
    observer: {
      listenerHandled() {
        throw new Error('observer bug')
      },
    },
  })
  await pipeline(Readable.from(entries), w)
  t.equal(logged.length, 2)
})

t.test('a close that throws or rejects fails the stream', async (t) => {
  for (const close of [
    () => {
      throw new Error('close failed')
    },
    async () => {
      throw new Error('close failed')
    },
  ]) {
    const l: Listener = { name: 'c', isHandled: () => true, listen() {}, noData() {}, close }
    await t.rejects(pipeline(Readable.from(transactions(1).entries), new ListenerWritable(l)), {
      code: 'ERR_LISTENER_FAILED',
      details: { operation: 'close' },
    })
  }
})

/** Resolves with the error the stream fails with (or null when it finishes), and how long it took. */
async function outcome(w: ListenerWritable, from: number): Promise<{ err: Error | null; ms: number }> {
  const err = await finished(w).then(
    () => null,
    (e: unknown) => e as Error,
  )
  return { err, ms: Date.now() - from }
}

t.test('stopRetrying during the backoff of a failing open ends it at once: a stopping error naming the last failure, close once', async (t) => {
  let signal: AbortSignal | null = null
  let closes = 0
  const l = new (class extends BaseListener {
    open(ctx: ListenerContext): Promise<void> {
      signal = ctx.signal
      return Promise.reject(new Error('connection refused'))
    }
    listen(): void {}
    override close(): void {
      closes++
    }
  })('db')
  const retried: string[] = []
  const errors: string[] = []
  // Before the fix the retries went on after the stop: an hour of backoff here.
  const w = new ListenerWritable(l, {
    retry: { retries: 5, minTimeout: 3_600_000, maxTimeout: 3_600_000, randomize: false },
    observer: { listenerRetry: (_n, e) => void retried.push(e.message), listenerError: (_n, e) => void errors.push(e.message) },
  })
  w.on('error', () => {})
  while (retried.length === 0) await tick(5)
  t.equal(w.opened, false)
  t.match(w.retrying, { call: 'open', at: null, failures: 1 })
  const from = Date.now()
  w.stopRetrying()
  const { err, ms } = await outcome(w, from)
  t.ok(ms < 1000, `ended in ${ms} ms`)
  t.ok(isStopping(err), 'a stopping error')
  t.match(err, { code: 'ERR_LISTENER_FAILED', details: { listener: 'db', operation: 'open', stopping: true }, cause: { message: 'connection refused' } })
  t.match(err?.message, /^listener "db" never opened: the daemon is stopping; open failed once \(the last: connection refused\) and is not retried$/)
  t.equal(signal!.aborted, true, "the listener's signal is aborted")
  t.same(retried, ['connection refused'], 'no retry after the stop')
  t.same(errors, [], 'not reported as a listener error')
  t.equal(w.retrying, null)
  t.equal(closes, 1)
})

t.test('stopRetrying during an open in progress aborts its signal: an open that honours it ends at once, named without a failure', async (t) => {
  const l = new (class extends BaseListener {
    open(ctx: ListenerContext): Promise<void> {
      // A connect that waits (its own retries) until told to stop.
      return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }))
    }
    listen(): void {}
  })('nats')
  const w = new ListenerWritable(l, { retry: { retries: 5, minTimeout: 3_600_000, randomize: false } })
  w.on('error', () => {})
  await tick(20)
  const from = Date.now()
  w.stopRetrying()
  w.stopRetrying()
  const { err, ms } = await outcome(w, from)
  t.ok(ms < 1000, `ended in ${ms} ms`)
  t.ok(isStopping(err))
  t.equal(err?.message, 'listener "nats" never opened: the daemon is stopping')
})

t.test('stopRetrying during a listen retry ends it at once; entries before it were handled, none after, no sync runs', async (t) => {
  const { entries } = transactions(4)
  const handled: number[] = []
  let syncs = 0
  const l = new (class extends BaseListener {
    listen(e: JournalEntry): void {
      if (e === entries[3]) throw new Error('disk full')
      handled.push(e.position.offset)
    }
    sync(): void {
      syncs++
    }
  })('out')
  const retried: string[] = []
  const w = new ListenerWritable(l, {
    retry: { retries: 5, minTimeout: 3_600_000, randomize: false },
    observer: { listenerRetry: (_n, e) => void retried.push(e.message) },
  })
  w.on('error', () => {})
  for (const e of entries) w.write(e)
  const sync = w.requestSync({ journal: 1, offset: entries.at(-1)!.position.end })
  w.write(transactions(1, 2).entries[0])
  while (retried.length === 0) await tick(5)
  t.match(w.retrying, { call: 'listen', at: `1/${entries[3]!.position.offset}`, failures: 1 })
  const from = Date.now()
  w.stopRetrying()
  const { err, ms } = await outcome(w, from)
  t.ok(ms < 1000, `ended in ${ms} ms`)
  t.match(err, { code: 'ERR_LISTENER_FAILED', journal: 1, offset: entries[3]!.position.offset, details: { operation: 'listen', stopping: true } })
  t.match(err?.message, /^listener "out" stopped in listen: the daemon is stopping; listen failed once \(the last: disk full\) and is not retried$/)
  await t.rejects(sync, 'the sync after it never ran')
  t.equal(syncs, 0)
  t.same(
    handled,
    entries.slice(0, 3).map((e) => e.position.offset),
  )
})

t.test('after stopRetrying, calls that succeed go on; one that fails is not retried; an error no retry fixes stays a failure', async (t) => {
  const { entries } = transactions(6)
  const calls: string[] = []
  const l = new (class extends BaseListener {
    fail: Error | null = null
    async listen(e: JournalEntry): Promise<void> {
      await tick(1)
      if (this.fail && e.position.offset >= entries[4]!.position.offset) throw this.fail
      calls.push(`listen ${e.position.offset}`)
    }
    sync(p: JournalPosition): void {
      calls.push(`sync ${p.offset}`)
    }
  })('ok')
  const slow = { retries: 5, minTimeout: 3_600_000, randomize: false }
  // A healthy listener finishes what it has and syncs after the stop.
  const a = new ListenerWritable(l, { retry: slow })
  a.stopRetrying()
  for (const e of entries.slice(0, 4)) a.write(e)
  await a.requestSync({ journal: 1, offset: entries[3]!.position.end })
  t.same(calls, [...entries.slice(0, 4).map((e) => `listen ${e.position.offset}`), `sync ${entries[3]!.position.end}`])
  // A failure after the stop: not retried, a stopping error.
  l.fail = new Error('timeout')
  const retried: string[] = []
  const b = new ListenerWritable(l, { retry: slow, observer: { listenerRetry: (_n, e) => void retried.push(e.message) } })
  b.on('error', () => {})
  b.stopRetrying()
  b.write(entries[4])
  const from = Date.now()
  const { err, ms } = await outcome(b, from)
  t.ok(ms < 1000, `failed in ${ms} ms`)
  t.ok(isStopping(err))
  t.match(err?.message, /listen failed once \(the last: timeout\) and is not retried/)
  t.same(retried, [])
  // An error no retry could fix fails as itself, stop or not.
  l.fail = Object.assign(new Error('gap'), { retryable: false })
  const errors: string[] = []
  const c = new ListenerWritable(l, { retry: slow, observer: { listenerError: (_n, e) => void errors.push(e.message) } })
  c.on('error', () => {})
  c.stopRetrying()
  c.write(entries[5])
  const gap = await outcome(c, Date.now())
  t.notOk(isStopping(gap.err))
  t.match(gap.err?.message, /^listener "ok" failed in listen on the entry at .*: gap\. Nothing past/)
  t.equal(errors.length, 1, 'reported as a listener error')
})

t.test('after stopRetrying, a close that fails is still a failure, not the stop', async (t) => {
  const l = new (class extends BaseListener {
    listen(): void {}
    override close(): Promise<void> {
      return Promise.reject(new Error('flush failed'))
    }
  })('closer')
  const w = new ListenerWritable(l)
  w.stopRetrying()
  w.end()
  const { err } = await outcome(w, Date.now())
  t.notOk(isStopping(err))
  t.match(err, { code: 'ERR_LISTENER_FAILED', details: { operation: 'close' }, cause: { message: 'flush failed' } })
})

t.test("a listener's own error code is said in the failure's message, not only nested (ERR_SQL_GAP, not just ERR_LISTENER_FAILED)", async (t) => {
  const { entries } = transactions(1, 1)
  const failing: Listener = {
    name: 'db',
    isHandled: () => true,
    listen() {
      throw Object.assign(new LogdaemonError(ErrorCodes.SQL_GAP, 'the records between would be missing'), { retryable: false })
    },
    noData() {},
    close() {},
  }
  const err = await pipeline(Readable.from(entries), new ListenerWritable(failing, { retry: fast })).then(
    () => null,
    (e: unknown) => e as LogdaemonError,
  )
  t.equal(err?.code, ErrorCodes.LISTENER_FAILED)
  t.match(err?.message, /the records between would be missing \[ERR_SQL_GAP\]\. Nothing past/)
  t.equal((err?.cause as LogdaemonError | undefined)?.code, ErrorCodes.SQL_GAP, 'and nested, as before')
})
