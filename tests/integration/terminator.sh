#!/bin/sh
# Scenario: the in-process terminator behind a tls listener (issue 4 items 1-4, 6, 7).
# Covers:
#  1. hand-off: curl (--resolve) and openssl s_client through the tls listener for an exact
#     SNI route and for `default: {terminate: true}` without SNI; a ClientHello re-framed
#     into 3 records and written 1 byte per write completes; behind PROXY v2 (trusted CIDR)
#     the access log shows the PROXY source as the client of a terminated connection;
#  2. TLS: RSA 2048 + ECDSA P-256 for one name (ECDSA by default, RSA for RSA-only sigalgs
#     over TLS 1.2 and 1.3), a wildcard certificate, a third name, an unknown name gets the
#     first configured certificate; TLS 1.3 suites in our order (AES-128-GCM first over
#     s_client's AES-256-GCM-first list, ChaCha20 to a client listing it first, AES-256-GCM
#     alone still accepted); tls_min_version 1.3 refuses -tls1_2, 1.2 takes both;
#     ALPN http/1.1 is chosen from "h2,http/1.1" and "h2" alone gets no ALPN; session
#     tickets resume over TLS 1.2 and 1.3 (counted result="resumed"); SIGHUP reloads a
#     replaced certificate, a reload with a key that does not match is refused (the log says
#     why) and the old certificate stays; `switchyard -t` with a missing key file exits 2
#     naming it; without certificates an ephemeral self-signed certificate names the route;
#  3. HTTP over TLS: 200 206 301 304 (If-None-Match, If-Modified-Since) 400 404 (+ the site's
#     404.html) 405 (POST, DELETE; Allow) half a head closed after preread_timeout 1s with no
#     answer (nginx sends no 408) 413 (body limit at N and N+1) 414 (URI limit at N and N+1)
#     416 421 (Host, and an absolute-form target's own authority) a head too large (head
#     size, 101 fields; 100 fields pass: nginx's 400 "Request Header Or Cookie Too Large")
#     501 505; keep-alive (one handshake, two answers), 3 pipelined requests
#     in one write answered in order, HEAD without a body; every status counted exactly; a
#     3 MB file and a range of it arrive byte-exact;
#  4. traversal, each probe by raw request and by curl --path-as-is: encoded dots, slashes,
#     backslashes, NUL, overlong UTF-8, a symlink to a file outside the root, a symlinked
#     directory to /: never 200, never the secret; no directory listing;
#  5. health_path /healthz -> 200; without it /healthz is an ordinary 404;
#  6. Server: nginx and HTML error pages, like an ordinary web server;
#  7. no error-level lines (but the one refused reload) and no sanitizer reports in the log.
. "$(dirname "$0")/lib.sh"
sy_setup
LOG_BAD='^[0-9T:.-]+Z error |AddressSanitizer|LeakSanitizer|runtime error:'
DIR=$(dirname "$0")
PEER="python3 $DIR/sy_peer.py"
HTTPS="python3 $DIR/sy_https.py"
MARK=SY-DECOY-INDEX-7f3a
SECRET=SY-SECRET-CONTENT-91c4

# cert NAME CN KIND DNS...: a self-signed certificate $T/NAME.crt + $T/NAME.key (KIND ec|rsa).
cert() {
	name=$1 cn=$2 kind=$3
	shift 3
	san=""
	for d in "$@"; do san="$san${san:+,}DNS:$d"; done
	if [ "$kind" = rsa ]; then alg="-newkey rsa:2048"; else alg="-newkey ec -pkeyopt ec_paramgen_curve:P-256"; fi
	# shellcheck disable=SC2086
	openssl req -x509 $alg -nodes -days 2 -keyout "$T/$name.key" -out "$T/$name.crt" \
		-subj "/CN=$cn" -addext "subjectAltName=$san" >/dev/null 2>&1
}
cert third third-ec ec third.test
cert multiec multi-ec ec multi.test
cert multirsa multi-rsa rsa multi.test
cert wild wild-ec ec '*.w.test'
cert site site-ec ec a.test
cert reload reload-old ec reload.test
cert reload2 reload-new ec reload.test
cert reload3 reload-newer ec reload.test
cert other other-ec ec reload.test

