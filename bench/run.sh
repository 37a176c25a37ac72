#!/usr/bin/env bash
# Benchmark of `durable save` against minimal baselines, on this machine, in one run.
#
#   bench/run.sh                     build durable (release, into /tmp/bench-target) and run all
#   DURABLE=/path/to/durable bench/run.sh          use that binary instead of building
#   bench/run.sh | tee report.md     the report is markdown on stdout; progress goes to stderr
#
# Knobs (environment):
#   N=1000        saves per loop in the small-file rows (one process per save)
#   REPS=5        repetitions of every measurement (the table shows the median)
#   BLOCK=100     the two loops of a pair alternate every BLOCK saves (BLOCK=N: one whole loop
#                 each, back to back); N must be a multiple of BLOCK
#   BIG_MIB=1024  size of the large input, MiB
#   RSS_MIB="1 100 1024"   input sizes for the peak-RSS rows, MiB (each <= BIG_MIB)
#   BENCH_DIR=/tmp         where the scratch directory is made (must be a real disk, not tmpfs)
#   CARGO_TARGET_DIR=/tmp/bench-target    where durable is built when DURABLE is not set
#   KEEP=1        keep the scratch directory (traces, inputs) instead of removing it
#   QUICK=1       smoke test: N=50 REPS=1 BIG_MIB=64 RSS_MIB="1 64" BLOCK=25
#
# See bench/README.md for what each row means.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

if [ "${QUICK:-0}" = 1 ]; then
    : "${N:=50}" "${REPS:=1}" "${BIG_MIB:=64}" "${RSS_MIB:=1 64}" "${BLOCK:=25}"
fi
N=${N:-1000}
REPS=${REPS:-5}
BIG_MIB=${BIG_MIB:-1024}
RSS_MIB=${RSS_MIB:-1 100 1024}
BLOCK=${BLOCK:-100}
[ "$BLOCK" -gt 0 ] && [ $((N % BLOCK)) -eq 0 ] || { echo "bench: N=$N must be a multiple of BLOCK=$BLOCK" >&2; exit 1; }
BENCH_DIR=${BENCH_DIR:-/tmp}
SMALL_BYTES=4096

# Targets: the figures the project aims for.
TARGET_FULL=1.15    # durable save / minimal_save, 4 KiB, full sync: at most
TARGET_NONE=1.00    # durable save --sync none / sponge: at most
TARGET_BIG=0.90     # durable throughput / dd throughput: at least
TARGET_RSS_MIB=16   # peak RSS at any size: at most

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

# ---------------------------------------------------------------------------------------------
# Tools. Required ones stop the run; optional ones skip their rows, said loudly in the report.
# ---------------------------------------------------------------------------------------------
for t in awk date dd head sort sync stat findmnt; do need "$t" "coreutils/util-linux/mawk"; done
for t in cmp diff; do need "$t" diffutils; done
need gcc gcc
HAVE_SPONGE=0; want sponge moreutils && HAVE_SPONGE=1
HAVE_STRACE=0; want strace strace && HAVE_STRACE=1
detect_gnu_time

# ---------------------------------------------------------------------------------------------
# Scratch directory on a real disk (fsync must reach the device).
# ---------------------------------------------------------------------------------------------
SCRATCH=$(mktemp -d "$BENCH_DIR/durable-bench.XXXXXX")
cleanup() {
    if [ "${KEEP:-0}" = 1 ]; then
        say "kept $SCRATCH"
    else
        rm -rf "$SCRATCH"
    fi
}
trap cleanup EXIT
FSTYPE=$(findmnt -n -o FSTYPE -T "$SCRATCH" 2>/dev/null || stat -f -c %T "$SCRATCH")
case "$FSTYPE" in
    tmpfs | ramfs) die "$SCRATCH is on $FSTYPE: fsync would not reach a disk; set BENCH_DIR" ;;
