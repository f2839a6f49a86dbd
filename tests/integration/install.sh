#!/bin/sh
# Scenario: the install layout (issue 11 items 1 and 2): `cmake --install` of this build
# tree into DESTDIR temp dirs.
# Covers:
#  - --prefix /usr: sbin/switchyard (executable), bin/switchyard-client when the build has
#    that target, /etc/switchyard/switchyard.yaml and /etc/switchyard/conf.d/,
#    /etc/logrotate.d/switchyard, share/switchyard/{site,examples,switchyard.yaml,
#    systemd/tun.conf}, man pages switchyard(8) and switchyard.yaml(5), the unit,
#    sysusers.d (user switchyard) and tmpfiles.d (/var/lib/switchyard) entries;
#  - the installed configuration names only absolute paths that the install created (the
#    site root under /usr/share/switchyard), and `-t` passes on it with those paths moved
#    under DESTDIR; the installed binary then serves the installed decoy site from it;
#  - an operator's edits to /etc/switchyard/switchyard.yaml and /etc/logrotate.d/switchyard
#    survive a second install, which says it kept them; the shipped copy is refreshed;
#  - the installed binary's default -c is /etc/switchyard/switchyard.yaml: --help says so
#    and never names the source tree, and without -c it reads that path (never the demo
#    file), while the build tree's binary still falls back to the demo;
#  - the unit names the installed binary and is clean under `systemd-analyze verify`
#    (ExecStart paths moved under DESTDIR; skipped when systemd-analyze is missing);
#  - --prefix /opt/sy: the unit and the configuration follow the install-time prefix, and
#    the configuration still goes to /etc/switchyard (the daemon's compiled-in default).
. "$(dirname "$0")/lib.sh"
sy_setup
: "${SY_BUILD_DIR:?run under ctest, or set SY_BUILD_DIR}"
D=$T/root
DESTDIR=$D cmake --install "$SY_BUILD_DIR" --prefix /usr >"$T/install1.log" 2>&1 ||
	sy_bad "cmake --install failed: $(tail -3 "$T/install1.log")"

for f in usr/share/switchyard/site/index.html usr/share/switchyard/site/404.html \
	usr/share/switchyard/examples/yunohost-passthrough.yaml \
	usr/share/switchyard/examples/vpn-with-decoy.yaml usr/share/switchyard/switchyard.yaml \
	usr/share/switchyard/systemd/tun.conf etc/switchyard/switchyard.yaml \
	etc/logrotate.d/switchyard usr/lib/systemd/system/switchyard.service \
	usr/lib/sysusers.d/switchyard.conf usr/lib/tmpfiles.d/switchyard.conf \
	usr/share/man/man8/switchyard.8 usr/share/man/man5/switchyard.yaml.5; do
	sy_check "installed: /$f" [ -f "$D/$f" ]
done
sy_check "installed: /usr/sbin/switchyard is executable" [ -x "$D/usr/sbin/switchyard" ]
sy_check "installed: /etc/switchyard/conf.d/" [ -d "$D/etc/switchyard/conf.d" ]
if [ -x "$SY_BUILD_DIR/switchyard-client" ]; then
	sy_check "installed: /usr/bin/switchyard-client" [ -x "$D/usr/bin/switchyard-client" ]
else
	sy_check "no switchyard-client in this build: none installed" [ ! -e "$D/usr/bin/switchyard-client" ]
fi
sy_check "sysusers.d: user switchyard with home /var/lib/switchyard" \
	grep -qE '^u switchyard - ".*" /var/lib/switchyard ' "$D/usr/lib/sysusers.d/switchyard.conf"
sy_check "tmpfiles.d: /var/lib/switchyard owned by switchyard" \
	grep -qE '^d /var/lib/switchyard 0750 switchyard switchyard' "$D/usr/lib/tmpfiles.d/switchyard.conf"
U=$D/usr/lib/systemd/system/switchyard.service
sy_check "unit: ExecStart is the installed binary on the installed configuration" \
	grep -qx 'ExecStart=/usr/sbin/switchyard -c /etc/switchyard/switchyard.yaml' "$U"
sy_check "unit: ExecStartPre checks it first" \
	grep -qx 'ExecStartPre=/usr/sbin/switchyard -t -c /etc/switchyard/switchyard.yaml' "$U"
