import t, { type Test } from 'tap'
import { finished } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { ListenerChain } from '../../lib/listeners/listener-chain.js'
import { BaseListener } from '../../lib/listeners/listener.js'
import type { JournalPosition } from '../../lib/position.js'
import { SimulatedP4d } from '../../lib/sim/simulated-p4d.js'
import { CHUNK_BYTES } from '../../lib/source/archive-reader.js'
import { RotatingJournalSource } from '../../lib/source/rotating-journal-source.js'
import { transactions } from '../helpers/entries.js'
import { readingStopped, until } from '../helpers/follow.js'

const fast = { retries: 1, minTimeout: 1, maxTimeout: 2, randomize: false }

/** Logs every call in order; every `asyncEvery`-th listen settles after a timer. */
class Recorder extends BaseListener {
  calls: string[] = []
  got: JournalEntry[] = []
  syncs: JournalPosition[] = []
  constructor(
    name: string,
    readonly asyncEvery = 0,
    readonly failAt = -1,
  ) {
    super(name)
  }
  override isHandled(e: JournalEntry): boolean {
    return e.op !== 'nx'
  }
  listen(e: JournalEntry): void | Promise<void> {
    if (e.position.offset === this.failAt) throw new Error(`cannot take ${e.position.offset}`)
    const take = (): void => {
      this.got.push(e)
      this.calls.push(`listen ${e.position.journal}/${e.position.offset} ${e.position.journal}/${e.position.end}`)
    }
    if (this.asyncEvery && this.got.length % this.asyncEvery === 0) return sleep(0).then(take)
    take()
  }
  sync(p: JournalPosition): void {
    this.syncs.push(p)
    this.calls.push(`sync ${p.journal}/${p.offset}`)
  }
}

async function server(t: Test): Promise<{ root: string; sim: SimulatedP4d }> {
  const root = t.testdir()
  const sim = new SimulatedP4d({ root, seed: 1415, startJournal: 1 })
  t.teardown(() => sim.close())
  for (const mode of ['rename', 'rename-gzip', 'copy-truncate'] as const) {
    for (let k = 0; k < 120; k++) await sim.appendTransaction()
    await (await sim.rotate(mode)).done
  }
  for (let k = 0; k < 120; k++) await sim.appendTransaction()
  return { root, sim }
}

/** Source → chain (both with or without batches) until the live end; then the daemon's stop. */
async function run(root: string, sim: SimulatedP4d, batch: boolean): Promise<{ listeners: Recorder[]; commits: JournalPosition[]; consistent: Set<string> }> {
  const listeners = [new Recorder('a', 7), new Recorder('b')]
  const source = new RotatingJournalSource({ root, from: 1, batch })
  const commits: JournalPosition[] = []
  const consistent = new Set<string>()
  const chain = new ListenerChain({
    listeners,
    batch,
    commitIntervalMs: 0,
    quietMs: 0,
    commit: (p) => {
      commits.push(p)
      source.commit(p)
    },
    observer: {
      entryRead: (e) => {
        if (e.consistent) consistent.add(`${e.position.journal}/${e.position.end}`)
      },
    },
  })
  const live = sim.currentJournal
  const size = sim.journalBytes(live).length
  source.pipe(chain)
  while (!listeners.every((l) => l.got.at(-1)?.position.journal === live && l.got.at(-1)?.position.end === size)) await sleep(5)
  source.unpipe(chain)
  chain.end()
  await finished(chain)
  source.destroy()
  return { listeners, commits, consistent }
}

t.test('the batch path calls listeners exactly as the entry path: same entries, in order; commits only at consistency points all have synced', async (t) => {
  const { root, sim } = await server(t)
  const single = await run(root, sim, false)
  const batched = await run(root, sim, true)
  for (const [i, l] of batched.listeners.entries()) {
    const want = single.listeners[i] as Recorder
    t.ok(want.got.length > 1000, `${want.got.length} entries`)
    t.same(
      l.calls.filter((c) => c.startsWith('listen')),
      want.calls.filter((c) => c.startsWith('listen')),
      `${l.name}: the same listen calls in the same order`,
    )
  }
  for (const r of [single, batched]) {
    t.ok(r.commits.length > 0)
    t.same(r.commits.at(-1), { journal: sim.currentJournal, offset: lastConsistent(r) }, 'the last consistency point is committed at the end')
    for (const c of r.commits) t.ok(r.consistent.has(`${c.journal}/${c.offset}`), `commit ${c.journal}/${c.offset} is a consistency point`)
    for (const l of r.listeners) {
      // sync(p) comes after the entry that ends at p (and so after every entry before it).
      const handledAt = new Map<string, number>()
      for (const [k, call] of l.calls.entries()) {
        if (call.startsWith('listen ')) {
          handledAt.set(call.split(' ')[2] as string, k)
          continue
        }
        const p = call.slice(5)
        const k0 = handledAt.get(p)
        t.ok(k0 !== undefined && k0 < k, `${l.name}: the entry ending at ${p} was handled before sync(${p})`)
      }
    }
  }
  t.same(batched.commits.at(-1), single.commits.at(-1), 'the same final commit')
})

