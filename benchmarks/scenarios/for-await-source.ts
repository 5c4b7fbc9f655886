/**
 * Ours, the way the README teaches following: `for await (const entry of
 * source)` over a RotatingJournalSource catching up on a live journal. The
 * input is a server root whose live `journal` holds the benchmark file and
 * which has no archives; the source reads the live journal from its start
 * (`from` its number, which the journal counter record in it tells; no
 * state file), and the loop stops (`break`, which destroys the source)
 * once it has seen the whole file. Compare with `framing` on the same bytes.
 *
 *   node dist/benchmarks/scenarios/for-await-source.js ROOT
 */
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { RotatingJournalSource } from '../../lib/source/rotating-journal-source.js'
import { liveJournalNumber } from '../../lib/source/start-point.js'
import { runScenario } from '../harness/scenario.js'

runScenario('for-await-source', async ({ input: root }) => {
  const expected = (await stat(join(root, 'journal'))).size
  const live = await liveJournalNumber({ root })
  const source = new RotatingJournalSource({ root, from: live?.journal ?? 0 })
  let records = 0
  let bytes = 0
  if (expected > 0) {
    for await (const entry of source) {
      records++
      bytes += entry.length
      if (entry.position.end >= expected) break
    }
  }
  source.destroy()
  // Stopped cleanly: the file and the watcher are released before the clock stops.
  if (!source.closed) await new Promise((resolve) => source.once('close', resolve))
  if (bytes !== expected) throw new Error(`for-await-source: saw ${bytes} bytes of ${expected}`)
  return { bytes, records, unit: 'records' }
})
