/**
 * A small deterministic PRNG for the simulators: xoshiro128** (Blackman and
 * Vigna), seeded through splitmix32 so that nearby seeds give unrelated
 * streams. Not for cryptography. Same seed, same sequence, on every platform:
 * only 32-bit integer arithmetic (`Math.imul`, `>>>`) is used.
 */

const TWO_POW_32 = 0x1_0000_0000

/** `00` … `FF`: digests are written in upper case, as p4d does. */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, '0'))

/** splitmix32 step: returns the next state and an output word. */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0
  let z = next
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return [next, (z ^ (z >>> 16)) >>> 0]
}

/** FNV-1a over a label, used to derive independent streams (`fork`). */
function hashLabel(label: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

export class Random {
  /** The seed this stream was created from (after reduction to 32 bits). */
  readonly seed: number
  #a: number
  #b: number
  #c: number
  #d: number

  /** `seed` is any finite number; it is reduced to 32 bits. */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`)
    // Reduce to 32 bits without losing the high part of large integer seeds.
    this.seed = (Math.trunc(seed) ^ Math.trunc(seed / TWO_POW_32)) >>> 0
    let s = this.seed
    let out: number
    ;[s, out] = splitmix32(s)
    this.#a = out
    ;[s, out] = splitmix32(s)
    this.#b = out
    ;[s, out] = splitmix32(s)
    this.#c = out
    ;[, out] = splitmix32(s)
    // xoshiro must not start from the all-zero state.
    this.#d = out || 1
  }

  /** An independent stream derived from this stream's seed and a label. */
  fork(label: string): Random {
    return new Random(hashLabel(label, this.seed))
  }

  /** Next unsigned 32-bit integer. */
  uint32(): number {
    const a = this.#a
    const b = this.#b
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0
    const t = b << 9
    this.#c ^= a
    this.#d ^= b
    this.#b ^= this.#c
    this.#a ^= this.#d
    this.#c ^= t
    this.#d = rotl(this.#d, 11)
    return r
  }

  /** Uniform float in [0, 1), 32 bits of resolution. */
  float(): number {
    return this.uint32() / TWO_POW_32
  }

  /** Uniform integer in [min, max], both ends included. */
  int(min: number, max: number): number {
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max < min) {
      throw new RangeError(`int(${min}, ${max}): need safe integers with min <= max`)
    }
    const span = max - min + 1
    if (span <= TWO_POW_32) return min + Math.floor(this.float() * span)
    // 53 bits from two draws for wide ranges.
    const f = (this.uint32() * 0x20_0000 + (this.uint32() >>> 11)) / 2 ** 53
    return min + Math.floor(f * span)
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p
  }

  /** One element, uniformly. Throws on an empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick() from an empty array')
    return items[Math.floor(this.float() * items.length)] as T
  }

  /** One element, with probability proportional to its weight. */
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    let total = 0
    for (const [, w] of items) total += w
    if (!(total > 0)) throw new RangeError('weighted() needs a positive total weight')
    let x = this.float() * total
    for (const [item, w] of items) {
      if (x < w) return item
      x -= w
    }
    // Floating-point rounding can leave x a hair above the last bucket.
    return (items[items.length - 1] as readonly [T, number])[0]
  }

  /** n random bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n)
    let i = 0
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.uint32(), i)
    if (i < n) {
      const last = this.uint32()
      for (let k = 0; i < n; i++, k++) out[i] = (last >>> (8 * k)) & 0xff
    }
    return out
  }

  /** n random bytes as upper-case hex, e.g. `hex(16)` for an MD5-like digest. */
  hex(n: number): string {
    let s = ''
    for (let i = 0; i < n; i += 4) {
      const w = this.uint32()
      s += HEX[w >>> 24]! + HEX[(w >>> 16) & 0xff]! + HEX[(w >>> 8) & 0xff]! + HEX[w & 0xff]!
    }
    return s.length === 2 * n ? s : s.slice(0, 2 * n)
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
