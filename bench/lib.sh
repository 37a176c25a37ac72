# Helpers shared by the bench/ scripts (sourced, not run).
# Expects HERE, ROOT and, before run_loop, SCRATCH, SMALL and N to be set.

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Build durable in release mode into $CARGO_TARGET_DIR (default /tmp/bench-target, away from the
# target/ others build in), unless DURABLE names a binary already. Sets DURABLE (a copy in $SCRATCH/bin, see
# installed_copy) and DURABLE_FROM (the binary it was copied from).
build_durable() {
    if [ -z "${DURABLE:-}" ]; then
        command -v cargo >/dev/null 2>&1 || die "'cargo' is missing: install the Rust toolchain, or set DURABLE=path"
        export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/bench-target}
        say "building durable (release) into $CARGO_TARGET_DIR"
        (cd "$ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
        DURABLE=$CARGO_TARGET_DIR/release/durable
    fi
    [ -x "$DURABLE" ] || die "DURABLE=$DURABLE is not an executable"
    DURABLE_FROM=$DURABLE
    DURABLE=$(installed_copy "$DURABLE" durable)
}

# A copy of a program in the scratch directory, as `cargo install` or a package installs one. A
# file the linker has just written sits in the page cache in small pieces, and each start of it
# then takes more page faults (the same durable binary: 107 against 95 faults, about 0.05 ms
# more a start); every program a benchmark builds is timed from such a copy, none from where it
# was built. Needs $SCRATCH.
installed_copy() { # installed_copy PATH NAME -> prints the copy's path
    mkdir -p "$SCRATCH/bin"
    cp "$1" "$SCRATCH/bin/$2" || die "cannot copy $1 into $SCRATCH/bin"
    echo "$SCRATCH/bin/$2"
}

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }
median() { # median of the arguments
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) printf "%.6f\n", v[(NR + 1) / 2]
        else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
verdict() { # verdict VALUE OP LIMIT -> pass / MISS
    if awk "BEGIN { exit !($1 $2 $3) }"; then echo pass; else echo "**MISS**"; fi
}
# Children CPU time (user+sys, seconds) of this shell so far: the `times` builtin must run in
# this shell, not in a $(...) subshell (which has no children yet), so it writes a file.
children_cpu_snapshot() { times >"$SCRATCH/times.$1"; }
children_cpu() {
    awk 'NR == 2 {
        t = 0
        for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] }
        printf "%.3f\n", t }' "$SCRATCH/times.$1"
}

# Per-tool loop of COUNT (default N) saves of the same 4 KiB input over the same existing
# target, one process per save, driven by the same bash `for` loop for every tool, timed as a
# whole. Sets LOOP_WALL and LOOP_CPU (seconds).
run_loop() { # run_loop TARGET_FILE CMD...
    local target=$1; shift
    local t0 t1 i count=${COUNT:-$N}
    sync
    children_cpu_snapshot 0
    t0=$(now)
    for ((i = 0; i < count; i++)); do
        "$@" <"$SMALL" >/dev/null || die "failed: $* < $SMALL"
    done
    t1=$(now)
    children_cpu_snapshot 1
    cmp -s "$SMALL" "$target" || die "after '$*' the target does not hold the input"
    LOOP_WALL=$(calc "$t1 - $t0" 6)
    LOOP_CPU=$(calc "$(children_cpu 1) - $(children_cpu 0)" 3)
}


# Tools. Required ones stop the run; optional ones skip their rows, said loudly and recorded in
# MISSING for the report's header.
MISSING=()
need() { # need CMD PACKAGE: required
    command -v "$1" >/dev/null 2>&1 || die "'$1' is missing (Debian package $2): run bench/setup.sh"
}
want() { # want CMD PACKAGE: optional; returns 1 and records it when missing
    if command -v "$1" >/dev/null 2>&1; then return 0; fi
    say "MISSING TOOL: '$1' (Debian package $2) — its rows are skipped; run bench/setup.sh"
    MISSING+=("$1 (package $2)")
    return 1
}
# Sets HAVE_GNU_TIME to 1 when /usr/bin/time -v reports the peak RSS (GNU time), else to 0,
# saying so and recording it in MISSING.
detect_gnu_time() {
    HAVE_GNU_TIME=0
    if [ -x /usr/bin/time ] && [[ "$(/usr/bin/time -v true 2>&1)" == *"Maximum resident set size"* ]]; then
        HAVE_GNU_TIME=1
    else
        say "MISSING TOOL: GNU time at /usr/bin/time (Debian package time) — peak-RSS rows skipped; run bench/setup.sh"
        MISSING+=("/usr/bin/time (package time)")
    fi
}
