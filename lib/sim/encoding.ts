/**
 * How p4d writes a record's text (see docs/journal-format.md): quoted fields,
 * the `@ex@` and `@nx@` records, and the table versions of a 2020.1 server.
 */

/** Quotes a value as p4d does: `@value@`, with every `@` doubled. */
export function quoteField(value: string): string {
  return '@' + (value.includes('@') ? value.replaceAll('@', '@@') : value) + '@'
}

const q = quoteField

/** Server version written in notes: 50 is 2020.1, as in the 2020 fixture. */
export const SERVER_VERSION = 50

/** Table schema versions of a 2020.1 server (from the fixtures). */
export const TABLE_VERSIONS = {
  'db.change': 6,
  'db.changex': 6,
  'db.config': 1,
  'db.counters': 1,
  'db.depot': 1,
  'db.desc': 0,
  'db.domain': 7,
  'db.fix': 1,
  'db.have': 3,
  'db.integed': 0,
  'db.locks': 2,
  'db.rev': 9,
  'db.review': 1,
  'db.revcx': 0,
  'db.revhx': 9,
  'db.storage': 1,
  'db.user': 7,
  'db.view': 1,
  'db.working': 10,
} as const

/** The `@ex@` that ends a transaction of `pid` (no space after the last field). */
export function exRecord(pid: number, time: number): string {
  return `@ex@ ${pid} ${time}\n`
}

/** An `@nx@` note: five integers, then five quoted strings, with the trailing space. */
export function nxRecord(type: number, time: number, ints: readonly number[], strs: readonly string[]): string {
  const i = [0, 1, 2, 3, 4].map((k) => ints[k] ?? 0).join(' ')
  const s = [0, 1, 2, 3, 4].map((k) => q(strs[k] ?? '')).join(' ')
  return `@nx@ ${type} ${time} @${SERVER_VERSION}@ ${i} ${s} \n`
}

/** Truncates to at most `max` UTF-8 bytes without splitting a character. */
export function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s
  let out = ''
  let bytes = 0
  for (const ch of s) {
    const n = Buffer.byteLength(ch)
    if (bytes + n > max) break
    out += ch
    bytes += n
  }
  return out
}
