#!/bin/sh
# VPN engine, /tun path (rvpn-protocol.md §7.5, DESIGN.md §3 vpn.tun), in network
# namespaces this scenario creates (unique names, deleted on exit): switchyard runs in its
# own namespace S with tun enabled; two clients (tests/tools/sy_vpnc tun, each in its own
# namespace C1 / C2, reaching S over a veth pair in 198.18.0.0/15) take the VirtualIp
# message, make a local TUN with their lease and relay packets. Checked: the first message
# is VirtualIp with the lease .3 (alice) and .4 (bob), the gateway and the MTU; Ping gets
# its Pong; an ICMP echo to the gateway and to an address behind the server (a dummy
# interface, or S's loopback) (in egress.allow) is answered through the tunnel; a spoofed source is dropped
# (no reply, switchyard_vpn_tun_dropped_total{reason="spoofed_source"} goes up); bob
# cannot reach alice's lease (reason="client_to_client"); the same lease after a
# reconnect and after a server restart (bob first then, so only the lease file can give
# alice .3 back); VirtualIp stays the first message when the client's Ping comes in the
# same read as its Hello (sy_vpnc --early-ping); the device is gone after exit; the
# session log and access log carry the lease; `-t` and a start without CAP_NET_ADMIN say
# so. After a reload with tun.client_to_client: true, bob's ICMP echo reaches alice and
# her reply comes back through both tunnels. Pool exhaustion: restarted with a /29 (leases
# .3-.6), four identities hold the four leases (N), the fifth is closed with 1013 after
# its ServerHello and no VirtualIp, and switchyard_vpn_tun_pool_exhausted_total goes up
# (N+1); once one of them leaves, the fifth gets the freed lease. Skipped (exit 77, with
# the reason) without root, /dev/net/tun or `ip netns`.

SY_DIR=$(cd "$(dirname "$0")" && pwd)
. "$SY_DIR/lib.sh"
sy_setup
VC=${SY_BUILD_DIR:?run under ctest}/tests/sy_vpnc
[ -x "$VC" ] || { sy_bad "no $VC"; sy_done; exit 1; }
[ "$(id -u)" = 0 ] || { sy_skip "not root (network namespaces and TUN devices need it)"; sy_done; exit $?; }
[ -c /dev/net/tun ] || { sy_skip "no /dev/net/tun"; sy_done; exit $?; }
command -v ip >/dev/null || { sy_skip "no ip command"; sy_done; exit $?; }

# Namespaces and links: unique per run; the trap removes them whatever happens.
ID=$$
S=syts$ID C1=sytc$ID C2=sytd$ID
NETNS=""
tun_cleanup() {
	sy_cleanup
	for n in $NETNS; do ip netns del "$n" 2>/dev/null; done
}
trap tun_cleanup EXIT
for n in $S $C1 $C2; do
	ip netns add "$n" 2>/dev/null || { sy_skip "ip netns add failed"; sy_done; exit $?; }
	NETNS="$NETNS $n"
	ip netns exec "$n" ip link set lo up
done
in_s() { ip netns exec "$S" "$@"; }
ip link add "va$ID" type veth peer name "vb$ID" &&
	ip link set "va$ID" netns "$S" && ip link set "vb$ID" netns "$C1" &&
	ip link add "vc$ID" type veth peer name "vd$ID" &&
	ip link set "vc$ID" netns "$S" && ip link set "vd$ID" netns "$C2" ||
	{ sy_bad "veth setup"; sy_done; exit 1; }
in_s ip addr add 198.18.77.1/30 dev "va$ID"
in_s ip addr add 198.18.77.5/30 dev "vc$ID"
in_s ip link set "va$ID" up
in_s ip link set "vc$ID" up
ip netns exec "$C1" ip addr add 198.18.77.2/30 dev "vb$ID"
ip netns exec "$C1" ip link set "vb$ID" up
ip netns exec "$C2" ip addr add 198.18.77.6/30 dev "vd$ID"
ip netns exec "$C2" ip link set "vd$ID" up
# The address behind the server: on a dummy interface, or on S's loopback where the
# kernel has no dummy driver.
if in_s ip link add "dm$ID" type dummy 2>/dev/null; then
	in_s ip addr add 198.19.77.7/32 dev "dm$ID" && in_s ip link set "dm$ID" up
