/**
 * Damage in a `.gz` that inflates to wrong bytes without a deflate error,
 * and breaks framing before the member's trailer is reached (a record's
 * leading `@` changed, inside a stored block). The framer fails first, but
 * the damage is the archive's: every reader waits for the member's CRC-32
 * and reports ERR_GZIP_CORRUPT, naming where framing failed, after the
 * records before that point. An archive that checks out but holds a bad
 * record still gives ERR_JOURNAL_MALFORMED, at the offset plain input gives.
 */
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { ErrorCodes, LogdaemonError } from '../lib/errors.js'
import { framingOrDamage } from '../lib/files/gzip-damage.js'
import { createJournalReader } from '../lib/journal/read-journal.js'
import { RotatingJournalSource } from '../lib/source/rotating-journal-source.js'

const BIN = fileURLToPath(new URL('../dist/bin/logdaemon-cat.js', import.meta.url))
const binSkip = existsSync(BIN) ? false : `built bin missing at ${BIN}: run npm run build`

/** 12,000 records (~600 KB), two a transaction. */
const RECORDS = 12_000
const journal = Buffer.from(
  Array.from({ length: RECORDS / 2 }, (_, i) => `@pv@ 1 @db.counters@ @counter${i}@ @${i}@ \n@ex@ ${1000 + (i % 50)} 1611008050\n`).join(''),
)
/** The record whose `@` is changed, and how many come before it. */
const BAD = Buffer.from('\n@pv@ 1 @db.counters@ @counter4000@')
const badAt = journal.indexOf(BAD) + 1
const before = 8000

/** The journal with the record at `badAt` starting with X: malformed there. */
function malformed(): Buffer {
  const text = Buffer.from(journal)
  text[badAt] = 0x58
  return text
}

/** The journal gzipped in stored blocks, with the record at `badAt` starting with X: it inflates, its CRC-32 fails. */
function damaged(): Buffer {
  const gz = gzipSync(journal, { level: 0 })
  const at = gz.indexOf(BAD) + 1
  gz[at] = 0x58
  return gz
}

async function readAll(file: string): Promise<{ n: number; err: LogdaemonError | null }> {
  let n = 0
  try {
    for await (const _ of createJournalReader(file)) n++
  } catch (err) {
    return { n, err: err as LogdaemonError }
  }
  return { n, err: null }
}

t.test('framingOrDamage: ERR_GZIP_CORRUPT only when the check found corrupt data', async (t) => {
  const framing = new LogdaemonError(ErrorCodes.JOURNAL_MALFORMED, 'j.gz: journal 3, offset 10, line 2: a record must start with @op@', {
    file: 'j.gz',
    journal: 3,
    offset: 10,
    line: 2,
  })
  const corrupt = new LogdaemonError(ErrorCodes.GZIP_CORRUPT, 'j.gz: offset 99: corrupt gzip data (incorrect data check)', { file: 'j.gz', offset: 99 })
  const truncated = new LogdaemonError(ErrorCodes.GZIP_TRUNCATED, 'j.gz: offset 99: cut', { file: 'j.gz', offset: 99 })
  t.equal(framingOrDamage(framing, null), framing, 'the member checked out')
  t.equal(framingOrDamage(framing, truncated), framing, 'a cut file says nothing of the bytes before the cut')
  t.equal(framingOrDamage(framing, new Error('EIO')), framing, 'nor does a read error')
  const both = framingOrDamage(framing, corrupt) as LogdaemonError
  t.equal(both.code, ErrorCodes.GZIP_CORRUPT)
  t.same([both.file, both.offset, both.journal], ['j.gz', 99, 3], 'at the compressed offset the check failed, in journal 3')
  t.equal(both.cause, framing)
  t.same(both.details, { framing: { code: ErrorCodes.JOURNAL_MALFORMED, offset: 10, line: 2 } })
  // A bad byte after the record's start: said once, after the position, which is not said twice.
  const inRecord = new LogdaemonError(
    ErrorCodes.JOURNAL_MALFORMED,
    'j.gz: journal 3, offset 10, line 2 (bad byte at offset 44, line 2): byte 0x58 after a closing @ (expected a space or the end of the line)',
    { file: 'j.gz', journal: 3, offset: 10, line: 2, details: { byteOffset: 44, byteLine: 2 } },
  )
  t.equal(
    framingOrDamage(inRecord, corrupt).message,
    'j.gz: offset 99: corrupt gzip data (incorrect data check). Framing had already failed inside the damaged member at journal 3, offset 10, line 2 (bad byte at offset 44, line 2): byte 0x58 after a closing @ (expected a space or the end of the line) [ERR_JOURNAL_MALFORMED]',
  )
  t.equal(
    both.message,
    'j.gz: offset 99: corrupt gzip data (incorrect data check). Framing had already failed inside the damaged member at journal 3, offset 10, line 2: a record must start with @op@ [ERR_JOURNAL_MALFORMED]',
  )
})

