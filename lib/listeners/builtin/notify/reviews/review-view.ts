/**
 * A user's review subscriptions as Perforce reads them: the lines of the
 * `Reviews:` field of `p4 user` (stored as `db.review` rows), in order, each
 * a depot path with wildcards, optionally excluded.
 *
 * The rules are those of `p4 help views`, depot side only:
 * - `...` matches any characters, slashes included; `*` matches any
 *   characters but a slash; `%%1` … `%%9` are positional wildcards that match
 *   like `*` (they matter only on the other side of a two-sided view).
 * - A line starting with `-` excludes; `+` (overlay) includes like a plain line.
 * - Later lines override earlier ones: the LAST line that matches a file
 *   decides whether it is reviewed, and is the line reported as the reason.
 * - A path with spaces is written in double quotes (`"//depot/my dir/..."`).
 * - Names compare byte for byte on a case-sensitive server, and ignoring
 *   ASCII case on a case-insensitive one (`p4 help views`: "case-insensitive
 *   servers ignore case when matching").
 *
 * Matching is linear in the path for each line (a dynamic programme over
 * the pattern's tokens, never a backtracking RegExp), so a hostile pattern
 * such as `//...a...a...a...b` costs the same as any other.
 */

/**
 * Bounds on one line, far above real Reviews lines (a depot path is at most a
 * few hundred bytes, with a few wildcards): a longer line, or one with more
 * wildcards, matches nothing, so one user's field cannot slow every change.
 */
export const MAX_REVIEW_LINE = 4096
export const MAX_REVIEW_WILDCARDS = 32

/** How a line maps: include (plain or `+`), or exclude (`-`). */
export type ReviewLineKind = 'include' | 'exclude'

/** One line of a Reviews field. */
export interface ReviewLine {
  readonly kind: ReviewLineKind
  /** The depot path pattern without its sign and quotes. */
  readonly path: string
  /** The line as written (`-//depot/x/...`), for explaining a match. */
  readonly text: string
}

/** A token of a compiled pattern: literal text, `*` (no slash) or `...` (anything). */
type Token = { readonly literal: string } | { readonly star: 'one' | 'any' }

interface CompiledLine {
  readonly line: ReviewLine
  /** Null when the line is over the bounds: it matches nothing. */
  readonly tokens: readonly Token[] | null
  /** The literal text every match starts with (a quick rejection). */
  readonly prefix: string
}

/** The result of matching a file: the deciding line, or null when no line matched. */
export interface ReviewMatch {
  readonly reviewed: boolean
  /** The last line that matched (an exclusion when `reviewed` is false), or null. */
  readonly line: ReviewLine | null
}

/**
 * Parses one line of a Reviews field (`-//depot/x/...`, `"//depot/a b/..."`,
 * `+//depot/y/*`). Returns null for a blank line.
 */
export function parseReviewLine(text: string): ReviewLine | null {
  let rest = text.trim()
  if (rest === '') return null
  let kind: ReviewLineKind = 'include'
  const sign = rest[0]
  if (sign === '-' || sign === '+') {
    kind = sign === '-' ? 'exclude' : 'include'
    rest = rest.slice(1)
  }
  if (rest.length >= 2 && rest.startsWith('"') && rest.endsWith('"')) rest = rest.slice(1, -1)
  else if (rest.startsWith('"')) rest = rest.slice(1)
  return { kind, path: rest, text: text.trim() }
}

/**
 * A review line from a `db.review` row: `mapFlag` 1 (mapped-out) excludes,
 * 0 (mapped-in) and 2 (overlay) include. Other flags (have, change or ditto
 * maps) do not occur in Reviews fields and are read as includes.
 */
export function reviewLineFromRow(mapFlag: number, depotFile: string): ReviewLine {
  const parsed = parseReviewLine(depotFile)
  const path = parsed?.path ?? depotFile
  const kind: ReviewLineKind = mapFlag === 1 ? 'exclude' : 'include'
  const quoted = /\s/.test(path) ? `"${path}"` : path
  return { kind, path, text: `${kind === 'exclude' ? '-' : ''}${quoted}` }
}

