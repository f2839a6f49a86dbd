#!/bin/sh
# Scenario: connection limits (issue 3 item 5), each on its own switchyard process.
# Covers:
#  - process.max_connections: 5: with 5 relayed connections held open, a 6th is closed at
#    once (no backend answer) and counted in
#    switchyard_limit_rejects_total{limit="max_connections"}; after one of the 5 closes, a new
#    connection is served again (N accepted, N+1 refused);
#  - max_preread_per_ip: 3: three connections from 127.0.0.5 held in pre-read (3 bytes of a
#    ClientHello) are counted in switchyard_preread_connections; a 4th from 127.0.0.5 is
#    closed at once and counted under limit="max_preread_per_ip", while 127.0.0.6 is served;
#    once one held hello is completed (and routed), 127.0.0.5 gets a connection through again;
#  - EMFILE backoff: switchyard started with the hard (and soft) open-file limit at 64 in a
#    subshell; 90 connections held in pre-read exhaust its descriptors, accept fails, the log
#    says so, switchyard_accept_backoffs_total and switchyard_accept_errors_total become > 0;
#    an admin request made meanwhile does not make the main thread spin (< 0.3 s of CPU in
#    1 s) and is answered once descriptors are free; after the 90 close, a new client is
#    served and the process is still alive;
#  - slowloris: 1,000 connections, each sending the first 3 bytes of a ClientHello, from 50
#    sources 127.0.0.10-59 (20 each), held open and counted in switchyard_preread_connections;
#    meanwhile curl through the router to an nginx TLS backend succeeds (its time is printed,
#    not asserted); then preread_timeout (6s) closes all 1,000, counted as
#    switchyard_hello_failures_total{reason="timeout"}. This listener sets
#    max_preread_per_ip: 64 rather than the default 32: the per-IP cap hashes addresses into
#    65536 buckets, and two of 50 sources sharing a bucket (about a 2% chance per run) would
#    otherwise put 40 connections under one cap of 32.
. "$(dirname "$0")/lib.sh"
sy_setup
# Everything this scenario listens on is on its own loopback address $IP, not 127.0.0.1:
# sy_port hands out ports of this scenario's slot (lib.sh), but with scenarios running in parallel
# another test's client could take such a port as its source port (or another switchyard,
# binding with SO_REUSEPORT, could share it silently) before it is bound here.
IP=127.0.42.1
# metric PORT KEY, wait_metric PORT KEY VALUE [TRIES]: lib.sh's, on the admin listener at $IP.
metric() { sy_metric "$1" "$2" "$IP"; }
wait_metric() { sy_wait_metric "$1" "$2" "$3" "${4:-100}" "$IP"; }
FLEET="python3 $SY_DIR/sy_fleet.py"

PA=$(sy_port) PN=$(sy_port)
ADM1=$(sy_port) L_MC=$(sy_port)

sy_start beA $FLEET backend --listen "$IP:$PA" --id A
sy_cert slow slow.test
sy_nginx ngx "
http {
  access_log off;
  server { listen $IP:$PN ssl; ssl_certificate $T/slow.crt; ssl_certificate_key $T/slow.key;
           location / { return 200 slow-ok; } }
}"
sy_wait_log beA listening || sy_bad "backend A did not start"
sy_wait_port "$PN" "$IP" || sy_bad "nginx did not start: $(cat "$T/ngx/error.log")"

# conn PORT ARGS...: one connection, its answer (or ERR ...) on stdout.
conn() {
	p=$1
	shift
	$FLEET conn --connect "$IP:$p" "$@"
}
served() { case "$1" in A*) return 0 ;; *) return 1 ;; esac; }

# --- max_connections.
cat >"$T/mc.yaml" <<EOF
process: {workers: 1, max_connections: 5}
log: {level: info, access: off}
admin: {listen: "$IP:$ADM1"}
listeners:
  - name: mc
    listen: $IP:$L_MC
    kind: tls
    routes:
      - default: {upstream: a}
upstreams:
  a: {servers: ["$IP:$PA"]}
