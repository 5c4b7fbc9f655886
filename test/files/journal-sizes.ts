import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { bytesAfter, gzipIsize, journalSizes } from '../../lib/files/journal-sizes.js'

t.test('sizes from a journal to the live one: plain over gz, gz by ISIZE, live last', async (t) => {
  const dir = t.testdir({ 'journal.3': 'old', 'journal.4': 'aaaa', 'journal.4.gz': 'half-written gz', journal: 'live!!' })
  writeFileSync(join(dir, 'journal.5.gz'), gzipSync(Buffer.alloc(100_000, 'x')))
  const sizes = await journalSizes({ root: dir }, 4)
  t.match(sizes, [
    { journal: 4, path: join(dir, 'journal.4'), size: 4, estimated: false, live: false },
    { journal: 5, path: join(dir, 'journal.5.gz'), size: 100_000, estimated: true, live: false },
    { journal: 6, path: join(dir, 'journal'), size: 6, estimated: false, live: true },
  ])
  t.type(sizes[0]!.mtimeMs, 'number')
  t.equal(bytesAfter(sizes, { journal: 4, offset: 1 }), 3 + 100_000 + 6)
  t.equal(bytesAfter(sizes, { journal: 6, offset: 6 }), 0)
  t.equal(bytesAfter(sizes, { journal: 6, offset: 60 }), 0, 'past the end counts nothing')
  t.equal(bytesAfter(sizes, { journal: 7, offset: 0 }), 0)
})

t.test('a missing live journal has size 0 and no path', async (t) => {
  const dir = t.testdir({ 'journal.1': 'abc' })
  t.match(await journalSizes({ root: dir }, 1), [
    { journal: 1, size: 3 },
    { journal: 2, size: 0, path: null, mtimeMs: null, live: true },
  ])
})

t.test('ISIZE: a file too short to be gzip counts 0; a multi-member file counts its last member only (an estimate)', async (t) => {
  const dir = t.testdir({ short: 'abc' })
  t.equal(await gzipIsize(join(dir, 'short'), 3), 0)
  const two = Buffer.concat([gzipSync(Buffer.alloc(1000)), gzipSync(Buffer.alloc(10))])
  writeFileSync(join(dir, 'two.gz'), two)
  t.equal(await gzipIsize(join(dir, 'two.gz'), two.length), 10)
})
