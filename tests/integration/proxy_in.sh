#!/bin/sh
# Scenario: PROXY protocol from trusted peers (issue 3 item 3): switchyard behind haproxy.
# Covers:
#  - curl (bound to 127.0.0.7) -> haproxy `mode tcp` `send-proxy-v2` -> switchyard listener
#    with proxy_protocol_from: [127.0.0.1/32] -> upstream with proxy_protocol v2 -> haproxy
#    `accept-proxy` http backend answering %[src]: the backend sees 127.0.0.7 and switchyard's
#    access log says client=127.0.0.7;
#  - a trusted peer (127.0.0.1) sending a ClientHello without a PROXY header is refused and
#    counted switchyard_proxy_rejects_total{reason="missing"};
#  - a PROXY v1 header from an untrusted source (127.0.0.9) is not interpreted: it is a
#    ClientHello failure not_tls ("never guess"), not a PROXY reject, and the spoofed address
#    appears nowhere;
#  - a trusted peer writing a v1 header and then a real ClientHello in many small writes
#    completes a TLS session; the backend sees the address from the v1 header;
#  - a v2 header with a correct CRC32C TLV is accepted (address passed on); the same header
#    with a wrong CRC32C is refused and counted reason="invalid"; an IPv6 client address in a
#    v2 header reaches the backend through an IPv4 listener;
#  - no "error" lines and no sanitizer reports in switchyard's log.
. "$(dirname "$0")/lib.sh"
# Call the interpreter itself, not a version manager's shim (seconds per call under load).
PATH="$(dirname "$(python3 -c 'import sys; print(sys.executable)')"):$PATH"
sy_setup
# Lines that must never be in switchyard's log: error-level lines, sanitizer reports.
LOG_BAD='^[0-9T:.-]+Z error |AddressSanitizer|LeakSanitizer|runtime error:'
PEER="python3 $(dirname "$0")/sy_peer.py"

sy_cert hap h.test
cat "$T/hap.crt" "$T/hap.key" >"$T/hap.pem"
F=$(sy_port) P=$(sy_port) PB=$(sy_port) A=$(sy_port)

# One haproxy: the TCP front that sends PROXY v2, and the HTTP backend that reads it.
# (Not sy_haproxy: its `maxconn 20000` needs more than 2x20000 fds, over the hard limit here.)
cat >"$T/hap.cfg" <<EOF
global
  maxconn 1000
defaults
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend front
  mode tcp
  bind 127.0.0.1:$F
  default_backend to_switchyard
backend to_switchyard
  mode tcp
  server sy 127.0.0.1:$P send-proxy-v2
frontend back
  mode http
  bind 127.0.0.1:$PB accept-proxy ssl crt $T/hap.pem
  http-request return status 200 content-type text/plain lf-string "%[src]"
EOF
sy_start hap haproxy -db -f "$T/hap.cfg"

cat >"$T/sy.yaml" <<EOF
process: {workers: 1}
log: {level: info, access: $T/access.log, format: text}
admin: {listen: "127.0.0.1:$A"}
listeners:
  - name: edge
    listen: 127.0.0.1:$P
    kind: tls
    proxy_protocol_from: [127.0.0.1/32]
    routes:
      - {sni: h.test, upstream: back}
upstreams:
  back: {servers: ["127.0.0.1:$PB"], proxy_protocol: v2}
EOF
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(cat "$T/sy.log")"
sy_wait_port "$PB" || sy_bad "haproxy did not start: $(cat "$T/hap.log")"

m() { sy_metric "$A" "$1"; }
MISSING='switchyard_proxy_rejects_total{listener="edge",reason="missing"}'
INVALID='switchyard_proxy_rejects_total{listener="edge",reason="invalid"}'
NOTTLS='switchyard_hello_failures_total{listener="edge",reason="not_tls"}'

# Through haproxy: the real client address travels two PROXY hops.
b=$(curl -sS -k --max-time 10 --interface 127.0.0.7 --resolve "h.test:$F:127.0.0.1" "https://h.test:$F/" 2>&1)
[ "$b" = 127.0.0.7 ] && sy_ok || sy_bad "via haproxy: backend saw '$b', want 127.0.0.7"
sy_wait_log access "client=127.0.0.7:[0-9]* listener=edge sni=h.test .*route=h.test upstream=back .*proxy=v2 .*end=done" &&
	sy_ok || sy_bad "access log has no client=127.0.0.7 line: $(cat "$T/access.log")"

# Trusted peer, no PROXY header: refused, counted missing; nothing reaches the backend.
$PEER hello --sni h.test --out "$T/hello.bin"
st=$($PEER raw --connect "127.0.0.1:$P" --send "$T/hello.bin" --timeout 5)
case "$st" in end=eof\ bytes=0*|end=reset\ bytes=0*) sy_ok ;; *) sy_bad "no PROXY header from a trusted peer: '$st'" ;; esac
[ "$(m "$MISSING")" = 1 ] && sy_ok || sy_bad "reason=missing is $(m "$MISSING"), want 1"

