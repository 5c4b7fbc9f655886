import { spawn } from 'node:child_process'
import { createHash, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, readdir, stat, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { Writable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { ErrorCodes, LogdaemonError, isErrnoException, toError } from '../errors.js'
import { findArchive, describeJournalChain } from '../files/journal-set.js'
import type { JournalLayout } from '../files/journal-name.js'
import { loadConfig, type DaemonConfig } from '../daemon/config.js'
import type { Command } from './command.js'
import { CONFIG_OPTION, DEFAULT_CONFIG_FILE } from './init.js'
import { type HotBackupListener, create as createHotBackup } from '../listeners/builtin/hot-backup/hot-backup.js'
import { shellQuote } from '../listeners/builtin/hot-backup/hot-backup-remote.js'
import { sshArgs, sshError, type SshTarget } from '../listeners/builtin/hot-backup/ssh-channel.js'
import { type MirrorListener, create as createMirror, mirrorPaths } from '../listeners/builtin/mirror/mirror.js'
import { type MirrorLengths, readMirrorState } from '../listeners/builtin/mirror/mirror-state.js'
import type { MirrorOptions } from '../listeners/builtin/mirror/mirror.js'
import type { HotBackupOptions } from '../listeners/builtin/hot-backup/hot-backup-options.js'

/**
 * What `logdaemon verify` found for one journal of one copy:
 *
 * - `identical`: same length, same SHA-256;
 * - `behind`: the copy is a prefix of the server's journal (the daemon has
 *   not copied the rest yet; normal for the live journal);
 * - `differs`: a byte differs, or the copy is longer: `firstDifference` is
 *   the offset of the first byte that is not the server's; or the copy is a
 *   prefix though it has a later journal (or is shorter than the mirror's
 *   state says it synced): `firstDifference` is where it ends; or the server
 *   has no such journal (`serverBytes` null);
 * - `missing`: the copy has no file for a journal between two it has;
 * - `no-source`: the server no longer has the journal (archives removed),
 *   nothing to compare with.
 */
export interface JournalVerdict {
  readonly copy: string
  readonly journal: number
  readonly status: 'identical' | 'behind' | 'differs' | 'missing' | 'no-source'
  readonly serverBytes: number | null
  readonly copyBytes: number | null
  readonly serverSha256: string | null
  readonly copySha256: string | null
  readonly firstDifference: number | null
}

/** Block size of the standby comparison: the remote hashes blocks, the first differing one is fetched. */
const BLOCK = 1024 * 1024

/** The server's bytes of journal `n` (a `.gz` archive decompressed), or null when it has no file for it. */
async function serverJournal(layout: JournalLayout, n: number, live: number): Promise<AsyncIterable<Buffer> | null> {
  const archive = await findArchive(layout, n)
  const path = archive ? archive.path : n === live ? (layout.journal ?? join(layout.root, 'journal')) : null
  if (path === null) return null
  const file = createReadStream(path)
  const opened = await new Promise<boolean>((resolve, reject) => {
    file.once('open', () => resolve(true))
    file.once('error', (err) => (isErrnoException(err) && err.code === 'ENOENT' ? resolve(false) : reject(err)))
  })
  if (!opened) return null
  if (!archive?.compressed) return file
  const gunzip = createGunzip()
  // A reader that stops early (serverRange) destroys the gunzip stream: release the file with it.
  gunzip.once('close', () => file.destroy())
  return named(file.pipe(gunzip), path, n)
}

/** The inflated bytes of `path`; an inflate failure names the archive and has a code (zlib said only "incorrect header check"). */
async function* named(gunzip: AsyncIterable<Buffer>, path: string, journal: number): AsyncGenerator<Buffer> {
  try {
    yield* gunzip
  } catch (err) {
    const e = toError(err)
    if (e instanceof LogdaemonError) throw e
    throw new LogdaemonError(ErrorCodes.GZIP_CORRUPT, `${path}: the server's archive of journal ${journal} cannot be inflated: ${e.message}`, {
      file: path,
      journal,
      cause: e,
    })
  }
}

/** Numbers of the `journal.N` files in `dir`, ascending. */
async function mirroredJournals(dir: string): Promise<number[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    if (isErrnoException(err) && err.code === 'ENOENT') return []
    throw err
  }
  return names
    .map((n) => /^journal\.(\d+)$/.exec(n)?.[1])
    .filter((m): m is string => m !== undefined)
    .map(Number)
    .filter(Number.isSafeInteger)
    .sort((a, b) => a - b)
}

/** Compares the server's journal with a local copy chunk by chunk, hashing both. */
async function compareWithFile(
  server: AsyncIterable<Buffer>,
  fh: FileHandle,
): Promise<Omit<JournalVerdict, 'copy' | 'journal' | 'status'> & { prefix: boolean }> {
  const hs = createHash('sha256')
  const hc = createHash('sha256')
  let offset = 0
  let firstDifference: number | null = null
  let buf = Buffer.alloc(0)
  for await (const chunk of server) {
    if (buf.length < chunk.length) buf = Buffer.alloc(Math.max(chunk.length, 64 * 1024))
    const { bytesRead } = await fh.read(buf, 0, chunk.length, offset)
    const mine = buf.subarray(0, bytesRead)
    hs.update(chunk)
    hc.update(mine)
    if (firstDifference === null) {
      const n = Math.min(bytesRead, chunk.length)
      for (let i = 0; i < n; i++) {
        if (chunk[i] !== mine[i]) {
          firstDifference = offset + i
          break
        }
      }
    }
    offset += chunk.length
  }
  const serverBytes = offset
  const copyBytes = (await fh.stat()).size
  if (copyBytes > serverBytes) {
    await hashRange(fh, hc, serverBytes, copyBytes)
    firstDifference ??= serverBytes
  }
  return {
    serverBytes,
    copyBytes,
    serverSha256: hs.digest('hex'),
    copySha256: hc.digest('hex'),
    firstDifference,
    prefix: firstDifference === null,
  }
}

async function hashRange(fh: FileHandle, h: Hash, from: number, to: number): Promise<void> {
  const buf = Buffer.alloc(64 * 1024)
  for (let at = from; at < to; ) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, to - at), at)
    if (bytesRead === 0) break
    h.update(buf.subarray(0, bytesRead))
    at += bytesRead
  }
}

