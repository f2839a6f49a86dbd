#!/bin/sh
# Scenario: one instance per address (issue 8 item 6). SO_REUSEPORT lets sockets of the same
# user share an address; switchyard must share it only among its own workers.
# Covers:
#  - a second switchyard on the address a running one (workers: 2) listens on exits 1 at
#    start with "cannot listen on IP:PORT: another process listens on it (bind: Address
#    already in use)"; the first one still serves the address;
#  - the same for a python listener that itself uses SO_REUSEPORT (same user: without the
#    check the kernel lets switchyard join its group silently) and for one that does not;
#  - a second instance on another listen address but the same admin address exits 1 with
#    "admin listener: cannot listen on IP:PORT: Address already in use";
#  - a reload that adds an address such a listener holds fails with the reason logged,
#    the old generation stays in force (still serving, reloads_total{result="failed"} 1),
#    and a later reload without it succeeds;
#  - our own two workers on one address, on start and across reloads, still work (the first
#    one's answers above; workers.sh covers the spread).
. "$(dirname "$0")/lib.sh"
sy_setup
IP=127.0.49.1
FLEET="python3 $SY_DIR/sy_fleet.py"
PA=$(sy_port) L=$(sy_port) L2=$(sy_port) L3=$(sy_port) ADM=$(sy_port)
sy_start beA $FLEET backend --listen "$IP:$PA" --id A
sy_wait_log beA listening || sy_bad "backend did not start"

# conf FILE ADMIN LISTEN...: a configuration listening on the given addresses.
conf() {
	f=$1 adm=$2
	shift 2
	ls=""
	for a in "$@"; do ls="$ls${ls:+, }\"$a\""; done
	{
		echo "process: {workers: 2, shutdown_timeout: 1s}"
		echo "log: {level: info, access: off}"
		[ -n "$adm" ] && echo "admin: {listen: \"$adm\"}"
		cat <<EOF2
listeners:
  - name: edge
    listen: [$ls]
    kind: tls
    routes:
      - sni: a.test
        upstream: ua
upstreams:
  ua: {servers: ["$IP:$PA"]}
EOF2
	} >"$f.tmp"
	mv "$f.tmp" "$f"
}
answers() { $FLEET conn --connect "$1" --sni a.test --n "${2:-4}" | sort | uniq -c | tr -s ' ' | tr '\n' ';'; }

conf "$T/one.yaml" "$IP:$ADM" "$IP:$L"
sy_switchyard one "$T/one.yaml" || sy_bad "first switchyard did not start: $(tail -3 "$T/one.log")"
P1=$(cat "$T/one.pid")

# A second instance on the same address.
conf "$T/two.yaml" "" "$IP:$L"
sy_run_to_exit two "$SWITCHYARD" -c "$T/two.yaml" ||
	sy_bad "a second switchyard on $IP:$L is running: $(tail -3 "$T/two.log")"
rc=$SY_RC
echo "second instance: exit $rc: $(grep error "$T/two.log")"
[ "$rc" = 1 ] && sy_ok || sy_bad "second instance exit status $rc"
grep -qF "cannot listen on $IP:$L: another process listens on it (bind: Address already in use)" "$T/two.log" &&
	sy_ok || sy_bad "second instance message: $(cat "$T/two.log")"
r=$(answers "$IP:$L" 6)
echo "first instance after that: $r"
[ "$r" = " 6 A;" ] && sy_ok || sy_bad "first instance no longer serves: $r"

# A second instance on a free listen address but the first one's admin address.
conf "$T/three.yaml" "$IP:$ADM" "$IP:$L3"
timeout 10 "$SWITCHYARD" -c "$T/three.yaml" >"$T/three.log" 2>&1
rc=$?
[ "$rc" = 1 ] && grep -qF "admin listener: cannot listen on $IP:$ADM: Address already in use" "$T/three.log" &&
	sy_ok || sy_bad "second instance on the admin address: exit $rc: $(grep error "$T/three.log")"

# python listeners with and without SO_REUSEPORT.
for rp in 1 0; do
	P=$(sy_port)
	sy_start "py$rp" python3 -c "
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, $rp)
s.bind(('$IP', $P)); s.listen(8)
print('listening', flush=True)
time.sleep(60)"
	sy_wait_log "py$rp" listening || sy_bad "python listener $rp"
	conf "$T/py.yaml" "" "$IP:$P"
	sy_run_to_exit py "$SWITCHYARD" -c "$T/py.yaml" ||
		sy_bad "switchyard started on the address of a python listener (SO_REUSEPORT=$rp)"
	rc=$SY_RC
	[ "$rc" = 1 ] && grep -qF "cannot listen on $IP:$P: another process listens on it" "$T/py.log" &&
		sy_ok || sy_bad "python listener SO_REUSEPORT=$rp: exit $rc: $(cat "$T/py.log")"
	[ "$rp" = 1 ] && PHELD=$P
done

# A reload that adds the address the SO_REUSEPORT python listener holds.
conf "$T/one.yaml" "$IP:$ADM" "$IP:$L" "$IP:$PHELD"
kill -HUP "$P1"
sy_wait_log one 'reload failed' 100 || true
grep -F "reload failed, keeping generation 1: cannot listen on $IP:$PHELD: another process listens on it" "$T/one.log" >/dev/null &&
	sy_ok || sy_bad "reload onto a held address: $(grep reload "$T/one.log")"
m=$(curl -s -m 5 "http://$IP:$ADM/metrics" | awk '$1 == "switchyard_reloads_total{result=\"failed\"}" { print $2 }')
[ "$m" = 1 ] && sy_ok || sy_bad "reloads_total failed: '$m'"
r=$(answers "$IP:$L" 4)
[ "$r" = " 4 A;" ] && sy_ok || sy_bad "old generation no longer serves after the failed reload: $r"
# A reload that adds a free address works (own workers join their own sockets).
conf "$T/one.yaml" "$IP:$ADM" "$IP:$L" "$IP:$L2"
kill -HUP "$P1"
sy_wait_log one 'generation 2 in force' 100 || sy_bad "reload with a free address: $(grep reload "$T/one.log")"
r=$(answers "$IP:$L2" 6)
[ "$r" = " 6 A;" ] && sy_ok || sy_bad "added address: $r"
r=$(answers "$IP:$L" 4)
[ "$r" = " 4 A;" ] && sy_ok || sy_bad "kept address after the reload: $r"
sy_stop one
sy_done
