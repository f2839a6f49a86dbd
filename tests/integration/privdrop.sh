#!/bin/sh
# Scenario: the privilege drop keeps working (issue 8 item 7). Needs root (exit 77 without),
# and an unprivileged user: nobody, else the first user with a uid of 1000 or more.
# Covers:
#  - `switchyard -t` with a process.user that does not exist exits 2 with
#    "FILE:LINE:COLUMN: process.user: `NAME`: no such user"; the same at start;
#  - started as root with process.user, the daemon runs as that user (every uid and gid in
#    /proc/PID/status), and its privileged file helper (a child, still root) runs beside it;
#  - a certificate and key that only root can read (0600 root, in a 0700 directory, as
#    certbot's live/), and a configuration file and an include that only root can read
#    (0600 root, in a 0755 directory, as /etc/switchyard), are served and re-read:
#    after new root-only files replace them, SIGHUP makes the new certificate the one
#    openssl s_client sees (the drop used to make every such reload fail);
#  - the helper opens nothing the configuration does not name: a reload whose new file
#    names a key the old one did not works (the helper learns it again), and
#    /etc/shadow named nowhere stays unreadable (checked by the unit test test_privopen);
#  - SIGUSR1 as the dropped user: with the access log moved away (as logrotate does), a new
#    file appears in the log directory (writable by the user) and gets the next lines;
#  - the shipped conf.d/logrotate/switchyard (path, user and signal adapted) rotates the log
#    in a directory the user cannot write to: its `create` file gets the next lines;
#  - SIGTERM: the daemon exits 0 and the helper ends with it (socket EOF), by pid.
. "$(dirname "$0")/lib.sh"
sy_setup
[ "$(id -u)" = 0 ] || { echo "not root: skipped"; exit 77; }
U=nobody
getent passwd "$U" >/dev/null || U=$(getent passwd | awk -F: '$3 >= 1000 && $3 < 65534 { print $1; exit }')
[ -n "$U" ] || { echo "no unprivileged user: skipped"; exit 77; }
UID_U=$(id -u "$U")
echo "dropping to $U (uid $UID_U)"
IP=127.0.50.1
L=$(sy_port)

# -t and start with a user that does not exist.
printf 'process:\n  user: no-such-user-sy8\nlisteners:\n  - name: e\n    listen: ["%s:%s"]\n    kind: tls\n    routes:\n      - default: {reject: true}\n' "$IP" "$L" >"$T/nouser.yaml"
"$SWITCHYARD" -t -c "$T/nouser.yaml" >"$T/t.out" 2>&1
rc=$?
cat "$T/t.out"
[ "$rc" = 2 ] && grep -qF "$T/nouser.yaml:2:9: process.user: \`no-such-user-sy8\`: no such user" "$T/t.out" &&
	sy_ok || sy_bad "-t with a missing user: exit $rc"
timeout 10 "$SWITCHYARD" -c "$T/nouser.yaml" >"$T/t2.out" 2>&1
rc=$?
[ "$rc" = 2 ] && grep -qF "process.user: \`no-such-user-sy8\`: no such user" "$T/t2.out" && sy_ok ||
	sy_bad "start with a missing user: exit $rc: $(cat "$T/t2.out")"

# Root-only certificate, key, configuration and include.
mkdir -m 700 "$T/secret"
mkdir -m 755 "$T/etc"
mkdir -m 755 "$T/logs"
chown "$U" "$T/logs"
mkcert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-keyout "$T/secret/$1.key.new" -out "$T/secret/$1.crt.new" -subj "/CN=$2" \
		-addext "subjectAltName=DNS:a.test" >/dev/null 2>&1
	chmod 600 "$T/secret/$1.key.new" "$T/secret/$1.crt.new"
	mv "$T/secret/$1.key.new" "$T/secret/$1.key"
	mv "$T/secret/$1.crt.new" "$T/secret/$1.crt"
}
mkcert site first
cat >"$T/etc/sy.yaml" <<EOF2
include: [certs.yaml]
process: {user: $U, workers: 1, shutdown_timeout: 1s}
log: {level: info, access: "$T/logs/access.log"}
listeners:
  - name: edge
    listen: ["$IP:$L"]
    kind: tls
    routes:
      - default: {terminate: true}
