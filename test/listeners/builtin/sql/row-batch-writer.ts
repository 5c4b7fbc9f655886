import t from 'tap'
import { JournalEntry } from '../../../../lib/journal/entry.js'
import {
  type BoundValue,
  readSegments,
  readValues,
  RowBatchWriter,
  SEGMENT_ROWS,
  SEGMENT_ROWS_MAX,
  SEGMENT_UNMAPPED,
} from '../../../../lib/listeners/builtin/sql/row-batch-writer.js'

let offset = 0
function entry(text: string | Buffer): JournalEntry {
  const b = typeof text === 'string' ? Buffer.from(text) : text
  const e = new JournalEntry(b, { journal: 7, offset, end: offset + b.length, line: 1 })
  offset += b.length
  return e
}

function writer(payload: 'copy' | 'values'): RowBatchWriter {
  return new RowBatchWriter({ payload, tables: ['db.*'], exclude: ['db.have'], encoding: 'utf8', journal: 7 })
}

function rowsOf(payload: Buffer, width: number): BoundValue[][] {
  const rows: BoundValue[][] = []
  readValues(payload as Parameters<typeof readValues>[0], width, new Array<BoundValue>(width), (row) => rows.push(row.slice()))
  return rows
}

t.test('COPY text: escapes, NULL for an empty integer, bytes as hex; one segment per layout run', async (t) => {
  const w = writer('copy')
  w.addEntry(entry('@pv@ 0 @db.desc@ 1 @tab\there, back\\slash, cr\rlf\n@@@ \n'))
  w.addEntry(entry('@pv@ 0 @db.counters@ @change@ @@ \n'))
  w.addEntry(entry(Buffer.concat([Buffer.from('@pv@ 0 @db.desc@ 2 @'), Buffer.from([0xff, 0x00]), Buffer.from('@ \n')])))
  w.addEntry(entry('@pv@ 0 @db.have@ @//c/f@ @//d/f@ 1 0 0 \n'))
  const batch = w.take()
  t.ok(batch)
  const segments = [...readSegments(batch as Buffer)]
  t.same(
    segments.map((s) => [s.kind, s.rows, s.id.replaceAll('\0', ' ')]),
    [
      [SEGMENT_ROWS, 1, 'db.desc 0 2'],
      [SEGMENT_ROWS, 1, 'db.counters 0 2'],
      [SEGMENT_ROWS, 1, 'db.desc 0 2'],
    ],
    'db.have left out',
  )
  t.equal(segments[0]?.payload.toString(), '1\ttab\\there, back\\\\slash, cr\\rlf\\n@\t\\N\n')
  t.equal(segments[1]?.payload.toString(), 'change\t\\N\t\\N\n')
  t.equal(segments[2]?.payload.toString(), `2\t\uFFFD\uFFFD\t\\\\x${Buffer.from('@pv@ 0 @db.desc@ 2 @\xff\x00@ \n', 'latin1').toString('hex')}\n`)
  t.equal(w.take(), null, 'nothing more')
})

t.test('values: NULL, ASCII, UTF-8 and bytes read back as written; unmapped records in a segment of their own', async (t) => {
  const w = writer('values')
  w.addEntry(entry('@pv@ 0 @db.desc@ 1 @é ü 中文@ \n'))
  w.addEntry(entry('@pv@ 77 @db.desc@ 1 @no such version@ \n'))
  w.addEntry(entry('@pv@ 1 @db.counters@ @change@ @@ \n'))
  w.addEntry(entry('@dv@ 0 @db.desc@ 3 @gone@ \n'))
  w.addEntry(entry('@ex@ 1 1400000000\n'))
  const segments = [...readSegments(w.take() as Buffer)]
  t.same(
    segments.map((s) => [s.kind, s.rows]),
    [
      [SEGMENT_ROWS, 1],
      [SEGMENT_ROWS, 1],
      [SEGMENT_UNMAPPED, 2],
    ],
  )
  t.same(rowsOf(segments[0]?.payload as Buffer, 3), [['1', 'é ü 中文', null]])
  t.same(rowsOf(segments[1]?.payload as Buffer, 3), [['change', '', null]], 'an empty text value is empty text (an empty integer is NULL)')
  const unmapped = rowsOf(segments[2]?.payload as Buffer, 9)
  t.match(unmapped, [
    ['checkpoint.7', '7', String, 'pv', 'db.desc', '77', '["1","no such version"]', Buffer, /no documented layout/],
    ['checkpoint.7', '7', String, 'dv', 'db.desc', '0', '["3","gone"]', Buffer, 'a delete in a checkpoint'],
  ])
  t.equal(unmapped[1]?.[7]?.toString(), '@dv@ 0 @db.desc@ 3 @gone@ \n')
})

