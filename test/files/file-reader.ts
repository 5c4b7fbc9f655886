import t from 'tap'
import { writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { FileReader } from '../../lib/files/file-reader.js'

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

t.test('the read size is pinned: 128 KiB (see lib/files/file-reader.ts and docs/benchmarks.md)', async (t) => {
  const { READ_CHUNK_BYTES } = await import('../../lib/files/file-reader.js')
  t.equal(READ_CHUNK_BYTES, 128 * 1024)
})