t.test('createJournalReader: damage is ERR_GZIP_CORRUPT after the records before it; a bad record in a sound archive is ERR_JOURNAL_MALFORMED', async (t) => {
  const dir = t.testdir()
  writeFileSync(join(dir, 'journal.5.gz'), damaged())
  writeFileSync(join(dir, 'bad.jnl'), malformed())
  writeFileSync(join(dir, 'bad.jnl.gz'), gzipSync(malformed(), { level: 1 }))

  const gz = await readAll(join(dir, 'journal.5.gz'))
  t.equal(gz.n, before, 'every record before the damage')
  t.equal(gz.err?.code, ErrorCodes.GZIP_CORRUPT)
  t.equal(gz.err?.file, join(dir, 'journal.5.gz'))
  t.equal(gz.err?.journal, 5)
  t.match(gz.err?.message, `Framing had already failed inside the damaged member at journal 5, offset ${badAt}, line ${before + 1}`)

  const plain = await readAll(join(dir, 'bad.jnl'))
  const sound = await readAll(join(dir, 'bad.jnl.gz'))
  t.equal(plain.err?.code, ErrorCodes.JOURNAL_MALFORMED)
  t.equal(sound.err?.code, ErrorCodes.JOURNAL_MALFORMED, 'the archive checks out: the record is bad')
  t.same([sound.n, sound.err?.offset, sound.err?.line], [plain.n, plain.err?.offset, plain.err?.line])
  t.same([sound.n, sound.err?.offset], [before, badAt])
})

t.test('the check stops at the end of the damaged member: the next members are not read', async (t) => {
  const dir = t.testdir()
  const first = damaged()
  // A second member of 30 MB of records: reading it would put the error's offset past the first member.
  const second = gzipSync(Buffer.concat(Array.from({ length: 50 }, () => journal)), { level: 1 })
  const file = join(dir, 'journal.2.gz')
  writeFileSync(file, Buffer.concat([first, second]))
  const { n, err } = await readAll(file)
  t.equal(n, before)
  t.equal(err?.code, ErrorCodes.GZIP_CORRUPT)
  t.ok(err?.offset !== null && (err?.offset as number) <= first.length, `the CRC-32 of the first member (${err?.offset} <= ${first.length})`)
})

t.test('RotatingJournalSource: damage in journal.1.gz is ERR_GZIP_CORRUPT of journal 1; a bad record in a sound one is ERR_JOURNAL_MALFORMED', async (t) => {
  const run = async (archive: Buffer): Promise<{ n: number; err: LogdaemonError | null }> => {
    const root = join(t.testdir(), 'root')
    mkdirSync(root)
    writeFileSync(join(root, 'journal.1.gz'), archive)
    writeFileSync(join(root, 'journal'), '')
    const source = new RotatingJournalSource({ root, from: 1 })
    let n = 0
    try {
      for await (const _ of source) n++
    } catch (err) {
      return { n, err: err as LogdaemonError }
    }
    return { n, err: null }
  }
  const bad = await run(damaged())
  t.equal(bad.n, before)
  t.equal(bad.err?.code, ErrorCodes.GZIP_CORRUPT)
  t.equal(bad.err?.journal, 1)
  t.match(bad.err?.message, `journal.1.gz: offset `)
  t.match(bad.err?.message, `at journal 1, offset ${badAt}, line ${before + 1}: a record must start with @op@`)

  const sound = await run(gzipSync(malformed()))
  t.equal(sound.n, before)
  t.equal(sound.err?.code, ErrorCodes.JOURNAL_MALFORMED)
  t.equal(sound.err?.offset, badAt)
})

