import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { StatusServer } from '../../lib/status/status-server.js'
import { StatusTracker } from '../../lib/status/status-tracker.js'
import { JournalEntry } from '../../lib/journal/entry.js'
import { encodeRecord } from '../../lib/journal/encoder.js'
import { ErrorCodes, LogdaemonError } from '../../lib/errors.js'

/**
 * The little of the DOM the page functions below use. They run in the
 * browser; the Node code (and this file) is compiled without the DOM types.
 */
declare const document: { getElementById(id: string): { textContent: string | null; dataset: Record<string, string | undefined> } | null }

/** Debian's chromium, installed by .ci/run (playwright-core ships no browser). */
const CHROMIUM = '/usr/bin/chromium'
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} not found: install Debian's chromium package (apt-get install chromium) to run the status page in a browser`

/** How long the page may take to show what the server has: a few polls of 1 s. */
const WAIT = { timeout: 15_000 }

/** A journal that grows: entries as p4d writes them, positions following on. */
class FakeJournal {
  offset = 0
  line = 1
  change = 100
  constructor(readonly number: number) {}

  /** One submit-like transaction; `consistent` set on its `@ex@`. */
  transaction(): JournalEntry[] {
    const specs = [
      encodeRecord({ op: 'pv', version: 10, table: 'db.change', fields: [this.change, this.change, 'ws-alice', 'alice', 1700000000, 1, 'fix the build'] }),
      encodeRecord({ op: 'pv', version: 9, table: 'db.rev', fields: ['//depot/main/a.c', 3, 0, 1, this.change] }),
      encodeRecord({ op: 'ex', fields: [1700000000] }),
    ]
    this.change++
    return specs.map((raw, i) => {
      const e = new JournalEntry(raw, { journal: this.number, offset: this.offset, end: this.offset + raw.length, line: this.line })
      this.offset += raw.length
      this.line++
      e.consistent = i === specs.length - 1
      return e
    })
  }
}

/** The tracker the daemon would feed, on a clock the test moves. */
function daemonOnFakeClock() {
  let now = Date.UTC(2024, 4, 1, 9, 0, 0)
  const tracker = new StatusTracker({ now: () => now })
  const journal = new FakeJournal(42)
  tracker.started({ root: '/p4/root', liveJournal: '/p4/root/journal' })
  for (const name of ['mirror', 'print', 'notify']) tracker.addListener(name)
  /** Reads `perSecond` transactions (3 entries each) in each of `seconds` seconds, as the daemon would report them. */
  const run = (perSecond: number, seconds: number): void => {
    for (let i = 0; i < perSecond * seconds; i++) {
      for (const e of journal.transaction()) {
        tracker.entryRead(e)
        tracker.listenerHandled('mirror', e)
        tracker.listenerHandled('print', e)
        if (e.op === 'pv' && e.table === 'db.change') tracker.listenerHandled('notify', e)
        else tracker.listenerSkipped('notify')
        if (e.consistent) tracker.committed({ journal: journal.number, offset: e.position.end })
      }
      if ((i + 1) % perSecond === 0) now += 1000
    }
    tracker.liveSize({ journal: journal.number, size: journal.offset + 311 })
  }
  return { tracker, run }
}

const text = (page: Page, id: string): Promise<string> => page.locator(`#${id}`).innerText()
const number = async (page: Page, id: string): Promise<number> => Number((await text(page, id)).replace(/,/g, ''))

/** Opens `url`; any script error, console error or failed request fails the test until `expectFailures()`. */
async function openPage(t: Test, browser: Browser, url: string): Promise<{ page: Page; expectFailures: () => void }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } })
  t.teardown(() => page.close())
  let failuresExpected = false
  page.on('pageerror', (err) => t.fail(`page error: ${err.message}`))
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !failuresExpected) t.fail(`console error: ${msg.text()}`)
  })
  page.on('requestfailed', (req) => {
    if (!failuresExpected) t.fail(`request failed: ${req.url()}`)
  })
  await page.goto(url)
  return { page, expectFailures: () => void (failuresExpected = true) }
}

