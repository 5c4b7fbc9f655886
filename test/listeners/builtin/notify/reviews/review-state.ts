import t, { type Test } from 'tap'
import fc from 'fast-check'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import { JournalEntry } from '../../../../../lib/journal/entry.js'
import { shrunkError } from '../../../../../lib/files/file-reader.js'
import { createJournalReader, type JournalReaderOptions } from '../../../../../lib/journal/read-journal.js'
import { ReviewState } from '../../../../../lib/listeners/builtin/notify/reviews/review-state.js'
import { readReviewState, seedReviewState, writeReviewState, findCheckpoint } from '../../../../../lib/listeners/builtin/notify/reviews/review-store.js'
import { ReviewMailer } from '../../../../../lib/listeners/builtin/notify/reviews/review-mailer.js'
import { SmtpSender } from '../../../../../lib/listeners/builtin/notify/smtp-sender.js'
import type { SubmittedChange } from '../../../../../lib/listeners/builtin/notify/change-collector.js'

let offset = 0
/** An entry of journal 5 at increasing offsets. */
function entry(text: string, journal: number | null = 5): JournalEntry {
  const raw = Buffer.from(text)
  const e = new JournalEntry(raw, { journal, offset, end: offset + raw.length, line: 1 })
  offset += raw.length
  return e
}
const q = (s: string): string => `@${s.replaceAll('@', '@@')}@`
const user = (op: string, name: string, email: string, full: string): JournalEntry =>
  entry(`@${op}@ 7 @db.user@ ${q(name)} ${q(email)} @@ 1 1 ${q(full)} @@ 0 @@ 0 0 0 0 0 0 \n`)
const review = (op: string, name: string, seq: number, flag: number, path: string): JournalEntry =>
  entry(`@${op}@ 1 @db.review@ @${name}@ ${seq} ${flag} @${path}@ 0 \n`)

function change(n: number, author: string, files: string[], end = 10_000): SubmittedChange {
  return {
    change: n,
    user: author,
    client: `${author}-ws`,
    date: 1_611_008_050,
    description: 'a change\n',
    descriptionComplete: true,
    files: files.map((depotFile) => ({ depotFile, revision: 2, action: 'edit' })),
    fileCount: files.length,
    filesComplete: true,
    position: { journal: 5, offset: end - 20, end, line: 1 },
    pid: '7',
  }
}

t.test('db.user and db.review records build and change the state', async (t) => {
  const s = new ReviewState({ caseInsensitive: false, origin: 'test' })
  for (const e of [
    user('pv', 'bob', 'bob@x', 'Bob B'),
    user('pv', 'ann', 'ann@x', 'Ann A'),
    review('pv', 'bob', 0, 0, '//depot/main/...'),
    review('pv', 'bob', 1, 1, '//depot/main/secret/...'),
    review('pv', 'ann', 0, 0, '//depot/...'),
  ])
    s.apply(e)
  const c = change(1, 'ann', ['//depot/main/a.c', '//depot/main/secret/k'])
  t.same(
    s.recipients(c).map((r) => [r.user, r.email, r.files.map((f) => f.depotFile), r.lines]),
    [['bob', 'bob@x', ['//depot/main/a.c'], ['//depot/main/...']]],
    'bob gets the file his lines include; ann is the author',
  )
  t.same(
    s.recipients(c, { includeAuthor: true }).map((r) => r.user),
    ['ann', 'bob'],
    'includeAuthor mails the author too',
  )
  // bob rewrites his Reviews field: p4d deletes the old rows and puts the new ones.
  s.apply(review('dv', 'bob', 0, 0, '//depot/main/...'))
  s.apply(review('dv', 'bob', 1, 1, '//depot/main/secret/...'))
  s.apply(review('pv', 'bob', 0, 0, '//depot/rel/...'))
  t.same(s.recipients(change(2, 'ann', ['//depot/main/a.c'])), [], 'honoured from the next change')
  s.apply(user('dv', 'bob', 'bob@x', 'Bob B'))
  t.same(
    s.explain(change(3, 'ann', ['//depot/rel/x'])).map((e) => [e.user, e.excluded]),
    [
      ['ann', 'the change is their own'],
      ['bob', 'no such user in db.user'],
    ],
    'the author and a deleted user are explained, not mailed',
  )
})