t.test('logdaemon-cat, serial and in chunks, each inflater: the records before the damage, then ERR_GZIP_CORRUPT', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'journal.7.gz')
  writeFileSync(file, damaged())
  const sound = join(dir, 'sound.gz')
  writeFileSync(sound, gzipSync(malformed()))
  const expected = journal.subarray(0, badAt)
  for (const inflater of ['auto', 'node', 'node-worker', 'isal', 'zlib-sync']) {
    for (const threads of ['1', '2']) {
      const cat = (f: string) =>
        spawnSync(process.execPath, [BIN, '--no-progress', '--threads', threads, f], {
          // Chunks of 64 KiB: the chunked path (threads 2) on a small file.
          env: { ...process.env, LOGDAEMON_CAT_RANGE_BYTES: '65536', LOGDAEMON_INFLATER: inflater, LOGDAEMON_THREADS: '' },
          maxBuffer: 1 << 26,
          timeout: 60_000,
        })
      const r = cat(file)
      const stderr = r.stderr.toString()
      if (/cannot be loaded|is not an inflater/.test(stderr)) {
        t.comment(`${inflater}: not built here (${stderr.trim()})`)
        continue
      }
      t.equal(r.status, 1, `${inflater}, --threads ${threads}: fails`)
      t.ok(r.stdout.equals(expected), `${inflater}, --threads ${threads}: every record before the damage (${r.stdout.length} of ${expected.length} bytes)`)
      t.match(stderr, /\[ERR_GZIP_CORRUPT\]\n$/, `${inflater}, --threads ${threads}: ${stderr.trim()}`)
      t.match(stderr, `inside the damaged member at journal 7, offset ${badAt}, line ${before + 1}`)
      const s = cat(sound)
      t.match(s.stderr.toString(), `offset ${badAt}, line ${before + 1}: a record must start with @op@ [ERR_JOURNAL_MALFORMED]\n`)
      t.ok(s.stdout.equals(expected), `${inflater}, --threads ${threads}: a sound archive with a bad record`)
    }
  }
})

t.test(
  'input held open (stdin, a FIFO): a framing error in a member that checks out is reported once it is checked, not at the end of the input',
  async (t) => {
    // The trailer comes after the member's last output: nothing more is written after it, and the input stays open.
    const sound = gzipSync(malformed())
    for (const inflater of ['node', 'node-worker', 'zlib-sync']) {
      const saved = process.env.LOGDAEMON_INFLATER
      process.env.LOGDAEMON_INFLATER = inflater
      const input = new PassThrough()
      const reader = createJournalReader(null, { input })
      if (saved === undefined) delete process.env.LOGDAEMON_INFLATER
      else process.env.LOGDAEMON_INFLATER = saved
      input.write(sound.subarray(0, sound.length - 8))
      setTimeout(() => input.write(sound.subarray(sound.length - 8)), 100)
      let n = 0
      const read = (async () => {
        try {
          for await (const _ of reader) n++
        } catch (err) {
          return err as LogdaemonError
        }
        return null
      })()
      let timer: NodeJS.Timeout | undefined
      const waiting = new Promise<'waiting'>((resolve) => {
        timer = setTimeout(() => resolve('waiting'), 5000)
      })
      const err = await Promise.race([read, waiting])
      clearTimeout(timer)
      t.not(err, 'waiting', `${inflater}: not waiting for the end of the input`)
      if (err === 'waiting') {
        input.end()
        await read
        continue
      }
      t.equal(err?.code, ErrorCodes.JOURNAL_MALFORMED, inflater)
      t.equal(err?.offset, badAt)
      t.equal(n, before)
      // A member written after it gives no entries: the stream has failed.
      input.end(gzipSync(journal))
      t.equal(n, before)
    }
  },
)

t.test(
  'logdaemon-cat - with stdin held open: the framing error in a sound member is reported without waiting for the end of stdin',
  { skip: binSkip },
  async (t) => {
    const sound = gzipSync(malformed())
    const child = spawn(process.execPath, [BIN, '--no-progress', '-'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = Buffer.alloc(0)
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout = Buffer.concat([stdout, d])
    })
    child.stdin.write(sound.subarray(0, sound.length - 8))
    setTimeout(() => child.stdin.write(sound.subarray(sound.length - 8)), 100)
    const said = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve(stderr), 10_000)
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString()
        if (stderr.endsWith('\n')) {
          clearTimeout(timer)
          resolve(stderr)
        }
      })
    })
    child.stdin.end()
    await new Promise((resolve) => child.on('close', resolve))
    t.match(said, `offset ${badAt}, line ${before + 1}: a record must start with @op@ [ERR_JOURNAL_MALFORMED]`, 'said while stdin is open')
    t.ok(stdout.equals(journal.subarray(0, badAt)), 'every record before it')
  },
)

