#!/bin/sh
# Scenario: the per-source-IP limits of a listener (issue 8), one switchyard process.
# Covers:
#  - max_preread_per_ip is per listener: two tls listeners with max_preread_per_ip: 2; two
#    connections from 127.0.0.5 held in pre-read on the first do not count on the second,
#    where two more from 127.0.0.5 are held too (N on each); a 3rd there (N+1) is refused;
#  - a per-IP refusal is logged with its own end (`max_preread_per_ip`, route `-`) and counted
#    under switchyard_limit_rejects_total{limit="max_preread_per_ip"} only, not as the default
#    route's `rejected` in switchyard_connections_total; the same on a kind: http listener;
#  - max_connections_per_ip: 3 on a tls listener: three relayed connections from 127.0.0.5
#    held open (N) are served, a 4th is refused at once, logged with end
#    `max_connections_per_ip` and counted under limit="max_connections_per_ip"; 127.0.0.6 is
#    served meanwhile; once one of the three closes, 127.0.0.5 is served again;
#  - after PROXY in, the real client counts: a listener that trusts 127.0.0.20 for PROXY v1,
#    max_connections_per_ip: 2; two held connections for client 198.51.100.7, a third for it
#    is refused (logged with client=198.51.100.7), one for 198.51.100.8 over the same peer
#    address is served;
#  - the same cap on kind: http listeners, at accept (2 held from 127.0.0.5, the 3rd gets no
#    answer, 127.0.0.6 gets its 301, after one closes 127.0.0.5 gets its 301) and after PROXY
#    in (two held for 198.51.100.7, the third refused, 198.51.100.8 answered).
. "$(dirname "$0")/lib.sh"
sy_setup
# Our own loopback address (see limits.sh): ports from sy_port stay ours.
IP=127.0.43.1
# metric PORT KEY, wait_metric PORT KEY VALUE: lib.sh's, on the admin listener at $IP.
metric() { sy_metric "$1" "$2" "$IP"; }
wait_metric() { sy_wait_metric "$1" "$2" "$3" 100 "$IP"; }
FLEET="python3 $SY_DIR/sy_fleet.py"
conn() {
	p=$1
	shift
	$FLEET conn --connect "$IP:$p" "$@"
}
# http_from SRC PORT: the status line curl gets from SRC, or "none (curl N)".
http_from() {
	out=$(curl -s --max-time 5 --interface "$1" -o /dev/null -w '%{http_code}' "http://$IP:$2/x")
	rc=$?
	[ $rc = 0 ] && echo "$out" || echo "none (curl $rc)"
}
# has_line PATTERN: waits (5 s at most) for an access-log line matching PATTERN (grep -E).
has_line() {
	sy_wait_log access "$1" 100
}

PA=$(sy_port) ADM=$(sy_port)
L1=$(sy_port) L2=$(sy_port) LC=$(sy_port) LP=$(sy_port) LH=$(sy_port) LHP=$(sy_port) LHQ=$(sy_port)
sy_start beA $FLEET backend --listen "$IP:$PA" --id A
sy_wait_log beA listening || sy_bad "backend A did not start"
cat >"$T/sy.yaml" <<EOF
process: {workers: 1}
log: {level: info, access: "$T/access.log"}
admin: {listen: "$IP:$ADM"}
listeners:
  - name: one
    listen: $IP:$L1
    kind: tls
    max_preread_per_ip: 2
    preread_timeout: 20s
    routes: [{default: {upstream: a}}]
  - name: two
    listen: $IP:$L2
    kind: tls
    max_preread_per_ip: 2
    preread_timeout: 20s
    routes: [{default: {upstream: a}}]
  - name: cap
    listen: $IP:$LC
    kind: tls
    max_connections_per_ip: 3
    routes: [{default: {upstream: a}}]
  - name: capp
    listen: $IP:$LP
    kind: tls
    proxy_protocol_from: [127.0.0.20/32]
    max_connections_per_ip: 2
    routes: [{default: {upstream: a}}]
  - name: hcap
    listen: $IP:$LH
    kind: http
    max_connections_per_ip: 2
    preread_timeout: 20s
    routes: [{default: {redirect_https: true}}]
  - name: hcapp
    listen: $IP:$LHP
    kind: http
    proxy_protocol_from: [127.0.0.20/32]
    max_connections_per_ip: 2
    routes: [{default: {redirect_https: true}}]
  - name: hpre
    listen: $IP:$LHQ
    kind: http
    max_preread_per_ip: 1
    preread_timeout: 20s
    routes: [{default: {redirect_https: true}}]
