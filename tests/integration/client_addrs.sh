#!/bin/sh
# Scenario: switchyard-client without --connect tries every address the server's name
# resolves to (client/race.c, RFC 8305 in spirit), against the real switchyard listening
# on 127.0.0.1 only. Each client runs in a private mount namespace (unshare -m) with its
# own /etc/hosts bind-mounted over the real one (evdns reads it at start), so no global
# state changes; the namespace ends with the client.
# Covers: `localhost` resolving to ::1 first (nothing there: refused) connects through
# 127.0.0.1 and carries a flow (curl through SOCKS5 to a real nginx), the failed ::1
# attempt logged with its address and error; a silent first address ([::1] behind a full
# accept queue) does not hold the session: the next address starts CLIENT_RACE_DELAY_MS
# (250 ms) later, not before, and the session is up well within 3 s; CLIENT_ADDRS_MAX (8)
# at N (the 8th address connects) and N+1 (the 9th is never tried: one error lists the 8
# tried with their errors and says 1 more was not tried); CLIENT_RACE_MAX (4) at N (3
# silent addresses, the 4th connects) and N+1 (4 silent addresses hold every slot: the 5th
# is never started, and the race ends at CLIENT_CONNECT_MS, 5 s, not before, naming the
# 4 unanswered and the 1 not tried); through a DNS server (A and AAAA answers, the
# client's /etc/resolv.conf private too) the families alternate and the third address
# wins after two silent ones; the families alternate (::1, 127.0.0.13,
# ::ffff:127.0.0.12, 127.0.0.14, all refused, are tried and listed in that order).
# CLIENT=PATH runs the scenario with another client binary (to see an older one fail).
. "$(dirname "$0")/lib.sh"
sy_setup
sy_client_start nginx curl
command -v unshare >/dev/null || { sy_skip "unshare missing"; sy_done; exit $?; }
printf '127.0.0.1 sy-probe.test\n' >"$T/probe.hosts"
unshare -m sh -c 'mount --bind "$1" /etc/hosts && grep -q sy-probe /etc/hosts' sh \
	"$T/probe.hosts" 2>"$T/probe.err" ||
	{ sy_skip "no private mount namespace with its own /etc/hosts (unshare -m, mount --bind need root): $(cat "$T/probe.err")"; sy_done; exit $?; }
python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null ||
	{ sy_skip "no IPv6 loopback (::1)"; sy_done; exit $?; }

sy_vpn_keys server.key bundle.json me.key || { sy_bad "key tools"; sy_done; exit 1; }
echo "$(sy_vpn_ik me.key x25519_hex) me" >"$T/clients.allow"

W=$(sy_port)
mkdir -p "$T/www" "$T/site"
head -c 100000 /dev/urandom >"$T/www/page.bin"
printf 'decoy\n' >"$T/site/index.html"
sy_nginx ngx "http { access_log off; server { listen 127.0.0.1:$W; root $T/www; } }"
sy_cert site localhost silent.test eight.test nine.test race4.test race5.test alt.test \
	aaaa.test

P=$(sy_port)
sy_vpn_conf sy.yaml "$P" "$(sy_port)" 1 server.key bundle.json clients.allow
echo '    egress: {allow: [127.0.0.1/32]}' >>"$T/sy.yaml"
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(cat "$T/sy.log")"
sy_wait_port "$W" || sy_bad "nginx not up"

# Silent addresses on switchyard's port: [::1] and 127.0.0.2-5, each a listener whose
# accept queue is full (backlog 0, never accepting), so the kernel drops every further SYN
# and a connect there never answers (checked here for each before use).
cat >"$T/silent.py" <<'EOF'
import socket, sys, time
port, keep = int(sys.argv[1]), []
for host in sys.argv[2:]:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam); s.bind((host, port)); s.listen(0); keep.append(s)
    for _ in range(4):
        c = socket.socket(fam); c.setblocking(False)
        try:
            c.connect((host, port))
        except BlockingIOError:
            pass
        keep.append(c)
time.sleep(0.3)
for host in sys.argv[2:]:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    t = socket.socket(fam); t.settimeout(1)
    try:
        t.connect((host, port)); print("not silent", host, flush=True)
    except OSError:
        print("silent", host, flush=True)
    t.close()
