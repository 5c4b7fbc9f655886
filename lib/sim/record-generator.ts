/**
 * Realistic Perforce journal and checkpoint records, generated
 * deterministically from a seed and written exactly as p4d writes them (see
 * JOURNAL-FORMAT.md and the real files in fixtures/p4d/):
 *
 * - fields separated by one space; quoted fields `@…@` with `@` doubled;
 *   bare decimal integers and 32-hex MD5 digests;
 * - a space after the last field of data records and `@nx@` notes, none after
 *   `@ex@` / `@mx@` (`@ex@ 24632 1611008050\n`);
 * - table versions of a 2020.1 server (`@50@`): db.rev 9, db.have 3,
 *   db.change 6, db.user 7, db.domain 7, db.integed 7, …
 *
 * This file is longer than the style guide likes: the vocabulary, the
 * transaction model and the checkpoint model share the same helpers and the
 * brief limits this work to this one module. Split candidates: the
 * vocabulary (top), the checkpoint (bottom).
 */

import { Random } from './random.js'

// ---------------------------------------------------------------- encoding

/** Quotes a value as p4d does: `@value@`, with every `@` doubled. */
export function quoteField(value: string): string {
  return '@' + (value.includes('@') ? value.replaceAll('@', '@@') : value) + '@'
}

const q = quoteField

/** Server version written in notes: 50 is 2020.1, as in the 2020 fixture. */
export const SERVER_VERSION = 50

/** Table schema versions of a 2020.1 server (from the fixtures). */
export const TABLE_VERSIONS = {
  'db.change': 6,
  'db.changex': 6,
  'db.config': 1,
  'db.counters': 1,
  'db.depot': 1,
  'db.desc': 0,
  'db.domain': 7,
  'db.fix': 1,
  'db.have': 3,
  'db.integed': 7,
  'db.locks': 2,
  'db.rev': 9,
  'db.revcx': 0,
  'db.revhx': 9,
  'db.storage': 1,
  'db.user': 7,
  'db.view': 1,
  'db.working': 10,
} as const

const V = TABLE_VERSIONS

function exRecord(pid: number, time: number): string {
  return `@ex@ ${pid} ${time}\n`
}

function nxRecord(type: number, time: number, ints: readonly number[], strs: readonly string[]): string {
  const i = [0, 1, 2, 3, 4].map((k) => ints[k] ?? 0).join(' ')
  const s = [0, 1, 2, 3, 4].map((k) => q(strs[k] ?? '')).join(' ')
  return `@nx@ ${type} ${time} @${SERVER_VERSION}@ ${i} ${s} \n`
}

/** Truncates to at most `max` UTF-8 bytes without splitting a character. */
function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s
  let out = ''
  let bytes = 0
  for (const ch of s) {
    const n = Buffer.byteLength(ch)
    if (bytes + n > max) break
    out += ch
    bytes += n
  }
  return out
}

// -------------------------------------------------------------- vocabulary

interface UserSeed {
  readonly name: string
  readonly fullName: string
  readonly windows: boolean
}

const USERS: readonly UserSeed[] = [
  { name: 'alice', fullName: 'Alice Liddell', windows: false },
  { name: 'bob', fullName: 'Bob Müller', windows: true },
  { name: 'chen.wei', fullName: '陈伟', windows: false },
  { name: 'dmitri', fullName: 'Дмитрий Иванов', windows: false },
  { name: 'zoe', fullName: 'Zoë Çelik', windows: true },
  { name: 'jgarcia', fullName: 'José García', windows: true },
  { name: 'yuki', fullName: '佐藤 由紀', windows: false },
  { name: 'olafur', fullName: 'Ólafur Þórsson', windows: false },
  { name: 'priya', fullName: 'Priya Natarajan', windows: true },
  { name: 'build', fullName: 'Build Service', windows: false },
  { name: 'svc-jenkins', fullName: 'Jenkins (CI)', windows: false },
  { name: 'p4admin', fullName: 'Perforce Admin', windows: false },
]

