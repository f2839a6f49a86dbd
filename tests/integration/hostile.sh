#!/bin/sh
# Scenario: hostile and broken clients and backends (issue 3 item 10, DESIGN.md §5 table).
# Covers:
#  - a real ClientHello re-framed into 3 TLS records and written one byte at a time still
#    routes (a full TLS session with nginx behind completes); the captured 3-record vector
#    written byte by byte reaches a raw backend byte-exact;
#  - a 2 KiB ClientHello (syn_large_key_share_2k) and one of exactly max_hello (16 KiB,
#    syn_max_hello_default_n) are relayed byte-exact; one byte over (…_n1) is refused
#    (decode_error alert or reset) and counted reason="too_large";
#  - garbage and "GET / HTTP/1.1" on a TLS listener: without a default route closed with no
#    reply and counted not_tls; with a default upstream forwarded to it byte-exact;
#  - no SNI: without a default an unrecognized_name alert, counted no_sni; with a default,
#    forwarded byte-exact; an unknown name without a default: unrecognized_name, no_route;
#    SSLv2 and a malformed hello counted sslv2 / malformed;
#  - a refusing backend: the client gets an internal_error alert at once (< 2 s), counted
#    result="upstream_failed" and as a connect failure of that server;
#  - a backend that accepts and never answers: the relay stays up (active gauge 1 after 1 s),
#    the client may close (end=done, the backend got the hello and a FIN), and with
#    idle_timeout 2s a silent connection is closed after about 2 s, counted idle_timeout;
#  - preread_timeout 1s: a client that sends 3 bytes and stalls is closed after about 1 s,
#    counted reason="timeout";
#  - no "error" lines and no sanitizer reports in switchyard's log.
. "$(dirname "$0")/lib.sh"
# Call the interpreter itself, not a version manager's shim (seconds per call under load).
PATH="$(dirname "$(python3 -c 'import sys; print(sys.executable)')"):$PATH"
sy_setup
# Lines that must never be in switchyard's log: error-level lines, sanitizer reports.
LOG_BAD='^[0-9T:.-]+Z error |AddressSanitizer|LeakSanitizer|runtime error:'
PEER="python3 $(dirname "$0")/sy_peer.py"
VEC="$SY_SOURCE_DIR/tests/vectors/tls_hello"

sy_cert ngx split.test
P=$(sy_port) PD=$(sy_port) PS=$(sy_port) A=$(sy_port)
PN=$(sy_port) PE=$(sy_port) PQ=$(sy_port)
sy_closed_port down || sy_bad "the refusing port's holder did not bind: $(cat "$T/down.log")"
PX=$SY_CLOSED_PORT
mkdir -p "$T/echo" "$T/quiet"

sy_nginx ngx "
http {
  access_log off;
  server { listen 127.0.0.1:$PN ssl; ssl_certificate $T/ngx.crt; ssl_certificate_key $T/ngx.key;
           location / { return 200 backend-split; } }
}"
sy_start echo $PEER backend --listen "127.0.0.1:$PE" --mode echo --save "$T/echo"
sy_start quiet $PEER backend --listen "127.0.0.1:$PQ" --mode silent --save "$T/quiet"

# PX: a port this test holds and nothing listens on (sy_closed_port): connections are refused.
cat >"$T/sy.yaml" <<EOF
process: {workers: 1}
log: {level: info, access: $T/access.log, format: text}
admin: {listen: "127.0.0.1:$A"}
listeners:
  - name: edge
    listen: 127.0.0.1:$P
    kind: tls
    routes:
      - {sni: split.test, upstream: ngx}
      - {sni: example.com, upstream: echo}
      - {sni: refused.test, upstream: refused}
  - name: edgedef
    listen: 127.0.0.1:$PD
    kind: tls
    routes:
      - {sni: example.com, upstream: echo}
      - default: {upstream: echo}
  - name: short
    listen: 127.0.0.1:$PS
    kind: tls
    preread_timeout: 1s
    idle_timeout: 2s
    routes:
      - {sni: quiet.test, upstream: quiet}
upstreams:
  ngx: {servers: ["127.0.0.1:$PN"]}
  echo: {servers: ["127.0.0.1:$PE"]}
  quiet: {servers: ["127.0.0.1:$PQ"]}
  refused: {servers: ["127.0.0.1:$PX"]}
EOF
sy_wait_port "$PN" || sy_bad "nginx did not start: $(cat "$T/ngx/error.log")"
sy_wait_log echo listening && sy_wait_log quiet listening || sy_bad "python backends did not start"
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(cat "$T/sy.log")"

