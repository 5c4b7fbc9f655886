/**
 * The files the mirror creates: never through a planted symlink, and no
 * more readable than the journal they copy (it holds db.user rows).
 */
import t from 'tap'
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { hostname } from 'node:os'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { journalFileMode } from '../../../lib/daemon/daemon.js'
import { ListenerChain } from '../../../lib/listeners/listener-chain.js'
import { MirrorListener, create, foreignFilesProblem, optionsSchema } from '../../../lib/listeners/builtin/mirror/mirror.js'
import { lockPathOf } from '../../../lib/files/state-lock.js'
import { PrintListener, optionsSchema as printSchema } from '../../../lib/listeners/builtin/print/print.js'
import { entriesOf, transactions } from '../../helpers/entries.js'

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
  t.same(
    readdirSync(dir).filter((n) => n.includes('.lock')),
    [],
    'no lock left behind',
  )
})

t.test('one writer per mirror directory, whatever the state files: a second mirror with a state file of its own is ERR_LOCKED (a probe)', async (t) => {
  const dir = t.testdir({ elsewhere: {} })
  const a = new MirrorListener(optionsSchema.parse({ dir: join(dir, 'm'), fsync: false }))
  await a.open()
  const b = new MirrorListener(optionsSchema.parse({ dir: join(dir, 'm'), stateFile: join(dir, 'elsewhere', 'state.json'), fsync: false }))
  await t.rejects(b.open(), { code: 'ERR_LOCKED', message: /\.mirror-dir is in use by process/ })
  t.same(
    readdirSync(join(dir, 'elsewhere')).filter((n) => n.includes('.lock')),
    [],
    "the second mirror's state lock not left behind",
  )
  await a.close()
  await b.open()
  await b.close()
  t.same(
    readdirSync(join(dir, 'm')).filter((n) => n.includes('.lock')),
    [],
    'no lock left behind',
  )
})

