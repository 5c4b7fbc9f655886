import { readdir, realpath, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { ErrorCodes, isErrnoException, LogdaemonError } from '../errors.js'
import { archiveCandidates, liveJournalPath, type JournalLayout } from './journal-name.js'
import { sameDir } from './same-path.js'

/** One file that holds an archived journal. */
export interface ArchiveFile {
  readonly journal: number
  readonly path: string
  /** True for `.gz`: offsets are offsets in the decompressed bytes. */
  readonly compressed: boolean
}

/** An archived journal number with every file found for it (plain and gz may both exist while gzip runs). */
export interface ArchivedJournal {
  readonly journal: number
  readonly files: readonly (ArchiveFile & { readonly size: number })[]
}

/** What `describeJournalChain` finds on disk. */
export interface JournalChain {
  /** Archived journals at or after `from`, oldest first. */
  readonly archives: readonly ArchivedJournal[]
  /** The live journal: its number, path, and size (null when the file does not exist). */
  readonly live: { readonly journal: number; readonly path: string; readonly size: number | null }
  /** Numbers missing between `from` (or the oldest archive) and the live journal, ascending. */
  readonly gaps: readonly number[]
  readonly oldest: number | null
  readonly newest: number | null
}

/**
 * Archived journal `n`, or null when none of its candidate paths exists.
 * A plain file is preferred over its `.gz`: while gzip runs both exist and
 * only the plain one is complete.
 */
export async function findArchive(layout: JournalLayout, n: number): Promise<ArchiveFile | null> {
  for (const path of archiveCandidates(layout, n)) {
    if (await exists(path)) return { journal: n, path, compressed: path.endsWith('.gz') }
  }
  return null
}

/** The directories where archives (and the live journal) live, without duplicates. */
export function journalDirs(layout: JournalLayout): string[] {
  const dirs = new Set<string>([dirname(liveJournalPath(layout)), layout.root])
  const prefix = prefixPath(layout)
  if (prefix) dirs.add(dirname(prefix))
  return [...dirs]
}

/** Whether a file name in one of `journalDirs` may be the live journal or an archive (for watch filtering). */
export function isJournalFileName(layout: JournalLayout, name: string): boolean {
  if (name === basename(liveJournalPath(layout))) return true
  return archiveNameMatcher(layout)(name) !== null
}

/**
 * Why logdaemon may not write the file `path` (its state, its log, a
 * listener's output or state): it names a file of the server's journal set,
 * the live journal or an archive (`journal.N[.gz]`, `PREFIX.jnl.N[.gz]`), or
 * null. The same directory through any path counts (`..`, a symlinked
 * directory, a bind mount), and so do a symlink to such a file and a hard
 * link to one. Written
 * there, the daemon would destroy the server's journal: a state saved over
 * `journal.N` replaces an archive, a log appends its lines to it, and a raw
 * `print` to the live journal feeds the daemon its own output, doubling the
 * journal without end (a probe: 149 bytes grew to 8 MB in 4 s).
 */
export async function journalSetFileProblem(layout: JournalLayout, path: string): Promise<string | null> {
  const file = resolve(path)
  const names = [file]
  const real = await realpath(file).catch(() => null)
  if (real !== null && real !== file) names.push(real)
  const live = resolve(liveJournalPath(layout))
  const match = archiveNameMatcher(layout)
  for (const name of names) {
    const dir = dirname(name)
    const base = basename(name)
    const through = name === file ? '' : ` (a symlink to ${name})`
    if (base === basename(live) && (await sameDir(dir, dirname(live)))) return `${path} is the server's live journal${through}`
    for (const d of archiveDirs(layout)) {
      if (match(base, d) === null || !(await sameDir(dir, d))) continue
      return `${path} is the name of an archived journal in the server's journal directory ${d}${through}`
    }
  }
  return hardLinkProblem(layout, path, file)
}

/**
 * A file with more than one name is one of the journal set under another
 * name when it is the same inode as the live journal or an archive: a hard
 * link (`ln journal replica.db`). Written in place (a log, print's output,
 * a SQLite replica), it is the journal written (a probe: a SQLite replica
 * hard-linked to the empty live journal made it a database). Only looked
 * for when the file has several links, so the common case costs one stat.
 */
async function hardLinkProblem(layout: JournalLayout, path: string, file: string): Promise<string | null> {
  const st = await stat(file).catch(() => null)
  if (st === null || !st.isFile() || st.nlink < 2) return null
  const same = (o: { dev: number; ino: number } | null): boolean => o !== null && o.dev === st.dev && o.ino === st.ino
  const live = resolve(liveJournalPath(layout))
  if (same(await stat(live).catch(() => null))) return `${path} is the server's live journal ${live} under another name (a hard link to it)`
  const match = archiveNameMatcher(layout)
  for (const d of archiveDirs(layout)) {
    // A hard link is on the file's own filesystem: a directory on another holds none (and its archives are not looked at).
    if ((await stat(d).catch(() => null))?.dev !== st.dev) continue
    const names = await readdir(d).catch(() => [] as string[])
    for (const name of names) {
      if (match(name, d) === null) continue
      if (same(await stat(join(d, name)).catch(() => null))) return `${path} is the archived journal ${join(d, name)} under another name (a hard link to it)`
    }
  }
  return null
}

/**
 * Describes the journal set: every archive (from `from` on, when given),
 * the live journal's number and the gaps. The live journal is one more than
 * the newest archive at or after `from`; when there is none, it is `from`
 * itself (a replica restored from checkpoint `from` writes journal `from`),
 * or 0 for a server that never rotated. Used by the source at start and by
 * `logdaemon check`.
 */
export async function describeJournalChain(layout: JournalLayout, options: { from?: number } = {}): Promise<JournalChain> {
  // A file listed and gone at its look (compressed meanwhile: `journal.N` removed once `journal.N.gz` was written,
  // after the listing) is looked for again in a new listing: taken as missing, it made a gap at a start.
  for (let tries = 1; ; tries++) {
    const { chain, vanished } = await scanJournalChain(layout, options)
    if (!vanished || tries >= CHAIN_SCANS) return chain
  }
}

/**
 * Listings describeJournalChain makes at most while files it listed vanish
 * before it looks at them: a journal compressed between a listing and the
 * look (the live journal's number then came out one too low, and a start
 * could fail with ERR_JOURNAL_GAP). Against a thread
 * rotating and compressing tiny journals every ~80 µs, looks that found a
 * gap: 16–45 of ~5,500 with one listing, 4–5 of ~2,150 with up to three;
 * at one rotation a millisecond, 0–2 of ~3,000 with one.
 */
const CHAIN_SCANS = 3

async function scanJournalChain(layout: JournalLayout, options: { from?: number }): Promise<{ chain: JournalChain; vanished: boolean }> {
  const from = options.from ?? 0
  const byNumber = new Map<number, (ArchiveFile & { size: number })[]>()
  const match = archiveNameMatcher(layout)
  let vanished = false
  for (const dir of archiveDirs(layout)) {
    let names: string[]
    try {
      names = await readdir(dir)
    } catch (err) {
      if (isErrnoException(err) && err.code === 'ENOENT') continue
      throw err
    }
    for (const name of names) {
      const n = match(name, dir)
      if (n === null || n < from) continue
      const path = join(dir, name)
      const size = await fileSize(path)
      if (size === GONE) vanished = true
      if (size === null || size === GONE) continue
      const files = byNumber.get(n) ?? []
      if (!files.some((f) => f.path === path)) files.push({ journal: n, path, compressed: name.endsWith('.gz'), size })
      byNumber.set(n, files)
    }
  }
  const numbers = [...byNumber.keys()].sort((a, b) => a - b)
  const archives = numbers.map((n) => ({ journal: n, files: sortFiles(byNumber.get(n) ?? []) }))
  const oldest = numbers[0] ?? null
  const newest = numbers[numbers.length - 1] ?? null
  const liveNumber = newest === null ? from : Math.max(newest + 1, from)
  const first = options.from ?? oldest ?? liveNumber
  const gaps: number[] = []
  for (let n = first; n < liveNumber; n++) if (!byNumber.has(n)) gaps.push(n)
  const livePath = liveJournalPath(layout)
  return { chain: { archives, live: { journal: liveNumber, path: livePath, size: await sizeOf(livePath) }, gaps, oldest, newest }, vanished }
}

/**
 * ERR_JOURNAL_GAP for journals `missing` (ascending) needed between `from`
 * and the live journal; `restartAs` says how the reader is told where to
 * start (`--from N` for logdaemon-cat, `from: N` in the daemon's
 * configuration). Nothing after the gap can be trusted to follow what
 * was read before it, so the operator has to restore from a checkpoint
 * written after the gap: checkpoint M holds everything up to journal M-1.
 */
export function journalGapError(missing: readonly number[], from: number, live: number, restartAs: 'option' | 'config' = 'option'): LogdaemonError {
  const last = missing[missing.length - 1] ?? from
  const restart = last + 1
  const list = missing.length > 10 ? `${missing.slice(0, 10).join(', ')}, … (${missing.length} in all)` : missing.join(', ')
  const which = missing.length === 1 ? `journal ${list} is` : `journals ${list} are`
  return new LogdaemonError(
    ErrorCodes.JOURNAL_GAP,
    `${which} missing between ${from} (where reading starts) and ${live} (the live journal): ` +
      `the records in them are lost to this reader. Restore the replica from checkpoint ${restart} or later, ` +
      (restartAs === 'config'
        ? `then set \`from: ${restart}\` in the configuration (and move the state file away).`
        : `then start with --from ${restart} (and a fresh state file).`),
    { journal: missing[0] ?? from, details: { missing: [...missing], from, live, restartFrom: restart } },
  )
}

function prefixPath(layout: JournalLayout): string | null {
  if (!layout.prefix) return null
  return layout.prefix.startsWith('/') ? layout.prefix : join(layout.root, layout.prefix)
}

function archiveDirs(layout: JournalLayout): string[] {
  const dirs = new Set<string>([layout.root])
  const prefix = prefixPath(layout)
  if (prefix) dirs.add(dirname(prefix))
  return [...dirs]
}

/**
 * A function from a file name (and, when known, its directory) to its
 * journal number, matching exactly the names `archiveCandidates` produces.
 */
function archiveNameMatcher(layout: JournalLayout): (name: string, dir?: string) => number | null {
  const prefix = prefixPath(layout)
  const prefixBase = prefix ? basename(prefix) : null
  const prefixDir = prefix ? dirname(prefix) : null
  return (name, dir) => {
    let rest: string | null = null
    if (prefixBase && name.startsWith(`${prefixBase}.jnl.`) && (dir === undefined || dir === prefixDir)) {
      rest = name.slice(prefixBase.length + 5)
    } else if (name.startsWith('journal.') && (dir === undefined || dir === layout.root)) {
      rest = name.slice(8)
    }
    if (rest === null) return null
    const m = /^(\d+)(?:\.gz)?$/.exec(rest)
    if (!m) return null
    const n = Number(m[1])
    return Number.isSafeInteger(n) ? n : null
  }
}

function sortFiles<T extends ArchiveFile>(files: T[]): T[] {
  // Plain before gz, matching findArchive's preference.
  return files.sort((a, b) => Number(a.compressed) - Number(b.compressed) || a.path.localeCompare(b.path))
}

async function exists(path: string): Promise<boolean> {
  return (await sizeOf(path)) !== null
}

async function sizeOf(path: string): Promise<number | null> {
  const size = await fileSize(path)
  return size === GONE ? null : size
}

const GONE = Symbol('gone')

/** A regular file's size; null for anything else there (a FIFO, a directory); GONE when nothing is there. */
async function fileSize(path: string): Promise<number | null | typeof GONE> {
  try {
    const st = await stat(path)
    return st.isFile() ? st.size : null
  } catch (err) {
    if (isErrnoException(err) && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) return GONE
    throw err
  }
}
