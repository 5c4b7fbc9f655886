import t from 'tap'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createReadStream, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable, Writable, type Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { crc32, gzipSync } from 'node:zlib'
import { ErrorCodes, isLogdaemonError, type LogdaemonError } from '../../lib/errors.js'
import { createGunzip, GunzipTransform, inflaterName, isGzip, maybeGunzip } from '../../lib/files/gunzip.js'
import { afterMember, INFLATER_ENV, loadIsal, loadZlibSync, nodeSyncAvailable, selectInflater } from '../../lib/files/inflater.js'

const FIXTURE_DIR = new URL('../../../shared/fixtures/p4d/', import.meta.url)
const FIXTURE = fileURLToPath(new URL('checkpoint-2014.ckp', FIXTURE_DIR))
const MISSING_MODULE = 'logdaemon-test-no-such-zlib-sync'

/**
 * The engines the inflater tests run on. test/files/gunzip-on-worker.ts runs
 * this file again for zlib-sync-worker alone (a worker per stream: its own
 * file, its own time limit).
 */
const ENGINES = (process.env.LOGDAEMON_TEST_INFLATERS ?? 'zlib-sync,node,node-sync,isal').split(',')
const INFLATERS = (
  [
    { choice: 'zlib-sync', name: 'zlib-sync', skip: loadZlibSync() ? false : 'zlib-sync cannot be loaded here' },
    { choice: 'zlib-sync-worker', name: 'zlib-sync-worker', skip: loadZlibSync() ? false : 'zlib-sync cannot be loaded here' },
    { choice: 'node', name: 'node:zlib', skip: false },
    { choice: 'node-sync', name: 'node:zlib-sync', skip: nodeSyncAvailable() ? false : 'node:zlib cannot be driven synchronously here' },
    { choice: 'node-worker', name: 'node:zlib-worker', skip: nodeSyncAvailable() ? false : 'node:zlib cannot be driven synchronously here' },
    { choice: 'isal', name: 'isal', skip: loadIsal() ? false : 'the ISA-L addon is not built here (libisal-dev missing at npm install)' },
    { choice: 'isal-worker', name: 'isal-worker', skip: loadIsal() ? false : 'the ISA-L addon is not built here (libisal-dev missing at npm install)' },
  ] as const
).filter((engine) => ENGINES.includes(engine.choice))

interface Result {
  out: Buffer
  /** Sizes of the chunks the transform pushed. */
  sizes: number[]
  error: LogdaemonError | null
}

/** Writes `chunks` to `stream` (respecting backpressure), collecting its output and the error it ended on. */
async function run(stream: Transform, chunks: Buffer[]): Promise<Result> {
  const out: Buffer[] = []
  let error: LogdaemonError | null = null
  stream.on('data', (chunk: Buffer) => out.push(chunk))
  const done = new Promise<void>((resolve, reject) => {
    stream.once('end', resolve)
    stream.once('error', (err) => {
      if (!isLogdaemonError(err)) return reject(err)
      error = err
      resolve()
    })
  })
  for (const c of chunks) {
    if (stream.destroyed) break
    if (!stream.write(c)) await Promise.race([once(stream, 'drain'), done])
  }
  if (!stream.destroyed) stream.end()
  await done
  return { out: Buffer.concat(out), sizes: out.map((c) => c.length), error }
}

/** `data` cut into chunks of `size` bytes. */
function chunked(data: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = []
  for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size))
  return chunks
}

/** Text that compresses like a journal (about 4:1). */
function journalText(bytes: number): Buffer {
  const lines: string[] = []
  let size = 0
  for (let i = 0; size < bytes; i++) {
    const line = `@pv@ 3 @db.rev@ @//depot/main/src/f${(i * 7919) % 10007}.c@ ${i % 97} 0 ${1400000000 + i * 13} @${randomBytes(4).toString('hex')}@\n`
    lines.push(line)
    size += line.length
  }
  return Buffer.from(lines.join('')).subarray(0, bytes)
}

