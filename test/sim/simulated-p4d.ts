import { existsSync, readFileSync, statSync } from 'node:fs'
import { open } from 'node:fs/promises'
import path from 'node:path'
import { setImmediate as tick } from 'node:timers/promises'
import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { SimulatedP4d, type RotateResult } from '../../lib/sim/simulated-p4d.js'

/** True when `buf` ends exactly at a record end (LF outside quotes). */
function endsAtRecord(buf: Buffer): boolean {
  let inQuote = false
  let last = -1
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0x40) inQuote = !inQuote
    else if (buf[i] === 0x0a && !inQuote) last = i
  }
  return last === buf.length - 1 || buf.length === 0
}

function archiveBytes(r: RotateResult): Buffer {
  const raw = readFileSync(r.archive)
  return r.archive.endsWith('.gz') ? gunzipSync(raw) : raw
}

t.test('appends go to the live journal, in pieces, and are all remembered', async (t) => {
  const root = t.testdir()
  const p4d = new SimulatedP4d({ root, seed: 1 })
  t.equal(p4d.livePath, path.join(root, 'journal'))
  t.equal(p4d.currentJournal, 1)
  let offset = 0
  let split = 0
  for (let i = 0; i < 60; i++) {
    const r = await p4d.appendTransaction()
    t.equal(r.journal, 1)
    t.equal(r.offset, offset)
    t.equal(
      r.pieces.reduce((a, b) => a + b, 0),
      r.bytes.length,
    )
    t.ok(r.bytes.equals(Buffer.concat(r.batch.records)))
    // A cut inside a record: what a reader sees between two writes.
    let at = 0
    for (const size of r.pieces.slice(0, -1)) {
      at += size
      if (!endsAtRecord(r.bytes.subarray(0, at))) split++
    }
    offset += r.bytes.length
  }
  t.ok(split > 20, `${split} writes ended inside a record`)
  t.equal(p4d.liveSize, offset)
  t.ok(readFileSync(p4d.livePath).equals(p4d.journalBytes(1)))
  t.ok(endsAtRecord(p4d.journalBytes(1)))
  t.throws(() => p4d.journalBytes(7), RangeError)
  await p4d.close()
  await p4d.close()
  await t.rejects(p4d.appendTransaction(), /closed/)
})

t.test('a concurrent reader sees half-written records', async (t) => {
  const root = t.testdir()
  const p4d = new SimulatedP4d({ root, seed: 2, pieceGapMs: 2, maxPieces: 6 })
  await p4d.appendTransaction()
  let done = false
  let partial = 0
  const reader = (async () => {
    while (!done) {
      if (!endsAtRecord(readFileSync(p4d.livePath))) partial++
      await tick()
    }
  })()
  for (let i = 0; i < 20; i++) await p4d.appendTransaction()
  done = true
  await reader
  t.ok(partial > 0, `reader saw a partial record ${partial} times`)
  await p4d.close()
})

t.test('rotate by rename: new inode, archive holds journal N', async (t) => {
  const root = t.testdir()
  const p4d = new SimulatedP4d({ root, seed: 3 })
  for (let i = 0; i < 10; i++) await p4d.appendTransaction()
  const before = statSync(p4d.livePath).ino
  const r = await p4d.rotate('rename')
  t.same({ journal: r.journal, mode: r.mode, archive: r.archive }, { journal: 1, mode: 'rename', archive: path.join(root, 'journal.1') })
  t.equal(statSync(r.archive).ino, before, 'the archive is the old live file')
  t.not(statSync(p4d.livePath).ino, before, 'the live journal is a new file')
  t.ok(readFileSync(r.archive).equals(p4d.journalBytes(1)))
  t.equal(r.bytes, p4d.journalBytes(1).length)
  t.equal(p4d.currentJournal, 2)
  t.match(readFileSync(p4d.livePath).toString(), /^@pv@ 1 @db\.counters@ @journal@ @2@ \n@ex@ \d+ \d+\n$/)
  await p4d.appendTransaction()
  t.ok(readFileSync(p4d.livePath).equals(p4d.journalBytes(2)))
  t.same(p4d.journals, [1, 2])
  await p4d.close()
})

