/**
 * The journal's transactions: their shapes, and the records p4d writes for
 * each (a submit, a user or client spec, a counter, a note), always ending
 * with the transaction's `@ex@`.
 */

import type { ChosenFile } from './depot-files.js'
import { TABLE_VERSIONS, exRecord, nxRecord, quoteField, truncateUtf8 } from './encoding.js'
import type { Random } from './random.js'
import type { ClientInfo, UserInfo } from './vocabulary.js'

const q = quoteField
const V = TABLE_VERSIONS

export interface SubmitInfo {
  readonly change: number
  readonly user: string
  readonly client: string
  /** The full description as stored in db.desc (UTF-8, ends with LF). */
  readonly description: string
  /** Depot paths of the submitted files, in record order. */
  readonly files: readonly string[]
}

export type TransactionKind = 'submit' | 'user' | 'client' | 'counter' | 'journal-counter' | 'restart' | 'journal-header' | 'reviews'

export interface CounterInfo {
  readonly name: string
  /** The value as text (bare when `version` is 0, quoted when 1). */
  readonly value: string
  readonly version: 0 | 1
}

export interface TransactionBase {
  readonly kind: TransactionKind
  readonly pid: number
  /** Epoch seconds written in the `@ex@`. */
  readonly time: number
  /**
   * This transaction's records in order, each ending with LF; the last one is
   * its `@ex@`. When interleaved, its `@mx@` is included.
   */
  readonly records: Buffer[]
}

export interface SubmitTransaction extends TransactionBase {
  readonly kind: 'submit'
  readonly submit: SubmitInfo
}

export interface UserTransaction extends TransactionBase {
  readonly kind: 'user'
  readonly user: UserInfo
}

export interface ClientTransaction extends TransactionBase {
  readonly kind: 'client'
  readonly client: ClientInfo
}

export interface CounterTransaction extends TransactionBase {
  readonly kind: 'counter' | 'journal-counter'
  readonly counter: CounterInfo
}

export interface NoteTransaction extends TransactionBase {
  readonly kind: 'restart' | 'journal-header'
}

/** A user's Reviews field rewritten (`p4 user -f`): the old db.review rows deleted, the new ones put. */
export interface ReviewsTransaction extends TransactionBase {
  readonly kind: 'reviews'
  readonly user: string
  /** The new Reviews lines, in order (`-` for exclusions, quoted when they hold spaces). */
  readonly lines: readonly string[]
}

export type Transaction = SubmitTransaction | UserTransaction | ClientTransaction | CounterTransaction | NoteTransaction | ReviewsTransaction

/** What `next()` returns: one transaction, or two of different pids interleaved. */
export interface Batch {
  /** All records in write order. */
  readonly records: Buffer[]
  readonly transactions: Transaction[]
  /** True when a second pid's transaction was written inside the first (`@mx@`). */
  readonly interleaved: boolean
  /** Total bytes of `records`. */
  readonly bytes: number
}

/** What a submit is made of; the files are chosen (and remembered) by the caller. */
export interface SubmitParts {
  readonly pid: number
  readonly time: number
  readonly change: number
  readonly client: ClientInfo
  readonly user: UserInfo
  readonly description: string
  readonly files: readonly ChosenFile[]
  /** db.change's table version: 6 (2020.1, default) or 2 (a pre-2006 server's 8 fields: no importer, identity, access, update, stream). */
  readonly changeVersion?: 2 | 6
}

