import t from 'tap'
import { documentedReleases, releaseRange, releasesOf } from '../../lib/schema/releases.js'

t.test('the documented releases, in order', async (t) => {
  const all = documentedReleases()
  t.equal(all[0], '2006.2')
  t.equal(all.at(-1), '2024.1')
  t.ok(all.includes('2020.1'))
})

t.test('releases of one table version', async (t) => {
  t.same(releasesOf('db.domain', 5), ['2009.2', '2010.1', '2010.2', '2011.1'])
  // db.domain 6 has two layouts, 2012.1–2012.2 and 2013.1–2016.2: their union.
  const six = releasesOf('db.domain', 6)
  t.equal(six[0], '2012.1')
  t.equal(six.at(-1), '2016.2')
  t.ok(six.includes('2012.2') && six.includes('2013.1'))
  t.same(releasesOf('db.rev', 3), [])
})

t.test('the range a set of table versions agrees on', async (t) => {
  t.same(
    releaseRange([
      { table: 'db.domain', version: 7 },
      { table: 'db.user', version: 7 },
      { table: 'db.change', version: 6 },
    ]),
    { from: '2019.1', to: '2023.1' },
  )
  t.same(releaseRange([{ table: 'db.domain', version: 6 }]), { from: '2012.1', to: '2016.2' })
  // Nothing known says nothing.
  t.equal(releaseRange([]), null)
  t.equal(releaseRange([{ table: 'db.nosuch', version: 1 }]), null)
  // A table the later documents leave out: its newest version is open-ended.
  t.same(releaseRange([{ table: 'db.integ', version: 0 }]), { from: '2006.2', to: '2024.1' })
  t.same(
    releaseRange([
      { table: 'db.integ', version: 0 },
      { table: 'db.stream', version: 1 },
    ]),
    { from: '2011.1', to: '2020.1' },
  )
  // Tables the documents never knew say nothing.
  t.same(
    releaseRange([
      { table: 'db.nosuch', version: 1 },
      { table: 'db.domain', version: 5 },
    ]),
    { from: '2009.2', to: '2011.1' },
  )
  // A documented table at an undocumented version: no documented release wrote it.
  t.equal(releaseRange([{ table: 'db.rev', version: 3 }]), null)
  // Disjoint ranges.
  t.equal(
    releaseRange([
      { table: 'db.domain', version: 5 },
      { table: 'db.domain', version: 7 },
    ]),
    null,
  )
})
