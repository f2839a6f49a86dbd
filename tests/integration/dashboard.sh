#!/bin/sh
# Scenario: the admin dashboard and the metrics it and Grafana read (issue 11 item 6).
# Covers:
#  - GET / answers 200 text/html; charset=utf-8 with the page byte for byte as
#    router/admin_page.html (embedded at build time: the source file is not read at run time),
#    Content-Length right, and the safe headers: a CSP of default-src 'none' that allows
#    only inline script/style and connect-src 'self', X-Content-Type-Options: nosniff,
#    Cache-Control: no-store, X-Frame-Options: DENY; HEAD / has the same headers, no body;
#    /metrics and /status say nosniff and no-store too;
#  - the page loads nothing from elsewhere (no src=/href= to any URL, no @import, no url())
#    and holds nothing of this process (not the configuration path, not the certificate key
#    path: it is static);
#  - /status keeps its "key: value" lines;
#  - switchyard_build_info{version,openssl,libevent} 1, with the versions `switchyard -V`
#    prints (and the OpenSSL version is the one `openssl version` prints);
#  - process_* against /proc/PID: open_fds within [fds while idle, +2] (the scrape's own
#    connection), max_fds = "Max open files" of /proc/PID/limits, start_time within the
#    seconds around the start, virtual and resident memory within 20 % of VmSize/VmRSS,
#    CPU seconds >= 0; promtool check metrics passes when promtool is installed;
#  - conf.d/grafana/switchyard.json is valid JSON, every panel has a query, and every metric
#    name its queries use is a family (# TYPE) of this switchyard's /metrics.
. "$(dirname "$0")/lib.sh"
sy_setup
IP=127.0.49.1
PAGE=$SY_SOURCE_DIR/router/admin_page.html
GRAFANA=$SY_SOURCE_DIR/conf.d/grafana/switchyard.json
PA=$(sy_port) L=$(sy_port) ADM=$(sy_port)
sy_start beA python3 "$SY_DIR/sy_fleet.py" backend --listen "$IP:$PA" --id A
sy_wait_log beA listening || sy_bad "backend did not start"
cat >"$T/sy.yaml" <<EOF2
process: {workers: 2}
log: {level: info, access: off}
admin: {listen: "$IP:$ADM"}
listeners:
  - name: edge
    listen: ["$IP:$L"]
    kind: tls
    routes:
      - sni: a.test
        upstream: ua
upstreams:
  ua: {servers: ["$IP:$PA"], health_check: {interval: 1s, timeout: 500ms, rise: 1, fall: 1}}
EOF2
t0=$(date +%s)
sy_switchyard sy "$T/sy.yaml" || sy_bad "switchyard did not start: $(tail -3 "$T/sy.log")"
t1=$(date +%s)
SYPID=$(cat "$T/sy.pid")
A="http://$IP:$ADM"

# --- GET / and HEAD /.
curl -s -m 5 -D "$T/page.h" -o "$T/page.b" "$A/"
tr -d '\r' <"$T/page.h" >"$T/page.hh"
hdr() { sed -n "s/^$1: //Ip" "$T/page.hh"; }
head -n 1 "$T/page.hh" | grep -qx 'HTTP/1.1 200 OK' && sy_ok || sy_bad "GET / status: $(head -n 1 "$T/page.hh")"
[ "$(hdr Content-Type)" = "text/html; charset=utf-8" ] && sy_ok || sy_bad "Content-Type: $(hdr Content-Type)"
cmp -s "$T/page.b" "$PAGE" && sy_ok || sy_bad "GET / is not router/admin_page.html ($(wc -c <"$T/page.b") bytes)"
[ "$(hdr Content-Length)" = "$(wc -c <"$PAGE" | tr -d ' ')" ] && sy_ok || sy_bad "Content-Length $(hdr Content-Length)"
csp=$(hdr Content-Security-Policy)
echo "CSP: $csp"
case "$csp" in
"default-src 'none'; "*) sy_ok ;;
*) sy_bad "CSP does not start with default-src 'none': '$csp'" ;;
esac
echo "$csp" | grep -q "script-src 'unsafe-inline';" && echo "$csp" | grep -q "connect-src 'self';" &&
	echo "$csp" | grep -q "frame-ancestors 'none'" && sy_ok || sy_bad "CSP directives: '$csp'"
