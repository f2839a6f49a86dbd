#!/bin/sh
# Scenario: a wall-clock step does not touch timeouts (issue 8 item 9). switchyard runs with
# a shim (tests/integration/clockjump.c, LD_PRELOAD) that steps its wall clock one hour
# forward 1.5 s after start, as NTP or an operator would; the machine's clock is not touched.
# Covers:
#  - a relayed TLS passthrough session (idle_timeout 10s) that echoes at 4 s and 11 s stays
#    open across the step (with timeouts computed from wall time it is closed as idle by the
#    first timer after libevent's 5 s wall-offset resync has made the step visible);
#  - its access-log line, once the client closes it, says end=done and a duration well under
#    the hour the wall clock moved (ms < 60000);
#  - a second session opened after the step is still closed by idle_timeout, on time (the
#    timer works, it is not merely disabled).
. "$(dirname "$0")/lib.sh"
sy_setup
command -v cc >/dev/null || { echo "no C compiler for the shim: skipped"; exit 77; }
cc -shared -fPIC -O2 -o "$T/clockjump.so" "$(dirname "$0")/clockjump.c" ||
	{ sy_bad "the shim does not build"; sy_done; exit 1; }
IP=127.0.47.1
FLEET="python3 $SY_DIR/sy_fleet.py"
PA=$(sy_port) L=$(sy_port)
sy_start beA $FLEET backend --listen "$IP:$PA" --id A
sy_wait_log beA listening || sy_bad "backend did not start"
cat >"$T/sy.yaml" <<EOF2
process: {workers: 1, shutdown_timeout: 1s}
log: {level: info, access: "$T/access.log"}
listeners:
  - name: edge
    listen: ["$IP:$L"]
    kind: tls
    idle_timeout: 10s
    routes:
      - sni: a.test
        upstream: ua
upstreams:
  ua: {servers: ["$IP:$PA"]}
EOF2
# Under ASan the shim comes before the sanitizer runtime in the library list: allowed.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
SY_CLOCKJUMP_AFTER_MS=1500 SY_CLOCKJUMP_S=3600 LD_PRELOAD="$T/clockjump.so" \
	sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start"

sy_hold hold ' n=1 ok=1 ' --connect "$IP:$L" --sni a.test --max-time 40 || sy_bad "session did not start: $(cat "$T/hold.log")"
# Echo at 4 s and at 11 s after the session opened: each gap is under idle_timeout (10 s),
# and the first idle timer (at 10 s) fires after the step became visible (libevent adds the
# wall offset it re-reads every 5 s) while the last activity was before it.
sleep 4
echo "echo 0" >>"$T/hold.ctl"
sleep 7
echo "echo 0" >>"$T/hold.ctl"
j=0
while [ "$(grep -c '^echo 0 ' "$T/hold.log")" -lt 2 ] && [ $j -lt 100 ]; do sleep 0.1; j=$((j + 1)); done
oks=$(grep -c '^echo 0 ok' "$T/hold.log")
[ "$oks" = 2 ] && sy_ok || sy_bad "session closed across the clock step: $oks of 2 echoes came back; $(grep -E 'end=' "$T/access.log" | tail -1)"
echo "close 0" >>"$T/hold.ctl"
sy_wait_log hold '^close 0 done' || sy_bad "session did not close"
echo quit >>"$T/hold.ctl"
j=0
while ! grep -q 'end=' "$T/access.log" 2>/dev/null && [ $j -lt 100 ]; do sleep 0.05; j=$((j + 1)); done
line=$(grep 'end=' "$T/access.log" | head -1)
ms=$(echo "$line" | sed -n 's/.* ms=\([0-9]*\) .*/\1/p')
case "$line" in *end=done*) sy_ok ;; *) sy_bad "first session's end: $line" ;; esac
[ -n "$ms" ] && [ "$ms" -lt 60000 ] && [ "$ms" -ge 10000 ] && sy_ok || sy_bad "first session's duration: $line"

# After the step, idle_timeout still ends an idle session (between 9.5 and 13 s).
sy_hold hold2 ' n=1 ok=1 ' --connect "$IP:$L" --sni a.test --max-time 25 || sy_bad "second session did not start"
sy_wait_log hold2 '^allclosed' 400 && sy_ok || sy_bad "idle session not closed by idle_timeout"
t=$(sed -n 's/^allclosed .*t=\([0-9.]*\).*/\1/p' "$T/hold2.log")
python3 -c "import sys; t=float(sys.argv[1]); sys.exit(0 if 9.5 <= t <= 13 else 1)" "${t:-0}" &&
	sy_ok || sy_bad "idle close after ${t}s, want about 10"
grep -q 'end=idle_timeout' "$T/access.log" && sy_ok || sy_bad "no idle_timeout line: $(cat "$T/access.log")"
echo quit >>"$T/hold2.ctl"
sy_stop sy
sy_done
