#!/bin/sh
# tests/bench/term.sh: the terminator benchmark in one command (issue 4 item 8): switchyard's
# in-process TLS terminator against nginx serving the same files with the same ECDSA P-256
# certificate, one worker each, servers pinned to one CPU and the load client to the other,
# interleaved runs, medians, ratios switchyard/nginx. Installs what is missing
# (SY_BENCH_PKGS, Debian 12, as root), builds switchyard Release in build-tbench/ (or
# $SY_BUILD_DIR), then runs tests/bench/term.py with the arguments given, e.g.
#   tests/bench/term.sh                          full: 3 runs, 10 s per test, 10 x 100 MiB
#   tests/bench/term.sh --quick                  trial: checks the procedure, not for numbers
#   tests/bench/term.sh --runs 5 --out /tmp/tb   also write report.md and raw.json there
# It is never part of ctest and never asserts a timing. Everything it starts listens on
# 127.0.0.1 and is stopped by pid when term.py exits; the temp dir (site, certificate,
# configs) is removed unless --keep is given.
set -eu
SY_TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$SY_TOP/scripts/lib.sh"

sy_install_deps $SY_BUILD_PKGS $SY_BENCH_PKGS
dir=${SY_BUILD_DIR:-$SY_TOP/build-tbench}
# Only the daemon: the benchmark needs nothing else, and a half-finished test elsewhere in
# the tree must not stop it.
cmake -S "$SY_TOP" -B "$dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$dir" -j"$(nproc)" --target switchyard
exec python3 "$SY_TOP/tests/bench/term.py" --switchyard "$dir/switchyard" "$@"
