# Shared helpers for integration scenarios; sourced by tests/integration/*.sh, never run.
# Every process a scenario starts is recorded and stopped by its pid on exit; every wait is
# bounded. Network use: 127.0.0.0/8 only.
#
#   . "$(dirname "$0")/lib.sh"; sy_setup
#   port=$(sy_port); sy_start name cmd...; sy_wait_port $port
#   sy_ok / sy_bad "why" / sy_check "what" cmd...; sy_done (prints "N passed, N failed,
#   N skipped")
#   sy_skip "why": a part that cannot run here (no IPv6 on lo, no promtool, ...); the rest
#   still runs, and the scenario then exits 77, which ctest reports as skipped, never passed.
#   A scenario that cannot run at all: sy_skip "why"; sy_done; exit $?
#   Shared steps (one comment each below): sy_hold (held connections via sy_fleet.py),
#   sy_stop_clean / sy_exit_ms / sy_wait_gone / sy_run_to_exit (stopping and exit status),
#   sy_closed_port (a held port that refuses connects),
#   sy_metric / sy_wait_metric (admin /metrics), sy_fds (open descriptors), sy_raw (raw bytes),
#   and for the VPN scenarios sy_vpn_keys / sy_vpn_ik (key tools), sy_echo (a TCP echo),
#   sy_vpn_conf (the common configuration), sy_vc / sy_has (the C client and its output).

: "${SWITCHYARD:?run under ctest, or set SWITCHYARD to the binary}"
: "${SY_SOURCE_DIR:?run under ctest, or set SY_SOURCE_DIR}"
SY_DIR=$(cd "$(dirname "$0")" && pwd) # tests/integration: the python helpers
# Inline python in a scenario may import the helpers (from sy_peer import serve_threads).
# No __pycache__ is written into the source tree.
PYTHONPATH=$SY_DIR${PYTHONPATH:+:$PYTHONPATH}
PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH PYTHONDONTWRITEBYTECODE

# python3 may be a version-manager shim that costs a second per call under load; put the
# real interpreter first on PATH (helpers below call it in loops).
SY_PYTHON=$(python3 -c 'import sys; print(sys.executable)')
PATH=$(dirname "$SY_PYTHON"):$PATH
export PATH

SY_PASS=0
SY_FAIL=0
SY_SKIP=0
SY_SKIPPED=""
SY_PIDS=""

# sy_setup: a private temp dir in $T and the cleanup trap.
sy_setup() {
	T=$(mktemp -d /tmp/sy-it.XXXXXX)
	chmod 755 "$T"
	trap sy_cleanup EXIT
	trap 'exit 130' INT TERM
	sy_port_slot
}