function verdictOf(copy: string, journal: number, r: Omit<JournalVerdict, 'copy' | 'journal' | 'status'> & { prefix: boolean }): JournalVerdict {
  const { prefix, ...rest } = r
  const status = !prefix ? 'differs' : r.copyBytes === r.serverBytes ? 'identical' : 'behind'
  return { copy, journal, status, ...rest }
}

/**
 * A copy that is a prefix of journal `n` is "behind" only while `n` is the
 * newest journal the copy has (the mirror and the standby finish a journal
 * before they start the next) and no shorter than what the copy recorded as
 * synced (`committed`, the mirror's state): else bytes are missing for good,
 * a difference where the copy ends.
 */
function lostTail(v: JournalVerdict, newest: number, committed: number | undefined): JournalVerdict {
  if (v.status !== 'behind' || v.copyBytes === null) return v
  if (v.journal < newest || (committed !== undefined && v.copyBytes < committed)) return { ...v, status: 'differs', firstDifference: v.copyBytes }
  return v
}

/**
 * Compares every `journal.N` of a mirror directory with the server's journal N.
 * `committed`: the mirror's state (the synced length of each journal), when known.
 */
export async function verifyMirror(layout: JournalLayout, dir: string, copy = dir, committed: MirrorLengths = new Map()): Promise<JournalVerdict[]> {
  const numbers = await mirroredJournals(dir)
  const out: JournalVerdict[] = []
  const none = { serverBytes: null, copyBytes: null, serverSha256: null, copySha256: null, firstDifference: null }
  // Journals the mirror synced that are newer than its newest file: removed (a retention script removes old ones only).
  const recorded = [...committed].filter(([n, length]) => length > 0 && n > (numbers.at(-1) ?? -1)).map(([n]) => n)
  if (numbers.length === 0 && recorded.length === 0) return out
  const live = (await describeJournalChain(layout, { from: Math.min(...numbers, ...recorded) })).live.journal
  const first = numbers[0] ?? Math.min(...recorded)
  const last = Math.max(...numbers, ...recorded)
  for (let n = first; n <= last; n++) {
    if (!numbers.includes(n)) {
      out.push({ copy, journal: n, status: 'missing', ...none })
      continue
    }
    const copyBytes = (await stat(join(dir, `journal.${n}`))).size
    if (n > live) {
      // The server has not written journal n: every byte of the copy is one the server does not have.
      out.push({ copy, journal: n, status: 'differs', ...none, copyBytes, firstDifference: 0 })
      continue
    }
    const server = await serverJournal(layout, n, live)
    if (server === null) {
      out.push({ copy, journal: n, status: 'no-source', ...none })
      continue
    }
    const fh = await open(join(dir, `journal.${n}`), 'r')
    try {
      out.push(lostTail(verdictOf(copy, n, await compareWithFile(server, fh)), last, committed.get(n)))
    } finally {
      await fh.close()
    }
  }
  return out
}

