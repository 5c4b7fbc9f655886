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
 * The server releases a set of table versions is consistent with: the
 * intersection of each one's documented releases, as its first and last
 * release. Null when they agree on none, including when a documented table
 * comes at a version the documents do not describe (older than 2006.2, as
 * conversion tools write, or newer than 2024.1). Tables the documents do
 * not know at all say nothing and are passed over.
 */
export function releaseRange(versions: Iterable<TableVersion>): ReleaseRange | null {
  const common = new Uint8Array(RELEASES.length).fill(1)
  for (const { table, version } of versions) {
    if (tableVersions(table).length === 0) continue
    const set = releaseSet(table, version)
    for (let i = 0; i < common.length; i++) common[i] = (common[i] as number) & (set[i] as number)
  }
  const first = common.indexOf(1)
  if (first < 0) return null
  return { from: RELEASES[first] as string, to: RELEASES[common.lastIndexOf(1)] as string }
}