else
	in_s ip addr add 198.19.77.7/32 dev lo
fi || { sy_bad "behind-server address"; sy_done; exit 1; }

"$SWITCHYARD" keygen -o "$T/server.key" >/dev/null &&
	"$SWITCHYARD" prekey-bundle --identity "$T/server.key" -o "$T/bundle.json" >/dev/null &&
	"$SWITCHYARD" keygen -o "$T/alice.key" >/dev/null &&
	"$SWITCHYARD" keygen -o "$T/bob.key" >/dev/null || { sy_bad "key tools"; sy_done; exit 1; }
for k in carol dave erin; do
	"$SWITCHYARD" keygen -o "$T/$k.key" >/dev/null || { sy_bad "key tools"; sy_done; exit 1; }
done
for k in alice bob carol dave erin; do
	echo "$("$SWITCHYARD" pubkey --identity "$T/$k.key" | awk '$1 == "x25519_hex:" { print $2 }') $k"
done >"$T/clients.allow"
sy_cert site vpn.test
mkdir -p "$T/site" "$T/state"
printf 'decoy\n' >"$T/site/index.html"
DEV=syt$ID
# conf ADDRESS C2C: the configuration with that tun address and client_to_client.
conf() {
	cat >"$T/sy.yaml" <<EOF
process: {workers: 2}
log: {level: info, access: $T/access.log}
admin: {listen: "127.0.0.1:9100"}
listeners:
  - name: edge
    listen: 0.0.0.0:8443
    kind: tls
    routes:
      - default: {terminate: true}
terminator:
  certificates: [{cert: $T/site.crt, key: $T/site.key}]
  site: {root: $T/site}
  vpn:
    identity_key: $T/server.key
    prekey_bundle: $T/bundle.json
    clients: $T/clients.allow
    state_dir: $T/state
    egress: {allow: [198.19.77.7/32]}
    tun: {enabled: true, name: $DEV, address: $1, mtu: 1400, dns: [9.9.9.9], client_to_client: $2}
EOF
}
conf 10.231.77.1/24 false

# Without CAP_NET_ADMIN: -t and a start both say what is missing.
if command -v setpriv >/dev/null; then
	in_s setpriv --bounding-set -net_admin --inh-caps -net_admin "$SWITCHYARD" -t -c "$T/sy.yaml" \
	    >"$T/t.out" 2>&1
	rc=$?
	sy_check "-t without CAP_NET_ADMIN exits 2 ($rc)" [ "$rc" = 2 ]
	sy_check "-t names CAP_NET_ADMIN" grep -q 'tun.enabled: tun: the process lacks CAP_NET_ADMIN' "$T/t.out"
	in_s setpriv --bounding-set -net_admin --inh-caps -net_admin "$SWITCHYARD" -c "$T/sy.yaml" \
	    >"$T/start.out" 2>&1 &
	pid=$!
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	kill "$pid" 2>/dev/null && sy_bad "start without CAP_NET_ADMIN kept running"
	wait "$pid" 2>/dev/null
	sy_check "start without CAP_NET_ADMIN says so" grep -q 'lacks CAP_NET_ADMIN' "$T/start.out"
else
	sy_skip "no setpriv: the missing-capability check"
fi
in_s "$SWITCHYARD" -t -c "$T/sy.yaml" >"$T/t2.out" 2>&1
sy_check "-t with the capability passes" grep -q 'is valid' "$T/t2.out"
sy_check "-t creates no device" sh -c "! ip netns exec $S ip link show $DEV >/dev/null 2>&1"

start_sy() {
	sy_start sy ip netns exec "$S" "$SWITCHYARD" -c "$T/sy.yaml"
	sy_wait_log sy 'generation 1\)' 100 || sy_bad "switchyard did not start: $(cat "$T/sy.log")"
	i=0 # the listener accepts (in S, where sy_wait_port cannot look)
	until in_s python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8443), 1)' \
	    2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 100 ] || { sy_bad "port 8443 not up in S"; break; }
		sleep 0.05
	done
}
start_sy
sy_check "device $DEV is up in S" sh -c "ip netns exec $S ip -o addr show dev $DEV | grep -q 10.231.77.1/24"
m() { in_s curl -s -m 5 "http://127.0.0.1:9100/metrics" |
	awk -v k="$1" '$1 == k { print $2; found=1 } END { if (!found) print 0 }'; }