/*
 * The standby side of verify: for each journal number given, `N SIZE` and
 * `N H SHA256` of the whole file, then `N B INDEX SHA256` per block
 * (`M N` when the file is missing). Needs sh, wc, dd and sha256sum.
 */
const HASH_SCRIPT = `d=$1 b=$2; shift 2
for j in "$@"; do
  f="$d/journal.$j"
  if [ -f "$f" ]; then
    n=$(wc -c < "$f") || exit 1; echo "$j S $((n))"
    h=$(sha256sum < "$f") || exit 1; echo "$j H \${h%% *}"
    i=0
    while [ $((i * b)) -lt "$n" ]; do
      h=$(dd if="$f" bs="$b" skip="$i" count=1 2>/dev/null | sha256sum) || exit 1; echo "$j B $i \${h%% *}"; i=$((i + 1))
    done
  else echo "$j M"; fi
done
`
const BLOCK_SCRIPT = `dd if="$1/journal.$2" bs="$3" skip="$4" count=1 2>/dev/null`

function runSsh(target: SshTarget, command: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(target.ssh, sshArgs(target, command), { stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    let err = ''
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err = (err + s).slice(-4096)))
    child.once('error', (e) => reject(new LogdaemonError(ErrorCodes.REMOTE_FAILED, `cannot run ${target.ssh}: ${e.message}`, { cause: e })))
    child.once('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out))
      else reject(sshError(target, err, signal ? `killed by ${signal}` : `exit code ${code}`, null))
    })
  })
}

interface RemoteJournal {
  size: number
  sha256: string
  blocks: string[]
}

/** Per-block and whole SHA-256 of the server's journal bytes. */
async function localBlocks(server: AsyncIterable<Buffer>): Promise<{ size: number; sha256: string; blocks: string[] }> {
  const whole = createHash('sha256')
  const blocks: string[] = []
  let block = createHash('sha256')
  let inBlock = 0
  let size = 0
  for await (const chunk of server) {
    whole.update(chunk)
    size += chunk.length
    for (let at = 0; at < chunk.length; ) {
      const take = Math.min(BLOCK - inBlock, chunk.length - at)
      block.update(chunk.subarray(at, at + take))
      inBlock += take
      at += take
      if (inBlock === BLOCK) {
        blocks.push(block.digest('hex'))
        block = createHash('sha256')
        inBlock = 0
      }
    }
  }
  if (inBlock > 0) blocks.push(block.digest('hex'))
  return { size, sha256: whole.digest('hex'), blocks }
}

/** Bytes [from, from + length) of the server's journal. */
async function serverRange(server: AsyncIterable<Buffer>, from: number, length: number): Promise<Buffer> {
  const parts: Buffer[] = []
  let at = 0
  for await (const chunk of server) {
    const end = at + chunk.length
    if (end > from && at < from + length) parts.push(chunk.subarray(Math.max(0, from - at), Math.min(chunk.length, from + length - at)))
    at = end
    if (at >= from + length) break
  }
  return Buffer.concat(parts)
}

/**
 * Compares the standby's `remoteDir/journal.N` with the server's journals,
 * over ssh with the hot-backup listener's settings: the standby hashes its
 * files in 1 MiB blocks; only the first differing block travels back.
 */
