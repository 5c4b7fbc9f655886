import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { JournalFramer } from '../../lib/journal/framer.js'
import { parseRecord as parseLibRecord } from '../../lib/journal/parse-record.js'
import { Random } from '../../lib/sim/random.js'
import { RecordGenerator, TABLE_VERSIONS, quoteField, type Batch, type SubmitTransaction } from '../../lib/sim/record-generator.js'

const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/p4d/', import.meta.url))

// A small, independent framing check (the real parser lives in lib/journal):
// a record ends at a LF outside quotes, and the quote state is the parity of `@`.

function splitRecords(buf: Buffer): { records: Buffer[]; rest: Buffer } {
  const records: Buffer[] = []
  let inQuote = false
  let start = 0
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]
    if (c === 0x40) inQuote = !inQuote
    else if (c === 0x0a && !inQuote) {
      records.push(buf.subarray(start, i + 1))
      start = i + 1
    }
  }
  return { records, rest: buf.subarray(start) }
}

interface Parsed {
  values: Buffer[]
  quoted: boolean[]
  trailingSpace: boolean
}

const BARE = /^(-?\d+|[0-9A-F]{32})$/

/** Tokenises one record strictly as p4d writes it; throws on anything else. */
function parseRecord(rec: Buffer): Parsed {
  if (rec[rec.length - 1] !== 0x0a) throw new Error(`record does not end with LF: ${rec}`)
  const end = rec.length - 1
  const out: Parsed = { values: [], quoted: [], trailingSpace: false }
  let i = 0
  for (;;) {
    if (rec[i] === 0x40) {
      const bytes: number[] = []
      let j = i + 1
      for (;;) {
        if (j >= end) throw new Error(`unterminated quoted field at ${i}: ${rec}`)
        if (rec[j] === 0x40) {
          if (rec[j + 1] === 0x40) {
            bytes.push(0x40)
            j += 2
            continue
          }
          break
        }
        bytes.push(rec[j] as number)
        j++
      }
      out.values.push(Buffer.from(bytes))
      out.quoted.push(true)
      i = j + 1
    } else {
      let j = i
      while (j < end && rec[j] !== 0x20) j++
      const token = rec.subarray(i, j).toString('latin1')
      if (!BARE.test(token)) throw new Error(`bad bare field ${JSON.stringify(token)} in ${rec}`)
      out.values.push(Buffer.from(token))
      out.quoted.push(false)
      i = j
    }
    if (i === end) return out
    if (rec[i] !== 0x20) throw new Error(`field not followed by space or LF at ${i}: ${rec}`)
    i++
    if (i === end) {
      out.trailingSpace = true
      return out
    }
  }
}

/** Checks the rules of docs/journal-format.md for one record; returns its op. */
function checkRecord(rec: Buffer): string {
  const p = parseRecord(rec)
  const op = p.values[0]?.toString() ?? ''
  if (!p.quoted[0]) throw new Error(`op not quoted: ${rec}`)
  if (op === 'ex' || op === 'mx') {
    if (p.trailingSpace || p.values.length !== 3) throw new Error(`bad ${op}: ${JSON.stringify(rec.toString())}`)
  } else if (op === 'nx') {
    if (!p.trailingSpace || p.values.length !== 14) throw new Error(`bad nx: ${rec}`)
  } else {
    if (!p.trailingSpace || p.quoted[1] || !p.quoted[2] || !/^db\./.test(p.values[2]?.toString() ?? '')) {
      throw new Error(`bad data record: ${rec}`)
    }
  }
  return op
}

function concat(batches: Batch[]): Buffer {
  return Buffer.concat(batches.flatMap((b) => b.records))
}

function batches(seed: number, n: number): Batch[] {
  const g = new RecordGenerator(seed)
  return Array.from({ length: n }, () => g.next())
}

