/**
 * The data rows of a generated checkpoint, table by table: a synthetic
 * depot whose files, revisions and changes are derived from their index by
 * hashing, so that every table agrees without remembering anything.
 */

import { quoteField, truncateUtf8 } from './encoding.js'
import type { Random } from './random.js'
import { BASES, BRANCHES, DIRS, EXTENSIONS, PROJECTS, hash32, pickBy, type ClientInfo, type UserInfo } from './vocabulary.js'

const q = quoteField

/** Per-table row source: returns the next row's record text (never runs out). */
export type RowSource = () => string

/** What every table's rows agree on. */
export interface Depot {
  changes: number
  time: number
  clients: readonly ClientInfo[]
  users: readonly UserInfo[]
}

/** Which kind of checkpoint: `default` (long paths, many tables) or `short` (short db.rev, db.have and db.integed records). */
export type CheckpointProfile = 'default' | 'short'

function longDepotPath(i: number): string {
  const h = hash32(i + 0x9e37)
  const [ext] = pickBy(EXTENSIONS, h >>> 8)
  return `//depot/${pickBy(PROJECTS, i)}/${pickBy(BRANCHES, h)}/${pickBy(DIRS, h >>> 4)}/${pickBy(BASES, h >>> 12)}${i}.${ext}`
}

/** The short profile's base names: the short ones (non-ASCII included). */
const SHORT_BASES = BASES.filter((b) => b.length <= 6)

/** The short profile's paths: no directory level, short names, so records stay near 100 bytes. */
function shortDepotPath(i: number): string {
  const h = hash32(i + 0x9e37)
  const [ext] = pickBy(EXTENSIONS, h >>> 8)
  return `//depot/${pickBy(PROJECTS, i)}/${pickBy(BRANCHES, h)}/${pickBy(SHORT_BASES, h >>> 12)}${i.toString(36)}.${ext}`
}

function fileType(i: number): number {
  return pickBy(EXTENSIONS, hash32(i + 0x9e37) >>> 8)[1]
}

/** Revisions of file i: 1 to 8, most files have few. */
function headRev(i: number): number {
  const h = hash32(i ^ 0x5bd1e995) % 100
  return h < 50 ? 1 : h < 75 ? 2 : h < 88 ? 3 : 4 + (h % 5)
}

function changeOf(i: number, rev: number, d: Depot): number {
  const base = hash32(i * 31 + 7) % Math.max(1, Math.floor(d.changes / 2))
  return Math.min(d.changes, 1 + base + (rev - 1) * (1 + (hash32(i) % 97)))
}

/**
 * The row sources of every budgeted table. The `short` profile writes
 * db.rev, db.have and db.integed with shorter paths (about 100 bytes a
 * record) and db.rev's digest-and-size tail; the other tables are the same.
 */
