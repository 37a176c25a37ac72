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
complete -c durable -n "__fish_durable_needs_command" -f -a "completions" -d 'Print a shell completion script to stdout'
complete -c durable -n "__fish_durable_needs_command" -f -a "man" -d 'Print a man page (roff) to stdout: durable(1), or one command\'s page'
complete -c durable -n "__fish_durable_using_subcommand save" -l from -d 'Read the new content from FILE instead of standard input' -r -F
complete -c durable -n "__fish_durable_using_subcommand save" -l strategy -d 'How to replace the content: atomic (temp file + rename; new inode), in-place (keeps the inode; NOT crash-atomic), journal (in place, via a flushed journal; crash-safe)' -r -f -a "atomic\t'Temp file in the same directory, fsync, close, rename, fsync the directory'
in-place\t'Overwrite the existing file (keeps the inode); not crash-atomic'
journal\t'In place after writing and flushing a journal; crash-safe'"
complete -c durable -n "__fish_durable_using_subcommand save" -l sync -d 'How hard to flush: full (fsync; F_FULLFSYNC on macOS), data (fdatasync), none (no flushing: atomic for readers, not durable across power loss)' -r -f -a "full\t'fsync (F_FULLFSYNC on macOS) the file and the directory'
data\t'fdatasync the file; fsync the directory'
none\t'No flushing'"
complete -c durable -n "__fish_durable_using_subcommand save" -l mode -d 'Permission bits for TARGET, in octal (default: keep the existing file\'s, or 0666 & ~umask for a new file)' -r
complete -c durable -n "__fish_durable_using_subcommand save" -l hardlinks -d 'What to do when TARGET has several hard links (atomic strategy): refuse, or break (only this name gets the new content). --strategy in-place or journal updates every name' -r -f -a "refuse\t'Refuse to save, naming the choices'
break\t'Replace only this name'"
complete -c durable -n "__fish_durable_using_subcommand save" -l no-follow -d 'If TARGET is a symlink, replace the link itself with a regular file (default: write through to the file it points to, keeping the link)'
complete -c durable -n "__fish_durable_using_subcommand save" -l no-clobber -d 'Fail if TARGET already exists (race-free: renameat2 RENAME_NOREPLACE, or O_EXCL)'
complete -c durable -n "__fish_durable_using_subcommand save" -l backup -d 'Keep the previous version as TARGET.bak (replacing an older one)'
complete -c durable -n "__fish_durable_using_subcommand save" -l if-changed -d 'Leave TARGET alone, mtime included, when the new content equals the current content'
complete -c durable -n "__fish_durable_using_subcommand save" -l verify -d 'Re-read what was written and compare it (length and CRC-32) before reporting success'
complete -c durable -n "__fish_durable_using_subcommand save" -l explain -d 'Print the system calls the save would make, and change nothing'
complete -c durable -n "__fish_durable_using_subcommand save" -s v -l verbose -d 'Print each durability step with its duration on stderr'
complete -c durable -n "__fish_durable_using_subcommand save" -l json -d 'Print the result as one JSON object on stdout'
complete -c durable -n "__fish_durable_using_subcommand save" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durable -n "__fish_durable_using_subcommand save" -s V -l version -d 'Print version'
complete -c durable -n "__fish_durable_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c durable -n "__fish_durable_using_subcommand completions" -s V -l version -d 'Print version'
complete -c durable -n "__fish_durable_using_subcommand man" -s h -l help -d 'Print help'
complete -c durable -n "__fish_durable_using_subcommand man" -s V -l version -d 'Print version'
