/**
 * primeRangeContext: a worker runs its framer and writer over a built-in
 * sample before its first task. It must never throw (a worker that fails at
 * start fails the whole run) and must leave nothing behind: a primed
 * context frames and writes exactly what a fresh one does.
 */
import { closeSync, openSync, writeFileSync } from 'node:fs'
import t from 'tap'
import { frameRange, type RangeOptions } from '../../lib/parallel/frame-range.js'
import { rangeContext } from '../../lib/parallel/range-context.js'
import { frameChunk } from '../../lib/parallel/frame-chunk.js'
import { primeChunkContext, primeRangeContext } from '../../lib/parallel/prime.js'

const base: RangeOptions = { format: 'json', encoding: 'utf8', tables: [], ops: [], where: [], maxEntryBytes: 1 << 20, file: 'journal.3', journal: 3 }

const text =
  '@ex@ 1 2\n' +
  '@pv@ 7 @db.user@ @zoe@ @zoe@@x.org@ @@ 1612464506 1620521373 @Zoë Çelik@ @@ 0 @@ 0 0 0 0 0 0 \n' +
  '@pv@ 0 @db.desc@ 5 @two\n@pv@ 1 lines \u00ff@ \r\n' +
  '@rv@ 1 @db.counters@ @change@ @15@ \n' +
  '@nx@ 3 @a\nb@ \n'

const variants: [string, Partial<RangeOptions>][] = [
  ['json', {}],
  ['json latin1', { encoding: 'latin1' }],
  ['row', { format: 'row' }],
  ['raw', { format: 'raw' }],
  ['raw, filtered', { format: 'raw', ops: ['pv'] }],
  ['none', { format: 'none' }],
  ['json, filtered by table and where', { tables: ['db.user'], where: [{ column: 'user', value: 'zoe' }] }],
]

t.test('a primed context frames and writes what a fresh one does', async (t) => {
  const dir = t.testdir()
  writeFileSync(`${dir}/j`, text)
  const fd = openSync(`${dir}/j`, 'r')
  t.teardown(() => closeSync(fd))
  const size = Buffer.byteLength(text)
  for (const [name, change] of variants) {
    const options = { ...base, ...change }
    const fresh = rangeContext(options)
    const primed = rangeContext(options)
    primeRangeContext(primed)
    // Two ranges each: the first from the start, the second from a guessed record start.
    for (const task of [
      { start: 0, end: 20, size, exact: true, line: 1 },
      { start: 20, end: size, size, exact: false, line: 2 },
    ]) {
      const want = frameRange(fd, task, fresh)
      const got = frameRange(fd, task, primed)
      const bytes = (r: typeof want) => (r.out ? Buffer.from(r.out).toString('latin1') : null)
      t.same({ ...got, out: bytes(got) }, { ...want, out: bytes(want) }, `${name}: ${task.start}..${task.end}`)
    }
  }
})

t.test('a context primed for chunks frames chunks as a fresh one does', async (t) => {
  const bytes = Buffer.from(text, 'latin1')
  for (const [name, change] of variants) {
    const options = { ...base, ...change }
    const fresh = rangeContext(options)
    const primed = rangeContext(options)
    primeChunkContext(primed)
    const lines = options.format === 'json' || options.format === 'row'
    // The first chunk, and a later one from a guessed start (after a LF, and not).
    for (const [at, exact, afterLf] of [
      [0, true, true],
      [9, false, true],
      [12, false, false],
    ] as const) {
      const task = () => {
        const data = new Uint8Array(bytes.subarray(at)).buffer
        return { data, length: bytes.length - at, offset: at, line: lines ? 2 : null, exact, afterLf }
      }
      const show = (r: ReturnType<typeof frameChunk>) => ({ ...r, data: null, out: r.out ? Buffer.from(r.out).toString('latin1') : null })
      t.same(show(frameChunk(task(), primed)), show(frameChunk(task(), fresh)), `${name}: from ${at}`)
    }
  }
})

t.test('a record limit below the sample records does not fail priming', async (t) => {
  for (const format of ['json', 'row', 'raw'] as const) {
    t.doesNotThrow(() => primeRangeContext(rangeContext({ ...base, format, maxEntryBytes: 8 })), format)
    t.doesNotThrow(() => primeChunkContext(rangeContext({ ...base, format, maxEntryBytes: 8 })), `${format}, chunks`)
  }
})

t.test('priming twice, or with no writer, is harmless', async (t) => {
  const context = rangeContext({ ...base, format: 'none' })
  t.doesNotThrow(() => {
    primeRangeContext(context)
    primeRangeContext(context)
  })
  t.equal(context.range.records, 0, 'the sink is left reset')
})
