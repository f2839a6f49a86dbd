#!/bin/sh
# Scenario: upstreams.NAME.fast_open (issue 12 item 2): TCP Fast Open towards upstreams.
# The whole scenario runs in a private network namespace (unshare -n, root), where it sets
# net.ipv4.tcp_fastopen=3 (client and server) and reads the namespace's own TCP counters
# (/proc/net/netstat, what `nstat` shows): the host's setting and counters are never touched.
# Covers:
#  - fast_open: true against a backend with TCP_FASTOPEN on its listener: the first connection
#    gets the cookie, the next ones carry the PROXY v1 header and the ClientHello in the SYN
#    (TcpExt TCPFastOpenActive and TCPFastOpenPassive grow by one per connection); the backend
#    receives exactly "PROXY TCP4 ..." + the bytes the client sent, and the client gets the
#    backend's echo of it all;
#  - fast_open: true against a backend with Fast Open off: the data arrives intact all the
#    same (the kernel falls back), and the server side accepts no SYN data;
#  - no fast_open (the default) against the Fast Open backend: no SYN data at all;
#  - failover with fast_open: the first server refuses (a closed port), the head goes to the
#    second server intact, and the refusal counts as a connect failure of the first;
#  - no "error" lines and no sanitizer reports in switchyard's log.
. "$(dirname "$0")/lib.sh"
if [ "${SY_FO_NETNS:-}" != 1 ]; then
	if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
		SY_FO_NETNS=1
		export SY_FO_NETNS
		exec unshare -n sh "$0" "$@"
	fi
	sy_setup
	sy_skip "fast_open: needs root and unshare -n (a private namespace for net.ipv4.tcp_fastopen)"
	sy_done
	exit $?
fi
ip link set lo up || exit 1
echo 3 >/proc/sys/net/ipv4/tcp_fastopen || exit 1
sy_setup
LOG_BAD='^[0-9T:.-]+Z error |AddressSanitizer|LeakSanitizer|runtime error:'
PEER="python3 $(dirname "$0")/sy_peer.py"

# ctr NAME: a TcpExt counter of this namespace.
ctr() {
	awk -v k="$1" '/^TcpExt:/ { if (!h) { for (i = 2; i <= NF; i++) n[i] = $i; h = 1 }
	    else { for (i = 2; i <= NF; i++) if (n[i] == k) print $i } }' /proc/net/netstat
}

PON=$(sy_port) POFF=$(sy_port) PDEAD=$(sy_port) P=$(sy_port) A=$(sy_port)
mkdir -p "$T/on" "$T/off"
sy_start on $PEER backend --listen "127.0.0.1:$PON" --mode echo --save "$T/on" --fastopen 16
sy_start off $PEER backend --listen "127.0.0.1:$POFF" --mode echo --save "$T/off"
cat >"$T/sy.yaml" <<EOF
process: {workers: 1}
log: {level: info, access: off}
admin: {listen: "127.0.0.1:$A"}
listeners:
  - name: edge
    listen: 127.0.0.1:$P
    kind: tls
    routes:
      - {sni: on.test, upstream: fo_on}
      - {sni: off.test, upstream: fo_off}
      - {sni: plain.test, upstream: plain}
      - {sni: failover.test, upstream: fo_failover}
upstreams:
  fo_on: {servers: ["127.0.0.1:$PON"], proxy_protocol: v1, fast_open: true}
  fo_off: {servers: ["127.0.0.1:$POFF"], proxy_protocol: v1, fast_open: true}
  plain: {servers: ["127.0.0.1:$PON"], proxy_protocol: v1}
  fo_failover: {servers: ["127.0.0.1:$PDEAD", "127.0.0.1:$PON"], proxy_protocol: v1,
                fast_open: true}
EOF
sy_wait_port "$PON"
sy_wait_port "$POFF"
sy_switchyard sy "$T/sy.yaml"
sy_wait_port "$P"

