import t from 'tap'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ErrorCodes, type LogdaemonError } from '../../../../lib/errors.js'
import { NotifyListener, optionsSchema, type NotifyInput } from '../../../../lib/listeners/builtin/notify/notify.js'
import type { ListenerLogger } from '../../../../lib/listeners/listener.js'
import { startHttpPeer, startSmtpPeer } from '../../../helpers/notify-peers.js'
import {
  change,
  deliveries,
  desc,
  ex,
  feed,
  journal,
  openReviews,
  revcx,
  review,
  submit,
  unmarked,
  user,
  writeCheckpoint,
} from '../../../helpers/review-journal.js'

/**
 * Restarts of a notify listener without `reviews` (a team list, a webhook):
 * it keeps what it delivered in its delivery state file, beside the
 * daemon's state file. A restart is a new listener on the same file, fed the
 * entries the daemon replays (from its last consistency point, or from the
 * journal's start when the journal has none). No mail may be sent twice to
 * a recipient who took it, and none may be lost.
 */

const SECRET = 'test-secret-0123456789abcdef'
const silent: ListenerLogger = { debug() {}, info() {}, warn() {}, error() {} }
const fileOf = (dir: string) => join(dir, 'logdaemon.state.team-delivery.json')
const state = (dir: string) => JSON.parse(readFileSync(fileOf(dir), 'utf8')) as Record<string, unknown>

/** A listener as the daemon creates it: named `team`, its daemon state file `DIR/logdaemon.state.json`. */
async function openTeam(dir: string, port: number, extra: Partial<NotifyInput> = {}, startsAfterMarker = false): Promise<NotifyListener> {
  const listener = new NotifyListener(
    { smtp: { host: '127.0.0.1', port, from: 'Perforce <p4@example.com>', to: ['team1@example.com', 'team2@example.com'] }, ...extra },
    'team',
    { baseDir: dir, statePath: join(dir, 'logdaemon.state.json') },
  )
  await listener.open({ start: null, startsAfterMarker, logger: silent, signal: new AbortController().signal })
  return listener
}

t.test('a team recipient whose mailbox stays full: the other gets the change once over restarts, and the webhook once', async (t) => {
  const smtp = await startSmtpPeer()
  const http = await startHttpPeer()
  t.teardown(async () => {
    await smtp.close()
    await http.close()
  })
  const dir = t.testdir()
  const text = submit(10, 'alice', 'ten\n', ['//depot/main/a.c']) + submit(11, 'alice', 'eleven\n', ['//depot/main/b.c'])
  const extra = { webhook: { url: http.url, secret: SECRET } }
  smtp.rcpt['team2@example.com'] = 451
  for (let run = 1; run <= 3; run++) {
    const listener = await openTeam(dir, smtp.port, extra)
    const err = (await feed(listener, await journal(text))) as LogdaemonError | null
    t.match(err, { code: ErrorCodes.NOTIFY_DELIVERY, message: /change 10 was not taken for team2@example\.com \(451 / }, `run ${run} fails naming team2`)
    t.equal((await listener.sync().catch((e: unknown) => e as LogdaemonError))?.code, ErrorCodes.NOTIFY_DELIVERY, 'the retry fails too')
    await listener.close()
  }
  t.same(deliveries(smtp.mails), ['10:team:team1@example.com'], 'three runs: team1 got change 10 once; change 11 waits')
  t.equal(http.requests.length, 1, 'the webhook was POSTed change 10 once')
  t.match(state(dir), {
    version: 1,
    kind: 'notify-delivery',
    mailedThrough: null,
    delivering: { change: 10, done: { '<logdaemon.change-10@example.com>': ['team1@example.com'] }, webhook: true },
  })

  delete smtp.rcpt['team2@example.com']
  const listener = await openTeam(dir, smtp.port, extra)
  t.equal(await feed(listener, await journal(text)), null)
  await listener.close()
  t.same(
    deliveries(smtp.mails).slice(1),
    ['10:team:team2@example.com', '11:team:team1@example.com', '11:team:team2@example.com'],
    'the mailbox fixed: team2 gets change 10 once, then change 11 goes to both',
  )
  t.same(
    http.requests.map((r) => (JSON.parse(r.body.toString()) as { change: { number: number } }).change.number),
    [10, 11],
  )
  t.match(state(dir), { mailedThrough: /^1\/\d+$/, mailedChange: 11, delivering: null })
})

t.test('a journal without markers: a restart does not send again what was sent', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  // p4convert-style: two changes, no @ex@; they complete when the journal goes quiet. No consistency point to commit.
  const text = unmarked(10, 'alice', 'import one\n', ['//depot/main/a.c']) + unmarked(11, 'alice', 'import two\n', ['//depot/main/b.c'])

  smtp.refuseContent = { includes: 'import two', code: 451 }
  const first = await openTeam(dir, smtp.port)
  t.equal(await feed(first, await journal(text)), null)
  t.equal((await first.noData(true).catch((e: unknown) => e as LogdaemonError))?.code, ErrorCodes.NOTIFY_DELIVERY)
  await first.close()
  t.same(deliveries(smtp.mails), ['10:team:team1@example.com', '10:team:team2@example.com'])

  // Restarted: the daemon committed nothing, it replays from the journal's start.
  smtp.refuseContent = null
  const second = await openTeam(dir, smtp.port)
  t.equal(await feed(second, await journal(text)), null)
  await second.noData(true)
  await second.close()
  t.same(deliveries(smtp.mails).slice(2), ['11:team:team1@example.com', '11:team:team2@example.com'], 'change 11 is sent; change 10 is not sent again')

  // A clean stop and a start again: nothing more.
  const third = await openTeam(dir, smtp.port)
  t.equal(await feed(third, await journal(text)), null)
  await third.noData(true)
  await third.close()
  t.equal(smtp.mails.length, 2, 'nothing sent again (one mail per change)')
})

