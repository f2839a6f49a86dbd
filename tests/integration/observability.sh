#!/bin/sh
# Scenario: observability (issue 3 item 8, DESIGN.md §6).
# Covers:
#  - the access log in `text` format on stderr: one line per connection, every field, byte
#    counts equal to what the client sent and received;
#  - the access log in `json` format to a file: every line parses with python3's json and
#    has every §6 field (time, client, listener, sni, alpn, route, upstream, server, proxy,
#    bytes_in, bytes_out, duration_ms, end, alpn_offered) with the right values and types,
#    null where there is none (alpn is null for passthrough: the negotiated protocol is
#    not visible to us; alpn_offered is the client's list), and network-supplied text (an
#    ALPN with '"' and '\') escaped;
#  - log.access to a file and SIGUSR1: after the file is renamed, lines go on into the
#    renamed file until SIGUSR1, and into a new file at the old path after it;
#  - the admin listener: /metrics passes `promtool check metrics` (when promtool is missing
#    the rest runs and the scenario exits 77: ctest shows it skipped), bytes and connection counters match the traffic,
#    /healthz is 200 "ok", /status names the configuration and its generation (1, then 2
#    after a SIGHUP reload, with switchyard_config_generation following), unknown paths 404,
#    other methods 405, HEAD answers headers without content;
#  - ClientHello failure counters: each of not_tls, sslv2, too_large, malformed, closed,
#    bad_sni, no_sni, no_route and timeout moves by exactly one for its own input, and no
#    other reason moves;
#  - no "error" lines and no sanitizer reports in switchyard's log.
. "$(dirname "$0")/lib.sh"
# Call the interpreter itself, not a version manager's shim (seconds per call under load).
PATH="$(dirname "$(python3 -c 'import sys; print(sys.executable)')"):$PATH"
sy_setup
# Lines that must never be in switchyard's log: error-level lines, sanitizer reports.
LOG_BAD='^[0-9T:.-]+Z error |AddressSanitizer|LeakSanitizer|runtime error:'
PEER="python3 $(dirname "$0")/sy_peer.py"
VEC="$SY_SOURCE_DIR/tests/vectors/tls_hello"

PT=$(sy_port) PJ=$(sy_port) AT=$(sy_port) AJ=$(sy_port) PE=$(sy_port)
mkdir -p "$T/echo"
sy_start echo $PEER backend --listen "127.0.0.1:$PE" --mode echo --save "$T/echo"
sy_wait_log echo listening || sy_bad "echo backend did not start"

# conf NAME PORT ADMIN ACCESS FORMAT
conf() {
	cat >"$T/$1.yaml" <<EOF
process: {workers: 1}
log: {level: info, access: $4, format: $5}
admin: {listen: "127.0.0.1:$3"}
listeners:
  - name: $1
    listen: 127.0.0.1:$2
    kind: tls
    preread_timeout: 1s
    routes:
      - {sni: echo.test, upstream: echo}
upstreams:
  echo: {servers: ["127.0.0.1:$PE"]}
EOF
}
conf text "$PT" "$AT" stderr text
conf json "$PJ" "$AJ" "$T/access.json" json
sy_switchyard sy-text "$T/text.yaml" || sy_bad "switchyard (text) did not start: $(cat "$T/sy-text.log")"
sy_switchyard sy-json "$T/json.yaml" || sy_bad "switchyard (json) did not start: $(cat "$T/sy-json.log")"

head -c 100000 /dev/urandom >"$T/payload.bin"
$PEER hello --sni echo.test --alpn 'h2,http/1.1' --out "$T/hello.bin"
$PEER hello --sni echo.test --alpn 'a"b\c' --out "$T/hello-quote.bin"
cat "$T/hello.bin" "$T/payload.bin" >"$T/send.bin"
cat "$T/hello-quote.bin" "$T/payload.bin" >"$T/send-quote.bin"
NSEND=$(wc -c <"$T/send.bin")
NQUOTE=$(wc -c <"$T/send-quote.bin")

