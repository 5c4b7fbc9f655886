/**
 * Fan-out latency through JetStream, end to end: a record is appended to the
 * live journal (one write, as p4d does); a publishing daemon (rotating
 * source → `jetstream` listener) puts it into a real nats-server on
 * loopback; a consuming daemon (jetstream source, durable consumer) hands
 * it to a listener, where the clock stops. `samples` appends, 5 to 20 ms
 * apart; p50, p99 and max. Both daemons run in this process, with their
 * default settings (status pages off).
 *
 *   node dist/benchmarks/scenarios/jetstream-latency.js SCRATCH_DIR [--samples 200]
 */
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { parseConfig } from '../../lib/daemon/config.js'
import { Daemon } from '../../lib/daemon/daemon.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import type { Listener } from '../../lib/listeners/listener.js'
import { startBenchNats } from '../harness/nats-server.js'
import { numberOption, runScenario, skipped } from '../harness/scenario.js'

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

runScenario('jetstream-latency', async (args) => {
  const samples = numberOption(args, 'samples', 200)
  const nats = await startBenchNats()
  if (!nats) return skipped('records', 'nats-server is not installed')
  const dir = await mkdtemp(join(args.input, 'jetstream-latency-'))
  // The consumer may start before the publisher has made the stream: it waits (a warning), not timed.
  const logger = pino({ level: 'error' })
  const root = join(dir, 'root')
  const live = join(root, 'journal')
  await rm(root, { recursive: true, force: true })
  await (await import('node:fs/promises')).mkdir(root)
  await writeFile(live, '@nx@ 7 1611008050 @50@ 0 0 0 0 0 @1666@ @/p4@ @@ @@ @@ \n@ex@ 1 1611008050\n')

  let waiting: { pid: string; resolve: (at: number) => void } | null = null
  let records = 0
  let bytes = 0
  const probe: Listener = {
    name: 'probe',
    isHandled: () => true,
    listen(e: JournalEntry) {
      records++
      bytes += e.length
      if (waiting && e.values[1] === waiting.pid) waiting.resolve(performance.now())
    },
    noData() {},
    close() {},
  }
  const publisher = new Daemon(
    await parseConfig(
      {
        server: { root },
        from: 'end',
        state: join(dir, 'publisher.state.json'),
        status: false,
        listeners: [{ type: 'jetstream', options: { servers: nats.url, stream: 'LAT', server: 'bench' } }],
      },
      { baseDir: dir },
    ),
    { logger },
  )
  const consumer = new Daemon(
    await parseConfig(
      { source: { type: 'jetstream', servers: nats.url, stream: 'LAT', durable: 'probe' }, status: false, listeners: [{ type: 'print', options: {} }] },
      { baseDir: dir },
    ),
    { logger, listeners: [probe] },
  )
  try {
    await publisher.start()
    await consumer.start()
    // The first record makes the stream and the consumer's first pull; not timed.
    const warm = new Promise<number>((resolve) => (waiting = { pid: '99999', resolve }))
    await appendFile(live, '@ex@ 99999 1611008050\n')
    await warm

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
    const extra = {
      samples: latencies.length,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies[latencies.length - 1] ?? Number.NaN,
    }
    process.stderr.write(
      `jetstream-latency: ${extra.samples} appends, journal → stream → consuming daemon's listener: ` +
        `p50 ${extra.p50Ms.toFixed(2)} ms, p99 ${extra.p99Ms.toFixed(2)} ms, max ${extra.maxMs.toFixed(2)} ms\n`,
    )
    return { bytes, records, unit: 'records', extra }
  } finally {
    await consumer.stop().catch(() => {})
    await publisher.stop().catch(() => {})
    await nats.stop()
    await rm(dir, { recursive: true, force: true })
  }
})
