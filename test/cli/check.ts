import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createServer, type AddressInfo } from 'node:net'
import { sshdSkip, startSshd } from '../helpers/sshd.js'
import { checkConfig } from '../../lib/cli/check.js'
import { StateLock } from '../../lib/files/state-lock.js'
import { consumerStatePath } from '../../lib/daemon/source-config.js'
import { SimulatedP4d } from '../../lib/sim/simulated-p4d.js'
import { ReviewState } from '../../lib/listeners/builtin/notify/reviews/review-state.js'
import { writeReviewState } from '../../lib/listeners/builtin/notify/reviews/review-store.js'
import { DeliveryState } from '../../lib/listeners/builtin/notify/delivery-state.js'
import { writeDeliveryState } from '../../lib/listeners/builtin/notify/delivery-store.js'

// Any free port for the status page unless a test is about it: check binds the port, and 4780 may be taken here.
const config = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ server: { root: 'root' }, from: 5, listeners: [{ type: 'mirror', options: { dir: 'mirror' } }], status: { port: 0 }, ...extra })

t.test('prints the chain it would read: numbers, files, compressed or not, live size; no problems', async (t) => {
  const dir = t.testdir({ 'c.json': config() })
  const sim = new SimulatedP4d({ root: join(dir, 'root'), seed: 1, startJournal: 4 })
  await sim.appendTransaction()
  await sim.rotate('rename')
  await sim.appendTransaction()
  await sim.rotate('rename')
  await sim.appendTransaction()
  await (await sim.rotate('rename-gzip')).done
  await sim.appendTransaction()
  await sim.close()
  const r = await checkConfig(join(dir, 'c.json'))
  t.same(r.problems, [])
  t.equal(r.startJournal, 5)
  t.same(
    r.chain?.archives.map((a) => a.journal),
    [5, 6],
    'from 5 on',
  )
  t.match(r.text, /configuration .*c\.json is valid\./)
  t.match(r.text, new RegExp(`live journal +${join(dir, 'root', 'journal')}: journal 7, \\d+ bytes`))
  t.match(r.text, /start +journal 5 from its start \(from: 5; no state file at .*logdaemon\.state\.json yet\)/)
  t.match(r.text, new RegExp(`\\n  5 +${join(dir, 'root', 'journal.5')} +plain +\\d+\\n`))
  t.match(r.text, new RegExp(`\\n  6 +${join(dir, 'root', 'journal.6.gz')} +gzip +\\d+\\n`))
  t.match(r.text, new RegExp(`\\n  7 +${join(dir, 'root', 'journal')} +live +\\d+\\n`))
  t.notMatch(r.text, /journal\.4/, 'journals before the start are not listed')
  t.match(r.text, /gaps +none/)
  t.match(r.text, /listeners +mirror \(mirror\)/)
  t.match(r.text, /status page +http:\/\/127\.0\.0\.1:0\/\n/)
  t.notMatch(r.text, /problems that would stop/)
})

t.test('a gap, no start point, and a custom module that does not load are problems', async (t) => {
  const dir = t.testdir({
    'gap.json': config(),
    'nostart.json': config({ from: undefined }),
    'end.json': config({ from: 'end', status: false }),
    'mod.json': config({
      listeners: [
        { type: 'module', module: './nothing.mjs' },
        { type: 'module', module: './ok.mjs' },
      ],
    }),
    'ok.mjs': 'export default () => ({})',
    root: { 'journal.5': 'x', 'journal.7.gz': 'y', journal: '' },
  })
  const gap = await checkConfig(join(dir, 'gap.json'))
  t.same(gap.chain?.gaps, [6])
  t.match(gap.problems[0], /journal 6 is missing between 5 .* and 8/)
  t.match(gap.text, /gaps +journal 6 missing\n/)
  t.match(gap.text, /problems that would stop the daemon:\n {2}- journal 6 is missing/)
  const nostart = await checkConfig(join(dir, 'nostart.json'))
  t.match(nostart.problems, [/no state file and no "from"/])
  const end = await checkConfig(join(dir, 'end.json'))
  t.same(end.problems, [])
  t.match(end.text, /start +the end of the live journal/)
  t.match(end.text, /status page +off/)
  const mod = await checkConfig(join(dir, 'mod.json'))
  t.equal(mod.problems.length, 2, 'the gap and the module')
  t.match(mod.problems[1], /listener module \.\/nothing\.mjs cannot be imported/)
})

t.test('an existing state file is where reading starts', async (t) => {
  const dir = t.testdir({ 'c.json': config({ state: 'st.json' }) })
  const sim = new SimulatedP4d({ root: join(dir, 'root'), seed: 2, startJournal: 5 })
  await sim.appendTransaction()
  await sim.close()
  const { Daemon } = await import('../../lib/daemon/daemon.js')
  const { loadConfig } = await import('../../lib/daemon/config.js')
  const pino = (await import('pino')).default
  const d = new Daemon(await loadConfig(join(dir, 'c.json')), {
    logger: pino({ level: 'silent' }),
    listeners: [{ name: 'x', isHandled: () => true, listen() {}, noData() {}, close() {} }],
  })
  await d.start()
  await d.stop()
  const r = await checkConfig(join(dir, 'c.json'))
  t.match(r.start, /^5\/\d+ \(line \d+\) from the state file .*st\.json, saved /)
  t.same(r.problems, [])
})