esac
# sponge makes its temporary file in $TMPDIR: put it in the same directory as the target, as
# durable and minimal_save do (same filesystem, so sponge renames instead of copying).
export TMPDIR=$SCRATCH
SMALL=$SCRATCH/input-4k

# ---------------------------------------------------------------------------------------------
# Binaries.
# ---------------------------------------------------------------------------------------------
build_durable
gcc -O2 -Wall -o "$SCRATCH/minimal_save.built" "$HERE/minimal_save.c" || die "gcc failed on bench/minimal_save.c"
MINIMAL=$(installed_copy "$SCRATCH/minimal_save.built" minimal_save)

# ---------------------------------------------------------------------------------------------
# Machine.
# ---------------------------------------------------------------------------------------------
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ]; then
    GIT_REV="$GIT_REV (with uncommitted changes in src/)"
fi
LOAD_START=$(loadavg)
say "scratch $SCRATCH ($FSTYPE), N=$N REPS=$REPS BIG_MIB=$BIG_MIB, load $LOAD_START"
if awk -v l="${LOAD_START%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
    say "WARNING: load average $LOAD_START on $(nproc) cores: other processes compete, numbers will be noisy"
fi

head -c "$SMALL_BYTES" /dev/urandom >"$SMALL"

# ---------------------------------------------------------------------------------------------
# 1. The syscalls of one 4 KiB save over an existing file without xattrs.
# ---------------------------------------------------------------------------------------------
# Normalise an strace log of the main thread only (strace without -f, so no interleaving): the
# calls from the first stat of the target on, with the first path (scratch dir -> DIR, the 16
# random hex digits -> R), open flags, getrandom's length and flags, read/write's result.
normalise_trace() { # normalise_trace LOG TARGET
    awk -v dir="$SCRATCH" -v target="$2" '
        { line = $0 }
        line ~ /^\+\+\+/ || line ~ /^---/ { next }
        !started && index(line, "\"" target "\"") && line ~ /stat/ { started = 1 }
        !started { next }
        {
            name = line; sub(/\(.*/, "", name)
            out = name
            if (name == "getrandom") {
                a = line; sub(/^getrandom\("[^"]*"(\.\.\.)?, /, "", a); sub(/\).*/, "", a)
                out = out " len, flags = " a
            } else if (name == "read" || name == "write") {
                n = line; sub(/.*= /, "", n); out = out " = " n
            } else if (match(line, /"[^"]*"/)) {
                p = substr(line, RSTART, RLENGTH)
                gsub(dir, "DIR", p)
                gsub(/[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]/, "R", p)
                out = out " " p
            }
            if (name == "openat" && match(line, /O_[A-Z_|]+/)) out = out " " substr(line, RSTART, RLENGTH)
            print out
        }' "$1"
}
# Count the syscalls of an strace -f log: main thread before the first stat of the target
# (start-up), main thread from there to exit (the save), and other threads.
count_calls() { # count_calls LOG TARGET -> "startup save threads total"
    awk -v target="$2" '
        NR == 1 { main = $1 }
        { pid = $1; line = $0; sub(/^[0-9]+ +/, "", line) }
        line ~ /^<\.\.\./ || line ~ /^\+\+\+/ || line ~ /^---/ { next }
        pid != main { other++; next }
        !started && index(line, "\"" target "\"") && line ~ /stat/ { started = 1 }
        started { save++; next }
        { startup++ }
        END { printf "%d %d %d %d\n", startup, save, other, startup + save + other }' "$1"
}
count_threads() { grep -Ec '^[0-9]+ +clone3?\(' "$1" || true; }

SYSCALLS_REPORT=""
declare -A STARTUP SAVE OTHER TOTAL THREADS
if [ "$HAVE_STRACE" = 1 ]; then
    say "tracing one save of each (strace -f)"
    for who in durable minimal; do
        t=$SCRATCH/trace-$who
        cmd=("$MINIMAL" "$t")
        [ "$who" = durable ] && cmd=("$DURABLE" save "$t")
        cp "$SMALL" "$t"
        strace -qq -o "$SCRATCH/$who.main.strace" "${cmd[@]}" <"$SMALL"
        cp "$SMALL" "$t"
        strace -f -qq -o "$SCRATCH/$who.strace" "${cmd[@]}" <"$SMALL"
        normalise_trace "$SCRATCH/$who.main.strace" "$t" | sed "s/trace-$who/TARGET/g" >"$SCRATCH/$who.seq"
        read -r STARTUP[$who] SAVE[$who] OTHER[$who] TOTAL[$who] < <(count_calls "$SCRATCH/$who.strace" "$t")
        THREADS[$who]=$(count_threads "$SCRATCH/$who.strace")
    done
    SYSCALLS_REPORT=$(
        echo "Main thread (strace without -f), from the first stat of the target to exit (durable on the left, minimal_save on the right; \`|\` changed, \`<\` durable only, \`>\` minimal_save only):"
        echo
        echo '```'
        diff -y -W 150 "$SCRATCH/durable.seq" "$SCRATCH/minimal.seq" || true
        echo '```'
        echo
        echo "Whole process (strace -f), execve to exit:"
        echo
        echo "| program | start-up (to the first stat of the target) | the save (to exit) | other threads | total syscalls | threads created |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: |"
        for who in durable minimal; do
            echo "| $who | ${STARTUP[$who]} | ${SAVE[$who]} | ${OTHER[$who]} | ${TOTAL[$who]} | ${THREADS[$who]} |"
        done
    )
fi

# ---------------------------------------------------------------------------------------------
# 2. N small saves, one process each, per tool. The loops to be compared form a pair and run
#    interleaved: BLOCK saves of one, BLOCK of the other (which goes first alternates), until
#    each has done N; a tool's time for the repetition is the sum of its blocks. With BLOCK=N
#    that is one whole loop each, back to back. The pairs rotate, and the ratio is taken within
#    each repetition, so load that drifts over the run hits both sides alike.
# ---------------------------------------------------------------------------------------------
declare -A WALL CPU REPWALL REPCPU
PAIRS=("durable_full minimal_full" "durable_none sponge" "minimal_none true")
[ "$HAVE_SPONGE" = 1 ] || PAIRS[1]="durable_none"
TOOLS=(durable_full minimal_full durable_none minimal_none true)
[ "$HAVE_SPONGE" = 1 ] && TOOLS+=(sponge)
for tool in "${TOOLS[@]}"; do cp "$SMALL" "$SCRATCH/t-$tool"; done
run_tool() { # run_tool TOOL: one block of BLOCK saves
    local t=$SCRATCH/t-$1
    case $1 in
        durable_full) COUNT=$BLOCK run_loop "$t" "$DURABLE" save "$t" ;;
        minimal_full) COUNT=$BLOCK run_loop "$t" "$MINIMAL" "$t" ;;
        durable_none) COUNT=$BLOCK run_loop "$t" "$DURABLE" save --sync none "$t" ;;
        minimal_none) COUNT=$BLOCK run_loop "$t" "$MINIMAL" -n "$t" ;;
        sponge) COUNT=$BLOCK run_loop "$t" sponge "$t" ;;
        true) COUNT=$BLOCK run_loop "$t" /bin/true ;; # an executable, not the bash builtin
    esac
}
R_FULL=""; R_NONE=""
for ((rep = 0; rep < REPS; rep++)); do
    np=${#PAIRS[@]}
    for ((k = 0; k < np; k++)); do
        read -r -a pair <<<"${PAIRS[$(((k + rep) % np))]}"
        for tool in "${pair[@]}"; do REPWALL[$tool]=0; REPCPU[$tool]=0; done
        for ((b = 0; b < N / BLOCK; b++)); do
            order=("${pair[@]}")
            if (((rep + b) % 2)) && [ ${#pair[@]} -eq 2 ]; then order=("${pair[1]}" "${pair[0]}"); fi
            for tool in "${order[@]}"; do
                run_tool "$tool"
                REPWALL[$tool]=$(calc "${REPWALL[$tool]} + $LOOP_WALL" 6)
                REPCPU[$tool]=$(calc "${REPCPU[$tool]} + $LOOP_CPU" 3)
            done
        done
        for tool in "${pair[@]}"; do
            WALL[$tool]="${WALL[$tool]:-} ${REPWALL[$tool]}"
            CPU[$tool]="${CPU[$tool]:-} ${REPCPU[$tool]}"
            say "rep $((rep + 1))/$REPS  $(printf '%-13s' "$tool") ${REPWALL[$tool]} s wall, ${REPCPU[$tool]} s cpu for $N saves"
        done
    done
    R_FULL="$R_FULL $(calc "${REPWALL[durable_full]} / ${REPWALL[minimal_full]}" 4)"
    [ "$HAVE_SPONGE" = 1 ] && R_NONE="$R_NONE $(calc "${REPWALL[durable_none]} / ${REPWALL[sponge]}" 4)"
done

# ---------------------------------------------------------------------------------------------
# 3. Large input from stdin (pre-generated file, warm page cache): throughput.
# ---------------------------------------------------------------------------------------------
BIG=$SCRATCH/input-big
say "generating ${BIG_MIB} MiB of random input"
head -c "$((BIG_MIB * 1024 * 1024))" /dev/urandom >"$BIG"
cat "$BIG" >/dev/null # warm
BIG_BYTES=$(stat -c %s "$BIG")
declare -A BIGT LASTBIG
OUT=$SCRATCH/out-big
BIG_TOOLS=(durable dd minimal)
R_BIG=""
for ((rep = 0; rep < REPS; rep++)); do
    # durable and dd back to back, in alternating order; minimal_save (info) around them.
    order=(minimal durable dd)
    ((rep % 2)) && order=(dd durable minimal)
    for tool in "${order[@]}"; do
        rm -f "$OUT"
        sync
        t0=$(now)
        case $tool in
            durable) "$DURABLE" save "$OUT" <"$BIG" ;;
            dd) dd bs=1M conv=fsync of="$OUT" <"$BIG" 2>/dev/null ;;
            minimal) "$MINIMAL" "$OUT" <"$BIG" ;;
        esac
        t1=$(now)
        secs=$(calc "$t1 - $t0" 6)
        BIGT[$tool]="${BIGT[$tool]:-} $secs"
        LASTBIG[$tool]=$secs
        say "rep $((rep + 1))/$REPS  $(printf '%-8s' "$tool") ${BIG_MIB} MiB in $secs s ($(calc "$BIG_BYTES / 1048576 / $secs" 0) MiB/s)"
    done
    R_BIG="$R_BIG $(calc "${LASTBIG[dd]} / ${LASTBIG[durable]}" 4)"
