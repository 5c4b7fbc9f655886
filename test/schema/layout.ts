import t from 'tap'
import { layoutOf, layoutsOf, schemaTables, tableVersions } from '../../lib/schema/layout.js'
import { LAYOUT_ROWS, RELEASES } from '../../lib/schema/p4-schema-data.js'

t.test('a documented table version', async (t) => {
  const rev = layoutOf('db.rev', 9, 14)
  t.ok(rev)
  t.equal(rev?.table, 'db.rev')
  t.equal(rev?.version, 9)
  t.same(
    rev?.columns.map((c) => c.name),
    ['depotFile', 'depotRev', 'type', 'action', 'change', 'date', 'modTime', 'digest', 'size', 'traitLot', 'lbrIsLazy', 'lbrFile', 'lbrRev', 'lbrType'],
  )
  t.same(rev?.key, ['depotFile', 'depotRev'])
  t.same(rev?.columns[0], { name: 'depotFile', type: 'File', kind: 'text', index: 0 })
  t.same(rev?.columns[3], { name: 'action', type: 'Action', kind: 'flag', index: 3 })
  t.same(rev?.columns[4], { name: 'change', type: 'Change', kind: 'integer', index: 4 })
  // Two layouts of 14 columns: the later documents (2013.1 on) describe lbrIsLazy as RevStatus.
  t.equal(rev?.columns[10]?.type, 'RevStatus')
  t.same(rev?.releases, { first: '2013.1', last: '2023.1' })
  t.equal(layoutsOf('db.rev', 9)[0]?.columns[10]?.type, 'Int')
  t.ok(Object.isFrozen(rev) && Object.isFrozen(rev?.columns) && Object.isFrozen(rev?.key))
})

t.test('unknown tables and versions are null', async (t) => {
  t.equal(layoutOf('db.nosuch', 1, 3), null)
  t.equal(layoutOf('db.rev', 3, 11), null)
  t.equal(layoutOf('db.rev', 99, 14), null)
  t.same(layoutsOf('db.rev', 3), [])
  t.same(tableVersions('db.nosuch'), [])
})

t.test("the field count chooses among a version's layouts", async (t) => {
  // db.user 6: 13 columns in 2013.1, 14 in 2013.3–2014.1.
  t.equal(layoutOf('db.user', 6, 13)?.columns.length, 13)
  t.equal(layoutOf('db.user', 6, 13)?.releases.first, '2013.1')
  t.equal(layoutOf('db.user', 6, 14)?.columns.length, 14)
  t.equal(layoutOf('db.user', 6, 14)?.releases.first, '2013.3')
  // No exact fit: the longest layout not longer than the record, else the shortest.
  t.equal(layoutOf('db.user', 6, 15)?.columns.length, 14)
  t.equal(layoutOf('db.user', 6, 99)?.columns.length, 14)
  t.equal(layoutOf('db.user', 6, 12)?.columns.length, 13)
  t.equal(layoutOf('db.user', 6, 2)?.columns.length, 13)
  // Same count, same version, documents that overlap (db.config 1): the latest documents win.
  t.same(layoutOf('db.config', 1, 3)?.releases, { first: '2019.1', last: '2024.1' })
  // db.domain 5 is documented with 11 columns; real records have 12.
  t.equal(layoutOf('db.domain', 5, 12)?.columns.length, 11)
  // Same count, different spelling (serverid → serverId): the later documents win.
  t.equal(layoutOf('db.domain', 7, 14)?.columns[12]?.name, 'serverId')
  t.equal(layoutOf('db.domain', 7, 14)?.releases.last, '2023.1')
})

t.test('every documented layout is whole', async (t) => {
  const tables = schemaTables()
  t.ok(tables.length > 100)
  t.same(tables, [...tables].sort())
  let layouts = 0
  const problems: string[] = []
  const keyless: string[] = []
  for (const table of tables) {
    for (const version of tableVersions(table)) {
      for (const layout of layoutsOf(table, version)) {
        layouts++
        const where = `${table} ${version} ${layout.releases.first}`
        const names = layout.columns.map((c) => c.name)
        if (new Set(names).size !== names.length) problems.push(`${where}: repeated names`)
        for (const k of layout.key) if (!names.includes(k)) problems.push(`${where}: key ${k} is no column`)
        if (layout.key.length === 0) keyless.push(where)
        if (RELEASES.indexOf(layout.releases.first) > RELEASES.indexOf(layout.releases.last)) problems.push(`${where}: releases`)
        for (const c of layout.columns) if (!['integer', 'text', 'flag', 'bitmask'].includes(c.kind)) problems.push(`${where}: ${c.name} kind`)
      }
    }
  }
  t.same(problems, [])
  // The one layout the documents give no key.
  t.same(keyless, ['rdb.lbr 0 2013.1'])
  t.equal(layouts, LAYOUT_ROWS.length)
})

t.test('repaired keys of the documents', async (t) => {
  // Documented as one string 'name seq'.
  t.same(layoutOf('db.view.rp', 1, 5)?.key, ['name', 'seq'])
  // Documented as taskid, the column is taskID.
  t.same(layoutOf('db.sendq', 0, 14)?.key, ['taskID', 'seq'])
  // Documented as serverName where the column is sname (2012.1–2018.1).
  t.same(layoutsOf('db.config', 1).find((l) => l.columns[0]?.name === 'sname')?.key, ['sname', 'name'])
})

t.test('types the datatypes do not describe get a kind', async (t) => {
  const kinds = new Map<string, string>()
  for (const table of schemaTables())
    for (const version of tableVersions(table)) for (const layout of layoutsOf(table, version)) for (const c of layout.columns) kinds.set(c.type, c.kind)
  t.equal(kinds.get('int'), 'integer')
  t.equal(kinds.get('Integer'), 'integer')
  t.equal(kinds.get('text'), 'text')
  t.equal(kinds.get('LbrRev'), 'text')
  t.equal(kinds.get('Date'), 'integer')
})