t.test('rotate by copy and truncate: same inode, shrinks to the new journal', async (t) => {
  const root = t.testdir()
  const p4d = new SimulatedP4d({ root, seed: 4, journalCounter: false })
  for (let i = 0; i < 10; i++) await p4d.appendTransaction()
  const before = statSync(p4d.livePath).ino
  const r = await p4d.rotate('copy-truncate')
  t.equal(r.mode, 'copy-truncate')
  t.equal(statSync(p4d.livePath).ino, before, 'same inode')
  t.equal(statSync(p4d.livePath).size, 0, 'truncated in place')
  t.not(statSync(r.archive).ino, before)
  t.ok(readFileSync(r.archive).equals(p4d.journalBytes(1)))
  const next = await p4d.appendTransaction()
  t.equal(next.journal, 2)
  t.equal(next.offset, 0)
  t.ok(readFileSync(p4d.livePath).equals(p4d.journalBytes(2)), 'writes restart at offset 0')
  await p4d.close()
})

t.test('rotate by rename then gzip: journal.N.gz replaces journal.N', async (t) => {
  const root = t.testdir()
  const p4d = new SimulatedP4d({ root, seed: 5, gzipChunkBytes: 512 })
  for (let i = 0; i < 40; i++) await p4d.appendTransaction()
  const r = await p4d.rotate('rename-gzip')
  t.equal(r.archive, path.join(root, 'journal.1.gz'))
  // Appends go on while the archive is compressed.
  await p4d.appendTransaction()
  await r.done
  t.notOk(existsSync(path.join(root, 'journal.1')), 'the plain archive is gone')
  t.ok(archiveBytes(r).equals(p4d.journalBytes(1)))
  t.ok(readFileSync(p4d.livePath).equals(p4d.journalBytes(2)))
  await p4d.close()
})

t.test('prefix, custom live path and start number', async (t) => {
  const root = t.testdir()
  const p4d = new SimulatedP4d({ root, seed: 6, prefix: 'ckp/server1', journal: 'logs/live.jnl', startJournal: 41 })
  t.equal(p4d.livePath, path.join(root, 'logs/live.jnl'))
  t.equal(p4d.archivePath(41), path.join(root, 'ckp/server1.jnl.41'))
  await p4d.appendTransaction()
  const a = await p4d.rotate('rename')
  await p4d.appendTransaction()
  const b = await p4d.rotate('rename-gzip')
  await b.done
  t.equal(a.archive, path.join(root, 'ckp/server1.jnl.41'))
  t.equal(b.archive, path.join(root, 'ckp/server1.jnl.42.gz'))
  t.ok(archiveBytes(a).equals(p4d.journalBytes(41)))
  t.ok(archiveBytes(b).equals(p4d.journalBytes(42)))
  t.equal(p4d.currentJournal, 43)
  const abs = new SimulatedP4d({ root, seed: 6, prefix: '/var/p4/x' })
  t.equal(abs.archivePath(3), '/var/p4/x.jnl.3', 'an absolute prefix stays absolute')
  t.throws(() => new SimulatedP4d({ root, seed: 1, startJournal: -1 }), RangeError)
  await p4d.close()
  await abs.close()
})

t.test('a live journal left from before is kept and appended to', async (t) => {
  const root = t.testdir({ journal: '@ex@ 1 1611008050\n' })
  const p4d = new SimulatedP4d({ root, seed: 7 })
  await p4d.appendBytes(Buffer.from('@pv@ 1 @db.counters@ @x@ @1@ \n'))
  const bytes = p4d.journalBytes(1).toString()
  t.match(bytes, /^@ex@ 1 1611008050\n@pv@ 1 @db\.counters@ @x@ @1@ \n$/)
  t.equal(readFileSync(p4d.livePath).toString(), bytes)
  await p4d.close()
})

