/**
 * test/files/gunzip.ts's inflater tests, unchanged, on zlib-sync-worker:
 * every guarantee of the gunzip stream holds with the worker thread.
 */
import t from 'tap'

process.env.LOGDAEMON_TEST_INFLATERS = 'zlib-sync-worker'
// A worker is started per stream, a few hundred of them.
t.setTimeout(900_000)
await import('./gunzip.js')