m() { sy_metric "$A" "$1"; }
hf() { m "switchyard_hello_failures_total{listener=\"$1\",reason=\"$2\"}"; }
hex() { od -An -tx1 "$1" | tr -d ' \n'; }

# exact LISTENER_PORT FILE WHAT [raw options]: FILE goes through to the echo backend and
# comes back unchanged (the backend answers only after the client's FIN).
exact() {
	port=$1 file=$2 what=$3
	shift 3
	st=$($PEER raw --connect "127.0.0.1:$port" --send "$file" --shut-wr --out "$T/got.bin" --timeout 10 "$@")
	if cmp -s "$file" "$T/got.bin"; then sy_ok; else sy_bad "$what: not relayed byte-exact ($st)"; fi
}

# refused LISTENER_PORT FILE WANT_HEX WHAT: the client gets exactly WANT_HEX (maybe empty), then EOF.
refused() {
	st=$($PEER raw --connect "127.0.0.1:$1" --send "$2" --out "$T/got.bin" --timeout 5)
	got=$(hex "$T/got.bin")
	case "$st" in
	end=eof*) [ "$got" = "$3" ] && sy_ok || sy_bad "$4: got '$got', want '$3'" ;;
	*) sy_bad "$4: client ended '$st'" ;;
	esac
}
ALERT_UNRECOGNIZED=15030300020270
ALERT_DECODE=15030300020232
ALERT_INTERNAL=15030300020250

# Fragmented hellos.
b=$($PEER tls --connect "127.0.0.1:$P" --sni split.test --records 3 --chunk 1 --delay 0.002 --timeout 20 2>&1)
[ "$b" = backend-split ] && sy_ok || sy_bad "3 records, 1 byte per write: '$b'"
exact "$P" "$VEC/syn_split_3_records.bin" "syn_split_3_records one byte at a time" --chunk 1 --delay 0.003
exact "$P" "$VEC/syn_split_tiny_records.bin" "syn_split_tiny_records"

# Large hellos and the max_hello limit (default 16 KiB) at N and N+1.
exact "$P" "$VEC/syn_large_key_share_2k.bin" "2 KiB hello"
exact "$P" "$VEC/syn_max_hello_default_n.bin" "hello of exactly max_hello"
st=$($PEER raw --connect "127.0.0.1:$P" --send "$VEC/syn_max_hello_default_n1.bin" --out "$T/got.bin" --timeout 5)
got=$(hex "$T/got.bin")
case "$st:$got" in end=eof*:$ALERT_DECODE | end=reset*:) sy_ok ;; *) sy_bad "max_hello + 1: '$st' '$got'" ;; esac
[ "$(hf edge too_large)" = 1 ] && sy_ok || sy_bad "too_large is $(hf edge too_large), want 1"

# Not TLS: closed without a reply unless a default route takes it (byte-exact).
printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' >"$T/get.bin"
printf '\001\002garbage\377\000 more garbage\n' >"$T/garbage.bin"
refused "$P" "$T/get.bin" "" "GET on a TLS listener without a default"
refused "$P" "$T/garbage.bin" "" "garbage on a TLS listener without a default"
[ "$(hf edge not_tls)" = 2 ] && sy_ok || sy_bad "not_tls is $(hf edge not_tls), want 2"
exact "$PD" "$T/get.bin" "GET to the default upstream"
exact "$PD" "$T/garbage.bin" "garbage to the default upstream"
[ "$(hf edgedef not_tls)" = 2 ] && sy_ok || sy_bad "edgedef not_tls is $(hf edgedef not_tls), want 2"

# No SNI, unknown names, SSLv2, malformed.
$PEER hello --out "$T/nosni.bin"
$PEER hello --sni unknown.test --out "$T/unknown.bin"
refused "$P" "$T/nosni.bin" "$ALERT_UNRECOGNIZED" "no SNI without a default"
[ "$(hf edge no_sni)" = 1 ] && sy_ok || sy_bad "no_sni is $(hf edge no_sni), want 1"
exact "$PD" "$T/nosni.bin" "no SNI to the default upstream"
refused "$P" "$T/unknown.bin" "$ALERT_UNRECOGNIZED" "unknown name without a default"
[ "$(hf edge no_route)" = 1 ] && sy_ok || sy_bad "no_route is $(hf edge no_route), want 1"
exact "$PD" "$T/unknown.bin" "unknown name to the default upstream"
refused "$P" "$VEC/syn_sslv2_hello.bin" "" "SSLv2 hello"
[ "$(hf edge sslv2)" = 1 ] && sy_ok || sy_bad "sslv2 is $(hf edge sslv2), want 1"
refused "$P" "$VEC/syn_session_id_33.bin" "$ALERT_DECODE" "malformed hello"
[ "$(hf edge malformed)" = 1 ] && sy_ok || sy_bad "malformed is $(hf edge malformed), want 1"

