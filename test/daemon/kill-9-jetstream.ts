import t from 'tap'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { Random } from '../../lib/sim/random.js'
import { SimulatedP4d } from '../../lib/sim/simulated-p4d.js'
import { tick } from '../helpers/entries.js'
import { natsSkip, startNats } from '../helpers/nats.js'
import { binSkip, startDaemon, testSeed, killDaemon } from '../helpers/daemon-run.js'

/**
 * Fan-out through JetStream under kill -9: a publishing daemon (`jetstream`
 * listener) on a simulated p4d that writes and rotates, and a consuming
 * daemon (jetstream source, mirror listener) on "another host", each
 * SIGKILLed at random points and restarted. At the end every mirrored
 * journal is byte-identical to what the server wrote, and the stream holds
 * each record exactly once, in order.
 */

const ROUNDS = 6
const seed = testSeed

t.test('kill -9 the publisher and the consumer at random: mirror byte-identical, each record once in the stream', { skip: natsSkip || binSkip }, async (t) => {
  t.comment(`seed ${seed} (LOGDAEMON_TEST_SEED=${seed} repeats the kill points and the journal)`)
  const rng = new Random(seed)
  const dir = t.testdir()
  const nats = await startNats(join(dir, 'nats'))
  t.teardown(() => nats.stop())
  const publisher = join(dir, 'publisher.json')
  const consumer = join(dir, 'consumer.json')
  writeFileSync(
    publisher,
    JSON.stringify({
      server: { root: 'root' },
      from: 1,
      state: 'publisher.state.json',
      quietMs: 200,
      commitIntervalMs: 50,
      status: false,
      log: { level: 'warn', file: 'publisher.log' },
      listeners: [{ type: 'jetstream', options: { servers: nats.url, stream: 'P4', subject: 'p4.journal', server: 'sim' } }],
    }),
  )
  writeFileSync(
    consumer,
    JSON.stringify({
      source: { type: 'jetstream', servers: nats.url, stream: 'P4', durable: 'mirror' },
      quietMs: 200,
      commitIntervalMs: 50,
      status: false,
      log: { level: 'warn', file: 'consumer.log' },
      listeners: [{ type: 'mirror', options: { dir: 'mirror' } }],
    }),
  )
  const sim = new SimulatedP4d({ root: join(dir, 'root'), seed, rotateMode: 'random', maxPieces: 4 })
  await sim.restart()
  const writing = new AbortController()
  let rotations = 0
  const writer = sim.run({ intervalMs: 5, rotateEveryMs: 400, signal: writing.signal, restartNote: false, onAppend: () => {}, onRotate: () => rotations++ })

  let pub = startDaemon(publisher, dir)
  // The consumer needs the stream: the publisher makes it on its first start.
  await tick(500)
  let con = startDaemon(consumer, dir)
  for (let i = 0; i < ROUNDS; i++) {
    await tick(rng.int(100, 1500))
    const which = rng.int(0, 2) // 0: publisher, 1: consumer, 2: both
    if (which !== 1) {
      const r = await killDaemon(pub)
      t.equal(r.signal, 'SIGKILL', `round ${i + 1}: publisher killed${r.code !== null ? ` (it had exited ${r.code}: ${pub.stderr()})` : ''}`)
      pub = startDaemon(publisher, dir)
    }
    if (which !== 0) {
      const r = await killDaemon(con)
      t.equal(r.signal, 'SIGKILL', `round ${i + 1}: consumer killed${r.code !== null ? ` (it had exited ${r.code}: ${con.stderr()})` : ''}`)
      con = startDaemon(consumer, dir)
    }
  }
  writing.abort()
  const summary = await writer
  await sim.close()
  t.comment(`${summary.transactions} transactions, ${rotations} rotations, journals ${sim.journals.join(', ')}`)

  const mirrorOf = (n: number): Buffer => {
    const file = join(dir, 'mirror', `journal.${n}`)
    return existsSync(file) ? readFileSync(file) : Buffer.alloc(0)
  }
  const caughtUp = () => sim.journals.every((n) => mirrorOf(n).length === sim.journalBytes(n).length)
  const deadline = Date.now() + 90_000
  while (!caughtUp() && Date.now() < deadline && pub.child.exitCode === null && con.child.exitCode === null) await tick(100)
  pub.child.kill('SIGTERM')
  con.child.kill('SIGTERM')
  const [p, c] = await Promise.all([pub.exited, con.exited])
  t.equal(p.code, 0, `the publisher stops cleanly on SIGTERM${p.code ? `: ${pub.stderr()}` : ''}`)
  t.equal(c.code, 0, `the consumer stops cleanly on SIGTERM${c.code ? `: ${con.stderr()}` : ''}`)
  for (const n of sim.journals) {
    const want = sim.journalBytes(n)
    const got = mirrorOf(n)
    t.ok(got.equals(want), `journal ${n}: mirror ${got.length} bytes, journal ${want.length} bytes, identical`)
  }

  // The stream: every record once, in order, its bytes the journal's.
  const nc = await connect({ servers: nats.url })
  const jsm = await jetstreamManager(nc)
  const info = await jsm.streams.info('P4')
  const parts = new Map<number, Buffer[]>()
  let previous = ''
  let outOfOrder = 0
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage('P4', { seq })
    if (!m) continue
    const [journal, offset] = m.header.get('Logdaemon-Position').split('/').map(Number) as [number, number]
    const list = parts.get(journal) ?? []
    const have = list.reduce((s, b) => s + b.length, 0)
    if (offset !== have || (previous && Number(previous) > journal)) outOfOrder++
    previous = String(journal)
    list.push(Buffer.from(m.data))
    parts.set(journal, list)
  }
  await nc.close()
  t.equal(outOfOrder, 0, `${info.state.messages} messages, each starting where the one before it ended`)
  for (const n of sim.journals) {
    const got = Buffer.concat(parts.get(n) ?? [])
    t.ok(got.equals(sim.journalBytes(n)), `journal ${n}: the stream holds its ${sim.journalBytes(n).length} bytes once`)
  }
  for (const name of ['publisher.log', 'consumer.log']) {
    const log = existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : ''
    t.notMatch(log, /"level":(50|60)/, `no errors logged by the ${name.replace('.log', '')}`)
  }
})