upstreams:
  a: {servers: ["$IP:$PA"]}
EOF
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(tail -3 "$T/sy.log")"
: >"$T/access.log"

# --- max_preread_per_ip is per listener, and its refusal is its own.
sy_hold h1 '' --connect "$IP:$L1" --srcs 127.0.0.5 --per-src 2 --send partial || sy_bad "holders on one did not start"
wait_metric "$ADM" 'switchyard_preread_connections{listener="one"}' 2 && sy_ok || sy_bad "2 not in pre-read on one"
sy_hold h2 '' --connect "$IP:$L2" --srcs 127.0.0.5 --per-src 2 --send partial || sy_bad "holders on two did not start"
wait_metric "$ADM" 'switchyard_preread_connections{listener="two"}' 2 && sy_ok ||
	sy_bad "2 from 127.0.0.5 on listener two not held while 2 are held on one (cap shared by listeners?)"
[ "$(metric "$ADM" 'switchyard_limit_rejects_total{listener="two",limit="max_preread_per_ip"}')" = 0 ] && sy_ok ||
	sy_bad "listener two refused connections at N: $(metric "$ADM" 'switchyard_limit_rejects_total{listener="two",limit="max_preread_per_ip"}')"
r=$(conn "$L2" --src 127.0.0.5)
echo "max_preread_per_ip 2: 3rd from 127.0.0.5 on two: $r"
case "$r" in ERR*) sy_ok ;; *) sy_bad "N+1th pre-read connection on two was served: $r" ;; esac
[ "$(metric "$ADM" 'switchyard_limit_rejects_total{listener="two",limit="max_preread_per_ip"}')" = 1 ] && sy_ok ||
	sy_bad "per-IP reject on two not counted once"
has_line 'listener=two sni=- alpn=- route=- upstream=- server=- proxy=off in=0 out=0 ms=[0-9]+ end=max_preread_per_ip ' &&
	sy_ok || sy_bad "per-IP reject access line: $(grep 'listener=two' "$T/access.log")"
k='switchyard_connections_total{listener="two",route="default",result="rejected"}'
[ "$(metric "$ADM" "$k")" = 0 ] && sy_ok || sy_bad "per-IP reject counted as the default route: $k $(metric "$ADM" "$k")"
echo quit >>"$T/h1.ctl"
echo quit >>"$T/h2.ctl"

# The same refusal on a kind: http listener (max_preread_per_ip: 1).
printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' >"$T/get.bin"
sy_hold hq '' --connect "$IP:$LHQ" --srcs 127.0.0.5 --per-src 1 --hello "$T/get.bin" \
	--send partial || sy_bad "holder on hpre did not start"
wait_metric "$ADM" 'switchyard_preread_connections{listener="hpre"}' 1 && sy_ok || sy_bad "1 not in pre-read on hpre"
r=$(http_from 127.0.0.5 "$LHQ")
echo "http max_preread_per_ip 1: 2nd from 127.0.0.5: $r"
case "$r" in none*) sy_ok ;; *) sy_bad "N+1th pre-read connection on hpre was answered: $r" ;; esac
has_line 'listener=hpre sni=- alpn=- route=- .* end=max_preread_per_ip ' && sy_ok ||
	sy_bad "http per-IP reject access line: $(grep 'listener=hpre' "$T/access.log")"
