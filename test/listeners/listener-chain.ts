import t from 'tap'
import { once } from 'node:events'
import { PassThrough, Readable } from 'node:stream'
import { finished, pipeline } from 'node:stream/promises'
import { ListenerChain } from '../../lib/listeners/listener-chain.js'
import { BaseListener } from '../../lib/listeners/listener.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { comparePositions, formatPosition, type JournalPosition } from '../../lib/position.js'
import { entriesOf, transactions, tick } from '../helpers/entries.js'

const fast = { retries: 2, minTimeout: 1, maxTimeout: 2, randomize: false }

class Collect extends BaseListener {
  got: JournalEntry[] = []
  syncs: JournalPosition[] = []
  quiet: boolean[] = []
  closed = 0
  listen(e: JournalEntry): void {
    this.got.push(e)
  }
  sync(p: JournalPosition): void {
    this.syncs.push(p)
  }
  override noData(hadData: boolean): void {
    this.quiet.push(hadData)
  }
  override close(): void {
    this.closed++
  }
}

t.test('every listener gets every entry in order; commits are consistency points, in order, after every sync', async (t) => {
  const { entries } = transactions(50, 9)
  const a = new Collect('a')
  const b = new Collect('b')
  const commits: string[] = []
  const chain = new ListenerChain({
    listeners: [a, b],
    commitIntervalMs: 0,
    commit: (p) => {
      // Every listener has synced this position before it is committed.
      t.ok(a.syncs.some((s) => comparePositions(s, p) === 0) && b.syncs.some((s) => comparePositions(s, p) === 0))
      commits.push(formatPosition(p))
    },
  })
  await pipeline(Readable.from(entries), chain)
  t.same(a.got, entries)
  t.same(b.got, entries)
  const ends = new Set(entries.filter((e) => e.consistent).map((e) => `9/${e.position.end}`))
  t.ok(commits.length > 0)
  t.ok(
    commits.every((c) => ends.has(c)),
    'only consistency points are committed',
  )
  const sorted = [...commits].sort((x, y) => comparePositions(parse(x), parse(y)))
  t.same(commits, sorted, 'in order')
  t.equal(new Set(commits).size, commits.length, 'never twice')
  t.equal(commits.at(-1), `9/${entries.at(-1)!.position.end}`, 'the last point is committed at the end')
  t.same(chain.committed, { journal: 9, offset: entries.at(-1)!.position.end })
  t.equal(a.closed, 1)
  t.equal(b.closed, 1)
})

function parse(text: string): JournalPosition {
  const [j, o] = text.split('/')
  return { journal: Number(j), offset: Number(o) }
}

t.test('a listener whose sync returns an earlier position it made durable: nothing later is committed', async (t) => {
  const { entries } = transactions(40, 9)
  const points = entries.filter((e) => e.consistent).map((e) => ({ journal: 9, offset: e.position.end }))
  const hold = points[9] as JournalPosition
  // Durable no further than the tenth point until the last one is asked for (a database transaction holding rows past it).
  class Holding extends Collect {
    override sync(p: JournalPosition): JournalPosition | undefined {
      super.sync(p)
      const last = points.at(-1) as JournalPosition
      return comparePositions(p, hold) > 0 && comparePositions(p, last) < 0 ? hold : undefined
    }
  }
  const a = new Holding('a')
  const b = new Collect('b')
  const commits: JournalPosition[] = []
  const chain = new ListenerChain({ listeners: [a, b], commitIntervalMs: 0, commit: (p) => void commits.push(p) })
  // Slowly, so that rounds come between transactions.
  async function* slowly() {
    for (const e of entries) {
      yield e
      await tick(2)
    }
  }
  await pipeline(Readable.from(slowly()), chain)
  t.ok(
    a.syncs.some((p) => comparePositions(p, hold) > 0 && comparePositions(p, points.at(-1)!) < 0),
    'synced past the point held',
  )
  t.ok(
    commits.every((p) => comparePositions(p, hold) <= 0 || comparePositions(p, points.at(-1)!) === 0),
    `nothing committed between ${formatPosition(hold)} and the end: ${commits.map(formatPosition).join(' ')}`,
  )
  t.same(commits.at(-1), points.at(-1), 'the last point, once the listener made it durable')
  t.same(chain.committed, points.at(-1))
})

t.test('an open transaction at the end is not committed', async (t) => {
  const { entries } = entriesOf([
    { op: 'pv', version: 1, table: 'db.counters', fields: ['a', '1'] },
    { op: 'ex', fields: [1, 2] },
    { op: 'pv', version: 1, table: 'db.counters', fields: ['b', '2'] },
  ])
  const commits: JournalPosition[] = []
  await pipeline(Readable.from(entries), new ListenerChain({ listeners: [new Collect('a')], commit: (p) => void commits.push(p) }))
  t.same(commits, [{ journal: 1, offset: entries[1]!.position.end }])
})