# Untrusted source with a PROXY v1 header: never interpreted, so not TLS.
pre=$(printf 'PROXY TCP4 10.9.9.9 127.0.0.1 1111 %s\r\n' "$P" | od -An -tx1 | tr -d ' \n')
st=$($PEER raw --connect "127.0.0.1:$P" --src 127.0.0.9 --pre-hex "$pre" --send "$T/hello.bin" --timeout 5)
case "$st" in end=eof\ bytes=0*|end=reset\ bytes=0*) sy_ok ;; *) sy_bad "v1 header from an untrusted peer: '$st'" ;; esac
[ "$(m "$NOTTLS")" = 1 ] && sy_ok || sy_bad "not_tls is $(m "$NOTTLS"), want 1 (untrusted PROXY header)"
[ "$(m "$MISSING")" = 1 ] && [ "$(m "$INVALID")" = 0 ] && sy_ok ||
	sy_bad "an untrusted PROXY header moved the PROXY reject counters"
sy_wait_log access "client=127.0.0.9:.*end=bad_hello" && sy_ok || sy_bad "untrusted v1: no client=127.0.0.9 bad_hello line"
sleep 0.2 # an absence: that connection's line first, then a little more time
grep -q 10.9.9.9 "$T/access.log" && sy_bad "the untrusted PROXY header's address was believed" || sy_ok

# Trusted peer: v1 header in 7-byte writes, then the ClientHello in 40-byte writes.
pre=$(printf 'PROXY TCP4 127.0.0.8 127.0.0.1 5555 %s\r\n' "$P" | od -An -tx1 | tr -d ' \n')
b=$($PEER tls --connect "127.0.0.1:$P" --sni h.test --pre-hex "$pre" --pre-chunk 7 --chunk 40 --delay 0.01 2>&1)
[ "$b" = 127.0.0.8 ] && sy_ok || sy_bad "v1 then a hello in small writes: backend saw '$b', want 127.0.0.8"

# v2 with a CRC32C TLV: right -> accepted, wrong -> refused and counted.
good=$($PEER ppv2 --src 127.0.0.10:4444 --dst "127.0.0.1:$P" --crc good --authority h.test)
bad=$($PEER ppv2 --src 127.0.0.10:4444 --dst "127.0.0.1:$P" --crc bad --authority h.test)
b=$($PEER tls --connect "127.0.0.1:$P" --sni h.test --pre-hex "$good" 2>&1)
[ "$b" = 127.0.0.10 ] && sy_ok || sy_bad "v2 with a good CRC32C: backend saw '$b', want 127.0.0.10"
# An IPv6 client address in the v2 header goes on to the backend (an IPv4 listener).
v6=$($PEER ppv2 --src '[2001:db8::7]:4444' --dst "[2001:db8::1]:443")
b=$($PEER tls --connect "127.0.0.1:$P" --sni h.test --pre-hex "$v6" 2>&1)
[ "$b" = 2001:db8::7 ] && sy_ok || sy_bad "v2 with an IPv6 client: backend saw '$b', want 2001:db8::7"
st=$($PEER raw --connect "127.0.0.1:$P" --pre-hex "$bad" --send "$T/hello.bin" --timeout 5)
case "$st" in end=eof\ bytes=0*|end=reset\ bytes=0*) sy_ok ;; *) sy_bad "v2 with a bad CRC32C: '$st'" ;; esac
[ "$(m "$INVALID")" = 1 ] && sy_ok || sy_bad "reason=invalid is $(m "$INVALID"), want 1"
sy_wait_log access "end=proxy_invalid" && sy_ok || sy_bad "no end=proxy_invalid line"
sy_wait_log access "end=proxy_missing" && sy_ok || sy_bad "no end=proxy_missing line"
# Exactly 4: waited for (bounded) until 4 are there, then counted.
i=0
while n=$(grep -c 'route=h.test upstream=back .*end=done' "$T/access.log"); [ "$n" -lt 4 ] && [ $i -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
[ "$n" = 4 ] && sy_ok || sy_bad "$n connections relayed to the backend, want 4"

[ "$(m 'switchyard_active_connections{listener="edge"}')" = 0 ] &&
	[ "$(m 'switchyard_preread_connections{listener="edge"}')" = 0 ] && sy_ok ||
	sy_bad "connections or pre-read slots left over"
sy_stop sy
if grep -E "$LOG_BAD" "$T/sy.log"; then sy_bad "switchyard logged errors"; else sy_ok; fi
sy_done
