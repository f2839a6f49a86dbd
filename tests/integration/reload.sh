#!/bin/sh
# Scenario: reload (SIGHUP) and stop (SIGTERM) (issue 3 item 6). Backends are python servers
# that answer each connection with their id ("A" or "B") and then echo; clients send a real
# ClientHello for a.test (python ssl) and read the answer.
# Covers:
#  - SIGHUP with a changed route (a.test: upstream ua -> ub) takes effect for new connections;
#  - an established connection (a python client holding a relayed session to A) keeps its
#    old route and upstream and still relays (echo) after that reload and after every later
#    one, and after SIGTERM until it finishes;
#  - a bad file on SIGHUP keeps the old configuration (new connections still go to B) and the
#    log line names file:line:col and the key; reloads_total{result="failed"} counts it;
#  - a bounded load loop (4 threads of sequential connections, 7 s, at most 5000 each)
#    through 20 SIGHUPs 0.3 s apart that flip the route between A and B has ZERO failed
#    connections, and both A and B answered;
#  - a reload that adds a listen address makes it accept (and route); one that removes it
#    makes it refuse (ECONNREFUSED, not a hang);
#  - switchyard_reloads_total{result="ok"} and switchyard_config_generation move (1 -> 24);
#  - SIGTERM: new connections are refused at once; the established relays keep working; the
#    one that finishes closes normally, the one that does not is closed when
#    shutdown_timeout (2s) expires; the process then exits 0 (between 1.5 s and 4 s after the
#    signal). A second process whose only connection finishes right after SIGTERM exits 0
#    well before its shutdown_timeout.
. "$(dirname "$0")/lib.sh"
sy_setup
# Everything this scenario listens on is on its own loopback address $IP, not 127.0.0.1:
# sy_port hands out ports of this scenario's slot (lib.sh), but with scenarios running in parallel
# another test's client could take such a port as its source port (or another switchyard,
# binding with SO_REUSEPORT, could share it silently) before it is bound here.
IP=127.0.43.1
# metric PORT KEY: one value from the admin listener on $IP (0 when absent), bounded in time.
metric() {
	curl -s --max-time 5 "http://$IP:$1/metrics" | awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }'
}
FLEET="python3 $SY_DIR/sy_fleet.py"

PA=$(sy_port) PB=$(sy_port) ADM=$(sy_port) L1=$(sy_port)
sy_start beA $FLEET backend --listen "$IP:$PA" --id A
sy_start beB $FLEET backend --listen "$IP:$PB" --id B
sy_wait_log beA listening && sy_wait_log beB listening || sy_bad "backends did not start"

# conf UPSTREAM [EXTRA_LISTEN]: writes $T/sy.yaml atomically (a.test -> UPSTREAM).
conf() {
	extra=""
	[ -n "${2:-}" ] && extra=", \"$IP:$2\""
	cat >"$T/sy.yaml.tmp" <<EOF
process: {workers: 1, shutdown_timeout: 2s}
log: {level: info, access: off}
admin: {listen: "$IP:$ADM"}
listeners:
  - name: edge
    listen: ["$IP:$L1"$extra]
    kind: tls
    routes:
      - sni: a.test
        upstream: $1
      - default: {reject: true}
upstreams:
  ua: {servers: ["$IP:$PA"]}
  ub: {servers: ["$IP:$PB"]}
EOF
	mv "$T/sy.yaml.tmp" "$T/sy.yaml"
}
conn() {
	p=$1
	shift
	$FLEET conn --connect "$IP:$p" --sni a.test "$@"
}
m() { metric "$ADM" "$1"; }
GEN=switchyard_config_generation
ROK='switchyard_reloads_total{result="ok"}'
RFAIL='switchyard_reloads_total{result="failed"}'
# hup N: sends SIGHUP and waits for "generation N in force".
hup() {
	kill -HUP "$(cat "$T/sy.pid")"
	sy_wait_log sy "reload: generation $1 in force" 100
}

conf ua
sy_switchyard sy "$T/sy.yaml" || { sy_bad "switchyard did not start: $(tail -3 "$T/sy.log")"; sy_done; exit 1; }
SYPID=$(cat "$T/sy.pid")
r=$(conn "$L1")
[ "$r" = A ] && sy_ok || sy_bad "generation 1: a.test not on A: $r"
[ "$(m "$GEN")" = 1 ] && [ "$(m "$ROK")" = 0 ] && sy_ok || sy_bad "generation metrics at start"

