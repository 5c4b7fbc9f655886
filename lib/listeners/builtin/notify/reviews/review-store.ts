import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ErrorCodes, LogdaemonError, isLogdaemonError } from '../../../../errors.js'
import { writeFileAtomic } from '../../../../files/atomic-write.js'
import { readTextIfExists } from '../../../../files/if-exists.js'
import { archiveCandidates, liveJournalPath, type JournalLayout } from '../../../../files/journal-name.js'
import type { JournalEntry } from '../../../../journal/entry.js'
import { createJournalReader } from '../../../../journal/read-journal.js'
import type { JournalPosition } from '../../../../position.js'
import type { TextEncodingName } from '../text-decoder.js'
import { ReviewTransactions } from './review-transactions.js'
import { ReviewState } from './review-state.js'

/** How the server compares names: known, or read from the checkpoint header (`auto`). */
export type CaseHandling = 'auto' | 'sensitive' | 'insensitive'

/**
 * The checkpoint header note (`@nx@ 0 date @schema@ mode …`) carries the
 * server's mode flags. Every checkpoint we have seen from a case-insensitive
 * server (Windows; macOS servers run with -C1) has bit 0x2 set (2, or 10
 * with 0x8 in Unicode mode). It is an inference from files, not a documented
 * field: set `case` explicitly when in doubt.
 */
const CASE_INSENSITIVE_FLAG = 0x2

/** Where the state comes from when there is no state file yet. */
export interface ReviewSeed {
  /** The checkpoint to read db.user and db.review from (plain or gz). */
  readonly checkpoint: string
  /**
   * Also apply journal `journal` from its start up to `offset` (the daemon
   * resumes mid-journal: the checkpoint knows nothing of that part).
   */
  readonly upTo?: JournalPosition | null
  readonly layout?: JournalLayout | null
}

/**
 * The checkpoint of journal N of a server: `PREFIX.ckp.N[.gz]` with a
 * prefix, else `ROOT/checkpoint.N[.gz]`; the first that exists, or null.
 */
export async function findCheckpoint(layout: JournalLayout, n: number): Promise<string | null> {
  const candidates: string[] = []
  if (layout.prefix) {
    const prefix = layout.prefix.startsWith('/') ? layout.prefix : join(layout.root, layout.prefix)
    candidates.push(`${prefix}.ckp.${n}`, `${prefix}.ckp.${n}.gz`)
  }
  candidates.push(join(layout.root, `checkpoint.${n}`), join(layout.root, `checkpoint.${n}.gz`))
  for (const c of candidates) if (await exists(c)) return c
  return null
}

/** A review state just built (seedReviews), and what it holds for transactions still open where it stops. */
export interface SeededReviews {
  readonly state: ReviewState
  /**
   * The records of journal N before the resume offset whose transactions
   * were still open there (the daemon started at the live end, `from:
   * "end"`, in the middle of one): the live journal commits or drops them,
   * so the listener goes on with this (ReviewTransactions.see).
   */
  readonly transactions: ReviewTransactions
}

/** The state of seedReviews, without the transactions still open where it stops (for a look at who reviews what then). */
export async function seedReviewState(seed: ReviewSeed, options: { caseHandling: CaseHandling; encoding: TextEncodingName }): Promise<ReviewState> {
  return (await seedReviews(seed, options)).state
}

/**
 * Builds the review state from a checkpoint: only its db.user and
 * db.review records are applied (the rest is framed and skipped, never
 * decoded). When the daemon resumes inside journal N, the part of journal N
 * before the resume offset is applied too, from the archive or live file,
 * as the server committed it (ReviewTransactions).
 */
