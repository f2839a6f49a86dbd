#!/bin/sh
# Scenario: the splice relay's enlarged pipes (issue 12, RELAY_PIPE_SIZE) and their bounds.
# Needs root (exit 77 without: it drops to an unprivileged user) and fs.pipe-user-pages-soft
# set (exit 77 when 0). Pipe sizes are read from outside: a pipe opened through
# /proc/PID/fd/N is the daemon's own, and F_GETPIPE_SZ gives its size.
# Covers:
#  - as root: a 5 MiB download through the router is byte-exact, and the router then holds a
#    pipe larger than the default (RELAY_PIPE_SIZE capped by fs.pipe-max-size);
#  - 12 downloads of 16 MiB at once whose clients stop reading after 2 MiB: the router holds more than 8 pipes with
#    bytes (the default-size pipes that appeared are counted), and no more than 8 of its pipes
#    are enlarged
#    (WORKER_PIPES_BIG_BYTES / RELAY_PIPE_SIZE); then every download reads to the end
#    byte-exact (the default-size pipes beyond the 8 relay as well);
#  - the fallback: with process.user an unprivileged user whose pipes are already past
#    fs.pipe-user-pages-soft (a helper of that user holds them), F_SETPIPE_SZ fails with
#    EPERM and every new pipe has 2 pages; the router says so once in its log, holds no
#    enlarged pipe, and the downloads are still byte-exact.
. "$(dirname "$0")/lib.sh"
PATH="$(dirname "$(python3 -c 'import sys; print(sys.executable)')"):$PATH"
sy_setup
[ "$(id -u)" = 0 ] || { echo "not root: skipped"; exit 77; }
U=nobody
getent passwd "$U" >/dev/null || U=$(getent passwd | awk -F: '$3 >= 1000 && $3 < 65534 { print $1; exit }')
[ -n "$U" ] || { echo "no unprivileged user: skipped"; exit 77; }
SOFT=$(cat /proc/sys/fs/pipe-user-pages-soft)
MAX=$(cat /proc/sys/fs/pipe-max-size)
[ "$SOFT" -gt 0 ] || { echo "fs.pipe-user-pages-soft is 0 (no limit): skipped"; exit 77; }
[ "$MAX" -gt 65536 ] || { echo "fs.pipe-max-size $MAX: no pipe larger than the default: skipped"; exit 77; }

sy_cert be big.test
PB=$(sy_port)
mkdir -p "$T/www" "$T/logs"
chown "$U" "$T/logs"
head -c 5242880 /dev/urandom >"$T/www/big.bin"
head -c 16777216 /dev/urandom >"$T/www/huge.bin" # more than the socket buffers take
WANT=$(sha256sum <"$T/www/big.bin")
sy_nginx ngx "
http {
  access_log off;
  server { listen 127.0.0.1:$PB ssl; ssl_certificate $T/be.crt; ssl_certificate_key $T/be.key;
           root $T/www; }
}"
sy_wait_port "$PB" || sy_bad "nginx did not start: $(cat "$T/ngx/error.log")"

# conf NAME PORT PROCESS: a passthrough router on PORT to the backend.
conf() {
	cat >"$T/$1.yaml" <<EOF
process: {workers: 1$3}
log: {level: info}
listeners:
  - name: edge
    listen: 127.0.0.1:$2
    kind: tls
    routes:
      - default: {upstream: be}
upstreams:
  be: {servers: ["127.0.0.1:$PB"]}
EOF
}

# sizes PID: the sizes of the pipes PID holds, one per pipe (each pipe counted once).
sizes() {
	python3 - "$1" <<'EOF'
import fcntl, os, sys
pid = sys.argv[1]
seen = set()
for fd in os.listdir("/proc/%s/fd" % pid):
    p = "/proc/%s/fd/%s" % (pid, fd)
    try:
        link = os.readlink(p)
    except OSError:
        continue
    if not link.startswith("pipe:") or link in seen:
        continue
    seen.add(link)
    try:
        f = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        continue
    print(fcntl.fcntl(f, 1032))  # F_GETPIPE_SZ
    os.close(f)
EOF
}

# downloads PORT N TAG: N downloads of big.bin at once; the number that were byte-exact.
downloads() {
	i=0
	pids=""
	while [ $i -lt "$2" ]; do
		curl -sS --max-time 60 --resolve "big.test:$1:127.0.0.1" --cacert "$T/be.crt" \
			-o "$T/$3-$i.bin" "https://big.test:$1/big.bin" 2>>"$T/curl.err" &
		pids="$pids $!"
		i=$((i + 1))
	done
	for p in $pids; do wait "$p"; done
	ok=0 i=0
	while [ $i -lt "$2" ]; do
		[ "$(sha256sum <"$T/$3-$i.bin" 2>/dev/null)" = "$WANT" ] && ok=$((ok + 1))
		i=$((i + 1))
	done
	echo "$ok"
}

