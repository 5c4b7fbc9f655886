/**
 * gunzipFile: a regular .gz file inflated by a worker that reads the file
 * itself (logdaemon-cat's default for .gz files). The same bytes, errors
 * and `verified` as the stream path; null where the stream path must read
 * the input (not gzip, not a regular file, an inflater on this thread).
 */
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInflateRaw, gzipSync, type InflateRaw } from 'node:zlib'
import { ErrorCodes, isLogdaemonError, type LogdaemonError } from '../../lib/errors.js'
import { gunzipFile, type GunzipTransform } from '../../lib/files/gunzip.js'
import { WorkerGunzipDecoder } from '../../lib/files/gunzip-worker.js'
import { INFLATER_ENV, inflaterName, loadIsal, loadZlibSync, nodeSyncAvailable, selectFileInflater } from '../../lib/files/inflater.js'
import { DIST_GUNZIP, workerLetsProcessExit } from '../helpers/worker-exit.js'

const FIXTURE = fileURLToPath(new URL('../../../shared/fixtures/p4d/checkpoint-2014.ckp', import.meta.url))
const hasGzip = spawnSync('gzip', ['--version']).status === 0
const skipSync = nodeSyncAvailable() ? false : 'node:zlib cannot be driven synchronously here'

/** Text that compresses like a journal. */
function journalText(lines: number): Buffer {
  return Buffer.from(Array.from({ length: lines }, (_, i) => `@pv@ 3 @db.rev@ @//depot/f${(i * 7919) % 10007}.c@ ${i % 97} 0 \n`).join(''))
}

interface Read {
  out: Buffer
  error: LogdaemonError | null
  /** `verified` after each chunk, and the bytes handed on by then (read, or waiting in the stream). */
  steps: [verified: number, read: number][]
  progress: number
}