k='switchyard_connections_total{listener="hpre",route="default",result="rejected"}'
[ "$(metric "$ADM" "$k")" = 0 ] && sy_ok || sy_bad "http per-IP reject counted as the default route: $(metric "$ADM" "$k")"
echo quit >>"$T/hq.ctl"

# --- max_connections_per_ip: 3 on a tls listener, relayed connections held open.
sy_hold hc '' --connect "$IP:$LC" --srcs 127.0.0.5 --per-src 3 || sy_bad "holders on cap did not start"
grep -q '^ready n=3 ok=3 failed=0 answers=A,A,A ' "$T/hc.log" && sy_ok || sy_bad "3 at N not all served: $(cat "$T/hc.log")"
KC='switchyard_limit_rejects_total{listener="cap",limit="max_connections_per_ip"}'
r=$(conn "$LC" --src 127.0.0.5 --time)
echo "max_connections_per_ip 3: 4th from 127.0.0.5: $r"
case "$r" in ERR*) sy_ok ;; *) sy_bad "N+1th connection from one IP was served: $r" ;; esac
t=${r#*t=}
awk -v t="$t" 'BEGIN { exit !(t < 1.0) }' && sy_ok || sy_bad "N+1th connection not closed at once ($t s)"
[ "$(metric "$ADM" "$KC")" = 1 ] && sy_ok || sy_bad "max_connections_per_ip reject not counted: $(metric "$ADM" "$KC")"
has_line 'client=127\.0\.0\.5:[0-9]+ listener=cap sni=- alpn=- route=- .* end=max_connections_per_ip ' && sy_ok ||
	sy_bad "max_connections_per_ip access line: $(grep 'listener=cap ' "$T/access.log")"
r=$(conn "$LC" --src 127.0.0.6)
echo "max_connections_per_ip 3: from 127.0.0.6 meanwhile: $r"
case "$r" in A*) sy_ok ;; *) sy_bad "another source refused: $r" ;; esac
echo "close 0" >>"$T/hc.ctl"
wait_metric "$ADM" 'switchyard_active_connections{listener="cap"}' 2 && sy_ok || sy_bad "held connection did not close"
r=$(conn "$LC" --src 127.0.0.5)
echo "max_connections_per_ip 3: 127.0.0.5 with 2 open: $r"
case "$r" in A*) sy_ok ;; *) sy_bad "connection at N refused after one closed: $r" ;; esac
[ "$(metric "$ADM" "$KC")" = 1 ] && sy_ok || sy_bad "reject counter moved at N"
echo quit >>"$T/hc.ctl"

# After PROXY in (v1 from the trusted 127.0.0.20): the client in the header counts.
$FLEET hello --sni www.example.com --out "$T/hello.bin"
pp() { printf 'PROXY TCP4 %s %s %s 443\r\n' "$1" "$IP" "$2"; }
{ pp 198.51.100.7 1111; cat "$T/hello.bin"; } >"$T/pp7.bin"
{ pp 198.51.100.8 2222; cat "$T/hello.bin"; } >"$T/pp8.bin"
sy_hold hp '' --connect "$IP:$LP" --srcs 127.0.0.20 --per-src 2 --hello "$T/pp7.bin" || sy_bad "PROXY holders did not start"
grep -q '^ready n=2 ok=2 failed=0 answers=A,A ' "$T/hp.log" && sy_ok || sy_bad "2 at N behind PROXY not served: $(cat "$T/hp.log")"
r=$(conn "$LP" --src 127.0.0.20 --hello "$T/pp7.bin")
echo "max_connections_per_ip 2 after PROXY: 3rd for 198.51.100.7: $r"
case "$r" in ERR*) sy_ok ;; *) sy_bad "N+1th connection of one PROXY client was served: $r" ;; esac
has_line 'client=198\.51\.100\.7:1111 listener=capp .* end=max_connections_per_ip ' && sy_ok ||
	sy_bad "PROXY client refusal access line: $(grep 'listener=capp' "$T/access.log")"
