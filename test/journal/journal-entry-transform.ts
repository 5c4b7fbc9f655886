import t from 'tap'
import { pipeline } from 'node:stream/promises'
import { Readable, Writable } from 'node:stream'
import { JournalEntryTransform } from '../../lib/journal/journal-entry-transform.js'
import { JournalFramer } from '../../lib/journal/framer.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { FIXTURE_RECORDS, fixtureNames, fixturesSkip, readFixture } from '../helpers/fixtures.js'
import { frame, frameSettled } from '../helpers/collect.js'

const b = (s: string) => Buffer.from(s, 'latin1')

t.test('fixtures frame into the declared number of records, byte exact', { skip: fixturesSkip }, async (t) => {
  for (const name of fixtureNames()) {
    const data = readFixture(name)
    const entries = await frame([data])
    t.equal(entries.length, FIXTURE_RECORDS[name], `${name}: record count`)
    t.same(Buffer.concat(entries.map((e) => e.raw)), data, `${name}: raw bytes concatenate to the file`)
    let offset = 0
    let line = 1
    for (const e of entries) {
      if (e.position.offset !== offset || e.position.line !== line) {
        t.fail(`${name}: position of record at ${offset}`)
        break
      }
      offset = e.position.end
      line += e.raw.toString('latin1').split('\n').length - 1
    }
    t.equal(offset, data.length, `${name}: positions are contiguous`)
  }
})

t.test('every split point of every fixture yields the same records', { skip: fixturesSkip }, async (t) => {
  // Drives the framer directly (the transform only wraps it) so that all
  // ~30,000 two-chunk splits stay fast; the transform is split-tested below.
  const frameSync = (chunks: Buffer[]): string => {
    const framer = new JournalFramer()
    const out: string[] = []
    for (const c of chunks) framer.push(c, (src, start, end, offset, line) => out.push(`${offset}:${line}:${src.toString('latin1', start, end)}`))
    return out.join('\u0000') + (framer.pending ? ' (pending)' : '')
  }
  for (const name of fixtureNames()) {
    const data = readFixture(name)
    const whole = frameSync([data])
    let bad = 0
    for (let i = 0; i <= data.length; i++) {
      if (frameSync([data.subarray(0, i), data.subarray(i)]) !== whole && bad++ === 0) t.fail(`${name}: split at ${i} differs`)
    }
    t.equal(bad, 0, `${name}: all ${data.length + 1} split points agree`)
  }
})

t.test('the transform at sampled split points', { skip: fixturesSkip }, async (t) => {
  const data = readFixture('journal-2014-submit.jnl')
  const whole = (await frame([data])).map((e) => e.raw.toString('latin1'))
  for (let i = 0; i <= data.length; i += 7) {
    const got = (await frame([data.subarray(0, i), data.subarray(i)])).map((e) => e.raw.toString('latin1'))
    t.same(got, whole, `split at ${i}`)
  }
})

t.test('one byte at a time', { skip: fixturesSkip }, async (t) => {
  const data = readFixture('checkpoint-2020-windows-unicode.ckp')
  const chunks = Array.from(data, (_, i) => data.subarray(i, i + 1))
  const entries = await frame(chunks)
  t.equal(entries.length, 287)
  t.same(Buffer.concat(entries.map((e) => e.raw)), data)
})

t.test('quotes, escapes and record-looking text', async (t) => {
  const rec = [
    '@pv@ 7 @db.desc@ 12 @line one\n@@pv@@ 7 @@db.rev@@ not a record\n@@x@ 3 \n',
    '@ex@ 24632 1611008050\n',
    '@pv@ 0 @db.counters@ @change@ 5 \r\n',
    '@rv@ 3 @db.user@ @bob@ @bob@@example.com@ @C:\\Users\\bob@ @@ \n',
  ]
  const entries = await frame([b(rec.join(''))])
  t.equal(entries.length, 4)
  t.same(
    entries.map((e) => e.op),
    ['pv', 'ex', 'pv', 'rv'],
  )
  t.equal(entries[0]!.table, 'db.desc')
  t.equal(entries[0]!.version, 7)
  t.same(entries[0]!.fields, ['12', 'line one\n@pv@ 7 @db.rev@ not a record\n@x', '3'])
  t.same(entries[0]!.lines, ['@pv@ 7 @db.desc@ 12 @line one', '@@pv@@ 7 @@db.rev@@ not a record', '@@x@ 3 '])
  t.same(entries[1]!.fields, ['24632', '1611008050'])
  t.equal(entries[1]!.table, null)
  t.equal(entries[1]!.version, null)
  t.equal(entries[2]!.eol, '\r\n')
  t.same(entries[2]!.fields, ['change', '5'])
  t.same(entries[3]!.fields, ['bob', 'bob@example.com', 'C:\\Users\\bob', ''])
  t.same(
    entries.map((e) => e.position.line),
    [1, 4, 5, 6],
  )
})

