import t, { type Test } from 'tap'
import { readdirSync, readlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { SimulatedP4d } from '../../lib/sim/simulated-p4d.js'
import { RotatingJournalSource } from '../../lib/source/rotating-journal-source.js'

type Seen = { raw: string; position: JournalEntry['position']; consistent: boolean; didRotate: boolean }

const view = (e: JournalEntry): Seen => ({ raw: e.raw.toString('latin1'), position: e.position, consistent: e.consistent, didRotate: e.didRotate })

/** A server with archives made by every rotation mode (the .gz ones finished) and a live journal, each several read chunks. */
async function server(t: Test): Promise<{ root: string; live: number; size: number }> {
  const root = t.testdir()
  const sim = new SimulatedP4d({ root, seed: 1414, startJournal: 1 })
  t.teardown(() => sim.close())
  for (const mode of ['rename', 'copy-truncate', 'rename-gzip', 'rename'] as const) {
    for (let k = 0; k < 120; k++) await sim.appendTransaction()
    await (await sim.rotate(mode)).done
  }
  for (let k = 0; k < 120; k++) await sim.appendTransaction()
  const live = sim.currentJournal
  return { root, live, size: sim.journalBytes(live).length }
}

/** Reads from journal 1 until the live journal's end; `how` is the consumer. */
async function readAll(root: string, live: number, size: number, how: 'data' | 'batch' | 'for-await'): Promise<Seen[]> {
  const seen: Seen[] = []
  const atEnd = (e: JournalEntry): boolean => e.position.journal === live && e.position.end === size
  const source = new RotatingJournalSource({ root, from: 1, ...(how === 'batch' ? { batch: true } : {}) })
  if (how === 'for-await') {
    for await (const e of source) {
      seen.push(view(e))
      if (atEnd(e)) break
    }
    return seen
  }
  await new Promise<void>((resolve, reject) => {
    source.on('error', reject)
    source.on('data', (item: JournalEntry | JournalEntry[]) => {
      if (how === 'batch' && !Array.isArray(item)) reject(new Error('batch: true pushed a single entry'))
      for (const e of Array.isArray(item) ? item : [item]) {
        seen.push(view(e))
        if (atEnd(e)) resolve()
      }
    })
  })
  source.destroy()
  return seen
}

t.test('batch: true and for await hand out the entries of the object-mode stream: same order, positions, flags, across rotations', async (t) => {
  const { root, live, size } = await server(t)
  const want = await readAll(root, live, size, 'data')
  t.ok(want.length > 3000, `${want.length} entries`)
  t.ok(size > 2 * 128 * 1024, 'the live journal alone is several read chunks')
  t.equal(want.filter((e) => e.didRotate).length, 4, 'a didRotate per rotation')
  t.ok(
    want.some((e) => e.consistent),
    'consistency points',
  )
  t.same(await readAll(root, live, size, 'batch'), want, 'batch: true')
  t.same(await readAll(root, live, size, 'for-await'), want, 'for await')
})

t.test('batch: true with malformed bytes in the middle: every good entry first, then ERR_JOURNAL_MALFORMED', async (t) => {
  const root = t.testdir()
  const good = Array.from({ length: 20_000 }, (_, i) => `@ex@ ${i} 1611008050\n`).join('')
  writeFileSync(join(root, 'journal.1'), good + 'garbage\n@ex@ 1 2\n')
  writeFileSync(join(root, 'journal'), '')
  for (const how of ['batch', 'for-await'] as const) {
    const source = new RotatingJournalSource({ root, from: 1, ...(how === 'batch' ? { batch: true } : {}) })
    let n = 0
    let error: unknown = null
    if (how === 'batch') {
      error = await new Promise((resolve) => {
        source.on('data', (batch: JournalEntry[]) => {
          n += batch.length
          // A slow consumer: the error must wait for the batches before it.
          source.pause()
          setTimeout(() => source.resume(), 1)
        })
        source.on('error', resolve)
      })
    } else {
      try {
        for await (const _e of source) n++
      } catch (err) {
        error = err
      }
    }
    t.match(error, { code: 'ERR_JOURNAL_MALFORMED' }, how)
    t.equal(n, 20_000, `${how}: every good entry before it`)
  }
})

/** This process's descriptors on `path`. */
function fdsOn(path: string): string[] {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path
    } catch {
      return false
    }
  })
}

t.test('break out of for await destroys the source: the live journal is closed', async (t) => {
  const { root, live } = await server(t)
  const path = join(root, 'journal')
  // The simulator holds the live journal open to write it.
  const before = fdsOn(path)
  const source = new RotatingJournalSource({ root, from: live })
  let n = 0
  for await (const _e of source) if (++n === 10) break
  t.ok(source.destroyed)
  if (!source.closed) await new Promise((resolve) => source.once('close', resolve))
  t.same(fdsOn(path), before, 'no descriptor of the source left on the live journal')
})

t.test('with batch: true, for await yields the arrays and ends quietly on destroy', async (t) => {
  const { root, live, size } = await server(t)
  const source = new RotatingJournalSource({ root, from: live, batch: true })
  let n = 0
  for await (const batch of source as AsyncIterable<JournalEntry[]>) {
    t.ok(Array.isArray(batch))
    n += batch.length
    if (batch.at(-1)?.position.end === size) source.destroy()
  }
  t.ok(n > 0)
})

t.test('destroy() inside for await: no entry after it, though a batch was in hand', async (t) => {
  const { root, live } = await server(t)
  const source = new RotatingJournalSource({ root, from: live })
  let n = 0
  for await (const _e of source) if (++n === 10) source.destroy()
  t.equal(n, 10, 'the loop ended at the next step')
})