# Only 'none', 'self' and 'unsafe-inline' as sources: no host, scheme or wildcard anywhere.
echo "$csp" | tr ';' '\n' | awk '{ for (i = 2; i <= NF; i++) if ($i != "'"'none'"'" && $i != "'"'self'"'" && $i != "'"'unsafe-inline'"'") bad = bad " " $i } END { if (bad != "") { print bad; exit 1 } }' &&
	sy_ok || sy_bad "CSP allows another source"
[ "$(hdr X-Content-Type-Options)" = nosniff ] && sy_ok || sy_bad "X-Content-Type-Options: $(hdr X-Content-Type-Options)"
[ "$(hdr Cache-Control)" = no-store ] && sy_ok || sy_bad "Cache-Control: $(hdr Cache-Control)"
[ "$(hdr X-Frame-Options)" = DENY ] && sy_ok || sy_bad "X-Frame-Options: $(hdr X-Frame-Options)"
curl -s -m 5 -I -o "$T/head.h" "$A/"
tr -d '\r' <"$T/head.h" | grep -v '^$' >"$T/head.hh"
grep -v '^$' "$T/page.hh" | cmp -s - "$T/head.hh" && sy_ok || sy_bad "HEAD / headers differ: $(cat "$T/head.hh")"
curl -s -m 5 -X HEAD --max-time 3 -o "$T/head.b" "$A/" 2>/dev/null
[ ! -s "$T/head.b" ] && sy_ok || sy_bad "HEAD / has a body"
for p in /metrics /status; do
	curl -s -m 5 -D "$T/o.h" -o /dev/null "$A$p"
	tr -d '\r' <"$T/o.h" | grep -qx 'X-Content-Type-Options: nosniff' && tr -d '\r' <"$T/o.h" | grep -qx 'Cache-Control: no-store' &&
		sy_ok || sy_bad "$p headers: $(cat "$T/o.h")"
done
# No external asset: no URL in src/href, no CSS import or url(); and nothing of this process.
grep -Eqi '(src|href) *= *["'"'"']?[a-z]*:|//[a-z0-9.-]+\.[a-z]|@import|url\(' "$T/page.b" &&
	sy_bad "the page refers to something outside itself: $(grep -Eoi '(src|href) *= *[^ >]*|@import|url\([^)]*' "$T/page.b" | head -3)" || sy_ok
grep -q '<script' "$T/page.b" && ! grep -qi '<script[^>]*src' "$T/page.b" && sy_ok || sy_bad "script tags"
grep -qF "$T" "$T/page.b" && sy_bad "the page holds the configuration directory" || sy_ok

# --- /status keeps its lines.
curl -s -m 5 "$A/status" >"$T/status"
grep -qx "config: $T/sy.yaml" "$T/status" && grep -qx 'generation: 1' "$T/status" &&
	grep -qx 'workers: 2' "$T/status" && grep -qx 'state: running' "$T/status" && sy_ok ||
	sy_bad "/status: $(cat "$T/status")"

# --- build_info and process_*.
fds_idle=$(sy_fds "$SYPID")
curl -s -m 5 "$A/metrics" >"$T/metrics.txt"
m() { awk -v k="$1" '$1 == k { print $2 }' "$T/metrics.txt"; }
bi=$(grep '^switchyard_build_info{' "$T/metrics.txt")
echo "$bi"
"$SWITCHYARD" -V >"$T/V" 2>&1
ver=$(awk '$1 == "switchyard" { print $2 }' "$T/V")
ossl=$(awk '$1 == "OpenSSL" { print $2 }' "$T/V")
lev=$(awk '$1 == "libevent" { print $2 }' "$T/V")
[ -n "$ver" ] && [ "$bi" = "switchyard_build_info{version=\"$ver\",openssl=\"$ossl\",libevent=\"$lev\"} 1" ] &&
	sy_ok || sy_bad "build_info: want version=$ver openssl=$ossl libevent=$lev (switchyard -V)"
[ "$ossl" = "$(openssl version | awk '{ print $2 }')" ] && sy_ok || sy_bad "OpenSSL $ossl, openssl version says $(openssl version)"
grep -q '^# TYPE switchyard_build_info gauge$' "$T/metrics.txt" && sy_ok || sy_bad "build_info TYPE"
for f in process_cpu_seconds_total process_resident_memory_bytes process_virtual_memory_bytes \
	process_open_fds process_max_fds process_start_time_seconds; do
	[ -n "$(m $f)" ] && sy_ok || sy_bad "no $f"
