import t from 'tap'
import { decodeKeepingBytes, KEPT_BYTE_BASE } from '../../../../lib/listeners/builtin/sql/row-mapper.js'

const kept = (...bytes: number[]) => bytes.map((b) => String.fromCharCode(KEPT_BYTE_BASE + b)).join('')

t.test('decodeKeepingBytes: valid text as itself, every other byte as its own private-use character', async (t) => {
  const valid = Buffer.from('//depot/é/日本/😀 a.c')
  t.equal(decodeKeepingBytes(valid, 'utf8'), '//depot/é/日本/😀 a.c', 'valid UTF-8, 2 to 4 bytes a character')
  const cases: [string, number[], string][] = [
    ['a lone high byte', [0x6b, 0xff], `k${kept(0xff)}`],
    ['another', [0x6b, 0xfe], `k${kept(0xfe)}`],
    ['a NUL', [0x6b, 0x00], `k${kept(0x00)}`],
    ['Windows-1252 é between ASCII', [0x61, 0xe9, 0x62], `a${kept(0xe9)}b`],
    ['an overlong NUL (C0 80)', [0xc0, 0x80], kept(0xc0, 0x80)],
    ['a surrogate (ED A0 80)', [0xed, 0xa0, 0x80], kept(0xed, 0xa0, 0x80)],
    ['a sequence cut short, then ASCII', [0xe6, 0x97, 0x41], `${kept(0xe6, 0x97)}A`],
    ['past U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80], kept(0xf4, 0x90, 0x80, 0x80)],
    ['valid after invalid', [0xff, 0xc3, 0xa9], `${kept(0xff)}é`],
  ]
  for (const [what, bytes, want] of cases) t.equal(decodeKeepingBytes(Buffer.from(bytes), 'utf8'), want, what)
  t.equal(decodeKeepingBytes(Buffer.from([0x6b, 0xe9, 0x00]), 'latin1'), `ké${kept(0)}`, 'latin1: only a NUL is not text')
  const distinct = new Set(
    [
      [0x6b, 0xff],
      [0x6b, 0xfe],
      [0x6b, 0x00],
      [0x6b, 0xef, 0xbf, 0xbd],
    ].map((b) => decodeKeepingBytes(Buffer.from(b), 'utf8')),
  )
  t.equal(distinct.size, 4, 'k\\xff, k\\xfe, k\\x00 and a real k\\uFFFD: four keys')
  // A character of the range itself is written as its bytes: every U+F7xx of a key stands for one byte.
  t.equal(decodeKeepingBytes(Buffer.from('k\uf7ff'), 'utf8'), `k${kept(0xef, 0x9f, 0xbf)}`, 'U+F7FF as EF 9F BF')
  t.equal(decodeKeepingBytes(Buffer.from('\uf700\uf6ff\uf800'), 'utf8'), `${kept(0xef, 0x9c, 0x80)}\uf6ff\uf800`, 'only U+F700-U+F7FF')
  t.not(decodeKeepingBytes(Buffer.from('k\uf7ff'), 'utf8'), decodeKeepingBytes(Buffer.from([0x6b, 0xff]), 'utf8'), 'not the key of byte 0xFF')
})
