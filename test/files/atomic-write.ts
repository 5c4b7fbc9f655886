import t from 'tap'
import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openExclusive, tempPathBeside, writeFileAtomic } from '../../lib/files/atomic-write.js'

t.test('a symlink planted at the old, predictable temporary name is left alone', async (t) => {
  const dir = t.testdir({ victim: 'precious\n' })
  const path = join(dir, 'state')
  // Before: the temporary file was STATE.PID.tmp, opened with 'w': it followed this link.
  symlinkSync(join(dir, 'victim'), `${path}.${process.pid}.tmp`)
  await writeFileAtomic(path, 'new\n', { fsync: false })
  t.equal(readFileSync(join(dir, 'victim'), 'utf8'), 'precious\n', 'the target of the link is unchanged')
  t.equal(readFileSync(path, 'utf8'), 'new\n')
  t.ok(lstatSync(`${path}.${process.pid}.tmp`).isSymbolicLink(), 'the planted link is not ours to remove')
})

t.test('temporary names are unpredictable and in the same directory', async (t) => {
  const path = '/some/dir/state.json'
  const names = new Set(Array.from({ length: 100 }, () => tempPathBeside(path)))
  t.equal(names.size, 100)
  for (const n of names) t.match(n, /^\/some\/dir\/\.state\.json\.[0-9a-f]{24}\.tmp$/)
})

t.test('the exclusive open refuses an existing file and a symlink, even a dangling one', async (t) => {
  const dir = t.testdir({ file: 'x', victim: 'precious' })
  await t.rejects(openExclusive(join(dir, 'file'), 0o600), { code: 'EEXIST' })
  symlinkSync(join(dir, 'victim'), join(dir, 'link'))
  await t.rejects(openExclusive(join(dir, 'link'), 0o600), { code: 'EEXIST' })
  symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'))
  await t.rejects(openExclusive(join(dir, 'dangling'), 0o600), { code: 'EEXIST' })
  t.same(readdirSync(dir).sort(), ['dangling', 'file', 'link', 'victim'], 'nothing was created through the links')
  t.equal(readFileSync(join(dir, 'victim'), 'utf8'), 'precious')
})

t.test('a failed write removes its temporary file and leaves the old content', async (t) => {
  const dir = t.testdir()
  // rename() of a file over a non-empty directory fails.
  const path = join(dir, 'state')
  mkdirSync(path)
  writeFileSync(join(path, 'inside'), '')
  await t.rejects(writeFileAtomic(path, 'new\n', { fsync: false }))
  t.same(readdirSync(dir), ['state'], 'no temporary file left behind')
})

t.test('a symlink at the target itself is replaced, not followed', async (t) => {
  const dir = t.testdir({ victim: 'precious\n' })
  const path = join(dir, 'state')
  symlinkSync(join(dir, 'victim'), path)
  await writeFileAtomic(path, 'new\n', { fsync: false })
  t.equal(readFileSync(join(dir, 'victim'), 'utf8'), 'precious\n')
  t.notOk(lstatSync(path).isSymbolicLink())
  t.equal(readFileSync(path, 'utf8'), 'new\n')
})

t.test('new files are 0600 by default, or the mode asked for, whatever the umask allows more', async (t) => {
  const dir = t.testdir()
  const old = process.umask(0o022)
  t.teardown(() => process.umask(old))
  await writeFileAtomic(join(dir, 'a'), 'x', { fsync: false })
  t.equal(statSync(join(dir, 'a')).mode & 0o777, 0o600)
  await writeFileAtomic(join(dir, 'b'), 'x', { fsync: false, mode: 0o640 })
  t.equal(statSync(join(dir, 'b')).mode & 0o777, 0o640)
  process.umask(0o077)
  await writeFileAtomic(join(dir, 'c'), 'x', { fsync: false, mode: 0o644 })
  t.equal(statSync(join(dir, 'c')).mode & 0o777, 0o600, 'the umask still narrows it')
})

t.test('with fsync (the default) the content is written too', async (t) => {
  const dir = t.testdir()
  await writeFileAtomic(join(dir, 'a'), Buffer.from('bytes'))
  t.equal(readFileSync(join(dir, 'a'), 'utf8'), 'bytes')
})
