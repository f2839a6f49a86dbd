#!/bin/sh
# Scenario: plain-HTTP listeners (`kind: http`, issue 4 item 5): Host routing, forwarding with
# X-Forwarded-For / X-Real-IP / X-Forwarded-Proto, redirect to https, our own error answers.
# Covers:
#  - curl from 127.0.0.7 through switchyard to a real nginx that logs $http_x_real_ip,
#    $http_x_forwarded_for, $http_x_forwarded_proto and $connection: nginx sees 127.0.0.7,
#    "http", and none of the X-Real-IP / X-Forwarded-For / Forwarded values the client sent;
#  - Forwarded: for=127.0.0.7;proto=http (for="[2001:db8::1]" for an IPv6 client from a
#    trusted forwarder); the underscore spellings (X_Forwarded_For, X_Real_IP, ...) and
#    X-Forwarded-Host / X-Client-IP / True-Client-IP are removed from an untrusted client
#    (seen by a backend that echoes the head it got), kept from a trusted forwarder;
#  - Transfer-Encoding "chunked," / ", chunked" / " ,chunked , " reaches the backend as one
#    "Transfer-Encoding: chunked" line and the body is framed (the next request follows);
#  - forwarded heads within proto/http1's limits (HTTP1_HEADERS_MAX field lines,
#    HTTP1_HEAD_MAX bytes) once our lines are in: the largest client head that fits (96
#    fields; 100 when 4 are forged forwarding fields we drop; 16384 - 112 bytes) is forwarded
#    and its echo passes those limits, one field or one byte more gets nginx's 400 "Request
#    Header Or Cookie Too Large" and never goes upstream (also pipelined behind a forwarded
#    request: that one is answered, then the connection closes);
#  - chunked trailers: X-Forwarded-For / X_Real_IP / Forwarded / X-Forwarded-Proto /
#    X-Forwarded-Host / X-Client-IP / True_Client_IP trailer lines never reach the backend,
#    the other trailer lines do, byte-exact, and the next request follows; from a trusted
#    forwarder X-Forwarded-Host is kept in a trailer as in the head;
#  - absolute-form targets: another host, another port or userinfo -> 400, never forwarded;
#    one that agrees with Host is forwarded;
#  - keep-alive: two requests on one curl connection reach nginx on ONE upstream connection
#    (same $connection) and both answer; two pipelined requests in one write both answer;
#  - bodies: a 300 KiB POST with Content-Length and one with chunked coding reach a python
#    backend intact (sha256), and a following request on the same client connection reaches
#    the same backend connection;
#  - a request for another route on a connection already forwarding to an upstream is not
#    forwarded: the first request is answered, then the connection closes (end=route_change);
#  - redirect_https: 301 with the exact Location, with https_port 443 (no port) and 8443,
#    origin-form (query kept) and absolute-form targets;
#  - our answers: no route -> 404, bad head -> 400, head over 16 KiB -> nginx's 400 "Request
#    Header Or Cookie Too Large", URI over 8 KiB -> 414, HTTP/2.0 request line -> 505, a head
#    that stalls or silence -> closed with nothing (nginx sends no 408 either), upstream down -> 502, a connect that times out (a loopback listener whose
#    backlog is full drops SYNs) -> 504 after connect_timeout, Server: nginx;
#  - trusted_forwarders: X-Forwarded-For from 127.0.0.8 is believed (rightmost IP), from
#    127.0.0.7 it is not;
#  - proxy_protocol_from: PROXY v1 from 127.0.0.9 gives nginx the PROXY source; without the
#    header that peer is closed without an answer;
#  - the access log (sni = Host, route, upstream, end reasons) and no error lines or
#    sanitizer reports in switchyard's log.
#  - site: the connection is handed to the terminator's decoy site over plain HTTP (two
#    requests on one connection, the first head pre-read by the router);
#  - WebSocket: an Upgrade request is forwarded, then the connection is a raw relay both ways;
#    an Upgrade the backend answers with 200 is no relay: the request after it is parsed and
#    its forged X-Forwarded-For / X-Real-IP / Forwarded are replaced (issue 8 item 2);
#  - response framing: a 103 is passed on before the 200, a malformed upstream head (bare LF)
#    gives 502 and end=bad_response; 16 pipelined requests reach a backend that answers only
#    when the client is quiet all at once, 17 as 16 + 1 (the FIFO bound), and all are answered;
#  - one access line per request (method, path, status, upstream status, bytes, ms) for
#    forwarded requests, our own 404, the 502 and the 101; forwarded responses counted in
#    switchyard_http_responses_total.
. "$(dirname "$0")/lib.sh"
PATH="$(dirname "$(python3 -c 'import sys; print(sys.executable)')"):$PATH"
sy_setup
LOG_BAD='^[0-9T:.-]+Z error |AddressSanitizer|LeakSanitizer|runtime error:'

P1=$(sy_port) P2=$(sy_port) P3=$(sy_port) PN=$(sy_port) PS=$(sy_port) PX=$(sy_port) PB=$(sy_port)
PL=$(sy_port) PA=$(sy_port)

