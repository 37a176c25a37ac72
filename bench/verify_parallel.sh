#!/usr/bin/env bash
# The read side of `durable log verify` on one core and on all: one large log with --threads 1
# and with every core, against cat, cksum and wc -l on the same bytes in the same run; a log
# with one changed byte against the clean one; a directory of many logs on one core and on all;
# peak RSS. Prints a markdown report on stdout; progress goes to stderr.
#
#   bench/verify_parallel.sh | tee verify-report.md
#   DURABLE=/path/to/durable bench/verify_parallel.sh
#   QUICK=1 bench/verify_parallel.sh          smoke test (small inputs, 1 repetition)
#
# Knobs (environment): REPS=7, BIG_MIB=1024 (the 4 KiB-record log), SMALL_RECS=10000000
# (64-byte records), DIR_LOGS=64 and DIR_MIB=16 (the directory: DIR_LOGS logs of DIR_MIB MiB),
# BENCH_DIR=/tmp, CARGO_TARGET_DIR, KEEP=1 (as for bench/log.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
if [ "${QUICK:-0}" = 1 ]; then
    : "${REPS:=1}" "${BIG_MIB:=128}" "${SMALL_RECS:=1000000}" "${DIR_LOGS:=8}" "${DIR_MIB:=4}"
fi
REPS=${REPS:-7}
BIG_MIB=${BIG_MIB:-1024}
SMALL_RECS=${SMALL_RECS:-10000000}
DIR_LOGS=${DIR_LOGS:-64}
DIR_MIB=${DIR_MIB:-16}
BENCH_DIR=${BENCH_DIR:-/tmp}

# Targets (issue 14).
T_CAT=1.0     # verify throughput / cat: at least
T_CKSUM=1.3   # verify throughput / cksum: at least
T_WC=0.5      # verify records/s (64-byte records) / wc -l lines/s: at least
T_DAMAGED=1.2 # time on a log with one changed byte / time on the clean log: at most
T_RSS_MIB=16  # peak RSS: at most

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
for t in awk base64 cat cksum wc head sort stat cp dd; do need "$t" coreutils; done
detect_gnu_time
[ "$HAVE_GNU_TIME" = 1 ] || die "GNU time (/usr/bin/time) is needed for CPU times and peak RSS: run bench/setup.sh"

SCRATCH=$(mktemp -d "$BENCH_DIR/durable-verify-bench.XXXXXX")
cleanup() { if [ "${KEEP:-0}" = 1 ]; then say "kept $SCRATCH"; else rm -rf "$SCRATCH"; fi; }
trap cleanup EXIT
build_durable
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
CORES=$(nproc)
LOAD_START=$(loadavg)
START_UTC=$(date -u '+%Y-%m-%d %H:%M UTC')
say "scratch $SCRATCH, REPS=$REPS, load $LOAD_START on $CORES cores"

# Inputs.
LOG4K=$SCRATCH/crc32-4k.log
BAD4K=$SCRATCH/crc32-4k-damaged.log
TEXT64=$SCRATCH/text-64.txt
LOG64=$SCRATCH/crc32-64.log
DIR=$SCRATCH/logs
say "making the logs (base64 of /dev/urandom, appended with durable log append --sync none)"
# `|| true`: base64 ends on SIGPIPE when head has its lines.
lines() { { base64 -w "$1" </dev/urandom || true; } | head -n "$2"; }
lines 4095 $((BIG_MIB * 256)) | "$DURABLE" log append --sync none "$LOG4K"
lines 64 "$SMALL_RECS" >"$TEXT64"
"$DURABLE" log append --sync none "$LOG64" <"$TEXT64"
cp "$LOG4K" "$BAD4K"
SZ4K=$(stat -c %s "$LOG4K")
# One byte in the middle, changed (inside a payload: a checksum mismatch, corruption).
printf 'X' | dd of="$BAD4K" bs=1 seek=$((SZ4K / 2)) conv=notrunc status=none
mkdir -p "$DIR"
for ((i = 0; i < DIR_LOGS; i++)); do
    lines 4095 $((DIR_MIB * 256)) | "$DURABLE" log append --sync none "$DIR/$(printf 'log-%03d' "$i")"