/** Rows of one table in a record list: [op, version, table, ...fields]. */
function rowsOf(records: readonly Buffer[], table: string): Parsed[] {
  return records.map(parseRecord).filter((p) => p.values[2]?.toString() === table && p.quoted[0])
}

const noFixtures = existsSync(FIXTURES) ? false : `fixtures not found at ${FIXTURES}`

t.test('the local framing check accepts the real p4d files', { skip: noFixtures }, (t) => {
  for (const name of ['checkpoint-2014.ckp', 'checkpoint-2020-windows-unicode.ckp', 'journal-2014-submit.jnl', 'journal-2014-win1252.jnl']) {
    const { records, rest } = splitRecords(readFileSync(FIXTURES + name))
    t.equal(rest.length, 0, `${name} ends at a record end`)
    for (const r of records) parseRecord(r)
    t.ok(records.length > 10, `${name}: ${records.length} records parse`)
  }
  t.end()
})

t.test('transactions are framed and formatted as p4d writes them', (t) => {
  const list = batches(1, 1500)
  const all = concat(list)
  const { records, rest } = splitRecords(all)
  t.equal(rest.length, 0, 'ends at a record boundary')
  t.equal(
    records.length,
    list.reduce((n, b) => n + b.records.length, 0),
    'every generated Buffer is exactly one record',
  )
  const ops = new Map<string, number>()
  for (const r of records) {
    const op = checkRecord(r)
    ops.set(op, (ops.get(op) ?? 0) + 1)
  }
  for (const op of ['pv', 'rv', 'dv', 'ex', 'mx', 'nx']) t.ok(ops.get(op), `has @${op}@ records`)
  for (const b of list) {
    t.equal(
      b.bytes,
      b.records.reduce((n, r) => n + r.length, 0),
    )
    for (const tx of b.transactions) {
      const last = tx.records[tx.records.length - 1]?.toString()
      if (last !== `@ex@ ${tx.pid} ${tx.time}\n`) t.fail(`transaction ends with its @ex@: ${last}`)
    }
  }
  t.end()
})

t.test('same seed, same bytes; another seed, other bytes', (t) => {
  const a = concat(batches(7, 400))
  const b = concat(batches(7, 400))
  const c = concat(batches(8, 400))
  t.ok(a.equals(b))
  t.notOk(a.equals(c))
  t.end()
})

t.test('hostile but legal content shows up', (t) => {
  const list = batches(3, 4000)
  const all = concat(list)
  const text = all.toString('utf8')
  const descs = rowsOf(
    list.flatMap((b) => b.records),
    'db.desc',
  ).map((p) => p.values[4]?.toString() ?? '')
  t.ok(
    descs.some((d) => d.split('\n').length > 3),
    'multi-line descriptions',
  )
  t.ok(
    descs.some((d) => d.split('\n').length > 100),
    'a long description (crosses 16 KiB buffers)',
  )
  t.ok(
    descs.some((d) => d.includes('\n@pv@ 7 @db.rev@ ')),
    'a description line that looks like a record',
  )
  t.ok(
    descs.some((d) => d.includes('\n@\n') || d.includes('\n@\r\n')),
    'a line that is a lone @',
  )
  t.ok(
    descs.some((d) => d.includes('\r')),
    'a CR inside a value',
  )
  t.ok(
    descs.some((d) => d.includes('\\')),
    'backslashes',
  )
  t.ok(
    descs.some((d) => /[^\x00-\x7f]/.test(d)),
    'non-ASCII UTF-8',
  )
  t.match(text, /\n@@pv@@ 7 @@db\.rev@@ /, 'the record-like line is written with doubled @')
  t.match(text, /@@example\.com/, 'e-mail addresses with @@')
  t.match(text, /C:\\Users\\/, 'Windows client roots')
  t.match(text, /\n@pv@ 0 @db\.counters@ @[^@]+@ \d+ \n|\n@rv@ 0 @db\.counters@ @change@ \d+ \n/, 'version 0 counters with a bare value')
  t.match(text, /\n@[pr]v@ 1 @db\.counters@ @[^@]+@ @[^@]*@ \n/, 'version 1 counters with a quoted value')
  t.match(text, /\n@nx@ 7 \d+ @50@ 0 0 0 0 0 @[^@]+@ @[^@]+@ @@ @@ @@ \n/, 'restart notes')
  t.ok(
    list.some((b) => b.interleaved),
    'some batches interleave two pids',
  )
  t.end()
})

