#!/bin/sh
# tests/bench/proxy.sh: the side-by-side benchmark in one command. Installs what is missing
# (SY_BENCH_PKGS, Debian 12, as root), builds switchyard RelWithDebInfo in build-bench/, then
# runs tests/bench/bench.py (switchyard vs nginx stream vs haproxy, see README.md) with the
# arguments given, e.g.
#   tests/bench/proxy.sh                      full run: 3 interleaved runs, est. 5-8 minutes
#   tests/bench/proxy.sh --quick              short trial (script check, not for numbers)
#   tests/bench/proxy.sh --out /tmp/bench     also write report.md and raw.json there
# It is never part of ctest and never asserts a timing. Everything it starts listens on
# 127.0.0.1 and is stopped by pid when bench.py exits.
set -eu
SY_TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$SY_TOP/scripts/lib.sh"

sy_install_deps $SY_BUILD_PKGS $SY_BENCH_PKGS
dir=${SY_BUILD_DIR:-$SY_TOP/build-bench}
sy_build "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo
exec python3 "$SY_TOP/tests/bench/bench.py" --switchyard "$dir/switchyard" "$@"
