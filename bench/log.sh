#!/usr/bin/env bash
# Benchmark of `durable log append|verify|dump` against coreutils baselines, on this machine, in
# one run. Prints a markdown report on stdout; progress goes to stderr.
#
#   bench/log.sh                     build durable (release, into $CARGO_TARGET_DIR) and run all
#   DURABLE=/path/to/durable bench/log.sh          use that binary instead of building
#   bench/log.sh | tee log-report.md
#
# Knobs (environment):
#   REPS=5          repetitions of every measurement (the table shows the median; at least 3
#                   for a real run)
#   BIG_MIB=1024    size of the 4 KiB-record text (one 4095-character line per record), MiB; the
#                   CRC-32 and SHA-256 logs made from it are 0.9 % larger (record framing)
#   SMALL_RECS=10000000    records of 64 bytes for the per-record rows (3, 4)
#   N=1000          processes per loop and repetition in row 5 (one `log append` each)
#   TAIL_RUNS=1000  processes per loop and repetition in row 6b (`log dump --last 10`, `tail`)
#   BLOCK=100       the loops of a pair alternate every BLOCK processes (rows 5, 6b); N and
#                   TAIL_RUNS must be multiples of BLOCK
#   BENCH_DIR=/tmp  where the scratch directory is made (a real disk, not tmpfs; needs about
#                   3.3 × BIG_MIB + 330 bytes × SMALL_RECS free, ~6.5 GB by default)
#   CARGO_TARGET_DIR=/tmp/bench-target    where durable is built when DURABLE is not set
#   KEEP=1          keep the scratch directory (inputs, logs) instead of removing it
#   QUICK=1         smoke test: REPS=1 BIG_MIB=64 SMALL_RECS=500000 N=50 TAIL_RUNS=50 BLOCK=25
#
# See bench/README.md ("bench/log.sh") for what each row means.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

if [ "${QUICK:-0}" = 1 ]; then
    : "${REPS:=1}" "${BIG_MIB:=64}" "${SMALL_RECS:=500000}" "${N:=50}" "${TAIL_RUNS:=50}" "${BLOCK:=25}"
fi
REPS=${REPS:-5}
BIG_MIB=${BIG_MIB:-1024}
SMALL_RECS=${SMALL_RECS:-10000000}
N=${N:-1000}
TAIL_RUNS=${TAIL_RUNS:-1000}
BLOCK=${BLOCK:-100}
BENCH_DIR=${BENCH_DIR:-/tmp}
[ "$BLOCK" -gt 0 ] && [ $((N % BLOCK)) -eq 0 ] && [ $((TAIL_RUNS % BLOCK)) -eq 0 ] ||
    { echo "bench: N=$N and TAIL_RUNS=$TAIL_RUNS must be multiples of BLOCK=$BLOCK" >&2; exit 1; }

# Targets: the figures the project aims for.
T_VERIFY_CAT=1.0     # verify throughput / cat throughput, CRC-32 log: at least
T_VERIFY_CKSUM=1.3   # verify throughput / cksum throughput: at least
T_VERIFY_SHA=5.0     # verify --checksum sha256 log throughput / sha256sum throughput: at least
T_VERIFY_WC=0.5      # verify speed, 64-byte records / wc -l over the same lines: at least (as verify_parallel.sh)
T_APPEND=0.6         # append throughput / (cat > FILE && sync FILE) throughput: at least
T_ONE=1.2            # one-record append process / dd oflag=append conv=fdatasync: at most
T_DUMP_RAW=0.5       # dump --format raw throughput / cat throughput: at least
T_DUMP_LAST=1.5      # dump --last 10 / tail -n 10: at most
T_RSS_MIB=16         # peak RSS: at most

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

# ---------------------------------------------------------------------------------------------
# Tools. Required ones stop the run; GNU time is optional (its rows are skipped, loudly).
# ---------------------------------------------------------------------------------------------
for t in awk date dd head tail cat cksum sha256sum wc base64 sort sync stat findmnt cmp df; do
    need "$t" "coreutils/util-linux/mawk"
done
detect_gnu_time

# ---------------------------------------------------------------------------------------------
# Scratch directory on a real disk.
# ---------------------------------------------------------------------------------------------
SCRATCH=$(mktemp -d "$BENCH_DIR/durable-log-bench.XXXXXX")
cleanup() {
    if [ "${KEEP:-0}" = 1 ]; then say "kept $SCRATCH"; else rm -rf "$SCRATCH"; fi
}
trap cleanup EXIT
FSTYPE=$(findmnt -n -o FSTYPE -T "$SCRATCH" 2>/dev/null || stat -f -c %T "$SCRATCH")
FSDEV=$(findmnt -n -o SOURCE -T "$SCRATCH" 2>/dev/null || echo unknown)
case "$FSTYPE" in
    tmpfs | ramfs) die "$SCRATCH is on $FSTYPE: fsync would not reach a disk; set BENCH_DIR" ;;
