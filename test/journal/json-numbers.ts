import t from 'tap'
import fc from 'fast-check'
import { copyInteger, isExactIntegerBytes, writeInt } from '../../lib/journal/json-numbers.js'
import { scan } from '../../lib/journal/json-escape.js'
import { isExactInteger } from '../../lib/schema/typed-value.js'

t.test('writeInt writes what JSON.stringify writes', async (t) => {
  const out = Buffer.alloc(64)
  const numbers = [0, -0, 1, 9, 10, 99, 100, 999, 1000, 99999, 100000, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53 + 2, -1, -(2 ** 31), 1.5]
  for (const n of numbers) t.equal(out.toString('latin1', 0, writeInt(out, 0, n)), JSON.stringify(n), String(n))
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (n) => out.toString('latin1', 0, writeInt(out, 0, n)) === String(n)),
    { numRuns: 2000, seed: 31 },
  )
})

t.test('copyInteger and isExactIntegerBytes agree with isExactInteger', async (t) => {
  const texts = [
    '0',
    '-0',
    '00',
    '007',
    '-',
    '',
    '1',
    '-1',
    '9007199254740991',
    '9007199254740992',
    '-9007199254740991',
    '-9007199254740992',
    '99999999999999999',
    '123456789012345678',
    '12a',
    '1.0',
    '+1',
  ]
  const check = (text: string): boolean => {
    const src = Buffer.from(`${text} x\n`)
    const out = Buffer.alloc(64)
    const o = copyInteger(src, 0, src.length - 1, out, 0)
    const exact = isExactInteger(text)
    if (isExactIntegerBytes(src, 0, text.length) !== exact) return false
    if (!exact) return o === -1
    return o === text.length && out.toString('latin1', 0, o) === text && scan.end === text.length
  }
  for (const text of texts) t.ok(check(text), JSON.stringify(text))
  fc.assert(
    fc.property(fc.array(fc.constantFrom('0', '1', '9', '-', 'a'), { maxLength: 19 }), (chars) => check(chars.join(''))),
    { numRuns: 3000, seed: 32 },
  )
})
