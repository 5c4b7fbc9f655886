import { z } from 'zod'
import { retryOptionsSchema } from '../../../retry.js'
import { MAX_TIMER_MS } from '../../../timer-ms.js'
import { pathSchema } from '../../../path-schema.js'
import { FIXED_SSH_OPTIONS, OWN_SSH_OPTIONS, SSH_OPTION_NAME, SSH_OPTION_VALUE } from './ssh-channel.js'

/**
 * Default for `maxBufferBytes`: 16 MiB holds thousands of ordinary
 * transactions (a submit of a few files is a few KiB) while a long network
 * hiccup cannot grow the daemon's memory without bound.
 */
export const DEFAULT_MAX_BUFFER_BYTES = 16 * 1024 * 1024

/** Largest `connectTimeout`, s: the remote must answer within twice it, and that timer is at most MAX_TIMER_MS. */
export const MAX_CONNECT_TIMEOUT_S = Math.floor(MAX_TIMER_MS / 2000)

/** Default for `answerTimeout`, s: far above a write, fsync and replay of `maxBufferBytes` on a healthy standby; as the sql listener's `timeoutMs`. */
export const DEFAULT_ANSWER_TIMEOUT_S = 600

/** Largest `answerTimeout`, s. */
export const MAX_ANSWER_TIMEOUT_S = Math.floor(MAX_TIMER_MS / 1000)

const fixed = new Set(Object.keys(FIXED_SSH_OPTIONS).map((k) => k.toLowerCase()))

/** The `hot-backup` listener's options. */
export const optionsSchema = z
  .object({
    host: pathSchema().regex(/^[^-]/, 'must not start with "-"').describe('The standby host (ssh destination): a name from ssh_config or an address.'),
    user: pathSchema().nullable().default(null).describe('Remote user (ssh -l). Default: what ssh would use.'),
    port: z.number().int().min(1).max(65_535).nullable().default(null).describe('SSH port. Default: what ssh would use (22).'),
    identityFile: pathSchema()
      .nullable()
      .default(null)
      .describe("Private key for a non-interactive login (ssh -i, with IdentitiesOnly). Default: ssh's own keys."),
    knownHostsFile: pathSchema()
      .nullable()
      .default(null)
      .describe("known_hosts holding the standby's host key (UserKnownHostsFile). Host key checking is always strict. Default ~/.ssh/known_hosts."),
    sshConfigFile: pathSchema().nullable().default(null).describe('ssh_config to use (ssh -F); "none" ignores every config file.'),
    sshOptions: z
      .record(z.string(), z.string())
      .default({})
      .superRefine((o, ctx) => {
        for (const [k, v] of Object.entries(o)) {
          const key = k.toLowerCase()
          const problem = !SSH_OPTION_NAME.test(k)
            ? 'is not a plain ssh option name (letters and digits only, no blanks or "=")'
            : fixed.has(key)
              ? 'cannot be set: BatchMode and StrictHostKeyChecking are fixed to yes'
              : Object.hasOwn(OWN_SSH_OPTIONS, key)
                ? `cannot be set here: use the ${OWN_SSH_OPTIONS[key]} option`
                : !SSH_OPTION_VALUE.test(v)
                  ? 'has a value with a control character or line end'
                  : null
          if (problem) ctx.addIssue({ code: 'custom', message: `key ${JSON.stringify(k)} ${problem}` })
        }
      })
      .describe('Extra ssh -o KEY=VALUE options, e.g. { "Ciphers": "aes128-gcm@openssh.com" }.'),
    ssh: pathSchema().default('ssh').describe('The ssh client program.'),
    remoteDir: pathSchema()
      .nullable()
      .default(null)
      .describe(
        "Directory on the standby that receives DIR/journal.N, byte-identical to the primary's journals (absolute, or relative to the remote home). Required unless remoteCommand is set.",
      ),
    replay: pathSchema()
      .nullable()
      .default(null)
      .describe(
        'Remote shell command that applies journal bytes read on its stdin after they are written to remoteDir, e.g. "p4d -r /p4/standby -jr -". The standby then acknowledges only replayed bytes.',
      ),
    remoteCommand: pathSchema()
      .nullable()
      .default(null)
      .describe('Replaces the whole remote command (e.g. a copy of the remote script installed on the standby); it must speak the hot-backup protocol.'),
    fsync: z.boolean().default(true).describe('fsync on the standby before acknowledging (sync FILE).'),
    maxBufferBytes: z
      .number()
      .int()
      .min(1)
      .default(DEFAULT_MAX_BUFFER_BYTES)
      .describe('Bound on bytes held in memory, waiting to be sent or acknowledged. A transaction larger than this is sent in pieces.'),
    connectTimeout: z
      .number()
      .int()
      .min(1)
      // The remote must answer within twice this, a timer in ms: at most MAX_TIMER_MS.
      .max(MAX_CONNECT_TIMEOUT_S, { error: `expected at most ${MAX_CONNECT_TIMEOUT_S} s (twice that is the longest timer Node.js can set)` })
      .default(15)
      .describe(`Seconds for ssh to connect (ConnectTimeout); the remote must answer within twice that. At most ${MAX_CONNECT_TIMEOUT_S} (about 12.4 days).`),
    answerTimeout: z
      .number()
      .int()
      .min(0)
      .max(MAX_ANSWER_TIMEOUT_S, { error: `expected at most ${MAX_ANSWER_TIMEOUT_S} s (the longest timer Node.js can set)` })
      .default(DEFAULT_ANSWER_TIMEOUT_S)
      .describe(
        'Seconds the standby may take to answer a request (an acknowledgement: written, fsynced, replayed) before the connection is dropped and made again: ' +
          'a standby whose disk or replay hangs, behind a connection ssh still sees alive, would stall the daemon for ever. 0: wait for ever.',
      ),
    reconnect: retryOptionsSchema
      .default({})
      .describe(
        'Backoff for reconnecting (p-retry; default 5 retries, 1 s doubling to 30 s). Past the retries listen/sync fail and the daemon retries the listener by its own policy.',
      ),
  })
  .strict()
  .refine((o) => o.remoteDir !== null || o.remoteCommand !== null, {
    message: 'set remoteDir (where the standby keeps journal.N) or remoteCommand',
    path: ['remoteDir'],
  })

export type HotBackupOptions = z.infer<typeof optionsSchema>

/** The options as written (defaults not yet filled in). */
export type HotBackupInput = z.input<typeof optionsSchema>
