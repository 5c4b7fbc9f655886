import t from 'tap'
import type { Test } from 'tap'
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, renameSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { setTimeout as sleep } from 'node:timers/promises'
import { JournalCursor, type CursorStep } from '../../lib/source/journal-cursor.js'
import { CHUNK_BYTES, READ_AHEAD_CHUNKS } from '../../lib/source/archive-reader.js'
import { rewriteInPlace } from '../helpers/rewrite.js'
import { STATE_TAIL_BYTES, tailFingerprint } from '../../lib/files/state-file.js'

/** The bytes of a block read ahead. */
const READ_AHEAD_BYTES = READ_AHEAD_CHUNKS * CHUNK_BYTES

/** `n` bytes of recognisable records: `@ex@ <tag><i> 0\n` padded by index. */
function records(tag: string, bytes: number): Buffer {
  const parts: string[] = []
  let size = 0
  for (let i = 0; size < bytes; i++) {
    const r = `@ex@ ${tag}${i} ${'0'.repeat(i % 50)}\n`
    parts.push(r)
    size += r.length
  }
  return Buffer.from(parts.join('')).subarray(0, bytes)
}

function setup(t: Test, options: { graceMs?: number; now?: () => number } = {}) {
  const root = t.testdir()
  const ac = new AbortController()
  const cursor = new JournalCursor({
    layout: { root },
    pollMs: 50,
    graceMs: options.graceMs ?? 300,
    signal: ac.signal,
    gzipRetry: { pollMs: 20, stableMs: 60 },
    ...(options.now ? { now: options.now } : {}),
  })
  t.teardown(async () => {
    ac.abort()
    await cursor.close()
  })
  return { root, live: join(root, 'journal'), cursor }
}

/** Reads steps until `stop` says so; returns the bytes per journal and the end steps. */
async function readUntil(cursor: JournalCursor, stop: (s: CursorStep, got: Map<number, Buffer>) => boolean) {
  const got = new Map<number, Buffer>()
  const ends: (CursorStep & { kind: 'end' })[] = []
  for (;;) {
    const journal = cursor.journal
    const s = await cursor.next()
    if (s.kind === 'data') got.set(journal, Buffer.concat([got.get(journal) ?? Buffer.alloc(0), s.bytes]))
    else ends.push(s)
    if (stop(s, got)) return { got, ends }
  }
}

t.test('copy and truncate while stopped mid-journal, the new journal grown past the offset', async (t) => {
  const { root, live, cursor } = setup(t)
  const n4 = records('a', 600_000)
  const n5 = records('b', 900_000)
  writeFileSync(live, n4)
  await cursor.open(4, 0)
  const first = await cursor.next()
  t.equal(first.kind, 'data')
  const readSoFar = cursor.offset
  t.ok(readSoFar < n4.length, 'stopped inside journal 4')
  copyFileSync(live, join(root, 'journal.4'))
  truncateSync(live, 0)
  appendFileSync(live, n5)
  const { got, ends } = await readUntil(cursor, (_s, g) => (g.get(5)?.length ?? 0) === n5.length)
  t.same(
    Buffer.concat([first.kind === 'data' ? first.bytes : Buffer.alloc(0), got.get(4) ?? Buffer.alloc(0)]),
    n4,
    'journal 4 whole, the rest from its archive',
  )
  t.same(got.get(5), n5, 'journal 5 from its start')
  t.same(
    ends.map((e) => [e.journal, e.end, e.mode]),
    [[4, n4.length, 'copy-truncate']],
  )
})

t.test('a copy under way (archive present, live not yet truncated) keeps reading the live file', async (t) => {
  const { root, live, cursor } = setup(t)
  const n4 = records('a', 100_000)
  writeFileSync(live, n4.subarray(0, 70_000))
  await cursor.open(4, 0)
  await cursor.next()
  // The copy has started: a partial archive exists.
  writeFileSync(join(root, 'journal.4'), n4.subarray(0, 10_000))
  appendFileSync(live, n4.subarray(70_000))
  const s = await cursor.next()
  t.equal(s.kind, 'data')
  t.equal(cursor.offset, n4.length, 'read on from the live file, past the partial archive')
  // The copy completes, the live file is truncated and journal 5 begins.
  writeFileSync(join(root, 'journal.4'), n4)
  truncateSync(live, 0)
  appendFileSync(live, records('b', 1000))
  const { ends, got } = await readUntil(cursor, (_s, g) => (g.get(5)?.length ?? 0) === 1000)
  t.same(
    ends.map((e) => [e.journal, e.end, e.mode]),
    [[4, n4.length, 'copy-truncate']],
  )
  t.equal(got.get(4), undefined, 'nothing more of journal 4')
})

