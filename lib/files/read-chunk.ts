/**
 * How many bytes logdaemon reads from a journal file at a time (with the
 * next read already in flight: FileReader, ArchiveReader). Measured with
 * `npm run bench` on 1 GiB (docs/benchmarks.md): framing ran 1.8x split2
 * with 64 KiB reads, 2.1x with 128 KiB and 2.25x with 256 KiB, but from
 * 128 KiB up the buffers are past glibc's mmap threshold and the peak RSS
 * of decoding every field rose from 69 MB to 128 MB (128 KiB) and 138 MB
 * (256 KiB); 128 KiB is the compromise, pinned in test/files/file-reader.ts.
 */
export const READ_CHUNK_BYTES = 128 * 1024
