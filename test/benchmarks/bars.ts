/**
 * The bars, the README and docs blocks and the scopes, on synthetic rows:
 * every bar can PASS, MISS and be N/A, and a scenario that did not run
 * never passes one.
 */
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  BAR_NAMES,
  FOLLOW_BAR,
  RATIO_BARS,
  RSS_BAR,
  SCALE_BAR,
  checkBars,
  checkRatio,
  checkRss,
  checkScale,
  mb,
  ratioBarName,
  type BarGroup,
} from '../../benchmarks/harness/bars.js'
import { SCENARIOS, findScenario, inScope, type ScenarioSpec } from '../../benchmarks/harness/catalog.js'
import { README_END, README_START, renderBlock, renderReadmeBlock, writeMarkedBlock, type ReportParts } from '../../benchmarks/harness/docs-block.js'
import type { ScenarioResult } from '../../benchmarks/harness/scenario.js'
import { summarize, type Row } from '../../benchmarks/harness/summary.js'
import { formatBarMatrix, formatBars } from '../../benchmarks/harness/table.js'

const GiB = 2 ** 30

function spec(name: string): ScenarioSpec {
  const s = findScenario(name)
  if (!s) throw new Error(`no scenario ${name}`)
  return s
}

/** A row of `name` at `mbPerSec` on `size` bytes, with `rssMB` peak RSS (or skipped). */
function row(name: string, mbPerSec: number, rssMB = 80, size = 200e6, skipped: string | null = null, extra: Record<string, number> = {}): Row {
  const ms = (size / 1e6 / mbPerSec) * 1000
  const run: ScenarioResult = {
    scenario: name,
    bytes: skipped ? 0 : size,
    records: skipped ? 0 : 1000,
    unit: 'records',
    ms: skipped ? 0 : ms,
    cpuMs: skipped ? 0 : ms,
    maxRssKiB: skipped ? 0 : (rssMB * 1e6) / 1024,
    extra,
    skipped,
    node: process.version,
  }
  return summarize(spec(name), name, size, [run], 1000)
}

function group(label: string, rows: Row[], size = 200e6, invalid: string[] = []): BarGroup {
  return { label, profile: label.split(' ')[0] as string, size, rows: new Map(rows.map((r) => [r.spec.name, r])), invalid: new Set(invalid) }
}

const bar = (ours: string) => RATIO_BARS.find((b) => b.ours === ours) as (typeof RATIO_BARS)[number]

t.test('every new bar is there, against the right baseline and ratio', async (t) => {
  const want = [
    'cat-raw ≥ 2× split2-lines',
    'cat-json ≥ 1× split2-lines',
    'cat-row ≥ 0.8× cat-json',
    'cat-raw-gz ≥ 0.8× cat-raw',
    'cat-json-gz ≥ 0.8× cat-json',
    'framing-parallel ≥ 1.7× framing',
    'daemon-noop-listener ≥ 0.8× framing',
    'for-await-reader ≥ 0.8× framing',
    'for-await-source ≥ 0.8× framing',
    'sql-load-sqlite ≥ 0.5× sqlite-insert-rows',
    'sql-load-postgres ≥ 0.5× postgres-copy-tsv',
  ]
  for (const w of want) t.ok(BAR_NAMES.includes(w), w)
  for (const b of RATIO_BARS) {
    t.ok(findScenario(b.ours), `${b.ours} is in the catalog`)
    t.ok(findScenario(b.base), `${b.base} is in the catalog`)
  }
  for (const name of ['cat-raw-gz', 'cat-json-gz', 'cat-raw-gz-zlib-sync', 'cat-json-1thread', 'framing-parallel', 'for-await-reader', 'for-await-source']) {
    t.ok(findScenario(name), `${name} is in the catalog`)
  }
  t.equal(spec('for-await-source').input, 'live', 'for-await-source reads a live journal')
  t.equal(spec('cat-raw-gz').input, 'gz')
  t.equal(new Set(SCENARIOS.map((s) => s.name)).size, SCENARIOS.length, 'names are unique')
})