t.test('deterministic given the seed: bytes, pieces, random rotation modes', async (t) => {
  const runOnce = async (dir: string) => {
    const p4d = new SimulatedP4d({ root: dir, seed: 8, rotateMode: 'random', serverRoot: '/p4/root' })
    const modes: string[] = []
    const pieces: number[][] = []
    for (let i = 0; i < 12; i++) {
      await p4d.restart()
      for (let k = 0; k < 5; k++) pieces.push([...(await p4d.appendTransaction()).pieces])
      const r = await p4d.rotate()
      modes.push(r.mode)
    }
    await p4d.close()
    return { modes, pieces, bytes: p4d.journals.map((n) => p4d.journalBytes(n)) }
  }
  const dir = t.testdir({ a: {}, b: {} })
  const a = await runOnce(path.join(dir, 'a'))
  const b = await runOnce(path.join(dir, 'b'))
  t.same(a.modes, b.modes)
  t.same(a.pieces, b.pieces)
  t.equal(a.bytes.length, 13)
  for (const [i, buf] of a.bytes.entries()) t.ok(buf.equals(b.bytes[i] as Buffer), `journal ${i + 1}`)
  t.same(new Set(a.modes), new Set(['rename', 'copy-truncate', 'rename-gzip']), 'random mode uses all three')
})

t.test('run(): appends and rotates until aborted; every byte is on disk', async (t) => {
  const root = t.testdir()
  const p4d = new SimulatedP4d({ root, seed: 9 })
  const ac = new AbortController()
  const rotations: RotateResult[] = []
  let appends = 0
  // Aborted once it has done enough (2 rotations, 11 transactions), not after a fixed time: a loaded machine does less per second.
  const enough = () => rotations.length >= 2 && appends > 11
  const fallback = setTimeout(() => ac.abort(), 30_000)
  const summary = await p4d.run({
    intervalMs: 2,
    rotateEveryMs: 100,
    rotateMode: 'random',
    signal: ac.signal,
    onAppend: () => {
      appends++
      if (enough()) ac.abort()
    },
    onRotate: (r) => {
      rotations.push(r)
      if (enough()) ac.abort()
    },
  })
  clearTimeout(fallback)
  await p4d.close()
  t.ok(summary.transactions > 10, `${summary.transactions} transactions`)
  t.equal(appends, summary.transactions + 1, 'plus the restart note')
  t.equal(summary.rotations, rotations.length)
  t.ok(rotations.length >= 2, `${rotations.length} rotations`)
  t.equal(summary.journal, 1 + rotations.length)
  t.match(p4d.journalBytes(1).toString(), /^@nx@ 7 /, 'starts with a restart note')
  for (const r of rotations) t.ok(archiveBytes(r).equals(p4d.journalBytes(r.journal)), `journal ${r.journal} (${r.mode})`)
  t.ok(readFileSync(p4d.livePath).equals(p4d.journalBytes(summary.journal)), 'live journal')
  const again = await new SimulatedP4d({ root: t.testdir(), seed: 1 }).run({ signal: AbortSignal.abort() })
  t.same(again, { transactions: 0, rotations: 0, journal: 1 }, 'an aborted signal stops at once')
})

t.test('the live file handle survives truncation (O_APPEND)', async (t) => {
  const root = t.testdir()
  const p4d = new SimulatedP4d({ root, seed: 10 })
  await p4d.appendTransaction()
  // A reader holding the live file open across a copy-truncate sees it shrink.
  const fh = await open(p4d.livePath, 'r')
  const sizeBefore = (await fh.stat()).size
  await p4d.rotate('copy-truncate')
  const sizeAfter = (await fh.stat()).size
  await fh.close()
  t.ok(sizeBefore > sizeAfter, `${sizeBefore} -> ${sizeAfter}`)
  t.equal(sizeAfter, p4d.journalBytes(2).length)
  await p4d.close()
})

t.test('run() without callbacks still writes', async (t) => {
  const p4d = new SimulatedP4d({ root: t.testdir(), seed: 3 })
  const ac = new AbortController()
  setTimeout(() => ac.abort(), 200)
  const summary = await p4d.run({ intervalMs: 2, rotateEveryMs: 0, signal: ac.signal })
  await p4d.close()
  t.ok(summary.transactions > 0)
  t.ok(readFileSync(p4d.livePath).length > 0, 'the live journal has the transactions')
  t.ok(readFileSync(p4d.livePath).equals(p4d.journalBytes(1)))
})