done
SZ64=$(stat -c %s "$LOG64")
SZDIR=$(du -sb "$DIR" | cut -f1)
for f in "$LOG4K" "$LOG64" "$BAD4K" "$TEXT64" "$DIR"/*; do cat "$f" >/dev/null; done
sync

# The command of each name, in A.
args_of() {
    case $1 in
        verify) A=("$DURABLE" log verify "$LOG4K") ;;
        verify1) A=("$DURABLE" log verify --threads 1 "$LOG4K") ;;
        cat) A=(cat "$LOG4K") ;;
        cksum) A=(cksum "$LOG4K") ;;
        verify64) A=("$DURABLE" log verify "$LOG64") ;;
        verify64_1) A=("$DURABLE" log verify --threads 1 "$LOG64") ;;
        wc) A=(wc -l "$TEXT64") ;;
        damaged) A=("$DURABLE" log verify "$BAD4K") ;;
        damaged1) A=("$DURABLE" log verify --threads 1 "$BAD4K") ;;
        dir) A=("$DURABLE" log verify "$DIR") ;;
        dir1) A=("$DURABLE" log verify --threads 1 "$DIR") ;;
    esac
}
# One timed run: wall, user, sys (GNU time) appended to W, U, S of its name.
declare -A W U S
timed() { # timed NAME
    local name=$1 w u s t0
    args_of "$name"
    # Wall time from date (GNU time rounds to 10 ms), CPU from GNU time.
    t0=$(now)
    /usr/bin/time -f '%U %S' -o "$SCRATCH/t" "${A[@]}" >/dev/null 2>"$SCRATCH/err" || {
        # verify exits 3 on the damaged log
        case $name in damaged*) ;; *) die "$name failed: $(cat "$SCRATCH/err")" ;; esac
    }
    w=$(calc "$(now) - $t0" 6)
    read -r u s < <(tail -n 1 "$SCRATCH/t")
    W[$name]="${W[$name]:-} $w"
    U[$name]="${U[$name]:-} $u"
    S[$name]="${S[$name]:-} $s"
}
# Ratios within each repetition: R[name] gets "a/b" of that repetition's wall times.
declare -A R
ratio() { # ratio NAME NUM DEN: NUM's last wall time over DEN's
    local a b
    a=$(echo "${W[$2]}" | awk '{ print $NF }')
    b=$(echo "${W[$3]}" | awk '{ print $NF }')
    R[$1]="${R[$1]:-} $(calc "$a / $b" 4)"
}
# Groups of commands timed together: each repetition runs a group's commands once each, in an
# order that rotates with the repetition, then takes the ratios of that group.
GROUPS_=("verify verify1 cat cksum" "verify64 verify64_1 wc" "verify verify1 damaged damaged1" "dir dir1")
group_ratios() {
    case $1 in
        0)
            ratio cat_verify cat verify
            ratio cat_verify1 cat verify1
            ratio cksum_verify cksum verify
            ratio cksum_verify1 cksum verify1
            ratio scale verify1 verify
            ;;
        1)
            ratio wc_verify64 wc verify64
            ratio wc_verify64_1 wc verify64_1
            ratio scale64 verify64_1 verify64
            ;;
        2)
            ratio damaged damaged verify
            ratio damaged1 damaged1 verify1
            ;;
        3) ratio scaledir dir1 dir ;;
    esac
}
for ((rep = 0; rep < REPS; rep++)); do
    for g in "${!GROUPS_[@]}"; do
        read -ra tools <<<"${GROUPS_[$g]}"
        n=${#tools[@]}
        for ((i = 0; i < n; i++)); do
            timed "${tools[$(((i + rep) % n))]}"
        done
        group_ratios "$g"
    done
    say "rep $((rep + 1))/$REPS done, load $(loadavg)"
done
rss() { # peak RSS in MiB of CMD...
    /usr/bin/time -v -o "$SCRATCH/v" "$@" >/dev/null 2>&1 || true
    awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$SCRATCH/v"
}
RSS_BIG=$(rss "$DURABLE" log verify "$LOG4K")
RSS_BIG1=$(rss "$DURABLE" log verify --threads 1 "$LOG4K")
RSS_DIR=$(rss "$DURABLE" log verify "$DIR")
LOAD_END=$(loadavg)

med() { median ${W[$1]}; }
cpu() { # median of user+sys
    local u s i out=()
    read -ra u <<<"${U[$1]}"
    read -ra s <<<"${S[$1]}"
    for ((i = 0; i < ${#u[@]}; i++)); do out+=("$(calc "${u[$i]} + ${s[$i]}" 3)"); done
    median "${out[@]}"
}
mr() { median ${R[$1]}; } # median of per-repetition ratios
x() { calc "$1" 2; }
mbs() { calc "$1 / 1048576 / $(med "$2")" 0; }

echo "## durable log verify on one core and on all (bench/verify_parallel.sh)"
echo
echo "- started $START_UTC, finished $(date -u '+%Y-%m-%d %H:%M UTC'); durable $DURABLE_FROM (commit $GIT_REV)"
echo "- machine: $CORES cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(uname -r); scratch on $(findmnt -n -o FSTYPE -T "$SCRATCH" 2>/dev/null || echo '?')"
echo "- load average: $LOAD_START at start, $LOAD_END at end"
echo "- REPS=$REPS (medians; ratios are medians of the per-repetition ratios); page cache warm"
echo "- logs: $(calc "$SZ4K / 1048576" 1) MiB of 4 KiB records (CRC-32); $SMALL_RECS records of 64 bytes ($(calc "$SZ64 / 1048576" 1) MiB log, the same lines as text for wc); the first with one byte changed in the middle; a directory of $DIR_LOGS logs of $DIR_MIB MiB ($(calc "$SZDIR / 1048576" 0) MiB)"
echo
echo "| row | durable | reference | ratio | target | result |"
echo "| --- | ---: | ---: | ---: | ---: | --- |"
echo "| verify 4 KiB records, all $CORES cores, vs \`cat\` (throughput) | $(mbs "$SZ4K" verify) MiB/s ($(calc "$(med verify)" 3) s) | $(mbs "$SZ4K" cat) MiB/s ($(calc "$(med cat)" 3) s) | $(x "$(mr cat_verify)")× | ≥ ${T_CAT}× | $(verdict "$(mr cat_verify)" '>=' $T_CAT) |"
echo "| the same, \`--threads 1\`, vs \`cat\` | $(mbs "$SZ4K" verify1) MiB/s ($(calc "$(med verify1)" 3) s) | | $(x "$(mr cat_verify1)")× | ≥ ${T_CAT}× | $(verdict "$(mr cat_verify1)" '>=' $T_CAT) |"
echo "| verify 4 KiB records, all cores, vs \`cksum\` | | $(mbs "$SZ4K" cksum) MiB/s ($(calc "$(med cksum)" 3) s) | $(x "$(mr cksum_verify)")× | ≥ ${T_CKSUM}× | $(verdict "$(mr cksum_verify)" '>=' $T_CKSUM) |"
echo "| the same, \`--threads 1\`, vs \`cksum\` | | | $(x "$(mr cksum_verify1)")× | ≥ ${T_CKSUM}× | $(verdict "$(mr cksum_verify1)" '>=' $T_CKSUM) |"
echo "| verify $SMALL_RECS × 64-byte records, all cores, vs \`wc -l\` on the lines | $(calc "$SMALL_RECS / $(med verify64) / 1000000" 1) M/s ($(calc "$(med verify64)" 3) s) | $(calc "$SMALL_RECS / $(med wc) / 1000000" 1) M/s ($(calc "$(med wc)" 3) s) | $(x "$(mr wc_verify64)")× | ≥ ${T_WC}× | $(verdict "$(mr wc_verify64)" '>=' $T_WC) |"
echo "| the same, \`--threads 1\` | $(calc "$SMALL_RECS / $(med verify64_1) / 1000000" 1) M/s ($(calc "$(med verify64_1)" 3) s) | | $(x "$(mr wc_verify64_1)")× | ≥ ${T_WC}× | $(verdict "$(mr wc_verify64_1)" '>=' $T_WC) |"
echo "| verify, one changed byte, vs the clean log, all cores (time) | $(calc "$(med damaged)" 3) s | $(calc "$(med verify)" 3) s | $(x "$(mr damaged)")× | ≤ ${T_DAMAGED}× | $(verdict "$(mr damaged)" '<=' $T_DAMAGED) |"
echo "| the same, \`--threads 1\` | $(calc "$(med damaged1)" 3) s | $(calc "$(med verify1)" 3) s | $(x "$(mr damaged1)")× | ≤ ${T_DAMAGED}× | $(verdict "$(mr damaged1)" '<=' $T_DAMAGED) |"
echo "| scaling, one 4 KiB-record log: \`--threads 1\` time / all cores | $(calc "$(med verify)" 3) s | $(calc "$(med verify1)" 3) s | $(x "$(mr scale)")× | (report) | |"
echo "| scaling, 64-byte records | $(calc "$(med verify64)" 3) s | $(calc "$(med verify64_1)" 3) s | $(x "$(mr scale64)")× | (report) | |"
echo "| scaling, \`log verify DIR\` ($DIR_LOGS logs) | $(calc "$(med dir)" 3) s | $(calc "$(med dir1)" 3) s | $(x "$(mr scaledir)")× | (report) | |"
echo "| peak RSS: verify of the big log, all cores / \`--threads 1\`; verify DIR | $RSS_BIG / $RSS_BIG1 / $RSS_DIR MiB | | | ≤ $T_RSS_MIB MiB | $(verdict "$(printf '%s\n' "$RSS_BIG" "$RSS_BIG1" "$RSS_DIR" | sort -g | tail -1)" '<=' $T_RSS_MIB) |"
echo
echo "CPU time (user+sys, medians; less disturbed by other load than wall time):"
echo
echo "| command | wall per repetition (s) | median wall | median CPU |"
echo "| --- | --- | ---: | ---: |"
# verify and verify1 run in two groups: their lists hold two runs per repetition.
for t in verify verify1 cat cksum verify64 verify64_1 wc damaged damaged1 dir dir1; do
    args_of "$t"
    echo "| \`$(basename "${A[0]}") ${A[*]:1:$((${#A[@]} - 2))} $(basename "${A[-1]}")\` | $(echo ${W[$t]} | sed 's/ /, /g') | $(calc "$(med "$t")" 3) | $(cpu "$t") |"
done
echo
echo "Per-repetition ratios: $(for k in cat_verify cat_verify1 cksum_verify cksum_verify1 wc_verify64 wc_verify64_1 damaged damaged1 scale scale64 scaledir; do printf '%s: %s; ' "$k" "$(echo ${R[$k]} | sed 's/ /, /g')"; done)"
