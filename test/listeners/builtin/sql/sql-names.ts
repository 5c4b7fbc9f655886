import t from 'tap'
import { distinctColumnNames, quoteIdent, sqlColumnName, sqlTableName } from '../../../../lib/listeners/builtin/sql/sql-names.js'

t.test('tables: without db., other dots as _', async (t) => {
  t.equal(sqlTableName('db.rev'), 'rev')
  t.equal(sqlTableName('db.have.rp'), 'have_rp')
  t.equal(sqlTableName('db.view.rp'), 'view_rp')
  t.equal(sqlTableName('rdb.lbr'), 'rdb_lbr')
  t.equal(sqlTableName('tiny.db'), 'tiny_db')
})

t.test('columns: snake_case in schema order', async (t) => {
  t.equal(sqlColumnName('depotFile'), 'depot_file')
  t.equal(sqlColumnName('lbrIsLazy'), 'lbr_is_lazy')
  t.equal(sqlColumnName('baseSHA'), 'base_sha')
  t.equal(sqlColumnName('MD5'), 'md5')
  t.equal(sqlColumnName('change'), 'change')
  t.equal(sqlColumnName('name seq'), 'name_seq', 'no character outside a-z 0-9 _')
  t.equal(sqlColumnName('2FA'), '_2_fa', 'never a leading digit')
  t.same(
    distinctColumnNames(['blobSha', 'blob_sha', 'logdaemon_raw']),
    ['blob_sha', 'blob_sha_2', 'logdaemon_raw_2'],
    'names made distinct; the raw column reserved',
  )
  t.equal(quoteIdent('us"er'), '"us""er"')
})