# sy_cleanup: stops every recorded pid (TERM, then KILL after 3 s), removes $T unless
# SY_KEEP=1.
sy_cleanup() {
	for p in $SY_PIDS; do kill "$p" 2>/dev/null; done
	for p in $SY_PIDS; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 60 ]; do sleep 0.05; i=$((i + 1)); done
		kill -9 "$p" 2>/dev/null
	done
	if [ "${SY_KEEP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}

sy_ok() { SY_PASS=$((SY_PASS + 1)); }
sy_bad() { SY_FAIL=$((SY_FAIL + 1)); echo "FAIL: $*" >&2; }

# sy_check WHAT CMD...: passes when CMD exits 0.
sy_check() {
	what=$1
	shift
	if "$@"; then sy_ok; else sy_bad "$what"; fi
}

# sy_skip WHY: records a part of the scenario that could not run, and says so at once.
sy_skip() {
	SY_SKIP=$((SY_SKIP + 1))
	SY_SKIPPED="$SY_SKIPPED${SY_SKIPPED:+; }$*"
	echo "SKIP: $*" >&2
}

# sy_done: the closing line and the exit status: 1 on any failure (or when nothing passed
# and nothing was skipped), else 77 when a part was skipped (tests/CMakeLists.txt makes it
# ctest's "skipped"), else 0.
sy_done() {
	echo "$SY_PASS passed, $SY_FAIL failed, $SY_SKIP skipped"
	[ "$SY_FAIL" = 0 ] || return 1
	if [ "$SY_SKIP" -gt 0 ]; then
		echo "skipped: $SY_SKIPPED"
		return 77
	fi
	[ "$SY_PASS" -gt 0 ]
}

# Ports. Every port a scenario listens on comes from sy_port, below the kernel's ephemeral
# range (32768+) so that no outgoing connection can take it between the choice and the bind.
# Checking that a port is free is not enough when scenarios run in parallel (ctest -j2): two
# may choose the same free port, and the second bind fails ("Address already in use"), one
# of CI's flakes. So each running scenario owns a slot of SY_PORT_SPAN ports: a holder
# process (sy_port_slot) keeps an flock on /tmp/sy-it-ports/N for as long as the scenario's
# shell lives, and sy_port chooses only in its slot, never the same port twice ($T/ports).
SY_PORT_BASE=20000
SY_PORT_SPAN=300
SY_PORT_SLOTS=40 # 20000 + 40 x 300 = 32000: below the ephemeral range

# sy_port_slot: takes a free slot (from sy_setup); SY_PORT_LO/SY_PORT_HI are its ports. With
# every slot taken (more than SY_PORT_SLOTS scenarios at once), the whole range is used.
sy_port_slot() {
	SY_PORT_LO=$SY_PORT_BASE
	SY_PORT_HI=$((SY_PORT_BASE + SY_PORT_SPAN * SY_PORT_SLOTS))
	: >"$T/ports"
	sy_start portslot python3 -c '
import fcntl, os, sys, time
d, n, shell = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d, exist_ok=True)
try:
    os.chmod(d, 0o1777)
except OSError:
    pass
for i in range(n):
    try:
        f = os.open(os.path.join(d, str(i)), os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError:
        continue
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(f)
        continue
    print("slot", i, flush=True)
    break
else:
    print("slot none", flush=True)
    sys.exit(0)
# Held until the scenario ends: stopped by its pid, or (a killed scenario) when its shell
# is gone.
while os.getppid() == shell:
    time.sleep(0.5)' /tmp/sy-it-ports "$SY_PORT_SLOTS" "$$"
	sy_wait_log portslot '^slot ' 100 || return 0
	slot=$(awk '$1 == "slot" { print $2 }' "$T/portslot.log")
	if [ "$slot" != none ]; then
		SY_PORT_LO=$((SY_PORT_BASE + slot * SY_PORT_SPAN))
		SY_PORT_HI=$((SY_PORT_LO + SY_PORT_SPAN))
	fi
}

# SY_PORT_PY MODE LO HI USED: the python behind sy_port (MODE free: prints a free port of
# [LO, HI) not listed in the file USED, and lists it there) and sy_closed_port (MODE hold:
# the same, but it keeps the port bound, never listening, until stopped).
SY_PORT_PY='
import random, signal, socket, sys
mode, lo, hi, used_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
used = set(open(used_path).read().split())
for _ in range(400):
    p = random.randrange(lo, hi)
    if str(p) in used:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close()
        continue
    with open(used_path, "a") as f:
        f.write("%d\n" % p)
    if mode == "free":
        s.close()
        print(p)
    else:
        print("bound", p, flush=True)
        signal.pause()
    break
else:
    raise SystemExit("no free port in %d-%d" % (lo, hi - 1))'

# sy_port: a free TCP port of this scenario's slot, never one it was given before.
sy_port() {
	python3 -c "$SY_PORT_PY" free "$SY_PORT_LO" "$SY_PORT_HI" "$T/ports"
}

# sy_closed_port NAME: a port where connects are refused and that this scenario holds: a
# process NAME (stopped like the others) binds it on 127.0.0.1 and never listens, so a SYN
# gets a reset (ECONNREFUSED) and nothing else can take the port. The port, from the slot
# like sy_port's, is in $SY_CLOSED_PORT; false when it could not bind.
sy_closed_port() {
	SY_CLOSED_PORT=""
	sy_start "$1" python3 -c "$SY_PORT_PY" hold "$SY_PORT_LO" "$SY_PORT_HI" "$T/ports"
	sy_wait_log "$1" '^bound [0-9]+$' 100 || return 1
	SY_CLOSED_PORT=$(awk '$1 == "bound" { print $2 }' "$T/$1.log")
}

# sy_start NAME CMD...: runs CMD in the background with output in $T/NAME.log; records
# the pid in $T/NAME.pid and for cleanup.
sy_start() {
	name=$1
	shift
	"$@" >"$T/$name.log" 2>&1 &
	pid=$!
	echo "$pid" >"$T/$name.pid"
	SY_PIDS="$SY_PIDS $pid"
}

# sy_stop NAME: TERM the named process and wait for it (bounded: 10 s, then KILL).
sy_stop() {
	pid=$(cat "$T/$1.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# sy_wait_port PORT [HOST] [TRIES]: waits until something accepts on HOST:PORT (50 ms steps).
sy_wait_port() {
	host=${2:-127.0.0.1}
	tries=${3:-200}
	i=0
	while [ $i -lt "$tries" ]; do
		if python3 -c "import socket,sys; s=socket.create_connection(('$host',$1),0.2); s.close()" 2>/dev/null; then
			return 0
		fi
		sleep 0.05
		i=$((i + 1))
	done
	echo "nothing listens on $host:$1" >&2
	return 1
}

# sy_wait_log NAME PATTERN [TRIES]: waits until $T/NAME.log matches PATTERN (grep -E).
sy_wait_log() {
	tries=${3:-200}
	i=0
	while [ $i -lt "$tries" ]; do
		grep -qE "$2" "$T/$1.log" 2>/dev/null && return 0
		sleep 0.05
		i=$((i + 1))
	done
	echo "no '$2' in $T/$1.log" >&2
	return 1
}

# sy_cert NAME DNS...: ECDSA P-256 self-signed certificate $T/NAME.crt + $T/NAME.key.
sy_cert() {
	name=$1
	shift
	san=""
	for d in "$@"; do san="$san${san:+,}DNS:$d"; done
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-keyout "$T/$name.key" -out "$T/$name.crt" -subj "/CN=$1" \
		-addext "subjectAltName=$san" >/dev/null 2>&1
}

# sy_switchyard NAME CONF: starts the binary on CONF and waits for its start line.
sy_switchyard() {
	sy_start "$1" "$SWITCHYARD" -c "$2"
	sy_wait_log "$1" 'generation 1\)' 100
}

# sy_nginx NAME CONF_BODY: runs a private nginx (foreground) whose config is the given
# body wrapped with pid/error-log/temp paths in $T. The body holds http{}/stream{} blocks.
sy_nginx() {
	name=$1
	mkdir -p "$T/$name"
	{
		[ "$(id -u)" = 0 ] && echo "user root;"
		echo "worker_processes 1; daemon off; pid $T/$name/nginx.pid;"
		echo "error_log $T/$name/error.log warn;"
		echo "events { worker_connections 4096; }"
		printf '%s\n' "$2"
	} >"$T/$name/nginx.conf"
	sy_start "$name" nginx -p "$T/$name" -c "$T/$name/nginx.conf"
}

# sy_haproxy NAME CONF_BODY: runs a private haproxy in the foreground (-db).
sy_haproxy() {
	name=$1
	printf 'global\n  maxconn 2000\ndefaults\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n%s\n' "$2" >"$T/$name.cfg"
	sy_start "$name" haproxy -db -f "$T/$name.cfg"
}

# sy_metric PORT NAME_WITH_LABELS [HOST]: one metric value from the admin listener on HOST
# (127.0.0.1) (0 if absent).
sy_metric() {
	curl -s -m 5 "http://${3:-127.0.0.1}:$1/metrics" | awk -v k="$2" '$1 == k { print $2; found=1 } END { if (!found) print 0 }'
}

# sy_wait_metric PORT NAME_WITH_LABELS VALUE [TRIES] [HOST]: waits (50 ms steps, 100 tries)
# until sy_metric gives VALUE; says what it last was when it never did.
sy_wait_metric() {
	sy_w=0
	while [ $sy_w -lt "${4:-100}" ]; do
		[ "$(sy_metric "$1" "$2" "$5")" = "$3" ] && return 0
		sleep 0.05
		sy_w=$((sy_w + 1))
	done
	echo "metric $2 is $(sy_metric "$1" "$2" "$5"), want $3" >&2
	return 1
}

# sy_wait_gone PID [TRIES]: waits (50 ms steps, 200 tries) until PID has exited; fails if not.
sy_wait_gone() {
	sy_w=0
	while kill -0 "$1" 2>/dev/null && [ $sy_w -lt "${2:-200}" ]; do sleep 0.05; sy_w=$((sy_w + 1)); done
	! kill -0 "$1" 2>/dev/null
}

# sy_exit_ms PID T0: sy_wait_gone, then reaps PID: its exit status in $SY_RC and the ms from
# T0 (date +%s%N) to its exit in $SY_MS.
sy_exit_ms() {
	sy_wait_gone "$1"
	SY_MS=$(( ($(date +%s%N) - $2) / 1000000 ))
	wait "$1"
	SY_RC=$?
}

# sy_stop_clean NAME [PATTERN]: SIGTERM to NAME, then two checks: exit status 0, and no line
# of its log matching PATTERN (grep -E; default sanitizer reports, which show leaks at exit).
sy_stop_clean() {
	sy_sp=$(cat "$T/$1.pid")
	kill -TERM "$sy_sp"
	sy_wait_gone "$sy_sp"
	wait "$sy_sp"
	sy_rc=$?
	[ "$sy_rc" = 0 ] && sy_ok || sy_bad "$1: exit status $sy_rc after SIGTERM"
	sy_pat=${2:-Sanitizer|runtime error}
	if grep -qE "$sy_pat" "$T/$1.log"; then
		sy_bad "$1: '$sy_pat' in its log: $(grep -m1 -E "$sy_pat" "$T/$1.log")"
	else
		sy_ok
	fi
}

# sy_run_to_exit NAME CMD...: runs CMD like sy_start and waits (5 s) for it to exit; fails,
# after a TERM, when it still runs. Its exit status is then in $SY_RC.
sy_run_to_exit() {
	sy_start "$@"
	sy_rp=$pid
	sy_gone=0
	sy_wait_gone "$sy_rp" 100 || { kill "$sy_rp"; sy_gone=1; }
	wait "$sy_rp"
	SY_RC=$?
	[ "$sy_gone" = 0 ]
}

# sy_hold NAME READY ARGS...: sy_fleet.py hold ARGS as NAME, driven by lines appended to
# $T/NAME.ctl; waits until its log has a line starting "ready" + READY (a regex).
sy_hold() {
	sy_hn=$1 sy_ready=$2
	shift 2
	: >"$T/$sy_hn.ctl"
	sy_start "$sy_hn" python3 "$SY_DIR/sy_fleet.py" hold "$@" --ctl "$T/$sy_hn.ctl"
	sy_wait_log "$sy_hn" "^ready$sy_ready"
}

# sy_fds PID: how many descriptors PID has open.
sy_fds() { ls "/proc/$1/fd" | wc -l; }

# sy_raw PORT BIND FILE [WAIT]: sends FILE's bytes from address BIND to 127.0.0.1:PORT and
# prints what comes back, then <EOF>, <RESET> or <TIMEOUT> (WAIT s without a byte, 3).
sy_raw() {
	python3 - "$@" <<'EOF'
import socket, sys
s = socket.socket()
s.bind((sys.argv[2], 0))
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(open(sys.argv[3], "rb").read())
s.settimeout(float(sys.argv[4]) if len(sys.argv) > 4 else 3.0)
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            out += b"<EOF>"
            break
        out += b
except socket.timeout:
    out += b"<TIMEOUT>"
except ConnectionResetError:
    out += b"<RESET>"
sys.stdout.write(out.decode("latin1"))
EOF
}

# sy_client_start [TOOL...]: for the switchyard-client scenarios: $CL is the client of this
# build (the scenario fails without it), and each TOOL (e.g. nginx curl) must be on PATH
# (the scenario is skipped without it).
sy_client_start() {
	CL=${SY_BUILD_DIR:?run under ctest}/switchyard-client
	[ -x "$CL" ] || { sy_bad "no $CL"; sy_done; exit 1; }
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { sy_skip "$tool missing"; sy_done; exit $?; }
	done
}

# ---- VPN scenarios (vpn.sh, vpn_mux.sh, vpn_dns.sh, vpnc.sh) ----

# sy_vpn_keys SERVER_KEY BUNDLE [CLIENT_KEY...]: $T/SERVER_KEY and its prekey bundle
# $T/BUNDLE from the key tools, and a key $T/CLIENT_KEY for each client; false on any
# failure (the scenario cannot go on).
sy_vpn_keys() {
	"$SWITCHYARD" keygen -o "$T/$1" >/dev/null &&
		"$SWITCHYARD" prekey-bundle --identity "$T/$1" -o "$T/$2" >/dev/null || return 1
	shift 2
	for k in "$@"; do
		"$SWITCHYARD" keygen -o "$T/$k" >/dev/null || return 1
	done
}

# sy_vpn_ik KEYFILE FORM: one form of $T/KEYFILE's public key (x25519_hex, x25519_ik, ...).
sy_vpn_ik() {
	"$SWITCHYARD" pubkey --identity "$T/$1" | awk -v f="$2" '$1 == f":" { print $2 }'
}

# sy_echo NAME PORT [IDLE_S]: a TCP echo server on 127.0.0.1:PORT (a thread per
# connection; a connection idle IDLE_S seconds, default 60, is closed).
sy_echo() {
	sy_start "$1" python3 -c '
import sys
from sy_peer import serve_threads
def serve(c):
    c.settimeout(float(sys.argv[2]))
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()
serve_threads(int(sys.argv[1]), serve)
' "$2" "${3:-60}"
}

# sy_vpn_conf FILE PORT ADMIN WORKERS SERVER_KEY BUNDLE CLIENTS [EXTRA_LISTENERS]: a
# switchyard configuration $T/FILE with a TLS listener on PORT whose default route
# terminates, the admin listener, the access log $T/access.log (or $T/$SY_VPN_ACCESS.log,
# in the format $SY_VPN_LOG_FORMAT when set), the decoy site $T/site
# (certificate $T/site.crt for vpn.test, made here) and terminator.vpn with the given key
# files and allow-list. EXTRA_LISTENERS (YAML list items) go after the edge listener; the
# scenario appends its own terminator.vpn keys (4 spaces in).
sy_vpn_conf() {
	mkdir -p "$T/site"
	[ -f "$T/site/index.html" ] || printf 'decoy\n' >"$T/site/index.html"
	[ -f "$T/site.crt" ] || sy_cert site vpn.test
	cat >"$T/$1" <<EOT
process: {workers: $4}
log: {level: info, access: $T/${SY_VPN_ACCESS:-access}.log${SY_VPN_LOG_FORMAT:+, format: $SY_VPN_LOG_FORMAT}}
admin: {listen: "127.0.0.1:$3"}
listeners:
  - name: edge
    listen: 127.0.0.1:$2
    kind: tls
    routes:
      - default: {terminate: true}
${8:-}
terminator:
  certificates: [{cert: $T/site.crt, key: $T/site.key}]
  site: {root: $T/site}
  vpn:
    identity_key: $T/$5
    prekey_bundle: $T/$6
    clients: $T/$7
EOT
}

# sy_vc WANT NAME ARGS...: runs the C test client $VC with ARGS (output in $T/NAME.out,
# diagnostics in $T/NAME.err) and checks that it exits WANT.
sy_vc() {
	want=$1 name=$2
	shift 2
	"$VC" "$@" >"$T/$name.out" 2>"$T/$name.err"
	got=$?
	if [ "$got" = "$want" ]; then sy_ok; else
		sy_bad "$name: exit $got, want $want: $(tr '\n' ' ' <"$T/$name.out") $(head -3 "$T/$name.err")"
	fi
}

# sy_has NAME REGEX: the client's output $T/NAME.out has a line matching REGEX.
sy_has() { sy_check "$1: /$2/ in $(tr '\n' ' ' <"$T/$1.out")" grep -qE "$2" "$T/$1.out"; }
