import t from 'tap'
import { join } from 'node:path'
import { NotifyListener } from '../../../../lib/listeners/builtin/notify/notify.js'
import type { ListenerLogger } from '../../../../lib/listeners/listener.js'
import { startSmtpPeer } from '../../../helpers/notify-peers.js'
import { change, deliveries, desc, feed, journal, unmarked } from '../../../helpers/review-journal.js'

/**
 * A journal without markers: a submitted change edited later (p4 change -f, -u: its db.desc and db.change rows
 * written again), in a quiet of its own. A restart replays the journal from its start and reads it all as one
 * segment. The change must be found where it was mailed, as the change mailed last: not taken for a change not
 * delivered yet (a probe: ERR_STATE_MISMATCH at every restart), and not for another change when the edit changed
 * its user.
 */

const silent: ListenerLogger = { debug() {}, info() {}, warn() {}, error() {} }

async function openTeam(dir: string, port: number): Promise<NotifyListener> {
  const l = new NotifyListener({ smtp: { host: '127.0.0.1', port, from: 'Perforce <p4@example.com>', to: ['team1@example.com'] } }, 'team', {
    baseDir: dir,
    statePath: join(dir, 'logdaemon.state.json'),
  })
  await l.open({ start: null, startsAfterMarker: false, logger: silent, signal: new AbortController().signal })
  return l
}

for (const editor of ['alice', 'bob']) {
  t.test(`a submitted change edited later${editor === 'bob' ? ', its user changed too' : ''}, then a restart replays the journal`, async (t) => {
    const smtp = await startSmtpPeer()
    t.teardown(() => smtp.close())
    const dir = t.testdir()
    const pieces = [
      unmarked(9, 'alice', 'nine\n', ['//depot/a.c']),
      unmarked(10, 'alice', 'ten\n', ['//depot/b.c']),
      desc(10, 'ten, edited\n') + change(10, editor, 'ten, edited\n'),
    ]
    const all = await journal(pieces.join(''))
    const live = await openTeam(dir, smtp.port)
    // Live: a quiet after each piece.
    let from = 0
    for (const piece of pieces) {
      const to = from + Buffer.byteLength(piece)
      t.equal(
        await feed(
          live,
          all.filter((e) => e.position.offset >= from && e.position.offset < to),
        ),
        null,
      )
      await live.noData(true)
      from = to
    }
    await live.sync()
    await live.close()
    t.same(deliveries(smtp.mails), ['9:team:team1@example.com', '10:team:team1@example.com'])
    // Restarted: the daemon replays the unmarked journal from its start, read at once (one quiet, at the end).
    const again = await openTeam(dir, smtp.port)
    t.equal(await feed(again, all), null, 'no error on the replay')
    t.equal(
      await again.noData(true).then(
        () => null,
        (e: unknown) => e as Error,
      ),
      null,
      'no error at the quiet',
    )
    await again.close()
    t.same(deliveries(smtp.mails), ['9:team:team1@example.com', '10:team:team1@example.com'], 'nothing sent again')
  })
}
