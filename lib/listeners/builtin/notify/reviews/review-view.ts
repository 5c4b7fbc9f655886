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
  /**
   * For a line whose wildcards are all `...` (most are): the literal text
   * every match ends with, and the literal runs between, which match
   * leftmost in order (each `...` takes anything); null for a line with
   * `*` (or `%%n`), matched by the dynamic programme.
   */
  readonly segments: { readonly suffix: string; readonly middle: readonly string[]; readonly exact: boolean } | null
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
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase())
}

/**
 * Whether `text` matches the tokens: a dynamic programme over the positions
 * of `text` reachable after each token, O(text × tokens), no backtracking.
 */
function matchTokens(tokens: readonly Token[], text: string): boolean {
  // reach[i]: text[0, i) is matched by the tokens so far. Two scratch rows, reused (a pair per call cost more than the match).
  const n = text.length + 1
  if (scratchA.length < n) {
    scratchA = new Uint8Array(n * 2)
    scratchB = new Uint8Array(n * 2)
  }
  let reach = scratchA
  let next = scratchB
  reach.fill(0, 0, n)
  reach[0] = 1
  for (const token of tokens) {
    next.fill(0, 0, n)
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
    const done = reach
    reach = next
    next = done
  }
  return reach[text.length] === 1
}

let scratchA = new Uint8Array(512)
let scratchB = new Uint8Array(512)

/** The segments of a line whose wildcards are all `...` (see CompiledLine); null otherwise. */
function segmentsOf(tokens: readonly Token[]): CompiledLine['segments'] {
  if (tokens.some((t) => 'star' in t && t.star === 'one')) return null
  const literals = tokens.map((t) => ('literal' in t ? t.literal : null))
  if (literals.length === 1 && literals[0] !== null) return { suffix: '', middle: [], exact: true }
  const last = literals[literals.length - 1]
  const middle = literals.slice(literals[0] !== null ? 1 : 0, last !== null && literals.length > 1 ? -1 : undefined).filter((l): l is string => l !== null)
  return { suffix: last ?? '', middle, exact: false }
}

/** Whether `text` (which starts with `prefix`) matches a line of `...` wildcards only: prefix, middle runs leftmost, suffix. */
function matchSegments(prefix: string, seg: NonNullable<CompiledLine['segments']>, text: string): boolean {
  if (seg.exact) return text.length === prefix.length
  const end = text.length - seg.suffix.length
  if (end < prefix.length || !text.endsWith(seg.suffix)) return false
  let at = prefix.length
  for (const lit of seg.middle) {
    const k = text.indexOf(lit, at)
    if (k < 0 || k + lit.length > end) return false
    at = k + lit.length
  }
  return true
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
      const prefix = first !== undefined && 'literal' in first ? first.literal : ''
      return { line, tokens: usable, prefix, segments: usable ? segmentsOf(usable) : null }
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
    return this.matchFolded(this.#foldCase ? asciiLower(depotFile) : depotFile)
  }

  /** `match` for a name already folded as this view folds (asciiLower on a case-insensitive server). */
  matchFolded(file: string): ReviewMatch {
    for (let i = this.#compiled.length - 1; i >= 0; i--) {
      const c = this.#compiled[i]!
      if (c.tokens === null || !file.startsWith(c.prefix)) continue
      if (c.segments !== null ? matchSegments(c.prefix, c.segments, file) : matchTokens(c.tokens, file))
        return { reviewed: c.line.kind === 'include', line: c.line }
    }
    return { reviewed: false, line: null }
  }

  /**
   * The files that can be reviewed at all: those some include line's
   * literal start (or, for a line of `...` wildcards, its literal end) fits;
   * no other file is, since only an include line makes one reviewed. `by`
   * holds the change's folded names sorted for the starts, and reversed and
   * sorted for the ends (see {@link SortedNames}). The result is the files'
   * places in the change, ascending, or null when so many fit that trying
   * every file is as cheap.
   */
  candidates(by: SortedNames): number[] | null {
    const found: number[] = []
    const total = by.starts.names.length
    for (const c of this.#compiled) {
      if (c.tokens === null || c.line.kind !== 'include') continue
      let [from, to] = range(by.starts.names, c.prefix)
      let place = by.starts.index
      const suffix = c.segments?.suffix ?? ''
      if (suffix !== '') {
        const [rf, rt] = range(by.ends.names, reversed(suffix))
        if (rt - rf < to - from) {
          from = rf
          to = rt
          place = by.ends.index
        }
      }
      for (let j = from; j < to; j++) found.push(place[j] as number)
      if (found.length > total / 2) return null
    }
    found.sort((a, b) => a - b)
    return found.filter((v, i) => i === 0 || v !== found[i - 1])
  }
}

/** A change's folded file names in code-unit order, and the same reversed (for their ends), each with the names' places in the change. */
export interface SortedNames {
  readonly starts: { readonly names: readonly string[]; readonly index: readonly number[] }
  readonly ends: { readonly names: readonly string[]; readonly index: readonly number[] }
}

/** Sorts a change's folded names once for {@link ReviewView.candidates}. */
export function sortNames(names: readonly string[]): SortedNames {
  const order = (list: readonly string[]): { names: string[]; index: number[] } => {
    const index = list.map((_, i) => i).sort((a, b) => ((list[a] as string) < (list[b] as string) ? -1 : (list[a] as string) > (list[b] as string) ? 1 : a - b))
    return { names: index.map((i) => list[i] as string), index }
  }
  return { starts: order(names), ends: order(names.map(reversed)) }
}

/** The code units of `s` in reverse order (an end of a name becomes a start). */
function reversed(s: string): string {
  let out = ''
  for (let i = s.length - 1; i >= 0; i--) out += s[i]
  return out
}

/** Where the names that start with `p` lie in `sorted` (code-unit order keeps them together): [from, to). */
function range(sorted: readonly string[], p: string): [number, number] {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((sorted[mid] as string) < p) lo = mid + 1
    else hi = mid
  }
  let to = lo
  while (to < sorted.length && (sorted[to] as string).startsWith(p)) to++
  return [lo, to]
}
