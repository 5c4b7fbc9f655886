/**
 * `logdaemon-cat --format json|row` on a stream (stdin, a pipe, a .gz) with
 * threads: this thread frames, a pool encodes batches of records. It must
 * write exactly what the serial cat writes and fail (if it fails) with the
 * same error after the same lines, whatever the batch size and the input's
 * chunking. The batches run on this thread (inThreadRunner) so that many
 * cases stay fast; the end-to-end runs with real workers are at the end.
 */
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { Readable, Writable } from 'node:stream'
import { catInput, type CatOptions } from '../../lib/cli/cat-input.js'
import { catStreamParallel } from '../../lib/cli/cat-stream-parallel.js'
import { maybeGunzip } from '../../lib/files/gunzip.js'
import { isLogdaemonError } from '../../lib/errors.js'
import type { RangeOptions } from '../../lib/parallel/frame-range.js'
import { inThreadRunner, type RangeRunner } from '../../lib/parallel/parallel-ranges.js'
import { fixtureNames, fixturesSkip, readFixture } from '../helpers/fixtures.js'

const BIN = fileURLToPath(new URL('../../dist/bin/logdaemon-cat.js', import.meta.url))

interface Outcome {
  out: string
  entries: number | null
  skipped: number[]
  error: { code: string; message: string; offset: unknown; line: unknown } | null
}

/** The input in chunks of `chunk` bytes, as a pipe delivers it. */
function chunked(data: Buffer, chunk: number): Readable {
  const parts: Buffer[] = []
  for (let i = 0; i < data.length; i += chunk) parts.push(data.subarray(i, i + chunk))
  return Readable.from(parts, { objectMode: false })
}

async function settle(run: (out: Writable) => Promise<{ entries: number; malformedSkipped: number; oversizeSkipped: number }>): Promise<Outcome> {
  const parts: Buffer[] = []
  const out = new Writable({
    highWaterMark: 64,
    write(chunk: Buffer, _e, cb) {
      parts.push(Buffer.from(chunk))
      setImmediate(cb)
    },
  })
  const o: Outcome = { out: '', entries: null, skipped: [], error: null }
  try {
    const counts = await run(out)
    o.entries = counts.entries
    o.skipped = [counts.malformedSkipped, counts.oversizeSkipped]
  } catch (err) {
    if (!isLogdaemonError(err)) throw err
    o.error = { code: err.code, message: err.message, offset: err.offset, line: err.line }
  }
  await new Promise<void>((resolve) => out.end(resolve))
  o.out = Buffer.concat(parts).toString('latin1')
  return o
}

const base: CatOptions = { format: 'json', encoding: 'utf8', skipMalformed: false, allowIncomplete: false, tables: [], ops: [], where: [] }

async function same(t: Test, data: Buffer, options: Partial<CatOptions>, batchBytes: number, chunk: number, label: string): Promise<boolean> {
  const o = { ...base, ...options }
  const want = await settle((out) => catInput(chunked(data, chunk), 'journal.5', out, o))
  const got = await settle((out) =>
    catStreamParallel(chunked(data, chunk), 'journal.5', out, o, { threads: 3, batchBytes, runner: (ro) => inThreadRunner(-1, ro, 3) }),
  )
  return t.strictSame(got, want, `${label} ${JSON.stringify(options)} batches of ${batchBytes}, chunks of ${chunk}`)
}

const OPTION_SETS: Partial<CatOptions>[] = [
  { format: 'json' },
  { format: 'row' },
  { format: 'json', encoding: 'latin1' },
  { format: 'json', tables: ['db.rev*'] },
  { format: 'row', ops: ['ex'] },
  { format: 'json', allowIncomplete: true },
  { format: 'json', skipMalformed: true },
  { format: 'row', skipMalformed: true, allowIncomplete: true },
  { format: 'json', maxEntryBytes: 600, skipMalformed: true },
]

