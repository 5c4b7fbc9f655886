import { loadConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import { createCliLogger, logLevelOf, LOG_LEVEL_OPTION, messageOf, processSignals, type Command } from './command.js'
import { CONFIG_OPTION, DEFAULT_CONFIG_FILE } from './init.js'

/** `logdaemon run`: the daemon, until SIGTERM or SIGINT. */
export const runCommand: Command = {
  brief: 'run the daemon until SIGTERM or SIGINT (then finish, commit, close, exit 0)',
  usage: 'logdaemon run [-c FILE] [--log-level LEVEL]',
  summary:
    'Runs the daemon: follows the journals from the saved position (or from the configured start),\n' +
    'feeds the listeners, commits. SIGTERM or SIGINT stops it gracefully (exit 0); a second one stops\n' +
    'it at once. Logs go to standard error (readable on a terminal, JSON lines otherwise) or to log.file.',
  options: {
    config: { ...CONFIG_OPTION, help: 'the configuration to run' },
    'log-level': LOG_LEVEL_OPTION,
  },
  examples: [
    ['logdaemon run', `run with ./${DEFAULT_CONFIG_FILE}`],
    ['LOGDAEMON_LOG_LEVEL=debug logdaemon run -c /etc/logdaemon.mjs', 'run another configuration, logging more'],
  ],
  async run(values, io, say) {
    const level = logLevelOf(values, io.env ?? process.env)
    const config = await loadConfig(String(values.config))
    const log = level !== undefined ? { ...config.log, level } : config.log
    const logger = createCliLogger(log, { tty: io.stderrIsTTY === true, ...(io.stderr !== process.stderr ? { stream: io.stderr } : {}) })
    const signals = io.signal ? null : processSignals()
    const stop = io.signal ?? signals!.signal
    const kill = io.kill ?? signals?.kill
    const daemon = new Daemon({ ...config, log }, { logger, signal: stop })
    kill?.addEventListener('abort', () => daemon.kill(), { once: true })
    try {
      await daemon.start()
      await daemon.done
      return 0
    } catch (err) {
      say(messageOf(err))
      return 1
    } finally {
      signals?.dispose()
    }
  },
}