t.test('a ratio bar: PASS at the ratio, MISS below, N/A when a side is skipped or missing, MISS on wrong output', async (t) => {
  const b = bar('cat-raw')
  const at = checkRatio(b, group('short 200 MB', [row('cat-raw', 400), row('split2-lines', 200)]))
  t.equal(at.status, 'PASS', 'exactly 2× passes')
  t.equal(at.value, '2.00×')
  t.equal(at.group, 'short 200 MB')
  t.match(at.measured, /cat-raw 400\.0 MB\/s, split2-lines 200\.0 MB\/s/)
  t.equal(checkRatio(b, group('g', [row('cat-raw', 399), row('split2-lines', 200)])).status, 'MISS')
  const skipped = checkRatio(b, group('g', [row('cat-raw', 0, 0, 200e6, 'no zlib-sync'), row('split2-lines', 200)]))
  t.equal(skipped.status, 'N/A')
  t.match(skipped.measured, /cat-raw skipped: no zlib-sync/)
  t.equal(skipped.value, '')
  t.match(checkRatio(b, group('g', [row('cat-raw', 900)])).measured, /split2-lines did not run/)
  t.equal(checkRatio(b, group('g', [row('cat-raw', 900)])).status, 'N/A', 'never PASS without its baseline')
  const wrong = checkRatio(b, group('g', [row('cat-raw', 900), row('split2-lines', 200)], 200e6, ['cat-raw']))
  t.equal(wrong.status, 'MISS', 'fast and wrong is a miss')
  t.match(wrong.measured, /wrong output/)

  for (const [ours, base, min] of [
    ['cat-json', 'split2-lines', 1],
    ['cat-row', 'cat-json', 0.8],
    ['cat-raw-gz', 'cat-raw', 0.8],
    ['cat-json-gz', 'cat-json', 0.8],
    ['framing-parallel', 'framing', 1.7],
    ['daemon-noop-listener', 'framing', 0.8],
    ['for-await-reader', 'framing', 0.8],
    ['for-await-source', 'framing', 0.8],
  ] as const) {
    const b2 = bar(ours)
    t.equal(b2.base, base)
    t.equal(b2.min, min)
    t.equal(checkRatio(b2, group('g', [row(ours, 100 * min), row(base, 100)])).status, 'PASS', `${ours} at ${min}× passes`)
    t.equal(checkRatio(b2, group('g', [row(ours, 100 * min - 1), row(base, 100)])).status, 'MISS', `${ours} below ${min}× misses`)
    t.equal(checkRatio(b2, group('g', [row(base, 100)])).status, 'N/A', `${ours} absent: N/A`)
  }
})

/** A row of `name` from runs at these rates, in round order (200 MB each). */
function rowOfRuns(name: string, rates: readonly number[]): Row {
  const runs = rates.map((mbPerSec) => row(name, mbPerSec).runs[0] as ScenarioResult)
  return summarize(spec(name), name, 200e6, runs, 1000)
}

t.test("a ratio bar over several rounds is the median of the rounds' ratios, not the ratio of the medians", async (t) => {
  const b = bar('for-await-reader')
  // Round 1 caught a slow phase for for-await-reader, round 3 a fast one for framing: their medians come
  // from different rounds (380 / 500 = 0.76), while every round but the first ran at 0.8 or more.
  const ours = rowOfRuns('for-await-reader', [300, 400, 380])
  const base = rowOfRuns('framing', [500, 500, 400])
  t.equal((ours.mbPerSec / base.mbPerSec).toFixed(2), '0.76', 'the medians alone would miss')
  const r = checkRatio(b, group('default 200 MB', [ours, base]))
  t.equal(r.value, '0.80×', 'median of 0.60, 0.80 and 0.95')
  t.equal(r.status, 'PASS')
  t.match(r.measured, /^0\.80×, the median of 3 rounds \(0\.60×, 0\.80×, 0\.95×\); median runs: for-await-reader 380\.0 MB\/s, framing 500\.0 MB\/s$/)
  const slow = checkRatio(b, group('g', [rowOfRuns('for-await-reader', [300, 350, 400]), base]))
  t.equal(slow.value, '0.70×', 'two rounds below 0.8 out of three: a miss')
  t.equal(slow.status, 'MISS')
  // Rows with different numbers of runs cannot be paired by round: the ratio of the medians.
  const unpaired = checkRatio(b, group('g', [rowOfRuns('for-await-reader', [300, 400]), base]))
  t.equal(unpaired.value, '0.69×')
  t.match(unpaired.measured, /^0\.69× \(for-await-reader 342\.9 MB\/s, framing 500\.0 MB\/s\)$/)
})

