import t from 'tap'
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import pino from 'pino'
import { Daemon } from '../../lib/daemon/daemon.js'
import { parseConfig } from '../../lib/daemon/config.js'
import { BaseListener } from '../../lib/listeners/listener.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import type { StatusSnapshot } from '../../lib/status/status-snapshot.js'
import { transactions, tick } from '../helpers/entries.js'
import { readingStopped, until } from '../helpers/follow.js'

/**
 * Issue 13, item 13: with archives to catch up on and a slow listener,
 * /status.json used to say lagBytes null (catching up) or the reader's last
 * known size. Now: the bytes on disk after the read position, archives
 * included (gz by their ISIZE), measured when the status is read; the
 * health, the catch-up progress and each listener's acknowledged position.
 */

const silent = pino({ level: 'silent' })

/** Holds every entry until `open()`; acknowledges (as a database would) what it finished. */
class Gate extends BaseListener {
  #open!: () => void
  readonly opened = new Promise<void>((resolve) => (this.#open = resolve))
  last: JournalEntry | null = null
  async listen(e: JournalEntry): Promise<void> {
    await this.opened
    this.last = e
  }
  release(): void {
    this.#open()
  }
  acknowledged(): string | null {
    return this.last ? `${this.last.position.journal}/${this.last.position.end}` : null
  }
}

async function status(url: string): Promise<StatusSnapshot> {
  return (await (await fetch(new URL('status.json', url))).json()) as StatusSnapshot
}

const at = (position: string | null): { journal: number; offset: number } => {
  const [j, o] = String(position).split('/').map(Number)
  return { journal: j!, offset: o! }
}

t.test('lag counts the archives and the live journal on disk, when the status is read', async (t) => {
  const dir = t.testdir()
  const root = join(dir, 'root')
  mkdirSync(root)
  // Large enough that the buffers (a few 128 KiB chunks with the daemon's batches) fill inside journal 1.
  const j1 = transactions(40000, 1).bytes
  const j2 = transactions(3000, 2).bytes
  const j3 = transactions(3000, 3).bytes
  writeFileSync(join(root, 'journal.1'), j1)
  writeFileSync(join(root, 'journal.2.gz'), gzipSync(j2))
  writeFileSync(join(root, 'journal'), j3)
  const sizes = new Map([
    [1, j1.length],
    [2, j2.length],
    [3, j3.length],
  ])
  /** Bytes after `p` in the journals as they are on disk now. */
  const after = (p: { journal: number; offset: number }): number => {
    let n = 0
    for (const [j, size] of sizes) if (j >= p.journal) n += j === p.journal ? size - p.offset : size
    return n
  }

  const gate = new Gate('gate')
  const config = await parseConfig(
    {
      server: { root: 'root' },
      from: 1,
      quietMs: 100,
      commitIntervalMs: 10,
      status: { port: 0 },
      health: { behindBytes: 10_000, behindSeconds: 3600 },
      listeners: [
        { type: 'mirror', options: { dir: 'mirror', fsync: false } },
        { type: 'module', module: () => gate, name: 'gate' },
      ],
    },
    { baseDir: dir },
  )
  const daemon = new Daemon(config, { logger: silent })
  await daemon.start()
  t.teardown(() => daemon.stop())
  const url = daemon.statusUrl!

  // The gate holds the chain: the reader stops once the buffers are full, in journal 1. Stopped means the
  // pipe paused and the source's buffer full (its reading ends there), however long filling them takes.
  await until(() => readingStopped(daemon.source as Readable), 30_000, 'the reader stopped')
  let s = await status(url)
  t.equal(at(s.position).journal, 1, 'still in journal 1')
  t.equal(s.lagBytes, after(at(s.position)), 'lagBytes = every byte on disk after the read position, archives included')
  t.ok(s.lagBytes! > j2.length + j3.length, 'not null while catching up, not the reader’s last known size')
  t.equal(s.lagBytesEstimated, true, 'journal.2.gz was counted by its ISIZE trailer')
  t.equal(s.uncommittedBytes, after({ journal: 1, offset: 0 }), 'nothing committed yet: every byte from the start')
  t.equal(s.health, 'Behind')
  t.match(s.healthReason, /more than behindBytes \(10000\)/)
  t.match(s.catchUp, { journal: 1, journals: 3 })
  t.ok(s.catchUp!.percent >= 0 && s.catchUp!.percent < 100)
  t.type(s.lagSeconds, 'number')
  const gateRow = s.listeners.find((l) => l.name === 'gate')
  t.equal(gateRow?.acknowledged, null, 'the hook says null before the first entry is done')
  // The mirror runs ahead of the gate: it may have synced a part of journal 1 already, never more than was read.
  const mirrorAck = s.listeners.find((l) => l.name === 'mirror')?.acknowledged ?? null
  t.ok(mirrorAck === null || (at(mirrorAck).journal === 1 && at(mirrorAck).offset <= at(s.position).offset), `mirror acknowledged ${mirrorAck}`)

  // p4d appends while the daemon is stuck: the next read of the status sees it at once.
  const more = transactions(2000, 3, j3.length).bytes
  appendFileSync(join(root, 'journal'), more)
  sizes.set(3, j3.length + more.length)
  const s2 = await status(url)
  t.equal(s2.position, s.position, 'the reader did not move')
  t.equal(s2.lagBytes, s.lagBytes! + more.length, 'measured on disk when the status is read')

  const metrics = await (await fetch(new URL('metrics', url))).text()
  t.match(metrics, new RegExp(`\\nlogdaemon_lag_bytes ${s2.lagBytes}\\n`))
  t.match(metrics, /\nlogdaemon_health\{state="Behind"\} 1\n/)
  t.match(metrics, /\nlogdaemon_health\{state="Caught up"\} 0\n/)

  // Released: it catches up, commits, and says so.
  gate.release()
  const total = after({ journal: 1, offset: 0 })
  for (;;) {
    s = await status(url)
    if (s.health === 'Caught up' && s.uncommittedBytes === 0) break
    await tick(50)
  }
  t.equal(s.lagBytes, 0)
  t.equal(s.lagSeconds, 0, 'nothing unread or uncommitted')
  t.equal(s.catchUp, null, 'no progress to show once caught up')
  t.equal(s.position, `3/${sizes.get(3)}`)
  t.equal(s.listeners.find((l) => l.name === 'gate')?.acknowledged, `3/${sizes.get(3)}`)
  t.equal(s.listeners.find((l) => l.name === 'mirror')?.acknowledged, `3/${sizes.get(3)}`, 'the mirror’s synced length')
  t.ok(total > 0)
  const m2 = await (await fetch(new URL('metrics', url))).text()
  t.match(m2, new RegExp(`\\nlogdaemon_listener_acknowledged_offset_bytes\\{listener="mirror"\\} ${sizes.get(3)}\\n`))
  t.match(m2, /\nlogdaemon_health\{state="Caught up"\} 1\n/)
  // Stopped here, not only in the teardown: the test directory is removed when the test ends, and a daemon still writing its mirror would race that.
  await daemon.stop()
})