const EMAIL_DOMAINS = ['example.com', 'corp.example.co.uk', 'studio.example.org']
const PROJECTS = ['engine', 'tools', 'web', 'docs', 'game']
const BRANCHES = ['main', 'dev', 'rel-1.0', 'rel-2.1']
const DIRS = [
  'src', 'src/core', 'src/net', 'src/journal', 'include', 'test', 'test/fixtures', 'scripts',
  'assets/textures', 'assets/Übersetzungen', 'docs', 'docs/Release Notes', 'build/win64', 'third_party/zlib',
]
const BASES = [
  'main', 'socket', 'reader', 'writer', 'config', 'README', 'Makefile', 'util', 'parser', 'icon%402x',
  'ファイル', 'schema', 'release notes', 'CMakeLists', 'index', 'player', 'shader', 'font-ß', 'app', 'server',
]
const EXTENSIONS: readonly (readonly [string, number])[] = [
  ['c', 0], ['h', 0], ['ts', 0], ['md', 0], ['txt', 0], ['py', 0], ['cpp', 0], ['sh', 0],
  ['png', 65539], ['dds', 65539], ['dll', 1], ['pdf', 65539], ['xml', 0], ['json', 0],
]

const SUBJECTS = [
  'Fix null dereference in journal reader',
  'Add retry with backoff to the listener',
  'Update copyright headers',
  'Bump version to 2.1.3',
  'Rename config keys (see RFC-12)',
  'Überarbeitung der Dokumentation',
  '修正: ファイル名の文字化け',
  'Исправлена ошибка сборки под Windows',
  'Ajout du support de l’encodage UTF-8 — première étape',
  'WIP',
  '🚀 release 2.1',
  'Revert "Speed up checkpoint restore"',
  'Merge down from main',
  'Tweak shader constants for the night scene',
  'Remove dead code',
  'CI: pin toolchain to gcc 12.2',
]

/**
 * Body lines. Some are hostile on purpose: lines that look like journal
 * records, lone and doubled `@`, backslashes, tabs, non-ASCII text.
 */
const BODY_LINES = [
  '',
  'Details:',
  '- paths like C:\\Users\\build\\workspace\\src\\main.c are normalised now',
  '- copied from \\\\fileserver\\builds\\nightly\\latest',
  'Jira: PROJ-1234, PROJ-1240',
  'Test plan: ran the full suite twice.',
  'A line that looks like a record:',
  '@pv@ 7 @db.rev@ @//depot/main/a.c@ 3 0 1 1234 1611008050 1611008040 D41D8CD98F00B204E9800998ECF8427E 0 0 0 ',
  '@ex@ 4242 1611008050',
  '@nx@ 7 1611008050 @50@ 0 0 0 0 0 @1666@ @.@ @@ @@ @@ ',
  '@',
  '@@',
  'ends with an at sign @',
  'spam@@example.com is not an address',
  '100% done; tickets cost 3 @ $5',
  'tab\tseparated\tvalues',
  'Ελληνικά: ένα μικρό κείμενο',
  'naïve café résumé — “quotes” ‘too’',
  '中文描述：修复了一个错误',
  'emoji: 😀 🚀 ✔',
  '    indented code: if (a && b) { return "x\\n"; }',
]

function hash32(x: number): number {
  let h = Math.imul(x ^ (x >>> 16), 0x7feb352d)
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b)
  return (h ^ (h >>> 16)) >>> 0
}

function pickBy<T>(items: readonly T[], h: number): T {
  return items[h % items.length] as T
}

/** A client of `owner` mapping one branch; Windows users get `C:\\…` roots. */
function makeClient(rng: Random, owner: UserSeed, suffix: string): ClientInfo {
  const project = rng.pick(PROJECTS)
  const branchName = rng.pick(BRANCHES)
  const branch = `//depot/${project}/${branchName}`
  const host = owner.windows ? `${owner.name.toUpperCase().replace(/[^A-Z]/g, '')}-WIN10` : `ws-${owner.name.replace(/\W/g, '')}-linux`
  const name = `${owner.name}_${host}_${project}-${branchName}${suffix}`
  const root = owner.windows
    ? `C:\\Users\\${owner.name}\\Perforce\\${project}-${branchName}`
    : `/home/${owner.name}/p4/${project}-${branchName}`
  const view: [string, string][] = [[`${branch}/...`, `//${name}/...`]]
  if (rng.chance(0.3)) view.push([`-${branch}/build/...`, `//${name}/build/...`])
  return { name, owner: owner.name, host, root, branch, view }
}