# The site: our own index and 404 pages, a directory, a larger file, a file without index,
# a secret next to (outside) the root, symlinks out of the root.
W=$T/www
mkdir -p "$W/site/sub" "$W/site/files"
printf '<!DOCTYPE html><html><head><title>t</title></head><body>%s</body></html>\n' "$MARK" >"$W/site/index.html"
printf '<html><body>SY-OWN-404-PAGE</body></html>\n' >"$W/site/404.html"
printf 'sub index\n' >"$W/site/sub/index.html"
printf 'listed-file-0f2b\n' >"$W/site/files/listed-file-0f2b.txt"
python3 -c 'import sys; sys.stdout.write("".join("%05d\n" % i for i in range(2000)))' >"$W/site/big.txt"
printf '%s\n' "$SECRET" >"$W/secret"
ln -s ../secret "$W/site/link"
ln -s / "$W/site/rootlink"

P=$(sy_port) PP=$(sy_port) PS=$(sy_port) A=$(sy_port) P2=$(sy_port) A2=$(sy_port)
cat >"$T/sy.yaml" <<EOF
process: {workers: 1}
log: {level: info, access: $T/access.log, format: text}
admin: {listen: "127.0.0.1:$A"}
listeners:
  - name: edge
    listen: 127.0.0.1:$P
    kind: tls
    preread_timeout: 1s
    routes:
      - {sni: a.test, terminate: true}
      - {sni: [multi.test, third.test, reload.test], terminate: true}
      - {sni: "*.w.test", terminate: true}
      - {sni: unknown.test, terminate: true}
      - default: {terminate: true}
  - name: slow
    listen: 127.0.0.1:$PS
    kind: tls
    routes:
      - {sni: a.test, terminate: true}
  - name: pp
    listen: 127.0.0.1:$PP
    kind: tls
    proxy_protocol_from: [127.0.0.1/32]
    routes:
      - {sni: a.test, terminate: true}
terminator:
  certificates:
    - {cert: $T/third.crt, key: $T/third.key}
    - {cert: $T/multiec.crt, key: $T/multiec.key}
    - {cert: $T/multirsa.crt, key: $T/multirsa.key}
    - {cert: $T/wild.crt, key: $T/wild.key}
    - {cert: $T/site.crt, key: $T/site.key}
    - {cert: $T/reload.crt, key: $T/reload.key}
  tls_min_version: "1.2"
  site: {root: $W/site, health_path: /healthz}
EOF
# The second process: TLS 1.3 only, no certificates (ephemeral), no health path.
cat >"$T/sy2.yaml" <<EOF
process: {workers: 1}
log: {level: info, access: $T/access2.log, format: text}
admin: {listen: "127.0.0.1:$A2"}
listeners:
  - name: edge2
    listen: 127.0.0.1:$P2
    kind: tls
    routes:
      - {sni: eph.test, terminate: true}
terminator:
  tls_min_version: "1.3"
  site: {root: $W/site}
EOF
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(cat "$T/sy.log")"
sy_switchyard sy2 "$T/sy2.yaml" || sy_bad "switchyard 2 did not start: $(cat "$T/sy2.log")"
sy_wait_port "$P" && sy_wait_port "$P2" || sy_bad "listeners not up"

m() { sy_metric "$A" "$1"; }
hs() { m "switchyard_tls_handshakes_total{listener=\"edge\",result=\"$1\"}"; }
st() { m "switchyard_http_responses_total{listener=\"edge\",status=\"$1\"}"; }

# ---- 1. Hand-off ----
b=$(curl -sk -m 10 --resolve "a.test:$P:127.0.0.1" "https://a.test:$P/")
case "$b" in *"$MARK"*) sy_ok ;; *) sy_bad "curl exact SNI: '$b'" ;; esac
b=$(printf 'GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n' |
	timeout 20 openssl s_client -connect "127.0.0.1:$P" -servername a.test -ign_eof 2>/dev/null)
case "$b" in *"HTTP/1.1 200 OK"*"$MARK"*) sy_ok ;; *) sy_bad "s_client exact SNI: no page" ;; esac
b=$(curl -sk -m 10 "https://127.0.0.1:$P/")
case "$b" in *"$MARK"*) sy_ok ;; *) sy_bad "curl without SNI to the default route: '$b'" ;; esac
b=$(printf 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
	timeout 20 openssl s_client -connect "127.0.0.1:$P" -noservername -ign_eof 2>/dev/null)
