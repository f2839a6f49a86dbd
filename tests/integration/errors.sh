#!/bin/sh
# Scenario: error answers (issue 8 item 4): what a client receives when switchyard answers
# on its own, on the TLS terminator and on `kind: http`, against a real nginx as the oracle.
# Covers:
#  1. the oracle: a real nginx (Debian's, server_tokens off, client_header_timeout 1s,
#     client_max_body_size 1m) and switchyard get the same request bytes, and the status
#     line and body of the first answer must be equal byte for byte: 400 (bad request line,
#     bad header line), 404, 405 (POST to a static file), 408 (half a head: nginx answers
#     nothing and closes, so must we), 413, 414, 416, a head over 16 KiB (nginx's "400
#     Request Header Or Cookie Too Large"), 501, 505, 301 (a directory; our redirect route),
#     502 (an upstream that is down). Each is sent to the terminator over TLS, to a kind:http
#     listener (its own answers, and the terminator's site over plain TCP);
#  2. lingering close: a 2 MiB body that is refused (413 from the terminator over TLS and
#     over a kind:http site route; 404 no route and 301 redirect answered by kind:http
#     itself) reaches a client that writes its whole request before reading: the send
#     completes, exactly one answer comes, the connection ends with EOF, not a reset, and
#     bytes sent after that EOF are still taken (the server lingers, it has not closed); the
#     body is made of pipelined GET requests, and none of them is answered or counted;
#     curl --data-binary @2MiB (with and without Expect) prints the status and exits 0;
#     5 tries each (the race is timing dependent);
#  3. the linger is bounded: a client that neither sends nor closes is closed after
#     LINGER_READ_MS (5 s) of quiet; a client still trickling bytes when SIGTERM comes is
#     closed at shutdown_timeout, and the process exits.
. "$(dirname "$0")/lib.sh"
sy_setup
LOG_BAD='^[0-9T:.-]+Z error |AddressSanitizer|LeakSanitizer|runtime error:'
DIR=$(dirname "$0")
ANS="python3 $DIR/sy_answer.py"
POST="python3 $DIR/sy_post.py"

W=$T/www
mkdir -p "$W/sub"
echo "index" >"$W/index.html"
echo "sub" >"$W/sub/index.html"
head -c 100 /dev/zero >"$W/f.txt"
sy_cert a a.test