t.test('copy and truncate before the first byte was read: the beginnings differ', async (t) => {
  const { root, live, cursor } = setup(t)
  writeFileSync(live, '')
  await cursor.open(4, 0)
  const n4 = records('a', 5000)
  const n5 = records('b', 7000)
  writeFileSync(join(root, 'journal.4'), n4)
  writeFileSync(live, n5) // same inode: writeFileSync truncates and writes
  const { got, ends } = await readUntil(cursor, (_s, g) => (g.get(5)?.length ?? 0) === n5.length)
  t.same(got.get(4), n4)
  t.same(
    ends.map((e) => e.mode),
    ['copy-truncate'],
  )
})

t.test('rename to a place the reader does not know: the old file is drained, then the new one read', async (t) => {
  const { root, live, cursor } = setup(t)
  mkdirSync(join(root, 'elsewhere'))
  writeFileSync(live, records('a', 1000))
  await cursor.open(4, 0)
  await cursor.next()
  appendFileSync(live, records('c', 500))
  renameSync(live, join(root, 'elsewhere', 'old'))
  writeFileSync(live, records('b', 800))
  const { got, ends } = await readUntil(cursor, (_s, g) => (g.get(5)?.length ?? 0) === 800)
  t.equal(got.get(4)?.length, 500, 'the bytes appended before the rename')
  t.same(
    ends.map((e) => [e.journal, e.end, e.mode]),
    [[4, 1500, 'rename']],
  )
})

t.test('the live journal missing after a rename: the cursor waits for it', async (t) => {
  const { root, live, cursor } = setup(t)
  writeFileSync(live, records('a', 1000))
  await cursor.open(4, 0)
  await cursor.next()
  renameSync(live, join(root, 'journal.4'))
  const pending = readUntil(cursor, (_s, g) => (g.get(5)?.length ?? 0) === 600)
  setTimeout(() => writeFileSync(live, records('b', 600)), 150)
  const { ends } = await pending
  t.same(
    ends.map((e) => e.mode),
    ['rename'],
  )
})

t.test('shrunk below the offset with no archive: ERR_JOURNAL_SHRUNK after the grace period', async (t) => {
  // The grace period runs on a clock the test moves: the cursor must keep
  // waiting however often it looks while the clock stands still.
  let clock = 1_000_000
  let looks = 0
  const now = () => {
    looks++
    return clock
  }
  const { live, cursor } = setup(t, { graceMs: 200, now })
  writeFileSync(live, records('a', 1000))
  await cursor.open(4, 0)
  await cursor.next()
  truncateSync(live, 10)
  let settled = false
  const next = cursor.next().finally(() => {
    settled = true
  })
  next.catch(() => {})
  while (looks < 3) await sleep(10)
  t.equal(settled, false, `still waiting after looking ${looks} times within the grace period`)
  clock += 199
  const before = looks
  while (looks < before + 2) await sleep(10)
  t.equal(settled, false, 'still waiting 1 ms before the grace period ends')
  clock += 1
  await t.rejects(next, { code: 'ERR_JOURNAL_SHRUNK', journal: 4, offset: 1000 }, 'fails once the grace period is over')
})

t.test('an empty archive facing a live file with other bytes: after the grace period, the archive', async (t) => {
  const { root, live, cursor } = setup(t, { graceMs: 200 })
  writeFileSync(live, '')
  await cursor.open(4, 0)
  writeFileSync(join(root, 'journal.4'), '')
  writeFileSync(live, records('b', 300))
  const { got, ends } = await readUntil(cursor, (_s, g) => (g.get(5)?.length ?? 0) === 300)
  t.equal(got.get(4), undefined, 'journal 4 was empty')
  t.same(
    ends.map((e) => [e.journal, e.end]),
    [[4, 0]],
  )
})

