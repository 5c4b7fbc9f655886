/**
 * The range-parallel cat must write exactly what the serial cat writes, and
 * fail (if it fails) with the same error after the same bytes, whatever the
 * ranges: here with ranges of a few dozen bytes, so that lines that look
 * like records inside quoted values, `@@` escapes, CRLF and records larger
 * than several ranges fall on every range edge. The ranges run on this
 * thread (inThreadRunner) so that hundreds of cases stay fast; the worker
 * pool itself is tested in test/parallel/, and the built bin end to end in
 * test/cli/cat-threads.ts.
 */
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { truncateSync, writeFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import { FileReader } from '../../lib/files/file-reader.js'
import { catFileParallel, MIN_PARALLEL_ENCODED_BYTES, MIN_PARALLEL_RAW_BYTES, minParallelBytes } from '../../lib/cli/cat-file-parallel.js'
import { catInput, type CatOptions } from '../../lib/cli/cat-input.js'
import { isLogdaemonError } from '../../lib/errors.js'
import { PUSH_BYTES, type RangeOptions, runRangeTask } from '../../lib/parallel/frame-range.js'
import { rangeContext } from '../../lib/parallel/range-context.js'
import { inThreadRunner, type RangeRunner } from '../../lib/parallel/parallel-ranges.js'
import { FIXTURE_DIR, fixtureNames, fixturesSkip, readFixture } from '../helpers/fixtures.js'

interface Outcome {
  out: string
  entries: number | null
  error: { code: string; message: string; offset: unknown; line: unknown; details: unknown } | null
}

function sink(): Writable & { data: () => Buffer } {
  const parts: Buffer[] = []
  const w = new Writable({
    // A small high-water mark: writes wait for 'drain', as a slow pipe makes them.
    highWaterMark: 64,
    write(chunk: Buffer, _e, cb) {
      parts.push(Buffer.from(chunk))
      setImmediate(cb)
    },
  })
  return Object.assign(w, { data: () => Buffer.concat(parts) })
}

async function settle(run: (out: Writable) => Promise<{ entries: number } | null>): Promise<Outcome | null> {
  const out = sink()
  const o: Outcome = { out: '', entries: null, error: null }
  try {
    const counts = await run(out)
    if (counts === null) return null
    o.entries = counts.entries
  } catch (err) {
    if (!isLogdaemonError(err)) throw err
    o.error = { code: err.code, message: err.message, offset: err.offset, line: err.line, details: err.details }
  }
  // Writes the sink has taken but not yet had called back (a write under its high-water mark returns at once).
  await new Promise<void>((resolve) => out.end(resolve))
  o.out = out.data().toString('latin1')
  return o
}

const base: CatOptions = { format: 'raw', encoding: 'utf8', skipMalformed: false, allowIncomplete: false, tables: [], ops: [], where: [] }

/** The serial path, as logdaemon-cat --threads 1 runs it. */
function serial(file: string, options: CatOptions): Promise<Outcome | null> {
  return settle((out) => catInput(new FileReader(file), file, out, options))
}

/**
 * Runs the tasks on this thread as workers that are each a task behind
 * would: the tasks in flight run last first, so a range meets ranges
 * before it whose line counts no thread has written yet (and counts them
 * itself), and each output buffer comes back to another thread.
 */
function reversedRunner(fd: number, options: RangeOptions, threads: number): RangeRunner {
  const contexts = Array.from({ length: threads }, () => rangeContext(options))
  let pending: { task: Parameters<RangeRunner['run']>[0]; resolve: (r: Awaited<ReturnType<RangeRunner['run']>>) => void; reject: (e: unknown) => void }[] = []
  let next = 0
  const flush = (): void => {
    const jobs = pending.reverse()
    pending = []
    for (const job of jobs) {
      try {
        job.resolve(runRangeTask(fd, job.task, contexts[next++ % threads] as ReturnType<typeof rangeContext>))
      } catch (err) {
        job.reject(err)
      }
    }
  }
  return {
    size: threads,
    run: (task) =>
      new Promise((resolve, reject) => {
        if (pending.length === 0) setImmediate(flush)
        pending.push({ task, resolve, reject })
      }),
    close: async () => {},
  }
}

let runs = 0
/**
 * Every other run with the tasks in flight run last first (reversedRunner);
 * and in turn with range tasks that read on past their end as far as the
 * default (the tests' records are shorter), one range, or not at all: a
 * record that goes on further is framed by this thread (a long record).
 */
function parallel(file: string, options: CatOptions, rangeBytes: number, threads = 3): Promise<Outcome | null> {
  const run = runs++
  const runner = run % 2 === 0 ? inThreadRunner : reversedRunner
  const longRecordBytes = [undefined, rangeBytes, 0][run % 3]
  return settle((out) =>
    catFileParallel(file, out, options, {
      threads,
      rangeBytes,
      ...(longRecordBytes !== undefined ? { longRecordBytes } : {}),
      runner: (fd, o) => runner(fd, o, threads),
    }),
  )
}

/** Writes `data` as a journal file and checks the parallel outcome against the serial one for each option set. */
async function same(t: Test, dir: string, data: Buffer, rangeBytes: number, optionSets: readonly Partial<CatOptions>[], label: string): Promise<boolean> {
  const file = `${dir}/journal.5`
  writeFileSync(file, data)
  for (const extra of optionSets) {
    const options = { ...base, ...extra }
    const want = await serial(file, options)
    const got = await parallel(file, options, rangeBytes)
    if (data.length < 2 * rangeBytes) {
      if (got !== null) return t.fail(`${label}: a file under two ranges takes the serial path`) as boolean
      continue
    }
    if (!t.strictSame(got, want, `${label} ${JSON.stringify(extra)} ranges of ${rangeBytes}`)) return false
  }
  return true
}

const FORMATS: Partial<CatOptions>[] = [
  { format: 'raw' },
  { format: 'json' },
  { format: 'row' },
  { format: 'raw', tables: ['db.rev*'] },
  { format: 'json', ops: ['ex'] },
  { format: 'raw', allowIncomplete: true },
  { format: 'json', allowIncomplete: true },
]

/** A line that reads like a record, as a description holds it (the quoted value doubles its `@`). */
const TRAP = '\n@pv@ 7 @db.rev@ @//depot/x@ 1 @fake@ \n'
/** A record whose description is `desc` (escaped). */
const rec = (i: number, desc: string, eol = '\n'): string => `@pv@ 9 @db.change@ ${i} ${i} @client@ @user@ 1400000000 1 @${desc.replace(/@/g, '@@')}@ @@${eol}`

function adversarial(n: number): string {
  const records: string[] = []
  for (let i = 0; i < n; i++) {
    const kind = i % 8
    if (kind === 0) records.push(rec(i, `desc${TRAP}more`))
    else if (kind === 1) records.push(`@X1@ ${i} @an op the guess does not take@ \n`)
    else if (kind === 2) records.push(rec(i, 'crlf', '\r\n'))
    else if (kind === 3) records.push(rec(i, 'x'.repeat(700) + TRAP + 'y'.repeat(300)))
    else if (kind === 4) records.push(`@ex@ ${i} 1400000000\n`)
    else if (kind === 5) records.push(rec(i, 'é ü 中文'))
    else if (kind === 6)
      records.push(`@rv@ 3 @db.rev@ @//depot/f${i}@ 1 0 0 1 1400000000 1400000000 00000000000000000000000000000000 11 0 0 @//depot/f@ @1.1@ 0 \n`)
    else records.push(rec(i, `\n@ex@ 1 2\n@nx@ 3\n`))
  }
  return records.join('')
}

t.test('adversarial records at every range edge', async (t) => {
  const dir = t.testdir()
  const data = Buffer.from(adversarial(40))
  for (const rangeBytes of [16, 37, 64, 100, 256, 1000, 4096]) {
    await same(t, dir, data, rangeBytes, FORMATS, 'adversarial')
  }
})

t.test('ranges larger than the framer is pushed at once (PUSH_BYTES): records cut by a piece end, kept runs across them', async (t) => {
  const dir = t.testdir()
  const data = Buffer.from(adversarial(4000))
  t.ok(data.length > 6 * PUSH_BYTES, `${data.length} bytes`)
  const sets: Partial<CatOptions>[] = [...FORMATS, { format: 'raw', tables: ['db.change'] }, { format: 'raw', ops: ['pv'] }]
  for (const rangeBytes of [PUSH_BYTES + 1000, 2 * PUSH_BYTES + 12_345]) await same(t, dir, data, rangeBytes, sets, 'pieces')
})

t.test('a record larger than several ranges, first, in the middle and last', async (t) => {
  const dir = t.testdir()
  const huge = rec(1, ('z'.repeat(97) + TRAP).repeat(30))
  const small = [rec(2, 'a'), `@ex@ 3 4\n`, rec(5, TRAP)].join('')
  for (const data of [huge + small, small + huge + small, small + huge]) {
    for (const rangeBytes of [50, 300, 1024]) await same(t, dir, Buffer.from(data), rangeBytes, FORMATS, 'huge')
  }
})

t.test('malformed input, oversize records and an input ending inside a record: the same error after the same records', async (t) => {
  const dir = t.testdir()
  const good = Array.from({ length: 30 }, (_, i) => rec(i, i % 3 ? 'ok' : `q${TRAP}`)).join('')
  const cases: [string, string, Partial<CatOptions>[]][] = [
    ['a bad byte after a closing @', good + '@pv@ 1 @db.x@ @a@b \n' + good, FORMATS],
    ['a line that is no record', good + 'garbage\n' + good, FORMATS],
    ['no final line end', good + rec(99, 'end').slice(0, -2), FORMATS],
    ['open quote to the end', good + '@pv@ 1 @db.x@ @never closed\n' + good.slice(0, 200), FORMATS],
    [
      'oversize',
      good + rec(7, 'w'.repeat(3000)) + good,
      [
        { format: 'raw', maxEntryBytes: 1000 },
        { format: 'json', maxEntryBytes: 1000 },
      ],
    ],
  ]
  for (const [label, text, sets] of cases) {
    for (const rangeBytes of [40, 128, 512]) await same(t, dir, Buffer.from(text, 'latin1'), rangeBytes, sets, label)
  }
  // And the error itself, once, to be sure the comparison compares something.
  const file = `${dir}/journal.5`
  writeFileSync(file, good + 'garbage\n' + good)
  const got = await parallel(file, base, 64)
  t.equal(got?.error?.code, 'ERR_JOURNAL_MALFORMED')
  t.equal(got?.error?.offset, Buffer.byteLength(good))
  t.equal(got?.error?.line, good.split('\n').length)
  t.equal(got?.out, good, 'every record before the error was written')
})

t.test('an empty file and a file of one record take the serial path', async (t) => {
  const dir = t.testdir({ empty: '', one: '@ex@ 1 2\n' })
  t.equal(await parallel(`${dir}/empty`, base, 16), null)
  t.equal(await parallel(`${dir}/one`, base, 16), null)
  t.equal(await parallel(dir, base, 16), null, 'a directory')
  writeFileSync(`${dir}/z.gz`, Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(100)]))
  t.equal(await parallel(`${dir}/z.gz`, base, 16), null, 'gzip')
  t.equal(await parallel(`${dir}/one`, { ...base, skipMalformed: true }, 1), null, '--skip-malformed')
  t.equal(await parallel(`${dir}/one`, base, 1, 1), null, 'one thread')
})

