#!/bin/sh
# Scenario: upstream balancing, connect timeout and failover, passive marking, active health
# checks (issue 3 item 4). Backends are python TCP servers (sy_fleet.py backend) that answer
# each connection with their own id after the first bytes (the ClientHello) and then echo;
# clients send a real ClientHello (python ssl, SNI www.example.com) and read that answer. The
# router relays the bytes without caring that no TLS follows.
# Covers:
#  - round_robin, workers: 1: 30 sequential connections over 3 servers give exactly 10/10/10;
#    round_robin, workers: 2 (one cursor per worker): every server gets 9..11 of 30;
#  - random: 30 connections reach all 3 servers;
#  - source: 20 sources 127.0.0.2-21, 3 connections each: each source always lands on one
#    server, and the sources spread over more than one server;
#  - least_conn: two connections held open (to two different servers), then 10 sequential
#    connections all go to the third server (round robin would spread them);
#  - connect timeout + failover: the first server of [blackhole, A] never completes the TCP
#    handshake (a python listener with listen(0) whose accept queue is pre-filled, so the
#    kernel drops the SYNs: no iptables, no netns needed); with connect_timeout 500ms the
#    client is served by A after 0.5 s .. 2.0 s, and the timeout is counted once in
#    switchyard_upstream_connect_failures_total{reason="timeout"};
#  - passive marking after the timeout: the next 4 connections are served fast (< 0.4 s
#    each) and the timeout counter stays at 1;
#  - refused server -> immediate failover (< 0.5 s) to the next server, counted once as
#    reason="error"; the next 20 connections skip the marked server (its failure counter
#    stays at 1) and all succeed;
#  - active health checks (interval 200ms, timeout 100ms, rise 2, fall 2): stopping a backend
#    (it stops listening: its socket stays bound so that no other test's client can take the
#    port as a source port meanwhile, and connects to it are refused) turns
#    switchyard_upstream_up for it to 0 and logs "is down"; 30 connections then never try it
#    (its connects and connect failures do not move) and all succeed; restarting it (listen
#    again) turns the gauge back to 1 with "is up" in the log, and it gets traffic again.
. "$(dirname "$0")/lib.sh"
sy_setup
# Everything this scenario listens on is on its own loopback address $IP, not 127.0.0.1:
# sy_port hands out ports of this scenario's slot (lib.sh), but with scenarios running in parallel
# another test's client could take such a port as its source port (or another switchyard,
# binding with SO_REUSEPORT, could share it silently) before it is bound here.
IP=127.0.41.1
# metric PORT KEY, wait_metric PORT KEY VALUE: lib.sh's, on the admin listener at $IP.
metric() { sy_metric "$1" "$2" "$IP"; }
wait_metric() { sy_wait_metric "$1" "$2" "$3" 100 "$IP"; }
FLEET="python3 $SY_DIR/sy_fleet.py"

PA=$(sy_port) PB=$(sy_port) PC=$(sy_port) PD=$(sy_port) PBH=$(sy_port) PREF=$(sy_port)
PADM=$(sy_port)
L_RR=$(sy_port) L_RAND=$(sy_port) L_SRC=$(sy_port) L_LC=$(sy_port) L_TO=$(sy_port)
L_REF=$(sy_port) L_HC=$(sy_port)

for b in A B C D; do
	eval "p=\$P$b"
	sy_start "be$b" $FLEET backend --listen "$IP:$p" --id "$b"
done
sy_start bh $FLEET blackhole --listen "$IP:$PBH"
for b in A B C D; do sy_wait_log "be$b" listening || sy_bad "backend $b did not start"; done
sy_wait_log bh 'blackhole ready' || sy_bad "blackhole did not fill: $(cat "$T/bh.log")"

