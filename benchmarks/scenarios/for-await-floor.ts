/**
 * Baseline: the least a `for await` over entries can cost. framing-batch's
 * entries, each batch walked by `for await` over the smallest async
 * iterator there is (an index into the array, each step an already
 * resolved promise). The language awaits every step of a `for await`, a
 * microtask each, whatever the iterator returns; so for-await-reader can
 * come near this row, above it only by the machine's noise. Against
 * `framing`, it shows what the for-await bars ask of the protocol itself.
 *
 *   node dist/benchmarks/scenarios/for-await-floor.js FILE
 */
import { pipeline } from 'node:stream/promises'
import { Writable } from 'node:stream'
import { FileReader } from '../../lib/files/file-reader.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { JournalEntryTransform } from '../../lib/journal/journal-entry-transform.js'
import { runScenario } from '../harness/scenario.js'

/** The array's items, one resolved promise per step. */
function steps<T>(items: readonly T[]): AsyncIterableIterator<T> {
  let i = 0
  return {
    [Symbol.asyncIterator]() {
      return this
    },
    next: () => Promise.resolve(i < items.length ? { value: items[i++] as T, done: false } : { value: undefined, done: true }),
  }
}

runScenario('for-await-floor', async ({ input }) => {
  let records = 0
  let bytes = 0
  let end = 0
  const walk = async (batch: readonly JournalEntry[]): Promise<void> => {
    for await (const entry of steps(batch)) {
      records++
      bytes += entry.length
      end = entry.position.end
    }
  }
  await pipeline(
    new FileReader(input),
    new JournalEntryTransform({ file: input, batch: true }),
    new Writable({
      objectMode: true,
      write(batch: JournalEntry[], _encoding, callback) {
        walk(batch).then(() => callback(), callback)
      },
    }),
  )
  if (end !== bytes) throw new Error(`for-await-floor: last entry ends at ${end}, but the entries hold ${bytes} bytes`)
  return { bytes, records, unit: 'records' }
})