t.test('without a test range size, a file under minParallelBytes takes the serial path (the workers would cost it time)', async (t) => {
  t.equal(minParallelBytes(base), MIN_PARALLEL_RAW_BYTES, 'raw')
  t.equal(minParallelBytes({ ...base, format: 'json' }), MIN_PARALLEL_ENCODED_BYTES, 'json')
  t.equal(minParallelBytes({ ...base, format: 'row' }), MIN_PARALLEL_ENCODED_BYTES, 'row')
  t.equal(minParallelBytes({ ...base, tables: ['db.rev'] }), MIN_PARALLEL_ENCODED_BYTES, 'raw with a filter')
  t.ok(MIN_PARALLEL_ENCODED_BYTES < MIN_PARALLEL_RAW_BYTES)
  const dir = t.testdir()
  const record = rec(1, 'x'.repeat(200))
  const write = (file: string, bytes: number): void => writeFileSync(`${dir}/${file}`, record.repeat(Math.ceil(bytes / record.length)))
  write('small', MIN_PARALLEL_ENCODED_BYTES - 4 * record.length)
  write('medium', MIN_PARALLEL_ENCODED_BYTES)
  const run = (file: string, options: CatOptions) =>
    settle((out) => catFileParallel(`${dir}/${file}`, out, options, { threads: 2, runner: (fd, o) => inThreadRunner(fd, o, 2) }))
  t.equal(await run('small', { ...base, format: 'json' }), null, 'json under MIN_PARALLEL_ENCODED_BYTES')
  t.equal(await run('medium', base), null, 'raw under MIN_PARALLEL_RAW_BYTES')
  const json = await run('medium', { ...base, format: 'json' })
  t.not(json, null, 'json from MIN_PARALLEL_ENCODED_BYTES: in ranges')
  t.strictSame(json, await serial(`${dir}/medium`, { ...base, format: 'json' }), 'and the serial lines')
  t.not(await run('medium', { ...base, tables: ['db.rev'] }), null, 'raw with a filter: in ranges')
})

