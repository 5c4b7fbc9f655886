import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { ArchiveReader, CHUNK_BYTES, lastBytes } from '../../lib/source/archive-reader.js'

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
  const r = await ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: 5000, gzipRetry: { retries: 8, minTimeout: 20, maxTimeout: 40 } })
  t.same(await readAll(r), data.subarray(5000))
})

t.test('an empty gz (just created) counts as unfinished too', async (t) => {
  const path = join(t.testdir(), 'journal.3.gz')
  writeFileSync(path, '')
  setTimeout(() => writeFileSync(path, gzipSync(data)), 50)
  const r = await ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: 0, gzipRetry: { retries: 8, minTimeout: 20, maxTimeout: 40 } })
  t.same(await readAll(r), data)
})

t.test('gz truncated for good: ERR_GZIP_TRUNCATED once the retries run out', async (t) => {
  const path = join(t.testdir(), 'journal.3.gz')
  const gz = gzipSync(data)
  writeFileSync(path, gz.subarray(0, gz.length >> 1))
  // That a truncated gz is waited for and read again is shown above, by the
  // archives finished during the wait; here the retries run out.
  const r = await ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: 0, gzipRetry: { retries: 2, minTimeout: 5 } })
  await t.rejects(readAll(r), { code: 'ERR_GZIP_TRUNCATED' })
  await r.close()
  await t.rejects(
    ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: data.length - 1, gzipRetry: { retries: 1, minTimeout: 5 } }),
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
    ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: 0, gzipRetry: { retries: 3, minTimeout: never, maxTimeout: never } }).then(readAll),
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
