import t, { type Test } from 'tap'
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { Daemon } from '../../lib/daemon/daemon.js'
import { parseConfig, type ConfigInput } from '../../lib/daemon/config.js'
import { BaseListener, type ListenerContext } from '../../lib/listeners/listener.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { readState } from '../../lib/files/state-file.js'
import { SimulatedP4d } from '../../lib/sim/simulated-p4d.js'
import { tick } from '../helpers/entries.js'

const silent = pino({ level: 'silent' })

/** Collects what it is given; a listener defined inline, as a JS configuration would. */
class Collect extends BaseListener {
  got: JournalEntry[] = []
  context: ListenerContext | null = null
  open(context: ListenerContext): void {
    this.context = context
  }
  listen(e: JournalEntry): void {
    this.got.push(e)
  }
}

async function config(dir: string, extra: Partial<ConfigInput> = {}) {
  return parseConfig(
    {
      server: { root: 'root' },
      from: 1,
      quietMs: 50,
      commitIntervalMs: 20,
      status: { port: 0 },
      listeners: [{ type: 'mirror', options: { dir: 'mirror', fsync: false } }],
      ...extra,
    },
    { baseDir: dir },
  )
}

async function until(what: () => boolean, max = 20_000): Promise<void> {
  const end = Date.now() + max
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await tick(10)
  }
}

function sameMirror(t: Test, dir: string, sim: SimulatedP4d): void {
  for (const n of sim.journals) {
    const file = join(dir, 'mirror', `journal.${n}`)
    t.ok(readFileSync(file).equals(sim.journalBytes(n)), `mirror of journal ${n} is byte-identical (${sim.journalBytes(n).length} bytes)`)
  }
}

t.test('reads across rotations into the mirror and a custom listener, serves status, stops cleanly, resumes', async (t) => {
  const dir = t.testdir()
  const sim = new SimulatedP4d({ root: join(dir, 'root'), seed: 7, rotateMode: 'random' })
  for (let i = 0; i < 30; i++) await sim.appendTransaction()
  await sim.rotate('rename')
  for (let i = 0; i < 30; i++) await sim.appendTransaction()
  await (await sim.rotate('rename-gzip')).done
  for (let i = 0; i < 10; i++) await sim.appendTransaction()

  const collect = new Collect('collect')
  const cfg = await config(dir, {
    listeners: [
      { type: 'mirror', options: { dir: 'mirror', fsync: false } },
      { type: 'module', module: () => collect, name: 'collect' },
    ],
  })
  const daemon = new Daemon(cfg, { logger: silent })
  await daemon.start()
  t.equal(daemon.startPoint?.how, 'from')
  t.equal(collect.context?.startsAfterMarker, false, 'from journal 1: not known to follow a marker')
  t.match(daemon.statusUrl, /^http:\/\/127\.0\.0\.1:\d+\/$/)
  const size = () => sim.journals.reduce((n, j) => n + sim.journalBytes(j).length, 0)
  const seen = () => collect.got.reduce((n, e) => n + e.raw.length, 0)
  await until(() => seen() === size())
  // More while it runs, with a rotation.
  for (let i = 0; i < 10; i++) await sim.appendTransaction()
  await sim.rotate('copy-truncate')
  for (let i = 0; i < 5; i++) await sim.appendTransaction()
  await until(() => seen() === size())
  const status = (await (await fetch(new URL('status.json', daemon.statusUrl!))).json()) as {
    listeners: { name: string; handled: number }[]
    lastRotation: unknown
  }
  t.same(
    status.listeners.map((l) => l.name),
    ['mirror', 'collect'],
  )
  t.equal(status.listeners[1]!.handled, collect.got.length)
  t.ok(status.lastRotation)
  await daemon.stop()
  await daemon.done
  await daemon.stop() // idempotent
  sameMirror(t, dir, sim)
  t.ok(existsSync(join(dir, 'logdaemon.state.json')), 'the state was saved')
  const order = collect.got.map((e) => [e.position.journal!, e.position.offset] as const)
  t.ok(
    order.every((p, i) => i === 0 || p[0] > order[i - 1]![0] || (p[0] === order[i - 1]![0] && p[1] > order[i - 1]![1])),
    'in journal order, nothing twice',
  )

  // A second run resumes from the state: only new records arrive.
  for (let i = 0; i < 5; i++) await sim.appendTransaction()
  const again = new Collect('collect')
  const second = new Daemon(
    await config(dir, {
      listeners: [
        { type: 'mirror', options: { dir: 'mirror', fsync: false } },
        { type: 'module', module: () => again, name: 'collect' },
      ],
    }),
    { logger: silent },
  )
  await second.start()
  t.equal(second.startPoint?.how, 'state')
  t.ok(second.startPoint!.offset > 0, 'resumed inside a journal')
  t.equal(again.context?.startsAfterMarker, true, 'at a consistency point after an @ex@: listeners are told the journal has markers')
  const live = sim.currentJournal
  await until(() => again.got.some((e) => e.position.journal === live && e.position.end === sim.liveSize))
  await second.stop()
  t.ok(again.got.length < collect.got.length, 'resumed, not started over')
  sameMirror(t, dir, sim)

  // A third run with nothing new: the status page says what is committed (the state's position), not null (a new user's walk).
  const third = new Daemon(await config(dir, { listeners: [{ type: 'module', module: () => new Collect('collect'), name: 'collect' }] }), { logger: silent })
  await third.start()
  t.equal(third.startPoint?.how, 'state')
  const resumed = (await (await fetch(new URL('status.json', third.statusUrl!))).json()) as { committed: string | null }
  t.equal(resumed.committed, `${third.startPoint!.journal}/${third.startPoint!.offset}`, 'committed: where a restart resumes')
  await third.stop()
  await sim.close()
})