export function rowSources(rng: Random, d: Depot, profile: CheckpointProfile = 'default'): Record<string, RowSource> {
  const t = d.time
  const depotPath = profile === 'short' ? shortDepotPath : longDepotPath
  const perFile = (emit: (i: number, rev: number) => string): RowSource => {
    let i = 0
    let rev = headRev(0)
    return () => {
      if (rev === 0) rev = headRev(++i)
      return emit(i, rev--)
    }
  }
  const revRow = (table: string) => (i: number, rev: number) => {
    const path = depotPath(i)
    const type = fileType(i)
    const change = changeOf(i, rev, d)
    const date = t - (d.changes - change) * 600
    return `@pv@ 9 @${table}@ ${q(path)} ${rev} ${type} ${rev === 1 ? 0 : 1} ${change} ${date} ${date - rng.int(0, 999)} ${rng.hex(16)} ${rng.int(0, 900_000)} 0 0 ${q(path)} ${q(`1.${change}`)} ${type} \n`
  }
  let haveIdx = 0
  let userIdx = 0
  let clientIdx = 0
  let viewIdx = 0
  let integIdx = 0
  let fixIdx = 0
  return {
    'db.user': () => {
      const u = d.users[userIdx % d.users.length] as UserInfo
      const n = Math.floor(userIdx++ / d.users.length)
      const name = n === 0 ? u.name : `${u.name}${n}`
      return `@pv@ 7 @db.user@ ${q(name)} ${q(name + u.email.slice(u.name.length))} @@ ${t - rng.int(0, 9e6)} ${t - rng.int(0, 9e4)} ${q(u.fullName)} @@ 0 @@ 0 0 0 0 0 0 \n`
    },
    'db.domain': () => {
      const c = d.clients[clientIdx % d.clients.length] as ClientInfo
      const name = `${c.name}-${Math.floor(clientIdx++ / d.clients.length)}`
      return `@pv@ 7 @db.domain@ ${q(name)} 99 ${q(c.host)} ${q(c.root)} @@ @@ ${q(c.owner)} ${t - 86_400} ${t} 0 ${q(`Created by ${c.owner}.\n`)} @@ @@ 0 \n`
    },
    'db.view': () => {
      const c = d.clients[viewIdx % d.clients.length] as ClientInfo
      const name = `${c.name}-${Math.floor(viewIdx++ / d.clients.length)}`
      return `@pv@ 1 @db.view@ ${q(name)} 0 0 ${q(`//${name}/...`)} ${q(`${c.branch}/...`)} \n`
    },
    'db.integed': () => {
      const i = integIdx++
      const to = depotPath(i)
      const from = to.replace(/^(\/\/depot\/[^/]+\/)[^/]+/, '$1main')
      const change = changeOf(i, 1, d)
      const how = rng.pick([0, 1, 2, 3, 4, 5])
      return `@pv@ 0 @db.integed@ ${q(to)} ${q(from)} 0 ${rng.int(1, 9)} 0 1 ${how} ${change} \n`
    },
    'db.have': () => {
      const c = d.clients[haveIdx % d.clients.length] as ClientInfo
      const i = Math.floor(haveIdx++ / 3)
      const path = depotPath(i)
      // The short profile's workspaces have short names (`alice-3`), as many sites name them.
      const client = profile === 'short' ? `${c.owner}-${haveIdx % 7}` : c.name
      const local = `//${client}/${path.slice(8)}`
      return `@pv@ 3 @db.have@ ${q(local)} ${q(path)} ${headRev(i)} ${fileType(i)} ${t - rng.int(0, 9e6)} \n`
    },
    'db.storage': perFile((i, rev) => {
      const change = changeOf(i, rev, d)
      const size = rng.int(0, 900_000)
      return `@pv@ 1 @db.storage@ ${q(depotPath(i))} ${q(`1.${change}`)} ${fileType(i)} 1 ${rng.hex(16)} ${size} ${size >>> 2} 00000000000000000000000000000000 ${t - (d.changes - change) * 600} \n`
    }),
    'db.rev': perFile(revRow('db.rev')),
    'db.revcx': perFile((i, rev) => `@pv@ 0 @db.revcx@ ${changeOf(i, rev, d)} ${q(depotPath(i))} ${rev} ${rev === 1 ? 0 : 1} \n`),
    'db.revhx': perFile(revRow('db.revhx')),
    'db.fix': () => {
      const i = fixIdx++
      const c = d.clients[i % d.clients.length] as ClientInfo
      return `@pv@ 1 @db.fix@ ${q(`job${String(i + 1).padStart(6, '0')}`)} ${1 + (hash32(i) % d.changes)} ${t - rng.int(0, 9e6)} @closed@ ${q(c.name)} ${q(c.owner)} \n`
    },
  }
}

/** The db.change row of `change`, its description cut to 31 bytes. */
export function changeRow(change: number, desc: string, d: Depot): string {
  const c = d.clients[hash32(change) % d.clients.length] as ClientInfo
  const date = d.time - (d.changes - change) * 600
  return `@pv@ 6 @db.change@ ${change} ${change} ${q(c.name)} ${q(c.owner)} ${date} 1 ${q(truncateUtf8(desc, 31))} ${q(`${c.branch}/...`)} @@ @@ 0 0 @@ \n`
}

/** The db.desc row of `change`. */
export function descRow(change: number, desc: string): string {
  return `@pv@ 0 @db.desc@ ${change} ${q(desc)} \n`
}