EOF
sy_switchyard mc "$T/mc.yaml" || sy_bad "switchyard (max_connections) did not start: $(tail -3 "$T/mc.log")"
sy_hold mchold '' --connect "$IP:$L_MC" --per-src 5 || sy_bad "holders did not start"
grep -q '^ready n=5 ok=5 ' "$T/mchold.log" && sy_ok || sy_bad "5 connections under max_connections 5 not all served: $(cat "$T/mchold.log")"
KMC='switchyard_limit_rejects_total{listener="mc",limit="max_connections"}'
r=$(conn "$L_MC" --time)
echo "max_connections: 6th connection: $r"
case "$r" in ERR*) sy_ok ;; *) sy_bad "6th connection over max_connections 5 was served: $r" ;; esac
t=${r#*t=}
awk -v t="$t" 'BEGIN { exit !(t < 1.0) }' && sy_ok || sy_bad "6th connection not closed at once ($t s)"
[ "$(metric "$ADM1" "$KMC")" = 1 ] && sy_ok || sy_bad "max_connections reject not counted: $(metric "$ADM1" "$KMC")"
echo "close 0" >>"$T/mchold.ctl"
wait_metric "$ADM1" 'switchyard_active_connections{listener="mc"}' 4 && sy_ok || sy_bad "held connection did not close"
r=$(conn "$L_MC")
echo "max_connections: 5th connection after one closed: $r"
served "$r" && sy_ok || sy_bad "connection not served at N = max_connections: $r"
[ "$(metric "$ADM1" "$KMC")" = 1 ] && sy_ok || sy_bad "reject counter moved at N"
echo quit >>"$T/mchold.ctl"
sy_stop_clean mc

# --- max_preread_per_ip and slowloris (one process, two listeners). Ports are taken just
# before use: a free port left unused for long may become some client's source port.
ADM2=$(sy_port) L_PIP=$(sy_port) L_SLOW=$(sy_port)
cat >"$T/pip.yaml" <<EOF
process: {workers: 1}
log: {level: info, access: off}
admin: {listen: "$IP:$ADM2"}
listeners:
  - name: pip
    listen: $IP:$L_PIP
    kind: tls
    max_preread_per_ip: 3
    preread_timeout: 20s
    routes:
      - default: {upstream: a}
  - name: slow
    listen: $IP:$L_SLOW
    kind: tls
    max_preread_per_ip: 64
    preread_timeout: 6s
    routes:
      - sni: slow.test
        upstream: ngx
upstreams:
  a: {servers: ["$IP:$PA"]}
  ngx: {servers: ["$IP:$PN"]}
EOF
sy_switchyard pip "$T/pip.yaml" || sy_bad "switchyard (pre-read limits) did not start: $(tail -3 "$T/pip.log")"
sy_hold piphold '' --connect "$IP:$L_PIP" --srcs 127.0.0.5 --per-src 3 --send partial || sy_bad "pre-read holders did not start"
grep -q '^ready n=3 ok=3 ' "$T/piphold.log" && sy_ok || sy_bad "holders: $(cat "$T/piphold.log")"
wait_metric "$ADM2" 'switchyard_preread_connections{listener="pip"}' 3 && sy_ok || sy_bad "3 held not in pre-read"
KPIP='switchyard_limit_rejects_total{listener="pip",limit="max_preread_per_ip"}'
r=$(conn "$L_PIP" --src 127.0.0.5 --time)
echo "max_preread_per_ip 3: 4th from 127.0.0.5: $r"
case "$r" in ERR*) sy_ok ;; *) sy_bad "N+1th pre-read connection from one IP was served: $r" ;; esac
[ "$(metric "$ADM2" "$KPIP")" = 1 ] && sy_ok || sy_bad "per-IP reject not counted: $(metric "$ADM2" "$KPIP")"
r=$(conn "$L_PIP" --src 127.0.0.6)
echo "max_preread_per_ip 3: from 127.0.0.6 meanwhile: $r"
served "$r" && sy_ok || sy_bad "another source was refused: $r"
echo "send 0" >>"$T/piphold.ctl"
sy_wait_log piphold '^sent 0 A' || sy_bad "completing a held hello was not served: $(tail -2 "$T/piphold.log")"
wait_metric "$ADM2" 'switchyard_preread_connections{listener="pip"}' 2 && sy_ok || sy_bad "routed connection still counted in pre-read"
r=$(conn "$L_PIP" --src 127.0.0.5)
echo "max_preread_per_ip 3: 127.0.0.5 with 2 in pre-read: $r"
served "$r" && sy_ok || sy_bad "connection at N = max_preread_per_ip refused: $r"
[ "$(metric "$ADM2" "$KPIP")" = 1 ] && sy_ok || sy_bad "per-IP reject counter moved at N"
echo quit >>"$T/piphold.ctl"

# Slowloris: 1,000 half-sent hellos from 50 sources.
sy_hold slowhold '' --connect "$IP:$L_SLOW" --srcs 127.0.0.10-59 --per-src 20 \
	--send partial --max-time 40 || sy_bad "slowloris holders did not start"
grep '^ready' "$T/slowhold.log"
grep -q '^ready n=1000 ok=1000 ' "$T/slowhold.log" && sy_ok || sy_bad "1000 slow connections not all open"
KPRE='switchyard_preread_connections{listener="slow"}'
wait_metric "$ADM2" "$KPRE" 1000 && sy_ok || sy_bad "1000 slow connections not counted in pre-read"
body=$(curl -s --max-time 5 --cacert "$T/slow.crt" --resolve "slow.test:$L_SLOW:$IP" \
	-w ' time_total=%{time_total}' "https://slow.test:$L_SLOW/")