case "$b" in *"HTTP/1.1 200 OK"*"$MARK"*) sy_ok ;; *) sy_bad "s_client without SNI: no page" ;; esac
# TLS 1.3 suites: our order (AES-128-GCM first) over a client that lists AES-256-GCM first
# (OpenSSL's default, as s_client does); a client that lists ChaCha20 first gets it; a client
# offering only AES-256-GCM still connects.
suite() {
	echo Q | timeout 20 openssl s_client -connect "127.0.0.1:$P" -servername a.test -tls1_3 "$@" 2>/dev/null |
		sed -n 's/^New, TLSv1.3, Cipher is \([A-Z0-9_]*\).*/\1/p'
}
c=$(suite)
[ "$c" = TLS_AES_128_GCM_SHA256 ] && sy_ok || sy_bad "s_client's default order: '$c', want TLS_AES_128_GCM_SHA256"
c=$(suite -ciphersuites TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256)
[ "$c" = TLS_CHACHA20_POLY1305_SHA256 ] && sy_ok || sy_bad "ChaCha20 listed first: '$c'"
c=$(suite -ciphersuites TLS_AES_256_GCM_SHA384)
[ "$c" = TLS_AES_256_GCM_SHA384 ] && sy_ok || sy_bad "AES-256-GCM only: '$c'"
sy_wait_log access 'listener=edge sni=- alpn=.* route=default .*end=done' && sy_ok ||
	sy_bad "no access line for the default terminate route"
# (On "slow", preread_timeout 5s: a byte every 2 ms takes longer than edge's 1 s.)
b=$($PEER tls --connect "127.0.0.1:$PS" --sni a.test --records 3 --chunk 1 --delay 0.002 --timeout 30 2>&1)
case "$b" in *"$MARK"*) sy_ok ;; *) sy_bad "3 records, 1 byte per write: '$b'" ;; esac
hdr=$($PEER ppv2 --src 203.0.113.77:4242 --dst "127.0.0.1:$PP")
b=$($PEER tls --connect "127.0.0.1:$PP" --pre-hex "$hdr" --sni a.test --timeout 10 2>&1)
case "$b" in *"$MARK"*) sy_ok ;; *) sy_bad "terminated behind PROXY v2: '$b'" ;; esac
sy_wait_log access 'client=203.0.113.77:4242 listener=pp sni=a.test alpn=http/1.1 route=a.test .*end=done' &&
	sy_ok || sy_bad "access log: no PROXY source for the terminated connection: $(grep listener=pp "$T/access.log")"

# ---- 2. TLS ----
# cn PORT NAME [s_client options]: the subject CN of the certificate the server sends.
cn() {
	port=$1 name=$2
	shift 2
	timeout 20 openssl s_client -connect "127.0.0.1:$port" -servername "$name" "$@" </dev/null 2>/dev/null |
		openssl x509 -noout -subject 2>/dev/null | sed -n 's/^subject= *CN *= *//p'
}
want_cn() {
	got=$(cn "$@")
	[ "$got" = "$WANT" ] && sy_ok || sy_bad "certificate for $2 ($*): got '$got', want '$WANT'"
}
WANT=multi-ec want_cn "$P" multi.test
WANT=multi-ec want_cn "$P" multi.test -tls1_2
WANT=multi-rsa want_cn "$P" multi.test -tls1_2 -sigalgs "RSA-PSS+SHA256:RSA+SHA256"
WANT=multi-rsa want_cn "$P" multi.test -tls1_3 -sigalgs "RSA-PSS+SHA256:RSA+SHA256"
WANT=multi-rsa want_cn "$P" multi.test -tls1_2 -sigalgs "RSA+SHA256"
WANT=wild-ec want_cn "$P" x.w.test
WANT=third-ec want_cn "$P" third.test
WANT=third-ec want_cn "$P" unknown.test
# An RSA-only client on a name with only an ECDSA certificate: no handshake (no RSA to give).
out=$(timeout 20 openssl s_client -connect "127.0.0.1:$P" -servername third.test -tls1_2 -sigalgs "RSA+SHA256" </dev/null 2>&1)
case "$out" in *"CONNECTION ESTABLISHED"* | *"BEGIN CERTIFICATE"*) sy_bad "RSA-only client got an ECDSA-only name" ;; *) sy_ok ;; esac

