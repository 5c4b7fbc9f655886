import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import { fixturesSkip, readFixture } from './helpers/fixtures.js'

// The examples of the README and of every page in docs/ are run as written:
// every ```js block as an ES module (with `from 'logdaemon'` and its subpaths
// pointed at the build), every ```sh block with the bins on PATH, in a
// directory holding the files they name. The blocks of one page run in order
// in one directory (a later block may use what an earlier one wrote); each
// page gets its own. ```console blocks are for reading only (installs,
// long-running commands), and so are ```json and ```ini.

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const DIST = {
  logdaemon: pathToFileURL(`${ROOT}dist/lib/index.js`).href,
  'logdaemon/daemon': pathToFileURL(`${ROOT}dist/lib/daemon/index.js`).href,
  'logdaemon/sim': pathToFileURL(`${ROOT}dist/lib/sim/index.js`).href,
}

interface Block {
  lang: 'js' | 'sh'
  code: string
}

const blocksOf = (text: string): Block[] =>
  [...text.matchAll(/^```(js|sh)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1] as Block['lang'], code: m[2] as string }))

const PAGES = [
  'README.md',
  ...readdirSync(`${ROOT}docs`)
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
]
const readme = readFileSync(`${ROOT}README.md`, 'utf8')

const distSkip = existsSync(`${ROOT}dist/lib/index.js`) ? false : 'dist/ is missing: run npm run build'

t.test('the README has runnable examples and the two commands', async (t) => {
  const blocks = blocksOf(readme)
  t.ok(
    blocks.some((b) => b.lang === 'js'),
    'js examples',
  )
  t.ok(
    blocks.some((b) => b.lang === 'sh'),
    'sh examples',
  )
  t.match(readme, /npm install && npm run demo/)
  t.match(readme, /npm test/)
  t.ok(Buffer.byteLength(readme) <= 15 * 1024, `the README stays short (${Buffer.byteLength(readme)} bytes); reference goes to docs/`)
})

t.test('every relative link of the README and the docs names a file that exists', async (t) => {
  for (const page of PAGES) {
    const text = readFileSync(`${ROOT}${page}`, 'utf8')
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target as string)) continue
      const file = join(ROOT, dirname(page), target as string)
      t.ok(existsSync(file), `${page} links ${target} (${relative(ROOT, file)})`)
    }
  }
})

t.test('the examples of every page run', { skip: distSkip || fixturesSkip }, async (t) => {
  // The files the examples name: an archived journal (plain and gz), the
  // live journal (empty, as just after a rotation), a checkpoint (plain and gz).
  const ckp = readFixture('checkpoint-2014.ckp')
  const jnl = readFixture('journal-2014-win1252.jnl')
  const files = {
    'journal.12.gz': gzipSync(jnl),
    'journal.12': jnl,
    journal: '',
    'checkpoint.13': ckp,
    'checkpoint.13.gz': gzipSync(ckp),
  }
  for (const page of PAGES) {
    const blocks = blocksOf(readFileSync(`${ROOT}${page}`, 'utf8'))
    if (blocks.length === 0) continue
    await t.test(page, async (t) => {
      const dir = t.testdir({ ...files, bin: {} })
      for (const name of ['logdaemon', 'logdaemon-cat']) {
        writeFileSync(`${dir}/bin/${name}`, `#!/bin/sh\nexec "${process.execPath}" "${ROOT}dist/bin/${name}.js" "$@"\n`)
        chmodSync(`${dir}/bin/${name}`, 0o755)
      }
      const env = { ...process.env, PATH: `${dir}/bin:${process.env.PATH ?? ''}` }
      blocks.forEach((block, i) => {
        const first = block.code.split('\n')[0]
        if (block.lang === 'js') {
          const file = `${dir}/example-${i}.mjs`
          let code = block.code
          for (const [name, url] of Object.entries(DIST)) code = code.replaceAll(`from '${name}'`, `from '${url}'`)
          writeFileSync(file, code)
          const r = spawnSync(process.execPath, [file], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 })
          t.equal(r.status, 0, `js example ${i} (${first}) exits 0${r.stderr ? `: ${r.stderr}` : ''}`)
        } else {
          const r = spawnSync('bash', ['-euo', 'pipefail', '-c', block.code], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 })
          t.equal(r.status, 0, `sh example ${i} (${first}) exits 0${r.stderr ? `: ${r.stderr}` : ''}`)
        }
      })
    })
  }
})