sy_check "unit: Type=notify" grep -qx 'Type=notify' "$U"
sy_check "no build-tree path in the installed text files" \
	sh -c "! grep -rl '$SY_SOURCE_DIR\|$SY_BUILD_DIR\|@SY_' '$D/etc' '$D/usr/lib' '$D/usr/share/switchyard'"
sy_check "the binary names no source-tree configuration" \
	sh -c "! '$D/usr/sbin/switchyard' --help | grep -q '$SY_SOURCE_DIR'"
sy_check "--help: the default configuration is /etc/switchyard/switchyard.yaml" \
	sh -c "'$D/usr/sbin/switchyard' --help | grep -q 'Default: /etc/switchyard/switchyard.yaml'"

# Every absolute path the installed configuration uses (outside comments) was installed.
C=$D/etc/switchyard/switchyard.yaml
paths=$(sed 's/#.*//' "$C" | grep -oE '(^|[ :\[,])/[A-Za-z0-9_./-]+' | sed 's/^[ :\[,]//')
sy_check "the installed configuration names absolute paths" [ -n "$paths" ]
for p in $paths; do
	sy_check "configured path $p exists in the install" [ -e "$D$p" ]
done
# -t on it with those paths moved under DESTDIR (beside it, so conf.d/*.yaml resolves there).
sed "s#/usr/share/switchyard#$D/usr/share/switchyard#g; s#/etc/switchyard#$D/etc/switchyard#g" \
	"$C" >"$D/etc/switchyard/destdir-test.yaml"
"$D/usr/sbin/switchyard" -t -c "$D/etc/switchyard/destdir-test.yaml" >"$T/t.log" 2>&1
rc=$?
sy_check "-t on the installed configuration (paths under DESTDIR): exit 0 (got $rc: $(tail -1 "$T/t.log"))" [ "$rc" = 0 ]
# And it serves the installed decoy site (loopback ports of our own).
P1=$(sy_port) P2=$(sy_port) ADM=$(sy_port)
sed "s#127.0.0.1:8443#127.0.0.1:$P1#; s#127.0.0.1:8080#127.0.0.1:$P2#; s#127.0.0.1:9090#127.0.0.1:$ADM#" \
	"$D/etc/switchyard/destdir-test.yaml" >"$D/etc/switchyard/destdir-run.yaml"
sy_switchyard inst "$D/etc/switchyard/destdir-run.yaml" || sy_bad "the installed binary did not start"
sy_check "installed site over HTTP" sh -c \
	"curl -s -m 5 http://127.0.0.1:$P2/ | cmp -s - '$D/usr/share/switchyard/site/index.html'"
sy_check "installed site over TLS" sh -c \
	"curl -sk -m 5 https://127.0.0.1:$P1/ | cmp -s - '$D/usr/share/switchyard/site/index.html'"
sy_stop_clean inst
rm -f "$D/etc/switchyard/destdir-test.yaml" "$D/etc/switchyard/destdir-run.yaml"

# Without -c: the installed binary reads /etc/switchyard/switchyard.yaml, never the demo.
"$D/usr/sbin/switchyard" -t >"$T/noc.log" 2>&1
rc=$?
sy_check "installed binary without -c names /etc/switchyard/switchyard.yaml" \
	grep -q 'configuration /etc/switchyard/switchyard.yaml ' "$T/noc.log"
sy_check "installed binary without -c never reads the demo" sh -c "! grep -q '$SY_SOURCE_DIR' '$T/noc.log'"
if [ -e /etc/switchyard/switchyard.yaml ]; then
	sy_skip "this machine has /etc/switchyard/switchyard.yaml: the build tree's demo fallback is not reachable"
else
	sy_check "installed binary without -c, no /etc file: exit 2 (got $rc)" [ "$rc" = 2 ]
	"$SWITCHYARD" -t >"$T/build-noc.log" 2>&1
	sy_check "the build tree's binary without -c falls back to the demo" \
		grep -q "configuration $SY_SOURCE_DIR/conf.d/switchyard.yaml is valid" "$T/build-noc.log"
fi

