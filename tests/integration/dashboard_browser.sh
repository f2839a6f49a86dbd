#!/bin/sh
# Scenario: the admin dashboard in a real browser shows what /metrics says (issue 11 item 6).
# Covers:
#  - headless Chromium (/usr/bin/chromium; without it the scenario is skipped, exit 77) runs
#    the page at GET / of the admin listener, its script fetching /metrics and /status on its
#    own; --virtual-time-budget lets its 2 s refresh run several times, --dump-dom gives the
#    DOM it built (exact values are in data-v attributes, rows in data-listener/-route/
#    -upstream/-server);
#  - under traffic (a bounded loop of curl through a kind: http listener to a python HTTP
#    server): every counter the page shows lies between /metrics read just before and just
#    after the browser ran, every gauge (connections open now) within the one connection the
#    sequential traffic can open or close of those two reads, the page refreshed at least
#    twice and its charts have points;
#  - at rest (traffic over, 3 TLS connections held open through a kind: tls listener to an
#    echo backend, /metrics read identical before and after the browser ran): the totals,
#    every listener's, route's and upstream server's numbers equal /metrics exactly (health
#    check counters, which tick every second, lie between the two reads), an upstream whose
#    only server is closed shows DOWN, the served one UP, and the rows are exactly the label
#    sets /metrics has; integer counters are displayed as exact numbers;
#  - the workers table (workers: 2): one row per worker="N" of the per-worker families, its
#    active and accepted equal to switchyard_worker_{active,accepted}_connections, and its
#    share of the accepted connections equal to /metrics' to 0.1 %.
. "$(dirname "$0")/lib.sh"
sy_setup
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
	sy_skip "chromium is not installed ($CHROMIUM): the dashboard is not checked in a browser"
	sy_done
	exit $?
fi
IP=127.0.50.1
PH=$(sy_port) PE=$(sy_port) PD=$(sy_port) LW=$(sy_port) LT=$(sy_port) ADM=$(sy_port)
mkdir -p "$T/www"
head -c 3000 /dev/zero | tr '\0' x >"$T/www/f.txt"
sy_start web python3 -m http.server --bind "$IP" --directory "$T/www" "$PH"
sy_start beA python3 "$SY_DIR/sy_fleet.py" backend --listen "$IP:$PE" --id A
sy_wait_log beA listening || sy_bad "echo backend did not start"
sy_wait_port "$PH" "$IP" || sy_bad "http backend did not start"
cat >"$T/sy.yaml" <<EOF2
process: {workers: 2}
log: {level: info, access: off}
admin: {listen: "$IP:$ADM"}
listeners:
  - name: web
    listen: ["$IP:$LW"]
    kind: http
    routes:
      - host: web.test
        upstream: uw
  - name: edge
    listen: ["$IP:$LT"]
    kind: tls
    routes:
      - sni: a.test
        upstream: ue
      - sni: d.test
        upstream: ud
upstreams:
  uw: {servers: ["$IP:$PH"]}
  ue: {servers: ["$IP:$PE"], health_check: {interval: 1s, timeout: 500ms, rise: 1, fall: 1}}
  ud: {servers: ["$IP:$PD"], health_check: {interval: 1s, timeout: 500ms, rise: 1, fall: 1}}
EOF2
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(tail -3 "$T/sy.log")"
A="http://$IP:$ADM"
sy_wait_metric "$ADM" "switchyard_upstream_up{upstream=\"ud\",server=\"$IP:$PD\"}" 0 100 "$IP" ||
	sy_bad "the closed server is not marked down"

