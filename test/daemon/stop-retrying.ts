import t from 'tap'
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { Daemon } from '../../lib/daemon/daemon.js'
import { parseConfig, type ConfigInput } from '../../lib/daemon/config.js'
import { StateLock } from '../../lib/files/state-lock.js'
import { readState } from '../../lib/files/state-file.js'
import { BaseListener, type ListenerContext } from '../../lib/listeners/listener.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { transactions, tick } from '../helpers/entries.js'

/**
 * The graceful stop (SIGTERM, `stop()`) and a listener whose call is being
 * retried: the retries end at once, the stop finishes promptly, nothing
 * past the last commit is committed, and the stop is not a failure (exit
 * 0, docs/operations.md). A lock another live process holds is not retried.
 */

/** An hour between attempts: a stop that waited for the retries would time out (stopTimeoutMs) instead. */
const SLOW_RETRY = { retries: 5, minTimeout: 3_600_000, maxTimeout: 3_600_000, randomize: false }

interface Logged {
  level: number
  msg: string
  [key: string]: unknown
}

function capture(): { logger: pino.Logger; lines: Logged[]; msgs: () => string[] } {
  const lines: Logged[] = []
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Logged) })
  return { logger, lines, msgs: () => lines.map((l) => l.msg) }
}

/** Writes root/journal with `count` transactions (the first `upTo` bytes only, when given); returns its entries and bytes. */
function journal(dir: string, count = 40, upTo?: number): { entries: JournalEntry[]; bytes: Buffer } {
  mkdirSync(join(dir, 'root'), { recursive: true })
  const { bytes, entries } = transactions(count, 1)
  writeFileSync(join(dir, 'root', 'journal'), upTo === undefined ? bytes : bytes.subarray(0, upTo))
  return { entries, bytes }
}

async function config(dir: string, extra: Partial<ConfigInput>) {
  return parseConfig({ server: { root: 'root' }, from: 1, quietMs: 50, commitIntervalMs: 10, status: false, retry: SLOW_RETRY, ...extra }, { baseDir: dir })
}

async function until(what: () => boolean, max = 20_000): Promise<void> {
  const end = Date.now() + max
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await tick(5)
  }
}

/** Collects what it is given. */
class Collect extends BaseListener {
  got: JournalEntry[] = []
  closed = 0
  listen(e: JournalEntry): void {
    this.got.push(e)
  }
  override close(): void {
    this.closed++
  }
}

t.test('a stop while an open is being retried ends at once: the stop succeeds, with a warning that the listener never opened', async (t) => {
  const dir = t.testdir()
  journal(dir)
  let closes = 0
  const refused = new (class extends BaseListener {
    open(): Promise<void> {
      return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1'))
    }
    listen(): void {}
    override close(): void {
      closes++
    }
  })('db')
  const { logger, lines, msgs } = capture()
  const daemon = new Daemon(await config(dir, { listeners: [{ type: 'module', module: () => refused, name: 'db' }] }), { logger })
  await daemon.start()
  await until(() => msgs().includes('listener db failed in open; retrying'))
  const from = Date.now()
  await daemon.stop()
  const ms = Date.now() - from
  // Before the fix the retries went on after the stop, and it ended with ERR_STOP_TIMEOUT after stopTimeoutMs (60 s).
  t.ok(ms < 5000, `stopped in ${ms} ms`)
  await t.resolves(daemon.done, 'the stop is not a failure (exit 0)')
  const warning = lines.find((l) => /^listener "db" never opened/.test(l.msg))
  t.match(warning, {
    level: 40,
    msg: /^listener "db" never opened: the daemon is stopping; open failed once \(the last: connect ECONNREFUSED 127\.0\.0\.1:1\) and is not retried\. Nothing after the last commit was committed: the next start resumes there$/,
  })
  t.equal(lines.filter((l) => l.msg === 'listener db failed in open; retrying').length, 1, 'no retry after the stop')
  t.notOk(
    lines.some((l) => l.level >= 50),
    'nothing logged as an error',
  )
  t.equal(msgs().at(-1), 'stopped')
  t.equal(closes, 1, 'closed once')
  t.not(daemon.tracker.snapshot().health, 'Failed', 'the status does not say Failed')
})

t.test('a stop while a listen is being retried: the healthy listener is closed, nothing past the failing entry is committed', async (t) => {
  const dir = t.testdir()
  const { entries, bytes } = transactions(40, 1)
  const bad = entries.find((_e, i) => i >= 25 && entries[i - 1]!.consistent)!
  // The journal up to the failing entry first, committed; then the rest.
  journal(dir, 40, bad.position.offset)
  const flaky = new (class extends BaseListener {
    failures = 0
    listen(e: JournalEntry): void {
      if (e.position.offset >= bad.position.offset) {
        this.failures++
        throw new Error('disk full')
      }
    }
  })('flaky')
  const collect = new Collect('collect')
  const { logger, lines } = capture()
  const cfg = await config(dir, {
    state: 'logdaemon.state',
    listeners: [
      { type: 'module', module: () => collect, name: 'collect' },
      { type: 'module', module: () => flaky, name: 'flaky' },
    ],
  })
  const daemon = new Daemon(cfg, { logger })
  await daemon.start()
  await until(() => daemon.chain?.committed?.offset === bad.position.offset)
  appendFileSync(join(dir, 'root', 'journal'), bytes.subarray(bad.position.offset))
  await until(() => flaky.failures > 0)
  await until(() => collect.got.length === entries.length)
  const from = Date.now()
  await daemon.stop()
  const ms = Date.now() - from
  t.ok(ms < 5000, `stopped in ${ms} ms`)
  await t.resolves(daemon.done)
  t.equal(flaky.failures, 1, 'not retried after the stop')
  t.equal(collect.closed, 1, 'the healthy listener is closed')
  const saved = await readState(join(dir, 'logdaemon.state'))
  t.ok(saved, 'the state is saved')
  t.same({ journal: saved?.journal, offset: saved?.offset }, { journal: 1, offset: bad.position.offset }, 'committed up to the failing entry, not past it')
  t.match(
    lines.find((l) => /^listener "flaky" stopped in listen/.test(l.msg)),
    {
      level: 40,
      msg: `listener "flaky" stopped in listen: the daemon is stopping; listen failed once (the last: disk full) and is not retried. Nothing after 1/${bad.position.offset} was committed: the next start resumes there`,
    },
  )
  t.notOk(
    lines.some((l) => /^listener "collect"/.test(l.msg)),
    'the healthy listener is not named',
  )
})

