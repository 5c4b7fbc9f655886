import t from 'tap'
import fc from 'fast-check'
import { ReviewView, parseReviewLine, reviewLineFromRow } from '../../../../../lib/listeners/builtin/notify/reviews/review-view.js'

// Each case is one of the rules of `p4 help views`, depot side.
const cases: Array<{ rule: string; lines: string[]; file: string; reviewed: boolean; line?: string | null; caseInsensitive?: boolean }> = [
  { rule: '... matches across directories', lines: ['//depot/main/...'], file: '//depot/main/a/b/c.txt', reviewed: true },
  { rule: '... matches the empty rest', lines: ['//depot/main/...'], file: '//depot/main/', reviewed: true },
  { rule: 'a path outside is not reviewed', lines: ['//depot/main/...'], file: '//depot/rel/a.txt', reviewed: false, line: null },
  { rule: '* stays within one directory', lines: ['//depot/main/*'], file: '//depot/main/a/b.txt', reviewed: false },
  { rule: '* matches a file name', lines: ['//depot/main/*'], file: '//depot/main/b.txt', reviewed: true },
  { rule: '* inside a name', lines: ['//depot/main/*.c'], file: '//depot/main/x.c', reviewed: true },
  { rule: '* does not cross a slash inside a name', lines: ['//depot/*.c'], file: '//depot/sub/x.c', reviewed: false },
  { rule: '... in the middle', lines: ['//depot/.../docs/*'], file: '//depot/a/b/docs/r.md', reviewed: true },
  { rule: '%%1 matches like *', lines: ['//depot/%%1/README'], file: '//depot/proj/README', reviewed: true },
  { rule: '%%1 does not cross a slash', lines: ['//depot/%%1/README'], file: '//depot/a/b/README', reviewed: false },
  { rule: 'an exact path matches only itself', lines: ['//depot/main/a.txt'], file: '//depot/main/a.txt', reviewed: true },
  { rule: 'an exact path is not a prefix', lines: ['//depot/main/a'], file: '//depot/main/a.txt', reviewed: false },
  {
    rule: 'exclusion removes what an earlier line included',
    lines: ['//depot/...', '-//depot/secret/...'],
    file: '//depot/secret/k',
    reviewed: false,
    line: '-//depot/secret/...',
  },
  { rule: 'exclusion leaves the rest', lines: ['//depot/...', '-//depot/secret/...'], file: '//depot/open/k', reviewed: true, line: '//depot/...' },
  {
    rule: 'a later line overrides an earlier exclusion',
    lines: ['//depot/...', '-//depot/x/...', '//depot/x/keep/...'],
    file: '//depot/x/keep/f',
    reviewed: true,
    line: '//depot/x/keep/...',
  },
  {
    rule: 'an exclusion first excludes nothing that a later line includes',
    lines: ['-//depot/x/...', '//depot/...'],
    file: '//depot/x/f',
    reviewed: true,
    line: '//depot/...',
  },
  { rule: '+ overlay includes', lines: ['-//depot/...', '+//depot/a/...'], file: '//depot/a/f', reviewed: true },
  { rule: 'quoted paths with spaces', lines: ['"//depot/my dir/..."'], file: '//depot/my dir/f.txt', reviewed: true },
  { rule: 'quoted exclusion with spaces', lines: ['//depot/...', '-"//depot/my dir/..."'], file: '//depot/my dir/f.txt', reviewed: false },
  { rule: 'case-sensitive server: case matters', lines: ['//depot/Main/...'], file: '//depot/main/f', reviewed: false },
  { rule: 'case-insensitive server: case is ignored', lines: ['//depot/Main/...'], file: '//DEPOT/main/f', reviewed: true, caseInsensitive: true },
  { rule: 'escaped wildcards are literal text', lines: ['//depot/a%40b/...'], file: '//depot/a%40b/f', reviewed: true },
  { rule: 'no lines: nothing reviewed', lines: [], file: '//depot/a', reviewed: false, line: null },
  { rule: 'blank lines are ignored', lines: ['', '  ', '//depot/...'], file: '//depot/a', reviewed: true },
]

for (const c of cases) {
  t.test(c.rule, async (t) => {
    const view = ReviewView.parse(c.lines, { caseInsensitive: c.caseInsensitive ?? false })
    const m = view.match(c.file)
    t.equal(m.reviewed, c.reviewed, `${c.file} against ${JSON.stringify(c.lines)}`)
    if (c.line !== undefined) t.equal(m.line?.text ?? null, c.line)
  })
}

t.test('db.review rows become lines: mapFlag 1 excludes', async (t) => {
  const view = new ReviewView([reviewLineFromRow(0, '//depot/...'), reviewLineFromRow(1, '//depot/my dir/...')])
  t.equal(view.match('//depot/a').reviewed, true)
  t.equal(view.match('//depot/my dir/a').reviewed, false)
  t.equal(view.lines[1]!.text, '-"//depot/my dir/..."')
  t.equal(reviewLineFromRow(2, '//depot/x/...').kind, 'include', 'overlay includes')
})

t.test('parseReviewLine', async (t) => {
  t.same(parseReviewLine('-//depot/x/...'), { kind: 'exclude', path: '//depot/x/...', text: '-//depot/x/...' })
  t.equal(parseReviewLine('   '), null)
})

t.test('a hostile pattern matches in linear time (the answer, not the clock, is asserted)', async (t) => {
  const pattern = `//${'...a'.repeat(30)}b`
  const file = `//${'a'.repeat(5000)}`
  t.equal(ReviewView.parse([pattern]).match(file).reviewed, false)
  t.equal(ReviewView.parse([pattern]).match(`${file}b`).reviewed, true)
})

/** The straightforward reference: each line as a RegExp, the last match decides. */
function reference(lines: string[], file: string): boolean {
  let reviewed = false
  for (const raw of lines) {
    const l = parseReviewLine(raw)
    if (l === null) continue
    const body = l.path
      .split(/(\.\.\.|\*|%%[0-9])/)
      .map((part) => (part === '...' ? '.*' : part === '*' || /^%%[0-9]$/.test(part) ? '[^/]*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('')
    if (new RegExp(`^${body}$`, 's').test(file)) reviewed = l.kind === 'include'
  }
  return reviewed
}

t.test('property: agrees with a RegExp reference matcher', async (t) => {
  const seg = fc.constantFrom('a', 'b', 'ab', '/', '.', '...', '*', '%%1', 'x.c')
  const pattern = fc.array(seg, { maxLength: 6 }).map((p) => `//${p.join('')}`)
  const line = fc.tuple(fc.constantFrom('', '-', '+'), pattern).map(([s, p]) => s + p)
  const file = fc.array(fc.constantFrom('a', 'b', '/', '.', 'x.c', 'ab'), { maxLength: 8 }).map((p) => `//${p.join('')}`)
  fc.assert(
    fc.property(fc.array(line, { maxLength: 4 }), file, (lines, f) => ReviewView.parse(lines).match(f).reviewed === reference(lines, f)),
    { numRuns: 3000 },
  )
  t.pass('3000 random views and files agree')
})
