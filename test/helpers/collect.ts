import { JournalEntryTransform, type JournalEntryTransformOptions } from '../../lib/journal/journal-entry-transform.js'
import type { JournalEntry } from '../../lib/journal/entry.js'

/** Feeds `chunks` to a fresh transform and collects its entries (rejects on its error). */
export async function frame(chunks: Buffer[], options: JournalEntryTransformOptions = {}): Promise<JournalEntry[]> {
  const t = new JournalEntryTransform(options)
  const out: JournalEntry[] = []
  const done = (async () => {
    for await (const e of t) out.push(e as JournalEntry)
  })()
  for (const c of chunks) t.write(c)
  t.end()
  await done
  return out
}

/** Framing with the error it ended on, if any. */
export async function frameSettled(
  chunks: Buffer[],
  options: JournalEntryTransformOptions = {},
): Promise<{ entries: JournalEntry[]; error: (Error & { code?: string; offset?: number | null; line?: number | null }) | null }> {
  const t = new JournalEntryTransform(options)
  const entries: JournalEntry[] = []
  let error = null
  t.on('error', () => {})
  const done = (async () => {
    try {
      for await (const e of t) entries.push(e as JournalEntry)
    } catch (err) {
      error = err as Error
    }
  })()
  for (const c of chunks) {
    if (t.destroyed) break
    t.write(c)
  }
  if (!t.destroyed) t.end()
  await done
  return { entries, error }
}
