import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { Random } from '../../lib/sim/random.js'
import { SimulatedP4d, type RotateMode } from '../../lib/sim/simulated-p4d.js'
import { RotatingJournalSource, type RotateEvent } from '../../lib/source/rotating-journal-source.js'
import { consume, sawEverything, until } from './follow.js'

/** The seed of a scenario: LOGDAEMON_SEED overrides it, to reproduce a failure. */
export function seedOf(fallback: number): number {
  const s = process.env.LOGDAEMON_SEED
  return s === undefined ? fallback : Number(s)
}

/**
 * Rotations at random moments while a follower reads: the simulated p4d
 * writes transactions in random pieces and rotates with `mode`; the follower
 * keeps up (`slow: false`) or lags behind and stops reading for a while
 * (`slow: true`), so that rotations happen while it is paused. Checks that
 * every byte of every journal arrived, in order, each journal's first entry
 * with `didRotate` (but the first journal's), and the reported modes.
 */
export async function rotationWhileReading(
  t: Test,
  options: { mode: RotateMode | 'random'; seed: number; transactions?: number; slow?: boolean },
): Promise<RotateEvent[]> {
  const seed = seedOf(options.seed)
  t.comment(`seed ${seed} (LOGDAEMON_SEED=${seed} reproduces the data)`)
  const root = t.testdir()
  const rng = new Random(seed).fork('scenario')
  const sim = new SimulatedP4d({ root, seed, startJournal: 7, rotateMode: options.mode, gzipChunkBytes: 4096 })
  await sim.restart()
  const source = new RotatingJournalSource({ root, from: 7, pollMs: 200, highWaterMark: 8 })
  const rotations: RotateEvent[] = []
  source.on('rotate', (e) => rotations.push(e))
  const c = consume(source, options.slow ? { delayMs: 1, delayEvery: 20 } : {})
  let release: (() => void) | null = null
  const total = options.transactions ?? 300
  for (let i = 0; i < total; i++) {
    // The slow follower stops reading for 80 of every 100 transactions:
    // p4d writes and rotates meanwhile (the live journal often growing past
    // the offset the follower stopped at).
    if (options.slow && i % 100 === 10) release = c.hold()
    await sim.appendTransaction()
    if (rng.chance(0.04)) await sim.rotate()
    if (options.slow && i % 100 === 90) {
      release?.()
      release = null
    }
    if (rng.chance(0.1)) await sleep(rng.int(0, 4))
  }
  release?.()
  await sim.rotate()
  await sim.appendTransaction()
  await sim.idle()
  await until(() => c.seen.caughtUp(sim), 20_000, 'the follower to catch up')
  await c.stop()
  t.equal(c.error(), null, 'no error')
  const check = sawEverything(sim, c.seen, 7)
  t.ok(check.ok, check.detail)
  const journals = sim.journals.filter((n) => n >= 7)
  t.same(c.seen.order, journals, 'journals in order, each once')
  t.same(
    [...c.seen.firstDidRotate.entries()].filter(([n]) => journals.includes(n)),
    journals.map((n) => [n, n !== 7]),
    'didRotate on the first entry of every journal but the first',
  )
  t.same(
    rotations.map((r) => [r.from, r.to]),
    journals.slice(0, -1).map((n) => [n, n + 1]),
    'a rotate event per journal change',
  )
  t.ok(
    c.seen.entries.every((e) => typeof e.position.journal === 'number'),
    'every entry has its journal number',
  )
  await sim.close()
  return rotations
}