t.test('journals that are not the ones the state was saved from (a server reset): ERR_STATE_MISMATCH, not retried, nothing taken for sent', async (t) => {
  // A probe: the server restored, its journal 1 holding other changes; the daemon's state moved away as its
  // ERR_STATE_MISMATCH says, the delivery state kept: the new changes were taken for delivered and never mailed.
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  const before = submit(10, 'alice', 'ten\n', ['//depot/main/a.c']) + submit(11, 'alice', 'eleven\n', ['//depot/main/b.c'])
  const first = await openTeam(dir, smtp.port)
  t.equal(await feed(first, await journal(before)), null)
  await first.close()
  t.equal(smtp.mails.length, 2, 'one mail per change')
  t.match(state(dir), { mailedChange: 11, mailedIdentity: { user: 'alice' } })

  const cases: [string, string][] = [
    // Change 11 completes where it did, but submitted by another user: not the change delivered.
    ['the last change delivered is another change', submit(10, 'alice', 'ten\n', ['//depot/main/a.c']) + submit(11, 'bobby', 'eleven\n', ['//depot/main/b.c'])],
    // Longer records: change 11 completes past where the state's did.
    [
      'the journal goes past it without it',
      submit(10, 'alice', 'ten, restored\n', ['//depot/main/a.c']) + submit(11, 'carol', 'eleven\n', ['//depot/main/c.c']),
    ],
  ]
  for (const [what, after] of cases) {
    const second = await openTeam(dir, smtp.port)
    const err = (await feed(second, await journal(after))) as LogdaemonError | null
    await second.close()
    t.match(
      err,
      { code: ErrorCodes.STATE_MISMATCH, retryable: false, file: fileOf(dir), message: /delivered last was change 11 by alice, completed at 1\// },
      what,
    )
    t.match(err?.message, /Move .*team-delivery\.json away/)
    t.equal(smtp.mails.length, 2, `${what}: nothing sent`)
    t.match(state(dir), { mailedChange: 11, mailedIdentity: { user: 'alice' } }, `${what}: the state as it was`)
  }

  // The same journal replayed (a restart from an earlier commit): recognised, nothing sent again, the next change sent.
  const third = await openTeam(dir, smtp.port)
  t.equal(await feed(third, await journal(before + submit(12, 'alice', 'twelve\n', ['//depot/main/d.c']))), null)
  await third.close()
  t.same(deliveries(smtp.mails).slice(4), ['12:team:team1@example.com', '12:team:team2@example.com'])
})

t.test('a server whose live journal is now before the journal delivered through (reset, restored): ERR_STATE_MISMATCH at open', async (t) => {
  // A probe: the daemon's state moved away as its own ERR_STATE_MISMATCH says, the delivery state kept; the new
  // journals' changes were taken for delivered until the journals passed the old position, and never mailed.
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  const root = join(dir, 'root')
  mkdirSync(root)
  const open = async () => {
    const l = new NotifyListener({ smtp: { host: '127.0.0.1', port: smtp.port, from: 'Perforce <p4@example.com>', to: ['team1@example.com'] } }, 'team', {
      baseDir: dir,
      statePath: join(dir, 'logdaemon.state.json'),
      server: { root },
    })
    await l.open({ start: null, logger: silent, signal: new AbortController().signal })
    return l
  }
  // Journal 1 of the server (no archive yet, no counter record: the files do not say its number): delivered.
  writeFileSync(join(root, 'journal'), '')
  const first = await open()
  t.equal(await feed(first, await journal(submit(10, 'alice', 'ten\n', ['//depot/main/a.c']))), null)
  await first.close()
  t.equal(smtp.mails.length, 1)
  // Rotated on: journal 1 archived, the live journal is 2. The state is behind: fine.
  writeFileSync(join(root, 'journal.1'), '')
  const second = await open()
  await second.close()
  // Rotated once more as journal.1 was: live journal 3 with its counter record, no archive left (removed by the admin).
  rmSync(join(root, 'journal.1'))
  writeFileSync(join(root, 'journal'), '@pv@ 1 @db.counters@ @journal@ @3@ \n')
  const third = await open()
  await third.close()

  // Restored from an older checkpoint, or reset: the live journal is journal 0 by its counter.
  writeFileSync(join(root, 'journal'), '@pv@ 1 @db.counters@ @journal@ @0@ \n')
  const err = await open().catch((e: unknown) => e as LogdaemonError)
  t.match(err, {
    code: ErrorCodes.STATE_MISMATCH,
    retryable: false,
    file: fileOf(dir),
    message:
      /says changes were delivered through 1\/\d+, but the live journal of the server at .* is journal 0 \(its journal counter record says 0\): the server was reset or restored/,
  })
  t.match((err as Error).message, /Move .*team-delivery\.json away/)
  // As it says: moved away, the listener starts afresh.
  rmSync(fileOf(dir))
  const fourth = await open()
  await fourth.close()
})

t.test('restarted in the middle of a transaction of a journal with markers: the quiet journal is not an import', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  const ten = submit(10, 'alice', 'ten\n', ['//depot/main/a.c'])
  // p4d has written change 11's first file when the daemon restarts; the second file and the @ex@ come later.
  const part1 = desc(11, 'eleven\n') + change(11, 'alice', 'eleven\n') + revcx(11, '//depot/main/b.c')
  const part2 = revcx(11, '//depot/docs/b.txt') + ex(1011)
  const entries = await journal(ten + part1 + part2)
  const afterTen = entries.findIndex((e) => e.op === 'ex') + 1
  const inPart2 = entries.length - 2

  const first = await openTeam(dir, smtp.port)
  t.equal(await feed(first, entries.slice(0, afterTen)), null)
  await first.sync() // the daemon commits the consistency point after change 10
  await first.close()
  t.same(deliveries(smtp.mails), ['10:team:team1@example.com', '10:team:team2@example.com'])
  t.match(state(dir), { markers: true })

  // Restarted at that consistency point: no marker read yet in this process.
  const second = await openTeam(dir, smtp.port)
  t.teardown(() => second.close())
  t.equal(await feed(second, entries.slice(afterTen, inPart2)), null)
  await second.noData(true)
  t.equal(smtp.mails.length, 1, 'nothing sent for the half-written change 11')
  t.equal(await feed(second, entries.slice(inPart2)), null)
  t.same(deliveries(smtp.mails).slice(2), ['11:team:team1@example.com', '11:team:team2@example.com'], 'change 11 sent once its @ex@ came')
  t.match(smtp.mails[1]?.text, /\/\/depot\/main\/b\.c#1[\s\S]*\/\/depot\/docs\/b\.txt#1/, 'with both its files')
})

t.test('restarted in a journal with markers, then p4d crashed mid-submit and restarted: the cut submit is never sent', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  const ten = submit(10, 'alice', 'ten\n', ['//depot/main/a.c'])
  // p4d dies while writing change 11's submit (no @mx@, no @ex@), starts again (@nx@ 7), and the next process submits 12.
  const cut = desc(11, 'eleven\n') + change(11, 'alice', 'eleven\n') + revcx(11, '//depot/main/b.c')
  const restart = '@nx@ 7 1700000000 @50@ 0 0 0 0 0 @1666@ @/p4/root@ @@ @@ @@ \n'
  const entries = await journal(ten + cut + restart + submit(12, 'alice', 'twelve\n', ['//depot/main/c.c']))
  const afterTen = entries.findIndex((e) => e.op === 'ex') + 1

  const first = await openTeam(dir, smtp.port)
  t.equal(await feed(first, entries.slice(0, afterTen)), null)
  await first.sync()
  await first.close()
  // Restarted at that consistency point: no marker read yet in this process, the delivery state knows of them.
  const second = await openTeam(dir, smtp.port)
  t.teardown(() => second.close())
  t.equal(await feed(second, entries.slice(afterTen)), null)
  t.same(
    deliveries(smtp.mails),
    ['10:team:team1@example.com', '10:team:team2@example.com', '12:team:team1@example.com', '12:team:team2@example.com'],
    'change 11 was never committed: not sent, and not taken into the next process transaction',
  )
  t.notMatch(smtp.mails[2]?.text ?? '', /b\.c/, "change 12's mail does not list change 11's file")
})

