#!/usr/bin/env bash
# Install what bench/run.sh and bench/log.sh need, from Debian's packages (run as root, or with
# sudo).
#
#   moreutils  sponge, the baseline of the "--sync none" row (run.sh)
#   time       GNU time, /usr/bin/time -v for peak RSS (bash's `time` keyword cannot do it)
#   strace     the syscall comparison of durable and bench/minimal_save.c (run.sh)
#   gcc        compiles bench/minimal_save.c (run.sh)
#   coreutils, diffutils, util-linux   dd, date, sort, cmp, diff, findmnt (on any Debian already);
#              log.sh's baselines and data generation are coreutils too: cat, cksum, sha256sum,
#              wc, tail, base64
#
# The Rust toolchain (cargo) is expected to be installed already: it builds durable itself.
set -euo pipefail

packages=(moreutils time strace gcc libc6-dev coreutils diffutils util-linux)

missing=()
for p in "${packages[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != *"install ok installed"* ]]; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "bench/setup.sh: everything is installed (${packages[*]})"
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi
echo "bench/setup.sh: installing ${missing[*]}"
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