esac
NEED_KB=$(((BIG_MIB * 1024 * 33 / 10) + (SMALL_RECS * 330 / 1024) + 65536))
AVAIL_KB=$(df -Pk "$SCRATCH" | awk 'NR == 2 { print $4 }')
[ "$AVAIL_KB" -ge "$NEED_KB" ] || die "$SCRATCH has $((AVAIL_KB / 1024)) MiB free, the run needs about $((NEED_KB / 1024)) MiB"

GIVEN_DURABLE=${DURABLE:-}
build_durable

CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM_GIB=$(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ]; then
    GIT_REV="$GIT_REV (with uncommitted changes in src/)"
fi
if [ -n "$GIVEN_DURABLE" ]; then
    # A binary given by DURABLE may have been built from another commit than the tree's.
    DURABLE_DESC="$DURABLE_FROM (given by DURABLE, built $(date -u -r "$DURABLE_FROM" '+%Y-%m-%d %H:%M UTC'); the source tree is at commit $GIT_REV)"
else
    DURABLE_DESC="$DURABLE_FROM, built by this run from commit $GIT_REV"
fi

# ---------------------------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------------------------
# User and system CPU of this shell's waited-for children so far ("user sys", seconds); `times`
# must run in this shell, so it writes a file (see children_cpu_snapshot in lib.sh).
cpu_parts() {
    awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t[i] = a[1] * 60 + a[2] }
        printf "%.3f %.3f\n", t[1], t[2] }' "$SCRATCH/times.$1"
}
mib() { calc "$1 / 1048576" "${2:-1}"; }
list() { echo $1 | sed 's/ /, /g'; }
size() { stat -c %s "$1"; }
warm() { for f in "$@"; do cat "$f" >/dev/null; done; }
check_clean() { # check_clean LOG RECORDS
    local out
    out=$("$DURABLE" log verify "$1") || die "durable log verify $1 failed: $out"
    [[ "$out" == *": clean, $2 records,"* ]] || die "expected a clean log of $2 records: $out"
}

# ---------------------------------------------------------------------------------------------
# Inputs, all made once: printable lines, and logs made from them by durable itself.
# ---------------------------------------------------------------------------------------------
LOAD_START=$(loadavg)
START_UTC=$(date -u '+%Y-%m-%d %H:%M UTC')
say "scratch $SCRATCH ($FSTYPE), REPS=$REPS BIG_MIB=$BIG_MIB SMALL_RECS=$SMALL_RECS N=$N TAIL_RUNS=$TAIL_RUNS, load $LOAD_START"
if awk -v l="${LOAD_START%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
    say "WARNING: load average $LOAD_START on $(nproc) cores: other processes compete, numbers will be noisy"
fi

TEXT4K=$SCRATCH/text-4k.txt      # BIG_MIB MiB of 4095-character lines
TEXT64=$SCRATCH/text-64.txt      # SMALL_RECS lines of 64 characters
LOG4K=$SCRATCH/crc32-4k.log      # the same lines as records, CRC-32
LOG4KS=$SCRATCH/sha256-4k.log    # the same lines as records, SHA-256
LOG64=$SCRATCH/crc32-64.log      # the 64-byte lines as records, CRC-32
RECS4K=$((BIG_MIB * 1024 * 1024 / 4096))

say "generating $RECS4K lines of 4095 characters and $SMALL_RECS lines of 64 (base64 of /dev/urandom)"
base64 -w 4095 </dev/urandom | head -n "$RECS4K" >"$TEXT4K" || true
base64 -w 64 </dev/urandom | head -n "$SMALL_RECS" >"$TEXT64" || true
[ "$(size "$TEXT4K")" -eq $((RECS4K * 4096)) ] || die "generating $TEXT4K failed"
[ "$(size "$TEXT64")" -eq $((SMALL_RECS * 65)) ] || die "generating $TEXT64 failed"
say "making the logs with durable log append --sync none"
"$DURABLE" log append --sync none "$LOG4K" <"$TEXT4K"
"$DURABLE" log append --sync none --checksum sha256 "$LOG4KS" <"$TEXT4K"
"$DURABLE" log append --sync none "$LOG64" <"$TEXT64"
check_clean "$LOG4K" "$RECS4K"
check_clean "$LOG4KS" "$RECS4K"
check_clean "$LOG64" "$SMALL_RECS"
# dump gives back what went in (raw: each payload followed by a newline).
cmp -s <("$DURABLE" log dump --format raw "$LOG4K") "$TEXT4K" || die "dump --format raw does not reproduce $TEXT4K"
cmp -s <("$DURABLE" log dump --format raw --last 10 "$LOG4K") <(tail -n 10 "$TEXT4K") ||
    die "dump --last 10 differs from tail -n 10"