t.test('peak RSS: every scenario of ours, JetStream and baselines excluded, MISS names each one over', async (t) => {
  const ok = checkRss(group('default 1 GiB', [row('framing', 500, 70, GiB), row('cat-json', 200, 119.9, GiB), row('split2-lines', 200, 300, GiB)], GiB))
  t.equal(ok.status, 'PASS', 'a baseline above the limit does not count')
  t.match(ok.measured, /highest 119\.9 MB \(cat-json\) of 2 scenarios$/)
  const bad = checkRss(
    group('default 1 GiB', [row('framing-decode', 90, 132.3, GiB), row('cat-raw-gz-zlib-sync', 150, 128, GiB), row('framing', 500, 60, GiB)], GiB),
  )
  t.equal(bad.status, 'MISS')
  t.match(bad.measured, /over: framing-decode 132\.3 MB, cat-raw-gz-zlib-sync 128\.0 MB/)
  t.equal(checkRss(group('g', [row('jetstream-publish', 10, 160, GiB)], GiB)).status, 'N/A', 'JetStream is excluded')
  t.match(checkRss(group('g', [row('framing', 500, 60)], 200e6)).measured, /on 200 MB; the bar is stated for 1 GiB/)
  t.equal(checkRss(group('g', [row('framing', 0, 0, GiB, 'absent')], GiB)).status, 'N/A', 'nothing ran')
  const sql = checkRss(group('default 1 GiB', [row('framing', 500, 60, GiB)], GiB), [
    group('default 200 MB', [row('framing', 400, 100), row('sql-load-sqlite', 10, 164), row('sqlite-insert-rows', 15, 190)]),
  ])
  t.equal(sql.status, 'MISS', 'a scenario run only at the smaller size counts, at that size')
  t.match(sql.measured, /highest 164\.0 MB \(sql-load-sqlite \(at 200 MB\)\) of 2 scenarios; over: sql-load-sqlite \(at 200 MB\) 164\.0 MB$/)
})

t.test('scale: the rate may rise, not fall by more than 15 %; RSS may not grow by more than 15 %', async (t) => {
  const small = group('default 200 MB', [row('framing', 300, 60), row('cat-json', 100, 90), row('split2-lines', 200, 100)])
  const fine = checkScale(small, group('default 1 GiB', [row('framing', 600, 66, GiB), row('cat-json', 86, 90, GiB)], GiB))
  t.equal(fine.status, 'PASS', 'faster at 1 GiB and -14 % are fine')
  t.match(fine.measured, /2 scenarios, 200 MB → 1 GiB: lowest rate change −14\.0 % \(cat-json\), highest RSS change \+10\.0 % \(framing\)/)
  t.equal(fine.group, 'default 1 GiB')
  const slower = checkScale(small, group('default 1 GiB', [row('framing', 250, 60, GiB), row('cat-json', 100, 90, GiB)], GiB))
  t.equal(slower.status, 'MISS')
  t.match(slower.measured, /out of bounds: framing rate −16\.7 %, RSS \+0\.0 %/)
  t.equal(checkScale(small, group('default 1 GiB', [row('framing', 300, 70, GiB)], GiB)).status, 'MISS', 'RSS +16.7 %')
  t.equal(checkScale(small, group('default 1 GiB', [row('indexof-newlines', 900, 60, GiB)], GiB)).status, 'N/A', 'nothing of ours at both sizes')
})

