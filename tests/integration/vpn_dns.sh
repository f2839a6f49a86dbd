#!/bin/sh
# Scenario: the VPN engine's /dns path (rvpn-protocol.md §7.6) through the router and the
# terminator, driven by the C test client tests/tools/sy_vpnc (client role), against a
# real resolver: dnsmasq from Debian on 127.0.0.1 (no upstream, no /etc/hosts of its own).
# Covers: A and AAAA answers (ttl 900); an AAAA query for a name with only an A record
# (success, empty list: the reference's getaddrinfo filter); NXDOMAIN (success false);
# /etc/hosts honoured although vpn.dns.servers replaces resolv.conf (dnsmasq never sees
# "localhost"); a type other than A/AAAA (success, empty); several queries in one session;
# against a resolver that never answers (a UDP socket this test holds open): one query
# times out after vpn.dns.timeout; a client that leaves with lookups pending; 64 queries in flight all time out (none busy); 65: the
# 65th is answered "server busy" at once and the 64 others still time out in the same
# session; every session ends because the client left (never an error); all sessions of the
# worker ask from one socket (one evdns base per worker, not per session); metrics
# switchyard_vpn_dns_queries_total{result} and the session log line; a GET without Upgrade
# on /dns is still the decoy's 404.
. "$(dirname "$0")/lib.sh"
sy_setup
VC=${SY_BUILD_DIR:?run under ctest}/tests/sy_vpnc
[ -x "$VC" ] || { sy_bad "no $VC"; sy_done; exit 1; }
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || { sy_skip "dnsmasq missing (Debian package dnsmasq-base)"; sy_done; exit $?; }

sy_vpn_keys srv.key b.json cli.key || { sy_bad "key tools"; sy_done; exit 1; }
echo "$(sy_vpn_ik cli.key x25519_hex) tester" >"$T/clients.allow"

