import { isDataOp, type JournalEntry } from './entry.js'

/** A value to write: strings and Buffers are quoted, numbers and bigints bare, `{ bare }` bare as given. */
export type FieldValue = string | Buffer | number | bigint | { readonly bare: string }

/** A record to write from scratch. */
export interface RecordSpec {
  op: string
  /** Table version, data records only. */
  version?: number
  /** Table name, data records only. */
  table?: string
  fields: readonly FieldValue[]
  /** Space after the last value. Default: as p4d writes (yes, except after `@ex@`). */
  trailingSpace?: boolean
  /** Line terminator. Default `\n`. */
  eol?: '\n' | '\r\n'
}

const AT = 0x40
const AT_BUF = Buffer.from('@')
const SP_BUF = Buffer.from(' ')

/** Quotes a value: `@…@` with every `@` doubled. */
export function quoteValue(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value
  if (bytes.indexOf(AT) < 0) return Buffer.concat([AT_BUF, bytes, AT_BUF])
  const out: number[] = [AT]
  for (const b of bytes) {
    out.push(b)
    if (b === AT) out.push(AT)
  }
  out.push(AT)
  return Buffer.from(out)
}

function encodeValue(v: FieldValue): Buffer {
  if (typeof v === 'string' || Buffer.isBuffer(v)) return quoteValue(v)
  if (typeof v === 'number' || typeof v === 'bigint') return Buffer.from(String(v), 'latin1')
  return Buffer.from(v.bare, 'latin1')
}

function join(values: Buffer[], trailingSpace: boolean, eol: string): Buffer {
  const parts: Buffer[] = []
  values.forEach((v, i) => {
    if (i > 0) parts.push(SP_BUF)
    parts.push(v)
  })
  if (trailingSpace) parts.push(SP_BUF)
  parts.push(Buffer.from(eol, 'latin1'))
  return Buffer.concat(parts)
}

/** Writes a record from scratch as p4d would. */
export function encodeRecord(spec: RecordSpec): Buffer {
  const values: Buffer[] = [quoteValue(spec.op)]
  if (isDataOp(spec.op)) {
    values.push(Buffer.from(String(spec.version ?? 0), 'latin1'), quoteValue(spec.table ?? ''))
  }
  for (const f of spec.fields) values.push(encodeValue(f))
  return join(values, spec.trailingSpace ?? spec.op !== 'ex', spec.eol ?? '\n')
}

/**
 * Writes a parsed entry back to journal bytes from its values, keeping which
 * were quoted, the trailing space and the terminator: `encodeEntry(e)` equals
 * `e.raw` for every well-formed record.
 */
export function encodeEntry(entry: JournalEntry): Buffer {
  const values = entry.valueBytes.map((v, i) => (entry.quoted[i] ? quoteValue(v) : v))
  return join(values, entry.trailingSpace, entry.eol)
}