done
cmp -s "$BIG" "$OUT" || die "the large save did not reproduce its input"
rm -f "$OUT"

# ---------------------------------------------------------------------------------------------
# 4. Peak RSS of durable save (GNU time -v, "Maximum resident set size", KiB).
# ---------------------------------------------------------------------------------------------
declare -A RSS
if [ "$HAVE_GNU_TIME" = 1 ]; then
    for mib in $RSS_MIB; do
        if [ "$mib" -gt "$BIG_MIB" ]; then say "RSS size $mib MiB > BIG_MIB, skipped"; continue; fi
        input=$BIG
        if [ "$mib" -lt "$BIG_MIB" ]; then
            input=$SCRATCH/input-$mib
            head -c "$((mib * 1024 * 1024))" "$BIG" >"$input"
        fi
        rm -f "$OUT"
        /usr/bin/time -v -o "$SCRATCH/time-v" "$DURABLE" save "$OUT" <"$input"
        RSS[$mib]=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$SCRATCH/time-v")
        say "peak RSS at $mib MiB: ${RSS[$mib]} KiB"
        [ "$input" = "$BIG" ] || rm -f "$input"
        rm -f "$OUT"
    done
fi
rm -f "$BIG" "$OUT"
LOAD_END=$(loadavg)

# ---------------------------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------------------------
med() { median ${1}; }
per_save_ms() { calc "$1 * 1000 / $N" 3; }