const TRAP = '\n@pv@ 7 @db.rev@ @//depot/x@ 1 @fake@ \n'
const rec = (i: number, desc: string, eol = '\n'): string => `@pv@ 9 @db.change@ ${i} ${i} @client@ @user@ 1400000000 1 @${desc.replace(/@/g, '@@')}@ @@${eol}`

function adversarial(): Buffer {
  const records: string[] = []
  for (let i = 0; i < 60; i++) {
    const kind = i % 7
    if (kind === 0) records.push(rec(i, `desc${TRAP}more`))
    else if (kind === 1) records.push(rec(i, 'crlf', '\r\n'))
    else if (kind === 2) records.push(rec(i, 'x'.repeat(900) + TRAP))
    else if (kind === 3) records.push(`@ex@ ${i} 1400000000\n`)
    else if (kind === 4) records.push(rec(i, 'é ü 中文'))
    else if (kind === 5)
      records.push(`@rv@ 3 @db.rev@ @//depot/f${i}@ 1 0 0 1 1400000000 1400000000 00000000000000000000000000000000 11 0 0 @//depot/f@ @1.1@ 0 \n`)
    else records.push(`@X1@ ${i} @another op@ \n`)
  }
  return Buffer.from(records.join(''))
}

t.test('adversarial records, every batch size and chunking', async (t) => {
  const data = adversarial()
  for (const batchBytes of [1, 50, 333, 4096, 1 << 20]) {
    for (const chunk of [7, 100, 65536]) {
      for (const options of OPTION_SETS) if (!(await same(t, data, options, batchBytes, chunk, 'adversarial'))) return
    }
  }
})

t.test('damaged input: the same error, after the same lines; skipped records counted alike', async (t) => {
  const good = Array.from({ length: 25 }, (_, i) => rec(i, i % 3 ? 'ok' : `q${TRAP}`)).join('')
  const cases: [string, string][] = [
    ['a bad byte after a closing @', good + '@pv@ 1 @db.x@ @a@b \n' + good],
    ['a line that is no record', good + 'garbage\n' + good],
    ['no final line end', good + rec(99, 'end').slice(0, -2)],
    ['oversize', good + rec(7, 'w'.repeat(3000)) + good],
  ]
  for (const [label, text] of cases) {
    for (const batchBytes of [64, 1000]) {
      for (const options of OPTION_SETS) if (!(await same(t, Buffer.from(text, 'latin1'), options, batchBytes, 97, label))) return
    }
  }
  const got = await settle((out) =>
    catStreamParallel(chunked(Buffer.from(good + 'garbage\n' + good), 50), 'journal.5', out, base, {
      threads: 2,
      batchBytes: 100,
      runner: (ro) => inThreadRunner(-1, ro, 2),
    }),
  )
  t.equal(got.error?.code, 'ERR_JOURNAL_MALFORMED')
  t.equal(got.error?.offset, Buffer.byteLength(good))
  t.equal(got.out.split('\n').length - 1, 25, 'every record before the error was written')
})

t.test('the real p4d fixtures', { skip: fixturesSkip }, async (t) => {
  for (const name of fixtureNames()) {
    const data = readFixture(name)
    for (const options of [{ format: 'json' }, { format: 'row' }, { format: 'json', encoding: 'latin1' }] as Partial<CatOptions>[]) {
      if (!(await same(t, data, options, 2048, 8192, name))) return
    }
  }
})