/** A realistic multi-line change description (ends with LF, as p4 stores it). */
function makeDescription(rng: Random, reviewer: UserInfo): string {
  const subject = rng.pick(SUBJECTS)
  if (rng.chance(0.3)) return subject + '\n'
  const lines = [subject, '']
  const n = rng.chance(0.01) ? rng.int(100, 400) : rng.int(1, 8)
  for (let i = 0; i < n; i++) {
    let line = rng.pick(BODY_LINES)
    if (n > 50) line = `* change ${i}: ${line}`
    if (rng.chance(0.02)) line += '\rcarriage return inside a line'
    lines.push(line)
  }
  if (rng.chance(0.5)) lines.push(`Reviewed-by: ${reviewer.fullName} <${reviewer.email}>`)
  // Descriptions typed on Windows sometimes keep their CRLF.
  const eol = rng.chance(0.05) ? '\r\n' : '\n'
  return lines.join(eol) + eol
}

// ---------------------------------------------------------------- metadata

export interface UserInfo {
  readonly name: string
  readonly email: string
  readonly fullName: string
}

export interface ClientInfo {
  readonly name: string
  readonly owner: string
  readonly host: string
  readonly root: string
  /** Depot path of the branch the client maps, e.g. `//depot/engine/main`. */
  readonly branch: string
  /** View lines as `[depotSide, clientSide]`; exclusions start with `-`. */
  readonly view: readonly (readonly [string, string])[]
}

export interface SubmitInfo {
  readonly change: number
  readonly user: string
  readonly client: string
  /** The full description as stored in db.desc (UTF-8, ends with LF). */
  readonly description: string
  /** Depot paths of the submitted files, in record order. */
  readonly files: readonly string[]
}

export type TransactionKind =
  | 'submit'
  | 'user'
  | 'client'
  | 'counter'
  | 'journal-counter'
  | 'restart'
  | 'journal-header'

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

export type Transaction = SubmitTransaction | UserTransaction | ClientTransaction | CounterTransaction | NoteTransaction

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

export interface RecordGeneratorOptions {
  /** First changelist number to submit (default: derived from the seed). */
  startChange?: number
  /** Epoch seconds of the first transaction (default: derived from the seed). */
  startTime?: number
  /** Server root written in notes (default `/p4/root`). */
  root?: string
}

export interface CheckpointOptions {
  /**
   * Size of the yielded Buffers: records are batched until a batch reaches
   * this many bytes (default 1 MiB). 0 yields one record per Buffer.
   */
  batchBytes?: number
}

export interface CheckpointSummary {
  readonly bytes: number
  readonly records: number
  /** Data rows per table. */
  readonly rows: Readonly<Record<string, number>>
}

interface FileState {
  rev: number
  type: number
}

/** Cap on the files the journal model remembers, to keep memory flat. */
const MAX_TRACKED_FILES = 20_000

// ------------------------------------------------------------ the generator

export class RecordGenerator {
  readonly seed: number
  readonly root: string
  #rng: Random
  #time: number
  #pid: number
  #change: number
  #users: UserInfo[]
  #clients: ClientInfo[] = []
  #files = new Map<string, FileState>()
  #byBranch = new Map<string, string[]>()

