/**
 * The ISA-L addon (native/isal) on its own: byte-exact against zlib in
 * any input pieces and output rooms, the end of the deflate data found to
 * the byte whatever follows it, the running CRC-32, errors on bad data,
 * and arguments checked before ISA-L sees them.
 */
import t from 'tap'
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib'
import { loadIsal, type IsalModule } from '../../lib/files/inflater.js'

const isal = loadIsal()
const skip = isal ? false : 'the ISA-L addon is not built here (libisal-dev missing at npm install)'

/** Deterministic journal-like text with some randomness (a simple LCG). */
function text(bytes: number, seed: number): Buffer {
  let x = seed
  const rnd = (): number => {
    x = (x * 1103515245 + 12345) >>> 0
    return x / 2 ** 32
  }
  const parts: string[] = []
  let n = 0
  while (n < bytes) {
    const line = `@pv@ 9 @db.rev@ @//depot/${Math.floor(rnd() * 1e6)}/f${'x'.repeat(Math.floor(rnd() * 40))}@ ${Math.floor(rnd() * 1e9)} \n`
    parts.push(line)
    n += line.length
  }
  return Buffer.from(parts.join('')).subarray(0, bytes)
}

/** Inflates `input` (deflate data, then `tail`) in pieces of `piece` bytes and rooms of `room`: output, end, CRC. */
function inflate(mod: IsalModule, input: Buffer, piece: () => number, room: number): { out: Buffer; end: number; crc: number } {
  const z = new mod.RawInflate()
  const state = new Uint32Array(4)
  const out = Buffer.alloc(room)
  const parts: Buffer[] = []
  let pos = 0
  let end = -1
  try {
    while (pos < input.length && end < 0) {
      let left = Math.min(piece(), input.length - pos)
      for (;;) {
        const code = z.inflate(input, pos, left, out, 0, room, state)
        if (code < 0) throw Object.assign(new Error(`ISA-L error ${code}`), { code })
        parts.push(Buffer.from(out.subarray(0, room - (state[0] as number))))
        const used = left - (state[1] as number)
        pos += used
        left -= used
        if (state[2] === 1) {
          end = pos
          break
        }
        if (state[0] !== 0) break
      }
    }
    return { out: Buffer.concat(parts), end, crc: state[3] as number }
  } finally {
    z.close()
  }
}

t.test('byte exact against zlib, the end found to the byte, the CRC-32 of the output', { skip }, async (t) => {
  const mod = isal as IsalModule
  for (const [label, data] of [
    ['journal text', text(300_000, 1)],
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from('x')],
    ['zeros (long matches)', Buffer.alloc(200_000)],
  ] as const) {
    for (const level of [0, 1, 6, 9]) {
      const deflated = deflateRawSync(data, { level })
      for (const tail of [Buffer.alloc(0), Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3])]) {
        for (const [pieces, piece, room] of [
          ['1-byte pieces, 7-byte rooms', () => 1, 7],
          ['4 KiB pieces, 64 KiB rooms', () => 4096, 65536],
          ['random pieces', () => 1 + Math.floor(Math.random() * 9000), 1 + Math.floor(Math.random() * 70000)],
        ] as const) {
          if (pieces.startsWith('1-byte') && data.length > 1000 && level !== 1) continue
          const r = inflate(mod, Buffer.concat([deflated, tail]), piece, room)
          const what = `${label}, level ${level}, ${tail.length} bytes after, ${pieces}`
          t.ok(r.out.equals(inflateRawSync(deflated)), `${what}: the bytes`)
          t.equal(r.end, deflated.length, `${what}: ends where the deflate data ends`)
          t.equal(r.crc, data.length === 0 ? 0 : crc32(data), `${what}: CRC-32`)
        }
      }
    }
  }
})

t.test('bad data is a negative code; arguments are checked', { skip }, async (t) => {
  const mod = isal as IsalModule
  const state = new Uint32Array(4)
  const out = Buffer.alloc(64)
  const bad = new mod.RawInflate()
  t.ok(bad.inflate(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, out, 0, 64, state) < 0, 'reserved block type 3')
  bad.close()
  const z = new mod.RawInflate() as unknown as {
    inflate(...args: unknown[]): number
    close(): void
  }
  const input = deflateRawSync('hello')
  for (const [why, args] of [
    ['an offset past the input', [input, input.length + 1, 0, out, 0, 64, state]],
    ['a length past the input', [input, 0, input.length + 1, out, 0, 64, state]],
    ['a room past the output', [input, 0, input.length, out, 60, 5, state]],
    ['an empty room', [input, 0, input.length, out, 0, 0, state]],
  ] as const) {
    t.throws(() => z.inflate(...args), { code: 'ERR_OUT_OF_RANGE' }, why)
  }
  for (const [why, args] of [
    ['an offset of 2^32 (no wrapping)', [input, 2 ** 32, 0, out, 0, 64, state]],
    ['NaN', [input, Number.NaN, 0, out, 0, 64, state]],
    ['a fraction', [input, 0.5, 0, out, 0, 64, state]],
    ['a negative length', [input, 0, -1, out, 0, 64, state]],
    ['a string for the input', ['hello', 0, 5, out, 0, 64, state]],
    ['a short state', [input, 0, input.length, out, 0, 64, new Uint32Array(3)]],
    ['an Int32Array state', [input, 0, input.length, out, 0, 64, new Int32Array(4)]],
    ['too few arguments', [input, 0]],
  ] as const) {
    t.throws(() => z.inflate(...args), { code: 'ERR_INVALID_ARG_TYPE' }, why)
  }
  t.equal(z.inflate(input, 0, input.length, out, 0, 64, state), 0)
  t.equal(out.subarray(0, 64 - (state[0] as number)).toString(), 'hello', 'still works after the refusals')
  z.close()
  t.throws(() => z.inflate(input, 0, input.length, out, 0, 64, state), { code: 'ERR_ISAL_CLOSED' }, 'closed')
  const RawInflate = mod.RawInflate as unknown as () => unknown
  t.throws(() => RawInflate(), { code: 'ERR_CONSTRUCT_CALL_REQUIRED' }, 'a call without new')
})

t.test('loadIsal checks what it loads', async (t) => {
  t.equal(loadIsal('logdaemon-test-no-such-isal'), null)
  // A module that is there but is not the addon.
  t.equal(loadIsal('node:os'), null)
  // A module whose RawInflate is not an inflater.
  t.equal(loadIsal('node:zlib'), null)
})
