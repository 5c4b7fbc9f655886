import { isAbsolute, resolve } from 'node:path'
import { ErrorCodes, LogdaemonError } from '../../../errors.js'
import { maskCredentials } from '../../../mask-url.js'

/** Where the replica lives, parsed from the `url` option. */
export type SqlTarget =
  | { readonly kind: 'sqlite'; readonly file: string; readonly masked: string }
  | { readonly kind: 'postgres'; readonly connectionString: string; readonly masked: string }

/**
 * Parses the `url` option:
 *
 * - `sqlite:FILE` (relative to `baseDir`), `sqlite:/abs/FILE`,
 *   `sqlite:///abs/FILE`;
 * - `postgres://[user[:password]@][host][:port][/database][?…]` or
 *   `postgresql://…`: what the URL leaves out comes from the usual `PG*`
 *   variables (`PGHOST`, `PGUSER`, `PGDATABASE`, …), and a missing
 *   password from `PGPASSWORD` or the `PGPASSFILE` (`~/.pgpass`), as with psql.
 *
 * `masked` is the form logs, errors and the status page show: the
 * password and secret parameters replaced by `***` (see maskPassword).
 * The URL itself is never logged.
 */
export function parseSqlUrl(url: string, baseDir = '.'): SqlTarget {
  if (url.startsWith('sqlite:')) {
    let file = url.slice('sqlite:'.length)
    if (file.startsWith('//')) file = file.slice(2) // sqlite:///abs → /abs
    if (file === '' || file.includes('\0')) throw bad(url, 'names no file (expected sqlite:FILE)')
    const path = isAbsolute(file) ? file : resolve(baseDir, file)
    return { kind: 'sqlite', file: path, masked: `sqlite:${path}` }
  }
  if (/^postgres(ql)?:\/\//i.test(url)) {
    if (!URL.canParse(url)) throw bad(maskPassword(url), 'is not a valid URL')
    return { kind: 'postgres', connectionString: url, masked: maskPassword(url) }
  }
  throw bad(maskPassword(url), 'is neither sqlite:FILE nor postgres://…')
}

/**
 * The URL with its password (`user:password@`, even one holding a raw `/`,
 * `?`, `#` or `@`, which makes the URL invalid) and the value of every
 * parameter whose name contains password, secret, token or key
 * (`password=`, `sslpassword=`, `sslkey=`) replaced by `***`.
 */
export function maskPassword(url: string): string {
  return maskCredentials(url, { keepUser: true })
}

function bad(masked: string, why: string): LogdaemonError {
  return Object.assign(
    new LogdaemonError(ErrorCodes.CONFIG_INVALID, `sql url ${JSON.stringify(masked)} ${why}: use sqlite:replica.db or postgres://user@host:5432/database`),
    { retryable: false },
  )
}