t.test('a replay leaves the state as it was; a mailed change is not mailed again', async (t) => {
  const s = new ReviewState({ caseInsensitive: false, origin: 'test' })
  const replayed = [review('pv', 'bob', 0, 0, '//depot/old/...'), review('dv', 'bob', 0, 0, '//depot/old/...'), review('pv', 'bob', 0, 0, '//depot/...')]
  for (const e of replayed) t.equal(s.apply(e), true)
  s.delivery.mailedUpTo({ journal: 5, offset: 500 })
  const back = ReviewState.fromJSON(JSON.parse(JSON.stringify(s.toJSON())))
  t.same(back.toJSON(), s.toJSON(), 'the state file round-trips')
  for (const e of replayed) back.apply(e)
  t.same(back.toJSON(), s.toJSON(), 'after a restart, the same records again leave the state as it was')
  t.equal(back.delivery.hasMailed(change(1, 'x', [], 500)), true)
  t.equal(back.delivery.hasMailed(change(2, 'x', [], 501)), false)
})

t.test('case-insensitive servers fold user names and paths', async (t) => {
  const s = new ReviewState({ caseInsensitive: true, origin: 'test' })
  s.apply(user('pv', 'Bob', 'bob@x', 'Bob'))
  s.apply(review('pv', 'bob', 0, 0, '//Depot/Main/...'))
  t.same(
    s.recipients(change(1, 'ann', ['//depot/main/a.c'])).map((r) => r.user),
    ['Bob'],
  )
  t.same(s.recipients(change(2, 'BOB', ['//depot/main/a.c'])), [], 'the author in another case is still the author')
})

t.test('seeding from a checkpoint (plain and gz), the header decides case, resume mid-journal', async (t) => {
  const dir = t.testdir()
  const ckp = [
    '@nx@ 0 1611008050 @50@ 10 0 0 0 0 @/p4@ @journal@ @@ @@ @@ \n',
    '@pv@ 7 @db.user@ @bob@ @bob@x@@ @@ 1 1 @Bob@ @@ 0 @@ 0 0 0 0 0 0 \n'.replace('@bob@x@@', '@bob@@x@'),
    '@pv@ 1 @db.review@ @bob@ 0 0 @//depot/...@ 0 \n',
    '@pv@ 9 @db.rev@ @//depot/a@ 1 0 0 1 1 1 @D41D8CD98F00B204E9800998ECF8427E@ 0 0 0 @//depot/a@ @1.1@ 0 \n',
    '@ex@ 1 1611008050\n',
  ].join('')
  writeFileSync(join(dir, 'checkpoint.7.gz'), gzipSync(ckp))
  t.equal(await findCheckpoint({ root: dir }, 7), join(dir, 'checkpoint.7.gz'))
  t.equal(await findCheckpoint({ root: dir }, 8), null)
  // Journal 7 holds a Reviews edit before the resume offset, and one after it.
  const before = '@dv@ 1 @db.review@ @bob@ 0 0 @//depot/...@ 0 \n@pv@ 1 @db.review@ @bob@ 0 0 @//depot/x/...@ 0 \n@ex@ 2 1611008051\n'
  const after = '@pv@ 1 @db.review@ @bob@ 0 0 @//depot/y/...@ 0 \n@ex@ 3 1611008052\n'
  writeFileSync(join(dir, 'journal'), before + after)
  const auto = await seedReviewState(
    { checkpoint: join(dir, 'checkpoint.7.gz'), upTo: { journal: 7, offset: Buffer.byteLength(before) }, layout: { root: dir } },
    { caseHandling: 'auto', encoding: 'utf8' },
  )
  t.equal(auto.caseInsensitive, true, 'mode 10 in the header: case-insensitive')
  t.same(auto.user('bob'), { user: 'bob', email: 'bob@x', fullName: 'Bob' }, '@@ in an address is decoded')
  t.same(
    auto.view('bob').lines.map((l) => l.text),
    ['//depot/x/...'],
    'journal 7 up to the resume offset is applied, not past it',
  )
  t.same(
    auto.appliedThrough,
    { journal: 7, offset: Buffer.byteLength(before) - Buffer.byteLength('@ex@ 2 1611008051\n') },
    'the last applied record is recorded',
  )
  const sensitive = await seedReviewState({ checkpoint: join(dir, 'checkpoint.7.gz') }, { caseHandling: 'sensitive', encoding: 'utf8' })
  t.equal(sensitive.caseInsensitive, false, 'an explicit setting wins')
})

