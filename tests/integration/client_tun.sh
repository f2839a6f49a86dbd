#!/bin/sh
# switchyard-client --tun (client/ctun.c) against the real switchyard's /tun path, in two
# network namespaces this scenario creates (unique names, deleted on exit): switchyard in
# S with tun enabled, the client in C, reaching S over a veth pair (198.18.0.0/15). Checked:
# the client makes its TUN device from the VirtualIp (lease .3 in the lease's /24, the
# server's MTU); ICMP echo (tests/integration/sy_icmp.py) to the gateway and, through a
# --tun-route, to an address behind the server is answered through the tunnel; C's default
# route is left alone, and an address outside the tunnel's routes does not go into the
# device; the server restarted under the client: it reconnects, keeps the same lease and
# device, and the pings work again; SIGTERM removes the device; --tun-route accepts 32
# routes (CLIENT_TUN_ROUTES_MAX, N) and refuses 33 (N+1), as flags and as a YAML list;
# --tun without CAP_NET_ADMIN says
# so. Skipped (exit 77, with the reason) without root, /dev/net/tun or `ip netns`.

SY_DIR=$(cd "$(dirname "$0")" && pwd)
. "$SY_DIR/lib.sh"
sy_setup
sy_client_start

# The route limit at N and N+1 needs no privilege: 32 routes get past the options (the
# missing identity file is then status 1), 33 are a usage error (status 2).
routes() { i=1; while [ $i -le "$1" ]; do printf -- '--tun-route 10.9.%d.0/24 ' $i; i=$((i + 1)); done; }
# shellcheck disable=SC2046
"$CL" --server wss://vpn.test/api/v1/ws --identity "$T/none.key" --bundle "$T/none.json" \
    --tun $(routes 32) >"$T/r32.out" 2>&1
rc=$?
sy_check "32 --tun-route pass the options (status $rc)" [ "$rc" = 1 ]
# shellcheck disable=SC2046
"$CL" --server wss://vpn.test/api/v1/ws --identity "$T/none.key" --bundle "$T/none.json" \
    --tun $(routes 33) >"$T/r33.out" 2>&1
rc=$?
sy_check "33 --tun-route are refused (status $rc)" [ "$rc" = 2 ]
sy_check "the refusal names the limit" grep -q 'at most 32 routes' "$T/r33.out"
# The same limit through -c FILE, where tun-route is a YAML list.
yroutes() { printf 'server: wss://vpn.test/api/v1/ws\nidentity: %s\nbundle: %s\ntun: true\ntun-route:\n' \
    "$T/none.key" "$T/none.json"; i=1; while [ $i -le "$1" ]; do echo "  - 10.9.$i.0/24"; i=$((i + 1)); done; }
yroutes 32 >"$T/y32.yaml"
yroutes 33 >"$T/y33.yaml"
"$CL" -c "$T/y32.yaml" >"$T/y32.out" 2>&1
rc=$?
sy_check "a YAML list of 32 tun-route passes the options (status $rc)" [ "$rc" = 1 ]
"$CL" -c "$T/y33.yaml" >"$T/y33.out" 2>&1
rc=$?
sy_check "a YAML list of 33 tun-route is refused (status $rc)" sh -c "[ $rc = 2 ] && grep -q 'at most 32 routes' $T/y33.out"
"$CL" --server wss://vpn.test/api/v1/ws --identity "$T/none.key" --bundle "$T/none.json" \
    --tun-route 10.0.0.0/8 >"$T/notun.out" 2>&1
rc=$?
sy_check "--tun-route without --tun is a usage error ($rc)" [ "$rc" = 2 ]

[ "$(id -u)" = 0 ] || { sy_skip "not root (network namespaces and TUN devices need it)"; sy_done; exit $?; }
[ -c /dev/net/tun ] || { sy_skip "no /dev/net/tun"; sy_done; exit $?; }
command -v ip >/dev/null || { sy_skip "no ip command"; sy_done; exit $?; }

ID=$$
S=sycs$ID C=sycc$ID
NETNS=""
tun_cleanup() {
	sy_cleanup
	for n in $NETNS; do ip netns del "$n" 2>/dev/null; done
}
trap tun_cleanup EXIT
for n in $S $C; do
	ip netns add "$n" 2>/dev/null || { sy_skip "ip netns add failed"; sy_done; exit $?; }
	NETNS="$NETNS $n"
	ip netns exec "$n" ip link set lo up
done
in_s() { ip netns exec "$S" "$@"; }
in_c() { ip netns exec "$C" "$@"; }
ip link add "ve$ID" type veth peer name "vf$ID" &&
	ip link set "ve$ID" netns "$S" && ip link set "vf$ID" netns "$C" ||
	{ sy_bad "veth setup"; sy_done; exit 1; }