sync # nothing of the inputs left to write back while timing

SZ_TEXT4K=$(size "$TEXT4K"); SZ_TEXT64=$(size "$TEXT64")
SZ_LOG4K=$(size "$LOG4K"); SZ_LOG4KS=$(size "$LOG4KS"); SZ_LOG64=$(size "$LOG64")

# ---------------------------------------------------------------------------------------------
# Single-run measurements (rows 1–4, 6a): each repetition runs every tool of a group once, in an
# order that rotates with the repetition; wall time by `date`, CPU by bash's `times`.
# ---------------------------------------------------------------------------------------------
OUTLOG=$SCRATCH/append-out.log
OUTTXT=$SCRATCH/cat-out.txt
big_cmd() {
    case $1 in
        verify_crc) "$DURABLE" log verify "$LOG4K" ;;
        cat_crc) cat "$LOG4K" ;;
        cksum_crc) cksum "$LOG4K" ;;
        dump_raw) "$DURABLE" log dump --format raw "$LOG4K" ;;
        verify_sha) "$DURABLE" log verify "$LOG4KS" ;;
        sha256sum) sha256sum "$LOG4KS" ;;
        cat_sha) cat "$LOG4KS" ;;
        verify_64) "$DURABLE" log verify "$LOG64" ;;
        wc_64) wc -l "$TEXT64" ;;
        cat_64) cat "$LOG64" ;;
        append_64) "$DURABLE" log append "$OUTLOG" <"$TEXT64" ;;
        catsync_64) cat >"$OUTTXT" <"$TEXT64" && sync "$OUTTXT" ;;
        append_pipe) cat "$TEXT64" | "$DURABLE" log append "$OUTLOG" ;;
        catsync_pipe) cat "$TEXT64" | cat >"$OUTTXT" && sync "$OUTTXT" ;;
        catsync_log) cat >"$OUTTXT" <"$LOG64" && sync "$OUTTXT" ;;
        dd_log) dd if="$LOG64" of="$OUTTXT" bs=1M status=none && sync "$OUTTXT" ;;
    esac >/dev/null 2>>"$SCRATCH/stderr"
}
declare -A BW BU BS LAST
run_big() { # run_big TOOL: one timed run
    local tool=$1 t0 t1 u0 s0 u1 s1
    case $tool in
        append_* | catsync_* | dd_log) rm -f "$OUTLOG" "$OUTTXT"; sync ;;
    esac
    t0=$(now)
    children_cpu_snapshot 0
    big_cmd "$tool" || die "$tool failed (see $SCRATCH/stderr)"
    children_cpu_snapshot 1
    t1=$(now)
    read -r u0 s0 < <(cpu_parts 0)
    read -r u1 s1 < <(cpu_parts 1)
    LAST[$tool]=$(calc "$t1 - $t0" 6)
    BW[$tool]="${BW[$tool]:-} ${LAST[$tool]}"
    BU[$tool]="${BU[$tool]:-} $(calc "$u1 - $u0" 3)"
    BS[$tool]="${BS[$tool]:-} $(calc "$s1 - $s0" 3)"
    case $tool in
        append_*) check_clean "$OUTLOG" "$SMALL_RECS" ;;
        catsync_log | dd_log) [ "$(size "$OUTTXT")" -eq "$SZ_LOG64" ] || die "$tool wrote a short file" ;;
        catsync_*) [ "$(size "$OUTTXT")" -eq "$SZ_TEXT64" ] || die "$tool wrote a short file" ;;
    esac
}
declare -A RATIOS
run_group() { # run_group REP TOOL...
    local rep=$1 k n i tool
    shift
    n=$#
    local tools=("$@")
    for ((i = 0; i < n; i++)); do
        tool=${tools[$(((i + rep) % n))]}
        run_big "$tool"
        say "rep $((rep + 1))/$REPS  $(printf '%-13s' "$tool") ${LAST[$tool]} s"
    done
}
ratio() { # ratio KEY NUMERATOR_TOOL DENOMINATOR_TOOL: per-repetition time ratio
    RATIOS[$1]="${RATIOS[$1]:-} $(calc "${LAST[$2]} / ${LAST[$3]}" 4)"
}

say "rows 1, 6a: the 4 KiB-record CRC-32 log (verify, dump --format raw, cat, cksum)"
warm "$LOG4K"
for ((rep = 0; rep < REPS; rep++)); do
    run_group "$rep" verify_crc cat_crc cksum_crc dump_raw
    ratio r1cat cat_crc verify_crc
    ratio r1cksum cksum_crc verify_crc
    ratio r6raw cat_crc dump_raw