t.test('a listener added to a daemon that resumes inside a journal with markers: its new delivery state knows they are there', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  // The daemon resumes after change 10's @ex@; p4d has written part of change 11, the rest and its @ex@ come later.
  const part1 = desc(11, 'eleven\n') + change(11, 'alice', 'eleven\n') + revcx(11, '//depot/main/b.c')
  const part2 = revcx(11, '//depot/docs/b.txt') + ex(1011)
  const entries = await journal(part1 + part2)
  const inPart2 = entries.length - 2

  const team = await openTeam(dir, smtp.port, {}, true)
  t.teardown(() => team.close())
  t.equal(await feed(team, entries.slice(0, inPart2)), null)
  await team.noData(true)
  t.equal(smtp.mails.length, 0, 'nothing sent for the half-written change 11 (it was sent without b.txt)')
  await team.sync()
  t.match(state(dir), { markers: true }, 'saved with the delivery state')
  t.equal(await feed(team, entries.slice(inPart2)), null)
  t.same(deliveries(smtp.mails), ['11:team:team1@example.com', '11:team:team2@example.com'], 'change 11 sent once its @ex@ came')
  t.match(smtp.mails[0]?.text, /\/\/depot\/main\/b\.c#1[\s\S]*\/\/depot\/docs\/b\.txt#1/, 'with both its files')
})

