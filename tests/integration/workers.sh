#!/bin/sh
# Scenario: several workers (issue 3 item 7): `process.workers: 2` and `workers: auto`.
# Backends are python servers that answer each connection with their id; the upstreams send
# PROXY v2, and the backend reads the accepting worker's number from the UNIQUE_ID TLV
# (router/conn.c writes the worker id into bytes 8-9 of it), so every answer says which
# worker carried the connection ("A w=1").
# Covers, for workers: 2 and for workers: auto (= the number of online CPUs, read from the
# start log line and compared with getconf _NPROCESSORS_ONLN):
#  - the threads exist (/proc/<pid>/task count >= workers + 1) and each worker has its own
#    SO_REUSEPORT listening socket (ss shows `workers` sockets on the port);
#  - 40 connections all succeed and more than one worker carried them (when workers >= 2);
#  - /metrics counts them per worker: switchyard_worker_accepted_connections_total{worker="N"}
#    equals, for every worker, the number of answers that worker carried (so the lines sum to
#    40), and switchyard_worker_active_connections{worker="N"} is back to 0 for every worker;
#  - reload reaches every worker: after SIGHUP (a.test: A -> B) 40 connections all go to B,
#    carried by more than one worker;
#  - stop reaches every worker (workers: 2): 20 held sessions spread over both workers still
#    relay after SIGTERM, new connections are refused, and when the sessions close the
#    process exits 0 long before shutdown_timeout (20s); no listening socket is left.
. "$(dirname "$0")/lib.sh"
sy_setup
# Everything this scenario listens on is on its own loopback address $IP, not 127.0.0.1:
# sy_port hands out ports from the ephemeral range, and with scenarios running in parallel
# another test's client could take such a port as its source port (or another switchyard,
# binding with SO_REUSEPORT, could share it silently) before it is bound here.
IP=127.0.44.1
FLEET="python3 $SY_DIR/sy_fleet.py"

PA=$(sy_port) PB=$(sy_port)
sy_start beA $FLEET backend --listen "$IP:$PA" --id A
sy_start beB $FLEET backend --listen "$IP:$PB" --id B
sy_wait_log beA listening && sy_wait_log beB listening || sy_bad "backends did not start"
NCPU=$(getconf _NPROCESSORS_ONLN)

# conf FILE WORKERS PORT UPSTREAM ADMIN_PORT: writes a configuration atomically.
conf() {
	cat >"$1.tmp" <<EOF
process: {workers: $2, shutdown_timeout: 20s}
log: {level: info, access: off}
admin: {listen: "$IP:$5"}
listeners:
  - name: edge
    listen: $IP:$3
    kind: tls
    routes:
      - sni: a.test
        upstream: $4
upstreams:
  ua: {servers: ["$IP:$PA"], proxy_protocol: v2}
  ub: {servers: ["$IP:$PB"], proxy_protocol: v2}
EOF
	mv "$1.tmp" "$1"
}
# workers_of FILE: number of distinct "w=N" in the answers.
workers_of() { grep -o 'w=[0-9]*' "$1" | sort -u | wc -l; }
# only FILE ID N: all N lines are answers from ID.
only() { [ "$(awk -v id="$2" '$1 == id { n++ } END { print n + 0 }' "$1")" = "$3" ]; }