t.test('segments end at the row bound; takeView discards; the counts are per batch', async (t) => {
  const w = writer('values')
  w.addEntry(entry('@pv@ 0 @db.desc@ 1 @lost@ \n'))
  t.ok(w.takeView(), 'a view of the batch, discarded')
  for (let i = 0; i < SEGMENT_ROWS_MAX + 10; i++) w.addEntry(entry(`@pv@ 0 @db.desc@ ${i} @d@ \n`))
  for (let i = 0; i < SEGMENT_ROWS_MAX + 1; i++) w.addEntry(entry(`@pv@ 9 @db.desc@ ${i} @d@ \n`))
  t.equal(w.rows, SEGMENT_ROWS_MAX + 10)
  t.equal(w.unmapped, SEGMENT_ROWS_MAX + 1)
  const segments = [...readSegments(w.take() as Buffer)]
  t.same(
    segments.map((s) => [s.kind, s.rows]),
    [
      [SEGMENT_ROWS, SEGMENT_ROWS_MAX],
      [SEGMENT_ROWS, 10],
      [SEGMENT_UNMAPPED, SEGMENT_ROWS_MAX],
      [SEGMENT_UNMAPPED, 1],
    ],
  )
  t.equal(w.rows, 0)
  t.same(rowsOf(segments[1]?.payload as Buffer, 3)[0], [String(SEGMENT_ROWS_MAX), 'd', null])
})

t.test('values: an integer column value goes as a number where String(number) gives its text back, else as text', async (t) => {
  const w = writer('values')
  const keys = ['1', '0', '-5', '123456789012345', '-12345678901234', '007', '-0', '00', '1234567890123456', '9223372036854775807', '-9223372036854775808']
  for (const k of keys) w.addEntry(entry(`@pv@ 0 @db.desc@ ${k} @d@ \n`))
  w.addEntry(entry('@pv@ 77 @db.desc@ 1 @no such version@ \n'))
  const segments = [...readSegments(w.take() as Buffer)]
  const payload = segments[0]?.payload as Buffer
  const read = (numbers?: boolean[]): BoundValue[] => {
    const out: BoundValue[] = []
    readValues(payload as Parameters<typeof readValues>[0], 3, new Array(3), (row) => out.push(row[0] ?? null), numbers)
    return out
  }
  // 007, -0 and 00 are their values (7, 0, 0) as p4d would write them: their records keep the bytes (logdaemon_raw).
  t.same(
    read(),
    keys.map((k) => BigInt(k).toString()),
    'read as text: each value',
  )
  const asNumbers = read([true, false, false])
  t.same(asNumbers, [1, 0, -5, 123456789012345, -12345678901234, 7, 0, 0, '1234567890123456', '9223372036854775807', '-9223372036854775808'])
  t.same(
    asNumbers.map((v) => typeof v),
    ['number', 'number', 'number', 'number', 'number', 'number', 'number', 'number', 'string', 'string', 'string'],
    'more than 15 characters stay text (exact)',
  )
  const unmapped: BoundValue[][] = []
  const integers = [false, true, true, false, false, true] // source, journal, offset, op, table_name, version
  readValues(segments[1]?.payload as Parameters<typeof readValues>[0], 9, new Array(9), (row) => unmapped.push(row.slice()), integers)
  t.match(
    unmapped,
    [['checkpoint.7', 7, Number, 'pv', 'db.desc', 77, '["1","no such version"]', Buffer, /no documented layout/]],
    "logdaemon_unmapped's journal, offset and version",
  )
})

t.test('a put that names no table (its version or its table left out, an empty table) is kept as unmapped, not dropped', async (t) => {
  const w = writer('values')
  const damaged = ['@pv@ @db.desc@ 79 @x@ \n', '@pv@ 1 @@ 81 @y@ \n', '@rv@ 3 \n']
  for (const text of damaged) w.addEntry(entry(text))
  w.addEntry(entry('@pv@ 0 @db.have@ @//c/f@ @//d/f@ 1 0 0 \n')) // a table left out by the filter: dropped, as asked
  const segments = [...readSegments(w.take() as Buffer)]
  t.same(
    segments.map((s) => [s.kind, s.rows]),
    [[SEGMENT_UNMAPPED, 3]],
  )
  const rows = rowsOf(segments[0]?.payload as Buffer, 9)
  t.same(
    rows.map((r) => (r[7] as Buffer).toString()),
    damaged,
    'each with its bytes',
  )
  for (const r of rows) t.equal(r[8], 'the record names no table')
})
