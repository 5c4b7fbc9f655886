/**
 * test/files/gunzip.ts's inflater tests, unchanged, on isal-worker
 * (ISA-L on a worker thread): every guarantee of the gunzip
 * stream holds there too.
 */
import t from 'tap'

process.env.LOGDAEMON_TEST_INFLATERS = 'isal-worker'
// A worker is started per stream, a few hundred of them.
t.setTimeout(900_000)
await import('./gunzip.js')
