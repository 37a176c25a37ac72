#!/usr/bin/env bash
# Where does the per-process time of a small `durable save` go? A breakdown, not a target check.
#
# Times N one-process-per-save loops (same bash `for` loop as bench/run.sh, REPS repetitions in
# rotating order, median shown) of programs that each add one layer:
#
#   c_empty         int main(void) { return 0; }  (gcc -O2): fork+exec of a dynamic C binary
#   rust_empty      fn main() {}  (rustc -O): + the Rust std runtime start-up
#   durable_version durable --version: + durable's binary (size, relocations) and clap
#   minimal         bench/minimal_save.c: the bare syscalls of the save, full sync
#   durable_nosig   durable built from a copy of this tree with the interrupt handler
#                   not started (the line `install_interrupt_cleanup(&args);` removed
#                   in src/cmd/save.rs of the copy; src/ itself is never touched)
#   durable_dynamic durable built from the same copy with DURABLE_LINK=dynamic (the interrupt
#                   handler kept): Rust's default dynamic link instead of build.rs's static PIE
#   durable         durable save, as shipped (a static PIE where the toolchain can link one)
#
#   bench/attribute.sh | tee attribution.md
#   Knobs: N=1000 REPS=5 BLOCK=100 (programs take turns every BLOCK runs) DURABLE=path CARGO_TARGET_DIR=/tmp/bench-target
#          VARIANT_DIR=/tmp/bench-variant (copy of the tree) VARIANT_TARGET_DIR=/tmp/bench-target-variant
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
N=${N:-1000}
REPS=${REPS:-5}
BLOCK=${BLOCK:-100}
BENCH_DIR=${BENCH_DIR:-/tmp}
VARIANT_DIR=${VARIANT_DIR:-/tmp/bench-variant}
VARIANT_TARGET_DIR=${VARIANT_TARGET_DIR:-/tmp/bench-target-variant}

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

for t in gcc rustc cargo tar; do
    command -v "$t" >/dev/null 2>&1 || die "'$t' is missing (run bench/setup.sh; rustc/cargo come with the Rust toolchain)"
done

SCRATCH=$(mktemp -d "$BENCH_DIR/durable-attr.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
SMALL=$SCRATCH/input-4k
head -c 4096 /dev/urandom >"$SMALL"

build_durable

# The variant without the interrupt handler, built from a copy of the tracked files.
say "building the variant without the interrupt handler in $VARIANT_DIR"
rm -rf "$VARIANT_DIR"
mkdir -p "$VARIANT_DIR"
# The working tree as it is (uncommitted edits too), so the variant differs from a build of it
# by the one line only.
tar cf - -C "$ROOT" --exclude=./target --exclude=./.git . | tar xf - -C "$VARIANT_DIR"
CALL='    install_interrupt_cleanup(&args);'
grep -qxF "$CALL" "$VARIANT_DIR/src/cmd/save.rs" ||
    die "src/cmd/save.rs no longer has the line '$CALL': update bench/attribute.sh"
grep -vxF "$CALL" "$VARIANT_DIR/src/cmd/save.rs" >"$VARIANT_DIR/save.rs.new"
printf '\n#[allow(dead_code)]\nfn _keep_interrupt_cleanup_used() { let _ = install_interrupt_cleanup; }\n' >>"$VARIANT_DIR/save.rs.new"
mv "$VARIANT_DIR/save.rs.new" "$VARIANT_DIR/src/cmd/save.rs"
(cd "$VARIANT_DIR" && CARGO_TARGET_DIR=$VARIANT_TARGET_DIR cargo build --release --quiet 2>/dev/null) ||
    die "building the variant failed"
NOSIG=$(installed_copy "$VARIANT_TARGET_DIR/release/durable" durable-nosig)
say "building durable with Rust's default dynamic link (DURABLE_LINK=dynamic) in $VARIANT_DIR-dynamic"
rm -rf "$VARIANT_DIR-dynamic"
mkdir -p "$VARIANT_DIR-dynamic"
tar cf - -C "$ROOT" --exclude=./target --exclude=./.git . | tar xf - -C "$VARIANT_DIR-dynamic"
(cd "$VARIANT_DIR-dynamic" && DURABLE_LINK=dynamic CARGO_TARGET_DIR=$VARIANT_TARGET_DIR-dynamic \
    cargo build --release --quiet 2>/dev/null) || die "building the dynamic variant failed"
DYNAMIC=$(installed_copy "$VARIANT_TARGET_DIR-dynamic/release/durable" durable-dynamic)

printf 'int main(void) { return 0; }\n' >"$SCRATCH/empty.c"
gcc -O2 -o "$SCRATCH/c_empty.built" "$SCRATCH/empty.c"
printf 'fn main() {}\n' >"$SCRATCH/empty.rs"
rustc -O -o "$SCRATCH/rust_empty.built" "$SCRATCH/empty.rs"
gcc -O2 -Wall -o "$SCRATCH/minimal_save.built" "$HERE/minimal_save.c"
C_EMPTY=$(installed_copy "$SCRATCH/c_empty.built" c_empty)
RUST_EMPTY=$(installed_copy "$SCRATCH/rust_empty.built" rust_empty)
MINIMAL=$(installed_copy "$SCRATCH/minimal_save.built" minimal_save)

TOOLS=(c_empty rust_empty durable_version minimal durable_dynamic durable_nosig durable)
declare -A WALL CPU REPWALL REPCPU
for tool in "${TOOLS[@]}"; do cp "$SMALL" "$SCRATCH/t-$tool"; done
LOAD_START=$(loadavg)
# Round robin in blocks of BLOCK runs, the order rotating every block, so that load drifting
# over the run reaches every program alike; a program's time per repetition is its blocks' sum.
for ((rep = 0; rep < REPS; rep++)); do
    for tool in "${TOOLS[@]}"; do REPWALL[$tool]=0; REPCPU[$tool]=0; done
    n=${#TOOLS[@]}
    for ((b = 0; b < N / BLOCK; b++)); do
        for ((k = 0; k < n; k++)); do
            tool=${TOOLS[$(((k + b + rep) % n))]}
            t=$SCRATCH/t-$tool
            case $tool in
                c_empty) cmd=("$C_EMPTY") ;;
                rust_empty) cmd=("$RUST_EMPTY") ;;
                durable_version) cmd=("$DURABLE" --version) ;;
                minimal) cmd=("$MINIMAL" "$t") ;;
                durable_nosig) cmd=("$NOSIG" save "$t") ;;
                durable_dynamic) cmd=("$DYNAMIC" save "$t") ;;
                durable) cmd=("$DURABLE" save "$t") ;;
            esac
            COUNT=$BLOCK run_loop "$t" "${cmd[@]}"
            REPWALL[$tool]=$(calc "${REPWALL[$tool]} + $LOOP_WALL" 6)
            REPCPU[$tool]=$(calc "${REPCPU[$tool]} + $LOOP_CPU" 3)
        done
    done
    for tool in "${TOOLS[@]}"; do
        WALL[$tool]="${WALL[$tool]:-} ${REPWALL[$tool]}"
        CPU[$tool]="${CPU[$tool]:-} ${REPCPU[$tool]}"
        say "rep $((rep + 1))/$REPS  $(printf '%-20s' "$tool") ${REPWALL[$tool]} s wall, ${REPCPU[$tool]} s cpu for $N runs"
    done