t.test('the real p4d fixtures, in ranges of every size', { skip: fixturesSkip }, async (t) => {
  const dir = t.testdir()
  for (const name of fixtureNames()) {
    const data = readFixture(name)
    for (const rangeBytes of [61, 500, 4096]) {
      const ok = await same(
        t,
        dir,
        data,
        rangeBytes,
        [{ format: 'raw' }, { format: 'json' }, { format: 'row' }, { format: 'json', encoding: 'latin1' }],
        FIXTURE_DIR + name,
      )
      if (!ok) return
    }
  }
})

t.test('fuzz: random records, random damage, random ranges', async (t) => {
  const dir = t.testdir()
  const piece = fc.constantFrom('a', 'b c', '@@', '\n', '\r\n', TRAP, '\n@ex@ ', 'é', '\n@', ' @x@ ', '1')
  const field = fc.oneof(
    fc.nat({ max: 99999 }).map(String),
    fc.array(piece, { maxLength: 6 }).map((p) => `@${p.join('').replace(/@(?!@)/g, '@@')}@`),
  )
  const record = fc
    .tuple(fc.constantFrom('pv', 'rv', 'dv', 'ex', 'mx', 'Up', 'x_'), fc.array(field, { maxLength: 6 }), fc.constantFrom('\n', '\r\n'))
    .map(([op, fields, eol]) => `@${op}@ 3 @db.rev@ ${fields.join(' ')}${fields.length ? ' ' : ''}${eol}`)
  const damage = fc.option(fc.tuple(fc.nat(), fc.constantFrom('x', '@', '\n', ' ', '')), { nil: undefined })
  await fc.assert(
    fc.asyncProperty(
      fc.array(record, { minLength: 1, maxLength: 25 }),
      damage,
      fc.integer({ min: 8, max: 300 }),
      fc.boolean(),
      async (records, hurt, rangeBytes, cut) => {
        let text = records.join('')
        if (hurt) {
          const at = hurt[0] % text.length
          text = text.slice(0, at) + hurt[1] + text.slice(at + (hurt[1] === '' ? 1 : 0))
        }
        if (cut) text = text.slice(0, -1)
        return same(t, dir, Buffer.from(text), rangeBytes, [{ format: 'raw' }, { format: 'json', allowIncomplete: true }], 'fuzz')
      },
    ),
    { numRuns: 150, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH, endOnFailure: true } : {}) },
  )
})

