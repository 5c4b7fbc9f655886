/**
 * A realistic `p4d -jc` checkpoint: the `@nx@ 0` header, per table in lock
 * order an `@nx@ 4` summary, the rows and an `@ex@`, then the `@nx@ 1`
 * trailer and `@ex@`, sized to a byte target shared out between the tables.
 */

import { BatchWriter } from './batch-writer.js'
import { changeRow, descRow, rowSources, type CheckpointProfile, type Depot } from './checkpoint-rows.js'
import { exRecord, nxRecord, quoteField } from './encoding.js'
import { Random } from './random.js'
import { makeClients, makeDescription, makeUsers, type UserInfo } from './vocabulary.js'

const q = quoteField

export type { CheckpointProfile } from './checkpoint-rows.js'

export interface CheckpointOptions {
  /**
   * Size of the yielded Buffers: records are batched until a batch reaches
   * this many bytes (default 1 MiB). 0 yields one record per Buffer.
   */
  batchBytes?: number
  /**
   * `default`: long paths and every big table of a mid-size server (lines
   * of about 150 bytes on average). `short`: records of about 100 bytes,
   * nearly all db.have, db.rev and db.integed, still with db.change and
   * multi-line db.desc rows and an `@ex@` per table.
   */
  profile?: CheckpointProfile
}

export interface CheckpointSummary {
  readonly bytes: number
  readonly records: number
  /** Data rows per table. */
  readonly rows: Readonly<Record<string, number>>
}

/**
 * Lock order and versions of a 2020.1 server's tables, from the 2020
 * fixture's `@nx@ 4` notes (the first bare field: db.integed 0, as the schema documents
 * for 2006.2–2023.1).
 */
const LOCK_ORDER: readonly (readonly [string, number])[] = (
  'db.config:1 db.configh:0 db.counters:1 db.nameval:1 db.upgrades.rp:0 db.upgrades:0 db.logger:0 db.ldap:0 ' +
  'db.server:3 db.svrview:0 db.remote:1 db.rmtview:1 db.stash:0 db.user.rp:7 db.user:7 db.ticket.rp:0 db.ticket:0 ' +
  'db.group:9 db.groupx:1 db.depot:1 db.stream:1 db.integedss:0 db.domain:7 db.template:2 db.templatesx:2 ' +
  'db.templatewx:2 db.view.rp:1 db.view:1 db.repoview:1 db.haveview:1 db.review:1 db.integ:0 db.integed:0 ' +
  'db.integtx:0 db.resolve:1 db.resolvex:1 db.resolveg:0 db.have.rp:3 db.have:3 db.label:0 db.locks:2 db.locksg:2 ' +
  'db.excl:1 db.exclg:0 db.exclgx:0 db.archive:1 db.archmap:0 db.scandir:0 db.scanctl:0 db.storagesh:1 ' +
  'db.storage:1 db.storageg:0 db.rev:9 db.revtx:9 db.revcx:0 db.revdx:9 db.revhx:9 db.revsx:9 db.revsh:9 ' +
  'db.revbx:9 db.revux:9 db.revstg:9 db.working:10 db.workingx:10 db.workingg:0 db.haveg:0 db.traits:0 ' +
  'db.trigger:3 db.change:6 db.changex:6 db.changeidx:1 db.desc:0 db.repo:3 db.refhist:0 db.ref:0 db.object:0 ' +
  'db.graphindex:1 db.graphperm:0 db.submodule:0 db.pubkey:0 db.job:0 db.jobpend:0 db.jobdesc:0 db.fix:1 ' +
  'db.fixrev:1 db.boddate:0 db.bodresolve:1 db.bodresolvex:0 db.bodtext:1 db.bodtextcx:0 db.bodtexthx:0 ' +
  'db.bodtextsx:1 db.bodtextwx:1 db.ixdate:0 db.ixtext:0 db.ixtexthx:0 db.uxtext:0 db.protect:5 db.property:0 db.message:0'
)
  .split(' ')
  .map((s) => {
    const [name, version] = s.split(':')
    return [name as string, Number(version)] as const
  })

/**
 * Share of the data bytes per budgeted table, modelled on the db.* file
 * sizes of a mid-size production server: db.have, db.rev and db.integed
 * dominate. db.change and db.desc together get CHANGE_SHARE; db.fix takes
 * the remainder (nominally 3%) so that the total lands on target.
 */
const SHARES: Readonly<Record<CheckpointProfile, Readonly<Record<string, number | undefined>>>> = {
  default: {
    'db.user': 0.004,
    'db.domain': 0.01,
    'db.view': 0.015,
    'db.integed': 0.14,
    'db.have': 0.26,
    'db.storage': 0.05,
    'db.rev': 0.22,
    'db.revcx': 0.06,
    'db.revhx': 0.07,
  },
  // A server with many workspaces and branches: db.have, db.rev and db.integed are nearly everything.
  short: {
    'db.user': 0.002,
    'db.domain': 0.004,
    'db.view': 0.004,
    'db.integed': 0.33,
    'db.have': 0.45,
    'db.rev': 0.14,
  },
}
const CHANGE_SHARE: Readonly<Record<CheckpointProfile, number>> = { default: 0.14, short: 0.035 }