terminator:
  site: {root: "$SY_SOURCE_DIR/conf.d/site"}
EOF2
printf 'terminator:\n  certificates:\n    - {cert: %s/site.crt, key: %s/site.key}\n' "$T/secret" "$T/secret" >"$T/etc/certs.yaml"
chmod 600 "$T/etc/sy.yaml" "$T/etc/certs.yaml"
su -s /bin/sh "$U" -c "cat '$T/secret/site.key'" >/dev/null 2>&1 && sy_bad "$U can read the key: the test proves nothing" || sy_ok

sy_switchyard sy "$T/etc/sy.yaml" || sy_bad "did not start: $(tail -5 "$T/sy.log")"
SYPID=$(cat "$T/sy.pid")
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$SYPID/status")
echo "daemon Uid: $uids"
[ "$uids" = "$UID_U $UID_U $UID_U $UID_U" ] && sy_ok || sy_bad "daemon uids: $uids, want $UID_U"
HP=$(sed -n 's/.*privileged file helper: pid \([0-9]*\).*/\1/p' "$T/sy.log")
[ -n "$HP" ] && [ "$(awk '/^PPid:/ { print $2 }' "/proc/$HP/status" 2>/dev/null)" = "$SYPID" ] &&
	[ "$(awk '/^Uid:/ { print $2 }' "/proc/$HP/status")" = 0 ] && sy_ok ||
	sy_bad "no root helper child: '$HP'"
[ -n "$HP" ] && SY_PIDS="$SY_PIDS $HP"
# The helper inherited no listening socket: only stdio and its socket.
[ -n "$HP" ] && n=$(ls "/proc/$HP/fd" | wc -l) && [ "$n" -le 4 ] && sy_ok || sy_bad "helper holds $n descriptors: $(ls -l /proc/$HP/fd)"

# served SERIAL: the subject CN of the certificate s_client is served.
served() {
	echo | timeout 10 openssl s_client -connect "$IP:$L" -servername a.test 2>/dev/null |
		openssl x509 -noout -subject 2>/dev/null | sed 's/.*CN *= *//'
}
s=$(served)
echo "served at start: $s"
[ "$s" = first ] && sy_ok || sy_bad "certificate at start: '$s'"

mkcert site second
kill -HUP "$SYPID"
sy_wait_log sy 'generation 2 in force|reload failed' 100
grep -E 'reload' "$T/sy.log" | tail -2
grep -q 'generation 2 in force' "$T/sy.log" && sy_ok || sy_bad "reload as $U failed: $(grep 'reload failed' "$T/sy.log")"
s=$(served)
echo "served after SIGHUP: $s"
[ "$s" = second ] && sy_ok || sy_bad "certificate after the reload: '$s'"

# A new file named only by the new configuration (a second key pair) is readable too.
mkcert other third
printf 'terminator:\n  certificates:\n    - {cert: %s/other.crt, key: %s/other.key}\n' "$T/secret" "$T/secret" >"$T/etc/certs.yaml.new"
chmod 600 "$T/etc/certs.yaml.new"
mv "$T/etc/certs.yaml.new" "$T/etc/certs.yaml"
kill -HUP "$SYPID"
sy_wait_log sy 'generation 3 in force|reload failed' 100
s=$(served)
echo "served after the second SIGHUP: $s"
[ "$s" = third ] && sy_ok || sy_bad "certificate named by the new include: '$s': $(grep 'reload failed' "$T/sy.log")"

