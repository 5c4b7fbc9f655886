import t from 'tap'
import { looksLikeStart } from '../../lib/parallel/frame-range.js'

/**
 * The range-parallel paths guess a range's first record start; a guess
 * that never matches makes every range framed twice (once by its worker,
 * once again on the main thread from the true boundary).
 */
t.test('a record start after a LF: @op@ and a space, the op of ASCII letters in either case', async (t) => {
  const at = (text: string) => {
    const buf = Buffer.from(`\n${text}`, 'latin1')
    return looksLikeStart(buf, 1, buf.length)
  }
  for (const yes of ['@pv@ 0 @db.x@', '@ex@ 1 2', '@PV@ 0 @db.x@', '@Ex@ 1 2', '@abcdefgh@ 1']) t.ok(at(yes), yes)
  for (const no of ['@@pv@ 0', '@p1@ 0', '@pv@0', '@pv 0', 'pv@ 0', '@@ 0', '@[v@ 0', '@`v@ 0', '@\xc1v@ 0', '@abcdefghi@ 1'])
    t.notOk(at(no), JSON.stringify(no))
  const mid = Buffer.from('x@pv@ 0\n', 'latin1')
  t.notOk(looksLikeStart(mid, 1, mid.length), 'not after a LF')
})