const gz = (data: Buffer | string) => gzipSync(data)
const small = Buffer.from('@pv@ 1 @db.counters@ @change@ @1@ \n@ex@ 62008 1404918606\n'.repeat(3))
const smallGz = gz(small)

t.test('isGzip looks at the magic bytes only', async (t) => {
  t.equal(isGzip(Buffer.alloc(0)), false)
  t.equal(isGzip(Buffer.from([0x1f])), false)
  t.equal(isGzip(Buffer.from([0x1f, 0x8b])), true)
  t.equal(isGzip(Buffer.from([0x1f, 0x8c])), false)
  t.equal(isGzip(Buffer.from('@pv@')), false)
  t.equal(isGzip(smallGz), true)
})

t.test('afterMember skips zero padding and finds the next header', async (t) => {
  const b = (...bytes: number[]) => Buffer.from(bytes)
  t.same(afterMember(b(0, 0, 0x1f, 0x8b, 8, 0), 0), { kind: 'member', at: 2 })
  t.same(afterMember(b(0, 0), 0), { kind: 'open', at: 2 })
  t.same(afterMember(b(0, 0x1f), 0), { kind: 'open', at: 1 })
  t.same(afterMember(b(0x1f, 0x8b), 0), { kind: 'open', at: 0 })
  t.same(afterMember(b(0x1f, 0x8b, 7), 0), { kind: 'garbage', at: 0 })
  t.same(afterMember(b(0, 0x41), 0), { kind: 'garbage', at: 1 })
})

