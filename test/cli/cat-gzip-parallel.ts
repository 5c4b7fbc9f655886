/**
 * `logdaemon-cat` on a .gz file with threads: a worker inflates, the pool
 * frames the inflated chunks from guessed record starts, and this thread
 * frames what lies between and checks every guess. It must write exactly
 * what the serial cat writes (the same .gz through openInput and catInput),
 * and fail, if it fails, with the same error after the same bytes: here
 * with chunks of a few dozen bytes, so that lines that look like records
 * inside quoted values, CRLF, bytes outside ASCII, records larger than
 * several chunks and gzip damage fall on every chunk edge. The chunks are
 * framed on this thread (a runner) so that many cases stay fast; the built
 * bin with real workers runs at the end.
 */
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { PassThrough, Writable } from 'node:stream'
import { MIN_PARALLEL_ENCODED_BYTES, rangeOptionsOf } from '../../lib/cli/cat-file-parallel.js'
import { catGzipParallel, type ChunkRunner, GZ_ENCODED_CHUNK_BYTES, gzipSharesThisThread } from '../../lib/cli/cat-gzip-parallel.js'
import { catInput, openInput, type CatOptions } from '../../lib/cli/cat-input.js'
import { isLogdaemonError } from '../../lib/errors.js'
import { createGunzip, type InflatedChunks } from '../../lib/files/gunzip.js'
import { GunzipDecoder } from '../../lib/files/gunzip-decoder.js'
import { selectInflater } from '../../lib/files/inflater.js'
import { runChunkTask } from '../../lib/parallel/frame-chunk.js'
import { PUSH_BYTES, type RangeOptions } from '../../lib/parallel/frame-range.js'
import { rangeContext } from '../../lib/parallel/range-context.js'
import { fixtureNames, fixturesSkip, readFixture } from '../helpers/fixtures.js'

const BIN = fileURLToPath(new URL('../../dist/bin/logdaemon-cat.js', import.meta.url))

interface Outcome {
  out: string
  entries: number | null
  error: { code: string; message: string; offset: unknown; line: unknown; details: unknown } | null
}

async function settle(run: (out: Writable) => Promise<{ entries: number } | null>): Promise<Outcome | null> {
  const parts: Buffer[] = []
  const out = new Writable({
    // A small high-water mark: writes wait for 'drain', as a slow pipe makes them.
    highWaterMark: 64,
    write(chunk: Buffer, _e, cb) {
      parts.push(Buffer.from(chunk))
      setImmediate(cb)
    },
  })
  const o: Outcome = { out: '', entries: null, error: null }
  try {
    const counts = await run(out)
    if (counts === null) return null
    o.entries = counts.entries
  } catch (err) {
    if (!isLogdaemonError(err)) throw err
    o.error = { code: err.code, message: err.message, offset: err.offset, line: err.line, details: err.details }
  }
  await new Promise<void>((resolve) => out.end(resolve))
  o.out = Buffer.concat(parts).toString('latin1')
  return o
}

const base: CatOptions = { format: 'raw', encoding: 'utf8', skipMalformed: false, allowIncomplete: false, tables: [], ops: [], where: [] }

/**
 * The serial path: the .gz through catInput, inflated on this thread
 * (node-sync: the engine of the default inflate worker, without a worker
 * to start for each case); `worker`: through openInput, as logdaemon-cat
 * --threads 1 runs it (its inflate worker).
 */
function serial(file: string, options: CatOptions, worker = false): Promise<Outcome | null> {
  const input = worker ? openInput(file, new PassThrough()) : new PassThrough().end(readFileSync(file)).pipe(createGunzip({ file, inflater: 'node-sync' }))
  return settle((out) => catInput(input, file, out, options))
}

/**
 * The file inflated on this thread in chunks of `chunkBytes`, each over an
 * ArrayBuffer of its own, the stream's error after them (what
 * gunzipFileChunks hands out, without a worker to start for each case). A
 * recycled chunk is overwritten at once: a chunk given back while still in
 * use would show in the output.
 */