t.test('where the delivery state is kept', async (t) => {
  const smtp = { host: '127.0.0.1', port: 25, from: 'p4@example.com', to: ['team@example.com'] }
  const dir = t.testdir()
  t.equal(
    new NotifyListener({ smtp }, 'team', { baseDir: dir, statePath: join(dir, 'd.state.json') }).deliveryStatePath,
    join(dir, 'd.state.team-delivery.json'),
  )
  t.equal(
    new NotifyListener({ smtp }, 'a b/c', { baseDir: dir, statePath: join(dir, 'd.json') }).deliveryStatePath,
    join(dir, 'd.a%20b%2fc-delivery.json'),
    'named after the daemon state and the listener',
  )
  t.not(
    new NotifyListener({ smtp }, 'team a', { baseDir: dir, statePath: join(dir, 'd.json') }).deliveryStatePath,
    new NotifyListener({ smtp }, 'team_a', { baseDir: dir, statePath: join(dir, 'd.json') }).deliveryStatePath,
    'two names, two files (a review: "team a" and "team_a" shared one, and one of them lost mail)',
  )
  t.equal(
    new NotifyListener({ smtp, deliveryState: 'sub/x.json' }, 'team', { baseDir: dir, statePath: join(dir, 'd.json') }).deliveryStatePath,
    join(dir, 'sub/x.json'),
    'deliveryState: relative to the configuration',
  )
  const library = new NotifyListener({ smtp }, 'team', { baseDir: dir })
  t.equal(library.deliveryStatePath, null, 'no daemon state path (library use): in memory only')
  await library.open({ start: null, logger: silent, signal: new AbortController().signal })
  await library.close()
  t.same(readdirSync(dir), [], 'no file written')
  t.equal(new NotifyListener({ smtp }).deliveryStatePath, null)
  t.equal(
    new NotifyListener({ smtp: { ...smtp, to: undefined }, reviews: true }, 'r', { baseDir: dir, statePath: join(dir, 'd.json') }).deliveryStatePath,
    null,
    'reviews: in the review state',
  )
  t.match(optionsSchema.safeParse({ smtp, reviews: true, deliveryState: 'x.json' }), { success: false }, 'deliveryState with reviews is refused')

  // Opened, the file is created at once (a path it cannot write fails at start, not at the first mail).
  const opened = new NotifyListener({ smtp, deliveryState: 'x.json' }, 'team', { baseDir: dir })
  await opened.open({ start: null, logger: silent, signal: new AbortController().signal })
  await opened.close()
  t.match(JSON.parse(readFileSync(join(dir, 'x.json'), 'utf8')), { version: 1, kind: 'notify-delivery', mailedThrough: null, markers: false })
})

