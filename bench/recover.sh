#!/usr/bin/env bash
# Benchmark of `durable recover` on a large log with a torn tail, against `durable log verify` on
# the same log (the target: recover <= 1.2x verify, plus the sidecar write), and their
# peak RSS.
#
#   bench/recover.sh | tee recover-report.md
#   Knobs: BIG_MIB=1024 (log size), REPS=5, DURABLE=path (else built into CARGO_TARGET_DIR,
#          default /tmp/bench-target), BENCH_DIR=/tmp (a real disk: recover fsyncs).
#
# Each repetition tears the log again (one more record appended, then cut 2000 bytes short: what
# an interrupted append leaves), so recover always
# has the same work: read and check the whole log, save the torn bytes to a flushed sidecar, cut,
# flush. The page cache is warm for both commands (the log is read once first).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BIG_MIB=${BIG_MIB:-1024}
REPS=${REPS:-5}
BENCH_DIR=${BENCH_DIR:-/tmp}
TARGET_RATIO=1.20
TARGET_RSS_MIB=16

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

detect_gnu_time

SCRATCH=$(mktemp -d "$BENCH_DIR/durable-recover-bench.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
[ "$(findmnt -n -o FSTYPE -T "$SCRATCH")" != tmpfs ] || die "$SCRATCH is on tmpfs: fsync must reach a disk; set BENCH_DIR"

build_durable
LOG=$SCRATCH/big.log
say "building a ${BIG_MIB} MiB log of 4 KiB records"
# Lines of 4095 printable bytes: 4 KiB records with the newline as separator.
awk 'BEGIN { l = ""; for (i = 0; i < 4095; i++) l = l sprintf("%c", 97 + i % 26); n = '"$BIG_MIB"' * 256; for (i = 0; i < n; i++) print l }' |
    "$DURABLE" log append --sync none "$LOG"
sync "$LOG"
# One more record, cut 2000 bytes short: the torn tail an interrupted append leaves. (A piece
# of a record from another log would carry that log's salt: damage, not a torn write.)
RECORD=$SCRATCH/record
printf 'x%.0s' $(seq 4095) >"$RECORD"
tear() {
    "$DURABLE" log append --sync none --file "$RECORD" "$LOG"
    truncate -s -2000 "$LOG"
}
cat "$LOG" >/dev/null # warm the cache

verify_s=() recover_s=()
for ((r = 1; r <= REPS; r++)); do
    tear
    t0=$(now)
    "$DURABLE" log verify -q "$LOG" || [ $? -eq 1 ] || die "verify failed"
    t1=$(now)
    "$DURABLE" recover --no-backup "$LOG" >/dev/null
    t2=$(now)
    # Once more with the sidecar (the default), torn again first.
    tear
    t3=$(now)
    "$DURABLE" recover "$LOG" >/dev/null
    t4=$(now)
    rm -f "$(dirname "$LOG")"/.durable-recovered/"$(basename "$LOG")".*.durable-sidecar
    verify_s+=("$(calc "$t1 - $t0" 6)")
    recover_s+=("$(calc "$t4 - $t3" 6)")
    say "rep $r/$REPS  verify $(calc "$t1 - $t0") s  recover --no-backup $(calc "$t2 - $t1") s  recover $(calc "$t4 - $t3") s"
done
mv_=$(median "${verify_s[@]}")
mr=$(median "${recover_s[@]}")
ratio=$(calc "$mr / $mv_" 2)

rss() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }'; }
if [ "$HAVE_GNU_TIME" = 1 ]; then
    rss_verify=$(rss "$DURABLE" log verify -q "$LOG")
    tear
    rss_recover=$(rss "$DURABLE" recover "$LOG")
else
    rss_verify=skipped rss_recover=skipped
fi

cat <<REPORT
## durable recover benchmark

- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo); $(uname -r)
- log: ${BIG_MIB} MiB of 4 KiB records, CRC-32, torn before every recover (one more record, cut 2000 bytes short); page cache warm
- durable: $DURABLE_FROM ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)); REPS=$REPS (median); load average $(loadavg)

| measurement | durable recover | durable log verify | ratio | target | result |
| --- | ---: | ---: | ---: | ---: | --- |
| time on the torn ${BIG_MIB} MiB log (recover includes the flushed sidecar) | $(calc "$mr") s | $(calc "$mv_") s | ${ratio}× | ≤ ${TARGET_RATIO}× | $(verdict "$ratio" "<=" "$TARGET_RATIO") |
| peak RSS | ${rss_recover} MiB | ${rss_verify} MiB | — | ≤ ${TARGET_RSS_MIB} MiB | $( [ "$rss_recover" = skipped ] && echo skipped || verdict "$rss_recover" "<=" "$TARGET_RSS_MIB") |

Every repetition (seconds): verify ${verify_s[*]}; recover ${recover_s[*]}.
REPORT