function inThreadChunks(file: string, chunkBytes: number): InflatedChunks {
  const chunks: Buffer[] = []
  let current = Buffer.allocUnsafeSlow(chunkBytes)
  let used = 0
  const decoder = new GunzipDecoder(
    selectInflater('node-sync'),
    (piece) => {
      for (let at = 0; at < piece.length; ) {
        const n = Math.min(chunkBytes - used, piece.length - at)
        piece.copy(current, used, at, at + n)
        used += n
        at += n
        if (used === chunkBytes) {
          chunks.push(current)
          current = Buffer.allocUnsafeSlow(chunkBytes)
          used = 0
        }
      }
    },
    { file, lend: true },
  )
  let failure: unknown = null
  const done = (async () => {
    try {
      await decoder.write(readFileSync(file))
      await decoder.end()
    } catch (err) {
      failure = err
    }
    if (used > 0) chunks.push(Buffer.from(current.buffer, 0, used))
  })()
  let recycled = 0
  const iterator: InflatedChunks & { recycled: () => number } = {
    inflaterName: 'node:zlib-sync',
    get verified() {
      return decoder.verified
    },
    recycle: (ab) => {
      recycled++
      new Uint8Array(ab).fill(0xee)
    },
    recycled: () => recycled,
    [Symbol.asyncIterator]: () => iterator,
    async next() {
      await done
      const chunk = chunks.shift()
      if (chunk) return { done: false, value: chunk }
      if (failure) {
        const err = failure
        failure = null
        throw err
      }
      return { done: true, value: undefined }
    },
    async return() {
      chunks.length = 0
      return { done: true, value: undefined }
    },
  }
  return iterator
}

/**
 * Chunk tasks on this thread, as `threads` workers would run them; with
 * `reversed`, the tasks in flight finish last first (their results are
 * still taken in order).
 */
function runner(options: RangeOptions, threads: number, reversed: boolean): ChunkRunner {
  const contexts = Array.from({ length: threads }, () => rangeContext(options))
  let next = 0
  let pending: (() => void)[] = []
  return {
    size: threads,
    run: (task) =>
      new Promise((resolve, reject) => {
        const job = (): void => {
          try {
            resolve(runChunkTask(task, contexts[next++ % threads] as ReturnType<typeof rangeContext>))
          } catch (err) {
            reject(err)
          }
        }
        if (!reversed) {
          setImmediate(job)
          return
        }
        if (pending.length === 0)
          setImmediate(() => {
            const jobs = pending.reverse()
            pending = []
            for (const j of jobs) j()
          })
        pending.push(job)
      }),
    close: async () => {},
  }
}

/** Chunk tasks run here by `help()` so far, over the whole file (see helpingRunner). */
let helped = 0

/**
 * A runner with `help`, as SharingRunner's `when-idle`: a slow "worker"
 * runs one waiting task a millisecond, and `help()` runs the oldest
 * waiting one at once, so catGzipParallel frames chunks here while it
 * waits for a result, in whatever order the two take them.
 */
function helpingRunner(options: RangeOptions, threads: number): ChunkRunner {
  const context = rangeContext(options)
  const waiting: (() => void)[] = []
  return {
    size: threads,
    run: (task) =>
      new Promise((resolve, reject) => {
        waiting.push(() => {
          try {
            resolve(runChunkTask(task, context))
          } catch (err) {
            reject(err)
          }
        })
        setTimeout(() => waiting.shift()?.(), 1)
      }),
    help: async () => {
      const job = waiting.shift()
      if (!job) return false
      helped++
      job()
      await new Promise(setImmediate)
      return true
    },
    close: async () => {},
  }
}

let runs = 0
/** `worker`: the real inflate worker (gunzipFileChunks) instead of inThreadChunks. Runs take turns: in order, reversed, helped. */
function parallel(file: string, options: CatOptions, chunkBytes: number, threads = 2, worker = false): Promise<Outcome | null> {
  const turn = runs++ % 3
  const reversed = turn === 1
  return settle((out) =>
    catGzipParallel(file, out, options, {
      threads,
      chunkBytes,
      minBytes: 0,
      runner: (o) => (turn === 2 ? helpingRunner(o, threads) : runner(o, threads, reversed)),
      ...(worker ? {} : { source: inThreadChunks }),
    }),
  )
}