t.test('a file that shrinks while read: what the serial path prints of what is left, then ERR_JOURNAL_SHRUNK (never a clean end)', async (t) => {
  const dir = t.testdir()
  const file = `${dir}/journal.9`
  const text = Array.from({ length: 60 }, (_, i) => rec(i, i % 4 ? 'a' : `b${TRAP}`)).join('')
  for (const cut of [Math.floor(text.length / 2), text.indexOf('\n@', text.length / 2) + 1]) {
    writeFileSync(file, text)
    const seen: number[] = []
    const got = await settle((out) =>
      catFileParallel(file, out, base, {
        threads: 2,
        rangeBytes: 300,
        onBytes: (n) => void seen.push(n),
        runner: (fd, o) => {
          truncateSync(file, cut)
          return inThreadRunner(fd, o, 2)
        },
      }),
    )
    const left = await serial(file, base)
    t.equal(got?.out, left?.out, `cut at ${cut}: the records of what is left, as serially`)
    t.match(
      got?.error,
      { code: 'ERR_JOURNAL_SHRUNK', offset: cut, details: { size: cut, atOpen: text.length } },
      `cut at ${cut}: ERR_JOURNAL_SHRUNK where the bytes ran out (serially, on the cut file: ${left?.error?.code ?? 'a clean end'})`,
    )
    t.ok(seen.reduce((a, b) => a + b, 0) < text.length, 'progress stops short of the size at open')
  }
  writeFileSync(file, text)
  const where = { ...base, format: 'json' as const, where: [{ column: 'change', value: '7' }], tables: ['db.change'] }
  t.strictSame(await parallel(file, where, 200), await serial(file, where), '--where')
})