t.test('interleaved batches: @mx@ for the open pid, the other pid, then the rest', (t) => {
  const list = batches(11, 2000).filter((b) => b.interleaved)
  t.ok(list.length > 20)
  for (const b of list) {
    const [first, second] = b.transactions
    if (!first || !second) throw new Error('two transactions')
    t.not(first.pid, second.pid)
    const open = new Set<string>()
    let consistentPoints = 0
    for (const r of b.records) {
      const p = parseRecord(r)
      const op = p.values[0]?.toString()
      const pid = p.values[1]?.toString() ?? ''
      if (op === 'mx') open.add(pid)
      if (op === 'ex') {
        open.delete(pid)
        if (open.size === 0) consistentPoints++
      }
    }
    t.equal(open.size, 0, 'nothing left open at the end')
    t.equal(consistentPoints, 1, 'only the last @ex@ is a consistency point')
    t.ok(first.records.some((r) => r.toString() === `@mx@ ${first.pid} ${second.time}\n` || r.toString().startsWith(`@mx@ ${first.pid} `)))
  }
  t.end()
})

t.test('submit metadata matches the records', (t) => {
  const g = new RecordGenerator(5, { startChange: 100 })
  const submits: SubmitTransaction[] = []
  for (let i = 0; i < 200; i++) submits.push(g.submit())
  t.same(
    submits.map((s) => s.submit.change),
    Array.from({ length: 200 }, (_, i) => 100 + i),
    'consecutive change numbers',
  )
  t.equal(g.lastChange, 299)
  for (const s of submits) {
    const desc = rowsOf(s.records, 'db.desc')
    t.equal(desc.length, 1)
    t.equal(desc[0]?.values[3]?.toString(), String(s.submit.change))
    t.equal(desc[0]?.values[4]?.toString(), s.submit.description)
    const change = rowsOf(s.records, 'db.change')[0]
    t.equal(change?.values[5]?.toString(), s.submit.client)
    t.equal(change?.values[6]?.toString(), s.submit.user)
    t.ok((change?.values[9]?.length ?? 99) <= 31, 'db.change keeps at most 31 bytes of the description')
    t.ok(s.submit.description.startsWith(change?.values[9]?.toString() ?? 'x'), 'db.change has the description start')
    t.same(
      rowsOf(s.records, 'db.rev').map((p) => p.values[3]?.toString()),
      s.submit.files,
      'db.rev rows are the submitted files',
    )
    t.same(
      rowsOf(s.records, 'db.revcx').map((p) => p.values[4]?.toString()),
      s.submit.files,
    )
    t.equal(rowsOf(s.records, 'db.rev')[0]?.values[1]?.toString(), String(TABLE_VERSIONS['db.rev']))
  }
  t.ok(
    submits.some((s) => rowsOf(s.records, 'db.integed').length > 0),
    'some submits integrate',
  )
  t.ok(
    submits.some((s) => s.submit.files.length > 12),
    'some submits are large',
  )
  t.end()
})

