/**
 * gunzipFileChunks (a .gz file inflated by a worker that reads it) and
 * inflateFileChunksHere (inflated on this thread, by ISA-L or node-sync):
 * the file handed out in chunks of a set size, each over an ArrayBuffer of
 * its own (to be transferred on), the stream's error after every byte
 * before it.
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { fileChunks, gunzipFileChunks, inflateFileChunksHere, type GunzipChunksOptions, type InflatedChunks } from '../../lib/files/gunzip.js'
import { INFLATER_ENV, loadIsal, loadZlibSync, nodeSyncAvailable } from '../../lib/files/inflater.js'
import { isLogdaemonError } from '../../lib/errors.js'

const text = Buffer.from(Array.from({ length: 3000 }, (_, i) => `@pv@ 1 @db.x@ ${i} @é ${'x'.repeat(i % 50)}@ \n`).join(''))

const noIsal = loadIsal() ? false : 'the ISA-L addon is not built here (libisal-dev missing at npm install)'
/** The producers of chunks, each with the engine it names and whether a recycled buffer is transferred away. */
const PRODUCERS: {
  label: string
  make: (file: string, options: GunzipChunksOptions) => InflatedChunks | null
  name: string
  transfers: boolean
  skip: string | false
}[] = [
  {
    label: 'node-worker',
    make: (f, o) => gunzipFileChunks(f, { inflater: 'node-worker', ...o }),
    name: 'node:zlib-worker',
    transfers: true,
    skip: nodeSyncAvailable() ? false : 'no node-sync here',
  },
  { label: 'isal-worker', make: (f, o) => gunzipFileChunks(f, { inflater: 'isal-worker', ...o }), name: 'isal-worker', transfers: true, skip: noIsal },
  { label: 'isal here', make: (f, o) => inflateFileChunksHere(f, { inflater: 'isal', ...o }), name: 'isal', transfers: false, skip: noIsal },
  {
    // zlib-sync hands out buffers of its own: copied into the chunks.
    label: 'zlib-sync here',
    make: (f, o) => inflateFileChunksHere(f, { inflater: 'zlib-sync', ...o }),
    name: 'zlib-sync',
    transfers: false,
    skip: loadZlibSync() ? false : 'zlib-sync cannot be loaded here',
  },
  {
    label: 'node-sync here',
    make: (f, o) => inflateFileChunksHere(f, { inflater: 'node-sync', ...o }),
    name: 'node:zlib-sync',
    transfers: false,
    skip: nodeSyncAvailable() ? false : 'no node-sync here',
  },
]

async function collect(
  make: (file: string, options: GunzipChunksOptions) => InflatedChunks | null,
  file: string,
  chunkBytes: number,
  recycle = false,
): Promise<{ chunks: Buffer[]; error: unknown }> {
  const source = make(file, { chunkBytes })
  if (!source) throw new Error('no chunks')
  const chunks: Buffer[] = []
  let error: unknown = null
  try {
    for await (const chunk of source) {
      chunks.push(Buffer.from(chunk))
      if (recycle) source.recycle(chunk.buffer as ArrayBuffer)
    }
  } catch (err) {
    error = err
  }
  return { chunks, error }
}

for (const p of PRODUCERS) {
  t.test(
    `${p.label}: the inflated bytes in chunks of the size asked, each over a buffer of its own; recycled buffers are used again`,
    { skip: p.skip },
    async (t) => {
      const dir = t.testdir()
      const file = `${dir}/j.gz`
      const cut = 20000
      writeFileSync(file, Buffer.concat([gzipSync(text.subarray(0, cut)), gzipSync(text.subarray(cut))]))
      for (const chunkBytes of [1000, 65536, 1 << 20]) {
        const source = p.make(file, { chunkBytes })
        if (!source) throw new Error('no chunks')
        t.equal(source.inflaterName, p.name)
        const seen: Buffer[] = []
        let shapes = true
        let detached = true
        const reused = new Set<ArrayBuffer>()
        for await (const chunk of source) {
          seen.push(Buffer.from(chunk))
          const last = seen.reduce((n, c) => n + c.length, 0) === text.length
          if (chunk.byteOffset !== 0 || chunk.buffer.byteLength !== chunkBytes || (!last && chunk.length !== chunkBytes)) shapes = false
          const ab = chunk.buffer as ArrayBuffer
          source.recycle(ab)
          // Transferred back to a worker: nothing here can use it any more.
          if (p.transfers && ab.byteLength !== 0) detached = false
          if (!p.transfers) reused.add(ab)
        }
        t.ok(Buffer.concat(seen).equals(text), `the bytes, in chunks of ${chunkBytes}`)
        t.ok(shapes, 'every chunk is a whole buffer of the size asked (the last one may be shorter)')
        if (p.transfers) t.ok(detached, 'a recycled buffer is handed over')
        else if (seen.length > 4) t.ok(reused.size < seen.length, 'recycled buffers are filled again')
      }
    },
  )

  t.test(`${p.label}: the error comes after every byte before it; a for-await left early stops`, { skip: p.skip }, async (t) => {
    const dir = t.testdir()
    const gz = gzipSync(text)
    const file = `${dir}/cut.gz`
    writeFileSync(file, gz.subarray(0, gz.length - 5))
    const { chunks, error } = await collect(p.make, file, 4096, true)
    t.ok(isLogdaemonError(error) && error.code === 'ERR_GZIP_TRUNCATED', 'truncated')
    t.ok(Buffer.concat(chunks).equals(text.subarray(0, Buffer.concat(chunks).length)) && Buffer.concat(chunks).length >= text.length - 8, 'the bytes before it')
    const bad = Buffer.from(gz)
    bad[bad.length - 8] = (bad[bad.length - 8] as number) ^ 1
    writeFileSync(file, bad)
    const crc = await collect(p.make, file, 4096)
    t.ok(isLogdaemonError(crc.error) && crc.error.code === 'ERR_GZIP_CORRUPT', 'a CRC flip')
    if (p.label === 'zlib-sync here') {
      // zlib-sync checks a member's trailer before its last output goes out.
      t.ok(text.subarray(0, Buffer.concat(crc.chunks).length).equals(Buffer.concat(crc.chunks)), 'bytes before the trailer, none after')
    } else t.ok(Buffer.concat(crc.chunks).equals(text), 'every byte before the trailer')

    writeFileSync(file, gz)
    const source = p.make(file, { chunkBytes: 1000 })
    if (!source) throw new Error('no chunks')
    for await (const chunk of source) {
      t.equal(chunk.length, 1000)
      break
    }
    t.strictSame(await source.next(), { done: true, value: undefined }, 'nothing after return()')
  })
}

