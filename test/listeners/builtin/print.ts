import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import { PassThrough, Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ListenerChain } from '../../../lib/listeners/listener-chain.js'
import { PrintListener, create, optionsSchema } from '../../../lib/listeners/builtin/print/print.js'
import { entriesOf } from '../../helpers/entries.js'

const { bytes, entries } = entriesOf(
  [
    { op: 'pv', version: 9, table: 'db.rev', fields: ['//depot/a.c', 1] },
    { op: 'pv', version: 3, table: 'db.revsx', fields: ['//depot/b.c', 2] },
    { op: 'dv', version: 1, table: 'db.counters', fields: ['change', '7'] },
    { op: 'ex', fields: [42, 1700000000] },
  ],
  12,
)

function sink(): { out: PassThrough; text: () => string } {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  return { out, text: () => Buffer.concat(chunks).toString('utf8') }
}

t.test('NDJSON by default, one object per entry, as logdaemon-cat --format json', async (t) => {
  const { out, text } = sink()
  const print = new PrintListener({ ...optionsSchema.parse({}), output: out })
  await pipeline(Readable.from(entries), new ListenerChain({ listeners: [print] }))
  const lines = text()
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l))
  t.equal(lines.length, 4)
  t.match(lines[0], { file: null, journal: 12, offset: 0, line: 1, op: 'pv', version: 9, table: 'db.rev', fields: ['//depot/a.c', '1'] })
  t.match(lines[3], { op: 'ex', table: null, fields: ['42', '1700000000'] })
  t.notOk(out.writableEnded, 'a given stream is never ended')
})

t.test('row format: data records named and typed by the schema, others as json', async (t) => {
  const { out, text } = sink()
  const print = new PrintListener({ ...optionsSchema.parse({ format: 'row' }), output: out })
  await pipeline(Readable.from(entries), new ListenerChain({ listeners: [print] }))
  const lines = text()
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l))
  t.equal(lines.length, 4)
  t.same(lines[2], {
    file: null,
    journal: 12,
    offset: lines[2].offset,
    end: lines[2].end,
    line: 3,
    op: 'dv',
    table: 'db.counters',
    version: 1,
    row: { name: 'change', value: '7' },
    key: { name: 'change' },
  })
  // db.rev 9 is documented with 14 columns: the two fields are named, nothing else is made up.
  t.same(lines[0].row, { depotFile: '//depot/a.c', depotRev: 1 })
  t.same(lines[0].key, { depotFile: '//depot/a.c', depotRev: 1 })
  // db.revsx 3 is not documented: positional text, no key.
  t.same(lines[1].row, { field0: '//depot/b.c', field1: '2' })
  t.equal(lines[1].key, null)
  t.match(lines[3], { op: 'ex', table: null, fields: ['42', '1700000000'] })
})

t.test('raw output is the exact bytes; --table wildcards and --op filter', async (t) => {
  const { out, text } = sink()
  const print = new PrintListener({ ...optionsSchema.parse({ format: 'raw', table: ['db.rev*'] }), output: out })
  await pipeline(Readable.from(entries), new ListenerChain({ listeners: [print] }))
  t.equal(text(), Buffer.concat([entries[0]!.raw, entries[1]!.raw]).toString('utf8'))
  const all = sink()
  const raw = new PrintListener({ ...optionsSchema.parse({ format: 'raw' }), output: all.out })
  await pipeline(Readable.from(entries), new ListenerChain({ listeners: [raw] }))
  t.equal(all.text(), bytes.toString('utf8'))
  const ops = sink()
  const onlyDv = new PrintListener({ ...optionsSchema.parse({ format: 'raw', op: ['dv', 'ex'], table: ['db.counters'] }), output: ops.out })
  await pipeline(Readable.from(entries), new ListenerChain({ listeners: [onlyDv] }))
  t.equal(ops.text(), entries[2]!.raw.toString('utf8'), 'both filters apply: @ex@ has no table')
})

t.test('appends to a file relative to the configuration, syncs it, and closes it', async (t) => {
  const dir = t.testdir({ 'out.jnl': 'before\n' })
  const print = create(optionsSchema.parse({ format: 'raw', output: 'out.jnl' }), { name: 'tee', baseDir: dir })
  t.equal(print.name, 'tee')
  await pipeline(Readable.from(entries), new ListenerChain({ listeners: [print] }))
  t.equal(readFileSync(join(dir, 'out.jnl'), 'utf8'), 'before\n' + bytes.toString('utf8'))
})