# An established session on generation 1.
sy_hold hold ' n=1 ok=1 failed=0 answers=A ' --connect "$IP:$L1" --sni a.test --max-time 55 || sy_bad "held session not on A: $(cat "$T/hold.log")"
# echo_held TAG: the held session still relays (one more "echo 0 ok" line in its log).
echo_held() {
	n0=$(grep -c '^echo 0 ok' "$T/hold.log")
	echo "echo 0" >>"$T/hold.ctl"
	i=0
	while [ $i -lt 100 ]; do
		[ "$(grep -c '^echo 0 ' "$T/hold.log")" -gt "$n0" ] && break
		sleep 0.05
		i=$((i + 1))
	done
	[ "$(grep -c '^echo 0 ok' "$T/hold.log")" -gt "$n0" ] && sy_ok || sy_bad "$1: held session does not relay: $(tail -1 "$T/hold.log")"
}
echo_held "before reload"

# --- changed route.
conf ub
hup 2 && sy_ok || sy_bad "reload to generation 2 not logged"
r=$(conn "$L1")
echo "after reload: a.test -> $r"
[ "$r" = B ] && sy_ok || sy_bad "changed route not in force after SIGHUP: $r"
echo_held "after reload"
[ "$(m "$GEN")" = 2 ] && [ "$(m "$ROK")" = 1 ] && sy_ok || sy_bad "metrics after one reload: gen=$(m "$GEN") ok=$(m "$ROK")"

# --- bad file: kept, and the log says where.
sed 's/upstream: ub/upstream: nowhere/' "$T/sy.yaml" >"$T/sy.yaml.tmp" && mv "$T/sy.yaml.tmp" "$T/sy.yaml"
kill -HUP "$SYPID"
sy_wait_log sy 'reload failed' 100 || true
grep 'reload failed' "$T/sy.log"
grep -q "reload failed, keeping generation 2: $T/sy.yaml:10:19: listeners\[0\]\.routes\[0\]\.upstream: unknown upstream" "$T/sy.log" \
	&& sy_ok || sy_bad "bad file on SIGHUP: no file:line:col log line"
r=$(conn "$L1")
[ "$r" = B ] && sy_ok || sy_bad "after a failed reload a.test -> $r, want B (old config)"
[ "$(m "$RFAIL")" = 1 ] && [ "$(m "$GEN")" = 2 ] && sy_ok || sy_bad "failed reload metrics: failed=$(m "$RFAIL") gen=$(m "$GEN")"
echo_held "after a failed reload"

# --- load through 20 reloads.
sy_start load $FLEET load --connect "$IP:$L1" --sni a.test --threads 4 --duration 7 --max 5000
sleep 0.5
g=2
for i in $(seq 1 20); do
	if [ $((i % 2)) = 1 ]; then conf ua; else conf ub; fi
	g=$((g + 1))
	kill -HUP "$SYPID"
	sleep 0.3
done
sy_wait_log sy "reload: generation $g in force" 100 || sy_bad "20 reloads: generation $g not reached"
sy_wait_log load '^load ' 400 || sy_bad "load loop did not finish"
res=$(grep '^load ' "$T/load.log")
echo "load through 20 reloads: $res"
case "$res" in *" failed=0 "*) sy_ok ;; *) sy_bad "connections failed during reloads: $res" ;; esac
case "$res" in *"ids=A:"*",B:"*) sy_ok ;; *) sy_bad "load loop did not see both routes: $res" ;; esac
tot=$(echo "$res" | sed 's/.*total=\([0-9]*\).*/\1/')
[ "$tot" -ge 100 ] && sy_ok || sy_bad "load loop too small to mean anything: $tot"
echo_held "after 20 reloads"
[ "$(m "$GEN")" = 22 ] && [ "$(m "$ROK")" = 21 ] && sy_ok || sy_bad "metrics after 21 reloads: gen=$(m "$GEN") ok=$(m "$ROK")"