# proto PORT NAME VERSION_OPTION: prints the negotiated protocol ("" when the handshake failed).
proto() {
	timeout 20 openssl s_client -connect "127.0.0.1:$1" -servername "$2" "$3" -brief </dev/null 2>&1 |
		sed -n 's/^Protocol version: *//p'
}
[ "$(proto "$P" a.test -tls1_2)" = TLSv1.2 ] && sy_ok || sy_bad "min 1.2: TLS 1.2 refused"
[ "$(proto "$P" a.test -tls1_3)" = TLSv1.3 ] && sy_ok || sy_bad "min 1.2: TLS 1.3 refused"
[ "$(proto "$P2" eph.test -tls1_2)" = "" ] && sy_ok || sy_bad "min 1.3: TLS 1.2 accepted"
[ "$(proto "$P2" eph.test -tls1_3)" = TLSv1.3 ] && sy_ok || sy_bad "min 1.3: TLS 1.3 refused"
[ "$(sy_metric "$A2" 'switchyard_tls_handshakes_total{listener="edge2",result="failed"}')" -ge 1 ] &&
	sy_ok || sy_bad "min 1.3: the refused TLS 1.2 handshake is not counted failed"

alpn() {
	timeout 20 openssl s_client -connect "127.0.0.1:$P" -servername a.test -alpn "$1" </dev/null 2>&1 |
		grep -E '^(ALPN protocol|No ALPN)'
}
[ "$(alpn h2,http/1.1)" = "ALPN protocol: http/1.1" ] && sy_ok || sy_bad "ALPN h2,http/1.1: '$(alpn h2,http/1.1)'"
[ "$(alpn h2)" = "No ALPN negotiated" ] && sy_ok || sy_bad "ALPN h2 alone: '$(alpn h2)'"

# Session tickets, TLS 1.2 and 1.3: the second connection resumes, and is counted so.
r0=$(hs resumed)
for v in -tls1_2 -tls1_3; do
	rm -f "$T/sess.pem"
	printf 'GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n' |
		timeout 20 openssl s_client -connect "127.0.0.1:$P" -servername a.test $v -sess_out "$T/sess.pem" -ign_eof >"$T/s1.out" 2>&1
	printf 'GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n' |
		timeout 20 openssl s_client -connect "127.0.0.1:$P" -servername a.test $v -sess_in "$T/sess.pem" -ign_eof >"$T/s2.out" 2>&1
	grep -q '^New, ' "$T/s1.out" && grep -q '^Reused, ' "$T/s2.out" && grep -q "$MARK" "$T/s2.out" &&
		sy_ok || sy_bad "session ticket $v: not reused ($(grep -E '^(New|Reused)' "$T/s1.out" "$T/s2.out"))"
done
r1=$(hs resumed)
[ $((r1 - r0)) = 2 ] && sy_ok || sy_bad "resumed counter moved $r0 -> $r1, want +2"

# SIGHUP reloads certificates from the same files.
WANT=reload-old want_cn "$P" reload.test
pid=$(cat "$T/sy.pid")
cp "$T/reload2.crt" "$T/reload.crt.new" && cp "$T/reload2.key" "$T/reload.key.new"
mv "$T/reload.key.new" "$T/reload.key" && mv "$T/reload.crt.new" "$T/reload.crt"
kill -HUP "$pid"
sy_wait_log sy 'generation 2 in force' && sy_ok || sy_bad "no reload to generation 2"
WANT=reload-new want_cn "$P" reload.test
s1=$(openssl x509 -noout -serial -in "$T/reload2.crt")
s2=$(timeout 20 openssl s_client -connect "127.0.0.1:$P" -servername reload.test </dev/null 2>/dev/null | openssl x509 -noout -serial)
[ "$s1" = "$s2" ] && sy_ok || sy_bad "after reload: serial $s2, want $s1"
# A certificate with a key that does not match: refused, the log says why, the old one stays.
cp "$T/reload3.crt" "$T/reload.crt" && cp "$T/other.key" "$T/reload.key"
kill -HUP "$pid"
sy_wait_log sy 'reload failed, keeping generation 2: .*key .*reload.key does not match' &&
	sy_ok || sy_bad "mismatched key: no refusal with the reason in the log"