t.test('a mirror never writes over journal files it did not write (an adversarial probe: pointed at the server root, it emptied journal.2)', async (t) => {
  const dir = t.testdir({ root: { 'journal.2': 'the server archive\n', journal: '' }, backup: { 'journal.7': 'unrelated\n', 'journal.99': 'x\n' } })
  const root = join(dir, 'root')
  const server = { root, prefix: null }
  const atRoot = create(optionsSchema.parse({ dir: 'root', fsync: false }), { name: 'm', baseDir: dir, server }) as MirrorListener
  await t.rejects(atRoot.open(), { code: 'ERR_CONFIG_INVALID', message: /mirror dir .*root is where the server keeps its journals/ })
  // Through another path to the same directory too.
  symlinkSync(root, join(dir, 'alias'))
  const viaAlias = create(optionsSchema.parse({ dir: 'alias', fsync: false }), { name: 'm', baseDir: dir, server }) as MirrorListener
  await t.rejects(viaAlias.open(), { code: 'ERR_CONFIG_INVALID' })
  t.equal(readFileSync(join(root, 'journal.2'), 'utf8'), 'the server archive\n', 'the server archive untouched')

  const foreign = new MirrorListener(optionsSchema.parse({ dir: join(dir, 'backup'), fsync: false }))
  await t.rejects(foreign.open(), { code: 'ERR_MIRROR_MISMATCH', message: /holds journal files this mirror did not write \(journal\.7, journal\.99;/ })
  t.equal(readFileSync(join(dir, 'backup', 'journal.7'), 'utf8'), 'unrelated\n', 'left as it was')
  const many = join(dir, 'many')
  mkdirSync(many)
  for (const n of [1, 2, 3, 4, 5, 6, 7]) writeFileSync(join(many, `journal.${n}`), 'x\n')
  await t.rejects(new MirrorListener(optionsSchema.parse({ dir: many, fsync: false })).open(), {
    code: 'ERR_MIRROR_MISMATCH',
    message: /did not write \(journal\.1, journal\.2, journal\.3, journal\.4, journal\.5, …;/,
  })
  t.same(
    readdirSync(join(dir, 'backup')).filter((n) => n.includes('.lock')),
    [],
    'the lock released',
  )
})

/** Whether this process may make a mount namespace with a bind mount in it (root, unshare): else the bind-mount test skips. */
function bindMountSkip(): string | false {
  const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true'])
  return probe.status === 0 ? false : 'needs root and unshare(1) to bind-mount a directory in a mount namespace of its own'
}
const MIRROR_JS = fileURLToPath(new URL('../../../dist/lib/listeners/builtin/mirror/mirror.js', import.meta.url))

t.test(
  'the server directory through a bind mount (another real path, the same directory) is refused too',
  { skip: existsSync(MIRROR_JS) ? bindMountSkip() : `${MIRROR_JS} missing: run npm run build` },
  async (t) => {
    const dir = t.testdir({ root: { 'journal.2': 'the server archive\n', journal: '' }, alias: {} })
    const root = join(dir, 'root')
    const alias = join(dir, 'alias')
    const script = `import { serverDirProblem } from ${JSON.stringify(pathToFileURL(MIRROR_JS).href)}; process.stdout.write(JSON.stringify(await serverDirProblem(${JSON.stringify(alias)}, [${JSON.stringify(root)}])))`
    const run = spawnSync(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        'mount --bind "$1" "$2" && exec "$3" --input-type=module -e "$4"',
        'sh',
        root,
        alias,
        process.execPath,
        script,
      ],
      { encoding: 'utf8' },
    )
    t.equal(run.status, 0, run.stderr)
    t.match(JSON.parse(run.stdout) as string | null, /mirror dir .*alias is where the server keeps its journals/)
  },
)

t.test('upgrading after a mirror that wrote no state died before its first commit: its own files, cut back (a review)', async (t) => {
  const dir = t.testdir({ 'journal.5': '@ex@ 1 2\n' })
  // What kill -9 leaves of an older mirror: its files and its lock, no state.
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  const holder = { pid: Number(gone.stdout), host: hostname(), bootId: null, started: null, pidNs: null, socket: null, command: 'x', since: 'then', nonce: 'n' }
  writeFileSync(lockPathOf(join(dir, '.mirror-state.json')), JSON.stringify({ format: 'logdaemon-lock', ...holder }))
  t.match(await foreignFilesProblem(dir, join(dir, '.mirror-state.json'), false), /holds journal files this mirror did not write/)
  t.equal(await foreignFilesProblem(dir, join(dir, '.mirror-state.json'), true), null, 'a mirror ran here: its files')
  const m = new MirrorListener(optionsSchema.parse({ dir, fsync: false }))
  await m.open()
  t.equal(readFileSync(join(dir, 'journal.5'), 'utf8'), '', 'cut back to what was committed (nothing), not refused')
  await m.close()
})

t.test('a mirror killed before its first commit cuts its own files back at the next start, as after any crash', async (t) => {
  const dir = t.testdir()
  const first = new MirrorListener(optionsSchema.parse({ dir, fsync: false }))
  await first.open()
  t.ok(readdirSync(dir).includes('.mirror-state.json'), "the state is written at the first open: the files here are the mirror's from now on")
  // Bytes written, never committed; the process dies (no close: the lock is left to the next taker as a dead holder's would be).
  writeFileSync(join(dir, 'journal.5'), '@ex@ 1 2\n')
  await first.close()
  const second = new MirrorListener(optionsSchema.parse({ dir, fsync: false }))
  await second.open()
  t.equal(readFileSync(join(dir, 'journal.5'), 'utf8'), '', 'cut back to the committed length (nothing)')
  await second.close()
})

t.test('listen before open opens the mirror; a first record of more than 64 KiB is written whole', async (t) => {
  const dir = t.testdir()
  const m = new MirrorListener(optionsSchema.parse({ dir, fsync: false }))
  const big = entriesOf([
    { op: 'pv', version: 0, table: 'db.desc', fields: [1, 'x'.repeat(100_000)] },
    { op: 'pv', version: 0, table: 'db.desc', fields: [2, 'small'] },
  ])
  for (const e of big.entries) await m.listen(e)
  await m.sync({ journal: 1, offset: big.bytes.length })
  await m.close()
  t.ok(readFileSync(join(dir, 'journal.1')).equals(big.bytes), 'the journal byte for byte')
})