t.test('single transactions have the documented shape', (t) => {
  const g = new RecordGenerator(9)
  const jc = g.journalCounter(42)
  t.equal(jc.records[0]?.toString(), '@pv@ 1 @db.counters@ @journal@ @42@ \n')
  t.match(jc.records[1]?.toString() ?? '', /^@ex@ \d+ \d+\n$/)
  const header = g.journalHeader(42)
  t.match(header.records[0]?.toString() ?? '', /^@nx@ 2 \d+ @50@ 42 0 0 0 0 @\/p4\/root@ @journal@ @@ @@ @@ \n$/)
  const user = g.userUpdate()
  const row = parseRecord(user.records[0] as Buffer)
  t.equal(row.values[4]?.toString(), user.user.email)
  t.match(user.records[0]?.toString() ?? '', /@@/, 'the e-mail address is written with @@')
  const client = g.clientSpec()
  const views = rowsOf(client.records, 'db.view')
  t.equal(views.length, client.client.view.length)
  t.equal(rowsOf(client.records, 'db.domain')[0]?.values[3]?.toString(), client.client.name)
  const c0 = new RecordGenerator(1)
  let v0 = 0
  for (let i = 0; i < 200; i++) {
    const c = c0.counterUpdate('change', String(i))
    checkRecord(c.records[0] as Buffer)
    if (c.counter.version === 0) {
      v0++
      t.match(c.records[0]?.toString() ?? '', new RegExp(`^@[pr]v@ 0 @db\\.counters@ @change@ ${i} \\n$`))
    } else {
      t.match(c.records[0]?.toString() ?? '', new RegExp(`^@[pr]v@ 1 @db\\.counters@ @change@ @${i}@ \\n$`))
    }
  }
  t.ok(v0 > 10 && v0 < 100, 'version 0 counters now and then')
  t.equal(quoteField('a@b'), '@a@@b@')
  t.equal(quoteField(''), '@@')
  t.end()
})

t.test('table versions agree with the 2020 fixture', { skip: noFixtures }, (t) => {
  const file = FIXTURES + 'checkpoint-2020-windows-unicode.ckp'
  const real = new Map<string, string>()
  for (const r of splitRecords(readFileSync(file)).records) {
    const p = parseRecord(r)
    if (p.values[0]?.toString() === 'pv') real.set(p.values[2]?.toString() ?? '', p.values[1]?.toString() ?? '')
  }
  let compared = 0
  for (const [table, version] of Object.entries(TABLE_VERSIONS)) {
    const v = real.get(table)
    if (v === undefined) continue
    t.equal(String(version), v, table)
    compared++
  }
  t.ok(compared >= 10, `${compared} tables compared`)
  t.end()
})

