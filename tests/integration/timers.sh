#!/bin/sh
# Scenario: every connection timeout fires, never early and not much late, with many
# deadlines of different lengths on one worker's timer queue (core/timerq.h: one libevent
# timer per worker, issue 12 RSS per idle connection). One worker, two kind: tls listeners
# and one kind: http listener with different preread_timeout and idle_timeout; ROUNDS
# rounds of seven connections opened interleaved, all waiting at once:
#  - idle (ta 1s, tb 3s): a ClientHello relayed to a silent backend, then silence:
#    the client sees EOF no sooner than idle_timeout after it began sending the hello;
#  - pre-read (ta 1500ms, tb 200ms; kind http 700ms): 3 bytes of a hello or half a head,
#    then silence: EOF no sooner than preread_timeout after the client's connect began;
#  - re-arm (ta, tb): one more byte at 60 % of idle_timeout: the first deadline sees the
#    progress and re-arms (lazily) for the rest: EOF no sooner than idle_timeout after that
#    byte was sent;
#  - closed by the client (ta) 100 ms in: its deadline must never touch it (ASan builds).
# Every EOF must also come within SLACK_MS of its deadline (a timer that never fires, or
# fires at a later entry's deadline, fails it: the durations differ by more than SLACK_MS);
# the counts (idle_timeout results, pre-read timeouts) and the access log's end= agree;
# no error lines, no sanitizer reports.
. "$(dirname "$0")/lib.sh"
PATH="$(dirname "$(python3 -c 'import sys; print(sys.executable)')"):$PATH"
sy_setup
LOG_BAD='^[0-9T:.-]+Z error |AddressSanitizer|LeakSanitizer|runtime error:'
PEER="python3 $(dirname "$0")/sy_peer.py"
ROUNDS=6
SLACK_MS=700

PA=$(sy_port) PB=$(sy_port) PH=$(sy_port) PQ=$(sy_port) A=$(sy_port)
mkdir -p "$T/quiet"
sy_start quiet $PEER backend --listen "127.0.0.1:$PQ" --mode silent --save "$T/quiet" --conn-timeout 60
cat >"$T/sy.yaml" <<EOF
process: {workers: 1, shutdown_timeout: 1s}
log: {level: info, access: $T/access.log, format: text}
admin: {listen: "127.0.0.1:$A"}
listeners:
  - name: ta
    listen: 127.0.0.1:$PA
    kind: tls
    preread_timeout: 1500ms
    idle_timeout: 1s
    routes:
      - {sni: t.test, upstream: quiet}
  - name: tb
    listen: 127.0.0.1:$PB
    kind: tls
    preread_timeout: 200ms
    idle_timeout: 3s
    routes:
      - {sni: t.test, upstream: quiet}
  - name: hh
    listen: 127.0.0.1:$PH
    kind: http
    preread_timeout: 700ms
    routes:
      - {host: t.test, upstream: quiet}
upstreams:
  quiet: {servers: ["127.0.0.1:$PQ"]}
EOF
sy_wait_log quiet listening || sy_bad "backend did not start: $(cat "$T/quiet.log")"
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(cat "$T/sy.log")"
$PEER hello --sni t.test --out "$T/hello.bin"

# One thread per connection, all opened within the first ~100 ms and waiting at once. Each
# line: KIND LISTENER WANT_MS GOT_MS, GOT_MS measured from the reference instant (taken
# before the connect or the send that starts the deadline) to the EOF.
python3 - "$PA" "$PB" "$PH" "$T/hello.bin" "$ROUNDS" >"$T/times.txt" 2>"$T/times.err" <<'PYEOF'
import socket, sys, threading, time
pa, pb, ph, hello_path, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
hello = open(hello_path, "rb").read()
out, lock = [], threading.Lock()

def eof_after(s, ref):
    s.settimeout(10)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    return (time.monotonic() - ref) * 1000.0

def run(kind, name, port, want):
    if kind == "pre":
        ref = time.monotonic()
        s = socket.create_connection(("127.0.0.1", port), 5)
        s.sendall(b"GET / HTTP/1.1\r\nHo" if name == "hh" else hello[:3])
    else:
        s = socket.create_connection(("127.0.0.1", port), 5)
        ref = time.monotonic()
        s.sendall(hello)
        if kind == "rearm":
            time.sleep(want * 0.6 / 1000.0)
            ref = time.monotonic()
            s.sendall(b"x")
        elif kind == "closed":
            time.sleep(0.1)
            s.close()
            return
    got = eof_after(s, ref)
    s.close()
    with lock:
        out.append("%s %s %d %.1f" % (kind, name, want, got))

plan = [("idle", "ta", pa, 1000), ("pre", "tb", pb, 200), ("idle", "tb", pb, 3000),
        ("pre", "ta", pa, 1500), ("pre", "hh", ph, 700), ("rearm", "ta", pa, 1000),
        ("rearm", "tb", pb, 3000), ("closed", "ta", pa, 1000)]
ths = []
for r in range(rounds):
    for p in plan:
        t = threading.Thread(target=run, args=p)
        t.start()
        ths.append(t)
for t in ths:
    t.join(30)
print("\n".join(sorted(out)))
PYEOF
n=$(wc -l <"$T/times.txt")
sy_check "every waiting connection reported an EOF ($n of $((ROUNDS * 7)); $(head -c 300 "$T/times.err"))" \
	test "$n" = $((ROUNDS * 7))
early=$(awk '$4 < $3' "$T/times.txt")
sy_check "no timeout fired early: ${early:-none}" test -z "$early"
late=$(awk -v s=$SLACK_MS '$4 > $3 + s' "$T/times.txt")
sy_check "every timeout fired within ${SLACK_MS} ms of its deadline: ${late:-none}" test -z "$late"
# For the log: per kind and listener, the least and the most a deadline was passed by.
awk '{ k = $1 " " $2; d = $4 - $3; if (!(k in lo) || d < lo[k]) lo[k] = d; if (!(k in hi) || d > hi[k]) hi[k] = d }
	END { for (k in lo) printf "%s: fired %.1f to %.1f ms after the deadline\n", k, lo[k], hi[k] }' "$T/times.txt" | sort

m() { sy_metric "$A" "$1"; }
for l in ta tb; do
	got=$(m "switchyard_connections_total{listener=\"$l\",route=\"t.test\",result=\"idle_timeout\"}")
	sy_check "listener $l: $((ROUNDS * 2)) idle timeouts counted, got $got" test "$got" = $((ROUNDS * 2))
	got=$(m "switchyard_hello_failures_total{listener=\"$l\",reason=\"timeout\"}")
	sy_check "listener $l: $ROUNDS pre-read timeouts counted, got $got" test "$got" = "$ROUNDS"
done
got=$(grep -c 'listener=hh .*end=preread_timeout' "$T/access.log")
sy_check "listener hh: $ROUNDS preread_timeout lines, got $got" test "$got" = "$ROUNDS"
got=$(grep -c 'end=idle_timeout' "$T/access.log")
sy_check "$((ROUNDS * 4)) idle_timeout lines, got $got" test "$got" = $((ROUNDS * 4))
sy_check "the $ROUNDS client-closed connections logged as done" \
	test "$(grep -c 'listener=ta .*end=done' "$T/access.log")" = "$ROUNDS"
sy_stop sy
bad=$(grep -E "$LOG_BAD" "$T/sy.log")
sy_check "no error lines or sanitizer reports: $bad" test -z "$bad"
sy_done
