#!/bin/sh
# Scenario: switchyard-client (client/) against the real switchyard (TLS terminator, the VPN
# under /api/v1/ws, keys from `switchyard keygen` / `prekey-bundle`, egress allowed to
# 127.0.0.1) and a real nginx serving files on 127.0.0.1.
# Covers: curl --socks5-hostname and curl -p -x http:// fetching a page; a 100 MiB download
# through SOCKS5 with matching SHA-256; 50 concurrent downloads all correct; the SOCKS
# reply from the real outcome (a closed port: 05 refused; a denied target: 02); the known-
# hosts file written on first use (mode 0600, the server's ik:1: pin); switchyard
# restarted under the client (it reconnects, new flows work); the server restarted with a
# new identity: the running client refuses it (status 3) naming both pins, and a new client
# with the new bundle and the old pin refuses at start (status 3) naming both pins; a bad
# SOCKS version is closed without a reply; BIND gets 07; a non-CONNECT request on the HTTP
# port gets 405, a bad authority 400, a refused flow 502; `switchyard-client keygen` writes
# an identity (0600) that the server accepts; -c FILE with the same names; --help.
. "$(dirname "$0")/lib.sh"
sy_setup
sy_client_start nginx curl

"$SWITCHYARD" keygen -o "$T/server.key" >/dev/null &&
	"$SWITCHYARD" prekey-bundle --identity "$T/server.key" -o "$T/bundle.json" >/dev/null &&
	"$SWITCHYARD" keygen -o "$T/new.key" >/dev/null &&
	"$SWITCHYARD" prekey-bundle --identity "$T/new.key" -o "$T/new.json" >/dev/null ||
	{ sy_bad "key tools"; sy_done; exit 1; }
"$CL" keygen -o "$T/me.key" >"$T/keygen.out" 2>&1 || sy_bad "client keygen: $(cat "$T/keygen.out")"
sy_check "client keygen: mode 0600" [ "$(stat -c %a "$T/me.key")" = 600 ]
sy_check "client keygen: the identity format" grep -q '^R-VPN-IDENTITY-v1$' "$T/me.key"
awk '$1 == "x25519_hex:" { print $2 " me" }' "$T/keygen.out" >"$T/clients.allow"
sy_check "client keygen prints the X25519 key" grep -qE '^[0-9a-f]{64} me$' "$T/clients.allow"
pin_old=$("$SWITCHYARD" pubkey --identity "$T/server.key" | awk '$1 == "pin:" { print $2 }')
pin_new=$("$SWITCHYARD" pubkey --identity "$T/new.key" | awk '$1 == "pin:" { print $2 }')

W=$(sy_port)
mkdir -p "$T/www" "$T/site"
head -c 300000 /dev/urandom >"$T/www/page.bin"
head -c 104857600 /dev/urandom >"$T/www/big.bin"
head -c 2000000 /dev/urandom >"$T/www/mid.bin"
printf 'decoy\n' >"$T/site/index.html"
sy_nginx ngx "http { access_log off; server { listen 127.0.0.1:$W; root $T/www; } }"
sy_cert site vpn.test

P=$(sy_port)
# conf KEY BUNDLE: the server's configuration for one identity.
conf() {
	cat >"$T/sy.yaml" <<EOC
process: {workers: 1}
log: {level: info}
listeners:
  - name: edge
    listen: 127.0.0.1:$P
    kind: tls
    routes:
      - default: {terminate: true}
terminator:
  certificates: [{cert: $T/site.crt, key: $T/site.key}]
  site: {root: $T/site}
  vpn:
    identity_key: $1
    prekey_bundle: $2
    clients: $T/clients.allow
    egress: {allow: [127.0.0.1/32]}
EOC
}
conf "$T/server.key" "$T/bundle.json"
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(cat "$T/sy.log")"
sy_wait_port "$W" || sy_bad "nginx not up"

S=$(sy_port) H=$(sy_port)
sy_start cl "$CL" --server "wss://vpn.test:$P/api/v1/ws" --identity "$T/me.key" \
	--bundle "$T/bundle.json" --cafile "$T/site.crt" --connect "127.0.0.1:$P" \
	--known-hosts "$T/known.json" --socks "127.0.0.1:$S" --http "127.0.0.1:$H"
