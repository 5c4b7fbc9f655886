import { readFile } from 'node:fs/promises'
import { writeFileAtomic } from '../../../files/atomic-write.js'
import { ErrorCodes, LogdaemonError, isErrnoException } from '../../../errors.js'

/** The mirror's own record: for each journal number, how many bytes of `journal.N` are durable. */
export type MirrorLengths = Map<number, number>

interface MirrorStateFile {
  version: 1
  journals: Record<string, number>
}

function corrupt(file: string, why: string, cause?: unknown): LogdaemonError {
  return new LogdaemonError(
    ErrorCodes.MIRROR_MISMATCH,
    `mirror state ${file} ${why}: restore it from a backup, or delete the mirror directory's files to mirror again from the start`,
    { file, cause, retryable: false },
  )
}

/** Reads the state file; a missing file is an empty mirror. */
export async function readMirrorState(file: string): Promise<MirrorLengths> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if (isErrnoException(err) && err.code === 'ENOENT') return new Map()
    throw corrupt(file, 'cannot be read', err)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw corrupt(file, 'is not JSON', err)
  }
  const journals = (parsed as Partial<MirrorStateFile> | null)?.journals
  if ((parsed as Partial<MirrorStateFile> | null)?.version !== 1 || typeof journals !== 'object' || journals === null) {
    throw corrupt(file, 'is not a version 1 mirror state')
  }
  const lengths: MirrorLengths = new Map()
  for (const [k, v] of Object.entries(journals)) {
    const n = Number(k)
    if (!Number.isSafeInteger(n) || n < 0 || typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw corrupt(file, `has a bad entry ${JSON.stringify(k)}: ${JSON.stringify(v)}`)
    }
    lengths.set(n, v)
  }
  return lengths
}

/**
 * Replaces the state file atomically: write a temporary file, fsync it,
 * rename it over the old one, fsync the directory. A crash leaves either
 * the old state or the new one.
 */
export async function writeMirrorState(file: string, lengths: MirrorLengths, fsync: boolean): Promise<void> {
  const journals: Record<string, number> = {}
  for (const [n, len] of [...lengths].sort((a, b) => a[0] - b[0])) journals[String(n)] = len
  const body: MirrorStateFile = { version: 1, journals }
  await writeFileAtomic(file, JSON.stringify(body) + '\n', { fsync })
}
