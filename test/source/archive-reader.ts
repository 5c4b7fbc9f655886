import t from 'tap'
import { spawnSync } from 'node:child_process'
import { appendFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { ArchiveReader, CHUNK_BYTES, lastBytes, READ_AHEAD_CHUNKS } from '../../lib/source/archive-reader.js'

const data = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `@ex@ ${i} 1611008050\n`).join(''))

async function readAll(r: ArchiveReader): Promise<Buffer> {
  const parts: Buffer[] = []
  for (let c = await r.read(); c; c = await r.read()) parts.push(c)
  await r.close()
  return Buffer.concat(parts)
}

t.test('plain: from an offset to the end, in chunks, with the bytes before the offset', async (t) => {
  const path = join(t.testdir(), 'journal.3')
  writeFileSync(path, data)
  const r = await ArchiveReader.open({ journal: 3, path, compressed: false }, { offset: 1000, before: 100 })
  t.same(r.before, data.subarray(900, 1000))
  t.equal(r.reachedOffset, true)
  t.ok(r.ino > 0)
  const first = await r.read()
  t.equal(first?.length, CHUNK_BYTES)
  t.same(Buffer.concat([first as Buffer, await readAll(r)]), data.subarray(1000))
  t.equal(await r.read(), null, 'closed: null')
})

t.test('plain shorter than the offset', async (t) => {
  const path = join(t.testdir(), 'journal.3')
  writeFileSync(path, 'abc')
  const r = await ArchiveReader.open({ journal: 3, path, compressed: false }, { offset: 10, before: 2 })
  t.equal(r.reachedOffset, false)
  t.equal(r.offset, 3)
  t.same(r.before, Buffer.from('bc'))
  t.equal(await r.read(), null)
  await r.close()
})

t.test('gz: resumes inside by inflating and skipping to the decompressed offset', async (t) => {
  const path = join(t.testdir(), 'journal.3.gz')
  writeFileSync(path, gzipSync(data))
  for (const offset of [0, 1, 65_535, 65_536, 100_000, data.length - 1, data.length]) {
    const r = await ArchiveReader.open({ journal: 3, path, compressed: true }, { offset, before: 256 })
    t.same(r.before, data.subarray(Math.max(0, offset - 256), offset), `before ${offset}`)
    t.same(await readAll(r), data.subarray(offset), `from ${offset}`)
  }
  const short = await ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: data.length + 5 })
  t.equal(short.reachedOffset, false)
  t.equal(short.offset, data.length)
  await short.close()
})

t.test('gz still being written: retried until whole', async (t) => {
  const path = join(t.testdir(), 'journal.3.gz')
  const gz = gzipSync(data)
  writeFileSync(path, gz.subarray(0, 100))
  setTimeout(() => writeFileSync(path, gz.subarray(0, gz.length - 10)), 40)
  setTimeout(() => writeFileSync(path, gz), 120)
  const r = await ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: 5000, gzipRetry: { pollMs: 20, stableMs: 400 } })
  t.same(await readAll(r), data.subarray(5000))
})

t.test('a gz still being written is waited for on the monotonic clock: a wall clock stepped forward does not make it cut', async (t) => {
  const path = join(t.testdir(), 'journal.3.gz')
  const gz = gzipSync(data)
  writeFileSync(path, gz.subarray(0, gz.length >> 1))
  const now = Date.now
  t.teardown(() => void (Date.now = now))
  // NTP steps the clock an hour forward while gzip writes: before, the size looked stable for an hour (ERR_GZIP_TRUNCATED).
  setTimeout(() => void (Date.now = () => now() + 3_600_000), 100)
  setTimeout(() => writeFileSync(path, gz), 400)
  const r = await ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: 0, gzipRetry: { pollMs: 20, stableMs: 2000 } })
  t.same(await readAll(r), data)
})