sy_wait_port "$S" && sy_wait_port "$H" || sy_bad "client listeners not up: $(cat "$T/cl.log")"
sy_wait_log cl 'session up' || sy_bad "no session: $(cat "$T/cl.log")"

page_sha=$(sha256sum "$T/www/page.bin" | cut -c1-64)
# fetch NAME CURL-ARGS...: curl's body into $T/NAME.body; checks it is page.bin.
fetch() {
	name=$1
	shift
	if curl -sS -m 30 -o "$T/$name.body" "$@" 2>"$T/$name.err" &&
		[ "$(sha256sum <"$T/$name.body" | cut -c1-64)" = "$page_sha" ]; then sy_ok; else
		sy_bad "$name: $(cat "$T/$name.err")"
	fi
}
fetch socks --socks5-hostname "127.0.0.1:$S" "http://localhost:$W/page.bin"
fetch socks_ip --socks5 "127.0.0.1:$S" "http://127.0.0.1:$W/page.bin"
fetch http -p -x "http://127.0.0.1:$H" "http://127.0.0.1:$W/page.bin"
fetch http_name -p -x "http://127.0.0.1:$H" "http://localhost:$W/page.bin"

sy_check "known hosts written, mode 0600" [ "$(stat -c %a "$T/known.json" 2>/dev/null)" = 600 ]
sy_check "known hosts holds the server's pin" grep -q "\"vpn.test:$P\": \"$pin_old\"" "$T/known.json"

# 100 MiB through SOCKS5.
big_sha=$(sha256sum "$T/www/big.bin" | cut -c1-64)
got=$(curl -sS -m 120 --socks5-hostname "127.0.0.1:$S" "http://localhost:$W/big.bin" | sha256sum | cut -c1-64)
sy_check "100 MiB: SHA-256 matches" [ "$got" = "$big_sha" ]

# 50 concurrent downloads of 2 MB.
mid_sha=$(sha256sum "$T/www/mid.bin" | cut -c1-64)
i=0
pids=""
while [ $i -lt 50 ]; do
	curl -sS -m 120 -o "$T/par$i" --socks5-hostname "127.0.0.1:$S" "http://localhost:$W/mid.bin" 2>"$T/par$i.err" &
	pids="$pids $!"
	i=$((i + 1))
done
for p in $pids; do wait "$p"; done
ok=0
i=0
while [ $i -lt 50 ]; do
	[ "$(sha256sum <"$T/par$i" | cut -c1-64)" = "$mid_sha" ] && ok=$((ok + 1))
	i=$((i + 1))
done
sy_check "50 concurrent downloads correct ($ok)" [ "$ok" = 50 ]

