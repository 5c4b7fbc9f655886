import t from 'tap'
import { StatusTracker } from '../../lib/status/status-tracker.js'
import { JournalEntry } from '../../lib/journal/entry.js'
import { encodeRecord } from '../../lib/journal/encoder.js'
import { LogdaemonError, ErrorCodes } from '../../lib/errors.js'

/** A fake clock starting at a whole 5-second boundary. */
function clock(start = Date.UTC(2024, 0, 1, 12, 0, 0)) {
  let now = start
  return { now: () => now, advance: (ms: number) => void (now += ms), start }
}

/** Entries as a journal would hold them, each following the last. */
function entries(journal: number, count: number, offset = 0): JournalEntry[] {
  const out: JournalEntry[] = []
  for (let i = 0; i < count; i++) {
    const raw = encodeRecord({ op: 'pv', version: 3, table: 'db.counters', fields: [`change`, offset + i] })
    out.push(new JournalEntry(raw, { journal, offset, end: offset + raw.length, line: i + 1 }))
    offset += raw.length
  }
  return out
}

t.test('a fresh tracker reports nothing known', async (t) => {
  const c = clock()
  const s = new StatusTracker({ now: c.now, version: '9.9.9' }).snapshot()
  t.match(s, {
    version: '9.9.9',
    root: null,
    now: new Date(c.start).toISOString(),
    startedAt: new Date(c.start).toISOString(),
    uptimeSeconds: 0,
    position: null,
    committed: null,
    liveJournal: { number: null, path: null, size: null },
    lagBytes: null,
    entriesTotal: 0,
    entriesPerSecond: 0,
    history: { resolutionSeconds: 5, points: [] },
    listeners: [],
    retries: 0,
    errors: 0,
    lastError: null,
    lastActivity: null,
    lastRotation: null,
    quiet: false,
  })
  t.strictSame(JSON.parse(JSON.stringify(s)), s, 'the snapshot is plain JSON')
})

t.test('the version defaults to the package version', async (t) => {
  t.match(new StatusTracker().snapshot().version, /^\d+\.\d+\.\d+/)
})

t.test('position, live journal, lag and committed', async (t) => {
  const c = clock()
  const tr = new StatusTracker({ now: c.now })
  tr.started({ root: '/p4/root', liveJournal: '/p4/root/journal' })
  const es = entries(41, 3)
  const last = es[2]!
  for (const e of es) tr.entryRead(e)
  let s = tr.snapshot()
  t.equal(s.root, '/p4/root')
  t.equal(s.position, `41/${last.position.end}`)
  t.equal(s.lagBytes, null, 'lag is unknown before the live size is known')

  tr.liveSize({ journal: 41, size: last.position.end + 100 })
  s = tr.snapshot()
  t.strictSame(s.liveJournal, { number: 41, path: '/p4/root/journal', size: last.position.end + 100 })
  t.equal(s.lagBytes, 100, 'lag is live size minus the read offset')

  tr.liveSize({ journal: 42, size: 10 })
  t.equal(tr.snapshot().lagBytes, null, 'lag is unknown while catching up on an older journal')
  tr.liveSize({ journal: 41, size: 0 })
  t.equal(tr.snapshot().lagBytes, 0, 'a live journal smaller than the read offset reports no lag')
  tr.liveSize({ journal: 41, size: null })
  t.equal(tr.snapshot().lagBytes, null)

  tr.committed({ journal: 41, offset: es[1]!.position.end })
  t.equal(tr.snapshot().committed, `41/${es[1]!.position.end}`)
})

t.test('entries with an unknown journal number have no position text', async (t) => {
  const tr = new StatusTracker()
  const raw = encodeRecord({ op: 'ex', fields: [1] })
  tr.entryRead(new JournalEntry(raw, { journal: null, offset: 0, end: raw.length, line: 1 }))
  const s = tr.snapshot()
  t.equal(s.position, null)
  t.equal(s.entriesTotal, 1)
})

