/**
 * run.ts on the short profile: every scenario that runs on every data set,
 * on 2 MB of short records, with every count checked (the SQL, JetStream and
 * latency scenarios are checked on the default profile by run.ts).
 */
process.env.LOGDAEMON_BENCH_TEST_PROFILE = 'short'
await import('./run.js')