# SOCKS replies from the real outcome.
socks() { python3 "$T/socks.py" "$S" "$@"; }
cat >"$T/socks.py" <<'EOF2'
import socket, struct, sys
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), 5)
s.settimeout(20)
def rd(n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            break
        b += d
    return b
if mode == "badver":
    s.sendall(b"\x04\x01\x00\x50\x7f\x00\x00\x01\x00")
    print("closed" if rd(1) == b"" else "answered")
    sys.exit(0)
s.sendall(b"\x05\x01\x00")
if rd(2) != b"\x05\x00":
    print("no-method")
    sys.exit(0)
if mode == "bind":
    s.sendall(b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50")
else:
    host, port2 = sys.argv[3].encode(), int(sys.argv[4])
    s.sendall(b"\x05\x01\x00\x03" + bytes([len(host)]) + host + struct.pack(">H", port2))
r = rd(10)
print("rep=%02x" % r[1] if len(r) >= 2 else "closed")
EOF2
closed=$(sy_port)
sy_check "SOCKS refused port: 05" [ "$(socks connect 127.0.0.1 "$closed")" = rep=05 ]
sy_check "SOCKS denied target: 02" [ "$(socks connect 10.255.255.1 80)" = rep=02 ]
sy_check "SOCKS BIND: 07" [ "$(socks bind)" = rep=07 ]
sy_check "SOCKS version 4: closed without a reply" [ "$(socks badver)" = closed ]
code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 -x "http://127.0.0.1:$H" "http://127.0.0.1:$W/page.bin")
sy_check "HTTP port: GET gets 405 ($code)" [ "$code" = 405 ]
code=$(curl -s -o /dev/null -w '%{http_connect}' -m 10 -p -x "http://127.0.0.1:$H" "http://127.0.0.1:$closed/" 2>/dev/null)
sy_check "HTTP CONNECT to a closed port: 502 ($code)" [ "$code" = 502 ]
ans=$(printf 'CONNECT nohost HTTP/1.1\r\nHost: x\r\n\r\n' | python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
s.sendall(sys.stdin.buffer.read())
s.settimeout(10)
print(s.recv(100).split(b"\r\n")[0].decode())' "$H")
sy_check "HTTP CONNECT without a port: 400 ($ans)" [ "$ans" = "HTTP/1.1 400 Bad Request" ]

# switchyard restarted under the client: it reconnects and new flows work.
sy_stop sy
sy_switchyard sy2 "$T/sy.yaml" || sy_bad "switchyard did not restart"
n=0
until curl -s -m 10 -o "$T/after.body" --socks5-hostname "127.0.0.1:$S" "http://localhost:$W/page.bin" 2>/dev/null &&
	[ "$(sha256sum <"$T/after.body" | cut -c1-64)" = "$page_sha" ]; do
	n=$((n + 1))
	[ $n -ge 40 ] && break
	sleep 0.25
done
sy_check "after the restart a new flow works" [ $n -lt 40 ]
sy_check "the client reconnected" [ "$(grep -c 'session up' "$T/cl.log")" -ge 2 ]

# The server comes back with a new identity: the running client refuses it and exits 3.
sy_stop sy2
conf "$T/new.key" "$T/new.json"
sy_switchyard sy3 "$T/sy.yaml" || sy_bad "switchyard did not start with the new key"
code=x
n=0
while kill -0 "$(cat "$T/cl.pid")" 2>/dev/null && [ $n -lt 200 ]; do sleep 0.1; n=$((n + 1)); done
wait "$(cat "$T/cl.pid")" 2>/dev/null
code=$?
sy_check "running client exits 3 on a changed identity ($code)" [ "$code" = 3 ]
sy_check "its message names both pins" grep -q "$pin_new.*$pin_old\|$pin_old.*$pin_new" "$T/cl.log"
"$CL" --server "wss://vpn.test:$P/api/v1/ws" --identity "$T/me.key" --bundle "$T/new.json" \
	--cafile "$T/site.crt" --connect "127.0.0.1:$P" --known-hosts "$T/known.json" \
	--socks "127.0.0.1:$S" >"$T/pin.out" 2>&1
code=$?
sy_check "a new client with the old pin exits 3 ($code)" [ "$code" = 3 ]
sy_check "it names the pinned key" grep -q "pinned $pin_old" "$T/pin.out"
sy_check "it names the new key" grep -q "$pin_new" "$T/pin.out"
sy_check "the pin is kept" grep -q "$pin_old" "$T/known.json"

# -c FILE with the same names; no known-hosts: the new server is fine with its bundle.
cat >"$T/client.yaml" <<EOC
server: wss://vpn.test:$P/api/v1/ws
identity: $T/me.key
bundle: $T/new.json
cafile: $T/site.crt
connect: 127.0.0.1:$P
http: 127.0.0.1:$H
EOC
sy_start cl2 "$CL" -c "$T/client.yaml"
sy_wait_port "$H" || sy_bad "-c client not up: $(cat "$T/cl2.log")"
fetch yaml -p -x "http://127.0.0.1:$H" "http://127.0.0.1:$W/page.bin"
printf 'server: x\nbogus: 1\n' >"$T/bad.yaml"
"$CL" -c "$T/bad.yaml" >"$T/bad.out" 2>&1
code=$?
sy_check "unknown YAML key: exit 2 ($code)" [ "$code" = 2 ]
sy_check "unknown YAML key: file:line:col and the key" grep -q "bad.yaml:2:[0-9]*: unknown key bogus" "$T/bad.out"
sy_check "--help reads like a man page" sh -c "'$CL' --help | grep -q '^SYNOPSIS'"
sy_done