t.test('an empty gz (just created) counts as unfinished too', async (t) => {
  const path = join(t.testdir(), 'journal.3.gz')
  writeFileSync(path, '')
  setTimeout(() => writeFileSync(path, gzipSync(data)), 50)
  const r = await ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: 0, gzipRetry: { pollMs: 20, stableMs: 400 } })
  t.same(await readAll(r), data)
})

t.test('gz truncated for good: ERR_GZIP_TRUNCATED once its size stops changing', async (t) => {
  const path = join(t.testdir(), 'journal.3.gz')
  const gz = gzipSync(data)
  writeFileSync(path, gz.subarray(0, gz.length >> 1))
  // That a truncated gz is waited for and read again is shown above, by the
  // archives finished during the wait; here its size stays the same.
  const r = await ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: 0, gzipRetry: { pollMs: 5, stableMs: 10 } })
  await t.rejects(readAll(r), { code: 'ERR_GZIP_TRUNCATED' })
  await r.close()
  await t.rejects(
    ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: data.length - 1, gzipRetry: { pollMs: 5, stableMs: 10 } }),
    { code: 'ERR_GZIP_TRUNCATED' },
    'while skipping to the offset',
  )
})

t.test('corrupt gz: ERR_GZIP_CORRUPT at once', async (t) => {
  const path = join(t.testdir(), 'journal.3.gz')
  writeFileSync(path, Buffer.concat([gzipSync(data).subarray(0, 20), Buffer.alloc(2000, 0x55)]))
  // A retry would first wait longer than any test may run (the largest timer Node has): failing at all shows it was not retried.
  const never = 2 ** 31 - 1
  await t.rejects(
    ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: 0, gzipRetry: { pollMs: never, stableMs: never } }).then(readAll),
    { code: 'ERR_GZIP_CORRUPT' },
    'not retried',
  )
})

t.test('a missing file fails to open', async (t) => {
  await t.rejects(ArchiveReader.open({ journal: 3, path: join(t.testdir(), 'nope'), compressed: false }, { offset: 0 }), { code: 'ENOENT' })
})

t.test('lastBytes keeps the tail of two buffers', async (t) => {
  const b = (s: string) => Buffer.from(s)
  t.same(lastBytes(b('abc'), b('de'), 4), b('bcde'))
  t.same(lastBytes(b('abc'), b('defgh'), 4), b('efgh'))
  t.same(lastBytes(b(''), b('de'), 4), b('de'))
})

t.test('a changed byte in a stored block: the bytes come, then ERR_GZIP_CORRUPT naming the file; nothing is verified', async (t) => {
  const path = join(t.testdir(), 'journal.3.gz')
  const bad = Buffer.from(gzipSync(data, { level: 0 }))
  bad[200_000] = bad[200_000] === 0x41 ? 0x42 : 0x41
  writeFileSync(path, bad)
  const r = await ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: 0, gzipRetry: { pollMs: 20, stableMs: 60_000 } })
  let read = 0
  const err = await (async () => {
    try {
      for (let c = await r.read(); c; c = await r.read()) {
        read += c.length
        t.equal(r.verified, 0, 'no byte verified while the member is open')
      }
    } catch (e) {
      return e as Error & { code?: string }
    }
    return null
  })()
  t.equal(err?.code, 'ERR_GZIP_CORRUPT', 'corrupt, at once (not waited for like a file being written)')
  t.match(err?.message, path)
  t.ok(read > 0, 'the bytes before were read')
  t.equal(r.verified, 0)
  await r.close()
})

t.test('a verified member then a cut one: every byte of the first is read before ERR_GZIP_TRUNCATED', async (t) => {
  const path = join(t.testdir(), 'journal.3.gz')
  const second = gzipSync(data.subarray(0, 100_000))
  writeFileSync(path, Buffer.concat([gzipSync(data), second.subarray(0, second.length >> 1)]))
  const r = await ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: 0, gzipRetry: { pollMs: 10, stableMs: 50 } })
  const parts: Buffer[] = []
  await t.rejects(
    (async () => {
      for (let c = await r.read(); c; c = await r.read()) parts.push(c)
    })(),
    { code: 'ERR_GZIP_TRUNCATED' },
  )
  const got = Buffer.concat(parts)
  t.ok(got.length >= data.length && got.subarray(0, data.length).equals(data), 'the whole first member')
  t.equal(r.verified, data.length, 'verified up to its end')
  await r.close()
})

