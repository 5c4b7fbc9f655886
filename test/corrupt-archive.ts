/**
 * A `journal.N.gz` whose deflate data was damaged so that it still inflates
 * (one byte changed inside a stored block): only the member's CRC-32 tells.
 * The follower must end with ERR_GZIP_CORRUPT naming the file, and neither
 * the state nor a listener's sync (the mirror) may cover a byte of the
 * member; once the archive is repaired, a restart delivers the good record
 * and the mirror rewrites what it had not synced.
 */
import t from 'tap'
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import pino from 'pino'
import { followJournal } from '../lib/cli/follow.js'
import { parseConfig } from '../lib/daemon/config.js'
import { Daemon } from '../lib/daemon/daemon.js'
import { readState } from '../lib/files/state-file.js'
import { comparePositions } from '../lib/position.js'
import { until } from './helpers/follow.js'

const silent = pino({ level: 'silent' })

/** Journal 1: 1.5 MB of transactions (a consistency point every record pair). */
const journal1 = Buffer.from(
  Array.from({ length: 24_000 }, (_, i) => `@pv@ 1 @db.counters@ @counter${i}@ @${i}@ \n@ex@ ${1000 + (i % 50)} 1611008050\n`).join(''),
)
const journal2 = Buffer.from('@pv@ 1 @db.counters@ @journal@ @2@ \n@ex@ 7 1611008051\n')
const GOOD = Buffer.from('@counter12345@ @12345@')

/** The archive in stored blocks, with one byte of the record `counter12345` changed. */
function archives(): { good: Buffer; bad: Buffer } {
  const good = gzipSync(journal1, { level: 0 })
  const bad = Buffer.from(good)
  const at = bad.indexOf(GOOD)
  bad[at + 9] = 0x58 // counter12345 -> counterX2345
  return { good, bad }
}

function setup(dir: string): { root: string; good: Buffer } {
  const root = join(dir, 'root')
  mkdirSync(root)
  const { good, bad } = archives()
  writeFileSync(join(root, 'journal.1.gz'), bad)
  writeFileSync(join(root, 'journal'), journal2)
  return { root, good }
}

class Collect extends Writable {
  chunks: Buffer[] = []
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk)
    setImmediate(cb) // a slow consumer: the reader runs ahead of the commits
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks)
  }
}

t.test('logdaemon-cat --follow --state: ERR_GZIP_CORRUPT, nothing of the member saved; repaired, the good record comes', async (t) => {
  const dir = t.testdir()
  const { root, good } = setup(dir)
  const state = join(dir, 'state')
  const out = new Collect()
  const source = { root, from: 1, state, saveIntervalMs: 0 }
  const err = await followJournal(out, { source, format: 'raw', encoding: 'utf8' }).then(
    () => null,
    (e: unknown) => e as Error & { code?: string; file?: string },
  )
  t.equal(err?.code, 'ERR_GZIP_CORRUPT')
  t.match(err?.message, join(root, 'journal.1.gz'), 'the file is named')
  t.ok(out.bytes.length > 0, `records before the end of the member were printed (${out.bytes.length} bytes)`)
  const saved = await readState(state)
  t.ok(saved && comparePositions(saved, { journal: 1, offset: 0 }) <= 0, `the state covers no byte of the member (${saved?.journal}/${saved?.offset})`)

  // Repaired: a restart from the state prints journal 1 whole, the good record included.
  writeFileSync(join(root, 'journal.1.gz'), good)
  const again = new Collect()
  const ac = new AbortController()
  const run = followJournal(again, { source, format: 'raw', encoding: 'utf8', signal: ac.signal })
  await until(() => again.bytes.length >= journal1.length + journal2.length, 20_000, 'the second run to reach the live journal')
  ac.abort()
  await run
  t.ok(again.bytes.equals(Buffer.concat([journal1, journal2])), 'journal 1 and 2, each byte once')
  t.ok(again.bytes.includes(GOOD), 'the good record')
  const after = await readState(state)
  t.same(after && { journal: after.journal, offset: after.offset }, { journal: 2, offset: journal2.length })
})

t.test('daemon with a mirror: no sync covers the member; repaired, the mirror rewrites it', async (t) => {
  const dir = t.testdir()
  const { root, good } = setup(dir)
  const config = () =>
    parseConfig(
      {
        server: { root: 'root' },
        from: 1,
        quietMs: 50,
        commitIntervalMs: 5,
        status: false,
        listeners: [{ type: 'mirror', options: { dir: 'mirror', fsync: false } }],
      },
      { baseDir: dir },
    )
  const daemon = new Daemon(await config(), { logger: silent })
  await daemon.start()
  await t.rejects(daemon.done, { code: 'ERR_GZIP_CORRUPT' })
  const mirrorState = join(dir, 'mirror', '.mirror-state.json')
  const committed = existsSync(mirrorState) ? readFileSync(mirrorState, 'utf8') : '(none)'
  t.notMatch(committed, /"1"\s*:\s*[1-9]/, `the mirror committed no byte of journal 1: ${committed}`)
  const saved = await readState(join(dir, 'logdaemon.state.json')).catch(() => null)
  t.ok(!saved || comparePositions(saved, { journal: 1, offset: 0 }) <= 0, 'nor did the state')

  writeFileSync(join(root, 'journal.1.gz'), good)
  const second = new Daemon(await config(), { logger: silent })
  await second.start()
  const mirror1 = join(dir, 'mirror', 'journal.1')
  const mirror2 = join(dir, 'mirror', 'journal.2')
  await until(() => existsSync(mirror2) && readFileSync(mirror2).length === journal2.length, 20_000, 'the mirror to reach journal 2')
  await second.stop()
  t.ok(readFileSync(mirror1).equals(journal1), 'the mirror of journal 1 is the good journal')
  t.ok(readFileSync(mirror2).equals(journal2))
})