WANT=reload-new want_cn "$P" reload.test
# A missing key file: `switchyard -t` exits 2 and names the key path.
sed "s|$T/third.key|$T/missing.key|" "$T/sy.yaml" >"$T/bad.yaml"
out=$("$SWITCHYARD" -t -c "$T/bad.yaml" 2>&1)
rc=$?
[ $rc = 2 ] && sy_ok || sy_bad "-t with a missing key: exit $rc, want 2"
case "$out" in *"$T/missing.key"*) sy_ok ;; *) sy_bad "-t with a missing key does not name it: $out" ;; esac

# No certificates but a terminate route: an ephemeral self-signed certificate for its name.
grep -q 'ephemeral self-signed .*eph.test' "$T/sy2.log" && sy_ok || sy_bad "no ephemeral certificate log line"
timeout 20 openssl s_client -connect "127.0.0.1:$P2" -servername eph.test </dev/null 2>/dev/null |
	openssl x509 -out "$T/eph.crt" 2>/dev/null
san=$(openssl x509 -noout -ext subjectAltName -in "$T/eph.crt" 2>/dev/null)
case "$san" in *DNS:eph.test*) sy_ok ;; *) sy_bad "ephemeral SAN: '$san'" ;; esac
[ "$(openssl x509 -noout -subject -in "$T/eph.crt" | sed 's/^subject=//')" = \
	"$(openssl x509 -noout -issuer -in "$T/eph.crt" | sed 's/^issuer=//')" ] &&
	openssl verify -CAfile "$T/eph.crt" "$T/eph.crt" >/dev/null 2>&1 && sy_ok || sy_bad "ephemeral certificate is not self-signed"

# ---- 3. HTTP statuses over TLS ----
S0=""
for c in 200 206 301 304 400 404 405 408 413 414 416 421 431 501 505; do S0="$S0 $c=$(st $c)"; done
# req NAME WANT_CODES sy_https-options...: the status codes of the answers, in order ("200 404").
req() {
	name=$1 want=$2
	shift 2
	$HTTPS --connect "127.0.0.1:$P" --tls --sni a.test --out "$T/$name.out" "$@" >"$T/$name.st" 2>&1
	got=$(awk '/^HTTP\/1\.1 /{printf "%s%s", sep, $2; sep=" "}' "$T/$name.st")
	[ "$got" = "$want" ] && sy_ok || sy_bad "$name: got '$got' ($(tail -n 1 "$T/$name.st")), want '$want'"
}
# has NAME PATTERN: the bytes received contain PATTERN (grep -E, binary-safe).
has() { grep -aqE "$2" "$T/$1.out" && sy_ok || sy_bad "$1: no '$2' in the answer"; }
hasnt() { grep -aqE "$2" "$T/$1.out" && sy_bad "$1: '$2' in the answer" || sy_ok; }
C='Connection: close\r\n'
H='Host: a.test\r\n'
E200=0 E206=0 E301=0 E304=0 E400=0 E404=0 E405=0 E408=0 E413=0 E414=0 E416=0 E421=0 E431=0 E501=0 E505=0