done
say "row 2: the 4 KiB-record SHA-256 log (verify, sha256sum, cat)"
warm "$LOG4KS"
for ((rep = 0; rep < REPS; rep++)); do
    run_group "$rep" verify_sha sha256sum cat_sha
    ratio r2 sha256sum verify_sha
done
say "row 3: $SMALL_RECS records of 64 bytes (verify) vs wc -l over the same lines"
warm "$LOG64" "$TEXT64"
for ((rep = 0; rep < REPS; rep++)); do
    run_group "$rep" verify_64 wc_64 cat_64
    ratio r3 wc_64 verify_64
    ratio r3floor wc_64 cat_64
done

# ---------------------------------------------------------------------------------------------
# Loops of one process per operation (rows 5, 6b), as bench/run.sh does it: every tool driven by
# the same bash `for` loop, the two of a pair taking turns every BLOCK processes (which one goes
# first alternates), a `sync` before every block; a tool's time for a repetition is the sum of
# its blocks.
# ---------------------------------------------------------------------------------------------
REC=$(head -c 48 /dev/urandom | base64 -w 0) # 64 printable characters
ONE_LOG=$SCRATCH/one.log
ONE_DD=$SCRATCH/one.dd
ONE_LOG_NONE=$SCRATCH/one-none.log
ONE_DD_NONE=$SCRATCH/one-none.dd
"$DURABLE" log append "$ONE_LOG" "$REC"
"$DURABLE" log append "$ONE_LOG_NONE" "$REC"
: >"$ONE_DD"; : >"$ONE_DD_NONE"
loop_cmd() {
    case $1 in
        append_one) "$DURABLE" log append "$ONE_LOG" "$REC" ;;
        dd_one) printf '%s\n' "$REC" | dd oflag=append conv=notrunc,fdatasync of="$ONE_DD" status=none ;;
        append_one_none) "$DURABLE" log append --sync none "$ONE_LOG_NONE" "$REC" ;;
        dd_one_none) printf '%s\n' "$REC" | dd oflag=append conv=notrunc of="$ONE_DD_NONE" status=none ;;
        true) /bin/true ;;
        dump_last) "$DURABLE" log dump --last 10 "$LOG4K" ;;
        dump_last_raw) "$DURABLE" log dump --format raw --last 10 "$LOG4K" ;;
        tail | tail_raw) tail -n 10 "$TEXT4K" ;;
    esac >/dev/null
}
loop_block() { # loop_block TOOL COUNT: sets LOOP_WALL, LOOP_CPU
    local t0 t1 i
    sync
    children_cpu_snapshot 0
    t0=$(now)
    for ((i = 0; i < $2; i++)); do
        loop_cmd "$1" || die "$1 failed"
    done
    t1=$(now)
    children_cpu_snapshot 1
    LOOP_WALL=$(calc "$t1 - $t0" 6)
    LOOP_CPU=$(calc "$(children_cpu 1) - $(children_cpu 0)" 3)
}
declare -A LW LC REPW REPC LOOPS
run_pairs() { # run_pairs COUNT PAIR...: one repetition of every pair (rotating with $rep)
    local count=$1 np k b tool
    shift
    local pairs=("$@")
    np=${#pairs[@]}
    for ((k = 0; k < np; k++)); do
        read -r -a pair <<<"${pairs[$(((k + rep) % np))]}"
        for tool in "${pair[@]}"; do REPW[$tool]=0; REPC[$tool]=0; LOOPS[$tool]=$count; done
        for ((b = 0; b < count / BLOCK; b++)); do
            order=("${pair[@]}")
            if (((rep + b) % 2)) && [ ${#pair[@]} -eq 2 ]; then order=("${pair[1]}" "${pair[0]}"); fi
            for tool in "${order[@]}"; do
                loop_block "$tool" "$BLOCK"
                REPW[$tool]=$(calc "${REPW[$tool]} + $LOOP_WALL" 6)
                REPC[$tool]=$(calc "${REPC[$tool]} + $LOOP_CPU" 3)
            done
        done
        for tool in "${pair[@]}"; do
            LW[$tool]="${LW[$tool]:-} ${REPW[$tool]}"
            LC[$tool]="${LC[$tool]:-} ${REPC[$tool]}"
            say "rep $((rep + 1))/$REPS  $(printf '%-16s' "$tool") ${REPW[$tool]} s wall, ${REPC[$tool]} s cpu for $count runs"
        done
    done
}
say "row 6b: dump --last 10 vs tail -n 10, $TAIL_RUNS processes each"
warm "$LOG4K" "$TEXT4K"
for ((rep = 0; rep < REPS; rep++)); do
    run_pairs "$TAIL_RUNS" "dump_last tail" "dump_last_raw tail_raw"
    RATIOS[r6last]="${RATIOS[r6last]:-} $(calc "${REPW[dump_last]} / ${REPW[tail]}" 4)"
    RATIOS[r6lastraw]="${RATIOS[r6lastraw]:-} $(calc "${REPW[dump_last_raw]} / ${REPW[tail_raw]}" 4)"
done
say "row 5: one 64-byte record per process, $N processes: log append vs printf | dd oflag=append conv=notrunc,fdatasync"
for ((rep = 0; rep < REPS; rep++)); do
    run_pairs "$N" "append_one dd_one" "append_one_none dd_one_none" "true"
    RATIOS[r5]="${RATIOS[r5]:-} $(calc "${REPW[append_one]} / ${REPW[dd_one]}" 4)"
    RATIOS[r5none]="${RATIOS[r5none]:-} $(calc "${REPW[append_one_none]} / ${REPW[dd_one_none]}" 4)"
done
check_clean "$ONE_LOG" $((REPS * N + 1))
check_clean "$ONE_LOG_NONE" $((REPS * N + 1))
[ "$(size "$ONE_DD")" -eq $((REPS * N * 65)) ] || die "the dd loop wrote $(size "$ONE_DD") bytes, not $((REPS * N * 65))"

say "row 4: appending $SMALL_RECS lines (new log, --sync full) vs cat > FILE && sync FILE"
warm "$TEXT64"
# One untimed run of each writer first: the first gigabyte written into the scratch directory
# took several times as long as the next ones (3.2 s against 0.73 s), and the rotation below
# would charge that to whichever tool goes first in the first repetition.
for tool in append_64 catsync_64 append_pipe catsync_pipe catsync_log dd_log; do
    rm -f "$OUTLOG" "$OUTTXT"
    sync
    big_cmd "$tool" || die "$tool failed (see $SCRATCH/stderr)"
done
for ((rep = 0; rep < REPS; rep++)); do
    run_group "$rep" append_64 catsync_64 append_pipe catsync_pipe catsync_log dd_log
    ratio r4 catsync_64 append_64
    ratio r4pipe catsync_pipe append_pipe
    ratio r4floor catsync_64 catsync_log
    ratio r4ddfloor catsync_64 dd_log
    ratio r4dd dd_log append_64
done
rm -f "$OUTLOG" "$OUTTXT"

# ---------------------------------------------------------------------------------------------
# 7. Peak RSS (GNU time -v, "Maximum resident set size", KiB) at the largest sizes.
# ---------------------------------------------------------------------------------------------
declare -A RSS
RSS_ROWS=(verify_crc verify_sha verify_64 dump_raw dump_raw_64 append_64)
if [ "$HAVE_GNU_TIME" = 1 ]; then
    for what in "${RSS_ROWS[@]}"; do
        rm -f "$OUTLOG"
        case $what in
            append_64) /usr/bin/time -v -o "$SCRATCH/time-v" "$DURABLE" log append "$OUTLOG" <"$TEXT64" ;;
            verify_crc) /usr/bin/time -v -o "$SCRATCH/time-v" "$DURABLE" log verify "$LOG4K" >/dev/null ;;
            verify_sha) /usr/bin/time -v -o "$SCRATCH/time-v" "$DURABLE" log verify "$LOG4KS" >/dev/null ;;
            verify_64) /usr/bin/time -v -o "$SCRATCH/time-v" "$DURABLE" log verify "$LOG64" >/dev/null ;;
            dump_raw) /usr/bin/time -v -o "$SCRATCH/time-v" "$DURABLE" log dump --format raw "$LOG4K" >/dev/null ;;
            dump_raw_64) /usr/bin/time -v -o "$SCRATCH/time-v" "$DURABLE" log dump --format raw "$LOG64" >/dev/null ;;
        esac
        RSS[$what]=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$SCRATCH/time-v")
        say "peak RSS of $what: ${RSS[$what]} KiB"
    done
    rm -f "$OUTLOG"
