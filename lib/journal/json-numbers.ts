/**
 * Numbers in the JSON lines of the byte writers: positions written without
 * making a string, and the integer test of `--format row` on bytes.
 */
import { scan } from './json-escape.js'

const SP = 0x20

/** "00" to "99": two digits a step. */
const DIGIT_PAIRS = new Uint8Array(200)
for (let i = 0; i < 100; i++) {
  DIGIT_PAIRS[2 * i] = 0x30 + ((i / 10) | 0)
  DIGIT_PAIRS[2 * i + 1] = 0x30 + (i % 10)
}

/** How many decimal digits a non-negative integer below 2^31 has. */
function digitCount(n: number): number {
  if (n < 100000) return n < 100 ? (n < 10 ? 1 : 2) : n < 1000 ? 3 : n < 10000 ? 4 : 5
  return n < 10000000 ? (n < 1000000 ? 6 : 7) : n < 100000000 ? 8 : n < 1000000000 ? 9 : 10
}

/** Writes a number as JSON.stringify writes it (integers below 2^31 without making a string). */
export function writeInt(out: Uint8Array, o: number, n: number): number {
  if ((n | 0) !== n || n < 0) {
    const text = String(n)
    for (let k = 0; k < text.length; k++) out[o++] = text.charCodeAt(k)
    return o
  }
  const end = o + digitCount(n)
  let k = end
  let v = n
  while (v >= 100) {
    const q = (v / 100) | 0
    const pair = (v - q * 100) * 2
    out[--k] = DIGIT_PAIRS[pair + 1] as number
    out[--k] = DIGIT_PAIRS[pair] as number
    v = q
  }
  if (v >= 10) {
    out[--k] = DIGIT_PAIRS[v * 2 + 1] as number
    out[--k] = DIGIT_PAIRS[v * 2] as number
  } else {
    out[--k] = 0x30 + v
  }
  return end
}

/**
 * Copies the bare value at `src[k]` (up to the next space or `stop`) when
 * it is an exact integer (isExactIntegerBytes): returns the new output
 * offset and sets scan.end; -1 when it is not one.
 */
export function copyInteger(src: Uint8Array, k: number, stop: number, out: Uint8Array, o: number): number {
  const a = k
  if (src[k] === 0x2d) out[o++] = src[k++] as number // -
  const digits = k
  let value = 0
  for (; k < stop; k++) {
    const c = src[k] as number
    if (c === SP) break
    if (c < 0x30 || c > 0x39) return -1
    value = value * 10 + (c - 0x30)
    out[o++] = c
  }
  const n = k - a
  // No digits, a leading zero (0 alone is fine, -0 is not), or past 2^53 - 1 (see isExactIntegerBytes).
  if (k === digits || (src[digits] === 0x30 && n !== 1) || n > 17 || (n >= 16 && value > Number.MAX_SAFE_INTEGER)) return -1
  scan.end = k
  return o
}

/**
 * Whether `bytes[a..b)` is an integer written the one way Number() prints
 * it back, within ±(2^53 − 1): isExactInteger (lib/schema/typed-value.ts)
 * on bytes.
 */
export function isExactIntegerBytes(bytes: Uint8Array, a: number, b: number): boolean {
  const n = b - a
  if (n === 0 || n > 17) return false
  let k = bytes[a] === 0x2d ? a + 1 : a
  if (k === b) return false
  if (bytes[k] === 0x30) return n === 1
  let value = 0
  for (; k < b; k++) {
    const c = bytes[k] as number
    if (c < 0x30 || c > 0x39) return false
    value = value * 10 + (c - 0x30)
  }
  // Up to 15 digits are exact; from 16 on, the sum can round, and then it is not an exact integer.
  return n < 16 || value <= Number.MAX_SAFE_INTEGER
}
