#!/usr/bin/env bash
# Build the seed corpora of the fuzz targets in fuzz/corpus/<target>/ (not in git): valid logs
# and journals written by the real `durable` binary, then damaged the ways crashes and disks
# damage them, plus a few inputs for the structure-aware builders. Idempotent: every seed has a
# fixed name and is rewritten. Usage: fuzz/seed.sh  (DURABLE=path/to/durable to use another
# binary; the default is a debug build with the test-only fault switch, which leaves a journal
# behind).
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd .. && pwd)

if [ -z "${DURABLE:-}" ]; then
  # The fault switch is the library's test-only feature: built in here, as `cargo test` does.
  (cd "$root" && cargo build --quiet --locked --bin durable --features durable/fault-injection)
  # Where cargo put it: CARGO_TARGET_DIR (absolute or relative to the crate) or target/.
  target_dir=${CARGO_TARGET_DIR:-target}
  case "$target_dir" in /*) ;; *) target_dir=$root/$target_dir ;; esac
  DURABLE=$target_dir/debug/durable
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
corpus=$PWD/corpus
mkdir -p "$corpus"/{native_log,native_log_mutated,recover_agree,journal,lines,proglog,aof}

# Overwrite bytes at OFFSET of FILE with the printf-format BYTES.
poke() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
append() { "$DURABLE" log append "$@" >/dev/null; }

cd "$work"
append two.log hello 'log!'
append sha.log --checksum sha256 one two three
printf '' | append empty.log
for i in $(seq 1 12); do append many.log "record $i $(head -c $((i * 7)) /dev/zero | tr '\0' x)"; done
printf 'a\0b\0\0c' | append -0 nul.log
cp two.log torn.log && truncate -s -5 torn.log
cp two.log zerofill.log && truncate -s +300 zerofill.log
cp two.log cut-header.log && truncate -s 40 cut-header.log
cp many.log mid.log && poke mid.log 200 '\377'
cp many.log mid-length.log && poke mid-length.log 72 '\377\377\377\377'
cp sha.log sha-torn.log && truncate -s -1 sha-torn.log
cp two.log header-flip.log && poke header-flip.log 20 '\001'
# Another log's valid header in front of a log's records (docs/FORMAT.md, "A lost header": a
# header that is not its own).
{ head -c 64 two.log; tail -c +65 many.log; } > header-swap.log
printf 'hello, world\n' > text.log
# The shapes of docs/FORMAT.md, "Where a log ends": a multi-record append cut at a record
# boundary inside it (a record of one byte takes 37); a zeroed sector inside the last append
# (torn), or inside an earlier one (corrupt: a later append follows); a payload of zeros with a
# damaged checksum (torn: the doc's ambiguity); a streamed append committed in two groups.
append multi.log one
printf 'a\nb\nc\n' | append multi.log
cp multi.log cut-inside.log && truncate -s -37 cut-inside.log
seq 1 300 | append big.log
cp big.log sector-last.log
dd if=/dev/zero of=sector-last.log bs=512 seek=8 count=1 conv=notrunc status=none
cp big.log sector-early.log && append sector-early.log later
dd if=/dev/zero of=sector-early.log bs=512 seek=8 count=1 conv=notrunc status=none
head -c 2000 /dev/zero | append --whole zeros.log
poke zeros.log $(($(wc -c <zeros.log) - 1)) '\001'
(echo a; sleep 0.2; echo b) | append streamed.log

logs=(two sha empty many nul torn zerofill cut-header mid mid-length sha-torn header-flip header-swap
  text multi cut-inside sector-last sector-early zeros streamed)
for name in "${logs[@]}"; do
  cp "$name.log" "$corpus/native_log/seed-$name"
  # recover_agree: a flags byte (1 force, 2 no backup, 8/16 a sidecar planted) then the file.
  for flags in 00 01 0a 19; do
    { printf "\\x$flags"; cat "$name.log"; } > "$corpus/recover_agree/seed-$name-$flags"
  done
done

# Journals: the fault switch stops a journaled save after the journal is durable.
printf 'old\n' > t
# The subshell keeps the shell's "Aborted" notice quiet: the abort is the point.
(printf 'new content\n' | DURABLE_FAULT=sync-dir-journal:crash \
  bash -c 'ulimit -c 0; exec "$0" save t --strategy journal' "$DURABLE") 2>/dev/null || true
if [ -f .t.durable-journal ]; then
  cp .t.durable-journal valid.journal
  cp valid.journal torn.journal && truncate -s -3 torn.journal
  cp valid.journal flipped.journal && poke flipped.journal 70 x
  # journal: a flags byte (2 the target exists, 4 recover via the journal's name) then the file.
  for name in valid torn flipped; do
    for flags in 00 02 06; do
      { printf "\\x$flags"; cat "$name.journal"; } > "$corpus/journal/seed-$name-$flags"
    done
  done
else
  echo "seed.sh: no journal left behind (a binary without the fault switch?); journal seeds are only built ones" >&2
fi

# Structure-aware inputs (see common/native.rs `build` and journal.rs `build`): a few shapes to
# start from; the fuzzer finds the rest quickly.
s=$corpus/native_log_mutated
printf '\x00\x07\x03\x00\x05hello\x01\x04log!\x00\x03xyz\x00\x00' > "$s/seed-crc32"
printf '\x01\x07\x03\x00\x05hello\x01\x04log!\x00\x03xyz\x00\x00' > "$s/seed-sha256"
printf '\x00\x09\x04\x00\x02hi\x02\x03pre\x03\x05inner\x00\x02ok\x00\x02\x00\x00' > "$s/seed-image"
printf '\x00\x05\x03\x00\x01a\x00\x01b\x00\x01c\x01\x01\x00\x01\x00\x01\x00' > "$s/seed-reheader"
printf '\x00\x05\x03\x00\x01a\x00\x01b\x00\x01c\x00\x01\x00\x02\x07\x00' > "$s/seed-truncate"
# Appends of several records (bit 5 of a record's kind byte: the append goes on): clean; a torn
# append added at the end (its first record lost: a torn tail); a record re-sequenced in the
# first append, then a whole append added at the end (the evidence: corruption).
printf '\x00\x09\x05\x20\x02ab\x20\x02cd\x00\x01e\x20\x01f\x00\x01g\x00\x00' > "$s/seed-appends"
printf '\x00\x09\x05\x20\x02ab\x20\x02cd\x00\x01e\x20\x01f\x00\x01g\x02\x01\x01\x00\x00\x00\x82\x04\x00\x00\x01z\x00' > "$s/seed-whole-append-after"
# The shapes of docs/FORMAT.md, "Where a log ends" (records of 700 bytes: \x23 or \x03 then
# \xbc\x02). A torn append: a zeroed sector (op 9) inside the last append, a torn tail.
printf '\x00\x09\x04\x00\x05hello\x23\xbc\x02\x23\xbc\x02\x03\xbc\x02\x01\x09\x01\x00\x00\x00\x00' > "$s/seed-torn-append"
# A zeroed sector over the last record's header of an append (op 6; the second record is 1171
# bytes, so the third starts at 2048), then a whole later append (op 4) and one cut short by a
# truncation: corrupt (reading on meets the later append).
printf '\x00\x09\x04\x00\x05hello\x23\xbc\x02\x23\x93\x04\x03\xbc\x02\x03\x06\x04\x00\x00\x00\x04\x00\x00\x02ab\x04\x00\x01\x140123456789abcdefghij\x01\x00\x22\x0b\x00\x00\x01' > "$s/seed-sector-then-later-append"
# A zeroed sector in the first record of an append, then its last record, then a record
# resealed without its first flag (op 10): broken-append, so the damage is corrupt.
printf '\x00\x09\x04\x00\x05hello\x23\xb0\x04\x03\xbc\x02\x00\x01x\x02\x06\x01\x00\x00\x00\x0a\x03\x00\x00\x00\x00\x00' > "$s/seed-broken-append"
# An append that never got its last record, then a whole one (op 8: unfinished-append).
printf '\x00\x09\x01\x00\x01a\x01\x08\x00\x00\x00\x01u\x01w\x00' > "$s/seed-unfinished-append"
# The file cut at a record boundary inside a three-record append (op 7): a torn tail.
printf '\x00\x09\x03\x20\x01a\x20\x01b\x00\x01c\x01\x07\x01\x00\x00\x00\x00' > "$s/seed-cut-inside-append"
# A payload of 1000 zeros (kind \xc3) whose checksum byte flips: torn (the doc's ambiguity).
printf '\x00\x09\x02\x00\x01a\xc3\x00\xe8\x02\x00\x01\x00\x70\x04\x00\x00\x00\x00' > "$s/seed-zero-payload"
# A record flagged last with a zeroed sector, then a later record cut short: corrupt (bytes
# after a damaged record that ended its append).
printf '\x00\x09\x02\x00\x05hello\x03\xb0\x04\x02\x06\x01\x00\x00\x00\x04\x00\x00\x14xxxxxxxxxxxxxxxxxxxx\x01\x00\x64\x05\x00\x00\x01' > "$s/seed-damage-before-last"
# A flipped byte, a whole later append, then one cut short: the first defect is corrupt, the
# last a torn tail on its own.
printf '\x00\x09\x02\x00\x01a\x00\x01b\x02\x04\x00\x00\x01c\x04\x00\x01\x0a0123456789\x02\x00\x7d\x00\x00\x00\x00\x00\x00\xc8\x00\x00\x00\x01' > "$s/seed-corrupt-then-torn"
for f in "$s"/seed-*; do
  { printf '\x05'; cat "$f"; } > "$corpus/recover_agree/built-$(basename "$f")"
done
printf '\x01\x0c\x00hello world!\x00\x01\x00' > "$corpus/journal/built-valid"
printf '\x03\x0c\x00hello world!\x04\x00\x01\x00\x01\x00' > "$corpus/journal/built-flip"

# lines: logs from `log append --log-format lines`, then damaged.
append --log-format lines lines.log hello 'a b c' '' 'last one'
cp lines.log lines-torn.log && truncate -s -3 lines-torn.log
cp lines.log lines-mid.log && poke lines-mid.log 2 X
cp lines.log lines-first.log && poke lines-first.log 70 Z
cp lines.log lines-zerofill.log && truncate -s +100 lines-zerofill.log
for name in lines lines-torn lines-mid lines-first lines-zerofill; do
  cp "$name.log" "$corpus/lines/seed-$name"
done
# proglog: a byte of mode (0 store, 1 index, 2 pair), two bytes of split point (LE), the bytes.
store='\0\0\0\0\0\0\0\5hello\0\0\0\0\0\0\0\3abc\0\0\0\0\0\0\0\0'
index='\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\15\0\0\0\2\0\0\0\0\0\0\0\30'
printf "\\0\\0\\0$store" > "$corpus/proglog/seed-store"
printf "\\0\\0\\0${store}\\0\\0\\0\\0\\0\\0\\1\\0" > "$corpus/proglog/seed-store-torn"
printf "\\1\\0\\0$index\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0" > "$corpus/proglog/seed-index-padded"
printf "\\2\\40\\0$store$index" > "$corpus/proglog/seed-pair"
printf "\\2\\40\\0$store${index}\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0" > "$corpus/proglog/seed-pair-padded"
printf "\\2\\40\\0$store\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\1\\0\\0\\0\\0\\0\\0\\0\\16" > "$corpus/proglog/seed-pair-mismatch"
# aof: a byte of flags (1: pad to a 4 KiB page), then data, magics, zeros.
cp='\054\333\037\362\245\254\170\370'
tail='\252\044\165\124\143\234\233\101'
printf "\\0data${cp}more$tail\\0\\0\\0\\0" > "$corpus/aof/seed-tail"
printf "\\1data${cp}more${cp}" > "$corpus/aof/seed-checkpoint"
printf "\\1data${cp}torn write" > "$corpus/aof/seed-torn"
printf "\\0no magic at all" > "$corpus/aof/seed-corrupted"
printf "\\1data$tail\\0\\0garbage" > "$corpus/aof/seed-garbage-after-tail"

for t in native_log native_log_mutated recover_agree journal lines proglog aof; do
  echo "$t: $(find "$corpus/$t" -type f | wc -l) inputs in fuzz/corpus/$t"
done
