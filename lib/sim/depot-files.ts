/**
 * The depot files the journal model remembers, per branch, so that later
 * submits edit, delete and integrate files that earlier submits added.
 */

import type { Random } from './random.js'
import { BASES, DIRS, EXTENSIONS } from './vocabulary.js'

interface FileState {
  rev: number
  type: number
}

/** Cap on the files the journal model remembers, to keep memory flat. */
const MAX_TRACKED_FILES = 20_000

/** One file of a submit. */
export interface ChosenFile {
  path: string
  rev: number
  type: number
  action: number
  from: string | null
  fromRev: number
  lbrFile: string
  lbrChange: number | null
}

/** The files submitted so far (up to MAX_TRACKED_FILES) and their head revisions. */
export class DepotFiles {
  #files = new Map<string, FileState>()
  #byBranch = new Map<string, string[]>()

  /**
   * Up to `n` files of one branch to submit, new or known; with `integFrom`,
   * integrated from that sibling branch. Remembers the result.
   */
  choose(rng: Random, branch: string, n: number, integFrom: string | null): ChosenFile[] {
    const integ = integFrom !== null
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
}
