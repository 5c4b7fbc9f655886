import t from 'tap'
import { isExactInteger, positionalName, typedValue } from '../../lib/schema/typed-value.js'

t.test('integers that survive the trip become numbers', async (t) => {
  const int = { kind: 'integer' } as const
  t.equal(typedValue(int, '0'), 0)
  t.equal(typedValue(int, '42'), 42)
  t.equal(typedValue(int, '-1677911589'), -1677911589)
  t.equal(typedValue(int, '9007199254740991'), 9007199254740991)
  t.equal(typedValue(int, '-9007199254740991'), -9007199254740991)
  // Past 2^53, and text a number would not print back, stays text.
  t.equal(typedValue(int, '9007199254740992'), '9007199254740992')
  t.equal(typedValue(int, '18446744073709551615'), '18446744073709551615')
  t.equal(typedValue(int, '-0'), '-0')
  t.equal(typedValue(int, '007'), '007')
  t.equal(typedValue(int, '+1'), '+1')
  t.equal(typedValue(int, ''), '')
  t.equal(typedValue(int, '-'), '-')
  t.equal(typedValue(int, '1e3'), '1e3')
  t.equal(typedValue(int, 'D41D8CD98F00B204E9800998ECF8427E'), 'D41D8CD98F00B204E9800998ECF8427E')
})

t.test('flags and bitmasks are integers when they are; text columns stay text', async (t) => {
  t.equal(typedValue({ kind: 'flag' }, '1'), 1)
  t.equal(typedValue({ kind: 'flag' }, 'active'), 'active')
  t.equal(typedValue({ kind: 'bitmask' }, '4096'), 4096)
  t.equal(typedValue({ kind: 'text' }, '42'), '42')
})

t.test('isExactInteger against Number round trips', async (t) => {
  for (const text of ['1', '10', '-10', '123456789012345', '1234567890123456', '12345678901234567', '99999999999999999', '-9007199254740992']) {
    t.equal(isExactInteger(text), Number.isSafeInteger(Number(text)) && String(Number(text)) === text, text)
  }
})

t.test('positional names are 0-based', async (t) => {
  t.equal(positionalName(0), 'field0')
  t.equal(positionalName(13), 'field13')
})