/** Writes `gz` as a .gz journal and checks the parallel outcome against the serial one for each option set and chunk size. */
async function same(
  t: Test,
  dir: string,
  gz: Buffer,
  chunkSizes: readonly number[],
  optionSets: readonly Partial<CatOptions>[],
  label: string,
): Promise<boolean> {
  const file = `${dir}/journal.5.gz`
  writeFileSync(file, gz)
  for (const extra of optionSets) {
    const options = { ...base, ...extra }
    const want = await serial(file, options)
    for (const chunkBytes of chunkSizes) {
      const got = await parallel(file, options, chunkBytes)
      if (!t.strictSame(got, want, `${label} ${JSON.stringify(extra)} chunks of ${chunkBytes}`)) return false
    }
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

t.test('adversarial records at every chunk edge', async (t) => {
  const dir = t.testdir()
  const gz = gzipSync(Buffer.from(adversarial(40)))
  const before = helped
  await same(t, dir, gz, [16, 37, 100, 1000, 4096], FORMATS, 'adversarial')
  t.ok(helped > before, `chunks framed here while waiting for a result (help): ${helped - before}`)
})

t.test('chunks larger than the framer is pushed at once (PUSH_BYTES): records cut by a piece end, kept runs across them', async (t) => {
  const dir = t.testdir()
  const data = Buffer.from(adversarial(4000))
  t.ok(data.length > 6 * PUSH_BYTES, `${data.length} bytes`)
  const sets: Partial<CatOptions>[] = [...FORMATS, { format: 'raw', tables: ['db.change'] }, { format: 'raw', ops: ['pv'] }]
  await same(t, dir, gzipSync(data), [PUSH_BYTES + 1000, 2 * PUSH_BYTES + 12_345], sets, 'pieces')
})

t.test('a record larger than several chunks, first, in the middle and last', async (t) => {
  const dir = t.testdir()
  const huge = rec(1, ('z'.repeat(97) + TRAP).repeat(30))
  const small = [rec(2, 'a'), `@ex@ 3 4\n`, rec(5, TRAP)].join('')
  for (const data of [huge + small, small + huge + small, small + huge]) {
    await same(t, dir, gzipSync(Buffer.from(data)), [50, 1024], FORMATS, 'huge')
  }
})

t.test('inside a record of many chunks, the chunks are framed here, not sent to workers, and after it to workers again', async (t) => {
  const dir = t.testdir()
  const file = `${dir}/journal.5.gz`
  const small = Array.from({ length: 40 }, (_, i) => rec(i, i % 4 ? 'small' : `q${TRAP}`)).join('')
  const chunkBytes = 256
  // A chunk in a huge record holds no record start (lines of a description), or lines that fool the guess.
  for (const [label, body] of [
    ['no record start', 'a line of a long description\n'],
    ['lines like records', `${'z'.repeat(20)}${TRAP}`],
  ] as const) {
    const huge = rec(1000, body.repeat(300))
    const hugeStart = Buffer.byteLength(small)
    const hugeEnd = hugeStart + Buffer.byteLength(huge)
    writeFileSync(file, gzipSync(small + huge + small))
    for (const format of ['raw', 'json', 'row'] as const) {
      const options: CatOptions = { ...base, format }
      const offsets: number[] = []
      const got = await settle((out) =>
        catGzipParallel(file, out, options, {
          threads: 2,
          chunkBytes,
          minBytes: 0,
          source: inThreadChunks,
          runner: (o) => {
            const inner = runner(o, 2, false)
            const run: ChunkRunner['run'] = (task, transfer) => {
              offsets.push(task.offset)
              return inner.run(task, transfer)
            }
            return { size: inner.size, close: () => inner.close(), run }
          },
        }),
      )
      t.strictSame(got, await serial(file, options), `${label} ${format}: as the serial path`)
      const inside = offsets.filter((o) => o >= hugeStart && o + chunkBytes <= hugeEnd).length
      const whole = Math.floor((hugeEnd - hugeStart) / chunkBytes) - 1
      // Those in flight when the first comes back without a record start (two a worker).
      t.ok(inside <= 4, `${label} ${format}: ${inside} of the ${whole} chunks inside the record went to a worker`)
      t.ok(
        offsets.some((o) => o >= hugeEnd),
        `${label} ${format}: chunks after the record go to workers again`,
      )
    }
  }
})

t.test('malformed and oversize records, an input ending inside a record: the same error after the same records', async (t) => {
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
        { format: 'raw', maxEntryBytes: 5000 },
      ],
    ],
  ]
  for (const [label, text, sets] of cases) {
    await same(t, dir, gzipSync(Buffer.from(text, 'latin1')), [40, 512], sets, label)
  }
  // And the error itself, once, to be sure the comparison compares something.
  const file = `${dir}/journal.5.gz`
  writeFileSync(file, gzipSync(good + 'garbage\n' + good))
  const got = await parallel(file, base, 64)
  t.equal(got?.error?.code, 'ERR_JOURNAL_MALFORMED')
  t.equal(got?.error?.offset, Buffer.byteLength(good))
  t.equal(got?.error?.line, good.split('\n').length)
  t.equal(got?.out, good, 'every record before the error was written')
})

