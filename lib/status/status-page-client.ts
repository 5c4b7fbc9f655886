import type { StatusSnapshot } from './status-snapshot.js'

/**
 * The status page's script. It runs in the browser, not in Node: the page
 * embeds `String(statusPageClient)`, so this function must reference nothing
 * outside itself (no imports but types, no module-level names). It is
 * written in TypeScript so that it is checked against StatusSnapshot.
 *
 * It polls `status.json` once a second (the next poll starts after the last
 * one ended, so a slow server is never asked twice at once) and renders it.
 * A `?token=` in the page's URL is sent as a bearer token.
 */
/* c8 ignore start -- runs in the browser: tested by test/daemon/status-page-browser.ts */
export function statusPageClient(): void {
  const POLL_MS = 1000
  /** The chart's time span: the history the server keeps (120 points of 5 s). */
  const SPAN_MS = 10 * 60 * 1000
  const W = 600
  const H = 160

  const token = new URLSearchParams(location.search).get('token')
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {}
  const query = token ? `?token=${encodeURIComponent(token)}` : ''
  for (const a of document.querySelectorAll<HTMLAnchorElement>('a[data-api]')) a.href = a.dataset.api + query

  const el = (id: string): HTMLElement => {
    const e = document.getElementById(id)
    if (!e) throw new Error(`status page: #${id} is missing`)
    return e
  }
  const set = (id: string, text: string, title?: string): void => {
    const e = el(id)
    if (e.textContent !== text) e.textContent = text
    if (title !== undefined) e.title = title
  }

  const int = (n: number): string => n.toLocaleString('en-US')
  const rate = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: n < 10 ? 1 : 0 })
  const bytes = (n: number): string => {
    const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB']
    let v = n
    let u = 0
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024
      u++
    }
    return u === 0 ? `${int(n)} bytes` : `${v.toLocaleString('en-US', { maximumFractionDigits: 1 })} ${units[u]}`
  }
  const duration = (seconds: number): string => {
    const s = Math.max(0, Math.floor(seconds))
    const parts: [number, string][] = [
      [Math.floor(s / 86400), 'd'],
      [Math.floor((s % 86400) / 3600), 'h'],
      [Math.floor((s % 3600) / 60), 'm'],
      [s % 60, 's'],
    ]
    const first = parts.findIndex(([n]) => n > 0)
    if (first < 0) return '0s'
    return parts
      .slice(first, first + 2)
      .map(([n, unit]) => `${n}${unit}`)
      .join(' ')
  }
  const ago = (iso: string | null, now: number): string => (iso === null ? 'never' : `${duration((now - Date.parse(iso)) / 1000)} ago`)
  const local = (iso: string): string => new Date(iso).toLocaleString()

  function renderChart(s: StatusSnapshot, now: number): void {
    const points = s.history.points
    const step = s.history.resolutionSeconds * 1000
    const max = Math.max(...points.map((p) => p.perSecond), 0)
    // A round top for the axis: 1, 2 or 5 times a power of ten.
    let top = 1
    while (top < max) top *= String(top)[0] === '2' ? 2.5 : 2
    const xy = points.map((p) => {
      const mid = Date.parse(p.at) + step / 2
      const x = W - ((now - mid) / SPAN_MS) * W
      const y = H - (p.perSecond / top) * H
      return `${Math.max(0, x).toFixed(1)},${y.toFixed(1)}`
    })
    const chart = el('chart')
    chart.dataset.points = String(points.length)
    // A lone point is a zero-length segment: its round caps draw a dot.
    el('chart-line').setAttribute('d', xy.length ? `M${xy.join('L')}${xy.length === 1 ? `L${xy[0]}` : ''}` : '')
    const first = xy[0]?.split(',')[0]
    const last = xy.at(-1)?.split(',')[0]
    el('chart-area').setAttribute('d', xy.length > 1 ? `M${first},${H}L${xy.join('L')}L${last},${H}Z` : '')
    set('chart-max', rate(top))
    el('chart-empty').hidden = points.length > 0
    const latest = points.at(-1)
    set(
      'chart-summary',
      latest
        ? `${points.length} points over ${duration((points.length * step) / 1000)}: latest ${rate(latest.perSecond)} entries per second, peak ${rate(max)}.`
        : 'No complete interval yet.',
    )
  }

  function renderListeners(s: StatusSnapshot, now: number): void {
    const body = el('listeners')
    const rows = s.listeners.map((l) => {
      const tr = document.createElement('tr')
      tr.dataset.listener = l.name
      const cells: [string, string, string?][] = [
        [l.name, 'name'],
        [int(l.handled), 'num'],
        [int(l.skipped), 'num'],
        [int(l.retries), l.retries ? 'num warn' : 'num'],
        [int(l.errors), l.errors ? 'num bad' : 'num'],
        [l.acknowledged ?? '—', 'mono', 'how far its destination has durably taken the journal (N/offset)'],
        [ago(l.lastActivity, now), '', l.lastActivity ? local(l.lastActivity) : undefined],
        [l.lastError ? `${l.lastError.code ?? 'Error'}: ${l.lastError.message}` : '—', 'error-text', l.lastError ? `at ${local(l.lastError.at)}` : undefined],
      ]
      cells.forEach(([text, cls, title], i) => {
        const td = document.createElement(i === 0 ? 'th' : 'td')
        if (i === 0) td.setAttribute('scope', 'row')
        td.textContent = text
        if (cls) td.className = cls
        if (title) td.title = title
        tr.append(td)
      })
      return tr
    })
    if (rows.length === 0) {
      const tr = document.createElement('tr')
      const td = document.createElement('td')
      td.colSpan = 8
      td.textContent = 'No listeners configured.'
      tr.append(td)
      rows.push(tr)
    }
    body.replaceChildren(...rows)
  }

  function render(s: StatusSnapshot): void {
    const now = Date.parse(s.now)
    set('version', `v${s.version}`)
    set('root', s.root ?? '')
    set('entries-total', int(s.entriesTotal))
    set('entries-rate', rate(s.entriesPerSecond))
    set('last-activity', s.lastActivity === null ? 'no entry yet' : `last entry ${ago(s.lastActivity, now)}`)
    set('position', s.position ?? '—')
    set('committed', s.committed ?? 'none yet')
    set('live-journal', s.liveJournal.number === null ? '—' : `journal ${s.liveJournal.number}`)
    set(
      'live-size',
      s.liveJournal.size === null ? 'size unknown' : bytes(s.liveJournal.size),
      s.liveJournal.size === null ? '' : `${int(s.liveJournal.size)} bytes`,
    )
    set('live-path', s.liveJournal.path ?? '')
    set('lag', s.lagBytes === null ? '—' : `${s.lagBytesEstimated ? '≈ ' : ''}${bytes(s.lagBytes)}`, s.lagBytes === null ? '' : `${int(s.lagBytes)} bytes`)
    set(
      'lag-detail',
      s.lagSeconds === null
        ? 'on disk after the read position'
        : `oldest unread or uncommitted byte: ${s.lagSeconds === 0 ? 'none' : `${duration(s.lagSeconds)} old`}`,
      s.uncommittedBytes === null ? '' : `${int(s.uncommittedBytes)} bytes after the committed position`,
    )
    const c = s.catchUp
    set('catch-up', c ? `${c.percent.toFixed(1)} %` : s.health === 'Caught up' ? 'caught up' : '—')
    set('catch-up-detail', c ? `journal ${c.journal} of ${c.journals}${c.secondsLeft === null ? '' : `, ${duration(c.secondsLeft)} left`}` : '')
    const bar = el('catch-up-bar') as HTMLProgressElement
    bar.hidden = c === null
    if (c) bar.value = c.percent
    const r = s.lastRotation
    set('rotation', r ? `${r.from} → ${r.to}` : 'none yet')
    set('rotation-detail', r ? `by ${r.mode}, ${ago(r.at, now)}` : '', r ? local(r.at) : '')
    set('uptime', duration(s.uptimeSeconds))
    set('started', `since ${local(s.startedAt)}`)
    set('retries', int(s.retries))
    set('errors', int(s.errors))
    const err = s.lastError
    el('error-panel').hidden = err === null
    set('last-error', err ? `${err.listener ? `listener ${err.listener}: ` : ''}${err.code ?? 'Error'}: ${err.message}` : '')
    set('last-error-at', err ? `${local(err.at)} (${ago(err.at, now)})` : '')
    renderChart(s, now)
    renderListeners(s, now)
    setState(s.health.toLowerCase().replace(' ', '-'), s.quiet && s.health === 'Caught up' ? 'Caught up · quiet' : s.health)
    set('health-reason', s.healthReason)
    set('updated', new Date().toLocaleTimeString())
  }

  function setState(state: string, text: string): void {
    const badge = el('state')
    badge.dataset.state = state
    set('state', text)
  }

  async function poll(): Promise<void> {
    try {
      const res = await fetch('status.json', { headers, cache: 'no-store' })
      if (!res.ok) throw new Error(res.status === 401 ? 'the token in the page address is missing or wrong' : `HTTP ${res.status}`)
      render((await res.json()) as StatusSnapshot)
    } catch (err) {
      setState('offline', `Disconnected: ${err instanceof Error ? err.message : String(err)}`)
    } finally {
      setTimeout(() => void poll(), POLL_MS)
    }
  }
  void poll()
}
/* c8 ignore stop */