for (const { choice, name, skip } of INFLATERS) {
  t.test(`inflater ${name}`, { skip }, async (t) => {
    const gunzip = () => createGunzip({ inflater: choice, file: 'journal.7.gz' })

    t.test('uses the inflater asked for', async (t) => {
      t.equal(gunzip().inflaterName, name)
    })

    t.test('round trips data of many sizes, fed in 64 KiB chunks', async (t) => {
      const cases: [string, Buffer][] = [
        ['0 bytes', Buffer.alloc(0)],
        ['1 byte', Buffer.from('x')],
        ['16 KiB - 1 random', randomBytes(16 * 1024 - 1)],
        ['64 KiB + 7 random', randomBytes(64 * 1024 + 7)],
        ['100 KiB text', journalText(100 * 1024)],
        ['1 MiB random', randomBytes(1024 * 1024)],
        ['3 MiB text', journalText(3 * 1024 * 1024)],
        ['8 MiB of zeros (1000:1)', Buffer.alloc(8 * 1024 * 1024)],
      ]
      for (const [label, data] of cases) {
        const r = await run(gunzip(), chunked(gz(data), 64 * 1024))
        t.equal(r.error, null, `${label}: no error`)
        t.ok(r.out.equals(data), `${label}: same bytes`)
        t.ok(Math.max(0, ...r.sizes) <= 64 * 1024, `${label}: pushed in pieces of at most 64 KiB`)
      }
    })

    t.test('empty input is empty output', async (t) => {
      const r = await run(gunzip(), [])
      t.equal(r.error, null)
      t.equal(r.out.length, 0)
    })

    t.test('decodes every member of concatenated gzip files', async (t) => {
      const a = journalText(300 * 1024)
      const b = randomBytes(50 * 1024)
      const c = Buffer.from('the third member\n')
      const empty = Buffer.alloc(0)
      const cases: [string, Buffer[]][] = [
        ['2 members', [a, b]],
        ['3 members, the middle one empty', [a, empty, c]],
        ['3 members, the first one empty', [empty, b, c]],
        ['3 members, the last one empty', [c, a, empty]],
        ['3 small members', [c, c, c]],
        ['3 small members, the middle one empty', [c, empty, c]],
      ]
      for (const [label, parts] of cases) {
        const file = Buffer.concat(parts.map(gz))
        const want = Buffer.concat(parts)
        // 7-byte chunks only where they stay quick (node:zlib takes a thread pool round trip per chunk).
        for (const size of file.length < 10_000 ? [7, 1000, file.length] : [1000, 64 * 1024, file.length]) {
          const r = await run(gunzip(), chunked(file, size))
          t.equal(r.error, null, `${label}, ${size}-byte chunks: no error`)
          t.ok(r.out.equals(want), `${label}, ${size}-byte chunks: same bytes`)
        }
      }
    })

    t.test('a member may end anywhere in a 16 KiB input piece', async (t) => {
      // Stored blocks (level 0) make the compressed size follow the data size.
      const second = gz(Buffer.from('second'))
      for (let size = 16 * 1024 - 40; size < 16 * 1024 + 40; size += 3) {
        const data = randomBytes(size)
        const file = Buffer.concat([gzipSync(data, { level: 0 }), second])
        const r = await run(gunzip(), [file])
        t.ok(r.out.equals(Buffer.concat([data, Buffer.from('second')])), `${size} bytes then a member`)
      }
    })

    t.test('a trailer-like run of bytes before the real trailer is not taken for it', async (t) => {
      // A stored member whose data holds its own ISIZE and a gzip header's
      // start; only the CRC tells it from the real trailer.
      const size = 5000
      const data = randomBytes(size)
      const fake = Buffer.concat([Buffer.alloc(4), Buffer.alloc(4), Buffer.from([0x1f, 0x8b, 8])])
      fake.writeUInt32LE(size, 4)
      fake.copy(data, size - 100)
      const file = Buffer.concat([gzipSync(data, { level: 0 }), gz('next')])
      const r = await run(gunzip(), [file])
      t.equal(r.error, null)
      t.ok(r.out.equals(Buffer.concat([data, Buffer.from('next')])))
    })

    t.test('every split point of a small file, as two chunks', async (t) => {
      const two = Buffer.concat([smallGz, gz('x'), Buffer.alloc(3)])
      const want = Buffer.concat([small, Buffer.from('x')])
      for (const [label, file, expected] of [
        ['one member', smallGz, small],
        ['two members and padding', two, want],
      ] as const) {
        let bad = 0
        for (let i = 0; i <= file.length; i++) {
          const r = await run(gunzip(), [file.subarray(0, i), file.subarray(i)])
          if (r.error || !r.out.equals(expected)) bad++
        }
        t.equal(bad, 0, `${label}: all ${file.length + 1} split points`)
      }
      const bytes = await run(gunzip(), chunked(two, 1))
      t.ok(bytes.out.equals(want), 'one byte at a time')
    })

    t.test('zero padding after a member is tolerated', async (t) => {
      for (const [label, file, want] of [
        ['after the last member', Buffer.concat([smallGz, Buffer.alloc(1000)]), small],
        ['after an empty member', Buffer.concat([gz(''), Buffer.alloc(64)]), Buffer.alloc(0)],
        ['between members', Buffer.concat([smallGz, Buffer.alloc(5), gz('y')]), Buffer.concat([small, Buffer.from('y')])],
        ['between an empty member and the next', Buffer.concat([gz(''), Buffer.alloc(9), gz('y')]), Buffer.from('y')],
      ] as const) {
        const r = await run(gunzip(), [file])
        t.equal(r.error, null, `${label}: no error`)
        t.ok(r.out.equals(want), `${label}: same bytes`)
      }
    })

    t.test('truncated input is ERR_GZIP_TRUNCATED at the end offset', async (t) => {
      const big = gz(journalText(200 * 1024))
      const two = Buffer.concat([big, smallGz])
      const cuts: [string, Buffer, number][] = [
        ['1 byte', smallGz, 1],
        ['the magic only', smallGz, 2],
        ['inside the header', smallGz, 7],
        ['after the header', smallGz, 10],
        ['in the deflate data', smallGz, 20],
        ['before the trailer', smallGz, smallGz.length - 8],
        ['inside the trailer', smallGz, smallGz.length - 1],
        ['in a 200 KiB member', big, 30_000],
        ['in the second member', two, big.length + 15],
        ['after the first byte of the second member', two, big.length + 1],
        // zlib takes any byte after a member for the start of the next one.
        ['a stray byte after a member', Buffer.concat([smallGz, Buffer.from([1])]), smallGz.length + 1],
      ]
      for (const [label, file, at] of cuts) {
        for (const size of [64 * 1024, 5]) {
          const r = await run(gunzip(), chunked(file.subarray(0, at), size))
          t.equal(r.error?.code, ErrorCodes.GZIP_TRUNCATED, `${label} (${size}-byte chunks): code`)
          t.equal(r.error?.offset, at, `${label}: offset`)
          t.equal(r.error?.file, 'journal.7.gz', `${label}: file`)
        }
      }
    })

    t.test('corrupt input is ERR_GZIP_CORRUPT', async (t) => {
      const damaged = (at: number, byte: number, file = smallGz) => {
        const copy = Buffer.from(file)
        copy[at] = byte
        return copy
      }
      const last = smallGz.length
      const cases: [string, Buffer][] = [
        ['not gzip', Buffer.from('@pv@ 1 @db.counters@\n')],
        ['zeros only', Buffer.alloc(100)],
        ['an unknown method', damaged(2, 7)],
        ['reserved flag bits', damaged(3, 0xe0)],
        ['a reserved block type', damaged(10, 0x07)],
        ['a wrong CRC', damaged(last - 8, smallGz[last - 8]! ^ 1)],
        ['a wrong length', damaged(last - 1, 0x55)],
        ['garbage after a member', Buffer.concat([smallGz, Buffer.from('garbage')])],
        ['garbage after padding', Buffer.concat([smallGz, Buffer.alloc(10), Buffer.from('garbage')])],
        ['a bad second magic', Buffer.concat([smallGz, Buffer.from([0x1f, 0x8c, 8, 0])])],
        ['garbage after two members', Buffer.concat([smallGz, smallGz, Buffer.from([1, 2])])],
      ]
      for (const [label, file] of cases) {
        for (const size of [64 * 1024, 3]) {
          const r = await run(gunzip(), chunked(file, size))
          t.equal(r.error?.code, ErrorCodes.GZIP_CORRUPT, `${label} (${size}-byte chunks): code`)
          t.equal(r.error?.file, 'journal.7.gz', `${label}: file`)
          t.type(r.error?.offset, 'number', `${label}: offset`)
        }
      }
      const r = await run(gunzip(), [Buffer.concat([smallGz, Buffer.alloc(3), Buffer.from('garbage')])])
      if (name === 'zlib-sync') t.equal(r.error?.offset, smallGz.length + 3, 'zlib-sync knows where the garbage starts')
      const early = await run(gunzip(), [damaged(10, 0x07)])
      if (name === 'zlib-sync') t.equal(early.error?.offset, 0, 'zlib-sync: the start of the 16 KiB piece')
    })

    t.test('maybeGunzip passes plain data through and inflates gzip', async (t) => {
      const maybe = () => maybeGunzip({ inflater: choice })
      const plains: [string, Buffer][] = [
        ['journal text', journalText(100 * 1024)],
        ['random bytes', Buffer.concat([Buffer.from([0x42]), randomBytes(70 * 1024)])],
        ['1f then not 8b', Buffer.from([0x1f, 0x8c, 1, 2, 3])],
        ['a lone 1f', Buffer.from([0x1f])],
        ['a lone byte', Buffer.from('@')],
        ['empty', Buffer.alloc(0)],
      ]
      for (const [label, data] of plains) {
        for (const sizes of [[64 * 1024], [1, 64 * 1024], [1, 1, 7]]) {
          const r = await run(maybe(), splitBy(data, sizes))
          t.equal(r.error, null, `${label} (${sizes}): no error`)
          t.ok(r.out.equals(data), `${label} (${sizes}): byte exact`)
        }
      }
      const text = journalText(200 * 1024)
      const file = Buffer.concat([gz(text), gz('more')])
      for (const sizes of [[64 * 1024], [1, 64 * 1024], [1, 1, 7]]) {
        const r = await run(maybe(), splitBy(file, sizes))
        t.equal(r.error, null, `gzip (${sizes}): no error`)
        t.ok(r.out.equals(Buffer.concat([text, Buffer.from('more')])), `gzip (${sizes}): inflated`)
      }
      const broken = await run(maybe(), [smallGz.subarray(0, 20)])
      t.equal(broken.error?.code, ErrorCodes.GZIP_TRUNCATED, 'truncated gzip is still an error')
    })

    t.test('the checkpoint fixture round trips', { skip: existsSync(FIXTURE) ? false : `fixture not found at ${FIXTURE}` }, async (t) => {
      const data = readFileSync(FIXTURE)
      const file = gzipSync(data)
      for (const size of [64 * 1024, 100, 1]) {
        const r = await run(gunzip(), chunked(file, size))
        t.equal(r.error, null, `${size}-byte chunks: no error`)
        t.ok(r.out.equals(data), `${size}-byte chunks: same bytes`)
      }
    })

    t.test('in a pipeline from a file to a slow consumer', async (t) => {
      const dir = t.testdir()
      const data = journalText(2 * 1024 * 1024)
      const path = join(dir, 'journal.3.gz')
      writeFileSync(path, Buffer.concat([gz(data.subarray(0, 1000)), gz(data.subarray(1000))]))
      const out: Buffer[] = []
      let writes = 0
      const slow = new Writable({
        highWaterMark: 1024,
        write(chunk: Buffer, _encoding, callback) {
          out.push(chunk)
          if (++writes % 10 === 0) setTimeout(callback, 1)
          else callback()
        },
      })
      await pipeline(createReadStream(path), createGunzip({ inflater: choice, file: path }), slow)
      t.ok(Buffer.concat(out).equals(data))
    })

    t.test('destroy mid-stream is quiet and idempotent', async (t) => {
      const g = gunzip()
      g.on('error', () => {})
      g.write(gz(journalText(100 * 1024)).subarray(0, 5000))
      g.destroy()
      g.destroy()
      await new Promise((resolve) => g.once('close', resolve))
      t.equal(g.destroyed, true)
    })
  })
}

