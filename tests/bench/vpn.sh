#!/bin/sh
# tests/bench/vpn.sh: the VPN benchmark in one command (issue 9 item 7): switchyard's VPN
# engine against its own terminator, side by side in one process: server CPU per GB
# through one /mux flow vs the terminator's own 100 MiB download, VPN handshakes vs plain
# TLS handshakes, RSS per idle VPN session. Installs what is missing (SY_BENCH_PKGS,
# Debian 12, as root), builds switchyard Release and the proto library in build-vbench/
# (or $SY_BUILD_DIR), then runs tests/bench/vpn.py with the arguments given, e.g.
#   tests/bench/vpn.sh                     full: 3 interleaved runs
#   tests/bench/vpn.sh --quick             trial: checks the procedure, not for numbers
#   tests/bench/vpn.sh --runs 5 --out /tmp/vb   also write report.md and raw.json there
# It is never part of ctest and never asserts a timing. Everything it starts listens on
# 127.0.0.1 and is stopped by pid when vpn.py exits; the temp dir (keys, site, configs) is
# removed unless --keep is given.
set -eu
SY_TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$SY_TOP/scripts/lib.sh"

sy_install_deps $SY_BUILD_PKGS $SY_BENCH_PKGS
dir=${SY_BUILD_DIR:-$SY_TOP/build-vbench}
# Only the daemon and the proto library (vpnload.c links it): the benchmark needs nothing
# else, and a half-finished test elsewhere in the tree must not stop it.
cmake -S "$SY_TOP" -B "$dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$dir" -j"$(nproc)" --target switchyard sy_proto
exec python3 "$SY_TOP/tests/bench/vpn.py" --switchyard "$dir/switchyard" --proto-lib "$dir/libsy_proto.a" "$@"