# The real resolver. It runs as the invoking user (no privilege drop) with its pid file here.
# dnsmasq listens on UDP and TCP: its port must be free for both (a UDP-only check lost
# to a TCP socket of a parallel test: "Address already in use").
D=$(python3 -c '
import socket
for _ in range(50):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    port = u.getsockname()[1]
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.bind(("127.0.0.1", port))
    except OSError:
        continue
    print(port)
    break
')
sy_start dnsmasq "$DNSMASQ" --keep-in-foreground --no-resolv --no-hosts --port="$D" \
	--listen-address=127.0.0.1 --bind-interfaces --pid-file="$T/dnsmasq.pid" \
	--user="$(id -un)" --log-facility=- \
	--address=/a.test/192.0.2.1 --address=/a.test/2001:db8::1 \
	--address=/only4.test/192.0.2.4 --address=/nx.test/
# The silent resolver: a UDP socket that reads and never answers.
S=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sy_start silent python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
while True:
    q, peer = s.recvfrom(4096)
    print("query from port", peer[1], flush=True)
' "$S"

# conf NAME PORT ADMIN DNSPORT TIMEOUT: one switchyard configuration (one worker, the
# access log $T/NAME-access.log in JSON).
conf() {
	SY_VPN_ACCESS=$1-access SY_VPN_LOG_FORMAT=json \
		sy_vpn_conf "$1.yaml" "$2" "$3" 1 srv.key b.json clients.allow
	cat >>"$T/$1.yaml" <<EOF
    dns: {servers: ["127.0.0.1:$4"], timeout: $5}
EOF
}
P=$(sy_port) A=$(sy_port) P2=$(sy_port) A2=$(sy_port)
conf sy "$P" "$A" "$D" 5s
conf sy2 "$P2" "$A2" "$S" 2s
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(cat "$T/sy.log")"
sy_switchyard sy2 "$T/sy2.yaml" || sy_bad "switchyard 2 did not start: $(cat "$T/sy2.log")"
sy_wait_log silent ready 100 || sy_bad "silent resolver"
for p in $P $P2; do sy_wait_port "$p" || sy_bad "port $p"; done
# dnsmasq answers (checked with our own client, not through switchyard).
i=0
until python3 - "$D" <<'EOF' 2>/dev/null
import socket, sys
q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x04test\x00\x00\x01\x00\x01"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.3)
s.sendto(q, ("127.0.0.1", int(sys.argv[1])))
r = s.recv(512)
sys.exit(0 if r[:2] == b"\x12\x34" and r[-4:] == bytes([192, 0, 2, 1]) else 1)
EOF
do
	i=$((i + 1))
	[ $i -lt 50 ] || { sy_bad "dnsmasq does not answer: $(cat "$T/dnsmasq.log")"; break; }
	sleep 0.1
done

B="--sni vpn.test --identity $T/cli.key --bundle $T/b.json"
# vc CODE NAME PORT ARGS...: the client on 127.0.0.1:PORT (sy_vc); has NAME REGEX: its
# output (sy_has).
vc() {
	w=$1 n=$2 port=$3
	shift 3
	sy_vc "$w" "$n" --connect "127.0.0.1:$port" $B "$@"
}
has() { sy_has "$@"; }
m() { sy_metric "$1" "switchyard_vpn_dns_queries_total{path=\"/api/v1/ws/dns\",result=\"$2\"}"; }

vc 0 a "$P" --timeout 10 dns --name a.test --type A
has a '^query_id=1 success=true ttl=900 ipv4=192\.0\.2\.1 ipv6= error=null$'
vc 0 aaaa "$P" --timeout 10 dns --name a.test --type AAAA
has aaaa '^query_id=1 success=true ttl=900 ipv4= ipv6=2001:db8::1 error=null$'
vc 0 only4 "$P" --timeout 10 dns --name only4.test --type AAAA
has only4 '^query_id=1 success=true ttl=900 ipv4= ipv6= error=null$'
vc 0 nx "$P" --timeout 10 dns --name nx.test --type A
has nx '^query_id=1 success=false ttl=0 ipv4= ipv6= error=name%20not%20found$'
vc 0 hosts "$P" --timeout 10 dns --name localhost --type A
has hosts '^query_id=1 success=true ttl=900 ipv4=127\.0\.0\.1 ipv6= error=null$'
vc 0 mx "$P" --timeout 10 dns --name a.test --type 15
has mx '^query_id=1 success=true ttl=900 ipv4= ipv6= error=null$'
vc 0 many "$P" --timeout 10 dns --name a.test --type A --repeat 20
sy_check "20 answers in one session" [ "$(grep -c '^query_id=[0-9]* success=true ttl=900 ipv4=192\.0\.2\.1 ' "$T/many.out")" = 20 ]
has many '^answers=20 result=ok$'
grep -q 'a\.test' "$T/dnsmasq.log" 2>/dev/null && sy_bad "dnsmasq logs queries (unexpected)" || sy_ok
grep -q 'localhost' "$T/dnsmasq.log" && sy_bad "localhost was asked upstream" || sy_ok
sy_wait_metric "$A" 'switchyard_vpn_dns_queries_total{path="/api/v1/ws/dns",result="ok"}' 25 ||
	sy_bad "ok queries"
[ "$(m "$A" nxdomain)" = 1 ] && sy_ok || sy_bad "nxdomain: $(m "$A" nxdomain)"
[ "$(m "$A" error)" = 0 ] && [ "$(m "$A" busy)" = 0 ] && [ "$(m "$A" timeout)" = 0 ] && sy_ok ||
	sy_bad "unexpected results: error $(m "$A" error) busy $(m "$A" busy) timeout $(m "$A" timeout)"
sy_wait_log sy 'vpn session client=127\.0\.0\.1 key="tester" path=dns flows=20 bytes_in=[0-9]+ bytes_out=[0-9]+ duration_ms=[0-9]+ end=client_closed' ||
	sy_bad "no session line for the 20 queries"
# The same in the connection's JSON access-log line (issue 9 item 5).
sy_wait_log sy-access '"end":"client_closed",.*,"vpn":\{"path":"dns","key":"tester","flows":20,"bytes_in":[0-9]+,"bytes_out":[0-9]+,"duration_ms":[0-9]+\}\}$' ||
	sy_bad "no JSON access-log line for the 20 queries: $(grep vpn "$T/sy-access.log")"
[ "$(grep -c 'vpn session .*path=dns' "$T/sy.log")" = 7 ] && sy_ok || sy_bad "7 session lines: $(grep 'vpn session' "$T/sy.log")"
grep 'vpn session .*path=dns' "$T/sy.log" | grep -qv 'end=client_closed' && sy_bad "a /dns session ended badly: $(grep 'vpn session' "$T/sy.log")" || sy_ok

# The silent resolver: timeouts, then VDNS_INFLIGHT_MAX (64) and one more.
t0=$(date +%s%N)
vc 0 to "$P2" --timeout 10 dns --name a.test --type A
t1=$(date +%s%N)
has to '^query_id=1 success=false ttl=0 ipv4= ipv6= error=timeout$'
ms=$(((t1 - t0) / 1000000))
[ "$ms" -ge 1900 ] && [ "$ms" -lt 5000 ] && sy_ok || sy_bad "timeout after $ms ms, want about 2000"
vc 0 n64 "$P2" --timeout 15 dns --name a.test --type A --repeat 64
sy_check "64 in flight: 64 timeouts" [ "$(grep -c 'success=false ttl=0 ipv4= ipv6= error=timeout$' "$T/n64.out")" = 64 ]
grep -q 'busy' "$T/n64.out" && sy_bad "busy at 64" || sy_ok
vc 0 n65 "$P2" --timeout 15 dns --name a.test --type AAAA --repeat 65
has n65 '^query_id=65 success=false ttl=0 ipv4= ipv6= error=server%20busy$'
sy_check "65: the busy answer comes first" [ "$(grep -m1 "^query_id=" "$T/n65.out" | cut -d" " -f1)" = query_id=65 ]
sy_check "65: 64 timeouts in the same session" [ "$(grep -c 'error=timeout$' "$T/n65.out")" = 64 ]
has n65 '^answers=65 result=ok$'
sy_wait_metric "$A2" 'switchyard_vpn_dns_queries_total{path="/api/v1/ws/dns",result="timeout"}' 129 ||
	sy_bad "timeouts counted"
[ "$(m "$A2" busy)" = 1 ] && sy_ok || sy_bad "busy: $(m "$A2" busy)"
[ "$(m "$A2" ok)" = 0 ] && sy_ok || sy_bad "ok on the silent resolver: $(m "$A2" ok)"
sy_wait_log sy2 'vpn session client=127\.0\.0\.1 key="tester" path=dns flows=65 .* end=client_closed' ||
	sy_bad "no session line for the 65 queries"
# A client that leaves while 10 lookups are pending: they are cancelled (under ASan: no
# leak, no use after free), the session ends when the client is gone (its TLS ends without close_notify).
vc 9 leave "$P2" --timeout 1 dns --name a.test --type A --repeat 10
sy_wait_log sy2 'vpn session client=127\.0\.0\.1 key="tester" path=dns flows=10 .* end=client_(closed|error)' ||
	sy_bad "no session line for the client that left"
# Still serving afterwards, and a plain GET of /dns is the decoy's missing file.
vc 0 after "$P2" --timeout 10 dns --name a.test --type A
has after 'error=timeout$'
got=$(curl -sk --max-time 5 -o /dev/null -w '%{http_code}' --resolve "vpn.test:$P:127.0.0.1" "https://vpn.test:$P/api/v1/ws/dns")
[ "$got" = 404 ] && sy_ok || sy_bad "GET /api/v1/ws/dns without Upgrade: $got"
# One evdns base per worker (issue 9 item 2), not one per session: the five /dns sessions
# above (one worker) all asked the silent resolver from one UDP socket.
ports=$(sed -n 's/^query from port \([0-9]*\)$/\1/p' "$T/silent.log" | sort -u | wc -l)
sy_check "the silent resolver was asked from $ports source ports (want 1)" [ "$ports" = 1 ]

sy_stop sy
sy_stop sy2
sy_stop silent
sy_stop dnsmasq
sy_done
