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
