/**
 * Follow latency: how long from p4d appending a transaction to the live
 * journal until a listener has it, and what following costs while nothing
 * happens.
 *
 *   node dist/benchmarks/follow-latency.js DIR [--samples 200] [--idle-ms 3000] [--seed 1]
 *
 * DIR is an empty scratch directory used as the server root. A simulated
 * p4d (lib/sim/simulated-p4d.ts) writes a restart note, then `samples`
 * realistic transactions, each in one write (p4d writes up to 16 KiB at a
 * time), at irregular gaps of 5 to 50 ms. The daemon's pipeline follows
 * the live journal: RotatingJournalSource (with a state file) into a
 * ListenerChain with one async no-op listener. Latency is from just before
 * the write until the listener has seen the transaction's last record.
 * Then nothing is written for `idle-ms` and the process's CPU time over
 * that wall time is the idle cost (fs.watch, the safety-net poll, quiet
 * timers, state saves).
 *
 * Run by the benchmark runner as the `follow-latency` scenario.
 */
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { ListenerChain } from '../lib/listeners/listener-chain.js'
import type { Listener } from '../lib/listeners/listener.js'
import { Random } from '../lib/sim/random.js'
import { SimulatedP4d } from '../lib/sim/simulated-p4d.js'
import { RotatingJournalSource } from '../lib/source/rotating-journal-source.js'
import { numberOption, runScenario } from './harness/scenario.js'

/** A transaction not seen after this long means following is broken, not slow. */
const SAMPLE_TIMEOUT_MS = 10_000
const MIN_GAP_MS = 5
const MAX_GAP_MS = 50

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number
}

runScenario('follow-latency', async (args) => {
  const root = args.input
  const samples = numberOption(args, 'samples', 200)
  const idleMs = numberOption(args, 'idle-ms', 3000)
  const seed = numberOption(args, 'seed', 1)
  const gaps = new Random(seed).fork('follow-latency-gaps')

  const sim = new SimulatedP4d({ root, seed, maxPieces: 1 })
  let seen = 0
  let want = Infinity
  let arrived: (() => void) | null = null
  const listener: Listener = {
    name: 'noop',
    isHandled: () => true,
    async listen() {
      seen++
      if (seen >= want) arrived?.()
    },
    noData() {},
    async sync() {},
    close() {},
  }
  /** Resolves when the listener has seen `n` records in all. */
  const seenAll = (n: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (seen >= n) return resolve()
      want = n
      const timer = setTimeout(() => reject(new Error(`follow: record ${n} not seen after ${SAMPLE_TIMEOUT_MS} ms (seen ${seen})`)), SAMPLE_TIMEOUT_MS)
      arrived = () => {
        clearTimeout(timer)
        arrived = null
        want = Infinity
        resolve()
      }
    })

  const start = await sim.restart()
  let expected = start.batch.records.length
  const source = new RotatingJournalSource({ root, from: sim.currentJournal, state: join(root, 'logdaemon.state') })
  const chain = new ListenerChain({ listeners: [listener], commit: (position) => source.commit(position) })
  const failed = new Promise<never>((_resolve, reject) => {
    source.once('error', reject)
    chain.once('error', reject)
  })
  failed.catch(() => {})
  source.pipe(chain)

  try {
    await Promise.race([seenAll(expected), failed])
    const latencies: number[] = []
    let bytes = 0
    for (let i = 0; i < samples; i++) {
      await sleep(gaps.int(MIN_GAP_MS, MAX_GAP_MS))
      const t0 = performance.now()
      const append = await sim.appendTransaction()
      expected += append.batch.records.length
      await Promise.race([seenAll(expected), failed])
      latencies.push(performance.now() - t0)
      bytes += append.bytes.length
    }

    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    await sleep(idleMs)
    const cpu = process.cpuUsage(cpu0)
    const idleWall = performance.now() - t0

    latencies.sort((a, b) => a - b)
    return {
      bytes,
      records: expected - start.batch.records.length,
      unit: 'records',
      extra: {
        samples: latencies.length,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        maxMs: latencies.at(-1) ?? Number.NaN,
        meanMs: latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length),
        idleMs: idleWall,
        idleCpuPercent: (100 * (cpu.user + cpu.system)) / 1000 / idleWall,
      },
    }
  } finally {
    source.unpipe(chain)
    chain.end()
    await finished(chain).catch(() => {})
    source.destroy()
    await finished(source as Readable).catch(() => {})
    await sim.close()
  }
})
