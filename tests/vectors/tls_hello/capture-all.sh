#!/bin/sh
# Re-captures the real-client vectors (cap_*.bin) on 127.0.0.1 with capture.py: one
# listener per client, one connection each. Each client is told explicitly what to send
# (SNI, ALPN, groups, versions) so README.md and expected-captured.txt can state the
# expected fields; the client versions are printed for README.md. Every process started
# here is stopped by its pid. Never touches syn_*.bin or the expectation files.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
port=${PORT:-48443}

# run_capture NAME CLIENT-COMMAND...: capture what CLIENT sends into cap_NAME.bin.
run_capture() {
	name=$1
	shift
	log=$(mktemp)
	python3 "$here/capture.py" "$port" "$here/cap_$name.bin" >"$log" 2>&1 &
	cap=$!
	i=0
	until grep -q listening "$log" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 50 ] && { echo "capture.py did not start" >&2; kill "$cap"; exit 1; }
		sleep 0.1
	done
	"$@" </dev/null >/dev/null 2>&1 &
	client=$!
	wait "$cap" || true
	kill "$client" 2>/dev/null || true
	wait "$client" 2>/dev/null || true
	echo "$name: $(cat "$log" | tail -1)"
	rm -f "$log"
	port=$((port + 1))
}

openssl version
curl --version | head -1
gnutls-cli --version | head -1
python3 -c 'import ssl, sys; print("python", sys.version.split()[0], ssl.OPENSSL_VERSION)'

run_capture openssl_sni_alpn openssl s_client -connect 127.0.0.1:$port \
	-servername www.example.com -alpn h2,http/1.1 -groups X25519
run_capture openssl_noservername openssl s_client -connect 127.0.0.1:$port \
	-noservername -groups X25519:P-256
run_capture openssl_tls12 openssl s_client -connect 127.0.0.1:$port -tls1_2 \
	-servername tls12.example.org
run_capture curl_alpn curl -sk --max-time 3 --curves X25519 --tlsv1.2 --tls-max 1.3 \
	--resolve curl.example.net:$port:127.0.0.1 https://curl.example.net:$port/
run_capture python_ssl python3 -c "
import socket, ssl
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_2
ctx.maximum_version = ssl.TLSVersion.TLSv1_3
ctx.set_alpn_protocols(['http/1.1'])
s = socket.create_connection(('127.0.0.1', $port), timeout=3)
try:
    ctx.wrap_socket(s, server_hostname='py.example.com')
except Exception:
    pass
"
run_capture gnutls_sni gnutls-cli --insecure --port=$port --sni-hostname=gnutls.example.com \
	--alpn=h2 --alpn=http/1.1 \
	--priority='NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1' \
	127.0.0.1