fi
LOAD_END=$(loadavg)

# ---------------------------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------------------------
med() { median ${1}; }
mbs() { calc "$1 / 1048576 / $(med "${BW[$2]}")" 0; } # mbs BYTES TOOL: MiB/s at the median
secs() { calc "$(med "${BW[$1]}")" 3; }
rmed() { med "${RATIOS[$1]}"; }
ms_per() { calc "$(med "${LW[$1]}") * 1000 / ${LOOPS[$1]}" 3; }

r1cat=$(rmed r1cat); r1cksum=$(rmed r1cksum); r2=$(rmed r2); r3=$(rmed r3); r4=$(rmed r4)
r5=$(rmed r5); r6raw=$(rmed r6raw); r6last=$(rmed r6last)
x() { calc "$1" 2; }

echo "## durable log benchmark (bench/log.sh)"
echo
echo "- date: started $START_UTC, finished $(date -u '+%H:%M UTC')"
echo "- machine: $(nproc) cores, $CPU_MODEL, $MEM_GIB GiB RAM, Linux $(uname -r)"
echo "- scratch: $SCRATCH on $FSTYPE ($FSDEV)"
echo "- durable: $DURABLE_DESC"
echo "- REPS=$REPS (median shown); 4 KiB-record logs of $RECS4K records ($(mib "$SZ_LOG4K") MiB CRC-32, $(mib "$SZ_LOG4KS") MiB SHA-256) made from $(mib "$SZ_TEXT4K") MiB of 4095-character lines; $SMALL_RECS records of 64 bytes ($(mib "$SZ_LOG64") MiB log, $(mib "$SZ_TEXT64") MiB as text lines); N=$N one-record appends and TAIL_RUNS=$TAIL_RUNS tail reads per loop, BLOCK=$BLOCK"
echo "- load average: $LOAD_START at start, $LOAD_END at end"
if [ ${#MISSING[@]} -gt 0 ]; then
    echo "- **MISSING TOOLS** (rows skipped): ${MISSING[*]}"
fi
echo
echo "| # | measurement | durable | baseline | ratio | target | result |"
echo "| --- | --- | ---: | ---: | ---: | ---: | --- |"
echo "| 1a | \`log verify\`, ${BIG_MIB} MiB log of 4 KiB records, CRC-32, vs \`cat LOG > /dev/null\` (throughput) | $(mbs "$SZ_LOG4K" verify_crc) MiB/s ($(secs verify_crc) s) | $(mbs "$SZ_LOG4K" cat_crc) MiB/s ($(secs cat_crc) s) | $(x "$r1cat")× | ≥ ${T_VERIFY_CAT}× | $(verdict "$r1cat" '>=' "$T_VERIFY_CAT") |"
echo "| 1b | the same vs \`cksum LOG\` | $(mbs "$SZ_LOG4K" verify_crc) MiB/s | $(mbs "$SZ_LOG4K" cksum_crc) MiB/s ($(secs cksum_crc) s) | $(x "$r1cksum")× | ≥ ${T_VERIFY_CKSUM}× | $(verdict "$r1cksum" '>=' "$T_VERIFY_CKSUM") |"
echo "| 2 | \`log verify\`, the same records with SHA-256, vs \`sha256sum LOG\` | $(mbs "$SZ_LOG4KS" verify_sha) MiB/s ($(secs verify_sha) s) | $(mbs "$SZ_LOG4KS" sha256sum) MiB/s ($(secs sha256sum) s) | $(x "$r2")× | ≥ ${T_VERIFY_SHA}× | $(verdict "$r2" '>=' "$T_VERIFY_SHA") |"
echo "| 3 | \`log verify\`, $SMALL_RECS records of 64 bytes, vs \`wc -l\` over the same lines as text | $(calc "$SMALL_RECS / $(med "${BW[verify_64]}") / 1000000" 1) M records/s ($(secs verify_64) s) | $(calc "$SMALL_RECS / $(med "${BW[wc_64]}") / 1000000" 1) M lines/s ($(secs wc_64) s) | $(x "$r3")× | ≥ ${T_VERIFY_WC}× | $(verdict "$r3" '>=' "$T_VERIFY_WC") |"
echo "| 4 | \`log append\` of $SMALL_RECS 64-byte lines from stdin into a new log vs \`cat > FILE && sync FILE\` (input throughput) | $(mbs "$SZ_TEXT64" append_64) MiB/s ($(secs append_64) s) | $(mbs "$SZ_TEXT64" catsync_64) MiB/s ($(secs catsync_64) s) | $(x "$r4")× | ≥ ${T_APPEND}× | $(verdict "$r4" '>=' "$T_APPEND") |"
echo "| 5 | one record per process, $N processes: \`log append LOG rec\` vs \`printf … \\| dd oflag=append conv=notrunc,fdatasync\` | $(ms_per append_one) ms/append | $(ms_per dd_one) ms/append | $(x "$r5")× | ≤ ${T_ONE}× | $(verdict "$r5" '<=' "$T_ONE") |"
echo "| 6a | \`log dump --format raw\` > /dev/null vs \`cat LOG\` (throughput) | $(mbs "$SZ_LOG4K" dump_raw) MiB/s ($(secs dump_raw) s) | $(mbs "$SZ_LOG4K" cat_crc) MiB/s | $(x "$r6raw")× | ≥ ${T_DUMP_RAW}× | $(verdict "$r6raw" '>=' "$T_DUMP_RAW") |"
echo "| 6b | \`log dump --last 10\` on the ${BIG_MIB} MiB log vs \`tail -n 10\` on the text, $TAIL_RUNS processes | $(ms_per dump_last) ms/run | $(ms_per tail) ms/run | $(x "$r6last")× | ≤ ${T_DUMP_LAST}× | $(verdict "$r6last" '<=' "$T_DUMP_LAST") |"
if [ "$HAVE_GNU_TIME" = 1 ]; then
    i=0
    for what in "${RSS_ROWS[@]}"; do
        i=$((i + 1))
        case $what in
            verify_crc) label="\`log verify\`, ${BIG_MIB} MiB CRC-32 log" ;;
            verify_sha) label="\`log verify\`, ${BIG_MIB} MiB SHA-256 log" ;;
            verify_64) label="\`log verify\`, $SMALL_RECS records of 64 bytes" ;;
            dump_raw) label="\`log dump --format raw\`, ${BIG_MIB} MiB CRC-32 log" ;;
            dump_raw_64) label="\`log dump --format raw\`, $SMALL_RECS records of 64 bytes" ;;
            append_64) label="\`log append\` of $SMALL_RECS lines" ;;
        esac
        r=$(calc "${RSS[$what]} / 1024" 1)
        echo "| 7.$i | peak RSS, $label | $r MiB | — | — | ≤ $T_RSS_MIB MiB | $(verdict "$r" '<=' "$T_RSS_MIB") |"
    done
