import t from 'tap'
import fc from 'fast-check'
import { appendFileSync, readFileSync, renameSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { hostname } from 'node:os'
import { lockPathOf } from '../../../lib/files/state-lock.js'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ListenerChain } from '../../../lib/listeners/listener-chain.js'
import { MirrorListener, create, optionsSchema } from '../../../lib/listeners/builtin/mirror/mirror.js'
import type { JournalEntry } from '../../../lib/journal/entry.js'
import type { JournalPosition } from '../../../lib/position.js'
import { entriesOf, transactions } from '../../helpers/entries.js'

/** Two journals, 5 and 6, as the rotating source would deliver them. */
function twoJournals(): { files: Map<number, Buffer>; entries: JournalEntry[] } {
  const a = transactions(30, 5)
  const b = transactions(20, 6)
  b.entries[0]!.didRotate = true
  return {
    files: new Map([
      [5, a.bytes],
      [6, b.bytes],
    ]),
    entries: [...a.entries, ...b.entries],
  }
}

const mirror = (dir: string, fsync = true) => new MirrorListener(optionsSchema.parse({ dir, fsync }))

async function run(entries: JournalEntry[], dir: string, commits: JournalPosition[] = []): Promise<void> {
  await pipeline(Readable.from(entries), new ListenerChain({ listeners: [mirror(dir)], commitIntervalMs: 0, commit: (p) => void commits.push(p) }))
}

t.test('mirrors the exact bytes of every journal to DIR/journal.N and records what it synced', async (t) => {
  const dir = t.testdir()
  const { files, entries } = twoJournals()
  await run(entries, dir)
  t.same(readFileSync(join(dir, 'journal.5')), files.get(5))
  t.same(readFileSync(join(dir, 'journal.6')), files.get(6))
  const state = JSON.parse(readFileSync(join(dir, '.mirror-state.json'), 'utf8'))
  t.same(state, { version: 1, journals: { '5': files.get(5)!.length, '6': files.get(6)!.length } })
})

t.test('a replay after a restart is skipped: nothing is written twice', async (t) => {
  const dir = t.testdir()
  const { files, entries } = twoJournals()
  await run(entries.slice(0, 40), dir)
  // The daemon resumes from an earlier commit: entries 20.. come again.
  await run(entries.slice(20), dir)
  t.same(readFileSync(join(dir, 'journal.5')), files.get(5))
  t.same(readFileSync(join(dir, 'journal.6')), files.get(6))
})

/** A mirror that took journal 5's first 20 entries and synced them; `feedRest` gives it the rest and syncs journal 6's end. */
async function syncedMidway(dir: string) {
  const { files, entries } = twoJournals()
  const m = mirror(dir)
  await m.open()
  for (const e of entries.slice(0, 20)) await m.listen(e)
  const at = entries[19]!.position
  await m.sync({ journal: at.journal!, offset: at.end })
  const feedRest = async (): Promise<void> => {
    for (const e of entries.slice(20)) await m.listen(e)
    await m.sync({ journal: 6, offset: files.get(6)!.length })
  }
  return { m, files, entries, at, feedRest }
}

t.test('a mirror file cut while the daemon runs is ERR_MIRROR_MISMATCH, never a hole of zeros', async (t) => {
  const dir = t.testdir()
  const { m, feedRest } = await syncedMidway(dir)
  truncateSync(join(dir, 'journal.5'), 0) // an operator, a misdirected logrotate copytruncate
  await t.rejects(feedRest(), {
    code: 'ERR_MIRROR_MISMATCH',
    retryable: false,
    message: /journal\.5 has 0 bytes but the mirror wrote \d+: it was truncated or replaced/,
  })
  await m.close()
  t.notOk(readFileSync(join(dir, 'journal.5')).includes(0), 'no zeros written into the cut file')
})

