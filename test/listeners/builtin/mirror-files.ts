/**
 * The files the mirror creates: never through a planted symlink, and no
 * more readable than the journal they copy (it holds db.user rows).
 */
import t from 'tap'
import { chmodSync, readFileSync, readdirSync, statSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { journalFileMode } from '../../../lib/daemon/daemon.js'
import { ListenerChain } from '../../../lib/listeners/listener-chain.js'
import { MirrorListener, create, optionsSchema } from '../../../lib/listeners/builtin/mirror/mirror.js'
import { PrintListener, optionsSchema as printSchema } from '../../../lib/listeners/builtin/print/print.js'
import { transactions } from '../../helpers/entries.js'

async function run(listener: MirrorListener | PrintListener, journal = 5): Promise<void> {
  const { entries } = transactions(10, journal)
  await pipeline(Readable.from(entries), new ListenerChain({ listeners: [listener], commitIntervalMs: 0, commit: () => {} }))
}

function umask(t: { teardown(fn: () => void): void }, mask: number): void {
  const old = process.umask(mask)
  t.teardown(() => void process.umask(old))
}

t.test('a symlink planted at the state file temporary name (old STATE.PID.tmp) is not followed', async (t) => {
  const dir = t.testdir({ victim: 'precious\n' })
  symlinkSync(join(dir, 'victim'), join(dir, `.mirror-state.json.${process.pid}.tmp`))
  await run(new MirrorListener(optionsSchema.parse({ dir, fsync: false })))
  t.equal(readFileSync(join(dir, 'victim'), 'utf8'), 'precious\n')
  t.match(JSON.parse(readFileSync(join(dir, '.mirror-state.json'), 'utf8')), { version: 1, journals: { '5': Number } })
})

t.test('a symlink planted as a mirror journal is refused, its target untouched', async (t) => {
  const dir = t.testdir({ victim: 'precious\n' })
  symlinkSync(join(dir, 'victim'), join(dir, 'journal.5'))
  await t.rejects(run(new MirrorListener(optionsSchema.parse({ dir, fsync: false }))), { message: /journal.5 is not a regular file/ })
  t.equal(readFileSync(join(dir, 'victim'), 'utf8'), 'precious\n')
})

t.test('mirror files take the journal mode given (else 0600); the state is 0600', async (t) => {
  umask(t, 0o022)
  const dir = t.testdir()
  const a = join(dir, 'a')
  const b = join(dir, 'b')
  await run(new MirrorListener(optionsSchema.parse({ dir: a, fsync: false })))
  t.equal(statSync(join(a, 'journal.5')).mode & 0o777, 0o600, 'default 0600, not 0644 from the umask')
  t.equal(statSync(join(a, '.mirror-state.json')).mode & 0o777, 0o600)
  await run(create(optionsSchema.parse({ dir: b, fsync: false }), { name: 'm', baseDir: dir, journalMode: 0o640 }) as MirrorListener)
  t.equal(statSync(join(b, 'journal.5')).mode & 0o777, 0o640, "the server journal's mode")
  t.equal(statSync(join(b, '.mirror-state.json')).mode & 0o777, 0o600)
  t.same(
    readdirSync(b).filter((n) => n.endsWith('.tmp')),
    [],
    'no temporary file left',
  )
})

t.test("the print listener's output file is 0600 (or the journal's mode)", async (t) => {
  umask(t, 0o022)
  const dir = t.testdir()
  await run(new PrintListener({ ...printSchema.parse({ output: join(dir, 'out') }), output: join(dir, 'out') }))
  t.equal(statSync(join(dir, 'out')).mode & 0o777, 0o600)
})

t.test("the daemon hands listeners the live journal's mode, else 0600", async (t) => {
  const dir = t.testdir({ root: { journal: '' } })
  chmodSync(join(dir, 'root', 'journal'), 0o640)
  t.equal(await journalFileMode({ root: join(dir, 'root') }), 0o640)
  chmodSync(join(dir, 'root', 'journal'), 0o755)
  t.equal(await journalFileMode({ root: join(dir, 'root') }), 0o644, 'never execute bits')
  t.equal(await journalFileMode({ root: join(dir, 'missing') }), 0o600)
})

t.test('one writer per mirror: a second mirror on the same directory is ERR_LOCKED until the first closes', async (t) => {
  const dir = t.testdir()
  const a = new MirrorListener(optionsSchema.parse({ dir, fsync: false }))
  await a.open()
  const b = new MirrorListener(optionsSchema.parse({ dir, fsync: false }))
  await t.rejects(b.open(), { code: 'ERR_LOCKED', message: /\.mirror-state\.json is in use by process/ })
  await a.close()
  await b.open()
  await b.close()
  t.same(readdirSync(dir), [], 'no lock left behind')
})