# SIGUSR1 after logrotate moved the log away.
j=0
while [ ! -s "$T/logs/access.log" ] && [ $j -lt 100 ]; do sleep 0.05; j=$((j + 1)); done
[ -s "$T/logs/access.log" ] && sy_ok || sy_bad "no access lines before rotation"
mv "$T/logs/access.log" "$T/logs/access.log.1"
kill -USR1 "$SYPID"
sy_wait_log sy 'access log reopened|cannot reopen' 100
[ -f "$T/logs/access.log" ] && sy_ok || sy_bad "SIGUSR1 did not make a new log file: $(grep -i 'reopen' "$T/sy.log")"
s=$(served)
j=0
while [ ! -s "$T/logs/access.log" ] && [ $j -lt 100 ]; do sleep 0.05; j=$((j + 1)); done
grep -q 'end=' "$T/logs/access.log" 2>/dev/null && sy_ok || sy_bad "the new log file gets no lines"
[ "$(stat -c %U "$T/logs/access.log")" = "$U" ] && sy_ok || sy_bad "new log owned by $(stat -c %U "$T/logs/access.log")"

# The shipped logrotate snippet, with this test's path, user and pid: the file logrotate
# creates (owned by the user, in a directory the user cannot write to) gets the lines.
command -v logrotate >/dev/null || sy_bad "logrotate is not installed (scripts/test installs it)"
if command -v logrotate >/dev/null; then
	mkdir -m 755 "$T/rlogs"
	mv "$T/logs/access.log" "$T/rlogs/access.log"
	sed "$T/etc/sy.yaml" -e "s|$T/logs/access.log|$T/rlogs/access.log|" >"$T/etc/sy.yaml.new"
	chmod 600 "$T/etc/sy.yaml.new"
	mv "$T/etc/sy.yaml.new" "$T/etc/sy.yaml"
	kill -HUP "$SYPID"
	sy_wait_log sy 'generation 4 in force|reload failed' 100
	s=$(served)
	G=$(id -gn "$U")
	sed -e "s|/var/log/switchyard/access.log|$T/rlogs/access.log|" -e "s|create 0640 switchyard adm|create 0640 $U $G|" \
		-e "s|systemctl kill .*|kill -USR1 $SYPID|" "$SY_SOURCE_DIR/conf.d/logrotate/switchyard" >"$T/logrotate.conf"
	chmod 644 "$T/logrotate.conf"
	n0=$(grep -c 'access log reopened' "$T/sy.log")
	logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf" >"$T/logrotate.out" 2>&1 || sy_bad "logrotate: $(cat "$T/logrotate.out")"
	j=0
	while [ "$(grep -c 'access log reopened' "$T/sy.log")" -le "$n0" ] && [ $j -lt 100 ]; do sleep 0.05; j=$((j + 1)); done
	[ -f "$T/rlogs/access.log.1" ] && [ "$(stat -c %U "$T/rlogs/access.log")" = "$U" ] && sy_ok ||
		sy_bad "logrotate did not rotate: $(ls -l "$T/rlogs")"
	s=$(served)
	j=0
	while ! grep -q 'end=' "$T/rlogs/access.log" && [ $j -lt 100 ]; do sleep 0.05; j=$((j + 1)); done
	grep -q 'end=' "$T/rlogs/access.log" && sy_ok || sy_bad "the file logrotate made gets no lines: $(grep -i reopen "$T/sy.log" | tail -1)"
fi

# SIGTERM: both processes end.
kill -TERM "$SYPID"
i=0
while { kill -0 "$SYPID" 2>/dev/null || { [ -n "$HP" ] && kill -0 "$HP" 2>/dev/null; }; } && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
kill -0 "$SYPID" 2>/dev/null && sy_bad "daemon still runs" || sy_ok
[ -n "$HP" ] && kill -0 "$HP" 2>/dev/null && sy_bad "helper outlived the daemon" || sy_ok
wait "$SYPID"
rc=$?
[ "$rc" = 0 ] && sy_ok || sy_bad "exit status $rc"
grep -E 'Sanitizer|runtime error' "$T/sy.log" && sy_bad "sanitizer reports" || sy_ok
# Reloads keep the open access log (root created it; the user may not open it again).
grep -E ' error ' "$T/sy.log" && sy_bad "error lines in the log" || sy_ok
sy_done
