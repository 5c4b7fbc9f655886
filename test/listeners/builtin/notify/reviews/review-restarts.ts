import t, { type Test } from 'tap'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ErrorCodes, type LogdaemonError } from '../../../../../lib/errors.js'
import { lockPathOf } from '../../../../../lib/files/state-lock.js'
import { NotifyListener } from '../../../../../lib/listeners/builtin/notify/notify.js'
import { type SmtpPeer, startSmtpPeer } from '../../../../helpers/notify-peers.js'
import {
  change,
  deliveries,
  desc,
  ex,
  feed,
  journal,
  type Logged,
  openReviews,
  review,
  revcx,
  submit,
  unmarked,
  user,
  writeCheckpoint,
} from '../../../../helpers/review-journal.js'

/**
 * Restarts of a review-mode notify listener. A restart is a new listener
 * on the same state file, fed the entries the daemon replays: from its
 * last committed position, which is a consistency point (an `@ex@`), or
 * the journal's start when it never committed (a journal without markers
 * has no consistency point). No mail may be sent twice to a recipient who
 * took it, and none may be lost.
 */

const users = user('alice', 'alice@example.com') + user('bob', 'bob@example.com') + user('carol', 'carol@example.com')
const subscriptions = review('bob', 0, '//depot/main/...') + review('carol', 0, '//depot/main/...')
const state = (dir: string) => JSON.parse(readFileSync(join(dir, 'reviews.json'), 'utf8')) as Record<string, unknown>

/**
 * The first listener's process is killed here (it stays open in this one): the lock of the state file a dead
 * process left is taken over (test/files/state-lock.ts), which its removal stands for.
 */
function died(dir: string): void {
  rmSync(lockPathOf(join(dir, 'reviews.json')), { force: true })
}

t.test('a journal without markers: a restart does not mail again what was mailed', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + review('bob', 0, '//depot/main/...'))
  // p4convert-style: two changes, no @ex@; they complete together when the journal goes quiet, at one position.
  const text = unmarked(10, 'alice', 'import one\n', ['//depot/main/a.c']) + unmarked(11, 'alice', 'import two\n', ['//depot/main/b.c'])
  const options = { smtp: { to: ['team@example.com'] } }

  // Change 11's mail is refused for now (451 at DATA): change 10 is delivered, 11 is not.
  smtp.refuseContent = { includes: 'import two', code: 451 }
  const first = await openReviews(dir, smtp.port, options)
  t.equal(await feed(first.listener, await journal(text)), null)
  t.equal((await first.listener.noData(true).catch((e: unknown) => e as LogdaemonError))?.code, ErrorCodes.NOTIFY_DELIVERY)
  await first.listener.close()
  t.same(deliveries(smtp.mails), ['10:team:team@example.com', '10:bob:bob@example.com'])

  // Restarted (the daemon committed nothing: it replays from the journal's start).
  smtp.refuseContent = null
  const second = await openReviews(dir, smtp.port, options)
  t.equal(await feed(second.listener, await journal(text)), null)
  await second.listener.noData(true)
  await second.listener.close()
  t.same(
    deliveries(smtp.mails),
    ['10:team:team@example.com', '10:bob:bob@example.com', '11:team:team@example.com', '11:bob:bob@example.com'],
    'change 11 (at the same position as 10) is sent; change 10 is not sent again',
  )

  // A clean stop and a start again: nothing more.
  const third = await openReviews(dir, smtp.port, options)
  t.equal(await feed(third.listener, await journal(text)), null)
  await third.listener.noData(true)
  await third.listener.close()
  t.equal(smtp.mails.length, 4, 'no mail sent again')
})

t.test('a second daemon given the same reviews.state: ERR_LOCKED until the first closes (both mailed every change)', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + subscriptions)
  const first = await openReviews(dir, smtp.port)
  await t.rejects(openReviews(dir, smtp.port), { code: ErrorCodes.LOCKED, message: /reviews\.json is in use by process/ })
  await first.listener.close()
  const second = await openReviews(dir, smtp.port)
  await second.listener.close()
})

