/**
 * Preloaded (`node --import`) into a program a scenario spawns, such as the
 * built logdaemon-cat: at exit, writes the process's peak RSS and CPU time
 * to the file named by LOGDAEMON_BENCH_PROBE. Node cannot read a child's
 * rusage, and /proc/PID/status is gone once the child has exited.
 */
import { writeFileSync } from 'node:fs'

/** What the probe writes. */
export interface ProbeReport {
  maxRssKiB: number
  cpuMs: number
}

export const PROBE_ENV = 'LOGDAEMON_BENCH_PROBE'

const out = process.env[PROBE_ENV]
if (out) {
  process.on('exit', () => {
    const usage = process.resourceUsage()
    const report: ProbeReport = { maxRssKiB: usage.maxRSS, cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000 }
    writeFileSync(out, JSON.stringify(report))
  })
}