t.test('a gz written slowly is waited for while it grows, and read on where it stopped', async (t) => {
  const path = join(t.testdir(), 'journal.3.gz')
  const gz = gzipSync(data)
  writeFileSync(path, gz.subarray(0, 10))
  const steps = 12
  let written = 10
  const timer = setInterval(() => {
    const next = Math.min(gz.length, written + Math.ceil(gz.length / steps))
    appendFileSync(path, gz.subarray(written, next))
    written = next
    if (written === gz.length) clearInterval(timer)
  }, 100)
  t.teardown(() => clearInterval(timer))
  // Growth every 100 ms for 1.2 s; it counts as cut only after 400 ms without growth.
  const r = await ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: 0, gzipRetry: { pollMs: 20, stableMs: 400 } })
  t.same(await readAll(r), data)
  t.equal(r.verified, data.length)
})

t.test('plain, several blocks read ahead: every byte once, in order, a chunk at most per read; a close with a read in flight', async (t) => {
  const big = Buffer.from(Array.from({ length: 90_000 }, (_, i) => `@pv@ 1 @db.have@ @//c/${i}@ @//d/${i}@ ${i}\n`).join(''))
  t.ok(big.length > 3 * READ_AHEAD_CHUNKS * CHUNK_BYTES, `${big.length} bytes: several blocks`)
  for (const size of [big.length, 3 * READ_AHEAD_CHUNKS * CHUNK_BYTES, 3 * READ_AHEAD_CHUNKS * CHUNK_BYTES + CHUNK_BYTES]) {
    const path = join(t.testdir(), 'journal.4')
    writeFileSync(path, big.subarray(0, size))
    const r = await ArchiveReader.open({ journal: 4, path, compressed: false }, { offset: 10 })
    const parts: Buffer[] = []
    for (let c = await r.read(); c; c = await r.read()) parts.push(c)
    t.ok(
      parts.every((p) => p.length > 0 && p.length <= CHUNK_BYTES),
      `${size}: chunks of CHUNK_BYTES at most`,
    )
    t.ok(Buffer.concat(parts).equals(big.subarray(10, size)), `${size}: every byte after the offset, once`)
    t.equal(r.offset, size)
    await r.close()
  }
  const path = join(t.testdir(), 'journal.5')
  writeFileSync(path, big)
  const r = await ArchiveReader.open({ journal: 5, path, compressed: false }, { offset: 0 })
  await r.read()
  await r.read()
  await r.close()
  t.equal(await r.read(), null, 'closed while a block was read ahead: null, no unhandled rejection')
})

t.test('an archive that is not a regular file: ERR_JOURNAL_UNREADABLE at once (a FIFO was waited on for ever)', { timeout: 10_000 }, async (t) => {
  const dir = t.testdir({ 'journal.3': {} })
  const fifo = join(dir, 'journal.4')
  if (spawnSync('mkfifo', [fifo]).status !== 0) t.comment('no mkfifo here: the FIFO case is not tried')
  else {
    for (const compressed of [false, true]) {
      await t.rejects(
        ArchiveReader.open({ journal: 4, path: fifo, compressed }, { offset: 0 }),
        { code: 'ERR_JOURNAL_UNREADABLE', journal: 4, file: fifo, message: /is not a regular file but a FIFO \(named pipe\)/ },
        compressed ? 'a FIFO named .gz' : 'a FIFO',
      )
    }
  }
  await t.rejects(ArchiveReader.open({ journal: 3, path: join(dir, 'journal.3'), compressed: false }, { offset: 0 }), {
    code: 'ERR_JOURNAL_UNREADABLE',
    message: /is not a regular file but a directory/,
  })
})
