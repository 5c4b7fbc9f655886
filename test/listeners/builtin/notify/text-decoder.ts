import t from 'tap'
import { textDecoder } from '../../../../lib/listeners/builtin/notify/text-decoder.js'

t.test('windows-1252 maps 0x80-0x9F to their characters, the rest as Latin-1', async (t) => {
  const d = textDecoder('windows-1252')
  t.equal(d(Buffer.from([0x80, 0x20, 0x99, 0x9c, 0xe9, 0x41])), '€ ™œéA')
  t.equal(d(Buffer.from('plain ascii')), 'plain ascii')
  t.equal(d(Buffer.from([0x81, 0x8d])), '\u0081\u008d', 'undefined bytes stay as C1 controls')
  t.equal(d(Buffer.alloc(0)), '')
})

t.test('utf8 replaces invalid bytes; latin1 maps bytes one to one', async (t) => {
  t.equal(textDecoder('utf8')(Buffer.from([0x63, 0xc3, 0xa9, 0xff])), 'cé\ufffd')
  t.equal(textDecoder('latin1')(Buffer.from([0x80, 0xe9])), '\u0080é')
})