time.sleep(300)
EOF

# hosts NAME ADDR...: $T/NAME.hosts maps NAME to the addresses in this order.
hosts() {
	name=$1
	shift
	: >"$T/$name.hosts"
	for a in "$@"; do printf '%s %s\n' "$a" "$name" >>"$T/$name.hosts"; done
}
# cl LABEL HOST [RESOLV]: starts a client for wss://HOST:P in its own mount namespace with
# $T/HOST.hosts as /etc/hosts and RESOLV (when given) as /etc/resolv.conf (debug log in
# $T/LABEL.log, SOCKS5 on $T/LABEL.socks's port); $CLIENT picks the binary (the test's
# own, or an older one to compare).
cl() {
	port=$(sy_port)
	echo "$port" >"$T/$1.socks"
	date +%s%3N >"$T/$1.t0"
	sy_start "$1" unshare -m sh -c 'mount --bind "$1" /etc/hosts &&
		{ [ -z "$2" ] || mount --bind "$2" /etc/resolv.conf; } && shift 2 && exec "$@"' sh \
		"$T/$2.hosts" "${3:-}" "${CLIENT:-$CL}" --server "wss://$2:$P/api/v1/ws" \
		--identity "$T/me.key" --bundle "$T/bundle.json" --cafile "$T/site.crt" \
		--socks "127.0.0.1:$port" --log-level debug
}
# since LABEL: milliseconds since cl LABEL started.
since() { echo $(($(date +%s%3N) - $(cat "$T/$1.t0"))); }
# gap LABEL RE1 RE2: milliseconds between the first log lines of LABEL matching RE1 and RE2
# (the log's own timestamps); -1 when either is missing.
gap() {
	python3 - "$T/$1.log" "$2" "$3" <<'EOF'
import re, sys, datetime
def at(rx):
    for line in open(sys.argv[1], errors="replace"):
        if re.search(rx, line):
            return datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
a, b = at(sys.argv[2]), at(sys.argv[3])
print(-1 if a is None or b is None else int((b - a).total_seconds() * 1000))
EOF
}
# n_lines LABEL RE: how many log lines of LABEL match RE.
n_lines() { grep -cE "$2" "$T/$1.log"; }
page_sha=$(sha256sum "$T/www/page.bin" | cut -c1-64)

# 1. localhost resolves to ::1 first; nothing listens on [::1]:P.
hosts localhost ::1 127.0.0.1
cl lh localhost
sy_wait_log lh 'session up' 100 || sy_bad "localhost (::1 first): no session: $(cat "$T/lh.log")"
sy_check "localhost: the ::1 attempt is logged with its error" \
	grep -qE "connect to \[::1\]:$P failed: Connection refused" "$T/lh.log"
sy_check "localhost: connected through 127.0.0.1" grep -q "connected to 127.0.0.1:$P" "$T/lh.log"
if curl -sS -m 20 -o "$T/lh.body" --socks5-hostname "127.0.0.1:$(cat "$T/lh.socks")" \
	"http://127.0.0.1:$W/page.bin" 2>"$T/lh.err" &&
	[ "$(sha256sum <"$T/lh.body" | cut -c1-64)" = "$page_sha" ]; then sy_ok; else
	sy_bad "localhost: a page through the session: $(cat "$T/lh.err")"
fi
sy_stop lh

# 2. The families alternate: every address refused (nothing listens there yet), tried
# and listed in race order.
hosts alt.test ::1 ::ffff:127.0.0.12 127.0.0.13 127.0.0.14
cl alt alt.test
sy_wait_log alt 'error client: session connecting: no address' 100 ||
	sy_bad "alternating: no error: $(cat "$T/alt.log")"
sy_check "alternating: tried ::1, 127.0.0.13, ::ffff:127.0.0.12, 127.0.0.14 in that order" \
	grep -qF "no address of alt.test:$P connected: [::1]:$P (Connection refused), 127.0.0.13:$P (Connection refused), [::ffff:127.0.0.12]:$P (Connection refused), 127.0.0.14:$P (Connection refused); reconnecting in" \
	"$T/alt.log"
