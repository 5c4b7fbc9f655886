import t from 'tap'
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { Daemon } from '../../lib/daemon/daemon.js'
import { parseConfig } from '../../lib/daemon/config.js'
import { natsSkip, startNats, type NatsServer } from '../helpers/nats.js'

/**
 * The probe's case, end to end: a publishing daemon (journal files →
 * `jetstream` listener) and a consuming daemon on another host (jetstream
 * source → print). The consumer falls behind; the nats-server loses its
 * store; the publisher makes the stream again from its own committed
 * position. Before, the consumer's new durable consumer started at the new
 * stream's first record and its listeners missed the records between, with
 * no error. Now its state file says where it stood: it stops with
 * ERR_JETSTREAM_GAP and prints nothing past the hole; and a consumer that
 * was not behind goes on with every record once. The three daemons'
 * configurations share a directory and leave `state` to its default, as
 * before consumers kept a position file: each has its own file still.
 */

/** `n` transactions, each a counter record and its `@ex@`, numbered from `from`. */
function transactions(from: number, n: number): string {
  let text = ''
  for (let i = from; i < from + n; i++) text += `@pv@ 1 @db.counters@ @k${i}@ @${i}@ \n@ex@ ${i} 1611008050\n`
  return text
}

async function runUntilCaughtUp(dir: string, settings: Record<string, unknown>, warnings: string[] = []): Promise<Error | null> {
  const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) })
  const daemon = new Daemon(await parseConfig({ quietMs: 200, commitIntervalMs: 50, status: false, ...settings }, { baseDir: dir }), {
    logger,
    untilCaughtUp: true,
  })
  try {
    await daemon.start()
    await daemon.done
    return null
  } catch (err) {
    return err as Error
  }
}

function publisher(nats: NatsServer): Record<string, unknown> {
  return {
    server: { root: 'root' },
    from: 1,
    listeners: [{ type: 'jetstream', options: { servers: nats.url, stream: 'P4', server: 'sim' } }],
  }
}

function consumer(nats: NatsServer, name: string): Record<string, unknown> {
  return {
    source: { type: 'jetstream', servers: nats.url, stream: 'P4', durable: name },
    retry: { retries: 1, minTimeout: 50, maxTimeout: 100 },
    listeners: [{ type: 'print', options: { output: `${name}.out`, format: 'raw' } }],
  }
}

t.test('a consumer daemon after its nats-server lost the store: behind, ERR_JETSTREAM_GAP; level, every record once', { skip: natsSkip }, async (t) => {
  const dir = t.testdir()
  const nats = await startNats(join(dir, 'nats'))
  t.teardown(() => nats.stop())
  mkdirSync(join(dir, 'root'))
  const live = join(dir, 'root', 'journal')
  writeFileSync(live, transactions(0, 20))

  t.equal(await runUntilCaughtUp(dir, publisher(nats)), null, 'published transactions 0..19')
  t.equal(await runUntilCaughtUp(dir, consumer(nats, 'behind')), null, 'consumer "behind" read them')
  appendFileSync(live, transactions(20, 20))
  t.equal(await runUntilCaughtUp(dir, publisher(nats)), null, 'published transactions 20..39')
  t.equal(await runUntilCaughtUp(dir, consumer(nats, 'level')), null, 'consumer "level" read them all')
  const behindBefore = readFileSync(join(dir, 'behind.out'), 'utf8')
  t.equal(behindBefore, transactions(0, 20), '"behind" printed 0..19')

  // The store lost: every stream and consumer gone, the publisher's state still at the end of transaction 39.
  await nats.stop()
  rmSync(nats.store, { recursive: true, force: true })
  await nats.start()
  appendFileSync(live, transactions(40, 10))
  t.equal(await runUntilCaughtUp(dir, publisher(nats)), null, 'the publisher made the stream again from its position: transactions 40..49')

  const warnings: string[] = []
  const err = (await runUntilCaughtUp(dir, consumer(nats, 'behind'), warnings)) as (Error & { code?: string }) | null
  t.equal(err?.code, 'ERR_JETSTREAM_GAP', `"behind" stops at the hole (${err?.message})`)
  t.match(
    err?.message,
    `ended at 1/${Buffer.byteLength(transactions(0, 20))} (where the state file ${join(dir, 'logdaemon.state.jetstream.P4.behind.json')} says`,
  )
  t.equal(readFileSync(join(dir, 'behind.out'), 'utf8'), behindBefore, '"behind" printed nothing past the hole')
  t.match(
    warnings.join(''),
    /past what durable consumer behind acknowledged \(nothing: a new consumer; the stream was made again at /,
    'the log says why it read from the state file',
  )

  t.equal(await runUntilCaughtUp(dir, consumer(nats, 'level')), null, '"level" goes on')
  t.equal(readFileSync(join(dir, 'level.out'), 'utf8'), transactions(0, 50), '"level" printed every transaction once')
})
