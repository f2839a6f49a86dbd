#!/bin/sh
# VPN engine, /ws path, through the router and the terminator (TLS, terminate: true) and on
# a plain-HTTP site route, driven by tests/integration/sy_rvpn.py (an independent r-vpn
# client in Python): a 10 MiB echo with matching SHA-256 against an echo server on
# 127.0.0.1, plain ws:// on a `site: true` route, an unknown key (no answer), a replayed
# Hello (refused, also after a restart: the state file), a tampered frame (session ends), a
# denied target (close 1008), a key removed on SIGHUP (its live session ends), a GET
# without Upgrade on each VPN path (byte-identical to the decoy's missing file),
# max_sessions and the handshake timeout at N and N+1, metrics and the session log line.

SY_DIR=$(cd "$(dirname "$0")" && pwd)
. "$SY_DIR/lib.sh"
sy_setup
DIR=$SY_DIR
CLI="python3 $DIR/sy_rvpn.py"

python3 -c 'import cryptography' 2>/dev/null || { sy_skip "python3-cryptography missing"; sy_done; }

# Keys: the server's identity and bundle, three clients (alice and bob listed, eve not).
sy_vpn_keys server.key bundle.json alice.key bob.key eve.key || { sy_bad "key tools"; sy_done; exit 1; }
ik() { sy_vpn_ik "$1.key" "$2"; }
{
	echo "# test clients"
	echo "$(ik alice x25519_hex) alice"
	echo "$(ik bob x25519_ik) bob"
} >"$T/clients.allow"

# The echo server (a target on loopback, allowed explicitly below).
E=$(sy_port)
sy_echo echo "$E"

mkdir -p "$T/state"
P=$(sy_port) H=$(sy_port) A=$(sy_port)
sy_vpn_conf sy.yaml "$P" "$A" 2 server.key bundle.json clients.allow "  - name: plain
    listen: 127.0.0.1:$H
    kind: http
    routes:
      - default: {site: true}"
cat >>"$T/sy.yaml" <<EOF
    state_dir: $T/state
    max_sessions: 2
    egress: {allow: [127.0.0.1/32]}
EOF
# A bad allow-list line is a -t error naming file:line.
cp "$T/clients.allow" "$T/clients.good"
printf 'not-a-key carol\n' >>"$T/clients.allow"
"$SWITCHYARD" -t -c "$T/sy.yaml" >/dev/null 2>"$T/t.err"
rc=$?
[ $rc = 2 ] && grep -qF "terminator.vpn.clients: $T/clients.allow:4: not an X25519 identity key" "$T/t.err" &&
	sy_ok || sy_bad "-t on a bad allow-list: $rc $(cat "$T/t.err")"
mv "$T/clients.good" "$T/clients.allow"
"$SWITCHYARD" -t -c "$T/sy.yaml" >/dev/null 2>&1 && sy_ok || sy_bad "-t on the good file"
# -t checks; it writes no state (no replay cache file), and refuses a state_dir that is no
# directory.
[ -z "$(ls -A "$T/state" 2>/dev/null)" ] && sy_ok || sy_bad "-t wrote into state_dir: $(ls -A "$T/state")"
sed "s|state_dir: $T/state|state_dir: $T/clients.allow|" "$T/sy.yaml" >"$T/bad-state.yaml"
"$SWITCHYARD" -t -c "$T/bad-state.yaml" >/dev/null 2>"$T/t.err"
rc=$?
[ $rc = 2 ] && grep -qF "terminator.vpn.state_dir: $T/clients.allow: not a directory" "$T/t.err" &&
	sy_ok || sy_bad "-t on a state_dir that is a file: $rc $(cat "$T/t.err")"
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(cat "$T/sy.log")"
sy_wait_port "$P" && sy_wait_port "$H" || sy_bad "listeners not up"
m() { sy_metric "$A" "$1"; }
WS='path="/api/v1/ws"'
run() { $CLI --port "$P" --tls --bundle "$T/bundle.json" "$@" 2>>"$T/cli.err"; }