t.test('checkBars: ratio bars in every data set, SQL at the smallest size, RSS and scale at the largest, follow once', async (t) => {
  const rows = (size: number) => [
    row('framing', 500, 60, size),
    row('split2-lines', 200, 90, size),
    row('cat-raw', 410, 90, size),
    row('cat-json', 150, 95, size),
  ]
  const groups = [
    group('default 200 MB', [
      ...rows(200e6),
      row('sql-load-sqlite', 10, 100),
      row('sqlite-insert-rows', 15, 150),
      row('follow-latency', 1, 60, 200e6, null, { p99Ms: 4.7, p50Ms: 1 }),
    ]),
    group('default 1 GiB', rows(GiB), GiB),
    group('short 200 MB', [...rows(200e6), row('sqlite-insert-rows', 15, 150)]),
    group('short 1 GiB', rows(GiB), GiB),
  ]
  const bars = checkBars(groups)
  const find = (name: string, g: string) => bars.find((b) => b.bar === name && b.group === g)
  for (const g of groups) t.equal(find('cat-raw ≥ 2× split2-lines', g.label)?.status, 'PASS', `cat-raw bar in ${g.label}`)
  t.equal(find('cat-json ≥ 1× split2-lines', 'short 1 GiB')?.status, 'MISS', '0.75× misses')
  t.equal(find('framing-parallel ≥ 1.7× framing', 'short 1 GiB')?.status, 'N/A', 'a scenario not there yet is N/A')
  t.equal(find('sql-load-sqlite ≥ 0.5× sqlite-insert-rows', 'default 200 MB')?.status, 'PASS')
  t.equal(find('sql-load-sqlite ≥ 0.5× sqlite-insert-rows', 'short 200 MB')?.status, 'N/A', 'in scope at the smallest size, its baseline ran, it did not')
  t.equal(find('sql-load-sqlite ≥ 0.5× sqlite-insert-rows', 'default 1 GiB'), undefined, 'not checked at 1 GiB: it does not run there')
  t.equal(find(RSS_BAR, 'default 200 MB'), undefined, 'RSS on the largest size only')
  t.equal(find(RSS_BAR, 'short 1 GiB')?.status, 'PASS')
  t.equal(find(SCALE_BAR, 'default 1 GiB')?.status, 'PASS')
  t.equal(find(SCALE_BAR, 'short 200 MB'), undefined)
  t.equal(find(FOLLOW_BAR, 'default 200 MB')?.status, 'PASS')
  t.equal(bars.filter((b) => b.bar === FOLLOW_BAR).length, 1, 'follow latency once')
  t.same(
    [...new Set(bars.map((b) => b.bar))],
    BAR_NAMES.filter((n) => bars.some((b) => b.bar === n)),
    'bar by bar, in report order',
  )
  const oneSize = checkBars([group('short 2 MB', rows(2e6), 2e6)])
  t.equal(
    oneSize.find((b) => b.bar === SCALE_BAR),
    undefined,
    'no scale bar with one size',
  )
  t.equal(oneSize.find((b) => b.bar === RSS_BAR)?.status, 'PASS', 'the RSS bar on the only size')
  t.equal(
    oneSize.find((b) => b.bar.startsWith('sql-load-sqlite')),
    undefined,
    'a bar neither of whose scenarios ran (--only) is left out',
  )
  t.equal(
    checkBars(groups, { scale: false }).find((b) => b.bar === SCALE_BAR),
    undefined,
    '--no-scale',
  )

  const matrix = formatBarMatrix(
    bars,
    groups.map((g) => g.label),
  )
  t.match(matrix, /^\| bar \| default 200 MB \| default 1 GiB \| short 200 MB \| short 1 GiB \|\n\|---\|---\|---\|---\|---\|\n/)
  t.match(matrix, /\| cat-raw ≥ 2× split2-lines \| PASS 2\.05× \| PASS 2\.05× \| PASS 2\.05× \| PASS 2\.05× \|/)
  t.match(matrix, /\| sql-load-sqlite ≥ 0\.5× sqlite-insert-rows \| PASS 0\.67× \| · \| N\/A \| · \|/)
  t.match(formatBars(bars), /^PASS +framing ≥ 2× split2-lines +default 200 MB +2\.50× /m)
  t.equal(formatBars([]), '(no bar applies to the scenarios run)\n')
  t.equal(mb(GiB), '1 GiB')
  t.equal(mb(200e6), '200 MB')
  t.equal(ratioBarName(bar('cat-json')), 'cat-json ≥ 1× split2-lines')
})

t.test('scopes: SQL and jetstream-publish at the smallest size, latency once, the rest everywhere', async (t) => {
  t.ok(inScope(spec('framing'), 1, false))
  t.ok(inScope(spec('sql-load-sqlite'), 0, false))
  t.notOk(inScope(spec('sql-load-sqlite'), 1, false))
  t.notOk(inScope(spec('jetstream-publish'), 1, false))
  t.ok(inScope(spec('follow-latency'), 0, true))
  t.notOk(inScope(spec('follow-latency'), 0, false), 'latency runs on the first data set only')
})

const parts: ReportParts = {
  header: ['logdaemon benchmarks, default profile: …', 'AMD EPYC, 2 cores'],
  sections: [
    { title: 'default profile, 200 MB: 3 runs', table: '| scenario |\n|---|\n| framing |\n', notes: '- follow-latency: p99 4 ms\n' },
    { title: 'short profile, 200 MB: 3 runs', table: '| scenario |\n|---|\n| framing |\n', notes: '' },
  ],
  bars: 'PASS  framing ≥ 2× split2-lines  default 200 MB  2.5×\n',
  matrix: '| bar | default 200 MB |\n|---|---|\n| framing ≥ 2× split2-lines | PASS 2.50× |\n',
  problems: [],
  machine: 'AMD EPYC, 2 cores, Node v20',
  data: 'generated checkpoints of 200 MB and 1 GiB',
}

