import t from 'tap'
import type { SubmittedChange } from '../../../../lib/listeners/builtin/notify/change-collector.js'
import { changePayload, DEFAULT_SUBJECT, renderSubject, renderText, summaryOf } from '../../../../lib/listeners/builtin/notify/change-message.js'

const base: SubmittedChange = {
  change: 12,
  user: 'u',
  client: 'c',
  date: 0,
  description: '\n  first line  \nsecond\n',
  descriptionComplete: true,
  files: [{ depotFile: '//d/a', revision: 1, action: 'add' }],
  fileCount: 1,
  filesComplete: true,
  position: { journal: null, offset: 0, end: 10, line: 1 },
  pid: null,
}

t.test('summary is the first non-empty line, trimmed', async (t) => {
  t.equal(summaryOf(base.description), 'first line')
  t.equal(summaryOf(''), '')
  t.equal(summaryOf('a\r\nb'), 'a')
})

t.test('subject templates fill known placeholders and stay one line', async (t) => {
  t.equal(renderSubject(DEFAULT_SUBJECT, base), '[p4] Change 12 by u@c: first line')
  t.equal(renderSubject('{change} {date} {files} {unknown}', base), '12 1970/01/01 00:00:00 UTC 1 {unknown}')
  t.equal(renderSubject('a\r\nb {summary}', { ...base, description: 'x' }), 'a b x')
})

t.test('a long first line is cut in the subject, on a character boundary, and whole in the body', async (t) => {
  // A probe's 2 MB first line made a 2,000,000-character Subject: over RFC 5322's 998, refused for good by strict MTAs.
  const long = `${'x'.repeat(2_000_000)}\nsecond line\n`
  const subject = renderSubject(DEFAULT_SUBJECT, { ...base, description: long })
  t.equal(subject.length, 200)
  t.match(subject, /^\[p4\] Change 12 by u@c: x+\u2026$/)
  t.match(renderText({ ...base, description: long }), `\t${'x'.repeat(2_000_000)}\n`, 'the body holds the whole line')
  // An emoji (a surrogate pair) across the cut is left out whole, never halved.
  const emoji = renderSubject('{summary}', { ...base, description: `${'a'.repeat(198)}\u{1F600}tail` })
  t.equal(emoji, `${'a'.repeat(198)}\u2026`)
  t.notMatch(emoji, /[\ud800-\udfff]/)
  t.equal(renderSubject('{summary}', { ...base, description: 'b'.repeat(200) }), 'b'.repeat(200), '200 is not cut')
  t.equal(
    renderSubject('{summary}', { ...base, description: `${'c'.repeat(150)}${' '.repeat(100)}d` }),
    `${'c'.repeat(150)}\u2026`,
    'no space before the ellipsis',
  )
})

t.test('the text body says when the description or the file list is partial', async (t) => {
  const text = renderText({ ...base, descriptionComplete: false, fileCount: 3 })
  t.match(text, /description as kept in db\.change/)
  t.match(text, /\.\.\. and 2 more file\(s\)/)
  t.match(renderText({ ...base, filesComplete: false }), /some file rows could not be read/)
})

t.test('payload: journal position is null when the journal number is unknown', async (t) => {
  const p = changePayload(base, 'n', new Date(0))
  t.equal(p.journalPosition, null)
  t.equal(p.sentAt, '1970-01-01T00:00:00.000Z')
  t.equal(p.deliveryId, 'change-12')
})