t.test('commitAt entry commits after any entry; entries without a journal number are never committed', async (t) => {
  const { entries } = entriesOf([{ op: 'pv', version: 1, table: 'db.x', fields: ['a'] }])
  const commits: JournalPosition[] = []
  await pipeline(Readable.from(entries), new ListenerChain({ listeners: [new Collect('a')], commitAt: 'entry', commit: (p) => void commits.push(p) }))
  t.same(commits, [{ journal: 1, offset: entries[0]!.position.end }])
  const anonymous = transactions(2, 1).entries.map(
    (e) => Object.assign(Object.create(Object.getPrototypeOf(e)), e, { position: { ...e.position, journal: null } }) as JournalEntry,
  )
  const none: JournalPosition[] = []
  await pipeline(Readable.from(anonymous), new ListenerChain({ listeners: [new Collect('a')], commit: (p) => void none.push(p) }))
  t.same(none, [])
})

t.test('commits at most once per interval, plus at the end', async (t) => {
  const { entries } = transactions(200, 2)
  const commits: JournalPosition[] = []
  await pipeline(Readable.from(entries), new ListenerChain({ listeners: [new Collect('a')], commitIntervalMs: 3_600_000, commit: (p) => void commits.push(p) }))
  // The first point goes at once (no round ran yet), the rest wait for the interval or the end.
  t.equal(commits.length, 2)
  t.same(commits[1], { journal: 2, offset: entries.at(-1)!.position.end })
})

t.test('nothing is committed before every listener has synced', async (t) => {
  const { entries } = transactions(3, 4)
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const slow = new (class extends Collect {
    override async sync(p: JournalPosition): Promise<void> {
      await gate
      super.sync(p)
    }
  })('slow-sync')
  const commits: JournalPosition[] = []
  const chain = new ListenerChain({ listeners: [new Collect('fast'), slow], commitIntervalMs: 0, commit: (p) => void commits.push(p) })
  const done = pipeline(Readable.from(entries), chain)
  await tick(20)
  t.same(commits, [], 'waiting for the slow sync')
  release()
  await done
  t.ok(commits.length >= 1)
})

t.test('the slowest listener slows the read: what is read but unhandled stays bounded', async (t) => {
  const total = 10_000
  let produced = 0
  const { entries } = transactions(total / 2)
  const source = new Readable({
    objectMode: true,
    highWaterMark: 4,
    read() {
      this.push(produced < total ? entries[produced++] : null)
    },
  })
  let release!: () => void
  let gate = new Promise<void>((r) => (release = r))
  let handled = 0
  const slow = new (class extends BaseListener {
    async listen(): Promise<void> {
      await gate
      handled++
    }
  })('slow')
  const chain = new ListenerChain({ listeners: [new Collect('fast'), slow], highWaterMark: 8 })
  const done = pipeline(source, chain)
  let most = 0
  for (let i = 0; i < 20; i++) {
    await tick(2)
    most = Math.max(most, produced - handled)
    release()
    gate = new Promise<void>((r) => (release = r))
  }
  // chain buffer 8 + slow listener's buffer 8 and the entry in hand + the source's 4 + one in transit.
  const bound = 8 + 9 + 4 + 2
  t.ok(most <= bound, `read ahead ${most} <= ${bound}`)
  t.ok(produced < total, 'the read waited for the slow listener')
  chain.destroy()
  await done.catch(() => {})
})

t.test('a listener that fails for good stops the chain with its error and nothing later is committed', async (t) => {
  const { entries } = transactions(40, 6)
  const bad = entries[41]!
  const failing = new (class extends Collect {
    override listen(e: JournalEntry): void {
      if (e === bad) throw new Error('remote gone')
      super.listen(e)
    }
  })('hot-backup')
  const other = new Collect('mirror')
  const commits: JournalPosition[] = []
  const errors: string[] = []
  const chain = new ListenerChain({
    listeners: [other, failing],
    commitIntervalMs: 0,
    retry: fast,
    commit: (p) => void commits.push(p),
    observer: { listenerError: (name) => errors.push(name) },
  })
  await t.rejects(pipeline(Readable.from(entries), chain), {
    code: 'ERR_LISTENER_FAILED',
    journal: 6,
    offset: bad.position.offset,
    details: { listener: 'hot-backup' },
  })
  t.ok(
    commits.every((p) => p.offset <= bad.position.offset),
    'no commit past the last fully handled entry',
  )
  t.same(errors, ['hot-backup'])
  t.equal(failing.closed, 1, 'the failed listener is closed')
  t.equal(other.closed, 1, 'the others are closed')
})

t.test('a failing commit fails the chain', async (t) => {
  const chain = new ListenerChain({
    listeners: [new Collect('a')],
    commit: () => {
      throw Object.assign(new Error('state disk full'), { code: 'ERR_STATE_WRITE' })
    },
  })
  await t.rejects(pipeline(Readable.from(transactions(2).entries), chain), { code: 'ERR_STATE_WRITE' })
})

