/**
 * The words the simulated server is made of: users, projects, branches,
 * directories, file names and types, change descriptions; and the helpers
 * that turn them into users, clients and descriptions from a Random.
 */

import type { Random } from './random.js'

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

export interface UserSeed {
  readonly name: string
  readonly fullName: string
  readonly windows: boolean
}

export const USERS: readonly UserSeed[] = [
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
export const PROJECTS = ['engine', 'tools', 'web', 'docs', 'game']
export const BRANCHES = ['main', 'dev', 'rel-1.0', 'rel-2.1']
export const DIRS = [
  'src',
  'src/core',
  'src/net',
  'src/journal',
  'include',
  'test',
  'test/fixtures',
  'scripts',
  'assets/textures',
  'assets/Übersetzungen',
  'docs',
  'docs/Release Notes',
  'build/win64',
  'third_party/zlib',
]
export const BASES = [
  'main',
  'socket',
  'reader',
  'writer',
  'config',
  'README',
  'Makefile',
  'util',
  'parser',
  'icon%402x',
  'ファイル',
  'schema',
  'release notes',
  'CMakeLists',
  'index',
  'player',
  'shader',
  'font-ß',
  'app',
  'server',
]
export const EXTENSIONS: readonly (readonly [string, number])[] = [
  ['c', 0],
  ['h', 0],
  ['ts', 0],
  ['md', 0],
  ['txt', 0],
  ['py', 0],
  ['cpp', 0],
  ['sh', 0],
  ['png', 65539],
  ['dds', 65539],
  ['dll', 1],
  ['pdf', 65539],
  ['xml', 0],
  ['json', 0],
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

/** A 32-bit integer hash (lowbias32): stable picks that need no Random. */
export function hash32(x: number): number {
  let h = Math.imul(x ^ (x >>> 16), 0x7feb352d)
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b)
  return (h ^ (h >>> 16)) >>> 0
}

/** The item that hash `h` selects. */
export function pickBy<T>(items: readonly T[], h: number): T {
  return items[h % items.length] as T
}

/** A client of `owner` mapping one branch; Windows users get `C:\\…` roots. */
export function makeClient(rng: Random, owner: UserSeed, suffix: string): ClientInfo {
  const project = rng.pick(PROJECTS)
  const branchName = rng.pick(BRANCHES)
  const branch = `//depot/${project}/${branchName}`
  const host = owner.windows ? `${owner.name.toUpperCase().replace(/[^A-Z]/g, '')}-WIN10` : `ws-${owner.name.replace(/\W/g, '')}-linux`
  const name = `${owner.name}_${host}_${project}-${branchName}${suffix}`
  const root = owner.windows ? `C:\\Users\\${owner.name}\\Perforce\\${project}-${branchName}` : `/home/${owner.name}/p4/${project}-${branchName}`
  const view: [string, string][] = [[`${branch}/...`, `//${name}/...`]]
  if (rng.chance(0.3)) view.push([`-${branch}/build/...`, `//${name}/build/...`])
  return { name, owner: owner.name, host, root, branch, view }
}

/** A realistic multi-line change description (ends with LF, as p4 stores it). */
export function makeDescription(rng: Random, reviewer: UserInfo): string {
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

/** The fixed users, with e-mail domains chosen by the seed. */
export function makeUsers(seed: number): UserInfo[] {
  return USERS.map((u, i) => ({
    name: u.name,
    fullName: u.fullName,
    email: `${u.name}@${pickBy(EMAIL_DOMAINS, hash32(seed + i))}`,
  }))
}

/** `n` clients, owned by the users in turn. */
export function makeClients(rng: Random, n: number): ClientInfo[] {
  return Array.from({ length: n }, (_, i) => makeClient(rng, USERS[i % USERS.length] as UserSeed, `_${i}`))
}