# 10 MiB through /ws over TLS, SHA-256 compared by the client.
out=$(run --identity "$T/alice.key" --target "127.0.0.1:$E" --echo 10485760)
[ "$out" = echo_ok ] && sy_ok || sy_bad "10 MiB echo: $out $(tail -3 "$T/cli.err")"
# The same over plain ws:// on the site route.
out=$($CLI --port "$H" --bundle "$T/bundle.json" --identity "$T/bob.key" --target "127.0.0.1:$E" --echo 200000 2>>"$T/cli.err")
[ "$out" = echo_ok ] && sy_ok || sy_bad "plain ws echo: $out"
sy_wait_log sy 'vpn session client=127.0.0.1 key="alice" path=ws flows=1 bytes_in=10485760 bytes_out=10485760 duration_ms=[0-9]+ end=' || sy_bad "no session log line"
grep -q "$(ik alice x25519_hex)" "$T/sy.log" && sy_bad "a key was logged" || sy_ok
# The session is in its connection's access-log line (issue 9 item 5), keys never.
sy_wait_log access ' client=127\.0\.0\.1:[0-9]+ .* end=[a-z_]+ alpn_offered=[^ ]+ vpn_path=ws vpn_key="alice" vpn_flows=1 vpn_in=10485760 vpn_out=10485760 vpn_ms=[0-9]+$' ||
	sy_bad "no access-log line for the 10 MiB session: $(grep vpn_ "$T/access.log")"
sy_wait_log access ' vpn_path=ws vpn_key="bob" vpn_flows=1 vpn_in=200000 vpn_out=200000 vpn_ms=[0-9]+$' ||
	sy_bad "no access-log line for the plain ws:// session: $(grep vpn_ "$T/access.log")"
grep -q "$(ik alice x25519_hex)" "$T/access.log" && sy_bad "a key in the access log" || sy_ok

