import t from 'tap'
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodeRecord } from '../../../../lib/journal/encoder.js'
import { JournalEntry } from '../../../../lib/journal/entry.js'
import type { JournalPosition } from '../../../../lib/position.js'
import { create, HotBackupListener, optionsSchema, type HotBackupOptions } from '../../../../lib/listeners/builtin/hot-backup/hot-backup.js'
import { remoteCommand, shellQuote } from '../../../../lib/listeners/builtin/hot-backup/hot-backup-remote.js'
import type { ListenerContext, ListenerLogger } from '../../../../lib/listeners/listener.js'
import { RecordGenerator } from '../../../../lib/sim/record-generator.js'
import { frame } from '../../../helpers/collect.js'
import { fixtureNames, fixturesSkip, readFixture } from '../../../helpers/fixtures.js'
import { startSshd, sshdSkip, type Sshd } from '../../../helpers/sshd.js'

// ------------------------------------------------------------------ helpers

interface Logged {
  level: string
  msg: string
}

function logger(into: Logged[]): ListenerLogger {
  const at = (level: string) => (obj: object | string, msg?: string) => void into.push({ level, msg: msg ?? String(obj) })
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

function context(start: JournalPosition | null, log: Logged[] = []): ListenerContext {
  return { start, logger: logger(log), signal: new AbortController().signal }
}

/** Options for the fixture sshd, remote files under `dir`. */
function options(sshd: Sshd, dir: string, extra: Partial<HotBackupOptions> = {}): HotBackupOptions {
  return optionsSchema.parse({
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    identityFile: sshd.identityFile,
    knownHostsFile: sshd.knownHosts,
    sshConfigFile: 'none',
    sshOptions: { GlobalKnownHostsFile: '/dev/null' },
    remoteDir: dir,
    reconnect: { retries: 10, minTimeout: 10, maxTimeout: 200, factor: 2 },
    ...extra,
  })
}

const entriesOf = (bytes: Buffer, journal: number): Promise<JournalEntry[]> => frame([bytes], { journal })

const end = (entries: JournalEntry[]): JournalPosition => {
  const last = entries[entries.length - 1] as JournalEntry
  return { journal: last.position.journal as number, offset: last.position.end }
}

const remote = (dir: string, n: number): Buffer => {
  const f = join(dir, `journal.${n}`)
  return existsSync(f) ? readFileSync(f) : Buffer.alloc(0)
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Transactions with hostile values: multi-line, `@`, CR, bytes that are not UTF-8. `size` pads one value. */
function transaction(i: number, size = 0): Buffer {
  return Buffer.concat([
    encodeRecord({ op: 'pv', version: 9, table: 'db.rev', fields: [`//depot/main/f${i}.c`, i, 0, 1, 1234, 1611008050, 'D41D8CD98F00B204E9800998ECF8427E'] }),
    encodeRecord({
      op: 'pv',
      version: 0,
      table: 'db.desc',
      fields: [i, `change ${i}\n@ex@ 1 2\nspam@@example.com\r\n` + 'x'.repeat(size), Buffer.from([0xff, 0xfe, 0x40, 0x0a, 0x00])],
    }),
    encodeRecord({ op: 'ex', fields: [1000 + (i % 7), 1611008050 + i] }),
  ])
}

function transactions(from: number, count: number, size = 0): Buffer {
  return Buffer.concat(Array.from({ length: count }, (_, k) => transaction(from + k, size)))
}

/** The real remote command, its answers passed through a shell loop that may hold or log them. */
function wrapped(dir: string, perAnswer: string): string {
  return `${remoteCommand({ dir, replay: null })} | while IFS= read -r l; do ${perAnswer} printf '%s\\n' "$l"; done`
}

/** Acknowledgements wait until `gate` exists. */
const gated = (dir: string, gate: string) => wrapped(dir, `case $l in A*) while [ ! -e ${shellQuote(gate)} ]; do sleep 0.02; done;; esac;`)

/** Every answer is also appended to `log`. */
const logged = (dir: string, log: string) => wrapped(dir, `printf '%s\\n' "$l" >> ${shellQuote(log)};`)

// ------------------------------------------------------------ no sshd needed

t.test('isHandled: every complete entry, no incomplete one', async (t) => {
  const l = create(optionsSchema.parse({ host: 'h', remoteDir: 'd' }), { name: 'hb' })
  t.equal(l.name, 'hb')
  const raw = encodeRecord({ op: 'ex', fields: [1, 2] })
  const pos = { journal: 1, offset: 0, end: raw.length, line: 1 }
  t.equal(l.isHandled(new JournalEntry(raw, pos)), true)
  t.equal(l.isHandled(new JournalEntry(raw.subarray(0, 4), pos, { incomplete: true })), false)
  await l.close()
  await t.rejects(l.listen(new JournalEntry(raw, pos)), { code: 'ERR_REMOTE_FAILED', message: /closed/ })
})

t.test('an unnumbered journal is refused', async (t) => {
  const l = new HotBackupListener(optionsSchema.parse({ host: 'h', remoteDir: 'd' }))
  const [e] = await frame([transaction(1)])
  await t.rejects(l.listen(e as JournalEntry), { code: 'ERR_JOURNAL_UNNUMBERED', retryable: false })
})

// ------------------------------------------------------------ against sshd

t.test('against a real sshd', { skip: sshdSkip }, async (t) => {
  const root = t.testdir()
  const sshd = await startSshd(root)
  t.teardown(() => sshd.stop())
  let seq = 0
  const dir = (): string => join(root, `remote-${++seq}`)

  t.test('real p4d fixtures arrive byte for byte, one journal each', { skip: fixturesSkip }, async (t) => {
    const d = dir()
    const l = new HotBackupListener(options(sshd, d))
    await l.open(context({ journal: 10, offset: 0 }))
    const names = fixtureNames()
    let last: JournalPosition = { journal: 10, offset: 0 }
    for (const [i, name] of names.entries()) {
      const entries = await entriesOf(readFixture(name), 10 + i)
      if (i > 0) (entries[0] as JournalEntry).didRotate = true
      for (const e of entries) if (l.isHandled(e)) await l.listen(e)
      last = end(entries)
    }
    await l.sync(last)
    t.equal(l.heldBytes, 0, 'nothing held after sync')
    await l.close()
    for (const [i, name] of names.entries()) t.ok(remote(d, 10 + i).equals(readFixture(name)), `${name} is byte-identical on the standby`)
  })

  t.test('simulated p4d transactions, interleaved ones too: only whole transactions are sent', async (t) => {
    const d = dir()
    const acks = join(root, `acks-${seq}`)
    const gen = new RecordGenerator(4242)
    const ends = new Set<number>()
    const batches: Buffer[] = []
    let bytes = 0
    let interleaved = 0
    while (bytes < 2_000_000) {
      const b = gen.next()
      batches.push(...b.records)
      bytes += b.bytes
      ends.add(bytes)
      if (b.interleaved) interleaved++
    }
    const source = Buffer.concat(batches)
    const entries = await entriesOf(source, 2)
    // What the rotating source does: a consistency point where no transaction is open.
    for (const e of entries) e.consistent = ends.has(e.position.end)
    const l = new HotBackupListener(options(sshd, d, { remoteCommand: logged(d, acks) }))
    await l.open(context({ journal: 2, offset: 0 }))
    for (const e of entries) await l.listen(e)
    await l.sync(end(entries))
    await l.close()
    t.ok(interleaved > 0, `${interleaved} interleaved batches`)
    t.ok(remote(d, 2).equals(source), `byte-identical (${source.length} bytes, ${entries.length} records)`)
    const sizes = readFileSync(acks, 'latin1')
      .trim()
      .split('\n')
      .filter((a) => a.startsWith('A '))
      .map((a) => Number(a.split(' ')[2]))
    t.ok(sizes.length > 1, `${sizes.length} writes`)
    t.same(
      sizes.filter((s) => !ends.has(s)),
      [],
      'every write ended at a consistency point',
    )
  })

  t.test('generated transactions, with a sync after each one: the standby has them when sync resolves', async (t) => {
    const d = dir()
    const l = new HotBackupListener(options(sshd, d))
    await l.open(context({ journal: 1, offset: 0 }))
    const bytes = transactions(0, 100)
    const entries = await entriesOf(bytes, 1)
    for (const e of entries) {
      await l.listen(e)
      if (e.op === 'ex') {
        await l.sync({ journal: 1, offset: e.position.end })
        const got = remote(d, 1)
        if (got.length < e.position.end || !got.subarray(0, e.position.end).equals(bytes.subarray(0, e.position.end))) {
          t.fail(`after sync(1/${e.position.end}) the standby has ${got.length} bytes`)
          break
        }
      }
    }
    l.noData(true)
    await l.close()
    t.ok(remote(d, 1).equals(bytes), 'byte-identical')
  })

  t.test('sync waits for the acknowledgement, not for the bytes to arrive', async (t) => {
    const d = dir()
    const gate = join(root, `gate-${seq}`)
    const l = new HotBackupListener(options(sshd, d, { remoteCommand: gated(d, gate) }))
    await l.open(context({ journal: 1, offset: 0 }))
    const bytes = transactions(0, 3)
    const entries = await entriesOf(bytes, 1)
    for (const e of entries) await l.listen(e)
    let synced = false
    const s = l.sync(end(entries)).then(() => (synced = true))
    while (remote(d, 1).length < bytes.length) await tick(10)
    t.ok(remote(d, 1).equals(bytes), 'the bytes are on the standby')
    await tick(50)
    t.equal(synced, false, 'sync has not resolved before the acknowledgement')
    writeFileSync(gate, '')
    await s
    t.equal(synced, true, 'sync resolves once acknowledged')
    await l.close()
  })

  t.test('close ends a sync that waits for the standby', async (t) => {
    const mute = 'echo "H logdaemon-hot-backup 1"; while read -r c j o n; do case $c in P) echo "S $j 0";; W) head -c $n > /dev/null;; esac; done'
    const l = new HotBackupListener(options(sshd, dir(), { remoteCommand: mute }))
    await l.open(context(null))
    const entries = await entriesOf(transactions(0, 1), 1)
    for (const e of entries) await l.listen(e)
    const syncing = l.sync(end(entries))
    await tick(50)
    await l.close()
    await t.rejects(syncing, { code: 'ERR_REMOTE_FAILED', message: /closed/ })
  })

  t.test('a standby that stops answering (its disk or replay hangs) fails the connection after answerTimeout', async (t) => {
    // Acknowledges nothing: ssh's keepalive sees a live connection, so only the answer timeout can end the wait.
    const mute = 'echo "H logdaemon-hot-backup 1"; while read -r c j o n; do case $c in P) echo "S $j 0";; W) head -c $n > /dev/null;; esac; done'
    const l = new HotBackupListener(options(sshd, dir(), { remoteCommand: mute, answerTimeout: 1, reconnect: { retries: 1, minTimeout: 10 } }))
    await l.open(context(null))
    const entries = await entriesOf(transactions(0, 1), 1)
    for (const e of entries) await l.listen(e)
    const started = Date.now()
    const guard = new Promise((resolve) => setTimeout(() => resolve('still waiting after 20 s'), 20_000).unref())
    const outcome = await Promise.race([
      l.sync(end(entries)).then(
        () => 'synced',
        (err: unknown) => err,
      ),
      guard,
    ])
    t.match(outcome, { code: 'ERR_REMOTE_FAILED', message: /no answer from the standby .* within 1 s \(answerTimeout\)/ })
    t.ok(Date.now() - started >= 1000, 'not before the timeout')
    await l.close()
  })

  t.test('the connection killed again and again: reconnects, nothing lost or doubled', async (t) => {
    const d = dir()
    const log: Logged[] = []
    const l = new HotBackupListener(options(sshd, d))
    await l.open(context({ journal: 3, offset: 0 }, log))
    const bytes = transactions(0, 300)
    const entries = await entriesOf(bytes, 3)
    let kills = 0
    for (const [i, e] of entries.entries()) {
      await l.listen(e)
      if (i % 97 === 50) kills += sshd.killSessions() > 0 ? 1 : 0
      if (i % 150 === 149) await l.sync({ journal: 3, offset: e.position.end })
    }
    await l.sync(end(entries))
    await l.close()
    t.ok(kills > 0, `killed the session ${kills} times`)
    t.ok(
      log.some((m) => m.msg.includes('connection to the standby lost')),
      'the loss was logged',
    )
    t.ok(remote(d, 3).equals(bytes), 'byte-identical')
  })

  t.test('the connection killed in the middle of a large write', async (t) => {
    const d = dir()
    const l = new HotBackupListener(options(sshd, d, { maxBufferBytes: 64 * 1024 * 1024 }))
    await l.open(context({ journal: 4, offset: 0 }))
    const bytes = Buffer.concat([transactions(0, 5), transactions(5, 20, 1024 * 1024)])
    const entries = await entriesOf(bytes, 4)
    // Held back while the first write awaits its acknowledgement: most go in one write.
    for (const e of entries) await l.listen(e)
    const s = l.sync(end(entries))
    let midway = false
    for (;;) {
      const size = existsSync(join(d, 'journal.4')) ? statSync(join(d, 'journal.4')).size : 0
      if (size >= bytes.length) break
      if (size > 3 * 1024 * 1024) {
        midway = sshd.killSessions() > 0
        break
      }
      await tick(1)
    }
    t.comment(midway ? 'killed mid-write' : 'the write finished before the kill (still checked for exactness)')
    await s
    await l.close()
    t.ok(remote(d, 4).equals(bytes), 'byte-identical')
  })

  t.test('restart: the standby ahead of the start, even mid-record, is skipped exactly', async (t) => {
    const d = dir()
    const bytes = transactions(0, 30)
    const entries = await entriesOf(bytes, 5)
    const committed = entries[20] as JournalEntry // where the daemon resumes
    const cut = (entries[40] as JournalEntry).position.offset + 7 // a write cut inside a record
    const first = new HotBackupListener(options(sshd, d))
    await first.open(context({ journal: 5, offset: 0 }))
    for (const e of entries.slice(0, 41)) await first.listen(e)
    await first.sync({ journal: 5, offset: (entries[40] as JournalEntry).position.end })
    await first.close()
    writeFileSync(join(d, 'journal.5'), bytes.subarray(0, cut))

    const again = new HotBackupListener(options(sshd, d))
    const log: Logged[] = []
    await again.open(context({ journal: 5, offset: committed.position.offset }, log))
    for (const e of entries.slice(20)) await again.listen(e)
    await again.sync(end(entries))
    await again.close()
    t.ok(
      log.some((m) => m.msg.includes('standby is ahead')),
      'logged',
    )
    t.ok(remote(d, 5).equals(bytes), 'byte-identical, nothing doubled')
  })

  t.test("a standby holding another journal N (before a restore, another server's) is ERR_REMOTE_MISMATCH, not skipped", async (t) => {
    const d = dir()
    const bytes = transactions(0, 20)
    const entries = await entriesOf(bytes, 7)
    const other = transactions(100, 5) // another timeline's journal 7: a server restored from a checkpoint starts it again
    mkdirSync(d, { recursive: true })
    writeFileSync(join(d, 'journal.7'), other)
    const l = new HotBackupListener(options(sshd, d))
    await l.open(context({ journal: 7, offset: 0 }))
    const fed = (async () => {
      for (const e of entries) await l.listen(e)
      await l.sync(end(entries))
    })()
    await t.rejects(fed, { code: 'ERR_REMOTE_MISMATCH', retryable: false, message: /journal\.7 differs from the journal in bytes 0\.\./ })
    await l.close()
    t.ok(remote(d, 7).equals(other), 'the standby file is left as it was')
  })

  t.test('a standby holding more of a journal than the journal has is ERR_REMOTE_MISMATCH at the rotation', async (t) => {
    const d = dir()
    const bytes = transactions(0, 10)
    const entries = await entriesOf(bytes, 8)
    const [next] = await entriesOf(transactions(10, 1), 9)
    mkdirSync(d, { recursive: true })
    writeFileSync(join(d, 'journal.8'), Buffer.concat([bytes, transactions(50, 3)]))
    const l = new HotBackupListener(options(sshd, d))
    await l.open(context({ journal: 8, offset: 0 }))
    for (const e of entries) await l.listen(e)
    await l.sync(end(entries))
    await t.rejects(l.listen(next as JournalEntry), { code: 'ERR_REMOTE_MISMATCH', retryable: false, message: /ended at/ })
    await l.close()
  })

  t.test('a standby behind the start is a gap', async (t) => {
    const l = new HotBackupListener(options(sshd, dir()))
    await t.rejects(l.open(context({ journal: 6, offset: 100 })), { code: 'ERR_REMOTE_GAP', retryable: false, message: /copy bytes 0\.\.100 of journal 6/ })
    await l.close()
  })

  t.test('transactions larger than the buffer go in pieces, within the bound', async (t) => {
    const d = dir()
    const max = 4096
    const l = new HotBackupListener(options(sshd, d, { maxBufferBytes: max }))
    await l.open(context({ journal: 7, offset: 0 }))
    const many = Array.from({ length: 100 }, (_, i) =>
      encodeRecord({ op: 'pv', version: 3, table: 'db.have', fields: [`//ws/f${i}`, `//depot/f${i}`, 1, 0, 0] }),
    )
    const bytes = Buffer.concat([transaction(0), transactions(1, 1, 50_000), ...many, transaction(2), transactions(3, 20)])
    const entries = await entriesOf(bytes, 7)
    const biggest = Math.max(...entries.map((e) => e.raw.length))
    let peak = 0
    for (const e of entries) {
      await l.listen(e)
      peak = Math.max(peak, l.heldBytes)
    }
    t.ok(peak <= max + biggest, `held at most ${peak} bytes (bound ${max} + one entry of ${biggest})`)
    await l.sync(end(entries))
    await l.close()
    t.ok(remote(d, 7).equals(bytes), 'byte-identical')
  })

  t.test('replay: bytes applied by a remote command, acknowledged once applied', async (t) => {
    const d = dir()
    const applied = join(root, `applied-${seq}`)
    const l = new HotBackupListener(options(sshd, d, { replay: `cat >> ${shellQuote(applied)}` }))
    await l.open(context({ journal: 8, offset: 0 }))
    const bytes = transactions(0, 50)
    const entries = await entriesOf(bytes, 8)
    for (const e of entries) await l.listen(e)
    await l.sync(end(entries))
    t.ok(readFileSync(applied).equals(bytes), 'replayed byte for byte')
    t.ok(remote(d, 8).equals(bytes), 'and kept in journal.8')
    t.equal(readFileSync(join(d, 'journal.8.replayed'), 'utf8').trim(), String(bytes.length))
    await l.close()
  })

  t.test('replay that fails is retried on a new connection, then acknowledged', async (t) => {
    const d = dir()
    const applied = join(root, `applied-${seq}`)
    const mark = join(root, `mark-${seq}`)
    const replay = `if [ -e ${shellQuote(mark)} ]; then cat >> ${shellQuote(applied)}; else touch ${shellQuote(mark)}; exit 1; fi`
    const log: Logged[] = []
    const l = new HotBackupListener(options(sshd, d, { replay }))
    await l.open(context({ journal: 9, offset: 0 }, log))
    const bytes = transactions(0, 5)
    const entries = await entriesOf(bytes, 9)
    for (const e of entries) await l.listen(e)
    await l.sync(end(entries))
    await l.close()
    t.ok(
      log.some((m) => m.msg.includes('connection to the standby lost')),
      'the failed replay cost a connection',
    )
    t.ok(readFileSync(applied).equals(bytes), 'replayed once, byte for byte')
    t.ok(remote(d, 9).equals(bytes), 'journal.9 written once')
  })

  t.test("replay that always fails: sync rejects with the standby's words, no hang", async (t) => {
    const reconnect = { retries: 2, minTimeout: 10, maxTimeout: 20, factor: 2 }
    const l = new HotBackupListener(options(sshd, dir(), { replay: 'exit 1', reconnect }))
    await l.open(context({ journal: 1, offset: 0 }))
    const entries = await entriesOf(transactions(0, 2), 1)
    for (const e of entries) await l.listen(e)
    await t.rejects(l.sync(end(entries)), { code: 'ERR_REMOTE_FAILED', message: /replay of .*journal\.1 failed/ })
    await l.close()
  })

  t.test('entries that skip bytes cannot be sent: a gap', async (t) => {
    const l = new HotBackupListener(options(sshd, dir()))
    await l.open(context({ journal: 1, offset: 0 }))
    const entries = await entriesOf(transactions(0, 2), 1)
    await l.listen(entries[0] as JournalEntry)
    await t.rejects(l.listen(entries[2] as JournalEntry), { code: 'ERR_REMOTE_GAP', retryable: false })
    await l.close()
  })

  t.test('a standby that lost acknowledged bytes is a gap, not resent over', async (t) => {
    const d = dir()
    const gate = join(root, `gate-${seq}`)
    writeFileSync(gate, '')
    const l = new HotBackupListener(options(sshd, d, { remoteCommand: gated(d, gate) }))
    await l.open(context({ journal: 2, offset: 0 }))
    const entries = await entriesOf(transactions(0, 6), 2)
    for (const e of entries.slice(0, 9)) await l.listen(e)
    await l.sync({ journal: 2, offset: (entries[8] as JournalEntry).position.end })
    rmSync(gate)
    for (const e of entries.slice(9)) await l.listen(e)
    const s = l.sync(end(entries))
    while (remote(d, 2).length < end(entries).offset) await tick(10)
    truncateSync(join(d, 'journal.2'), 10)
    sshd.killSessions()
    await t.rejects(s, { code: 'ERR_REMOTE_GAP', retryable: false, message: /lost acknowledged data/ })
    await l.close()
  })

  t.test('a standby acknowledging less than it was sent', async (t) => {
    const liar = `echo "H logdaemon-hot-backup 1"; while read -r c j o n; do case $c in P) echo "S $j 0";; W) head -c $n > /dev/null; echo "A $j 1";; esac; done`
    const reconnect = { retries: 1, minTimeout: 0, maxTimeout: 0, factor: 1 }
    const l = new HotBackupListener(options(sshd, dir(), { remoteCommand: liar, reconnect }))
    await l.open(context({ journal: 1, offset: 0 }))
    const entries = await entriesOf(transactions(0, 1), 1)
    for (const e of entries) await l.listen(e)
    await t.rejects(l.sync(end(entries)), { code: 'ERR_REMOTE_FAILED', message: /acknowledged journal 1 up to 1/ })
    await l.close()
  })

  t.test('a standby that breaks every connection: open gives up after the retries', async (t) => {
    const reconnect = { retries: 1, minTimeout: 0, maxTimeout: 0, factor: 1 }
    const stray = 'echo "H logdaemon-hot-backup 1"; echo "A 1 5"; cat > /dev/null'
    const l = new HotBackupListener(options(sshd, dir(), { remoteCommand: stray, reconnect }))
    await t.rejects(l.open(context({ journal: 1, offset: 0 })), { code: 'ERR_REMOTE_FAILED', message: /unexpected answer/ })
    const silent = new HotBackupListener(options(sshd, dir(), { remoteCommand: 'echo hello; exit 1', reconnect }))
    await t.rejects(silent.open(context(null)), { code: 'ERR_REMOTE_FAILED', message: /exit code 1/ })
  })

  t.test('a wrong host key fails at once with a clear error', async (t) => {
    const log: Logged[] = []
    const l = new HotBackupListener(options(sshd, dir(), { knownHostsFile: sshd.wrongKnownHosts }))
    await t.rejects(l.open(context(null, log)), { code: 'ERR_SSH_HOST_KEY', message: /refused the host key.*wrong_known_hosts/ })
    t.same(
      log.filter((m) => m.msg.includes('connection to the standby failed')),
      [],
      'not retried',
    )
    const empty = join(root, 'empty_known_hosts')
    writeFileSync(empty, '')
    const m = new HotBackupListener(options(sshd, dir(), { knownHostsFile: empty }))
    await t.rejects(m.open(context(null)), { code: 'ERR_SSH_HOST_KEY' }, 'an unknown host key too')
  })

  t.test("create takes local paths from baseDir (the configuration file's directory)", async (t) => {
    const o = options(sshd, dir(), { identityFile: 'id_ed25519', knownHostsFile: 'known_hosts' })
    const l = create(o, { name: 'standby', baseDir: root })
    await l.open(context(null))
    await l.close()
    t.pass('connected with the key and known_hosts found in baseDir')
  })

  t.test('a key the standby does not accept fails with ERR_SSH_AUTH', async (t) => {
    const l = new HotBackupListener(options(sshd, dir(), { identityFile: join(root, 'other_host_key') }))
    await t.rejects(l.open(context(null)), { code: 'ERR_SSH_AUTH', retryable: false })
  })
})
