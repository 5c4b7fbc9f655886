import { createHash } from 'node:crypto'

/**
 * The browser script, compiled by its own tsconfig (tsconfig.client.json,
 * with the DOM types the Node code must not see). Imported through a
 * variable so that the Node program does not type-check it; resolved
 * relative to this module like a static import.
 */
const CLIENT_MODULE: string = './status-page-client.js'
const { statusPageClient } = (await import(CLIENT_MODULE)) as { statusPageClient: () => void }

/**
 * The status page served at `/`: one self-contained HTML document (no
 * external assets: the machines it runs on are often offline) whose script
 * polls `status.json`. Built once at load; served with {@link STATUS_PAGE_CSP}.
 */

const STYLE = `
:root { color-scheme: light dark; --bg: #f6f7f9; --card: #fff; --fg: #1b1f24; --muted: #5b6470; --line: #d9dde3;
  --accent: #1f6feb; --accent-fill: rgba(31, 111, 235, .14); --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; }
@media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --card: #161b22; --fg: #e6edf3; --muted: #9aa4af; --line: #30363d;
  --accent: #58a6ff; --accent-fill: rgba(88, 166, 255, .18); --ok: #3fb950; --warn: #d29922; --bad: #f85149; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
.wrap { max-width: 1100px; margin: 0 auto; padding: 20px 24px 32px; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 14px; margin-bottom: 18px; }
h1 { font-size: 1.35rem; margin: 0; }
h2 { font-size: 1rem; margin: 0 0 10px; }
.muted, small, dt, footer { color: var(--muted); }
.mono, #position, #committed, #root { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
#root { overflow-wrap: anywhere; }
.badge { margin-left: auto; padding: 2px 12px; border-radius: 999px; font-weight: 600; border: 1px solid currentColor; }
.badge[data-state=reading], .badge[data-state=caught-up] { color: var(--ok); }
.badge[data-state=behind], .badge[data-state=retrying] { color: var(--warn); }
.badge[data-state=offline], .badge[data-state=failed] { color: var(--bad); }
#health-reason { width: 100%; text-align: right; font-size: .85rem; }
progress { width: 100%; height: 8px; margin-top: 6px; accent-color: var(--accent); }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin: 0 0 18px; }
@media (max-width: 900px) { .cards { grid-template-columns: repeat(2, 1fr); } }
@media (max-width: 460px) { .cards { grid-template-columns: 1fr; } }
.cards > div, section.panel { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
dt { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; }
dd { margin: 2px 0 0; font-size: 1.45rem; font-weight: 600; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
dd + dd { font-size: .85rem; font-weight: 400; color: var(--muted); }
section.panel { margin-bottom: 18px; }
.chart { display: grid; grid-template-columns: auto 1fr; grid-template-rows: 180px auto; column-gap: 8px; position: relative; }
.y-axis { display: flex; flex-direction: column; justify-content: space-between; text-align: right; font-size: .8rem; color: var(--muted); font-variant-numeric: tabular-nums; }
.plot { position: relative; border-left: 1px solid var(--line); border-bottom: 1px solid var(--line); }
svg { display: block; width: 100%; height: 100%; }
svg .grid { stroke: var(--line); stroke-dasharray: 3 4; }
#chart-line { fill: none; stroke: var(--accent); stroke-width: 2; stroke-linejoin: round; stroke-linecap: round; }
#chart-area { fill: var(--accent-fill); stroke: none; }
#chart-empty { position: absolute; inset: 0; display: grid; place-items: center; color: var(--muted); }
#chart-empty[hidden] { display: none; }
.x-axis { grid-column: 2; display: flex; justify-content: space-between; font-size: .8rem; color: var(--muted); padding-top: 2px; }
.table-scroll { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { font-size: .8rem; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; font-weight: 600; }
.num { text-align: right; }
.warn { color: var(--warn); font-weight: 600; }
.bad, #last-error { color: var(--bad); font-weight: 600; }
section.error { border-color: var(--bad); border-left-width: 4px; }
section.error p { margin: 0 0 4px; }
.error-text { max-width: 28em; overflow-wrap: anywhere; color: var(--muted); }
.totals { margin: 8px 0 0; font-size: .9rem; color: var(--muted); }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
a { color: var(--accent); }
`

