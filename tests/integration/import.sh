#!/bin/sh
# Scenario: `switchyard import nginx|haproxy` (issue 11 item 5) against the real proxies.
# Covers:
#  - a real nginx runs a stream {} configuration in the Yunohost passthrough layout
#    (ssl_preread on; map $ssl_preread_server_name with hostnames, an exact name, a
#    *.wildcard and a default; upstreams in a file pulled in by a relative `include`;
#    proxy_protocol on; a listen with proxy_protocol + set_real_ip_from; a server that
#    proxy_passes an upstream directly without PROXY);
#  - a real haproxy runs mode tcp frontends (bind, bind ... accept-proxy, inspect-delay,
#    req_ssl_hello_type, acl NAME req.ssl_sni -i, { req.ssl_sni -m end .suffix },
#    default_backend) with backends that send-proxy and send-proxy-v2 (roundrobin of two);
#  - each configuration is imported, the import passes `switchyard -t`, and switchyard runs
#    it on the same ports after the real proxy has stopped; the same connections (ClientHellos
#    for an exact name twice, a one-label wildcard, an unknown name, no SNI; with a PROXY v1
#    header in front on the accept-proxy listeners) go through each;
#  - recording backends log which backend got each connection and the PROXY header it
#    received (version, addresses, destination port; the source port is left out for
#    connections without PROXY in, and switchyard's extra v2 TLVs are not compared: HAProxy
#    sends none by default): the logs of nginx and of its import are identical, and so are
#    those of haproxy and of its import;
#  - a syntax error makes `import` exit 2 with file:line; the notes of what was not carried
#    over are in the output (the http {} block, the regex map entry, balance first).
. "$(dirname "$0")/lib.sh"
sy_setup
LOG_BAD='^[0-9T:.-]+Z error |AddressSanitizer|LeakSanitizer|runtime error:'
PEER="python3 $SY_DIR/sy_peer.py"

P1=$(sy_port) P2=$(sy_port) P3=$(sy_port)
BA1=$(sy_port) BA2=$(sy_port) BW=$(sy_port) BD=$(sy_port) BO=$(sy_port)

# The recording backends: one JSON line per connection that brought a ClientHello.
cat >"$T/rec.py" <<'EOF'
import json, socket, sys, threading, time
from sy_peer import parse_ppv2
names = dict(a.split("=") for a in sys.argv[2:])
out = open(sys.argv[1], "a")
lock = threading.Lock()
def serve(c, port):
	c.settimeout(5)
	buf, t0 = b"", time.monotonic()
	hdr, rest = None, b""
	try:
		while time.monotonic() - t0 < 5:
			r = c.recv(65536)
			if not r:
				break
			buf += r
			if buf.startswith(b"PROXY "):
				i = buf.find(b"\r\n")
				if i < 0:
					continue
				f = buf[:i].decode().split(" ")
				hdr, rest = "v1 %s %s %s dport=%s" % (f[1], f[2], f[3], f[5]), buf[i + 2:]
				sport = f[4]
			elif buf.startswith(b"\r\n\r\n\x00\r\nQUIT\n"):
				d, n = parse_ppv2(buf)
				if d is None:
					continue
				hdr = "v2 cmd=%d fam=%#x %s %s dport=%d" % (d["command"], d["fam"], d["src"], d["dst"], d["dport"])
				sport, rest = str(d["sport"]), buf[n:]
			else:
				hdr, rest, sport = "none", buf, ""
			if rest:
				break
	except OSError:
		pass
	if hdr is not None and rest[:1] == b"\x16":
		with lock:
			out.write(json.dumps({"backend": names[str(port)], "proxy": hdr, "sport": sport}) + "\n")
			out.flush()
	c.close()
def listen(port):
	s = socket.socket()
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.bind(("127.0.0.1", port))
	s.listen(64)
	while True:
		c, _ = s.accept()
		threading.Thread(target=serve, args=(c, port), daemon=True).start()
for p in names:
	threading.Thread(target=listen, args=(int(p),), daemon=True).start()
print("listening", flush=True)
while True:
	time.sleep(1)
EOF
# The driver: the same cases through one front, one line per case (repeated cases sorted).
cat >"$T/drive.py" <<'EOF'
import json, os, socket, subprocess, sys, time
rec, T, ports = sys.argv[1], sys.argv[2], sys.argv[3:]
cases = [("a.test", 2), ("x.w.test", 1), ("other.test", 1), ("", 1)]
def lines():
	try:
		return open(rec).read().splitlines()
	except FileNotFoundError:
		return []