echo "slowloris: curl while 1000 are held: $body"
case "$body" in "slow-ok time_total="*) sy_ok ;; *) sy_bad "real client not served during slowloris: $body" ;; esac
n=$(metric "$ADM2" "$KPRE")
echo "slowloris: still in pre-read after curl: $n"
[ "$n" = 1000 ] && sy_ok || sy_bad "the slow connections were not held while curl ran ($n)"
grep -q '^allclosed' "$T/slowhold.log" && sy_bad "slow connections closed before preread_timeout"
sy_wait_log slowhold '^allclosed n=1000' 240 && sy_ok || sy_bad "preread_timeout did not close the 1000: $(tail -2 "$T/slowhold.log")"
grep '^allclosed' "$T/slowhold.log"
wait_metric "$ADM2" "$KPRE" 0 && sy_ok || sy_bad "pre-read gauge not back to 0"
KTO='switchyard_hello_failures_total{listener="slow",reason="timeout"}'
[ "$(metric "$ADM2" "$KTO")" = 1000 ] && sy_ok || sy_bad "pre-read timeouts counted: $(metric "$ADM2" "$KTO")"
echo quit >>"$T/slowhold.ctl"
sy_stop_clean pip

# --- EMFILE backoff: hard limit 64 descriptors.
ADM3=$(sy_port) L_EMF=$(sy_port)
cat >"$T/emf.yaml" <<EOF
process: {workers: 1}
log: {level: info, access: off}
admin: {listen: "$IP:$ADM3"}
listeners:
  - name: emf
    listen: $IP:$L_EMF
    kind: tls
    preread_timeout: 30s
    routes:
      - default: {upstream: a}
upstreams:
  a: {servers: ["$IP:$PA"]}
EOF
# shellcheck disable=SC2016
sy_start emf sh -c 'ulimit -Sn 64 && ulimit -Hn 64 && exec "$0" -c "$1"' "$SWITCHYARD" "$T/emf.yaml"
sy_wait_log emf 'generation 1\)' 100 || sy_bad "switchyard (EMFILE) did not start: $(tail -3 "$T/emf.log")"
grep -q 'open-file limit: 64$' "$T/emf.log" && sy_ok || sy_bad "limit not 64: $(grep open-file "$T/emf.log")"
sy_hold emfhold '' --connect "$IP:$L_EMF" --srcs 127.0.0.70-72 --per-src 30 \
	--send partial || sy_bad "EMFILE holders did not start"
sy_wait_log emf 'accept: Too many open files; pausing accepts' && sy_ok || sy_bad "no EMFILE in the log"
# An admin request made now cannot be accepted; it must not make the main thread spin on its
# readable listener (measured: CPU ticks of the main thread over 1 s, busy = about 100 per
# second), and it is answered once descriptors are free again.
EP=$(cat "$T/emf.pid")
sy_start emfcurl curl -s --max-time 15 -o "$T/emf-admin.out" "http://$IP:$ADM3/metrics"
sleep 0.3
c0=$(awk '{ print $14 + $15 }' "/proc/$EP/task/$EP/stat")
sleep 1
c1=$(awk '{ print $14 + $15 }' "/proc/$EP/task/$EP/stat")
hz=$(getconf CLK_TCK)
echo "EMFILE: main thread CPU over 1 s with an admin request waiting: $((c1 - c0)) ticks (of $hz)"
[ $((c1 - c0)) -lt $((hz * 3 / 10)) ] && sy_ok || sy_bad "main thread busy ($((c1 - c0)) of $hz ticks) while an admin request waits under EMFILE"
echo "close all" >>"$T/emfhold.ctl"
sy_wait_log emfhold '^close 89 done' || sy_bad "holders did not close"
CP=$(cat "$T/emfcurl.pid")
wait "$CP"
crc=$?
[ "$crc" = 0 ] && grep -q '^switchyard_accept_backoffs_total ' "$T/emf-admin.out" && sy_ok \
	|| sy_bad "admin request made under EMFILE not answered afterwards (curl $crc)"
sleep 0.3
r=$(conn "$L_EMF" --time)
echo "EMFILE: new client after the 90 closed: $r"
served "$r" && sy_ok || sy_bad "not served after EMFILE cleared: $r"
b=$(metric "$ADM3" switchyard_accept_backoffs_total)
e=$(metric "$ADM3" 'switchyard_accept_errors_total{listener="emf"}')
echo "EMFILE: accept_backoffs_total=$b accept_errors_total=$e"
[ "$b" -gt 0 ] && sy_ok || sy_bad "switchyard_accept_backoffs_total is $b"
[ "$e" -gt 0 ] && sy_ok || sy_bad "switchyard_accept_errors_total is $e"
kill -0 "$(cat "$T/emf.pid")" && sy_ok || sy_bad "switchyard died under EMFILE"
echo quit >>"$T/emfhold.ctl"
sy_stop_clean emf

sy_done