t.test('copy and truncate to a .gz still being written: retried until whole', async (t) => {
  const { root, live, cursor } = setup(t)
  const n4 = records('a', 50_000)
  writeFileSync(live, n4.subarray(0, 20_000))
  await cursor.open(4, 0)
  await cursor.next()
  appendFileSync(live, n4.subarray(20_000))
  const gz = gzipSync(n4)
  writeFileSync(join(root, 'journal.4.gz'), gz.subarray(0, gz.length >> 1))
  truncateSync(live, 0)
  setTimeout(() => writeFileSync(join(root, 'journal.4.gz'), gz), 60)
  const { got, ends } = await readUntil(cursor, (s) => s.kind === 'end')
  t.same(got.get(4), n4.subarray(20_000))
  t.same(
    ends.map((e) => e.mode),
    ['copy-truncate'],
  )
})

t.test('several rotations, archives plain and gz: read in order from the archives, then live', async (t) => {
  const { root, live, cursor } = setup(t)
  const j = [records('a', 100), records('b', 70_000), records('c', 10), records('d', 2000)]
  writeFileSync(join(root, 'journal.1'), j[0] as Buffer)
  writeFileSync(join(root, 'journal.2.gz'), gzipSync(j[1] as Buffer))
  writeFileSync(join(root, 'journal.3'), j[2] as Buffer)
  writeFileSync(live, j[3] as Buffer)
  await cursor.open(1, 0)
  const { got, ends } = await readUntil(cursor, (_s, g) => (g.get(4)?.length ?? 0) === 2000)
  t.same(
    [1, 2, 3, 4].map((n) => got.get(n)),
    j,
  )
  t.same(
    ends.map((e) => [e.journal, e.mode]),
    [
      [1, 'archived'],
      [2, 'archived'],
      [3, 'archived'],
    ],
  )
  t.same(cursor.live, { journal: 4, path: live, size: 2000 })
})

t.test('a missing journal on the way to the live one: ERR_JOURNAL_GAP', async (t) => {
  const { root, live, cursor } = setup(t)
  writeFileSync(join(root, 'journal.1'), records('a', 100))
  writeFileSync(join(root, 'journal.3'), records('c', 100))
  writeFileSync(live, records('d', 100))
  await cursor.open(1, 0)
  await cursor.next()
  t.equal((await cursor.next()).kind, 'end')
  await t.rejects(cursor.next(), { code: 'ERR_JOURNAL_GAP', details: { missing: [2] } })
})

t.test('open reports the bytes before the offset and whether the journal reaches it', async (t) => {
  const { root, live, cursor } = setup(t)
  const n = records('a', 1000)
  writeFileSync(join(root, 'journal.1.gz'), gzipSync(n))
  writeFileSync(live, n)
  const a = await cursor.open(1, 600)
  t.same(a.before, n.subarray(600 - 256, 600))
  t.equal(a.reached, true)
  t.equal(cursor.file?.compressed, true)
  await cursor.close()
  const ac = new AbortController()
  const c2 = new JournalCursor({ layout: { root }, signal: ac.signal })
  const b = await c2.open(2, 5000)
  t.same([b.reached, b.available], [false, 1000], 'the live journal is shorter than the offset')
  await c2.close()
  unlinkSync(live)
  const c3 = new JournalCursor({ layout: { root }, signal: ac.signal })
  t.same(await c3.open(2, 5), { before: Buffer.alloc(0), reached: false, available: null }, 'no live journal at all')
  await c3.close()
})

t.test('copied and truncated, but the archive is shorter than what was read: ERR_JOURNAL_SHRUNK', async (t) => {
  const { root, live, cursor } = setup(t)
  writeFileSync(live, records('a', 3000))
  await cursor.open(4, 0)
  await cursor.next()
  writeFileSync(join(root, 'journal.4'), records('a', 1000))
  truncateSync(live, 0)
  await t.rejects(cursor.next(), { code: 'ERR_JOURNAL_SHRUNK', message: /holds only 1000 bytes/ })
})

