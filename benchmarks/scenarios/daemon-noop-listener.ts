/**
 * Ours, the daemon's pipeline: RotatingJournalSource (from journal 1, with
 * a state file, as the daemon runs it) into a ListenerChain with one
 * listener whose `listen` is an async no-op, committing consistency points
 * back to the source as the daemon does, with batches (a read chunk's
 * entries per stream write) as the daemon passes them. The input is a server root whose
 * `journal.1` is the benchmark file (a hard link) and whose live `journal`
 * is empty; the clock stops when the listener has seen every byte of
 * journal.1, the source then waiting at the live journal's end.
 *
 * lib/daemon/daemon.ts was not there yet when this was written: this wires
 * the same parts the daemon wires (source → chain → commit), without the
 * status server and the configuration loading.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { ListenerChain } from '../../lib/listeners/listener-chain.js'
import type { Listener } from '../../lib/listeners/listener.js'
import { RotatingJournalSource } from '../../lib/source/rotating-journal-source.js'
import { runScenario } from '../harness/scenario.js'

runScenario('daemon-noop-listener', async ({ input: root }) => {
  const expected = (await stat(join(root, 'journal.1'))).size
  const work = mkdtempSync(join(tmpdir(), 'logdaemon-bench-daemon-'))
  try {
    const t0 = performance.now()
    let records = 0
    let bytes = 0
    let allSeen!: () => void
    const done = new Promise<void>((resolve) => (allSeen = resolve))
    const listener: Listener = {
      name: 'noop',
      isHandled: () => true,
      async listen(entry: JournalEntry) {
        records++
        bytes += entry.length
        if (bytes >= expected) allSeen()
      },
      noData() {},
      async sync() {},
      close() {},
    }
    // Batches from the source to the chain, as the daemon wires them (lib/daemon/daemon-source.ts).
    const source = new RotatingJournalSource({ root, from: 1, state: join(work, 'state'), batch: true })
    const chain = new ListenerChain({ listeners: [listener], commit: (position) => source.commit(position), batch: true })
    const failed = new Promise<never>((_resolve, reject) => {
      source.once('error', reject)
      chain.once('error', reject)
    })
    source.pipe(chain)
    await Promise.race([done, failed])
    const ms = performance.now() - t0
    // Shut down as the daemon does: stop reading, let the chain sync and commit, close.
    source.unpipe(chain)
    chain.end()
    await finished(chain)
    source.destroy()
    await finished(source as Readable).catch(() => {})
    return { bytes, records, unit: 'records', ms, extra: { committedOffset: chain.committed?.offset ?? 0 } }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
})
