#!/bin/sh
# Scenario: how switchyard-client cuts what it sends into TLS records. The client talks to
# the real switchyard through a relay (sy_peer.py tap) that logs the length of every TLS
# record the client sends; curl downloads 16 MiB from a real nginx through its SOCKS5 port,
# checked by SHA-256. During the download the client sends only WindowUpdates (and maybe a
# Ping): each is one padded, sealed message of more than 1 KiB, and must leave as one TLS
# record (one write, one read for the server), never cut in two, and WindowUpdates come in
# steps of 64 KiB. Covers: no application record shorter than the smallest whole message
# after the session is up (a message split over two records shows up as short records), at
# most 16 MiB / 64 KiB WindowUpdates (+ 8 for Pings), the download intact through the
# relay, and the ClientHello's TLS 1.3 suites in the order browsers offer them.
. "$(dirname "$0")/lib.sh"
sy_setup
sy_client_start nginx curl

"$SWITCHYARD" keygen -o "$T/server.key" >/dev/null &&
	"$SWITCHYARD" prekey-bundle --identity "$T/server.key" -o "$T/bundle.json" >/dev/null ||
	{ sy_bad "key tools"; sy_done; exit 1; }
"$CL" keygen -o "$T/me.key" >"$T/keygen.out" 2>&1 || sy_bad "client keygen"
awk '$1 == "x25519_hex:" { print $2 " me" }' "$T/keygen.out" >"$T/clients.allow"

W=$(sy_port)
mkdir -p "$T/www" "$T/site"
head -c 16777216 /dev/urandom >"$T/www/big.bin"
printf 'decoy\n' >"$T/site/index.html"
sy_nginx ngx "http { access_log off; server { listen 127.0.0.1:$W; root $T/www; } }"
sy_cert site vpn.test

P=$(sy_port)
sy_vpn_conf sy.yaml "$P" "$(sy_port)" 1 server.key bundle.json clients.allow
echo '    egress: {allow: [127.0.0.1/32]}' >>"$T/sy.yaml"
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(cat "$T/sy.log")"
sy_wait_port "$W" || sy_bad "nginx not up"

R=$(sy_port)
sy_start tap python3 "$SY_DIR/sy_peer.py" tap --listen "127.0.0.1:$R" \
	--connect "127.0.0.1:$P" --out "$T/records.txt" --hello "$T/hello.bin"
sy_wait_port "$R" || sy_bad "tap not up: $(cat "$T/tap.log")"

S=$(sy_port)
sy_start cl "$CL" --server "wss://vpn.test:$P/api/v1/ws" --identity "$T/me.key" \
	--bundle "$T/bundle.json" --cafile "$T/site.crt" --connect "127.0.0.1:$R" \
	--known-hosts "$T/known.json" --socks "127.0.0.1:$S"
sy_wait_port "$S" || sy_bad "client not up: $(cat "$T/cl.log")"
sy_wait_log cl 'session up' || sy_bad "no session: $(cat "$T/cl.log")"
# What the session sent before the download (handshake, upgrade, Hello): not counted.
before=$(wc -l <"$T/records.txt")

sha=$(sha256sum "$T/www/big.bin" | cut -c1-64)
curl -sS --max-time 60 --socks5-hostname "127.0.0.1:$S" -o "$T/big.out" \
	"http://127.0.0.1:$W/big.bin" 2>"$T/curl.err"
sy_check "16 MiB through the client and the relay, SHA-256 matches" \
	[ "$(sha256sum "$T/big.out" | cut -c1-64)" = "$sha" ]

# Every record the client sent during the download: type 23 (application data); a whole
# message is at least 1 KiB of padding plus headers, so a record under 1024 bytes is a
# piece of one.
tail -n +"$((before + 1))" "$T/records.txt" >"$T/during.txt"
n=$(wc -l <"$T/during.txt")
short=$(awk '$1 == 23 && $2 < 1024' "$T/during.txt" | wc -l)
sy_check "the client sent WindowUpdates during the download ($n records)" [ "$n" -ge 50 ]
# Grants in steps of CLIENT_GRANT_MIN (64 KiB): 16 MiB take at most 256 WindowUpdates; a
# few records more for Pings. Granting each time the app empties our buffer, or in 32 KiB
# steps, sends about twice as many.
sy_check "WindowUpdates in 64 KiB steps ($n records for 16 MiB, at most 256 + 8)" [ "$n" -le 264 ]
sy_check "no message cut over two records ($short of $n records under 1 KiB)" [ "$short" -eq 0 ]
# The ClientHello's cipher suites, in order (TLS 1.3 ones only): a browser's order.
suites=$(python3 - "$T/hello.bin" <<'EOP'
import struct, sys
h = open(sys.argv[1], "rb").read()
p = 5 + 4 + 2 + 32                      # record and handshake headers, version, random
p += 1 + h[p]                           # session id
n = struct.unpack(">H", h[p:p + 2])[0]
names = {0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
         0x1303: "TLS_CHACHA20_POLY1305_SHA256"}
ids = [struct.unpack(">H", h[i:i + 2])[0] for i in range(p + 2, p + 2 + n, 2)]
print(":".join(names[i] for i in ids if i in names))
EOP
)
sy_check "TLS 1.3 suites in a browser's order ($suites)" \
	[ "$suites" = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384" ]
sy_done