t.test('at offset 0, a .gz archive still being written while the live file has bytes: wait, then decide', async (t) => {
  const { root, live, cursor } = setup(t, { graceMs: 5000 })
  writeFileSync(live, '')
  await cursor.open(4, 0)
  const n4 = records('a', 4000)
  const gz = gzipSync(n4)
  writeFileSync(join(root, 'journal.4.gz'), gz.subarray(0, 10))
  writeFileSync(live, records('b', 500))
  setTimeout(() => writeFileSync(join(root, 'journal.4.gz'), gz), 150)
  const { got, ends } = await readUntil(cursor, (_s, g) => (g.get(5)?.length ?? 0) === 500)
  t.same(got.get(4), n4)
  t.same(
    ends.map((e) => e.mode),
    ['copy-truncate'],
  )
})

t.test('an archive replaced by its .gz between finding and opening: found again', async (t) => {
  const real = await import('../../lib/source/archive-reader.js')
  let failures = 0
  const RacyReader = {
    async open(...args: Parameters<typeof real.ArchiveReader.open>) {
      const [file] = args
      if (!file.compressed && failures++ === 0) {
        // gzip finishes right now: journal.4 goes, journal.4.gz is complete.
        writeFileSync(`${file.path}.gz`, gzipSync(readFileSync(file.path)))
        unlinkSync(file.path)
        throw Object.assign(new Error(`ENOENT: no such file or directory, open '${file.path}'`), { code: 'ENOENT' })
      }
      return real.ArchiveReader.open(...args)
    },
  }
  const { JournalCursor: Mocked } = await t.mockImport<typeof import('../../lib/source/journal-cursor.js')>('../../lib/source/journal-cursor.js', {
    '../../lib/source/archive-reader.js': { ...real, ArchiveReader: RacyReader },
  })
  const root = t.testdir()
  const n4 = records('a', 3000)
  writeFileSync(join(root, 'journal.4'), n4)
  writeFileSync(join(root, 'journal'), '')
  const ac = new AbortController()
  const cursor = new Mocked({ layout: { root }, signal: ac.signal })
  t.teardown(() => cursor.close())
  await cursor.open(4, 100)
  const s = await cursor.next()
  t.same(s.kind === 'data' ? s.bytes : null, n4.subarray(100))
  t.equal(cursor.file?.compressed, true)
  t.equal(failures, 1)
})

t.test('rewritten in place between two reads that returned data (no wait at the end): ERR_STATE_MISMATCH, no new byte', async (t) => {
  const { live, cursor } = setup(t, { graceMs: 100 })
  writeFileSync(live, records('a', 400_000))
  await cursor.open(7, 0)
  const first = await cursor.next()
  t.equal(first.kind, 'data')
  const at = cursor.offset
  t.ok(at > 0 && at < 400_000, 'the first read stopped inside the file')
  const old = records('a', 400_000)
  rewriteInPlace(live, records('b', 600_000))
  // The bytes after a full chunk are read ahead while it is handed out: read before the rewrite, they are
  // the old journal's continuation, and may come before the error (one block at most). No new byte ever does.
  const after: Buffer[] = []
  const err = await (async () => {
    for (;;) {
      const s = await cursor.next()
      if (s.kind === 'data') after.push(s.bytes)
    }
  })().catch((e: unknown) => e)
  t.match(err, { code: 'ERR_STATE_MISMATCH' }, 'a read after the rewrite notices before handing out a byte of it')
  const got = Buffer.concat(after)
  t.ok(got.length <= READ_AHEAD_BYTES, 'at most the block read ahead came first')
  t.ok(got.equals(old.subarray(at, at + got.length)), 'what came is the old journal, in order')
  t.equal(cursor.offset, at + got.length, 'nothing else after the offset was taken')
})

