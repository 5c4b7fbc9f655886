/**
 * How many bytes logdaemon reads from a journal file at a time. Node's
 * default for file streams is 64 KiB; at that size a fast consumer spends a
 * third of its time waiting for the next read (one thread-pool round trip
 * per chunk). 256 KiB reads cut that wait to a quarter and framing runs
 * about 1.5x faster end to end (benchmarks/, `framing` with and without;
 * README "Benchmarks"), while entries, which are views into their chunk,
 * keep at most a few chunks alive. Larger reads gained little more.
 */
export const READ_CHUNK_BYTES = 256 * 1024
