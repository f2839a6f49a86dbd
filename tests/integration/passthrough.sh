#!/bin/sh
# Scenario: TLS passthrough by SNI (issue 3 item 1), once with the splice relay and once with
# SWITCHYARD_RELAY=copy; both runs must give the same results.
# Covers:
#  - routing by SNI to real nginx TLS backends with their own certificates: an exact name,
#    a one-label wildcard (*.w.test takes a.w.test, not a.b.w.test nor w.test), and the
#    default route for everything else; checked with curl --resolve (body, and the backend
#    certificate verified by curl --cacert) and openssl s_client -servername (certificate
#    subject);
#  - byte exactness both ways: a 5 MiB random file downloaded through the router has the
#    sha256 of the original; a 5 MiB upload inside TLS reaches a python TLS backend whose
#    sha256 and length match;
#  - half-close: a raw client sends a real ClientHello, then 256 KiB, then shutdown(SHUT_WR);
#    a raw backend that reads to EOF and only then echoes everything receives exactly what
#    was sent (pre-read bytes intact) and the client receives all of it back before EOF:
#    the client's FIN was passed on as a FIN, and the backend's close too;
#  - half-close the other way: a backend that answers and shuts its side first; the client
#    reads to EOF and then still sends 256 KiB, all of which reaches the backend;
#  - IPv6: a listener on [::1] and an upstream on [::1] (when ::1 is not configured on lo the
#    rest runs and the scenario exits 77: ctest shows it skipped);
#  - copy mode is really in force under SWITCHYARD_RELAY=copy (the process holds no pipes
#    after relaying, while the splice run keeps pooled pipes);
#  - the access log line of the download (route, upstream, server, proxy=off, bytes, end) and
#    no "error" lines and no sanitizer reports in switchyard's log.
. "$(dirname "$0")/lib.sh"
# Call the interpreter itself, not a version manager's shim (seconds per call under load).
PATH="$(dirname "$(python3 -c 'import sys; print(sys.executable)')"):$PATH"
sy_setup
# Lines that must never be in switchyard's log: error-level lines, sanitizer reports.
LOG_BAD='^[0-9T:.-]+Z error |AddressSanitizer|LeakSanitizer|runtime error:'
PEER="python3 $(dirname "$0")/sy_peer.py"

V6=1
python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null || V6=0

sy_cert exact exact.test
sy_cert wild '*.w.test'
sy_cert def default.test
sy_cert up upload.test

PE=$(sy_port) PW=$(sy_port) PD=$(sy_port) PU=$(sy_port) PH=$(sy_port) PF=$(sy_port) P6=$(sy_port)
mkdir -p "$T/www" "$T/echo" "$T/first"
head -c 5242880 /dev/urandom >"$T/www/big.bin"
head -c 5242880 /dev/urandom >"$T/up.bin"
head -c 262144 /dev/urandom >"$T/half.bin"

v6srv=""
[ "$V6" = 1 ] && v6srv="server { listen [::1]:$P6 ssl; ssl_certificate $T/exact.crt; ssl_certificate_key $T/exact.key; location / { return 200 backend-v6; } }"
sy_nginx ngx "
http {
  access_log off;
  server { listen 127.0.0.1:$PE ssl; ssl_certificate $T/exact.crt; ssl_certificate_key $T/exact.key;
           root $T/www; location = / { return 200 backend-exact; } }
  server { listen 127.0.0.1:$PW ssl; ssl_certificate $T/wild.crt; ssl_certificate_key $T/wild.key;
           location / { return 200 backend-wild; } }
  server { listen 127.0.0.1:$PD ssl; ssl_certificate $T/def.crt; ssl_certificate_key $T/def.key;
           location / { return 200 backend-default; } }
  $v6srv
}"
sy_start tlssha $PEER backend --listen "127.0.0.1:$PU" --mode tls-sha --cert "$T/up.crt" --key "$T/up.key"
sy_start echo $PEER backend --listen "127.0.0.1:$PH" --mode echo --save "$T/echo"
sy_start first $PEER backend --listen "127.0.0.1:$PF" --mode shutfirst --save "$T/first"
sy_wait_port "$PE" && sy_wait_port "$PW" && sy_wait_port "$PD" || sy_bad "nginx did not start: $(cat "$T/ngx/error.log")"
sy_wait_log tlssha listening && sy_wait_log echo listening && sy_wait_log first listening ||
	sy_bad "python backends did not start"