req r200 "200" --data "GET / HTTP/1.1\r\n$H$C\r\n"
has r200 "$MARK"; E200=$((E200 + 1))
etag=$(grep -a '^ETag:' "$T/r200.out" | tr -d '\r' | sed 's/^ETag: //')
lm=$(grep -a '^Last-Modified:' "$T/r200.out" | tr -d '\r' | sed 's/^Last-Modified: //')
req r206 "206" --data "GET /big.txt HTTP/1.1\r\n${H}Range: bytes=6-11\r\n$C\r\n"
has r206 "^Content-Range: bytes 6-11/12000"; has r206 '00001$'; E206=$((E206 + 1))
req r301 "301" --data "GET /sub HTTP/1.1\r\n$H$C\r\n"
has r301 "^Location: (https://a.test(:$P)?)?/sub/"; E301=$((E301 + 1))
req r301b "200" --data "GET /sub/ HTTP/1.1\r\n$H$C\r\n"
has r301b "sub index"; E200=$((E200 + 1))
req r304a "304" --data "GET / HTTP/1.1\r\n${H}If-None-Match: $etag\r\n$C\r\n"
E304=$((E304 + 1))
req r304b "304" --data "GET / HTTP/1.1\r\n${H}If-Modified-Since: $lm\r\n$C\r\n"
E304=$((E304 + 1))
req r304c "200" --data "GET / HTTP/1.1\r\n${H}If-None-Match: \"other\"\r\n$C\r\n"
E200=$((E200 + 1))
req r400 "400" --data "GET  / HTTP/1.1\r\n$H\r\n"
E400=$((E400 + 1))
req r400b "400" --data "GET / HTTP/1.1 junk\r\n$H\r\n"
E400=$((E400 + 1))
req r404 "404" --data "GET /nothing-here HTTP/1.1\r\n$H$C\r\n"
has r404 "SY-OWN-404-PAGE"; E404=$((E404 + 1))
req r405 "405" --data "POST / HTTP/1.1\r\n${H}Content-Length: 3\r\n$C\r\nabc"
has r405 "^Allow: GET, HEAD"; E405=$((E405 + 1))
req r405d "405" --data "DELETE /index.html HTTP/1.1\r\n$H$C\r\n"
has r405d "^Allow: GET, HEAD"; E405=$((E405 + 1))
# Half a head, then nothing; preread_timeout is 1s: closed without an answer, like nginx.
req r408 "" --data "GET / HTTP/1.1\r\nHo" --timeout 10
secs=$(sed -n 's/.*secs=//p' "$T/r408.st")
case "$(tail -n 1 "$T/r408.st")" in end=eof*bytes=0*) sy_ok ;; *) sy_bad "slow head: not closed silently: $(tail -n 1 "$T/r408.st")" ;; esac
awk -v s="$secs" 'BEGIN { exit !(s >= 0.8 && s < 4) }' && sy_ok || sy_bad "slow head closed after $secs s, want about 1"
# Body limit (1 MiB): N is skipped (405 for POST), N+1 is 413.
req r413n "405" --data "POST / HTTP/1.1\r\n${H}Content-Length: 1048576\r\n$C\r\n"
E405=$((E405 + 1))
req r413 "413" --data "POST / HTTP/1.1\r\n${H}Content-Length: 1048577\r\n\r\n"
E413=$((E413 + 1))
# URI limit (8192 bytes): N is an ordinary 404, N+1 and 9000 are 414.
u8192="/$(python3 -c 'print("a" * 8191)')"
req r414n "404" --data "GET $u8192 HTTP/1.1\r\n$H$C\r\n"
E404=$((E404 + 1))
req r414a "414" --data "GET ${u8192}a HTTP/1.1\r\n$H\r\n"
E414=$((E414 + 1))
req r414 "414" --data "GET /$(python3 -c 'print("b" * 8999)') HTTP/1.1\r\n$H\r\n"
E414=$((E414 + 1))
req r416 "416" --data "GET /big.txt HTTP/1.1\r\n${H}Range: bytes=999999-\r\n$C\r\n"
has r416 '^Content-Range: bytes \*/12000'; E416=$((E416 + 1))
req r421 "421" --data "GET / HTTP/1.1\r\nHost: other.test\r\n$C\r\n"
hasnt r421 "$MARK"; E421=$((E421 + 1))
# An absolute-form target names the host itself; Host is then ignored (RFC 9112 §3.2.2).
req r421abs "421" --data "GET https://other.test/ HTTP/1.1\r\n${H}$C\r\n"
E421=$((E421 + 1))
req r200abs "200" --data "GET https://a.test/ HTTP/1.1\r\nHost: other.test\r\n$C\r\n"
E200=$((E200 + 1))
# Head size (16 KiB) and field count (100).
big=$(python3 -c 'print("x" * 17000)')
req r431 "400" --data "GET / HTTP/1.1\r\n${H}X-Big: $big\r\n\r\n"
has r431 "<title>400 Request Header Or Cookie Too Large</title>"; E400=$((E400 + 1))
# Host + 98 + Connection = 100 field lines (N): served; Host + 100 = 101 (N+1): 431.
f98=$(python3 -c 'print("".join("X-F%d: v\\r\\n" % i for i in range(98)))')
req r431n "200" --data "GET / HTTP/1.1\r\n$H$f98$C\r\n"
E200=$((E200 + 1))
f100=$(python3 -c 'print("".join("X-F%d: v\\r\\n" % i for i in range(100)))')
req r431c "400" --data "GET / HTTP/1.1\r\n$H$f100\r\n"
has r431c "<title>400 Request Header Or Cookie Too Large</title>"; E400=$((E400 + 1))
req r505 "505" --data "GET / HTTP/2.0\r\n$H\r\n"
E505=$((E505 + 1))
req r501 "501" --data "POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n"
E501=$((E501 + 1))
# Keep-alive: two requests on one connection, one handshake.
h1=$(hs ok)
req ka "200 404" --wait --data "GET / HTTP/1.1\r\n$H\r\n" --data "GET /nope HTTP/1.1\r\n$H$C\r\n"
E200=$((E200 + 1)) E404=$((E404 + 1))
h2=$(hs ok)
[ $((h2 - h1)) = 1 ] && sy_ok || sy_bad "keep-alive: handshakes $h1 -> $h2, want +1"
# Pipelining: three requests in one write, three answers in order.
req pipe "404 200 301" \
	--data "GET /nope HTTP/1.1\r\n$H\r\nGET /sub/ HTTP/1.1\r\n$H\r\nGET /sub HTTP/1.1\r\n$H$C\r\n"