t.test('gzip damage: several members, a cut member, trailing garbage, CRC and size flips', async (t) => {
  const dir = t.testdir()
  const text = Buffer.from(adversarial(24))
  const cut = Math.floor(text.length / 3)
  const one = gzipSync(text)
  const flip = (buf: Buffer, fromEnd: number): Buffer => {
    const b = Buffer.from(buf)
    b[b.length - fromEnd] = (b[b.length - fromEnd] as number) ^ 0x55
    return b
  }
  const cases: [string, Buffer][] = [
    ['two members, cut mid-record', Buffer.concat([gzipSync(text.subarray(0, cut)), gzipSync(text.subarray(cut))])],
    ['an empty member between', Buffer.concat([gzipSync(text.subarray(0, cut)), gzipSync(Buffer.alloc(0)), gzipSync(text.subarray(cut))])],
    ['a cut member', one.subarray(0, Math.floor(one.length * 0.7))],
    ['a cut trailer', one.subarray(0, one.length - 3)],
    ['trailing garbage', Buffer.concat([one, Buffer.from('garbage')])],
    ['zero padding', Buffer.concat([one, Buffer.alloc(100)])],
    ['CRC flipped', flip(one, 8)],
    ['size flipped', flip(one, 2)],
    ['a second member cut', Buffer.concat([gzipSync(text.subarray(0, cut)), gzipSync(text.subarray(cut)).subarray(0, 40)])],
  ]
  for (const [label, gz] of cases) {
    await same(t, dir, gz, [29, 700], [{ format: 'raw' }, { format: 'json' }, { format: 'raw', allowIncomplete: true }], label)
  }
  const file = `${dir}/journal.5.gz`
  // Through the real inflate worker too, against the serial path's own.
  for (const [label, gz] of cases.slice(0, 5)) {
    writeFileSync(file, gz)
    t.strictSame(await parallel(file, base, 100, 2, true), await serial(file, base, true), `${label}: the inflate worker`)
  }
  writeFileSync(file, flip(one, 8))
  const got = await parallel(file, base, 100)
  t.equal(got?.error?.code, 'ERR_GZIP_CORRUPT', 'a CRC flip is a gzip error')
  t.equal(got?.out, text.toString('latin1'), 'every record before it was written')
})

t.test('not for this path: plain, one thread, --skip-malformed, stdin, the node:zlib inflater', async (t) => {
  const dir = t.testdir({ plain: '@ex@ 1 2\n' })
  writeFileSync(`${dir}/one.gz`, gzipSync('@ex@ 1 2\n'))
  t.equal(await parallel(`${dir}/plain`, base, 16, 2, true), null, 'not gzip')
  t.equal(await parallel(dir, base, 16, 2, true), null, 'a directory')
  t.equal(await parallel(`${dir}/missing.gz`, base, 16, 2, true), null, 'missing: the serial path reports it')
  t.equal(await parallel(`${dir}/one.gz`, base, 16, 1, true), null, 'one thread')
  t.equal(await parallel(`${dir}/one.gz`, { ...base, skipMalformed: true }, 16, 2, true), null, '--skip-malformed')
  t.equal(await parallel('-', base, 16, 2, true), null, 'stdin')
  const saved = process.env.LOGDAEMON_INFLATER
  process.env.LOGDAEMON_INFLATER = 'node'
  try {
    t.equal(await parallel(`${dir}/one.gz`, base, 16, 2, true), null, 'LOGDAEMON_INFLATER=node')
  } finally {
    if (saved === undefined) delete process.env.LOGDAEMON_INFLATER
    else process.env.LOGDAEMON_INFLATER = saved
  }
  writeFileSync(`${dir}/empty.gz`, gzipSync(''))
  t.strictSame(await parallel(`${dir}/empty.gz`, base, 16), { out: '', entries: 0, error: null }, 'an empty member')
  t.equal(await settle((out) => catGzipParallel(`${dir}/one.gz`, out, base, { threads: 2 })), null, 'a file under a chunk')
  // Without a test chunk size: a quarter of minParallelBytes, in compressed bytes (MIN_PARALLEL_ENCODED_BYTES / 4 for json).
  const records = Array.from({ length: 1500 }, (_, i) => `@pv@ 3 @db.desc@ ${i} @${randomBytes(300).toString('hex')}@ \n`).join('')
  writeFileSync(`${dir}/mid.gz`, gzipSync(records))
  const mid = readFileSync(`${dir}/mid.gz`).length
  t.ok(mid > GZ_ENCODED_CHUNK_BYTES && mid < MIN_PARALLEL_ENCODED_BYTES / 4, `a .gz of ${mid} bytes: over a json chunk, under the floor`)
  const json = { ...base, format: 'json' } as const
  t.equal(await settle((out) => catGzipParallel(`${dir}/mid.gz`, out, json, { threads: 2, runner: (o) => runner(o, 2, false) })), null, 'json: serial')
  const chunked = await settle((out) => catGzipParallel(`${dir}/mid.gz`, out, json, { threads: 2, minBytes: mid, runner: (o) => runner(o, 2, false) }))
  t.not(chunked, null, 'the same file in chunks when the floor is its size')
})

