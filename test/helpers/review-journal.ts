import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { JournalEntry } from '../../lib/journal/entry.js'
import type { ListenerLogger } from '../../lib/listeners/listener.js'
import { NotifyListener, type NotifyInput } from '../../lib/listeners/builtin/notify/notify.js'
import { frame } from './collect.js'
import type { ReceivedMail } from './notify-peers.js'

/** Journal records as p4d writes them, for the review mode's tests. */
export const q = (s: string): string => `@${s.replaceAll('@', '@@')}@`
const T = 1_700_000_000
export const user = (name: string, email: string): string => `@pv@ 7 @db.user@ ${q(name)} ${q(email)} @@ ${T} ${T} ${q(name)} @@ 0 @@ 0 0 0 0 0 0 \n`
export const review = (name: string, seq: number, path: string): string => `@pv@ 1 @db.review@ ${q(name)} ${seq} 0 ${q(path)} 0 \n`
export const desc = (n: number, text: string): string => `@pv@ 0 @db.desc@ ${n} ${q(text)} \n`
export const change = (n: number, author: string, text: string): string =>
  `@pv@ 6 @db.change@ ${n} ${n} ${q(`${author}-ws`)} ${q(author)} ${T} 1 ${q(text)} @//depot/...@ @@ @@ 0 0 @@ \n`
export const revcx = (n: number, path: string): string => `@pv@ 0 @db.revcx@ ${n} ${q(path)} 1 0 \n`
export const ex = (pid: number): string => `@ex@ ${pid} ${T}\n`
/** A change's records without a marker (an import tool's journal). */
export const unmarked = (n: number, author: string, text: string, files: readonly string[]): string =>
  desc(n, text) + change(n, author, text) + files.map((f) => revcx(n, f)).join('')
/** A submit transaction: the change's records and its `@ex@`. */
export const submit = (n: number, author: string, text: string, files: readonly string[]): string => unmarked(n, author, text, files) + ex(1000 + n)
export const checkpointHeader = `@nx@ 0 ${T} @50@ 0 0 0 0 0 @/p4/root@ @journal@ @@ @@ @@ \n`

/** The entries of journal 1 holding `text`, positions as in the file. */
export const journal = (text: string): Promise<JournalEntry[]> => frame([Buffer.from(text)], { journal: 1 })

export interface Logged {
  level: string
  obj: Record<string, unknown>
  msg: string
}

/**
 * A notify listener in review mode, opened as the daemon opens it, its
 * state file `reviews.json` in `dir` built from `checkpoint.1` there (write
 * it first). A second call on the same dir is the daemon restarted.
 */
export async function openReviews(
  dir: string,
  port: number,
  extra: {
    smtp?: { to?: string[] }
    reviews?: object
    encoding?: NotifyInput['encoding']
    unmarked?: NotifyInput['unmarked']
    webhook?: NotifyInput['webhook']
  } = {},
): Promise<{ listener: NotifyListener; lines: Logged[] }> {
  const lines: Logged[] = []
  const at = (level: string) => (obj: object | string, msg?: string) =>
    lines.push({ level, obj: typeof obj === 'string' ? {} : (obj as Record<string, unknown>), msg: msg ?? (typeof obj === 'string' ? obj : '') })
  const logger: ListenerLogger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
  const { reviews, smtp, ...rest } = extra
  const listener = new NotifyListener(
    {
      smtp: { host: '127.0.0.1', port, from: 'Perforce <p4@example.com>', ...smtp },
      reviews: { checkpoint: 'checkpoint.1', state: 'reviews.json', ...reviews },
      ...rest,
    },
    'reviews',
    { baseDir: dir },
  )
  await listener.open({ start: null, logger, signal: new AbortController().signal })
  return { listener, lines }
}

export function writeCheckpoint(dir: string, text: string): void {
  writeFileSync(join(dir, 'checkpoint.1'), checkpointHeader + text)
}

/** Feeds entries as the daemon does (isHandled, then listen), stopping at the first rejection, which it returns. */
export async function feed(listener: NotifyListener, entries: readonly JournalEntry[]): Promise<Error | null> {
  for (const e of entries) {
    if (!listener.isHandled(e)) continue
    try {
      await listener.listen(e)
    } catch (err) {
      return err as Error
    }
  }
  return null
}

/** `change:recipient` for every envelope recipient of every mail received, in order. */
export const deliveries = (mails: readonly ReceivedMail[]): string[] =>
  mails.flatMap((m) => m.to.map((to) => `${m.headers.get('x-logdaemon-change')}:${m.headers.get('x-logdaemon-reviewers') ?? 'team'}:${to}`))