t.test('seeding from the journal before the resume offset: a transaction a restart note cut off is not applied', async (t) => {
  const dir = t.testdir()
  writeFileSync(join(dir, 'checkpoint.7'), '@pv@ 7 @db.user@ @bob@ @bob@@x@ @@ 1 1 @Bob@ @@ 0 @@ 0 0 0 0 0 0 \n')
  // bob's edit to //depot/x is parked (pid 5) and never ended: p4d restarted. His edit to //depot/y (pid 6) commits.
  const text =
    '@pv@ 1 @db.review@ @bob@ 0 0 @//depot/x/...@ 0 \n@mx@ 5 1611008051\n' +
    '@nx@ 7 1611008052 @50@ 0 0 0 0 0 @1666@ @.@ @@ @@ @@ \n@ex@ 1 1611008052\n' +
    '@pv@ 1 @db.review@ @bob@ 1 0 @//depot/y/...@ 0 \n@ex@ 6 1611008053\n'
  writeFileSync(join(dir, 'journal'), text)
  const seeded = await seedReviewState(
    { checkpoint: join(dir, 'checkpoint.7'), upTo: { journal: 7, offset: Buffer.byteLength(text) }, layout: { root: dir } },
    { caseHandling: 'sensitive', encoding: 'utf8' },
  )
  t.same(
    seeded.view('bob').lines.map((l) => l.text),
    ['//depot/y/...'],
    'only the committed edit',
  )
})

t.test('seeding stops inside a transaction (the daemon starts at the live end): the live journal commits or drops its records', async (t) => {
  const { seedReviews } = await import('../../../../../lib/listeners/builtin/notify/reviews/review-store.js')
  const dir = t.testdir()
  writeFileSync(join(dir, 'checkpoint.7'), '@pv@ 7 @db.user@ @bob@ @bob@@x@ @@ 1 1 @Bob@ @@ 0 @@ 0 0 0 0 0 0 \n')
  // pid 5 has written bob's new line and parked it when the daemon starts; its @ex@, or a restart note, comes after.
  const before = '@pv@ 1 @db.review@ @bob@ 0 0 @//depot/x/...@ 0 \n@mx@ 5 1611008051\n'
  writeFileSync(join(dir, 'journal'), before)
  const seed = () =>
    seedReviews(
      { checkpoint: join(dir, 'checkpoint.7'), upTo: { journal: 7, offset: Buffer.byteLength(before) }, layout: { root: dir } },
      { caseHandling: 'sensitive', encoding: 'utf8' },
    )
  const committed = await seed()
  t.same(committed.state.view('bob').lines, [], 'not committed where the daemon starts')
  t.equal(committed.transactions.held, 1)
  committed.transactions.see(entry('@ex@ 5 1611008052\n', 7))
  t.same(
    committed.state.view('bob').lines.map((l) => l.text),
    ['//depot/x/...'],
    'its @ex@ in the live journal commits it',
  )
  const dropped = await seed()
  dropped.transactions.see(entry('@nx@ 7 1611008052 @50@ 0 0 0 0 0 @1666@ @.@ @@ @@ @@ \n', 7))
  dropped.transactions.see(entry('@ex@ 5 1611008053\n', 7))
  t.same(dropped.state.view('bob').lines, [], 'a restart note drops it')
  t.same(
    (
      await seedReviewState(
        { checkpoint: join(dir, 'checkpoint.7'), upTo: { journal: 7, offset: Buffer.byteLength(before) }, layout: { root: dir } },
        { caseHandling: 'sensitive', encoding: 'utf8' },
      )
    ).view('bob').lines,
    [],
    'seedReviewState: the state as committed there',
  )
})

t.test(
  'seeding: the live journal cut (copy and truncate) while read is whole when every record before the offset was applied, an error otherwise',
  async (t) => {
    const dir = t.testdir()
    writeFileSync(join(dir, 'checkpoint.7.gz'), gzipSync('@pv@ 1 @db.review@ @bob@ 0 0 @//depot/...@ 0 \n@ex@ 1 1611008050\n'))
    const before = '@pv@ 1 @db.review@ @bob@ 0 0 @//depot/x/...@ 0 \n@ex@ 2 1611008051\n'
    const after = '@pv@ 1 @db.review@ @bob@ 0 0 @//depot/y/...@ 0 \n@ex@ 3 1611008052\n'
    writeFileSync(join(dir, 'journal'), before + after)
    const upTo = { journal: 7, offset: Buffer.byteLength(before) }
    /** The journal's entries up to `cut` bytes, then ERR_JOURNAL_SHRUNK, as a reader of a file cut there fails. */
    const cutAt = (cut: number) => ({
      '../../../../../lib/journal/read-journal.js': {
        createJournalReader: (file: string, options: JournalReaderOptions) => {
          const real = createJournalReader(file, options)
          if (!file.endsWith('journal')) return real
          return Readable.from(
            (async function* () {
              for await (const e of real as AsyncIterable<JournalEntry>) {
                if (e.position.end > cut) break
                yield e
              }
              real.destroy()
              throw shrunkError(file, 7, cut, cut, Buffer.byteLength(before + after))
            })(),
          )
        },
      },
    })
    const whole = await t.mockImport<typeof import('../../../../../lib/listeners/builtin/notify/reviews/review-store.js')>(
      '../../../../../lib/listeners/builtin/notify/reviews/review-store.js',
      cutAt(upTo.offset),
    )
    const seeded = await whole.seedReviewState(
      { checkpoint: join(dir, 'checkpoint.7.gz'), upTo, layout: { root: dir } },
      { caseHandling: 'auto', encoding: 'utf8' },
    )
    t.same(
      seeded.view('bob').lines.map((l) => l.text),
      ['//depot/x/...'],
      'cut at the offset: every record before it applied (the checkpoint line replaced), no error',
    )
    const short = await t.mockImport<typeof import('../../../../../lib/listeners/builtin/notify/reviews/review-store.js')>(
      '../../../../../lib/listeners/builtin/notify/reviews/review-store.js',
      cutAt(upTo.offset - 5),
    )
    await t.rejects(
      short.seedReviewState({ checkpoint: join(dir, 'checkpoint.7.gz'), upTo, layout: { root: dir } }, { caseHandling: 'auto', encoding: 'utf8' }),
      { code: 'ERR_JOURNAL_SHRUNK' },
      'cut before the offset: the seed would miss records, so it fails',
    )
  },
)