done
fds=$(m process_open_fds) maxfds=$(m process_max_fds)
lim=$(awk '/^Max open files/ { print $4 }' "/proc/$SYPID/limits")
echo "open fds: $fds (idle $fds_idle); max $maxfds (limits: $lim)"
[ "$fds" -ge "$fds_idle" ] && [ "$fds" -le $((fds_idle + 2)) ] && sy_ok || sy_bad "process_open_fds $fds, /proc says $fds_idle"
[ "$maxfds" = "$lim" ] && sy_ok || sy_bad "process_max_fds $maxfds, limits $lim"
st=$(m process_start_time_seconds)
echo "start: $st (launched between $t0 and $t1)"
awk -v s="$st" -v a="$t0" -v b="$t1" 'BEGIN { exit !(s >= a - 1 && s <= b + 1) }' && sy_ok || sy_bad "process_start_time_seconds $st not in [$t0, $t1]"
vm=$(awk '/^VmSize:/ { print $2 * 1024 }' "/proc/$SYPID/status")
rss=$(awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$SYPID/status")
echo "virtual $(m process_virtual_memory_bytes) (VmSize $vm), resident $(m process_resident_memory_bytes) (VmRSS $rss)"
awk -v a="$(m process_virtual_memory_bytes)" -v b="$vm" 'BEGIN { exit !(a > 0 && a >= b * 0.8 && a <= b * 1.2) }' && sy_ok || sy_bad "virtual memory"
awk -v a="$(m process_resident_memory_bytes)" -v b="$rss" 'BEGIN { exit !(a > 0 && a >= b * 0.8 && a <= b * 1.2) }' && sy_ok || sy_bad "resident memory"
awk -v a="$(m process_cpu_seconds_total)" 'BEGIN { exit !(a >= 0 && a < 60) }' && sy_ok || sy_bad "cpu seconds $(m process_cpu_seconds_total)"
if command -v promtool >/dev/null 2>&1; then
	promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 && sy_ok ||
		sy_bad "promtool check metrics: $(cat "$T/promtool.out")"
else
	sy_skip "promtool not installed (Debian package prometheus); /metrics not linted"
fi

# --- The Grafana dashboard names only metrics that exist.
python3 - "$GRAFANA" "$T/metrics.txt" >"$T/grafana.out" 2>&1 <<'EOF3'
import json, re, sys
dash = json.load(open(sys.argv[1]))
families = set()
for line in open(sys.argv[2]):
    if line.startswith("# TYPE "):
        families.add(line.split()[2])
exprs, bad = [], []
def walk(panels):
    for p in panels:
        walk(p.get("panels", []))
        if p.get("type") == "row":
            continue
        ts = [t.get("expr", "") for t in p.get("targets", [])]
        if not ts or not all(ts):
            bad.append("panel %r has no query" % p.get("title"))
        exprs.extend(ts)
walk(dash["panels"])
for v in dash.get("templating", {}).get("list", []):
    q = v.get("query")
    if isinstance(q, dict):
        exprs.append(q.get("query", ""))
names = set()
for e in exprs:
    # Label matchers and strings are not metric names: drop {...} and "..." first.
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', e)
    bare = re.sub(r"\{[^}]*\}", "", bare)
    bare = re.sub(r"\b(by|without)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    found = re.findall(r"\b(switchyard_[a-z0-9_]+|process_[a-z0-9_]+)\b", bare)
    if not found:
        bad.append("query names no switchyard metric: %s" % e)
    names.update(found)
    # Any other bare identifier must be a PromQL function or keyword, never a metric.
    ok = {"sum", "rate", "increase", "count", "max", "min", "avg", "time", "vector", "or",
          "and", "unless", "label_values", "instance", "on", "ignoring"}
    for w in re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b", bare):
        if w not in ok and not w.startswith(("switchyard_", "process_")) and not w.isdigit():
            bad.append("unknown identifier %r in: %s" % (w, e))
missing = sorted(n for n in names if n not in families)
print("grafana: %d queries, %d metric names, missing: %s" % (len(exprs), len(names), missing))
for b in bad:
    print("grafana:", b)
sys.exit(1 if missing or bad or len(names) < 20 else 0)
EOF3
rc=$?
cat "$T/grafana.out"
[ $rc = 0 ] && sy_ok || sy_bad "Grafana dashboard names metrics /metrics does not have"

sy_stop sy
grep -E 'Sanitizer|runtime error' "$T/sy.log" && sy_bad "sanitizer reports" || sy_ok
sy_done