t.test('fuzz: random records and damage', async (t) => {
  const piece = fc.constantFrom('a', 'b c', '@@', '\n', '\r\n', TRAP, 'é', ' @x@ ', '1')
  const field = fc.oneof(
    fc.nat({ max: 99999 }).map(String),
    fc.array(piece, { maxLength: 5 }).map((p) => `@${p.join('').replace(/@(?!@)/g, '@@')}@`),
  )
  const record = fc
    .tuple(fc.constantFrom('pv', 'rv', 'ex', 'Up'), fc.array(field, { maxLength: 6 }), fc.constantFrom('\n', '\r\n'))
    .map(([op, fields, eol]) => `@${op}@ 3 @db.rev@ ${fields.join(' ')}${fields.length ? ' ' : ''}${eol}`)
  const damage = fc.option(fc.tuple(fc.nat(), fc.constantFrom('x', '@', '\n', '')), { nil: undefined })
  await fc.assert(
    fc.asyncProperty(
      fc.array(record, { maxLength: 40 }),
      damage,
      fc.integer({ min: 1, max: 600 }),
      fc.integer({ min: 1, max: 300 }),
      fc.constantFrom(...OPTION_SETS),
      fc.integer({ min: 0, max: 2000 }),
      async (records, dmg, batchBytes, chunk, options, poolAfterBytes) => {
        let text = records.join('')
        if (dmg) {
          const at = text.length ? dmg[0] % text.length : 0
          text = text.slice(0, at) + dmg[1] + text.slice(at + 1)
        }
        const data = Buffer.from(text)
        const o = { ...base, ...options }
        const want = await settle((out) => catInput(chunked(data, chunk), 'journal.5', out, o))
        const got = await settle((out) =>
          catStreamParallel(chunked(data, chunk), 'journal.5', out, o, {
            threads: 2,
            batchBytes,
            poolAfterBytes,
            runner: (ro) => inThreadRunner(-1, ro, 2),
          }),
        )
        t.strictSame(got, want)
        return JSON.stringify(got) === JSON.stringify(want)
      },
    ),
    { numRuns: 150 },
  )
})

t.test('the first poolAfterBytes of records are encoded on this thread: a smaller input starts no pool', async (t) => {
  const data = Buffer.concat(Array.from({ length: 30 }, () => adversarial()))
  for (const format of ['json', 'row'] as const) {
    const o = { ...base, format }
    const want = await settle((out) => catInput(chunked(data, 333), 'journal.5', out, o))
    for (const poolAfterBytes of [data.length + 1, data.length >> 1, 1]) {
      let pools = 0
      let pooled = 0
      const counting = (ro: RangeOptions): RangeRunner => {
        pools++
        const inner = inThreadRunner(-1, ro, 2)
        return {
          size: inner.size,
          run: (task, transfer) => {
            if (task.kind === 'records') pooled += task.length
            return inner.run(task, transfer)
          },
          close: () => inner.close(),
        }
      }
      const got = await settle((out) =>
        catStreamParallel(chunked(data, 333), 'journal.5', out, o, { threads: 2, batchBytes: 500, poolAfterBytes, runner: counting }),
      )
      t.strictSame(got, want, `${format}, pool after ${poolAfterBytes} of ${data.length} bytes: the serial lines`)
      if (poolAfterBytes > data.length) {
        t.equal(pools, 0, `${format}: an input under poolAfterBytes starts no pool`)
      } else {
        t.equal(pools, 1, `${format}: one pool, past ${poolAfterBytes} bytes`)
        t.ok(pooled > 0 && pooled <= data.length - poolAfterBytes, `${format}: the pool encoded ${pooled} bytes, none of the first ${poolAfterBytes}`)
      }
    }
  }
})

