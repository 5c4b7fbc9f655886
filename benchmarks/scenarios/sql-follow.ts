/**
 * Ours: the daemon's pipeline applying a journal to SQLite through the sql
 * listener: RotatingJournalSource (journal.1 is the benchmark file) into a
 * ListenerChain with the SqlListener, committing consistency points as the
 * daemon does (each sync is one database transaction with the position).
 * The clock stops when the database's position reaches journal.1's end.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { ListenerChain } from '../../lib/listeners/listener-chain.js'
import { SqlListener, optionsSchema } from '../../lib/listeners/builtin/sql/sql.js'
import { parseSqlUrl } from '../../lib/listeners/builtin/sql/sql-url.js'
import { RotatingJournalSource } from '../../lib/source/rotating-journal-source.js'
import { runScenario } from '../harness/scenario.js'

runScenario('sql-follow', async ({ input: root }) => {
  const expected = (await stat(join(root, 'journal.1'))).size
  const work = mkdtempSync(join(tmpdir(), 'logdaemon-bench-sql-follow-'))
  try {
    const url = `sqlite:${join(work, 'replica.db')}`
    const listener = new SqlListener(optionsSchema.parse({ url }), parseSqlUrl(url))
    let records = 0
    let bytes = 0
    const counted = {
      name: 'count',
      isHandled: () => true,
      listen: (e: JournalEntry) => {
        records++
        bytes += e.length
      },
      noData() {},
      close() {},
    }
    const t0 = performance.now()
    const source = new RotatingJournalSource({ root, from: 1, state: join(work, 'state') })
    const chain = new ListenerChain({ listeners: [counted, listener], commit: (position) => source.commit(position) })
    const done = new Promise<void>((resolve, reject) => {
      chain.on('commit', (p) => {
        if (p.journal === 1 && p.offset >= expected) resolve()
      })
      source.once('error', reject)
      chain.once('error', reject)
    })
    source.pipe(chain)
    await done
    const ms = performance.now() - t0
    source.unpipe(chain)
    chain.end()
    await finished(chain)
    source.destroy()
    await finished(source as Readable).catch(() => {})
    return { bytes, records, unit: 'records', ms }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
})