t.test('long records: a range task reads at most longRecordBytes past its end, and this thread frames the record', async (t) => {
  const dir = t.testdir()
  const file = `${dir}/journal.4`
  // Records of 20 KB among short ones, ranges of 1 KB: most ranges start or end inside a long record.
  const text = Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? rec(i, ('q'.repeat(90) + TRAP).repeat(160)) : rec(i, `s${i}`))).join('')
  writeFileSync(file, text)
  for (const format of ['raw', 'json'] as const) {
    const options = { ...base, format }
    let long = 0
    let furthest = 0
    const got = await settle((out) =>
      catFileParallel(file, out, options, {
        threads: 2,
        rangeBytes: 1000,
        longRecordBytes: 2000,
        runner: (fd, o) => {
          const inner = inThreadRunner(fd, o, 2)
          return {
            size: inner.size,
            close: () => inner.close(),
            run: async (task) => {
              const result = await inner.run(task)
              if (result.kind === 'range' && task.kind === 'range') {
                if (result.long) long++
                else if (result.stop > task.end) furthest = Math.max(furthest, result.stop - task.end)
              }
              return result
            },
          }
        },
      }),
    )
    t.strictSame(got, await serial(file, options), `${format}: what the serial path writes`)
    t.ok(long > 0, `${format}: ranges gave their long record up (${long})`)
    // The first read goes 64 bytes past the end; then at most longRecordBytes.
    t.ok(furthest <= 2000 + 64, `${format}: no range task framed a record ending more than 2000 bytes past its end (furthest ${furthest})`)
  }
})

t.test(
  "long records: buffers are reused, not left to the garbage collector (the consumer's for long records, a worker's for ranges with no record start)",
  async (t) => {
    const { BufferCache, frameRange, plainRangeContext } = await import('../../lib/parallel/frame-range.js')
    const big = new ArrayBuffer(8 << 20)
    const keeping = new BufferCache(true)
    keeping.give(big)
    t.equal(keeping.output(6 << 20).buffer, big, 'the thread that frames long records gets its long output buffer back')
    const other = new BufferCache()
    other.give(big)
    t.not(other.output(6 << 20).buffer, big, 'a worker keeps none over 4 MiB')

    const dir = t.testdir()
    const file = `${dir}/journal.4`
    writeFileSync(file, rec(1, 'x'.repeat(50_000)))
    const { openSync, closeSync } = await import('node:fs')
    const fd = openSync(file, 'r')
    try {
      const context = plainRangeContext({ ...base, format: 'raw', maxEntryBytes: 1 << 20, file, journal: 4 } as RangeOptions)
      const task = { start: 10_000, end: 20_000, size: 50_100, exact: false, line: null, maxPast: 1000 }
      const spare = new ArrayBuffer(64 << 10)
      context.buffers.give(spare)
      t.equal(frameRange(fd, task, context).from, -1, 'no record starts in the range')
      t.equal(context.buffers.output(1).buffer, spare, 'its output buffer is back for the next range')
      context.buffers.give(spare)
      t.ok(frameRange(fd, { ...task, start: 0, exact: true }, context).long, 'a range that starts the record gives it up past maxPast')
      t.equal(context.buffers.output(1).buffer, spare, 'and its output buffer is back too')
    } finally {
      closeSync(fd)
    }
  },
)