t.test('state files: written atomically, read back, corrupt is an error', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'r.json')
  t.equal(await readReviewState(path), null, 'none yet')
  const s = new ReviewState({ caseInsensitive: false, origin: 'x' })
  s.apply(review('pv', 'bob', 0, 0, '//depot/...'))
  await writeReviewState(path, s)
  t.same((await readReviewState(path))?.toJSON(), s.toJSON())
  writeFileSync(path, '{"version":1,')
  await t.rejects(readReviewState(path), { code: 'ERR_STATE_CORRUPT' })
})

/**
 * A review mailer (never connected: mailsFor only builds mails) over a state of
 * these records; `groupIdentical`, a `link`, `cc` and the subject template as given.
 */
function mailerOf(
  t: Test,
  records: readonly JournalEntry[],
): (groupIdentical: boolean, more?: { link?: string; subject?: string; cc?: string[] }) => ReviewMailer {
  const smtp = new SmtpSender({
    host: '127.0.0.1',
    port: 1,
    secure: false,
    requireTLS: false,
    from: 'P4 <p4@example.com>',
    subjectTemplate: '[p4] Change {change}',
    timeoutMs: 1000,
  })
  t.teardown(() => smtp.close())
  return (groupIdentical, { link, subject, cc = [] } = {}) => {
    const m = new ReviewMailer(
      { state: 'x.json', case: 'auto', includeAuthor: false, groupIdentical, cc, ...(link ? { link } : {}) },
      smtp,
      subject ?? '[p4] Change {change}',
      { baseDir: t.testdirName, name: 'notify' },
    )
    const s = new ReviewState({ caseInsensitive: false, origin: 'x' })
    for (const e of records) s.apply(e)
    m.adopt(s)
    return m
  }
}

t.test('mails: one per reviewer, or grouped by identical files; stable Message-IDs', async (t) => {
  const mailer = mailerOf(t, [
    user('pv', 'bob', 'bob@x', 'Bob B'),
    user('pv', 'cy', 'cy@x', 'Cy "C" D'),
    user('pv', 'di', 'di@x', 'Di'),
    review('pv', 'bob', 0, 0, '//depot/main/...'),
    review('pv', 'cy', 0, 0, '//depot/main/*.c'),
    review('pv', 'di', 0, 0, '//depot/main/doc/...'),
  ])
  const build = (groupIdentical: boolean): ReviewMailer => mailer(groupIdentical, { link: 'https://swarm/c/{change}' })
  const c = change(42, 'ann', ['//depot/main/a.c', '//depot/main/doc/r.md'], 90_000)
  const single = build(false).mailsFor(c, 'notify')
  t.same(
    single.map((m) => m.users),
    [['bob'], ['cy'], ['di']],
    'one mail per reviewer',
  )
  const bob = single[0]!.mail
  t.same(bob.to, ['Bob B <bob@x>'])
  t.equal(bob.messageId, '<logdaemon.change-42.review.bob@example.com>', 'Message-ID per change and reviewer')
  t.match(bob.text, '... //depot/main/a.c#2 edit')
  t.match(bob.text, 'https://swarm/c/42')
  t.equal(single[1]!.mail.to[0], '"Cy \\"C\\" D" <cy@x>', 'display names are quoted')
  t.same(build(false).mailsFor(c, 'notify')[0]!.mail.messageId, bob.messageId, 'the same on a replay')
  t.notMatch(single[2]!.mail.text, '//depot/main/a.c', 'only the files that matched')
  const grouped = build(true).mailsFor(c, 'notify')
  t.same(
    grouped.map((m) => m.users),
    [['bob'], ['cy'], ['di']],
    'bob (both files) and cy (a.c only) differ: no group',
  )
  const c2 = change(43, 'ann', ['//depot/main/b.c'], 91_000)
  const g2 = build(true).mailsFor(c2, 'notify')
  t.same(
    g2.map((m) => m.users),
    [['bob', 'cy']],
    'identical file sets share one mail',
  )
  t.same(g2[0]!.mail.to, [], 'grouped recipients are not shown to each other')
  t.same(g2[0]!.mail.bcc, ['Bob B <bob@x>', '"Cy \\"C\\" D" <cy@x>'])
  t.match(g2[0]!.mail.messageId, /^<logdaemon\.change-43\.review\.[0-9a-f]{16}@example\.com>$/)
  t.notOk('X-Logdaemon-Reviewers' in g2[0]!.mail.headers, 'a grouped mail does not name its Bcc recipients')
  t.notMatch(g2[0]!.mail.text, '//depot/main/...', "nor anyone's Reviews lines")
  // A review mail's subject is capped like a change mail's (RFC 5322: 998 characters a header line).
  const huge = { ...change(44, 'ann', ['//depot/main/b.c'], 92_000), description: `${'w'.repeat(100_000)}\nrest\n` }
  const [long] = mailer(false, { subject: '[p4] {summary}' }).mailsFor(huge, 'notify')
  t.equal(long?.mail.subject.length, 200)
  t.match(long?.mail.subject, /^\[p4\] w+\u2026$/)
  t.match(long?.mail.text, 'w'.repeat(100_000), 'the body has the whole description')
})

