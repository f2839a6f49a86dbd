#!/bin/sh
# Scenario: PROXY protocol towards the upstreams of `kind: http` routes (issue 8 item 1).
# Covers:
#  - a real nginx with `listen ... proxy_protocol` logs $proxy_protocol_addr = 127.0.0.7 (the
#    curl client) and $proxy_protocol_server_addr:port = the listener, for v1 and for v2, and
#    answers (without the header it would answer 400 to every request);
#  - v2 decoded by a python backend: INET 127.0.0.7 -> 127.0.0.1:<listener port>, AUTHORITY =
#    the Host name, no ALPN, no stray bytes, the request head right after the header;
#  - trusted X-Forwarded-For: the header names the forwarded client (IPv4, and IPv6 through
#    an IPv4 listener: TCP6 with an IPv4-mapped destination), never the forwarder;
#  - one header per upstream connection: two requests of the same client share it (same
#    nginx $connection); a request from another client (a different trusted XFF) is never
#    sent on a connection whose header names the first: the first is answered, the
#    connection closes with end=client_change, and nginx never logs the second client's
#    request under the first client's address;
#  - the access log (json) proxy field is what was sent: v1 / v2 / off, and off for an upstream
#    configured v1 whose server is down (nothing was sent); json request lines name the
#    forwarded client, method, path and statuses (null upstream status for our own 502);
#  - no error lines or sanitizer reports in switchyard's log.
# Not covered here: a header that cannot be encoded (end=proxy_encode_failed, 502). With the
# AUTHORITY limited to validated names (<= 253 bytes) and mixed families written IPv4-mapped,
# no client input reaches that path; it exists so that a header is never left out.
. "$(dirname "$0")/lib.sh"
PATH="$(dirname "$(python3 -c 'import sys; print(sys.executable)')"):$PATH"
sy_setup
LOG_BAD='^[0-9T:.-]+Z error |AddressSanitizer|LeakSanitizer|runtime error:'

P=$(sy_port) N1=$(sy_port) N0=$(sy_port) PY=$(sy_port)
# PX: down.test's server, a port this test holds and nothing listens on.
sy_closed_port down || sy_bad "the down server did not bind: $(cat "$T/down.log")"
PX=$SY_CLOSED_PORT

