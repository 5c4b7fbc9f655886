import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DeliveryState, type DeliveredChange } from '../../../../lib/listeners/builtin/notify/delivery-state.js'
import { deliveryStatePath, readDeliveryState, writeDeliveryState } from '../../../../lib/listeners/builtin/notify/delivery-store.js'

const at = (change: number, end: number, journal: number | null = 5): DeliveredChange => ({ change, position: { journal, offset: end - 20, end, line: 1 } })

t.test('delivered changes, one position shared by several changes, and a journal without a number', async (t) => {
  const s = new DeliveryState()
  t.equal(s.hasMailed(at(1, 100)), false)
  s.mailedChange(at(1, 100))
  s.mailedChange(at(2, 100))
  t.equal(s.hasMailed(at(2, 100)), true)
  t.equal(s.hasMailed(at(3, 100)), false, 'a later change at the same position')
  t.equal(s.hasMailed(at(9, 50)), true, 'a change before it')
  s.mailedChange(at(1, 100))
  t.equal(s.toJSON().mailedChange, 2, 'never moves back')
  s.mailedUpTo({ journal: 5, offset: 100 })
  t.equal(s.toJSON().mailedChange, 2, 'a commit at the same position changes nothing')
  s.mailedUpTo({ journal: 5, offset: 200 })
  t.equal(s.hasMailed(at(7, 200)), true, 'a commit covers every change at it')
  t.equal(s.hasMailed(at(7, 200, null)), false, 'a change of no known journal is never taken for delivered')
  s.markSaved()
  s.mailedChange(at(8, 300, null))
  t.equal(s.dirty, true)
  t.same(s.mailedThrough, { journal: 5, offset: 200 })
})

t.test('the progress of a change: per mail, and the webhook; it survives JSON; dropped once delivered', async (t) => {
  const s = new DeliveryState()
  s.recordProgress(
    at(3, 300),
    new Map([
      ['<m>', new Set(['a@x'])],
      ['<empty>', new Set()],
    ]),
  )
  s.markSaved()
  s.recordProgress(at(3, 300), new Map([['<m>', new Set(['a@x'])]]))
  t.equal(s.dirty, false, 'the same progress again is no change')
  s.recordProgress(at(3, 300), new Map([['<m>', new Set(['a@x'])]]), true)
  t.equal(s.dirty, true, 'the webhook taking it is')
  s.recordProgress(at(3, 300, null), new Map([['<m>', new Set(['b@x'])]]))
  t.same(s.toJSON().delivering, { change: 3, at: '5/300', done: { '<m>': ['a@x'] }, webhook: true }, 'not for a change of no known journal')
  s.sawMarkers()
  const back = DeliveryState.fromJSON(JSON.parse(JSON.stringify(s.toJSON())))
  t.same(back.progressOf(at(3, 300)), new Map([['<m>', new Set(['a@x'])]]))
  t.equal(back.webhookDone(at(3, 300)), true)
  t.equal(back.webhookDone(at(3, 301)), false, 'not for the same number at another position')
  t.equal(back.webhookDone(at(4, 300)), false)
  t.equal(back.markers, true)
  back.mailedChange(at(3, 300))
  t.same(back.toJSON().delivering, null)
  back.recordProgress(at(4, 400), new Map())
  t.same(back.toJSON().delivering, { change: 4, at: '5/400', done: {} }, 'no webhook key when it did not take it')
})

t.test('what fromJSON refuses', async (t) => {
  const ok = { mailedThrough: '5/1', mailedChange: null }
  t.throws(() => DeliveryState.fromJSON({ ...ok, mailedChange: 1.5 }), /mailedChange is not an integer/)
  t.throws(() => DeliveryState.fromJSON({ ...ok, delivering: { change: 1, at: '5/1', done: null } } as never), /not a mail progress/)
  t.throws(() => DeliveryState.fromJSON({ ...ok, delivering: { change: 1, at: '5/1', done: { m: 'a' } } } as never), /not an array/)
  t.throws(() => DeliveryState.fromJSON({ ...ok, delivering: { change: 1, at: 5, done: {} } } as never), /its position is not a string/)
  t.throws(() => DeliveryState.fromJSON({ ...ok, mailedChanges: 'x' } as never, true), /mailedChanges is not an array/)
  t.equal(DeliveryState.fromJSON({ mailedThrough: '5/1', mailedChanges: [2] }, true).hasMailed(at(3, 1)), false, 'version 1 of the review state')
})

t.test('the delivery state file', async (t) => {
  const dir = t.testdir({ 'server.json': JSON.stringify({ version: 1, kind: 'notify-delivery', server: 7, mailedThrough: null }) })
  t.equal(deliveryStatePath(undefined, { baseDir: dir, name: 'n' }), null, 'no daemon state, no option: memory only')
  t.equal(deliveryStatePath('/abs.json', { baseDir: dir, name: 'n' }), '/abs.json')
  t.equal(await readDeliveryState(join(dir, 'none.json')), null)
  await t.rejects(readDeliveryState(join(dir, 'server.json')), { code: 'ERR_STATE_CORRUPT', message: /the server root is not a string/ })
  await t.rejects(readDeliveryState(dir), { code: 'EISDIR' }, 'a file it cannot read is an error')
  const s = new DeliveryState()
  s.mailedChange(at(1, 100))
  await writeDeliveryState(join(dir, 'd.json'), s, '/p4/root', 'team')
  t.equal(s.dirty, false)
  t.match(JSON.parse(readFileSync(join(dir, 'd.json'), 'utf8')), {
    version: 1,
    kind: 'notify-delivery',
    server: '/p4/root',
    listener: 'team',
    mailedThrough: '5/100',
    mailedChange: 1,
  })
  const back = await readDeliveryState(join(dir, 'd.json'))
  t.equal(back?.server, '/p4/root')
  t.equal(back?.listener, 'team')
  t.equal(back?.state.hasMailed(at(1, 100)), true)
  // A write that fails leaves the state to be saved again.
  writeFileSync(join(dir, 'x'), '')
  await t.rejects(writeDeliveryState(join(dir, 'x', 'd.json'), s, null, 'team'))
  t.equal(s.dirty, true)
})