# --- listen address added, then removed (the port is taken only now: a free port left
# unused for long may become some client's source port).
L2=$(sy_port)
conf ub "$L2"
hup 23 && sy_ok || sy_bad "reload adding $L2 not logged"
r=$(conn "$L2")
echo "added listen address: $r"
[ "$r" = B ] && sy_ok || sy_bad "added listen address does not route: $r"
conf ub
hup 24 && sy_ok || sy_bad "reload removing $L2 not logged"
r=$(conn "$L2" --timeout 3)
echo "removed listen address: $r"
[ "$r" = "ERR connect ConnectionRefusedError" ] && sy_ok || sy_bad "removed listen address does not refuse: $r"
r=$(conn "$L1")
[ "$r" = B ] && sy_ok || sy_bad "the kept address stopped routing: $r"
[ "$(m "$GEN")" = 24 ] && [ "$(m "$ROK")" = 23 ] && sy_ok || sy_bad "final metrics: gen=$(m "$GEN") ok=$(m "$ROK")"

# --- SIGTERM: refuse new, keep relaying, close the rest at shutdown_timeout, exit 0.
sy_hold hold2 ' n=1 ok=1 ' --connect "$IP:$L1" --sni a.test --max-time 30 || sy_bad "second held session did not start"
t0=$(date +%s%N)
kill -TERM "$SYPID"
sy_wait_log sy 'signal 15: stopping' 40 || sy_bad "SIGTERM not logged"
r=$(conn "$L1" --timeout 2 --time)
echo "after SIGTERM: new connection: $r"
case "$r" in "ERR connect ConnectionRefusedError"*) sy_ok ;; *) sy_bad "new connection after SIGTERM not refused: $r" ;; esac
echo_held "after SIGTERM"
echo "close 0" >>"$T/hold.ctl"
sy_wait_log hold '^close 0 done' || sy_bad "held session did not close"
sy_exit_ms "$SYPID" "$t0"
rc=$SY_RC ms=$SY_MS
echo "SIGTERM: exited $rc after $ms ms (shutdown_timeout 2s)"
[ "$rc" = 0 ] && sy_ok || sy_bad "exit status after SIGTERM: $rc"
[ "$ms" -ge 1500 ] && [ "$ms" -le 4000 ] && sy_ok || sy_bad "exit $ms ms after SIGTERM, want about 2000"
sy_wait_log hold2 '^allclosed' 40 && sy_ok || sy_bad "the unfinished session was not closed at shutdown_timeout"
grep -q 'shutdown_timeout reached, closing 1 connections' "$T/sy.log" && sy_ok \
	|| sy_bad "no shutdown_timeout log line: $(tail -3 "$T/sy.log")"
echo quit >>"$T/hold.ctl"
echo quit >>"$T/hold2.ctl"

# A process whose connections all finish exits before shutdown_timeout.
L3=$(sy_port)
sed "s/shutdown_timeout: 2s/shutdown_timeout: 20s/; s/$IP:$L1/$IP:$L3/" "$T/sy.yaml" >"$T/sy3.yaml"
sy_switchyard sy3 "$T/sy3.yaml" || sy_bad "third switchyard did not start: $(tail -3 "$T/sy3.log")"
sy_hold hold3 ' n=1 ok=1 ' --connect "$IP:$L3" --sni a.test --max-time 30 || sy_bad "third held session did not start"
P3=$(cat "$T/sy3.pid")
t0=$(date +%s%N)
kill -TERM "$P3"
sy_wait_log sy3 'signal 15: stopping' 40 || sy_bad "SIGTERM not logged (third)"
echo "echo 0" >>"$T/hold3.ctl"
echo "close 0" >>"$T/hold3.ctl"
sy_wait_log hold3 '^close 0 done' || sy_bad "third held session did not close"
grep -q '^echo 0 ok' "$T/hold3.log" && sy_ok || sy_bad "relay after SIGTERM (third): $(cat "$T/hold3.log")"
sy_exit_ms "$P3" "$t0"
rc=$SY_RC ms=$SY_MS
echo "SIGTERM with connections finishing: exited $rc after $ms ms (shutdown_timeout 20s)"
[ "$rc" = 0 ] && [ "$ms" -lt 3000 ] && sy_ok || sy_bad "drain did not end when the last connection closed: rc=$rc $ms ms"
echo quit >>"$T/hold3.ctl"

grep -E '^[0-9T:.-]+Z error ' "$T/sy.log" | grep -v 'reload failed' && sy_bad "unexpected error lines" || sy_ok
# Under -DSWITCHYARD_SANITIZE=ON, leaks and errors at exit are reported in the logs.
grep -E 'Sanitizer|runtime error' "$T/sy.log" "$T/sy3.log" && sy_bad "sanitizer reports" || sy_ok
sy_done
