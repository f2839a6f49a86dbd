#!/bin/sh
# Scenario: the Debian package (issue 11 item 3). Opt-in (SY_DEB_TEST=1, as root, with
# dpkg-buildpackage and debhelper): it builds the whole tree again (minutes) and installs
# the package on this machine, which would race with install.sh's check of a missing
# /etc/switchyard; without it the scenario is reported as skipped, never passed.
# Covers:
#  - `dpkg-buildpackage -us -uc -b` on a copy of the tree (git's files plus debian/);
#  - lintian reports no error (E:) on the .deb (skipped without lintian);
#  - `dpkg -i` installs /usr/sbin/switchyard, /etc/switchyard/switchyard.yaml (a conffile),
#    the unit in /lib/systemd/system, the man pages; the postinst created the user
#    switchyard and /var/lib/switchyard owned by it;
#  - `switchyard -t` on the installed configuration passes (default -c, no -c given);
#  - `dpkg --purge` removes the binary and the configuration.
. "$(dirname "$0")/lib.sh"
sy_setup
if [ "${SY_DEB_TEST:-0}" != 1 ]; then
	sy_skip "the Debian package test runs with SY_DEB_TEST=1 only (builds the tree, installs on this machine)"
	sy_done
	exit $?
fi
if [ "$(id -u)" != 0 ] || ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null; then
	sy_skip "needs root, dpkg-buildpackage and debhelper"
	sy_done
	exit $?
fi
if dpkg -s switchyard >/dev/null 2>&1; then
	sy_bad "a switchyard package is already installed; not touching it"
	sy_done
	exit $?
fi
S=$T/src/switchyard
mkdir -p "$S"
(cd "$SY_SOURCE_DIR" && { git ls-files; find debian -type f; } | sort -u |
	while read -r f; do [ -e "$f" ] && echo "$f"; done | tar -cf - -T -) | tar -xf - -C "$S"
(cd "$S" && dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1
rc=$?
sy_check "dpkg-buildpackage -us -uc -b (rc $rc: $(tail -2 "$T/build.log"))" [ "$rc" = 0 ]
DEB=$(ls "$T"/src/switchyard_*.deb 2>/dev/null | head -1)
sy_check "a .deb was built" [ -n "$DEB" ]
if command -v lintian >/dev/null; then
	lintian "$DEB" >"$T/lintian.log" 2>&1
	sy_check "lintian: no error ($(grep '^E:' "$T/lintian.log" | head -3))" sh -c "! grep -q '^E:' '$T/lintian.log'"
else
	sy_skip "lintian not installed"
fi
dpkg -i "$DEB" >"$T/dpkg.log" 2>&1
rc=$?
sy_check "dpkg -i (rc $rc: $(tail -2 "$T/dpkg.log"))" [ "$rc" = 0 ]
for f in /usr/sbin/switchyard /etc/switchyard/switchyard.yaml /lib/systemd/system/switchyard.service \
	/usr/share/man/man8/switchyard.8.gz /usr/share/man/man5/switchyard.yaml.5.gz \
	/usr/share/switchyard/site/index.html; do
	sy_check "package installed $f" [ -e "$f" ]
done
sy_check "conffile: /etc/switchyard/switchyard.yaml" \
	sh -c "dpkg-query -W -f='\${Conffiles}' switchyard | grep -q ' /etc/switchyard/switchyard.yaml '"
sy_check "postinst: user switchyard" getent passwd switchyard
sy_check "postinst: /var/lib/switchyard owned by switchyard" \
	[ "$(stat -c %U /var/lib/switchyard 2>/dev/null)" = switchyard ]
/usr/sbin/switchyard -t >"$T/t.log" 2>&1
rc=$?
sy_check "switchyard -t on the installed configuration (rc $rc: $(tail -1 "$T/t.log"))" [ "$rc" = 0 ]
sy_check "-t read /etc/switchyard/switchyard.yaml" grep -q 'configuration /etc/switchyard/switchyard.yaml is valid' "$T/t.log"
dpkg --purge switchyard >"$T/purge.log" 2>&1
rc=$?
sy_check "dpkg --purge (rc $rc)" [ "$rc" = 0 ]
sy_check "purged: no binary, no configuration" sh -c "[ ! -e /usr/sbin/switchyard ] && [ ! -e /etc/switchyard/switchyard.yaml ]"
sy_done