t.test("each reviewer's Message-ID is their own, whatever their name holds", async (t) => {
  // Names that an escape leaving `=` alone, or writing a code in as few digits as it took, would have merged.
  const names = ['a.', 'a=2e', 'x\u00e9', 'x=e9', 'x=c3=a9', '0123456789abcdef', 'at-0123456789abcdef', 'at-x']
  const build = mailerOf(t, [...names.map((n, i) => user('pv', n, `u${i}@example.com`, '')), ...names.map((n) => review('pv', n, 0, 0, '//depot/main/...'))])
  const mails = build(false).mailsFor(change(42, 'ann', ['//depot/main/a.c'], 90_000), 'notify')
  t.same(mails.map((m) => m.users).sort(), names.map((n) => [n]).sort(), 'one mail each')
  const id = (name: string): string =>
    mails.find((m) => m.users[0] === name)?.mail.messageId.replace(/^<logdaemon\.change-42\.review\.|@example\.com>$/g, '') ?? ''
  const ids = names.map(id)
  t.same(ids, ['a=2e', 'a=3d2e', 'x=c3=a9', 'x=3de9', 'x=3dc3=3da9', '=30123456789abcdef', '=61t-0123456789abcdef', 'at-x'])
  t.equal(new Set(ids).size, names.length, 'no two alike')
  for (const id of ids) t.match(id, /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$/, `${id}: dot-atom text`)
  t.notMatch(ids, /^(at-)?[0-9a-f]{16}$/, "none reads as a shared address's or a group's")
})

t.test('reviewers who share an address get one mail at it, with what any of them matched', async (t) => {
  const build = mailerOf(t, [
    // One alias, two accounts: the domain's case differs, as SMTP ignores it.
    user('pv', 'bob', 'team@example.com', 'Team'),
    user('pv', 'cy', 'team@EXAMPLE.com', 'Team'),
    user('pv', 'di', 'di@example.com', 'Di'),
    review('pv', 'bob', 0, 0, '//depot/main/doc/...'),
    review('pv', 'cy', 0, 0, '//depot/main/*.c'),
    review('pv', 'di', 0, 0, '//depot/main/*.c'),
  ])
  const c = change(42, 'ann', ['//depot/main/a.c', '//depot/main/doc/r.md', '//depot/main/z.c'], 90_000)
  const mails = build(false).mailsFor(c, 'notify')
  t.same(
    mails.map((m) => m.users),
    [['bob', 'cy'], ['di']],
    'one mail for the shared address, one for di',
  )
  const team = mails[0]!
  t.same(team.recipients, ['team@example.com'])
  t.same(team.mail.to, ['Team <team@example.com>'])
  // sha256('team@example.com'), the address as the envelope carries it: whoever shares it, and however many.
  t.equal(team.mail.messageId, '<logdaemon.change-42.review.at-a96e3689637c79fb@example.com>', 'its Message-ID is made from the address')
  t.equal(team.mail.headers['X-Logdaemon-Reviewers'], 'bob, cy')
  const listed = team.mail.text.split('\n').filter((l) => l.startsWith('... '))
  t.same(
    listed.map((l) => l.split('#')[0]),
    ['... //depot/main/a.c', '... //depot/main/doc/r.md', '... //depot/main/z.c'],
    "the files any of them matched, in the change's order",
  )
  t.match(team.mail.text, '\t//depot/main/doc/...')
  t.match(team.mail.text, '\t//depot/main/*.c')
  t.same(build(false).mailsFor(c, 'notify')[0]!.mail.messageId, team.mail.messageId, 'the same on a replay')
  // Grouped by identical files: the shared address counts once, with its union of files.
  const grouped = build(true).mailsFor(c, 'notify')
  t.same(
    grouped.map((m) => m.recipients),
    [['team@example.com'], ['di@example.com']],
  )
  const c2 = change(43, 'ann', ['//depot/main/b.c'], 91_000)
  const g2 = build(true).mailsFor(c2, 'notify')
  t.same(
    g2.map((m) => m.users),
    [['cy', 'di']],
    'bob matched nothing: cy alone stands for the address, grouped with di',
  )
  t.same(g2[0]!.recipients, ['team@example.com', 'di@example.com'])
})