E404=$((E404 + 1)) E200=$((E200 + 1)) E301=$((E301 + 1))
# HEAD: the head of a 200 with its Content-Length, and not one byte of body.
req head "200" --data "HEAD / HTTP/1.1\r\n$H$C\r\n"
E200=$((E200 + 1))
python3 - "$T/head.out" <<'EOF' && sy_ok || sy_bad "HEAD: a body was sent"
import sys
b = open(sys.argv[1], "rb").read()
h, sep, rest = b.partition(b"\r\n\r\n")
cl = [l for l in h.split(b"\r\n") if l.lower().startswith(b"content-length:")]
sys.exit(0 if sep and rest == b"" and cl and int(cl[0].split(b":")[1]) > 0 else 1)
EOF
# Every status counted exactly.
for kv in $S0; do
	c=${kv%%=*} v0=${kv#*=}
	eval "e=\$E$c"
	v1=$(st "$c")
	[ $((v1 - v0)) = "$e" ] && sy_ok || sy_bad "status=\"$c\" counter moved by $((v1 - v0)), want $e"
done

# A file of several TLS records (3 MB, no kTLS here: SSL_write from a buffer) arrives whole,
# and so does a range of it that starts and ends inside records.
head -c 3000000 /dev/urandom >"$W/site/big.bin"
curl -sk -m 30 --resolve "a.test:$P:127.0.0.1" -o "$T/big.got" "https://a.test:$P/big.bin"
cmp -s "$W/site/big.bin" "$T/big.got" && sy_ok || sy_bad "3 MB file not byte-exact ($(wc -c <"$T/big.got") bytes)"
curl -sk -m 30 -r 100001-2900000 --resolve "a.test:$P:127.0.0.1" -o "$T/range.got" "https://a.test:$P/big.bin"
tail -c +100002 "$W/site/big.bin" | head -c 2800000 | cmp -s - "$T/range.got" && sy_ok || sy_bad "3 MB file: range not byte-exact"

# ---- 4. Traversal ----
# probe PATH: neither a raw request over TLS nor curl --path-as-is gets 200 or the secret.
n=0
probe() {
	n=$((n + 1))
	$HTTPS --connect "127.0.0.1:$P" --tls --sni a.test --out "$T/tr$n.out" \
		--data "GET $1 HTTP/1.1\r\n$H$C\r\n" >"$T/tr$n.st" 2>&1
	line=$(grep -E '^(HTTP/|end=)' "$T/tr$n.st" | head -n 1)
	case "$line" in "HTTP/1.1 200"* | end=*) sy_bad "traversal $1 (raw): '$line'" ;; *) sy_ok ;; esac
	grep -aq "$SECRET" "$T/tr$n.out" && sy_bad "traversal $1 (raw): the secret leaked" || sy_ok
	code=$(curl -sk -m 10 --path-as-is --resolve "a.test:$P:127.0.0.1" -o "$T/trc$n.out" -w '%{http_code}' "https://a.test:$P$1")
	case "$code" in 200 | 000) sy_bad "traversal $1 (curl): status $code" ;; *) sy_ok ;; esac
	grep -aq "$SECRET" "$T/trc$n.out" 2>/dev/null && sy_bad "traversal $1 (curl): the secret leaked" || sy_ok
}
probe '/../secret'
probe '/%2e%2e/secret'
probe '/%2E%2E%2Fsecret'
probe '/..%2fsecret'
probe '/..\secret'
probe '/%5c..%5csecret'
probe '/%00'
probe '/index.html%00.png'
probe '/%c0%ae%c0%ae/secret'
probe '/%e0%80%ae%e0%80%ae/secret'
probe '/sub/../../secret'
probe '/link'
probe "/rootlink$W/secret"
probe '/rootlink/etc/hostname'
probe '/rootlink/'
# No directory listing: a directory without index.html is a 404 that names nothing in it.
probe '/files/'
grep -aq 'listed-file' "$T/tr$n.out" "$T/trc$n.out" && sy_bad "directory listing of /files/" || sy_ok
head -n 1 "$T/tr$n.st" | grep -q '^HTTP/1.1 404' && sy_ok || sy_bad "/files/: $(head -n 1 "$T/tr$n.st")"
# The symlink really points at the secret (so the probes above meant something).
grep -q "$SECRET" "$W/site/link" && sy_ok || sy_bad "the link test file is not the secret"