else
    echo "| 7 | peak RSS | skipped: /usr/bin/time is MISSING | | | ≤ $T_RSS_MIB MiB | skipped |"
fi
echo
echo "Ratios: throughput rows (1–4, 6a) are durable's throughput over the baseline's, i.e. the baseline's time over durable's (higher is better); rows 5 and 6b are durable's time over the baseline's (lower is better). Each ratio is the median over the $REPS repetitions of the ratio within one repetition; times are medians of the $REPS runs. Read rows ran on a warm page cache (every file read once before timing)."
echo
echo "Per-repetition ratios — 1a: $(list "${RATIOS[r1cat]}"); 1b: $(list "${RATIOS[r1cksum]}"); 2: $(list "${RATIOS[r2]}"); 3: $(list "${RATIOS[r3]}"); 4: $(list "${RATIOS[r4]}"); 5: $(list "${RATIOS[r5]}"); 6a: $(list "${RATIOS[r6raw]}"); 6b: $(list "${RATIOS[r6last]}")."
echo
echo "### Single runs (seconds; user and sys CPU from bash's \`times\`)"
echo
echo "| command | input | wall per repetition | median wall | MiB/s | median user | median sys |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: |"
for tool in verify_crc cat_crc cksum_crc dump_raw verify_sha sha256sum cat_sha verify_64 wc_64 cat_64 append_64 catsync_64 append_pipe catsync_pipe catsync_log dd_log; do
    case $tool in
        verify_crc) label='`durable log verify LOG`'; in=$SZ_LOG4K; what="CRC-32 log, 4 KiB records" ;;
        cat_crc) label='`cat LOG`'; in=$SZ_LOG4K; what="CRC-32 log, 4 KiB records" ;;
        cksum_crc) label='`cksum LOG`'; in=$SZ_LOG4K; what="CRC-32 log, 4 KiB records" ;;
        dump_raw) label='`durable log dump --format raw LOG`'; in=$SZ_LOG4K; what="CRC-32 log, 4 KiB records" ;;
        verify_sha) label='`durable log verify LOG`'; in=$SZ_LOG4KS; what="SHA-256 log, 4 KiB records" ;;
        sha256sum) label='`sha256sum LOG`'; in=$SZ_LOG4KS; what="SHA-256 log, 4 KiB records" ;;
        cat_sha) label='`cat LOG` (info)'; in=$SZ_LOG4KS; what="SHA-256 log, 4 KiB records" ;;
        verify_64) label='`durable log verify LOG`'; in=$SZ_LOG64; what="CRC-32 log, 64-byte records" ;;
        wc_64) label='`wc -l TEXT`'; in=$SZ_TEXT64; what="64-character lines" ;;
        cat_64) label='`cat LOG` (info)'; in=$SZ_LOG64; what="CRC-32 log, 64-byte records" ;;
        append_64) label='`durable log append NEW < TEXT`'; in=$SZ_TEXT64; what="64-character lines" ;;
        catsync_64) label='`cat > FILE < TEXT && sync FILE`'; in=$SZ_TEXT64; what="64-character lines" ;;
        append_pipe) label='`cat TEXT \| durable log append NEW` (info)'; in=$SZ_TEXT64; what="64-character lines" ;;
        catsync_pipe) label='`cat TEXT \| cat > FILE && sync FILE` (info)'; in=$SZ_TEXT64; what="64-character lines" ;;
        catsync_log) label='`cat > FILE < LOG && sync FILE` (info: the bytes the append writes)'; in=$SZ_LOG64; what="CRC-32 log, 64-byte records" ;;
        dd_log) label='`dd if=LOG of=FILE bs=1M && sync FILE` (info: the same bytes through a user-space buffer)'; in=$SZ_LOG64; what="CRC-32 log, 64-byte records" ;;
    esac
    echo "| $label | $what, $(mib "$in") MiB | $(list "${BW[$tool]}") | $(secs "$tool") | $(mbs "$in" "$tool") | $(calc "$(med "${BU[$tool]}")" 3) | $(calc "$(med "${BS[$tool]}")" 3) |"
