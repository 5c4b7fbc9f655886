/**
 * `kill -9` of a following `logdaemon-cat --follow --state` at random
 * moments, many times, while a simulated p4d writes and rotates in every
 * mode; each restart goes on from the state file. The union of what the
 * runs printed must be every byte of every journal, in order: each run's
 * output is exactly the journal bytes from the position saved before it
 * (a record cut by the kill included), and each saved position lies within
 * what the run before had printed (repeats only after the last commit).
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { readState } from '../lib/files/state-file.js'
import type { JournalPosition } from '../lib/position.js'
import { Random } from '../lib/sim/random.js'
import { SimulatedP4d } from '../lib/sim/simulated-p4d.js'
import { until } from './helpers/follow.js'
import { seedOf } from './helpers/rotation-scenario.js'
import { BIN_TS, tsNodeArgs, tsNodeEnv } from './helpers/spawn-ts.js'

const RUNS = Number(process.env.LOGDAEMON_KILL_RUNS ?? 8)
const FIRST = 30

interface Run {
  start: JournalPosition
  output: Buffer
  killed: boolean
}

/** The bytes of every journal from `start` on, as one stream, and a way to map a length back to a position. */
function streamFrom(
  sim: SimulatedP4d,
  start: JournalPosition,
): { bytes: Buffer; positionAfter: (length: number) => JournalPosition; lengthTo: (p: JournalPosition) => number } {
  const parts: { journal: number; bytes: Buffer }[] = []
  for (const n of sim.journals) {
    if (n < start.journal) continue
    const all = sim.journalBytes(n)
    parts.push({ journal: n, bytes: n === start.journal ? all.subarray(start.offset) : all })
  }
  return {
    bytes: Buffer.concat(parts.map((p) => p.bytes)),
    positionAfter(length: number) {
      let left = length
      for (const [i, p] of parts.entries()) {
        const base = i === 0 ? start.offset : 0
        if (left <= p.bytes.length) return { journal: p.journal, offset: base + left }
        left -= p.bytes.length
      }
      throw new Error(`output longer than the journals by ${left} bytes`)
    },
    lengthTo(p: JournalPosition) {
      let length = 0
      for (const [i, part] of parts.entries()) {
        const base = i === 0 ? start.offset : 0
        if (part.journal === p.journal) return length + p.offset - base
        length += part.bytes.length
      }
      return length
    },
  }
}

t.test(`kill -9 at random points, ${RUNS} times, while p4d writes and rotates`, async (t) => {
  const seed = seedOf(9009)
  t.comment(`seed ${seed}`)
  const rng = new Random(seed).fork('kills')
  const root = t.testdir()
  const state = join(root, 'follower.state')
  const sim = new SimulatedP4d({ root, seed, startJournal: FIRST, rotateMode: 'random', gzipChunkBytes: 4096 })
  await sim.restart()
  for (let i = 0; i < 50; i++) await sim.appendTransaction()

  // p4d keeps writing for the whole test.
  let writing = true
  const writer = (async () => {
    const wr = new Random(seed).fork('writer')
    while (writing) {
      await sim.appendTransaction()
      if (wr.chance(0.03)) await sim.rotate()
      await sleep(wr.int(2, 12))
    }
  })()

  const runs: Run[] = []
  for (let k = 0; k <= RUNS; k++) {
    const last = k === RUNS
    const saved = await readState(state)
    const start = saved ? { journal: saved.journal, offset: saved.offset } : { journal: FIRST, offset: 0 }
    const outPath = join(root, `run-${k}.out`)
    const fd = openSync(outPath, 'w')
    const child = spawn(process.execPath, [...tsNodeArgs(), BIN_TS, '--follow', '--root', root, '--from', String(FIRST), '--state', state], {
      stdio: ['ignore', fd, 'pipe'],
      env: tsNodeEnv(),
    })
    closeSync(fd)
    let err = ''
    child.stderr?.on('data', (c: Buffer) => (err += c))
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    const size = () => statSync(outPath).size
    if (!last) {
      // Startup takes about a second; kill anywhere from the first output to past the first state saves (1 s apart).
      await until(() => size() > 0 || child.exitCode !== null, 30_000, 'the child to print')
      await sleep(rng.int(0, 1200))
      child.kill('SIGKILL')
      await closed
    } else {
      writing = false
      await writer
      await sim.idle()
      const total = streamFrom(sim, start).bytes.length
      await until(() => size() === total, 30_000, 'the last run to catch up')
      child.kill('SIGTERM')
      t.equal(await closed, 0, 'the last run exits 0 on SIGTERM')
    }
    t.equal(err, '', `run ${k}: nothing on stderr`)
    runs.push({ start, output: readFileSync(outPath), killed: !last })
  }
  await sim.close()

  let reached: JournalPosition | null = null
  let replayed = 0
  for (const [k, run] of runs.entries()) {
    const stream = streamFrom(sim, run.start)
    if (reached) {
      const noGap = run.start.journal < reached.journal || (run.start.journal === reached.journal && run.start.offset <= reached.offset)
      t.ok(noGap, `run ${k} starts at ${run.start.journal}/${run.start.offset}, within what run ${k - 1} printed (to ${reached.journal}/${reached.offset})`)
      if (noGap) replayed += stream.lengthTo(reached)
    }
    t.ok(
      stream.bytes.subarray(0, run.output.length).equals(run.output),
      `run ${k}: ${run.output.length} bytes, exactly the journals from ${run.start.journal}/${run.start.offset}`,
    )
    reached = stream.positionAfter(run.output.length)
    if (k === runs.length - 1) t.equal(run.output.length, stream.bytes.length, 'the last run printed to the end of the last journal')
  }
  t.comment(`${runs.reduce((n, r) => n + r.output.length, 0)} bytes printed over ${runs.length} runs, ${replayed} bytes printed twice`)
})