t.test('a mirror file replaced or renamed while the daemon runs is ERR_MIRROR_MISMATCH, not writes into the old file (a probe)', async (t) => {
  for (const how of ['replaced', 'renamed'] as const) {
    const dir = t.testdir()
    const { m, at, feedRest } = await syncedMidway(dir)
    const file = join(dir, 'journal.5')
    // A copy moved over it (a new inode with the same bytes so far), or the file moved away.
    if (how === 'replaced') {
      writeFileSync(join(dir, 'copy'), readFileSync(file))
      renameSync(join(dir, 'copy'), file)
    } else renameSync(file, join(dir, 'journal.5.old'))
    await t.rejects(
      feedRest(),
      { code: 'ERR_MIRROR_MISMATCH', retryable: false, journal: 5, message: how === 'replaced' ? /replaced by another file/ : /removed or renamed/ },
      how,
    )
    await m.close()
    const state = JSON.parse(readFileSync(join(dir, '.mirror-state.json'), 'utf8')) as { journals: Record<string, number> }
    t.equal(state.journals['5'], at.end, `${how}: the state records no byte the file at the path does not have`)
  }
})

t.test("bytes appended to a mirror file while the daemon runs are ERR_MIRROR_MISMATCH, not kept past the journal's end (a probe)", async (t) => {
  const dir = t.testdir()
  const { m, files, entries, feedRest } = await syncedMidway(dir)
  // More than the rest of journal 5: no later write of the mirror covers them.
  appendFileSync(join(dir, 'journal.5'), Buffer.alloc(files.get(5)!.length, 'G'))
  await t.rejects(feedRest(), {
    code: 'ERR_MIRROR_MISMATCH',
    retryable: false,
    journal: 5,
    message: /journal\.5 has \d+ bytes but the mirror wrote \d+: bytes were added/,
  })
  await m.close()
  // The state never recorded the foreign bytes: a restart cuts them off and the mirror ends byte-identical.
  await run(entries.slice(20), dir)
  t.same(readFileSync(join(dir, 'journal.5')), files.get(5))
  t.same(readFileSync(join(dir, 'journal.6')), files.get(6))
})

t.test("a lost mirror state beside a dead mirror's lock: the files the daemon committed past are refused, not emptied (a probe)", async (t) => {
  const dir = t.testdir()
  const { files, entries } = twoJournals()
  await run(entries, dir)
  // The state removed; the mirror's process then died (kill -9, a power loss), leaving its lock.
  unlinkSync(join(dir, '.mirror-state.json'))
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  const holder = { pid: Number(gone.stdout), host: hostname(), bootId: null, started: null, pidNs: null, socket: null, command: 'x', since: 'then', nonce: 'n' }
  writeFileSync(lockPathOf(join(dir, '.mirror-state.json')), JSON.stringify({ format: 'logdaemon-lock', ...holder }))
  const ctx = { start: { journal: 7, offset: 0 }, logger: { debug() {}, info() {}, warn() {}, error() {} }, signal: new AbortController().signal }
  const m = mirror(dir)
  await t.rejects(m.open(ctx), {
    code: 'ERR_MIRROR_MISMATCH',
    retryable: false,
    message: /journal\.5, journal\.6\) that the daemon has committed past \(it resumes at 7\/0\)/,
  })
  await m.close()
  t.same(readFileSync(join(dir, 'journal.5')), files.get(5), 'journal.5 kept')
  t.same(readFileSync(join(dir, 'journal.6')), files.get(6), 'journal.6 kept')
})

t.test(
  'a replay whose bytes differ from what the mirror has (the server reset, journals numbered again) is ERR_MIRROR_MISMATCH, not skipped (a probe)',
  async (t) => {
    const dir = t.testdir()
    const { entries } = twoJournals()
    await run(entries, dir)
    const before = readFileSync(join(dir, 'journal.5'))
    // Another journal 5: other bytes from the start, as after a restore from a checkpoint; the daemon started afresh (from: 5).
    const other = entriesOf(
      Array.from({ length: 80 }, (_, i) =>
        i % 2 ? { op: 'ex', fields: [7, 1800000000 + i] } : { op: 'pv', version: 1, table: 'db.counters', fields: ['journal', String(i)] },
      ),
      5,
    )
    const rerun = run(other.entries, dir)
    await t.rejects(rerun, {
      code: 'ERR_LISTENER_FAILED',
      cause: { code: 'ERR_MIRROR_MISMATCH', journal: 5, message: /holds other bytes than journal 5 at offset \d+/ },
    })
    t.same(readFileSync(join(dir, 'journal.5')), before, 'the mirror of the old journal 5 is left as it was, not spliced')
  },
)

