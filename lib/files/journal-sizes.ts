import { createReadStream } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { isErrnoException } from '../errors.js'
import { describeJournalChain, findArchive } from './journal-set.js'
import type { JournalLayout } from './journal-name.js'

/** One journal's size on disk, as a reader counts offsets (decompressed bytes). */
export interface JournalSize {
  readonly journal: number
  /** The file a reader reads for it (the plain archive over its `.gz`, as findArchive prefers), or null when missing. */
  readonly path: string | null
  /** Decompressed size in bytes; 0 when the file is missing. */
  readonly size: number
  /** True when `size` is the gzip ISIZE trailer's value, an estimate (see {@link gzipIsize}). */
  readonly estimated: boolean
  /** Last modification (epoch ms): every byte of an archive was written no later than this. Null when missing. */
  readonly mtimeMs: number | null
  readonly live: boolean
}

/**
 * The sizes of journals `from` to the live one, oldest first, the live
 * journal last: what a reader at journal `from` still has ahead of it.
 * Costs one readdir of the journal directories, a stat per journal and,
 * for a `.gz` archive, one 4-byte read.
 */
export async function journalSizes(layout: JournalLayout, from: number): Promise<JournalSize[]> {
  const chain = await describeJournalChain(layout, { from })
  const out: JournalSize[] = []
  for (const a of chain.archives) {
    const f = a.files[0]
    if (!f) continue
    const st = await statOrNull(f.path)
    if (st === null) continue
    let size = st.size
    try {
      if (f.compressed) size = await gzipIsize(f.path, st.size)
    } catch (err) {
      // Removed between the listing and the read (a retention script): it is behind the reader anyway.
      if (isErrnoException(err) && err.code === 'ENOENT') continue
      throw err
    }
    out.push({ journal: a.journal, path: f.path, size, estimated: f.compressed, mtimeMs: st.mtimeMs, live: false })
  }
  const live = await statOrNull(chain.live.path)
  out.push({
    journal: chain.live.journal,
    path: live ? chain.live.path : null,
    size: live?.size ?? 0,
    estimated: false,
    mtimeMs: live?.mtimeMs ?? null,
    live: true,
  })
  return out
}

/** Bytes after `position` in `sizes` (journals before it count nothing; a position past a journal's end counts 0 of it). */
export function bytesAfter(sizes: readonly JournalSize[], position: { journal: number; offset: number }): number {
  let n = 0
  for (const s of sizes) {
    if (s.journal < position.journal) continue
    n += s.journal === position.journal ? Math.max(0, s.size - position.offset) : s.size
  }
  return n
}

/**
 * A gzip file's decompressed size from its trailer's ISIZE field (RFC 1952
 * section 2.3.1): the last 4 bytes, little-endian. An estimate: ISIZE is the
 * size modulo 2^32 and describes only the last member of a multi-member
 * file, and a file still being written has no trailer yet. Exact for a
 * single-member archive under 4 GiB, which is what `gzip journal.N` makes.
 */
export async function gzipIsize(path: string, fileSize: number): Promise<number> {
  // A gzip member is at least 18 bytes (10 header + 8 trailer, with an empty deflate stream's 2).
  if (fileSize < 18) return 0
  const fh = await open(path, 'r')
  try {
    const buf = Buffer.alloc(4)
    const { bytesRead } = await fh.read(buf, 0, 4, fileSize - 4)
    return bytesRead === 4 ? buf.readUInt32LE(0) : 0
  } finally {
    await fh.close()
  }
}

/**
 * Whether archived journal `n` holds exactly `size` bytes (decompressed), or
 * null when no archive of it is on disk. A `.gz` archive is inflated to
 * count (stopping once past `size`), every member: its ISIZE trailer is an
 * estimate (see {@link gzipIsize}). An archive that does not inflate holds
 * no known size: false.
 */
export async function archiveHoldsExactly(layout: JournalLayout, n: number, size: number): Promise<boolean | null> {
  const archive = await findArchive(layout, n)
  if (!archive) return null
  if (!archive.compressed) {
    const st = await statOrNull(archive.path)
    return st === null ? null : st.size === size
  }
  try {
    return (await inflatedUpTo(archive.path, size + 1)) === size
  } catch (err) {
    if (isErrnoException(err) && err.code === 'ENOENT') return null
    return false
  }
}

/**
 * The inflated size of the gzip file `path` (every member), counted up to
 * `stop`: once the count reaches it, inflating stops and the count so far
 * (at least `stop`) is returned. Rejects when the file does not inflate.
 */
async function inflatedUpTo(path: string, stop: number): Promise<number> {
  let count = 0
  const enough = new Error('enough')
  try {
    await pipeline(createReadStream(path), createGunzip(), async (inflated: AsyncIterable<Buffer>) => {
      for await (const chunk of inflated) {
        count += chunk.length
        if (count >= stop) throw enough
      }
    })
  } catch (err) {
    if (err !== enough) throw err
  }
  return count
}

/**
 * Whether journal `n` of the server holds at least `size` bytes
 * (decompressed): its archive, or the live journal when `n` is the live
 * one as seen by a reader at journal `reading` (the journal it reads now,
 * which exists). False when it holds fewer, or `n` is past the live
 * journal; null when neither is on disk (an archive removed by a
 * retention script). A `.gz` archive is taken at its ISIZE trailer when
 * that says enough, else inflated to count (ISIZE is an estimate).
 */
export async function journalHoldsAtLeast(layout: JournalLayout, reading: number, n: number, size: number): Promise<boolean | null> {
  // Twice: the live journal renamed (or copied and truncated) into archive n between the looks is found the second time.
  for (let tries = 0; tries < 2; tries++) {
    const archived = await archiveHoldsAtLeast(layout, n, size)
    if (archived === true) return true
    const chain = await describeJournalChain(layout, { from: reading })
    const live = await statOrNull(chain.live.path)
    // An archive shorter than the live journal may be a copy under way (copy, then truncate): it cannot tell.
    if (archived === false) return live !== null && live.size >= size ? null : false
    if (n < chain.live.journal) return null
    if (n > chain.live.journal) return false
    if (live !== null && live.size >= size) return true
  }
  return false
}

async function archiveHoldsAtLeast(layout: JournalLayout, n: number, size: number): Promise<boolean | null> {
  const archive = await findArchive(layout, n)
  if (!archive) return null
  const st = await statOrNull(archive.path)
  if (st === null) return null
  if (!archive.compressed) return st.size >= size
  if ((await gzipIsize(archive.path, st.size).catch(() => 0)) >= size) return true
  // One that does not inflate (damaged, or still being written) tells nothing.
  return inflatedUpTo(archive.path, size).then(
    (count) => count >= size,
    () => null,
  )
}

async function statOrNull(path: string): Promise<{ size: number; mtimeMs: number } | null> {
  try {
    const st = await stat(path)
    return st.isFile() ? st : null
  } catch (err) {
    if (isErrnoException(err) && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) return null
    throw err
  }
}