t.test("a state at a journal's start whose journal before is another one on disk is a problem (run refuses it)", async (t) => {
  const dir = t.testdir({ 'c.json': config({ state: 'st.json' }), root: { 'journal.5': '@ex@ 1 1600000000\n@ex@ 2 1600000001\n', journal: '' } })
  const { tailFingerprint, writeState } = await import('../../lib/files/state-file.js')
  const saved = { journal: 6, offset: 0, line: 1, tail: tailFingerprint(Buffer.alloc(0)), file: null, savedAt: '2026-12-07T00:00:00.000Z' }
  const end = (text: string) => ({ journal: 5, end: text.length, tail: tailFingerprint(Buffer.from(text)) })
  await writeState(join(dir, 'st.json'), { ...saved, previous: end('@ex@ 1 1600000000\n@ex@ 2 1600000001\n') })
  t.same((await checkConfig(join(dir, 'c.json'))).problems, [], 'journal 5 as the state saw it end')
  await writeState(join(dir, 'st.json'), { ...saved, previous: end('@ex@ 9 1600000009\n') })
  const r = await checkConfig(join(dir, 'c.json'))
  t.match(r.start, /^6\/0 /)
  t.match(r.problems, [/says 6\/0, .* but journal 5 on disk \(.*journal\.5\) holds other bytes before that offset .*`from: N`/])
})

t.test('a state that does not match the journals on disk is a problem, as run finds it before reading', async (t) => {
  const journal5 = '@ex@ 1 1600000000\n@ex@ 2 1600000001\n'
  // The mirror holds journal 5 as far as it was read (else it lacks the bytes before the state: a problem of its own).
  const dir = t.testdir({
    'c.json': config({ state: 'st.json' }),
    root: { 'journal.4': '', journal: journal5 },
    mirror: { 'journal.5': journal5, '.mirror-state.json': '{"version":1,"journals":{"5":36}}\n' },
  })
  const { tailFingerprint, writeState } = await import('../../lib/files/state-file.js')
  const at = (journal: number, offset: number, before: string) => ({
    journal,
    offset,
    line: 1,
    tail: tailFingerprint(Buffer.from(before)),
    file: null,
    savedAt: '2026-12-07T00:00:00.000Z',
  })
  const problems = async (state: ReturnType<typeof at>) => {
    await writeState(join(dir, 'st.json'), state)
    return (await checkConfig(join(dir, 'c.json'))).problems
  }
  t.same(await problems(at(5, 18, journal5.slice(0, 18))), [], 'the bytes before 5/18 are the ones saved')
  t.match(
    await problems(at(5, 18, '@ex@ 9 1600000009\n')),
    [/says 5\/18, but the 18 bytes before that offset in journal 5 .* are not the ones saved/],
    'other bytes',
  )
  t.match(await problems(at(5, 1000, '')), [/says 5\/1000, but journal 5 .* ends before offset 1000 \(it has 36 bytes\)/], 'past the end')
  t.match(await problems(at(9, 0, '')), [/says 9\/0, but the live journal is journal 5 .* journal 9 does not exist/], 'past the live journal')
})

t.test('a start from journal N is checked as run checks it: the journal counter record, from past the live journal', async (t) => {
  const records = (n: number) => Array.from({ length: n }, (_, i) => `@pv@ 1 @db.desc@ @${i}@ @${'x'.repeat(60)}@ \n`).join('')
  const dir = t.testdir({
    'c.json': config({ from: 1 }),
    'past.json': config({ from: 9 }),
    root: {
      'journal.1': '@ex@ 1 1600000000\n',
      'journal.2': '@ex@ 2 1600000001\n',
      // Journals 3 and 4 archived and removed: the live journal's counter record, after 5 KB of records, says 5.
      journal: `${records(70)}@pv@ 1 @db.counters@ @journal@ @5@ \n`,
    },
  })
  const r = await checkConfig(join(dir, 'c.json'))
  t.match(r.problems, [/journals 3, 4 are missing/], 'the gap run finds')
  t.equal(r.problems.length, 1)
  const past = await checkConfig(join(dir, 'past.json'))
  t.match(
    past.problems,
    [/`from: 9`: the live journal is journal 5 \(its journal counter record says 5\), so journal 9 does not exist yet/],
    'from past the live journal',
  )
  writeFileSync(join(dir, 'root', 'journal'), `${records(70)}@pv@ 1 @db.counters@ @journal@ @3@ \n`)
  t.same((await checkConfig(join(dir, 'c.json'))).problems, [], 'the counter record says 3: nothing missing')
})

t.test('a start at a journal that is not there yet (no archive, no live journal) does not make check wait as run does', { timeout: 20_000 }, async (t) => {
  const dir = t.testdir({
    'state.json': config({ state: 'st.json' }),
    'from.json': config({ from: 5 }),
    root: { 'journal.4': '@ex@ 1 1600000000\n' },
  })
  const { tailFingerprint, writeState } = await import('../../lib/files/state-file.js')
  await writeState(join(dir, 'st.json'), {
    journal: 5,
    offset: 0,
    line: 1,
    tail: tailFingerprint(Buffer.alloc(0)),
    file: null,
    savedAt: '2026-12-07T00:00:00.000Z',
  })
  const missing = /the live journal .*journal does not exist/
  // Before, check waited (as run does) for journal 5 to appear: this test timed out.
  t.match((await checkConfig(join(dir, 'state.json'))).problems, [missing], 'a state at 5/0')
  t.match((await checkConfig(join(dir, 'from.json'))).problems, [missing], 'from 5')
})

