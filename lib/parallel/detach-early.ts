/**
 * Detaches a throwaway ArrayBuffer, once per thread. Why: V8 compiles
 * typed-array and Buffer access without detach checks for as long as no
 * ArrayBuffer of the thread has ever been detached, and the first detach
 * (a worker transferring its first output buffer back) throws away every
 * piece of optimized code that relied on that: the framer's #scan, the
 * JSON writer with the functions it inlines, subarray; each then runs
 * unoptimized again until V8 compiles it a second time. Measured on
 * `cat --format json -j2` (default profile, 2 workers): every hot function
 * was compiled twice per worker; detaching first took V8's compile threads
 * from ~470 to ~300 ms of CPU at 200 MB, and a 4 MB run from 1.04 to
 * 0.82 CPU-s (8 runs, medians). Call it at a worker's start, before
 * anything gets hot.
 */
let detached = false

export function detachEarly(): void {
  if (detached) return
  detached = true
  const spare = new ArrayBuffer(8)
  structuredClone(spare, { transfer: [spare] })
}
