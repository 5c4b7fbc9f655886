/**
 * How a message names the settings its reader can change: `option`, as
 * logdaemon-cat's command-line options (`--from N`, `--prefix`); `config`,
 * as the daemon's configuration keys (`from: N`, `server.prefix`), since
 * `logdaemon run` and `check` take no --from. A library caller passes the
 * `from` option, which the `config` wording names too.
 */
export type AdviceAs = 'option' | 'config'

/** How to start at journal `n` (or `N`, for any), or at the end. */
export function fromAdvice(n: number | 'N' | 'end', as: AdviceAs): string {
  if (as === 'option') return `--from ${n}`
  return n === 'end' ? '`from: "end"`' : `\`from: ${n}\``
}

/** The choice of a start, in parentheses' words: how to read journal N from its start, and how to follow only new records. */
export function chooseStartAdvice(as: AdviceAs): string {
  const where = as === 'config' ? ' in the configuration' : ''
  return `${fromAdvice('N', as)}${where} to read journal N from its start, ${fromAdvice('end', as)} to follow only new records`
}

/** The settings that say where the server's journals are. */
export function layoutAdvice(as: AdviceAs): string {
  return as === 'option' ? '--root/--journal/--prefix' : 'server.root, server.journal and server.prefix in the configuration'
}

/** The setting of the journal prefix. */
export function prefixAdvice(as: AdviceAs): string {
  return as === 'option' ? '--prefix' : 'server.prefix'
}
