import { wildcardMatcher, type WildcardToken } from '../../../journal/wildcard.js'
import type { SubmittedChange } from './change-collector.js'

export interface ChangeFilterOptions {
  /** Depot path patterns in Perforce syntax: `...` any text, `*` any text but `/`. */
  paths?: readonly string[]
  /** Perforce user names. */
  users?: readonly string[]
}

/**
 * `//depot/main/...` → a predicate; `...` spans directories, `*` does not,
 * `%%1`-style positionals act as `*`. Matched in O(path × pattern) time
 * (wildcard.ts): a file name a user submitted cannot stall the daemon.
 */
export function depotPatternMatcher(pattern: string): (depotFile: string) => boolean {
  const tokens: WildcardToken[] = []
  for (let i = 0; i < pattern.length; ) {
    if (pattern.startsWith('...', i)) {
      tokens.push({ star: true, crossesSlash: true })
      i += 3
    } else if (pattern[i] === '*') {
      tokens.push({ star: true, crossesSlash: false })
      i++
    } else if (/^%%\d/.test(pattern.slice(i, i + 3))) {
      tokens.push({ star: true, crossesSlash: false })
      i += 3
    } else {
      tokens.push({ char: pattern.charCodeAt(i) })
      i++
    }
  }
  return wildcardMatcher(tokens)
}

/**
 * Which submitted changes to notify: by user (exact, case-sensitive names)
 * and by depot path (a change matches when any of its files does). Both
 * filters must pass; an absent or empty filter passes everything. A change
 * whose file list is incomplete (`filesComplete: false`) passes the path
 * filter when no listed file matches: it might have a matching file we could
 * not read, and a duplicate mail is better than a missing one.
 *
 * Returns null when nothing is filtered.
 */
export function createChangeFilter(options: ChangeFilterOptions): ((change: SubmittedChange) => boolean) | null {
  const paths = options.paths?.length ? options.paths.map(depotPatternMatcher) : null
  const users = options.users?.length ? new Set(options.users) : null
  if (!paths && !users) return null
  return (change) => {
    if (users && !users.has(change.user)) return false
    if (paths) {
      const hit = change.files.some((f) => paths.some((match) => match(f.depotFile)))
      if (!hit && change.filesComplete) return false
    }
    return true
  }
}
