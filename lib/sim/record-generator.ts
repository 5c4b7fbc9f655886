/**
 * Realistic Perforce journal and checkpoint records, generated
 * deterministically from a seed and written exactly as p4d writes them (see
 * docs/journal-format.md and the real files in fixtures/p4d/):
 *
 * - fields separated by one space; quoted fields `@…@` with `@` doubled;
 *   bare decimal integers and 32-hex MD5 digests;
 * - a space after the last field of data records and `@nx@` notes, none after
 *   `@ex@` / `@mx@` (`@ex@ 24632 1611008050\n`);
 * - table versions of a 2020.1 server (`@50@`): db.rev 9, db.have 3,
 *   db.change 6, db.user 7, db.domain 7, db.integed 0, …
 *
 * The RecordGenerator holds the journal model's state (time, pids, changes,
 * users, clients, files) and composes the pieces: encoding.ts (record text),
 * vocabulary.ts (words, users, clients, descriptions), depot-files.ts (the
 * files submitted so far), transactions.ts (each transaction's records) and
 * checkpoint.ts (a whole checkpoint). The types and constants they export
 * that belong to the public API are re-exported here.
 */

import { TABLE_VERSIONS, exRecord, nxRecord, quoteField } from './encoding.js'
import { checkpointRecords, type CheckpointOptions, type CheckpointSummary } from './checkpoint.js'
import { DepotFiles } from './depot-files.js'
import { Random } from './random.js'
import {
  clientTransaction,
  counterTransaction,
  interleave,
  journalCounterTransaction,
  journalHeaderTransaction,
  restartTransaction,
  reviewRow,
  reviewsTransaction,
  singleBatch,
  submitTransaction,
  userTransaction,
  type Batch,
  type ClientTransaction,
  type CounterTransaction,
  type NoteTransaction,
  type ReviewsTransaction,
  type SubmitTransaction,
  type Transaction,
  type UserTransaction,
} from './transactions.js'
import { BRANCHES, PROJECTS, USERS, makeClient, makeDescription, makeUsers, type ClientInfo, type UserInfo } from './vocabulary.js'

export { SERVER_VERSION, TABLE_VERSIONS, quoteField } from './encoding.js'
export type { ClientInfo, UserInfo } from './vocabulary.js'
export type {
  Batch,
  ClientTransaction,
  CounterInfo,
  CounterTransaction,
  NoteTransaction,
  SubmitInfo,
  SubmitTransaction,
  Transaction,
  TransactionBase,
  TransactionKind,
  UserTransaction,
} from './transactions.js'
export type { CheckpointOptions, CheckpointProfile, CheckpointSummary } from './checkpoint.js'

export interface RecordGeneratorOptions {
  /** First changelist number to submit (default: derived from the seed). */
  startChange?: number
  /** Epoch seconds of the first transaction (default: derived from the seed). */
  startTime?: number
  /** Server root written in notes (default `/p4/root`). */
  root?: string
  /**
   * Users edit their Reviews field now and then (db.review rows), mixed
   * into `next()`. Off by default, so journals of a seed stay the same bytes.
   */
  reviews?: boolean
}

export class RecordGenerator {
  readonly seed: number
  readonly root: string
  #rng: Random
  #time: number
  #pid: number
  #change: number
  #users: UserInfo[]
  #clients: ClientInfo[] = []
  #files = new DepotFiles()
  readonly #withReviews: boolean
  /** Each user's current Reviews lines (review mode). */
  readonly #reviews = new Map<string, readonly string[]>()
  /**
   * db.change's table version in submits from now on: 6 (default) or 2.
   * Setting 2 then 6 models a p4d upgrade midway through a journal.
   */
  changeVersion: 2 | 6 = 6