t.test('falls back to node:zlib when zlib-sync cannot be loaded', async (t) => {
  t.equal(loadZlibSync(MISSING_MODULE), null, 'a missing module loads as null')
  t.equal(loadZlibSync('node:path'), null, 'a module that is not zlib-sync loads as null')
  const inflater = selectInflater('auto', { env: {}, specifier: MISSING_MODULE })
  t.equal(inflater.name, 'node:zlib')
  const data = journalText(100 * 1024)
  const r = await run(new GunzipTransform(inflater, { file: 'f.gz' }), [Buffer.concat([gz(data), gz('x')])])
  t.ok(r.out.equals(Buffer.concat([data, Buffer.from('x')])), 'inflates with node:zlib')
  t.throws(() => selectInflater('zlib-sync', { env: {}, specifier: MISSING_MODULE }), { code: ErrorCodes.CONFIG_INVALID })
  t.throws(() => selectInflater('auto', { env: { [INFLATER_ENV]: 'zlib-sync' }, specifier: MISSING_MODULE }), {
    code: ErrorCodes.CONFIG_INVALID,
  })
  t.throws(() => selectInflater('zlib-sync-worker', { env: {}, specifier: MISSING_MODULE }), { code: ErrorCodes.CONFIG_INVALID })
})

t.test('the ISA-L engines: a missing addon is an error naming the fix, a broken one does not load', async (t) => {
  t.equal(loadIsal('logdaemon-test-no-such-isal'), null, 'a missing module loads as null')
  t.equal(loadIsal('node:path'), null, 'a module that is not the addon loads as null')
  for (const choice of ['isal', 'isal-worker'] as const) {
    t.throws(() => selectInflater(choice, { env: {}, isalSpecifier: 'logdaemon-test-no-such-isal' }), {
      code: ErrorCodes.CONFIG_INVALID,
      message: /libisal-dev/,
    })
  }
  if (!loadIsal()) {
    t.comment('the ISA-L addon is not built here (libisal-dev missing at npm install)')
    return
  }
  process.env[INFLATER_ENV] = 'isal'
  t.teardown(() => {
    delete process.env[INFLATER_ENV]
  })
  t.equal(inflaterName(), 'isal')
  t.equal(selectInflater('isal-worker').threaded, 'isal', 'runs isal on its worker')
})