t.test('rewritten in place while the cursor is at the end: ERR_STATE_MISMATCH after the grace period', async (t) => {
  const { live, cursor } = setup(t, { graceMs: 100 })
  const old = records('a', 5000)
  writeFileSync(live, old)
  await cursor.open(7, 0)
  t.same(await readUntil(cursor, (_s, got) => (got.get(7)?.length ?? 0) === old.length).then((r) => r.got.get(7)), old)
  const waiting = cursor.next()
  rewriteInPlace(live, records('b', 9000))
  await t.rejects(waiting, { code: 'ERR_STATE_MISMATCH' })
  t.equal(cursor.offset, old.length)
})

t.test('the same bytes written again over the file (a copy of the same journal) are not a rewrite', async (t) => {
  const { live, cursor } = setup(t, { graceMs: 100 })
  const old = records('a', 5000)
  writeFileSync(live, old)
  await cursor.open(7, 0)
  await readUntil(cursor, (_s, got) => (got.get(7)?.length ?? 0) === old.length)
  const more = Buffer.concat([old, records('z', 3000)])
  rewriteInPlace(live, more)
  const s = await cursor.next()
  t.same(s.kind === 'data' ? s.bytes : null, more.subarray(old.length))
})

t.test('rotated by rename or by copy and truncate while a block is read ahead: journal N whole, then N+1', async (t) => {
  for (const mode of ['rename', 'copy-truncate'] as const) {
    await t.test(mode, async (t) => {
      const { root, live, cursor } = setup(t)
      const n4 = records('a', 5 * READ_AHEAD_BYTES + 777)
      const n5 = records('b', 3 * READ_AHEAD_BYTES)
      writeFileSync(live, n4)
      await cursor.open(4, 0)
      const parts: Buffer[] = []
      for (let i = 0; i < 3; i++) {
        const s = await cursor.next()
        if (s.kind === 'data') parts.push(s.bytes)
      }
      t.ok(cursor.offset > CHUNK_BYTES && cursor.offset < n4.length, 'inside journal 4, a block read ahead')
      if (mode === 'rename') {
        renameSync(live, join(root, 'journal.4'))
      } else {
        copyFileSync(live, join(root, 'journal.4'))
        truncateSync(live, 0)
      }
      writeFileSync(live, n5)
      const { got, ends } = await readUntil(cursor, (_s, g) => (g.get(5)?.length ?? 0) === n5.length)
      t.ok(Buffer.concat([...parts, got.get(4) ?? Buffer.alloc(0)]).equals(n4), 'journal 4: every byte once, in order')
      t.ok(got.get(5)?.equals(n5), 'journal 5 from its start')
      t.same(
        ends.map((e) => [e.journal, e.end, e.mode]),
        [[4, n4.length, mode]],
      )
    })
  }
})

t.test('renamed, then written to under its new name: the reader at its end drains the rest, then reads the new journal', async (t) => {
  const { root, live, cursor } = setup(t)
  const n4 = records('a', 3000)
  const n5 = records('b', 700)
  writeFileSync(live, n4.subarray(0, 2000))
  await cursor.open(4, 0)
  await readUntil(cursor, (_s, g) => (g.get(4)?.length ?? 0) === 2000)
  renameSync(live, join(root, 'journal.4'))
  // The server wrote its last records through its descriptor, after the rename.
  appendFileSync(join(root, 'journal.4'), n4.subarray(2000))
  writeFileSync(live, n5)
  const { got, ends } = await readUntil(cursor, (_s, g) => (g.get(5)?.length ?? 0) === n5.length)
  t.same(got.get(4), n4.subarray(2000), 'the rest of journal 4, from the renamed file')
  t.same(got.get(5), n5)
  t.same(
    ends.map((e) => [e.journal, e.end, e.mode]),
    [[4, n4.length, 'rename']],
  )
})

t.test('renamed before its first byte was read: journal N from the renamed file, then N+1', async (t) => {
  const { root, live, cursor } = setup(t)
  const n4 = records('a', 2500)
  const n5 = records('b', 900)
  writeFileSync(live, n4)
  await cursor.open(4, 0)
  renameSync(live, join(root, 'journal.4'))
  writeFileSync(live, n5)
  const { got, ends } = await readUntil(cursor, (_s, g) => (g.get(5)?.length ?? 0) === n5.length)
  t.same(got.get(4), n4)
  t.same(got.get(5), n5)
  t.same(
    ends.map((e) => [e.journal, e.mode]),
    [[4, 'rename']],
  )
})