# one NAME SNI DIR: a ClientHello for SNI plus 3000 more bytes through switchyard, SHUT_WR,
# the echo read back; the newest file in DIR must be the PROXY v1 line + exactly those bytes,
# and the echo exactly that file.
one() {
	$PEER hello --sni "$2" --out "$T/$1.hello" || { sy_bad "$1: no hello"; return; }
	head -c 3000 /dev/urandom >"$T/$1.tail"
	cat "$T/$1.hello" "$T/$1.tail" >"$T/$1.sent"
	before=$(ls "$3" | wc -l)
	out=$($PEER raw --connect "127.0.0.1:$P" --send "$T/$1.sent" --shut-wr --out "$T/$1.echo")
	case "$out" in end=eof*) sy_ok ;; *) sy_bad "$1: client: $out" ;; esac
	i=0
	while [ "$(ls "$3" | wc -l)" -le "$before" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	got=$(ls -t "$3" | head -n 1)
	python3 - "$3/$got" "$T/$1.sent" "$T/$1.echo" "$P" "$1" <<'PY' && sy_ok || sy_bad "$1: bytes"
import re, sys
got = open(sys.argv[1], "rb").read()
sent = open(sys.argv[2], "rb").read()
echo = open(sys.argv[3], "rb").read()
line, _, rest = got.partition(b"\r\n")
m = re.fullmatch(rb"PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ " + sys.argv[4].encode(), line)
ok = m is not None and rest == sent and echo == got
if not ok:
    print("%s: line %r, %d of %d bytes match, echo %d bytes" % (sys.argv[5], line[:60],
          len(rest), len(sent), len(echo)), file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

# 1. Fast Open both sides: the first connection fetches the cookie, the next two use it.
a0=$(ctr TCPFastOpenActive) p0=$(ctr TCPFastOpenPassive)
one on1 on.test "$T/on"
a1=$(ctr TCPFastOpenActive) p1=$(ctr TCPFastOpenPassive)
one on2 on.test "$T/on"
one on3 on.test "$T/on"
a2=$(ctr TCPFastOpenActive) p2=$(ctr TCPFastOpenPassive)
echo "fast_open on: TCPFastOpenActive $a0 -> $a1 -> $a2, TCPFastOpenPassive $p0 -> $p1 -> $p2"
sy_check "the 2nd and 3rd connection carry data in the SYN (active $a1 -> $a2)" [ $((a2 - a1)) -eq 2 ]
sy_check "the backend accepted SYN data twice (passive $p1 -> $p2)" [ $((p2 - p1)) -eq 2 ]

# 2. fast_open against a server without it: intact, no SYN data accepted.
p3=$(ctr TCPFastOpenPassive)
one off1 off.test "$T/off"
one off2 off.test "$T/off"
p4=$(ctr TCPFastOpenPassive)
sy_check "a server without Fast Open accepted no SYN data ($p3 -> $p4)" [ "$p4" = "$p3" ]

# 3. The default (no fast_open) against the Fast Open server: no SYN data.
a5=$(ctr TCPFastOpenActive) p5=$(ctr TCPFastOpenPassive)
one plain1 plain.test "$T/on"
one plain2 plain.test "$T/on"
a6=$(ctr TCPFastOpenActive) p6=$(ctr TCPFastOpenPassive)
sy_check "without fast_open no SYN data goes out ($a5 -> $a6, $p5 -> $p6)" \
	[ "$a6" = "$a5" ] && [ "$p6" = "$p5" ]

# 4. Failover: the closed port first, then the Fast Open server; the head arrives whole.
one fail1 failover.test "$T/on"
fails=$(sy_metric "$A" 'switchyard_upstream_connect_failures_total{upstream="fo_failover",server="127.0.0.1:'"$PDEAD"'",reason="error"}')
sy_check "the refusal counts as a connect failure of the first server ($fails)" [ "${fails:-0}" -ge 1 ]

sy_check "no errors or sanitizer reports in switchyard's log" sh -c "! grep -qE '$LOG_BAD' '$T/sy.log'"
sy_done