for spec in ports:
	port, pp = spec.split(":")[0], spec.endswith(":pp")
	for sni, n in cases:
		hello = os.path.join(T, "hello-%s.bin" % (sni or "nosni"))
		got = []
		for i in range(n):
			before = len(lines())
			s = socket.create_connection(("127.0.0.1", int(port)), 5)
			data = open(hello, "rb").read()
			if pp:
				data = ("PROXY TCP4 203.0.113.7 127.0.0.1 5555 %s\r\n" % port).encode() + data
			s.sendall(data)
			s.settimeout(5)
			try:
				while s.recv(65536):
					pass
			except OSError:
				pass
			s.close()
			t0 = time.monotonic()
			while len(lines()) <= before and time.monotonic() - t0 < 5:
				time.sleep(0.02)
			new = lines()[before:]
			if len(new) != 1:
				got.append("%d records" % len(new))
				continue
			r = json.loads(new[0])
			# The source port is the proxy's business unless the client declared it.
			if pp and r["sport"] != "5555":
				r["proxy"] += " sport=" + r["sport"]
			got.append("%s %s" % (r["backend"], r["proxy"]))
		print("front=%s%s sni=%s -> %s" % ("pp" if pp else "", ports.index(spec), sni or "-", " | ".join(sorted(got))))
EOF
for s in a.test x.w.test other.test; do $PEER hello --sni "$s" --out "$T/hello-$s.bin"; done
$PEER hello --out "$T/hello-nosni.bin"

sy_start rec python3 "$T/rec.py" "$T/rec.log" "$BA1=a1" "$BA2=a2" "$BW=w" "$BD=d" "$BO=o"
sy_wait_log rec listening || sy_bad "recorder did not start"

# ---- nginx ---------------------------------------------------------------------------
mkdir -p "$T/ngx"
cat >"$T/ngx/upstreams.conf" <<EOF
# pulled in by a relative include (nginx: relative to the configuration's directory)
upstream be_a { server 127.0.0.1:$BA1; server 127.0.0.1:$BA2; }
upstream be_w { server 127.0.0.1:$BW; }
upstream be_d { server 127.0.0.1:$BD; }
upstream be_o { server 127.0.0.1:$BO; }
EOF
# As sy_nginx, with the stream module loaded first when it is a dynamic module (Debian).
{
	[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] &&
		echo "load_module /usr/lib/nginx/modules/ngx_stream_module.so;"
	[ "$(id -u)" = 0 ] && echo "user root;"
	echo "worker_processes 1; daemon off; pid $T/ngx/nginx.pid;"
	echo "error_log $T/ngx/error.log warn;"
	echo "events { worker_connections 1024; }"
	echo "
http { server { listen 127.0.0.1:$(sy_port); return 204; } }
stream {
  include upstreams.conf;
  map \$ssl_preread_server_name \$name {
    hostnames;
    a.test          be_a;
    \"*.w.test\"    be_w;   # one label in both
    ~^re[0-9]+\\.test\$ be_a;
    default         be_d;
  }
  server { listen 127.0.0.1:$P1 reuseport; ssl_preread on; proxy_pass \$name; proxy_protocol on; }
  server { listen 127.0.0.1:$P2 proxy_protocol; set_real_ip_from 127.0.0.0/8;
           ssl_preread on; proxy_pass \$name; proxy_protocol on; proxy_timeout 5m; }
  server { listen 127.0.0.1:$P3; proxy_pass be_o; }
}"
} >"$T/ngx/nginx.conf"
sy_start ngx nginx -p "$T/ngx" -c "$T/ngx/nginx.conf"
if sy_wait_port "$P3"; then
	python3 "$T/drive.py" "$T/rec.log" "$T" "$P1" "$P2:pp" "$P3" >"$T/ngx.out"
	sy_ok
else
	sy_bad "nginx did not start: $(cat "$T/ngx/error.log")"
fi
sy_stop ngx
"$SWITCHYARD" import nginx "$T/ngx/nginx.conf" >"$T/from-ngx.yaml" 2>"$T/import-ngx.err"
[ $? = 0 ] && sy_ok || sy_bad "import nginx failed: $(cat "$T/import-ngx.err")"
sy_check "imported nginx config passes -t" "$SWITCHYARD" -t -c "$T/from-ngx.yaml"
grep -q 'http {...}`: HTTP is not imported' "$T/from-ngx.yaml" && sy_ok || sy_bad "no note for the http block"
grep -q 'regular expressions are not carried over' "$T/from-ngx.yaml" && sy_ok || sy_bad "no note for the regex"
sy_switchyard sy-ngx "$T/from-ngx.yaml" || sy_bad "switchyard (from nginx) did not start: $(cat "$T/sy-ngx.log")"
python3 "$T/drive.py" "$T/rec.log" "$T" "$P1" "$P2:pp" "$P3" >"$T/sy-ngx.out"
sy_stop sy-ngx
if [ -s "$T/ngx.out" ] && diff -u "$T/ngx.out" "$T/sy-ngx.out"; then sy_ok; else sy_bad "nginx and its import differ (above)"; fi
# What nginx did is what was meant (a check that the comparison compares something).
grep -q "front=0 sni=a.test -> a1 v1 TCP4 127.0.0.1 127.0.0.1 dport=$P1 | a2 v1 TCP4 127.0.0.1 127.0.0.1 dport=$P1" "$T/ngx.out" &&
	grep -q "front=pp1 sni=x.w.test -> w v1 TCP4 203.0.113.7 127.0.0.1 dport=$P2\$" "$T/ngx.out" &&
	grep -q "front=2 sni=other.test -> o none\$" "$T/ngx.out" &&
	grep -q "front=0 sni=- -> d v1" "$T/ngx.out" && sy_ok || sy_bad "nginx routed unexpectedly: $(cat "$T/ngx.out")"

