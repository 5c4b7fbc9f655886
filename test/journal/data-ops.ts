import t from 'tap'
import { isDataOp, isDataOpBytes } from '../../lib/journal/data-ops.js'

t.test('isDataOpBytes agrees with isDataOp', async (t) => {
  const ops = ['pv', 'rv', 'dv', 'vv', 'dl', 'put', 'del', 'ex', 'nx', 'mx', 'dx', 'pu', 'pvv', 'puts', 'dell', 'de', 'p', '', 'PV', 'xv', 'dd', 'pet', 'dex']
  for (const op of ops) {
    const src = Buffer.from(`@${op}@`)
    t.equal(isDataOpBytes(src, 1, 1 + op.length), isDataOp(op), op)
  }
  t.equal(isDataOp('put'), true)
  t.equal(isDataOp('ex'), false)
})