mkdir -p "$T/profile" "$T/home"
# browse NAME: the DOM of the dashboard after 7 s of virtual time (3 refreshes and more).
browse() {
	HOME=$T/home XDG_CONFIG_HOME=$T/home XDG_CACHE_HOME=$T/home timeout 60 "$CHROMIUM" \
		--headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
		--no-first-run --no-default-browser-check --disable-extensions --disable-sync \
		--disable-background-networking --disable-component-update --disable-breakpad \
		--user-data-dir="$T/profile" --virtual-time-budget=7000 --dump-dom "$A/" \
		>"$T/$1.html" 2>"$T/$1.err"
}
# compare MODE DOM BEFORE AFTER: the page against /metrics (MODE exact or between).
compare() {
	python3 - "$@" <<'EOF3'
import math, re, sys
from html.parser import HTMLParser
mode, dom, before, after = sys.argv[1:5]

def metrics(path):
    out = {}
    for line in open(path):
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$', line)
        if m and not line.startswith("#"):
            labels = tuple(sorted(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")))
            out.setdefault(m.group(1), []).append((dict(labels), float(m.group(3))))
    return out

def total(M, name, **want):
    return sum(v for l, v in M.get(name, []) if all(l.get(k) == x for k, x in want.items()))

def labelsets(M, name, keys):
    return sorted({tuple(l[k] for k in keys) for l, _ in M.get(name, [])})

class Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.rows, self.row, self.cell, self.text = {}, [], None, None, None
        self.attrs = {}
    def handle_starttag(self, tag, a):
        a = dict(a)
        if "id" in a:
            self.attrs[a["id"]] = a
            if "data-v" in a:
                self.ids[a["id"]] = float(a["data-v"])
        if tag == "body":
            self.refreshes = int(a.get("data-refreshes", "0"))
        if tag == "tr" and any(k.startswith("data-") for k in a):
            self.row = {"attrs": {k[5:]: v for k, v in a.items() if k.startswith("data-")}, "cells": {}, "text": {}}
            self.rows.append(self.row)
        if tag == "td" and self.row is not None and "data-k" in a:
            self.cell = a["data-k"]
            self.row["cells"][self.cell] = float(a["data-v"])
            self.row["text"][self.cell] = ""
    def handle_data(self, d):
        if self.cell is not None:
            self.row["text"][self.cell] += d
    def handle_endtag(self, tag):
        if tag == "td":
            self.cell = None
        if tag == "tr":
            self.row = None

d = Dom()
d.feed(open(dom).read())
B, A = metrics(before), metrics(after)
fails, checked = [], 0

# Under traffic a gauge (connections open now) is not bounded by two reads the way a counter
# is: it can go 0 -> 1 -> 0 between them. The traffic is one curl at a time, so a gauge the
# page read may differ from both reads by at most that one connection.
TRAFFIC_CONNS = 1

def check(what, shown, fn, loose=False, gauge=False):
    """shown: the page's number; fn(M): /metrics' number."""
    global checked
    checked += 1
    lo, hi = fn(B), fn(A)
    if gauge and mode != "exact":
        lo, hi = max(min(lo, hi) - TRAFFIC_CONNS, 0), max(lo, hi) + TRAFFIC_CONNS
    if shown is None:
        fails.append("%s: not on the page" % what)
    elif mode == "exact" and not loose:
        if not (lo == hi == shown):
            fails.append("%s: page %s, /metrics %s then %s" % (what, shown, lo, hi))
    elif not (min(lo, hi) <= shown <= max(lo, hi)):
        fails.append("%s: page %s not between /metrics %s and %s" % (what, shown, lo, hi))

def failures(M):
    return (total(M, "switchyard_hello_failures_total") + total(M, "switchyard_proxy_rejects_total")
            + total(M, "switchyard_limit_rejects_total") + total(M, "switchyard_accept_errors_total")
            + sum(total(M, "switchyard_connections_total", result=r) for r in ("rejected", "upstream_failed", "error")))

ids = d.ids
check("active", ids.get("sum-active"), lambda M: total(M, "switchyard_active_connections"), gauge=True)
check("accepted", ids.get("sum-accepted"), lambda M: total(M, "switchyard_accepted_connections_total"))
check("closed", ids.get("sum-closed"), lambda M: total(M, "switchyard_connections_total"))
check("bytes in", ids.get("sum-bytes-in"), lambda M: total(M, "switchyard_bytes_total", direction="in"))
check("bytes out", ids.get("sum-bytes-out"), lambda M: total(M, "switchyard_bytes_total", direction="out"))
check("failures", ids.get("sum-failures"), failures)
check("servers up", ids.get("sum-up"), lambda M: total(M, "switchyard_upstream_up"))

def rows(kind):
    return {tuple(r["attrs"][k] for k in kind): r for r in d.rows if all(k in r["attrs"] for k in kind) and len(r["attrs"]) == len(kind)}

L = rows(("listener",))
R = rows(("listener", "route"))
S = rows(("upstream", "server"))
W = rows(("worker",))
for name, got, want in (("listeners", sorted(L), labelsets(A, "switchyard_accepted_connections_total", ["listener"])),
                        ("routes", sorted(R), labelsets(A, "switchyard_connections_total", ["listener", "route"])),
                        ("servers", sorted(S), labelsets(A, "switchyard_upstream_up", ["upstream", "server"])),
                        ("workers", sorted(W), labelsets(A, "switchyard_worker_accepted_connections_total", ["worker"]))):
    checked += 1
    if got != want:
        fails.append("%s rows %s, /metrics %s" % (name, got, want))
lf = {"active": "switchyard_active_connections", "preread": "switchyard_preread_connections",
      "accepted": "switchyard_accepted_connections_total", "limit_rejects": "switchyard_limit_rejects_total",
      "hello_failures": "switchyard_hello_failures_total", "proxy_rejects": "switchyard_proxy_rejects_total",
      "accept_errors": "switchyard_accept_errors_total", "http_responses": "switchyard_http_responses_total",
      "tls_handshakes": "switchyard_tls_handshakes_total"}
for (l,), r in L.items():
    for k, n in lf.items():
        check("listener %s %s" % (l, k), r["cells"].get(k), lambda M, n=n, l=l: total(M, n, listener=l),
              gauge=k in ("active", "preread"))
for (l, rt), r in R.items():
    for k in ("ok", "rejected", "upstream_failed", "idle_timeout", "error", "shutdown"):
        check("route %s/%s %s" % (l, rt, k), r["cells"].get(k),
              lambda M, k=k, l=l, rt=rt: total(M, "switchyard_connections_total", listener=l, route=rt, result=k))
    for k, dr in (("bytes_in", "in"), ("bytes_out", "out")):
        check("route %s/%s %s" % (l, rt, k), r["cells"].get(k),
              lambda M, dr=dr, l=l, rt=rt: total(M, "switchyard_bytes_total", listener=l, route=rt, direction=dr))
sf = {"up": ("switchyard_upstream_up", {}), "active": ("switchyard_upstream_active_connections", {}),
      "connects": ("switchyard_upstream_connects_total", {}),
      "connect_errors": ("switchyard_upstream_connect_failures_total", {"reason": "error"}),
      "connect_timeouts": ("switchyard_upstream_connect_failures_total", {"reason": "timeout"})}
for (u, s), r in S.items():
    for k, (n, extra) in sf.items():
        check("server %s %s %s" % (u, s, k), r["cells"].get(k),
              lambda M, n=n, u=u, s=s, extra=extra: total(M, n, upstream=u, server=s, **extra),
              gauge=k == "active")
    # Health checks run every second: between the reads even at rest.
    check("server %s %s health_checks" % (u, s), r["cells"].get("health_checks"),
          lambda M, u=u, s=s: total(M, "switchyard_health_checks_total", upstream=u, server=s), loose=True)
    check("server %s %s health_failures" % (u, s), r["cells"].get("health_failures"),
          lambda M, u=u, s=s: total(M, "switchyard_health_check_failures_total", upstream=u, server=s), loose=True)
for (wk,), r in W.items():
    check("worker %s active" % wk, r["cells"].get("active"),
          lambda M, wk=wk: total(M, "switchyard_worker_active_connections", worker=wk), gauge=True)
    check("worker %s accepted" % wk, r["cells"].get("accepted"),
          lambda M, wk=wk: total(M, "switchyard_worker_accepted_connections_total", worker=wk))
    # A share is no counter (not between two reads under traffic): checked at rest only,
    # rounded as the page rounds (JavaScript's Math.round: halves up).
    if mode == "exact":
        check("worker %s share" % wk, r["cells"].get("share"),
              lambda M, wk=wk: math.floor(0.5 + 1000 * total(M, "switchyard_worker_accepted_connections_total", worker=wk)
                                          / max(total(M, "switchyard_worker_accepted_connections_total"), 1)) / 10)
if mode == "exact" and len(W) != 2:
    fails.append("workers rows %s, want 2 (workers: 2)" % sorted(W))
# Counters are displayed as the exact number, not rounded.
for r in list(L.values()) + list(R.values()):
    for k in ("accepted", "active", "ok", "rejected", "upstream_failed"):
        if k in r["cells"] and r["text"][k].strip() != "%d" % r["cells"][k]:
            fails.append("row %s %s shows %r for %d" % (r["attrs"], k, r["text"][k], r["cells"][k]))
for key, r in S.items():
    checked += 1
    want = "UP" if r["cells"].get("up") == 1 else "DOWN"
    if r["text"].get("up", "").strip() != want:
        fails.append("server %s shows %r" % (key, r["text"].get("up")))
pts = d.attrs.get("chart-rate", {}).get("data-points", "0")
print("%s: %d numbers checked, %d refreshes, %s chart points; accepted %s, active %s" % (
    mode, checked, getattr(d, "refreshes", 0), pts, ids.get("sum-accepted"), ids.get("sum-active")))
if getattr(d, "refreshes", 0) < 2:
    fails.append("the page refreshed %d times" % getattr(d, "refreshes", 0))
if int(pts) < 2:
    fails.append("chart has %s points" % pts)
for f in fails:
    print("MISMATCH", f)
sys.exit(1 if fails or checked < 40 else 0)
EOF3
}

# --- Under traffic: a bounded loop of curl through the http listener, in the background.
(
	# Until told to stop, at most 2000 rounds or 60 s, about 30 connections a second.
	i=0 end=$(($(date +%s) + 60))
	while [ $i -lt 2000 ] && [ ! -e "$T/stop" ] && [ "$(date +%s)" -lt $end ]; do
		curl -s -m 3 -o /dev/null -H 'Host: web.test' "http://$IP:$LW/f.txt"
		[ $((i % 10)) = 0 ] && curl -s -m 3 -o /dev/null -H 'Host: other.test' "http://$IP:$LW/"
		i=$((i + 1))
		sleep 0.03
	done
	echo "$i" >"$T/traffic.done"
) &
TRAFFIC=$!
SY_PIDS="$SY_PIDS $TRAFFIC"
i=0
while [ "$(sy_metric "$ADM" 'switchyard_accepted_connections_total{listener="web"}' "$IP")" -lt 20 ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ $i -lt 100 ] && sy_ok || sy_bad "no traffic through the http listener"
curl -s -m 5 "$A/metrics" >"$T/m1.txt"
browse busy
curl -s -m 5 "$A/metrics" >"$T/m2.txt"
compare between "$T/busy.html" "$T/m1.txt" "$T/m2.txt" && sy_ok ||
	sy_bad "under traffic the page is not between two /metrics reads ($(tail -n 3 "$T/busy.err"))"
a1=$(awk '$1 == "switchyard_accepted_connections_total{listener=\"web\"}" { print $2 }' "$T/m1.txt")
a2=$(awk '$1 == "switchyard_accepted_connections_total{listener=\"web\"}" { print $2 }' "$T/m2.txt")
echo "traffic while the browser ran: web accepted $a1 -> $a2"
[ "$a2" -gt "$a1" ] && sy_ok || sy_bad "no traffic while the browser ran"
: >"$T/stop"
wait "$TRAFFIC"
echo "traffic: $(cat "$T/traffic.done" 2>/dev/null) loops"

# --- At rest: 3 held TLS sessions, nothing else moving but health checks.
sy_hold hold ' n=3 ok=3 failed=0 answers=A,A,A ' --connect "$IP:$LT" --sni a.test --per-src 3 --max-time 60 ||
	sy_bad "held sessions did not start: $(cat "$T/hold.log")"
sy_wait_metric "$ADM" 'switchyard_active_connections{listener="web"}' 0 100 "$IP" || sy_bad "web connections still open"
n=0 ok=1
while [ $n -lt 3 ]; do
	curl -s -m 5 "$A/metrics" >"$T/r1.txt"
	browse rest
	curl -s -m 5 "$A/metrics" >"$T/r2.txt"
	compare exact "$T/rest.html" "$T/r1.txt" "$T/r2.txt" >"$T/rest.out" && { ok=0; break; }
	n=$((n + 1))
done
cat "$T/rest.out"
[ $ok = 0 ] && sy_ok || sy_bad "at rest the page differs from /metrics (tries: $((n + 1)))"
grep -q 'data-upstream="ud".*data-v="0"><span class="st down">DOWN' "$T/rest.html" && sy_ok || sy_bad "ud not shown DOWN"
grep -q 'data-upstream="ue".*data-v="1"><span class="st up">UP' "$T/rest.html" && sy_ok || sy_bad "ue not shown UP"
grep -q 'id="sum-active" data-v="3"' "$T/rest.html" && sy_ok || sy_bad "the page does not show 3 active connections"
cp "$T/rest.html" "${SY_BUILD_DIR:-$T}/dashboard-rest.html" 2>/dev/null
echo quit >>"$T/hold.ctl"
sy_stop sy
grep -E 'Sanitizer|runtime error' "$T/sy.log" && sy_bad "sanitizer reports" || sy_ok
sy_done
