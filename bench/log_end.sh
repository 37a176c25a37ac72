#!/usr/bin/env bash
# Benchmark of where a log ends and of streamed appends, on this machine, in one run: the rows
# of the end-of-log work, each next to its reference. Prints a markdown report on stdout;
# progress goes to stderr.
#
#   bench/log_end.sh                      build durable (release, into $CARGO_TARGET_DIR) and run
#   DURABLE=/path/to/durable bench/log_end.sh
#
# Knobs (environment):
#   REPS=5             repetitions (the table shows the median)
#   RECORDS=1000000    records of the verify rows (one line "record N" each)
#   TAIL_MIB=100       size of the append before the tail-check row
#   STREAM_LINES=2000000   64-byte lines of the streamed-throughput row
#   LAT_LINES=400      lines of the latency row, one every LAT_GAP_MS
#   LAT_GAP_MS=5
#   BENCH_DIR=/tmp     where the scratch directory goes (a real disk, not tmpfs)
#   QUICK=1            smoke test: REPS=1 RECORDS=100000 TAIL_MIB=20 STREAM_LINES=200000 LAT_LINES=100
#
# See bench/README.md ("bench/log_end.sh") for what each row means.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
if [ "${QUICK:-0}" = 1 ]; then
    : "${REPS:=1}" "${RECORDS:=100000}" "${TAIL_MIB:=20}" "${STREAM_LINES:=200000}" "${LAT_LINES:=100}"
fi
REPS=${REPS:-5}
RECORDS=${RECORDS:-1000000}
TAIL_MIB=${TAIL_MIB:-100}
STREAM_LINES=${STREAM_LINES:-2000000}
LAT_LINES=${LAT_LINES:-400}
LAT_GAP_MS=${LAT_GAP_MS:-5}
BENCH_DIR=${BENCH_DIR:-/tmp}

# Targets: the figures the project aims for.
T_DAMAGED=1.2     # verify time, one damaged byte / clean: at most
T_TAIL_MIB=8      # bytes the tail check reads after a TAIL_MIB append: under (MiB)
T_P99_MS=100      # streamed line to flushed, p99: about (ms)
T_STREAM=0.6      # streamed append throughput / cat > F && sync F: at least

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

for t in awk date sort stat findmnt cat sync python3; do need "$t" "coreutils/util-linux/python3"; done
want strace strace && HAVE_STRACE=1 || HAVE_STRACE=0

SCRATCH=$(mktemp -d "$BENCH_DIR/durable-log-end-bench.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
FSTYPE=$(findmnt -n -o FSTYPE -T "$SCRATCH" 2>/dev/null || stat -f -c %T "$SCRATCH")
case "$FSTYPE" in tmpfs | ramfs) die "$SCRATCH is on $FSTYPE: fsync would not reach a disk; set BENCH_DIR" ;; esac
build_durable
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)

secs() { # secs CMD... -> wall seconds of one run
    local t0 t1
    t0=$(now)
    "$@" >/dev/null 2>&1 || true
    t1=$(now)
    calc "$t1 - $t0" 6
}

# ---------------------------------------------------------------------------------------------
# Row A: verify of a log with one damaged byte vs the same log clean.
# ---------------------------------------------------------------------------------------------
say "row A: $RECORDS records, clean and with one damaged byte"
seq -f 'record %g' 1 "$RECORDS" | "$DURABLE" log append --sync none "$SCRATCH/clean.log"
cp "$SCRATCH/clean.log" "$SCRATCH/damaged.log"
SIZE=$(stat -c %s "$SCRATCH/clean.log")
printf 'X' | dd of="$SCRATCH/damaged.log" bs=1 seek=$((SIZE / 2)) conv=notrunc status=none
cat "$SCRATCH/clean.log" "$SCRATCH/damaged.log" >/dev/null
clean=() damaged=()
for ((r = 0; r < REPS; r++)); do
    clean+=("$(secs "$DURABLE" log verify "$SCRATCH/clean.log")")
    damaged+=("$(secs "$DURABLE" log verify "$SCRATCH/damaged.log")")