t.test('listeners: counts, retries, errors and last activity', async (t) => {
  const c = clock()
  const tr = new StatusTracker({ now: c.now })
  tr.addListener('mirror')
  tr.addListener('notify')
  t.strictSame(tr.listenerNames, ['mirror', 'notify'])
  t.match(tr.snapshot().listeners, [
    { name: 'mirror', handled: 0, skipped: 0, retries: 0, errors: 0, lastError: null, lastActivity: null },
    { name: 'notify', handled: 0 },
  ])

  const [e1, e2] = entries(1, 2)
  c.advance(1500)
  tr.listenerHandled('mirror', e1!)
  tr.listenerSkipped('notify')
  c.advance(1000)
  tr.listenerHandled('mirror', e2!)
  tr.listenerRetry('notify', Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' }))
  tr.listenerRetry('notify', new Error('still refused'))
  let s = tr.snapshot()
  t.match(s.listeners, [
    { name: 'mirror', handled: 2, skipped: 0, retries: 0, errors: 0, lastActivity: new Date(c.start + 2500).toISOString() },
    { name: 'notify', handled: 0, skipped: 1, retries: 2, errors: 0, lastActivity: new Date(c.start + 1500).toISOString() },
  ])
  t.match(s.listeners[1]!.lastError, { message: 'still refused', code: null, listener: 'notify' })
  t.equal(s.retries, 2)
  t.equal(s.errors, 0)
  t.equal(s.lastError, null, 'retries are not errors')

  const failed = new LogdaemonError(ErrorCodes.LISTENER_FAILED, 'notify failed at 1/0')
  tr.listenerError('notify', failed)
  s = tr.snapshot()
  t.equal(s.errors, 1)
  t.match(s.lastError, { message: 'notify failed at 1/0', code: 'ERR_LISTENER_FAILED', listener: 'notify', at: new Date(c.start + 2500).toISOString() })
  t.match(s.listeners[1], { errors: 1, lastError: { code: 'ERR_LISTENER_FAILED' } })

  tr.listenerHandled('late', e1!)
  t.equal(tr.snapshot().listeners[2]?.name, 'late', 'an unregistered name is added on first use')

  tr.error(Object.assign(new Error('journal gap'), { code: 'ERR_JOURNAL_GAP' }))
  s = tr.snapshot()
  t.equal(s.errors, 2)
  t.match(s.lastError, { code: 'ERR_JOURNAL_GAP', listener: null })
})

t.test('rotation, quiet state and uptime', async (t) => {
  const c = clock()
  const tr = new StatusTracker({ now: c.now })
  c.advance(61_500)
  tr.rotated({ from: 41, to: 42, mode: 'rename' })
  tr.quiet(true)
  let s = tr.snapshot()
  t.strictSame(s.lastRotation, { at: new Date(c.start + 61_500).toISOString(), from: 41, to: 42, mode: 'rename' })
  t.equal(s.quiet, true)
  t.equal(s.uptimeSeconds, 61)
  tr.quiet(false)
  s = tr.snapshot()
  t.equal(s.quiet, false)
})

t.test('entries per second over the last 10 seconds, and the history', async (t) => {
  const c = clock()
  const tr = new StatusTracker({ now: c.now })
  const feed = (n: number) => {
    for (const e of entries(1, n)) tr.entryRead(e)
  }
  // 20 entries in each of the first 10 seconds.
  for (let i = 0; i < 10; i++) {
    feed(20)
    c.advance(1000)
  }
  let s = tr.snapshot()
  t.equal(s.entriesTotal, 200)
  t.equal(s.entriesPerSecond, 20)
  t.equal(s.lastActivity, new Date(c.start + 9000).toISOString())
  t.strictSame(
    s.history.points.map((p) => [p.entries, p.perSecond]),
    [
      [100, 20],
      [100, 20],
    ],
  )
  t.equal(s.history.points[0]!.at, new Date(c.start).toISOString())

  // Half the window quiet: the rate halves; the partial second does not count yet.
  c.advance(5000)
  feed(7)
  s = tr.snapshot()
  t.equal(s.entriesPerSecond, 10)
  t.strictSame(
    s.history.points.map((p) => p.perSecond),
    [20, 20, 0],
    'a quiet interval is a zero point',
  )
  c.advance(1000)
  t.equal(tr.snapshot().entriesPerSecond, (4 * 20 + 7) / 10, 'the window slides: seconds 6 to 15')

  // Just after start, the rate averages the seconds run so far.
  const c2 = clock()
  const young = new StatusTracker({ now: c2.now })
  for (const e of entries(1, 30)) young.entryRead(e)
  t.equal(young.snapshot().entriesPerSecond, 0, 'no complete second yet')
  c2.advance(1000)
  for (const e of entries(1, 10)) young.entryRead(e)
  c2.advance(1000)
  t.equal(young.snapshot().entriesPerSecond, 20)
})

t.test('a start mid-interval rates the first point over the seconds it ran', async (t) => {
  const c = clock(Date.UTC(2024, 0, 1, 12, 0, 3))
  const tr = new StatusTracker({ now: c.now })
  for (const e of entries(1, 8)) tr.entryRead(e)
  c.advance(2000)
  const points = tr.snapshot().history.points
  t.equal(points.length, 1)
  t.match(points[0], { at: new Date(Date.UTC(2024, 0, 1, 12, 0, 0)).toISOString(), entries: 8, perSecond: 4 })
})

t.test('the history is bounded to 10 minutes and survives long silences', async (t) => {
  const c = clock()
  const tr = new StatusTracker({ now: c.now })
  for (let i = 0; i < 200; i++) {
    for (const e of entries(1, i % 7)) tr.entryRead(e)
    c.advance(5000)
  }
  let s = tr.snapshot()
  t.equal(s.history.points.length, 120, '120 points of 5 s')
  t.equal(s.history.points.at(-1)!.perSecond, (199 % 7) / 5)
  t.equal(s.history.points[0]!.perSecond, (80 % 7) / 5)
  t.equal(
    s.entriesTotal,
    Array.from({ length: 200 }, (_, i) => i % 7).reduce((a, b) => a + b),
  )

  c.advance(3 * 3600_000)
  s = tr.snapshot()
  t.equal(s.history.points.length, 120)
  t.ok(
    s.history.points.every((p) => p.entries === 0),
    'old counts are gone after a long silence',
  )
  t.equal(s.entriesPerSecond, 0)
  for (const e of entries(1, 5)) tr.entryRead(e)
  c.advance(1000)
  t.equal(tr.snapshot().entriesPerSecond, 0.5)
})

t.test('a clock that steps back counts into the newest second', async (t) => {
  const c = clock()
  const tr = new StatusTracker({ now: c.now })
  c.advance(3000)
  for (const e of entries(1, 3)) tr.entryRead(e)
  c.advance(-2000)
  for (const e of entries(1, 3)) tr.entryRead(e)
  c.advance(3000)
  const s = tr.snapshot()
  t.equal(s.entriesTotal, 6)
  t.equal(s.entriesPerSecond, 6 / 4)
})

t.test('health: Failed over Retrying over Behind over Reading; Caught up at the live end', async (t) => {
  let now = Date.UTC(2024, 0, 1)
  let live = 1000
  const tracker = new StatusTracker({ now: () => now, health: { behindBytes: 500, behindSeconds: 60 } })
  let probes = 0
  tracker.setProbe(async (from) => {
    probes++
    t.equal(from, 7, 'measured from the oldest position it needs')
    return [{ journal: 7, path: '/r/journal', size: live, estimated: false, mtimeMs: now, live: true }]
  })
  tracker.started({ root: '/r', liveJournal: '/r/journal', start: { journal: 7, offset: 0 } })
  tracker.addListener('a', () => {
    throw new Error('a broken hook')
  })
  tracker.addListener('b', () => '7/10')
  t.equal(tracker.snapshot().health, 'Reading', 'not measured yet')
  await Promise.all([tracker.measure(), tracker.measure(), tracker.measure(), tracker.measure()])
  t.equal(probes, 2, 'reads during a measurement share the next one: one running, one queued')
  let s = tracker.snapshot()
  t.equal(s.lagBytes, 1000)
  t.equal(s.health, 'Behind')
  t.same(
    s.listeners.map((l) => l.acknowledged),
    [null, '7/10'],
    'a throwing hook shows as null',
  )
  const e = new JournalEntry(Buffer.from('@ex@ 1 1 \n'), { journal: 7, offset: 0, end: 900, line: 1 })
  tracker.entryRead(e)
  s = tracker.snapshot()
  t.equal(s.lagBytes, 100)
  t.equal(s.health, 'Reading', 'within the thresholds, not at the end')
  t.match(s.catchUp, { journal: 1, journals: 1, percent: 90 })
  tracker.listenerRetry('a', new Error('peer down'))
  t.equal(tracker.snapshot().health, 'Retrying')
  t.match(tracker.snapshot().healthReason, /listener a is retrying after Error: peer down/)
  tracker.listenerHandled('a', e)
  t.equal(tracker.snapshot().health, 'Reading', 'a success ends Retrying')
  now += 120_000
  t.equal(tracker.snapshot().health, 'Behind', 'the oldest uncommitted byte is 2 minutes old')
  t.equal(tracker.snapshot().lagSeconds, 120)
  tracker.entryRead(new JournalEntry(Buffer.from('@ex@ 1 1 \n'), { journal: 7, offset: 900, end: 1000, line: 2 }))
  tracker.committed({ journal: 7, offset: 1000 })
  s = tracker.snapshot()
  t.equal(s.health, 'Caught up')
  t.equal(s.lagSeconds, 0)
  t.equal(s.catchUp, null)
  tracker.failed(new Error('disk full'))
  t.equal(tracker.snapshot().health, 'Failed')
  live = 2000
  now += 1000
  await tracker.measure()
  t.equal(tracker.snapshot().lagBytes, 1000, 'the next read measures again')
})

t.test('health: Behind while the live journal is not on disk, or the journals cannot be listed, for longer than a rotation takes', async (t) => {
  let now = Date.UTC(2024, 0, 1)
  let outcome: 'here' | 'gone' | 'root gone' = 'here'
  const tracker = new StatusTracker({ now: () => now })
  tracker.setProbe(async () => {
    if (outcome === 'root gone') throw Object.assign(new Error("ENOENT: no such file or directory, scandir '/r'"), { code: 'ENOENT' })
    return [{ journal: 7, path: outcome === 'here' ? '/r/journal' : null, size: outcome === 'here' ? 100 : 0, estimated: false, mtimeMs: now, live: true }]
  })
  tracker.started({ root: '/r', liveJournal: '/r/journal', start: { journal: 7, offset: 0 } })
  tracker.entryRead(new JournalEntry(Buffer.from('@ex@ 1 1 \n'), { journal: 7, offset: 0, end: 100, line: 1 }))
  tracker.committed({ journal: 7, offset: 100 })
  await tracker.measure()
  t.equal(tracker.snapshot().health, 'Caught up')
  outcome = 'gone'
  await tracker.measure()
  now += 5_000
  await tracker.measure()
  t.equal(tracker.snapshot().health, 'Caught up', 'a moment without a live journal is a rotation')
  t.equal(tracker.journalsMissing(), null)
  now += 30_000
  await tracker.measure()
  let s = tracker.snapshot()
  t.equal(s.health, 'Behind', 'the live journal gone for 35 s')
  t.equal(s.healthReason, 'the live journal /r/journal is not on disk since 2024-01-01T00:00:00.000Z (35 s): nothing new can be read')
  t.match(tracker.journalsMissing(), { since: '2024-01-01T00:00:00.000Z', seconds: 35 })
  outcome = 'root gone'
  now += 1_000
  await tracker.measure()
  s = tracker.snapshot()
  t.equal(s.health, 'Behind')
  t.match(s.healthReason, /^the journals cannot be listed \(ENOENT: no such file or directory, scandir '\/r'\) since 2024-01-01T00:00:00.000Z \(36 s\)/)
  outcome = 'here'
  now += 1_000
  await tracker.measure()
  t.equal(tracker.snapshot().health, 'Caught up', 'back when it is back')
  t.equal(tracker.journalsMissing(), null)
})

t.test('entriesRead counts a batch as entryRead counts its entries one by one', async (t) => {
  const c = clock()
  const one = new StatusTracker({ now: c.now, version: '1' })
  const many = new StatusTracker({ now: c.now, version: '1' })
  for (const tr of [one, many]) tr.started({ root: '/p4/root', liveJournal: '/p4/root/journal' })
  const first = entries(7, 40)
  const second = entries(7, 25, first.at(-1)?.position.end)
  for (const batch of [first, [], second]) {
    for (const e of batch) one.entryRead(e)
    many.entriesRead(batch)
    c.advance(1500)
  }
  c.advance(6000)
  t.strictSame(many.snapshot(), one.snapshot(), 'the same status: totals, position, rate and history')
  t.equal(many.snapshot().entriesTotal, 65)
})

t.test('entries handled by listeners in turn are counted for each', async (t) => {
  const c = clock()
  const tr = new StatusTracker({ now: c.now })
  tr.addListener('a')
  const es = entries(1, 6)
  for (const e of es) {
    tr.listenerHandled('a', e)
    tr.listenerHandled('b', e)
    tr.listenerHandled('b', e)
  }
  tr.listenerSkipped('a')
  const byName = Object.fromEntries(tr.snapshot().listeners.map((l) => [l.name, l]))
  t.equal(byName.a?.handled, 6)
  t.equal(byName.a?.skipped, 1)
  t.equal(byName.b?.handled, 12)
})

t.test('listenerProgress adds counts, ends a retrying state and marks activity', async (t) => {
  const c = clock()
  const tr = new StatusTracker({ now: c.now })
  tr.addListener('mirror')
  tr.listenerRetry('mirror', new Error('refused'))
  t.match(tr.snapshot().listeners, [{ name: 'mirror', retrying: true }])
  c.advance(1000)
  tr.listenerProgress('mirror', 3, 2)
  tr.listenerProgress('mirror', 1, 0)
  t.match(tr.snapshot().listeners, [{ name: 'mirror', handled: 4, skipped: 2, retrying: false, lastActivity: new Date(c.start + 1000).toISOString() }])
})