t.test('a device or a FIFO as output: written and synced (fsync is for files); a FIFO with no reader fails at once', async (t) => {
  // fsync on /dev/null is EINVAL: every sync failed, and the daemon stopped with ERR_LISTENER_FAILED.
  const devnull = create(optionsSchema.parse({ format: 'raw', output: '/dev/null' }), { name: 'null', baseDir: '/' })
  await pipeline(Readable.from(entries), new ListenerChain({ listeners: [devnull], retry: { retries: 0 } }))
  t.pass('/dev/null: every entry written, synced and closed')
  const dir = t.testdir()
  const fifo = join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  const reader = spawn('cat', [fifo])
  const got: Buffer[] = []
  reader.stdout.on('data', (c: Buffer) => got.push(c))
  const exited = once(reader, 'exit')
  // The reader opens the FIFO after it starts: until then the open fails (ENXIO), and is retried.
  const piped = create(optionsSchema.parse({ format: 'raw', output: fifo }), { name: 'fifo', baseDir: dir })
  for (let tries = 0; ; tries++) {
    try {
      await piped.open?.({} as never)
      break
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENXIO' || tries > 200) throw err
      await sleep(10)
    }
  }
  await pipeline(Readable.from(entries), new ListenerChain({ listeners: [piped] }))
  await exited
  t.same(Buffer.concat(got), bytes, 'a FIFO with a reader: every byte, synced without fsync')
  const alone = create(optionsSchema.parse({ format: 'raw', output: fifo }), { name: 'alone', baseDir: dir })
  const started = Date.now()
  await t.rejects(Promise.resolve(alone.open?.({} as never)), { code: 'ENXIO', message: /is a FIFO that nothing reads/ }, 'no reader: refused at once')
  t.ok(Date.now() - started < 1000, 'without waiting for a reader')
})

t.test('an output that cannot be opened rejects the open with the system error; a directory, or a path through a file, is not retried', async (t) => {
  const dir = t.testdir({ sub: {}, afile: 'x', ro: {} })
  const open = (output: string) => Promise.resolve(create(optionsSchema.parse({ format: 'raw', output }), { name: 'p', baseDir: dir }).open?.({} as never))
  await t.rejects(open('sub'), { code: 'EISDIR', retryable: false })
  await t.rejects(open('afile/out'), { code: 'ENOTDIR', retryable: false })
  const missing = await open('nodir/out').catch((e: unknown) => e)
  t.match(missing, { code: 'ENOENT' }, 'a missing directory may be made meanwhile: retried')
  t.not((missing as { retryable?: unknown }).retryable, false)
  // Through the chain, with retries an hour apart: it fails at once, not after them.
  const print = create(optionsSchema.parse({ format: 'raw', output: 'sub' }), { name: 'dir', baseDir: dir })
  const chain = new ListenerChain({ listeners: [{ listener: print, retry: { retries: 3, minTimeout: 3_600_000 } }] })
  const err = await pipeline(Readable.from(entries), chain).catch((e: unknown) => e)
  t.match(err, { code: 'ERR_LISTENER_FAILED', message: /EISDIR/ })
})

t.test('waits for a slow output to drain', async (t) => {
  let release: (() => void) | null = null
  const written: string[] = []
  const slow = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk.toString())
      release = () => cb()
    },
  })
  const print = new PrintListener({ ...optionsSchema.parse({ format: 'raw' }), output: slow })
  const first = print.listen(entries[0]!)
  t.type(first, Promise, 'the write was over the highWaterMark: listen waits')
  let done = false
  void (first as Promise<void>).then(() => (done = true))
  await new Promise((r) => setImmediate(r))
  t.notOk(done)
  ;(release as unknown as () => void)()
  await first
  t.equal(written.length, 1)
})

t.test('an output error fails the next entry', async (t) => {
  const broken = new Writable({
    write(_c, _e, cb) {
      cb(Object.assign(new Error('EPIPE'), { code: 'EPIPE' }))
    },
  })
  broken.on('error', () => {})
  const print = new PrintListener({ ...optionsSchema.parse({ format: 'raw' }), output: broken })
  await pipeline(Readable.from(entries), new ListenerChain({ listeners: [print], retry: { retries: 0 } })).then(
    () => t.fail('should fail'),
    (err: { code: string; cause: { code: string } }) => {
      t.equal(err.code, 'ERR_LISTENER_FAILED')
      t.equal(err.cause.code, 'EPIPE')
    },
  )
})

t.test('options schema: defaults and strictness', async (t) => {
  t.same(optionsSchema.parse({}), { format: 'json', output: '-', table: [], op: [], encoding: 'utf8' })
  t.notOk(optionsSchema.safeParse({ tables: ['x'] }).success)
  const stdoutPrint = create(optionsSchema.parse({}), { name: 'print' })
  await stdoutPrint.close()
  t.notOk(process.stdout.writableEnded, 'standard output is never ended')
})
