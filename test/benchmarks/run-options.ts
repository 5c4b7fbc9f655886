/**
 * The runner's options on tiny inputs: several sizes (the scale bar, the
 * scopes, runs per size), the marked blocks it refuses to invent, usage
 * errors. Every scenario on both profiles: run.ts. No timing is asserted.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SCENARIOS } from '../../benchmarks/harness/catalog.js'
import { builtSkip, RUN, type Group, type Results } from '../helpers/bench-results.js'

async function runner(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [RUN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
  const [code] = (await once(child, 'close')) as [number | null]
  return { code, stdout, stderr }
}

t.test(
  'two profiles, two sizes: the scale bar compares them, SQL runs at the smaller only, runs per size, the README matrix',
  { skip: builtSkip },
  async (t) => {
    const dir = t.testdir()
    const out = join(dir, 'out.json')
    const readme = join(dir, 'README.md')
    writeFileSync(readme, '# x\n\n<!-- bench:readme:start -->\n<!-- bench:readme:end -->\n')
    const only = 'split2-lines,framing,cat-raw,sqlite-insert-rows,sql-load-sqlite'
    const { code, stderr } = await runner(['--size', '2MB,1MB', '--runs', '2,1', '--only', only, '--data', join(dir, 'data'), '--out', out, '--readme', readme])
    t.equal(code, 0, stderr)
    const results = JSON.parse(readFileSync(out, 'utf8')) as Results
    t.same(results.settings.sizes, [1e6, 2e6], 'sizes ascending')
    t.same(results.settings.runs, [2, 1], 'runs follow the sizes as given')
    t.same(results.settings.profiles, ['default', 'short'], 'both profiles by default')
    t.same(
      results.groups.map((g) => g.label),
      ['default 1 MB', 'default 2 MB', 'short 1 MB', 'short 2 MB'],
    )
    t.match(
      readFileSync(readme, 'utf8'),
      /\| bar \| default 1 MB \| default 2 MB \| short 1 MB \| short 2 MB \|\n\|---\|---\|---\|---\|---\|\n/,
      'a column per data set',
    )
    t.ok(
      results.bars.some((b) => b.bar.startsWith('rate −15 %') && b.group === 'default 2 MB'),
      'a scale bar per profile',
    )
    const [small, large] = results.groups.slice(2) as [Group, Group]
    t.ok(
      small.scenarios.some((r) => r.name === 'sql-load-sqlite'),
      'SQL at the smallest size',
    )
    t.notOk(
      large.scenarios.some((r) => r.name === 'sql-load-sqlite'),
      'and not at the larger',
    )
    const scale = results.bars.find((b) => b.bar.startsWith('rate −15 %') && b.group === 'short 2 MB')
    t.match(scale?.measured ?? '', /2 scenarios, 1 MB → 2 MB/, 'framing and cat-raw: ours at both sizes')
    const rss = results.bars.find((b) => b.bar.startsWith('peak RSS') && b.group === 'short 2 MB')
    t.match(rss?.measured ?? '', /of 3 scenarios/, 'the RSS bar counts sql-load-sqlite from the smaller size')
    t.same(
      results.bars.filter((b) => b.bar.startsWith('sql-load-sqlite')).map((b) => b.group),
      ['default 1 MB', 'short 1 MB'],
      'the SQL bar where it ran',
    )
  },
)

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
  t.equal((await runner(['--readme', 'x.md', '--no-docs'])).code, 2)
  t.match((await runner(['--profile', 'tiny'])).stderr, /--profile takes default, short/)
  t.match((await runner(['--size', '1MB,2MB', '--runs', '1,2,3'])).stderr, /--runs takes one number or one per size \(2\)/)
  t.match((await runner(['--size', '1MB,1MB'])).stderr, /names a size twice/)
  t.match((await runner(['--size', '0'])).stderr, /--size must be above 0/)
  const list = await runner(['--list'])
  t.equal(list.code, 0)
  for (const s of SCENARIOS) t.match(list.stdout, s.name)
  const help = await runner(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /--quick/)
})