# echo_once PORT FILE: one relayed connection, byte-exact both ways.
echo_once() {
	st=$($PEER raw --connect "127.0.0.1:$1" --send "$2" --shut-wr --out "$T/got.bin")
	cmp -s "$2" "$T/got.bin" && sy_ok || sy_bad "echo through :$1 not byte-exact ($st)"
}

# wait_lines FILE N: waits (10 s at most) until FILE has N lines or more: a connection's
# line is written at its close, which may come after the client's end.
wait_lines() {
	wl=0
	while [ "$(wc -l 2>/dev/null <"$1" || echo 0)" -lt "$2" ] && [ $wl -lt 200 ]; do
		sleep 0.05
		wl=$((wl + 1))
	done
}

# --- text access log on stderr ---
echo_once "$PT" "$T/send.bin"
sy_wait_log sy-text ' client=127\.0\.0\.1:[0-9]+ listener=text ' 40
grep -q " client=127.0.0.1:[0-9]* listener=text sni=echo.test alpn=- route=echo.test upstream=echo server=127.0.0.1:$PE proxy=off in=$NSEND out=$NSEND ms=[0-9]* end=done alpn_offered=h2,http/1.1\$" \
	"$T/sy-text.log" && sy_ok || sy_bad "text access line: $(grep ' client=' "$T/sy-text.log")"
grep ' client=' "$T/sy-text.log" | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z ' &&
	sy_ok || sy_bad "text access line does not start with an ISO-8601 UTC time"

# --- json access log in a file, then rename + SIGUSR1 ---
echo_once "$PJ" "$T/send.bin"
echo_once "$PJ" "$T/send-quote.bin"
$PEER raw --connect "127.0.0.1:$PJ" --pre-hex 160301 --timeout 5 >/dev/null   # closed in pre-read
wait_lines "$T/access.json" 3
mv "$T/access.json" "$T/access.json.1"
echo_once "$PJ" "$T/send.bin"  # still into the renamed file: same descriptor
wait_lines "$T/access.json.1" 4
[ ! -e "$T/access.json" ] && [ "$(wc -l <"$T/access.json.1")" = 4 ] && sy_ok ||
	sy_bad "before SIGUSR1 the 4th line should go to the renamed file"
kill -USR1 "$(cat "$T/sy-json.pid")"
sy_wait_log sy-json 'access log reopened' 40 && sy_ok || sy_bad "SIGUSR1 not acknowledged"
echo_once "$PJ" "$T/send.bin"
wait_lines "$T/access.json" 1
[ "$(wc -l <"$T/access.json" 2>/dev/null)" = 1 ] && [ "$(wc -l <"$T/access.json.1")" = 4 ] && sy_ok ||
	sy_bad "after SIGUSR1 the new line should be alone in the new file"
cat "$T/access.json.1" "$T/access.json" >"$T/all.json"

python3 - "$T/all.json" "$PE" "$NSEND" "$NQUOTE" <<'EOF' && sy_ok || sy_bad "json access log not as expected"
import json, re, sys
path, pe, nsend, nquote = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
fields = {"time", "client", "listener", "sni", "alpn", "route", "upstream", "server", "proxy",
	"bytes_in", "bytes_out", "duration_ms", "end", "alpn_offered"}
recs = [json.loads(l) for l in open(path)]
bad = []
if len(recs) != 5:
	bad.append("%d lines, want 5" % len(recs))
for r in recs:
	if set(r) != fields:
		bad.append("fields %s" % sorted(set(r) ^ fields))
	if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r.get("time", "")):
		bad.append("time %r" % r.get("time"))
	if not re.fullmatch(r"127\.0\.0\.1:\d+", r.get("client", "")):
		bad.append("client %r" % r.get("client"))
	for k in ("bytes_in", "bytes_out", "duration_ms"):
		if not isinstance(r.get(k), int):
			bad.append("%s is not an integer" % k)