# Unknown key: no ServerHello, no Error.
out=$(run --identity "$T/eve.key")
[ "$out" = no_answer ] && sy_ok || sy_bad "unknown key answered: $out"
[ "$(m "switchyard_vpn_handshakes_total{$WS,result=\"unknown_client\"}")" = 1 ] && sy_ok || sy_bad "unknown_client not counted"
sy_wait_log access ' end=unknown_client alpn_offered=[^ ]+ vpn_path=ws vpn_key="-" vpn_flows=0 vpn_in=0 vpn_out=0 vpn_ms=[0-9]+$' ||
	sy_bad "no access-log line for the unknown key: $(grep vpn_ "$T/access.log")"
grep -q "$(ik eve x25519_hex)" "$T/access.log" "$T/sy.log" && sy_bad "an unknown key was logged" || sy_ok

# Replay: a recorded Hello is refused before any ServerHello.
out=$(run --identity "$T/alice.key" --save-hello "$T/hello.json")
[ "$out" = serverhello ] && sy_ok || sy_bad "first Hello: $out"
out=$(run --identity "$T/alice.key" --replay-hello "$T/hello.json")
[ "$out" = no_answer ] && sy_ok || sy_bad "replayed Hello answered: $out"
[ "$(m "switchyard_vpn_handshakes_total{$WS,result=\"replay\"}")" = 1 ] && sy_ok || sy_bad "replay not counted"

# A tampered frame ends the session (policy close), a denied target too.
out=$(run --identity "$T/alice.key" --target "127.0.0.1:$E" --tamper)
[ "$out" = "closed 1008" ] && sy_ok || sy_bad "tampered frame: $out"
out=$(run --identity "$T/alice.key" --target "127.0.0.2:$E")
[ "$out" = "closed 1008" ] && sy_ok || sy_bad "denied target: $out"
out=$(run --identity "$T/alice.key" --target "[::ffff:10.0.0.1]:$E")
[ "$out" = "closed 1008" ] && sy_ok || sy_bad "denied mapped target: $out"
[ "$(m "switchyard_vpn_flows_total{$WS,result=\"denied\"}")" = 2 ] && sy_ok || sy_bad "denied flows not counted"
[ "$(m "switchyard_vpn_handshakes_total{$WS,result=\"ok\"}")" -ge 5 ] && sy_ok || sy_bad "ok handshakes"
[ "$(m "switchyard_vpn_bytes_total{$WS,direction=\"in\"}")" = 10685760 ] && sy_ok || sy_bad "bytes in: $(m "switchyard_vpn_bytes_total{$WS,direction=\"in\"}")"

# GET without Upgrade on every VPN path: the decoy's missing-file answer, byte for byte
# (the Date line aside).
raw() { curl -s --max-time 5 -D - -o - -H 'Host: vpn.test' "http://127.0.0.1:$H$1" | grep -v '^Date:'; }
want=$(raw /no-such-file)
for p in /api/v1/ws /api/v1/ws/ /api/v1/ws/mux /api/v1/ws/dns /api/v1/ws/tun "/api/v1/ws?x=1"; do
	got=$(raw "$p")
	[ "$got" = "$want" ] && sy_ok || sy_bad "GET $p differs from the decoy's 404"
done
echo "$want" | grep -q '^HTTP/1.1 404' && sy_ok || sy_bad "decoy answer is not a 404: $want"

# max_sessions: 2 sessions open, a third upgrade is refused (the decoy 404).
sy_start h1 $CLI --port "$P" --tls --bundle "$T/bundle.json" --identity "$T/alice.key" --target "127.0.0.1:$E" --hold 8
sy_start h2 $CLI --port "$P" --tls --bundle "$T/bundle.json" --identity "$T/bob.key" --target "127.0.0.1:$E" --echo 1000 --hold 8
sy_wait_log h2 echo_done 200 || sy_bad "bob's echo: $(cat "$T/h2.log")"
sy_wait_metric "$A" "switchyard_vpn_sessions_active{$WS}" 2 || sy_bad "two sessions not active"
out=$(run --identity "$T/alice.key")
[ "$out" = error:bad_101 ] && sy_ok || sy_bad "third session: $out"
[ "$(m "switchyard_vpn_handshakes_total{$WS,result=\"limit\"}")" = 1 ] && sy_ok || sy_bad "limit not counted"

# Revocation: bob's live session ends when bob leaves the list and the file is reloaded.
grep -v bob "$T/clients.allow" >"$T/clients.new" && mv "$T/clients.new" "$T/clients.allow"
kill -HUP "$(cat "$T/sy.pid")"
sy_wait_log h2 'echo_ok closed 1008' 100 && sy_ok || sy_bad "revoked session: $(cat "$T/h2.log")"
sy_wait_log sy 'key="bob" path=ws .* end=revoked' || sy_bad "no revoked log line"
out=$(run --identity "$T/bob.key")
[ "$out" = no_answer ] && sy_ok || sy_bad "removed key answered: $out"
sy_stop h1
sy_wait_metric "$A" "switchyard_vpn_sessions_active{$WS}" 0 || sy_bad "sessions still active"

# Handshake timeout (VSESS_HELLO_MS, 5000 ms from the 101): a Hello sent 4600 ms after the
# 101 is answered with a ServerHello; one sent 5500 ms after it finds the connection closed
# without any answer, and the timeout is counted once. The margins are what a TLS client
# on a loaded machine can hold: 400 ms before the deadline, and after it 500 ms (the
# deadline is checked on the session's 250 ms tick, so the close comes by 5250 ms).
t0=$(m "switchyard_vpn_handshakes_total{$WS,result=\"timeout\"}")
ok0=$(m "switchyard_vpn_handshakes_total{$WS,result=\"ok\"}")
sy_start w1 $CLI --port "$P" --tls --bundle "$T/bundle.json" --identity "$T/alice.key" --wait 4.6
sy_start w2 $CLI --port "$P" --tls --bundle "$T/bundle.json" --identity "$T/alice.key" --wait 5.5
sy_wait_log w1 serverhello 160 && sy_ok || sy_bad "Hello at 4600 ms: $(cat "$T/w1.log")"
sy_wait_log w2 'no_answer' 200 && sy_ok || sy_bad "Hello at 5500 ms: $(cat "$T/w2.log")"
grep -q serverhello "$T/w2.log" && sy_bad "Hello at 5500 ms was answered" || sy_ok
sy_check "one handshake timeout counted" [ "$(m "switchyard_vpn_handshakes_total{$WS,result=\"timeout\"}")" = $((t0 + 1)) ]
sy_check "one ok handshake counted" [ "$(m "switchyard_vpn_handshakes_total{$WS,result=\"ok\"}")" = $((ok0 + 1)) ]
sy_wait_log access ' end=hello_timeout .*vpn_path=ws vpn_key="-" vpn_flows=0 vpn_in=0 vpn_out=0 ' ||
	sy_bad "no hello_timeout access-log line: $(grep vpn_ "$T/access.log" | tail -3)"

# Restart: the replay cache comes back from state_dir.
sy_stop_clean sy
mv "$T/sy.log" "$T/sy-first.log"
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not restart"
sy_wait_port "$P"
out=$(run --identity "$T/alice.key" --replay-hello "$T/hello.json")
[ "$out" = no_answer ] && sy_ok || sy_bad "replay after restart answered: $out"
sy_stop_clean sy
sy_done
