/**
 * A URL as it may appear in a message or a log: its user info, query and
 * fragment masked, and for http(s), the path after its first segment too,
 * since webhook URLs carry their secret there
 * (`https://hooks.slack.com/services/T…/B…/SECRET` becomes
 * `https://hooks.slack.com/services/***`). Other schemes keep their path
 * (a NATS stream, a database name). Text that is not a URL is returned as
 * it is.
 */
export function maskUrl(s: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)([?#][^]*)?$/i.exec(s)
  if (!m) return s
  const [, scheme = '', authority = '', path = '', rest] = m
  const at = authority.lastIndexOf('@')
  const host = at < 0 ? authority : `***@${authority.slice(at + 1)}`
  let shown = path
  if (/^https?:\/\/$/i.test(scheme)) {
    const second = path.indexOf('/', 1)
    if (second >= 0 && second < path.length - 1) shown = `${path.slice(0, second)}/***`
  }
  return `${scheme}${host}${shown}${rest ? `${rest[0]}***` : ''}`
}
