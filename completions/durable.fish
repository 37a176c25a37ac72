# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_durable_global_optspecs
    string join \n h/help V/version
end

function __fish_durable_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_durable_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_durable_using_subcommand
    set -l cmd (__fish_durable_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c durable -n "__fish_durable_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durable -n "__fish_durable_needs_command" -s V -l version -d 'Print version'
complete -c durable -n "__fish_durable_needs_command" -f -a "save" -d 'Replace a file\'s content durably (from stdin, a file, or a command\'s output)'
complete -c durable -n "__fish_durable_needs_command" -f -a "log" -d 'Append, verify and dump checksummed record logs'
complete -c durable -n "__fish_durable_needs_command" -f -a "recover" -d 'Repair logs (cut torn tails), finish interrupted journaled saves, remove stale temp files'
complete -c durable -n "__fish_durable_needs_command" -f -a "completions" -d 'Print a shell completion script to stdout'
complete -c durable -n "__fish_durable_needs_command" -f -a "man" -d 'Print a man page (roff) to stdout: durable(1), or one command\'s page'
complete -c durable -n "__fish_durable_using_subcommand save" -l from -d 'Read the new content from FILE instead of standard input (`-`: standard input)' -r -F
complete -c durable -n "__fish_durable_using_subcommand save" -l strategy -d 'How to replace the content: atomic (temp file + rename; new inode), in-place (keeps the inode; NOT crash-atomic), journal (in place, via a flushed journal; crash-safe)' -r -f -a "atomic\t'Temp file in the same directory, fsync, close, rename, fsync the directory'
in-place\t'Overwrite the existing file (keeps the inode); not crash-atomic'
journal\t'In place after writing and flushing a journal; crash-safe'"
complete -c durable -n "__fish_durable_using_subcommand save" -l sync -d 'How hard to flush: full (fsync; F_FULLFSYNC on macOS), data (fdatasync), none (no flushing: atomic for readers, not durable across power loss)' -r -f -a "full\t'fsync (F_FULLFSYNC on macOS) the file and the directory'
data\t'fdatasync the file; fsync the directory'
none\t'No flushing'"
complete -c durable -n "__fish_durable_using_subcommand save" -l mode -d 'Permission bits for TARGET, in octal (default: keep the existing file\'s, or 0666 & ~umask for a new file)' -r
complete -c durable -n "__fish_durable_using_subcommand save" -l hardlinks -d 'What to do when TARGET has several hard links (atomic strategy only): refuse (the default), or break (only this name gets the new content). --strategy in-place or journal updates every name' -r -f -a "refuse\t'Refuse to save, naming the choices'
break\t'Replace only this name'"
complete -c durable -n "__fish_durable_using_subcommand save" -l no-follow -d 'If TARGET is a symlink, replace the link itself with a regular file (default: write through to the file it points to, keeping the link)'
complete -c durable -n "__fish_durable_using_subcommand save" -l no-clobber -d 'Fail if TARGET already exists (race-free: renameat2 RENAME_NOREPLACE, or O_EXCL)'
complete -c durable -n "__fish_durable_using_subcommand save" -l backup -d 'Keep the previous version as TARGET.bak (replacing an older one), made just before the first write to TARGET (in place without --if-changed: before the first chunk, identical or not), never when the save is refused first or --if-changed finds nothing to change'
complete -c durable -n "__fish_durable_using_subcommand save" -l if-changed -d 'Leave TARGET alone, mtime included, when the new content equals the current content (a --mode that differs from TARGET\'s bits counts as a change)'
complete -c durable -n "__fish_durable_using_subcommand save" -l allow-empty -d 'Let empty input replace a non-empty TARGET (refused by default: exit 2, TARGET unchanged)'
complete -c durable -n "__fish_durable_using_subcommand save" -l verify -d 'Re-read what was written and compare it (length and CRC-32) before reporting success'
complete -c durable -n "__fish_durable_using_subcommand save" -l no-wait -d 'Fail at once (exit 2) if another save of TARGET is in progress, instead of waiting for it'
complete -c durable -n "__fish_durable_using_subcommand save" -l explain -d 'Print the system calls the save would make, and change nothing'
complete -c durable -n "__fish_durable_using_subcommand save" -s v -l verbose -d 'Print each durability step with its duration on stderr'
complete -c durable -n "__fish_durable_using_subcommand save" -l json -d 'Print the result as one JSON object on stdout (docs/JSON.md)'
complete -c durable -n "__fish_durable_using_subcommand save" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durable -n "__fish_durable_using_subcommand save" -s V -l version -d 'Print version'
complete -c durable -n "__fish_durable_using_subcommand log; and not __fish_seen_subcommand_from append verify dump salvage restore" -s h -l help -d 'Print help'
complete -c durable -n "__fish_durable_using_subcommand log; and not __fish_seen_subcommand_from append verify dump salvage restore" -s V -l version -d 'Print version'
complete -c durable -n "__fish_durable_using_subcommand log; and not __fish_seen_subcommand_from append verify dump salvage restore" -f -a "append" -d 'Append records to a log durably: all at once, or a stream as it arrives'
complete -c durable -n "__fish_durable_using_subcommand log; and not __fish_seen_subcommand_from append verify dump salvage restore" -f -a "verify" -d 'Check every record of logs (files or whole directories)'
complete -c durable -n "__fish_durable_using_subcommand log; and not __fish_seen_subcommand_from append verify dump salvage restore" -f -a "dump" -d 'Print a log\'s records as text, hex, JSON lines or raw payloads'
complete -c durable -n "__fish_durable_using_subcommand log; and not __fish_seen_subcommand_from append verify dump salvage restore" -f -a "salvage" -d 'Copy every valid record of a damaged log, in order, into a new log'
complete -c durable -n "__fish_durable_using_subcommand log; and not __fish_seen_subcommand_from append verify dump salvage restore" -f -a "restore" -d 'Put the bytes a sidecar of `durable recover` keeps back into their log'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from append" -l file -d 'Append the content of FILE as one record (repeatable; `-`: all of standard input, once)' -r -F
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from append" -l checksum -d 'Checksum for a new log (an existing log keeps its own, a different explicit choice is an error; one recover emptied keeps the one its sidecar records, unless this names one)' -r -f -a "crc32\t'CRC-32 (fast; the default)'
sha256\t'SHA-256'"
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from append" -l sync -d 'How hard to flush: full (fsync), data (fdatasync), none' -r -f -a "full\t'fsync (F_FULLFSYNC on macOS) the file and the directory'
data\t'fdatasync the file; fsync the directory'
none\t'No flushing'"
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from append" -l log-format -d 'The log\'s format: `native` or `lines` (`ENTRY SHA256HEX` per line). An existing log keeps its own, and so does one recover emptied; a new log is native unless this says lines' -r -f -a "native\t'durable\'s own checksummed format (docs/FORMAT.md)'
lines\t'One entry per line, then a space and its SHA-256 in hex'
proglog\t'proglog\'s store (8-byte length + data) and index (12-byte entries)'
aof\t'Files of the Go aof package (tail and checkpoint magics)'"
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from append" -s 0 -l null -d 'Standard input holds NUL-terminated records instead of lines'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from append" -l whole -d 'Standard input is one record, whole'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from append" -l atomic -d 'Make all of standard input one append (all or nothing), instead of committing it in groups as it arrives'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from append" -l no-wait -d 'Fail at once if another appender holds the log\'s lock, instead of waiting (a wait is announced on stderr)'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from append" -l verify -d 'Re-read and check the appended records after flushing them'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from append" -l print-offsets -d 'Print each appended record\'s offset, one per line, as soon as its group is flushed'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from append" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from append" -s V -l version -d 'Print version'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from verify" -l log-format -d 'Read the files as this format instead of detecting it' -r -f -a "native\t'durable\'s own checksummed format (docs/FORMAT.md)'
lines\t'One entry per line, then a space and its SHA-256 in hex'
proglog\t'proglog\'s store (8-byte length + data) and index (12-byte entries)'
aof\t'Files of the Go aof package (tail and checkpoint magics)'"
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from verify" -l with-index -d 'The proglog index that goes with the store given (default: `<base>.index` beside it)' -r -F
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from verify" -l threads -d 'Check each log with at most N threads (default: one per CPU core, at most 4, so memory stays under 16 MiB). A native log of 64 MiB or more is cut into pieces checked at the same time, and several logs are checked at the same time; the report is the same, in the same order. `--threads 1`: one file at a time, each from start to end' -r
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from verify" -l json -d 'One JSON object per file, one per line (docs/JSON.md)'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from verify" -s q -l quiet -d 'Print nothing; the exit status says it all'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from verify" -s V -l version -d 'Print version'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from dump" -l format -d 'Output: text (offset, sequence number, length, checksum, escaped payload), hex (a hexdump per record), json (one object per record, docs/JSON.md), raw (each payload followed by a newline, or NUL with -0), blob (the payload of exactly one record, byte for byte). Default: text; hex for aof files' -r -f -a "text\t'Offset, length, checksum, payload with non-printable bytes escaped'
hex\t'A hexdump of each record\'s payload'
json\t'One JSON object per record'
raw\t'Payloads only, each followed by a newline (or a NUL with -0)'
blob\t'The payload of exactly one selected record, byte for byte, nothing added'"
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from dump" -l first -d 'Only the first N records' -r
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from dump" -l last -d 'Only the last N records (reads only the end of the log)' -r
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from dump" -l start -d 'Only records at or after this byte offset (at or past the end of the file: refused, unless --follow waits for records appended there)' -r
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from dump" -l end -d 'Only records before this byte offset (selecting none of the log\'s records: refused)' -r
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from dump" -l index -d 'Only records with these indexes: N, N.., ..M or N..M (0-based, M excluded; selecting none of the log\'s records: refused, unless --follow waits for records appended)' -r
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from dump" -l log-format -d 'Read the file as this format instead of detecting it' -r -f -a "native\t'durable\'s own checksummed format (docs/FORMAT.md)'
lines\t'One entry per line, then a space and its SHA-256 in hex'
proglog\t'proglog\'s store (8-byte length + data) and index (12-byte entries)'
aof\t'Files of the Go aof package (tail and checkpoint magics)'"
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from dump" -l with-index -d 'The proglog index that goes with the store given (default: `<base>.index` beside it)' -r -F
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from dump" -s 0 -l null -d 'With --format raw: end each payload with NUL instead of a newline'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from dump" -l follow -d 'Keep printing records as they are appended (like tail -f)'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from dump" -l resync -d 'Go on after corruption with the next valid record'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from dump" -l stats -d 'Print the bytes read and read calls made, as JSON on stderr, at the end'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from dump" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from dump" -s V -l version -d 'Print version'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from salvage" -l log-format -d 'Read SRC as this format instead of detecting it' -r -f -a "native\t'durable\'s own checksummed format (docs/FORMAT.md)'
lines\t'One entry per line, then a space and its SHA-256 in hex'
proglog\t'proglog\'s store (8-byte length + data) and index (12-byte entries)'
aof\t'Files of the Go aof package (tail and checkpoint magics)'"
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from salvage" -l json -d 'Print the result as one JSON object (docs/JSON.md)'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from salvage" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from salvage" -s V -l version -d 'Print version'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from restore" -l dry-run -d 'Print what would be put back; change nothing'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from restore" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durable -n "__fish_durable_using_subcommand log; and __fish_seen_subcommand_from restore" -s V -l version -d 'Print version'
complete -c durable -n "__fish_durable_using_subcommand recover" -l backup-dir -d 'Keep sidecars in DIR (an existing directory) instead of .durable-recovered/ beside each log (beside a proglog segment\'s directory)' -r -F
complete -c durable -n "__fish_durable_using_subcommand recover" -l log-format -d 'Read the files as this format instead of detecting it' -r -f -a "native\t'durable\'s own checksummed format (docs/FORMAT.md)'
lines\t'One entry per line, then a space and its SHA-256 in hex'
proglog\t'proglog\'s store (8-byte length + data) and index (12-byte entries)'
aof\t'Files of the Go aof package (tail and checkpoint magics)'"
complete -c durable -n "__fish_durable_using_subcommand recover" -l with-index -d 'The proglog index that goes with the store given (default: `<base>.index` beside it)' -r -F
complete -c durable -n "__fish_durable_using_subcommand recover" -l threads -d 'Check each log with at most N threads (default: one per CPU core, at most 4, so memory stays under 16 MiB). A native log of 64 MiB or more is cut into pieces checked at the same time, and several logs are checked at the same time; the report is the same, in the same order. `--threads 1`: one file at a time, each from start to end' -r
complete -c durable -n "__fish_durable_using_subcommand recover" -l dry-run -d 'Print what would be done; change nothing'
complete -c durable -n "__fish_durable_using_subcommand recover" -l force -d 'Cut a log at corruption before its tail too (the sidecar keeps what is removed)'
complete -c durable -n "__fish_durable_using_subcommand recover" -l no-backup -d 'Do not keep the removed bytes in a sidecar'
complete -c durable -n "__fish_durable_using_subcommand recover" -s x -l one-file-system -d 'When walking a directory, do not cross into other filesystems (like `find -xdev`)'
complete -c durable -n "__fish_durable_using_subcommand recover" -l json -d 'One JSON object per file handled, one per line (docs/JSON.md)'
complete -c durable -n "__fish_durable_using_subcommand recover" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durable -n "__fish_durable_using_subcommand recover" -s V -l version -d 'Print version'
complete -c durable -n "__fish_durable_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durable -n "__fish_durable_using_subcommand completions" -s V -l version -d 'Print version'
complete -c durable -n "__fish_durable_using_subcommand man" -s h -l help -d 'Print help'
complete -c durable -n "__fish_durable_using_subcommand man" -s V -l version -d 'Print version'