/** The records of a submit: counters, db.desc, db.change, then per file have, rev, integ, working, locks. */
export function submitTransaction(rng: Random, parts: SubmitParts): SubmitTransaction {
  const { pid, time, change, client, user, description, files } = parts
  const short = truncateUtf8(description, 31)
  const rows: string[] = []
  if (rng.chance(0.1)) rows.push(`@rv@ 0 @db.counters@ @change@ ${change} \n`)
  else rows.push(`@rv@ ${V['db.counters']} @db.counters@ @change@ ${q(String(change))} \n`)
  rows.push(`@pv@ ${V['db.desc']} @db.desc@ ${change} ${q(description)} \n`)
  const common = commonRoot(files.map((f) => f.path))
  const changeTail = `${q(client.name)} ${q(user.name)} ${time}`
  rows.push(`@dv@ ${V['db.changex']} @db.changex@ ${change} ${change} ${changeTail} 0 ${q(short)} @@ @@ @@ 0 0 @@ \n`)
  if (parts.changeVersion === 2) rows.push(`@rv@ 2 @db.change@ ${change} ${change} ${changeTail} 1 ${q(short)} ${q(common)} \n`)
  else rows.push(`@rv@ ${V['db.change']} @db.change@ ${change} ${change} ${changeTail} 1 ${q(short)} ${q(common)} @@ @@ 0 0 @@ \n`)
  for (const f of files) {
    const digest = f.action === 2 ? '00000000000000000000000000000000' : rng.hex(16)
    const size = f.action === 2 ? -1 : rng.int(0, f.type === 0 ? 200_000 : 50_000_000)
    const modTime = time - rng.int(0, 3_600)
    const clientFile = `//${client.name}/${f.path.slice(client.branch.length + 1)}`
    const revTail = `${f.rev} ${f.type} ${f.action} ${change} ${time} ${modTime} ${digest} ${size} 0 0 ${q(f.lbrFile)} ${q(`1.${f.lbrChange ?? change}`)} ${f.type}`
    if (f.action !== 2) rows.push(`@pv@ ${V['db.have']} @db.have@ ${q(clientFile)} ${q(f.path)} ${f.rev} ${f.type} ${time} \n`)
    else rows.push(`@dv@ ${V['db.have']} @db.have@ ${q(clientFile)} ${q(f.path)} ${f.rev - 1} ${f.type} ${time} \n`)
    rows.push(`@pv@ ${V['db.rev']} @db.rev@ ${q(f.path)} ${revTail} \n`)
    rows.push(`@pv@ ${V['db.revhx']} @db.revhx@ ${q(f.path)} ${revTail} \n`)
    rows.push(`@pv@ ${V['db.revcx']} @db.revcx@ ${change} ${q(f.path)} ${f.rev} ${f.action} \n`)
    if (f.from !== null) {
      // Both directions, as p4d stores integration history.
      const how = f.action === 3 ? [2, 3] : [0, 1]
      rows.push(`@pv@ ${V['db.integed']} @db.integed@ ${q(f.path)} ${q(f.from)} 0 ${f.fromRev} ${f.rev - 1} ${f.rev} ${how[0]} ${change} \n`)
      rows.push(`@pv@ ${V['db.integed']} @db.integed@ ${q(f.from)} ${q(f.path)} ${f.rev - 1} ${f.rev} 0 ${f.fromRev} ${how[1]} ${change} \n`)
    }
    rows.push(
      `@dv@ ${V['db.working']} @db.working@ ${q(clientFile)} ${q(f.path)} ${q(client.name)} ${q(user.name)} ` +
        `${f.rev - 1} ${f.rev} 0 ${f.action} 0 1 ${modTime} ${f.type} ${digest} ${size} 0 0 0 @@ 0 \n`,
    )
    rows.push(`@dv@ ${V['db.locks']} @db.locks@ ${q(f.path)} ${q(client.name)} ${q(user.name)} 0 1 1 \n`)
  }
  rows.push(`@rv@ ${V['db.counters']} @db.counters@ @maxCommitChange@ ${q(String(change))} \n`)
  rows.push(exRecord(pid, time))
  const submit: SubmitInfo = { change, user: user.name, client: client.name, description, files: files.map((f) => f.path) }
  return { kind: 'submit', pid, time, records: rows.map(toBuffer), submit }
}

/** A user created or updated (`p4 user -o | p4 user -i`, login time). */
export function userTransaction(rng: Random, pid: number, time: number, users: readonly UserInfo[]): UserTransaction {
  const user = rng.pick(users)
  const op = rng.chance(0.2) ? 'pv' : 'rv'
  const access = time - rng.int(0, 600)
  const row = `@${op}@ ${V['db.user']} @db.user@ ${q(user.name)} ${q(user.email)} @@ ${time} ${access} ${q(user.fullName)} ` + `@@ 0 @@ 0 0 0 0 0 0 \n`
  return { kind: 'user', pid, time, records: [row, exRecord(pid, time)].map(toBuffer), user }
}

/** A client spec created or updated: db.view rows and the db.domain row. */
export function clientTransaction(rng: Random, pid: number, time: number, client: ClientInfo): ClientTransaction {
  const rows = client.view.map(
    ([depot, local], i) =>
      `@pv@ ${V['db.view']} @db.view@ ${q(client.name)} ${i} ${depot.startsWith('-') ? 1 : 0} ${q(local)} ${q(depot.replace(/^-/, ''))} \n`,
  )
  const desc = rng.chance(0.7) ? `Created by ${client.owner}.\n` : `Build machine for ${client.branch}\n@owner: ${client.owner}\n`
  rows.push(
    `@pv@ ${V['db.domain']} @db.domain@ ${q(client.name)} 99 ${q(client.host)} ${q(client.root)} @@ @@ ${q(client.owner)} ` +
      `${time} ${time} 0 ${q(desc)} @@ @@ 0 \n`,
  )
  rows.push(exRecord(pid, time))
  return { kind: 'client', pid, time, records: rows.map(toBuffer), client }
}

/**
 * A counter update. Mostly version 1 (`@rv@ 1 @db.counters@ @name@ @value@ `),
 * sometimes the old version 0 with a bare value (`@pv@ 0 @db.counters@ @change@ 123 `).
 * Without a name, a random counter; the `change` counter's default value is `lastChange`.
 */