d_full=$(med "${WALL[durable_full]}"); m_full=$(med "${WALL[minimal_full]}")
d_none=$(med "${WALL[durable_none]}"); m_none=$(med "${WALL[minimal_none]}")
t_true=$(med "${WALL[true]}")
r_full=$(calc "$(median $R_FULL)" 2)

echo "## durable save benchmark"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) cores, $CPU_MODEL, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)"
echo "- scratch: $SCRATCH on $FSTYPE ($(findmnt -n -o SOURCE -T "$SCRATCH" 2>/dev/null || echo '?'))"
echo "- durable: $DURABLE_FROM, commit $GIT_REV"
echo "- N=$N saves per loop and repetition, in blocks of BLOCK=$BLOCK alternating with the compared tool; $SMALL_BYTES-byte input; REPS=$REPS (median shown); large input ${BIG_MIB} MiB"
echo "- load average: $LOAD_START at start, $LOAD_END at end"
if [ ${#MISSING[@]} -gt 0 ]; then
    echo "- **MISSING TOOLS, rows skipped:** ${MISSING[*]} — run bench/setup.sh"
fi
echo
echo "| # | measurement | durable | baseline | ratio | target | result |"
echo "| --- | --- | ---: | ---: | ---: | ---: | --- |"
echo "| 1 | $N × 4 KiB saves, full sync, vs minimal C (\`bench/minimal_save.c\`) | $(calc "$d_full" 3) s ($(per_save_ms "$d_full") ms/save) | $(calc "$m_full" 3) s ($(per_save_ms "$m_full") ms/save) | ${r_full}× | ≤ ${TARGET_FULL}× | $(verdict "$r_full" '<=' "$TARGET_FULL") |"
if [ "$HAVE_SPONGE" = 1 ]; then
    s_none=$(med "${WALL[sponge]}")
    r_none=$(calc "$(median $R_NONE)" 2)
    echo "| 2 | $N × 4 KiB saves, \`--sync none\` vs \`sponge\` | $(calc "$d_none" 3) s ($(per_save_ms "$d_none") ms/save) | $(calc "$s_none" 3) s ($(per_save_ms "$s_none") ms/save) | ${r_none}× | ≤ ${TARGET_NONE}× | $(verdict "$r_none" '<=' "$TARGET_NONE") |"
else
    echo "| 2 | $N × 4 KiB saves, \`--sync none\` vs \`sponge\` | $(calc "$d_none" 3) s | sponge MISSING | — | ≤ ${TARGET_NONE}× | skipped (install moreutils) |"
fi
b_d=$(med "${BIGT[durable]}"); b_dd=$(med "${BIGT[dd]}")
tp_d=$(calc "$BIG_BYTES / 1048576 / $b_d" 0); tp_dd=$(calc "$BIG_BYTES / 1048576 / $b_dd" 0)
r_big=$(calc "$(median $R_BIG)" 2)
echo "| 3 | ${BIG_MIB} MiB from stdin, full sync, vs \`dd bs=1M conv=fsync\` (throughput) | $tp_d MiB/s ($(calc "$b_d" 2) s) | $tp_dd MiB/s ($(calc "$b_dd" 2) s) | ${r_big}× | ≥ ${TARGET_BIG}× | $(verdict "$r_big" '>=' "$TARGET_BIG") |"
row=4
for mib in $RSS_MIB; do
    if [ -n "${RSS[$mib]:-}" ]; then
        rss_mib=$(calc "${RSS[$mib]} / 1024" 1)
        echo "| $row | peak RSS, ${mib} MiB input | $rss_mib MiB | — | — | ≤ ${TARGET_RSS_MIB} MiB | $(verdict "$rss_mib" '<=' "$TARGET_RSS_MIB") |"
    else
        echo "| $row | peak RSS, ${mib} MiB input | not measured | — | — | ≤ ${TARGET_RSS_MIB} MiB | skipped |"
    fi
    row=$((row + 1))
done
echo
echo "Ratios: rows 1–2 are durable's time over the baseline's (lower is better); row 3 is durable's throughput over dd's (higher is better). Each ratio is the median over the $REPS repetitions of the ratio within one repetition (the two loops ran interleaved in blocks of $BLOCK, or back to back for row 3); the times shown are the medians of the $REPS whole loops of $N processes (of the $REPS single runs for row 3), per-save figures are those divided by $N."
echo
echo "Per-repetition ratios — row 1: $(echo $R_FULL | sed 's/ /, /g'); row 2: $(echo ${R_NONE:-n/a} | sed 's/ /, /g'); row 3: $(echo $R_BIG | sed 's/ /, /g')."
echo
echo "### Every repetition (seconds for $N saves: wall; CPU = user+sys of the loop's processes)"
echo
echo "| loop | wall per repetition | median wall | ms/save | median CPU | CPU ms/save |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
for tool in "${TOOLS[@]}"; do
    case $tool in
        durable_full) label='`durable save T`' ;;
        minimal_full) label='`minimal_save T`' ;;
        durable_none) label='`durable save --sync none T`' ;;
        minimal_none) label='`minimal_save -n T` (no fsync; info)' ;;
        sponge) label='`sponge T`' ;;
        true) label='`true` (empty loop + fork/exec floor; info)' ;;
    esac
    w=$(med "${WALL[$tool]}"); c=$(med "${CPU[$tool]}")
    echo "| $label | $(echo ${WALL[$tool]} | sed 's/ /, /g') | $(calc "$w" 3) | $(per_save_ms "$w") | $(calc "$c" 3) | $(per_save_ms "$c") |"
