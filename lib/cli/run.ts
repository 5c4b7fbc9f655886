import { loadConfig } from '../daemon/config.js'
import { Daemon, reopenLogFile } from '../daemon/daemon.js'
import { guardProcess } from '../daemon/process-guard.js'
import { createCliLogger, logLevelOf, LOG_LEVEL_OPTION, messageOf, type Command } from './command.js'
import { CONFIG_OPTION, DEFAULT_CONFIG_FILE } from './init.js'

/** `logdaemon run`: the daemon, until SIGTERM or SIGINT. */
export const runCommand: Command = {
  brief: 'run the daemon until SIGTERM or SIGINT (then finish, commit, close, exit 0)',
  usage: 'logdaemon run [-c FILE] [--log-level LEVEL] [--until-caught-up]',
  summary:
    'Runs the daemon: follows the journals from the saved position (or from the configured start),\n' +
    'feeds the listeners, commits. SIGTERM or SIGINT stops it gracefully (exit 0); a second one stops\n' +
    'it at once; stopTimeoutMs bounds the first (exit 1 past it). SIGHUP reopens log.file.\n' +
    'With --until-caught-up it stops by itself once caught up (exit 0). Logs go to standard error (readable on a terminal, JSON lines otherwise) or to log.file.',
  options: {
    config: { ...CONFIG_OPTION, help: 'the configuration to run' },
    'log-level': LOG_LEVEL_OPTION,
    'until-caught-up': { type: 'boolean', help: 'a one-shot catch-up: exit 0 once the live journal is reached, quiet and committed' },
  },
  examples: [
    ['logdaemon run', `run with ./${DEFAULT_CONFIG_FILE}`],
    ['LOGDAEMON_LOG_LEVEL=debug logdaemon run -c /etc/logdaemon.mjs', 'run another configuration, logging more'],
    ['logdaemon run --until-caught-up && logdaemon verify', 'catch up once, then compare the mirror with the server'],
  ],
  async run(values, io, say) {
    const level = logLevelOf(values, io.env ?? process.env)
    const config = await loadConfig(String(values.config))
    const log = level !== undefined ? { ...config.log, level } : config.log
    const logger = createCliLogger(log, { tty: io.stderrIsTTY === true, ...(io.stderr !== process.stderr ? { stream: io.stderr } : {}) })
    const untilCaughtUp = values['until-caught-up'] === true
    /* c8 ignore next -- process signals: the spawn tests cover them (test/daemon/signals.ts) */
    const guard = io.signal
      ? null
      : guardProcess({
          logger,
          onHangup: () => reopenLogFile(logger),
          ...(config.file ? { configFile: config.file } : {}),
          held: () => {
            io.early?.handOverCrashes()
            return io.early?.release() ?? []
          },
        })
    const stop = io.signal ?? guard!.signal
    const kill = io.kill ?? guard?.kill
    const daemon = new Daemon({ ...config, log }, { logger, signal: stop, untilCaughtUp })
    // A kill that came before the daemon existed (held signals, replayed) would never fire a listener added now.
    if (kill?.aborted) daemon.kill()
    else kill?.addEventListener('abort', () => daemon.kill(), { once: true })
    // Exit codes (docs/operations.md): 0 stopped cleanly or caught up, 1 anything else; each exit is logged.
    let code = 0
    let started = false
    try {
      await daemon.start()
      started = true
      await daemon.done
    } catch (err) {
      say(messageOf(err))
      // A log file says why too (the daemon logs its own failures once started; a start that fails only throws): it
      // said only "exiting with code 1", unexplained in a log shared with a running daemon (a second one, ERR_LOCKED).
      if (!started && log.file !== undefined) logger.error({ code: (err as { code?: unknown }).code }, messageOf(err))
      code = 1
    }
    if (code === 0) logger.info({ exitCode: 0 }, untilCaughtUp && daemon.caughtUp ? 'caught up; exiting with code 0' : 'exiting with code 0')
    else logger.error({ exitCode: code }, `exiting with code ${code}`)
    // After the last line: a signal from now on exits with this code at once (the guard's handlers stay on the process).
    guard?.dispose(code)
    // The code is decided and logged, everything that counts is committed and closed: end the process now. Listener calls
    // that never settled, a listener that keeps a timer or a socket, a factory still running, would hold it for ever.
    io.exit?.(code)
    return code
  },
}
