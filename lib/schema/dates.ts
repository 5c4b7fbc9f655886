import type { RowValue } from './typed-value.js'

/**
 * A date column's value (seconds since 1970, UTC, as the server writes it)
 * as a Date; null for a value that is not an integer. 0 is 1970-01-01,
 * which several columns (accessDate, endDate) use for "never".
 */
export function dateOf(value: RowValue): Date | null {
  const seconds = typeof value === 'number' ? value : /^-?\d+$/.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(seconds)) return null
  const date = new Date(seconds * 1000)
  return Number.isNaN(date.getTime()) ? null : date
}

/** A date column's value as ISO 8601 text (`2021-01-18T22:14:10.000Z`), or null like dateOf. */
export function isoDate(value: RowValue): string | null {
  return dateOf(value)?.toISOString() ?? null
}

/** Whether a column holds dates: its documented type is `Date`. */
export function isDateColumn(column: { readonly type: string }): boolean {
  return column.type.toLowerCase() === 'date'
}