t.test('a live journal missing for a moment (a rotation between its rename and the new file) is looked for again, not reported', async (t) => {
  const dir = t.testdir({ 'c.json': config({ from: 5 }), root: { 'journal.5': '@pv@ 1 @db.counters@ @journal@ @5@ \n@ex@ 1 1600000000\n' } })
  // The server renamed journal to journal.5; it makes the new live journal 150 ms later.
  const live = '@pv@ 1 @db.counters@ @journal@ @6@ \n'
  const made = new Promise<void>((resolve) =>
    setTimeout(() => {
      writeFileSync(join(dir, 'root', 'journal'), live)
      resolve()
    }, 150),
  )
  const r = await checkConfig(join(dir, 'c.json'))
  await made
  t.same(r.problems, [], 'no problem: the live journal came')
  t.equal(r.chain?.live.journal, 6)
  t.equal(r.chain?.live.size, live.length, 'the live journal as it came')
  rmSync(join(dir, 'root', 'journal'))
  t.match((await checkConfig(join(dir, 'c.json'))).problems, [/the live journal .*journal does not exist:/], 'one that does not come is reported')
  // What no rotation mends is said as it is.
  symlinkSync(join(dir, 'nowhere', 'journal'), join(dir, 'root', 'journal'))
  t.match(
    (await checkConfig(join(dir, 'c.json'))).problems,
    [/the live journal .*journal is a dangling symlink \(to .*nowhere\/journal\):/],
    'a dangling symlink',
  )
  writeFileSync(join(dir, 'j.json'), config({ from: 5, server: { root: 'root', journal: '../c.json/journal' } }))
  t.match(
    (await checkConfig(join(dir, 'j.json'))).problems,
    [/the live journal .*c\.json\/journal cannot be reached: a path through a file \(ENOTDIR\):/],
    'a path through a file',
  )
  writeFileSync(join(dir, 'd.json'), config({ from: 5, server: { root: 'root', journal: 'gone/journal' } }))
  t.match(
    (await checkConfig(join(dir, 'd.json'))).problems,
    [/the live journal .*gone\/journal does not exist, nor does its directory .*gone:/],
    'a directory that is not there',
  )
})

t.test('a FIFO at the live journal path: check answers, naming it (opening it waited for a writer for ever)', { timeout: 20_000 }, async (t) => {
  const dir = t.testdir({
    'from.json': config({ from: 1 }),
    'state.json': config({ state: 'st.json' }),
    root: { 'journal.1': '@pv@ 1 @db.counters@ @journal@ @1@ \n@ex@ 1 1600000000\n' },
  })
  if (spawnSync('mkfifo', [join(dir, 'root', 'journal')]).status !== 0) {
    t.comment('no mkfifo here')
    return
  }
  const { tailFingerprint, writeState } = await import('../../lib/files/state-file.js')
  const journal1 = '@pv@ 1 @db.counters@ @journal@ @1@ \n'
  await writeState(join(dir, 'st.json'), {
    journal: 1,
    offset: journal1.length,
    line: 2,
    tail: tailFingerprint(Buffer.from(journal1)),
    file: null,
    savedAt: '2026-12-07T00:00:00.000Z',
  })
  for (const name of ['from.json', 'state.json']) {
    const r = await checkConfig(join(dir, name))
    t.match(r.problems[0], /the live journal .*journal is not a regular file but a FIFO \(named pipe\): set server\.journal/, name)
    t.match(r.problems, [/./, /journal is not a regular file but a FIFO .*a journal is a file p4d writes/], `${name}: and what run stops with`)
  }
})