t.test('kill -9 before the daemon committed: the changes mailed are not mailed again', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + subscriptions)
  const text = [10, 11, 12].map((n) => submit(n, 'alice', `change ${n}\n`, [`//depot/main/${n}.c`])).join('')
  const first = await openReviews(dir, smtp.port)
  t.equal(await feed(first.listener, await journal(text)), null)
  // Killed here: no sync, so the daemon committed nothing after these changes.
  t.equal(smtp.mails.length, 6)
  died(dir)
  const second = await openReviews(dir, smtp.port)
  t.equal(await feed(second.listener, await journal(text)), null)
  await second.listener.sync()
  await second.listener.close()
  t.equal(smtp.mails.length, 6, 'the replay sent nothing')
  t.match(state(dir), { mailedThrough: /^1\/\d+$/ })
})

t.test('a mailbox that stays full: every restart fails naming it; the others get the mail once; fixed, it gets it once', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + subscriptions)
  const text = submit(10, 'alice', 'ten\n', ['//depot/main/a.c']) + submit(11, 'alice', 'eleven\n', ['//depot/main/b.c'])
  const options = { reviews: { cc: ['archive@example.com'] } }
  smtp.rcpt['bob@example.com'] = 452
  for (let run = 1; run <= 3; run++) {
    const { listener } = await openReviews(dir, smtp.port, options)
    const err = (await feed(listener, await journal(text))) as LogdaemonError | null
    t.match(
      err,
      { code: ErrorCodes.NOTIFY_DELIVERY, message: /change 10 was not taken for bob@example\.com \(452 / },
      `run ${run} fails naming bob and change 10`,
    )
    t.equal((await listener.sync().catch((e: unknown) => e as LogdaemonError))?.code, ErrorCodes.NOTIFY_DELIVERY, 'the retry fails too')
    await listener.close()
  }
  t.same(
    deliveries(smtp.mails),
    ['10:bob:archive@example.com', '10:carol:carol@example.com', '10:carol:archive@example.com'],
    'three runs: carol and the archive got change 10 once; change 11 waits',
  )
  t.match(state(dir), { delivering: { change: 10, done: { '<logdaemon.change-10.review.bob@example.com>': ['archive@example.com'] } } })

  delete smtp.rcpt['bob@example.com']
  const { listener } = await openReviews(dir, smtp.port, options)
  t.equal(await feed(listener, await journal(text)), null)
  await listener.close()
  t.same(
    deliveries(smtp.mails).slice(3),
    ['10:bob:bob@example.com', '11:bob:bob@example.com', '11:bob:archive@example.com', '11:carol:carol@example.com', '11:carol:archive@example.com'],
    'the mailbox fixed: bob gets change 10 once, then change 11 goes to everyone',
  )
  t.match(state(dir), { delivering: null })
})

t.test('restarted in the middle of a transaction of a journal with markers: the quiet journal is not an import', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + review('bob', 0, '//depot/main/...') + review('carol', 0, '//depot/docs/...'))
  const ten = submit(10, 'alice', 'ten\n', ['//depot/main/a.c', '//depot/docs/a.txt'])
  // p4d has written change 11's first file when the daemon restarts, the second file and the @ex@ come later.
  const part1 = desc(11, 'eleven\n') + change(11, 'alice', 'eleven\n') + revcx(11, '//depot/main/b.c')
  const part2 = revcx(11, '//depot/docs/b.txt') + ex(1011)
  const entries = await journal(ten + part1 + part2)
  const afterTen = entries.findIndex((e) => e.op === 'ex') + 1
  const inPart2 = entries.length - 2

  const first = await openReviews(dir, smtp.port)
  t.equal(await feed(first.listener, entries.slice(0, afterTen)), null)
  await first.listener.sync() // the daemon commits the consistency point after change 10
  await first.listener.close()
  t.same(deliveries(smtp.mails), ['10:bob:bob@example.com', '10:carol:carol@example.com'])

  // Restarted at that consistency point: no marker read yet in this process.
  const second = await openReviews(dir, smtp.port)
  t.teardown(() => second.listener.close())
  t.equal(await feed(second.listener, entries.slice(afterTen, inPart2)), null)
  await second.listener.noData(true)
  t.equal(smtp.mails.length, 2, 'nothing mailed for the half-written change 11')
  t.equal(await feed(second.listener, entries.slice(inPart2)), null)
  t.same(deliveries(smtp.mails).slice(2), ['11:bob:bob@example.com', '11:carol:carol@example.com'], 'change 11 mailed once its @ex@ came')
  t.match(smtp.mails[2]?.text, /\/\/depot\/main\/b\.c#1/)
  t.match(smtp.mails[3]?.text, /\/\/depot\/docs\/b\.txt#1/, 'the reviewer of the second file has it')
})