sy_stop alt

# Every silent address answers nothing (the scenario means nothing otherwise).
sy_start silent python3 "$T/silent.py" "$P" ::1 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5
sy_wait_log silent '^(not )?silent 127.0.0.5$' 200
sy_check "5 silent addresses: $(tr '\n' ' ' <"$T/silent.log")" \
	[ "$(grep -c '^silent ' "$T/silent.log")" = 5 ]

# 3. A silent first address: the next one starts 250 ms later and wins.
hosts silent.test ::1 127.0.0.1
cl sil silent.test
sy_wait_log sil 'session up' 60 || sy_bad "silent first: no session within 3 s: $(cat "$T/sil.log")"
ms=$(since sil)
sy_check "silent first: session up within 3 s of start (${ms} ms)" [ "$ms" -lt 3000 ]
g=$(gap sil "connecting to \[::1\]:$P" "connecting to 127.0.0.1:$P")
sy_check "silent first: the next address 250 ms after the first, not before (${g} ms)" \
	[ "$g" -ge 250 ]
sy_check "silent first: ... and not much after (${g} ms)" [ "$g" -lt 1000 ]
sy_check "silent first: the silent attempt is closed" \
	grep -q "closed the slower connect to \[::1\]:$P" "$T/sil.log"
sy_stop sil

# 4. Through DNS (evdns asks A and AAAA): aaaa.test has A 127.0.0.2 (silent) and
# 127.0.0.1, AAAA ::1 (silent), answered by a DNS server on 127.0.0.1:D that the client's
# private /etc/resolv.conf names. evdns lists the A answers first; the race alternates
# the families: 127.0.0.2, ::1, 127.0.0.1, the last one winning within 3 s.
D=$(sy_port)
cat >"$T/dns.py" <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
while True:
    q, peer = s.recvfrom(512)
    end, labels = 12, []
    while q[end] != 0:
        labels.append(q[end + 1:end + 1 + q[end]].decode().lower())
        end += q[end] + 1
    name, qtype = ".".join(labels), struct.unpack(">H", q[end + 1:end + 3])[0]
    print("query", name, qtype, flush=True)
    an, n = b"", 0
    if name == "aaaa.test" and qtype == 1:
        for a in ("127.0.0.2", "127.0.0.1"):
            an += b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(a)
            n += 1
    elif name == "aaaa.test" and qtype == 28:
        an = b"\xc0\x0c" + struct.pack(">HHIH", 28, 1, 60, 16) + \
            socket.inet_pton(socket.AF_INET6, "::1")
        n = 1
    s.sendto(q[:2] + struct.pack(">HHHHH", 0x8180, 1, n, 0, 0) + q[12:end + 5] + an, peer)
EOF
sy_start dns python3 "$T/dns.py" "$D"
sy_wait_log dns '^ready$' 100 || sy_bad "dns server: $(cat "$T/dns.log")"
printf 'nameserver 127.0.0.1:%s\n' "$D" >"$T/resolv.conf"
: >"$T/aaaa.test.hosts"
cl dns4 aaaa.test "$T/resolv.conf"
sy_wait_log dns4 'session up' 60 || sy_bad "AAAA and A: no session within 3 s: $(cat "$T/dns4.log")"
sy_check "AAAA and A: both families asked ($(tr '\n' ' ' <"$T/dns.log"))" \
	grep -q "query aaaa.test 28" "$T/dns.log"
sy_check "AAAA and A: 127.0.0.2 tried first" \
	grep -q "connecting to 127.0.0.2:$P (address 1 of 3 for aaaa.test" "$T/dns4.log"
sy_check "AAAA and A: ::1 tried second" \
	grep -q "connecting to \[::1\]:$P (address 2 of 3 for aaaa.test" "$T/dns4.log"
sy_check "AAAA and A: connected through 127.0.0.1, the third" \
	grep -q "connected to 127.0.0.1:$P (address 3 of 3 for aaaa.test" "$T/dns4.log"
sy_stop dns4
sy_stop dns

