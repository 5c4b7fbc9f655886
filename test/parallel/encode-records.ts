/**
 * encodeRecords: the worker side of the stream pool (lib/cli/cat-stream-parallel.ts).
 * Its batches hold whole adjacent records; anything else is a bug of the
 * caller and must fail loudly, never write a partial line.
 */
import t from 'tap'
import { encodeRecords, rangeContext, type RangeOptions } from '../../lib/parallel/frame-range.js'

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
  const got = encodeRecords(task('@ex@ 1 2\n@ex@ 4 5\n'), rangeContext({ ...options, ops: ['pv'] }))
  t.same(got, { entries: 0, out: null })
})

t.test('a batch that ends inside a record, or a raw context, is a caller bug: it throws', async (t) => {
  t.throws(() => encodeRecords(task('@ex@ 1 2\n@ex@ 4'), rangeContext(options)), /ends inside a record/)
  t.throws(() => encodeRecords(task('@ex@ 1 2\n'), rangeContext({ ...options, format: 'raw' })), /not raw/)
})