t.test('when the input goes quiet: noData(true) then noData(false), quiet events, and a commit of what is pending', async (t) => {
  const input = new PassThrough({ objectMode: true })
  const a = new Collect('a')
  const commits: JournalPosition[] = []
  const seen: boolean[] = []
  const chain = new ListenerChain({
    listeners: [a],
    quietMs: 10,
    commitIntervalMs: 3_600_000,
    commit: (p) => void commits.push(p),
    observer: { quiet: (q) => seen.push(q) },
  })
  const done = pipeline(input, chain)
  const { entries } = transactions(3, 5)
  for (const e of entries) input.write(e)
  await once(chain, 'quiet')
  while (a.quiet.length < 3) await tick(5)
  t.same(a.quiet.slice(0, 3), [true, false, false])
  t.same(commits.at(-1), { journal: 5, offset: entries.at(-1)!.position.end }, 'quiet commits the pending point despite the interval')
  input.write(transactions(1, 5, entries.at(-1)!.position.end).entries[0])
  await tick(1)
  input.end()
  await done
  t.same(seen.slice(0, 2), [true, false])
})

t.test('two listeners with one name are refused', async (t) => {
  t.throws(() => new ListenerChain({ listeners: [new Collect('x'), new Collect('x')] }), TypeError)
})

t.test('per-listener retry settings', async (t) => {
  let attempts = 0
  const flaky = new (class extends BaseListener {
    listen(): void {
      attempts++
      throw new Error('no')
    }
  })('flaky')
  const chain = new ListenerChain({ listeners: [{ listener: flaky, retry: { retries: 5, minTimeout: 1, randomize: false } }], retry: { retries: 0 } })
  await t.rejects(pipeline(Readable.from(transactions(1).entries), chain), { code: 'ERR_LISTENER_FAILED' })
  t.equal(attempts, 6)
})

t.test('destroy closes every listener once and is idempotent', async (t) => {
  const a = new Collect('a')
  const b = new Collect('b')
  const chain = new ListenerChain({ listeners: [a, b] })
  chain.write(transactions(1).entries[0])
  chain.destroy()
  chain.destroy()
  await finished(chain).catch(() => {})
  await Promise.all(chain.writables.map((w) => finished(w).catch(() => {})))
  t.equal(a.closed, 1)
  t.equal(b.closed, 1)
})

t.test('a non-entry chunk is a TypeError', async (t) => {
  await t.rejects(pipeline(Readable.from(['text']), new ListenerChain({ listeners: [new Collect('a')] })), TypeError)
})

t.test('quiet() from outside (quietMs 0): noData and a commit, ignored once the input ended', async (t) => {
  const input = new PassThrough({ objectMode: true })
  const a = new Collect('a')
  const commits: JournalPosition[] = []
  const chain = new ListenerChain({ listeners: [a], quietMs: 0, commitIntervalMs: 3_600_000, commit: (p) => void commits.push(p) })
  const done = pipeline(input, chain)
  const { entries } = transactions(3, 8)
  for (const e of entries) input.write(e)
  await tick(5)
  t.equal(commits.length, 1, 'only the first point so far')
  chain.quiet()
  chain.quiet() // a noData round is running: not piled up
  await once(chain, 'commit')
  t.same(commits.at(-1), { journal: 8, offset: entries.at(-1)!.position.end })
  while (a.quiet.length < 1) await tick(1)
  await tick(1)
  t.same(a.quiet, [true])
  chain.quiet()
  while (a.quiet.length < 2) await tick(1)
  t.same(a.quiet, [true, false])
  input.end()
  chain.quiet()
  await done
  t.same(a.quiet, [true, false])
})

t.test('the default highWaterMark is pinned: 128 entries (see DEFAULT_CHAIN_HIGH_WATER_MARK and docs/listeners.md)', async (t) => {
  const { DEFAULT_CHAIN_HIGH_WATER_MARK, ListenerChain: Chain } = await import('../../lib/listeners/listener-chain.js')
  t.equal(DEFAULT_CHAIN_HIGH_WATER_MARK, 128)
  const chain = new Chain({ listeners: [{ name: 'x', isHandled: () => true, listen: () => {}, noData: () => {}, close: () => {} }] })
  t.equal(chain.writableHighWaterMark, 128)
  chain.destroy()
})

t.test('the commit interval is kept on the monotonic clock: a wall clock stepped back holds no commit back', async (t) => {
  const { entries } = transactions(40, 3)
  const commits: JournalPosition[] = []
  const input = new PassThrough({ objectMode: true })
  const chain = new ListenerChain({ listeners: [new Collect('a')], commitIntervalMs: 50, commit: (p) => void commits.push(p) })
  const done = pipeline(input, chain)
  input.write(entries[0])
  input.write(entries[1])
  while (commits.length === 0) await tick(10)
  // NTP steps the clock back an hour (or a VM is restored): before, the next commit waited for that hour.
  const now = Date.now
  Date.now = () => now() - 3_600_000
  t.teardown(() => void (Date.now = now))
  for (const e of entries.slice(2)) {
    input.write(e)
    await tick(10)
  }
  t.ok(commits.length > 1, `committed again while the entries came, within the interval (${commits.length} commits)`)
  Date.now = now
  input.end()
  await done
  t.same(commits.at(-1), { journal: 3, offset: entries.at(-1)!.position.end })
})
