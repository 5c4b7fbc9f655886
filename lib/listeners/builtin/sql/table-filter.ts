/**
 * Which journal tables the replica keeps: `tables` and `exclude` patterns
 * with `*` (any run of characters) and `?` (one character), matched
 * against the whole journal table name (`db.have*`).
 */
export class TableFilter {
  readonly #include: RegExp[]
  readonly #exclude: RegExp[]
  readonly #cache = new Map<string, boolean>()

  constructor(include: readonly string[], exclude: readonly string[]) {
    this.#include = include.map(globToRegExp)
    this.#exclude = exclude.map(globToRegExp)
  }

  /** Whether a journal table is kept. Cached: a journal names a few dozen tables. */
  has(table: string): boolean {
    let kept = this.#cache.get(table)
    if (kept === undefined) {
      kept = this.#include.some((r) => r.test(table)) && !this.#exclude.some((r) => r.test(table))
      this.#cache.set(table, kept)
    }
    return kept
  }
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.')
  return new RegExp(`^${body}$`)
}
