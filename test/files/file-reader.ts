import t from 'tap'
import { writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { setTimeout as sleep } from 'node:timers/promises'
import { FileReader, GZIP_READ_CHUNK_BYTES, READ_CHUNK_BYTES } from '../../lib/files/file-reader.js'

t.test('reads the whole file, from any start, in chunks', async (t) => {
  const dir = t.testdir()
  const data = randomBytes(1_000_003)
  writeFileSync(`${dir}/f`, data)
  for (const [chunkBytes, start] of [
    [65536, 0],
    [1000, 0],
    [262144, 12345],
    [7, 999_990],
  ] as const) {
    const parts: Buffer[] = []
    for await (const c of new FileReader(`${dir}/f`, { chunkBytes, start })) parts.push(c as Buffer)
    t.ok(Buffer.concat(parts).equals(data.subarray(start)), `chunk ${chunkBytes}, start ${start}`)
    t.ok(parts.every((p) => p.length <= chunkBytes))
  }
  const empty = `${dir}/empty`
  writeFileSync(empty, '')
  const none: Buffer[] = []
  for await (const c of new FileReader(empty)) none.push(c as Buffer)
  t.equal(none.length, 0)
})

t.test('a slow consumer: at most one chunk is read ahead', async (t) => {
  const dir = t.testdir()
  writeFileSync(`${dir}/f`, randomBytes(100 * 1024))
  const r = new FileReader(`${dir}/f`, { chunkBytes: 1024 })
  const first = await new Promise<Buffer>((resolve) => r.once('readable', () => resolve(r.read(1024) as Buffer)))
  t.equal(first.length, 1024)
  await sleep(50)
  // The readable buffer holds at most one chunk (its highWaterMark) and one more waits read ahead.
  t.ok(r.readableLength <= 2048, `buffered ${r.readableLength}`)
  r.destroy()
})

t.test('a missing file fails; destroy while reading closes cleanly', async (t) => {
  await t.rejects(
    (async () => {
      for await (const _ of new FileReader('/nonexistent/file')) void _
    })(),
    { code: 'ENOENT' },
  )
  const dir = t.testdir()
  writeFileSync(`${dir}/f`, randomBytes(1 << 20))
  const r = new FileReader(`${dir}/f`, { chunkBytes: 4096 })
  r.once('data', () => r.destroy())
  await new Promise((resolve) => r.on('close', resolve))
  t.ok(r.destroyed)
})

t.test('the read size is pinned: 128 KiB, 32 KiB for gzip (see lib/files/file-reader.ts and docs/benchmarks.md)', async (t) => {
  t.equal(READ_CHUNK_BYTES, 128 * 1024)
  t.equal(GZIP_READ_CHUNK_BYTES, 32 * 1024)
})

t.test('a gzip file is read in smaller chunks after the first; a plain one, or a given chunkBytes, is not', async (t) => {
  const dir = t.testdir()
  const plain = randomBytes(1_000_003)
  const gz = Buffer.concat([gzipSync(randomBytes(300_000)), randomBytes(500_000)])
  writeFileSync(`${dir}/plain`, plain)
  writeFileSync(`${dir}/f.gz`, gz)
  const read = async (path: string, options = {}): Promise<Buffer[]> => {
    const parts: Buffer[] = []
    for await (const c of new FileReader(path, options)) parts.push(c as Buffer)
    return parts
  }
  const g = await read(`${dir}/f.gz`)
  t.ok(Buffer.concat(g).equals(gz))
  t.equal(g[0]?.length, READ_CHUNK_BYTES)
  t.ok(g.slice(1).every((p) => p.length <= GZIP_READ_CHUNK_BYTES))
  const p = await read(`${dir}/plain`)
  t.ok(Buffer.concat(p).equals(plain))
  t.ok(p.slice(0, -1).every((c) => c.length === READ_CHUNK_BYTES))
  const given = await read(`${dir}/f.gz`, { chunkBytes: 65536 })
  t.ok(Buffer.concat(given).equals(gz))
  t.ok(given.slice(0, -1).every((c) => c.length === 65536))
  // From an offset inside a gzip file: the bytes there decide.
  const mid = await read(`${dir}/f.gz`, { start: 12345 })
  t.ok(Buffer.concat(mid).equals(gz.subarray(12345)))
})