relayed = [r for r in recs if r.get("end") == "done"]
want = {"listener": "json", "sni": "echo.test", "route": "echo.test", "upstream": "echo",
	"server": "127.0.0.1:" + pe, "proxy": "off"}
for r in relayed:
	for k, v in want.items():
		if r.get(k) != v:
			bad.append("%s=%r want %r" % (k, r.get(k), v))
if any(r["alpn"] is not None for r in relayed):
	bad.append("passthrough alpn values %r (want null)" % [r["alpn"] for r in relayed])
alpns = sorted(r["alpn_offered"] for r in relayed)
if alpns != ['a"b\\c', "h2,http/1.1", "h2,http/1.1", "h2,http/1.1"]:
	bad.append("alpn_offered values %r" % alpns)
for r in relayed:
	n = nquote if r["alpn_offered"] == 'a"b\\c' else nsend
	if r["bytes_in"] != n or r["bytes_out"] != n:
		bad.append("bytes %d/%d want %d" % (r["bytes_in"], r["bytes_out"], n))
pre = [r for r in recs if r.get("end") != "done"]
if len(pre) != 1 or pre[0]["end"] != "preread_timeout" or pre[0]["sni"] is not None or \
		pre[0]["upstream"] is not None or pre[0]["server"] is not None or pre[0]["alpn"] is not None or \
		pre[0]["alpn_offered"] is not None:
	bad.append("the pre-read line: %r" % pre)
if bad:
	sys.exit("; ".join(bad))
EOF

# --- admin listener ---
curl -s --max-time 5 "http://127.0.0.1:$AJ/metrics" >"$T/metrics.txt"
if command -v promtool >/dev/null 2>&1; then
	promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 && sy_ok ||
		sy_bad "promtool check metrics: $(cat "$T/promtool.out")"
else
	sy_skip "promtool not installed (Debian package prometheus); /metrics not linted"
fi
grep -q '^# TYPE switchyard_connections_total counter$' "$T/metrics.txt" && sy_ok || sy_bad "no TYPE line for connections_total"
v=$(sy_metric "$AJ" 'switchyard_connections_total{listener="json",route="echo.test",result="ok"}')
[ "$v" = 4 ] && sy_ok || sy_bad "connections ok = $v, want 4"
v=$(sy_metric "$AJ" 'switchyard_bytes_total{listener="json",route="echo.test",direction="in"}')
w=$((3 * NSEND + NQUOTE))
[ "$v" = "$w" ] && sy_ok || sy_bad "bytes in = $v, want $w"
v=$(sy_metric "$AJ" 'switchyard_bytes_total{listener="json",route="echo.test",direction="out"}')
[ "$v" = "$w" ] && sy_ok || sy_bad "bytes out = $v, want $w"
v=$(sy_metric "$AJ" 'switchyard_accepted_connections_total{listener="json"}')
[ "$v" = 5 ] && sy_ok || sy_bad "accepted = $v, want 5"
v=$(sy_metric "$AJ" 'switchyard_active_connections{listener="json"}')
[ "$v" = 0 ] && sy_ok || sy_bad "active = $v, want 0"
v=$(sy_metric "$AJ" "switchyard_upstream_up{upstream=\"echo\",server=\"127.0.0.1:$PE\"}")
[ "$v" = 1 ] && sy_ok || sy_bad "upstream_up = $v, want 1"