in_s ip addr add 198.18.78.1/30 dev "ve$ID"
in_s ip link set "ve$ID" up
in_c ip addr add 198.18.78.2/30 dev "vf$ID"
in_c ip link set "vf$ID" up
in_c ip route add default via 198.18.78.1
if in_s ip link add "dm$ID" type dummy 2>/dev/null; then
	in_s ip addr add 198.19.78.7/32 dev "dm$ID" && in_s ip link set "dm$ID" up
else
	in_s ip addr add 198.19.78.7/32 dev lo
fi || { sy_bad "behind-server address"; sy_done; exit 1; }

"$SWITCHYARD" keygen -o "$T/server.key" >/dev/null &&
	"$SWITCHYARD" prekey-bundle --identity "$T/server.key" -o "$T/bundle.json" >/dev/null &&
	"$CL" keygen -o "$T/me.key" >"$T/me.txt" || { sy_bad "key tools"; sy_done; exit 1; }
awk '$1 == "x25519_hex:" { print $2 " me" }' "$T/me.txt" >"$T/clients.allow"
sy_cert site vpn.test
mkdir -p "$T/site" "$T/state"
printf 'decoy\n' >"$T/site/index.html"
DEV=sys$ID
cat >"$T/sy.yaml" <<EOF
process: {workers: 1}
log: {level: info}
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
    egress: {allow: [198.19.78.7/32]}
    tun: {enabled: true, name: $DEV, address: 10.233.78.1/24, mtu: 1380, dns: [9.9.9.9]}
EOF
start_sy() {
	sy_start sy ip netns exec "$S" "$SWITCHYARD" -c "$T/sy.yaml"
	sy_wait_log sy 'generation 1\)' 100 || sy_bad "switchyard did not start: $(cat "$T/sy.log")"
}
icmp() { in_c python3 "$SY_DIR/sy_icmp.py" "$1" "$2" "${3:-2}" >/dev/null; }
CDEV=syu$ID
CARGS="--server wss://vpn.test:8443/api/v1/ws --connect 198.18.78.1:8443 --cafile $T/site.crt
    --identity $T/me.key --bundle $T/bundle.json --tun --tun-name $CDEV"

# Without CAP_NET_ADMIN the client says so before dialling.
if command -v setpriv >/dev/null; then
	# shellcheck disable=SC2086
	in_c setpriv --bounding-set -net_admin --inh-caps -net_admin "$CL" $CARGS \
	    --tun-route 198.19.78.7/32 >"$T/nocap.out" 2>&1 &
	pid=$!
	sy_wait_gone "$pid" 100 || { kill "$pid"; sy_bad "--tun without CAP_NET_ADMIN kept running"; }
	wait "$pid"
	rc=$?
	sy_check "--tun without CAP_NET_ADMIN: status 1 ($rc)" [ "$rc" = 1 ]
	sy_check "--tun without CAP_NET_ADMIN names it" grep -q 'lacks CAP_NET_ADMIN' "$T/nocap.out"
else
	sy_skip "no setpriv: the missing-capability check"
fi

start_sy
route0=$(in_c ip route show default)
# shellcheck disable=SC2086
sy_start cl ip netns exec "$C" "$CL" $CARGS --tun-route 198.19.78.7/32
sy_wait_log cl "tun $CDEV up: 10.233.78.3/24 mtu 1380, gateway 10.233.78.1, 1 extra route" 200 &&
	sy_ok || sy_bad "client tun not up: $(cat "$T/cl.log")"
sy_check "device $CDEV has the lease and MTU" sh -c "ip netns exec $C ip -o addr show dev $CDEV | grep -q 10.233.78.3/24 && ip netns exec $C ip link show $CDEV | grep -q 'mtu 1380'"
sy_check "ping the gateway through the tunnel" icmp 10.233.78.3 10.233.78.1
sy_check "ping the address behind the server (--tun-route)" icmp 10.233.78.3 198.19.78.7
sy_check "198.19.78.7 is routed into $CDEV" sh -c "ip netns exec $C ip route get 198.19.78.7 | grep -q 'dev $CDEV'"
sy_check "the default route is left alone" [ "$(in_c ip route show default)" = "$route0" ]
sy_check "198.19.78.8 (no --tun-route) goes via the veth" sh -c "ip netns exec $C ip route get 198.19.78.8 | grep -q 'dev vf$ID'"

# The server restarts under the client: it reconnects, same lease, same device.
sy_stop sy
start_sy
sy_wait_log cl "tun $CDEV: same lease 10.233.78.3 after the reconnect" 400 && sy_ok ||
	sy_bad "no reconnect with the same lease: $(tail -5 "$T/cl.log")"
sy_check "ping the gateway after the reconnect" icmp 10.233.78.3 10.233.78.1
sy_check "ping behind the server after the reconnect" icmp 10.233.78.3 198.19.78.7

sy_stop_clean cl
sy_check "device $CDEV removed at exit" sh -c "! ip netns exec $C ip link show $CDEV >/dev/null 2>&1"
sy_stop sy
sy_done