sy_nginx ngx "
http {
  log_format pp '\$proxy_protocol_addr|\$proxy_protocol_server_addr|\$proxy_protocol_server_port|\$request_uri|\$connection|\$http_x_real_ip';
  access_log $T/ngx/access.log pp;
  server { listen 127.0.0.1:$N1 proxy_protocol;
           location / { return 200 \"ngx \$proxy_protocol_addr \$request_uri\n\"; } }
  server { listen 127.0.0.1:$N0;
           location / { return 200 \"plain \$request_uri\n\"; } }
}"

# An HTTP backend behind PROXY v2: decodes the header (sy_peer.parse_ppv2), then answers each
# request head on the connection with one JSON line: the header and what followed it.
cat >"$T/pyv2.py" <<EOF
import json
from sy_peer import parse_ppv2, serve_threads
def serve(c):
    c.settimeout(10)
    buf = b""
    while True:
        r = c.recv(65536)
        if not r:
            return
        buf += r
        d, hl = parse_ppv2(buf)
        if d is not None and b"\r\n\r\n" in buf[hl:]:
            break
    head = buf[hl:buf.index(b"\r\n\r\n", hl) + 4]
    d["head_starts"] = head[:4].decode("latin1")
    d["extra"] = len(buf) - hl - len(head)
    out = (json.dumps(d, sort_keys=True) + "\n").encode()
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(out) + out)
    c.close()
serve_threads($PY, serve)
EOF
sy_start pyv2 python3 "$T/pyv2.py"


cat >"$T/sy.yaml" <<EOF
process: {workers: 1}
log: {level: info, access: $T/access.log, format: json}
listeners:
  - name: web
    listen: 127.0.0.1:$P
    kind: http
    trusted_forwarders: [127.0.0.8]
    routes:
      - host: v1.test
        upstream: ngx_v1
      - host: v2.test
        upstream: ngx_v2
      - host: py.test
        upstream: py_v2
      - host: off.test
        upstream: ngx_off
      - host: down.test
        upstream: down_v1
upstreams:
  ngx_v1: {servers: ["127.0.0.1:$N1"], proxy_protocol: v1}
  ngx_v2: {servers: ["127.0.0.1:$N1"], proxy_protocol: v2}
  py_v2: {servers: ["127.0.0.1:$PY"], proxy_protocol: v2}
  ngx_off: {servers: ["127.0.0.1:$N0"]}
  down_v1: {servers: ["127.0.0.1:$PX"], proxy_protocol: v1}
EOF
sy_wait_port "$N1" || sy_bad "nginx did not start: $(cat "$T/ngx/error.log")"
sy_wait_log pyv2 listening || sy_bad "v2 backend did not start"
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(cat "$T/sy.log")"

req() { printf "$2" >"$T/$1"; }
raw() { sy_raw "$1" "$2" "$T/$3"; }
ngxlog() { grep "|$1|" "$T/ngx/access.log" | tail -n 1; }
# ngxwait URI: waits (10 s at most) until nginx logged a request for URI (the line ngxlog
# reads): nginx writes it after the response went out, so it may come after the client's end.
ngxwait() { sy_wait_log ngx/access "[|]$1[|]"; }
has() { printf '%s' "$1" | grep -qF -- "$2"; }

# --- v1 and v2 to a real nginx ---
for v in v1 v2; do
	out=$(curl -sS -m 10 --interface 127.0.0.7 -H "Host: $v.test" "http://127.0.0.1:$P/$v" 2>&1)
	sy_check "$v: nginx answers with the PROXY source ($out)" test "$out" = "ngx 127.0.0.7 /$v"
	ngxwait "/$v"
	line=$(ngxlog "/$v")
	sy_check "$v: nginx logs client and listener ($line)" \
		test "$(echo "$line" | cut -d'|' -f1-3)" = "127.0.0.7|127.0.0.1|$P"
done

# --- v2 decoded ---
out=$(curl -sS -m 10 --interface 127.0.0.7 -H 'Host: Py.Test' "http://127.0.0.1:$P/v2dec" 2>&1)
python3 - "$out" "$P" <<'EOF' && sy_ok || sy_bad "v2 header as expected ($out)"
import json, sys
d = json.loads(sys.argv[1])
want = {"version": 2, "command": 1, "fam": 0x11, "src": "127.0.0.7", "dst": "127.0.0.1",
        "dport": int(sys.argv[2]), "tlvs": {"authority": "py.test"}, "tlv_overrun": False,
        "head_starts": "GET ", "extra": 0}
bad = {k: (d.get(k), v) for k, v in want.items() if d.get(k) != v}
if bad:
    print(bad, file=sys.stderr)
    sys.exit(1)
EOF

# --- trusted X-Forwarded-For names the client in the header ---
out=$(curl -sS -m 10 --interface 127.0.0.8 -H 'Host: v1.test' -H 'X-Forwarded-For: 203.0.113.5' \
	"http://127.0.0.1:$P/xff4" 2>&1)
sy_check "v1: trusted XFF client in the header ($out)" test "$out" = "ngx 203.0.113.5 /xff4"
out=$(curl -sS -m 10 --interface 127.0.0.8 -H 'Host: v1.test' -H 'X-Forwarded-For: 2001:db8::1' \
	"http://127.0.0.1:$P/xff6" 2>&1)
sy_check "v1: IPv6 client through an IPv4 listener ($out)" test "$out" = "ngx 2001:db8::1 /xff6"
ngxwait /xff6
line=$(ngxlog /xff6)
sy_check "v1: IPv4-mapped destination ($line)" test "$(echo "$line" | cut -d'|' -f2-3)" = "::ffff:127.0.0.1|$P"

# --- one header per upstream connection ---
out=$(curl -sS -m 10 --interface 127.0.0.7 -H 'Host: v2.test' \
	"http://127.0.0.1:$P/same1" "http://127.0.0.1:$P/same2" 2>&1)
sy_check "same client twice: both answered ($out)" test "$out" = "ngx 127.0.0.7 /same1
ngx 127.0.0.7 /same2"
ngxwait /same1
ngxwait /same2
c1=$(ngxlog /same1 | cut -d'|' -f5) c2=$(ngxlog /same2 | cut -d'|' -f5)
sy_check "same client twice: one upstream connection ($c1 $c2)" test -n "$c1" -a "$c1" = "$c2"
req change 'GET /cc1 HTTP/1.1\r\nHost: v1.test\r\nX-Forwarded-For: 198.51.100.1\r\n\r\nGET /cc2 HTTP/1.1\r\nHost: v1.test\r\nX-Forwarded-For: 198.51.100.2\r\n\r\n'
out=$(raw "$P" 127.0.0.8 change)
has "$out" "ngx 198.51.100.1 /cc1" && ! has "$out" "/cc2" && has "$out" "<EOF>" && sy_ok ||
	sy_bad "another client: first answered, then closed ($out)"
# Absence cannot be polled for: the same connection's /cc1 line first, then a little more.
ngxwait /cc1
sleep 0.2
sy_check "another client: never sent under the first one's header ($(ngxlog /cc2))" \
	sh -c "! grep -q '^198.51.100.1|.*|/cc2|' '$T/ngx/access.log'"

# --- the access log's proxy field ---
out=$(curl -sS -m 10 -H 'Host: off.test' "http://127.0.0.1:$P/off" 2>&1)
sy_check "off: plain upstream ($out)" test "$out" = "plain /off"
out=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' -H 'Host: down.test' "http://127.0.0.1:$P/down" 2>&1)
sy_check "down: 502 ($out)" test "$out" = 502
# jl KEY=VALUE...: passes when one JSON line of the access log has all these values (every
# line must be valid JSON).
jl() {
	python3 - "$T/access.log" "$@" <<'EOF'
import json, sys
want = dict(a.split("=", 1) for a in sys.argv[2:])
lines = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if any(all(str(d.get(k)) == v for k, v in want.items()) for d in lines) else 1)
EOF
}
# jlw KEY=VALUE...: jl, tried again for about 10 s: a line is written when its answer or
# connection ends, which may come after the client's end. The last try is jl as it is.
jlw() {
	jl_w=0
	while ! jl "$@" 2>/dev/null; do
		[ $jl_w -lt 100 ] || { jl "$@"; return; }
		sleep 0.05
		jl_w=$((jl_w + 1))
	done
}
jlw upstream=ngx_v1 proxy=v1 end=done && sy_ok || sy_bad "access log proxy=v1"
jlw upstream=ngx_v2 proxy=v2 end=done && sy_ok || sy_bad "access log proxy=v2"
jlw upstream=ngx_off proxy=off end=done && sy_ok || sy_bad "access log proxy=off"
jlw upstream=down_v1 proxy=off end=upstream_failed && sy_ok ||
	sy_bad "access log: nothing sent to a down server is proxy=off ($(grep down_v1 "$T/access.log"))"
jlw end=client_change && sy_ok || sy_bad "access log end=client_change"
jlw type=request client=203.0.113.5:0 host=v1.test upstream=ngx_v1 proxy=v1 method=GET path=/xff4 \
	status=200 upstream_status=200 && sy_ok || sy_bad "json request line ($(grep xff4 "$T/access.log"))"
jlw type=request path=/cc1 status=200 client=198.51.100.1:0 && sy_ok || sy_bad "json request line /cc1"
jlw type=request upstream=down_v1 path=/down status=502 upstream_status=None && sy_ok ||
	sy_bad "json request line for the 502 ($(grep /down "$T/access.log"))"
sy_stop sy
if grep -qE "$LOG_BAD" "$T/sy.log"; then sy_bad "bad lines in switchyard's log: $(grep -E "$LOG_BAD" "$T/sy.log" | head -n 5)"; else sy_ok; fi
sy_done