code=$(curl -s -o "$T/healthz" -w '%{http_code}' "http://127.0.0.1:$AJ/healthz")
[ "$code" = 200 ] && [ "$(cat "$T/healthz")" = ok ] && sy_ok || sy_bad "/healthz: $code $(cat "$T/healthz")"
# HEAD: the GET headers (Content-Length 3) and no content at all (RFC 9110 §9.3.2).
head=$(printf 'HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n' | od -An -tx1 | tr -d ' \n')
$PEER raw --connect "127.0.0.1:$AJ" --pre-hex "$head" --out "$T/head.out" --timeout 5 >/dev/null
python3 - "$T/head.out" <<'EOF' && sy_ok || sy_bad "HEAD /healthz: $(od -c "$T/head.out" | head -5)"
import sys
r = open(sys.argv[1], "rb").read()
sys.exit(not (r.startswith(b"HTTP/1.1 200 ") and b"\r\nContent-Length: 3\r\n" in r and r.endswith(b"\r\n\r\n")))
EOF
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$AJ/metrics")
[ "$code" = 405 ] && sy_ok || sy_bad "POST /metrics: $code, want 405"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AJ/nope")
[ "$code" = 404 ] && sy_ok || sy_bad "/nope: $code, want 404"
curl -s "http://127.0.0.1:$AJ/status" >"$T/status"
grep -qx "config: $T/json.yaml" "$T/status" && grep -qx 'generation: 1' "$T/status" && sy_ok ||
	sy_bad "/status: $(cat "$T/status")"
kill -HUP "$(cat "$T/sy-json.pid")"
sy_wait_log sy-json 'generation 2 in force' 40 || true
curl -s "http://127.0.0.1:$AJ/status" >"$T/status"
grep -qx 'generation: 2' "$T/status" && sy_ok || sy_bad "/status after SIGHUP: $(cat "$T/status")"
[ "$(sy_metric "$AJ" switchyard_config_generation)" = 2 ] && sy_ok || sy_bad "config_generation is not 2 after SIGHUP"

# --- ClientHello failures, one reason at a time, on the text instance ---
REASONS="not_tls sslv2 too_large malformed timeout closed bad_sni no_sni no_route"
snap() {
	for r in $REASONS; do
		printf '%s=%s ' "$r" "$(sy_metric "$AT" "switchyard_hello_failures_total{listener=\"text\",reason=\"$r\"}")"
	done
}
printf 'GET / HTTP/1.1\r\n\r\n' >"$T/get.bin"
$PEER hello --out "$T/nosni.bin"
$PEER hello --sni other.test --out "$T/other.bin"
# provoke REASON: one input that must count exactly that reason
provoke() {
	case "$1" in
	not_tls) $PEER raw --connect "127.0.0.1:$PT" --send "$T/get.bin" ;;
	sslv2) $PEER raw --connect "127.0.0.1:$PT" --send "$VEC/syn_sslv2_hello.bin" ;;
	too_large) $PEER raw --connect "127.0.0.1:$PT" --send "$VEC/syn_max_hello_default_n1.bin" ;;
	malformed) $PEER raw --connect "127.0.0.1:$PT" --send "$VEC/syn_session_id_33.bin" ;;
	timeout) $PEER raw --connect "127.0.0.1:$PT" --pre-hex 160301 ;;
	closed) $PEER raw --connect "127.0.0.1:$PT" --pre-hex 160301 --shut-wr ;;
	bad_sni) $PEER raw --connect "127.0.0.1:$PT" --send "$VEC/syn_sni_255.bin" ;;
	no_sni) $PEER raw --connect "127.0.0.1:$PT" --send "$T/nosni.bin" ;;
	no_route) $PEER raw --connect "127.0.0.1:$PT" --send "$T/other.bin" ;;
	esac
}
for r in $REASONS; do
	before=$(snap)
	provoke "$r" >/dev/null
	after=$(snap)
	want=""
	for x in $before; do
		k=${x%%=*} n=${x#*=}
		[ "$k" = "$r" ] && n=$((n + 1))
		want="$want$k=$n "
	done
	[ "$after" = "$want" ] && sy_ok || sy_bad "hello failure $r: counters went from '$before' to '$after'"
done

sy_stop sy-text
sy_stop sy-json
for n in sy-text sy-json; do
	if grep -E "$LOG_BAD" "$T/$n.log"; then sy_bad "$n logged errors"; else sy_ok; fi
done
sy_done