t.test('NUL, CR and non-UTF-8 bytes inside values', async (t) => {
  const raw = Buffer.concat([b('@pv@ 1 @db.x@ @a'), Buffer.from([0, 0x0d, 0xe9, 0xff, 0x0a]), b('b@ \n')])
  const [e] = await frame([raw])
  t.ok(e)
  t.same(e!.raw, raw)
  t.same(e!.fieldBytes[0], Buffer.from([0x61, 0, 0x0d, 0xe9, 0xff, 0x0a, 0x62]))
  t.equal(e!.withEncoding('latin1').fields[0], 'a\u0000\r\u00e9\u00ff\nb')
  t.equal(e!.eol, '\n')
})

t.test('a CR inside a quote before the LF is data, not CRLF', async (t) => {
  const raw = b('@pv@ 1 @db.x@ @a\r\nb@ \n')
  const [e] = await frame([raw])
  t.equal(e!.fields[0], 'a\r\nb')
  t.equal(e!.eol, '\n')
})

t.test('resuming mid-file: absolute offsets, lines and journal', async (t) => {
  const entries = await frame([b('@ex@ 1 2\n@ex@ 3 4\n')], { journal: 41, offset: 1000, line: 20 })
  t.same(
    entries.map((e) => e.position),
    [
      { journal: 41, offset: 1000, end: 1009, line: 20 },
      { journal: 41, offset: 1009, end: 1018, line: 21 },
    ],
  )
})

t.test('malformed input fails with a position, after the good records', async (t) => {
  const cases: [string, number, number][] = [
    ['@ex@ 1 2\nhello\n', 9, 2],
    ['@ex@ 1 2\n@pv@ 1 @db.x@x @y@\n', 9, 2],
    ['@ex@ 1 2\n@ex@ 3 4\n@pv@ 1 x@db.x@\n', 18, 3],
  ]
  for (const [text, offset, line] of cases) {
    const { entries, error } = await frameSettled([b(text)], { file: 'journal.7', journal: 7 })
    t.equal(error?.code, 'ERR_JOURNAL_MALFORMED', JSON.stringify(text))
    t.equal(error?.offset, offset)
    t.equal(error?.line, line)
    t.match(error?.message, /journal\.7: journal 7, offset \d+, line \d+/)
    t.equal(entries.at(-1)?.position.end, offset, 'everything before the bad record was delivered')
  }
})

t.test('skipMalformed skips to the next record and counts', async (t) => {
  const tr = new JournalEntryTransform({ skipMalformed: true })
  const skips: unknown[] = []
  tr.on('skip', (s) => skips.push(s))
  const out: JournalEntry[] = []
  tr.on('data', (e: JournalEntry) => out.push(e))
  tr.end(b('@ex@ 1 2\ngarbage\nmore garbage\n@pv@ 1 @db.x@x @y@\n@ex@ 3 4\n'))
  await new Promise((r) => tr.on('end', r))
  t.same(
    out.map((e) => e.fields),
    [
      ['1', '2'],
      ['3', '4'],
    ],
  )
  // The stray lines are one malformed record (up to the next line that starts with @), the bad @pv@ another.
  t.equal(tr.malformedSkipped, 2, 'stray lines count once, the bad record after them once')
  t.equal(skips.length, 2)
  t.equal(tr.bytesSkipped, 'garbage\nmore garbage\n@pv@ 1 @db.x@x @y@\n'.length)
  t.equal(out[1]!.position.line, 5)
})

