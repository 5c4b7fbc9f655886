import { JournalEntry } from '../../lib/journal/entry.js'
import { encodeRecord, type RecordSpec } from '../../lib/journal/encoder.js'

/**
 * Journal bytes and their entries for `count` small transactions in journal
 * `journal`: each a `@pv@` of db.counters and an `@ex@`, the `@ex@` marked
 * consistent as the rotating source would.
 */
export function transactions(count: number, journal = 1, startOffset = 0, startLine = 1): { bytes: Buffer; entries: JournalEntry[] } {
  const specs: RecordSpec[] = []
  for (let i = 0; i < count; i++) {
    specs.push({ op: 'pv', version: 1, table: 'db.counters', fields: [`change`, String(i + 1)] })
    specs.push({ op: 'ex', fields: [100 + (i % 7), 1700000000 + i] })
  }
  return entriesOf(specs, journal, startOffset, startLine)
}

/** Entries for records, positioned one after the other; `@ex@` entries are marked consistent. */
export function entriesOf(
  specs: readonly RecordSpec[],
  journal: number | null = 1,
  startOffset = 0,
  startLine = 1,
): { bytes: Buffer; entries: JournalEntry[] } {
  const entries: JournalEntry[] = []
  const parts: Buffer[] = []
  let offset = startOffset
  let line = startLine
  for (const spec of specs) {
    const raw = encodeRecord(spec)
    const e = new JournalEntry(raw, { journal, offset, end: offset + raw.length, line })
    if (spec.op === 'ex') e.consistent = true
    entries.push(e)
    parts.push(raw)
    offset += raw.length
    line += raw.toString('latin1').split('\n').length - 1
  }
  return { bytes: Buffer.concat(parts), entries }
}

/** A short wait for things that happen on timers (never a timing assertion). */
export const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms))
