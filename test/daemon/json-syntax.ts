import t from 'tap'
import { jsonSyntaxError } from '../../lib/daemon/json-syntax.js'

t.test('valid JSON has no error; the scanner agrees with JSON.parse', async (t) => {
  const valid = ['{}', '[]', ' {"a": [1, -2.5e3, 0, true, false, null, "x\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9"], "b": {}}\n', '"s"', '0', '[[], {"c": []}]']
  for (const text of valid) {
    JSON.parse(text)
    t.equal(jsonSyntaxError(text), null, text)
  }
})

t.test('each error: where (line, column) and what was expected; JSON.parse refuses it too', async (t) => {
  const cases: [string, number, number, RegExp][] = [
    ['{"a" 1}', 1, 6, /':'/],
    ['{a: 1}', 1, 2, /property name/],
    ['{"a": "\\x"}', 1, 9, /valid escape/],
    ['{"a": "\\u12G4"}', 1, 9, /4 hex digits/],
    ['{"a": "open', 1, 12, /closing "/],
    ['[1 2]', 1, 4, /',' or '\]'/],
    ['{\n"a": 01}', 2, 7, /',' or '}'/],
    ['-', 1, 1, /a value/],
    ['{"a": 1}\n\n  x', 3, 3, /end of the file/],
    ['['.repeat(600), 1, 514, /less nesting/],
  ]
  for (const [text, line, column, expected] of cases) {
    t.throws(() => JSON.parse(text), `${JSON.stringify(text.slice(0, 20))} is not JSON`)
    t.match(jsonSyntaxError(text), { line, column, expected }, JSON.stringify(text.slice(0, 20)))
  }
})