t.test('input ending inside a record', async (t) => {
  const text = '@ex@ 1 2\n@pv@ 1 @db.x@ @half'
  const { entries, error } = await frameSettled([b(text)], { file: 'journal' })
  t.equal(entries.length, 1)
  t.equal(error?.code, 'ERR_JOURNAL_INCOMPLETE')
  t.equal(error?.offset, 9)
  const partial = await frame([b(text)], { allowIncomplete: true })
  t.equal(partial.length, 2)
  t.equal(partial[1]!.incomplete, true)
  t.equal(partial[1]!.raw.toString(), '@pv@ 1 @db.x@ @half')
  t.same(partial[1]!.fields, ['half'])
  t.equal(partial[0]!.incomplete, false)
})

t.test('empty input yields nothing', async (t) => {
  t.same(await frame([]), [])
  t.same(await frame([Buffer.alloc(0)]), [])
})

t.test('oversize records', async (t) => {
  const big = '@pv@ 1 @db.desc@ @' + 'x'.repeat(5000) + '@ \n'
  const text = '@ex@ 1 2\n' + big + '@ex@ 3 4\n'
  for (const chunk of [16, 1000, 100000]) {
    const data = b(text)
    const chunks: Buffer[] = []
    for (let i = 0; i < data.length; i += chunk) chunks.push(data.subarray(i, i + chunk))
    const { entries, error } = await frameSettled(chunks, { maxEntryBytes: 1024 })
    t.equal(error?.code, 'ERR_ENTRY_TOO_LARGE', `chunk ${chunk}`)
    t.equal(error?.offset, 9)
    t.equal(entries.length, 1)
    const skipped = new JournalEntryTransform({ maxEntryBytes: 1024, skipOversize: true })
    const out: JournalEntry[] = []
    skipped.on('data', (e: JournalEntry) => out.push(e))
    for (const c of chunks) skipped.write(c)
    skipped.end()
    await new Promise((r) => skipped.on('end', r))
    t.same(
      out.map((e) => e.fields[0]),
      ['1', '3'],
      `chunk ${chunk}: skipped`,
    )
    t.equal(skipped.oversizeSkipped, 1)
    t.equal(out[1]!.position.offset, 9 + big.length)
  }
})

t.test('records of many MB', async (t) => {
  const value = Buffer.alloc(8 * 1024 * 1024, 0x61)
  const raw = Buffer.concat([b('@pv@ 7 @db.desc@ 1 @'), value, b('@ \n')])
  const chunks: Buffer[] = []
  for (let i = 0; i < raw.length; i += 65536) chunks.push(raw.subarray(i, i + 65536))
  const [e] = await frame(chunks)
  t.equal(e!.raw.length, raw.length)
  t.equal(e!.fieldBytes[1]!.length, value.length)
})

t.test('backpressure: a paused consumer stops the writer', async (t) => {
  const tr = new JournalEntryTransform()
  const line = b('@ex@ 1 2\n')
  let writes = 0
  let ok = true
  while (ok && writes < 100000) {
    ok = tr.write(line)
    writes++
  }
  // The writable side holds its highWaterMark of bytes, the readable side 16 entries.
  t.ok(writes * line.length <= tr.writableHighWaterMark + 17 * line.length, `write() returned false after ${writes} writes with nobody reading`)
  tr.destroy()
})

t.test('works with pipeline and a slow Writable', async (t) => {
  const lines = Array.from({ length: 200 }, (_, i) => b(`@ex@ ${i} 2\n`))
  const seen: string[] = []
  await pipeline(
    Readable.from(lines),
    new JournalEntryTransform(),
    new Writable({
      objectMode: true,
      highWaterMark: 1,
      write(e: JournalEntry, _enc, cb) {
        seen.push(e.fields[0]!)
        setImmediate(cb)
      },
    }),
  )
  t.equal(seen.length, 200)
  t.equal(seen[199], '199')
})

