#!/bin/sh
# Scenario: a bulk relay gives the loop back through a poll (core/yield.h), seen from outside
# with strace on the running daemon.
# Covers:
#  - 256 MiB through a passthrough route (splice relay) from a backend that writes as fast as
#    it can to a client that reads as fast as it can: every byte arrives;
#  - between two epoll_wait calls of the worker, at most 4 x RELAY_BUDGET splice calls: the
#    connection's two events (client, upstream) may both be ready after one poll, and each
#    runs one budget per direction, then the loop polls again. Before the fix a callback
#    that used its budget re-activated itself and libevent ran it again in the same pass,
#    so (strace slows the daemon, and these peers never block it) 152-197 splices ran with
#    no poll between: every other connection of the worker waited for all of them.
# Needs strace and permission to attach to the daemon (exit 77 without either).
. "$(dirname "$0")/lib.sh"
sy_setup
command -v strace >/dev/null || { echo "no strace: skipped"; exit 77; }
RELAY_BUDGET=$(sed -n 's/^#define RELAY_BUDGET \([0-9]*\).*/\1/p' "$SY_SOURCE_DIR/router/relay.h")
[ -n "$RELAY_BUDGET" ] || sy_bad "RELAY_BUDGET not found in router/relay.h"
SIZE=268435456
PEER="python3 $(dirname "$0")/sy_peer.py"

PB=$(sy_port) P=$(sy_port)
$PEER hello --sni big.test --out "$T/hello.bin"
# The backend: after the hello, SIZE bytes as fast as it can write them, then its FIN.
sy_start be python3 -c '
import socket, sys
size = int(sys.argv[2])
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen(1)
print("listening", flush=True)
c, _ = l.accept()
c.recv(65536)
buf = bytes(1 << 20)
while size > 0:
	n = min(size, len(buf))
	c.sendall(buf[:n])
	size -= n
c.close()' "$PB" "$SIZE"
sy_wait_log be listening || sy_bad "backend did not start: $(cat "$T/be.log")"
cat >"$T/sy.yaml" <<EOF2
process: {workers: 1}
log: {level: info}
listeners:
  - name: edge
    listen: 127.0.0.1:$P
    kind: tls
    routes:
      - default: {upstream: be}
upstreams:
  be: {servers: ["127.0.0.1:$PB"]}
EOF2
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(cat "$T/sy.log")"

sy_start st strace -f -e trace=epoll_wait,splice -o "$T/st.txt" -p "$(cat "$T/sy.pid")"
if ! sy_wait_log st 'attached' 100; then
	grep -q 'not permitted' "$T/st.log" && { echo "strace may not attach here: skipped"; exit 77; }
	sy_bad "strace did not attach: $(cat "$T/st.log")"
fi
sleep 0.3 # every thread: strace reports each attach
# The client: the hello, then it reads to the end as fast as it can.
got=$(python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
c.sendall(open(sys.argv[2], "rb").read())
buf, n = bytearray(1 << 20), 0
while True:
	k = c.recv_into(buf)
	if k == 0:
		break
	n += k
print(n)' "$P" "$T/hello.bin")
[ "$got" = "$SIZE" ] && sy_ok || sy_bad "download: $got bytes, want $SIZE"
sy_stop st
python3 - "$T/st.txt" "$RELAY_BUDGET" <<'PY' && sy_ok || sy_bad "splices ran without a poll between"
import re, sys
path, budget = sys.argv[1], int(sys.argv[2])
run, worst, total = {}, {}, 0
for line in open(path):
	m = re.match(r"(\d+)\s+(?:<\.\.\. )?(epoll_wait|splice)\b", line)
	if not m or "resumed>" in line:
		continue
	tid, call = m.group(1), m.group(2)
	if call == "epoll_wait":
		run[tid] = 0
	else:
		total += 1
		run[tid] = run.get(tid, 0) + 1
		worst[tid] = max(worst.get(tid, 0), run[tid])
w = max(worst.values()) if worst else 0
print("splice calls: %d; most between two polls: %d (bound %d)" % (total, w, 4 * budget))
if total < 64:
	sys.exit("too few splices to judge (%d)" % total)
if w > 4 * budget:
	sys.exit("%d splice calls between two epoll_wait calls" % w)
PY
sy_stop sy
sy_done
