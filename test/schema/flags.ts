import t from 'tap'
import { changeStatusNames, flagName, flagNames } from '../../lib/schema/flags.js'

t.test('flag values have names', async (t) => {
  t.equal(flagName('Action', 1), 'edit')
  t.equal(flagName('Action', '0'), 'add')
  t.equal(flagName('action', 8), 'moveto')
  t.equal(flagName('Action', 77), null)
  t.equal(flagName('Int', 1), null)
  t.equal(flagName('DomainType', 99), 'client')
  t.equal(flagName('PullStatus', 'done'), 'completed transfer')
  t.equal(flagName('JobStat', 'x'), null)
})

t.test('bitmask values split into their named bits', async (t) => {
  t.same(flagNames('Action', 2), ['delete'])
  t.same(flagNames('Perm', 0x12), ['Grants read access', 'Grants write access'])
  t.same(flagNames('Perm', 0x40000012), ['Grants read access', 'Grants write access', '0x40000000'])
  t.same(flagNames('Perm', 2 ** 40 + 2), ['Grants read access', '0x10000000000'])
  t.same(flagNames('Int', 3), [])
  t.same(flagNames('Perm', 'x'), [])
})

t.test('change status bits', async (t) => {
  t.same(changeStatusNames(0), ['pending'])
  t.same(changeStatusNames(1), ['committed'])
  t.same(changeStatusNames('2'), ['shelved'])
  t.same(changeStatusNames(0x12), ['promoted: elsewhere, shelved'])
  t.same(changeStatusNames(5), ['committed', 'restricted'])
})

t.test('a type named like an Object.prototype property is a type without named values', async (t) => {
  for (const type of ['toString', '__proto__', 'hasOwnProperty', 'constructor', 'valueOf']) {
    t.equal(flagName(type, 1), null, type)
    t.same(flagNames(type, 3), [], type)
  }
})