/**
 * A checkpoint of about `targetBytes` (never less than its fixed skeleton of
 * table notes, about 10 KB), yielded as Buffers of whole records of about
 * `batchBytes` each (0: one record per Buffer); returns what was written.
 * Depends only on its arguments.
 */
export function* checkpointRecords(
  seed: number,
  root: string,
  targetBytes: number,
  batchBytes: number,
  profile: CheckpointProfile = 'default',
): Generator<Buffer, CheckpointSummary, undefined> {
  if (SHARES[profile] === undefined) throw new RangeError(`unknown checkpoint profile ${JSON.stringify(profile)}: default or short`)
  const shares = SHARES[profile]
  const base = new Random(seed).fork('checkpoint')
  const time = 1_611_008_050 + base.int(0, 86_400 * 365)
  const pid = base.int(2_000, 60_000)
  const ex = exRecord(pid, time)
  const users = makeUsers(seed)
  const d: Depot = { changes: 1, time, clients: makeClients(base.fork('clients'), 24), users }
  const descriptions = () => base.fork('descriptions') // the same stream for db.change and db.desc

  // Fixed skeleton: header, trailer, one summary and one @ex@ per table.
  const summary = (name: string, version: number, rows: number) => nxRecord(4, time, [version, 0, rows > 0 ? base.uint32() | 0 : 0], [name])
  const header = nxRecord(0, time, [10], [root, 'journal'])
  const tail = nxRecord(1, time, [], []) + ex
  const data = Math.max(0, targetBytes - Buffer.byteLength(header) - skeletonBytes(null, summary, ex, tail))

  // As many changes as fill the profile's CHANGE_SHARE with their db.change + db.desc rows
  // (one cheap dry run over the descriptions; the real rows differ by a few bytes).
  const changeBudget = data * CHANGE_SHARE[profile]
  const dry = descriptions()
  let changeBytes = 0
  for (d.changes = 0; changeBytes < changeBudget; d.changes++) {
    const desc = makeDescription(dry, users[0] as UserInfo)
    changeBytes += Buffer.byteLength(changeRow(d.changes + 1, desc, d)) + Buffer.byteLength(descRow(d.changes + 1, desc))
  }
  d.changes = Math.max(1, d.changes)
  const sources = rowSources(base.fork('rows'), d, profile)
  const fixed: Record<string, string[]> = {
    'db.config': [`@pv@ 1 @db.config@ @any@ @unicode@ @1@ \n`, `@pv@ 1 @db.config@ @any@ @security@ @3@ \n`],
    'db.counters': [
      `@pv@ 1 @db.counters@ @change@ ${q(String(d.changes))} \n`,
      `@pv@ 1 @db.counters@ @journal@ ${q(String(1 + ((seed >>> 0) % 500)))} \n`,
      `@pv@ 1 @db.counters@ @maxCommitChange@ ${q(String(d.changes))} \n`,
      `@pv@ 1 @db.counters@ @upgrade@ @36@ \n`,
    ],
    'db.depot': [`@pv@ 1 @db.depot@ @depot@ 0 @@ @depot/...@ \n`, `@pv@ 1 @db.depot@ @spec@ 3 @.p4s@ @spec/...@ \n`],
  }

  const w = new BatchWriter(batchBytes)
  const rows: Record<string, number> = {}
  w.write(header)
  for (const [name, version] of LOCK_ORDER) {
    let budget = 0
    if (name === 'db.fix')
      budget = targetBytes - w.bytes - skeletonBytes(name, summary, ex, tail) // the remainder
    else if (shares[name] !== undefined) budget = data * shares[name]
    const fixedRows = fixed[name] ?? []
    const isChange = name === 'db.change' || name === 'db.desc'
    w.write(summary(name, version, fixedRows.length > 0 || budget > 0 || isChange ? 1 : 0))
    let n = 0
    for (const r of fixedRows) {
      w.write(r)
      n++
    }
    if (isChange) {
      // Both tables list changes newest first, with the same descriptions.
      const rng = descriptions()
      for (let c = d.changes; c >= 1; c--) {
        const desc = makeDescription(rng, users[0] as UserInfo)
        w.write(name === 'db.change' ? changeRow(c, desc, d) : descRow(c, desc))
        n++
        while (w.ready.length > 0) yield w.ready.shift() as Buffer
      }
    }
    const source = sources[name]
    for (let used = 0; source && used < budget; n++) {
      used += w.write(source())
      while (w.ready.length > 0) yield w.ready.shift() as Buffer
    }
    if (n > 0) rows[name] = n
    w.write(ex)
    while (w.ready.length > 0) yield w.ready.shift() as Buffer
  }
  w.write(nxRecord(1, time, [], []))
  w.write(ex)
  w.flush()
  while (w.ready.length > 0) yield w.ready.shift() as Buffer
  return { bytes: w.bytes, records: w.records, rows }
}

/** Bytes of the table summaries and `@ex@`s from table `from` (null: all) on, plus `tail`. */
function skeletonBytes(from: string | null, summary: (name: string, version: number, rows: number) => string, ex: string, tail: string): number {
  let bytes = Buffer.byteLength(tail)
  let after = from === null
  for (const [name, version] of LOCK_ORDER) {
    if (name === from) after = true
    if (after) bytes += summary(name, version, 0).length + ex.length
  }
  return bytes
}
