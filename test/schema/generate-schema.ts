import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const source = root + '../shared/schema/p4-schema.json'

t.test('regenerating the schema copy gives the committed file', { skip: existsSync(source) ? false : `schema source not found at ${source}` }, async (t) => {
  const dir = t.testdir()
  execFileSync(process.execPath, [root + 'scripts/generate-schema.mjs', '--in', source, '--out', dir + '/out.ts'])
  t.equal(readFileSync(dir + '/out.ts', 'utf8'), readFileSync(root + 'lib/schema/p4-schema-data.ts', 'utf8'))
})

t.test('the generator refuses a key that names no column', async (t) => {
  const dir = t.testdir({
    'bad.json': JSON.stringify({
      source: 'test',
      tables: { 'db.x': { '1': [{ columns: [['a', 'Int']], key: ['nope'], releases: ['2020.1', '2020.1'] }] } },
      datatypes: { Int: { base: 'integer' } },
      notes: [],
    }),
  })
  t.throws(() => execFileSync(process.execPath, [root + 'scripts/generate-schema.mjs', '--in', dir + '/bad.json', '--out', dir + '/out.ts'], { stdio: 'pipe' }))
  t.notOk(existsSync(dir + '/out.ts'))
})

t.test('the generator refuses a type it cannot classify', async (t) => {
  const dir = t.testdir({
    'bad.json': JSON.stringify({
      source: 'test',
      tables: { 'db.x': { '1': [{ columns: [['a', 'Mystery']], key: ['a'], releases: ['2020.1', '2020.1'] }] } },
      datatypes: { Int: { base: 'integer' } },
      notes: [],
    }),
  })
  t.throws(() => execFileSync(process.execPath, [root + 'scripts/generate-schema.mjs', '--in', dir + '/bad.json', '--out', dir + '/out.ts'], { stdio: 'pipe' }))
})