/** Splits a pattern into literal runs and wildcards. Adjacent wildcards merge (`*...` is `...`). */
function tokenize(pattern: string, foldCase: boolean): Token[] {
  const tokens: Token[] = []
  let literal = ''
  const flush = (): void => {
    if (literal !== '') tokens.push({ literal: foldCase ? asciiLower(literal) : literal })
    literal = ''
  }
  const pushStar = (star: 'one' | 'any'): void => {
    flush()
    const last = tokens[tokens.length - 1]
    if (last !== undefined && 'star' in last) {
      if (star === 'any' && last.star === 'one') tokens[tokens.length - 1] = { star: 'any' }
      return
    }
    tokens.push({ star })
  }
  for (let i = 0; i < pattern.length; ) {
    if (pattern.startsWith('...', i)) {
      pushStar('any')
      i += 3
    } else if (pattern[i] === '*') {
      pushStar('one')
      i += 1
    } else if (pattern[i] === '%' && pattern[i + 1] === '%' && /[0-9]/.test(pattern[i + 2] ?? '')) {
      pushStar('one')
      i += 3
    } else {
      literal += pattern[i]
      i += 1
    }
  }
  flush()
  return tokens
}

/** ASCII-only lowering, as p4d folds case (non-ASCII bytes compare exactly). */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase())
}

/**
 * Whether `text` matches the tokens: a dynamic programme over the positions
 * of `text` reachable after each token, O(text × tokens), no backtracking.
 */
function matchTokens(tokens: readonly Token[], text: string): boolean {
  // reach[i]: text[0, i) is matched by the tokens so far.
  let reach = new Uint8Array(text.length + 1)
  reach[0] = 1
  for (const token of tokens) {
    const next = new Uint8Array(text.length + 1)
    if ('literal' in token) {
      const lit = token.literal
      for (let i = 0; i + lit.length <= text.length; i++) {
        if (reach[i] === 1 && text.startsWith(lit, i)) next[i + lit.length] = 1
      }
    } else {
      // A wildcard extends every reached position forward; `*` stops at a slash.
      let open = false
      for (let i = 0; i <= text.length; i++) {
        if (reach[i] === 1) open = true
        if (open) next[i] = 1
        if (token.star === 'one' && text[i] === '/') open = false
      }
    }
    reach = next
  }
  return reach[text.length] === 1
}

/** A compiled Reviews field: match depot files against it. */
export class ReviewView {
  readonly lines: readonly ReviewLine[]
  readonly #compiled: readonly CompiledLine[]
  readonly #foldCase: boolean

  constructor(lines: readonly ReviewLine[], options: { caseInsensitive?: boolean } = {}) {
    this.#foldCase = options.caseInsensitive === true
    this.lines = [...lines]
    this.#compiled = this.lines.map((line) => {
      const tokens = line.path.length > MAX_REVIEW_LINE ? null : tokenize(line.path, this.#foldCase)
      const usable = tokens !== null && tokens.filter((t) => 'star' in t).length <= MAX_REVIEW_WILDCARDS ? tokens : null
      const first = usable?.[0]
      return { line, tokens: usable, prefix: first !== undefined && 'literal' in first ? first.literal : '' }
    })
  }

  /** Parses the lines of a Reviews field as a user would write them. */
  static parse(text: string | readonly string[], options: { caseInsensitive?: boolean } = {}): ReviewView {
    const raw = typeof text === 'string' ? text.split(/\r?\n/) : text
    const lines = raw.map(parseReviewLine).filter((l): l is ReviewLine => l !== null)
    return new ReviewView(lines, options)
  }

  /** Decides one depot file: the last matching line wins. */
  match(depotFile: string): ReviewMatch {
    const file = this.#foldCase ? asciiLower(depotFile) : depotFile
    for (let i = this.#compiled.length - 1; i >= 0; i--) {
      const c = this.#compiled[i]!
      if (c.tokens === null || !file.startsWith(c.prefix)) continue
      if (matchTokens(c.tokens, file)) return { reviewed: c.line.kind === 'include', line: c.line }
    }
    return { reviewed: false, line: null }
  }
}