t.test(`${INFLATER_ENV} forces the inflater 'auto' picks`, async (t) => {
  const saved = process.env[INFLATER_ENV]
  t.teardown(() => {
    if (saved === undefined) delete process.env[INFLATER_ENV]
    else process.env[INFLATER_ENV] = saved
  })
  delete process.env[INFLATER_ENV]
  t.equal(inflaterName(), 'node:zlib', 'unset: node:zlib, in the thread pool')
  process.env[INFLATER_ENV] = 'node'
  t.equal(inflaterName(), 'node:zlib')
  t.equal(createGunzip().inflaterName, 'node:zlib')
  t.equal(maybeGunzip().inflaterName, 'node:zlib')
  t.equal(createGunzip({ inflater: 'node' }).inflaterName, 'node:zlib')
  if (loadZlibSync()) t.equal(createGunzip({ inflater: 'zlib-sync' }).inflaterName, 'zlib-sync', 'the option wins')
  if (loadZlibSync()) {
    process.env[INFLATER_ENV] = 'zlib-sync'
    t.equal(inflaterName(), 'zlib-sync')
    process.env[INFLATER_ENV] = 'zlib-sync-worker'
    t.equal(inflaterName(), 'zlib-sync-worker')
    t.equal(createGunzip({ inflater: 'node' }).inflaterName, 'node:zlib', 'the option wins')
  }
  if (nodeSyncAvailable()) {
    process.env[INFLATER_ENV] = 'node-sync'
    t.equal(inflaterName(), 'node:zlib-sync')
    t.equal(createGunzip().inflaterName, 'node:zlib-sync')
    process.env[INFLATER_ENV] = 'node:zlib-worker'
    t.equal(inflaterName(), 'node:zlib-worker')
    t.equal(selectInflater('node-worker').threaded, 'node-sync', 'runs node-sync on its worker')
  }
  process.env[INFLATER_ENV] = 'auto'
  t.equal(inflaterName(), 'node:zlib')
  process.env[INFLATER_ENV] = 'pako'
  t.throws(() => inflaterName(), { code: ErrorCodes.CONFIG_INVALID })
})