# stalled PORT N NAME: starts N downloads whose clients stop reading after the request; they
# say "stalled" in $T/NAME.log, read on once $T/NAME.go exists, then say "exact K".
stalled() {
	sy_start "$3" python3 -c '
import hashlib, os, socket, ssl, sys, time
port, n, ca, go, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
want = hashlib.sha256(open(path, "rb").read()).hexdigest()
ctx = ssl.create_default_context(cafile=ca)
conns = []
for i in range(n):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 10), server_hostname="big.test")
    s.sendall(b"GET /huge.bin HTTP/1.1\r\nHost: big.test\r\nConnection: close\r\n\r\n")
    first = b""  # 2 MiB first, so that the relay has turned to splice when it stalls
    while len(first) < 2 << 20:
        b = s.recv(1 << 20)
        if not b:
            break
        first += b
    conns.append((s, first))
time.sleep(1.5)
print("stalled", flush=True)
for i in range(600):
    if os.path.exists(go):
        break
    time.sleep(0.05)
exact = 0
for s, first in conns:
    parts = [first]
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        parts.append(b)
    data = b"".join(parts)
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    exact += hashlib.sha256(body).hexdigest() == want
print("exact %d" % exact, flush=True)
' "$1" "$2" "$T/be.crt" "$T/$3.go" "$T/www/huge.bin"
}

# As root: enlarged pipes, at most 8 of them.
P=$(sy_port)
conf root "$P" ""
sy_switchyard root "$T/root.yaml" || sy_bad "did not start: $(tail -5 "$T/root.log")"
SYPID=$(cat "$T/root.pid")
[ "$(downloads "$P" 1 one)" = 1 ] && sy_ok || sy_bad "root: 5 MiB download differs"
s=$(sizes "$SYPID" | tr '\n' ' ')
echo "root, after one download: pipe sizes $s"
want=1048576
[ "$MAX" -lt $want ] && want=$MAX
big=$(sizes "$SYPID" | awk -v w="$want" '$1 >= w' | wc -l)
[ "$big" -ge 1 ] && sy_ok || sy_bad "root: no pipe of $want bytes after a download (sizes: $s)"
def0=$(sizes "$SYPID" | awk '$1 <= 65536' | wc -l)
stalled "$P" 12 slow
sy_wait_log slow stalled || sy_bad "the stalled clients did not start: $(cat "$T/slow.log")"
s=$(sizes "$SYPID" | tr '\n' ' ')
big=$(sizes "$SYPID" | awk '$1 > 65536' | wc -l)
relay=$(($(sizes "$SYPID" | awk '$1 <= 65536' | wc -l) - def0 + big))
echo "root, 12 stalled downloads: pipe sizes $s ($relay relay pipes, $big enlarged)"
[ "$relay" -gt 8 ] && sy_ok || sy_bad "root: $relay relay pipes with 12 stalled downloads (more than 8 expected)"
[ "$big" -ge 1 ] && [ "$big" -le 8 ] && sy_ok || sy_bad "root: $big enlarged pipes (1..8 expected)"
touch "$T/slow.go"
sy_wait_log slow 'exact' 600 || sy_bad "the stalled downloads did not end"
grep -q 'exact 12' "$T/slow.log" && sy_ok || sy_bad "root: stalled downloads: $(cat "$T/slow.log")"
grep -q 'keep the default size' "$T/root.log" && sy_bad "root: fallback logged: $(cat "$T/root.log")"
sy_stop root

# The fallback: the user's pipes are past the soft limit before the router starts.
sy_start hog setpriv --reuid="$U" --regid="$(id -g "$U")" --clear-groups python3 -c '
import fcntl, os, sys, time
ends = []
for i in range(100000):
    r, w = os.pipe()
    ends += [r, w]
    try:
        fcntl.fcntl(w, 1031, 1048576)  # F_SETPIPE_SZ
    except PermissionError:
        break
r, w = os.pipe()
print("holding %d pipes; a new one has %d bytes" % (len(ends) // 2, fcntl.fcntl(w, 1032)), flush=True)
time.sleep(120)
'
sy_wait_log hog 'holding' || sy_bad "the helper did not fill the limit: $(cat "$T/hog.log")"
cat "$T/hog.log"
grep -q 'a new one has 8192 bytes' "$T/hog.log" || { echo "the soft limit did not bite: skipped"; exit 77; }
P=$(sy_port)
conf user "$P" ", user: $U"
sy_switchyard user "$T/user.yaml" || sy_bad "did not start as $U: $(tail -5 "$T/user.log")"
SYPID=$(cat "$T/user.pid")
[ "$(downloads "$P" 1 uone)" = 1 ] && sy_ok || sy_bad "$U: 5 MiB download differs"
[ "$(downloads "$P" 4 umany)" = 4 ] && sy_ok || sy_bad "$U: not every one of 4 downloads is exact"
s=$(sizes "$SYPID" | tr '\n' ' ')
echo "$U past the soft limit: pipe sizes $s"
big=$(sizes "$SYPID" | awk '$1 > 65536' | wc -l)
[ "$big" = 0 ] && sy_ok || sy_bad "$U: $big enlarged pipes past the soft limit"
[ "$(grep -c 'splice pipes keep the default size (F_SETPIPE_SZ [0-9]*: Operation not permitted' "$T/user.log")" = 1 ] &&
	sy_ok || sy_bad "$U: the fallback is not logged once: $(cat "$T/user.log")"
sy_stop user
sy_stop hog
grep -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$T/root.log" "$T/user.log" && sy_bad "sanitizer report"
sy_done
