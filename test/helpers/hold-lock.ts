/**
 * A child process for the lock tests: takes the lock of argv[2], says so on
 * stdout, then waits to be killed. SIGUSR2 exits it at once without a
 * release, as the daemon's forced stop does.
 */
import { StateLock } from '../../lib/files/state-lock.js'

const lock = await StateLock.acquire(process.argv[2] as string, { command: 'hold-lock' })
process.on('SIGUSR2', () => process.exit(1))
process.stdout.write(`locked ${lock.holder.pid}\n`)
setInterval(() => {}, 1 << 30)
