/**
 * Masking of URLs for messages, logs and the status page: every secret a
 * URL may carry becomes `***`, the rest (scheme, host, port, and where it
 * says so the user) shows.
 *
 * Where the user info ends is read twice, and what either reading takes
 * for a secret is masked: as a URL parser reads it (the authority ends at
 * the first `/`, `?` or `#`, the user info at its last `@`), and as a
 * person wrote it when the password holds a raw `/`, `?`, `#` or `@` (the
 * user info runs to the last `@` of the text). So a URL that does not
 * parse (`postgres://alice:pa/ss@host/db`) shows no more than one that
 * does.
 */

/** The parameters (decoded, as URLSearchParams reads them) whose value is a secret: password, sslpassword, token, sslkey, … */
const SECRET_PARAM = /password|secret|token|key/i

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i

/** Schemes whose URLs take `\` for `/` (the WHATWG "special" schemes). */
const SPECIAL = /^(https?|wss?|ftp|file)$/i

interface Policy {
  /** `all`: the whole user info is masked (a NATS token is user info alone); `password`: what follows its first `:`. */
  readonly userInfo: 'all' | 'password'
  /** `all`: everything after the first `?` or `#`; `secrets`: the value of each parameter SECRET_PARAM names. */
  readonly query: 'all' | 'secrets'
  /** For http(s), the path after its first segment too (webhook URLs carry their secret there). */
  readonly pathAfterFirst: boolean
}

/**
 * A URL as it may appear in a message or a log: its user info, query and
 * fragment masked, and for http(s), the path after its first segment too,
 * since webhook URLs carry their secret there
 * (`https://hooks.slack.com/services/T…/B…/SECRET` becomes
 * `https://hooks.slack.com/services/***`). Other schemes keep their path
 * (a NATS stream, a database name). A password holding a raw `/`, `?`, `#`
 * or `@` is masked too, up to the last `@`. A scheme-less
 * `user:password@host` (a NATS server) loses its user info. Other text
 * that is not a URL is returned as it is.
 */
export function maskUrl(s: string): string {
  return mask(s, { userInfo: 'all', query: 'all', pathAfterFirst: true }, /^\S*:\S*@\S*$/.test(s))
}

/**
 * A connection URL (`postgres://…`, `nats://…`) or a scheme-less server
 * (`user:password@host:port`) as messages, logs and the status page show
 * it: its password (`keepUser`) or its whole user info masked, and the
 * value of every query parameter whose name contains password, secret,
 * token or key (`sslpassword`, `sslkey`, …). Host, port, path and the
 * other parameters show.
 */
export function maskCredentials(s: string, options: { keepUser: boolean }): string {
  return mask(s, { userInfo: options.keepUser ? 'password' : 'all', query: 'secrets', pathAfterFirst: false }, true)
}

/** `s` with what `policy` takes for secret masked; `bare`: a text without `scheme://` starts with its authority. */
function mask(s: string, policy: Policy, bare: boolean): string {
  const scheme = SCHEME.exec(s)
  if (!scheme && !bare) return s
  const start = scheme ? scheme[0].length : 0
  const delims = scheme && SPECIAL.test(scheme[1] as string) ? '/\\?#' : '/?#'
  const p: Policy = { ...policy, pathAfterFirst: policy.pathAfterFirst && scheme !== null && /^https?$/i.test(scheme[1] as string) }
  const secret = new Uint8Array(s.length)
  let end = start
  while (end < s.length && !delims.includes(s[end] as string)) end++
  // As a URL parser reads it.
  const at = end > start ? s.lastIndexOf('@', end - 1) : -1
  markParts(s, start, at >= start ? at : -1, delims, p, secret)
  // As written with a raw / ? # or @ in the password: the user info runs to the last @.
  const last = s.lastIndexOf('@')
  if (last >= end) markParts(s, start, last, delims, p, secret)
  let out = ''
  for (let i = 0; i < s.length; ) {
    if (secret[i]) {
      out += '***'
      while (secret[i]) i++
    } else out += s[i++]
  }
  return out
}

/** Marks the secrets of `s` read with its user info from `start` to `at` (-1: none). */
function markParts(s: string, start: number, at: number, delims: string, policy: Policy, secret: Uint8Array): void {
  if (at >= 0) {
    const colon = s.indexOf(':', start)
    if (policy.userInfo === 'all') secret.fill(1, start, at)
    else if (colon >= 0 && colon < at) secret.fill(1, colon + 1, at)
  }
  let i = at >= 0 ? at + 1 : start
  while (i < s.length && !delims.includes(s[i] as string)) i++
  const pathStart = i
  while (i < s.length && s[i] !== '?' && s[i] !== '#') i++
  const pathEnd = i
  if (policy.pathAfterFirst) {
    let second = pathStart + 1
    while (second < pathEnd && !(s[second] === '/' || (delims.includes('\\') && s[second] === '\\'))) second++
    if (second < pathEnd - 1) secret.fill(1, second + 1, pathEnd)
  }
  if (pathEnd >= s.length) return
  if (policy.query === 'all') {
    secret.fill(1, pathEnd + 1)
    return
  }
  // Every name after a ? & or # (a fragment is read as parameters too: nothing is lost by it); a value runs to the next &.
  for (let p = pathEnd; p < s.length; p++) {
    if (!'?&#'.includes(s[p] as string)) continue
    let q = p + 1
    while (q < s.length && !'=?&#'.includes(s[q] as string)) q++
    if (s[q] !== '=' || !SECRET_PARAM.test(paramName(s.slice(p + 1, q)))) continue
    const amp = s.indexOf('&', q + 1)
    secret.fill(1, q + 1, amp < 0 ? s.length : amp)
  }
}

/** A parameter name as URLSearchParams decodes it (a URL parser drops tabs and newlines first). */
function paramName(raw: string): string {
  return raw
    .replace(/[\t\n\r]/g, '')
    .replace(/\+/g, ' ')
    .replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)))
}