done
echo
echo "Info: merely reading the 64-byte-record log (\`cat LOG\`, $(mib "$SZ_LOG64") MiB) runs at $(x "$(rmed r3floor)")× the speed of \`wc -l\` over the same records as text ($(mib "$SZ_TEXT64") MiB; per repetition: $(list "${RATIOS[r3floor]}")): roughly the ceiling in row 3 for a single-threaded reader that copies the log through read()."
echo
echo "Info: via a pipe (\`cat TEXT | …\`, so neither side can use \`copy_file_range\`), append / (cat > FILE && sync) = $(x "$(rmed r4pipe)")× (per repetition: $(list "${RATIOS[r4pipe]}")). Copying and flushing the log's own $(mib "$SZ_LOG64") MiB (what the append writes: 36 bytes of framing per 64-byte record) instead of the $(mib "$SZ_TEXT64") MiB of text gives $(x "$(rmed r4floor)")× the text copy's throughput (per repetition: $(list "${RATIOS[r4floor]}")): roughly the ceiling in row 4 for a writer of this format that copies inside the kernel, as \`cat\` does."
echo
echo "Info: \`cat > FILE < TEXT\` copies inside the kernel (GNU cat uses \`copy_file_range\` between two files: no byte passes through its memory), which an appender that builds records in its own memory cannot do. A plain copy of the log's own bytes through a user-space buffer (\`dd bs=1M\`, read and write calls, one flush at the end) gives $(x "$(rmed r4ddfloor)")× the text copy's throughput (per repetition: $(list "${RATIOS[r4ddfloor]}")); the append, which writes the same bytes and flushes every group, runs at $(x "$(rmed r4dd)")× the speed of that \`dd\` (per repetition: $(list "${RATIOS[r4dd]}"))."
echo
echo "### Loops, one process per run (seconds for the whole loop; CPU = user+sys of the loop's processes)"
echo
echo "| loop | runs | wall per repetition | median wall | ms/run | median CPU | CPU ms/run |"
echo "| --- | ---: | --- | ---: | ---: | ---: | ---: |"
for tool in append_one dd_one append_one_none dd_one_none true dump_last tail dump_last_raw tail_raw; do
    case $tool in
        append_one) label='`durable log append LOG REC`' ;;
        dd_one) label="\`printf '%s\\n' REC \\| dd oflag=append conv=notrunc,fdatasync of=FILE status=none\`" ;;
        append_one_none) label='`durable log append --sync none LOG REC` (info)' ;;
        dd_one_none) label="\`printf '%s\\n' REC \\| dd oflag=append conv=notrunc of=FILE status=none\` (info)" ;;
        true) label='`/bin/true` (loop and fork+exec floor; info)' ;;
        dump_last) label='`durable log dump --last 10 LOG` (text format, the default)' ;;
        tail) label='`tail -n 10 TEXT`' ;;
        dump_last_raw) label='`durable log dump --format raw --last 10 LOG` (the same bytes as tail; info)' ;;
        tail_raw) label='`tail -n 10 TEXT` (paired with the raw dump; info)' ;;
    esac
    w=$(med "${LW[$tool]}"); c=$(med "${LC[$tool]}")
    echo "| $label | ${LOOPS[$tool]} | $(list "${LW[$tool]}") | $(calc "$w" 3) | $(ms_per "$tool") | $(calc "$c" 3) | $(calc "$c * 1000 / ${LOOPS[$tool]}" 3) |"
done
echo
echo "Info: \`log dump --format raw --last 10\` (the payloads themselves, the bytes tail prints) / \`tail -n 10\` = $(x "$(rmed r6lastraw)")× (per repetition: $(list "${RATIOS[r6lastraw]}"))."
echo
echo "Info: without any flush, \`log append --sync none\` / \`dd\` without fdatasync = $(x "$(rmed r5none)")× (per repetition: $(list "${RATIOS[r5none]}"))."