# listener NAME PORT UPSTREAM: one tls listener whose default route is UPSTREAM.
listener() {
	printf '  - name: %s\n    listen: %s:%s\n    kind: tls\n    routes:\n      - default: {upstream: %s}\n' "$1" "$IP" "$2" "$3"
}
ABC="[\"$IP:$PA\", \"$IP:$PB\", \"$IP:$PC\"]"
{
	printf 'process: {workers: 1}\nlog: {level: info, access: off}\nadmin: {listen: "%s:%s"}\nlisteners:\n' "$IP" "$PADM"
	listener rr "$L_RR" up_rr
	listener rand "$L_RAND" up_rand
	listener src "$L_SRC" up_src
	listener lc "$L_LC" up_lc
	listener to "$L_TO" up_to
	listener ref "$L_REF" up_ref
	listener hc "$L_HC" up_hc
	cat <<EOF
upstreams:
  up_rr: {servers: $ABC, balance: round_robin}
  up_rand: {servers: $ABC, balance: random}
  up_src: {servers: $ABC, balance: source}
  up_lc: {servers: $ABC, balance: least_conn}
  up_to: {servers: ["$IP:$PBH", "$IP:$PA"], connect_timeout: 500ms}
  up_ref: {servers: ["$IP:$PREF", "$IP:$PA", "$IP:$PB"]}
  up_hc:
    servers: ["$IP:$PA", "$IP:$PB", "$IP:$PD"]
    health_check: {interval: 200ms, timeout: 100ms, rise: 2, fall: 2}
EOF
} >"$T/sy.yaml"
sy_switchyard sy "$T/sy.yaml" || { sy_bad "switchyard did not start: $(tail -5 "$T/sy.log")"; sy_done; exit 1; }

# conns PORT N [ARGS]: N sequential connections, one answer per line on stdout.
conns() {
	p=$1 n=$2
	shift 2
	$FLEET conn --connect "$IP:$p" --n "$n" "$@"
}
# count FILE ID: lines whose first word is ID.
count() { awk -v id="$2" '$1 == id { n++ } END { print n + 0 }' "$1"; }
srv() { printf 'upstream="%s",server="%s:%s"' "$1" "$IP" "$2"; }

# --- round_robin, one worker: exactly even.
conns "$L_RR" 30 >"$T/rr.out"
a=$(count "$T/rr.out" A) b=$(count "$T/rr.out" B) c=$(count "$T/rr.out" C)
echo "round_robin workers=1: A=$a B=$b C=$c"
[ "$a" = 10 ] && [ "$b" = 10 ] && [ "$c" = 10 ] && sy_ok || sy_bad "round_robin not 10/10/10: $a/$b/$c"

# --- random: every server is hit (all three missed-one cases together: p < 2e-5).
conns "$L_RAND" 30 >"$T/rand.out"
a=$(count "$T/rand.out" A) b=$(count "$T/rand.out" B) c=$(count "$T/rand.out" C)
echo "random: A=$a B=$b C=$c"
[ "$a" -gt 0 ] && [ "$b" -gt 0 ] && [ "$c" -gt 0 ] && [ $((a + b + c)) = 30 ] && sy_ok \
	|| sy_bad "random did not reach every server: $a/$b/$c"

# --- source: sticky per source address, spread over sources.
sticky=1
: >"$T/src.all"
for i in $(seq 2 21); do
	conns "$L_SRC" 3 --src "127.0.0.$i" >"$T/src.$i"
	n=$(awk '{ print $1 }' "$T/src.$i" | sort -u | wc -l)
	if [ "$n" != 1 ] || grep -q '^ERR' "$T/src.$i"; then
		sticky=0
		echo "source 127.0.0.$i: $(tr '\n' ' ' <"$T/src.$i")" >&2
	fi
	head -1 "$T/src.$i" >>"$T/src.all"
done
[ "$sticky" = 1 ] && sy_ok || sy_bad "source balance: one source reached more than one server"
spread=$(awk '{ print $1 }' "$T/src.all" | sort -u | wc -l)
echo "source: 20 sources over $spread server(s): $(sort "$T/src.all" | uniq -c | tr -s ' \n' ' ')"
[ "$spread" -ge 2 ] && sy_ok || sy_bad "source balance: 20 sources all on one server"

