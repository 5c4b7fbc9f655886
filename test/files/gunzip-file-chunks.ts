/**
 * gunzipFileChunks: a .gz file inflated by a worker that reads it, handed
 * out in chunks of a set size, each over an ArrayBuffer of its own (to be
 * transferred on), the stream's error after every byte before it.
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { gunzipFileChunks } from '../../lib/files/gunzip.js'
import { isLogdaemonError } from '../../lib/errors.js'

const text = Buffer.from(Array.from({ length: 3000 }, (_, i) => `@pv@ 1 @db.x@ ${i} @é ${'x'.repeat(i % 50)}@ \n`).join(''))

async function collect(file: string, chunkBytes: number, recycle = false): Promise<{ chunks: Buffer[]; error: unknown }> {
  const source = gunzipFileChunks(file, { chunkBytes })
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

t.test('the inflated bytes in chunks of the size asked, each over a buffer of its own; recycled buffers go back to the worker', async (t) => {
  const dir = t.testdir()
  const file = `${dir}/j.gz`
  const cut = 20000
  writeFileSync(file, Buffer.concat([gzipSync(text.subarray(0, cut)), gzipSync(text.subarray(cut))]))
  for (const chunkBytes of [1000, 65536, 1 << 20]) {
    const source = gunzipFileChunks(file, { chunkBytes })
    if (!source) throw new Error('no chunks')
    t.equal(source.inflaterName, 'node:zlib-worker')
    const seen: Buffer[] = []
    let shapes = true
    let detached = true
    for await (const chunk of source) {
      seen.push(Buffer.from(chunk))
      const last = seen.reduce((n, c) => n + c.length, 0) === text.length
      if (chunk.byteOffset !== 0 || chunk.buffer.byteLength !== chunkBytes || (!last && chunk.length !== chunkBytes)) shapes = false
      const ab = chunk.buffer as ArrayBuffer
      source.recycle(ab)
      // Transferred back to the worker: nothing here can use it any more.
      if (ab.byteLength !== 0) detached = false
    }
    t.ok(Buffer.concat(seen).equals(text), `the bytes, in chunks of ${chunkBytes}`)
    t.ok(shapes, 'every chunk is a whole buffer of the size asked (the last one may be shorter)')
    t.ok(detached, 'a recycled buffer is handed over')
  }
})

t.test('the error comes after every byte before it; a for-await left early stops the worker', async (t) => {
  const dir = t.testdir()
  const gz = gzipSync(text)
  const file = `${dir}/cut.gz`
  writeFileSync(file, gz.subarray(0, gz.length - 5))
  const { chunks, error } = await collect(file, 4096, true)
  t.ok(isLogdaemonError(error) && error.code === 'ERR_GZIP_TRUNCATED', 'truncated')
  t.ok(Buffer.concat(chunks).equals(text.subarray(0, Buffer.concat(chunks).length)) && Buffer.concat(chunks).length >= text.length - 8, 'the bytes before it')
  const bad = Buffer.from(gz)
  bad[bad.length - 8] = (bad[bad.length - 8] as number) ^ 1
  writeFileSync(file, bad)
  const crc = await collect(file, 4096)
  t.ok(isLogdaemonError(crc.error) && crc.error.code === 'ERR_GZIP_CORRUPT', 'a CRC flip')
  t.ok(Buffer.concat(crc.chunks).equals(text), 'every byte before the trailer')

  writeFileSync(file, gz)
  const source = gunzipFileChunks(file, { chunkBytes: 1000 })
  if (!source) throw new Error('no chunks')
  for await (const chunk of source) {
    t.equal(chunk.length, 1000)
    break
  }
  t.strictSame(await source.next(), { done: true, value: undefined }, 'nothing after return()')
})

t.test('null where the serial path reads the file: not gzip, not a regular file, missing, a stream inflater', async (t) => {
  const dir = t.testdir({ plain: 'hello\n' })
  writeFileSync(`${dir}/a.gz`, gzipSync('x'))
  t.equal(gunzipFileChunks(`${dir}/plain`, { chunkBytes: 10 }), null)
  t.equal(gunzipFileChunks(dir, { chunkBytes: 10 }), null)
  t.equal(gunzipFileChunks(`${dir}/missing.gz`, { chunkBytes: 10 }), null)
  t.equal(gunzipFileChunks(`${dir}/a.gz`, { chunkBytes: 10, inflater: 'node' }), null)
})
