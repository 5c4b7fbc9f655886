import t from 'tap'
import { appendFileSync, renameSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { identityOf, LiveFile } from '../../lib/source/live-file.js'

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