t.test('a stop that times out names the listener call waiting to retry, not "no listener call was pending"', async (t) => {
  const dir = t.testdir()
  journal(dir, 3)
  const quietFails = new (class extends BaseListener {
    listen(): void {}
    override noData(): Promise<void> {
      return Promise.reject(new Error('webhook 503'))
    }
  })('hook')
  const { logger } = capture()
  // --until-caught-up waits for the listeners (exit 0 there means everything read was committed): the retry is waited on.
  const daemon = new Daemon(await config(dir, { stopTimeoutMs: 300, listeners: [{ type: 'module', module: () => quietFails, name: 'hook' }] }), {
    logger,
    untilCaughtUp: true,
  })
  t.teardown(() => daemon.kill())
  await daemon.start()
  const err = await daemon.done.then(
    () => null,
    (e: unknown) => e as Error,
  )
  t.match(err, { code: 'ERR_STOP_TIMEOUT', details: { phase: 'listeners' } })
  t.match(err?.message, /waited on listener "hook" waiting to retry noData, failed once in \d+ s\. Nothing after/)
  t.notMatch(err?.message, /no listener call was pending/)
})

t.test('a mirror whose directory another live process holds fails the daemon at once (ERR_LOCKED is not retried)', async (t) => {
  const dir = t.testdir()
  journal(dir)
  mkdirSync(join(dir, 'mirror'))
  // This process holds the mirror's lock: a live holder, as a second daemon on the same mirror finds it.
  const held = await StateLock.acquire(join(dir, 'mirror', '.mirror-state.json'), { command: 'other-daemon' })
  t.teardown(() => held.release())
  const { logger, msgs } = capture()
  // The default retries (8, from 1 s doubling) would take minutes.
  const cfg = await config(dir, { retry: {}, listeners: [{ type: 'mirror', options: { dir: 'mirror', fsync: false } }] })
  const daemon = new Daemon(cfg, { logger })
  const from = Date.now()
  await daemon.start()
  const err = await daemon.done.then(
    () => null,
    (e: unknown) => e as Error,
  )
  const ms = Date.now() - from
  t.ok(ms < 5000, `failed in ${ms} ms`)
  t.match(err, { code: 'ERR_LISTENER_FAILED', details: { operation: 'open' }, cause: { code: 'ERR_LOCKED', retryable: false } })
  t.match(err?.message, /failed in open: state file .*\.mirror-state\.json is in use by process \d+ \(other-daemon on /)
  t.notOk(
    msgs().some((m) => /; retrying$/.test(m)),
    'not retried',
  )
})

t.test('the listener context signal of an open in progress is aborted by the stop', async (t) => {
  const dir = t.testdir()
  journal(dir)
  let signal: AbortSignal | null = null
  const waits = new (class extends BaseListener {
    open(ctx: ListenerContext): Promise<void> {
      signal = ctx.signal
      // Its own reconnect loop, which ends when told.
      return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }))
    }
    listen(): void {}
  })('nats')
  const { logger, lines } = capture()
  const daemon = new Daemon(await config(dir, { listeners: [{ type: 'module', module: () => waits, name: 'nats' }] }), { logger })
  await daemon.start()
  await until(() => signal !== null)
  const from = Date.now()
  await daemon.stop()
  t.ok(Date.now() - from < 5000)
  await t.resolves(daemon.done)
  t.equal(signal!.aborted, true)
  t.match(
    lines.find((l) => /^listener "nats"/.test(l.msg)),
    { level: 40, msg: /^listener "nats" never opened: the daemon is stopping\. Nothing after the last commit was committed/ },
  )
})

t.test('an open that never settles and ignores its signal is abandoned by the stop (it held the stop until stopTimeoutMs: exit 1)', async (t) => {
  const dir = t.testdir()
  journal(dir)
  let opening = false
  const deaf = new (class extends BaseListener {
    open(): Promise<void> {
      opening = true
      return new Promise(() => {})
    }
    listen(): void {}
  })('deaf')
  const { logger, lines } = capture()
  const daemon = new Daemon(await config(dir, { stopTimeoutMs: 3_600_000, listeners: [{ type: 'module', module: () => deaf, name: 'deaf' }] }), { logger })
  await daemon.start()
  await until(() => opening)
  const from = Date.now()
  await daemon.stop()
  t.ok(Date.now() - from < 5000, `the stop ended at once (${Date.now() - from} ms)`)
  await t.resolves(daemon.done, 'a clean stop')
  t.match(
    lines.find((l) => /^listener "deaf"/.test(l.msg)),
    { level: 40, msg: /^listener "deaf" never opened: the daemon is stopping\. Nothing after the last commit was committed/ },
  )
})