t.test('a copy under way while the reader waits at the live end: it keeps waiting on the live file', async (t) => {
  const { root, live, cursor } = setup(t)
  const n4 = records('a', 4000)
  writeFileSync(live, n4.subarray(0, 3000))
  await cursor.open(4, 0)
  await readUntil(cursor, (_s, g) => (g.get(4)?.length ?? 0) === 3000)
  writeFileSync(join(root, 'journal.4'), n4.subarray(0, 1000))
  const waiting = cursor.next()
  await sleep(120)
  appendFileSync(live, n4.subarray(3000))
  const s = await waiting
  t.equal(s.kind, 'data', 'not the end of journal 4: the live file still holds it')
  t.same(s.kind === 'data' ? s.bytes : null, n4.subarray(3000))
})

t.test(
  'journal N copied and truncated between the last look for its archive and the read of the live head: N read from its archive, no false gap',
  async (t) => {
    const real = await import('../../lib/files/journal-set.js')
    const root = t.testdir()
    const live = join(root, 'journal')
    const counter = (n: number) => Buffer.from(`@pv@ 1 @db.counters@ @journal@ @${n}@ \n`)
    const n3 = Buffer.concat([counter(3), records('a', 50_000)])
    const n4 = Buffer.concat([counter(4), records('b', 20_000)])
    writeFileSync(join(root, 'journal.2'), records('z', 1000))
    writeFileSync(live, n3)
    // The server rotates (copy and truncate) right after the cursor's second look for journal.3, as the cursor opens it.
    let looks = 0
    const findArchive: typeof real.findArchive = async (layout, n) => {
      const found = await real.findArchive(layout, n)
      if (n === 3 && ++looks === 2) {
        copyFileSync(live, join(root, 'journal.3'))
        truncateSync(live, 0)
        appendFileSync(live, n4)
      }
      return found
    }
    const { JournalCursor: Mocked } = await t.mockImport<typeof import('../../lib/source/journal-cursor.js')>('../../lib/source/journal-cursor.js', {
      '../../lib/files/journal-set.js': { ...real, findArchive },
    })
    const ac = new AbortController()
    const cursor = new Mocked({ layout: { root }, pollMs: 50, graceMs: 300, signal: ac.signal })
    t.teardown(async () => {
      ac.abort()
      await cursor.close()
    })
    await cursor.open(3, 0)
    const { got, ends } = await readUntil(cursor, (_s, g) => (g.get(4)?.length ?? 0) === n4.length)
    t.equal(looks >= 2, true, 'the rotation came between the looks')
    t.same(got.get(3), n3, 'journal 3 whole (from its archive)')
    t.same(got.get(4), n4, 'then journal 4 from its start')
    t.same(
      ends.map((e) => [e.journal, e.end]),
      [[3, n3.length]],
    )
  },
)

t.test('copied to journal.N.gz and not truncated yet: journal N from the .gz once, then the live file as N+1 only once truncated', async (t) => {
  const { root, live, cursor } = setup(t)
  const n1 = records('a', 5_000)
  // p4d's journals begin with their journal counter record: this one says the live file is journal 2.
  const n2 = Buffer.concat([Buffer.from('@pv@ 1 @db.counters@ @journal@ @2@ \n'), records('b', 300_000)])
  const n3 = records('c', 7_000)
  writeFileSync(join(root, 'journal.1'), n1)
  // The middle of a compressed copy and truncate (p4d -z): journal 2's whole .gz is there, the live file still journal 2.
  writeFileSync(live, n2)
  writeFileSync(join(root, 'journal.2.gz'), gzipSync(n2))
  await cursor.open(1, 0)
  const seen: { journal: number; bytes: Buffer }[] = []
  const reading = (async () => {
    for (;;) {
      const journal = cursor.journal
      const s = await cursor.next()
      if (s.kind === 'data') seen.push({ journal, bytes: s.bytes })
      if (journal === 3 && Buffer.concat(seen.filter((x) => x.journal === 3).map((x) => x.bytes)).length >= n3.length) return
    }
  })()
  // The reader has journals 1 and 2 and waits: the live file is journal 2 still.
  await sleep(500)
  const of = (j: number) => Buffer.concat(seen.filter((x) => x.journal === j).map((x) => x.bytes))
  t.same(of(1), n1, 'journal 1')
  t.same(of(2), n2, 'journal 2, from its .gz')
  t.equal(of(3).length, 0, 'nothing read as journal 3 while the live file holds journal 2')
  truncateSync(live, 0)
  appendFileSync(live, n3)
  await reading
  t.same(of(3), n3, 'journal 3 once the live file was truncated and written')
  t.equal(cursor.journal, 3, 'reading journal 3')
})