t.test('end to end with real workers: stdin and .gz, json and row, as --threads 1 writes them', async (t) => {
  const dir = t.testdir()
  const data = Buffer.concat(Array.from({ length: 400 }, () => adversarial()))
  writeFileSync(`${dir}/journal.7`, data)
  writeFileSync(`${dir}/journal.7.gz`, gzipSync(data))
  for (const format of ['json', 'row']) {
    const run = (threads: string, args: string[], input?: Buffer) =>
      spawnSync(process.execPath, [BIN, '--threads', threads, '-f', format, ...args], {
        input,
        maxBuffer: 1 << 30,
        // A test range size: the stream's workers start at its first batch (without it, an input this small starts none),
        // and one this large keeps the .gz off the chunked path (a file under a chunk), on the stream's.
        env: { ...process.env, LOGDAEMON_THREADS: '', LOGDAEMON_CAT_RANGE_BYTES: String(1 << 30) },
      })
    const serialGz = run('1', [`${dir}/journal.7.gz`])
    const gz = run('2', [`${dir}/journal.7.gz`])
    t.equal(gz.status, 0, `${format} .gz exits 0: ${gz.stderr}`)
    t.ok(gz.stdout.length > data.length, `${format} .gz wrote its lines`)
    t.ok(gz.stdout.equals(serialGz.stdout), `${format}: a .gz with 2 threads writes what 1 thread writes`)
    const serialStdin = run('1', ['-'], data)
    const stdin = run('2', ['-'], data)
    t.equal(stdin.status, 0, `${format} stdin exits 0: ${stdin.stderr}`)
    t.ok(stdin.stdout.equals(serialStdin.stdout), `${format}: stdin with 2 threads writes what 1 thread writes`)
  }
  // Damaged at the end: the same lines, then the same error, with real workers.
  const bad = Buffer.concat([data, Buffer.from('garbage\n')])
  const env = { ...process.env, LOGDAEMON_THREADS: '', LOGDAEMON_CAT_RANGE_BYTES: String(1 << 30) }
  const one = spawnSync(process.execPath, [BIN, '--threads', '1', '-f', 'json', '-'], { input: bad, maxBuffer: 1 << 30, env })
  const two = spawnSync(process.execPath, [BIN, '--threads', '2', '-f', 'json', '-'], { input: bad, maxBuffer: 1 << 30, env })
  t.equal(two.status, 1)
  t.equal(two.stderr.toString(), one.stderr.toString(), 'the same error message')
  t.ok(two.stdout.equals(one.stdout), 'the same lines before it')
})

t.test('a .gz whose damage inflates and breaks framing: ERR_GZIP_CORRUPT after the same lines, as serially', async (t) => {
  const data = Buffer.concat(Array.from({ length: 40 }, () => adversarial()))
  // Stored blocks: a changed byte inflates as it is, framing fails at it, and only the member's CRC-32 tells.
  const at = data.indexOf('\n@ex@ ', data.length >> 1) + 1
  const gz = gzipSync(data, { level: 0 })
  const bad = gz.indexOf(data.subarray(at, at + 40))
  t.ok(bad > 0, 'the record is stored as it is')
  gz[bad] = 0x58
  const inflated = () => chunked(gz, 4096).pipe(maybeGunzip({ file: 'journal.5.gz' }))
  for (const format of ['json', 'row'] as const) {
    const o = { ...base, format }
    const want = await settle((out) => catInput(inflated(), 'journal.5.gz', out, o))
    t.equal(want.error?.code, 'ERR_GZIP_CORRUPT', `${format}: serially, the archive's damage`)
    for (const poolAfterBytes of [0, 1 << 30]) {
      const got = await settle((out) =>
        catStreamParallel(inflated(), 'journal.5.gz', out, o, { threads: 2, batchBytes: 1000, poolAfterBytes, runner: (ro) => inThreadRunner(-1, ro, 2) }),
      )
      t.strictSame(got, want, `${format}, pool after ${poolAfterBytes} bytes: the serial lines, then ERR_GZIP_CORRUPT`)
    }
  }
  // End to end, standard input with real workers (a test range size starts them on a small input).
  const env = { ...process.env, LOGDAEMON_THREADS: '', LOGDAEMON_CAT_RANGE_BYTES: '4096', LOGDAEMON_INFLATER: '' }
  const one = spawnSync(process.execPath, [BIN, '--threads', '1', '-f', 'json', '-'], { input: gz, maxBuffer: 1 << 30, env })
  const two = spawnSync(process.execPath, [BIN, '--threads', '2', '-f', 'json', '-'], { input: gz, maxBuffer: 1 << 30, env })
  t.match(one.stderr.toString(), /\[ERR_GZIP_CORRUPT\]\n$/)
  t.equal(two.status, 1)
  t.equal(two.stderr.toString(), one.stderr.toString(), 'the same error message')
  t.ok(two.stdout.equals(one.stdout), 'the same lines before it')
})
