import t from 'tap'
import { appendFileSync, truncateSync, writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { setTimeout as sleep } from 'node:timers/promises'
import { FileReader, GZIP_READ_CHUNK_BYTES, READ_CHUNK_BYTES, readAligned } from '../../lib/files/file-reader.js'

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

t.test('a file cut under the reader fails with ERR_JOURNAL_SHRUNK, not a clean end; one that grows, or is shorter than the start, ends cleanly', async (t) => {
  const dir = t.testdir()
  const file = `${dir}/journal.3`
  const chunkBytes = 1000
  // Below the first chunk (whether or not the next one was read ahead, the reader is past the cut), and past
  // where it stands (it reads on to the cut, and finds the file shorter than it was at open).
  for (const cut of [0, 500, 5500]) {
    writeFileSync(file, randomBytes(10 * chunkBytes))
    const reader = new FileReader(file, { chunkBytes, journal: 3 })
    let got = 0
    const err = await (async () => {
      for await (const c of reader) {
        if (got === 0) truncateSync(file, cut)
        got += (c as Buffer).length
        // A slow consumer: the chunk read ahead waits in the buffer while the next read finds the cut.
        await sleep(30)
      }
    })().catch((e: unknown) => e)
    t.match(err, { code: 'ERR_JOURNAL_SHRUNK', file, journal: 3, details: { size: cut, atOpen: 10 * chunkBytes } }, `cut to ${cut} after the first chunk`)
    const offset = (err as { offset: number }).offset
    if (cut < chunkBytes) t.ok(offset > cut && offset <= 3 * chunkBytes, `where reading had got: offset ${offset}, past the cut`)
    else t.equal(offset, cut, 'read on to the cut')
    t.equal(got, offset, 'every byte read before the error is handed out first')
    t.match((err as Error).message, new RegExp(`journal 3, offset ${offset}: the file shrank to ${cut} bytes \\(10000 when it was opened\\) while it was read`))
  }
  // Grows while read: the end is wherever the reads found it, no error.
  writeFileSync(file, randomBytes(3 * chunkBytes))
  let total = 0
  for await (const c of new FileReader(file, { chunkBytes })) {
    if (total === 0) appendFileSync(file, randomBytes(500))
    total += (c as Buffer).length
  }
  t.equal(total, 3 * chunkBytes + 500, 'a growing file: what was there at each read')
  // A start past the end reads nothing, and nothing shrank.
  const none: Buffer[] = []
  for await (const c of new FileReader(file, { chunkBytes, start: 10 * chunkBytes })) none.push(c as Buffer)
  t.equal(none.length, 0, 'a start past the end: a clean, empty end')
})

t.test(
  'a file whose size says 0 but that holds bytes (/proc) is read to its end, not taken for one that shrank',
  { skip: process.platform === 'linux' ? false : '/proc is Linux' },
  async (t) => {
    const parts: Buffer[] = []
    for await (const c of new FileReader('/proc/self/status', { chunkBytes: 64 })) parts.push(c as Buffer)
    t.match(Buffer.concat(parts).toString('latin1'), /^Name:/, 'its bytes, and a clean end')
  },
)

t.test('readAligned: a file shorter than the size it was to be read to fails with ERR_JOURNAL_SHRUNK where the bytes ran out', async (t) => {
  const dir = t.testdir()
  const file = `${dir}/journal.4`
  writeFileSync(file, randomBytes(5000))
  const handle = await open(file, 'r')
  t.teardown(() => handle.close())
  const all: Buffer[] = []
  for await (const c of readAligned(handle, 100, 5000, 1024, { file, journal: 4 })) all.push(c)
  t.equal(Buffer.concat(all).length, 4900, 'the whole range when nothing changed')
  truncateSync(file, 3000)
  const got: Buffer[] = []
  const err = await (async () => {
    for await (const c of readAligned(handle, 100, 5000, 1024, { file, journal: 4 })) got.push(c)
  })().catch((e: unknown) => e)
  t.equal(Buffer.concat(got).length, 2900, 'every byte still there')
  t.match(err, { code: 'ERR_JOURNAL_SHRUNK', file, journal: 4, offset: 3000, details: { size: 3000, atOpen: 5000 } })
  t.match((err as Error).message, /journal 4, offset 3000: the file shrank to 3000 bytes \(5000 when it was opened\) while it was read/)
})

t.test('end: reading stops there, in a longer file and in one that grows while it is read', async (t) => {
  const file = `${t.testdir()}/f`
  const bytes = randomBytes(3 * 65536 + 123)
  writeFileSync(file, bytes)
  for (const end of [0, 1, 65536, 65537, 2 * 65536 + 5, bytes.length, bytes.length + 4]) {
    const parts: Buffer[] = []
    const reader = new FileReader(file, { chunkBytes: 65536, end })
    let grown = false
    for await (const chunk of reader) {
      parts.push(chunk as Buffer)
      if (!grown) {
        grown = true
        appendFileSync(file, 'more')
      }
    }
    truncateSync(file, bytes.length)
    // The growth comes after the first chunk: read up to `end` like the rest.
    t.ok(Buffer.concat(parts).equals(Buffer.concat([bytes, Buffer.from('more')]).subarray(0, end)), `end ${end}`)
  }
})

t.test('snapshot: the file as it was when opened, though it grows while it is read (logdaemon-cat: its parallel path reads so)', async (t) => {
  const file = `${t.testdir()}/f`
  const bytes = randomBytes(3 * 65536 + 123)
  writeFileSync(file, bytes)
  const parts: Buffer[] = []
  let grown = false
  for await (const chunk of new FileReader(file, { chunkBytes: 65536, snapshot: true })) {
    parts.push(chunk as Buffer)
    if (!grown) {
      grown = true
      appendFileSync(file, 'more')
    }
  }
  t.ok(Buffer.concat(parts).equals(bytes), 'the bytes there at open, not those appended')
  // Without it the reader goes to the end as it finds it.
  writeFileSync(file, bytes)
  const all: Buffer[] = []
  grown = false
  for await (const chunk of new FileReader(file, { chunkBytes: 65536 })) {
    all.push(chunk as Buffer)
    if (!grown) {
      grown = true
      appendFileSync(file, 'more')
    }
  }
  t.equal(Buffer.concat(all).length, bytes.length + 4)
})

t.test('end: a file that ends before it (cut since it was measured) fails with ERR_JOURNAL_SHRUNK after its bytes', async (t) => {
  const file = `${t.testdir()}/journal.4`
  const bytes = randomBytes(2 * 65536 + 7)
  writeFileSync(file, bytes)
  const parts: Buffer[] = []
  const err = await (async () => {
    for await (const chunk of new FileReader(file, { chunkBytes: 65536, end: bytes.length + 100, journal: 4 })) parts.push(chunk as Buffer)
  })().catch((e: unknown) => e)
  t.match(err, { code: 'ERR_JOURNAL_SHRUNK', journal: 4, offset: bytes.length })
  t.ok(Buffer.concat(parts).equals(bytes), 'every byte there is, first')
})