t.test('a start at N/0 whose journal before is still in the live file (its .gz done): waits for the truncation', async (t) => {
  const { root, live, cursor } = setup(t)
  const n2 = Buffer.concat([Buffer.from('@pv@ 1 @db.counters@ @journal@ @2@ \n'), records('b', 4_000)])
  const n3 = records('c', 3_000)
  writeFileSync(live, n2)
  writeFileSync(join(root, 'journal.2.gz'), gzipSync(n2))
  const previous = { journal: 2, end: n2.length, tail: tailFingerprint(n2.subarray(n2.length - STATE_TAIL_BYTES)) }
  let opened = false
  const opening = cursor.open(3, 0, previous).then((o) => {
    opened = true
    return o
  })
  await sleep(400)
  t.equal(opened, false, 'not opened as journal 3 while the live file holds journal 2')
  writeFileSync(live, n3)
  await opening
  const { got } = await readUntil(cursor, (_s, g) => (g.get(3)?.length ?? 0) >= n3.length)
  t.same(got.get(3), n3, 'journal 3 from its start')
})

t.test(
  'a live journal with the very bytes of the one before, no counter record: N+1 at once when written after the archive, else after the grace period',
  async (t) => {
    for (const written of ['after', 'before'] as const) {
      const { root, live, cursor } = setup(t, { graceMs: 300 })
      const same = records('s', 20_000)
      const archive = join(root, 'journal.2.gz')
      writeFileSync(archive, gzipSync(same))
      // Journal 3 as a test's generator writes it: the same records as journal 2, nothing more yet.
      writeFileSync(live, same)
      // Written after the archive was made, it cannot be the archive's copy still waiting for its truncation.
      const now = Date.now() / 1000
      utimesSync(archive, now, written === 'after' ? now - 10 : now)
      utimesSync(live, now, written === 'after' ? now : now - 10)
      await cursor.open(2, 0)
      const started = Date.now()
      const { got } = await readUntil(cursor, (_s, g) => (g.get(3)?.length ?? 0) >= same.length)
      t.same(got.get(2), same, `${written}: journal 2 from its .gz`)
      t.same(got.get(3), same, `${written}: journal 3 from the live file`)
      if (written === 'after') t.ok(Date.now() - started < 250, 'written after the archive: at once')
      else t.ok(Date.now() - started >= 250, 'older than the archive, no counter record: after the grace period')
      appendFileSync(live, records('t', 500))
      const { got: more } = await readUntil(cursor, (_s, g) => (g.get(3)?.length ?? 0) >= 500)
      t.equal(more.get(3)?.length, 500, `${written}: and what the server writes after it`)
    }
  },
)

t.test("journal N+1 longer than N, its first bytes N's: read at once (only a copy of the whole of N is waited on)", async (t) => {
  const { root, live, cursor } = setup(t, { graceMs: 5000 })
  const same = records('s', 20_000)
  writeFileSync(join(root, 'journal.2.gz'), gzipSync(same))
  writeFileSync(live, Buffer.concat([same, records('t', 3_000)]))
  await cursor.open(2, 0)
  const started = Date.now()
  const { got } = await readUntil(cursor, (_s, g) => (g.get(3)?.length ?? 0) >= same.length + 3_000)
  t.equal(got.get(3)?.length, same.length + 3_000, 'journal 3 whole')
  t.ok(Date.now() - started < 2500, 'without waiting for the grace period')
})
