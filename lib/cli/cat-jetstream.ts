import type { Writable } from 'node:stream'
import { ErrorCodes, LogdaemonError } from '../errors.js'
import { redactUrl } from '../jetstream/connection-options.js'
import type { FieldEncoding, JournalEntry } from '../journal/entry.js'
import { createEntryFilter, type EntryFilterOptions } from '../journal/entry-filter.js'
import { JsonLineWriter } from '../journal/json-line-writer.js'
import { JetStreamJournalSource } from '../source/jetstream/jetstream-journal-source.js'

export interface CatJetStreamOptions extends EntryFilterOptions {
  /** `nats://HOST:PORT/STREAM` (or tls://). */
  url: string
  /** Read with this durable consumer, acknowledging what was printed; without it, the whole stream. */
  durable?: string
  /** The subject prefix the listener published under. Default `p4.journal`. */
  subject?: string
  format: 'raw' | 'json'
  encoding: FieldEncoding
  signal?: AbortSignal
}

/**
 * `nats://[USER:PASSWORD@ | TOKEN@]HOST:PORT/STREAM` → the server URL, the
 * stream and the credentials (percent-decoded; the client itself does not
 * take them from a URL: it answered "Authorization Violation"); throws
 * ERR_USAGE otherwise.
 */
export function parseStreamUrl(text: string): { servers: string; stream: string; user?: string; password?: string; token?: string } {
  const m = /^((?:nats|tls):\/\/)(?:([^/@]*)@)?([^/@]+)\/([A-Za-z0-9_-]+)\/?$/.exec(text)
  if (!m) {
    throw new LogdaemonError(
      ErrorCodes.USAGE,
      `--jetstream wants nats://HOST:PORT/STREAM (or tls://, with USER:PASSWORD@ or TOKEN@ before the host), e.g. nats://127.0.0.1:4222/P4JOURNAL (got ${JSON.stringify(redactUrl(text))})`,
    )
  }
  const out = { servers: `${m[1]}${m[3]}`, stream: m[4] as string }
  const auth = m[2]
  if (auth === undefined || auth === '') return out
  const decode = (v: string): string => {
    try {
      return decodeURIComponent(v)
    } catch {
      return v
    }
  }
  const colon = auth.indexOf(':')
  return colon < 0 ? { ...out, token: decode(auth) } : { ...out, user: decode(auth.slice(0, colon)), password: decode(auth.slice(colon + 1)) }
}

/** A subject prefix, as the jetstream listener's `subject` option takes it. */
const SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/

/** Bytes gathered before one write to the output (as `--follow` does). */
const FLUSH_BYTES = 1 << 20

/**
 * `logdaemon-cat --jetstream URL`: prints the records a stream holds (as
 * published by the jetstream listener), raw or as JSON lines, up to the
 * stream's end at start, then returns. With a durable consumer it starts
 * after what that consumer acknowledged and acknowledges what it printed.
 */
export async function catJetStream(out: Writable, options: CatJetStreamOptions): Promise<number> {
  const { servers, stream, ...auth } = parseStreamUrl(options.url)
  if (options.subject !== undefined && !SUBJECT_PREFIX.test(options.subject)) {
    throw new LogdaemonError(
      ErrorCodes.USAGE,
      `--subject wants a subject prefix such as p4.journal (tokens of letters, digits, _ and -), got ${JSON.stringify(options.subject)}`,
    )
  }
  const source = new JetStreamJournalSource({
    servers,
    stream,
    ...auth,
    ...(options.subject !== undefined ? { subject: options.subject } : {}),
    untilEnd: true,
    encoding: options.encoding,
    retry: { retries: 2, minTimeout: 250, maxTimeout: 1000 },
    ...(options.durable !== undefined ? { durable: options.durable } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  })
  const filter = createEntryFilter(options)
  const json = options.format === 'json' ? new JsonLineWriter(null, options.encoding) : null
  let raw: Buffer[] = []
  let bytes = 0
  let count = 0
  let last: JournalEntry | null = null
  const flush = async (): Promise<void> => {
    const data = json ? json.take() : raw.length === 0 ? null : Buffer.concat(raw, bytes)
    raw = []
    bytes = 0
    if (data) await write(out, data)
    if (last) source.commit(last)
    last = null
  }
  try {
    for await (const e of source) {
      last = e
      if (!filter || filter(e)) {
        count++
        if (json) json.add(e.raw, 0, e.length, e.position.journal, e.position.offset, e.position.line)
        else raw.push(e.raw)
        bytes += e.length
      }
      if (source.readableLength === 0 || bytes >= FLUSH_BYTES) await flush()
    }
    await flush()
    await source.flushState()
  } finally {
    source.destroy()
    if (!source.closed) await new Promise((resolve) => source.once('close', resolve))
  }
  return count
}

function write(out: Writable, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (out.destroyed || out.writableEnded) {
      reject(Object.assign(new Error('output closed'), { code: 'EPIPE' }))
      return
    }
    out.write(data, (err) => (err ? reject(err) : resolve()))
  })
}