t.test('on open, bytes past the committed length are cut off', async (t) => {
  const dir = t.testdir()
  const { files, entries } = twoJournals()
  await run(entries.slice(0, 10), dir)
  // A crash after writing, before the sync: garbage past the committed end, in this and the next journal.
  appendFileSync(join(dir, 'journal.5'), 'half a rec')
  writeFileSync(join(dir, 'journal.6'), 'never synced')
  const m = mirror(dir)
  await m.open()
  await m.close()
  t.equal(readFileSync(join(dir, 'journal.5')).length, entries[9]!.position.end)
  t.equal(readFileSync(join(dir, 'journal.6')).length, 0)
  await run(entries.slice(10), dir)
  t.same(readFileSync(join(dir, 'journal.5')), files.get(5))
  t.same(readFileSync(join(dir, 'journal.6')), files.get(6))
})

t.test('an entry past the end of the mirror is ERR_MIRROR_GAP, at once', async (t) => {
  const dir = t.testdir()
  const { entries } = twoJournals()
  await t.rejects(run(entries.slice(4), dir), {
    code: 'ERR_LISTENER_FAILED',
    journal: 5,
    cause: { code: 'ERR_MIRROR_GAP', journal: 5, offset: entries[4]!.position.offset },
  })
})

t.test('opened where the daemon resumes past what the mirror holds (removed, or added later): ERR_MIRROR_GAP at open', async (t) => {
  const dir = t.testdir()
  const { entries } = twoJournals()
  const ctx = (start: JournalPosition | null) => ({ start, logger: { debug() {}, info() {}, warn() {}, error() {} }, signal: new AbortController().signal })
  const resume = entries[10]!.position
  const l = new MirrorListener({ dir: join(dir, 'm'), fsync: true })
  await t.rejects(l.open(ctx({ journal: resume.journal as number, offset: resume.offset })), {
    code: 'ERR_MIRROR_GAP',
    retryable: false,
    journal: 5,
    offset: resume.offset,
    message: /has 0 bytes of journal 5 but the daemon resumes at offset \d+/,
  })
  await l.close()
  // At a journal's start, or after what it holds, it opens.
  await run(entries.slice(0, 20), join(dir, 'n'))
  for (const start of [{ journal: 6, offset: 0 }, { journal: 5, offset: resume.offset }, null]) {
    const ok = new MirrorListener({ dir: join(dir, 'n'), fsync: true })
    await ok.open(ctx(start))
    await ok.close()
  }
  t.pass('opened')
})

