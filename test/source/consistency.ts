import t from 'tap'
import { ConsistencyTracker } from '../../lib/source/consistency.js'
import { frame } from '../helpers/collect.js'

async function marks(text: string): Promise<boolean[]> {
  const tracker = new ConsistencyTracker()
  return (await frame([Buffer.from(text)])).map((e) => tracker.update(e))
}

t.test('an @ex@ with no open pid is a consistency point', async (t) => {
  t.same(await marks('@pv@ 1 @db.counters@ @change@ @5@ \n@ex@ 10 1611008050\n'), [false, true])
})

t.test('an @ex@ while another pid has an open @mx@ is not', async (t) => {
  const text = '@pv@ 1 @db.a@ @x@ \n@mx@ 10 1611008050\n@pv@ 1 @db.b@ @y@ \n@ex@ 11 1611008050\n@pv@ 1 @db.a@ @z@ \n@ex@ 10 1611008051\n'
  t.same(await marks(text), [false, false, false, false, false, true])
})

t.test('several open pids: the point comes when the last one ends', async (t) => {
  const text = '@mx@ 1 0\n@mx@ 2 0\n@ex@ 1 0\n@ex@ 3 0\n@ex@ 2 0\n'
  t.same(await marks(text), [false, false, false, false, true])
})

t.test('a restart note clears the pids the dead server left open', async (t) => {
  const text = '@mx@ 1 0\n@nx@ 7 1611008050 @50@ 0 0 0 0 0 @1666@ @/p4@ @@ @@ @@ \n@ex@ 2 0\n'
  const tracker = new ConsistencyTracker()
  const entries = await frame([Buffer.from(text)])
  t.same(
    entries.map((e) => tracker.update(e)),
    [false, false, true],
  )
  t.same(tracker.openPids, [])
})

t.test('other notes and unknown ops change nothing; reset forgets', async (t) => {
  const tracker = new ConsistencyTracker()
  const entries = await frame([Buffer.from('@mx@ 1 0\n@nx@ 2 0 @50@ 0 1 0 0 0 @@ @@ @@ @@ @@ \n@zz@ 1\n')])
  t.same(
    entries.map((e) => tracker.update(e)),
    [false, false, false],
  )
  t.same(tracker.openPids, ['1'])
  tracker.reset()
  t.same(tracker.openPids, [])
})