t.test('logdaemon-cat: a record across two members, damage in the second: ERR_GZIP_CORRUPT serial and in chunks', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  // The first member ends 10 bytes into the record at badAt, and checks out; the second (stored) has the byte
  // after that record's `@counter4000@` changed: framing fails at the record's start, in the first member.
  const split = badAt + 10
  const second = gzipSync(journal.subarray(split), { level: 0 })
  const at = second.indexOf('@counter4000@ ') + '@counter4000@'.length
  second[at] = 0x58
  const file = join(dir, 'journal.3.gz')
  writeFileSync(file, Buffer.concat([gzipSync(journal.subarray(0, split)), second]))
  for (const threads of ['1', '2']) {
    const r = spawnSync(process.execPath, [BIN, '--no-progress', '--threads', threads, file], {
      env: { ...process.env, LOGDAEMON_CAT_RANGE_BYTES: '65536', LOGDAEMON_THREADS: '' },
      maxBuffer: 1 << 26,
      timeout: 60_000,
    })
    const stderr = r.stderr.toString()
    t.match(stderr, /\[ERR_GZIP_CORRUPT\]\n$/, `--threads ${threads}: ${stderr.trim()}`)
    t.match(stderr, `inside the damaged member at journal 3, offset ${badAt}, line ${before + 1}`)
    t.ok(r.stdout.equals(journal.subarray(0, badAt)), `--threads ${threads}: every record before the damaged one`)
  }
})

t.test(
  'logdaemon-cat --threads 1, a .gz whose value never closes, past --max-entry-bytes: checking the rest of its member costs time, not memory',
  { skip: binSkip },
  async (t) => {
    const { createWriteStream } = await import('node:fs')
    const { Readable } = await import('node:stream')
    const { pipeline } = await import('node:stream/promises')
    const { createGzip } = await import('node:zlib')
    const dir = t.testdir()
    const head = '@ex@ 1 2\n'.repeat(1000)
    // One member of `mib` MiB of one quoted value without its end: framing fails at 48 MiB, then the member is inflated
    // to its trailer (the check of gzip damage), a few MiB more or 150 MiB more.
    const write = async (file: string, mib: number): Promise<void> => {
      const body = function* () {
        yield Buffer.from(`${head}@pv@ 1 @db.desc@ @`)
        const block = Buffer.alloc(1 << 20, 'y\n')
        for (let i = 0; i < mib; i++) yield block
      }
      await pipeline(Readable.from(body()), createGzip({ level: 1 }), createWriteStream(join(dir, file)))
    }
    await write('journal.3.gz', 52)
    await write('journal.4.gz', 200)
    // The child's peak RSS (VmHWM: its own; getrusage's maxRSS keeps the parent's peak from the fork), on stderr as it exits.
    const rss =
      'data:text/javascript,import{readFileSync}from"node:fs";process.on("exit",()=>process.stderr.write("maxRSS "+/VmHWM:\\s*(\\d+)/.exec(readFileSync("/proc/self/status","latin1"))[1]+"\\n"))'
    const run = (file: string) => {
      const r = spawnSync(process.execPath, ['--import', rss, BIN, '--no-progress', '--threads', '1', '--max-entry-bytes', String(48 << 20), join(dir, file)], {
        // Without tap's loader (NODE_OPTIONS), which the inflate worker would load too.
        env: { ...process.env, NODE_OPTIONS: '', LOGDAEMON_CAT_RANGE_BYTES: '', LOGDAEMON_THREADS: '', LOGDAEMON_INFLATER: '' },
        maxBuffer: 1 << 26,
        timeout: 120_000,
      })
      const stderr = r.stderr.toString()
      return { status: r.status, stdout: r.stdout, message: stderr.replace(/maxRSS \d+\n/, ''), mb: Number(/maxRSS (\d+)/.exec(stderr)?.[1]) / 1024 }
    }
    const short = run('journal.3.gz')
    const long = run('journal.4.gz')
    for (const [n, r] of [
      [3, short],
      [4, long],
    ] as const) {
      t.equal(r.status, 1)
      t.match(r.message, `journal ${n}, offset ${head.length}, line 1001: record of more than ${48 << 20} bytes (maxEntryBytes) [ERR_ENTRY_TOO_LARGE]`)
      t.ok(r.stdout.equals(Buffer.from(head)), `journal ${n}: every record before it`)
    }
    // The failed framer kept the record's 48 MiB while the rest of the member was inflated, and the drained output
    // piled up as garbage beside it (a probe, 64 MiB limit: 149 MB peak RSS for 80 MB inflated, 210 MB for 300 MB).
    t.ok(long.mb < short.mb + 25, `peak RSS ${long.mb.toFixed(0)} MB for 200 MiB inflated, ${short.mb.toFixed(0)} MB for 52 MiB`)
  },
)