done
A_CLEAN=$(median "${clean[@]}")
A_DAMAGED=$(median "${damaged[@]}")
A_RATIO=$(calc "$A_DAMAGED / $A_CLEAN" 2)
"$DURABLE" log verify "$SCRATCH/damaged.log" >/dev/null && die "the damaged log verified clean"

# ---------------------------------------------------------------------------------------------
# Row B: bytes the tail check reads (pread64, under strace) after a TAIL_MIB streamed append,
# and after the same as one --atomic append (documented: it reads that append back whole).
# ---------------------------------------------------------------------------------------------
tail_bytes() { # tail_bytes LOG -> bytes one `log append` reads
    strace -f -e trace=pread64 -o "$SCRATCH/trace" "$DURABLE" log append --sync none "$1" x >/dev/null 2>&1
    awk -F'= ' '/pread64\(/ { s += $NF } END { printf "%d\n", s }' "$SCRATCH/trace"
}
B_STREAM=skipped B_ATOMIC=skipped
if [ "$HAVE_STRACE" = 1 ]; then
    say "row B: tail check after a $TAIL_MIB MiB append"
    LINES=$((TAIL_MIB * 1048576 / 201))
    awk -v n="$LINES" 'BEGIN { s = sprintf("%200s", ""); gsub(/ /, "q", s); for (i = 0; i < n; i++) print s }' >"$SCRATCH/tail.txt"
    "$DURABLE" log append --sync none "$SCRATCH/stream.log" <"$SCRATCH/tail.txt"
    "$DURABLE" log append --sync none --atomic "$SCRATCH/atomic.log" <"$SCRATCH/tail.txt"
    B_STREAM=$(tail_bytes "$SCRATCH/stream.log")
    B_ATOMIC=$(tail_bytes "$SCRATCH/atomic.log")
fi

# ---------------------------------------------------------------------------------------------
# Row C: streamed latency, from a line written to the pipe to its offset printed by
# --print-offsets (which durable prints once the line's group is flushed, fsync included).
# ---------------------------------------------------------------------------------------------
say "row C: latency of $LAT_LINES lines, one every $LAT_GAP_MS ms"
LAT=$(python3 - "$DURABLE" "$SCRATCH/lat.log" "$LAT_LINES" "$LAT_GAP_MS" <<'PY'
import subprocess, sys, threading, time
durable, log, n, gap = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) / 1000
p = subprocess.Popen([durable, "log", "append", "--print-offsets", log],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
sent = []
def feed():
    for i in range(n):
        sent.append(time.monotonic())
        p.stdin.write(b"latency line %d\n" % i)
        time.sleep(gap)
    p.stdin.close()
t = threading.Thread(target=feed); t.start()
lat = []
for i, line in enumerate(p.stdout):
    lat.append((time.monotonic() - sent[i]) * 1000)
t.join(); p.wait()
lat.sort()
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print("%.1f %.1f %.1f %d" % (pick(0.5), pick(0.99), lat[-1], len(lat)))
PY
)
read -r C_P50 C_P99 C_MAX C_N <<<"$LAT"
[ "$C_N" = "$LAT_LINES" ] || die "the latency run saw $C_N of $LAT_LINES offsets"