t.test('the real p4d fixtures, in chunks of every size', { skip: fixturesSkip }, async (t) => {
  const dir = t.testdir()
  for (const name of fixtureNames()) {
    const gz = gzipSync(readFixture(name))
    if (!(await same(t, dir, gz, [61, 4096], [{ format: 'raw' }, { format: 'json' }, { format: 'row', encoding: 'latin1' }], name))) return
  }
})

t.test('fuzz: random records, random damage, random chunks, several members', async (t) => {
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
      fc.nat(),
      async (records, hurt, chunkBytes, cut, split) => {
        let text = records.join('')
        if (hurt) {
          const at = hurt[0] % text.length
          text = text.slice(0, at) + hurt[1] + text.slice(at + (hurt[1] === '' ? 1 : 0))
        }
        if (cut) text = text.slice(0, -1)
        const data = Buffer.from(text)
        const at = split % (data.length + 1)
        const gz = Buffer.concat([gzipSync(data.subarray(0, at)), gzipSync(data.subarray(at))])
        return same(t, dir, gz, [chunkBytes], [split % 2 ? { format: 'raw' } : { format: 'json', allowIncomplete: true }], 'fuzz')
      },
    ),
    { numRuns: 30, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH, endOnFailure: true } : {}) },
  )
})

t.test('the built bin with real workers: the same bytes and errors as with one thread and as LOGDAEMON_INFLATER=node', async (t) => {
  const dir = t.testdir()
  const good = adversarial(400)
  const cases: [string, Buffer, string][] = [
    ['good', gzipSync(good), 'raw'],
    ['good', gzipSync(good), 'json'],
    ['good', gzipSync(good), 'row'],
    ['malformed inside', gzipSync(good + 'garbage\n' + good), 'raw'],
    ['trailing garbage', Buffer.concat([gzipSync(good), Buffer.from('xyz')]), 'json'],
  ]
  for (const [label, gz, format] of cases) {
    const file = `${dir}/journal.3.gz`
    writeFileSync(file, gz)
    const run = (threads: string, env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [BIN, '--format', format, '--threads', threads, file], {
        env: { ...process.env, LOGDAEMON_CAT_RANGE_BYTES: '1000', ...env },
        maxBuffer: 1 << 28,
      })
    const two = run('2')
    const other = label === 'good' ? run('1') : run('2', { LOGDAEMON_INFLATER: 'node' })
    const name = label === 'good' ? '--threads 1' : 'LOGDAEMON_INFLATER=node'
    t.equal(two.status, other.status, `${label} ${format}: exit status as ${name}`)
    t.ok(two.stdout.length > 0 && Buffer.compare(two.stdout, other.stdout) === 0, `${label} ${format}: stdout as ${name}`)
    t.equal(two.stderr.toString(), other.stderr.toString(), `${label} ${format}: stderr as ${name}`)
  }
})

t.test('this thread frames chunks too: raw without filters at any thread count, json and row lines with one worker', async (t) => {
  const options = (extra: Partial<CatOptions>): RangeOptions => rangeOptionsOf({ ...base, ...extra }, 'journal.3.gz', 3)
  t.ok(gzipSharesThisThread(options({ format: 'raw' }), 2))
  t.ok(gzipSharesThisThread(options({ format: 'raw' }), 4))
  t.ok(gzipSharesThisThread(options({ format: 'json' }), 2))
  t.ok(gzipSharesThisThread(options({ format: 'row', tables: ['db.rev'] }), 2))
  t.notOk(gzipSharesThisThread(options({ format: 'json' }), 4), 'json with more workers keeps them')
  t.notOk(gzipSharesThisThread(options({ format: 'raw', tables: ['db.rev'] }), 2), 'raw with a filter keeps its workers')
})