export async function verifyStandby(layout: JournalLayout, target: SshTarget, remoteDir: string, copy: string): Promise<JournalVerdict[]> {
  const chain = await describeJournalChain(layout)
  const numbers = [...chain.archives.map((a) => a.journal), chain.live.journal]
  const words = ['sh', '-c', shellQuote(HASH_SCRIPT), 'verify', shellQuote(remoteDir), String(BLOCK), ...numbers.map(String)]
  const text = (await runSsh(target, words.join(' '))).toString('latin1')
  const remote = new Map<number, RemoteJournal | null>()
  for (const line of text.split('\n')) {
    const [j, kind, a, b] = line.split(' ')
    const n = Number(j)
    if (!Number.isSafeInteger(n) || kind === undefined) continue
    if (kind === 'M') remote.set(n, null)
    else {
      const r = remote.get(n) ?? { size: 0, sha256: '', blocks: [] }
      if (kind === 'S') r.size = Number(a)
      if (kind === 'H') r.sha256 = a ?? ''
      if (kind === 'B') r.blocks[Number(a)] = b ?? ''
      remote.set(n, r)
    }
  }
  const present = numbers.filter((n) => remote.get(n))
  const out: JournalVerdict[] = []
  if (present.length === 0) return out
  for (let n = present[0]!; n <= present.at(-1)!; n++) {
    // A number the server itself lacks (a gap on the server) was not asked for: nothing to say.
    if (!remote.has(n)) continue
    const r = remote.get(n)
    const none = { serverBytes: null, copyBytes: null, serverSha256: null, copySha256: null, firstDifference: null }
    if (!r) {
      out.push({ copy, journal: n, status: 'missing', ...none })
      continue
    }
    const source = await serverJournal(layout, n, chain.live.journal)
    if (source === null) {
      out.push({ copy, journal: n, status: 'no-source', ...none, copyBytes: r.size, copySha256: r.sha256 })
      continue
    }
    const local = await localBlocks(source)
    let first: number | null = null
    const blocks = Math.ceil(Math.min(local.size, r.size) / BLOCK)
    for (let i = 0; i < blocks && first === null; i++) {
      // A block that is whole on one side and partial on the other differs by length only: compare its bytes.
      if (local.blocks[i] === r.blocks[i]) continue
      const mine = await serverRange((await serverJournal(layout, n, chain.live.journal))!, i * BLOCK, BLOCK)
      const theirs = await runSsh(
        target,
        ['sh', '-c', shellQuote(BLOCK_SCRIPT), 'verify', shellQuote(remoteDir), String(n), String(BLOCK), String(i)].join(' '),
      )
      const len = Math.min(mine.length, theirs.length)
      for (let k = 0; k < len; k++) {
        if (mine[k] !== theirs[k]) {
          first = i * BLOCK + k
          break
        }
      }
    }
    if (first === null && r.size > local.size) first = local.size
    const status = first !== null ? 'differs' : r.size === local.size ? 'identical' : 'behind'
    const verdict: JournalVerdict = {
      copy,
      journal: n,
      status,
      serverBytes: local.size,
      copyBytes: r.size,
      serverSha256: local.sha256,
      copySha256: r.sha256,
      firstDifference: first,
    }
    out.push(lostTail(verdict, present.at(-1)!, undefined))
  }
  return out
}

function describe(v: JournalVerdict): string {
  const sha = (s: string | null): string => (s === null ? '-' : s.slice(0, 16))
  switch (v.status) {
    case 'identical':
      return `journal ${v.journal}: identical (${v.serverBytes} bytes, sha256 ${sha(v.serverSha256)}…)`
    case 'behind':
      return `journal ${v.journal}: behind, the copy is a prefix (${v.copyBytes} of ${v.serverBytes} bytes)`
    case 'differs':
      if (v.serverBytes === null) return `journal ${v.journal}: DIFFERS: the server has no journal ${v.journal} (the copy has ${v.copyBytes} bytes)`
      if (v.copyBytes !== null && v.copyBytes < v.serverBytes && v.firstDifference === v.copyBytes) {
        return `journal ${v.journal}: DIFFERS: the copy ends at offset ${v.copyBytes} of ${v.serverBytes} bytes, though it has gone on to a later journal or synced more`
      }
      return (
        `journal ${v.journal}: DIFFERS at offset ${v.firstDifference} (server ${v.serverBytes} bytes sha256 ${sha(v.serverSha256)}…, ` +
        `copy ${v.copyBytes} bytes sha256 ${sha(v.copySha256)}…)`
      )
    case 'missing':
      return `journal ${v.journal}: MISSING from the copy (it has journals after it, or recorded it as synced)`
    case 'no-source':
      return `journal ${v.journal}: not on the server any more; not compared`
  }
}