  constructor(seed: number, options: RecordGeneratorOptions = {}) {
    this.seed = seed
    this.#rng = new Random(seed)
    this.root = options.root ?? '/p4/root'
    this.#time = options.startTime ?? 1_611_008_050 + this.#rng.int(0, 86_400 * 365)
    this.#change = (options.startChange ?? this.#rng.int(1_000, 90_000)) - 1
    this.#pid = this.#rng.int(2_000, 30_000)
    this.#users = makeUsers(seed)
    for (let i = 0; i < 6; i++) this.#clients.push(this.#makeClient())
    this.#withReviews = options.reviews === true
    if (this.#withReviews) {
      // Most users start with a subscription, from their own Random so the journal's sequence is not shifted.
      const rng = new Random(seed ^ 0x5eed)
      for (const u of this.#users) if (rng.chance(0.7)) this.#reviews.set(u.name, reviewLines(rng))
    }
  }

  /** The users, with their addresses and full names. */
  get users(): readonly UserInfo[] {
    return this.#users
  }

  /** Each user's current Reviews lines (empty without the `reviews` option). */
  get reviews(): ReadonlyMap<string, readonly string[]> {
    return this.#reviews
  }

  /** A user rewrites their Reviews field (random lines, or the ones given). */
  reviewsUpdate(userName?: string, lines?: readonly string[]): ReviewsTransaction {
    const pid = this.#nextPid()
    const time = this.#tick()
    const user = userName ?? this.#rng.pick(this.#users).name
    const next = lines ?? reviewLines(this.#rng)
    const t = reviewsTransaction(pid, time, user, this.#reviews.get(user) ?? [], next)
    if (next.length > 0) this.#reviews.set(user, [...next])
    else this.#reviews.delete(user)
    return t
  }

  /**
   * A small checkpoint holding the users (db.user) and their Reviews lines
   * (db.review), with the header and trailer notes of `p4d -jc`: the
   * starting state of a review daemon.
   */
  usersCheckpoint(options: { caseInsensitive?: boolean } = {}): Buffer {
    const time = this.#time
    const mode = options.caseInsensitive ? 2 : 0
    const out: string[] = [nxRecord(0, time, [mode], [this.root, 'journal'])]
    for (const u of this.#users) {
      out.push(
        `@pv@ ${TABLE_VERSIONS['db.user']} @db.user@ ${quoteField(u.name)} ${quoteField(u.email)} @@ ${time} ${time} ${quoteField(u.fullName)} @@ 0 @@ 0 0 0 0 0 0 \n`,
      )
    }
    out.push(exRecord(1, time))
    for (const [user, lines] of this.#reviews) {
      for (const [i, l] of lines.entries()) out.push(reviewRow('pv', user, i, l))
    }
    out.push(exRecord(1, time), nxRecord(1, time, [], []), exRecord(1, time))
    return Buffer.from(out.join(''))
  }

  /** The last changelist number submitted (0 before the first submit). */
  get lastChange(): number {
    return this.#change
  }

  /** Next batch: mostly one transaction, sometimes two pids interleaved. */
  next(): Batch {
    const first = this.#randomTransaction()
    if (first.records.length < 3 || !this.#rng.chance(0.08)) return singleBatch(first)
    // Another process commits while `first` is still open.
    const split = this.#rng.int(1, first.records.length - 2)
    const second = this.#randomTransaction(true)
    return interleave(first, split, second, this.#time)
  }

  /** A submit of the next changelist. */
  submit(): SubmitTransaction {
    const pid = this.#nextPid()
    const time = this.#tick()
    const rng = this.#rng
    const client = rng.pick(this.#clients)
    const user = this.#userByName(client.owner)
    const change = ++this.#change
    const description = makeDescription(rng, rng.pick(this.#users))
    const integFrom = rng.chance(0.15) ? rng.pick(BRANCHES.filter((b) => !client.branch.endsWith(`/${b}`))) : null
    const nFiles = rng.weighted<number>([
      [1, 30],
      [2, 20],
      [3, 15],
      [rng.int(4, 12), 25],
      [rng.int(13, 60), 9],
      [rng.int(61, 250), 1],
    ])
    const files = this.#files.choose(rng, client.branch, nFiles, integFrom)
    return submitTransaction(rng, { pid, time, change, client, user, description, files, changeVersion: this.changeVersion })
  }

  /** A user created or updated (`p4 user -o | p4 user -i`, login time). */
  userUpdate(): UserTransaction {
    const pid = this.#nextPid()
    const time = this.#tick()
    return userTransaction(this.#rng, pid, time, this.#users)
  }

  /** A client spec created or updated: db.view rows and the db.domain row. */
  clientSpec(): ClientTransaction {
    const pid = this.#nextPid()
    const time = this.#tick()
    let client: ClientInfo
    if (this.#clients.length < 40 && this.#rng.chance(0.5)) {
      client = this.#makeClient()
      this.#clients.push(client)
    } else {
      client = this.#rng.pick(this.#clients)
    }
    return clientTransaction(this.#rng, pid, time, client)
  }

  /**
   * A counter update. Mostly version 1 (`@rv@ 1 @db.counters@ @name@ @value@ `),
   * sometimes the old version 0 with a bare value (`@pv@ 0 @db.counters@ @change@ 123 `).
   */
  counterUpdate(name?: string, value?: string): CounterTransaction {
    const pid = this.#nextPid()
    const time = this.#tick()
    return counterTransaction(this.#rng, pid, time, this.#change, name, value)
  }

  /** `@pv@ 1 @db.counters@ @journal@ @n@ `: the journal counter after a rotation. */
  journalCounter(n: number): CounterTransaction {
    const pid = this.#nextPid()
    const time = this.#tick()
    return journalCounterTransaction(pid, time, n)
  }

  /** `@nx@ 7` server restart note (s1 port, s2 root), then its `@ex@`. */
  restart(): NoteTransaction {
    const pid = this.#nextPid()
    const time = this.#tick()
    return restartTransaction(this.#rng, pid, time, this.root)
  }

  /** `@nx@ 2` journal header note for journal `n` (s1 root, s2 journal file name). */
  journalHeader(n: number): NoteTransaction {
    const pid = this.#nextPid()
    const time = this.#tick()
    return journalHeaderTransaction(pid, time, n, this.root)
  }

  /**
   * A realistic `p4d -jc` checkpoint of about `targetBytes` (never less than
   * its fixed skeleton of table notes, about 10 KB): `@nx@ 0` header, per
   * table in lock order an `@nx@ 4` summary, the rows and an `@ex@`, then the
   * `@nx@ 1` trailer and `@ex@`. Yields Buffers of whole records (see
   * `batchBytes`); the generator's return value summarises what was written.
   * Depends only on the seed and the arguments, not on earlier calls.
   */
  *checkpointRecords(targetBytes: number, options: CheckpointOptions = {}): Generator<Buffer, CheckpointSummary, undefined> {
    return yield* checkpointRecords(this.seed, this.root, targetBytes, options.batchBytes ?? 1024 * 1024, options.profile)
  }

  #randomTransaction(short = false): Transaction {
    const kind = this.#rng.weighted<string>(
      short
        ? [
            ['counter', 6],
            ['user', 2],
            ['client', 1],
          ]
        : [['submit', 45], ['counter', 30], ['client', 10], ['user', 10], ['restart', 1], ...(this.#withReviews ? [['reviews', 6] as [string, number]] : [])],
    )
    switch (kind) {
      case 'submit':
        return this.submit()
      case 'user':
        return this.userUpdate()
      case 'client':
        return this.clientSpec()
      case 'restart':
        return this.restart()
      case 'reviews':
        return this.reviewsUpdate()
      default:
        return this.counterUpdate()
    }
  }

  #nextPid(): number {
    this.#pid += this.#rng.int(1, 40)
    if (this.#pid > 4_194_304) this.#pid = 300 + this.#rng.int(0, 1_000) // Linux pid_max wraps
    return this.#pid
  }

  #tick(): number {
    this.#time += this.#rng.chance(0.7) ? 0 : this.#rng.int(1, 30)
    return this.#time
  }

  #userByName(name: string): UserInfo {
    return this.#users.find((u) => u.name === name) ?? (this.#users[0] as UserInfo)
  }

  #makeClient(): ClientInfo {
    return makeClient(this.#rng, this.#rng.pick(USERS), `_${this.#rng.int(1, 9999)}`)
  }
}

/** A Reviews field: one to three branch or project subscriptions, sometimes an exclusion or a `*` line. */
function reviewLines(rng: Random): string[] {
  const lines: string[] = []
  const n = rng.int(1, 3)
  for (let i = 0; i < n; i++) {
    const project = rng.pick(PROJECTS)
    lines.push(rng.chance(0.5) ? `//depot/${project}/${rng.pick(BRANCHES)}/...` : `//depot/${project}/...`)
  }
  if (rng.chance(0.3)) lines.push(`-//depot/${rng.pick(PROJECTS)}/.../docs/...`)
  if (rng.chance(0.2)) lines.push(`"//depot/${rng.pick(PROJECTS)}/main/docs/Release Notes/..."`)
  if (rng.chance(0.1)) lines.push(`//depot/*/main/src/*`)
  return lines
}
