/**
 * benchmarks/generate.ts: the --profile option and its errors, in process.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateFile, main } from '../../benchmarks/generate.js'

function io() {
  const out = { stdout: '', stderr: '' }
  return {
    out,
    io: {
      stdout: {
        write(s: string) {
          out.stdout += s
          return true
        },
      },
      stderr: {
        write(s: string) {
          out.stderr += s
          return true
        },
      },
    },
  }
}

t.test('--profile short writes the short profile; default is the default', async (t) => {
  const dir = t.testdir()
  const a = io()
  t.equal(await main(['--size', '200KB', '--out', join(dir, 's.ckp'), '--profile', 'short', '--json'], a.io), 0, a.out.stderr)
  const r = JSON.parse(a.out.stdout) as { profile: string; bytes: number; records: number }
  t.equal(r.profile, 'short')
  const b = io()
  t.equal(await main(['--size', '200KB', '--out', join(dir, 'd.ckp')], b.io), 0)
  t.match(b.out.stdout, /checkpoint \(default profile\), \d+ bytes/)
  const short = readFileSync(join(dir, 's.ckp'))
  const byDefault = readFileSync(join(dir, 'd.ckp'))
  t.notOk(short.equals(byDefault), 'other bytes')
  t.ok(r.records > 0 && r.bytes === short.length)
  const j = io()
  t.equal(await main(['--size', '50KB', '--out', join(dir, 'j.jnl'), '--kind', 'journal'], j.io), 0)
  t.match(j.out.stdout, /wrote \S+: journal, \d+ bytes/, 'a journal names no profile')
})

t.test('a bad profile is a usage error; journals have no profile', async (t) => {
  const dir = t.testdir()
  const bad = io()
  t.equal(await main(['--size', '1KB', '--out', join(dir, 'x'), '--profile', 'tiny'], bad.io), 2)
  t.match(bad.out.stderr, /--profile must be default or short, got tiny/)
  const journal = io()
  t.equal(await main(['--size', '1KB', '--out', join(dir, 'x'), '--kind', 'journal', '--profile', 'short'], journal.io), 2)
  t.match(journal.out.stderr, /--profile is for checkpoints/)
  await t.rejects(generateFile({ out: join(dir, 'y'), size: 10, profile: 'tiny' as 'short' }), /profile must be default or short, got tiny/)
  await t.rejects(generateFile({ out: join(dir, 'y'), size: 10, kind: 'journal', profile: 'short' }), /a journal has no profile/)
})
