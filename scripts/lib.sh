# Shared by scripts/demo, scripts/test and scripts/fuzz: the Debian packages switchyard
# needs and one function that installs whichever are missing. Sourced, never run.

# Build: compiler, CMake, Ragel and the five libraries.
SY_BUILD_PKGS="build-essential cmake pkg-config ragel libssl-dev libsodium-dev libevent-dev libyaml-dev"
# Tests: clang (second compiler, sanitizers, libFuzzer) and the real peers the tests talk to.
# prometheus: only for promtool, which lints /metrics in tests/integration/observability.sh.
# chromium: the headless browser of tests/integration/browser.sh (loads the decoy site).
# python3-cryptography: an implementation of X25519/Ed25519/ChaCha20-Poly1305 independent of ours,
# for keytool.sh and the test r-vpn server of vpnc.sh (a fresh Debian has no pip packages).
# logrotate: runs the shipped conf.d/logrotate/switchyard in tests/integration/privdrop.sh.
# dnsmasq-base: the real resolver (the binary, without the system service) that
# tests/integration/vpn_dns.sh starts on 127.0.0.1 for the VPN /dns path.
# iproute2: `ip netns` for the /tun scenario (tests/integration/vpn_tun.sh).
# systemd, mandoc, groff-base: `systemd-analyze verify` of the unit and the man page lint in
# tests/integration/install.sh.
# strace: tests/integration/yield.sh watches the worker poll between a bulk relay's turns.
SY_TEST_PKGS="clang libclang-rt-14-dev nginx libnginx-mod-stream haproxy curl openssl python3 gnutls-bin prometheus chromium logrotate dnsmasq-base python3-cryptography iproute2 systemd mandoc groff-base strace"
# The Debian package test (tests/integration/deb.sh, SY_DEB_TEST=1, run by .ci/run).
SY_DEB_PKGS="dpkg-dev debhelper fakeroot lintian"
# Benchmark (tests/bench/proxy.sh): the peers, the C compiler and OpenSSL headers for the load
# client tests/bench/tlsload.c, and perf for profiling.
SY_BENCH_PKGS="build-essential libssl-dev nginx libnginx-mod-stream haproxy curl openssl python3 linux-perf"

# sy_install_deps PKG...: apt-get installs the packages that are not installed yet.
sy_install_deps() {
	missing=""
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing="$missing $p"
		fi
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "switchyard: missing Debian packages:$missing" >&2
		echo "switchyard: run as root, or: apt-get install$missing" >&2
		return 1
	fi
	echo "switchyard: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || return 1
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null || return 1
	# The nginx package starts a system nginx on :80; the tests run their own instances.
	if echo "$missing" | grep -q nginx && command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now nginx >/dev/null 2>&1 || true
	fi
	# The prometheus package starts a server on :9090, the demo's admin port; we need promtool only.
	if echo "$missing" | grep -q prometheus && command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now prometheus >/dev/null 2>&1 || true
	fi
	return 0
}

# sy_build DIR [CMAKE ARGS...]: configures and builds switchyard in DIR.
sy_build() {
	dir=$1
	shift
	cmake -S "$SY_TOP" -B "$dir" "$@" >/dev/null || return 1
	cmake --build "$dir" -j"$(nproc)" || return 1
}
