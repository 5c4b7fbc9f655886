import type { JournalEntry } from './entry.js'

/** The JSON form of an entry, one object per line in NDJSON output. */
export interface EntryJson {
  file: string | null
  journal: number | null
  offset: number
  end: number
  line: number
  op: string
  version: number | null
  table: string | null
  fields: readonly string[]
  didRotate?: true
  incomplete?: true
}

/** The JSON object for an entry; `file` names where it came from. Fields decode with the entry's encoding. */
export function entryToJson(entry: JournalEntry, file: string | null): EntryJson {
  const { journal, offset, end, line } = entry.position
  const json: EntryJson = {
    file,
    journal,
    offset,
    end,
    line,
    op: entry.op,
    version: entry.version,
    table: entry.table,
    fields: entry.fields,
  }
  if (entry.didRotate) json.didRotate = true
  if (entry.incomplete) json.incomplete = true
  return json
}

/** One NDJSON line for an entry. */
export function entryToJsonLine(entry: JournalEntry, file: string | null): string {
  return JSON.stringify(entryToJson(entry, file)) + '\n'
}