# ---- haproxy -------------------------------------------------------------------------
cat >"$T/hap.cfg" <<EOF
global
  maxconn 1000
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:$P1
  tcp-request inspect-delay 5s
  tcp-request content accept if { req_ssl_hello_type 1 }
  acl is_a req.ssl_sni -i a.test
  use_backend be_a if is_a
  use_backend be_w if { req.ssl_sni -m end .w.test }
  use_backend be_a if { req.ssl_sni -m reg ^re[0-9]+ }
  default_backend be_d
frontend fe_pp
  bind 127.0.0.1:$P2 accept-proxy
  tcp-request inspect-delay 5s
  tcp-request content accept if { req.ssl_hello_type 1 }
  use_backend be_a if { req_ssl_sni -i a.test }
  use_backend be_w if { req.ssl_sni -m end .w.test }
  default_backend be_d
listen plain
  bind 127.0.0.1:$P3
  server o 127.0.0.1:$BO
backend be_a
  balance roundrobin
  server a1 127.0.0.1:$BA1 send-proxy-v2
  server a2 127.0.0.1:$BA2 send-proxy-v2
backend be_w
  balance first
  server w 127.0.0.1:$BW send-proxy
backend be_d
  server d 127.0.0.1:$BD send-proxy-v2
EOF
sy_start hap haproxy -db -f "$T/hap.cfg"
if sy_wait_port "$P3"; then
	python3 "$T/drive.py" "$T/rec.log" "$T" "$P1" "$P2:pp" "$P3" >"$T/hap.out"
	sy_ok
else
	sy_bad "haproxy did not start: $(cat "$T/hap.log")"
fi
sy_stop hap
"$SWITCHYARD" import haproxy "$T/hap.cfg" >"$T/from-hap.yaml" 2>"$T/import-hap.err"
[ $? = 0 ] && sy_ok || sy_bad "import haproxy failed: $(cat "$T/import-hap.err")"
sy_check "imported haproxy config passes -t" "$SWITCHYARD" -t -c "$T/from-hap.yaml"
grep -q 'balance first`: no such balance' "$T/from-hap.yaml" && sy_ok || sy_bad "no note for balance first"
grep -q -- '-m reg is not carried over' "$T/from-hap.yaml" && sy_ok || sy_bad "no note for -m reg"
sy_switchyard sy-hap "$T/from-hap.yaml" || sy_bad "switchyard (from haproxy) did not start: $(cat "$T/sy-hap.log")"
python3 "$T/drive.py" "$T/rec.log" "$T" "$P1" "$P2:pp" "$P3" >"$T/sy-hap.out"
sy_stop sy-hap
if [ -s "$T/hap.out" ] && diff -u "$T/hap.out" "$T/sy-hap.out"; then sy_ok; else sy_bad "haproxy and its import differ (above)"; fi
grep -q "front=0 sni=a.test -> a1 v2 cmd=1 fam=0x11 127.0.0.1 127.0.0.1 dport=$P1 | a2 v2" "$T/hap.out" &&
	grep -q "front=pp1 sni=x.w.test -> w v1 TCP4 203.0.113.7 127.0.0.1 dport=$P2\$" "$T/hap.out" &&
	grep -q "front=pp1 sni=other.test -> d v2 cmd=1 fam=0x11 203.0.113.7 127.0.0.1 dport=$P2\$" "$T/hap.out" &&
	grep -q "front=2 sni=- -> o none\$" "$T/hap.out" && sy_ok || sy_bad "haproxy routed unexpectedly: $(cat "$T/hap.out")"

# ---- errors --------------------------------------------------------------------------
printf 'stream {\n  server {\n    listen 1 "x"y;\n  }\n}\n' >"$T/bad.conf"
"$SWITCHYARD" import nginx "$T/bad.conf" >/dev/null 2>"$T/bad.err"
[ $? = 2 ] && grep -q "bad.conf:3: " "$T/bad.err" && sy_ok || sy_bad "syntax error: $(cat "$T/bad.err")"
printf 'frontend\n' >"$T/bad.cfg"
"$SWITCHYARD" import haproxy "$T/bad.cfg" >/dev/null 2>"$T/badh.err"
[ $? = 2 ] && grep -q "bad.cfg:1: " "$T/badh.err" && sy_ok || sy_bad "haproxy syntax error: $(cat "$T/badh.err")"

for n in sy-ngx sy-hap; do
	if grep -E "$LOG_BAD" "$T/$n.log"; then sy_bad "$n logged errors"; else sy_ok; fi
done
sy_done
