#!/bin/sh
# Scenario: the command-line contract of DESIGN.md §4 against the real binary.
# Covers: --help and --version (exit 0, content), unknown options and stray arguments
# (exit 2), `-t -c` on the shipped demo (exit 0) and on every file in conf.d/examples/ (exit 0,
# or exit 2 naming only a production certificate/site file this machine lacks; an example's
# `process.user: switchyard` that does not exist here is an exit 2 at its line),
# `-t` on a bad file (exit 2, "file:line:column: key: ..." on stderr), -t on a missing file,
# and a plain run: it serves, then exits 0 on SIGTERM.
set -u
: "${SWITCHYARD:?set by ctest}" "${SY_SOURCE_DIR:?set by ctest}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# expect_exit CODE CMD...: runs CMD, output in $tmp/out and $tmp/err, checks the exit code.
expect_exit() {
	want=$1
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" = "$want" ]; then ok; else bad "$* exited $got, want $want; stderr: $(head -3 "$tmp/err")"; fi
}

expect_exit 0 "$SWITCHYARD" --help
grep -q '^Usage: switchyard' "$tmp/out" && ok || bad "--help has no Usage line"
grep -q -- '--test' "$tmp/out" && ok || bad "--help does not document --test"
expect_exit 0 "$SWITCHYARD" -h
expect_exit 0 "$SWITCHYARD" --version
grep -q '^switchyard [0-9]' "$tmp/out" && ok || bad "--version prints no version"
grep -q 'OpenSSL 3' "$tmp/out" && ok || bad "--version does not name OpenSSL 3"
expect_exit 2 "$SWITCHYARD" --no-such-option
grep -q "Try 'switchyard --help'" "$tmp/err" && ok || bad "unknown option gives no hint"
expect_exit 2 "$SWITCHYARD" -t stray
expect_exit 2 "$SWITCHYARD" -v

expect_exit 0 "$SWITCHYARD" -t -c "$SY_SOURCE_DIR/conf.d/switchyard.yaml"
grep -q 'is valid' "$tmp/out" && ok || bad "-t on the demo does not say valid"
expect_exit 0 "$SWITCHYARD" -t -v -c "$SY_SOURCE_DIR/conf.d/switchyard.yaml"
n=0
# Examples name production files (/etc/letsencrypt/..., /var/www/...) that a test machine
# does not have; -t opens them, as a start would. So an example passes when it is valid, or
# when its only complaint is such a missing file: the configuration itself parsed and checked.
# They also name `process.user: switchyard`, which -t requires to exist: where it does not,
# -t must say so at the user's line, and a copy with `user: root` (paths are absolute) is
# checked as above.
# check_example FILE NAME: -t on FILE (reported as NAME) is valid or lacks only such a file.
check_example() {
	"$SWITCHYARD" -t -c "$1" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc = 0 ]; then
		ok
	elif [ $rc = 2 ] && [ "$(wc -l <"$tmp/err")" = 2 ] &&
	    grep -qE "^$1: terminator\.(certificates\[[0-9]+\]\.(cert|key)|site\.root|vpn\.(identity_key|prekey_bundle|clients)): /[^:]+: No such file or directory\$" "$tmp/err"; then
		ok
	else
		bad "$2: -t exited $rc: $(head -2 "$tmp/err")"
	fi
}
for f in "$SY_SOURCE_DIR"/conf.d/examples/*.yaml; do
	n=$((n + 1))
	if grep -q '^  user: switchyard' "$f" && ! getent passwd switchyard >/dev/null; then
		"$SWITCHYARD" -t -c "$f" >"$tmp/out" 2>"$tmp/err"
		rc=$?
		line=$(grep -n '^  user: switchyard' "$f" | cut -d: -f1)
		[ $rc = 2 ] && grep -qxF "$f:$line:9: process.user: \`switchyard\`: no such user" "$tmp/err" && ok ||
			bad "$f: -t with a missing user exited $rc: $(head -1 "$tmp/err")"
		sed 's/^  user: switchyard/  user: root/' "$f" >"$tmp/example.yaml"
		check_example "$tmp/example.yaml" "$f (user: root)"
	else
		check_example "$f" "$f"
	fi
done
[ "$n" -ge 4 ] && ok || bad "expected at least 4 example configurations, found $n"

# A bad file: the message names file, line, column and key.
printf 'listeners:\n  - name: a\n    listen: 127.0.0.1:8443\n    kind: tls\n    routes:\n      - sni: a.example\n        upstream: nowhere\n' >"$tmp/bad.yaml"
expect_exit 2 "$SWITCHYARD" -t -c "$tmp/bad.yaml"
grep -q "^$tmp/bad.yaml:7:19: listeners\[0\]\.routes\[0\]\.upstream: " "$tmp/err" && ok \
	|| bad "bad file message: $(head -1 "$tmp/err")"
grep -q 'test failed' "$tmp/err" && ok || bad "-t failure not summarised"

expect_exit 2 "$SWITCHYARD" -t -c "$tmp/does-not-exist.yaml"
grep -q "does-not-exist.yaml" "$tmp/err" && ok || bad "missing file not named"

# A plain run serves until SIGTERM, then exits 0 (bounded waits: 5 s each).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
printf 'listeners:\n  - name: a\n    listen: 127.0.0.1:%s\n    kind: tls\n    routes:\n      - default: {reject: true}\n' "$port" >"$tmp/run.yaml"
"$SWITCHYARD" -c "$tmp/run.yaml" 2>"$tmp/run.err" &
pid=$!
i=0
while ! grep -q 'generation 1)' "$tmp/run.err" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
grep -q 'generation 1)' "$tmp/run.err" && ok || bad "plain run did not start: $(head -3 "$tmp/run.err")"
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
if kill -0 "$pid" 2>/dev/null; then
	kill -9 "$pid"
	bad "plain run did not stop on SIGTERM"
fi
wait "$pid"
rc=$?
[ "$rc" = 0 ] && ok || bad "plain run exited $rc after SIGTERM"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
