/** The name of a journal file the mirror writes in its directory: `journal.N`. */
export const MIRROR_JOURNAL = /^journal\.(\d+)$/

/** Beside the mirror's files, whatever its state file: its lock (`.mirror-dir.lock`) keeps one mirror per directory. */
export const MIRROR_DIR_LOCK = '.mirror-dir'