t.test("a replay's recipients: an address done with another of the change's review mails has it", async (t) => {
  // bob and cy share the team's address; everyone reviews everything.
  const addresses: [string, string][] = [
    ['bob', 'team@example.com'],
    ['cy', 'team@example.com'],
    ['di', 'di@example.com'],
    ['ed', 'ed@example.com'],
  ]
  const mailer = mailerOf(t, [
    ...addresses.map(([name, email]) => user('pv', name, email, '')),
    ...addresses.map(([name]) => review('pv', name, 0, 0, '//depot/main/...')),
  ])(false, { cc: ['archive@example.com'] })
  const mails = mailer.mailsFor(change(42, 'ann', ['//depot/main/a.c']), 'notify')
  t.same(
    mails.map((m) => m.recipients),
    [
      ['team@example.com', 'archive@example.com'],
      ['di@example.com', 'archive@example.com'],
      ['ed@example.com', 'archive@example.com'],
    ],
  )
  const id = (tag: string): string => `<logdaemon.change-42.${tag}@example.com>`
  t.same(mailer.recipientsLeft(mails, new Map()), [...mails.map((m) => m.recipients)], 'nothing done: every recipient')
  const done = new Map([
    // The team's mail as a release that mailed each user on their own sent it, taken under two Message-IDs.
    [id('review.bob'), new Set(['team@example.com', 'archive@example.com'])],
    [id('review.cy'), new Set(['team@example.com'])],
    // The archive took di's mail before the crash; di did not.
    [id('review.di'), new Set(['archive@example.com'])],
    // Not a review mail (the team list's): what it took says nothing of the review mails.
    [id('team'), new Set(['ed@example.com'])],
  ])
  t.same(
    mailer.recipientsLeft(mails, done),
    [[], ['di@example.com', 'archive@example.com'], ['ed@example.com', 'archive@example.com']],
    "the team's mail to nobody, cc included; the archive's progress is each mail's own; the team list's mail does not count",
  )
  // Done under an old Message-ID and under its own (the replay of a replay): still done elsewhere.
  const twice = new Map([
    [id('review.bob'), new Set(['team@example.com'])],
    [mails[0]!.mail.messageId, new Set(['team@example.com'])],
  ])
  t.same(mailer.recipientsLeft(mails, twice)[0], [], 'an address done under two Message-IDs, its own last')
})

t.test('hundreds of reviewers at one address: the Message-ID stays short (RFC 5322: 998 characters a line)', async (t) => {
  const records: JournalEntry[] = []
  for (let i = 0; i < 300; i++) {
    const name = `reviewer${String(i).padStart(3, '0')}`
    records.push(user('pv', name, 'team@example.com', 'Team'), review('pv', name, 0, 0, '//depot/main/...'))
  }
  const [team, ...rest] = mailerOf(t, records)(false).mailsFor(change(42, 'ann', ['//depot/main/a.c']), 'notify')
  t.equal(rest.length, 0, 'one mail')
  t.equal(team?.users.length, 300)
  t.equal(team?.mail.messageId, '<logdaemon.change-42.review.at-a96e3689637c79fb@example.com>')
  t.equal(team?.mail.headers['X-Logdaemon-Delivery'], 'change-42.review.at-a96e3689637c79fb')
  // One user fewer at the address (moved away between a crash and the replay): the same Message-ID.
  const fewer = mailerOf(t, records.slice(2))(false).mailsFor(change(42, 'ann', ['//depot/main/a.c']), 'notify')
  t.equal(fewer[0]?.mail.messageId, team?.mail.messageId)
})