t.test('a journal without markers: a change mailed is known by its own records, however a replay groups them', async (t) => {
  const text10 = unmarked(10, 'alice', 'import one\n', ['//depot/main/a.c'])
  const text11 = unmarked(11, 'alice', 'import two\n', ['//depot/main/b.c'])
  const all = await journal(text10 + text11)
  const upTo10 = (await journal(text10)).length
  // A: quiet after 10 and after 11, then the replay reads both in one go. B: quiet after 10, stopped, 11 written meanwhile.
  for (const variant of ['A', 'B']) {
    const smtp = await startSmtpPeer()
    t.teardown(() => smtp.close())
    const dir = t.testdir({ [variant]: {} })
    const where = join(dir, variant)
    writeCheckpoint(where, users + review('bob', 0, '//depot/main/...'))
    const first = await openReviews(where, smtp.port)
    t.equal(await feed(first.listener, all.slice(0, upTo10)), null)
    await first.listener.noData(true)
    if (variant === 'A') {
      t.equal(await feed(first.listener, all.slice(upTo10)), null)
      await first.listener.noData(true)
    }
    await first.listener.close()
    const second = await openReviews(where, smtp.port)
    t.equal(await feed(second.listener, all), null)
    await second.listener.noData(true)
    await second.listener.close()
    t.same(deliveries(smtp.mails), ['10:bob:bob@example.com', '11:bob:bob@example.com'], `${variant}: each change mailed once`)
  }
})

t.test('kill -9 while a change is mailed: every mail someone took before the kill is not sent again', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + user('dave', 'dave@example.com') + subscriptions + review('dave', 0, '//depot/main/...'))
  const text = submit(10, 'alice', 'ten\n', ['//depot/main/a.c'])
  const options = { smtp: { to: ['team@example.com'] }, reviews: { cc: ['archive@example.com'] } }
  // carol's mail never gets its answer: the process is killed while it waits.
  smtp.hang = 'X-Logdaemon-Reviewers: carol'
  const first = await openReviews(dir, smtp.port, options)
  void feed(first.listener, await journal(text))
  // Killed once carol's mail is held: the first process sends nothing more.
  for (let i = 0; i < 500 && smtp.held === 0; i++) await new Promise((r) => setTimeout(r, 10))
  t.equal(smtp.held, 1, "carol's mail is held")
  t.same(deliveries(smtp.mails).sort(), ['10:bob:archive@example.com', '10:bob:bob@example.com', '10:team:team@example.com'], 'before the kill')
  await new Promise((r) => setTimeout(r, 100)) // the save after a mail is one write: done long before this
  smtp.hang = null
  died(dir)
  const second = await openReviews(dir, smtp.port, options)
  t.teardown(() => second.listener.close())
  t.equal(await feed(second.listener, await journal(text)), null)
  t.same(
    deliveries(smtp.mails).sort(),
    [
      '10:bob:archive@example.com',
      '10:bob:bob@example.com',
      '10:carol:archive@example.com',
      '10:carol:carol@example.com',
      '10:dave:archive@example.com',
      '10:dave:dave@example.com',
      '10:team:team@example.com',
    ],
    'each mail once',
  )
})

t.test('two listeners whose names write alike in a file name share no review state: the second is refused (a review: "team a" and "team_a")', async (t) => {
  const dir = t.testdir()
  writeCheckpoint(dir, users + subscriptions)
  const make = (name: string) =>
    new NotifyListener({ smtp: { host: '127.0.0.1', port: 25, from: 'p4@example.com' }, reviews: { checkpoint: 'checkpoint.1' } }, name, {
      baseDir: dir,
      statePath: join(dir, 'd.json'),
    })
  const context = { start: null, logger: { debug() {}, info() {}, warn() {}, error() {} }, signal: new AbortController().signal }
  const path = make('team a').reviews?.statePath as string
  t.equal(make('team_a').reviews?.statePath, path, 'one default file for both names (kept: existing files keep their names)')
  const first = make('team a')
  await first.open(context)
  await first.close()
  t.equal(JSON.parse(readFileSync(path, 'utf8')).listener, 'team a', 'the file records its listener')
  await t.rejects(make('team_a').open(context), {
    code: ErrorCodes.STATE_MISMATCH,
    message: /belongs to the listener "team a", not "team_a": give each listener its own reviews\.state/,
  })

  // A file written before the listener was recorded is taken, and records the listener at its next save.
  const { listener: _drop, ...legacy } = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
  writeFileSync(path, JSON.stringify(legacy))
  const adopted = make('team_a')
  await adopted.open(context)
  await adopted.sync()
  await adopted.close()
  t.equal(JSON.parse(readFileSync(path, 'utf8')).listener, 'team_a')
})

