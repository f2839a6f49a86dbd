#!/bin/sh
# Scenario: the sd_notify(3) protocol a Type=notify systemd unit relies on (issue 11 item 2).
# tests/integration/sy_notify.py plays the service manager: it binds the datagram socket
# named by NOTIFY_SOCKET and logs every message with its receipt time (CLOCK_MONOTONIC).
# Covers:
#  - READY=1 arrives once, with "STATUS=serving: generation 1, 0 connections", and at that
#    instant both listeners (two workers) and the admin listener already accept (the helper
#    connects to each as soon as it reads READY=1);
#  - a held connection shows up in a periodic STATUS= ("generation 1, 1 connection");
#  - SIGHUP: "RELOADING=1" with MONOTONIC_USEC= (a CLOCK_MONOTONIC time after READY and at
#    most the receipt time) then READY=1 with "generation 2, 1 connection";
#  - a SIGHUP with a broken file: RELOADING=1 then READY=1 still (the old generation serves),
#    generation still 2;
#  - SIGTERM: "STOPPING=1" with "STATUS=draining: generation 2, 1 connection", exit 0;
#  - an abstract NOTIFY_SOCKET (@name): READY=1 and STOPPING=1 arrive;
#  - a relative NOTIFY_SOCKET is refused with a warning and the daemon serves anyway;
#  - without NOTIFY_SOCKET nothing changes (every other scenario).
. "$(dirname "$0")/lib.sh"
sy_setup
L1=$(sy_port) L2=$(sy_port) ADM=$(sy_port)

# conf: writes $T/sy.yaml (two TLS listeners, two workers, the admin listener).
conf() {
	cat >"$T/sy.yaml.tmp" <<EOF
process: {workers: 2, shutdown_timeout: 2s}
log: {level: info, access: off}
admin: {listen: "127.0.0.1:$ADM"}
listeners:
  - name: a
    listen: ["127.0.0.1:$L1"]
    kind: tls
    preread_timeout: 30s
    routes: [{default: {reject: true}}]
  - name: b
    listen: ["127.0.0.1:$L2"]
    kind: tls
    routes: [{default: {reject: true}}]
EOF
	mv "$T/sy.yaml.tmp" "$T/sy.yaml"
}
conf

# nlog LABEL: the notification log of helper LABEL without its time stamps.
nlog() { sed -n 's/^[0-9][0-9]* //p' "$T/$1.log"; }
# wait_msg LABEL REGEX [N]: waits (10 s) until the N-th (1) message matching REGEX arrived.
wait_msg() {
	w=0
	while [ $w -lt 200 ]; do
		[ "$(nlog "$1" | grep -cE "$2")" -ge "${3:-1}" ] && return 0
		sleep 0.05
		w=$((w + 1))
	done
	echo "no message #${3:-1} matching '$2' from switchyard; got:" >&2
	cat "$T/$1.log" >&2
	return 1
}
# check_reload N: the N-th RELOADING=1 carries a MONOTONIC_USEC after the first READY=1 and
# not after its own receipt, a "reloading" status, and READY=1 is the next message.
check_reload() {
	python3 - "$T/notify.log" "$1" <<'PY'
import sys
msgs = []
for l in open(sys.argv[1]):
    if l[0].isdigit():
        t, m = l.rstrip("\n").split(" ", 1)
        msgs.append((int(t), m))
ready0 = next(t for t, m in msgs if m.startswith("READY=1"))
rel = [i for i, (t, m) in enumerate(msgs) if m.startswith("RELOADING=1|")]
i = rel[int(sys.argv[2]) - 1]
t, m = msgs[i]
f = dict(kv.split("=", 1) for kv in m.split("|"))
u = int(f["MONOTONIC_USEC"])
assert ready0 < u <= t, (ready0, u, t)
assert f["STATUS"].startswith("reloading: generation "), f
assert msgs[i + 1][1].startswith("READY=1|"), msgs[i + 1]
PY
}

sy_start notify python3 "$SY_DIR/sy_notify.py" "$T/notify.sock" --probe "$L1" --probe "$L2" \
	--probe "$ADM" --max-seconds 60