t.test('addresses: one plain address each; anything else is explained, not mailed', async (t) => {
  const s = new ReviewState({ caseInsensitive: false, origin: 'test' })
  const bad = ['alice', 'a@b@c.com', 'x@example.com, victim@evil.test', 'x@example.com>, <victim@evil.test', 'grp: a@x;']
  bad.forEach((email, i) => {
    s.apply(user('pv', `u${i}`, email, 'U'))
    s.apply(review('pv', `u${i}`, 0, 0, '//depot/...'))
  })
  s.apply(user('pv', 'ok', 'ok@example.com', 'Ok'))
  s.apply(review('pv', 'ok', 0, 0, '//depot/...'))
  const c = change(9, 'ann', ['//depot/a'])
  t.same(
    s.recipients(c).map((r) => r.user),
    ['ok'],
  )
  t.same(
    s
      .explain(c)
      .filter((e) => e.excluded)
      .map((e) => e.excluded),
    bad.map((b) => `the e-mail address ${JSON.stringify(b)} is not one plain address`),
  )
})

t.test('hostile Reviews lines: over-long lines and lines with too many wildcards match nothing', async (t) => {
  const { ReviewView, MAX_REVIEW_LINE, MAX_REVIEW_WILDCARDS } = await import('../../../../../lib/listeners/builtin/notify/reviews/review-view.js')
  t.equal(ReviewView.parse([`//depot/${'a'.repeat(MAX_REVIEW_LINE)}/...`]).match(`//depot/${'a'.repeat(MAX_REVIEW_LINE)}/x`).reviewed, false)
  t.equal(ReviewView.parse([`//${'*/'.repeat(MAX_REVIEW_WILDCARDS + 1)}...`]).match('//a/b').reviewed, false)
  t.equal(ReviewView.parse([`//${'*/'.repeat(3)}...`]).match('//a/b/c/d').reviewed, true, 'a few wildcards still work')
})

t.test('state files of another server, or not review states, are refused without quoting them', async (t) => {
  const dir = t.testdir({
    'secret.txt': 'P4PASSWD=Secret123\n',
    'typed.json': JSON.stringify({ version: 1, users: [{ user: 'a', email: {}, fullName: '' }], reviews: [] }),
  })
  const err = await readReviewState(join(dir, 'secret.txt')).then(
    () => null,
    (e: Error) => e,
  )
  t.match(err?.message, /not valid JSON/)
  t.notMatch(err?.message, 'Secret123', 'the file is not quoted')
  await t.rejects(readReviewState(join(dir, 'typed.json')), { code: 'ERR_STATE_CORRUPT', message: /an email is not a string/ })
})

t.test('delivered changes and the mail progress of a change survive the state file', async (t) => {
  const s = new ReviewState({ caseInsensitive: false, origin: 'test' })
  // An import flushed when quiet: changes 1 and 2 completed at one position; only 1 was delivered.
  s.delivery.mailedChange(change(1, 'x', [], 700))
  s.delivery.recordProgress(change(2, 'x', [], 700), new Map([['<m2>', new Set(['a@x'])]]))
  const back = ReviewState.fromJSON(JSON.parse(JSON.stringify(s.toJSON())))
  t.equal(back.delivery.hasMailed(change(1, 'x', [], 700)), true)
  t.equal(back.delivery.hasMailed(change(2, 'x', [], 700)), false, 'the other change at the same position is not taken for mailed')
  t.equal(back.delivery.hasMailed(change(3, 'x', [], 600)), true, 'a change before it is')
  t.same(back.delivery.progressOf(change(2, 'x', [], 700)), new Map([['<m2>', new Set(['a@x'])]]), 'who has change 2 already')
  t.same(back.delivery.progressOf(change(2, 'x', [], 800)), new Map(), 'not for the same number at another position')
  back.delivery.mailedChange(change(2, 'x', [], 700))
  t.equal(back.delivery.hasMailed(change(2, 'x', [], 700)), true)
  t.same(back.toJSON().delivering, null, 'the progress is dropped once the change is delivered')
  t.equal(back.toJSON().mailedChange, 2)
})

t.test('the state file is version 2; a version 1 file keeps its meaning', async (t) => {
  const s = new ReviewState({ caseInsensitive: false, origin: 'test' })
  t.equal(s.toJSON().version, 2)
  const v1 = { version: 1, appliedThrough: null, mailedThrough: '5/700', origin: 'old', caseInsensitive: false, users: [], reviews: [] }
  const all = ReviewState.fromJSON(v1)
  t.equal(all.delivery.hasMailed(change(5, 'x', [], 700)), true, 'without mailedChanges: every change at mailedThrough was delivered')
  t.equal(all.delivery.hasMailed(change(5, 'x', [], 701)), false)
  const listed = ReviewState.fromJSON({ ...v1, mailedChanges: [3, 4] })
  t.equal(listed.delivery.hasMailed(change(4, 'x', [], 700)), true)
  t.equal(listed.delivery.hasMailed(change(5, 'x', [], 700)), false, 'with mailedChanges: only those (delivered in change order)')
  t.equal(ReviewState.fromJSON({ ...v1, mailedChanges: [] }).delivery.hasMailed(change(1, 'x', [], 700)), false, 'an empty list: none of them')
  t.throws(() => ReviewState.fromJSON({ ...v1, version: 3 }), /version 1 or 2/)
})