# conf MODE PORT PORT6: a switchyard configuration for one run.
conf() {
	v6l="" v6u=""
	if [ "$V6" = 1 ]; then
		v6l="
  - name: edge6
    listen: \"[::1]:$3\"
    kind: tls
    routes:
      - sni: v6.test
        upstream: up_v6"
		v6u="
  up_v6: {servers: [\"[::1]:$P6\"]}"
	fi
	cat >"$T/$1.yaml" <<EOF
process: {workers: 1}
log: {level: info, access: $T/$1-access.log, format: text}
listeners:
  - name: edge
    listen: 127.0.0.1:$2
    kind: tls
    routes:
      - sni: exact.test
        upstream: up_exact
      - sni: "*.w.test"
        upstream: up_wild
      - sni: upload.test
        upstream: up_upload
      - sni: echo.test
        upstream: up_echo
      - sni: first.test
        upstream: up_first
      - default: {upstream: up_default}$v6l
upstreams:
  up_exact: {servers: ["127.0.0.1:$PE"]}
  up_wild: {servers: ["127.0.0.1:$PW"]}
  up_default: {servers: ["127.0.0.1:$PD"]}
  up_upload: {servers: ["127.0.0.1:$PU"]}
  up_echo: {servers: ["127.0.0.1:$PH"]}
  up_first: {servers: ["127.0.0.1:$PF"]}$v6u
EOF
}

# get NAME PORT [CURL ARGS]: the body curl receives for https://NAME:PORT/ through the router.
get() {
	n=$1 p=$2
	shift 2
	curl -sS --max-time 10 --resolve "$n:$p:127.0.0.1" "$@" "https://$n:$p/" 2>>"$T/curl.err"
}

# subject NAME PORT: the certificate subject openssl s_client sees with -servername NAME.
subject() {
	openssl s_client -connect "127.0.0.1:$2" -servername "$1" </dev/null 2>/dev/null |
		sed -n 's/^subject=//p'
}

# npipes PID: how many pipe ends the process holds.
npipes() {
	for f in "/proc/$1/fd/"*; do readlink "$f"; done 2>/dev/null | grep -c '^pipe:'
}

# run MODE: every check against a router started in MODE (splice or copy).
run() {
	mode=$1
	P=$(sy_port) P6b=$(sy_port)
	conf "$mode" "$P" "$P6b"
	if [ "$mode" = copy ]; then
		sy_start "sy-$mode" env SWITCHYARD_RELAY=copy "$SWITCHYARD" -c "$T/$mode.yaml"
		sy_wait_log "sy-$mode" 'generation 1\)' 100
	else
		sy_start "sy-$mode" env -u SWITCHYARD_RELAY "$SWITCHYARD" -c "$T/$mode.yaml"
		sy_wait_log "sy-$mode" 'generation 1\)' 100
	fi
	sy_wait_port "$P" || { sy_bad "$mode: switchyard does not listen: $(cat "$T/sy-$mode.log")"; return; }
	pid=$(cat "$T/sy-$mode.pid")
	pipes0=$(npipes "$pid")

	# Routing: exact, wildcard, and what the wildcard must not take.
	b=$(get exact.test "$P" --cacert "$T/exact.crt")
	[ "$b" = backend-exact ] && sy_ok || sy_bad "$mode: exact.test -> '$b'"
	b=$(get a.w.test "$P" --cacert "$T/wild.crt")
	[ "$b" = backend-wild ] && sy_ok || sy_bad "$mode: a.w.test -> '$b'"
	b=$(get A.W.Test "$P" --cacert "$T/wild.crt")
	[ "$b" = backend-wild ] && sy_ok || sy_bad "$mode: A.W.Test (case) -> '$b'"
	b=$(get a.b.w.test "$P" -k)
	[ "$b" = backend-default ] && sy_ok || sy_bad "$mode: a.b.w.test -> '$b' (wildcard is one label)"
	b=$(get w.test "$P" -k)
	[ "$b" = backend-default ] && sy_ok || sy_bad "$mode: w.test -> '$b'"
	b=$(get other.test "$P" -k)
	[ "$b" = backend-default ] && sy_ok || sy_bad "$mode: other.test -> '$b'"
	b=$(curl -sS --max-time 10 --cacert "$T/def.crt" --resolve "default.test:$P:127.0.0.1" "https://default.test:$P/")
	[ "$b" = backend-default ] && sy_ok || sy_bad "$mode: default.test (default cert verified) -> '$b'"

	s=$(subject exact.test "$P")
	echo "$s" | grep -q 'CN *= *exact.test' && sy_ok || sy_bad "$mode: s_client exact.test subject '$s'"
	s=$(subject x.w.test "$P")
	echo "$s" | grep -qF 'CN = *.w.test' && sy_ok || sy_bad "$mode: s_client x.w.test subject '$s'"
	s=$(subject y.x.w.test "$P")
	echo "$s" | grep -q 'CN *= *default.test' && sy_ok || sy_bad "$mode: s_client y.x.w.test subject '$s'"

	# Download: 5 MiB, same sha256.
	curl -sS --max-time 30 --resolve "exact.test:$P:127.0.0.1" --cacert "$T/exact.crt" \
		-o "$T/$mode-big.bin" "https://exact.test:$P/big.bin"
	a=$(sha256sum <"$T/www/big.bin") b=$(sha256sum <"$T/$mode-big.bin" 2>/dev/null)
	[ "$a" = "$b" ] && sy_ok || sy_bad "$mode: 5 MiB download sha256 differs"

	# Upload: 5 MiB inside TLS, the backend reports sha256 and length.
	want="$(sha256sum <"$T/up.bin" | cut -d' ' -f1) 5242880"
	got=$($PEER tls --connect "127.0.0.1:$P" --sni upload.test --upload "$T/up.bin" --timeout 30)
	[ "$got" = "$want" ] && sy_ok || sy_bad "$mode: upload: backend saw '$got', want '$want'"

	# Half-close: hello + data + SHUT_WR; the echo backend answers only after EOF.
	$PEER hello --sni echo.test --out "$T/echo-hello.bin"
	cat "$T/echo-hello.bin" "$T/half.bin" >"$T/$mode-half-sent.bin"
	rm -f "$T"/echo/conn-*
	st=$($PEER raw --connect "127.0.0.1:$P" --send "$T/$mode-half-sent.bin" --shut-wr \
		--out "$T/$mode-half-got.bin" --timeout 10)
	case "$st" in end=eof*) sy_ok ;; *) sy_bad "$mode: half-close client ended '$st'" ;; esac
	cmp -s "$T/$mode-half-sent.bin" "$T/$mode-half-got.bin" && sy_ok ||
		sy_bad "$mode: half-close: echo differs from what was sent ($st)"
	cmp -s "$T/$mode-half-sent.bin" "$T/echo/conn-"*.bin 2>/dev/null && sy_ok ||
		sy_bad "$mode: half-close: backend did not receive exactly what was sent"

	# Half-close the other way: the backend answers and shuts its side first; the client
	# reads to that EOF, then still sends 256 KiB, which must all arrive.
	$PEER hello --sni first.test --out "$T/first-hello.bin"
	rm -f "$T"/first/conn-*
	st=$($PEER raw --connect "127.0.0.1:$P" --send "$T/first-hello.bin" --after-eof-send "$T/half.bin" \
		--out "$T/$mode-first-got.bin" --timeout 10)
	[ "$(cat "$T/$mode-first-got.bin")" = "server speaks first" ] && sy_ok ||
		sy_bad "$mode: backend-first FIN: client got '$(head -c 80 "$T/$mode-first-got.bin")' ($st)"
	i=0
	while ! ls "$T"/first/conn-*.bin >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	cat "$T/first-hello.bin" "$T/half.bin" >"$T/$mode-first-sent.bin"
	cmp -s "$T/$mode-first-sent.bin" "$T"/first/conn-*.bin && sy_ok ||
		sy_bad "$mode: backend-first FIN: the client's later bytes did not all arrive"

	# IPv6 listener and upstream.
	if [ "$V6" = 1 ]; then
		b=$(curl -sS --max-time 10 -k --resolve "v6.test:$P6b:[::1]" "https://v6.test:$P6b/" 2>>"$T/curl.err")
		[ "$b" = backend-v6 ] && sy_ok || sy_bad "$mode: IPv6 v6.test -> '$b'"
		s=$(openssl s_client -connect "[::1]:$P6b" -servername v6.test </dev/null 2>/dev/null | sed -n 's/^subject=//p')
		echo "$s" | grep -q 'CN *= *exact.test' && sy_ok || sy_bad "$mode: IPv6 s_client subject '$s'"
	fi

	# The relay mode really is the one asked for: splice keeps pooled pipes after relaying.
	# (libevent's own pipes and inherited ones are there from the start: compare with that.)
	pipes=$(npipes "$pid")
	if [ "$mode" = copy ]; then
		[ "$pipes" = "$pipes0" ] && sy_ok || sy_bad "copy mode: pipes $pipes0 -> $pipes: splice still in use?"
	else
		[ "$pipes" -gt "$pipes0" ] && sy_ok || sy_bad "splice mode: no pooled pipes after relaying ($pipes0 -> $pipes)"
	fi

	# Access log: the download's line, written at the close (waited for, 10 s at most).
	i=0
	while line=$(grep 'route=exact.test' "$T/$mode-access.log" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^out=/) { split($i, a, "="); if (a[2] > 5242880) { print; exit } } }')
		[ -z "$line" ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	echo "$line" | grep -q "client=127.0.0.1:[0-9]* listener=edge sni=exact.test alpn=[^ ]* route=exact.test upstream=up_exact server=127.0.0.1:$PE proxy=off in=[1-9][0-9]* out=[0-9]* ms=[0-9]* end=done" &&
		sy_ok || sy_bad "$mode: no access log line for the download: '$line'"

	sy_stop "sy-$mode"
	if grep -E "$LOG_BAD" "$T/sy-$mode.log"; then
		sy_bad "$mode: switchyard logged errors"
	else
		sy_ok
	fi
}

[ "$V6" = 1 ] || sy_skip "::1 is not configured on lo; the IPv6 checks are not run"
run splice
run copy
sy_done