export function counterTransaction(rng: Random, pid: number, time: number, lastChange: number, name?: string, value?: string): CounterTransaction {
  const counter = name ?? rng.pick(['review', 'jenkins.last.change', 'p4dtg.sync', 'change', 'lastTicketCleanup', 'security'])
  const numeric = value ?? String(counter === 'change' ? Math.max(lastChange, 1) : rng.int(0, 2_000_000))
  const version: 0 | 1 = /^-?\d+$/.test(numeric) && rng.chance(0.2) ? 0 : 1
  const shown = version === 0 ? numeric : q(numeric)
  const row = `@${rng.chance(0.3) ? 'pv' : 'rv'}@ ${version} @db.counters@ ${q(counter)} ${shown} \n`
  const records = [row, exRecord(pid, time)].map(toBuffer)
  return { kind: 'counter', pid, time, records, counter: { name: counter, value: numeric, version } }
}

/** `@pv@ 1 @db.counters@ @journal@ @n@ `: the journal counter after a rotation. */
export function journalCounterTransaction(pid: number, time: number, n: number): CounterTransaction {
  const row = `@pv@ ${V['db.counters']} @db.counters@ @journal@ ${q(String(n))} \n`
  const records = [row, exRecord(pid, time)].map(toBuffer)
  return { kind: 'journal-counter', pid, time, records, counter: { name: 'journal', value: String(n), version: 1 } }
}

/** `@nx@ 7` server restart note (s1 port, s2 root), then its `@ex@`. */
export function restartTransaction(rng: Random, pid: number, time: number, root: string): NoteTransaction {
  const port = rng.pick(['1666', 'ssl:1666', 'tcp64:[::]:1666'])
  const records = [nxRecord(7, time, [], [port, root]), exRecord(pid, time)].map(toBuffer)
  return { kind: 'restart', pid, time, records }
}

/** `@nx@ 2` journal header note for journal `n` (s1 root, s2 journal file name). */
export function journalHeaderTransaction(pid: number, time: number, n: number, root: string): NoteTransaction {
  const records = [nxRecord(2, time, [n], [root, 'journal']), exRecord(pid, time)].map(toBuffer)
  return { kind: 'journal-header', pid, time, records }
}

/** One transaction as a batch. */
export function singleBatch(t: Transaction): Batch {
  return batchOf([t], t.records, false)
}

/**
 * `second` committed while `first` was still open: p4d writes an `@mx@` for
 * the open pid at `time`, the other transaction, then the rest of `first`.
 */
export function interleave(first: Transaction, split: number, second: Transaction, time: number): Batch {
  const mx = Buffer.from(`@mx@ ${first.pid} ${time}\n`)
  const firstRecords = [...first.records.slice(0, split), mx, ...first.records.slice(split)]
  const records = [...first.records.slice(0, split), mx, ...second.records, ...first.records.slice(split)]
  return batchOf([{ ...first, records: firstRecords }, second], records, true)
}

function toBuffer(s: string): Buffer {
  return Buffer.from(s, 'utf8')
}

function batchOf(transactions: Transaction[], records: Buffer[], interleaved: boolean): Batch {
  let bytes = 0
  for (const r of records) bytes += r.length
  return { records, transactions, interleaved, bytes }
}

/** `//depot/x/y/*` when all files share a directory, else the common root + `/...`. */
function commonRoot(paths: readonly string[]): string {
  const dirs = paths.map((p) => p.slice(0, p.lastIndexOf('/')))
  let prefix = dirs[0] ?? '//depot'
  for (const d of dirs) {
    while (d !== prefix && !d.startsWith(prefix + '/')) prefix = prefix.slice(0, prefix.lastIndexOf('/'))
  }
  return dirs.every((d) => d === prefix) ? `${prefix}/*` : `${prefix}/...`
}

/** One db.review row: user, seq, mapFlag (0 include, 1 exclude), depotFile, type. */
export function reviewRow(op: 'pv' | 'dv', user: string, seq: number, line: string): string {
  const exclude = line.startsWith('-')
  const path = (exclude || line.startsWith('+') ? line.slice(1) : line).replace(/^"(.*)"$/, '$1')
  return `@${op}@ ${V['db.review']} @db.review@ ${q(user)} ${seq} ${exclude ? 1 : 0} ${q(path)} 0 \n`
}

/** A user's Reviews field rewritten: p4d deletes the old rows and puts the new ones in one transaction. */
export function reviewsTransaction(pid: number, time: number, user: string, oldLines: readonly string[], lines: readonly string[]): ReviewsTransaction {
  const rows = [...oldLines.map((l, i) => reviewRow('dv', user, i, l)), ...lines.map((l, i) => reviewRow('pv', user, i, l))]
  return { kind: 'reviews', pid, time, records: [...rows, exRecord(pid, time)].map(toBuffer), user, lines: [...lines] }
}