TUN='path="/api/v1/ws/tun"'
SPOOF="switchyard_vpn_tun_dropped_total{$TUN,reason=\"spoofed_source\"}"
C2C="switchyard_vpn_tun_dropped_total{$TUN,reason=\"client_to_client\"}"

# client NAME NS KEY VETH-SERVER-ADDR [DEVICE [OPTION]]: sy_vpnc tun in NS (pid in
# $T/NAME.pid), its device syc0 unless named; waits for tun=up.
client() {
	sy_start "$1" ip netns exec "$2" "$VC" --connect "$4:8443" --sni vpn.test \
	    --identity "$T/$3.key" --bundle "$T/bundle.json" --timeout 60 tun \
	    --tun-name "${5:-syc0}" --ping 77 $6
	sy_wait_log "$1" 'tun=up' 200 || sy_bad "$1: no tun: $(cat "$T/$1.log")"
}
icmp() { ip netns exec "$1" python3 "$SY_DIR/sy_icmp.py" "$2" "$3" "${4:-2}" >/dev/null; }

client a1 "$C1" alice 198.18.77.1
sy_check "alice: VirtualIp first, lease .3" grep -q 'vip=10.231.77.3 gateway=10.231.77.1 mtu=1400 dns=9.9.9.9' "$T/a1.log"
sy_wait_log a1 'pong=77' 100 && sy_ok || sy_bad "no Pong"
sy_check "ping the gateway through the tunnel" icmp "$C1" 10.231.77.3 10.231.77.1
ip netns exec "$C1" ip route add 198.19.77.7/32 dev syc0
sy_check "ping the address behind the server" icmp "$C1" 10.231.77.3 198.19.77.7
# A spoofed source: the client's kernel sends it through the tunnel, the server drops it.
s0=$(m "$SPOOF")
ip netns exec "$C1" ip addr add 10.231.77.99/32 dev syc0
sy_check "a spoofed source gets no reply" sh -c "! ip netns exec $C1 python3 $SY_DIR/sy_icmp.py 10.231.77.99 10.231.77.1 1 >/dev/null"
s1=$(m "$SPOOF")
sy_check "the spoofed packet was counted ($s0 -> $s1)" [ "$s1" -gt "$s0" ]

client b1 "$C2" bob 198.18.77.5
sy_check "bob: lease .4" grep -q 'vip=10.231.77.4 ' "$T/b1.log"
ip netns exec "$C2" ip route add 10.231.77.0/24 dev syc0
ip netns exec "$C1" ip route add 10.231.77.0/24 dev syc0 # alice would answer bob
c0=$(m "$C2C")
sy_check "bob cannot reach alice" sh -c "! ip netns exec $C2 python3 $SY_DIR/sy_icmp.py 10.231.77.4 10.231.77.3 1 >/dev/null"
c1=$(m "$C2C")
sy_check "the client-to-client packet was counted ($c0 -> $c1)" [ "$c1" -gt "$c0" ]
sy_check "bob reaches the gateway" icmp "$C2" 10.231.77.4 10.231.77.1

# Reconnect: alice gets .3 again.
sy_stop a1
sy_wait_log sy 'path=tun .* end=[a-z_]+ lease=10.231.77.3$' 100 && sy_ok || sy_bad "no session line with the lease"
# The reconnect sends its Ping behind the Hello in one write: VirtualIp still comes first
# (sy_vpnc ends with first_message_not_virtual_ip otherwise), then the Pong.
client a2 "$C1" alice 198.18.77.1 syc0 --early-ping
sy_check "alice after a reconnect: .3" grep -q 'vip=10.231.77.3 ' "$T/a2.log"
sy_wait_log a2 'pong=77' 100 && sy_ok || sy_bad "early Ping: no Pong: $(cat "$T/a2.log")"
sy_check "early Ping: VirtualIp before the Pong" sh -c "grep -E '^(vip|pong)=' $T/a2.log | head -1 | grep -q '^vip='"
sy_stop a2
sy_stop b1

