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
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SCENARIOS } from '../../benchmarks/harness/catalog.js'
import { natsSkip } from '../helpers/nats.js'

const RUN = fileURLToPath(new URL('../../dist/benchmarks/run.js', import.meta.url))
const builtSkip = existsSync(RUN) ? false : `runner not built at ${RUN}: run npm run build`

interface ResultRow {
  name: string
  label: string
  kind: string
  skipped: string | null
  bytes: number
  records: number | null
  unit: string
  medianMs: number
  mbPerSec: number
  recordsPerSec: number | null
  peakRssMB: number
  extra: Record<string, number>
}

interface Results {
  data: { bytes: number; records: number; gzBytes: number }
  scaleData: { bytes: number; records: number } | null
  scenarios: ResultRow[]
  bars: { bar: string; status: string; measured: string }[]
  problems: string[]
}

async function runner(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [RUN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
  const [code] = (await once(child, 'close')) as [number | null]
  return { code, stdout, stderr }
}

t.test('every scenario runs on 2 MB and the framing scenarios agree on the record count', { skip: builtSkip }, async (t) => {
  const dir = t.testdir()
  const out = join(dir, 'bench-results.json')
  const page = join(dir, 'benchmarks.md')
  writeFileSync(page, '# Benchmarks\n\nProse.\n\n<!-- bench:results:start -->\nold numbers\n<!-- bench:results:end -->\n\nMore prose.\n')
  const args = [
    '--size',
    '2MB',
    '--scale-size',
    '1MB',
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
  ]
  const { code, stdout, stderr } = await runner(args)
  t.equal(code, 0, `runner exits 0\n${stderr}`)
  t.match(stdout, /cores, Node v\d+/, 'names the machine and Node')
  t.match(stdout, /\| scenario +\| kind +\| +MB\/s \|/, 'prints the table')
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
    /\| scenario +\| kind +\| +MB\/s \|[\s\S]*^bars:$[\s\S]*\n```\n<!-- bench:results:end -->\n\nMore prose\.\n$/m,
    'the table and the bars, then the prose after it',
  )

  const results = JSON.parse(readFileSync(out, 'utf8')) as Results
  t.same(results.problems, [], 'no count problems')
  const { data } = results
  t.ok(data.bytes >= 2e6 && data.records > 0 && data.gzBytes > 0, 'data was generated')
  const rows = new Map(results.scenarios.filter((r) => r.label === r.name).map((r) => [r.name, r]))

  for (const spec of SCENARIOS) {
    const row = rows.get(spec.name)
    if (!row) {
      t.fail(`${spec.name}: no row`)
      continue
    }
    if (row.skipped) {
      // Only the optional native inflater, PostgreSQL where Debian's postgresql is not installed, and nats-server where it is not installed, may be missing.
      t.match(spec.name, natsSkip ? /zlib-sync|postgres|jetstream-/ : /zlib-sync|postgres/, `${spec.name} skipped: ${row.skipped}`)
      continue
    }
    t.ok(row.medianMs > 0, `${spec.name}: time`)
    t.ok(row.peakRssMB > 0, `${spec.name}: peak RSS`)
    if (spec.measures === 'throughput') {
      t.equal(row.bytes, data.bytes, `${spec.name}: every byte`)
      t.ok(row.mbPerSec > 0, `${spec.name}: MB/s`)
      if (row.unit !== 'bytes') t.ok((row.recordsPerSec ?? 0) > 0, `${spec.name}: per second`)
    }
    if (spec.counts === 'records') t.equal(row.records, data.records, `${spec.name}: every record`)
  }

  const lines = SCENARIOS.filter((s) => s.counts === 'lines').map((s) => rows.get(s.name)?.records)
  t.ok(
    lines.every((n) => n === lines[0]),
    'line counters agree',
  )
  t.ok((lines[0] ?? 0) > data.records, 'some records span several lines')

  const follow = rows.get('follow-latency')
  t.ok(follow && follow.extra.samples === 10, 'follow latency measured every append')
  const p50 = follow?.extra.p50Ms ?? 0
  const p99 = follow?.extra.p99Ms ?? 0
  t.ok(p50 > 0 && p99 >= p50, 'follow latency percentiles')
  t.ok(follow && follow.extra.idleCpuPercent !== undefined && follow.extra.idleCpuPercent >= 0, 'idle CPU measured')

  const fanOut = rows.get('jetstream-latency')
  if (!natsSkip)
    t.ok(fanOut && fanOut.extra.samples === 10 && (fanOut.extra.p99Ms ?? 0) >= (fanOut.extra.p50Ms ?? 0), 'jetstream latency measured every append')

  const scaled = results.scenarios.filter((r) => r.label !== r.name)
  t.ok(scaled.length > 0, 'the scale check ran')
  for (const r of scaled) if (!r.skipped && r.kind === 'ours') t.equal(r.records, results.scaleData?.records, `${r.label}: every record`)

  t.equal(results.bars.length, 10, 'all ten bars are reported')
  for (const b of results.bars) t.match(b.status, /^(PASS|MISS|N\/A)$/, `${b.bar}: ${b.status}`)
})

t.test('a page without the results markers is left alone and the run fails', { skip: builtSkip }, async (t) => {
  const dir = t.testdir({ 'benchmarks.md': '# Benchmarks\n\nno markers here\n' })
  const page = join(dir, 'benchmarks.md')
  const args = ['--size', '1MB', '--runs', '1', '--only', 'framing', '--data', join(dir, 'data'), '--out', join(dir, 'out.json'), '--docs', page]
  const { code, stderr } = await runner(args)
  t.equal(code, 1)
  t.match(stderr, /needs the markers <!-- bench:results:start -->/)
  t.equal(readFileSync(page, 'utf8'), '# Benchmarks\n\nno markers here\n', 'unchanged')
})

t.test('usage errors exit 2; --list and --help exit 0', { skip: builtSkip }, async (t) => {
  const bad = await runner(['--only', 'no-such-scenario'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /no scenario no-such-scenario/)
  t.equal((await runner(['--quick', '--size', '1MB'])).code, 2)
  t.equal((await runner(['--docs', 'x.md', '--no-docs'])).code, 2)
  const list = await runner(['--list'])
  t.equal(list.code, 0)
  for (const s of SCENARIOS) t.match(list.stdout, s.name)
  const help = await runner(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /--quick/)
})
