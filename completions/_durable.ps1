
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'durable' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'durable'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'durable' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('save', 'save', [CompletionResultType]::ParameterValue, 'Replace a file''s content durably (from stdin, a file, or a command''s output)')
            [CompletionResult]::new('log', 'log', [CompletionResultType]::ParameterValue, 'Append, verify and dump checksummed record logs')
            [CompletionResult]::new('recover', 'recover', [CompletionResultType]::ParameterValue, 'Repair logs (cut torn tails), finish interrupted journaled saves, remove stale temp files')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script to stdout')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print a man page (roff) to stdout: durable(1), or one command''s page')
            break
        }
        'durable;save' {
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Read the new content from FILE instead of standard input (`-`: standard input)')
            [CompletionResult]::new('--strategy', '--strategy', [CompletionResultType]::ParameterName, 'How to replace the content: atomic (temp file + rename; new inode), in-place (keeps the inode; NOT crash-atomic), journal (in place, via a flushed journal; crash-safe)')
            [CompletionResult]::new('--sync', '--sync', [CompletionResultType]::ParameterName, 'How hard to flush: full (fsync; F_FULLFSYNC on macOS), data (fdatasync), none (no flushing: atomic for readers, not durable across power loss)')
            [CompletionResult]::new('--mode', '--mode', [CompletionResultType]::ParameterName, 'Permission bits for TARGET, in octal (default: keep the existing file''s, or 0666 & ~umask for a new file)')
            [CompletionResult]::new('--hardlinks', '--hardlinks', [CompletionResultType]::ParameterName, 'What to do when TARGET has several hard links (atomic strategy only): refuse (the default), or break (only this name gets the new content). --strategy in-place or journal updates every name')
            [CompletionResult]::new('--no-follow', '--no-follow', [CompletionResultType]::ParameterName, 'If TARGET is a symlink, replace the link itself with a regular file (default: write through to the file it points to, keeping the link)')
            [CompletionResult]::new('--no-clobber', '--no-clobber', [CompletionResultType]::ParameterName, 'Fail if TARGET already exists (race-free: renameat2 RENAME_NOREPLACE, or O_EXCL)')
            [CompletionResult]::new('--backup', '--backup', [CompletionResultType]::ParameterName, 'Keep the previous version as TARGET.bak (replacing an older one), made just before the first write to TARGET (in place without --if-changed: before the first chunk, identical or not), never when the save is refused first or --if-changed finds nothing to change')
            [CompletionResult]::new('--if-changed', '--if-changed', [CompletionResultType]::ParameterName, 'Leave TARGET alone, mtime included, when the new content equals the current content (a --mode that differs from TARGET''s bits counts as a change)')
            [CompletionResult]::new('--allow-empty', '--allow-empty', [CompletionResultType]::ParameterName, 'Let empty input replace a non-empty TARGET (refused by default: exit 2, TARGET unchanged)')
            [CompletionResult]::new('--verify', '--verify', [CompletionResultType]::ParameterName, 'Re-read what was written and compare it (length and CRC-32) before reporting success')
            [CompletionResult]::new('--no-wait', '--no-wait', [CompletionResultType]::ParameterName, 'Fail at once (exit 2) if another save of TARGET is in progress, instead of waiting for it')
            [CompletionResult]::new('--explain', '--explain', [CompletionResultType]::ParameterName, 'Print the system calls the save would make, and change nothing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print each durability step with its duration on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print each durability step with its duration on stderr')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout (docs/JSON.md)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'durable;log' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('append', 'append', [CompletionResultType]::ParameterValue, 'Append records to a log durably: all at once, or a stream as it arrives')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check every record of logs (files or whole directories)')
            [CompletionResult]::new('dump', 'dump', [CompletionResultType]::ParameterValue, 'Print a log''s records as text, hex, JSON lines or raw payloads')
            [CompletionResult]::new('salvage', 'salvage', [CompletionResultType]::ParameterValue, 'Copy every valid record of a damaged log, in order, into a new log')
            [CompletionResult]::new('restore', 'restore', [CompletionResultType]::ParameterValue, 'Put the bytes a sidecar of `durable recover` keeps back into their log')
            break
        }
        'durable;log;append' {
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'Append the content of FILE as one record (repeatable; `-`: all of standard input, once)')
            [CompletionResult]::new('--checksum', '--checksum', [CompletionResultType]::ParameterName, 'Checksum for a new log (an existing log keeps its own, a different explicit choice is an error; one recover emptied keeps the one its sidecar records, unless this names one)')
            [CompletionResult]::new('--sync', '--sync', [CompletionResultType]::ParameterName, 'How hard to flush: full (fsync), data (fdatasync), none')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'The log''s format: `native` or `lines` (`ENTRY SHA256HEX` per line). An existing log keeps its own, and so does one recover emptied; a new log is native unless this says lines')
            [CompletionResult]::new('-0', '-0', [CompletionResultType]::ParameterName, 'Standard input holds NUL-terminated records instead of lines')
            [CompletionResult]::new('--null', '--null', [CompletionResultType]::ParameterName, 'Standard input holds NUL-terminated records instead of lines')
            [CompletionResult]::new('--whole', '--whole', [CompletionResultType]::ParameterName, 'Standard input is one record, whole')
            [CompletionResult]::new('--atomic', '--atomic', [CompletionResultType]::ParameterName, 'Make all of standard input one append (all or nothing), instead of committing it in groups as it arrives')
            [CompletionResult]::new('--no-wait', '--no-wait', [CompletionResultType]::ParameterName, 'Fail at once if another appender holds the log''s lock, instead of waiting (a wait is announced on stderr)')
            [CompletionResult]::new('--verify', '--verify', [CompletionResultType]::ParameterName, 'Re-read and check the appended records after flushing them')
            [CompletionResult]::new('--print-offsets', '--print-offsets', [CompletionResultType]::ParameterName, 'Print each appended record''s offset, one per line, as soon as its group is flushed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'durable;log;verify' {
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Read the files as this format instead of detecting it')
            [CompletionResult]::new('--with-index', '--with-index', [CompletionResultType]::ParameterName, 'The proglog index that goes with the store given (default: `<base>.index` beside it)')
            [CompletionResult]::new('--threads', '--threads', [CompletionResultType]::ParameterName, 'Check each log with at most N threads (default: one per CPU core, at most 4, so memory stays under 16 MiB). A native log of 64 MiB or more is cut into pieces checked at the same time, and several logs are checked at the same time; the report is the same, in the same order. `--threads 1`: one file at a time, each from start to end')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'One JSON object per file, one per line (docs/JSON.md)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print nothing; the exit status says it all')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print nothing; the exit status says it all')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'durable;log;dump' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output: text (offset, sequence number, length, checksum, escaped payload), hex (a hexdump per record), json (one object per record, docs/JSON.md), raw (each payload followed by a newline, or NUL with -0), blob (the payload of exactly one record, byte for byte). Default: text; hex for aof files')
            [CompletionResult]::new('--first', '--first', [CompletionResultType]::ParameterName, 'Only the first N records')
            [CompletionResult]::new('--last', '--last', [CompletionResultType]::ParameterName, 'Only the last N records (reads only the end of the log)')
            [CompletionResult]::new('--start', '--start', [CompletionResultType]::ParameterName, 'Only records at or after this byte offset (at or past the end of the file: refused, unless --follow waits for records appended there)')
            [CompletionResult]::new('--end', '--end', [CompletionResultType]::ParameterName, 'Only records before this byte offset (selecting none of the log''s records: refused)')
            [CompletionResult]::new('--index', '--index', [CompletionResultType]::ParameterName, 'Only records with these indexes: N, N.., ..M or N..M (0-based, M excluded; selecting none of the log''s records: refused, unless --follow waits for records appended)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Read the file as this format instead of detecting it')
            [CompletionResult]::new('--with-index', '--with-index', [CompletionResultType]::ParameterName, 'The proglog index that goes with the store given (default: `<base>.index` beside it)')
            [CompletionResult]::new('-0', '-0', [CompletionResultType]::ParameterName, 'With --format raw: end each payload with NUL instead of a newline')
            [CompletionResult]::new('--null', '--null', [CompletionResultType]::ParameterName, 'With --format raw: end each payload with NUL instead of a newline')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep printing records as they are appended (like tail -f)')
            [CompletionResult]::new('--resync', '--resync', [CompletionResultType]::ParameterName, 'Go on after corruption with the next valid record')
            [CompletionResult]::new('--stats', '--stats', [CompletionResultType]::ParameterName, 'Print the bytes read and read calls made, as JSON on stderr, at the end')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'durable;log;salvage' {
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Read SRC as this format instead of detecting it')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object (docs/JSON.md)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'durable;log;restore' {
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print what would be put back; change nothing')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'durable;recover' {
            [CompletionResult]::new('--backup-dir', '--backup-dir', [CompletionResultType]::ParameterName, 'Keep sidecars in DIR (an existing directory) instead of .durable-recovered/ beside each log (beside a proglog segment''s directory)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Read the files as this format instead of detecting it')
            [CompletionResult]::new('--with-index', '--with-index', [CompletionResultType]::ParameterName, 'The proglog index that goes with the store given (default: `<base>.index` beside it)')
            [CompletionResult]::new('--threads', '--threads', [CompletionResultType]::ParameterName, 'Check each log with at most N threads (default: one per CPU core, at most 4, so memory stays under 16 MiB). A native log of 64 MiB or more is cut into pieces checked at the same time, and several logs are checked at the same time; the report is the same, in the same order. `--threads 1`: one file at a time, each from start to end')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print what would be done; change nothing')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Cut a log at corruption before its tail too (the sidecar keeps what is removed)')
            [CompletionResult]::new('--no-backup', '--no-backup', [CompletionResultType]::ParameterName, 'Do not keep the removed bytes in a sidecar')
            [CompletionResult]::new('-x', '-x', [CompletionResultType]::ParameterName, 'When walking a directory, do not cross into other filesystems (like `find -xdev`)')
            [CompletionResult]::new('--one-file-system', '--one-file-system', [CompletionResultType]::ParameterName, 'When walking a directory, do not cross into other filesystems (like `find -xdev`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'One JSON object per file handled, one per line (docs/JSON.md)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'durable;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'durable;man' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
