/**
 * Follow latency and idle cost of RotatingJournalSource with its default
 * settings (fs.watch plus a 1 s safety-net poll):
 *
 * - latency: a record is appended to the live journal (one write, as p4d
 *   does) and the clock stops when the source hands out its entry; `samples`
 *   appends, 5 to 20 ms apart; p50, p99 and max;
 * - idle: CPU time (user + system, process.cpuUsage) the process spends
 *   while the source waits on a quiet journal for `idleMs` (default 5 s).
 *
 *   node dist/benchmarks/scenarios/source-follow-latency.js SCRATCH_DIR [--samples 200] [--idle-ms 5000]
 *
 * The input is an empty scratch directory; the server root is made in it.
 */
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { RotatingJournalSource } from '../../lib/source/rotating-journal-source.js'
import { numberOption, runScenario } from '../harness/scenario.js'

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

runScenario('source-follow-latency', async (args) => {
  const samples = numberOption(args, 'samples', 200)
  const idleMs = numberOption(args, 'idle-ms', 5000)
  const root = await mkdtemp(join(args.input, 'follow-latency-'))
  const live = join(root, 'journal')
  await writeFile(live, '@nx@ 7 1611008050 @50@ 0 0 0 0 0 @1666@ @/p4@ @@ @@ @@ \n@ex@ 1 1611008050\n')
  const source = new RotatingJournalSource({ root, from: 'end' })
  await source.open()

  // The consumer: resolves the waiter of the record it is waiting for.
  let waiting: { pid: string; resolve: (at: number) => void } | null = null
  let records = 0
  let bytes = 0
  source.on('data', (e: JournalEntry) => {
    records++
    bytes += e.length
    if (waiting && e.values[1] === waiting.pid) waiting.resolve(performance.now())
  })

  const latencies: number[] = []
  for (let i = 0; i < samples; i++) {
    const pid = String(100_000 + i)
    const arrived = new Promise<number>((resolve) => (waiting = { pid, resolve }))
    const t0 = performance.now()
    await appendFile(live, `@ex@ ${pid} 1611008050\n`)
    latencies.push((await arrived) - t0)
    await sleep(5 + (i % 16))
  }
  latencies.sort((a, b) => a - b)

  // Idle: nothing is written; the source waits for data.
  await sleep(200)
  const cpu0 = process.cpuUsage()
  const wall0 = performance.now()
  await sleep(idleMs)
  const cpu = process.cpuUsage(cpu0)
  const idleWall = performance.now() - wall0
  const idleCpuMs = (cpu.user + cpu.system) / 1000

  source.destroy()
  await rm(root, { recursive: true, force: true })
  const extra = {
    samples: latencies.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies[latencies.length - 1] ?? Number.NaN,
    idleMs: idleWall,
    idleCpuMs,
    idleCpuPercent: (100 * idleCpuMs) / idleWall,
  }
  process.stderr.write(
    `source-follow-latency: ${extra.samples} appends: p50 ${extra.p50Ms.toFixed(2)} ms, p99 ${extra.p99Ms.toFixed(2)} ms, ` +
      `max ${extra.maxMs.toFixed(2)} ms; idle ${(idleWall / 1000).toFixed(1)} s: ${idleCpuMs.toFixed(1)} ms CPU (${extra.idleCpuPercent.toFixed(3)} %)\n`,
  )
  return { bytes, records, unit: 'records', extra }
})
