#!/bin/sh
# Scenario: the VPN test client tests/tools/sy_vpnc.c against an independent r-vpn server
# written in Python from rvpn-protocol.md (sy_rvpn_server.py, `cryptography`), so the client
# the engine's scenarios rely on is itself proven before it judges switchyard. Keys come from
# `switchyard keygen` / `prekey-bundle`, so the key tools' files are proven usable too.
# Covers: TLS (unverified, and --cafile with the right and a wrong name) and --plain;
# hello-only; ws-echo of 1 MiB (SHA-256 both ways equal); mux-echo with 4 flows of 1 MiB,
# with --slow-credit, and with --no-window-update under 256 KiB; a server that ignores
# credit is caught (credit_violations > 0, exit 8); a flow to a closed port gets FlowFailed
# (exit 8); dns A and AAAA of localhost and --repeat; a recorded Hello replayed is refused
# (exit 4); --tamper ends the session (exit 0, tamper=session_ended); fetch of a page from
# a real HTTP server over /ws and over a mux flow (status and body SHA-256); a bundle that
# is not the server's is refused (exit 6); a non-101 answer is an upgrade failure (exit 3);
# usage errors (exit 1).
. "$(dirname "$0")/lib.sh"
sy_setup
VC=${SY_BUILD_DIR:?run under ctest}/tests/sy_vpnc
python3 -c 'import cryptography' 2>/dev/null || { sy_skip "python3 cryptography missing"; sy_done; exit $?; }
[ -x "$VC" ] || { sy_bad "no $VC"; sy_done; exit 1; }

sy_vpn_keys srv.key b.json cli.key && sy_vpn_keys other.key other.json ||
	{ sy_bad "key tools"; sy_done; exit 1; }
sy_cert vpn vpn.test

echo_port=$(sy_port)
sy_echo echo "$echo_port" 30
web_port=$(sy_port)
mkdir "$T/www"
head -c 300000 /dev/urandom >"$T/www/page.bin"
sy_start web python3 -m http.server "$web_port" --bind 127.0.0.1 --directory "$T/www"
tls_port=$(sy_port)
sy_start srv python3 "$SY_DIR/sy_rvpn_server.py" --port "$tls_port" --identity "$T/srv.key" \
	--bundle "$T/b.json" --cert "$T/vpn.crt" --key "$T/vpn.key"
plain_port=$(sy_port)
sy_start plain python3 "$SY_DIR/sy_rvpn_server.py" --port "$plain_port" --identity "$T/srv.key" \
	--bundle "$T/b.json"
bad_port=$(sy_port)
sy_start bad python3 "$SY_DIR/sy_rvpn_server.py" --port "$bad_port" --identity "$T/srv.key" \
	--bundle "$T/b.json" --cert "$T/vpn.crt" --key "$T/vpn.key" --violate-credit
for p in $echo_port $web_port $tls_port $plain_port $bad_port; do sy_wait_port "$p" || sy_bad "port $p"; done

A="--connect 127.0.0.1:$tls_port --sni vpn.test --identity $T/cli.key --bundle $T/b.json --timeout 20"
# vc CODE NAME ARGS...: runs the client (sy_vc); has NAME REGEX: its output (sy_has).
vc() { sy_vc "$@"; }
has() { sy_has "$@"; }

vc 0 hello $A hello-only
has hello '^upgrade=ok$'
has hello '^handshake=ok$'
vc 0 ca $A --cafile "$T/vpn.crt" hello-only
vc 2 ca_wrong_name $A --cafile "$T/vpn.crt" --sni wrong.test hello-only
has ca_wrong_name '^tls=failed$'
vc 0 plain --connect "127.0.0.1:$plain_port" --plain --sni vpn.test --identity "$T/cli.key" \
	--bundle "$T/b.json" ws-echo --target "127.0.0.1:$echo_port" --bytes 100000
has plain 'bytes=100000 result=ok$'

