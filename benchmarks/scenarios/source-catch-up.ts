/**
 * Ours: RotatingJournalSource catching up through an archive, the consumer
 * reading each entry's length and position and committing nothing (the
 * source alone; `daemon-noop-listener` adds the chain and the state). The
 * input is a server root whose `journal.1` is the benchmark file and whose
 * live `journal` is empty; the clock stops when the last entry of
 * journal.1 has been seen. Compare with `framing` on the same bytes: the
 * bar is the reader core's speed.
 *
 *   node dist/benchmarks/scenarios/source-catch-up.js ROOT [--state]
 *
 * With --state the source keeps a state file and the consumer commits
 * every entry, as `logdaemon-cat --follow --state` does.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { RotatingJournalSource } from '../../lib/source/rotating-journal-source.js'
import { counter, runScenario } from '../harness/scenario.js'

runScenario('source-catch-up', async ({ input: root, options }) => {
  const expected = (await stat(join(root, 'journal.1'))).size
  const work = mkdtempSync(join(tmpdir(), 'logdaemon-bench-source-'))
  const withState = options.state === 'true'
  try {
    const source = new RotatingJournalSource({ root, from: 1, ...(withState ? { state: join(work, 'state') } : {}) })
    let records = 0
    let bytes = 0
    const t0 = performance.now()
    // The same consumer as `framing` (a counting Writable), piped.
    await new Promise<void>((resolve, reject) => {
      source.once('error', reject)
      source.pipe(
        counter<JournalEntry>((e) => {
          records++
          bytes += e.length
          if (withState) source.commit(e)
          if (e.position.journal === 1 && e.position.end === expected) resolve()
        }),
      )
    })
    const ms = performance.now() - t0
    source.destroy()
    if (bytes !== expected) throw new Error(`source-catch-up: saw ${bytes} bytes of ${expected}`)
    return { bytes, records, unit: 'records', ms }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
})
