import t from 'tap'
import fc from 'fast-check'
import { HeldBytes } from '../../../../lib/listeners/builtin/hot-backup/hot-backup-held.js'

const b = (s: string) => Buffer.from(s, 'latin1')

t.test('pending bytes, complete transactions, flushes', async (t) => {
  const h = new HeldBytes()
  t.equal(h.flush(), null, 'nothing to flush')
  h.add(3, 100, b('aaa'), false)
  h.add(3, 103, b('bb'), true)
  h.add(3, 105, b('c'), false)
  t.equal(h.bytes, 6)
  t.equal(h.completeBytes, 5)
  t.same(h.pendingStart, { journal: 3, offset: 100 })
  const c = h.flush(h.completeBytes)
  t.same(c && { journal: c.journal, offset: c.offset, data: c.data.toString() }, { journal: 3, offset: 100, data: 'aaabb' })
  t.equal(h.completeBytes, 0, 'the tail is an unfinished transaction')
  t.same(h.pendingStart, { journal: 3, offset: 105 })
  t.equal(h.chunkBytes, 5)
  t.equal(h.bytes, 6)
  t.throws(() => h.add(3, 107, b('x'), false), /does not follow/, 'bytes must be contiguous')
  t.throws(() => h.add(4, 0, b('x'), false), /does not follow/, 'flush a journal before the next')
  const d = h.flush()
  t.equal(d?.data.toString(), 'c')
  t.equal(h.pendingBytes, 0)
  h.acknowledged(c!)
  h.acknowledged(c!)
  t.equal(h.chunkBytes, 1, 'acknowledging twice is harmless')
})

t.test('clearBefore: nothing held before a position', async (t) => {
  const h = new HeldBytes()
  t.ok(h.clearBefore({ journal: 1, offset: 0 }))
  h.add(1, 10, b('0123456789'), true)
  t.ok(h.clearBefore({ journal: 1, offset: 10 }))
  t.notOk(h.clearBefore({ journal: 1, offset: 11 }), 'pending bytes before it')
  const c = h.flush()!
  t.notOk(h.clearBefore({ journal: 2, offset: 0 }), 'a chunk before it')
  h.add(2, 0, b('x'), false)
  h.acknowledged(c)
  t.ok(h.clearBefore({ journal: 1, offset: 20 }))
  t.notOk(h.clearBefore({ journal: 2, offset: 1 }))
})

t.test('trim: what the standby has is dropped, a standby behind is a gap', async (t) => {
  const h = new HeldBytes()
  h.add(5, 0, b('abcd'), true)
  const c1 = h.flush()!
  h.add(5, 4, b('efgh'), true)
  const c2 = h.flush()!
  h.add(5, 8, b('ij'), false)
  t.equal(h.trim(5, 6), null)
  t.equal(h.chunks.length, 1, 'the first chunk is gone')
  t.equal(h.chunks[0], c2)
  t.same([c2.offset, c2.data.toString()], [6, 'gh'], 'the second starts where the standby ends, mid-chunk')
  t.equal(h.chunkBytes, 2)
  t.equal(h.trim(4, 1000), null, 'another journal is untouched')
  t.equal(h.trim(5, 3), 6, 'the standby lacks 3..6: a gap at 6')
  t.equal(h.trim(5, 100), null)
  t.equal(h.chunks.length, 0)
  t.equal(h.bytes, 2, 'pending bytes are not trimmed')
  t.not(c1, c2)
})

t.test('property: the standby plus what is held is always the whole journal', async () => {
  const source = Buffer.from(Array.from({ length: 400 }, (_, i) => (i * 37) % 256))
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 40 }), fc.constantFrom('add', 'flush', 'pump', 'ack', 'cut')), { maxLength: 60 }), (steps) => {
      const h = new HeldBytes()
      let standby = Buffer.alloc(0) // what the remote file holds
      let read = 0
      for (const [n, op] of steps) {
        if (op === 'add' && read < source.length) {
          const take = source.subarray(read, Math.min(read + n, source.length))
          h.add(1, read, take, n % 2 === 0)
          read += take.length
        } else if (op === 'flush') {
          h.flush()
        } else if (op === 'pump' && h.completeBytes > 0) {
          h.flush(h.completeBytes)
        } else if (op === 'ack' && h.chunks[0]) {
          const c = h.chunks[0]
          standby = Buffer.concat([standby, c.data])
          h.acknowledged(c)
        } else if (op === 'cut' && h.chunks[0]) {
          // A write cut after some of its bytes, then a reconnect.
          const c = h.chunks[0]
          standby = Buffer.concat([standby, c.data.subarray(0, Math.min(n, c.data.length))])
          if (h.trim(1, standby.length) !== null) return false
        }
        const held = Buffer.concat([...h.chunks.map((c) => c.data), ...(h.pendingBytes > 0 ? [source.subarray(h.pendingStart!.offset, read)] : [])])
        if (!Buffer.concat([standby, held]).equals(source.subarray(0, read))) return false
        if (h.bytes !== held.length) return false
      }
      return true
    }),
  )
})
