#!/bin/sh
# Scenario: skips are visible (issue 8 item 11). lib.sh's sy_done exits 77 when a part of a
# scenario could not run (sy_skip), and tests/CMakeLists.txt makes 77 ctest's "skipped".
# Covers:
#  - tiny scenarios on lib.sh: passes only -> 0; a pass and a skip -> 77 with the closing
#    line "1 passed, 0 failed, 1 skipped" and the reason; a failure and a skip -> 1 (a
#    failure is never hidden by a skip); a skip alone (nothing could run) -> 77; nothing
#    at all -> 1;
#  - the real observability scenario run with a PATH that has every program of /usr/bin
#    but promtool: it runs all its other checks, exits 77 and names promtool;
#  - this machine has what every scenario needs (promtool, chromium, ::1 on lo), so none
#    of them skips in the suite.
. "$(dirname "$0")/lib.sh"
sy_setup
DIR=$(cd "$(dirname "$0")" && pwd)

# mini NAME BODY: a scenario file $T/NAME.sh that sources lib.sh and runs BODY, then sy_done.
mini() {
	printf '. "%s/lib.sh"\nsy_setup\n%s\nsy_done\n' "$DIR" "$2" >"$T/$1.sh"
}
# expect NAME CODE [PATTERN]: runs $T/NAME.sh; its exit status must be CODE and its output
# must contain PATTERN.
expect() {
	out=$(sh "$T/$1.sh" 2>&1)
	rc=$?
	[ "$rc" = "$2" ] && sy_ok || sy_bad "$1: exit $rc, want $2 ($out)"
	if [ -n "${3:-}" ]; then
		case "$out" in *"$3"*) sy_ok ;; *) sy_bad "$1: no '$3' in '$out'" ;; esac
	fi
}
mini pass 'sy_ok; sy_ok'
expect pass 0 "2 passed, 0 failed, 0 skipped"
mini partial 'sy_ok; sy_skip "no frobnicator here"'
expect partial 77 "1 passed, 0 failed, 1 skipped"
expect partial 77 "no frobnicator here"
mini failskip 'sy_ok; sy_bad "broken"; sy_skip "no frobnicator here"'
expect failskip 1 "1 passed, 1 failed, 1 skipped"
mini whole 'sy_skip "nothing can run here"'
expect whole 77 "0 passed, 0 failed, 1 skipped"
mini empty ':'
expect empty 1 "0 passed, 0 failed, 0 skipped"

# observability.sh without promtool: a PATH with everything of /usr/bin but it.
mkdir -p "$T/bin"
for f in /usr/bin/*; do
	[ "${f##*/}" = promtool ] || ln -s "$f" "$T/bin/${f##*/}"
done
# (/bin is /usr/bin on a merged-/usr system: both entries go.)
NOPATH=$(printf '%s' "$PATH" | awk -v RS=: -v ORS=: -v b="$T/bin" '{ sub(/\n$/, "") } $0 == "/usr/bin" || $0 == "/bin" { $0 = b } { print }' | sed 's/:$//')
PATH=$NOPATH command -v promtool >/dev/null 2>&1 && sy_bad "promtool still on the reduced PATH" || sy_ok
PATH=$NOPATH sh "$DIR/observability.sh" >"$T/obs.out" 2>&1
rc=$?
[ "$rc" = 77 ] && sy_ok || sy_bad "observability.sh without promtool: exit $rc, want 77 ($(tail -n 5 "$T/obs.out"))"
grep -q 'SKIP: promtool not installed' "$T/obs.out" && sy_ok || sy_bad "observability.sh: the skip is not named"
grep -qE '^[1-9][0-9]* passed, 0 failed, 1 skipped$' "$T/obs.out" && sy_ok ||
	sy_bad "observability.sh: closing line '$(grep skipped "$T/obs.out")'"

# Nothing skips on this machine: what the scenarios would skip without is here.
command -v promtool >/dev/null 2>&1 && sy_ok || sy_bad "promtool missing: observability.sh skips a part"
[ -x /usr/bin/chromium ] && sy_ok || sy_bad "chromium missing: browser.sh fails"
python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null && sy_ok ||
	sy_bad "::1 is not on lo: passthrough.sh skips its IPv6 part"
sy_done
