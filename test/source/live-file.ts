import t from 'tap'
import { spawnSync } from 'node:child_process'
import { appendFileSync, renameSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { STATE_TAIL_BYTES } from '../../lib/files/state-file.js'
import { CHUNK_BYTES, READ_AHEAD_CHUNKS } from '../../lib/source/archive-reader.js'
import { identityOf, LiveFile } from '../../lib/source/live-file.js'
import { rewriteInPlace } from '../helpers/rewrite.js'

/** The bytes of a block read ahead. */
const READ_AHEAD_BYTES = READ_AHEAD_CHUNKS * CHUNK_BYTES

t.test('reads through the descriptor, notices a rename, a truncation, a missing path', async (t) => {
  const dir = t.testdir({ journal: 'hello ' })
  const path = join(dir, 'journal')
  t.equal(await LiveFile.open(join(dir, 'none')), null)
  const f = (await LiveFile.open(path)) as LiveFile
  t.equal(f.size, 6)
  appendFileSync(path, 'world')
  t.same(await f.read(6), Buffer.from('world'))
  t.equal(f.size, 11, 'a read past the size seen raises it')
  t.same(await f.read(11), Buffer.alloc(0))
  t.equal(await f.replaced(), false)
  renameSync(path, join(dir, 'journal.1'))
  t.equal(await f.replaced(), true, 'path gone')
  writeFileSync(path, 'new')
  t.equal(await f.replaced(), true, 'another inode')
  appendFileSync(join(dir, 'journal.1'), '!')
  t.same(await f.read(11), Buffer.from('!'), 'still the old inode')
  truncateSync(join(dir, 'journal.1'), 3)
  t.equal(await f.stat(), 3)
  await f.close()
  await f.close()
  t.pass('close is idempotent')
})

t.test('identityOf', async (t) => {
  const dir = t.testdir({ a: 'x' })
  const id = await identityOf(join(dir, 'a'))
  t.ok(id && id.ino > 0)
  t.equal(await identityOf(join(dir, 'b')), null)
  t.equal(await identityOf(join(dir, 'a', 'b')), null, 'ENOTDIR')
  unlinkSync(join(dir, 'a'))
})

t.test('readAfter: the bytes after the offset only when the window before it is unchanged', async (t) => {
  const dir = t.testdir({ journal: 'abcdefgh' })
  const path = join(dir, 'journal')
  const f = (await LiveFile.open(path)) as LiveFile
  t.teardown(() => f.close())
  t.same(await f.readAfter(4, Buffer.from('cd')), Buffer.from('efgh'))
  t.same(await f.readAfter(8, Buffer.from('gh')), Buffer.alloc(0), 'at the end: empty')
  t.equal(await f.readAfter(4, Buffer.from('xx')), null, 'other bytes before the offset')
  t.equal(await f.readAfter(12, Buffer.from('ab')), null, 'the file does not reach the offset')
  t.same(await f.readAfter(2, Buffer.alloc(0)), Buffer.from('cdefgh'), 'no window: a plain read')
  const big = Buffer.alloc(300_000, 'x')
  appendFileSync(path, big)
  const got = await f.readAfter(8, Buffer.from('efgh'))
  t.ok(got && got.length > 16 * 1024 && got.equals(big.subarray(0, got.length)), 'a large read hands its buffer over')
  t.equal(f.size, 8 + (got?.length ?? 0))
})

/** `n` bytes that differ from chunk to chunk: `<tag><i>\n` repeated. */
function content(tag: string, n: number): Buffer {
  const parts: string[] = []
  let size = 0
  for (let i = 0; size < n; i++) {
    const line = `${tag}${i}\n`
    parts.push(line)
    size += line.length
  }
  return Buffer.from(parts.join('')).subarray(0, n)
}

/** readAfter from `offset` to the end, as the cursor calls it (the window: the last bytes handed out). */
async function readAll(f: LiveFile, offset: number, before: Buffer): Promise<{ bytes: Buffer; end: number; stoppedBy: 'end' | 'window' }> {
  const parts: Buffer[] = []
  let at = offset
  let window = before
  for (;;) {
    const got = await f.readAfter(at, window)
    if (got === null) return { bytes: Buffer.concat(parts), end: at, stoppedBy: 'window' }
    if (got.length === 0) return { bytes: Buffer.concat(parts), end: at, stoppedBy: 'end' }
    parts.push(got)
    at += got.length
    window = Buffer.concat([window, got]).subarray(-STATE_TAIL_BYTES)
  }
}

t.test('readAfter reads ahead: the same bytes, in order, a chunk at a time, across many blocks', async (t) => {
  for (const size of [3 * READ_AHEAD_BYTES + 1234, CHUNK_BYTES + READ_AHEAD_BYTES + 100, 2 * CHUNK_BYTES + 100]) {
    const data = content('a', size)
    const dir = t.testdir({ journal: data })
    const f = (await LiveFile.open(join(dir, 'journal'))) as LiveFile
    const sizes: number[] = []
    const parts: Buffer[] = []
    let at = 100
    for (;;) {
      const got = await f.readAfter(at, data.subarray(Math.max(0, at - STATE_TAIL_BYTES), at))
      if (got === null || got.length === 0) break
      sizes.push(got.length)
      parts.push(got)
      at += got.length
    }
    await f.close()
    t.ok(Buffer.concat(parts).equals(data.subarray(100)), `${size} bytes: every byte after the offset, once`)
    t.ok(
      sizes.every((n) => n <= CHUNK_BYTES),
      'never more than a chunk at a time',
    )
    t.equal(f.size, data.length)
  }
})

t.test('a block read ahead is handed out in order only, each chunk after the one before', async (t) => {
  const data = content('f', CHUNK_BYTES + READ_AHEAD_BYTES + 3 * CHUNK_BYTES)
  const dir = t.testdir({ journal: data })
  const f = (await LiveFile.open(join(dir, 'journal'))) as LiveFile
  t.teardown(() => f.close())
  const window = (at: number): Buffer => data.subarray(at - STATE_TAIL_BYTES, at)
  const chunkAt = (at: number): Buffer => data.subarray(at, at + CHUNK_BYTES)
  t.equal((await f.readAfter(0, Buffer.alloc(0)))?.length, CHUNK_BYTES)
  t.ok((await f.readAfter(CHUNK_BYTES, window(CHUNK_BYTES)))?.equals(chunkAt(CHUNK_BYTES)), 'the block: its first chunk')
  for (let at = 2 * CHUNK_BYTES; at < CHUNK_BYTES + READ_AHEAD_BYTES; at += CHUNK_BYTES) {
    t.ok((await f.readAfter(at, window(at)))?.equals(chunkAt(at)), `its chunk at ${at}`)
  }
  const mid = CHUNK_BYTES + READ_AHEAD_BYTES + 7
  t.ok((await f.readAfter(mid, window(mid)))?.equals(chunkAt(mid)), 'another offset: read from the file')
  const next = mid + CHUNK_BYTES
  t.equal(await f.readAfter(next, Buffer.alloc(STATE_TAIL_BYTES, 'x')), null, 'after other bytes: the file is asked, and says no')
  t.ok((await f.readAfter(next, window(next)))?.equals(chunkAt(next)), 'then read from the file')
})

t.test('rewritten in place, truncated, or renamed while a chunk is read ahead: never a byte of other content', async (t) => {
  const old = content('c', 4 * CHUNK_BYTES)
  const other = content('dd', 4 * CHUNK_BYTES)
  for (const change of ['rewrite', 'truncate', 'truncate and refill', 'rename and replace'] as const) {
    await t.test(change, async (t) => {
      const dir = t.testdir({ journal: old })
      const path = join(dir, 'journal')
      const f = (await LiveFile.open(path)) as LiveFile
      t.teardown(() => f.close())
      const first = await f.readAfter(1000, old.subarray(1000 - STATE_TAIL_BYTES, 1000))
      t.equal(first?.length, CHUNK_BYTES, 'a full chunk: the next one is in flight')
      if (change === 'rewrite') rewriteInPlace(path, other)
      else if (change === 'truncate') truncateSync(path, 500)
      else if (change === 'truncate and refill') writeFileSync(path, other)
      else {
        renameSync(path, join(dir, 'journal.1'))
        writeFileSync(path, other)
      }
      const at = 1000 + CHUNK_BYTES
      const rest = await readAll(f, at, old.subarray(at - STATE_TAIL_BYTES, at))
      t.ok(rest.bytes.equals(old.subarray(at, at + rest.bytes.length)), 'what comes is the old content, in order')
      if (change === 'rename and replace') {
        t.equal(rest.stoppedBy, 'end', 'the descriptor reads the renamed file to its end')
        t.equal(rest.end, old.length)
      } else {
        t.equal(rest.stoppedBy, 'window', 'then the window tells')
        t.ok(rest.bytes.length <= READ_AHEAD_BYTES, 'at most the block read ahead before the change')
      }
    })
  }
})

t.test('close while a chunk is read ahead: waits for it, then closes', async (t) => {
  const data = content('e', 3 * CHUNK_BYTES)
  const dir = t.testdir({ journal: data })
  const f = (await LiveFile.open(join(dir, 'journal'))) as LiveFile
  t.equal((await f.readAfter(0, Buffer.alloc(0)))?.length, CHUNK_BYTES)
  await f.close()
  await f.close()
  t.pass('closed once, no unhandled rejection')
  const g = (await LiveFile.open(join(dir, 'journal'))) as LiveFile
  const reading = g.readAfter(0, Buffer.alloc(0))
  await g.close()
  t.equal((await reading)?.length, CHUNK_BYTES, 'a read in progress when closed ends, and reads nothing ahead')
})

t.test('a live journal that is not a regular file: ERR_JOURNAL_UNREADABLE at once (a FIFO was waited on for ever)', { timeout: 10_000 }, async (t) => {
  const dir = t.testdir({ journal: {} })
  await t.rejects(LiveFile.open(join(dir, 'journal')), { code: 'ERR_JOURNAL_UNREADABLE', message: /is not a regular file but a directory/ })
  const fifo = join(dir, 'fifo')
  if (spawnSync('mkfifo', [fifo]).status !== 0) {
    t.comment('no mkfifo here: the FIFO case is not tried')
    return
  }
  await t.rejects(LiveFile.open(fifo), { code: 'ERR_JOURNAL_UNREADABLE', file: fifo, message: /is not a regular file but a FIFO \(named pipe\)/ })
})

t.test('a live journal path no file can be at (through a file, a symlink loop): ERR_JOURNAL_UNREADABLE saying so, not a bare errno', async (t) => {
  const dir = t.testdir({ afile: 'x', loop: t.fixture('symlink', 'loop') })
  await t.rejects(LiveFile.open(join(dir, 'afile', 'journal')), {
    code: 'ERR_JOURNAL_UNREADABLE',
    message: /afile\/journal cannot be reached: a file where a directory should be, or a path through one \(ENOTDIR\)/,
  })
  await t.rejects(LiveFile.open(join(dir, 'loop')), { code: 'ERR_JOURNAL_UNREADABLE', message: /loop cannot be reached: a loop of symlinks \(ELOOP\)/ })
  t.equal(await LiveFile.open(join(dir, 'nothing')), null, 'nothing there: no file yet, as before')
})