t.test('a listener that fails for good stops the daemon with ERR_LISTENER_FAILED; the state stays behind it', async (t) => {
  const dir = t.testdir()
  const sim = new SimulatedP4d({ root: join(dir, 'root'), seed: 3 })
  for (let i = 0; i < 20; i++) await sim.appendTransaction()
  let n = 0
  let bad: JournalEntry | null = null
  const failing = new (class extends BaseListener {
    listen(e: JournalEntry): void {
      if (++n >= 40) {
        bad ??= e
        throw new Error('standby unreachable')
      }
    }
  })('standby')
  const cfg = await config(dir, { retry: { retries: 1, minTimeout: 1, randomize: false }, status: false })
  const daemon = new Daemon(cfg, { logger: silent, listeners: [failing] })
  await daemon.start()
  await t.rejects(daemon.done, { code: 'ERR_LISTENER_FAILED', details: { listener: 'standby' } })
  const snapshot = daemon.tracker.snapshot()
  t.equal(snapshot.errors >= 1, true)
  const saved = await readState(join(dir, 'logdaemon.state.json'))
  t.ok(saved && saved.journal === 1 && saved.offset <= bad!.position.offset, `saved ${saved?.offset} <= failing entry at ${bad!.position.offset}`)
  await sim.close()
})

t.test('start fails without a start point, and with a status host that needs a token', async (t) => {
  const dir = t.testdir({ root: { journal: '' } })
  const noStart = new Daemon({ ...(await config(dir)), from: undefined } as never, { logger: silent })
  await t.rejects(noStart.start(), { code: 'ERR_NO_START' })
  const open = new Daemon(await config(dir, { status: { host: '0.0.0.0', port: 0 } }), { logger: silent })
  await t.rejects(open.start(), { code: 'ERR_CONFIG_INVALID' })
})

t.test('a listener whose close() throws at once does not hide why the start failed', async (t) => {
  // An adversarial probe: a second daemon on the same state file exited 1 with "The value of "fd" is out of range"
  // (its module listener's close(), never opened, threw) instead of ERR_LOCKED.
  const dir = t.testdir({ root: { journal: '' } })
  const careless = new (class extends BaseListener {
    listen(): void {}
    override close(): void {
      throw new Error('close() of a listener never opened')
    }
  })('careless')
  const noStart = new Daemon({ ...(await config(dir)), from: undefined } as never, { logger: silent, listeners: [careless] })
  await t.rejects(noStart.start(), { code: 'ERR_NO_START' })
})

t.test('the signal stops it like stop()', async (t) => {
  const dir = t.testdir()
  const sim = new SimulatedP4d({ root: join(dir, 'root'), seed: 5 })
  for (let i = 0; i < 5; i++) await sim.appendTransaction()
  const ac = new AbortController()
  const daemon = new Daemon(await config(dir, { status: false }), { logger: silent, signal: ac.signal })
  await daemon.start()
  ac.abort()
  await daemon.done
  t.pass('stopped')
  await sim.close()
})

