/** Encodings a non-Unicode p4d server may have written text in. */
export type TextEncodingName = 'utf8' | 'windows-1252' | 'latin1'

// Windows-1252 bytes 0x80-0x9F (WHATWG encoding standard index); 0 = undefined byte, kept as U+0080+n.
const CP1252_80_9F = [
  0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0, 0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
  0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
]

function decodeWindows1252(bytes: Buffer): string {
  // Node 20's TextDecoder('windows-1252') decodes as Latin-1 (0x80 becomes
  // U+0080, not €), so the 32 bytes that differ are mapped here.
  let out = ''
  let from = 0
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number
    if (b < 0x80 || b > 0x9f) continue
    out += bytes.toString('latin1', from, i) + String.fromCharCode(CP1252_80_9F[b - 0x80] || b)
    from = i + 1
  }
  return from === 0 ? bytes.toString('latin1') : out + bytes.toString('latin1', from)
}

const utf8 = new TextDecoder('utf-8')

/** A bytes-to-text function for field values; UTF-8 turns invalid bytes into U+FFFD. */
export function textDecoder(encoding: TextEncodingName): (bytes: Buffer) => string {
  switch (encoding) {
    case 'utf8':
      return (b) => utf8.decode(b)
    case 'windows-1252':
      return decodeWindows1252
    case 'latin1':
      return (b) => b.toString('latin1')
  }
}