t.test('one listener per delivery state file: a second (another daemon given the same deliveryState) is ERR_LOCKED until the first closes', async (t) => {
  const smtp = { host: '127.0.0.1', port: 25, from: 'p4@example.com', to: ['team@example.com'] }
  const dir = t.testdir()
  const context = () => ({ start: null, logger: silent, signal: new AbortController().signal })
  const options: NotifyInput = { smtp, deliveryState: 'x.json' }
  const first = new NotifyListener(options, 'team', { baseDir: dir })
  await first.open(context())
  const second = new NotifyListener(options, 'team', { baseDir: dir })
  await t.rejects(second.open(context()), { code: ErrorCodes.LOCKED, message: /x\.json is in use by process/ })
  await first.close()
  await second.open(context())
  await second.close()
  t.same(
    readdirSync(dir).filter((n) => n.includes('.lock')),
    [],
    'no lock left behind',
  )
})

t.test('a delivery state file that cannot be trusted is refused, never replaced', async (t) => {
  const smtp = { host: '127.0.0.1', port: 25, from: 'p4@example.com', to: ['team@example.com'] }
  const dir = t.testdir()
  const open = (server?: { root: string; prefix: string | null }) =>
    new NotifyListener({ smtp, deliveryState: 'x.json' }, 'team', { baseDir: dir, ...(server ? { server } : {}) }).open({
      start: null,
      logger: silent,
      signal: new AbortController().signal,
    })
  writeFileSync(join(dir, 'x.json'), 'not json')
  await t.rejects(open(), { code: ErrorCodes.STATE_CORRUPT })
  writeFileSync(join(dir, 'x.json'), JSON.stringify({ version: 2, users: [], reviews: [] }))
  await t.rejects(open(), { code: ErrorCodes.STATE_CORRUPT }, 'a review state is not a delivery state')
  writeFileSync(join(dir, 'x.json'), JSON.stringify({ version: 1, kind: 'notify-delivery', server: '/p4/a', mailedThrough: 'x' }))
  await t.rejects(open(), { code: ErrorCodes.STATE_CORRUPT }, 'a bad position')
  writeFileSync(join(dir, 'x.json'), JSON.stringify({ version: 1, kind: 'notify-delivery', server: '/p4/a', mailedThrough: null }))
  await t.rejects(open({ root: '/p4/b', prefix: null }), { code: ErrorCodes.STATE_MISMATCH }, "another server's")
  writeFileSync(join(dir, 'x.json'), JSON.stringify({ version: 1, kind: 'notify-delivery', server: null, listener: 'other', mailedThrough: null }))
  await t.rejects(open(), { code: ErrorCodes.STATE_MISMATCH, message: /belongs to the listener "other", not "team"/ }, "another listener's")
  t.ok(existsSync(join(dir, 'x.json')))
})

