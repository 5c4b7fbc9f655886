import t from 'tap'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { JetStreamListener } from '../../../lib/listeners/builtin/jetstream/jetstream.js'
import { optionsSchema } from '../../../lib/listeners/builtin/jetstream/jetstream-options.js'
import { ListenerChain } from '../../../lib/listeners/listener-chain.js'
import type { JournalEntry } from '../../../lib/journal/entry.js'
import { JetStreamJournalSource } from '../../../lib/source/jetstream/jetstream-journal-source.js'
import { transactions } from '../../helpers/entries.js'
import { natsSkip, startNatsCluster } from '../../helpers/nats.js'

/**
 * A three-node JetStream cluster on loopback, the stream with 3 replicas:
 * the node leading the stream is killed with SIGKILL while records are
 * published and read, then restarted. Nothing is lost or doubled, the
 * consumer goes on.
 */
t.test('3-node cluster, replicas 3: the stream leader SIGKILLed mid-stream and restarted', { skip: natsSkip }, async (t) => {
  // Not t.testdir(): tap removes that in one pass, and a node's JetStream
  // store, just stopped after a SIGKILL and restart, failed it once on CI
  // with ENOTEMPTY. Removed here after every node has exited, with retries.
  const dir = mkdtempSync(join(tmpdir(), 'logdaemon-nats-cluster-'))
  const cluster = await startNatsCluster(dir)
  t.teardown(async () => {
    await cluster.stop()
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 })
    } catch (err) {
      // A leftover temporary folder is not what this test is about: say so.
      t.comment(`could not remove ${dir}: ${(err as Error).message}`)
    }
  })
  const fast = { retries: 60, minTimeout: 100, maxTimeout: 1000, randomize: false }
  const listener = new JetStreamListener(
    optionsSchema.parse({ servers: cluster.servers, stream: 'C', server: 'm', replicas: 3, ackTimeoutMs: 2000, maxInFlight: 128 }),
  )
  const chain = new ListenerChain({ listeners: [listener], commitIntervalMs: 50, quietMs: 0, retry: fast })
  const { entries, bytes } = transactions(2000, 1)

  // The consumer starts once the stream exists, and reads while the node dies.
  const read: JournalEntry[] = []
  let source: JetStreamJournalSource | null = null
  const reading = (async () => {
    source = new JetStreamJournalSource({ servers: cluster.servers, stream: 'C', durable: 'reader', waitForStream: true, retry: fast, quietMs: 200 })
    for await (const e of source) {
      read.push(e)
      if (e.consistent) source.commit(e)
      if (read.length === entries.length) break
    }
  })()

  let killed = ''
  for (const [i, e] of entries.entries()) {
    if (!chain.write(e)) await new Promise((resolve) => chain.once('drain', resolve))
    if (i === 1500) {
      const info = await streamInfo(cluster.servers)
      killed = info.cluster?.leader ?? 'n0'
      const node = cluster.nodes[Number(killed.slice(1))] ?? cluster.nodes[0]
      await node?.kill()
      await sleep(500)
      await node?.start()
    }
  }
  chain.end()
  await new Promise<void>((resolve, reject) => chain.on('finish', resolve).on('error', reject))
  t.comment(`killed and restarted the stream leader ${killed}`)
  await reading
  t.equal(read.length, entries.length, 'the consumer read every record')
  t.ok(Buffer.concat(read.map((e) => e.raw)).equals(bytes), 'once each, in order')
  t.same(read.at(-1)?.position, entries.at(-1)?.position)

  const info = await streamInfo(cluster.servers)
  t.equal(info.state.messages, entries.length, 'the stream holds each record once')
  t.equal(info.config.num_replicas, 3)
})

/**
 * The stream's info. While a cluster elects a leader (after the kill, or
 * under a loaded machine) the JetStream API may time out: ask again, a
 * bounded number of times, as an operator would.
 */
async function streamInfo(servers: string | string[]): Promise<Awaited<ReturnType<Awaited<ReturnType<typeof jetstreamManager>>['streams']['info']>>> {
  let last: unknown
  for (let attempt = 0; attempt < 10; attempt++) {
    const nc = await connect({ servers })
    try {
      return await (await jetstreamManager(nc)).streams.info('C')
    } catch (err) {
      last = err
      await sleep(1000)
    } finally {
      await nc.close()
    }
  }
  throw last
}