# A second install keeps the operator's files.
echo "# operator edit" >>"$C"
echo "# operator edit" >>"$D/etc/logrotate.d/switchyard"
echo "# stale" >>"$D/usr/share/switchyard/switchyard.yaml"
# An older install (cmake installs a file only when it differs from, or is older than, the
# build's): the shipped copy must be replaced, unlike the operator's.
touch -d '2000-01-01' "$D/usr/share/switchyard/switchyard.yaml" "$C" "$D/etc/logrotate.d/switchyard"
DESTDIR=$D cmake --install "$SY_BUILD_DIR" --prefix /usr >"$T/install2.log" 2>&1 ||
	sy_bad "second cmake --install failed"
sy_check "reinstall keeps the operator's switchyard.yaml" grep -q '^# operator edit$' "$C"
sy_check "reinstall keeps the operator's logrotate snippet" \
	grep -q '^# operator edit$' "$D/etc/logrotate.d/switchyard"
sy_check "reinstall says it kept them" sh -c \
	"grep -q 'Kept (exists, not overwritten): $C' '$T/install2.log' && grep -q 'Kept.*logrotate.d/switchyard' '$T/install2.log'"
sy_check "reinstall refreshes the shipped copy" sh -c \
	"! grep -q '^# stale' '$D/usr/share/switchyard/switchyard.yaml'"

# systemd-analyze verify: clean (no output at all) on the installed unit.
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$T/units"
	sed "s#=/usr/sbin/switchyard#=$D/usr/sbin/switchyard#" "$U" >"$T/units/switchyard.service"
	systemd-analyze verify --man=no "$T/units/switchyard.service" >"$T/verify.log" 2>&1
	rc=$?
	sy_check "systemd-analyze verify: exit 0 and no complaint (rc $rc: $(head -3 "$T/verify.log"))" \
		sh -c "[ $rc = 0 ] && [ ! -s '$T/verify.log' ]"
	mkdir -p "$T/units/switchyard.service.d"
	cp "$D/usr/share/switchyard/systemd/tun.conf" "$T/units/switchyard.service.d/"
	(cd "$T/units" && SYSTEMD_UNIT_PATH="$T/units:" systemd-analyze verify --man=no switchyard.service) \
		>"$T/verify-tun.log" 2>&1
	rc=$?
	sy_check "systemd-analyze verify with the TUN drop-in: clean (rc $rc: $(head -3 "$T/verify-tun.log"))" \
		sh -c "[ $rc = 0 ] && [ ! -s '$T/verify-tun.log' ]"
else
	sy_skip "systemd-analyze not installed: the unit is not verified"
fi

# The installed man pages render without a warning (groff -ww; mandoc -Tlint at warning
# level when installed; man -l as a reader would).
for m in "$D/usr/share/man/man8/switchyard.8" "$D/usr/share/man/man5/switchyard.yaml.5"; do
	out=$(groff -mandoc -ww -z "$m" 2>&1)
	sy_check "groff -ww: $m renders cleanly ($out)" [ -z "$out" ]
	out=$(MANWIDTH=80 man -l "$m" 2>&1 >/dev/null)
	sy_check "man -l: $m renders cleanly ($out)" [ -z "$out" ]
	if command -v mandoc >/dev/null 2>&1; then
		out=$(mandoc -Tlint -Wwarning "$m" 2>&1)
		sy_check "mandoc -Tlint -Wwarning: $m is clean ($out)" [ -z "$out" ]
	else
		sy_skip "mandoc not installed: man pages not linted"
	fi
done

# Another prefix: what names a path follows it; the configuration stays in /etc.
D2=$T/root2
DESTDIR=$D2 cmake --install "$SY_BUILD_DIR" --prefix /opt/sy >"$T/install3.log" 2>&1 ||
	sy_bad "cmake --install --prefix /opt/sy failed"
sy_check "/opt/sy: binary in /opt/sy/sbin" [ -x "$D2/opt/sy/sbin/switchyard" ]
sy_check "/opt/sy: unit runs /opt/sy/sbin/switchyard" \
	grep -qx 'ExecStart=/opt/sy/sbin/switchyard -c /etc/switchyard/switchyard.yaml' \
	"$D2/opt/sy/lib/systemd/system/switchyard.service"
sy_check "/opt/sy: configuration in /etc/switchyard, site root in /opt/sy/share" \
	grep -qE '^ +root: /opt/sy/share/switchyard/site$' "$D2/etc/switchyard/switchyard.yaml"

sy_done
