import t from 'tap'
import { join } from 'node:path'
import { suite } from '../../../helpers/sql-suite.js'

let n = 0
suite(t, async (t) => `sqlite:${join(t.testdir(), `replica-${++n}.db`)}`)

t.test('the built-in: url relative to the configuration, name, acknowledged position', async (t) => {
  const { create, optionsSchema } = await import('../../../../lib/listeners/builtin/sql/sql.js')
  const { parseConfig } = await import('../../../../lib/daemon/config.js')
  const { transactions } = await import('../../../helpers/entries.js')
  const dir = t.testdir()
  const l = create(optionsSchema.parse({ url: 'sqlite:replica.db' }), {
    name: 'reports',
    baseDir: dir,
  }) as import('../../../../lib/listeners/builtin/sql/sql.js').SqlListener
  t.equal(l.name, 'reports')
  t.equal(l.target.masked, `sqlite:${join(dir, 'replica.db')}`)
  t.equal(l.acknowledged(), null)
  const { entries } = transactions(3, 4)
  for (const e of entries) await l.listen(e)
  const end = entries.at(-1)!.position.end
  await l.sync({ journal: 4, offset: end })
  t.equal(l.acknowledged(), `4/${end}`)
  await l.close()
  t.throws(() => optionsSchema.parse({ url: 'sqlite:x.db', tables: [] }), 'at least one table pattern')
  t.throws(() => optionsSchema.parse({ url: 'sqlite:x.db', bogus: 1 }), 'strict options')
  const config = await parseConfig(
    { server: { root: dir }, listeners: [{ type: 'sql', options: { url: 'sqlite:r.db', exclude: ['db.have*'] } }] },
    { baseDir: dir },
  )
  t.match(config.listeners[0], { type: 'sql', options: { url: 'sqlite:r.db', exclude: ['db.have*'], tables: ['db.*'] } }, 'a configuration with the sql type')
  await t.rejects(parseConfig({ server: { root: dir }, listeners: [{ type: 'sql', options: { url: 42 } }] }, { baseDir: dir }), { code: 'ERR_CONFIG_INVALID' })
})