t.test('the docs block has every table and the bars; the README block is short and links the docs', async (t) => {
  const date = new Date('2026-12-02T01:50:00Z')
  const docs = renderBlock(parts, 'npm run bench', date)
  t.match(docs, /^Written by `npm run bench` on 2026-12-02 01:50 UTC\.\n/)
  t.match(docs, /### default profile, 200 MB: 3 runs\n\n\| scenario \|[\s\S]*- follow-latency: p99 4 ms\n\n### short profile, 200 MB: 3 runs/)
  t.match(docs, /### Bars\n\n\| bar \|[\s\S]*```text\nPASS {2}framing[\s\S]*\n```$/)
  const readme = renderReadmeBlock(parts, 'npm run bench', date)
  t.match(readme, /\[docs\/benchmarks\.md\]\(docs\/benchmarks\.md\)/)
  t.match(readme, /\| framing ≥ 2× split2-lines \| PASS 2\.50× \|$/)
  t.notMatch(readme, /### /, 'no per-scenario tables in the README')
  t.notMatch(readme, /wrong output/)
  t.match(renderReadmeBlock({ ...parts, problems: ['x'] }, 'npm run bench', date), /1 scenario\(s\) produced wrong output/)
  t.match(renderBlock({ ...parts, problems: ['short 2 MB: framing counted 1 records'] }, 'c', date), /ERROR: short 2 MB: framing counted 1 records\n```$/)

  // The README block of a full run fits the README's 15 KiB with room to spare: 16 bars × 4 data sets, long cells.
  const labels = ['default 200 MB', 'default 1 GiB', 'short 200 MB', 'short 1 GiB']
  const many = BAR_NAMES.flatMap((name) => labels.map((g) => ({ bar: name, group: g, status: 'MISS' as const, measured: '', value: '−12.3 % / +14.9 %' })))
  const big = renderReadmeBlock({ ...parts, matrix: formatBarMatrix(many, labels) }, 'npm run bench', date)
  t.ok(Buffer.byteLength(big) < 3500, `a full README block is ${Buffer.byteLength(big)} bytes`)
})

t.test('marked blocks: only the text between the markers changes; missing, doubled or reversed markers are refused', async (t) => {
  const dir = t.testdir()
  const page = join(dir, 'README.md')
  writeFileSync(page, `# Title\n\nProse.\n\n${README_START}\nold\n${README_END}\n\nMore.\n`)
  await writeMarkedBlock(page, 'new block', README_START, README_END)
  t.equal(readFileSync(page, 'utf8'), `# Title\n\nProse.\n\n${README_START}\nnew block\n${README_END}\n\nMore.\n`)
  await writeMarkedBlock(page, 'again', README_START, README_END)
  t.equal(readFileSync(page, 'utf8'), `# Title\n\nProse.\n\n${README_START}\nagain\n${README_END}\n\nMore.\n`, 'idempotent around the markers')
  for (const bad of [
    '# no markers\n',
    `${README_END}\nx\n${README_START}\n`,
    `${README_START}\n${README_START}\nx\n${README_END}\n`,
    `${README_START}\nx\n${README_END}\n${README_END}\n`,
  ]) {
    writeFileSync(page, bad)
    await t.rejects(writeMarkedBlock(page, 'x', README_START, README_END), /needs the markers <!-- bench:readme:start -->/)
    t.equal(readFileSync(page, 'utf8'), bad, 'left alone')
  }
  const docs = join(dir, 'docs.md')
  writeFileSync(docs, '<!-- bench:results:start -->\n<!-- bench:results:end -->\n')
  await writeMarkedBlock(docs, 'tables')
  t.equal(readFileSync(docs, 'utf8'), '<!-- bench:results:start -->\ntables\n<!-- bench:results:end -->\n', 'the docs markers by default')
})

t.test("the repository's README and docs page have their markers once", async (t) => {
  const root = new URL('../../', import.meta.url)
  const readme = readFileSync(new URL('README.md', root), 'utf8')
  t.equal(readme.split(README_START).length, 2)
  t.equal(readme.split(README_END).length, 2)
  const docs = readFileSync(new URL('docs/benchmarks.md', root), 'utf8')
  t.equal(docs.split('<!-- bench:results:start -->').length, 2)
})