t.test('case set in the configuration after the state was built the other way: refused at open, never silently ignored', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + review('bob', 0, '//depot/main/...'))
  // Built with case: auto from a header without the case-insensitive flag: names compare case-sensitively.
  const first = await openReviews(dir, smtp.port)
  await first.listener.close()
  t.equal(state(dir).caseInsensitive, false)
  // The admin learns the server is case-insensitive (//DEPOT/Main/a.c is //depot/main/a.c there) and says so.
  const err = await openReviews(dir, smtp.port, { reviews: { case: 'insensitive' } }).catch((e: unknown) => e as LogdaemonError)
  t.equal((err as LogdaemonError).code, ErrorCodes.STATE_MISMATCH, 'not opened with the old comparison')
  t.match((err as LogdaemonError).message, /reviews\.json was built comparing names case-sensitively.*case: "insensitive".*move it away/)
  // Set as the state was built (or auto): opened.
  const again = await openReviews(dir, smtp.port, { reviews: { case: 'sensitive' } })
  await again.listener.close()
  const auto = await openReviews(dir, smtp.port, { reviews: { case: 'auto' } })
  await auto.listener.close()
})

t.test('reviewers join or leave a shared address between a crash and the replay: the address still gets the change once', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(
    dir,
    user('bob', 'team@example.com') +
      user('carol', 'carol@example.com') +
      user('dan', 'team@example.com') +
      user('di', 'di@example.com') +
      review('bob', 0, '//depot/main/...') +
      review('carol', 0, '//depot/main/...') +
      review('di', 0, '//depot/main/...'),
  )
  // A journal without markers: the changes complete when it goes quiet, after the records that follow them.
  const text = unmarked(10, 'alice', 'import one\n', ['//depot/main/a.c'])
  // di's mailbox is full: change 10 is half delivered (team@ has it as bob's, carol@ as carol's), and saved.
  smtp.rcpt['di@example.com'] = 452
  const first = await openReviews(dir, smtp.port, { reviews: { cc: ['archive@example.com'] } })
  t.equal(await feed(first.listener, await journal(text)), null)
  t.equal((await first.listener.noData(true).catch((e: unknown) => e as LogdaemonError))?.code, ErrorCodes.NOTIFY_DELIVERY)
  await first.listener.close()
  t.same(deliveries(smtp.mails), [
    '10:bob:team@example.com',
    '10:bob:archive@example.com',
    '10:carol:carol@example.com',
    '10:carol:archive@example.com',
    '10:di:archive@example.com',
  ])
  died(dir)
  // Before the restart, carol's address becomes the team alias and dan starts reviewing: team@'s mail is now
  // bob's, carol's and dan's, under another Message-ID.
  smtp.rcpt = {}
  const second = await openReviews(dir, smtp.port, { reviews: { cc: ['archive@example.com'] } })
  const later = user('carol', 'team@example.com') + review('dan', 0, '//depot/main/...')
  t.equal(await feed(second.listener, await journal(text + later)), null)
  await second.listener.noData(true)
  await second.listener.close()
  t.same(deliveries(smtp.mails).slice(5), ['10:di:di@example.com'], 'team@ is not mailed the change again, nor the archive a copy of that mail; di gets it')
})

/** p4d's restart note (`@nx@ 7`, as it writes one when it starts) and its `@ex@`. */
const restartNote = '@nx@ 7 1611008050 @50@ 0 0 0 0 0 @1666@ @.@ @@ @@ @@ \n@ex@ 1 1611008050\n'
const mx = (pid: number): string => `@mx@ ${pid} 1611008050\n`

/** One listener over a checkpoint of `users` and `extra`, fed `text` and synced: the mails and the log. */
async function reviewOnce(t: Test, extra: string, text: string): Promise<{ smtp: SmtpPeer; lines: Logged[] }> {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + extra)
  const { listener, lines } = await openReviews(dir, smtp.port)
  t.equal(await feed(listener, await journal(text)), null)
  await listener.sync()
  await listener.close()
  return { smtp, lines }
}