done
echo
cpu_ratio() { calc "$(med "${CPU[$1]}") / $(med "${CPU[$2]}")" 2; }
cpu_none="n/a"
[ "$HAVE_SPONGE" = 1 ] && cpu_none="$(cpu_ratio durable_none sponge)×"
echo "CPU time (user+sys, which other load disturbs less than wall time), ratio of medians: row 1 $(cpu_ratio durable_full minimal_full)×, row 2 ${cpu_none}; this includes the loop's own fork+exec, which the \`true\` row shows."
echo
echo "Info: \`durable save --sync none\` / \`minimal_save -n\` (same work, no fsync) = $(calc "$d_none / $m_none" 2)×; per save, durable costs $(calc "($d_full - $m_full) * 1000 / $N" 3) ms more than minimal_save with full sync and $(calc "($d_none - $m_none) * 1000 / $N" 3) ms more without; the bare fork+exec of \`true\` costs $(per_save_ms "$t_true") ms."
echo
echo "| large input (${BIG_MIB} MiB) | seconds per repetition | median s | MiB/s |"
echo "| --- | --- | ---: | ---: |"
for tool in "${BIG_TOOLS[@]}"; do
    case $tool in
        durable) label='`durable save OUT < in`' ;;
        dd) label='`dd bs=1M conv=fsync of=OUT < in`' ;;
        minimal) label='`minimal_save OUT < in` (info)' ;;
    esac
    b=$(med "${BIGT[$tool]}")
    echo "| $label | $(echo ${BIGT[$tool]} | sed 's/ /, /g') | $(calc "$b" 3) | $(calc "$BIG_BYTES / 1048576 / $b" 0) |"
done
if [ -n "$SYSCALLS_REPORT" ]; then
    echo
    echo "### Syscalls of one 4 KiB save over an existing file (strace -f)"
    echo
    echo "$SYSCALLS_REPORT"
else
    echo
    echo "Syscall comparison skipped: strace is MISSING (run bench/setup.sh)."
fi