function lastConsistent(r: { listeners: Recorder[]; consistent: Set<string> }): number {
  const got = (r.listeners[0] as Recorder).got
  for (let i = got.length - 1; i >= 0; i--) {
    const e = got[i] as JournalEntry
    if (e.consistent) return e.position.end
  }
  return -1
}

t.test('a listener that throws mid-batch: handled up to it, then ERR_LISTENER_FAILED; nothing past it is committed', async (t) => {
  const { entries } = transactions(200)
  const bad = entries[151] as JournalEntry
  const failing = new Recorder('failing', 0, bad.position.offset)
  const other = new Recorder('other', 3)
  const commits: JournalPosition[] = []
  const chain = new ListenerChain({ listeners: [other, failing], batch: true, retry: fast, commitIntervalMs: 0, commit: (p) => void commits.push(p) })
  const error = new Promise<unknown>((resolve) => chain.on('error', resolve))
  chain.write(entries.slice(0, 100))
  chain.write(entries.slice(100))
  t.match(await error, { code: 'ERR_LISTENER_FAILED', message: /failing/ })
  t.same(failing.got, entries.slice(0, 151), 'every entry before the failing one, in order')
  for (const c of commits) t.ok(c.offset <= bad.position.offset, `commit ${c.offset} is before the failing entry`)
})

t.test('a slow listener slows the file read: a bounded read-ahead, then everything once it goes on', async (t) => {
  const root = t.testdir()
  const sim = new SimulatedP4d({ root, seed: 1416, startJournal: 1 })
  t.teardown(() => sim.close())
  for (let k = 0; k < 600; k++) await sim.appendTransaction()
  const size = sim.journalBytes(1).length
  t.ok(size > 12 * CHUNK_BYTES, 'many read chunks')
  let open!: () => void
  let gate: Promise<void> | null = new Promise<void>((resolve) => (open = resolve))
  let last: JournalEntry | null = null
  const slow = new (class extends BaseListener {
    async listen(e: JournalEntry): Promise<void> {
      if (gate) await gate
      last = e
    }
  })('slow')
  const source = new RotatingJournalSource({ root, from: 1, batch: true })
  const chain = new ListenerChain({ listeners: [slow], batch: true, quietMs: 0, commit: (p) => source.commit(p) })
  source.pipe(chain)
  // Wait until the reading stops: the pipe paused and the source's buffer full (a loaded machine may take a while to fill the buffers).
  await until(() => readingStopped(source), 30_000, 'the reading stopped')
  const read = source.status.read?.offset ?? 0
  // The source's 2 batches, the chain's 2 and 1 dispatched, the listener's 2 and 1 in hand: a chunk each.
  t.ok(read > 0 && read <= 9 * CHUNK_BYTES, `read ahead ${read} bytes of ${size} while the listener waits`)
  await sleep(200)
  t.equal(source.status.read?.offset, read, 'no more is read while the listener waits')
  open()
  gate = null
  while ((last as JournalEntry | null)?.position.end !== size) await sleep(5)
  source.unpipe(chain)
  chain.end()
  await finished(chain)
  source.destroy()
  t.equal(chain.committed?.offset, lastConsistentEnd(sim.journalBytes(1)), 'committed to the last consistency point')
})

/** End of the last `@ex@` record in `bytes` (the sim's transactions end with one). */
function lastConsistentEnd(bytes: Buffer): number {
  const at = bytes.lastIndexOf('\n@ex@ ')
  return bytes.indexOf('\n', at + 1) + 1
}

t.test('the barrier inside a batch: the newest consistency point before it is committed, the rest when it passes', async (t) => {
  const { entries } = transactions(50)
  const mid = entries[41] as JournalEntry // an @ex@
  let barrier: JournalPosition = { journal: 1, offset: mid.position.end + 3 }
  const l = new Recorder('l')
  const commits: JournalPosition[] = []
  const chain = new ListenerChain({ listeners: [l], batch: true, commitIntervalMs: 0, barrier: () => barrier, commit: (p) => void commits.push(p) })
  chain.write(entries)
  while (commits.length === 0) await sleep(1)
  t.same(commits, [{ journal: 1, offset: mid.position.end }], 'the last consistency point at or before the barrier')
  barrier = { journal: 1, offset: Number.MAX_SAFE_INTEGER }
  chain.end()
  await finished(chain)
  t.same(commits.at(-1), { journal: 1, offset: (entries.at(-1) as JournalEntry).position.end }, 'the held one once the barrier passed it')
})

t.test('writes a batch chain takes and refuses; a chain without batch refuses arrays', async (t) => {
  const { entries } = transactions(3)
  const l = new Recorder('l')
  const chain = new ListenerChain({ listeners: [l], batch: true })
  chain.write(entries[0])
  chain.write([])
  chain.write(entries.slice(1))
  chain.end()
  await finished(chain)
  t.same(l.got, entries, 'a single entry is a batch of one; an empty batch is nothing')

  const bad = new ListenerChain({ listeners: [new Recorder('x')], batch: true })
  bad.write([entries[0], 'nope'])
  t.match(await new Promise((resolve) => bad.on('error', resolve)), { name: 'TypeError', message: /batch holding a string/ })

  const plain = new ListenerChain({ listeners: [new Recorder('y')] })
  plain.write(entries)
  t.match(await new Promise((resolve) => plain.on('error', resolve)), { name: 'TypeError', message: /pass batch: true/ })
})
