import { layoutsOf, tableVersions } from './layout.js'
import { RELEASES } from './p4-schema-data.js'

/** A span of server releases, both ends included (`2019.1` … `2023.1`). */
export interface ReleaseRange {
  readonly from: string
  readonly to: string
}

/** A table version as a record carries it. */
export interface TableVersion {
  readonly table: string
  readonly version: number
}

/** Every release whose schema documents describe a layout, oldest first (2006.2 … 2024.1). */
export function documentedReleases(): readonly string[] {
  return RELEASES
}

/** The releases whose documents describe `table` at `version`, oldest first (empty when undocumented). */
export function releasesOf(table: string, version: number): string[] {
  const set = releaseSet(table, version)
  return RELEASES.filter((_, i) => set[i] === 1)
}

function releaseSet(table: string, version: number): Uint8Array {
  const set = new Uint8Array(RELEASES.length)
  for (const layout of layoutsOf(table, version)) {
    const first = RELEASES.indexOf(layout.releases.first)
    const last = RELEASES.indexOf(layout.releases.last)
    for (let i = first; i <= last; i++) set[i] = 1
  }
  return set
}

/**
 * The releases a table at `version` is consistent with: those documenting
 * it, and, when it is the table's newest documented version, every release
 * after the last document that describes the table at all. Later documents
 * leave out tables that servers still have (db.integ, db.jobdesc,
 * db.boddate, db.ixdate stop at 2013.1, yet a 2020 server's checkpoint
 * lists them at the same versions): silence is not a newer version.
 */
function consistentSet(table: string, version: number): Uint8Array {
  const set = releaseSet(table, version)
  const versions = tableVersions(table)
  if (version === versions[versions.length - 1]) {
    let last = -1
    for (const v of versions) last = Math.max(last, set.lastIndexOf(1), releaseSet(table, v).lastIndexOf(1))
    for (let i = last + 1; i < set.length; i++) set[i] = 1
  }
  return set
}

/**
 * The server releases a set of table versions is consistent with: the
 * intersection of each one's documented releases (see consistentSet for
 * tables the later documents leave out), as its first and last release.
 * Null when they agree on none, including when a documented table comes at
 * a version the documents do not describe (older than 2006.2, as
 * conversion tools write, or newer than 2024.1). Tables the documents do
 * not know at all say nothing and are passed over; with nothing else, the
 * range is unknown (null) too.
 */
export function releaseRange(versions: Iterable<TableVersion>): ReleaseRange | null {
  const common = new Uint8Array(RELEASES.length).fill(1)
  let known = false
  for (const { table, version } of versions) {
    if (tableVersions(table).length === 0) continue
    known = true
    const set = consistentSet(table, version)
    for (let i = 0; i < common.length; i++) common[i] = (common[i] as number) & (set[i] as number)
  }
  const first = common.indexOf(1)
  if (!known || first < 0) return null
  return { from: RELEASES[first] as string, to: RELEASES[common.lastIndexOf(1)] as string }
}
