import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import { fixturesSkip, readFixture } from './helpers/fixtures.js'

// The README's examples are run as written: every ```js block as an ES
// module (with `from 'logdaemon'` pointed at the build), every ```sh block
// with the bins on PATH, in a directory holding the files they name.
// ```console blocks are for reading only (installs, long-running commands).

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const DIST_INDEX = pathToFileURL(`${ROOT}dist/lib/index.js`).href
const DIST_DAEMON = pathToFileURL(`${ROOT}dist/lib/daemon/index.js`).href
const DIST_SIM = pathToFileURL(`${ROOT}dist/lib/sim/index.js`).href
const readme = readFileSync(`${ROOT}README.md`, 'utf8')
const blocks = [...readme.matchAll(/^```(js|sh)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, code: m[2]! }))

const distSkip = existsSync(`${ROOT}dist/lib/index.js`) ? false : 'dist/ is missing: run npm run build'

t.test('the README has runnable examples', async (t) => {
  t.ok(blocks.some((b) => b.lang === 'js'), 'js examples')
  t.ok(blocks.some((b) => b.lang === 'sh'), 'sh examples')
  t.match(readme, /npm install && npm run demo/)
  t.match(readme, /npm test/)
})

t.test('README examples run', { skip: distSkip || fixturesSkip }, async (t) => {
  const dir = t.testdir({ bin: {} })
  // The files the examples name: an archived gz journal, a live journal, a checkpoint.
  const ckp = readFixture('checkpoint-2014.ckp')
  writeFileSync(`${dir}/journal.12.gz`, gzipSync(readFixture('journal-2014-win1252.jnl')))
  writeFileSync(`${dir}/journal.12`, readFixture('journal-2014-win1252.jnl'))
  writeFileSync(`${dir}/checkpoint.13`, ckp)
  writeFileSync(`${dir}/checkpoint.13.gz`, gzipSync(ckp))
  for (const name of ['logdaemon', 'logdaemon-cat']) {
    writeFileSync(`${dir}/bin/${name}`, `#!/bin/sh\nexec "${process.execPath}" "${ROOT}dist/bin/${name}.js" "$@"\n`)
    chmodSync(`${dir}/bin/${name}`, 0o755)
  }
  const env = { ...process.env, PATH: `${dir}/bin:${process.env.PATH ?? ''}` }
  blocks.forEach((block, i) => {
    const first = block.code.split('\n')[0]
    if (block.lang === 'js') {
      const file = `${dir}/example-${i}.mjs`
      writeFileSync(file, block.code
        .replaceAll(`from 'logdaemon'`, `from '${DIST_INDEX}'`)
        .replaceAll(`from 'logdaemon/daemon'`, `from '${DIST_DAEMON}'`)
        .replaceAll(`from 'logdaemon/sim'`, `from '${DIST_SIM}'`))
      const r = spawnSync(process.execPath, [file], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 })
      t.equal(r.status, 0, `js example ${i} (${first}) exits 0${r.stderr ? `: ${r.stderr}` : ''}`)
    } else {
      const r = spawnSync('bash', ['-euo', 'pipefail', '-c', block.code], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 })
      t.equal(r.status, 0, `sh example ${i} (${first}) exits 0${r.stderr ? `: ${r.stderr}` : ''}`)
    }
  })
})
