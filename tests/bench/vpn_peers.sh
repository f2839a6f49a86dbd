#!/bin/sh
# tests/bench/vpn_peers.sh: switchyard's VPN against the peers a user would pick instead, in
# one command (issue 10 item 4): shadowsocks-libev (ss-server + ss-local) and OpenVPN over
# TCP (in network namespaces it creates and deletes) beside switchyard + switchyard-client:
# a 1 GiB download through each, CPU per GB on both sides, time to first byte of a new flow,
# RSS per 1,000 idle sessions. Installs what is missing (SY_BENCH_PKGS and the peers' Debian
# packages, as root), builds switchyard Release, libsy_proto.a and switchyard-client (when
# client/ has it) in build-vpbench/ (or $SY_BUILD_DIR), then runs tests/bench/vpn_peers.py
# with the arguments given, e.g.
#   tests/bench/vpn_peers.sh                        full: 3 interleaved runs, every peer
#   tests/bench/vpn_peers.sh --quick                trial: checks the procedure, not for numbers
#   tests/bench/vpn_peers.sh --only ss,openvpn --out /tmp/vp   no switchyard (no build either)
# It is never part of ctest and never asserts a timing. Needs root (namespaces, TUN devices
# for OpenVPN). Everything it starts is stopped by pid and the namespaces are deleted when
# vpn_peers.py exits; the temp dir is removed unless --keep is given.
set -eu
SY_TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$SY_TOP/scripts/lib.sh"

# The peers and what the script itself calls (ip, taskset, curl, openssl).
VP_PKGS="shadowsocks-libev openvpn iproute2 util-linux curl openssl python3"

only=""
prev=""
for arg in "$@"; do
	[ "$prev" = "--only" ] && only=$arg
	case $arg in --only=*) only=${arg#--only=} ;; esac
	prev=$arg
done
case ",${only:-switchyard}," in
*,switchyard,*) with_sy=1 ;;
*) with_sy=0 ;;
esac

if [ "$with_sy" = 1 ]; then
	sy_install_deps $SY_BUILD_PKGS $SY_BENCH_PKGS $VP_PKGS
else
	sy_install_deps $VP_PKGS
fi
# The packaged shadowsocks-libev service is not wanted: the script starts its own ss-server.
# (On Debian the package enables it; policy-rc.d or no systemd keeps it from starting here.)

dir=${SY_BUILD_DIR:-$SY_TOP/build-vpbench}
if [ "$with_sy" = 1 ]; then
	cmake -S "$SY_TOP" -B "$dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
	# Only what the benchmark runs: a half-finished test elsewhere must not stop it.
	targets="switchyard sy_proto"
	if cmake --build "$dir" --target help 2>/dev/null | grep 'switchyard-client' >/dev/null; then
		targets="$targets switchyard-client"
	else
		echo "vpn_peers.sh: this tree has no switchyard-client target yet (client/ has not landed);" \
			"the switchyard side will be reported as not run" >&2
	fi
	# shellcheck disable=SC2086
	cmake --build "$dir" -j"$(nproc)" --target $targets
	client=$(find "$dir" -name switchyard-client -type f -perm -u+x 2>/dev/null | head -n 1)
	[ -n "$client" ] && set -- --client "$client" "$@"
	set -- --switchyard "$dir/switchyard" --proto-lib "$dir/libsy_proto.a" "$@"
fi
exec python3 "$SY_TOP/tests/bench/vpn_peers.py" "$@"
