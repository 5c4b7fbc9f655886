/**
 * Wildcard patterns matched in O(text × pattern) time, whatever the
 * pattern: a pattern with many stars (`db.*a*a*a*…*c`) cannot make a match
 * take exponential time, as it can with a backtracking RegExp. picomatch
 * and hand-made RegExps compile `*` to `.*` or `[^/]*?`, which backtrack;
 * this runs the pattern as a set of states, one pass over the text.
 */

/** One step of a pattern: a literal UTF-16 code unit, or a star that matches any run (but of `/`, unless `crossesSlash`). */
export type WildcardToken = { readonly char: number } | { readonly star: true; readonly crossesSlash: boolean }

const SLASH = 0x2f

/** A predicate for the tokens. Consecutive stars are merged (the widest wins): they match the same texts. */
export function wildcardMatcher(tokens: readonly WildcardToken[]): (text: string) => boolean {
  const steps: WildcardToken[] = []
  for (const tok of tokens) {
    const last = steps[steps.length - 1]
    if ('star' in tok && last && 'star' in last) {
      if (tok.crossesSlash && !last.crossesSlash) steps[steps.length - 1] = tok
    } else steps.push(tok)
  }
  if (steps.every((s) => 'char' in s)) {
    const literal = String.fromCharCode(...steps.map((s) => (s as { char: number }).char))
    return (text) => text === literal
  }
  const m = steps.length
  // Reused by every call (a call is synchronous and never re-entered): no allocation per entry filtered.
  const a = new Uint8Array(m + 1)
  const b = new Uint8Array(m + 1)
  return (text) => {
    // live[j]: the first j steps can match the text read so far.
    let live = a
    let next = b
    live.fill(0)
    live[0] = 1
    close(steps, live)
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      next.fill(0)
      let any = false
      for (let j = 0; j < m; j++) {
        if (!live[j]) continue
        const s = steps[j] as WildcardToken
        if ('char' in s) {
          if (s.char === c) next[j + 1] = 1
        } else if (s.crossesSlash || c !== SLASH) next[j] = 1
        else continue
        any = true
      }
      if (!any) return false
      close(steps, next)
      ;[live, next] = [next, live]
    }
    return live[m] === 1
  }
}

/** A star may match nothing: a live state before a star makes the state after it live too. */
function close(steps: readonly WildcardToken[], live: Uint8Array): void {
  for (let j = 0; j < steps.length; j++) if (live[j] && 'star' in (steps[j] as WildcardToken)) live[j + 1] = 1
}

/** `*` matches any run of characters (a table name has no `/`); every other character is literal. */
export function globMatcher(pattern: string): (text: string) => boolean {
  const tokens: WildcardToken[] = []
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charCodeAt(i)
    tokens.push(c === 0x2a ? { star: true, crossesSlash: true } : { char: c })
  }
  return wildcardMatcher(tokens)
}