# run NAME WORKERS_SETTING EXPECTED_WORKERS: start, threads, sockets, 40 connections,
# reload, 40 connections. Leaves the process running.
run() {
	name=$1 setting=$2 want=$3
	port=$(sy_port) adm=$(sy_port)
	conf "$T/$name.yaml" "$setting" "$port" ua "$adm"
	sy_switchyard "$name" "$T/$name.yaml" || { sy_bad "$name: did not start: $(tail -3 "$T/$name.log")"; return 1; }
	pid=$(cat "$T/$name.pid")
	n=$(sed -n 's/.*switchyard [^:]*: \([0-9]*\) worker(s).*/\1/p' "$T/$name.log")
	[ "$n" = "$want" ] && sy_ok || sy_bad "$name: started $n workers, want $want"
	tasks=$(ls "/proc/$pid/task" | wc -l)
	socks=$(ss -Hltn src "$IP:$port" | wc -l)
	echo "$name: workers=$n threads=$tasks listening sockets on :$port=$socks"
	[ "$tasks" -ge $((want + 1)) ] && sy_ok || sy_bad "$name: $tasks threads for $want workers"
	[ "$socks" = "$want" ] && sy_ok || sy_bad "$name: $socks listening sockets for $want workers"
	$FLEET conn --connect "$IP:$port" --sni a.test --n 40 >"$T/$name.1"
	k=$(workers_of "$T/$name.1")
	echo "$name: 40 connections: $(awk '{ print $1 }' "$T/$name.1" | sort | uniq -c | tr -s ' \n' ' ')over $k worker(s)"
	only "$T/$name.1" A 40 && sy_ok || sy_bad "$name: not all 40 connections served by A: $(sort "$T/$name.1" | uniq -c | tr -s ' \n' ' ')"
	if [ "$want" -ge 2 ]; then
		[ "$k" -ge 2 ] && sy_ok || sy_bad "$name: only $k worker(s) accepted 40 connections"
	fi
	# Per-worker metrics against what the backend saw (the connections are closed by now;
	# the gauge may lag the client's close by a loop turn, so wait for it, bounded).
	curl -s -m 5 "http://$IP:$adm/metrics" >"$T/$name.m1"
	i=0
	while [ "$(awk '/^switchyard_worker_active_connections\{/ { s += $2 } END { print s + 0 }' "$T/$name.m1")" != 0 ] && [ $i -lt 50 ]; do
		sleep 0.1
		curl -s -m 5 "http://$IP:$adm/metrics" >"$T/$name.m1"
		i=$((i + 1))
	done
	sum=0 wk=0
	while [ "$wk" -lt "$want" ]; do
		m=$(awk -v k="switchyard_worker_accepted_connections_total{worker=\"$wk\"}" '$1 == k { print $2 }' "$T/$name.m1")
		a=$(awk '{ print $2 }' "$T/$name.1" | grep -cx "w=$wk")
		g=$(awk -v k="switchyard_worker_active_connections{worker=\"$wk\"}" '$1 == k { print $2 }' "$T/$name.m1")
		echo "$name: worker $wk: metric accepted=${m:-none} active=${g:-none}, backend saw $a"
		[ "$m" = "$a" ] && sy_ok || sy_bad "$name: worker $wk: metric says ${m:-none} accepted, backend saw $a"
		[ "$g" = 0 ] && sy_ok || sy_bad "$name: worker $wk: ${g:-no} active connections after all closed"
		sum=$((sum + ${m:-0}))
		wk=$((wk + 1))
	done
	[ "$sum" = 40 ] && sy_ok || sy_bad "$name: per-worker accepted sum to $sum, not 40"
	grep -q "worker=\"$want\"" "$T/$name.m1" && sy_bad "$name: a per-worker line past the last worker" || sy_ok
	conf "$T/$name.yaml" "$setting" "$port" ub "$adm"
	kill -HUP "$pid"
	sy_wait_log "$name" 'reload: generation 2 in force' 100 && sy_ok || sy_bad "$name: reload not logged"
	$FLEET conn --connect "$IP:$port" --sni a.test --n 40 >"$T/$name.2"
	k=$(workers_of "$T/$name.2")
	echo "$name: after reload: $(awk '{ print $1 }' "$T/$name.2" | sort | uniq -c | tr -s ' \n' ' ')over $k worker(s)"
	only "$T/$name.2" B 40 && sy_ok || sy_bad "$name: after reload not every connection on the new route"
	if [ "$want" -ge 2 ]; then
		[ "$k" -ge 2 ] && sy_ok || sy_bad "$name: after reload only $k worker(s) seen"
	fi
	PORT=$port
	PID=$pid
}

# --- workers: 2, then stop with sessions on both workers.
run two 2 2
sy_hold hold '' --connect "$IP:$PORT" --sni a.test --per-src 20 --max-time 40 || sy_bad "holders did not start"
hw=$(sed -n 's/^ready .*answers=\([^ ]*\) .*/\1/p' "$T/hold.log" | tr ',' '\n' | grep -o 'w=[0-9]*' | sort -u | wc -l)
echo "held 20 sessions over $hw worker(s): $(grep '^ready' "$T/hold.log" | cut -c1-80)"
grep -q '^ready n=20 ok=20 ' "$T/hold.log" && sy_ok || sy_bad "20 held sessions not all served"
[ "$hw" = 2 ] && sy_ok || sy_bad "the 20 held sessions are not on both workers ($hw)"
t0=$(date +%s%N)
kill -TERM "$PID"
sy_wait_log two 'signal 15: stopping' 40 || sy_bad "SIGTERM not logged"
r=$($FLEET conn --connect "$IP:$PORT" --sni a.test --timeout 2)
echo "after SIGTERM: new connection: $r"
[ "$r" = "ERR connect ConnectionRefusedError" ] && sy_ok || sy_bad "new connection after SIGTERM: $r"
echo "echo all" >>"$T/hold.ctl"
i=0
while [ "$(grep -c '^echo ' "$T/hold.log")" -lt 20 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
e=$(grep -c '^echo [0-9]* ok' "$T/hold.log")
echo "after SIGTERM: $e of 20 held sessions still relay"
[ "$e" = 20 ] && sy_ok || sy_bad "only $e of 20 sessions relayed after SIGTERM"
echo "close all" >>"$T/hold.ctl"
sy_exit_ms "$PID" "$t0"
rc=$SY_RC ms=$SY_MS
echo "two: exited $rc $ms ms after SIGTERM (shutdown_timeout 20s)"
[ "$rc" = 0 ] && [ "$ms" -lt 5000 ] && sy_ok || sy_bad "two: exit rc=$rc after $ms ms"
[ "$(ss -Hltn src "$IP:$PORT" | wc -l)" = 0 ] && sy_ok || sy_bad "listening sockets left after exit"
echo quit >>"$T/hold.ctl"

# --- workers: auto.
run auto auto "$NCPU"
kill -TERM "$PID"
sy_wait_gone "$PID" 100
wait "$PID"
rc=$?
[ "$rc" = 0 ] && sy_ok || sy_bad "auto: exit status $rc after SIGTERM"
# Under -DSWITCHYARD_SANITIZE=ON, leaks and errors at exit are reported in the logs.
grep -E 'Sanitizer|runtime error' "$T/two.log" "$T/auto.log" && sy_bad "sanitizer reports" || sy_ok

sy_done