t.test('Reviews edits of a transaction the server never committed (a restart note cut it off) are not applied', async (t) => {
  const text =
    // carol's Reviews edit, parked by @mx@ and never ended; dan's, followed by no marker at all; then p4d restarts.
    review('carol', 0, '//depot/main/...') +
    mx(77) +
    review('dan', 0, '//depot/main/...') +
    restartNote +
    submit(10, 'alice', 'after the crash\n', ['//depot/main/a.c']) +
    // carol's edit again, committed this time: from change 11 on she reviews //depot/main.
    review('carol', 0, '//depot/main/...') +
    ex(78) +
    submit(11, 'alice', 'later\n', ['//depot/main/b.c'])
  const { smtp, lines } = await reviewOnce(t, user('dan', 'dan@example.com') + review('bob', 0, '//depot/main/...'), text)
  t.same(deliveries(smtp.mails), ['10:bob:bob@example.com', '11:bob:bob@example.com', '11:carol:carol@example.com'])
  t.match(
    lines.filter((l) => l.level === 'warn' && l.msg.startsWith('reviews:')),
    [{ level: 'warn', obj: { records: 2, at: /^journal 1, offset \d+, line 4$/ }, msg: /server restart note.*never committed/ }],
    'the two records dropped are logged, with where',
  )
})

t.test('Reviews edits parked by @mx@ are applied at their @ex@, after the other transactions between', async (t) => {
  // pid 77 rewrites carol's Reviews in two pieces; pid 1010's submit completes between them.
  const text =
    review('carol', 0, '//depot/main/...') +
    mx(77) +
    submit(10, 'alice', 'between\n', ['//depot/main/a.c']) +
    `@dv@ 1 @db.review@ @carol@ 0 0 @//depot/main/...@ 0 \n` +
    review('carol', 0, '//depot/rel/...') +
    ex(77) +
    submit(11, 'alice', 'after\n', ['//depot/main/b.c', '//depot/rel/c.c'])
  const { smtp } = await reviewOnce(t, review('bob', 0, '//depot/main/...'), text)
  t.same(
    deliveries(smtp.mails),
    ['10:bob:bob@example.com', '11:bob:bob@example.com', '11:carol:carol@example.com'],
    'carol does not get change 10 (her edit was not committed yet); change 11 by what her whole transaction left',
  )
  const mail = smtp.mails.find((m) => m.headers.get('x-logdaemon-reviewers') === 'carol')
  t.match(mail?.text, /\/\/depot\/rel\/c\.c/)
  t.notMatch(mail?.text, /\/\/depot\/main\/b\.c/, 'her transaction deleted the //depot/main line')
})

t.test('killed while a Reviews edit waits for its @ex@: the replay applies it, and what was applied after it again', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + user('dan', 'dan@example.com') + review('bob', 0, '//depot/main/...'))
  // carol's edit (pid 77) is parked while dan's (pid 78) commits and change 10 (pid 1010) is mailed: the state
  // is saved then, with dan's edit applied after carol's held one.
  const text =
    review('carol', 0, '//depot/main/...') +
    mx(77) +
    review('dan', 0, '//depot/main/...') +
    ex(78) +
    submit(10, 'alice', 'between\n', ['//depot/main/a.c']) +
    ex(77) +
    submit(11, 'alice', 'after\n', ['//depot/main/b.c'])
  const entries = await journal(text)
  const killedAt = entries.findIndex((e) => e.op === 'ex' && e.fields[0] === '1010')
  const first = await openReviews(dir, smtp.port)
  t.equal(await feed(first.listener, entries.slice(0, killedAt + 1)), null)
  t.same(deliveries(smtp.mails), ['10:bob:bob@example.com', '10:dan:dan@example.com'])
  died(dir)
  // The daemon committed nothing (77 was open: no consistency point): it replays from the start.
  const second = await openReviews(dir, smtp.port)
  t.equal(await feed(second.listener, entries), null)
  await second.listener.sync()
  await second.listener.close()
  t.same(
    deliveries(smtp.mails).slice(2),
    ['11:bob:bob@example.com', '11:carol:carol@example.com', '11:dan:dan@example.com'],
    "change 10 is not mailed again; carol's edit, replayed, counts for change 11",
  )
})