sy_nginx ngx "
http {
  log_format fwd '\$http_host|\$http_x_real_ip|\$http_x_forwarded_for|\$http_x_forwarded_proto|\$connection|\$request_uri|\$http_forwarded';
  access_log $T/ngx/access.log fwd;
  server { listen 127.0.0.1:$PN; location / { return 200 \"nginx-ok \$request_uri\n\"; } }
}"

# A keep-alive HTTP/1.1 backend that answers each request with the sha256 and length of its
# body (Content-Length or chunked, decoded) and the client port of its connection; a path
# starting with /echo is answered with the request head exactly as it arrived, followed by
# the trailer field lines of a chunked body.
cat >"$T/shabe.py" <<'EOF'
import hashlib, socket, sys
from sy_peer import serve_threads
def serve(c):
    c.settimeout(20)
    f = c.makefile("rb")
    port = c.getpeername()[1]
    while True:
        line = f.readline()
        if not line:
            break
        hdrs = {}
        rawhead = line
        while True:
            h = f.readline()
            rawhead += h
            if h in (b"\r\n", b""):
                break
            k, _, v = h.decode("latin1").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        path = line.split(b" ")[1]
        if path.startswith(b"/drop"):
            break
        if path.startswith(b"/bad-resp"):
            c.sendall(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok")
            continue
        if path.startswith(b"/big-len"):
            big = bytes(range(256)) * 1200
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
            continue
        if path.startswith(b"/big-chunked"):
            big, out, i, k = bytes(range(256)) * 1200, b"", 0, 0
            sizes = [1, 4096, 65536 + 7, 100000, 3]
            while i < len(big):
                n = min(sizes[k % len(sizes)], len(big) - i)
                out += b"%x\r\n" % n + big[i:i + n] + b"\r\n"
                i, k = i + n, k + 1
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + out + b"0\r\nX-Trailer: 1\r\n\r\n")
            continue
        if path.startswith(b"/hints"):
            c.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n")
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhinted")
            continue
        if hdrs.get("upgrade", "").lower() == "websocket" and not path.startswith(b"/echo"):
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            while True:
                b = f.read1(65536)
                if not b:
                    break
                c.sendall(b"echo:" + b)
            break
        body = trailers = b""
        if hdrs.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(f.readline().split(b";")[0], 16)
                if size == 0:
                    while True:
                        t = f.readline()
                        if t in (b"\r\n", b""):
                            break
                        trailers += t
                    break
                body += f.read(size)
                f.readline()
        elif "content-length" in hdrs:
            body = f.read(int(hdrs["content-length"]))
        out = ("%s %d %d %s\n" % (hashlib.sha256(body).hexdigest(), len(body), port,
               hdrs.get("x-real-ip", "-"))).encode()
        if line.split(b" ")[1].startswith(b"/echo"):
            out = rawhead + trailers
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(out) + out)
        if hdrs.get("connection", "").lower() == "close":
            break
    c.close()
serve_threads(int(sys.argv[1]), serve)
EOF
sy_start shabe python3 "$T/shabe.py" "$PS"

# A pipelining backend: it answers nothing until no byte came for 0.7 s (or the end came),
# then prints how many request heads it got in that batch ("batch N") and answers each.
cat >"$T/plb.py" <<'EOF'
import socket, sys
from sy_peer import serve_threads
def serve(c):
    c.settimeout(0.7)
    buf = b""
    while True:
        try:
            r = c.recv(65536)
        except socket.timeout:
            r = None
        if not r:
            n = buf.count(b"\r\n\r\n")
            if n:
                print("batch %d" % n, flush=True)
                buf = b""
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" * n)
            if r is None:
                continue
            break
        buf += r
    c.close()
serve_threads(int(sys.argv[1]), serve)
EOF
sy_start plb python3 "$T/plb.py" "$PL"

# A black hole on loopback: a listener with backlog 0 that never accepts, its queue filled by
# two held connections, so the kernel drops further SYNs and a connect can only time out.
cat >"$T/hole.py" <<'EOF'
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(0)
held = []
for _ in range(2):
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(("127.0.0.1", int(sys.argv[1])))
    except BlockingIOError:
        pass
    held.append(c)
time.sleep(0.3)
print("holding", flush=True)
time.sleep(300)
EOF
sy_start hole python3 "$T/hole.py" "$PB"


cat >"$T/sy.yaml" <<EOF
process: {workers: 1}
log: {level: info, access: $T/access.log, format: text}
admin: {listen: 127.0.0.1:$PA}
listeners:
  - name: web
    listen: 127.0.0.1:$P1
    kind: http
    preread_timeout: 1s
    idle_timeout: 5s
    routes:
      - host: [up.test, up2.test]
        upstream: ngx
      - host: other.test
        upstream: ngx_b
      - host: redirect.test
        redirect_https: true
      - host: sha.test
        upstream: sha
      - host: down.test
        upstream: down
      - host: hole.test
        upstream: hole
      - host: site.test
        site: true
      - host: pl.test
        upstream: pl
  - name: web2
    listen: 127.0.0.1:$P2
    kind: http
    https_port: 8443
    trusted_forwarders: [127.0.0.8]
    routes:
      - host: up.test
        upstream: ngx
      - host: sha.test
        upstream: sha
      - default: {redirect_https: true}
  - name: web3
    listen: 127.0.0.1:$P3
    kind: http
    proxy_protocol_from: [127.0.0.9]
    routes:
      - default: {upstream: ngx}
upstreams:
  ngx: {servers: ["127.0.0.1:$PN"]}
  ngx_b: {servers: ["127.0.0.1:$PN"]}
  sha: {servers: ["127.0.0.1:$PS"]}
  down: {servers: ["127.0.0.1:$PX"]}
  hole: {servers: ["127.0.0.1:$PB"], connect_timeout: 500ms}
  pl: {servers: ["127.0.0.1:$PL"]}
terminator:
  site: {root: $T/site}
EOF
mkdir -p "$T/site"
echo "decoy-index" >"$T/site/index.html"
sy_wait_port "$PN" || sy_bad "nginx did not start: $(cat "$T/ngx/error.log")"
sy_wait_log shabe listening || sy_bad "sha backend did not start"
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(cat "$T/sy.log")"

# req NAME BYTES: writes a request file $T/NAME from printf-style BYTES.
req() { printf "$2" >"$T/$1"; }
# raw PORT BIND NAME [WAIT]: lib.sh's sy_raw on request file NAME.
raw() { sy_raw "$1" "$2" "$T/$3" ${4:+"$4"}; }
# status TEXT: the status code of the first response in TEXT.
status() { printf '%s' "$1" | head -n 1 | cut -d' ' -f2; }
# raw_status NAME WANT WHAT: raw from 127.0.0.7 to the web listener on request file NAME (its
# answer in $out); checks that the first status is WANT.
raw_status() {
	out=$(raw "$P1" 127.0.0.7 "$1")
	sy_check "$3 -> $2 ($(status "$out"))" test "$(status "$out")" = "$2"
}
# ngxlog URI: nginx's log line for the request URI (the last one).
ngxlog() { grep "|$1|" "$T/ngx/access.log" | tail -n 1; }
# ngxwait URI: waits (10 s at most) until nginx logged a request for URI (the line ngxlog
# reads): nginx writes it after the response went out, so it may come after the client's end.
ngxwait() { sy_wait_log ngx/access "[|]$1[|]"; }
# has TEXT PATTERN: passes when TEXT contains PATTERN (fixed string).
has() { printf '%s' "$1" | grep -qF -- "$2"; }
# hasb TEXT BYTES: passes when TEXT contains BYTES (python escapes: \r\n), across lines
# (grep takes each line of a pattern as a pattern of its own).
hasb() {
	printf '%s' "$1" | python3 -c 'import sys, codecs
want = codecs.escape_decode(sys.argv[1])[0]
sys.exit(0 if want in sys.stdin.buffer.read() else 1)' "$2"
}

# --- forwarding fields and the client address ---
out=$(curl -sS -m 10 --interface 127.0.0.7 -H 'Host: up.test' -H 'X-Real-IP: 6.6.6.6' \
	-H 'X-Forwarded-For: 6.6.6.6, 7.7.7.7' -H 'X-Forwarded-Proto: https' -H 'Forwarded: for=6.6.6.6' \
	"http://127.0.0.1:$P1/fields" 2>&1)
sy_check "forwarded answer ($out)" test "$out" = "nginx-ok /fields"
ngxwait /fields
line=$(ngxlog /fields)
sy_check "nginx sees X-Real-IP, XFF and proto from switchyard only ($line)" \
	test "$(echo "$line" | cut -d'|' -f1-4)" = "up.test|127.0.0.7|127.0.0.7|http"
sy_check "client Forwarded replaced by ours ($line)" \
	test "$(echo "$line" | cut -d'|' -f7)" = "for=127.0.0.7;proto=http"

# --- Forwarded (RFC 7239) and the other client-naming fields (issue 8 item 3) ---
out=$(curl -sS -m 10 --interface 127.0.0.7 -H 'Host: sha.test' -H 'X_Forwarded_For: 6.6.6.1' \
	-H 'X_Real_IP: 6.6.6.2' -H 'X-Forwarded-Host: evil.example' -H 'X-Client-IP: 6.6.6.3' \
	-H 'True-Client-IP: 6.6.6.4' -H 'X_Client_Ip: 6.6.6.5' -H 'True_Client_IP: 6.6.6.6' \
	-H 'x_forwarded_host: evil2.example' -H 'X-Forwarded_Proto: https' -H 'FORWARDED: for=6.6.6.7' \
	"http://127.0.0.1:$P1/echo-fields" 2>&1)
has "$out" "Forwarded: for=127.0.0.7;proto=http" && sy_ok || sy_bad "Forwarded added ($out)"
sy_check "spoofed client fields removed, every spelling ($out)" \
	sh -c "! printf '%s' '$out' | grep -qiE '6\.6\.6|evil|https|^x_'"
has "$out" "X-Real-IP: 127.0.0.7" && sy_ok || sy_bad "X-Real-IP still ours ($out)"
out=$(curl -sS -m 10 --interface 127.0.0.8 -H 'Host: sha.test' -H 'X-Forwarded-For: 2001:db8::1' \
	-H 'X-Forwarded-Host: front.example' "http://127.0.0.1:$P2/echo-v6" 2>&1)
has "$out" 'Forwarded: for="[2001:db8::1]";proto=http' && sy_ok || sy_bad "Forwarded IPv6 quoted ($out)"
has "$out" "X-Forwarded-Host: front.example" && sy_ok ||
	sy_bad "a trusted forwarder's X-Forwarded-Host is kept ($out)"

# --- Transfer-Encoding with empty list elements: forwarded as plain "chunked" ---
for te in 'chunked,' ', chunked' ' ,chunked , '; do
	printf 'POST /echo-te HTTP/1.1\r\nHost: sha.test\r\nTransfer-Encoding: %s\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /echo-next HTTP/1.1\r\nHost: sha.test\r\nConnection: close\r\n\r\n' "$te" >"$T/te"
	out=$(raw "$P1" 127.0.0.7 te)
	n=$(printf '%s' "$out" | grep -ci '^transfer-encoding:')
	has "$out" "Transfer-Encoding: chunked$(printf '\r')" && [ "$n" = 1 ] && has "$out" "GET /echo-next" &&
		sy_ok || sy_bad "TE '$te' normalised to one 'chunked' line ($out)"
done

# --- forwarded heads stay within our own parser's limits (proto/http1.h: HTTP1_HEADERS_MAX
# field lines, HTTP1_HEAD_MAX bytes) once our four lines are in: the largest client head that
# fits is forwarded and its echo passes those limits; one field or one byte more is refused
# like a head over the limit (nginx's "Request Header Or Cookie Too Large"), never forwarded.
# The client's own forwarding fields, which we drop, do not count. ---
hmax=$(sed -n 's/^#define HTTP1_HEADERS_MAX *\([0-9]*\).*/\1/p' "$SY_SOURCE_DIR/proto/http1.h")
bmax=$(sed -n 's/^#define HTTP1_HEAD_MAX *\([0-9]*\).*/\1/p' "$SY_SOURCE_DIR/proto/http1.h")
# Ours from 127.0.0.7: "X-Forwarded-For: 127.0.0.7", "X-Real-IP: 127.0.0.7",
# "X-Forwarded-Proto: http", "Forwarded: for=127.0.0.7;proto=http", each with its CRLF.
ours=112
# mkhead NAME FIELDS BYTES FORGED: a head for /echo-NAME with FIELDS field lines (Host and
# Connection: close included) or, with BYTES > 0, padded to BYTES bytes; FORGED: the first
# four field lines after Host are forwarding fields the client may not set.
mkhead() {
	python3 - "$T/$1" "$1" "$2" "$3" "$4" <<'EOF'
import sys
path, name, nf, nb, forged = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
lines = [b"Host: sha.test", b"Connection: close"]
if forged:
    lines += [b"X-Forwarded-For: 6.6.6.6", b"X_Real_IP: 6.6.6.6", b"Forwarded: for=6.6.6.6",
              b"x-forwarded-proto: https"]
while len(lines) < nf:
    lines.append(b"X-F%d: v" % len(lines))
head = b"GET /echo-" + name.encode() + b" HTTP/1.1\r\n" + b"".join(l + b"\r\n" for l in lines) + b"\r\n"
if nb:
    pad = nb - len(head) - len(b"X-Pad: \r\n")
    assert pad >= 0
    head = head[:-2] + b"X-Pad: " + b"a" * pad + b"\r\n\r\n"
    assert len(head) == nb
open(path, "wb").write(head)
EOF
}
# fits NAME FIELDS BYTES: the answer in $out is the echo of a head with FIELDS field lines
# and BYTES bytes (0: at most HTTP1_HEAD_MAX), within HTTP1_HEADERS_MAX and HTTP1_HEAD_MAX.
fits() {
	printf '%s' "$out" | python3 -c '
import sys
raw = sys.stdin.buffer.read()
want_f, want_b, fmax, bmax = (int(a) for a in sys.argv[1:5])
i = raw.find(b"\r\n\r\nGET ")
j = raw.find(b"\r\n\r\n", i + 4)
head = raw[i + 4:j + 4]
lines = head.split(b"\r\n")[1:-2]
ok = raw.startswith(b"HTTP/1.1 200 ") and i > 0 and j > 0 and len(lines) == want_f
ok = ok and len(lines) <= fmax and len(head) <= bmax and (want_b == 0 or len(head) == want_b)
ok = ok and all(b":" in l and not l[:1].isspace() for l in lines)
print(len(lines), len(head))
sys.exit(0 if ok else 1)' "$1" "$2" "$hmax" "$bmax"
}
# refused NAME: the answer in $out is our 400 for a head too large, and nothing went upstream.
refused() {
	test "$(status "$out")" = 400 && has "$out" "Request Header Or Cookie Too Large" &&
		! has "$out" "GET /echo-$1" && has "$out" "<EOF>" &&
		sy_wait_log access " request .*path=/echo-$1 status=400 upstream_status=- "
}
n=$((hmax - 4))
mkhead lim-f$n $n 0 0
out=$(raw "$P1" 127.0.0.7 lim-f$n)
got=$(fits $hmax 0) && sy_ok || sy_bad "$n client fields + our 4 = $hmax forwarded, within the limits ($got: $out)"
n=$((hmax - 3))
mkhead lim-f$n $n 0 0
out=$(raw "$P1" 127.0.0.7 lim-f$n)
refused lim-f$n && sy_ok || sy_bad "$n client fields + our 4 > $hmax refused, not forwarded ($out)"
mkhead lim-forged $hmax 0 1
out=$(raw "$P1" 127.0.0.7 lim-forged)
got=$(fits $hmax 0) && ! has "$out" 6.6.6.6 && sy_ok ||
	sy_bad "$hmax client fields, 4 of them forged forwarding fields we drop: forwarded ($got: $out)"
n=$((bmax - ours))
mkhead lim-b$n 3 $n 0
out=$(raw "$P1" 127.0.0.7 lim-b$n)
got=$(fits 8 $bmax) && sy_ok || sy_bad "a $n-byte head + our $ours bytes = $bmax forwarded ($got)"
n=$((bmax - ours + 1))
mkhead lim-b$n 3 $n 0
out=$(raw "$P1" 127.0.0.7 lim-b$n)
refused lim-b$n && sy_ok || sy_bad "a $n-byte head + our $ours bytes > $bmax refused ($out)"
n=$((bmax - ours + 96))
mkhead lim-bforged 7 $n 1
out=$(raw "$P1" 127.0.0.7 lim-bforged)
got=$(fits 8 $bmax) && sy_ok ||
	sy_bad "a $n-byte head with 96 bytes of forged forwarding fields: forwarded at $bmax ($got)"
# Pipelined behind a forwarded request: that one is answered, the oversized one is not sent.
n=$((hmax - 3))
mkhead lim-p$n $n 0 0
{ printf 'GET /echo-lim-first HTTP/1.1\r\nHost: sha.test\r\n\r\n'; cat "$T/lim-p$n"; } >"$T/lim-pipe"
out=$(raw "$P1" 127.0.0.7 lim-pipe)
has "$out" "GET /echo-lim-first" && ! has "$out" "GET /echo-lim-p$n" && has "$out" "<EOF>" && sy_ok ||
	sy_bad "an oversized head pipelined behind a forwarded one is not sent ($out)"

# --- forwarding fields in a chunked body's trailer section (RFC 9112 §7.1.2) are removed like
# those of the head (an upstream that merges trailers into the head would believe them);
# every other trailer line and every body byte goes as sent ---
printf 'POST /echo-trailer HTTP/1.1\r\nHost: sha.test\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\nX-Checksum: abc\r\nX-Forwarded-For: 6.6.6.1\r\nx_real_ip: 6.6.6.2\r\nFORWARDED: for=6.6.6.3\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nX-Client-IP: 6.6.6.4\r\nTrue_Client_IP: 6.6.6.5\r\nX-Late:  late value \r\n\r\nGET /echo-after-trailer HTTP/1.1\r\nHost: sha.test\r\nConnection: close\r\n\r\n' >"$T/trailer"
out=$(raw "$P1" 127.0.0.7 trailer)
hasb "$out" 'X-Forwarded-Proto: http\r\nForwarded: for=127.0.0.7;proto=http\r\n\r\nX-Checksum: abc\r\nX-Late:  late value \r\nHTTP/1.1 200' &&
	has "$out" "GET /echo-after-trailer" && sy_ok ||
	sy_bad "trailer: the other lines byte-exact, the next request follows ($out)"
sy_check "trailer: no forwarding field reaches the upstream ($out)" \
	sh -c "! printf '%s' '$out' | grep -qiE '6\.6\.6|evil|https'"
# From a trusted forwarder the trailer follows the head's rule: X-Forwarded-Host is kept,
# X-Forwarded-For is still ours alone.
printf 'POST /echo-ttrailer HTTP/1.1\r\nHost: sha.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\nX-Forwarded-Host: front.example\r\nX-Forwarded-For: 6.6.6.1\r\n\r\n' >"$T/ttrailer"
out=$(raw "$P2" 127.0.0.8 ttrailer)
hasb "$out" '\r\n\r\nX-Forwarded-Host: front.example\r\n<EOF>' && ! has "$out" 6.6.6.1 && sy_ok ||
	sy_bad "trusted forwarder's trailer: X-Forwarded-Host kept, X-Forwarded-For removed ($out)"

# --- absolute-form targets: the authority must agree with Host ---
req absx 'GET http://other.test/absx HTTP/1.1\r\nHost: up.test\r\n\r\n'
raw_status absx 400 "absolute-form naming another host"
req absp 'GET http://up.test:8080/absp HTTP/1.1\r\nHost: up.test\r\n\r\n'
raw_status absp 400 "absolute-form with another port"
req absu 'GET http://x@up.test/absu HTTP/1.1\r\nHost: up.test\r\n\r\n'
raw_status absu 400 "absolute-form with userinfo"
req absok 'GET HTTP://Up.Test:80/absok HTTP/1.1\r\nHost: up.test\r\nConnection: close\r\n\r\n'
out=$(raw "$P1" 127.0.0.7 absok)
has "$out" "nginx-ok /absok" && sy_ok || sy_bad "absolute-form that agrees is forwarded ($out)"
# Absence cannot be polled for: the later request's line first, then a little more time.
ngxwait /absok
sleep 0.2
sy_check "nginx never saw the disagreeing ones" sh -c "! grep -qE 'absx|absp|absu' '$T/ngx/access.log'"

# --- keep-alive: one curl connection, two requests, one upstream connection ---
out=$(curl -sS -m 10 --interface 127.0.0.7 -H 'Host: up.test' \
	"http://127.0.0.1:$P1/ka1" "http://127.0.0.1:$P1/ka2" 2>&1)
sy_check "two answers on one connection ($out)" test "$out" = "nginx-ok /ka1
nginx-ok /ka2"
ngxwait /ka1
ngxwait /ka2
c1=$(ngxlog /ka1 | cut -d'|' -f5) c2=$(ngxlog /ka2 | cut -d'|' -f5)
sy_check "one upstream connection for both ($c1 $c2)" test -n "$c1" -a "$c1" = "$c2"

req pipe 'GET /p1 HTTP/1.1\r\nHost: up.test\r\n\r\nGET /p2 HTTP/1.1\r\nHost: up2.test\r\nConnection: close\r\n\r\n'
out=$(raw "$P1" 127.0.0.7 pipe)
sy_check "pipelined: both answered in order" sh -c "printf '%s' '$out' | tr -d '\r' | grep -c '^HTTP/1.1 200' | grep -qx 2"
has "$out" "nginx-ok /p1" && has "$out" "nginx-ok /p2" && sy_ok || sy_bad "pipelined bodies ($out)"

# --- bodies: Content-Length and chunked, then another request on the same connection ---
head -c 307200 /dev/urandom >"$T/body.bin"
want=$(sha256sum "$T/body.bin" | cut -d' ' -f1)
out=$(curl -sS -m 20 --interface 127.0.0.7 -H 'Host: sha.test' --data-binary @"$T/body.bin" \
	"http://127.0.0.1:$P1/cl" --next -H 'Host: sha.test' "http://127.0.0.1:$P1/after" 2>&1)
l1=$(echo "$out" | sed -n 1p) l2=$(echo "$out" | sed -n 2p)
sy_check "Content-Length body intact ($l1)" test "$(echo "$l1" | cut -d' ' -f1-2)" = "$want 307200"
sy_check "following request on the same upstream connection ($l2)" \
	test "$(echo "$l2" | cut -d' ' -f2-4)" = "0 $(echo "$l1" | cut -d' ' -f3) 127.0.0.7"
out=$(curl -sS -m 20 --interface 127.0.0.7 -H 'Host: sha.test' -H 'Transfer-Encoding: chunked' \
	--data-binary @"$T/body.bin" "http://127.0.0.1:$P1/chunked" \
	--next -H 'Host: sha.test' "http://127.0.0.1:$P1/after" 2>&1)
l1=$(echo "$out" | sed -n 1p) l2=$(echo "$out" | sed -n 2p)
sy_check "chunked body intact ($l1)" test "$(echo "$l1" | cut -d' ' -f1-2)" = "$want 307200"
sy_check "request after a chunked body ($l2)" \
	test "$(echo "$l2" | cut -d' ' -f2-3)" = "0 $(echo "$l1" | cut -d' ' -f3)"
req chunkpipe '3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n'
{ printf 'POST /c HTTP/1.1\r\nHost: sha.test\r\nTransfer-Encoding: chunked\r\n\r\n'; cat "$T/chunkpipe"
  printf 'GET /n HTTP/1.1\r\nHost: sha.test\r\nConnection: close\r\n\r\n'; } >"$T/chunkpipe2"
out=$(raw "$P1" 127.0.0.7 chunkpipe2)
abc=$(printf abc | sha256sum | cut -d' ' -f1)
has "$out" "$abc 3 " && has "$out" "$(printf '%s' "$(printf '' | sha256sum | cut -d' ' -f1)") 0 " &&
	sy_ok || sy_bad "pipelined chunked body with extension and trailer ($out)"

# --- a request for another route on the same connection: answered first, then closed ---
req change 'GET /ch1 HTTP/1.1\r\nHost: up.test\r\n\r\nGET /ch2 HTTP/1.1\r\nHost: other.test\r\n\r\n'
out=$(raw "$P1" 127.0.0.7 change)
has "$out" "nginx-ok /ch1" && ! has "$out" "/ch2" && has "$out" "<EOF>" && sy_ok ||
	sy_bad "route change ($out)"

# --- redirect_https ---
out=$(curl -sS -m 10 -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: Redirect.Test:80' \
	"http://127.0.0.1:$P1/a/b?x=1&y=%20" 2>&1)
sy_check "301 to https, port 443 omitted ($out)" test "$out" = "301 https://redirect.test/a/b?x=1&y=%20"
out=$(curl -sS -m 10 -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: any.example' \
	"http://127.0.0.1:$P2/p?q" 2>&1)
sy_check "301 with https_port 8443 ($out)" test "$out" = "301 https://any.example:8443/p?q"
req abs 'GET http://redirect.test/abs?z HTTP/1.1\r\nHost: redirect.test\r\nConnection: close\r\n\r\n'
out=$(raw "$P1" 127.0.0.7 abs)
has "$out" "Location: https://redirect.test/abs?z" && sy_ok || sy_bad "absolute-form redirect ($out)"
req r2 'GET /one HTTP/1.1\r\nHost: redirect.test\r\n\r\nGET /two HTTP/1.1\r\nHost: redirect.test\r\nConnection: close\r\n\r\n'
out=$(raw "$P1" 127.0.0.7 r2)
has "$out" "https://redirect.test/one" && has "$out" "https://redirect.test/two" && sy_ok ||
	sy_bad "two redirects on one keep-alive connection ($out)"

# --- our own answers ---
out=$(curl -sS -m 10 -D - -o "$T/404.html" -H 'Host: nowhere.test' "http://127.0.0.1:$P1/" 2>&1)
sy_check "no route -> 404" test "$(status "$out")" = 404
has "$out" "Server: nginx" && grep -q '<title>404 Not Found</title>' "$T/404.html" && sy_ok ||
	sy_bad "404 looks like nginx ($out)"
req bad 'GET / HTTP/1.1\r\nHost: up.test\r\nBad Header\r\n\r\n'
raw_status bad 400 "bad head"
has "$out" "Connection: close" && has "$out" "<EOF>" && sy_ok || sy_bad "400 closes ($out)"
req nohost 'GET / HTTP/1.0\r\n\r\n'
out=$(raw "$P1" 127.0.0.7 nohost)
sy_check "missing Host -> 400" test "$(status "$out")" = 400
{ printf 'GET / HTTP/1.1\r\nHost: up.test\r\nX-Big: '; head -c 17000 /dev/zero | tr '\0' a; printf '\r\n\r\n'; } >"$T/big"
raw_status big 400 "huge head"
has "$out" "Request Header Or Cookie Too Large" && sy_ok || sy_bad "huge head: not nginx's page ($out)"
{ printf 'GET /'; head -c 9000 /dev/zero | tr '\0' u; printf ' HTTP/1.1\r\nHost: up.test\r\n\r\n'; } >"$T/longuri"
raw_status longuri 414 "long URI"
req h2 'GET / HTTP/2.0\r\nHost: up.test\r\n\r\n'
raw_status h2 505 "HTTP/2.0"
req slow 'GET / HTTP/1.1\r\nHost: up'
out=$(raw "$P1" 127.0.0.7 slow 5)
sy_check "stalled head -> closed with nothing ($out)" test "$out" = "<EOF>"
req empty ''
out=$(raw "$P1" 127.0.0.7 empty 5)
sy_check "silence -> closed with nothing ($out)" test "$out" = "<EOF>"
out=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' -H 'Host: down.test' "http://127.0.0.1:$P1/" 2>&1)
sy_check "upstream down -> 502 ($out)" test "$out" = 502
sy_wait_log hole holding || sy_bad "black hole did not start"
out=$(curl -sS -m 10 -o /dev/null -w '%{http_code} %{time_total}' -H 'Host: hole.test' "http://127.0.0.1:$P1/" 2>&1)
code=${out%% *} secs=${out#* }
sy_check "connect timeout -> 504 ($out)" test "$code" = 504
sy_check "504 after connect_timeout 500ms, not before, not much later ($secs s)" \
	python3 -c "import sys; sys.exit(0 if 0.5 <= $secs < 1.5 else 1)"

# --- trusted forwarders ---
out=$(curl -sS -m 10 --interface 127.0.0.8 -H 'Host: up.test' \
	-H 'X-Forwarded-For: 1.2.3.4, 5.6.7.8, not-an-ip' "http://127.0.0.1:$P2/trusted" 2>&1)
ngxwait /trusted
line=$(ngxlog /trusted)
sy_check "trusted forwarder's XFF believed ($out; $line)" \
	test "$(echo "$line" | cut -d'|' -f2-3)" = "5.6.7.8|5.6.7.8"
curl -sS -m 10 --interface 127.0.0.7 -H 'Host: up.test' -H 'X-Forwarded-For: 1.2.3.4' \
	"http://127.0.0.1:$P2/untrusted" >/dev/null 2>&1
ngxwait /untrusted
line=$(ngxlog /untrusted)
sy_check "untrusted peer's XFF ignored ($line)" \
	test "$(echo "$line" | cut -d'|' -f2-3)" = "127.0.0.7|127.0.0.7"

# --- PROXY v1 in from a trusted peer ---
req pp 'PROXY TCP4 9.8.7.6 10.0.0.1 1111 80\r\nGET /pp HTTP/1.1\r\nHost: up.test\r\nConnection: close\r\n\r\n'
out=$(raw "$P3" 127.0.0.9 pp)
has "$out" "nginx-ok /pp" && sy_ok || sy_bad "PROXY v1 request answered ($out)"
ngxwait /pp
sy_check "PROXY source is the client ($(ngxlog /pp))" test "$(ngxlog /pp | cut -d'|' -f2)" = "9.8.7.6"
req nopp 'GET /nopp HTTP/1.1\r\nHost: up.test\r\n\r\n'
out=$(raw "$P3" 127.0.0.9 nopp)
sy_check "no PROXY header from a trusted peer -> closed ($out)" test "$out" = "<EOF>"

# --- site: the terminator's decoy over plain HTTP ---
out=$(curl -sS -m 10 -H 'Host: site.test' "http://127.0.0.1:$P1/" "http://127.0.0.1:$P1/index.html" 2>&1)
sy_check "site answers twice on one connection ($out)" test "$out" = "decoy-index
decoy-index"

# --- WebSocket: forwarded, then a raw relay ---
req ws 'GET /ws HTTP/1.1\r\nHost: sha.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nGET /not-parsed HTTP/1.1\r\n'
out=$(raw "$P1" 127.0.0.7 ws 1)
has "$out" "101 Switching" && has "$out" "echo:GET /not-parsed HTTP/1.1" && sy_ok ||
	sy_bad "websocket raw relay ($out)"

# --- an Upgrade the upstream refuses: no relay, the next request is parsed and rewritten ---
req noup 'GET /echo-noup HTTP/1.1\r\nHost: sha.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /echo-smuggled HTTP/1.1\r\nHost: sha.test\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nConnection: close\r\n\r\n'
out=$(raw "$P1" 127.0.0.7 noup)
n200=$(printf '%s' "$out" | grep -o 'HTTP/1.1 200' | wc -l)
has "$out" "GET /echo-smuggled" && [ "$n200" = 2 ] && sy_ok || sy_bad "refused upgrade: two answers ($out)"
sy_check "refused upgrade: the next request is rewritten ($out)" \
	sh -c "! printf '%s' '$out' | grep -q 6.6.6.6 && printf '%s' '$out' | grep -q 'Forwarded: for=127.0.0.7;proto=http'"

# --- the upstream's responses are framed ---
req hints 'GET /hints HTTP/1.1\r\nHost: sha.test\r\n\r\nGET /after-hints HTTP/1.1\r\nHost: sha.test\r\nConnection: close\r\n\r\n'
out=$(raw "$P1" 127.0.0.7 hints)
has "$out" "103 Early Hints" && has "$out" "hinted" && [ "$(printf '%s' "$out" | grep -o 'HTTP/1.1 200' | wc -l)" = 2 ] &&
	sy_ok || sy_bad "103 passed on, then the response, then the next ($out)"
req badresp 'GET /bad-resp HTTP/1.1\r\nHost: sha.test\r\n\r\n'
raw_status badresp 502 "malformed upstream head (bare LF)"
! has "$out" "200 OK" && has "$out" "<EOF>" && sy_ok || sy_bad "nothing of the bad head reaches the client ($out)"

# --- large response bodies (Content-Length, chunked) and a request after each, one connection ---
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 1200)' >"$T/big.want"
want=$(sha256sum "$T/big.want" | cut -d' ' -f1)
curl -sS -m 20 --interface 127.0.0.7 -H 'Host: sha.test' "http://127.0.0.1:$P1/big-len" -o "$T/big1" \
	--next -H 'Host: sha.test' "http://127.0.0.1:$P1/big-chunked" -o "$T/big2" --raw \
	--next -H 'Host: sha.test' "http://127.0.0.1:$P1/after-big" -o "$T/big3" 2>"$T/big.err"
sy_check "300 KiB Content-Length response intact" test "$(sha256sum <"$T/big1" | cut -d' ' -f1)" = "$want"
python3 - "$T/big2" "$want" <<'EOF' && sy_ok || sy_bad "300 KiB chunked response intact, byte-exact ($(cat "$T/big.err"))"
import hashlib, sys
raw, body, i = open(sys.argv[1], "rb").read(), b"", 0
while True:
    j = raw.index(b"\r\n", i)
    n = int(raw[i:j], 16)
    if n == 0:
        break
    body += raw[j + 2:j + 2 + n]
    i = j + 2 + n + 2
sys.exit(0 if hashlib.sha256(body).hexdigest() == sys.argv[2] and raw.endswith(b"0\r\nX-Trailer: 1\r\n\r\n") else 1)
EOF
sy_check "the request after them on the same connection ($(cat "$T/big3"))" \
	test "$(cut -d' ' -f2 "$T/big3")" = 0

# --- the upstream closes instead of answering: 502 on a new upstream connection; on a reused
# one (its keep-alive ran out as the request went) the client is closed without an answer,
# so that it retries ---
req drop1 'GET /drop HTTP/1.1\r\nHost: sha.test\r\n\r\n'
raw_status drop1 502 "closed before answering a first request"
req drop2 'GET /echo-first HTTP/1.1\r\nHost: sha.test\r\n\r\nGET /drop HTTP/1.1\r\nHost: sha.test\r\n\r\n'
out=$(raw "$P1" 127.0.0.7 drop2)
has "$out" "GET /echo-first" && ! has "$out" "502" && has "$out" "<EOF>" && sy_ok ||
	sy_bad "closed before answering on a reused connection -> closed, no 502 ($out)"

# --- at most 16 unanswered requests per connection (HCONN_PIPELINE_MAX), N and N+1 ---
sy_wait_log plb listening || sy_bad "pipelining backend did not start"
for k in 16 17; do
	: >"$T/pl$k"
	i=1
	while [ $i -lt $k ]; do printf 'GET /pl%d HTTP/1.1\r\nHost: pl.test\r\n\r\n' $i >>"$T/pl$k"; i=$((i + 1)); done
	printf 'GET /pl%d HTTP/1.1\r\nHost: pl.test\r\nConnection: close\r\n\r\n' $k >>"$T/pl$k"
	before=$(grep -c batch "$T/plb.log")
	out=$(raw "$P1" 127.0.0.7 "pl$k" 4)
	n=$(printf '%s' "$out" | grep -o 'HTTP/1.1 200' | wc -l)
	sy_check "$k pipelined: all answered ($n)" test "$n" = "$k"
	has "$out" "<EOF>" && sy_ok || sy_bad "$k pipelined: closed after the last ($out)"
	batches=$(grep batch "$T/plb.log" | tail -n +$((before + 1)) | tr '\n' ' ')
	if [ $k = 16 ]; then want="batch 16 "; else want="batch 16 batch 1 "; fi
	sy_check "$k pipelined: the upstream had at most 16 at once ($batches)" test "$batches" = "$want"
done

# --- per-request access lines and forwarded responses in the metrics ---
# (Each line is written when its answer or connection ends: waited for, not slept for.)
sy_wait_log access ' request client=127\.0\.0\.7:[0-9]+ listener=web host=up\.test route=[^ ]+ upstream=ngx server=127\.0\.0\.1:[0-9]+ proxy=off method=GET path=/fields status=200 upstream_status=200 in=[1-9][0-9]* out=[1-9][0-9]* ms=[0-9]+$' &&
	sy_ok || sy_bad "request line for /fields ($(grep 'path=/fields' "$T/access.log"))"
sy_wait_log access ' request .*path=/ka1 status=200' && sy_wait_log access ' request .*path=/ka2 status=200' &&
	sy_ok || sy_bad "one request line per request on a keep-alive connection"
sy_wait_log access ' request .*host=nowhere\.test .*upstream=- .*method=GET path=/ status=404 upstream_status=- ' &&
	sy_ok || sy_bad "request line for our own 404 ($(grep 'nowhere' "$T/access.log"))"
sy_wait_log access ' request .*path=/bad-resp status=502 upstream_status=- ' && sy_wait_log access 'end=bad_response' &&
	sy_ok || sy_bad "request line and end=bad_response for a malformed upstream head"
sy_wait_log access ' request .*path=/ws status=101 upstream_status=101 ' && sy_ok || sy_bad "request line for the 101"
m200=$(sy_metric "$PA" 'switchyard_http_responses_total{listener="web",status="200"}')
m101=$(sy_metric "$PA" 'switchyard_http_responses_total{listener="web",status="101"}')
m404=$(sy_metric "$PA" 'switchyard_http_responses_total{listener="web",status="404"}')
sy_check "forwarded 200s counted ($m200)" test "$m200" -ge 40
sy_check "forwarded 101 counted ($m101)" test "$m101" -ge 1
sy_check "our own 404 still counted ($m404)" test "$m404" -ge 1

# --- the access log and switchyard's own log ---
sy_wait_log access 'sni=up.test' && sy_ok || sy_bad "access log sni=Host ($(tail -n 3 "$T/access.log"))"
sy_wait_log access 'route_change' && sy_ok || sy_bad "access log end=route_change"
sy_wait_log access 'upstream=sha' && sy_ok || sy_bad "access log upstream"
sy_stop sy
if grep -qE "$LOG_BAD" "$T/sy.log"; then sy_bad "bad lines in switchyard's log: $(grep -E "$LOG_BAD" "$T/sy.log" | head -n 5)"; else sy_ok; fi
sy_done
