
use builtin;
use str;

set edit:completion:arg-completer[durable] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'durable'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'durable'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand save 'Replace a file''s content durably (from stdin, a file, or a command''s output)'
            cand log 'Append, verify and dump checksummed record logs'
            cand recover 'Repair logs (cut torn tails), finish interrupted journaled saves, remove stale temp files'
            cand completions 'Print a shell completion script to stdout'
            cand man 'Print a man page (roff) to stdout: durable(1), or one command''s page'
        }
        &'durable;save'= {
            cand --from 'Read the new content from FILE instead of standard input (`-`: standard input)'
            cand --strategy 'How to replace the content: atomic (temp file + rename; new inode), in-place (keeps the inode; NOT crash-atomic), journal (in place, via a flushed journal; crash-safe)'
            cand --sync 'How hard to flush: full (fsync; F_FULLFSYNC on macOS), data (fdatasync), none (no flushing: atomic for readers, not durable across power loss)'
            cand --mode 'Permission bits for TARGET, in octal (default: keep the existing file''s, or 0666 & ~umask for a new file)'
            cand --hardlinks 'What to do when TARGET has several hard links (atomic strategy only): refuse (the default), or break (only this name gets the new content). --strategy in-place or journal updates every name'
            cand --no-follow 'If TARGET is a symlink, replace the link itself with a regular file (default: write through to the file it points to, keeping the link)'
            cand --no-clobber 'Fail if TARGET already exists (race-free: renameat2 RENAME_NOREPLACE, or O_EXCL)'
            cand --backup 'Keep the previous version as TARGET.bak (replacing an older one), made just before the first write to TARGET (in place without --if-changed: before the first chunk, identical or not), never when the save is refused first or --if-changed finds nothing to change'
            cand --if-changed 'Leave TARGET alone, mtime included, when the new content equals the current content (a --mode that differs from TARGET''s bits counts as a change)'
            cand --allow-empty 'Let empty input replace a non-empty TARGET (refused by default: exit 2, TARGET unchanged)'
            cand --verify 'Re-read what was written and compare it (length and CRC-32) before reporting success'
            cand --no-wait 'Fail at once (exit 2) if another save of TARGET is in progress, instead of waiting for it'
            cand --explain 'Print the system calls the save would make, and change nothing'
            cand -v 'Print each durability step with its duration on stderr'
            cand --verbose 'Print each durability step with its duration on stderr'
            cand --json 'Print the result as one JSON object on stdout (docs/JSON.md)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'durable;log'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand append 'Append records to a log durably: all at once, or a stream as it arrives'
            cand verify 'Check every record of logs (files or whole directories)'
            cand dump 'Print a log''s records as text, hex, JSON lines or raw payloads'
            cand salvage 'Copy every valid record of a damaged log, in order, into a new log'
            cand restore 'Put the bytes a sidecar of `durable recover` keeps back into their log'
        }
        &'durable;log;append'= {
            cand --file 'Append the content of FILE as one record (repeatable; `-`: all of standard input, once)'
            cand --checksum 'Checksum for a new log (an existing log keeps its own, a different explicit choice is an error; one recover emptied keeps the one its sidecar records, unless this names one)'
            cand --sync 'How hard to flush: full (fsync), data (fdatasync), none'
            cand --log-format 'The log''s format: `native` or `lines` (`ENTRY SHA256HEX` per line). An existing log keeps its own, and so does one recover emptied; a new log is native unless this says lines'
            cand -0 'Standard input holds NUL-terminated records instead of lines'
            cand --null 'Standard input holds NUL-terminated records instead of lines'
            cand --whole 'Standard input is one record, whole'
            cand --atomic 'Make all of standard input one append (all or nothing), instead of committing it in groups as it arrives'
            cand --no-wait 'Fail at once if another appender holds the log''s lock, instead of waiting (a wait is announced on stderr)'
            cand --verify 'Re-read and check the appended records after flushing them'
            cand --print-offsets 'Print each appended record''s offset, one per line, as soon as its group is flushed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'durable;log;verify'= {
            cand --log-format 'Read the files as this format instead of detecting it'
            cand --with-index 'The proglog index that goes with the store given (default: `<base>.index` beside it)'
            cand --threads 'Check each log with at most N threads (default: one per CPU core, at most 4, so memory stays under 16 MiB). A native log of 64 MiB or more is cut into pieces checked at the same time, and several logs are checked at the same time; the report is the same, in the same order. `--threads 1`: one file at a time, each from start to end'
            cand --json 'One JSON object per file, one per line (docs/JSON.md)'
            cand -q 'Print nothing; the exit status says it all'
            cand --quiet 'Print nothing; the exit status says it all'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'durable;log;dump'= {
            cand --format 'Output: text (offset, sequence number, length, checksum, escaped payload), hex (a hexdump per record), json (one object per record, docs/JSON.md), raw (each payload followed by a newline, or NUL with -0), blob (the payload of exactly one record, byte for byte). Default: text; hex for aof files'
            cand --first 'Only the first N records'
            cand --last 'Only the last N records (reads only the end of the log)'
            cand --start 'Only records at or after this byte offset (at or past the end of the file: refused, unless --follow waits for records appended there)'
            cand --end 'Only records before this byte offset (selecting none of the log''s records: refused)'
            cand --index 'Only records with these indexes: N, N.., ..M or N..M (0-based, M excluded; selecting none of the log''s records: refused, unless --follow waits for records appended)'
            cand --log-format 'Read the file as this format instead of detecting it'
            cand --with-index 'The proglog index that goes with the store given (default: `<base>.index` beside it)'
            cand -0 'With --format raw: end each payload with NUL instead of a newline'
            cand --null 'With --format raw: end each payload with NUL instead of a newline'
            cand --follow 'Keep printing records as they are appended (like tail -f)'
            cand --resync 'Go on after corruption with the next valid record'
            cand --stats 'Print the bytes read and read calls made, as JSON on stderr, at the end'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'durable;log;salvage'= {
            cand --log-format 'Read SRC as this format instead of detecting it'
            cand --json 'Print the result as one JSON object (docs/JSON.md)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'durable;log;restore'= {
            cand --dry-run 'Print what would be put back; change nothing'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'durable;recover'= {
            cand --backup-dir 'Keep sidecars in DIR (an existing directory) instead of .durable-recovered/ beside each log (beside a proglog segment''s directory)'
            cand --log-format 'Read the files as this format instead of detecting it'
            cand --with-index 'The proglog index that goes with the store given (default: `<base>.index` beside it)'
            cand --threads 'Check each log with at most N threads (default: one per CPU core, at most 4, so memory stays under 16 MiB). A native log of 64 MiB or more is cut into pieces checked at the same time, and several logs are checked at the same time; the report is the same, in the same order. `--threads 1`: one file at a time, each from start to end'
            cand --dry-run 'Print what would be done; change nothing'
            cand --force 'Cut a log at corruption before its tail too (the sidecar keeps what is removed)'
            cand --no-backup 'Do not keep the removed bytes in a sidecar'
            cand -x 'When walking a directory, do not cross into other filesystems (like `find -xdev`)'
            cand --one-file-system 'When walking a directory, do not cross into other filesystems (like `find -xdev`)'
            cand --json 'One JSON object per file handled, one per line (docs/JSON.md)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'durable;completions'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'durable;man'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
    ]
    $completions[$command]
}