t.test('checkpoint: structure, size and determinism', (t) => {
  const target = 4_000_000
  const run = (batchBytes?: number) => {
    const it = new RecordGenerator(21).checkpointRecords(target, batchBytes === undefined ? {} : { batchBytes })
    const chunks: Buffer[] = []
    for (let r = it.next(); ; r = it.next()) {
      if (r.done) return { bytes: Buffer.concat(chunks), chunks, summary: r.value }
      chunks.push(r.value)
    }
  }
  const a = run()
  t.ok(Math.abs(a.bytes.length - target) / target < 0.01, `size ${a.bytes.length} within 1% of ${target}`)
  t.equal(a.summary.bytes, a.bytes.length)
  for (const c of a.chunks) t.equal(splitRecords(c).rest.length, 0, 'each Buffer holds whole records')
  const { records, rest } = splitRecords(a.bytes)
  t.equal(rest.length, 0)
  t.equal(records.length, a.summary.records)
  t.match(records[0]?.toString() ?? '', /^@nx@ 0 \d+ @50@ 10 0 0 0 0 @\/p4\/root@ @journal@ @@ @@ @@ \n$/)
  t.match(records[records.length - 2]?.toString() ?? '', /^@nx@ 1 /)
  t.match(records[records.length - 1]?.toString() ?? '', /^@ex@ \d+ \d+\n$/)
  // Per table: @nx@ 4 summary naming it, rows of that table only, @ex@.
  let table: string | null = null
  const rows = new Map<string, number>()
  const tables: string[] = []
  for (const r of records.slice(1, -2)) {
    const p = parseRecord(r)
    const op = p.values[0]?.toString()
    if (op === 'nx') {
      t.equal(table, null, 'a summary follows an @ex@')
      t.equal(p.values[1]?.toString(), '4')
      table = p.values[9]?.toString() ?? ''
      tables.push(table)
    } else if (op === 'ex') {
      t.not(table, null)
      table = null
    } else {
      checkRecord(r)
      if (p.values[2]?.toString() !== table) throw new Error(`row of ${p.values[2]} under ${table}`)
      rows.set(table ?? '', (rows.get(table ?? '') ?? 0) + 1)
    }
  }
  t.ok(tables.indexOf('db.counters') < tables.indexOf('db.have'), 'lock order')
  t.ok(tables.indexOf('db.rev') < tables.indexOf('db.change'), 'lock order')
  t.same(Object.fromEntries(rows), a.summary.rows)
  for (const big of ['db.have', 'db.rev', 'db.integed', 'db.revcx', 'db.desc']) t.ok((rows.get(big) ?? 0) > 1000, `${big} has many rows`)
  t.equal(rows.get('db.change'), rows.get('db.desc'), 'one description per change')
  const descs = records.map((r) => r.toString()).filter((s) => s.startsWith('@pv@ 0 @db.desc@'))
  t.ok(
    descs.some((d) => d.split('\n').length > 4),
    'multi-line descriptions',
  )

  const b = run()
  t.equal(createHash('sha256').update(b.bytes).digest('hex'), createHash('sha256').update(a.bytes).digest('hex'), 'deterministic')
  const single = run(0)
  t.equal(single.chunks.length, a.summary.records, 'batchBytes 0: one record per Buffer')
  t.ok(single.bytes.equals(a.bytes), 'batching does not change the bytes')
  const small = run(100)
  t.ok(small.bytes.equals(a.bytes), 'nor do small batches, with records larger than a batch')
  t.ok(
    small.chunks.every((c) => splitRecords(c).rest.length === 0),
    'small batches hold whole records too',
  )
  t.end()
})

