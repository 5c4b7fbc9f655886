import { basename, join } from 'node:path'

/** `journal.12`, `journal.12.gz`, `PREFIX.jnl.12`, `PREFIX.jnl.12.gz` (any directory). */
const NUMBERED_RE = /(?:^|\.)(?:journal|jnl)\.(\d+)(?:\.gz)?$/

/** The N of a numbered journal's file name, or null for any other name. */
export function journalNumberOf(file: string): number | null {
  const m = NUMBERED_RE.exec(basename(file))
  if (!m) return null
  const n = Number(m[1])
  return Number.isSafeInteger(n) ? n : null
}

/** Where a server keeps its journals. */
export interface JournalLayout {
  /** P4ROOT. */
  root: string
  /** The live journal (P4JOURNAL). Default `root/journal`. */
  journal?: string
  /** journalPrefix: archives are `PREFIX.jnl.N` instead of `root/journal.N`. */
  prefix?: string | null
}

/** The live journal's path. */
export function liveJournalPath(layout: JournalLayout): string {
  return layout.journal ?? join(layout.root, 'journal')
}

/**
 * The paths where archived journal N may be, in the order to try: with a
 * prefix `PREFIX.jnl.N` then `.gz`, then the unprefixed `root/journal.N` and
 * `.gz`. A relative prefix is taken from the root, as p4d does.
 */
export function archiveCandidates(layout: JournalLayout, n: number): string[] {
  const paths: string[] = []
  if (layout.prefix) {
    const prefix = layout.prefix.startsWith('/') ? layout.prefix : join(layout.root, layout.prefix)
    paths.push(`${prefix}.jnl.${n}`, `${prefix}.jnl.${n}.gz`)
  }
  paths.push(join(layout.root, `journal.${n}`), join(layout.root, `journal.${n}.gz`))
  return paths
}