done
LOAD_END=$(loadavg)

med() { median ${1}; }
ms() { calc "$1 * 1000 / $N" 3; }
declare -A M C
for tool in "${TOOLS[@]}"; do M[$tool]=$(med "${WALL[$tool]}"); C[$tool]=$(med "${CPU[$tool]}"); done
delta() { echo "$(calc "(${M[$1]} - ${M[$2]}) * 1000 / $N" 3) | $(calc "(${C[$1]} - ${C[$2]}) * 1000 / $N" 3)"; }

echo "## Where the time of a small durable save goes"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo); Linux $(uname -r)"
echo "- scratch on $(findmnt -n -o FSTYPE -T "$SCRATCH" 2>/dev/null || echo '?'); N=$N runs per program and repetition, in round-robin blocks of $BLOCK; REPS=$REPS (median); load average $LOAD_START at start, $LOAD_END at end"
echo "- durable: $DURABLE_FROM (commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')); linked $(ldd "$DURABLE" 2>&1 | grep -q "statically linked" && echo statically || echo dynamically); variant without the interrupt handler: $NOSIG; dynamically linked: $DYNAMIC"
echo
echo "| program | wall per repetition (s) | median wall ms/run | median CPU ms/run |"
echo "| --- | --- | ---: | ---: |"
for tool in "${TOOLS[@]}"; do
    case $tool in
        c_empty) label='empty C program' ;;
        rust_empty) label='empty Rust program (`fn main() {}`)' ;;
        durable_version) label='`durable --version`' ;;
        minimal) label='`minimal_save T` (full sync)' ;;
        durable_nosig) label='`durable save T`, no interrupt handler' ;;
        durable_dynamic) label='`durable save T`, linked dynamically (`DURABLE_LINK=dynamic`)' ;;
        durable) label='`durable save T`' ;;
    esac
    echo "| $label | $(echo ${WALL[$tool]} | sed 's/ /, /g') | $(ms "${M[$tool]}") | $(ms "${C[$tool]}") |"
done
echo
echo "CPU is user+sys of the runs (bash's \`times\`), including the loop's fork+exec; it is less disturbed by other load than wall time."
echo
echo "| layer (difference of medians) | wall ms/run | CPU ms/run |"
echo "| --- | ---: | ---: |"
echo "| Rust std start-up (empty Rust − empty C) | $(delta rust_empty c_empty) |"
echo "| durable's binary and clap (\`durable --version\` − empty Rust) | $(delta durable_version rust_empty) |"
echo "| the interrupt handler (durable − durable without it) | $(delta durable durable_nosig) |"
echo "| the static link saves (durable linked dynamically − durable) | $(delta durable_dynamic durable) |"
echo "| the save itself in durable, beyond start-up (durable − \`durable --version\`) | $(delta durable durable_version) |"
echo "| the save itself in minimal_save, beyond start-up (minimal_save − empty C) | $(delta minimal c_empty) |"
echo "| total: durable − minimal_save | $(delta durable minimal) |"
echo
echo "Ratio to minimal_save (wall): durable $(calc "${M[durable]} / ${M[minimal]}" 2)×; without the handler $(calc "${M[durable_nosig]} / ${M[minimal]}" 2)×; linked dynamically $(calc "${M[durable_dynamic]} / ${M[minimal]}" 2)×."