t.test('checkpoint, short profile: ~105-byte lines, ~7 fields, db.have/db.integed/db.rev, every record frames and parses', (t) => {
  const target = 3_000_000
  const make = (seed: number, profile?: 'short' | 'default') =>
    Buffer.concat([...new RecordGenerator(seed).checkpointRecords(target, profile ? { profile } : {})])
  const bytes = make(5, 'short')
  t.ok(Math.abs(bytes.length - target) / target < 0.01, `size ${bytes.length} within 1% of ${target}`)
  const lines = bytes.reduce((n, c) => (c === 0x0a ? n + 1 : n), 0)
  const perLine = bytes.length / lines
  t.ok(perLine >= 98 && perLine <= 112, `about 105 bytes a line (${perLine.toFixed(1)})`)

  // The local strict check and the library's framer agree on every record.
  const { records, rest } = splitRecords(bytes)
  t.equal(rest.length, 0, 'ends on a record boundary')
  let framed = 0
  new JournalFramer().push(bytes, (source, start, end) => {
    if (!source.subarray(start, end).equals(records[framed] as Buffer)) throw new Error(`framer and the local check disagree at record ${framed}`)
    framed++
  })
  t.equal(framed, records.length, 'the library frames the same records')
  t.ok(bytes.length / records.length <= 120, `about 100-120 bytes a record (${(bytes.length / records.length).toFixed(1)})`)

  const tables = new Map<string, number>()
  let data = 0
  let fields = 0
  let quoted = 0
  let ex = 0
  let multiLine = 0
  let disagree = 0
  for (const r of records) {
    const op = checkRecord(r)
    const p = parseRecord(r)
    if (parseLibRecord(r.toString('utf8')).values.length !== p.values.length) disagree++
    if (op === 'ex') ex++
    if (op !== 'pv') continue
    data++
    const table = p.values[2]?.toString() ?? ''
    tables.set(table, (tables.get(table) ?? 0) + 1)
    fields += p.values.length - 3
    quoted += p.quoted.filter(Boolean).length
    if (r.indexOf(0x0a) < r.length - 1) multiLine++
  }
  t.equal(disagree, 0, 'the library parses the same number of values from every record')
  const share = (name: string) => (tables.get(name) ?? 0) / data
  const big3 = share('db.have') + share('db.integed') + share('db.rev')
  t.ok(big3 >= 0.85, `db.have, db.integed and db.rev are most records (${(big3 * 100).toFixed(1)} %)`)
  t.ok(share('db.have') > share('db.integed') && share('db.integed') > share('db.rev'), 'db.have heaviest, then db.integed, then db.rev')
  t.ok((tables.get('db.change') ?? 0) > 100 && tables.get('db.change') === tables.get('db.desc'), 'changes with their descriptions')
  t.ok(multiLine > 50, `multi-line values (${multiLine})`)
  t.ok(ex >= 10, 'an @ex@ per table')
  const perRecord = fields / data
  t.ok(perRecord >= 6 && perRecord <= 8, `about 7 fields a data record after op, version and table (${perRecord.toFixed(2)})`)
  t.ok(quoted / data >= 4, `at least 4 quoted values a data record, op and table included (${(quoted / data).toFixed(2)})`)

  t.ok(make(5, 'short').equals(bytes), 'deterministic by seed')
  t.notOk(make(6, 'short').equals(bytes), 'another seed, other bytes')
  const byDefault = make(5)
  t.ok(make(5, 'default').equals(byDefault), "'default' is the profile when none is named")
  t.ok(byDefault.length / byDefault.reduce((n, c) => (c === 0x0a ? n + 1 : n), 0) > perLine, 'the default profile has longer lines')
  t.throws(() => [...new RecordGenerator(1).checkpointRecords(1000, { profile: 'tiny' as 'short' })], /unknown checkpoint profile "tiny"/)
  t.end()
})

t.test('checkpoint output does not depend on earlier use of the generator', (t) => {
  const first = new RecordGenerator(4)
  for (let i = 0; i < 50; i++) first.next()
  const x = Buffer.concat([...first.checkpointRecords(200_000)])
  const y = Buffer.concat([...new RecordGenerator(4).checkpointRecords(200_000)])
  t.ok(x.equals(y))
  t.end()
})

t.test('Random', (t) => {
  const a = new Random(123)
  const b = new Random(123)
  const xs = Array.from({ length: 100 }, () => a.uint32())
  t.same(
    xs,
    Array.from({ length: 100 }, () => b.uint32()),
    'deterministic',
  )
  t.not(new Random(124).uint32(), new Random(123).uint32())
  t.not(a.fork('x').uint32(), a.fork('y').uint32(), 'forks differ by label')
  const r = new Random(1)
  const seen = new Set<number>()
  for (let i = 0; i < 2000; i++) {
    const v = r.int(-2, 2)
    seen.add(v)
    if (v < -2 || v > 2) t.fail('int out of range')
  }
  t.same([...seen].sort(), [-1, -2, 0, 1, 2])
  const wide = r.int(0, 2 ** 40)
  t.ok(wide >= 0 && wide <= 2 ** 40)
  t.throws(() => r.int(3, 2), RangeError)
  t.throws(() => r.pick([]), RangeError)
  t.throws(() => new Random(Number.NaN), RangeError)
  let hits = 0
  for (let i = 0; i < 10_000; i++) if (r.chance(0.25)) hits++
  t.ok(hits > 2300 && hits < 2700, `chance(0.25): ${hits}/10000`)
  t.equal(r.bytes(7).length, 7)
  t.match(r.hex(16), /^[0-9A-F]{32}$/)
  t.equal(
    r.weighted([
      ['a', 0],
      ['b', 1],
    ]),
    'b',
  )
  t.end()
})