r=$(conn "$LP" --src 127.0.0.20 --hello "$T/pp8.bin")
echo "max_connections_per_ip 2 after PROXY: 198.51.100.8 from the same peer: $r"
case "$r" in A*) sy_ok ;; *) sy_bad "another PROXY client from the same peer refused: $r" ;; esac
echo quit >>"$T/hp.ctl"

# --- max_connections_per_ip: 2 on kind: http, at accept and after PROXY in.
sy_hold hh '' --connect "$IP:$LH" --srcs 127.0.0.5 --per-src 2 --hello "$T/get.bin" \
	--send partial || sy_bad "http holders did not start"
wait_metric "$ADM" 'switchyard_active_connections{listener="hcap"}' 2 && sy_ok || sy_bad "2 http connections not open"
r=$(http_from 127.0.0.5 "$LH")
echo "http max_connections_per_ip 2: 3rd from 127.0.0.5: $r"
case "$r" in none*) sy_ok ;; *) sy_bad "N+1th http connection from one IP was answered: $r" ;; esac
[ "$(metric "$ADM" 'switchyard_limit_rejects_total{listener="hcap",limit="max_connections_per_ip"}')" = 1 ] &&
	sy_ok || sy_bad "http max_connections_per_ip reject not counted"
has_line 'listener=hcap sni=- alpn=- route=- .* end=max_connections_per_ip ' && sy_ok ||
	sy_bad "http max_connections_per_ip access line: $(grep 'listener=hcap' "$T/access.log")"
r=$(http_from 127.0.0.6 "$LH")
echo "http max_connections_per_ip 2: from 127.0.0.6 meanwhile: $r"
[ "$r" = 301 ] && sy_ok || sy_bad "another source not answered on hcap: $r"
echo "close 0" >>"$T/hh.ctl"
wait_metric "$ADM" 'switchyard_active_connections{listener="hcap"}' 1 && sy_ok || sy_bad "held http connection did not close"
r=$(http_from 127.0.0.5 "$LH")
echo "http max_connections_per_ip 2: 127.0.0.5 with 1 open: $r"
[ "$r" = 301 ] && sy_ok || sy_bad "http connection at N refused after one closed: $r"
echo quit >>"$T/hh.ctl"

{ pp 198.51.100.7 1111; cat "$T/get.bin"; } >"$T/hpp7.bin"
{ pp 198.51.100.8 2222; cat "$T/get.bin"; } >"$T/hpp8.bin"
sy_hold hhp '' --connect "$IP:$LHP" --srcs 127.0.0.20 --per-src 2 --hello "$T/hpp7.bin" || sy_bad "http PROXY holders did not start"
grep -q '^ready n=2 ok=2 failed=0 answers=HTTP/1.1/301/Moved/Permanently,HTTP/1.1/301/Moved/Permanently ' "$T/hhp.log" &&
	sy_ok || sy_bad "2 http at N behind PROXY not answered: $(cat "$T/hhp.log")"
r=$(conn "$LHP" --src 127.0.0.20 --hello "$T/hpp7.bin")
echo "http max_connections_per_ip 2 after PROXY: 3rd for 198.51.100.7: $r"
case "$r" in ERR*) sy_ok ;; *) sy_bad "N+1th http connection of one PROXY client was answered: $r" ;; esac
has_line 'client=198\.51\.100\.7:1111 listener=hcapp .* end=max_connections_per_ip ' && sy_ok ||
	sy_bad "http PROXY client refusal access line: $(grep 'listener=hcapp' "$T/access.log")"
r=$(conn "$LHP" --src 127.0.0.20 --hello "$T/hpp8.bin")
echo "http max_connections_per_ip 2 after PROXY: 198.51.100.8 from the same peer: $r"
case "$r" in "HTTP/1.1 301"*) sy_ok ;; *) sy_bad "another http PROXY client from the same peer refused: $r" ;; esac
echo quit >>"$T/hhp.ctl"

sy_stop_clean sy '^[0-9T:.-]+Z error |Sanitizer|runtime error'
sy_done