/** Reads `path` through gunzipFile as a slow reader does; what came out, and the error it ended on. */
async function readGz(path: string, inflater: 'auto' | 'node-worker' | 'zlib-sync-worker' | 'isal-worker' = 'auto'): Promise<Read> {
  let progress = 0
  const g = gunzipFile(path, { inflater, onRead: (n) => (progress += n) }) as GunzipTransform
  const out: Buffer[] = []
  const steps: [number, number][] = []
  let read = 0
  let error: LogdaemonError | null = null
  try {
    for await (const chunk of g) {
      out.push(chunk as Buffer)
      read += (chunk as Buffer).length
      steps.push([g.verified, read + g.readableLength])
      if (out.length % 8 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
  } catch (err) {
    if (!isLogdaemonError(err)) throw err
    error = err
  }
  return { out: Buffer.concat(out), error, steps, progress }
}

t.test('auto reads .gz files on a worker with ISA-L where its addon loads, else node:zlib (node-worker)', { skip: skipSync }, async (t) => {
  const saved = process.env[INFLATER_ENV]
  t.teardown(() => {
    if (saved === undefined) delete process.env[INFLATER_ENV]
    else process.env[INFLATER_ENV] = saved
  })
  delete process.env[INFLATER_ENV]
  const auto = loadIsal() ? 'isal-worker' : 'node:zlib-worker'
  if (!loadIsal()) t.comment('the ISA-L addon is not built here (libisal-dev missing at npm install): auto is node-worker')
  t.equal(selectFileInflater().name, auto)
  t.equal(inflaterName('file'), auto)
  t.equal(selectFileInflater('auto', { isalSpecifier: 'logdaemon-test-no-such-isal' }).name, 'node:zlib-worker', 'without the addon: node-worker')
  t.equal(inflaterName(), 'node:zlib', 'streams stay on node:zlib in the thread pool')
  t.equal(selectFileInflater('auto', { env: { [INFLATER_ENV]: 'node' } }).name, 'node:zlib', 'the environment wins')
  t.equal(selectFileInflater('node-sync').name, 'node:zlib-sync', 'the option wins')
  process.env[INFLATER_ENV] = 'node-sync'
  t.equal(inflaterName('file'), 'node:zlib-sync')
  const path = join(t.testdir(), 'j.gz')
  writeFileSync(path, gzipSync(journalText(100)))
  t.equal(gunzipFile(path), null, 'an inflater on this thread: the stream path reads the file')
})

t.test('null where the stream path must read the input', { skip: skipSync }, async (t) => {
  const dir = t.testdir()
  writeFileSync(join(dir, 'plain'), journalText(10))
  writeFileSync(join(dir, 'one-byte'), Buffer.from([0x1f]))
  writeFileSync(join(dir, 'empty'), '')
  mkdirSync(join(dir, 'dir.gz'))
  t.equal(gunzipFile(join(dir, 'plain'), { inflater: 'node-worker' }), null, 'not gzip')
  t.equal(gunzipFile(join(dir, 'one-byte'), { inflater: 'node-worker' }), null, 'too short to be gzip')
  t.equal(gunzipFile(join(dir, 'empty'), { inflater: 'node-worker' }), null, 'empty')
  t.equal(gunzipFile(join(dir, 'missing.gz'), { inflater: 'node-worker' }), null, 'missing: the reader reports it')
  t.equal(gunzipFile(join(dir, 'dir.gz'), { inflater: 'node-worker' }), null, 'a directory')
  if (spawnSync('mkfifo', [join(dir, 'fifo.gz')]).status === 0) {
    t.equal(gunzipFile(join(dir, 'fifo.gz'), { inflater: 'node-worker' }), null, 'a FIFO is neither opened nor read')
  }
  writeFileSync(join(dir, 'real.gz'), gzipSync(journalText(10)))
  symlinkSync(join(dir, 'real.gz'), join(dir, 'link.gz'))
  const r = await readGz(join(dir, 'link.gz'), 'node-worker')
  t.ok(r.out.equals(journalText(10)), 'a symbolic link to a .gz is followed')
})

t.test(
  'byte exact against gzip -dc, members, padding; verified in step; progress adds up to the file',
  { skip: skipSync || (hasGzip ? false : 'no gzip here') },
  async (t) => {
    const dir = t.testdir()
    const sources: [string, Buffer][] = [['journal text', journalText(60_000)]]
    if (existsSync(FIXTURE)) sources.push(['checkpoint-2014.ckp', readFileSync(FIXTURE)])
    else t.comment(`fixture not found at ${FIXTURE}: generated data only`)
    const engines: ('node-worker' | 'zlib-sync-worker' | 'isal-worker')[] = ['node-worker']
    if (loadZlibSync()) engines.push('zlib-sync-worker')
    if (loadIsal()) engines.push('isal-worker')
    else t.comment('the ISA-L addon is not built here: isal-worker not tried')
    for (const [name, data] of sources) {
      const path = join(dir, 'x')
      writeFileSync(path, data)
      const one = execFileSync('gzip', ['-c', path])
      const fast = execFileSync('gzip', ['-1', '-c', path])
      for (const [label, file] of [
        [name, one],
        [`${name}: two members`, Buffer.concat([one, fast])],
        [`${name}: two members and padding`, Buffer.concat([one, fast, Buffer.alloc(9)])],
      ] as const) {
        const gz = join(dir, 'f.gz')
        writeFileSync(gz, file)
        const want = spawnSync('gzip', ['-dc', gz], { maxBuffer: 1 << 30 }).stdout
        for (const engine of engines) {
          const r = await readGz(gz, engine)
          t.equal(r.error, null, `${label}, ${engine}: no error`)
          t.ok(r.out.equals(want), `${label}, ${engine}: same bytes as gzip -dc`)
          t.ok(
            r.steps.every(([verified, read]) => verified <= read),
            `${label}, ${engine}: verified never ahead of the output handed on`,
          )
          t.equal(r.progress, file.length, `${label}, ${engine}: progress counts every compressed byte`)
        }
      }
    }
  },
)

t.test('errors come after the verified output, with the code and offset of the stream path', { skip: skipSync }, async (t) => {
  const dir = t.testdir()
  const first = journalText(20_000)
  const member = gzipSync(first)
  const second = gzipSync(journalText(30_000))
  const cases: [string, Buffer, string][] = [
    ['a member and garbage', Buffer.concat([member, Buffer.from('garbage after the member')]), ErrorCodes.GZIP_CORRUPT],
    ['a member and a cut member', Buffer.concat([member, second.subarray(0, second.length - 100)]), ErrorCodes.GZIP_TRUNCATED],
    ['a cut header after a member', Buffer.concat([member, second.subarray(0, 5)]), ErrorCodes.GZIP_TRUNCATED],
  ]
  for (const [label, file, code] of cases) {
    const path = join(dir, 'bad.gz')
    writeFileSync(path, file)
    const r = await readGz(path, 'node-worker')
    t.equal(r.error?.code, code, `${label}: ${code}`)
    t.equal(r.error?.file, path, `${label}: names the file`)
    t.ok(r.out.subarray(0, first.length).equals(first), `${label}: the verified member came out whole first`)
    t.ok((r.error?.offset ?? -1) >= member.length, `${label}: the offset is past the good member (${r.error?.offset})`)
  }
  // A changed byte inside a stored block still inflates: only the CRC tells, and nothing of the member is verified.
  const stored = gzipSync(journalText(1000), { level: 0 })
  const at = stored.length - 200
  stored.writeUInt8(stored.readUInt8(at) ^ 1, at)
  writeFileSync(join(dir, 'crc.gz'), stored)
  const r = await readGz(join(dir, 'crc.gz'), 'node-worker')
  t.equal(r.error?.code, ErrorCodes.GZIP_CORRUPT, 'a bad CRC: ERR_GZIP_CORRUPT')
  t.equal(r.steps.at(-1)?.[0] ?? 0, 0, 'nothing verified')
})

t.test('a gzip bomb read slowly: the worker waits for the reader', { skip: skipSync }, async (t) => {
  const path = join(t.testdir(), 'bomb.gz')
  writeFileSync(path, gzipSync(Buffer.alloc(256 * 1024 * 1024), { level: 9 }))
  const g = gunzipFile(path, { inflater: 'node-worker' }) as GunzipTransform
  let read = 0
  for await (const chunk of g) {
    read += (chunk as Buffer).length
    if (read >= 4 * 1024 * 1024) break
  }
  // The worker stops once its window is out: held here at most the readable buffer plus the window.
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.ok(g.destroyed, 'breaking out of the loop destroys the stream (and terminates the worker)')
  t.ok(read < 8 * 1024 * 1024, `read ${read} bytes`)
})

t.test('the worker does not keep the process alive', { skip: skipSync || (existsSync(DIST_GUNZIP) ? false : 'run npm run build first') }, async (t) => {
  workerLetsProcessExit(
    t,
    (path) => `import { gunzipFile } from ${JSON.stringify(DIST_GUNZIP.href)}
      const g = gunzipFile(${path}, { inflater: 'node-worker' })`,
  )
})

t.test(
  'node-sync destroyed while its output waits: nothing is written to the closed handle',
  { skip: skipSync || (existsSync(DIST_GUNZIP) ? false : 'run npm run build first') },
  async (t) => {
    // Writing to a closed zlib handle aborts the process (a native assertion), so this runs in a child.
    const script = `import { gzipSync } from 'node:zlib'
    import { createGunzip } from ${JSON.stringify(DIST_GUNZIP.href)}
    const g = createGunzip({ inflater: 'node-sync' })
    g.write(gzipSync(Buffer.alloc(64 << 20)))
    g.once('data', () => g.destroy())
    g.on('close', () => setTimeout(() => console.log('alive'), 100))`
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000, encoding: 'utf8' })
    t.equal(r.status, 0, `exits cleanly (${r.signal ?? ''} ${r.stderr.slice(0, 300)})`)
    t.match(r.stdout, /^alive/)
  },
)