PN=$(sy_port) PT=$(sy_port) PH=$(sy_port) PX=$(sy_port) A=$(sy_port)
sy_nginx ngx "
http {
  server_tokens off;
  client_header_timeout 1s;
  client_body_timeout 1s;
  access_log off;
  server {
    listen 127.0.0.1:$PN;
    root $W;
    client_max_body_size 1m;
    location /down { proxy_pass http://127.0.0.1:$PX; }
  }
}"
cat >"$T/sy.yaml" <<EOF2
process: {workers: 1, shutdown_timeout: 1s}
log: {level: info, access: $T/access.log, format: text}
admin: {listen: "127.0.0.1:$A"}
listeners:
  - name: tls
    listen: 127.0.0.1:$PT
    kind: tls
    preread_timeout: 1s
    routes:
      - {sni: a.test, terminate: true}
  - name: web
    listen: 127.0.0.1:$PH
    kind: http
    preread_timeout: 1s
    routes:
      - {host: site.test, site: true}
      - {host: redir.test, redirect_https: true}
      - {host: down.test, upstream: down}
upstreams:
  down: {servers: ["127.0.0.1:$PX"]}
terminator:
  certificates: [{cert: $T/a.crt, key: $T/a.key}]
  site: {root: $W}
EOF2
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(cat "$T/sy.log")"
sy_wait_port "$PN" || sy_bad "nginx did not start: $(cat "$T/ngx/error.log")"

# ---- 1. The oracle ----
# same NAME HOSTS REQUEST: REQUEST (printf format, @H@ = the Host) to nginx and to each
# switchyard target in HOSTS ("tls" = the terminator over TLS with Host a.test, else a
# kind:http Host); the answers' status line and body must equal nginx's, and so must how
# the reading ended when nothing came.
same() {
	name=$1 hosts=$2 fmt=$3
	printf "$fmt" | sed 's/@H@/a.test/' >"$T/$name.ngx.req"
	e0=$($ANS 127.0.0.1 "$PN" plain - "$T/$name.ngx.req" "$T/$name.ngx" 4)
	for h in $hosts; do
		if [ "$h" = tls ]; then
			cp "$T/$name.ngx.req" "$T/$name.$h.req"
			e1=$($ANS 127.0.0.1 "$PT" tls a.test "$T/$name.$h.req" "$T/$name.$h" 4)
		else
			printf "$fmt" | sed "s/@H@/$h/" >"$T/$name.$h.req"
			e1=$($ANS 127.0.0.1 "$PH" plain - "$T/$name.$h.req" "$T/$name.$h" 4)
		fi
		if cmp -s "$T/$name.ngx" "$T/$name.$h"; then
			sy_ok
		else
			sy_bad "$name via $h: '$(head -n 1 "$T/$name.$h")' ($(wc -c <"$T/$name.$h") bytes), nginx: '$(head -n 1 "$T/$name.ngx")' ($(wc -c <"$T/$name.ngx") bytes)"
		fi
		if [ "$(head -n 1 "$T/$name.ngx")" = - ]; then
			[ "$e0" = "$e1" ] && sy_ok || sy_bad "$name via $h: no answer, but $e1 (nginx: $e0)"
		fi
	done
	head -n 1 "$T/$name.ngx" | grep -q "^$4" && sy_ok || sy_bad "$name: nginx said '$(head -n 1 "$T/$name.ngx")', want '$4'"
}
C='Connection: close\r\n'
same bad_line "tls site.test nowhere.test" 'GET / HTTP/1.1 junk\r\nHost: @H@\r\n\r\n' "HTTP/1.1 400 "
same bad_field "tls site.test nowhere.test" 'GET / HTTP/1.1\r\nHost: @H@\r\nBad Field\r\n\r\n' "HTTP/1.1 400 "
same not_found "tls site.test nowhere.test" "GET /nothing HTTP/1.1\r\nHost: @H@\r\n$C\r\n" "HTTP/1.1 404 "
same post "tls site.test" "POST / HTTP/1.1\r\nHost: @H@\r\nContent-Length: 3\r\n$C\r\nabc" "HTTP/1.1 405 "
same slow_head "tls site.test" 'GET / HTTP/1.1\r\nHo' "-"
same too_large "tls site.test" 'POST / HTTP/1.1\r\nHost: @H@\r\nContent-Length: 1048577\r\n\r\n' "HTTP/1.1 413 "
same long_uri "tls site.test" "GET /$(python3 -c 'print("u" * 9000)') HTTP/1.1\r\nHost: @H@\r\n\r\n" "HTTP/1.1 414 "
same range "tls site.test" "GET /f.txt HTTP/1.1\r\nHost: @H@\r\nRange: bytes=999-\r\n$C\r\n" "HTTP/1.1 416 "
same big_head "tls site.test" "GET / HTTP/1.1\r\nHost: @H@\r\nX-Big: $(python3 -c 'print("x" * 17000)')\r\n\r\n" "HTTP/1.1 400 "
same te "tls site.test" 'POST / HTTP/1.1\r\nHost: @H@\r\nTransfer-Encoding: gzip, chunked\r\n\r\n' "HTTP/1.1 501 "
same version "tls site.test" 'GET / HTTP/2.0\r\nHost: @H@\r\n\r\n' "HTTP/1.1 505 "
same dir "tls site.test" "GET /sub HTTP/1.1\r\nHost: @H@\r\n$C\r\n" "HTTP/1.1 301 "
# Our redirect route's 301 and an upstream that is down: nginx's own pages for those.
printf "GET /sub HTTP/1.1\r\nHost: a.test\r\n$C\r\n" >"$T/redir.req"
$ANS 127.0.0.1 "$PN" plain - "$T/redir.req" "$T/redir.ngx" 4 >/dev/null
printf "GET /sub HTTP/1.1\r\nHost: redir.test\r\n$C\r\n" >"$T/redir.req"
$ANS 127.0.0.1 "$PH" plain - "$T/redir.req" "$T/redir.sy" 4 >/dev/null
cmp -s "$T/redir.ngx" "$T/redir.sy" && sy_ok || sy_bad "redirect_https 301 differs from nginx's: $(cat "$T/redir.sy")"
printf "GET /down HTTP/1.1\r\nHost: a.test\r\n$C\r\n" >"$T/down.req"
$ANS 127.0.0.1 "$PN" plain - "$T/down.req" "$T/down.ngx" 4 >/dev/null
printf "GET /down HTTP/1.1\r\nHost: down.test\r\n$C\r\n" >"$T/down.req"
$ANS 127.0.0.1 "$PH" plain - "$T/down.req" "$T/down.sy" 4 >/dev/null
cmp -s "$T/down.ngx" "$T/down.sy" && sy_ok || sy_bad "502 differs from nginx's: $(cat "$T/down.sy") / $(cat "$T/down.ngx")"
head -n 1 "$T/down.ngx" | grep -q '^HTTP/1.1 502 ' && sy_ok || sy_bad "nginx /down: $(head -n 1 "$T/down.ngx")"

# ---- 2. Lingering close ----
# The 2 MiB body: pipelined GET requests, so that a server that parsed them would answer.
python3 -c '
import sys
r = b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"
sys.stdout.buffer.write((r * (2097152 // len(r) + 1))[:2097152])' >"$T/body.bin"
st() { sy_metric "$A" "switchyard_http_responses_total{listener=\"$1\",status=\"$2\"}"; }
# linger NAME PORT MODE HOST WANT_STATUS: 5 tries of the write-everything client.
linger() {
	i=0
	while [ $i -lt 5 ]; do
		out=$($POST "$2" "$3" "$4" "$T/body.bin" 2>&1)
		[ "$out" = "send=ok answers=1 first=HTTP/1.1_$5 end=eof after=ok" ] && sy_ok ||
			sy_bad "$1 try $i: '$out'"
		i=$((i + 1))
	done
}
t0=$(st tls 413) t200=$(st tls 200)
linger tls_413 "$PT" tls a.test "413_Request_Entity_Too_Large"
h0=$(st web 413) h200=$(st web 200) h404=$(st web 404) h301=$(st web 301)
linger site_413 "$PH" plain site.test "413_Request_Entity_Too_Large"
linger noroute_404 "$PH" plain nowhere.test "404_Not_Found"
linger redirect_301 "$PH" plain redir.test "301_Moved_Permanently"
sy_check "tls: five 413s counted, no 200 ($(st tls 413) $(st tls 200))" \
	test "$(st tls 413)" = $((t0 + 5)) -a "$(st tls 200)" = "$t200"
sy_check "web: 5 413s, 5 404s, 5 301s, no 200" test "$(st web 413) $(st web 404) $(st web 301) $(st web 200)" = \
	"$((h0 + 5)) $((h404 + 5)) $((h301 + 5)) $h200"
# curl, with its default Expect: 100-continue and without it.
for ex in "" "-HExpect:"; do
	i=0
	while [ $i -lt 5 ]; do
		out=$(curl -sk -m 20 $ex -o /dev/null -w '%{http_code}' --resolve "a.test:$PT:127.0.0.1" \
			--data-binary @"$T/body.bin" "https://a.test:$PT/")
		rc=$?
		[ "$out $rc" = "413 0" ] && sy_ok || sy_bad "curl $ex tls: '$out' exit $rc"
		out=$(curl -s -m 20 $ex -o /dev/null -w '%{http_code}' -H 'Host: site.test' \
			--data-binary @"$T/body.bin" "http://127.0.0.1:$PH/")
		rc=$?
		[ "$out $rc" = "413 0" ] && sy_ok || sy_bad "curl $ex kind:http site: '$out' exit $rc"
		i=$((i + 1))
	done
done
# Every refused 2 MiB body was read to its end (in= counts it) before the close. The lines
# are written at each close, which can follow curl's exit: wait for them (10 s at most).
for e in "listener=tls .*end=http_error" "listener=web .*end=http_error" "listener=web .*end=no_route" "listener=web .*end=redirect"; do
	i=0
	while n=$(grep -E "$e" "$T/access.log" | grep -c ' in=2[0-9]\{6\} '); [ "$n" -lt 5 ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ "$n" -ge 5 ] && sy_ok || sy_bad "access log: $n lines '$e' with the 2 MiB read, want 5 or more: $(grep -E "$e" "$T/access.log" | tail -n 2)"
done

# ---- 3. Bounded ----
# A client that gets its answer and then neither sends nor closes: closed after 5 s of quiet,
# by the terminator (413, site.test) and by kind:http itself (404 no route, nowhere.test).
cat >"$T/quiet.py" <<'EOF2'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /quiet HTTP/1.1\r\nHost: %s\r\nContent-Length: 9999999\r\n\r\nxx" % sys.argv[2].encode())
s.settimeout(10)
b = b""
while True:
    k = s.recv(4096)
    if not k:
        break
    b += k
print("answer" if b.startswith(b"HTTP/1.1 " + sys.argv[3].encode()) else "no answer", flush=True)
time.sleep(8)
EOF2
n0=$(wc -l <"$T/access.log")
c0=$(grep -vc ' request ' "$T/access.log") # connection lines (kind:http also logs each request)
sy_start quiet python3 "$T/quiet.py" "$PH" site.test 413
sy_start quiet2 python3 "$T/quiet.py" "$PH" nowhere.test 404
sy_wait_log quiet answer || sy_bad "quiet client: $(cat "$T/quiet.log")"
sy_wait_log quiet2 answer || sy_bad "quiet client 2: $(cat "$T/quiet2.log")"
sleep 3.5
[ "$(grep -vc ' request ' "$T/access.log")" = "$c0" ] && sy_ok || sy_bad "a quiet client was closed before LINGER_READ_MS"
sleep 3
for e in "route=site.test .*end=http_error" "route=- .*end=no_route"; do
	line=$(tail -n +"$((n0 + 1))" "$T/access.log" | grep -E "listener=web .*$e" | tail -n 1)
	ms=$(echo "$line" | sed -n 's/.* ms=\([0-9]*\) .*/\1/p')
	[ -n "$ms" ] && [ "$ms" -ge 4500 ] && [ "$ms" -lt 6500 ] && sy_ok ||
		sy_bad "quiet client ($e): closed after '$ms' ms, want about 5000 ($line)"
done
# A client that keeps trickling bytes after its 413: SIGTERM closes it at shutdown_timeout (1s).
cat >"$T/trickle.py" <<'EOF2'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /t HTTP/1.1\r\nHost: site.test\r\nContent-Length: 9999999\r\n\r\n")
print("sent", flush=True)
for _ in range(60):
    try:
        s.send(b"x")
    except OSError:
        break
    time.sleep(0.3)
EOF2
sy_start trickle python3 "$T/trickle.py" "$PH"
sy_wait_log trickle sent || sy_bad "trickle client did not start"
sleep 1
pid=$(cat "$T/sy.pid")
t1=$(date +%s%N)
kill -TERM "$pid"
sy_wait_gone "$pid"
t2=$(date +%s%N)
kill -0 "$pid" 2>/dev/null && sy_bad "switchyard still running 10 s after SIGTERM" || sy_ok
ms=$(( (t2 - t1) / 1000000 ))
[ "$ms" -lt 4000 ] && sy_ok || sy_bad "exit after SIGTERM took $ms ms with a lingering client (shutdown_timeout 1s)"

if grep -E "$LOG_BAD" "$T/sy.log"; then sy_bad "switchyard logged errors"; else sy_ok; fi
sy_done