t.test(
  'long records: the buffers of what this thread frames come back to it (a probe: one new buffer per record, 180 MB peak on 600 KB records)',
  async (t) => {
    const { frameRangesParallel } = await import('../../lib/parallel/parallel-ranges.js')
    const { openSync, closeSync } = await import('node:fs')
    const dir = t.testdir()
    const file = `${dir}/journal.4`
    // 40 records of ~30 KB between short ones; ranges of 4 KB reaching at most 1 KB past their end: every long record is framed here.
    const text = Array.from({ length: 80 }, (_, i) => (i % 2 === 0 ? rec(i, 'L'.repeat(30_000)) : rec(i, `s${i}`))).join('')
    writeFileSync(file, text)
    for (const format of ['raw', 'json'] as const) {
      const options = { ...base, format, maxEntryBytes: 1 << 20, file, journal: 4 } as RangeOptions
      const fd = openSync(file, 'r')
      try {
        const seen = new Set<ArrayBufferLike>()
        let bytes = 0
        const ranges = frameRangesParallel(fd, text.length, options, {
          threads: 2,
          rangeBytes: 4096,
          longRecordBytes: 1024,
          runner: inThreadRunner(fd, options, 2),
        })
        for (let step = await ranges.next(); !step.done; step = await ranges.next()) {
          if (step.value.out) {
            seen.add(step.value.out.buffer)
            bytes += step.value.out.length
          }
          step.value.release()
        }
        t.ok(bytes >= (format === 'raw' ? text.length : 1), `${format}: every record was written (${bytes} bytes)`)
        t.ok(seen.size <= 12, `${format}: ${seen.size} distinct output buffers for 40 long records framed here`)
      } finally {
        closeSync(fd)
      }
    }
  },
)

t.test(
  'an oversize record framed here from the true boundary: its error comes back with the rest, and the serial path reads only up to it (a probe: the record framed twice, 231-299 MB peak RSS with threads against 127 MB serially)',
  async (t) => {
    const { frameRangesParallel } = await import('../../lib/parallel/parallel-ranges.js')
    const { openSync, closeSync } = await import('node:fs')
    const dir = t.testdir()
    const file = `${dir}/journal.4`
    // Short records, then a value of 200 KB that never closes (over a limit of 64 KiB), then more records.
    const head = Array.from({ length: 40 }, (_, i) => rec(i, `s${i}`)).join('')
    const text = `${head}@pv@ 1 @db.desc@ @${'open\n'.repeat(40_000)}${head}`
    writeFileSync(file, text)
    for (const format of ['raw', 'json'] as const) {
      const options = { ...base, format, maxEntryBytes: 64 << 10 }
      const want = await serial(file, options)
      t.equal(want?.error?.code, 'ERR_ENTRY_TOO_LARGE')
      const ro = { ...options, file, journal: 4 } as RangeOptions
      const fd = openSync(file, 'r')
      try {
        const ranges = frameRangesParallel(fd, text.length, ro, { threads: 2, rangeBytes: 1000, longRecordBytes: 500, runner: inThreadRunner(fd, ro, 2) })
        let step = await ranges.next()
        while (!step.done) {
          step.value.release()
          step = await ranges.next()
        }
        const rest = step.value
        const err = rest?.error as { code?: string; message?: string; offset?: number; line?: number } | undefined
        t.ok(rest && rest.offset <= head.length, `${format}: the serial rest starts at a boundary before the bad record (${rest?.offset})`)
        t.strictSame(
          [err?.code, err?.message, err?.offset, err?.line],
          [want?.error?.code, want?.error?.message, want?.error?.offset, want?.error?.line],
          `${format}: the error framed here is the serial path's`,
        )
      } finally {
        closeSync(fd)
      }
      t.strictSame(await parallel(file, options, 1000), want, `${format}: the records before it, then its error, as serially`)
    }
  },
)