/** `data` cut into chunks of the given sizes, the last size repeating. */
function splitBy(data: Buffer, sizes: number[]): Buffer[] {
  const chunks: Buffer[] = []
  let at = 0
  for (let i = 0; at < data.length; i++) {
    const size = sizes[Math.min(i, sizes.length - 1)] ?? data.length
    chunks.push(data.subarray(at, at + size))
    at += size
  }
  return chunks
}

/** A gzip member of `data` in stored (uncompressed) deflate blocks: a changed byte still inflates, only the CRC tells. */
function storedGzip(data: Buffer): Buffer {
  return gzipSync(data, { level: 0 })
}

/** Reads `stream` as a slow consumer does (async iterator, a pause per chunk): what came out, and the error it ended on. */
async function readSlowly(stream: Transform, input: Buffer): Promise<{ out: Buffer; error: LogdaemonError | null }> {
  const out: Buffer[] = []
  let error: LogdaemonError | null = null
  const source = createReadStreamOf(input)
  source.pipe(stream)
  try {
    for await (const chunk of stream) {
      out.push(chunk as Buffer)
      await new Promise((resolve) => setImmediate(resolve))
    }
  } catch (err) {
    if (!isLogdaemonError(err)) throw err
    error = err
  }
  return { out: Buffer.concat(out), error }
}

/** `input` as a byte stream in 64 KiB chunks (like a file). */
function createReadStreamOf(input: Buffer): Readable {
  return Readable.from(chunked(input, 64 * 1024), { objectMode: false })
}