t.test('kill() stops at once with ERR_KILLED (not a listener failure); the state stays behind what was finished', async (t) => {
  const dir = t.testdir()
  const sim = new SimulatedP4d({ root: join(dir, 'root'), seed: 6 })
  for (let i = 0; i < 20; i++) await sim.appendTransaction()
  let release: () => void = () => {}
  let seen = 0
  const stuck = new (class extends BaseListener {
    listen(): void | Promise<void> {
      if (++seen === 10) return new Promise<void>((resolve) => (release = resolve))
    }
  })('stuck')
  const daemon = new Daemon(await config(dir, { status: false }), { logger: silent, listeners: [stuck] })
  await daemon.start()
  await until(() => seen >= 10)
  daemon.kill()
  release() // the call in flight ends (a killed daemon waits for it, as for close())
  await t.rejects(daemon.done, { code: 'ERR_KILLED' })
  const saved = await readState(join(dir, 'logdaemon.state.json'))
  t.ok(saved === null || saved.offset < sim.journalBytes(1).length, 'nothing past the stuck entry was committed')
  await sim.close()
})

t.test('a listener module that does not load fails the start with ERR_LISTENER_LOAD; those made before it are closed', async (t) => {
  const dir = t.testdir({ root: { journal: '' } })
  let closed = 0
  const first = { name: 'first', isHandled: () => true, listen() {}, noData() {}, close: () => void closed++ }
  const cfg = await config(dir, {
    status: false,
    listeners: [
      { type: 'module', module: () => first, name: 'first' },
      { type: 'module', module: './missing-listener.mjs' },
    ],
  })
  await t.rejects(new Daemon(cfg, { logger: silent }).start(), { code: 'ERR_LISTENER_LOAD', details: { module: './missing-listener.mjs' } })
  t.equal(closed, 1)
})

t.test('a gap tells the daemon operator to set `from: N`, not --from (run takes no --from)', async (t) => {
  const dir = t.testdir({ root: { 'journal.5': 'x', journal: '' } })
  const daemon = new Daemon(await config(dir, { from: 4, status: false }), { logger: silent })
  await t.rejects(daemon.start(), { code: 'ERR_JOURNAL_GAP', message: /journal 4 is missing .*then set `from: 5` in the configuration/ })
})

t.test('--until-caught-up: reads the archives and the live journal, commits, and stops by itself', async (t) => {
  const dir = t.testdir()
  const sim = new SimulatedP4d({ root: join(dir, 'root'), seed: 11 })
  for (let i = 0; i < 20; i++) await sim.appendTransaction()
  await sim.rotate('rename')
  for (let i = 0; i < 20; i++) await sim.appendTransaction()
  const daemon = new Daemon(await config(dir, { status: false }), { logger: silent, untilCaughtUp: true })
  await daemon.start()
  await daemon.done
  t.equal(daemon.caughtUp, true)
  sameMirror(t, dir, sim)
  const state = await readState(join(dir, 'logdaemon.state.json'))
  const live = sim.journals.at(-1)!
  t.equal(`${state?.journal}/${state?.offset}`, `${live}/${sim.journalBytes(live).length}`, 'everything committed')
  await sim.close()
})

t.test('resumed at the start of a journal: listeners are told where the journal before ended (previousEnd)', async (t) => {
  const dir = t.testdir()
  const root = join(dir, 'root')
  mkdirSync(root)
  const one = Array.from({ length: 20 }, (_, i) => `@pv@ 1 @db.counters@ @k${i}@ @${i}@ \n@ex@ ${i} 1611008050\n`).join('')
  writeFileSync(join(root, 'journal.1'), one)
  writeFileSync(join(root, 'journal'), '')
  const start = async () => {
    const collect = new Collect('collect')
    const daemon = new Daemon(await config(dir, { listeners: [{ type: 'module', module: () => collect, name: 'collect' }] }), { logger: silent })
    await daemon.start()
    return { collect, daemon }
  }
  // Reads journal 1 and waits in the live journal 2, with nothing in it: its state is at 2/0.
  const first = await start()
  await until(() => first.collect.got.reduce((n, e) => n + e.raw.length, 0) === one.length)
  await first.daemon.stop()
  const saved = await readState(join(dir, 'logdaemon.state.json'))
  t.same([saved?.journal, saved?.offset, saved?.previous?.journal, saved?.previous?.end], [2, 0, 1, one.length])

  const second = await start()
  t.same(second.daemon.startPoint && [second.daemon.startPoint.journal, second.daemon.startPoint.offset], [2, 0])
  t.same(second.collect.context?.previousEnd, { journal: 1, offset: one.length }, 'where the journal before ended')
  appendFileSync(join(root, 'journal'), '@pv@ 1 @db.counters@ @j@ @1@ \n@ex@ 99 1611008050\n')
  await until(() => second.collect.got.length === 2)
  await second.daemon.stop()

  // Resumed inside a journal: nothing to say.
  const third = await start()
  t.ok((third.daemon.startPoint?.offset ?? 0) > 0)
  t.equal(third.collect.context?.previousEnd, undefined)
  await third.daemon.stop()
})