const BODY = `
<div class="wrap">
<header>
  <h1>logdaemon <span id="version" class="muted"></span></h1>
  <span id="root" class="muted"></span>
  <span id="state" class="badge" role="status" aria-live="polite" data-state="offline">Connecting…</span>
  <span id="health-reason" class="muted"></span>
</header>
<main>
  <section class="panel error" id="error-panel" aria-labelledby="error-title" hidden>
    <h2 id="error-title">Last error</h2>
    <p id="last-error"></p>
    <p id="last-error-at" class="muted"></p>
  </section>
  <h2 class="sr-only">Overview</h2>
  <dl class="cards">
    <div><dt>Entries read</dt><dd id="entries-total">—</dd><dd id="last-activity"></dd></div>
    <div><dt>Entries per second</dt><dd id="entries-rate">—</dd><dd>10 s average</dd></div>
    <div><dt>Read position</dt><dd id="position">—</dd><dd>journal / byte offset</dd></div>
    <div><dt>Committed</dt><dd id="committed">—</dd><dd>safe restart point</dd></div>
    <div><dt>Live journal</dt><dd id="live-journal">—</dd><dd id="live-size"></dd><dd id="live-path" class="mono"></dd></div>
    <div><dt>Lag</dt><dd id="lag">—</dd><dd id="lag-detail">on disk after the read position</dd></div>
    <div><dt>Catch-up</dt><dd id="catch-up">—</dd><dd id="catch-up-detail"></dd><dd><progress id="catch-up-bar" max="100" value="0" hidden></progress></dd></div>
    <div><dt>Last rotation</dt><dd id="rotation">—</dd><dd id="rotation-detail"></dd></div>
    <div><dt>Uptime</dt><dd id="uptime">—</dd><dd id="started"></dd></div>
  </dl>
  <section class="panel" aria-labelledby="chart-title">
    <h2 id="chart-title">Entries per second, last 10 minutes</h2>
    <div class="chart">
      <div class="y-axis" aria-hidden="true"><span id="chart-max">1</span><span>0</span></div>
      <div class="plot">
        <svg id="chart" viewBox="0 0 600 160" preserveAspectRatio="none" role="img" aria-labelledby="chart-title chart-summary" data-points="0">
          <path class="grid" d="M0,40H600M0,80H600M0,120H600" vector-effect="non-scaling-stroke"/>
          <path id="chart-area" d=""/>
          <path id="chart-line" d="" vector-effect="non-scaling-stroke"/>
        </svg>
        <div id="chart-empty">Collecting: the first point appears after 5 seconds.</div>
      </div>
      <div class="x-axis" aria-hidden="true"><span>10 min ago</span><span>5 min ago</span><span>now</span></div>
    </div>
    <p id="chart-summary" class="sr-only"></p>
  </section>
  <section class="panel" aria-labelledby="listeners-title">
    <h2 id="listeners-title">Listeners</h2>
    <div class="table-scroll">
      <table>
        <thead><tr><th scope="col">Name</th><th scope="col" class="num">Handled</th><th scope="col" class="num">Skipped</th>
          <th scope="col" class="num">Retries</th><th scope="col" class="num">Errors</th><th scope="col">Acknowledged</th><th scope="col">Last activity</th><th scope="col">Last error</th></tr></thead>
        <tbody id="listeners"></tbody>
      </table>
    </div>
    <p class="totals">Retries in total: <span id="retries">0</span> · errors in total: <span id="errors">0</span></p>
  </section>
</main>
<footer>Updated <span id="updated">never</span> · <a data-api="status.json" href="status.json">status.json</a> · <a data-api="metrics" href="metrics">metrics</a></footer>
</div>
`

/** Inline, so that the browser asks the server for no favicon (which would need the token). */
const FAVICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Cpath d='M1 12l4-5 3 3 4-7 3 4' fill='none' stroke='%231f6feb' stroke-width='2'/%3E%3C/svg%3E"

const SCRIPT = `(${String(statusPageClient)})()`

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`

/** The page. */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>logdaemon status</title>
<link rel="icon" href="${FAVICON}">
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`

/** Content-Security-Policy for the page: its own inline style and script (by hash) and requests to its own origin, nothing else. */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')
