import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import { ErrorCodes, isLogdaemonError } from '../../lib/errors.js'
import { createGunzip, maybeGunzip } from '../../lib/files/gunzip.js'
import { createGzipDecoder, WorkerGunzipDecoder } from '../../lib/files/gunzip-worker.js'
import { INFLATER_ENV, loadZlibSync, selectInflater } from '../../lib/files/inflater.js'
import { ArchiveReader } from '../../lib/source/archive-reader.js'
import { DIST_GUNZIP, workerLetsProcessExit } from '../helpers/worker-exit.js'

const FIXTURE_DIR = fileURLToPath(new URL('../../../shared/fixtures/p4d/', import.meta.url))
const hasGzip = spawnSync('gzip', ['--version']).status === 0
const skipZs = loadZlibSync() ? false : 'zlib-sync cannot be loaded here'

/** Text that compresses like a journal. */
function journalText(lines: number): Buffer {
  return Buffer.from(Array.from({ length: lines }, (_, i) => `@pv@ 3 @db.rev@ @//depot/f${(i * 7919) % 10007}.c@ ${i % 97} 0 \n`).join(''))
}

/** Runs a decoder over `chunks`: what it emitted and the error it ended on. */
async function decode(decoder: ReturnType<typeof createGzipDecoder>, chunks: Buffer[]): Promise<Error | null> {
  try {
    for (const c of chunks) await decoder.write(c)
    await decoder.end()
    return null
  } catch (err) {
    return err as Error
  } finally {
    decoder.destroy()
  }
}

/** `file` through each engine's createGunzip, in 64 KiB chunks. */
async function inflate(choice: 'node' | 'zlib-sync' | 'zlib-sync-worker', file: Buffer): Promise<Buffer> {
  const g = createGunzip({ inflater: choice })
  const out: Buffer[] = []
  const done = (async () => {
    for await (const c of g) out.push(c as Buffer)
  })()
  for (let i = 0; i < file.length; i += 64 * 1024) {
    if (!g.write(file.subarray(i, i + 64 * 1024))) await new Promise((resolve) => g.once('drain', resolve))
  }
  g.end()
  await done
  return Buffer.concat(out)
}

const ENGINES = ['node', 'zlib-sync', 'zlib-sync-worker'] as const

t.test('byte exact against gzip -dc: fixtures and generated data, every engine', { skip: hasGzip ? false : 'no gzip here' }, async (t) => {
  const dir = t.testdir()
  const sources: [string, Buffer][] = []
  if (existsSync(FIXTURE_DIR)) {
    for (const name of ['checkpoint-2014.ckp', 'checkpoint-2020-windows-unicode.ckp', 'journal-2014-win1252.jnl']) {
      const path = join(FIXTURE_DIR, name)
      if (existsSync(path)) sources.push([name, readFileSync(path)])
    }
  } else {
    t.comment(`fixtures not found at ${FIXTURE_DIR}: generated data only`)
  }
  sources.push(['journal text', journalText(60_000)])
  const files: [string, Buffer][] = []
  for (const [name, data] of sources) {
    const path = join(dir, 'x')
    writeFileSync(path, data)
    const one = execFileSync('gzip', ['-c', path])
    const fast = execFileSync('gzip', ['-1', '-c', path])
    files.push([`${name}.gz`, one])
    files.push([`${name}: two members`, Buffer.concat([one, fast])])
    // (gzip stops at zero padding: only padding after the last member is compared with it.)
    files.push([`${name}: two members and padding`, Buffer.concat([one, fast, Buffer.alloc(9)])])
  }
  for (const [label, file] of files) {
    const path = join(dir, 'f.gz')
    writeFileSync(path, file)
    // gzip warns about the zero padding ("trailing garbage ignored", status 2) and prints every member.
    const gunzip = spawnSync('gzip', ['-dc', path], { maxBuffer: 1 << 30 })
    t.ok(gunzip.status === 0 || gunzip.status === 2, `gzip -dc ${label}`)
    const want = gunzip.stdout
    for (const engine of ENGINES) {
      if (engine !== 'node' && !loadZlibSync()) continue
      t.ok((await inflate(engine, file)).equals(want), `${label}, ${engine}`)
    }
  }
})