# ---- 5. Health path ----
req health "200" --data "GET /healthz HTTP/1.1\r\n$H$C\r\n"
$HTTPS --connect "127.0.0.1:$P2" --tls --sni eph.test --out "$T/nohealth.out" \
	--data "GET /healthz HTTP/1.1\r\nHost: eph.test\r\n$C\r\n" >"$T/nohealth.st" 2>&1
$HTTPS --connect "127.0.0.1:$P2" --tls --sni eph.test --out "$T/nothing.out" \
	--data "GET /nothing HTTP/1.1\r\nHost: eph.test\r\n$C\r\n" >"$T/nothing.st" 2>&1
[ "$(head -n 1 "$T/nohealth.st")" = "HTTP/1.1 404 Not Found" ] && sy_ok || sy_bad "no health_path: /healthz gave $(head -n 1 "$T/nohealth.st")"
body() { sed '1,/^\r$/d' "$1"; }
[ "$(body "$T/nohealth.out")" = "$(body "$T/nothing.out")" ] && sy_ok || sy_bad "no health_path: /healthz is not an ordinary 404"

# ---- 6. Looks like an ordinary web server ----
for r in r200 r404 r400 r405 r414 r431; do
	grep -aq '^Server: nginx' "$T/$r.out" && sy_ok || sy_bad "$r: no 'Server: nginx'"
done
for r in r400 r405 r413 r414 r421 r431 r501 r505; do
	grep -aq '^Content-Type: text/html' "$T/$r.out" && grep -aq '<html>' "$T/$r.out" && grep -aq '</html>' "$T/$r.out" &&
		sy_ok || sy_bad "$r: not an HTML error page"
done
curl -sk -m 10 -D "$T/curl404.h" -o /dev/null --resolve "a.test:$P:127.0.0.1" "https://a.test:$P/nope"
grep -aqi '^server: nginx' "$T/curl404.h" && sy_ok || sy_bad "curl 404: no Server: nginx"

# ---- 7. Nothing at error level, no sanitizer reports ----
[ "$(m 'switchyard_active_connections{listener="edge"}')" = 0 ] && sy_ok || sy_bad "connections left open on edge"
sy_stop sy
sy_stop sy2
# The refused reload above is the one error line this scenario provokes on purpose.
if grep -v 'reload failed, keeping generation 2: .*does not match' "$T/sy.log" | grep -E "$LOG_BAD"; then
	sy_bad "switchyard logged errors"
else
	sy_ok
fi
if grep -E "$LOG_BAD" "$T/sy2.log"; then sy_bad "switchyard 2 logged errors"; else sy_ok; fi
sy_done