# A backend that refuses: an alert, quickly, and the failure counted.
$PEER hello --sni refused.test --out "$T/refused.bin"
st=$($PEER raw --connect "127.0.0.1:$P" --send "$T/refused.bin" --out "$T/got.bin" --timeout 5)
got=$(hex "$T/got.bin")
secs=${st##*secs=}
case "$st" in end=eof*) [ "$got" = "$ALERT_INTERNAL" ] && sy_ok || sy_bad "refused backend: got '$got'" ;;
*) sy_bad "refused backend: client ended '$st'" ;; esac
awk -v s="$secs" 'BEGIN { exit !(s < 2.0) }' && sy_ok || sy_bad "refused backend: the client waited $secs s"
[ "$(m 'switchyard_connections_total{listener="edge",route="refused.test",result="upstream_failed"}')" = 1 ] &&
	sy_ok || sy_bad "refused backend: result=upstream_failed not counted"
[ "$(m "switchyard_upstream_connect_failures_total{upstream=\"refused\",server=\"127.0.0.1:$PX\",reason=\"error\"}")" -ge 1 ] &&
	sy_ok || sy_bad "refused backend: connect failure not counted"

# A backend that never answers. First the client closes on its own after 0.5 s.
$PEER hello --sni quiet.test --out "$T/quiet.bin"
st=$($PEER raw --connect "127.0.0.1:$PS" --send "$T/quiet.bin" --hold 0.5 --close-after-hold)
i=0
while [ ! -e "$T/quiet/conn-001.bin" ] && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done
cmp -s "$T/quiet.bin" "$T/quiet/conn-001.bin" && sy_ok || sy_bad "silent backend: no FIN or not the hello after the client closed"
sy_wait_log access 'route=quiet.test .*end=done' && sy_ok || sy_bad "client close on a silent backend: no end=done line"
# Then a client that waits: the relay stays up, then idle_timeout (2s) closes it.
$PEER raw --connect "127.0.0.1:$PS" --send "$T/quiet.bin" --timeout 10 >"$T/idle.out" &
idle=$!
sleep 1
a=$(m 'switchyard_active_connections{listener="short"}')
[ "$a" = 1 ] && sy_ok || sy_bad "silent backend: active connections $a after 1 s, want 1 (relay up)"
wait $idle
st=$(cat "$T/idle.out")
secs=${st##*secs=}
case "$st" in end=eof\ bytes=0*) sy_ok ;; *) sy_bad "idle timeout: client ended '$st'" ;; esac
awk -v s="$secs" 'BEGIN { exit !(s >= 1.8 && s < 5) }' && sy_ok || sy_bad "idle timeout after $secs s, want about 2"
[ "$(m 'switchyard_connections_total{listener="short",route="quiet.test",result="idle_timeout"}')" = 1 ] &&
	sy_ok || sy_bad "idle_timeout not counted"

# Pre-read timeout: 3 bytes, then nothing.
st=$($PEER raw --connect "127.0.0.1:$PS" --pre-hex 160301 --timeout 10)
secs=${st##*secs=}
case "$st" in end=eof\ bytes=0*) sy_ok ;; *) sy_bad "preread timeout: client ended '$st'" ;; esac
awk -v s="$secs" 'BEGIN { exit !(s >= 0.8 && s < 3) }' && sy_ok || sy_bad "preread timeout after $secs s, want about 1"
[ "$(hf short timeout)" = 1 ] && sy_ok || sy_bad "reason=timeout is $(hf short timeout), want 1"
sy_wait_log access 'listener=short .*end=preread_timeout' && sy_ok || sy_bad "no end=preread_timeout line"

[ "$(m 'switchyard_active_connections{listener="edge"}')" = 0 ] && sy_ok || sy_bad "connections left open on edge"
sy_stop sy
# "every server of upstream refused failed" is a warning, not an error: nothing at error level.
if grep -E "$LOG_BAD" "$T/sy.log"; then sy_bad "switchyard logged errors"; else sy_ok; fi
sy_done
