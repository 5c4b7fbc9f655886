import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { Daemon } from '../../lib/daemon/daemon.js'
import { parseConfig } from '../../lib/daemon/config.js'
import { checkConfig } from '../../lib/cli/check.js'
import type { Listener } from '../../lib/listeners/listener.js'

// `logdaemon run` and `check` take no --from: where a message says how to choose a start,
// it names the configuration's `from` key (an adversarial probe found --from N advice there).

const listener = (): Listener => ({ name: 'x', isHandled: () => true, listen() {}, noData() {}, close() {} })

async function startError(dir: string, extra: Record<string, unknown>): Promise<Error & { code?: string }> {
  const config = await parseConfig({ server: { root: 'root' }, status: false, listeners: [{ type: 'print' }], ...extra }, { baseDir: dir })
  const d = new Daemon(config, { logger: pino({ level: 'silent' }), listeners: [listener()] })
  const err = await d.start().then(
    () => null,
    (e: unknown) => e as Error,
  )
  await d.stop().catch(() => {})
  if (!err) throw new Error('expected the daemon not to start')
  return err
}

t.test('the daemon and check advise the from key of the configuration, not an option run lacks', async (t) => {
  const dir = t.testdir({
    root: { 'journal.4': '@ex@ 1 2\n', journal: '' },
    'garbage.json': '{"format":"logdaemon-state",',
    'adir.json': {},
  })
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ['a state file that is not JSON', { state: 'garbage.json', from: 4 }, 'ERR_STATE_CORRUPT', /`from: N` in the configuration .* `from: "end"`/],
    ['a state file that is a directory', { state: 'adir.json', from: 4 }, 'ERR_STATE_CORRUPT', /`from: N` in the configuration .* `from: "end"`/],
    ['from past the live journal', { from: 9 }, 'ERR_JOURNAL_NUMBER', /^`from: 9`: the live journal is journal 5 .* `from: N` .* `from: "end"`$/],
    ['no start', {}, 'ERR_NO_START', /`from: N` .* `from: "end"`/],
  ]
  for (const [what, extra, code, words] of cases) {
    const err = await startError(dir, extra)
    t.equal(err.code, code, what)
    t.match(err.message, words, what)
    t.notMatch(err.message, /--from|--root|--prefix/, `${what}: run takes no such option`)
  }
  const checks: [string, string][] = [
    ['c1.json', 'garbage.json'],
    ['c2.json', 'adir.json'],
  ]
  for (const [name, state] of checks) {
    writeFileSync(join(dir, name), JSON.stringify({ server: { root: 'root' }, from: 4, state, status: false, listeners: [{ type: 'print' }] }))
    const r = await checkConfig(join(dir, name))
    t.match(r.problems, [/`from: N` in the configuration to read journal N from its start, `from: "end"` to follow only new records/], `check: ${state}`)
    t.notMatch(r.problems.join('\n'), /--from/, `check: ${state}: no --from`)
  }
})