t.test("a state file's directory run could not write in is a problem (run fails with ERR_STATE_WRITE)", async (t) => {
  const dir = t.testdir({
    'missing.json': config({ state: 'nodir/sub/state.json' }),
    'notdir.json': config({ state: 'afile/state.json' }),
    'ok.json': config({ state: 'here/state.json' }),
    afile: 'x',
    here: {},
    root: { 'journal.5': '', journal: '' },
  })
  const missing = await checkConfig(join(dir, 'missing.json'))
  t.same(missing.problems, [
    `the state file's directory ${join(dir, 'nodir', 'sub')} does not exist: run could not write the state file or its lock (ERR_STATE_WRITE). Create it, or set "state" to a file in an existing directory`,
  ])
  t.match(missing.text, /problems that would stop the daemon:\n {2}- the state file's directory .* does not exist/)
  const notdir = await checkConfig(join(dir, 'notdir.json'))
  t.match(notdir.problems, [/state\.json cannot be read \(ENOTDIR/], 'one problem: the state file cannot be read')
  t.equal(notdir.problems.length, 1)
  t.same((await checkConfig(join(dir, 'ok.json'))).problems, [])
  if (process.platform === 'linux') {
    writeFileSync(join(dir, 'proc.json'), config({ state: '/proc/1/state.json' }))
    t.match((await checkConfig(join(dir, 'proc.json'))).problems, [/^the state file's directory \/proc\/1 is not writable/], 'even for root')
  }
})

t.test('a log.file or a print output run could not open is a problem (a directory, a missing directory)', async (t) => {
  const dir = t.testdir({ afile: 'x', adir: {}, root: { 'journal.5': '', journal: '' } })
  execFileSync('mkfifo', [join(dir, 'fifo')])
  const print = (output: string) => ({ listeners: [{ type: 'print', options: { output } }] })
  const cases: [Record<string, unknown>, RegExp | null][] = [
    [{ log: { file: 'adir' } }, /^log\.file: .*adir is a directory$/],
    // A FIFO is not opened by check (closing a writer would end the file for its reader): run says it.
    [{ log: { file: 'fifo' } }, null],
    [{ log: { file: 'afile/x.log' } }, /^log\.file: .*afile\/x\.log cannot be looked at \(ENOTDIR/],
    [{ log: { file: 'new/x.log' } }, null],
    [print('adir'), /^print "print": output .*adir is a directory$/],
    [print('nodir/out.jsonl'), /^print "print": output .*out\.jsonl cannot be made: its directory .*nodir does not exist$/],
    [print('fifo'), null],
    [print('out.jsonl'), null],
    [print('-'), null],
  ]
  for (const [extra, problem] of cases) {
    writeFileSync(join(dir, 'c.json'), config(extra))
    const found = (await checkConfig(join(dir, 'c.json'))).problems
    if (problem) t.match(found, [problem], JSON.stringify(extra))
    else t.same(found, [], `${JSON.stringify(extra)}: fine`)
  }
})

t.test('an invalid configuration throws', async (t) => {
  const dir = t.testdir({ 'bad.json': '{"server":{}}' })
  await t.rejects(checkConfig(join(dir, 'bad.json')), { code: 'ERR_CONFIG_INVALID' })
})

t.test('check refuses what run refuses: an open status address without a token, a missing live journal', async (t) => {
  const dir = t.testdir({
    'open.json': config({ status: { host: '0.0.0.0', port: 4780 } }),
    'token.json': config({ status: { host: '0.0.0.0', port: 4780, token: 'a-long-random-token' } }),
    'nolive.json': config(),
    root: { 'journal.5': 'x' },
  })
  const open = await checkConfig(join(dir, 'open.json'))
  t.match(open.problems, [/status\.host is 0\.0\.0\.0, which is not a loopback address, and there is no status\.token: run refuses this/, /live journal/])
  const token = await checkConfig(join(dir, 'token.json'))
  t.notOk(
    token.problems.some((p) => /status\.host/.test(p)),
    'with a token it is fine',
  )
  const nolive = await checkConfig(join(dir, 'nolive.json'))
  t.match(nolive.problems, [new RegExp(`the live journal ${join(dir, 'root', 'journal').replace(/[.]/g, '\\.')} does not exist: set server\\.journal`)])
})

t.test('check tries the status address as run listens on it; an IPv6 address is printed in brackets', async (t) => {
  const dir = t.testdir({
    'unknown.json': config({ from: 'end', status: { host: 'nonexistent.invalid', port: 4780, token: 'a-long-random-token' } }),
    // TEST-NET-1 (RFC 5737): no machine's own address.
    'elsewhere.json': config({ from: 'end', status: { host: '192.0.2.1', port: 4780, token: 'a-long-random-token' } }),
    'bracketed.json': config({ from: 'end', status: { host: '[::1]', port: 0 } }),
    'bare.json': config({ from: 'end', status: { host: '::1', port: 0 } }),
    root: { journal: '' },
  })
  const unknown = await checkConfig(join(dir, 'unknown.json'))
  t.match(unknown.problems, [/cannot listen on nonexistent\.invalid:4780: status\.host nonexistent\.invalid .*Set status\.host/])
  const elsewhere = await checkConfig(join(dir, 'elsewhere.json'))
  t.match(elsewhere.problems, [/cannot listen on 192\.0\.2\.1:4780: no such address on this machine/], "an address that is not this machine's")
  const ipv6 = createServer()
  const hasIpv6 = await new Promise<boolean>((resolve) => {
    ipv6.once('error', () => resolve(false))
    ipv6.listen(0, '::1', () => ipv6.close(() => resolve(true)))
  })
  for (const name of ['bracketed', 'bare']) {
    if (!hasIpv6) {
      t.comment(`${name}: skipped: no IPv6 loopback here`)
      continue
    }
    const r = await checkConfig(join(dir, `${name}.json`))
    t.same(r.problems, [], `${name}: run listens on ::1`)
    t.match(r.text, /status page +http:\/\/\[::1\]:0\//, `${name}: the URL has brackets`)
  }
})

t.test('a status port another process holds is a problem; held while the daemon of this configuration runs, it is taken for its own', async (t) => {
  const held = createServer()
  await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => held.close(() => resolve())))
  const { port } = held.address() as AddressInfo
  const dir = t.testdir({ 'taken.json': config({ from: 'end', status: { host: '127.0.0.1', port } }), root: { journal: '' } })

  // Before, check did not try the port (a daemon may hold it), and run then stopped with ERR_ADDRESS_IN_USE.
  const other = await checkConfig(join(dir, 'taken.json'))
  t.match(other.problems, [
    new RegExp(
      `cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use by another process, and no daemon of this configuration runs .*ERR_ADDRESS_IN_USE`,
    ),
  ])
  t.match(other.text, new RegExp(`status page +http://127\\.0\\.0\\.1:${port}/ \\(in use by another process\\)`))
  t.ok(held.listening, 'the port is still held by its server')

  // The daemon of this configuration runs (this process holds its state lock, as run does): its own port.
  const lock = await StateLock.acquire(join(dir, 'logdaemon.state.json'), { command: 'logdaemon' })
  t.teardown(() => lock.release())
  const own = await checkConfig(join(dir, 'taken.json'))
  t.same(own.problems, [], 'not a problem')
  t.match(
    own.text,
    new RegExp(`status page +http://127\\.0\\.0\\.1:${port}/ \\(in use, it seems by this daemon: process ${process.pid}, logdaemon, holds the lock`),
  )
  await lock.release()

  // A holder on another host name (a container with host networking): check cannot judge it, so it is not a problem.
  const lockFile = join(dir, 'logdaemon.state.json.lock')
  writeFileSync(lockFile, JSON.stringify({ format: 'logdaemon-lock', pid: 4242, host: 'elsewhere.example', nonce: 'n', command: 'logdaemon' }))
  const elsewhere = await checkConfig(join(dir, 'taken.json'))
  t.same(elsewhere.problems, [], 'a holder on another host: not a problem')
  t.match(
    elsewhere.text,
    /\(in use; the lock of its state file is held by process 4242, logdaemon, on host elsewhere\.example, which check cannot judge from here\)/,
  )
  rmSync(lockFile)

  // A daemon reading a JetStream stream locks its position file (STATE.jetstream.STREAM.DURABLE.json), not its state.
  const source = { type: 'jetstream', servers: 'nats://127.0.0.1:4222', stream: 'P4JOURNAL', durable: 'standby' }
  writeFileSync(join(dir, 'consumer.json'), JSON.stringify({ source, status: { host: '127.0.0.1', port }, listeners: [{ type: 'print' }] }))
  t.match((await checkConfig(join(dir, 'consumer.json'))).problems, [/in use by another process/])
  const consumerLock = await StateLock.acquire(consumerStatePath(join(dir, 'logdaemon.state.json'), source), { command: 'logdaemon' })
  t.teardown(() => consumerLock.release())
  t.same((await checkConfig(join(dir, 'consumer.json'))).problems, [], 'a consumer daemon of this configuration runs')
  await consumerLock.release()

  // Free: no note.
  await new Promise<void>((resolve) => held.close(() => resolve()))
  const free = await checkConfig(join(dir, 'taken.json'))
  t.same(free.problems, [])
  t.match(free.text, new RegExp(`status page +http://127\\.0\\.0\\.1:${port}/\\n`))
})

t.test('journal.12 and journal.12.gz (gzip running): one row, saying which one is read', async (t) => {
  const dir = t.testdir({
    'c.json': config({ from: 12 }),
    root: { 'journal.12': 'plain', 'journal.12.gz': 'gz', journal: '' },
  })
  const r = await checkConfig(join(dir, 'c.json'))
  t.same(r.problems, [])
  const rows = r.text.split('\n').filter((l) => /^ {2}12 /.test(l))
  t.equal(rows.length, 1, 'listed once')
  t.match(rows[0], new RegExp(`${join(dir, 'root', 'journal.12')} +plain \\(read; ${join(dir, 'root', 'journal.12.gz')} also there: gzip running\\?\\)`))
})

t.test('the gap message tells the daemon operator to set `from: N` (run takes no --from)', async (t) => {
  const dir = t.testdir({ 'gap.json': config({ from: 4 }), root: { 'journal.5': 'x', journal: '' } })
  const r = await checkConfig(join(dir, 'gap.json'))
  t.match(r.problems[0], /journal 4 is missing .* then set `from: 5` in the configuration/)
  t.notMatch(r.problems[0], /--from/)
})

t.test('check --connect logs in to the standby and runs the remote script', { skip: sshdSkip }, async (t) => {
  const dir = t.testdir({ root: { 'journal.5': 'x', journal: '' }, standby: {}, sshd: {} })
  const sshd = await startSshd(join(dir, 'sshd'))
  t.teardown(() => sshd.stop())
  const hb = (extra: Record<string, unknown> = {}) => ({
    type: 'hot-backup',
    options: {
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      identityFile: sshd.identityFile,
      knownHostsFile: sshd.knownHosts,
      sshConfigFile: 'none',
      remoteDir: join(dir, 'standby'),
      ...extra,
    },
  })
  writeFileSync(join(dir, 'ok.json'), config({ listeners: [hb()] }))
  writeFileSync(join(dir, 'wrongkey.json'), config({ listeners: [hb({ knownHostsFile: sshd.wrongKnownHosts })] }))
  const ok = await checkConfig(join(dir, 'ok.json'), { connect: true })
  t.same(ok.problems, [])
  t.match(ok.connected, [
    new RegExp(`hot-backup "hot-backup": ssh login to ${sshd.user}@127\\.0\\.0\\.1 and the remote script work; the standby has 0 bytes of journal 5`),
  ])
  t.match(ok.text, /connect +hot-backup "hot-backup": ssh login/)
  const without = await checkConfig(join(dir, 'ok.json'))
  t.same(without.connected, [], 'without --connect nothing is tried')
  const bad = await checkConfig(join(dir, 'wrongkey.json'), { connect: true })
  t.match(bad.problems, [/^hot-backup "hot-backup": ssh to .* refused the host key/])
})

t.test('the reviews checkpoint: missing, unreadable or a directory is a problem; found, or a review state file, is reported', async (t) => {
  const notify = (reviews: unknown) => ({
    type: 'notify',
    name: 'mail',
    options: { smtp: { host: '127.0.0.1', port: 2525, from: 'p4@example.com' }, reviews },
  })
  const dir = t.testdir({
    'default.json': config({ listeners: [notify(true)] }),
    'named.json': config({ listeners: [notify({ checkpoint: 'ckp/checkpoint.5' })] }),
    'isdir.json': config({ listeners: [notify({ checkpoint: 'ckp' })] }),
    'kept.json': config({ listeners: [notify({ checkpoint: 'ckp/none', state: 'kept-reviews.json' })] }),
    'bad.json': config({ listeners: [notify({ state: 'bad-reviews.json' })] }),
    'bad-reviews.json': '{ not json',
    root: { 'journal.5': '', journal: '' },
    ckp: {},
  })
  const none = await checkConfig(join(dir, 'default.json'))
  t.match(none.problems, [
    /^notify "mail": reviews: no state file \(.*-reviews\.json\) and no checkpoint to build it from \(looked for checkpoint 5 in the server root\)/,
  ])
  writeFileSync(join(dir, 'root', 'checkpoint.5.gz'), '')
  const found = await checkConfig(join(dir, 'default.json'))
  t.same(found.problems, [])
  t.match(found.text, new RegExp(`reviews +notify "mail": no review state yet; built at the first start from ${join(dir, 'root', 'checkpoint.5.gz')}`))
  const named = await checkConfig(join(dir, 'named.json'))
  t.match(named.problems, [new RegExp(`^notify "mail": the reviews checkpoint ${join(dir, 'ckp', 'checkpoint.5')} cannot be read \\(ENOENT`)])
  const isdir = await checkConfig(join(dir, 'isdir.json'))
  t.match(isdir.problems, [new RegExp(`^notify "mail": the reviews checkpoint ${join(dir, 'ckp')} is not a file`)])
  writeFileSync(join(dir, 'ckp', 'checkpoint.5'), '')
  t.same((await checkConfig(join(dir, 'named.json'))).problems, [])
  const bad = await checkConfig(join(dir, 'bad.json'))
  t.match(bad.problems, [/^notify "mail": reviews: the state file .*bad-reviews\.json is not valid JSON/])
  await writeReviewState(join(dir, 'kept-reviews.json'), new ReviewState({ caseInsensitive: false, origin: 'test' }))
  const kept = await checkConfig(join(dir, 'kept.json'))
  t.same(kept.problems, [], 'a review state file: the checkpoint is not needed')
  t.match(kept.text, new RegExp(`reviews +notify "mail": state ${join(dir, 'kept-reviews.json')}, 0 users`))
  const other = new ReviewState({ caseInsensitive: false, origin: 'test' })
  other.listener = 'mail too'
  await writeReviewState(join(dir, 'kept-reviews.json'), other)
  t.match((await checkConfig(join(dir, 'kept.json'))).problems, [
    /^notify "mail": reviews: the state file .*kept-reviews\.json belongs to the listener "mail too", not "mail"/,
  ])
})

t.test('a notify listener without reviews: its delivery state file is reported, and one run would refuse is a problem', async (t) => {
  const notify = (name: string, extra: Record<string, unknown> = {}) => ({
    type: 'notify',
    name,
    options: { smtp: { host: '127.0.0.1', port: 2525, from: 'p4@example.com', to: ['team@example.com'] }, ...extra },
  })
  const dir = t.testdir({
    'c.json': config({ state: 'st.json', listeners: [notify('mail')] }),
    'own.json': config({ state: 'st.json', listeners: [notify('other', { deliveryState: 'mine.json' })] }),
    root: { 'journal.5': '', journal: '' },
  })
  const fresh = await checkConfig(join(dir, 'c.json'))
  t.same(fresh.problems, [])
  const path = join(dir, 'st.mail-delivery.json')
  t.match(fresh.text, new RegExp(`delivery +notify "mail": no delivery state yet; created at the first start \\(${path}\\)`))

  const state = new DeliveryState()
  state.mailedUpTo({ journal: 5, offset: 120 })
  await writeDeliveryState(path, state, join(dir, 'root'), 'mail')
  const kept = await checkConfig(join(dir, 'c.json'))
  t.same(kept.problems, [])
  t.match(kept.text, new RegExp(`delivery +notify "mail": delivery state ${path}, delivered through 5/120`))

  await writeDeliveryState(path, state, '/elsewhere', 'mail')
  t.match((await checkConfig(join(dir, 'c.json'))).problems, [
    new RegExp(`^notify "mail": the delivery state file ${path} belongs to the server at /elsewhere`),
  ])
  await writeDeliveryState(join(dir, 'mine.json'), state, join(dir, 'root'), 'mail')
  t.match((await checkConfig(join(dir, 'own.json'))).problems, [
    /^notify "other": the delivery state file .*mine\.json belongs to the listener "mail", not "other"/,
  ])
  writeFileSync(path, '{ not json')
  t.match((await checkConfig(join(dir, 'c.json'))).problems, [/^notify "mail": the delivery state file .*st\.mail-delivery\.json is not valid JSON/])
})

t.test('a notify state that delivered through a journal after the live one is a problem (run refuses it at open)', async (t) => {
  const notify = (extra: Record<string, unknown> = {}) => ({
    type: 'notify',
    name: 'mail',
    options: { smtp: { host: '127.0.0.1', port: 2525, from: 'p4@example.com', to: ['team@example.com'] }, ...extra },
  })
  const dir = t.testdir({
    'c.json': config({ state: 'st.json', listeners: [notify()] }),
    'r.json': config({ state: 'st.json', listeners: [notify({ reviews: { state: 'reviews.json' } })] }),
    root: { 'journal.5': '', journal: '' },
  })
  // The live journal is 6 (its newest archive is 5): a state through 5 or 6 is fine, one through 7 was another server's.
  const path = join(dir, 'st.mail-delivery.json')
  const state = new DeliveryState()
  state.mailedUpTo({ journal: 6, offset: 120 })
  await writeDeliveryState(path, state, join(dir, 'root'), 'mail')
  t.same((await checkConfig(join(dir, 'c.json'))).problems, [])
  state.mailedUpTo({ journal: 7, offset: 10 })
  await writeDeliveryState(path, state, join(dir, 'root'), 'mail')
  t.match((await checkConfig(join(dir, 'c.json'))).problems, [
    new RegExp(
      `^notify "mail": ${path} says changes were delivered through 7/10, but the live journal of the server at .* is journal 6 \\(the newest archive is journal 5\\)`,
    ),
  ])

  const reviews = new ReviewState({ caseInsensitive: false, origin: 'test' })
  reviews.delivery.mailedUpTo({ journal: 6, offset: 1 })
  await writeReviewState(join(dir, 'reviews.json'), reviews)
  t.same((await checkConfig(join(dir, 'r.json'))).problems, [])
  reviews.delivery.mailedUpTo({ journal: 9, offset: 1 })
  await writeReviewState(join(dir, 'reviews.json'), reviews)
  t.match((await checkConfig(join(dir, 'r.json'))).problems, [
    /^notify "mail": .*reviews\.json says changes were delivered through 9\/1, but the live journal .* is journal 6/,
  ])
})

t.test('a mirror in the server root, or in a directory of journal files it did not write, is a problem (run refuses both)', async (t) => {
  const dir = t.testdir({
    'root.json': config({ listeners: [{ type: 'mirror', options: { dir: 'root' } }] }),
    'foreign.json': config({ listeners: [{ type: 'mirror', options: { dir: 'backup' } }] }),
    root: { 'journal.5': '', journal: '' },
    backup: { 'journal.7': 'unrelated\n' },
  })
  t.match((await checkConfig(join(dir, 'root.json'))).problems, [/^mirror "mirror": mirror dir .*root is where the server keeps its journals/])
  t.match((await checkConfig(join(dir, 'foreign.json'))).problems, [
    /^mirror "mirror": mirror dir .*backup holds journal files this mirror did not write \(journal\.7;/,
  ])
  // A lock beside the state: a mirror ran here (one that died before its first commit wrote no state in older versions).
  writeFileSync(join(dir, 'backup', '.mirror-state.json.lock'), '{}')
  t.same((await checkConfig(join(dir, 'foreign.json'))).problems, [], 'a mirror lock beside: its files')
  rmSync(join(dir, 'backup', '.mirror-state.json.lock'))
  writeFileSync(join(dir, 'backup', '.mirror-state.json'), '{"version":1,"journals":{"7":10}}\n')
  t.same((await checkConfig(join(dir, 'foreign.json'))).problems, [], "with its state, they are the mirror's")
})

t.test('a mirror that lacks bytes of the journal before where the daemon resumes is a problem (run refuses it: ERR_MIRROR_GAP)', async (t) => {
  const journal5 = '@ex@ 1 1600000000\n@ex@ 2 1600000001\n'
  const dir = t.testdir({ 'c.json': config({ state: 'st.json' }), root: { 'journal.4': '', journal: journal5 }, mirror: {} })
  const { tailFingerprint, writeState } = await import('../../lib/files/state-file.js')
  const state = { journal: 5, offset: 18, line: 2, tail: tailFingerprint(Buffer.from(journal5.slice(0, 18))), file: null, savedAt: '2026-12-07T00:00:00.000Z' }
  await writeState(join(dir, 'st.json'), state)
  const problems = async () => (await checkConfig(join(dir, 'c.json'))).problems
  t.match(
    await problems(),
    [/^mirror "mirror": mirror .*journal\.5 has 0 bytes of journal 5 but the daemon resumes at offset 18: the bytes between would be missing/],
    'an empty mirror',
  )
  const mirrorState = join(dir, 'mirror', '.mirror-state.json')
  writeFileSync(join(dir, 'mirror', 'journal.5'), journal5.slice(0, 10))
  writeFileSync(mirrorState, '{"version":1,"journals":{"5":10}}\n')
  t.match(
    await problems(),
    [/^mirror "mirror": mirror .*journal\.5 has 10 bytes of journal 5 but the daemon resumes at offset 18/],
    'a mirror behind the state',
  )
  writeFileSync(join(dir, 'mirror', 'journal.5'), journal5.slice(0, 18))
  writeFileSync(mirrorState, '{"version":1,"journals":{"5":18}}\n')
  t.same(await problems(), [], 'a mirror that holds journal 5 up to the state')
  await writeState(join(dir, 'st.json'), { ...state, journal: 5, offset: 0, line: 1, tail: tailFingerprint(Buffer.alloc(0)) })
  rmSync(mirrorState)
  rmSync(join(dir, 'mirror', 'journal.5'))
  t.same(await problems(), [], "a state at a journal's start needs nothing of it")
  writeFileSync(mirrorState, '{ not json')
  await writeState(join(dir, 'st.json'), state)
  t.match(await problems(), [/^mirror "mirror": .*\.mirror-state\.json is not JSON/], 'a mirror state that cannot be read')
})

t.test(
  'every other refusal of the mirror at its open is a problem: its directory, its state file, its files, a start from "end" it lacks (a probe)',
  async (t) => {
    const journal5 = '@ex@ 1 1600000000\n@ex@ 2 1600000001\n'
    const { tailFingerprint, writeState } = await import('../../lib/files/state-file.js')
    const state = {
      journal: 5,
      offset: 18,
      line: 2,
      tail: tailFingerprint(Buffer.from(journal5.slice(0, 18))),
      file: null,
      savedAt: '2026-12-07T00:00:00.000Z',
    }
    const mirrorState = '{"version":1,"journals":{"5":18}}\n'
    const problemsWith = async (mirror: Record<string, unknown>, options: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => {
      const dir = t.testdir({
        'c.json': config({ state: 'st.json', listeners: [{ type: 'mirror', options: { dir: 'mirror', ...options } }], ...extra }),
        root: { 'journal.4': '', journal: journal5 },
        ...mirror,
      })
      if (!('from' in extra)) await writeState(join(dir, 'st.json'), state)
      return (await checkConfig(join(dir, 'c.json'))).problems
    }
    t.same(
      await problemsWith({ mirror: { 'journal.5': journal5.slice(0, 18), '.mirror-state.json': mirrorState } }),
      [],
      'a mirror that holds what it committed',
    )
    t.match(
      await problemsWith({ mirror: { 'journal.5': journal5.slice(0, 10), '.mirror-state.json': mirrorState } }),
      [/^mirror "mirror": mirror .*journal\.5 has 10 bytes but 18 were committed: it was truncated or replaced/],
      'a mirror file cut short',
    )
    t.match(
      await problemsWith({ mirror: { 'journal.5': journal5.slice(0, 18), 'journal.6': t.fixture('symlink', 'journal.5'), '.mirror-state.json': mirrorState } }),
      [/^mirror "mirror": mirror .*journal\.6 is not a regular file/],
      'a symlink where a mirror file goes',
    )
    t.match(
      await problemsWith({ mirror: t.fixture('symlink', 'nowhere/x') }),
      [/^mirror "mirror": the mirror directory .*mirror cannot be made or written \(.*mirror is a dangling symlink\)/],
      'the mirror directory a dangling symlink',
    )
    t.match(
      await problemsWith({ mirror: 'a file' }),
      [/^mirror "mirror": the mirror directory .*mirror cannot be made or written \(.*mirror is not a directory\)/],
      'a file',
    )
    t.match(
      await problemsWith({ mirror: { 'journal.5': journal5.slice(0, 18) } }, { stateFile: 'nodir/ms.json' }),
      [/^mirror "mirror": the mirror's state file .*nodir\/ms\.json cannot be written \(.*nodir does not exist\): run could not make its lock/],
      'its state file in a directory that does not exist',
    )
    // from "end": the mirror is told to begin at the live journal's last whole record, mid-journal.
    t.match(
      await problemsWith({}, {}, { from: 'end' }),
      [/^mirror "mirror": mirror .*journal\.5 has 0 bytes of journal 5 but the daemon resumes at offset 36/],
      'from "end" with a new mirror: it would lack journal 5 up to its end',
    )
  },
)

t.test('a JetStream source with review mail needs reviews.checkpoint (there is no server root to look in)', async (t) => {
  const reviewsConfig = (reviews: unknown) =>
    JSON.stringify({
      source: { type: 'jetstream', servers: 'nats://127.0.0.1:4222', stream: 'P4', durable: 'mail' },
      listeners: [{ type: 'notify', name: 'mail', options: { smtp: { host: '127.0.0.1', port: 2525, from: 'p4@example.com' }, reviews } }],
    })
  const dir = t.testdir({ 'js.json': reviewsConfig(true), 'ok.json': reviewsConfig({ checkpoint: 'checkpoint.9' }), 'checkpoint.9': '' })
  const r = await checkConfig(join(dir, 'js.json'))
  t.match(r.problems, [/^notify "mail": reviews: no state file \(.*\) and no checkpoint to build it from: set reviews.checkpoint/])
  t.match(r.text, /problems that would stop the daemon/)
  t.same((await checkConfig(join(dir, 'ok.json'))).problems, [])
})
