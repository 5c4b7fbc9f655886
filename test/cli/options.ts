import t from 'tap'
import { editDistance, parseOptions, renderHelp, suggest, type OptionTable } from '../../lib/cli/options.js'

t.test('editDistance: insertions, deletions, substitutions, adjacent swaps', async (t) => {
  t.equal(editDistance('', ''), 0)
  t.equal(editDistance('config', 'config'), 0)
  t.equal(editDistance('confg', 'config'), 1)
  t.equal(editDistance('configg', 'config'), 1)
  t.equal(editDistance('donfig', 'config'), 1)
  t.equal(editDistance('cofnig', 'config'), 1, 'a swap is one edit')
  t.equal(editDistance('', 'abc'), 3)
  t.equal(editDistance('kitten', 'sitting'), 3)
})

t.test('suggest: the nearest candidate, only when it is near', async (t) => {
  t.equal(suggest('chek', ['init', 'check', 'run', 'demo']), 'check')
  t.equal(suggest('rnu', ['init', 'check', 'run', 'demo']), 'run')
  t.equal(suggest('log', ['log-level', 'config']), 'log-level', 'a prefix')
  t.equal(suggest('start', ['init', 'check', 'run', 'demo']), null, 'nothing near')
  t.equal(suggest('x', ['init', 'check']), null)
  t.equal(suggest('', ['init']), null)
})

t.test('parseOptions: unknown options and bad choices say what was meant', async (t) => {
  const table: OptionTable = {
    format: { type: 'string', help: 'f', choices: ['raw', 'json'], default: 'raw' },
    follow: { type: 'boolean', short: 'F', help: 'follow' },
  }
  t.same(parseOptions(['-F', 'a'], table), { values: { follow: true, format: 'raw' }, positionals: ['a'] })
  t.throws(() => parseOptions(['--fromat', 'json'], table), { code: 'ERR_USAGE', message: "Unknown option '--fromat' (did you mean --format?)" })
  t.throws(() => parseOptions(['--zzz'], table), { code: 'ERR_USAGE', message: "Unknown option '--zzz'" })
  t.throws(() => parseOptions(['--format', 'jsno'], table), {
    code: 'ERR_USAGE',
    message: '--format must be one of raw, json (got "jsno"; did you mean json?)',
  })
  t.throws(() => parseOptions(['--format'], table), { code: 'ERR_USAGE' })
})

t.test('renderHelp: usage, summary, options, examples', async (t) => {
  const text = renderHelp(
    { usage: 'x [options]', summary: 'Does x.', examples: [['x -F', 'follow']] },
    { follow: { type: 'boolean', short: 'F', help: 'follow' }, n: { type: 'string', arg: 'N', help: 'how many', default: '3' } },
  )
  t.equal(text, 'Usage: x [options]\n\nDoes x.\n\nOptions:\n  -F, --follow  follow\n      --n N     how many (default 3)\n\nExamples:\n  # follow\n  x -F\n')
})