for (const { choice, name, skip } of INFLATERS) {
  t.test(`trust, inflater ${name}`, { skip }, async (t) => {
    const member = journalText(2_300_000)
    const memberGz = gzipSync(member)

    t.test('a verified member followed by garbage: all of it comes out, then ERR_GZIP_CORRUPT (as gzip -dc)', async (t) => {
      const input = Buffer.concat([memberGz, Buffer.from('this is not gzip data'.repeat(50))])
      const { out, error } = await readSlowly(createGunzip({ inflater: choice, file: 'j.gz' }), input)
      t.equal(error?.code, ErrorCodes.GZIP_CORRUPT)
      t.equal(out.length, member.length, 'every byte of the verified member')
      t.ok(out.equals(member))
    })

    t.test('a verified member followed by a cut one: all of the first comes out, then ERR_GZIP_TRUNCATED', async (t) => {
      const second = gzipSync(journalText(500_000))
      const input = Buffer.concat([memberGz, second.subarray(0, second.length >> 1)])
      const { out, error } = await readSlowly(createGunzip({ inflater: choice, file: 'j.gz' }), input)
      t.equal(error?.code, ErrorCodes.GZIP_TRUNCATED)
      t.ok(out.length >= member.length, `at least the first member (${out.length} of ${member.length})`)
      t.ok(out.subarray(0, member.length).equals(member))
    })

    t.test('a changed byte in a stored block: ERR_GZIP_CORRUPT naming the file, the member never verified', async (t) => {
      const good = journalText(300_000)
      const bad = Buffer.from(storedGzip(good))
      bad[100_000] = bad[100_000] === 0x41 ? 0x42 : 0x41
      const stream = createGunzip({ inflater: choice, file: '/srv/journal.1.gz' })
      const { out, error } = await readSlowly(stream, bad)
      t.equal(error?.code, ErrorCodes.GZIP_CORRUPT)
      t.match(error?.message, /\/srv\/journal\.1\.gz/)
      t.ok(out.length <= good.length)
      t.equal(stream.verified, 0, 'nothing verified')
    })

    t.test('verified follows the members', async (t) => {
      const a = journalText(100_000)
      const b = journalText(50_000)
      const stream = createGunzip({ inflater: choice })
      const { out, error } = await readSlowly(stream, Buffer.concat([gzipSync(a), Buffer.alloc(10), gzipSync(b)]))
      t.equal(error, null)
      t.equal(out.length, a.length + b.length)
      t.equal(stream.verified, a.length + b.length)
    })

    t.test('optional header fields (extra, name, comment, header CRC) are skipped, at every chunk boundary', async (t) => {
      const body = journalText(20_000)
      const plain = gzipSync(body)
      const extra = Buffer.alloc(300, 7)
      const fields = Buffer.concat([
        Buffer.from([0x1f, 0x8b, 8, 0x04 | 0x08 | 0x10 | 0x02, 0, 0, 0, 0, 0, 3]),
        Buffer.from([extra.length & 0xff, extra.length >> 8]),
        extra,
        Buffer.from('journal.7\0a comment\0'),
      ])
      const hcrc = Buffer.alloc(2)
      hcrc.writeUInt16LE(crc32(fields) & 0xffff)
      const header = Buffer.concat([fields, hcrc])
      const file = Buffer.concat([header, plain.subarray(10)])
      for (const size of [1, 7, 64 * 1024]) {
        const r = await run(createGunzip({ inflater: choice }), chunked(file, size))
        t.equal(r.error, null, `${size}-byte chunks: no error`)
        t.ok(r.out.equals(body), `${size}-byte chunks: same bytes`)
      }
    })

    t.test('a gzip bomb inflates only as fast as it is read', async (t) => {
      // 256 MiB of zeros: 256 KiB of gzip, written in one go and never read.
      const bomb = gzipSync(Buffer.alloc(256 * 1024 * 1024), { level: 9 })
      const stream = createGunzip({ inflater: choice })
      stream.write(bomb)
      stream.end()
      await new Promise((resolve) => setTimeout(resolve, 300))
      t.ok(stream.readableLength <= 2 * 1024 * 1024, `unread output held: ${stream.readableLength} bytes`)
      // Read it all: it is all there.
      let total = 0
      for await (const chunk of stream) total += (chunk as Buffer).length
      t.equal(total, 256 * 1024 * 1024)
    })
  })
}