t.test('fileChunks: ISA-L on this thread for auto and isal where the addon loads, else a worker', async (t) => {
  const dir = t.testdir()
  const file = `${dir}/j.gz`
  writeFileSync(file, gzipSync(text))
  const saved = process.env[INFLATER_ENV]
  t.teardown(() => {
    if (saved === undefined) delete process.env[INFLATER_ENV]
    else process.env[INFLATER_ENV] = saved
  })
  delete process.env[INFLATER_ENV]
  const names = async (options: Omit<GunzipChunksOptions, 'chunkBytes'>): Promise<string | null> => {
    const source = fileChunks(file, { chunkBytes: 1 << 16, ...options })
    if (!source) return null
    const seen: Buffer[] = []
    for await (const chunk of source) seen.push(Buffer.from(chunk))
    t.ok(Buffer.concat(seen).equals(text), `the bytes (${source.inflaterName})`)
    return source.inflaterName
  }
  t.equal(await names({}), loadIsal() ? 'isal' : nodeSyncAvailable() ? 'node:zlib-worker' : null, 'auto')
  t.equal(await names({ inflater: 'node-worker' }), nodeSyncAvailable() ? 'node:zlib-worker' : null, 'an engine asked for wins')
  process.env[INFLATER_ENV] = 'node-worker'
  t.equal(await names({}), nodeSyncAvailable() ? 'node:zlib-worker' : null, 'and the environment')
  if (loadIsal()) {
    process.env[INFLATER_ENV] = 'isal'
    t.equal(await names({}), 'isal')
    process.env[INFLATER_ENV] = 'isal-worker'
    t.equal(await names({}), 'isal-worker')
  }
  t.equal(inflateFileChunksHere(`${dir}/missing.gz`, { chunkBytes: 10 }), null, 'not a gzip file: null')
})

t.test('on this thread, a gzip bomb inflates a chunk at a time: nothing runs ahead of the reader', { skip: noIsal }, async (t) => {
  const dir = t.testdir()
  const file = `${dir}/bomb.gz`
  const size = 64 << 20
  writeFileSync(file, gzipSync(Buffer.alloc(size, 0x41), { level: 9 }))
  const source = inflateFileChunksHere(file, { chunkBytes: 1 << 20 })
  if (!source) throw new Error('no chunks')
  let total = 0
  let peak = 0
  const base = process.memoryUsage().arrayBuffers
  for await (const chunk of source) {
    total += chunk.length
    peak = Math.max(peak, process.memoryUsage().arrayBuffers - base)
    source.recycle(chunk.buffer as ArrayBuffer)
  }
  t.equal(total, size, 'every byte')
  t.ok(peak < 16 << 20, `at most a few chunks held at once (${(peak / 2 ** 20).toFixed(1)} MiB over the start)`)
})

t.test('null where the serial path reads the file: not gzip, not a regular file, missing, a stream inflater', async (t) => {
  const dir = t.testdir({ plain: 'hello\n' })
  writeFileSync(`${dir}/a.gz`, gzipSync('x'))
  t.equal(gunzipFileChunks(`${dir}/plain`, { chunkBytes: 10 }), null)
  t.equal(gunzipFileChunks(dir, { chunkBytes: 10 }), null)
  t.equal(gunzipFileChunks(`${dir}/missing.gz`, { chunkBytes: 10 }), null)
  t.equal(gunzipFileChunks(`${dir}/a.gz`, { chunkBytes: 10, inflater: 'node' }), null)
})