t.test('a worker that cannot start, throws or exits fails the stream with ERR_WORKER_FAILED', { skip: skipZs }, async (t) => {
  const dir = t.testdir()
  const scripts = {
    'a missing script': pathToFileURL(join(dir, 'missing.mjs')),
    'a script that throws': pathToFileURL(join(dir, 'throws.mjs')),
    'a script that exits on its first input': pathToFileURL(join(dir, 'exits.mjs')),
  }
  writeFileSync(join(dir, 'throws.mjs'), "throw new Error('boom')\n")
  writeFileSync(join(dir, 'exits.mjs'), "import { parentPort } from 'node:worker_threads'\nparentPort.on('message', () => process.exit(3))\n")
  const file = gzipSync(journalText(5000))
  for (const [label, script] of Object.entries(scripts)) {
    const out: Buffer[] = []
    const decoder = new WorkerGunzipDecoder('zlib-sync-worker', (c) => void out.push(c), { file: 'j.gz', script })
    const err = await decode(decoder, [file.subarray(0, 1000), file.subarray(1000)])
    t.equal(isLogdaemonError(err) && err.code, ErrorCodes.WORKER_FAILED, `${label}: ERR_WORKER_FAILED`)
    t.match(err?.message, /inflate worker/, `${label}: says what failed (${err?.message})`)
  }
})

t.test('input that is not gzip never starts a worker', { skip: skipZs }, async (t) => {
  const missing = pathToFileURL(join(t.testdir(), 'missing.mjs'))
  const data = journalText(100)
  const out: Buffer[] = []
  const decoder = new WorkerGunzipDecoder('zlib-sync-worker', (c) => void out.push(c), { notGzip: 'pass', script: missing })
  t.equal(await decode(decoder, [data.subarray(0, 1), data.subarray(1)]), null)
  t.ok(Buffer.concat(out).equals(data))
  t.equal(decoder.verified, data.length)
  t.equal(decoder.open, false)
  const strict = new WorkerGunzipDecoder('zlib-sync-worker', () => {}, { file: 'x', script: missing })
  const err = await decode(strict, [data])
  t.equal(isLogdaemonError(err) && err.code, ErrorCodes.GZIP_CORRUPT)
  const cut = new WorkerGunzipDecoder('zlib-sync-worker', () => {}, { file: 'x', script: missing })
  const cutErr = await decode(cut, [Buffer.from([0x1f])])
  t.equal(isLogdaemonError(cutErr) && cutErr.code, ErrorCodes.GZIP_TRUNCATED, 'a lone first magic byte is a cut header')
  const passed: Buffer[] = []
  const lone = new WorkerGunzipDecoder('zlib-sync-worker', (c) => void passed.push(c), { notGzip: 'pass', script: missing })
  t.equal(await decode(lone, [Buffer.from([0x1f])]), null)
  t.same(Buffer.concat(passed), Buffer.from([0x1f]), 'passed through')
})

t.test('verified and open follow the data through the worker', { skip: skipZs }, async (t) => {
  const a = journalText(3000)
  const b = journalText(1000)
  const seen: [number, number][] = []
  let emitted = 0
  const decoder = createGzipDecoder(
    selectInflater('zlib-sync-worker'),
    (c) => {
      emitted += c.length
      seen.push([emitted, decoder.verified])
    },
    { file: 'j.gz' },
  )
  t.equal(decoder.inflaterName, 'zlib-sync-worker')
  const first = gzipSync(a)
  await decoder.write(first.subarray(0, 100))
  await decoder.settle()
  t.equal(decoder.open, true, 'inside the first member')
  t.equal(decoder.verified, 0)
  await decoder.write(first.subarray(100))
  await decoder.settle()
  t.equal(decoder.open, false, 'between members')
  t.equal(decoder.verified, a.length, 'the first member verified once its output is handed on')
  await decoder.write(gzipSync(b))
  await decoder.end()
  t.equal(decoder.verified, a.length + b.length)
  t.ok(
    seen.every(([out, verified]) => verified <= out),
    'never more verified than handed on',
  )
  decoder.destroy()
})