t.test('a mirror directory that cannot be made (a file in its place, a path through a file) fails at once, not retried', async (t) => {
  const dir = t.testdir({ file: 'x' })
  for (const d of ['file', 'file/sub']) {
    const l = new MirrorListener({ dir: join(dir, d), fsync: true })
    await t.rejects(l.open(), { code: 'ERR_MIRROR_MISMATCH', retryable: false, message: /cannot be made \((EEXIST|ENOTDIR)/ }, d)
    await l.close()
  }
})

t.test('a mirror file shorter than its committed length is ERR_MIRROR_MISMATCH', async (t) => {
  const dir = t.testdir()
  const { entries } = twoJournals()
  await run(entries.slice(0, 10), dir)
  truncateSync(join(dir, 'journal.5'), 5)
  await t.rejects(mirror(dir).open(), { code: 'ERR_MIRROR_MISMATCH', journal: 5 })
})

t.test('an unreadable state is ERR_MIRROR_MISMATCH', async (t) => {
  for (const text of ['{nope', '{"version":2,"journals":{}}', '{"version":1,"journals":{"x":1}}', '{"version":1,"journals":{"1":-1}}']) {
    const dir = t.testdir({ '.mirror-state.json': text })
    await t.rejects(mirror(dir).open(), { code: 'ERR_MIRROR_MISMATCH' }, text)
  }
})

t.test('entries without a journal number cannot be mirrored', async (t) => {
  const dir = t.testdir()
  const e = transactions(1).entries[0]!
  const anonymous = Object.assign(Object.create(Object.getPrototypeOf(e)), e, { position: { ...e.position, journal: null } }) as JournalEntry
  const m = mirror(dir)
  await t.rejects(async () => m.listen(anonymous), { code: 'ERR_JOURNAL_UNNUMBERED' })
  await m.close()
})

t.test('options: dir is required, unknown keys refused, paths taken from baseDir', async (t) => {
  t.notOk(optionsSchema.safeParse({}).success)
  t.notOk(optionsSchema.safeParse({ dir: 'x', extra: 1 }).success)
  t.same(optionsSchema.parse({ dir: 'x' }), { dir: 'x', fsync: true })
  const l = create(optionsSchema.parse({ dir: 'm' }), { name: 'copy', baseDir: '/srv/logdaemon' }) as MirrorListener
  t.equal(l.name, 'copy')
  t.equal(l.dir, '/srv/logdaemon/m')
})

t.test('crash anywhere, restart from the last commit: the mirror ends byte-identical (property)', async (t) => {
  const { files, entries } = twoJournals()
  const base = t.testdir()
  let runs = 0
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 1, max: entries.length }), { minLength: 1, maxLength: 4 }),
      fc.uint8Array({ minLength: 0, maxLength: 40 }),
      async (crashAfter, garbage) => {
        runs++
        const dir = join(base, String(runs))
        let committed: JournalPosition | null = null
        for (const stop of crashAfter) {
          const from = committed === null ? 0 : entries.findIndex((e) => e.position.journal === committed!.journal && e.position.offset === committed!.offset)
          const startAt = from < 0 ? entries.findIndex((e) => e.position.journal === committed!.journal + 1) : from
          const slice = entries.slice(startAt, Math.max(startAt, stop))
          const commits: JournalPosition[] = []
          // A run that ends early without closing: a kill -9 after the last sync.
          const m = mirror(dir, false)
          await m.open()
          for (const e of slice) {
            await m.listen(e)
            if (e.consistent && e.position.offset % 3 === 0) {
              await m.sync({ journal: e.position.journal!, offset: e.position.end })
              commits.push({ journal: e.position.journal!, offset: e.position.end })
            }
          }
          await m.close()
          // Unsynced bytes may have reached the disk, and more: simulate a torn write.
          const last = slice.at(-1)?.position.journal
          if (last != null) appendFileSync(join(dir, `journal.${last}`), garbage)
          committed = commits.at(-1) ?? committed
        }
        const from = committed === null ? 0 : entries.findIndex((e) => e.position.offset === committed!.offset && e.position.journal === committed!.journal)
        await run(entries.slice(Math.max(0, from)), dir)
        return readFileSync(join(dir, 'journal.5')).equals(files.get(5)!) && readFileSync(join(dir, 'journal.6')).equals(files.get(6)!)
      },
    ),
    { numRuns: 40 },
  )
  t.equal(runs >= 40, true)
})

t.test('a write that fails is retried with the same bytes at the same offset', async (t) => {
  const dir = t.testdir()
  const { files, entries } = twoJournals()
  const m = mirror(dir, false)
  await m.open()
  // Big enough entries to fill the 64 KiB buffer: the flush happens inside listen().
  let failed = 0
  const realListen = m.listen.bind(m)
  // Fault injection: the first positional write of the process's FileHandles fails once (EIO).
  const probe = await open(join(dir, 'probe'), 'w')
  const FileHandle = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> }
  await probe.close()
  const write = FileHandle.write
  FileHandle.write = function (this: unknown, ...args: unknown[]) {
    if (failed++ === 0) return Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' }))
    return write.apply(this, args)
  }
  t.teardown(() => {
    FileHandle.write = write
  })
  const chain = new ListenerChain({
    listeners: [{ name: 'mirror', isHandled: () => true, listen: realListen, sync: (p) => m.sync(p), noData() {}, close: () => m.close() }],
    commitIntervalMs: 0,
    retry: { retries: 3, minTimeout: 1, randomize: false },
  })
  const big = [...entries, ...transactions(3000, 7).entries]
  await pipeline(Readable.from(big), chain)
  FileHandle.write = write
  t.ok(failed > 1, 'a write failed and was retried')
  t.same(readFileSync(join(dir, 'journal.5')), files.get(5))
  t.same(readFileSync(join(dir, 'journal.6')), files.get(6))
  t.same(readFileSync(join(dir, 'journal.7')), transactions(3000, 7).bytes)
})
