/**
 * Every benchmark scenario, run by the real runner on a tiny input, once:
 * the benchmarks cannot rot. Checks that each scenario produced a row with
 * positive numbers and that every scenario that frames records counted the
 * generator's records (so they cross-check each other). No timing is
 * asserted: this machine's speed is nobody's business here.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SCENARIOS } from '../../benchmarks/harness/catalog.js'
import { builtSkip, RUN, type Group, type Results } from '../helpers/bench-results.js'
import { natsSkip } from '../helpers/nats.js'

/** Scenarios another change adds: skipped, with the reason, until their script or flag is there. */
const PENDING = /^(framing-parallel|for-await-reader|for-await-source|cat-json-1thread)$/

/** This file checks the default profile; run-short.ts sets LOGDAEMON_BENCH_TEST_PROFILE to check the short one (each file has its own time limit). */
const PROFILE = process.env.LOGDAEMON_BENCH_TEST_PROFILE === 'short' ? 'short' : 'default'

async function runner(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [RUN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
  const [code] = (await once(child, 'close')) as [number | null]
  return { code, stdout, stderr }
}

t.test(`every scenario runs on 2 MB of the ${PROFILE} profile and the framing scenarios agree on the record count`, { skip: builtSkip }, async (t) => {
  const dir = t.testdir()
  const out = join(dir, 'bench-results.json')
  const page = join(dir, 'benchmarks.md')
  const readme = join(dir, 'README.md')
  writeFileSync(page, '# Benchmarks\n\nProse.\n\n<!-- bench:results:start -->\nold numbers\n<!-- bench:results:end -->\n\nMore prose.\n')
  writeFileSync(readme, '# logdaemon\n\n## Speed\n\n<!-- bench:readme:start -->\nold bars\n<!-- bench:readme:end -->\n\n## Documentation\n')
  // The short profile: the scenarios that run on every data set (scope all); run.ts on the default profile runs the rest.
  const only =
    PROFILE === 'default'
      ? []
      : [
          '--only',
          SCENARIOS.filter((s) => (s.scope ?? 'all') === 'all')
            .map((s) => s.name)
            .join(','),
        ]
  const args = [
    '--size',
    '2MB',
    '--profile',
    PROFILE,
    ...only,
    '--runs',
    '1',
    '--verify',
    '--follow-samples',
    '10',
    '--data',
    join(dir, 'data'),
    '--out',
    out,
    '--docs',
    page,
    '--readme',
    readme,
  ]
  const { code, stdout, stderr } = await runner(args)
  t.equal(code, 0, `runner exits 0\n${stderr}`)
  t.match(stdout, /cores, Node v\d+/, 'names the machine and Node')
  t.match(stdout, new RegExp(`^## ${PROFILE} profile, 2 MB: 1 run\n\n\\| scenario +\\| kind +\\| +MB/s \\|`, 'm'), 'prints the table')
  t.match(stdout, /^bars:$/m, 'prints the bars')
  const doc = readFileSync(page, 'utf8')
  t.notMatch(doc, /old numbers/, 'the results block was rewritten')
  t.match(
    doc,
    /^# Benchmarks\n\nProse\.\n\n<!-- bench:results:start -->\nWritten by `npm run bench -- --size 2MB /,
    'with the command that measured it, after the prose before it',
  )
  t.match(
    doc,
    new RegExp(
      `### ${PROFILE} profile, 2 MB: 1 run\n\n\\| scenario +\\| kind +\\| +MB/s \\|[\\s\\S]*### Bars\n\n\\| bar \\| ${PROFILE} 2 MB \\|[\\s\\S]*\n\`\`\`\n<!-- bench:results:end -->\n\nMore prose\\.\n$`,
    ),
    'the table and the bars, then the prose after it',
  )
  const short = readFileSync(readme, 'utf8')
  t.notMatch(short, /old bars/, 'the README block was rewritten')
  t.match(
    short,
    new RegExp(
      `^# logdaemon\n\n## Speed\n\n<!-- bench:readme:start -->\nWritten by \`npm run bench -- --size 2MB [^\n]*\\[docs/benchmarks\\.md\\]\\(docs/benchmarks\\.md\\)\\.\n\n\\| bar \\| ${PROFILE} 2 MB \\|\n`,
    ),
  )
  t.match(short, /\| cat-raw ≥ 2× split2-lines \| (PASS|MISS) \d+\.\d\d× \|\n/, 'headline ratios with verdicts')
  t.notMatch(short, /\| scenario /, 'no full table in the README')
  t.match(short, /<!-- bench:readme:end -->\n\n## Documentation\n$/)

  const results = JSON.parse(readFileSync(out, 'utf8')) as Results
  t.same(results.problems, [], 'no count problems')
  t.same(
    results.groups.map((g) => g.label),
    [`${PROFILE} 2 MB`],
    'one data set',
  )
  for (const g of results.groups) {
    const { data } = g
    t.ok(data.bytes >= 2e6 && data.records > 0 && data.gzBytes > 0, `${g.label}: data was generated`)
    const rows = new Map(g.scenarios.map((r) => [r.name, r]))
    const first = g === results.groups[0]
    for (const spec of SCENARIOS) {
      const row = rows.get(spec.name)
      if (PROFILE !== 'default' && (spec.scope ?? 'all') !== 'all') continue
      if (spec.scope === 'once' && !first) {
        t.notOk(row, `${g.label} ${spec.name}: runs on the first data set only`)
        continue
      }
      if (!row) {
        t.fail(`${g.label} ${spec.name}: no row`)
        continue
      }
      if (row.skipped) {
        // Only the optional native inflater, PostgreSQL where Debian's postgresql is not installed, nats-server where it is not installed, and what other changes add may be missing.
        if (PENDING.test(spec.name)) t.match(row.skipped, /is not there yet|has no --threads option yet/, `${spec.name} skipped: ${row.skipped}`)
        else t.match(spec.name, natsSkip ? /zlib-sync|postgres|jetstream-/ : /zlib-sync|postgres/, `${spec.name} skipped: ${row.skipped}`)
        continue
      }
      t.ok(row.medianMs > 0, `${g.label} ${spec.name}: time`)
      t.ok(row.peakRssMB > 0, `${g.label} ${spec.name}: peak RSS`)
      if (spec.measures === 'throughput') {
        t.equal(row.bytes, data.bytes, `${g.label} ${spec.name}: every byte`)
        t.ok(row.mbPerSec > 0, `${g.label} ${spec.name}: MB/s`)
        if (row.unit !== 'bytes') t.ok((row.recordsPerSec ?? 0) > 0, `${g.label} ${spec.name}: per second`)
      }
      if (spec.counts === 'records') t.equal(row.records, data.records, `${g.label} ${spec.name}: every record`)
    }

    const lines = SCENARIOS.filter((s) => s.counts === 'lines').map((s) => rows.get(s.name)?.records)
    t.ok(
      lines.every((n) => n === lines[0]),
      `${g.label}: line counters agree`,
    )
    t.ok((lines[0] ?? 0) > data.records, `${g.label}: some records span several lines`)
  }
  const [only1] = results.groups as [Group]
  for (const b of results.bars) t.match(b.status, /^(PASS|MISS|N\/A)$/, `${b.bar} (${b.group}): ${b.status}`)
  for (const b of results.bars.filter((x) => /^(framing-parallel|for-await-reader|for-await-source) /.test(x.bar))) {
    const row = only1.scenarios.find((r) => b.bar.startsWith(`${r.name} `))
    if (row?.skipped) t.equal(b.status, 'N/A', `${b.bar} (${b.group}): a scenario not there yet is never a pass`)
  }
  if (PROFILE !== 'default') return

  const rows = new Map(only1.scenarios.map((r) => [r.name, r]))
  const follow = rows.get('follow-latency')
  t.ok(follow && follow.extra.samples === 10, 'follow latency measured every append')
  const p50 = follow?.extra.p50Ms ?? 0
  const p99 = follow?.extra.p99Ms ?? 0
  t.ok(p50 > 0 && p99 >= p50, 'follow latency percentiles')
  t.ok(follow && follow.extra.idleCpuPercent !== undefined && follow.extra.idleCpuPercent >= 0, 'idle CPU measured')

  const fanOut = rows.get('jetstream-latency')
  if (!natsSkip)
    t.ok(fanOut && fanOut.extra.samples === 10 && (fanOut.extra.p99Ms ?? 0) >= (fanOut.extra.p50Ms ?? 0), 'jetstream latency measured every append')

  t.ok(
    results.bars.some((b) => b.bar.startsWith('cat-raw-gz ≥ 0.8× cat-raw')),
    'the gz bars are checked',
  )
})