t.test('a save costs the same after any number of changes delivered at one position', async (t) => {
  const s = new ReviewState({ caseInsensitive: false, origin: 'test' })
  s.delivery.mailedChange(change(1, 'x', [], 700))
  const one = JSON.stringify(s.toJSON()).length
  for (let n = 2; n <= 10_000; n++) s.delivery.mailedChange(change(n, 'x', [], 700))
  t.ok(JSON.stringify(s.toJSON()).length <= one + 4, 'one number, not a list')
  t.equal(s.delivery.hasMailed(change(10_000, 'x', [], 700)), true)
  t.equal(s.delivery.hasMailed(change(10_001, 'x', [], 700)), false)
})

t.test('the mail progress of a change is dropped when the state moves past it', async (t) => {
  const s = new ReviewState({ caseInsensitive: false, origin: 'test' })
  s.delivery.recordProgress(change(2, 'x', [], 700), new Map([['<m2>', new Set(['a@x'])]]))
  s.delivery.mailedChange(change(3, 'x', [], 800))
  t.same(s.toJSON().delivering, null, 'a later change delivered')
  s.delivery.recordProgress(change(4, 'x', [], 900), new Map([['<m4>', new Set(['a@x'])]]))
  s.delivery.mailedUpTo({ journal: 5, offset: 900 })
  t.same(s.toJSON().delivering, null, 'a commit at or past it')
})

t.test('property: the reviewers of a change are those a file-by-file RegExp reference finds, case-sensitive or not', async (t) => {
  // explain() tries a user only on the files an include line's literal start or end fits (sorted names, binary
  // search): the answer must be the one of trying every file against every line.
  const seg = fc.constantFrom('a', 'B', 'ab', '/', '.', '...', '*', '%%1', 'x.c', '-n')
  const pattern = fc.array(seg, { maxLength: 6 }).map((p) => `//${p.join('')}`)
  const row = fc.tuple(fc.constantFrom(0, 0, 1), pattern)
  const file = fc.array(fc.constantFrom('a', 'b', 'B', '/', '.', 'x.c', 'ab', '-n'), { maxLength: 8 }).map((p) => `//${p.join('')}`)
  const regexp = (lines: readonly { mapFlag: number; path: string }[], f: string, ci: boolean): boolean => {
    let reviewed = false
    for (const { mapFlag, path } of lines) {
      const body = path
        .split(/(\.\.\.|\*|%%[0-9])/)
        .map((part) => (part === '...' ? '.*' : part === '*' || /^%%[0-9]$/.test(part) ? '[^/]*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
        .join('')
      if (new RegExp(`^${body}$`, ci ? 'si' : 's').test(f)) reviewed = mapFlag !== 1
    }
    return reviewed
  }
  fc.assert(
    fc.property(
      fc.array(fc.array(row, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 5 }),
      fc.array(file, { minLength: 1, maxLength: 30 }),
      fc.boolean(),
      (users, paths, ci) => {
        const names = users.map((_, u) => `u${u}`)
        const state = ReviewState.fromJSON({
          version: 2,
          appliedThrough: null,
          origin: 'property',
          caseInsensitive: ci,
          users: names.map((user) => ({ user, email: `${user}@example.com`, fullName: user })),
          reviews: users.map((rows, u) => ({ user: names[u], rows: rows.map(([mapFlag, path], seq) => ({ seq, mapFlag, path })) })),
        })
        const files = paths.map((depotFile) => ({ depotFile, action: 'edit', rev: 1 }))
        const got = state.explain({ user: 'nobody', files } as never).map((e) => `${e.user}:${e.files.map((f) => f.depotFile).join(',')}`)
        const want = users
          .map((rows, u) => {
            const lines = rows.map(([mapFlag, path]) => ({ mapFlag, path }))
            const mine = paths.filter((p) => regexp(lines, p, ci))
            return mine.length === 0 ? null : `${names[u]}:${mine.join(',')}`
          })
          .filter((x) => x !== null)
        return JSON.stringify(got) === JSON.stringify(want)
      },
    ),
    { numRuns: 2000 },
  )
  t.pass('2000 random review tables and changes agree')
})
