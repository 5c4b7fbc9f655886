/**
 * detachEarly: detaches a throwaway ArrayBuffer of its own, once, and
 * touches nothing else (the buffers a thread holds stay as they are).
 */
import t from 'tap'
import { detachEarly } from '../../lib/parallel/detach-early.js'

t.test('detaches only its own buffer, and is safe to call again', async (t) => {
  const held = Buffer.from('journal bytes')
  const own = new Uint8Array(new ArrayBuffer(16))
  detachEarly()
  detachEarly()
  t.equal(held.toString(), 'journal bytes')
  t.equal(own.byteLength, 16)
  // A later transfer still works as before.
  const moved = new ArrayBuffer(4)
  const copy = structuredClone(moved, { transfer: [moved] })
  t.equal(moved.byteLength, 0)
  t.equal(copy.byteLength, 4)
})