# ---------------------------------------------------------------------------------------------
# Row D: streamed throughput vs `cat > F && sync F` on the same lines.
# ---------------------------------------------------------------------------------------------
say "row D: $STREAM_LINES 64-byte lines streamed"
awk -v n="$STREAM_LINES" 'BEGIN { s = sprintf("%54s", ""); gsub(/ /, "s", s); for (i = 0; i < n; i++) printf "%09d %s\n", i, s }' >"$SCRATCH/lines.txt"
cat "$SCRATCH/lines.txt" >/dev/null
ours=() cats=() nones=() ratios=() ours_cpu=() cats_cpu=() nones_cpu=()
timed() { # timed CMD: sets T_WALL and T_CPU (user+sys of the command's processes)
    local t0 t1
    children_cpu_snapshot 0
    t0=$(now)
    sh -c "$1" >/dev/null 2>&1 || die "failed: $1"
    t1=$(now)
    children_cpu_snapshot 1
    T_WALL=$(calc "$t1 - $t0" 6)
    T_CPU=$(calc "$(children_cpu 1) - $(children_cpu 0)" 3)
}
for ((r = 0; r < REPS; r++)); do
    rm -f "$SCRATCH/d.log" "$SCRATCH/d.txt" "$SCRATCH/n.log"
    sync
    timed "'$DURABLE' log append '$SCRATCH/d.log' < '$SCRATCH/lines.txt'"
    ours+=("$T_WALL") ours_cpu+=("$T_CPU")
    sync
    timed "cat > '$SCRATCH/d.txt' < '$SCRATCH/lines.txt' && sync '$SCRATCH/d.txt'"
    cats+=("$T_WALL") cats_cpu+=("$T_CPU")
    ratios+=("$(calc "${cats[r]} / ${ours[r]}" 4)")
    sync
    timed "'$DURABLE' log append --sync none '$SCRATCH/n.log' < '$SCRATCH/lines.txt'"
    nones+=("$T_WALL") nones_cpu+=("$T_CPU")
done
D_OURS=$(median "${ours[@]}")
D_CAT=$(median "${cats[@]}")
D_NONE=$(median "${nones[@]}")
D_RATIO=$(calc "$(median "${ratios[@]}")" 2)
D_CPU="$(calc "$(median "${ours_cpu[@]}")" 2) / $(calc "$(median "${cats_cpu[@]}")" 2) / $(calc "$(median "${nones_cpu[@]}")" 2)"
D_GROUPS=$(python3 -c "
import sys
d = open('$SCRATCH/d.log', 'rb').read()
# Count records flagged first (byte 5 of each record header): one per commit group.
at, n, groups = 64, 0, 0
while at < len(d):
    ln = int.from_bytes(d[at + 8:at + 12], 'little')
    groups += d[at + 5] & 1
    at += 24 + ln + 12
print(groups)")

cat <<EOF
## durable log: where a log ends, streamed appends

Commit $GIT_REV; $(nproc) cores; $FSTYPE at $BENCH_DIR; load $(loadavg); REPS=$REPS (medians).
Regenerate: \`bench/log_end.sh\`.

| row | durable | reference | ratio | target | |
|---|---:|---:|---:|---|---|
| A. verify, $RECORDS records, one damaged byte vs clean | $A_DAMAGED s | $A_CLEAN s (clean) | ${A_RATIO}x the time | <= ${T_DAMAGED}x | $(verdict "$A_RATIO" "<=" "$T_DAMAGED") |
| B. bytes the tail check reads after a $TAIL_MIB MiB streamed append | $B_STREAM | | | < $T_TAIL_MIB MiB | $([ "$B_STREAM" = skipped ] && echo skipped || verdict "$B_STREAM" "<" "$((T_TAIL_MIB * 1048576))") |
| B'. the same after one --atomic append (documented cost) | $B_ATOMIC | | | reads it whole | |
| C. streamed line to flushed (--print-offsets), p50 / p99 / max | $C_P50 / $C_P99 / $C_MAX ms | | | p99 about ${T_P99_MS} ms | $(verdict "$C_P99" "<=" "$T_P99_MS") |
| D. streamed append, $STREAM_LINES x 64 B ($D_GROUPS groups) vs \`cat > F && sync F\` | $D_OURS s | $D_CAT s | ${D_RATIO}x the speed | >= ${T_STREAM}x | $(verdict "$D_RATIO" ">=" "$T_STREAM") |

Row D: the ratio is the median of the per-repetition ratios (cat's time over durable's): $(echo "${ratios[*]}" | sed 's/ /, /g'). CPU seconds (user+sys, medians), durable / cat+sync / durable --sync none: $D_CPU. For scale, \`log append --sync none\` (no flush at all) took $D_NONE s (wall, median).
EOF