t.test('errors arrive after the output before them, through onError when nothing waits', { skip: skipZs }, async (t) => {
  const member = journalText(20_000)
  const file = Buffer.concat([gzipSync(member), Buffer.from('garbage after the member')])
  const out: Buffer[] = []
  let late: Error | null = null
  let reported!: () => void
  const errored = new Promise<void>((resolve) => (reported = resolve))
  const decoder = new WorkerGunzipDecoder('zlib-sync-worker', (c) => void out.push(c), {
    file: '/srv/j.gz',
    onError: (err) => {
      late = err
      reported()
    },
  })
  await decoder.write(file)
  // Nothing waits: the error comes through onError (when the worker has started and inflated, however long that takes).
  await errored
  t.equal(isLogdaemonError(late) && (late as { code: string }).code, ErrorCodes.GZIP_CORRUPT)
  t.match((late as Error | null)?.message, /\/srv\/j\.gz/)
  t.ok(Buffer.concat(out).equals(member), 'every byte of the verified member first')
  await t.rejects(decoder.write(Buffer.from('x')), { code: ErrorCodes.GZIP_CORRUPT }, 'later writes fail too')
  await t.rejects(decoder.end(), { code: ErrorCodes.GZIP_CORRUPT })
  decoder.destroy()
})

t.test('a worker error surfaces while the input stays open (no write pending)', { skip: skipZs }, async (t) => {
  const member = journalText(20_000)
  const g = createGunzip({ inflater: 'zlib-sync-worker', file: '/srv/j.gz' })
  const out: Buffer[] = []
  const ended = new Promise<Error>((resolve) => {
    g.on('data', (c: Buffer) => out.push(c))
    g.on('error', resolve)
  })
  // No end(): the error must not wait for more input.
  g.write(Buffer.concat([gzipSync(member), Buffer.from('garbage after the member')]))
  const err = await ended
  t.equal(isLogdaemonError(err) && err.code, ErrorCodes.GZIP_CORRUPT)
  t.ok(Buffer.concat(out).equals(member), 'the verified member first')
  t.equal(g.verified, member.length)
})

t.test('the worker does not keep the process alive', { skip: skipZs || (existsSync(DIST_GUNZIP) ? false : 'run npm run build first') }, async (t) => {
  workerLetsProcessExit(
    t,
    (path) => `import { createReadStream } from 'node:fs'
      import { createGunzip } from ${JSON.stringify(DIST_GUNZIP.href)}
      const g = createReadStream(${path}).pipe(createGunzip({ inflater: 'zlib-sync-worker' }))`,
  )
})

t.test('archives through the worker: a .gz still being written is read whole, a cut one fails', { skip: skipZs }, async (t) => {
  const saved = process.env[INFLATER_ENV]
  process.env[INFLATER_ENV] = 'zlib-sync-worker'
  t.teardown(() => {
    if (saved === undefined) delete process.env[INFLATER_ENV]
    else process.env[INFLATER_ENV] = saved
  })
  const data = journalText(20_000)
  const gz = gzipSync(data)
  const path = join(t.testdir(), 'journal.3.gz')
  writeFileSync(path, gz.subarray(0, 100))
  setTimeout(() => writeFileSync(path, gz.subarray(0, gz.length - 10)), 40)
  setTimeout(() => writeFileSync(path, gz), 150)
  const r = await ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: 5000, gzipRetry: { pollMs: 20, stableMs: 600 } })
  const parts: Buffer[] = []
  for (let c = await r.read(); c; c = await r.read()) parts.push(c)
  t.ok(Buffer.concat(parts).equals(data.subarray(5000)), 'read whole')
  t.equal(r.verified, data.length, 'verified to the end')
  await r.close()

  writeFileSync(path, gz.subarray(0, gz.length >> 1))
  const cut = await ArchiveReader.open({ journal: 3, path, compressed: true }, { offset: 0, gzipRetry: { pollMs: 20, stableMs: 100 } })
  await t.rejects(
    (async () => {
      for (let c = await cut.read(); c; c = await cut.read());
    })(),
    { code: ErrorCodes.GZIP_TRUNCATED },
  )
  t.equal(cut.verified, 0, 'nothing verified in the cut member')
  await cut.close()
})

t.test('maybeGunzip with the worker passes plain data through', { skip: skipZs }, async (t) => {
  const data = journalText(1000)
  const g = maybeGunzip({ inflater: 'zlib-sync-worker' })
  g.end(data)
  const out: Buffer[] = []
  for await (const c of g) out.push(c as Buffer)
  t.ok(Buffer.concat(out).equals(data))
})
