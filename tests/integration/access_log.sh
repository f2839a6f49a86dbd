#!/bin/sh
# Scenario: what the access log and the start-up lines say (issue 8), one switchyard process.
# Covers:
#  - alpn is what was negotiated: a terminated connection offering h2,http/1.1 logs
#    alpn=http/1.1, one offering only h2 (which the terminator does not speak) logs alpn=-;
#    a passthrough connection logs alpn=- (its ALPN is chosen inside the encrypted part of
#    the handshake); alpn_offered, the last field, is the client's list in every case;
#  - ms of terminated connections: a TLS client of the terminator and a plain-HTTP client of
#    the site, each holding its connection 1.5 s after its answer, log ms >= 1400;
#  - log.skip_from: connections from 127.0.0.9 (tls passthrough and http site) write no
#    access line but are counted in switchyard_connections_total; 127.0.0.10 is logged;
#  - the start-up lines name the pid, every address of every listener and the admin address;
#  - `switchyard -t`: an upstream with 64 servers (N) is valid, with 65 (N+1) it is refused
#    with exit status 2 and file:line:column naming the upstream and its 65th server.
. "$(dirname "$0")/lib.sh"
sy_setup
IP=127.0.44.1
IP2=127.0.44.2
FLEET="python3 $SY_DIR/sy_fleet.py"
PEER="python3 $SY_DIR/sy_peer.py"
# metric PORT KEY: lib.sh's sy_metric, on the admin listener at $IP.
metric() { sy_metric "$1" "$2" "$IP"; }
# line_for CLIENT_OUTPUT: the access line of the connection site_client printed as "port=N ...".
line_for() {
	lp=$(echo "$1" | sed -n 's/port=\([0-9]*\).*/\1/p')
	i=0
	while [ $i -lt 100 ]; do
		l=$(grep " client=[0-9.]*:$lp " "$T/access.log")
		[ -n "$l" ] && { echo "$l"; return 0; }
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}
# ms_of LINE: the ms field.
ms_of() { echo "$1" | sed -n 's/.* ms=\([0-9]*\) .*/\1/p'; }

PA=$(sy_port) ADM=$(sy_port) PT=$(sy_port) PT2=$(sy_port) PH=$(sy_port)
sy_start beA $FLEET backend --listen "$IP:$PA" --id A
sy_wait_log beA listening || sy_bad "backend did not start"
sy_cert a a.test
mkdir -p "$T/www"
echo "hello site" >"$T/www/index.html"
cat >"$T/sy.yaml" <<EOF
process: {workers: 1}
log: {level: info, access: "$T/access.log", skip_from: [127.0.0.9/32]}
admin: {listen: "$IP:$ADM"}
listeners:
  - name: edge
    listen: ["$IP:$PT", "$IP2:$PT2"]
    kind: tls
    routes:
      - {sni: a.test, terminate: true}
      - {sni: p.test, upstream: a}
  - name: web
    listen: $IP:$PH
    kind: http
    routes: [{default: {site: true}}]
upstreams:
  a: {servers: ["$IP:$PA"]}
terminator:
  certificates: [{cert: "$T/a.crt", key: "$T/a.key"}]
  site: {root: "$T/www"}
EOF
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(tail -3 "$T/sy.log")"

# --- start-up lines.
pid=$(cat "$T/sy.pid")
grep -qE "info switchyard [^:]*: 1 worker\(s\), pid $pid, configuration " "$T/sy.log" && sy_ok ||
	sy_bad "no pid in the start line: $(grep 'worker(s)' "$T/sy.log")"
grep -qF "info listener edge (tls) on $IP:$PT, $IP2:$PT2: 2 route(s)" "$T/sy.log" && sy_ok ||
	sy_bad "edge's addresses not named: $(grep 'listener edge' "$T/sy.log")"
grep -qF "info listener web (http) on $IP:$PH: 0 route(s) and a default" "$T/sy.log" && sy_ok ||
	sy_bad "web's address not named: $(grep 'listener web' "$T/sy.log")"
grep -qF "info admin on $IP:$ADM" "$T/sy.log" && sy_ok || sy_bad "admin address not named"

# site_client PORT ALPNS|plain HOLD: a client of the site from its own source port: TLS to
# a.test offering ALPNS (or plain HTTP to web.test), GET /, read the answer, hold HOLD
# seconds, close. Prints "port=N alpn=X answered=True|False" (alpn=- on plain HTTP).
site_client() {
	python3 - "$IP" "$1" "$2" "$3" "$T/a.crt" <<'EOF'
import socket, ssl, sys, time
ip, port, alpns, hold, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]
s = socket.create_connection((ip, port), timeout=10)
host = b"web.test"
if alpns != "plain":
	ctx = ssl.create_default_context(cafile=ca)
	ctx.set_alpn_protocols(alpns.split(","))
	s = ctx.wrap_socket(s, server_hostname="a.test")
	host = b"a.test"
s.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host)
got = b""
while b"hello site" not in got:
	d = s.recv(4096)
	if not d:
		break
	got += d
alpn = "-" if alpns == "plain" else s.selected_alpn_protocol()
print("port=%d alpn=%s answered=%s" % (s.getsockname()[1], alpn, b"hello site" in got))
sys.stdout.flush()
time.sleep(hold)
if alpns != "plain":
	try:
		s.unwrap()  # close_notify: a clean end
	except (OSError, ssl.SSLError):
		pass
s.close()
EOF
}