t.test('batch mode pushes the same entries as arrays, one per input chunk', { skip: fixturesSkip }, async (t) => {
  const data = readFixture('checkpoint-2014.ckp')
  const one = await frame([data])
  const tr = new JournalEntryTransform({ batch: true })
  const batches: JournalEntry[][] = []
  tr.on('data', (b: JournalEntry[]) => batches.push(b))
  for (let i = 0; i < data.length; i += 1000) tr.write(data.subarray(i, i + 1000))
  tr.end()
  await new Promise((r) => tr.on('end', r))
  t.ok(batches.length > 1 && batches.every((b) => Array.isArray(b) && b.length > 0))
  t.same(
    batches.flat().map((e) => [e.raw.toString('latin1'), e.position]),
    one.map((e) => [e.raw.toString('latin1'), e.position]),
  )
})

t.test('maxEntryBytes: an integer from 1 up, else a RangeError at once (NaN turned the bound off, 0 failed every record)', async (t) => {
  const { createJournalReader } = await import('../../lib/index.js')
  const { RotatingJournalSource } = await import('../../lib/source/rotating-journal-source.js')
  const root = t.testdir({ journal: '@ex@ 1 2\n' })
  for (const v of [Number.NaN, 0, -5, 1.5, Number.POSITIVE_INFINITY, '64' as unknown as number]) {
    const message = /^maxEntryBytes must be an integer from 1 to \d+ \(bytes of one record\), got /
    t.throws(() => new JournalEntryTransform({ maxEntryBytes: v }), { name: 'RangeError', message }, `transform ${v}`)
    t.throws(() => new JournalFramer({ maxEntryBytes: v }), { name: 'RangeError', message }, `framer ${v}`)
    t.throws(() => createJournalReader(`${root}/journal`, { maxEntryBytes: v }), { name: 'RangeError', message }, `reader ${v}`)
    t.throws(() => new RotatingJournalSource({ root, from: 1, maxEntryBytes: v }), { name: 'RangeError', message }, `source ${v}`)
  }
  const { entries } = await frameSettled([Buffer.from('@ex@ 1 2\n')], { maxEntryBytes: 1 << 20 })
  t.equal(entries.length, 1)
})

t.test('journal, offset, line and encoding of the wrong type or range: a TypeError or RangeError at once, not odd positions', async (t) => {
  const { createJournalReader } = await import('../../lib/index.js')
  const { RotatingJournalSource } = await import('../../lib/source/rotating-journal-source.js')
  const root = t.testdir({ journal: '@ex@ 1 2\n' })
  const bad: [Record<string, unknown>, RegExp, string][] = [
    [{ offset: '5' }, /^offset must be a number, got string "5"/, 'TypeError'],
    [{ offset: Number.NaN }, /^offset must be an integer from 0 up, got NaN/, 'RangeError'],
    [{ offset: -1 }, /^offset must be an integer from 0 up/, 'RangeError'],
    [{ line: 0 }, /^line must be an integer from 1 up/, 'RangeError'],
    [{ line: 1.5 }, /^line must be an integer from 1 up/, 'RangeError'],
    [{ journal: '5' }, /^journal must be a number/, 'TypeError'],
    [{ journal: -2 }, /^journal must be an integer from 0 up/, 'RangeError'],
    [{ encoding: 'latin2' }, /^encoding must be 'utf8' or 'latin1', got "latin2"/, 'RangeError'],
  ]
  for (const [o, message, name] of bad) {
    t.throws(() => new JournalEntryTransform(o), { name, message }, `transform ${JSON.stringify(o)}`)
    t.throws(() => createJournalReader(`${root}/journal`, o), { name, message }, `reader ${JSON.stringify(o)}`)
  }
  const { entries } = await frameSettled([Buffer.from('@ex@ 1 2\n')], { journal: null, offset: 7, line: 3, encoding: 'latin1' })
  t.match(entries[0]?.position, { journal: null, offset: 7, line: 3 })
  for (const from of [Number.NaN, -1, 1.5, '1']) {
    t.throws(
      () => new RotatingJournalSource({ root, from: from as number }),
      { name: 'RangeError', message: /^from must be a journal number/ },
      `from ${String(from)}`,
    )
  }
  new RotatingJournalSource({ root, from: 'end' }).destroy()
})
