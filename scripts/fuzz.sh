#!/usr/bin/env bash
# Run every fuzz target (fuzz/README.md) for a bounded time and report, per target, the
# executions, seconds, corpus size and crashes, from libFuzzer's final stats.
#
#   scripts/fuzz.sh [SECONDS] [TARGET…]      SECONDS per target (default 60); all targets by default
#
# DURABLE_RELIABILITY_OUT=FILE appends one JSON line per target to FILE:
#   {"part":"fuzz","target":…,"seconds":…,"executions":…,"inputs":…,"crashes":…}
# FUZZ_SANITIZER=address builds with ASan (default none: the code under test is safe Rust, and
# ASan halves the executions per second). Needs cargo-fuzz (`cargo install cargo-fuzz --locked`)
# and a C++ compiler (libFuzzer is C++); runs on the stable toolchain through RUSTC_BOOTSTRAP=1.
# Exits 1 if a target crashed (libFuzzer stops that target at its first crash): the input is
# kept in fuzz/artifacts/TARGET/, libFuzzer's output in fuzz/logs/TARGET.log.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-60}
[ $# -gt 0 ] && shift
case $seconds in '' | *[!0-9]*)
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET…]" >&2
  exit 2
  ;;
esac
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2
  exit 2
fi
# cargo-fuzz passes nightly-only flags (-Zsanitizer, sancov passes); only stable exists here.
export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-none}
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi

mkdir -p logs
echo "building ${#targets[@]} fuzz targets (sanitizer: $sanitizer)"
if ! cargo fuzz build --sanitizer "$sanitizer" >logs/build.log 2>&1; then
  tail -30 logs/build.log >&2
  echo "fuzz.sh: the fuzz targets do not build (fuzz/logs/build.log)" >&2
  exit 2
fi
# Seeds: logs and journals from the real binary (idempotent, a second or two).
./seed.sh >/dev/null

# Scratch files of the checks go here (tmpfs when there is one), gone with the run even when a
# crash leaves some behind.
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
DURABLE_FUZZ_TMP=$(mktemp -d "$base/durable-fuzz.XXXXXX")
export DURABLE_FUZZ_TMP
trap 'rm -rf "$DURABLE_FUZZ_TMP"' EXIT

count_crashes() {
  find "artifacts/$1" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
    -o -name 'timeout-*' -o -name 'oom-*' \) 2>/dev/null | wc -l
}
stat_of() { sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$2" | tail -1; }

printf '%-22s %8s %12s %8s %8s\n' target seconds executions inputs crashes
failed=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  regressions=../tests/fuzz_regressions/$t
  [ -d "$regressions" ] || regressions=
  before=$(count_crashes "$t")
  t0=$(date +%s.%N)
  # The first corpus directory receives new inputs; the committed regressions are read only.
  # -timeout: an input that takes 10 s is a hang (reported as a crash).
  set +e
  cargo fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" ${regressions:+"$regressions"} -- \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=10 >"logs/$t.log" 2>&1
  status=$?
  set -e
  t1=$(date +%s.%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  execs=$(stat_of number_of_executed_units "logs/$t.log")
  inputs=$(find "corpus/$t" -type f | wc -l)
  crashes=$(($(count_crashes "$t") - before))
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    # libFuzzer failed without leaving an input (it could not start, say): still a failure.
    crashes=1
  fi
  printf '%-22s %8s %12s %8s %8s\n' "$t" "$secs" "${execs:-0}" "$inputs" "$crashes"
  if [ -n "${DURABLE_RELIABILITY_OUT:-}" ]; then
    printf '{"part":"fuzz","target":"%s","seconds":%s,"executions":%s,"inputs":%s,"crashes":%s}\n' \
      "$t" "$secs" "${execs:-0}" "$inputs" "$crashes" >>"$DURABLE_RELIABILITY_OUT"
  fi
  if [ "$crashes" -gt 0 ]; then
    failed=1
    grep -E 'panicked at|allocation guard|ERROR: libFuzzer|Test unit written' "logs/$t.log" \
      | sed 's/^/    /' | head -8 >&2 || tail -20 "logs/$t.log" >&2
    echo "    reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s $sanitizer $t artifacts/$t/<file>" >&2
  fi
done
exit "$failed"