# --- ALPN: negotiated by the terminator, never the first offered.
r=$(site_client "$PT" h2,http/1.1 0)
echo "terminated, h2,http/1.1 offered: $r"
l=$(line_for "$r")
echo "  $l"
echo "$l" | grep -q ' sni=a.test alpn=http/1.1 route=a.test .* end=done alpn_offered=h2,http/1.1$' && sy_ok ||
	sy_bad "terminated h2,http/1.1: access line $l"
r=$(site_client "$PT" h2 0)
echo "terminated, only h2 offered: $r"
case "$r" in *"alpn=None answered=True") sy_ok ;; *) sy_bad "terminator negotiated h2? $r" ;; esac
l=$(line_for "$r")
echo "  $l"
echo "$l" | grep -q ' sni=a.test alpn=- route=a.test .* alpn_offered=h2$' && sy_ok ||
	sy_bad "terminated, nothing negotiated, logs an ALPN: $l"
$PEER hello --sni p.test --alpn h2,http/1.1 --out "$T/p.bin"
sy_hold pt '' --connect "$IP:$PT" --srcs 127.0.0.10 --hello "$T/p.bin" || sy_bad "passthrough client did not start"
grep -q '^ready n=1 ok=1 failed=0 answers=A ' "$T/pt.log" && sy_ok || sy_bad "passthrough not served: $(cat "$T/pt.log")"
echo "close 0" >>"$T/pt.ctl"
sy_wait_log access 'client=127\.0\.0\.10:[0-9]+ listener=edge sni=p.test' || true
l=$(grep 'client=127\.0\.0\.10:[0-9]* listener=edge sni=p.test' "$T/access.log")
echo "passthrough: $l"
echo "$l" | grep -q ' sni=p.test alpn=- route=p.test upstream=a .* alpn_offered=h2,http/1.1$' && sy_ok ||
	sy_bad "passthrough logs an ALPN it cannot know: $l"
echo quit >>"$T/pt.ctl"

# --- ms of terminated connections: held 1.5 s after the answer.
r=$(site_client "$PT" http/1.1 1.5)
l=$(line_for "$r")
echo "terminated, held 1.5 s: $l"
ms=$(ms_of "$l")
[ -n "$ms" ] && [ "$ms" -ge 1400 ] && sy_ok || sy_bad "terminated connection held 1.5 s logs ms=$ms"
r=$(site_client "$PH" plain 1.5)
l=$(line_for "$r")
echo "site over plain HTTP, held 1.5 s: $l"
ms=$(ms_of "$l")
[ -n "$ms" ] && [ "$ms" -ge 1400 ] && sy_ok || sy_bad "site connection held 1.5 s logs ms=$ms"

# --- log.skip_from: not logged, still counted.
KW='switchyard_connections_total{listener="web",route="default",result="ok"}'
KE='switchyard_connections_total{listener="edge",route="p.test",result="ok"}'
w0=$(metric "$ADM" "$KW")
e0=$(metric "$ADM" "$KE")
c=$(curl -s --max-time 5 --interface 127.0.0.9 "http://$IP:$PH/")
[ "$c" = "hello site" ] && sy_ok || sy_bad "site from 127.0.0.9: $c"
r=$($FLEET conn --connect "$IP:$PT" --src 127.0.0.9 --hello "$T/p.bin")
[ "$r" = A ] && sy_ok || sy_bad "passthrough from 127.0.0.9: $r"
c=$(curl -s --max-time 5 --interface 127.0.0.10 "http://$IP:$PH/")
sy_wait_log access 'client=127\.0\.0\.10:[0-9]+ listener=web ' && sy_ok || sy_bad "127.0.0.10 not logged"
sy_wait_metric "$ADM" "$KW" $((w0 + 2)) 100 "$IP" && sy_ok || sy_bad "web connections counted: $(metric "$ADM" "$KW"), want $((w0 + 2))"
[ "$(metric "$ADM" "$KE")" = $((e0 + 1)) ] && sy_ok || sy_bad "edge connections counted: $(metric "$ADM" "$KE"), want $((e0 + 1))"
grep -q 'client=127\.0\.0\.9:' "$T/access.log" && sy_bad "skip_from source logged: $(grep 'client=127\.0\.0\.9:' "$T/access.log")" || sy_ok

sy_stop_clean sy '^[0-9T:.-]+Z error |Sanitizer|runtime error'

# --- -t: servers per upstream at N (64) and N+1 (65).
for n in 64 65; do
	{
		echo "upstreams:"
		echo "  big:"
		echo "    servers:"
		i=0
		while [ $i -lt $n ]; do echo "      - 10.0.0.1:$((1000 + i))"; i=$((i + 1)); done
		echo "listeners:"
		echo "  - {name: e, listen: \"$IP:$PT\", kind: tls, routes: [{default: {upstream: big}}]}"
	} >"$T/up$n.yaml"
	out=$("$SWITCHYARD" -t -c "$T/up$n.yaml" 2>&1)
	echo "-t with $n servers: exit $?: $out" | head -2
done
"$SWITCHYARD" -t -c "$T/up64.yaml" >/dev/null 2>&1 && sy_ok || sy_bad "-t refuses 64 servers"
out=$("$SWITCHYARD" -t -c "$T/up65.yaml" 2>&1)
rc=$?
[ $rc = 2 ] && sy_ok || sy_bad "-t with 65 servers: exit $rc"
echo "$out" | grep -qF "$T/up65.yaml:68:9: upstreams.big.servers[64]: upstream \`big\` has 65 servers; at most 64 can be balanced" &&
	sy_ok || sy_bad "-t with 65 servers says: $out"
sy_done