  constructor(seed: number, options: RecordGeneratorOptions = {}) {
    this.seed = seed
    this.#rng = new Random(seed)
    this.root = options.root ?? '/p4/root'
    this.#time = options.startTime ?? 1_611_008_050 + this.#rng.int(0, 86_400 * 365)
    this.#change = (options.startChange ?? this.#rng.int(1_000, 90_000)) - 1
    this.#pid = this.#rng.int(2_000, 30_000)
    this.#users = USERS.map((u, i) => ({
      name: u.name,
      fullName: u.fullName,
      email: `${u.name}@${pickBy(EMAIL_DOMAINS, hash32(seed + i))}`,
    }))
    for (let i = 0; i < 6; i++) this.#clients.push(this.#makeClient())
  }

  /** The last changelist number submitted (0 before the first submit). */
  get lastChange(): number {
    return this.#change
  }

  /** Next batch: mostly one transaction, sometimes two pids interleaved. */
  next(): Batch {
    const first = this.#randomTransaction()
    if (first.records.length < 3 || !this.#rng.chance(0.08)) return batchOf([first], first.records, false)
    // Another process commits while `first` is still open: p4d writes an
    // `@mx@` for the open pid, the other transaction, then the rest.
    const split = this.#rng.int(1, first.records.length - 2)
    const second = this.#randomTransaction(true)
    const mx = Buffer.from(`@mx@ ${first.pid} ${this.#time}\n`)
    const firstRecords = [...first.records.slice(0, split), mx, ...first.records.slice(split)]
    const records = [...first.records.slice(0, split), mx, ...second.records, ...first.records.slice(split)]
    return batchOf([{ ...first, records: firstRecords }, second], records, true)
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
    const short = truncateUtf8(description, 31)
    const integFrom = rng.chance(0.15) ? rng.pick(BRANCHES.filter((b) => !client.branch.endsWith(`/${b}`))) : null
    const nFiles = rng.weighted<number>([[1, 30], [2, 20], [3, 15], [rng.int(4, 12), 25], [rng.int(13, 60), 9], [rng.int(61, 250), 1]])
    const files = this.#chooseFiles(client.branch, nFiles, integFrom)
    const rows: string[] = []
    if (rng.chance(0.1)) rows.push(`@rv@ 0 @db.counters@ @change@ ${change} \n`)
    else rows.push(`@rv@ ${V['db.counters']} @db.counters@ @change@ ${q(String(change))} \n`)
    rows.push(`@pv@ ${V['db.desc']} @db.desc@ ${change} ${q(description)} \n`)
    const common = commonRoot(files.map((f) => f.path))
    const changeTail = `${q(client.name)} ${q(user.name)} ${time}`
    rows.push(`@dv@ ${V['db.changex']} @db.changex@ ${change} ${change} ${changeTail} 0 ${q(short)} @@ @@ @@ 0 0 @@ \n`)
    rows.push(`@rv@ ${V['db.change']} @db.change@ ${change} ${change} ${changeTail} 1 ${q(short)} ${q(common)} @@ @@ 0 0 @@ \n`)
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
  userUpdate(): UserTransaction {
    const pid = this.#nextPid()
    const time = this.#tick()
    const user = this.#rng.pick(this.#users)
    const op = this.#rng.chance(0.2) ? 'pv' : 'rv'
    const access = time - this.#rng.int(0, 600)
    const row =
      `@${op}@ ${V['db.user']} @db.user@ ${q(user.name)} ${q(user.email)} @@ ${time} ${access} ${q(user.fullName)} ` +
      `@@ 0 @@ 0 0 0 0 0 0 \n`
    return { kind: 'user', pid, time, records: [row, exRecord(pid, time)].map(toBuffer), user }
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
    const rows = client.view.map(
      ([depot, local], i) =>
        `@pv@ ${V['db.view']} @db.view@ ${q(client.name)} ${i} ${depot.startsWith('-') ? 1 : 0} ${q(local)} ${q(depot.replace(/^-/, ''))} \n`,
    )
    const desc = this.#rng.chance(0.7) ? `Created by ${client.owner}.\n` : `Build machine for ${client.branch}\n@owner: ${client.owner}\n`
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
   */
  counterUpdate(name?: string, value?: string): CounterTransaction {
    const pid = this.#nextPid()
    const time = this.#tick()
    const rng = this.#rng
    const counter = name ?? rng.pick(['review', 'jenkins.last.change', 'p4dtg.sync', 'change', 'lastTicketCleanup', 'security'])
    const numeric = value ?? String(counter === 'change' ? Math.max(this.#change, 1) : rng.int(0, 2_000_000))
    const version: 0 | 1 = /^-?\d+$/.test(numeric) && rng.chance(0.2) ? 0 : 1
    const shown = version === 0 ? numeric : q(numeric)
    const row = `@${rng.chance(0.3) ? 'pv' : 'rv'}@ ${version} @db.counters@ ${q(counter)} ${shown} \n`
    const records = [row, exRecord(pid, time)].map(toBuffer)
    return { kind: 'counter', pid, time, records, counter: { name: counter, value: numeric, version } }
  }

  /** `@pv@ 1 @db.counters@ @journal@ @n@ `: the journal counter after a rotation. */
  journalCounter(n: number): CounterTransaction {
    const pid = this.#nextPid()
    const time = this.#tick()
    const row = `@pv@ ${V['db.counters']} @db.counters@ @journal@ ${q(String(n))} \n`
    const records = [row, exRecord(pid, time)].map(toBuffer)
    return { kind: 'journal-counter', pid, time, records, counter: { name: 'journal', value: String(n), version: 1 } }
  }

  /** `@nx@ 7` server restart note (s1 port, s2 root), then its `@ex@`. */
  restart(): NoteTransaction {
    const pid = this.#nextPid()
    const time = this.#tick()
    const port = this.#rng.pick(['1666', 'ssl:1666', 'tcp64:[::]:1666'])
    const records = [nxRecord(7, time, [], [port, this.root]), exRecord(pid, time)].map(toBuffer)
    return { kind: 'restart', pid, time, records }
  }

  /** `@nx@ 2` journal header note for journal `n` (s1 root, s2 journal file name). */
  journalHeader(n: number): NoteTransaction {
    const pid = this.#nextPid()
    const time = this.#tick()
    const records = [nxRecord(2, time, [n], [this.root, 'journal']), exRecord(pid, time)].map(toBuffer)
    return { kind: 'journal-header', pid, time, records }
  }

  #randomTransaction(short = false): Transaction {
    const kind = this.#rng.weighted<string>(
      short
        ? [['counter', 6], ['user', 2], ['client', 1]]
        : [['submit', 45], ['counter', 30], ['client', 10], ['user', 10], ['restart', 1]],
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

  /** Files of one branch; with `integFrom`, integrated from that sibling branch. */
  #chooseFiles(branch: string, n: number, integFrom: string | null): ChosenFile[] {
    const integ = integFrom !== null
    const rng = this.#rng
    const known = this.#byBranch.get(branch) ?? []
    const out: ChosenFile[] = []
    const seen = new Set<string>()
    for (let i = 0; i < n * 2 && out.length < n; i++) {
      let path: string
      if (known.length > 0 && rng.chance(integ ? 0.3 : 0.6)) path = rng.pick(known)
      else path = `${branch}/${rng.pick(DIRS)}/${rng.pick(BASES)}${rng.chance(0.5) ? rng.int(1, 999) : ''}.${rng.pick(EXTENSIONS)[0]}`
      if (seen.has(path)) continue
      seen.add(path)
      const state = this.#files.get(path)
      const ext = path.slice(path.lastIndexOf('.') + 1)
      const type = state?.type ?? EXTENSIONS.find(([e]) => e === ext)?.[1] ?? 0
      const rev = (state?.rev ?? 0) + 1
      let action: number
      let from: string | null = null
      let fromRev = 0
      if (integFrom !== null) {
        from = path.replace(/^(\/\/depot\/[^/]+\/)[^/]+/, `$1${integFrom}`)
        fromRev = rng.int(1, 20)
        action = state ? 4 : 3 // integrate : branch
      } else if (state) {
        action = rng.chance(0.05) ? 2 : 1 // delete : edit
      } else {
        action = 0 // add
      }
      if (action === 2) this.#files.delete(path)
      else this.#remember(branch, path, { rev, type })
      out.push({ path, rev, type, action, from, fromRev, lbrFile: from ?? path, lbrChange: from ? fromRev : null })
    }
    return out
  }

  #remember(branch: string, path: string, state: FileState): void {
    if (!this.#files.has(path)) {
      if (this.#files.size >= MAX_TRACKED_FILES) return
      let list = this.#byBranch.get(branch)
      if (!list) this.#byBranch.set(branch, (list = []))
      list.push(path)
    }
    this.#files.set(path, state)
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
    return yield* checkpoint(this.seed, this.root, targetBytes, options.batchBytes ?? 1024 * 1024)
  }
}

interface ChosenFile {
  path: string
  rev: number
  type: number
  action: number
  from: string | null
  fromRev: number
  lbrFile: string
  lbrChange: number | null
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

// -------------------------------------------------------------- checkpoint

/**
 * Lock order and versions of a 2020.1 server's tables, from the 2020
 * fixture's `@nx@ 4` notes (db.integed carries its 2019+ version 7).
 */
const LOCK_ORDER: readonly (readonly [string, number])[] = (
  'db.config:1 db.configh:0 db.counters:1 db.nameval:1 db.upgrades.rp:0 db.upgrades:0 db.logger:0 db.ldap:0 ' +
  'db.server:3 db.svrview:0 db.remote:1 db.rmtview:1 db.stash:0 db.user.rp:7 db.user:7 db.ticket.rp:0 db.ticket:0 ' +
  'db.group:9 db.groupx:1 db.depot:1 db.stream:1 db.integedss:0 db.domain:7 db.template:2 db.templatesx:2 ' +
  'db.templatewx:2 db.view.rp:1 db.view:1 db.repoview:1 db.haveview:1 db.review:1 db.integ:0 db.integed:7 ' +
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
const SHARES: Readonly<Record<string, number | undefined>> = {
  'db.user': 0.004,
  'db.domain': 0.01,
  'db.view': 0.015,
  'db.integed': 0.14,
  'db.have': 0.26,
  'db.storage': 0.05,
  'db.rev': 0.22,
  'db.revcx': 0.06,
  'db.revhx': 0.07,
}
const CHANGE_SHARE = 0.14

/** Per-table row source: returns the next row's record text (never runs out). */
type RowSource = () => string

interface Depot {
  changes: number
  time: number
  clients: readonly ClientInfo[]
  users: readonly UserInfo[]
}

function depotPath(i: number): string {
  const h = hash32(i + 0x9e37)
  const [ext] = pickBy(EXTENSIONS, h >>> 8)
  return `//depot/${pickBy(PROJECTS, i)}/${pickBy(BRANCHES, h)}/${pickBy(DIRS, h >>> 4)}/${pickBy(BASES, h >>> 12)}${i}.${ext}`
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

function rowSources(rng: Random, d: Depot): Record<string, RowSource> {
  const t = d.time
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
      return `@pv@ 7 @db.integed@ ${q(to)} ${q(from)} 0 ${rng.int(1, 9)} 0 1 ${how} ${change} \n`
    },
    'db.have': () => {
      const c = d.clients[haveIdx % d.clients.length] as ClientInfo
      const i = Math.floor(haveIdx++ / 3)
      const path = depotPath(i)
      const local = `//${c.name}/${path.slice(8)}`
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

function changeRow(change: number, desc: string, d: Depot): string {
  const c = d.clients[hash32(change) % d.clients.length] as ClientInfo
  const date = d.time - (d.changes - change) * 600
  return `@pv@ 6 @db.change@ ${change} ${change} ${q(c.name)} ${q(c.owner)} ${date} 1 ${q(truncateUtf8(desc, 31))} ${q(`${c.branch}/...`)} @@ @@ 0 0 @@ \n`
}

function descRow(change: number, desc: string): string {
  return `@pv@ 0 @db.desc@ ${change} ${q(desc)} \n`
}

/** Extra room in a batch Buffer, so that most records never straddle a flush. */
const BATCH_SLACK = 64 * 1024

/** Encodes record texts into large Buffers; finished Buffers wait in `ready`. */
class BatchWriter {
  readonly ready: Buffer[] = []
  bytes = 0
  records = 0
  readonly #size: number
  #buf: Buffer
  #used = 0

  constructor(batchBytes: number) {
    this.#size = batchBytes
    this.#buf = Buffer.allocUnsafe(batchBytes > 0 ? batchBytes + Math.min(batchBytes, BATCH_SLACK) : 0)
  }

  /** Appends one record; returns its exact size in bytes. */
  write(text: string): number {
    this.records++
    if (this.#size === 0) {
      const one = Buffer.from(text, 'utf8')
      this.ready.push(one)
      this.bytes += one.length
      return one.length
    }
    const worst = text.length * 3 // UTF-8 bytes per UTF-16 unit, at most
    if (this.#used + worst > this.#buf.length) {
      this.flush()
      if (worst > this.#buf.length) this.#buf = Buffer.allocUnsafe(worst)
    }
    const n = this.#buf.write(text, this.#used, 'utf8')
    this.#used += n
    this.bytes += n
    if (this.#used >= this.#size) this.flush()
    return n
  }

  flush(): void {
    if (this.#used === 0) return
    this.ready.push(this.#buf.subarray(0, this.#used))
    this.#buf = Buffer.allocUnsafe(this.#size + Math.min(this.#size, BATCH_SLACK))
    this.#used = 0
  }
}

function* checkpoint(seed: number, root: string, targetBytes: number, batchBytes: number): Generator<Buffer, CheckpointSummary, undefined> {
  const base = new Random(seed).fork('checkpoint')
  const time = 1_611_008_050 + base.int(0, 86_400 * 365)
  const pid = base.int(2_000, 60_000)
  const ex = exRecord(pid, time)
  const users = USERS.map((u, i) => ({ name: u.name, fullName: u.fullName, email: `${u.name}@${pickBy(EMAIL_DOMAINS, hash32(seed + i))}` }))
  const d: Depot = { changes: 1, time, clients: makeClients(base.fork('clients'), 24), users }
  const descriptions = () => base.fork('descriptions') // the same stream for db.change and db.desc

  // Fixed skeleton: header, trailer, one summary and one @ex@ per table.
  const summary = (name: string, version: number, rows: number) =>
    nxRecord(4, time, [version, 0, rows > 0 ? base.uint32() | 0 : 0], [name])
  const header = nxRecord(0, time, [10], [root, 'journal'])
  const tail = nxRecord(1, time, [], []) + ex
  const data = Math.max(0, targetBytes - Buffer.byteLength(header) - skeletonBytes(null, summary, ex, tail))

  // As many changes as fill CHANGE_SHARE with their db.change + db.desc rows
  // (one cheap dry run over the descriptions; the real rows differ by a few bytes).
  const changeBudget = data * CHANGE_SHARE
  const dry = descriptions()
  let changeBytes = 0
  for (d.changes = 0; changeBytes < changeBudget; d.changes++) {
    const desc = makeDescription(dry, users[0] as UserInfo)
    changeBytes += Buffer.byteLength(changeRow(d.changes + 1, desc, d)) + Buffer.byteLength(descRow(d.changes + 1, desc))
  }
  d.changes = Math.max(1, d.changes)
  const sources = rowSources(base.fork('rows'), d)
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
    if (name === 'db.fix') budget = targetBytes - w.bytes - skeletonBytes(name, summary, ex, tail) // the remainder
    else if (SHARES[name] !== undefined) budget = data * SHARES[name]
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
function skeletonBytes(
  from: string | null,
  summary: (name: string, version: number, rows: number) => string,
  ex: string,
  tail: string,
): number {
  let bytes = Buffer.byteLength(tail)
  let after = from === null
  for (const [name, version] of LOCK_ORDER) {
    if (name === from) after = true
    if (after) bytes += summary(name, version, 0).length + ex.length
  }
  return bytes
}

function makeClients(rng: Random, n: number): ClientInfo[] {
  return Array.from({ length: n }, (_, i) => makeClient(rng, USERS[i % USERS.length] as UserSeed, `_${i}`))
}