/** Whether verdicts hold a difference (exit 1). */
export function hasDifference(verdicts: readonly JournalVerdict[]): boolean {
  return verdicts.some((v) => v.status === 'differs' || v.status === 'missing')
}

/** `logdaemon verify`. */
export const verifyCommand: Command = {
  brief: "compare the mirror (and with --connect the standby) with the server's journals by SHA-256; exit 1 on a difference",
  usage: 'logdaemon verify [-c FILE] [--connect]',
  summary:
    "Compares every mirror listener's journal.N with the server's journal N (a .gz archive decompressed),\n" +
    'by SHA-256, and reports the first differing offset. With --connect, also each hot-backup standby,\n' +
    "over ssh with the listener's settings (the standby hashes 1 MiB blocks; only a differing block travels).\n" +
    'A copy that is a prefix of the server\'s journal is "behind", not a difference. Exit 1 on a difference.',
  options: {
    config: { ...CONFIG_OPTION, help: 'the configuration whose mirror and standby to compare' },
    connect: { type: 'boolean', help: 'also compare each hot-backup standby over ssh' },
  },
  examples: [
    ['logdaemon verify', `compare the mirror of ./${DEFAULT_CONFIG_FILE}`],
    ['logdaemon verify --connect', 'and the standby'],
  ],
  async run(values, io) {
    const config = await loadConfig(String(values.config))
    return verifyConfig(config, { connect: values.connect === true, stdout: io.stdout })
  },
}

/**
 * `logdaemon verify [--connect]`: compares every mirror listener's
 * directory (and with `connect` every hot-backup standby) with the
 * server's journals. Prints one line per journal; returns 1 when any copy
 * differs or misses a journal, else 0.
 */
export async function verifyConfig(config: DaemonConfig, options: { connect: boolean; stdout: Writable }): Promise<number> {
  const server = config.server
  if (!server) {
    throw new LogdaemonError(
      ErrorCodes.CONFIG_INVALID,
      "verify compares copies with the server's journal files: this configuration reads a jetstream source and names no server",
    )
  }
  const out = options.stdout
  let checked = 0
  let differs = false
  for (const l of config.listeners) {
    if (l.type === 'mirror') {
      const m = createMirror(l.options as MirrorOptions, { name: l.name, baseDir: config.baseDir }) as MirrorListener
      const verdicts = await verifyMirror(server, m.dir, m.dir, await readMirrorState(mirrorPaths(l.options as MirrorOptions, config.baseDir).stateFile))
      out.write(`mirror "${l.name}" (${m.dir}):\n`)
      if (verdicts.length === 0) out.write('  no journal.N files yet\n')
      for (const v of verdicts) out.write(`  ${describe(v)}\n`)
      checked++
      differs ||= hasDifference(verdicts)
    } else if (l.type === 'hot-backup') {
      if (!options.connect) {
        out.write(`hot-backup "${l.name}": not compared (add --connect to compare the standby over ssh)\n`)
        continue
      }
      const h = createHotBackup(l.options as HotBackupOptions, { name: l.name, baseDir: config.baseDir }) as HotBackupListener
      const { target, remoteDir } = h.standby
      if (remoteDir === null) {
        out.write(`hot-backup "${l.name}": not compared: it uses remoteCommand, so verify does not know where the standby keeps its journals\n`)
        continue
      }
      let verdicts: JournalVerdict[]
      try {
        verdicts = await verifyStandby(server, target, remoteDir, `${target.host}:${remoteDir}`)
      } catch (err) {
        out.write(`hot-backup "${l.name}" (${target.host}:${remoteDir}): cannot compare: ${toError(err).message}\n`)
        differs = true
        continue
      }
      out.write(`hot-backup "${l.name}" (${target.host}:${remoteDir}):\n`)
      if (verdicts.length === 0) out.write('  no journal.N files yet\n')
      for (const v of verdicts) out.write(`  ${describe(v)}\n`)
      checked++
      differs ||= hasDifference(verdicts)
    }
  }
  if (checked === 0)
    out.write('nothing compared: the configuration has no mirror listener' + (options.connect ? ' and no hot-backup listener with remoteDir' : '') + '\n')
  out.write(differs ? 'verify: DIFFERENCES found (exit 1)\n' : 'verify: no difference\n')
  return differs ? 1 : 0
}
