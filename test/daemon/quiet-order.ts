/**
 * The daemon's quiet (the source's `quiet` event at the live journal's
 * end) reaches a listener as noData only after every entry the source had
 * read before it: a listener slower than the read (entries waiting in the
 * source's and the chain's buffers) does not get noData(true) in the
 * middle of a burst. With --until-caught-up the daemon stops only once
 * those entries are handled.
 */
import t from 'tap'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { Daemon } from '../../lib/daemon/daemon.js'
import { parseConfig } from '../../lib/daemon/config.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { BaseListener } from '../../lib/listeners/listener.js'
import { SimulatedP4d } from '../../lib/sim/simulated-p4d.js'

const silent = pino({ level: 'silent' })

/** Takes a timer turn every other entry: slower than the file read. */
class Slow extends BaseListener {
  through = 0
  seen = 0
  /** Per noData: hadData, how far this listener was, and how far the source had handed entries out. */
  quiets: { hadData: boolean; through: number; handedOut: number | null }[] = []
  handedOut: () => number | null = () => null
  async listen(e: JournalEntry): Promise<void> {
    if (++this.seen % 2 === 0) await sleep(1)
    this.through = e.position.end
  }
  override noData(hadData: boolean): void {
    this.quiets.push({ hadData, through: this.through, handedOut: this.handedOut() })
  }
}

async function config(dir: string) {
  return parseConfig(
    { server: { root: 'root' }, from: 1, quietMs: 100, commitIntervalMs: 50, status: false, listeners: [{ type: 'print', name: 'unused' }] },
    { baseDir: dir },
  )
}

t.test('noData(true) after a burst comes once the listener has every entry read before the quiet', async (t) => {
  const dir = t.testdir()
  const sim = new SimulatedP4d({ root: join(dir, 'root'), seed: 5, startJournal: 1 })
  await sim.appendTransaction()
  const slow = new Slow('slow')
  const daemon = new Daemon(await config(dir), { logger: silent, listeners: [slow] })
  slow.handedOut = () => daemon.source?.status.position?.offset ?? null
  await daemon.start()
  for (let i = 0; i < 600; i++) await sim.appendTransaction()
  const size = sim.journalBytes(sim.currentJournal).length
  const end = Date.now() + 60_000
  while (!slow.quiets.some((q) => q.hadData && q.through === size) && Date.now() < end) await sleep(20)
  await daemon.stop()
  await sim.close()
  t.ok(
    slow.quiets.some((q) => q.hadData && q.through === size),
    'noData(true) once the burst is handled',
  )
  const early = slow.quiets.filter((q) => q.handedOut !== null && q.through < q.handedOut)
  t.same(early, [], 'no noData while entries the source had read were still to come')
})

t.test('--until-caught-up with a slow listener: it stops once every entry read is handled', async (t) => {
  const dir = t.testdir()
  const sim = new SimulatedP4d({ root: join(dir, 'root'), seed: 6, startJournal: 1 })
  for (let i = 0; i < 600; i++) await sim.appendTransaction()
  const size = sim.journalBytes(sim.currentJournal).length
  const slow = new Slow('slow')
  const daemon = new Daemon(await config(dir), { logger: silent, listeners: [slow], untilCaughtUp: true })
  await daemon.start()
  await daemon.done
  await sim.close()
  t.equal(daemon.caughtUp, true)
  t.equal(slow.through, size, 'the listener handled the journal to its end before the stop')
})