t.test('with reviews, the webhook that took a change is kept in the review state: a restart does not POST it again', async (t) => {
  const smtp = await startSmtpPeer()
  const http = await startHttpPeer()
  t.teardown(async () => {
    await smtp.close()
    await http.close()
  })
  const dir = t.testdir()
  writeCheckpoint(dir, user('alice', 'alice@example.com') + user('bob', 'bob@example.com') + review('bob', 0, '//depot/main/...'))
  const text = submit(10, 'alice', 'ten\n', ['//depot/main/a.c'])
  const options = { webhook: { url: http.url, secret: SECRET } }
  smtp.rcpt['bob@example.com'] = 452
  for (let run = 1; run <= 2; run++) {
    const { listener } = await openReviews(dir, smtp.port, options)
    t.match(await feed(listener, await journal(text)), { code: ErrorCodes.NOTIFY_DELIVERY }, `run ${run} fails naming bob`)
    await listener.close()
  }
  t.equal(http.requests.length, 1, 'two runs: the webhook was POSTed once')
  t.match(JSON.parse(readFileSync(join(dir, 'reviews.json'), 'utf8')), { version: 2, delivering: { change: 10, webhook: true } })
  delete smtp.rcpt['bob@example.com']
  const { listener } = await openReviews(dir, smtp.port, options)
  t.equal(await feed(listener, await journal(text)), null)
  await listener.close()
  t.same(deliveries(smtp.mails), ['10:bob:bob@example.com'])
  t.equal(http.requests.length, 1)
})

t.test('who has the mail cannot be saved (a full disk): no more of the change goes out, and the retry sends only the rest', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, user('alice', 'alice@example.com') + user('bob', 'bob@example.com') + user('carol', 'carol@example.com'))
  writeFileSync(
    join(dir, 'checkpoint.1'),
    readFileSync(join(dir, 'checkpoint.1'), 'latin1') + review('bob', 0, '//depot/main/...') + review('carol', 0, '//depot/main/...'),
    'latin1',
  )
  const { listener } = await openReviews(dir, smtp.port)
  t.teardown(() => listener.close())
  // The review state is written atomically (a temporary file renamed over it): a directory in its place fails every save.
  rmSync(join(dir, 'reviews.json'), { force: true })
  mkdirSync(join(dir, 'reviews.json'))
  const err = (await feed(listener, await journal(submit(10, 'alice', 'ten\n', ['//depot/main/a.c'])))) as LogdaemonError | null
  t.equal(err?.code, ErrorCodes.STATE_WRITE, 'the change is not taken: the daemon retries it')
  t.match(err?.message, /could not save who has the mail of change 10 .*no more of its mail goes out until it is saved/)
  t.same(deliveries(smtp.mails), ['10:bob:bob@example.com'], "carol's mail waits: a restart now would send bob's again, and would send hers twice")
  rmSync(join(dir, 'reviews.json'), { recursive: true })
  await listener.sync() // the daemon's retry, the disk freed
  t.same(deliveries(smtp.mails), ['10:bob:bob@example.com', '10:carol:carol@example.com'], 'each reviewer once')
})