# 5. CLIENT_ADDRS_MAX at N: seven refused addresses, the eighth is switchyard's.
hosts eight.test 127.0.0.12 127.0.0.13 127.0.0.14 127.0.0.15 127.0.0.16 127.0.0.17 \
	127.0.0.18 127.0.0.1
cl eight eight.test
sy_wait_log eight 'session up' 100 || sy_bad "8 addresses: no session: $(cat "$T/eight.log")"
sy_check "8 addresses: 7 refused attempts logged" \
	[ "$(n_lines eight "connect to 127\.0\.0\.1[2-8]:$P failed: Connection refused")" -ge 7 ]
sy_check "8 addresses: the 8th connected" \
	grep -q "connected to 127.0.0.1:$P (address 8 of 8 for eight.test:$P)" "$T/eight.log"
sy_stop eight

# ... and at N+1: eight refused, the ninth (switchyard's) is never tried.
hosts nine.test 127.0.0.12 127.0.0.13 127.0.0.14 127.0.0.15 127.0.0.16 127.0.0.17 \
	127.0.0.18 127.0.0.19 127.0.0.1
cl nine nine.test
sy_wait_log nine 'error client: session connecting: no address' 100 ||
	sy_bad "9 addresses: no error: $(cat "$T/nine.log")"
sy_check "9 addresses: one error lists the 8 tried and the 1 not tried" grep -qE \
	"error client: session connecting: no address of nine.test:$P connected: 127.0.0.12:$P \(Connection refused\), (127\.0\.0\.1[3-9]:$P \(Connection refused\)(, )?){7}; 1 more resolved, not tried \(at most 8\); reconnecting in" \
	"$T/nine.log"
sy_check "9 addresses: the 9th was never tried" [ "$(n_lines nine "127\.0\.0\.1:$P")" = 0 ]
sy_check "9 addresses: no session" [ "$(n_lines nine 'session up')" = 0 ]
sy_stop nine

# 6. CLIENT_RACE_MAX at N: three silent addresses hold three slots, the 4th connects
# (started 750 ms in).
hosts race4.test 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.1
cl r4 race4.test
sy_wait_log r4 'session up' 80 || sy_bad "race of 4: no session within 4 s: $(cat "$T/r4.log")"
g=$(gap r4 "connecting to 127.0.0.2:$P" "connecting to 127.0.0.1:$P")
sy_check "race of 4: the 4th address starts 3 steps (750 ms) in (${g} ms)" \
	[ "$g" -ge 750 ] && [ "$g" -lt 2000 ]
sy_check "race of 4: the 4th connected" \
	grep -q "connected to 127.0.0.1:$P (address 4 of 4 for race4.test" "$T/r4.log"
sy_check "race of 4: the 3 silent ones are closed" \
	[ "$(n_lines r4 "closed the slower connect to 127\.0\.0\.[234]:$P")" = 3 ]
sy_stop r4

# ... and at N+1: four silent addresses hold all 4 slots; the 5th never starts and the
# race ends at the 5 s connect deadline, not before.
hosts race5.test 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.1
cl r5 race5.test
sy_wait_log r5 'error client: session connecting: no address' 200 ||
	sy_bad "race of 5: no error within 10 s: $(cat "$T/r5.log")"
sy_check "race of 5: the 5th address was never tried" [ "$(n_lines r5 "127\.0\.0\.1:$P")" = 0 ]
sy_check "race of 5: one error names the 4 unanswered and the 1 not tried" grep -qE \
	"no address of race5.test:$P connected: (127\.0\.0\.[2-5]:$P \(no answer in 5000 ms\)(, )?){4}; 1 not tried in 5000 ms" \
	"$T/r5.log"
g=$(gap r5 "connecting to 127.0.0.2:$P" "error client: session connecting: no address")
sy_check "race of 5: ends at the 5 s deadline, not before (${g} ms)" [ "$g" -ge 5000 ]
sy_check "race of 5: ... and not much after (${g} ms)" [ "$g" -lt 6000 ]
sy_check "race of 5: no session" [ "$(n_lines r5 'session up')" = 0 ]
sy_stop r5

sy_stop silent
sy_done