t.test('node-sync is used only where node:zlib can be driven synchronously', async (t) => {
  t.equal(nodeSyncAvailable(), nodeSyncAvailable(), 'checked once, the same answer')
  const noHandle = () => ({ destroy() {} }) as unknown as InflateRaw
  t.equal(nodeSyncAvailable(noHandle), false, 'a stream without the native handle')
  const throwing = () => {
    const stream = createInflateRaw() as InflateRaw & { _handle: { writeSync: () => void } }
    stream._handle.writeSync = () => {
      throw new Error('changed')
    }
    return stream
  }
  t.equal(nodeSyncAvailable(throwing), false, 'a handle whose writeSync fails')
  const silent = () => {
    const stream = createInflateRaw() as InflateRaw & { _handle: { onerror: unknown } }
    // A handle that never reports errors: corrupt data would go unnoticed.
    Object.defineProperty(stream._handle, 'onerror', { set() {}, get: () => () => {} })
    return stream
  }
  t.equal(nodeSyncAvailable(silent), false, 'a handle that does not report errors')
})

t.test('a worker that reads the file takes no input', { skip: skipSync }, async (t) => {
  const path = join(t.testdir(), 'j.gz')
  const data = journalText(1000)
  writeFileSync(path, gzipSync(data))
  const out: Buffer[] = []
  const decoder = new WorkerGunzipDecoder('node:zlib-worker', (c) => void out.push(Buffer.from(c)), { path, engine: 'node-sync' })
  await t.rejects(decoder.write(Buffer.from('x')), /reads its input from the file itself/)
  await decoder.end()
  decoder.destroy()
  t.ok(Buffer.concat(out).equals(data), 'the file, inflated')
  t.equal(decoder.verified, data.length)
})
