/**
 * Ours, the publishing daemon's pipeline: RotatingJournalSource (from
 * journal 1) into a ListenerChain with the `jetstream` listener, into a
 * real nats-server on loopback (file storage, one replica). The clock stops
 * when the stream has acknowledged every record of journal.1 (the
 * listener's `sync`). Against `framing` in the same run: what publishing
 * costs over reading.
 *
 *   node dist/benchmarks/scenarios/jetstream-publish.js ROOT [--max-in-flight 1024]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { JetStreamListener } from '../../lib/listeners/builtin/jetstream/jetstream.js'
import { optionsSchema } from '../../lib/listeners/builtin/jetstream/jetstream-options.js'
import { ListenerChain } from '../../lib/listeners/listener-chain.js'
import { RotatingJournalSource } from '../../lib/source/rotating-journal-source.js'
import { startBenchNats } from '../harness/nats-server.js'
import { numberOption, runScenario, skipped } from '../harness/scenario.js'

runScenario('jetstream-publish', async (args) => {
  const root = args.input
  const nats = await startBenchNats()
  if (!nats) return skipped('records', 'nats-server is not installed')
  const expected = (await stat(join(root, 'journal.1'))).size
  const work = mkdtempSync(join(tmpdir(), 'logdaemon-bench-js-'))
  try {
    const listener = new JetStreamListener(
      optionsSchema.parse({ servers: nats.url, stream: 'BENCH', server: 'bench', maxInFlight: numberOption(args, 'max-in-flight', 1024) }),
    )
    let records = 0
    let bytes = 0
    let allSeen!: () => void
    const done = new Promise<void>((resolve) => (allSeen = resolve))
    const t0 = performance.now()
    const source = new RotatingJournalSource({ root, from: 1, state: join(work, 'state'), quietMs: 50 })
    const chain = new ListenerChain({ listeners: [listener], commit: (position) => source.commit(position) })
    chain.on('commit', (p: { journal: number; offset: number }) => {
      if (p.journal === 1 && p.offset >= expected) allSeen()
    })
    const failed = new Promise<never>((_resolve, reject) => {
      source.once('error', reject)
      chain.once('error', reject)
    })
    source.on('data', (e: { length: number }) => {
      records++
      bytes += e.length
    })
    source.pipe(chain)
    // The source goes quiet at the live journal's end: the chain then syncs (every ack) and commits journal.1's end.
    source.on('quiet', () => chain.quiet())
    await Promise.race([done, failed])
    const ms = performance.now() - t0
    source.unpipe(chain)
    chain.end()
    await finished(chain)
    source.destroy()
    await finished(source as Readable).catch(() => {})
    return { bytes, records, unit: 'records', ms, extra: { published: listener.published, maxInFlight: listener.options.maxInFlight } }
  } finally {
    rmSync(work, { recursive: true, force: true })
    await nats.stop()
  }
})