# Restart: bob first, then alice: the lease file keeps both.
sy_check "leases saved" grep -q '10.231.77.3' "$T/state/tun-leases"
sy_stop sy
sy_check "device $DEV removed at exit" sh -c "! ip netns exec $S ip link show $DEV >/dev/null 2>&1"
sy_check "access log has the lease" grep -q 'vpn_lease=10.231.77.3\|"lease":"10.231.77.3"' "$T/access.log"
start_sy
client b2 "$C2" bob 198.18.77.5
client a3 "$C1" alice 198.18.77.1
sy_check "bob after a restart: .4" grep -q 'vip=10.231.77.4 ' "$T/b2.log"
sy_check "alice after a restart: .3" grep -q 'vip=10.231.77.3 ' "$T/a3.log"
ip netns exec "$C1" ip route add 198.19.77.7/32 dev syc0 2>/dev/null
sy_check "ping behind the server after the restart" icmp "$C1" 10.231.77.3 198.19.77.7
sy_stop a3
sy_stop b2

# tun.client_to_client: true (a reload; new sessions take it): bob reaches alice, and her
# answer comes back to him through the server.
conf 10.231.77.1/24 true
kill -HUP "$(cat "$T/sy.pid")"
sy_wait_log sy 'reload: generation 2 in force' 100 && sy_ok || sy_bad "reload: $(tail -3 "$T/sy.log")"
client a4 "$C1" alice 198.18.77.1
client b3 "$C2" bob 198.18.77.5
ip netns exec "$C1" ip route add 10.231.77.0/24 dev syc0
ip netns exec "$C2" ip route add 10.231.77.0/24 dev syc0
c0=$(m "$C2C")
sy_check "client_to_client: bob reaches alice" icmp "$C2" 10.231.77.4 10.231.77.3
sy_check "client_to_client: alice reaches bob" icmp "$C1" 10.231.77.3 10.231.77.4
c1=$(m "$C2C")
sy_check "client_to_client: nothing dropped ($c0 -> $c1)" [ "$c1" = "$c0" ]
sy_stop a4
sy_stop b3
sy_stop sy

# Pool exhaustion: a /29 has four leases (.3-.6). Four identities hold them (N); the
# fifth is closed cleanly (N+1) and counted.
conf 10.232.77.1/29 false
rm -f "$T/state/tun-leases"
start_sy
POOL=switchyard_vpn_tun_pool_exhausted_total
client p1 "$C1" alice 198.18.77.1 syp1
client p2 "$C1" bob 198.18.77.1 syp2
client p3 "$C2" carol 198.18.77.5 syp3
client p4 "$C2" dave 198.18.77.5 syp4
for n in p1 p2 p3 p4; do grep -o 'vip=[0-9.]*' "$T/$n.log"; done | sort >"$T/pool.txt"
sy_check "four identities hold .3-.6 (N)" sh -c "printf 'vip=10.232.77.%s\n' 3 4 5 6 | cmp -s - $T/pool.txt"
pm() { in_s curl -s -m 5 "http://127.0.0.1:9100/metrics" |
	awk -v k="$POOL" 'index($1, k) == 1 { s += $2 } END { print s + 0 }'; }
x0=$(pm)
sy_start p5 ip netns exec "$C1" "$VC" --connect 198.18.77.1:8443 --sni vpn.test \
    --identity "$T/erin.key" --bundle "$T/bundle.json" --timeout 10 tun --tun-name syp5
sy_wait_log p5 'session=closed' 100 || sy_bad "erin: not closed: $(cat "$T/p5.log")"
sy_check "the fifth identity (N+1): ServerHello, then close 1013" sh -c "grep -q handshake=ok $T/p5.log && grep -q 'session=closed close_code=1013' $T/p5.log"
sy_check "the fifth identity got no VirtualIp" sh -c "! grep -q vip= $T/p5.log"
x1=$(pm)
sy_check "pool exhaustion counted ($x0 -> $x1)" [ "$x1" = $((x0 + 1)) ]
sy_wait_log sy 'path=tun .* end=pool_exhausted' 100 && sy_ok || sy_bad "no pool_exhausted session line"
sy_stop p5
lease4=$(grep -o 'vip=[0-9.]*' "$T/p4.log")
sy_stop p4
sy_wait_log sy "path=tun .* lease=${lease4#vip=}\$" 100 || sy_bad "dave's session did not end"
client p6 "$C1" erin 198.18.77.1 syp5
sy_check "erin gets the lease dave left (${lease4#vip=})" grep -q "$lease4 " "$T/p6.log"
for n in p1 p2 p3 p6; do sy_stop $n; done
sy_stop sy
sy_done