# --- least_conn: two held connections, then the rest go to the idle server.
sy_hold lchold '' --connect "$IP:$L_LC" --per-src 2 || sy_bad "least_conn holders did not start"
held=$(sed -n 's/^ready .* answers=\([^ ]*\) .*/\1/p' "$T/lchold.log")
h1=${held%,*} h2=${held#*,}
third=$(printf 'A\nB\nC\n' | grep -v -e "^$h1\$" -e "^$h2\$")
echo "least_conn: held on $h1 and $h2; expecting $third"
if [ "$h1" != "$h2" ] && [ -n "$third" ] && [ "$(echo "$third" | wc -l)" = 1 ]; then
	sy_ok
	conns "$L_LC" 10 >"$T/lc.out"
	n=$(count "$T/lc.out" "$third")
	echo "least_conn: $n of 10 on $third ($(tr '\n' ' ' <"$T/lc.out"))"
	[ "$n" = 10 ] && sy_ok || sy_bad "least_conn sent only $n of 10 to the idle server"
else
	sy_bad "least_conn: the two held connections went to '$h1' and '$h2'"
fi
echo "close all" >>"$T/lchold.ctl"
echo quit >>"$T/lchold.ctl"

# --- connect timeout, then failover; the timed-out server is then skipped.
KTO="switchyard_upstream_connect_failures_total{$(srv up_to "$PBH"),reason=\"timeout\"}"
r=$(conns "$L_TO" 1 --time)
t=${r#*t=}
echo "connect timeout failover: '$r'"
[ "${r%% *}" = A ] && sy_ok || sy_bad "blackholed first server: client not served by A: $r"
awk -v t="$t" 'BEGIN { exit !(t >= 0.5 && t < 2.0) }' && sy_ok \
	|| sy_bad "failover after a connect timeout took $t s (want 0.5 .. 2.0)"
[ "$(metric "$PADM" "$KTO")" = 1 ] && sy_ok || sy_bad "connect timeout not counted: $(metric "$PADM" "$KTO")"
conns "$L_TO" 4 --time >"$T/to.out"
slow=$(awk '{ sub("t=", "", $2); if ($1 != "A" || $2 >= 0.4) n++ } END { print n + 0 }' "$T/to.out")
[ "$slow" = 0 ] && sy_ok || sy_bad "after a timeout, the marked server was tried again: $(tr '\n' ' ' <"$T/to.out")"
[ "$(metric "$PADM" "$KTO")" = 1 ] && sy_ok || sy_bad "timeout counter moved while the server was marked"

# --- refused: immediate failover, then passive marking.
KREF="switchyard_upstream_connect_failures_total{$(srv up_ref "$PREF"),reason=\"error\"}"
r=$(conns "$L_REF" 1 --time)
t=${r#*t=}
echo "refused failover: '$r'"
[ "${r%% *}" = A ] || [ "${r%% *}" = B ] && sy_ok || sy_bad "refused first server: client not served: $r"
awk -v t="$t" 'BEGIN { exit !(t < 0.5) }' && sy_ok || sy_bad "failover after a refusal took $t s"
[ "$(metric "$PADM" "$KREF")" = 1 ] && sy_ok || sy_bad "refusal not counted: $(metric "$PADM" "$KREF")"
conns "$L_REF" 20 >"$T/ref.out"
ok=$(awk '$1 == "A" || $1 == "B" { n++ } END { print n + 0 }' "$T/ref.out")
[ "$ok" = 20 ] && sy_ok || sy_bad "only $ok of 20 served with a refusing server: $(sort "$T/ref.out" | uniq -c | tr -s ' \n' ' ')"
f=$(metric "$PADM" "$KREF")
echo "refused server failures after 21 connections: $f"
[ "$f" = 1 ] && sy_ok || sy_bad "passive mark: the refusing server was tried again ($f failures)"

# --- active health checks.
KUP="switchyard_upstream_up{$(srv up_hc "$PD")}"
KCON="switchyard_upstream_connects_total{$(srv up_hc "$PD")}"
KFE="switchyard_upstream_connect_failures_total{$(srv up_hc "$PD"),reason=\"error\"}"
KFT="switchyard_upstream_connect_failures_total{$(srv up_hc "$PD"),reason=\"timeout\"}"
[ "$(metric "$PADM" "$KUP")" = 1 ] && sy_ok || sy_bad "server D not up at start"
[ "$(metric "$PADM" "switchyard_health_checks_total{$(srv up_hc "$PD")}")" -gt 0 ] && sy_ok \
	|| sy_bad "no health checks counted"
kill -USR1 "$(cat "$T/beD.pid")"
sy_wait_log beD '^down' || sy_bad "backend D did not stop listening"
t0=$(date +%s%N)
wait_metric "$PADM" "$KUP" 0 && sy_ok || sy_bad "switchyard_upstream_up stayed $(metric "$PADM" "$KUP") after D stopped"
echo "health: D down after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
sy_wait_log sy "upstream up_hc server $IP:$PD is down" 40 && sy_ok || sy_bad "no 'is down' log line"
before=$(( $(metric "$PADM" "$KCON") + $(metric "$PADM" "$KFE") + $(metric "$PADM" "$KFT") ))
conns "$L_HC" 30 >"$T/hc1.out"
a=$(count "$T/hc1.out" A) b=$(count "$T/hc1.out" B)
after=$(( $(metric "$PADM" "$KCON") + $(metric "$PADM" "$KFE") + $(metric "$PADM" "$KFT") ))
echo "health: with D down: A=$a B=$b; attempts on D before=$before after=$after"
[ $((a + b)) = 30 ] && sy_ok || sy_bad "with D down only $((a + b)) of 30 served"
# round_robin spreads a down server's share over the others, not all onto its successor.
[ $((a - b)) -le 2 ] && [ $((b - a)) -le 2 ] && sy_ok || sy_bad "with D down the split is uneven: A=$a B=$b"
[ "$before" = "$after" ] && sy_ok || sy_bad "a client connection was sent to the down server"
kill -USR2 "$(cat "$T/beD.pid")"
sy_wait_log beD '^up' || sy_bad "backend D did not listen again"
wait_metric "$PADM" "$KUP" 1 && sy_ok || sy_bad "D not back up after restart"
sy_wait_log sy "upstream up_hc server $IP:$PD is up \(2 checks passed\)" 40 && sy_ok \
	|| sy_bad "no 'is up' log line after rise checks"
conns "$L_HC" 30 >"$T/hc2.out"
d=$(count "$T/hc2.out" D)
echo "health: after restart D got $d of 30"
[ "$d" -gt 0 ] && sy_ok || sy_bad "D back up but got no traffic"

# --- round_robin with two workers: one cursor each, so even within one per worker.
# (ports taken only now: a free port left unused for long may become some client's source port)
PADM2=$(sy_port) L_RR2=$(sy_port)
sed -e "s/workers: 1/workers: 2/" -e "s/$IP:$PADM/$IP:$PADM2/" \
	-e "s/listen: $IP:$L_RR\$/listen: $IP:$L_RR2/" "$T/sy.yaml" \
	| awk '/^  - name: rand/ { skip = 1 } /^upstreams:/ { skip = 0 } !skip' >"$T/sy2.yaml"
sy_switchyard sy2 "$T/sy2.yaml" || sy_bad "second switchyard did not start: $(tail -3 "$T/sy2.log")"
conns "$L_RR2" 30 >"$T/rr2.out"
a=$(count "$T/rr2.out" A) b=$(count "$T/rr2.out" B) c=$(count "$T/rr2.out" C)
echo "round_robin workers=2: A=$a B=$b C=$c"
for v in "$a" "$b" "$c"; do
	[ "$v" -ge 9 ] && [ "$v" -le 11 ] && sy_ok || sy_bad "round_robin with 2 workers: $a/$b/$c"
done

grep -E '^[0-9T:.-]+Z error ' "$T/sy.log" && sy_bad "error lines in switchyard's log" || sy_ok
sy_stop_clean sy
sy_stop_clean sy2
sy_done
