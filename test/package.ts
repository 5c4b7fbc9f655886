// What `npm pack` ships: the built library and bins, the docs the README
// links, the examples (the systemd unit) and the ISA-L addon's C source; no
// benchmarks, tests or TypeScript sources.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const distSkip = existsSync(`${ROOT}dist/lib/index.js`) ? false : 'dist/ is missing: run npm run build'

t.test('npm pack --dry-run ships dist without benchmarks, plus docs and examples', { skip: distSkip }, async (t) => {
  // --ignore-scripts: the build already ran; prepare would only rebuild it.
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const [pack] = JSON.parse(out) as { files: { path: string }[] }[]
  const files = pack!.files.map((f) => f.path).sort()
  const top = new Set(files.map((f) => (f.startsWith('dist/') ? f.split('/').slice(0, 2).join('/') : f.split('/')[0]!)))
  t.same([...top].sort(), ['LICENSE', 'README.md', 'dist/bin', 'dist/lib', 'docs', 'examples', 'native', 'package.json'], 'what the tarball holds, by folder')
  t.same(
    files.filter((f) => f.startsWith('native/')),
    ['native/isal/binding.gyp', 'native/isal/index.cjs', 'native/isal/package.json', 'native/isal/src/isal_inflate.c'],
    'the optional ISA-L addon as sources, never a build of it',
  )
  t.ok(files.includes('examples/logdaemon.service'), 'the systemd unit')
  t.ok(
    files.some((f) => /^docs\/.+\.md$/.test(f)),
    'the docs',
  )
  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as {
    bin: Record<string, string>
    exports: Record<string, string | { default: string; types: string }>
  }
  for (const bin of Object.values(pkg.bin)) t.ok(files.includes(bin.replace(/^\.\//, '')), `bin ${bin}`)
  for (const [key, target] of Object.entries(pkg.exports)) {
    for (const path of typeof target === 'string' ? [target] : [target.default, target.types])
      t.ok(files.includes(path.replace(/^\.\//, '')), `${key}: ${path}`)
  }
  t.ok(files.includes('dist/lib/status/status-page-client.js'), 'the browser client (built by its own tsconfig)')
  t.notOk(
    files.some((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts')),
    'no TypeScript sources',
  )
})

t.test('split2 is only a benchmark baseline: a devDependency, used by nothing that ships', async (t) => {
  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> }
  t.notOk('split2' in pkg.dependencies)
  t.ok('split2' in pkg.devDependencies)
  if (distSkip) return
  const shipped = readdirSync(`${ROOT}dist`, { recursive: true, encoding: 'utf8' }).filter((f) => /^(lib|bin)\/.*\.js$/.test(f))
  t.ok(shipped.length > 50, 'the built files are there')
  t.same(
    shipped.filter((f) => /from ['"]split2['"]|import\(['"]split2['"]\)/.test(readFileSync(`${ROOT}dist/${f}`, 'utf8'))),
    [],
    'no shipped file imports split2',
  )
})
