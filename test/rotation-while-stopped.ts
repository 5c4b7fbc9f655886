import t, { type Test } from 'tap'
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { gzipSync } from 'node:zlib'
import { READ_CHUNK_BYTES } from '../lib/files/file-reader.js'
import { readState } from '../lib/files/state-file.js'
import { SimulatedP4d, type RotateMode } from '../lib/sim/simulated-p4d.js'
import { RotatingJournalSource, type RotateEvent } from '../lib/source/rotating-journal-source.js'
import { consume, recordsOf, Union, until } from './helpers/follow.js'
import { seedOf } from './helpers/rotation-scenario.js'

async function setup(t: Test, seed: number, mode: RotateMode = 'rename', journalCounter = true) {
  const root = t.testdir()
  const sim = new SimulatedP4d({ root, seed: seedOf(seed), startJournal: 20, rotateMode: mode, journalCounter })
  t.teardown(() => sim.close())
  const state = join(root, 'logdaemon.state')
  const union = new Union()
  /** One follower run until `stop` is true; its records join the union. */
  const run = async (stop: (records: number, sawEnd: boolean, rotations: RotateEvent[]) => boolean, from?: number | 'end') => {
    const source = new RotatingJournalSource({ root, state, pollMs: 100, ...(from === undefined ? {} : { from }) })
    const rotations: RotateEvent[] = []
    source.on('rotate', (e) => rotations.push(e))
    const c = consume(source)
    await until(() => stop(c.seen.entries.length, c.seen.caughtUp(sim), rotations) || c.error() !== null, 15_000, 'the follower')
    await c.stop()
    t.equal(c.error(), null, 'no error')
    union.addRun(recordsOf(c.seen))
    return { seen: c.seen, rotations }
  }
  const write = async (transactions: number) => {
    for (let i = 0; i < transactions; i++) await sim.appendTransaction()
  }
  return { root, sim, state, union, run, write }
}

t.test('rotation by rename while stopped', async (t) => {
  const { sim, union, run, write } = await setup(t, 4401)
  await write(40)
  await run((n) => n > 200, 20)
  await write(10)
  await sim.rotate('rename')
  await write(10)
  const second = await run((_n, end) => end)
  t.same(
    second.rotations.map((r) => [r.from, r.mode]),
    [[20, 'archived']],
    'journal 20 finished from its archive',
  )
  const check = union.check(sim, 20)
  t.ok(check.ok, check.detail)
})

t.test('several rotations while stopped, every mode, archives gzipped meanwhile: resume inside a .gz', async (t) => {
  const { root, sim, state, union, run, write } = await setup(t, 4402)
  await write(60)
  await run((n) => n > 300, 20)
  const saved = await readState(state)
  t.equal(saved?.journal, 20, 'stopped inside journal 20')
  await write(10)
  await sim.rotate('copy-truncate')
  await write(10)
  await (await sim.rotate('rename-gzip')).done
  await write(5)
  await sim.rotate('rename')
  await write(5)
  // Retention compresses the archives the follower has not read yet.
  for (const n of [20, 22]) {
    const plain = join(root, `journal.${n}`)
    writeFileSync(`${plain}.gz`, gzipSync(readFileSync(plain)))
    unlinkSync(plain)
  }
  const second = await run((_n, end) => end)
  t.same(
    second.rotations.map((r) => r.from),
    [20, 21, 22],
  )
  t.equal(sim.currentJournal, 23)
  const check = union.check(sim, 20)
  t.ok(check.ok, check.detail)
  t.ok(union.duplicates < 200, `replayed ${union.duplicates} records at most (one transaction's worth)`)
})

t.test('an archive deleted by retention after it was read', async (t) => {
  const { root, sim, state, union, run, write } = await setup(t, 4403)
  await write(20)
  await sim.rotate('rename')
  await write(20)
  await run((_n, end) => end, 20)
  t.equal((await readState(state))?.journal, 21)
  unlinkSync(join(root, 'journal.20'))
  await write(10)
  await sim.rotate('rename')
  await write(10)
  await run((_n, end) => end)
  t.ok(union.check(sim, 20).ok, union.check(sim, 20).detail)
})

t.test('stopped exactly at the end of a journal whose archive is then deleted: resumes at the next', async (t) => {
  // No journal counter record: journal 21 stays empty until the follower has stopped.
  const { root, sim, state, union, run, write } = await setup(t, 4404, 'rename', false)
  await write(20)
  await sim.rotate('copy-truncate')
  const first = await run((_n, _end, rotations) => rotations.length > 0, 20)
  t.ok(first.seen.entries.length > 0)
  const saved = await readState(state)
  t.same([saved?.journal, saved?.offset, saved?.tail.length], [21, 0, 0], 'the end of 20 saved as 21/0')
  await write(10)
  await sim.rotate('rename')
  unlinkSync(join(root, 'journal.20'))
  await write(5)
  await run((_n, end) => end)
  t.ok(union.check(sim, 20).ok, union.check(sim, 20).detail)
})

t.test('a journal gzipped while the follower reads it (catching up, paused)', async (t) => {
  const { root, sim, union, write } = await setup(t, 4405)
  // Journal 20 spans many read chunks, and the source buffers one batch (a chunk's entries): held after its
  // first entry, the follower cannot read past journal 20 however slow the machine is.
  while (sim.liveSize < 8 * READ_CHUNK_BYTES) await write(50)
  await sim.rotate('rename')
  for (const n of [21, 22]) {
    await write(150)
    await sim.rotate('rename')
    t.ok(n)
  }
  await write(5)
  const source = new RotatingJournalSource({ root, from: 20, pollMs: 100, highWaterMark: 1 })
  const c = consume(source)
  const release = c.hold()
  await until(() => (source.status.read?.offset ?? 0) > 0)
  await sleep(50)
  t.equal(source.status.read?.journal, 20, 'paused inside journal 20')
  const { offset = 0 } = source.status.read ?? {}
  t.ok(offset < sim.journalBytes(20).length, `before its end (${offset} of ${sim.journalBytes(20).length} bytes)`)
  for (const n of [20, 21, 22]) {
    const plain = join(root, `journal.${n}`)
    writeFileSync(`${plain}.gz`, gzipSync(readFileSync(plain)))
    unlinkSync(plain)
  }
  release()
  await until(() => c.seen.caughtUp(sim))
  await c.stop()
  union.addRun(recordsOf(c.seen))
  t.ok(union.check(sim, 20).ok, union.check(sim, 20).detail)
  t.equal(union.duplicates, 0)
})