vc 0 ws_echo $A ws-echo --target "127.0.0.1:$echo_port" --bytes 1m
has ws_echo '^sha256_sent=([0-9a-f]{64}) sha256_recv=\1 bytes=1048576 result=ok$'
vc 0 mux $A mux-echo --target "127.0.0.1:$echo_port" --flows 4 --bytes 1m
sy_check "mux: 4 flows ok" [ "$(grep -cE '^flow=[1-4] bytes=1048576 sha256_sent=([0-9a-f]{64}) sha256_recv=\1 result=ok$' "$T/mux.out")" = 4 ]
has mux '^flows=4 flows_ok=4 credit_violations=0 result=ok$'
vc 0 slow $A mux-echo --target "127.0.0.1:$echo_port" --flows 2 --bytes 600k --slow-credit
has slow '^flows=2 flows_ok=2 credit_violations=0 result=ok$'
vc 0 nowu $A mux-echo --target "127.0.0.1:$echo_port" --flows 2 --bytes 256k --no-window-update
has nowu 'flows_ok=2 credit_violations=0 result=ok$'
vc 8 violate --connect "127.0.0.1:$bad_port" --sni vpn.test --identity "$T/cli.key" \
	--bundle "$T/b.json" --timeout 20 mux-echo --target "127.0.0.1:$echo_port" --bytes 512k \
	--no-window-update
has violate 'credit_violations=[1-9][0-9]* result=fail$'
vc 8 refused $A mux-echo --target 127.0.0.1:1 --bytes 10
has refused '^flow=1 .*result=failed error=.'

vc 0 dns_a $A dns --name localhost --type A
has dns_a '^query_id=1 success=true ttl=900 ipv4=127\.0\.0\.1 ipv6= error=null$'
vc 0 dns_rep $A dns --name localhost --repeat 3
sy_check "dns: 3 answers" [ "$(grep -c '^query_id=[1-3] success=true' "$T/dns_rep.out")" = 3 ]
has dns_rep '^answers=3 result=ok$'

vc 0 record $A --record-hello "$T/hello.json" hello-only
sy_check "recorded Hello is the JSON Hello" grep -q '^{"Hello":{"version":{"major":1' "$T/hello.json"
vc 4 replay $A --replay-hello "$T/hello.json" hello-only
has replay '^handshake=closed$'
vc 0 tamper $A ws-echo --target "127.0.0.1:$echo_port" --bytes 100000 --tamper 3
has tamper '^tampered=3$'
has tamper '^tamper=session_ended$'

vc 0 fetch_ws $A fetch --target "127.0.0.1:$web_port" --fetch /page.bin
page_sha=$(sha256sum "$T/www/page.bin" | cut -c1-64)
has fetch_ws "^status=200 body_bytes=300000 body_sha256=$page_sha result=ok$"
vc 0 fetch_mux $A --path /api/v1/ws/mux --fetch /page.bin --target "127.0.0.1:$web_port"
has fetch_mux "^status=200 body_bytes=300000 body_sha256=$page_sha result=ok$"
vc 0 fetch_404 $A fetch --target "127.0.0.1:$web_port" --fetch /missing
has fetch_404 '^status=404 '

vc 6 wrong_bundle --connect "127.0.0.1:$tls_port" --sni vpn.test --identity "$T/cli.key" \
	--bundle "$T/other.json" hello-only
has wrong_bundle '^handshake=bad_server_hello reason=identity_key_not_bundle$'
vc 3 no_ws --connect "127.0.0.1:$web_port" --plain --sni vpn.test --identity "$T/cli.key" \
	--bundle "$T/b.json" hello-only
has no_ws '^upgrade=failed status=[0-9]+$'
vc 1 usage_nomode $A
vc 1 usage_target $A ws-echo --bytes 10
vc 1 usage_bundle --connect "127.0.0.1:$tls_port" --sni vpn.test --identity "$T/cli.key" \
	--bundle "$T/cli.key" hello-only

sy_done
