import { FLAG_TYPES } from './p4-schema-data.js'
import type { RowValue } from './typed-value.js'

interface FlagTable {
  readonly base: string
  /** Documented values that are numbers (`0`, `0x0010`, `100 (ASCII 'd')`) → name. */
  readonly numbers: ReadonlyMap<number, string>
  /** Documented values that are words (`active`) → name. */
  readonly words: ReadonlyMap<string, string>
}

const flagTables = new Map<string, FlagTable | null>()

/** The named values of a datatype, by its name in any case (layouts spell some types differently). */
function flagTable(type: string): FlagTable | null {
  const known = flagTables.get(type)
  if (known !== undefined) return known
  // Own keys only: `in` also took toString and __proto__, whose prototype values have no `values` (a TypeError).
  const name = Object.hasOwn(FLAG_TYPES, type) ? type : Object.keys(FLAG_TYPES).find((t) => t.toLowerCase() === type.toLowerCase())
  const doc = name === undefined ? undefined : FLAG_TYPES[name]
  let table: FlagTable | null = null
  if (doc !== undefined) {
    const numbers = new Map<number, string>()
    const words = new Map<string, string>()
    for (const [value, label] of Object.entries(doc.values)) {
      const number = /^(0x[0-9a-f]+|\d+)\b/i.exec(value)
      if (number !== null) {
        const n = Number(number[1])
        // Two spellings of one value (0x0000 and 0x0000000 in FileType): the first documented wins.
        if (!numbers.has(n)) numbers.set(n, label)
      } else {
        words.set(value, label)
      }
    }
    table = { base: doc.base, numbers, words }
  }
  flagTables.set(type, table)
  return table
}

function numberOf(value: RowValue): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : null
  return /^-?\d+$/.test(value) && Number.isSafeInteger(Number(value)) ? Number(value) : null
}

/**
 * The documented name of a flag value (`Action` 1 → `edit`), or null when
 * the type has no named values or this value is not among them.
 */
export function flagName(type: string, value: RowValue): string | null {
  const table = flagTable(type)
  if (table === null) return null
  const n = numberOf(value)
  if (n !== null) return table.numbers.get(n) ?? null
  return table.words.get(String(value)) ?? null
}

/**
 * The names of a flag or bitmask value: the documented name of the whole
 * value when there is one, else one name per documented single-bit value
 * that is set, lowest bit first, and any bits the documents do not name as
 * hex (`0x40000000`). Empty for 0 without a name, and for a type without
 * named values. Types that pack fields into bits (FileType's storage and
 * modifiers) are only split into their documented single bits.
 */
export function flagNames(type: string, value: RowValue): string[] {
  const whole = flagName(type, value)
  if (whole !== null) return [whole]
  const table = flagTable(type)
  const n = numberOf(value)
  if (table === null || n === null || n <= 0) return []
  const names: string[] = []
  let rest = n
  for (let bit = 1; bit <= n && bit <= Number.MAX_SAFE_INTEGER; bit *= 2) {
    // Bits above 2^31 need arithmetic, not `&` (which works on 32 bits).
    if (Math.floor(n / bit) % 2 === 0) continue
    const name = table.numbers.get(bit)
    if (name !== undefined) {
      names.push(name)
      rest -= bit
    }
  }
  if (rest > 0) names.push('0x' + rest.toString(16))
  return names
}

/**
 * The names of a `db.change` status (type ChangeStatus): `pending` for 0
 * (what `p4 changes -s pending` calls a change with no bit set, which the
 * documents leave unnamed), else its bits' names (`committed`, `shelved`,
 * `restricted`, …).
 */
export function changeStatusNames(status: RowValue): string[] {
  return numberOf(status) === 0 ? ['pending'] : flagNames('ChangeStatus', status)
}
