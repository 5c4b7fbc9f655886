/**
 * The durable consumer's lease on its own: renewals that meet an expired
 * lock, a renewal whose acknowledgement was lost, and a server that cannot
 * be reached. The reader-level behaviour (refused, replaced, stolen) is in
 * jetstream-journal-source.ts.
 */
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { jetstream, jetstreamManager, StorageType, type JetStreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { DurableLock, LOCK_STREAM } from '../../../lib/source/jetstream/durable-lock.js'
import { natsSkip, startNats } from '../../helpers/nats.js'

/** A lease of 1.2 s: renewed every 400 ms. */
const LEASE_NS = 1_200_000_000

async function lockMessage(jsm: JetStreamManager, durable: string): Promise<{ seq: number; data: string } | null> {
  const m = await jsm.streams.getMessage(LOCK_STREAM, { last_by_subj: `logdaemon.lock.S.${durable}` })
  return m ? { seq: m.seq, data: new TextDecoder().decode(m.data) } : null
}

/** Polls until `check` holds or 5 s pass; returns the last message seen. */
async function until(jsm: JetStreamManager, durable: string, check: (m: { seq: number; data: string } | null) => boolean) {
  let m = await lockMessage(jsm, durable)
  for (let i = 0; i < 100 && !check(m); i++) {
    await sleep(50)
    m = await lockMessage(jsm, durable)
  }
  return m
}

t.test('a held lease survives expiry, a lost acknowledgement and an unreachable server', { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  const admin = await connect({ servers: server.url })
  t.teardown(() => admin.close())
  const jsm = await jetstreamManager(admin)
  const js = jetstream(admin)
  await jsm.streams.add({ name: LOCK_STREAM, subjects: ['logdaemon.lock.>'], max_msgs_per_subject: 1, max_age: LEASE_NS, storage: StorageType.Memory })
  const lost: Error[] = []
  const spec = (durable: string) => ({ stream: 'S', durable, replicas: 1, onLost: (e: Error) => lost.push(e), signal: new AbortController().signal })

  const nc = await connect({ servers: server.url })
  const lock = await DurableLock.acquire(await jetstreamManager(nc), jetstream(nc), spec('held'))
  const first = await lockMessage(jsm, 'held')
  t.ok(first, 'the lock message is there')
  const mine = (first as { data: string }).data
  t.match(JSON.parse(mine), { format: 'logdaemon-lock', pid: process.pid })

  // Renewed: a newer message with the same holder.
  const renewed = await until(jsm, 'held', (m) => m !== null && m.seq > (first as { seq: number }).seq)
  t.equal(renewed?.data, mine, 'renewed by the holder')

  // Gone (as if it expired while the server was out of reach): the holder writes it again.
  await jsm.streams.purge(LOCK_STREAM, { filter: 'logdaemon.lock.S.held' })
  const rewritten = await until(jsm, 'held', (m) => m !== null)
  t.equal(rewritten?.data, mine, 'an expired lease nobody took is taken again by its holder')

  // A renewal stored whose acknowledgement was lost: the next message is still ours, so the holder adopts it.
  const stray = await js.publish('logdaemon.lock.S.held', mine)
  const after = await until(jsm, 'held', (m) => m !== null && m.seq > stray.seq)
  t.equal(after?.data, mine, 'a renewal it did not see acknowledged is its own: renewals go on')
  t.same(lost, [], 'the lease was never judged lost')

  // The server out of reach (this connection closed): renewals fail quietly; the lease ends by itself.
  await nc.close()
  await sleep(900)
  t.same(lost, [], 'failed renewals are not a lost lease')
  await lock.release()
  t.pass('release is safe when the server cannot be reached')
  const expired = await until(jsm, 'held', (m) => m === null)
  t.equal(expired, null, 'the unrenewed lease expired within its max age')

  // Released while reachable: the message is purged at once, and a second release does nothing.
  const nc2 = await connect({ servers: server.url })
  t.teardown(() => nc2.close())
  const again = await DurableLock.acquire(await jetstreamManager(nc2), jetstream(nc2), spec('again'))
  t.ok(await lockMessage(jsm, 'again'))
  await again.release()
  await again.release()
  t.equal(await lockMessage(jsm, 'again'), null, 'released: the lock message is gone')
})