t.test('the status page in headless Chromium', { skip }, async (t) => {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
  t.teardown(() => browser.close())

  t.test('its numbers move as the journal grows', async (t) => {
    const { tracker, run } = daemonOnFakeClock()
    const server = new StatusServer({ tracker })
    const { url } = await server.listen()
    t.teardown(() => server.close())

    const { page, expectFailures } = await openPage(t, browser, url)
    await page.waitForFunction(() => document.getElementById('state')?.dataset.state === 'reading', null, WAIT)
    t.equal(await number(page, 'entries-total'), 0)
    t.equal(await page.locator('#chart').getAttribute('data-points'), '0')
    t.equal(await page.locator('#chart-empty').isVisible(), true, 'the empty chart says why')
    t.equal(await page.locator('#listeners tr').count(), 3, 'registered listeners show before their first entry')

    // 4 transactions (12 entries) a second for 10 s: two complete 5 s points.
    run(4, 10)
    await page.waitForFunction(() => document.getElementById('entries-total')?.textContent === '120', null, WAIT)
    t.equal(await number(page, 'entries-rate'), 12, '120 entries in the last 10 s')
    t.equal(await page.locator('#chart').getAttribute('data-points'), '2', 'the chart has a point per 5 s')
    t.match(await page.locator('#chart-line').getAttribute('d'), /^M[\d.]+,[\d.]+L[\d.]+,[\d.]+$/)
    t.equal(await page.locator('#chart-empty').isVisible(), false)
    t.equal(await text(page, 'position'), tracker.snapshot().position)
    t.equal(await text(page, 'committed'), tracker.snapshot().committed)
    t.equal(await text(page, 'lag'), '311 bytes')
    t.equal(await text(page, 'live-journal'), 'journal 42')
    const mirror = page.locator('#listeners tr[data-listener="mirror"] td')
    t.equal(await mirror.nth(0).innerText(), '120', 'mirror handled')
    const notify = page.locator('#listeners tr[data-listener="notify"] td')
    t.equal(await notify.nth(0).innerText(), '40', 'notify handled')
    t.equal(await notify.nth(1).innerText(), '80', 'notify skipped')

    // More journal, a rotation, a retry, an error and a quiet period: all show up.
    run(6, 15)
    tracker.rotated({ from: 41, to: 42, mode: 'rename' })
    tracker.listenerRetry('notify', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25'), { code: 'ECONNREFUSED' }))
    tracker.listenerError('notify', new LogdaemonError(ErrorCodes.LISTENER_FAILED, 'listener notify failed at 42/1234 after 5 retries'))
    tracker.quiet(true)
    await page.waitForFunction(() => document.getElementById('entries-total')?.textContent === '390', null, WAIT)
    t.equal(await page.locator('#chart').getAttribute('data-points'), '5', 'the chart grows')
    // A listener that failed an attempt and has not succeeded since: the health says so.
    await page.waitForFunction(() => document.getElementById('state')?.dataset.state === 'retrying', null, WAIT)
    t.equal(await text(page, 'state'), 'Retrying')
    t.match(await text(page, 'health-reason'), /^listener notify is retrying after ERR_LISTENER_FAILED/)
    t.equal(await text(page, 'rotation'), '41 → 42')
    t.equal(await notify.nth(2).innerText(), '1', 'notify retries')
    t.equal(await notify.nth(3).innerText(), '1', 'notify errors')
    t.match(await text(page, 'last-error'), /listener notify: ERR_LISTENER_FAILED: listener notify failed/)
    t.equal(await page.locator('#error-panel').isVisible(), true)
    t.match(await page.locator('#chart').getAttribute('aria-labelledby'), /chart-summary/)
    t.match(await text(page, 'chart-summary'), /^5 points over 25s: latest 18 entries per second/)

    const shot = process.env.STATUS_PAGE_SCREENSHOT ?? join(t.testdir(), 'status-page.png')
    await page.screenshot({ path: shot, fullPage: true })
    t.ok(existsSync(shot), `screenshot at ${shot}`)

    // The server goes away: the page says so instead of showing stale numbers as live.
    expectFailures()
    await server.close()
    await page.waitForFunction(() => document.getElementById('state')?.dataset.state === 'offline', null, WAIT)
    t.match(await text(page, 'state'), /^Disconnected/)
  })

  t.test('health, honest lag, catch-up progress and acknowledged positions', async (t) => {
    let now = Date.UTC(2024, 4, 1, 9, 0, 0)
    const tracker = new StatusTracker({ now: () => now, health: { behindBytes: 1000, behindSeconds: 600 } })
    let live = 5000
    // Journals 40 (archive), 41 (gz archive: ISIZE), 42 (live), as the daemon's probe measures them.
    tracker.setProbe(async () => [
      { journal: 40, path: '/p4/root/journal.40', size: 3000, estimated: false, mtimeMs: now - 120_000, live: false },
      { journal: 41, path: '/p4/root/journal.41.gz', size: 4000, estimated: true, mtimeMs: now - 60_000, live: false },
      { journal: 42, path: '/p4/root/journal', size: live, estimated: false, mtimeMs: now, live: true },
    ])
    tracker.started({ root: '/p4/root', liveJournal: '/p4/root/journal', start: { journal: 40, offset: 0 } })
    let acked: string | null = '40/0'
    tracker.addListener('sql', () => acked)
    tracker.addListener('print')
    const journal = new FakeJournal(40)
    for (let i = 0; i < 10; i++) for (const e of journal.transaction()) tracker.entryRead(e)
    now += 1000
    const server = new StatusServer({ tracker })
    const { url } = await server.listen()
    t.teardown(() => server.close())
    const { page } = await openPage(t, browser, url)

    await page.waitForFunction(() => document.getElementById('state')?.dataset.state === 'behind', null, WAIT)
    t.equal(await text(page, 'state'), 'Behind')
    t.match(await text(page, 'health-reason'), /more than behindBytes \(1000\)/)
    const read = journal.offset
    t.equal(await page.locator('#lag').getAttribute('title'), `${(3000 - read + 4000 + 5000).toLocaleString('en-US')} bytes`, 'archives included')
    t.match(await text(page, 'lag'), /^≈ /, 'a gz archive counted by its ISIZE is marked as an estimate')
    t.match(await text(page, 'lag-detail'), /oldest unread or uncommitted byte: 2m( \d+s)? old/, 'the archive journal.40 is 2 minutes old')
    t.equal(await text(page, 'catch-up-detail'), 'journal 1 of 3, ' + (await text(page, 'catch-up-detail')).split(', ')[1])
    t.equal(await page.locator('#catch-up-bar').isVisible(), true)
    t.equal(await page.locator('#listeners tr[data-listener="sql"] td').nth(4).innerText(), '40/0')
    t.equal(await page.locator('#listeners tr[data-listener="print"] td').nth(4).innerText(), '—', 'no hook: a dash')

    // Read everything, committed, acknowledged: caught up.
    tracker.entryRead(new JournalEntry(Buffer.alloc(0), { journal: 42, offset: live, end: live, line: 1 }))
    tracker.committed({ journal: 42, offset: live })
    acked = `42/${live}`
    now += 1000
    await page.waitForFunction(() => document.getElementById('state')?.dataset.state === 'caught-up', null, WAIT)
    t.equal(await text(page, 'catch-up'), 'caught up')
    t.equal(await page.locator('#catch-up-bar').isVisible(), false)
    t.equal(await text(page, 'lag'), '0 bytes')
    t.equal(await page.locator('#listeners tr[data-listener="sql"] td').nth(4).innerText(), `42/${live}`)

    // p4d writes more: measured when the page next reads the status.
    live += 200
    now += 1000
    await page.waitForFunction(() => document.getElementById('lag')?.textContent === '200 bytes', null, WAIT)
    t.equal(await text(page, 'state'), 'Reading')

    tracker.failed(new LogdaemonError(ErrorCodes.STOP_TIMEOUT, 'the stop did not finish'))
    await page.waitForFunction(() => document.getElementById('state')?.dataset.state === 'failed', null, WAIT)
    t.match(await text(page, 'health-reason'), /^stopped: ERR_STOP_TIMEOUT/)
  })

  t.test('with a token in its address, the page works and its links carry it', async (t) => {
    const { tracker, run } = daemonOnFakeClock()
    const server = new StatusServer({ tracker, token: 'page-token' })
    const { url } = await server.listen()
    t.teardown(() => server.close())
    run(5, 1)
    const { page } = await openPage(t, browser, `${url}?token=page-token`)
    await page.waitForFunction(() => document.getElementById('entries-total')?.textContent === '15', null, WAIT)
    t.equal(await page.locator('a[data-api="status.json"]').getAttribute('href'), 'status.json?token=page-token')
    t.equal(await page.locator('a[data-api="metrics"]').getAttribute('href'), 'metrics?token=page-token')
  })
})
