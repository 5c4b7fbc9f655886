import type { Batch } from '../../lib/sim/transactions.js'
import type { UserInfo } from '../../lib/sim/vocabulary.js'

/**
 * The straightforward reference of review matching, independent of the
 * code under test: each Reviews line as a RegExp (`...` → `.*`, `*` and
 * `%%n` → `[^/]*`), the last matching line decides, `-` excludes.
 */
export function referenceReviewed(lines: readonly string[], file: string, caseInsensitive = false): boolean {
  let reviewed = false
  for (const raw of lines) {
    let line = raw.trim()
    if (line === '') continue
    let include = true
    if (line.startsWith('-') || line.startsWith('+')) {
      include = !line.startsWith('-')
      line = line.slice(1)
    }
    line = line.replace(/^"(.*)"$/, '$1')
    const body = line
      .split(/(\.\.\.|\*|%%[0-9])/)
      .map((part) => (part === '...' ? '.*' : part === '*' || /^%%[0-9]$/.test(part) ? '[^/]*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('')
    if (new RegExp(`^${body}$`, caseInsensitive ? 'si' : 's').test(file)) reviewed = include
  }
  return reviewed
}

/** What the review daemon should send: `change:user` pairs, from the simulated server's own log of what it wrote. */
export class ExpectedReviews {
  readonly pairs = new Set<string>()
  readonly #reviews: Map<string, readonly string[]>
  readonly #users: readonly UserInfo[]
  changes = 0
  /** The submits seen, in order: change, author, files. */
  readonly submits: { change: number; user: string; files: readonly string[] }[] = []

  constructor(users: readonly UserInfo[], initial: ReadonlyMap<string, readonly string[]>) {
    this.#users = users
    this.#reviews = new Map(initial)
  }

  /** Follows one appended batch, in journal order (review edits and submits never share a batch). */
  add(batch: Batch | undefined): void {
    for (const t of batch?.transactions ?? []) {
      if (t.kind === 'reviews') {
        if (t.lines.length > 0) this.#reviews.set(t.user, t.lines)
        else this.#reviews.delete(t.user)
      } else if (t.kind === 'submit') {
        this.changes++
        this.submits.push({ change: t.submit.change, user: t.submit.user, files: t.submit.files })
        for (const [user, lines] of this.#reviews) {
          if (user === t.submit.user) continue
          if (!this.#users.some((u) => u.name === user)) continue
          if (t.submit.files.some((f) => referenceReviewed(lines, f))) this.pairs.add(`${t.submit.change}:${user}`)
        }
      }
    }
  }
}

/** The reviewers a change goes to under the given subscriptions (not its author). */
export function reviewersOf(reviews: ReadonlyMap<string, readonly string[]>, submit: { user: string; files: readonly string[] }): string[] {
  return [...reviews]
    .filter(([user, lines]) => user !== submit.user && submit.files.some((f) => referenceReviewed(lines, f)))
    .map(([user]) => user)
    .sort()
}
