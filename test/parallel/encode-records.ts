/**
 * encodeRecords: the worker side of the stream pool (lib/cli/cat-stream-parallel.ts).
 * Its batches hold whole adjacent records; anything else is a bug of the
 * caller and must fail loudly, never write a partial line.
 */
import t from 'tap'
import { BufferCache, encodeRecords, frameRange, KEEP_BYTES, LineCounts, type RangeOptions, runRangeTask } from '../../lib/parallel/frame-range.js'
import { rangeContext } from '../../lib/parallel/range-context.js'
import { closeSync, openSync, writeFileSync } from 'node:fs'

const options: RangeOptions = { format: 'json', encoding: 'utf8', tables: [], ops: [], where: [], maxEntryBytes: 1 << 20, file: 'journal.3', journal: 3 }
const task = (text: string, offset = 100, line = 7) => {
  const data = Buffer.from(text)
  return { data: data.buffer.slice(data.byteOffset, data.byteOffset + data.length) as ArrayBuffer, length: data.length, offset, line }
}

t.test('encodes the records of a batch at their absolute offset and line', async (t) => {
  const got = encodeRecords(task('@ex@ 1 2\n@nx@ 3 @a\nb@ \n@ex@ 4 5\n'), rangeContext(options))
  t.equal(got.entries, 3)
  const lines = Buffer.from(got.out as Uint8Array)
    .toString()
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l))
  t.same(
    lines.map((l) => [l.offset, l.line, l.op]),
    [
      [100, 7, 'ex'],
      [109, 8, 'nx'],
      [123, 10, 'ex'],
    ],
  )
})

t.test('filters run on the worker; a batch with nothing kept has no output', async (t) => {
  const batch = task('@ex@ 1 2\n@ex@ 4 5\n')
  const got = encodeRecords(batch, rangeContext({ ...options, ops: ['pv'] }))
  t.same({ entries: got.entries, out: got.out }, { entries: 0, out: null })
  t.equal(got.data, batch.data, 'the batch buffer goes back to be filled again')
})

t.test('a batch that ends inside a record, or a raw context, is a caller bug: it throws', async (t) => {
  t.throws(() => encodeRecords(task('@ex@ 1 2\n@ex@ 4'), rangeContext(options)), /ends inside a record/)
  t.throws(() => encodeRecords(task('@ex@ 1 2\n'), rangeContext({ ...options, format: 'raw' })), /not raw/)
})

t.test('an output buffer given back is written in again, not allocated anew', async (t) => {
  const context = rangeContext(options)
  const first = encodeRecords(task('@ex@ 1 2\n'), context)
  const buffer = first.out?.buffer as ArrayBuffer
  t.ok(buffer.byteLength > Buffer.poolSize, 'a buffer of its own, to be transferred')
  const second = runRangeTask(-1, { kind: 'records', ...task('@ex@ 3 4\n'), spares: [buffer] }, context)
  const third = runRangeTask(-1, { kind: 'records', ...task('@ex@ 5 6\n'), spares: [] }, context)
  t.equal(third.out?.buffer, buffer, 'the lines after the give-back are written in the given buffer')
  t.not(second.out?.buffer, buffer)
  t.match(Buffer.from(third.out as Uint8Array).toString(), /"fields":\["5","6"\]/)
  const tiny = new ArrayBuffer(16)
  runRangeTask(-1, { kind: 'records', ...task('@ex@ 7 8\n'), spares: [tiny] }, context)
  const fifth = runRangeTask(-1, { kind: 'records', ...task('@ex@ 9 10\n') }, context)
  t.not(fifth.out?.buffer, tiny, 'a buffer smaller than the lines were is not written in')
  t.match(Buffer.from(fifth.out as Uint8Array).toString(), /"fields":\["9","10"\]/)
})

t.test('LineCounts: a count is read back for its range only; an overwritten slot is a bug', async (t) => {
  const counts = new LineCounts()
  const again = new LineCounts(counts.buffer)
  t.equal(again.get(3), null, 'not written yet')
  counts.publish(3, 17)
  t.equal(again.get(3), 17, 'seen through the shared buffer')
  t.equal(again.get(3 + LineCounts.SLOTS), null, 'the same slot, a later range: not written yet')
  counts.publish(3 + LineCounts.SLOTS, 5)
  t.throws(() => again.get(3), /overwritten/)
})

t.test('a range counts the lines of earlier ranges no thread has counted yet', async (t) => {
  const dir = t.testdir()
  const text = '@ex@ 1 @a\nb@\n@ex@ 2 3\n@ex@ 4 5\n@ex@ 6 @c\n\nd@\n@ex@ 7 8\n'
  writeFileSync(`${dir}/j`, text)
  const fd = openSync(`${dir}/j`, 'r')
  t.teardown(() => closeSync(fd))
  const counts = new LineCounts()
  const size = text.length
  const rangeBytes = 10
  // Range 4 ([40, 50): its record starts at 45 and ends past it), first: it reads and counts every range before it.
  const lastIndex = 4
  const start = lastIndex * rangeBytes
  const got = frameRange(
    fd,
    {
      start,
      end: start + rangeBytes,
      size,
      exact: false,
      line: null,
      counts: { buffer: counts.buffer, index: lastIndex, base: { index: 0, line: 1 }, rangeBytes },
    },
    rangeContext(options),
  )
  const from = got.from
  const lineAtFrom = text.slice(0, from).split('\n').length
  t.match(Buffer.from(got.out as Uint8Array).toString(), new RegExp(`"offset":${from},"end":${size},"line":${lineAtFrom},`))
  for (let k = 0; k < lastIndex; k++)
    t.equal(counts.get(k), text.slice(k * rangeBytes, (k + 1) * rangeBytes).split('\n').length - 1, `range ${k}'s count, written`)
  t.equal(from, 45)
  t.equal(got.spanLines, text.slice(start, start + rangeBytes).split('\n').length - 1)
})

t.test('a thread keeps buffers up to KEEP_BYTES for reuse, never a huge record’s', async (t) => {
  const cache = new BufferCache()
  const small = cache.scratch(1024)
  t.equal(cache.scratch(512), small, 'a small read buffer is kept and reused')
  const huge = cache.scratch(KEEP_BYTES + 1)
  t.ok(huge.length > KEEP_BYTES)
  t.not(cache.scratch(KEEP_BYTES + 1), huge, 'a read buffer past KEEP_BYTES is not kept: a new one each time')
  t.equal(cache.scratch(512), small, 'the small one is still the kept one')
  t.not(cache.counting(KEEP_BYTES + 1), cache.counting(KEEP_BYTES + 1), 'nor a counting buffer past it')
  cache.give(new ArrayBuffer(KEEP_BYTES + 1))
  t.equal(cache.largest(), undefined, 'a spare past KEEP_BYTES is left to the garbage collector')
  cache.give(new ArrayBuffer(KEEP_BYTES))
  t.equal(cache.largest()?.length, KEEP_BYTES, 'one of KEEP_BYTES is kept')
})