sy_wait_log notify '^listening' || sy_bad "the notify helper did not bind"
NOTIFY_SOCKET=$T/notify.sock sy_start sy "$SWITCHYARD" -c "$T/sy.yaml"
SY=$(cat "$T/sy.pid")

sy_check "READY=1 with the generation-1 status" \
	wait_msg notify '^READY=1\|STATUS=serving: generation 1, 0 connections$'
# The probes' lines are waited for (bounded); a duplicate READY=1, an absence, gets time.
for p in $L1 $L2 $ADM; do
	sy_check "port $p accepted at READY=1" sy_wait_log notify "^PROBE $p ok$"
done
sleep 0.3 # for a duplicate to show
sy_check "READY=1 exactly once at start" [ "$(nlog notify | grep -c '^READY=1')" = 1 ]

# A connection held in pre-read: counted in STATUS=.
sy_start hold python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', $L1))
print('connected', flush=True)
time.sleep(25)"
sy_wait_log hold connected || sy_bad "holder did not connect"
sy_check "periodic STATUS= counts the held connection" \
	wait_msg notify '^STATUS=serving: generation 1, 1 connection$'

# Reload: RELOADING=1 + MONOTONIC_USEC, then READY=1 with generation 2.
kill -HUP "$SY"
sy_check "READY=1 after the reload, generation 2" \
	wait_msg notify '^READY=1\|STATUS=serving: generation 2, 1 connection$'
sy_check "RELOADING=1 with MONOTONIC_USEC, then READY=1" check_reload 1

# A broken file: the old generation serves on, and READY=1 still ends the reload.
printf 'listeners: [{name: x}]\nbogus: 1\n' >"$T/sy.yaml"
kill -HUP "$SY"
sy_check "RELOADING=1 for the failed reload" wait_msg notify '^RELOADING=1' 2
sy_check "READY=1 after the failed reload, generation still 2" \
	wait_msg notify '^READY=1\|STATUS=serving: generation 2, 1 connection$' 2
sy_check "failed reload: MONOTONIC_USEC then READY=1" check_reload 2
sy_check "the failed reload was logged" sy_wait_log sy 'reload failed, keeping generation 2'
conf

# Stop: STOPPING=1 with the drain's status; the held connection drains for 2 s.
kill -TERM "$SY"
sy_check "STOPPING=1 with the draining status" \
	wait_msg notify '^STOPPING=1\|STATUS=draining: generation 2, 1 connection$'
sy_wait_gone "$SY" || sy_bad "switchyard did not exit after SIGTERM"
wait "$SY"
rc=$?
sy_check "exit status 0 after the drain (got $rc)" [ "$rc" = 0 ]
sy_stop hold
sy_stop notify

# The abstract namespace.
abs="@sy-notify-$$-$(date +%s%N)"
sy_start notify2 python3 "$SY_DIR/sy_notify.py" "$abs" --probe "$L1" --max-seconds 30
sy_wait_log notify2 '^listening' || sy_bad "the abstract notify helper did not bind"
NOTIFY_SOCKET=$abs sy_start sy2 "$SWITCHYARD" -c "$T/sy.yaml"
sy_check "abstract socket: READY=1" \
	wait_msg notify2 '^READY=1\|STATUS=serving: generation 1, 0 connections$'
sy_check "abstract socket: listener accepted at READY=1" sy_wait_log notify2 "^PROBE $L1 ok$"
kill -TERM "$(cat "$T/sy2.pid")"
sy_check "abstract socket: STOPPING=1" \
	wait_msg notify2 '^STOPPING=1\|STATUS=draining: generation 1, 0 connections$'
sy_stop sy2
sy_stop notify2

# A relative path is not a notify socket: warned about, and the daemon serves anyway.
NOTIFY_SOCKET=notify.sock sy_start sy3 "$SWITCHYARD" -c "$T/sy.yaml"
sy_check "relative NOTIFY_SOCKET: serves anyway" sy_wait_log sy3 'generation 1\)'
sy_check "relative NOTIFY_SOCKET: warned" \
	grep -q 'no readiness notifications: NOTIFY_SOCKET=notify.sock' "$T/sy3.log"
sy_stop_clean sy3

sy_done
