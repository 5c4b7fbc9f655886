import t from 'tap'
import { createChangeFilter, depotPatternMatcher } from '../../../../lib/listeners/builtin/notify/change-filter.js'
import type { SubmittedChange } from '../../../../lib/listeners/builtin/notify/change-collector.js'

const change = (user: string, files: string[], filesComplete = true): SubmittedChange => ({
  change: 1,
  user,
  client: 'ws',
  date: 0,
  description: '',
  descriptionComplete: true,
  files: files.map((depotFile) => ({ depotFile, revision: 1, action: 'edit' })),
  fileCount: files.length,
  filesComplete,
  position: { journal: 1, offset: 0, end: 1, line: 1 },
  pid: null,
})

t.test('depot patterns: ... spans directories, * and %%n do not, the rest is literal', async (t) => {
  const m = (p: string, s: string) => depotPatternMatcher(p)(s)
  t.ok(m('//depot/main/...', '//depot/main/a/b/c.txt'))
  t.ok(m('//depot/main/...', '//depot/main/'))
  t.notOk(m('//depot/main/...', '//depot/mainline/x'))
  t.ok(m('//depot/*/README', '//depot/main/README'))
  t.notOk(m('//depot/*/README', '//depot/main/sub/README'))
  t.ok(m('//depot/%%1/x.c', '//depot/rel/x.c'))
  t.ok(m('//depot/....c', '//depot/a/b.c'), '`....c`: ... then a literal .c')
  t.notOk(m('//depot/a+b(1)/x', '//depot/aab1/x'), 'regex characters are literal')
  t.ok(m('//depot/a+b(1)/x', '//depot/a+b(1)/x'))
  t.ok(m('//depot/...', '//depot/line\nbreak'), 'a file name with a newline still matches ...')
})

t.test('no filters: null', async (t) => {
  t.equal(createChangeFilter({}), null)
  t.equal(createChangeFilter({ paths: [], users: [] }), null)
})

t.test('users and paths must both pass; any file matching is enough', async (t) => {
  const f = createChangeFilter({ users: ['alice'], paths: ['//depot/main/...', '//depot/rel/*.txt'] })!
  t.ok(f(change('alice', ['//depot/other/x', '//depot/main/y'])))
  t.ok(f(change('alice', ['//depot/rel/notes.txt'])))
  t.notOk(f(change('alice', ['//depot/rel/sub/notes.txt'])))
  t.notOk(f(change('bob', ['//depot/main/y'])), 'wrong user')
  t.notOk(f(change('Alice', ['//depot/main/y'])), 'user names are case-sensitive')
})

t.test('an incomplete file list passes the path filter (it may hide a match)', async (t) => {
  const f = createChangeFilter({ paths: ['//depot/main/...'] })!
  t.ok(f(change('a', [], false)))
  t.notOk(f(change('a', [], true)))
})
