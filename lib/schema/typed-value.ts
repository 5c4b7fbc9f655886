import type { Column } from './layout.js'

/** A row value: text, or an integer that fits a JavaScript number exactly. */
export type RowValue = string | number

/**
 * Whether `text` is an integer written the one way Number() prints it back
 * (no sign on zero, no leading zeros, no `+`) and within ±(2^53 − 1): only
 * then does turning it into a number keep every byte of the record.
 */
export function isExactInteger(text: string): boolean {
  const n = text.length
  if (n === 0 || n > 17) return false
  let i = text.charCodeAt(0) === 0x2d ? 1 : 0 // -
  if (i === n) return false
  const first = text.charCodeAt(i)
  if (first === 0x30) return n === 1 // 0 alone; -0 and 007 stay text
  for (; i < n; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x30 || c > 0x39) return false
  }
  // 16 digits and fewer always fit; 17 digits are checked.
  return n < 16 || Number.isSafeInteger(Number(text))
}

/**
 * A field's value as its column types it: integer, flag and bitmask
 * columns give a number when the text is an exact integer (see
 * isExactInteger); everything else, and any text that would not survive
 * the trip (a 64-bit value past 2^53, a word in a flag column), stays the
 * text itself. Nothing is ever lost.
 */
export function typedValue(column: Pick<Column, 'kind'>, text: string): RowValue {
  if (column.kind !== 'text' && isExactInteger(text)) return Number(text)
  return text
}

/** The name of a row field no documented column names: `field` and its 0-based index. */
export function positionalName(index: number): string {
  return `field${index}`
}
