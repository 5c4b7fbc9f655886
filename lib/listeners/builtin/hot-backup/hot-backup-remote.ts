/**
 * The standby's side of hot-backup: a POSIX `sh` script run by ssh as the
 * remote command. It keeps one file per journal, `DIR/journal.N`, that is
 * always a byte-exact prefix of the primary's journal N, and speaks a small
 * line protocol on its stdin/stdout. Journal bytes travel only as data on
 * stdin; the command line holds nothing but this script and the configured
 * directory and replay command.
 *
 * Protocol (version 1). Remote to local, first: `H logdaemon-hot-backup 1`.
 * Then, one answer per request, in order:
 *
 * - `P N` → `S N SIZE`: how many bytes of journal N the standby holds
 *   durably (with `replay`: has replayed).
 * - `W N OFFSET LEN` followed by LEN bytes, the bytes of journal N starting
 *   at OFFSET → `A N SIZE` once they are written, fsynced (and replayed).
 *   OFFSET may be below the file's size: bytes it already has are read and
 *   compared (cksum), never written twice, and bytes that differ are
 *   `E mismatch: …` (the file is not this journal's copy); above it is a gap.
 * - anything wrong → `E message` and the script exits (ssh then exits non-zero).
 *
 * It needs `sh`, `wc`, `tail`, `cksum`, `mv`, `mkdir` and GNU coreutils' `head`
 * (`head -c N` reads exactly N bytes from a pipe and no more) and `sync FILE`
 * (fsync of one file, coreutils 8.24 or later) on the standby.
 *
 * With `replay` (e.g. `p4d -r /p4/standby -jr -`), every write is followed
 * by running that command with the journal bytes not yet replayed on its
 * stdin (read back from `DIR/journal.N`); `DIR/journal.N.replayed` records
 * how far replay got. A replay that fails is tried again on the next write.
 * A crash between a successful replay and the update of that file replays
 * those bytes again (at-least-once for replay, exactly-once for the file).
 */

/** The protocol version this side speaks, sent in the `H` line. */
export const PROTOCOL_VERSION = 1

/** The `H` line's program name. */
export const HELLO_NAME = 'logdaemon-hot-backup'

/*
 * The script: no single quotes inside (it is sent single-quoted), no
 * `!` (csh history), `$1` the directory, `$2` the replay command or empty,
 * `$3` 1 to fsync.
 */
const SCRIPT = `d=$1 replay=$2 fsync=$3
mkdir -p -- "$d" || exit 1
size() {
  if [ -f "$d/journal.$1" ]; then n=$(wc -c < "$d/journal.$1") || return 1; echo $((n)); else echo 0; fi
}
have() {
  if [ -z "$replay" ]; then size "$1"
  elif [ -f "$d/journal.$1.replayed" ]; then cat "$d/journal.$1.replayed"
  else echo 0; fi
}
same() {
  a=$(head -c "$3" | cksum) && b=$(tail -c +$(($2 + 1)) -- "$1" | head -c "$3" | cksum) && [ "$a" = "$b" ]
}
durable() {
  [ "$fsync" = 1 ] || return 0
  sync -- "$@"
}
catchup() {
  [ -n "$replay" ] || return 0
  f="$d/journal.$1"; r=$(have "$1") && s=$(size "$1") || return 1
  [ "$r" -lt "$s" ] || return 0
  tail -c +$((r + 1)) -- "$f" | head -c $((s - r)) | sh -c "$replay" >&2 || return 1
  echo "$s" > "$f.replayed.tmp" && durable "$f.replayed.tmp" && mv -f -- "$f.replayed.tmp" "$f.replayed" && durable "$d"
}
echo "H ${HELLO_NAME} ${PROTOCOL_VERSION}"
while read -r c j o n; do
  case $c in
  P) echo "S $j $(have "$j")" ;;
  W) f="$d/journal.$j"; s=$(size "$j") || exit 1
    if [ "$o" -gt "$s" ]; then echo "E gap: $f has $s bytes, data starts at $o"; exit 3; fi
    k=$((s - o)); [ "$k" -le "$n" ] || k=$n
    [ "$k" -eq 0 ] || same "$f" "$o" "$k" || { echo "E mismatch: $f differs from the journal in bytes $o..$((o + k))"; exit 6; }
    [ "$k" -eq "$n" ] || head -c $((n - k)) >> "$f"
    if [ "$(size "$j")" -ne $((s + n - k)) ]; then echo "E short write to $f"; exit 4; fi
    durable "$f" || exit 1
    [ "$s" -gt 0 ] || durable "$d" || exit 1
    catchup "$j" || { echo "E replay of $f failed"; exit 5; }
    echo "A $j $(have "$j")" ;;
  *) echo "E unknown request: $c"; exit 2 ;;
  esac
done
`

/** The remote script's text, for installing it on the standby by hand. */
export function remoteScript(): string {
  return SCRIPT
}

/** Quotes one word for a POSIX shell: `'…'` with every `'` as `'\''`. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`
}

export interface RemoteCommandOptions {
  /** Directory on the standby for `journal.N` files (absolute, or relative to the remote user's home). */
  dir: string
  /** Remote shell command applying journal bytes from its stdin, or null. */
  replay: string | null
  /** fsync each file after writing (default true). */
  fsync?: boolean
}

/**
 * The command line ssh sends to the standby: `sh -c SCRIPT NAME DIR REPLAY
 * FSYNC`, every word quoted for the remote user's (POSIX) login shell.
 */
export function remoteCommand(options: RemoteCommandOptions): string {
  return ['sh', '-c', shellQuote(SCRIPT), HELLO_NAME, shellQuote(options.dir), shellQuote(options.replay ?? ''), options.fsync === false ? '0' : '1'].join(' ')
}
