import t from 'tap'
import { TableFilter } from '../../../../lib/listeners/builtin/sql/table-filter.js'

t.test('tables and exclude patterns', async (t) => {
  const f = new TableFilter(['db.*'], ['db.have*', 'db.?ocks'])
  t.ok(f.has('db.rev'))
  t.notOk(f.has('db.have'))
  t.notOk(f.has('db.have.rp'))
  t.notOk(f.has('db.locks'))
  t.notOk(f.has('rdb.lbr'), 'the whole name must match')
  t.notOk(new TableFilter(['db.rev'], []).has('db.revcx'))
  t.ok(new TableFilter(['db.re(v)'], []).has('db.re(v)'), 'regex characters are literal')
})
