import t from 'tap'
import fc from 'fast-check'
import { globMatcher, wildcardMatcher, type WildcardToken } from '../../lib/journal/wildcard.js'
import { depotPatternMatcher } from '../../lib/listeners/builtin/notify/change-filter.js'

/** The reference: the RegExp the matchers replace (fine on short texts). */
function reference(tokens: readonly WildcardToken[]): RegExp {
  const body = tokens.map((t) => ('char' in t ? String.fromCharCode(t.char).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&') : t.crossesSlash ? '.*' : '[^/]*')).join('')
  return new RegExp(`^${body}$`, 's')
}

const token = fc.oneof(
  fc.constantFrom('a', 'b', '/', '.').map((c): WildcardToken => ({ char: c.charCodeAt(0) })),
  fc.boolean().map((crossesSlash): WildcardToken => ({ star: true, crossesSlash })),
)
const text = fc.array(fc.constantFrom('a', 'b', '/', '.'), { maxLength: 12 }).map((cs) => cs.join(''))

t.test('same answers as the backtracking RegExp, for random patterns and texts (property)', async (t) => {
  fc.assert(
    fc.property(fc.array(token, { maxLength: 8 }), text, (tokens, s) => wildcardMatcher(tokens)(s) === reference(tokens).test(s)),
    { numRuns: 5000 },
  )
  t.pass('5000 cases agree')
})

t.test('glob: * is any run, the empty pattern matches only the empty name, all else literal', async (t) => {
  const m = (p: string, s: string) => globMatcher(p)(s)
  t.ok(m('db.*', 'db.'))
  t.ok(m('*', ''))
  t.ok(m('', ''))
  t.notOk(m('', 'x'))
  t.ok(m('db.**rev', 'db.rev'))
  t.ok(m('a*b*c', 'aXbYc'))
  t.notOk(m('a*b*c', 'aXbY'))
  t.ok(m('db.[x]', 'db.[x]'))
  t.ok(m('*/*', 'a/b'), 'a table glob star crosses anything')
})

t.test('pathological patterns end with the right answer on long texts (no ReDoS)', async (t) => {
  const long = 'a'.repeat(50_000)
  t.notOk(globMatcher('*a'.repeat(100) + '*c')(long))
  t.ok(globMatcher('*a'.repeat(100) + '*c')(long + 'c'))
  const path = '//depot/' + 'a/'.repeat(10_000) + 'a'
  t.notOk(depotPatternMatcher('//depot/' + '...a'.repeat(50) + '...c')(path))
  t.notOk(depotPatternMatcher('//depot/' + '*a'.repeat(50) + '*c')(path))
  t.ok(depotPatternMatcher('//depot/' + '...a'.repeat(50) + '...')(path))
})
