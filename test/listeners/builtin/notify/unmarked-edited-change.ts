import t from 'tap'
import { join } from 'node:path'
import { NotifyListener } from '../../../../lib/listeners/builtin/notify/notify.js'
import type { ListenerLogger } from '../../../../lib/listeners/listener.js'
import { startSmtpPeer } from '../../../helpers/notify-peers.js'
import { change, deliveries, desc, feed, journal, unmarked } from '../../../helpers/review-journal.js'

const silent: ListenerLogger = { debug() {}, info() {}, warn() {}, error() {} }
async function openTeam(dir: string, port: number) {
  const l = new NotifyListener(
    { smtp: { host: '127.0.0.1', port, from: 'Perforce <p4@example.com>', to: ['team1@example.com'] } },
    'team',
    { baseDir: dir, statePath: join(dir, 'logdaemon.state.json') },
  )
  await l.open({ start: null, startsAfterMarker: false, logger: silent, signal: new AbortController().signal })
  return l
}

t.test('unmarked journal: a submitted change description edited later, then a restart replays the journal', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  const seg1 = unmarked(9, 'alice', 'nine\n', ['//depot/a.c'])
  const seg2 = unmarked(10, 'alice', 'ten\n', ['//depot/b.c'])
  // p4 change -f / -u: the submitted change's description rewritten (its db.desc and db.change rows again)
  const seg3 = desc(10, 'ten, edited\n') + change(10, 'alice', 'ten, edited\n')
  const all = await journal(seg1 + seg2 + seg3)
  const live = await openTeam(dir, smtp.port)
  // live: a quiet after each piece
  let i = 0
  for (const seg of [seg1, seg2, seg3]) {
    const upto = (await journal(seg1 + seg2 + seg3)).filter((e) => e.position.offset < Buffer.byteLength([seg1, seg2, seg3].slice(0, i + 1).join('')) && e.position.offset >= Buffer.byteLength([seg1, seg2, seg3].slice(0, i).join('')))
    t.equal(await feed(live, upto), null)
    await live.noData(true)
    i++
  }
  await live.sync()
  await live.close()
  t.same(deliveries(smtp.mails), ['9:team:team1@example.com', '10:team:team1@example.com'])
  // kill -9 / restart: the daemon replays the unmarked journal from its start, read at once (one quiet, at the end)
  const again = await openTeam(dir, smtp.port)
  const err = await feed(again, all)
  t.equal(err, null, 'no error on the replay')
  const err2 = await again.noData(true).then(() => null, (e: unknown) => e as Error)
  t.equal(err2, null, 'no error at the quiet')
  await again.close()
  t.same(deliveries(smtp.mails), ['9:team:team1@example.com', '10:team:team1@example.com'], 'nothing sent again')
})
