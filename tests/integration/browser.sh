#!/bin/sh
# Scenario: a real browser loads the decoy site through the router's terminator (issue 4).
# Covers:
#  - headless Chromium (/usr/bin/chromium; the test FAILS when it is missing) opens
#    https://decoy.test:PORT/ with the name mapped to 127.0.0.1; the tls listener's route
#    `sni: decoy.test, terminate: true` hands the connection to the in-process terminator,
#    which serves conf.d/site with an ephemeral self-signed certificate;
#  - the screenshot is a PNG (decoded here with zlib, stdlib only) in which the header
#    colour that only the decoy page's CSS uses (#3d4a3d) covers a large band of pixels;
#    the screenshot is kept as $SY_BUILD_DIR/browser-decoy.png;
#  - the access log has the terminated connection with sni=decoy.test and the page counted
#    status="200"; no error-level lines and no sanitizer reports in switchyard's log.
. "$(dirname "$0")/lib.sh"
sy_setup
LOG_BAD='^[0-9T:.-]+Z error |AddressSanitizer|LeakSanitizer|runtime error:'
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
SITE=$SY_SOURCE_DIR/conf.d/site
COLOUR=3d4a3d # header background in conf.d/site/index.html, used nowhere else on the page

if [ ! -x "$CHROMIUM" ]; then
	sy_bad "chromium is not installed ($CHROMIUM); scripts/lib.sh lists it in SY_TEST_PKGS"
	sy_done
	exit 1
fi
grep -q "background: #$COLOUR" "$SITE/index.html" && sy_ok || sy_bad "the decoy page no longer uses #$COLOUR"

P=$(sy_port) A=$(sy_port)
cat >"$T/sy.yaml" <<EOF
process: {workers: 1}
log: {level: info, access: $T/access.log, format: text}
admin: {listen: "127.0.0.1:$A"}
listeners:
  - name: edge
    listen: 127.0.0.1:$P
    kind: tls
    routes:
      - {sni: decoy.test, terminate: true}
terminator:
  site: {root: $SITE}
EOF
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(cat "$T/sy.log")"
sy_wait_port "$P" || sy_bad "listener not up"

# Chromium writes its profile, crash dumps and caches under $T only.
mkdir -p "$T/profile" "$T/home"
HOME=$T/home XDG_CONFIG_HOME=$T/home XDG_CACHE_HOME=$T/home timeout 60 "$CHROMIUM" \
	--headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
	--no-first-run --no-default-browser-check --disable-extensions --disable-sync \
	--disable-background-networking --disable-component-update --disable-breakpad \
	--ignore-certificate-errors --user-data-dir="$T/profile" \
	--host-resolver-rules="MAP decoy.test 127.0.0.1" \
	--window-size=1024,768 --screenshot="$T/shot.png" \
	"https://decoy.test:$P/" >"$T/chromium.log" 2>&1
rc=$?
[ -s "$T/shot.png" ] && sy_ok || sy_bad "no screenshot (chromium exit $rc): $(tail -n 5 "$T/chromium.log")"
[ -s "$T/shot.png" ] && cp "$T/shot.png" "${SY_BUILD_DIR:-$T}/browser-decoy.png"

# The PNG decoded with zlib: how many pixels have the header colour (a few units of slack).
share=$(python3 - "$T/shot.png" "$COLOUR" <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
want = bytes.fromhex(sys.argv[2])
if data[:8] != b"\x89PNG\r\n\x1a\n":
    print("not-png"); sys.exit(0)
i, idat, w = 8, b"", 0
while i < len(data):
    n, kind = struct.unpack("!I4s", data[i:i + 8])
    body = data[i + 8:i + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack("!IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    i += 12 + n
if depth != 8 or ctype not in (2, 6) or interlace:
    print("unsupported-png"); sys.exit(0)
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
hits = 0
pos = 0
for _ in range(h):
    f = raw[pos]
    line = bytearray(raw[pos + 1:pos + 1 + stride])
    pos += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1:
            line[x] = (line[x] + a) & 255
        elif f == 2:
            line[x] = (line[x] + b) & 255
        elif f == 3:
            line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            line[x] = (line[x] + pr) & 255
    for x in range(0, stride, bpp):
        if all(abs(line[x + k] - want[k]) <= 3 for k in range(3)):
            hits += 1
    prev = line
print("%d %d" % (hits, w * h))
EOF
)
hits=${share% *} total=${share#* }
case "$share" in
[0-9]*\ [0-9]*)
	# The header band is the full width and about 100 px high: at least 5 % of 1024x768.
	awk -v h="$hits" -v t="$total" 'BEGIN { exit !(t > 0 && h >= t * 0.05 && h <= t * 0.6) }' &&
		sy_ok || sy_bad "screenshot: #$COLOUR covers $hits of $total pixels"
	;;
*) sy_bad "screenshot not decoded: '$share'" ;;
esac

sy_wait_log access "listener=edge sni=decoy.test .*route=decoy.test " && sy_ok ||
	sy_bad "no access-log line with sni=decoy.test: $(cat "$T/access.log")"
[ "$(sy_metric "$A" 'switchyard_http_responses_total{listener="edge",status="200"}')" -ge 1 ] &&
	sy_ok || sy_bad "no status=200 counted"
sy_stop sy
if grep -E "$LOG_BAD" "$T/sy.log"; then sy_bad "switchyard logged errors"; else sy_ok; fi
sy_done