export async function seedReviews(seed: ReviewSeed, options: { caseHandling: CaseHandling; encoding: TextEncodingName }): Promise<SeededReviews> {
  let mode: number | null = null
  const entries: JournalEntry[] = []
  const bytes = options.encoding === 'utf8' ? 'utf8' : 'latin1'
  const reader = createJournalReader(seed.checkpoint, { journal: null, encoding: bytes })
  let state: ReviewState | null = null
  const ensure = (): ReviewState => {
    state ??= new ReviewState({
      caseInsensitive: options.caseHandling === 'insensitive' || (options.caseHandling === 'auto' && mode !== null && (mode & CASE_INSENSITIVE_FLAG) !== 0),
      origin: seed.checkpoint,
    })
    state.textEncoding = options.encoding
    for (const e of entries.splice(0)) state.apply(e)
    return state
  }
  for await (const entry of reader as AsyncIterable<JournalEntry>) {
    if (entry.op === 'nx' && mode === null && entry.fields[0] === '0') mode = Number(entry.fields[3] ?? 0) || 0
    if (!ReviewState.wants(entry)) continue
    // The header comes first in a checkpoint; rows before it (a dump without one) wait for the decision.
    if (state === null && mode === null) entries.push(entry)
    else ensure().apply(entry)
  }
  if (mode === null && state === null && entries.length === 0) {
    throw new LogdaemonError(
      ErrorCodes.CONFIG_INVALID,
      `reviews: ${seed.checkpoint} holds no checkpoint header and no db.user or db.review rows: is it complete (still being copied)?`,
      { file: seed.checkpoint },
    )
  }
  const result = ensure()
  // As the server committed them: a transaction a restart note cut off is not applied.
  const transactions = new ReviewTransactions(result)
  const upTo = seed.upTo
  if (upTo && upTo.offset > 0 && seed.layout) {
    const file = await journalFile(seed.layout, upTo.journal)
    if (file === null) {
      throw new LogdaemonError(
        ErrorCodes.CONFIG_INVALID,
        `reviews: the daemon resumes at ${upTo.journal}/${upTo.offset} but journal ${upTo.journal} is not on disk to read its first ${upTo.offset} bytes: ` +
          'give the reviews state a checkpoint of a later journal, or delete the daemon state to replay from the checkpoint',
      )
    }
    const journal = createJournalReader(file, { journal: upTo.journal, encoding: bytes, allowIncomplete: true })
    let through = 0
    try {
      for await (const entry of journal as AsyncIterable<JournalEntry>) {
        if (entry.position.offset >= upTo.offset) break
        transactions.see(entry)
        through = entry.position.end
      }
    } catch (err) {
      // The live journal cut (copy and truncate) once every record before the offset was applied: the seed is whole.
      if (!(isLogdaemonError(err) && err.code === ErrorCodes.JOURNAL_SHRUNK && through >= upTo.offset)) throw err
    }
    journal.destroy()
    // Records no marker followed, in a journal without markers (an import's): one transaction, as when the journal goes quiet.
    transactions.flushUnmarked()
  }
  return { state: result, transactions }
}

async function journalFile(layout: JournalLayout, n: number): Promise<string | null> {
  for (const c of archiveCandidates(layout, n)) if (await exists(c)) return c
  const live = liveJournalPath(layout)
  return (await exists(live)) ? live : null
}

/** Reads a review state file; null when it does not exist. Unreadable is an error, never silently replaced. */
export async function readReviewState(path: string): Promise<ReviewState | null> {
  const text = await readTextIfExists(path)
  if (text === null) return null
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    // Never quote the file: a state path that points at another file must not echo its content.
    throw new LogdaemonError(ErrorCodes.STATE_CORRUPT, `reviews: the state file ${path} is not valid JSON: move it away to rebuild it from the checkpoint`, {
      file: path,
    })
  }
  try {
    return ReviewState.fromJSON(json)
  } catch (err) {
    throw new LogdaemonError(
      ErrorCodes.STATE_CORRUPT,
      `reviews: the state file ${path} is not a review state (${(err as Error).message}): move it away to rebuild it from the checkpoint`,
      { file: path },
    )
  }
}

/** Writes the state atomically (temporary file, fsync, rename). */
export async function writeReviewState(path: string, state: ReviewState): Promise<void> {
  // Marked saved as the body is taken, not after the write: a change made while it is written is saved by the next call.
  const body = `${JSON.stringify(state.toJSON())}\n`
  state.markSaved()
  try {
    await writeFileAtomic(path, body)
  } catch (err) {
    state.markDirty()
    throw err
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}
