#!/usr/bin/env python3
"""Terminator benchmark: switchyard's TLS terminator vs nginx serving the same files (issue 4 item 8).

What it is for: serve one site directory (index.html, a 1 KiB file, a 100 MiB file of random
bytes) with the same ECDSA P-256 certificate from nginx (http, 1 worker) and from
switchyard's in-process terminator (workers: 1, a tls listener whose default route
terminates), the servers pinned to one CPU and the load client (tlsload.c) to the other,
then measure, interleaved (every run, every test: nginx, then switchyard), at least 3 runs:
  - new TLS 1.3 handshakes per second: C clients loop connect, full handshake (no
    resumption), GET the 1 KiB file, close                           (tlsload -m new -3)
  - keep-alive requests per second for the 1 KiB file on C connections (tlsload -m ka)
  - MB/s downloading the 100 MiB file K times, byte count checked     (tlsload -m big)
and for each the server's CPU time (user+sys of every thread of its processes, from
/proc/PID/task/*/schedstat, with /proc/PID/stat ticks kept too) per handshake, per request
and per GB, the server's and the client's CPU use (to show which side was the bottleneck),
medians, and ratios switchyard/nginx. Any client error makes the run invalid (exit 3).

What it must never do: touch anything outside its temp dir and 127.0.0.1, leave a process
running (every child is stopped by pid on exit), or be run as a timed test (not part of
ctest). Python 3 stdlib only; the helpers come from bench.py beside it.

Usage: tests/bench/term.py --switchyard build-tbench/switchyard [--quick] [--runs N] ...
(tests/bench/term.sh builds a Release switchyard first; see README.md).
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import bench  # noqa: E402  (the proxy benchmark's process, CPU and report helpers)

SNI = bench.SNI
SMALL = 1024                    # the keep-alive / handshake file
BIG = 100 << 20                 # the bulk file
SERVERS = ("nginx", "switchyard")
TESTS = ("new", "ka", "big")


# ---------------------------------------------------------------- configurations

def ktls_offered():
    """True when a connected loopback TCP socket accepts the "tls" ULP (switchyard's probe)."""
    import socket
    l = socket.socket()
    try:
        l.bind(("127.0.0.1", 0))
        l.listen(1)
        c = socket.create_connection(l.getsockname())
        try:
            c.setsockopt(socket.SOL_TCP, 31, b"tls")  # TCP_ULP
            return True
        except OSError:
            return False
        finally:
            c.close()
    finally:
        l.close()


def nginx_body(d, port, cert, key, root):
    """nginx http: 1 worker (bench.nginx_conf), the issue's settings, files from root."""
    temps = "".join("%s_temp_path %s/%s;\n" % (t, d, t)
                    for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    # ssl_conf_command Options KTLS: switchyard asks OpenSSL for kTLS (SSL_OP_ENABLE_KTLS)
    # and uses SSL_sendfile when its start-up probe finds kTLS in the kernel; nginx gets
    # the same chance then. Where the kernel has no kTLS, switchyard does not ask, so nginx
    # does not either (asking costs two failing setsockopt calls per connection).
    ktls = "ssl_conf_command Options KTLS;" if ktls_offered() else "# no kTLS in this kernel"
    return """events { worker_connections 4096; }
http {
  access_log off;
  %s
  default_type application/octet-stream;
  sendfile on;
  keepalive_requests 10000000;
  keepalive_timeout 75s;
  server {
    listen 127.0.0.1:%d ssl backlog=4096;
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_protocols TLSv1.2 TLSv1.3;
    # The TLS 1.3 suite switchyard's terminator negotiates (terminator/term.c,
    # TERM_TLS13_SUITES, its own preference): the same here, so both encrypt alike.
    ssl_prefer_server_ciphers on;
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384;
    ssl_conf_command Options PrioritizeChaCha;
    %s
    root %s;
  }
}
""" % (temps, port, cert, key, ktls, root)


def switchyard_conf(port, cert, key, root):
    """switchyard: one tls listener, every name terminated, the same cert and site root."""
    return """process:
  workers: 1
  max_connections: 20000
log:
  level: warn
  access: off
listeners:
  - name: term
    listen: 127.0.0.1:%d
    kind: tls
    max_preread_per_ip: 100000
    routes:
      - default: {terminate: true}
terminator:
  certificates:
    - {cert: %s, key: %s}
  tls_min_version: "1.2"
  site:
    root: %s
""" % (port, cert, key, root)


def start_server(name, T, cert, key, root, cpu, env):
    """Starts server `name` pinned to cpu; returns a bench.Proxy once it listens."""
    port = bench.free_port()
    d = os.path.join(T, name)
    os.makedirs(d, exist_ok=True)
    log = os.path.join(d, "out.log")
    pin = [] if cpu is None else ["taskset", "-c", str(cpu)]
    if name == "nginx":
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(bench.nginx_conf(d, nginx_body(d, port, cert, key, root)))
        proc = bench.spawn(pin + ["nginx", "-p", d, "-c", conf], log, env=env)
        px = bench.Proxy(name, port, proc, master_children=True)
    else:
        conf = os.path.join(d, "switchyard.yaml")
        with open(conf, "w") as f:
            f.write(switchyard_conf(port, cert, key, root))
        proc = bench.spawn(pin + [env["SY_BIN"], "-c", conf], log, env=env)
        px = bench.Proxy(name, port, proc)
    bench.wait_port(port, proc)
    if px.master_children:
        for _ in range(100):
            if bench.children_of(proc.pid):
                break
            time.sleep(0.05)
    return px


# ---------------------------------------------------------------- load

def tlsload(tl, cpu, port, mode, args, stderr_to=None):
    """Runs the C client pinned to cpu; returns (key=value dict, stderr text)."""
    pin = [] if cpu is None else ["taskset", "-c", str(cpu)]
    cmd = pin + [tl, "-m", mode, "-a", "127.0.0.1", "-p", str(port),
           "-s", SNI] + args
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    kv = {}
    for tok in out.stdout.split():
        k, _, v = tok.partition("=")
        kv[k] = float(v)
    if "ok" not in kv:
        raise SystemExit("term: tlsload failed: %s %s" % (out.stdout, out.stderr))
    return kv, out.stderr.strip()


def response_head(port, path):
    """The response head a server sends for path (curl), for the report."""
    out = subprocess.run(["curl", "-sk", "--http1.1", "-D", "-", "-o", "/dev/null",
                          "--resolve", "%s:%d:127.0.0.1" % (SNI, port),
                          "https://%s:%d%s" % (SNI, port, path)],
                         capture_output=True, text=True, timeout=30)
    return out.stdout.replace("\r\n", "\n").strip()


def body_of(port, path):
    """The body a server sends for path (curl, binary), to compare with the file."""
    out = subprocess.run(["curl", "-sk", "--http1.1", "--resolve", "%s:%d:127.0.0.1" % (SNI, port),
                          "https://%s:%d%s" % (SNI, port, path)], capture_output=True, timeout=60)
    return out.stdout


def tls_stat():
    """The kernel's kTLS counters (/proc/net/tls_stat), or None when the module is absent."""
    try:
        with open("/proc/net/tls_stat") as f:
            return dict((l.split()[0], int(l.split()[1])) for l in f if l.strip())
    except OSError:
        return None


# ---------------------------------------------------------------- report

METRICS = [
    # key, label, digits, higher is better (None: no direction, informational)
    ("new_rate", "new TLS 1.3 handshakes/s (+ 1 KiB GET each)", 0, True),
    ("new_cpu_us", "server CPU per handshake (µs)", 1, False),
    ("new_srv_busy", "server CPU use during handshakes (% of its core)", 0, None),
    ("new_cli_busy", "client CPU use during handshakes (% of its core)", 0, None),
    ("new_cli_cpu_us", "client CPU per handshake (µs)", 1, None),
    ("new_capacity", "handshakes per server CPU-second (10^6 / server CPU per handshake)", 0, None),
    ("ka_rate", "keep-alive 1 KiB requests/s", 0, True),
    ("ka_cpu_us", "server CPU per keep-alive request (µs)", 2, False),
    ("ka_srv_busy", "server CPU use during keep-alive (% of its core)", 0, None),
    ("ka_cli_busy", "client CPU use during keep-alive (% of its core)", 0, None),
    ("ka_cli_cpu_us", "client CPU per keep-alive request (µs)", 2, None),
    ("ka_capacity", "keep-alive requests per server CPU-second", 0, None),
    ("big_mbs", "100 MiB downloads (MB/s)", 0, True),
    ("big_cpu_ms_gb", "server CPU per GB sent (ms)", 0, False),
    ("big_srv_busy", "server CPU use during downloads (% of its core)", 0, None),
    ("big_cli_busy", "client CPU use during downloads (% of its core)", 0, None),
    ("big_capacity", "MB sent per server CPU-second", 0, None),
]


def bottleneck(med, s, test):
    """Which side limited a test's median: the side whose CPU use was at least 90 %."""
    srv, cli = med.get((s, test + "_srv_busy")), med.get((s, test + "_cli_busy"))
    if srv is None or cli is None:
        return "-"
    side = [n for n, v in (("server", srv), ("client", cli)) if v >= 90]
    return "+".join(side) if side else "neither"


def report(res, meta):
    """Markdown: medians, ratio switchyard/nginx, goals, every run's values."""
    L = []
    L.append("Medians of %d interleaved runs; %s" % (meta["runs"], meta["note"]))
    L.append("")
    L.append("| metric | nginx | switchyard | switchyard / nginx |")
    L.append("|---|---|---|---|")
    med = {}
    for key, label, nd, _ in METRICS:
        row = []
        for s in SERVERS:
            med[(s, key)] = bench.med(res[s].get(key, []))
            row.append(bench.fmt(med[(s, key)], nd))
        n, y = med[("nginx", key)], med[("switchyard", key)]
        ratio = "-" if n in (None, 0) or y is None else "%.2f" % (y / n)
        L.append("| %s | %s | %s | %s |" % (label, row[0], row[1], ratio))
    L.append("")
    L.append("| goal (issue 4 item 8): at least nginx | nginx | switchyard | ratio | met? "
             "| bound by (CPU use ≥ 90 %, nginx / switchyard) |")
    L.append("|---|---|---|---|---|---|")
    for key, label, nd, up in METRICS:
        if up is not True:
            continue
        n, y = med[("nginx", key)], med[("switchyard", key)]
        test = key.split("_")[0]
        bound = " / ".join(bottleneck(med, s, test) for s in SERVERS)
        if n is None or y is None:
            L.append("| %s | %s | %s | - | not measured | %s |" % (label, bench.fmt(n, nd),
                                                                  bench.fmt(y, nd), bound))
            continue
        L.append("| %s | %s | %s | %.2f | %s | %s |" % (label, bench.fmt(n, nd), bench.fmt(y, nd),
                                                        y / n if n else float("inf"),
                                                        "yes" if y >= n else "NO", bound))
    L.append("")
    L.append("When a rate is bound by the client, both servers get the same ceiling and the "
             "rate does not rank them; the server CPU per unit (and its inverse, the "
             "per-CPU-second rows) does. \"neither\" means both sides waited part of the time "
             "(wake-up latency between the two CPUs, or other load on the machine): then the "
             "rate does not rank them either.")
    L.append("")
    L.append("Every run's values (in run order):")
    L.append("")
    for key, label, nd, _ in METRICS:
        for s in SERVERS:
            vals = res[s].get(key, [])
            if vals:
                L.append("- %s, %s: %s" % (label, s, ", ".join(bench.fmt(v, nd) for v in vals)))
    L.append("")
    errs = {s: int(sum(res[s].get("errors", []))) for s in SERVERS}
    resumed = {s: int(sum(res[s].get("resumed", []))) for s in SERVERS}
    L.append("Client errors per server (any error makes the run invalid): " +
             ", ".join("%s %d" % kv for kv in errs.items()) +
             "; resumed handshakes (must be 0): " +
             ", ".join("%s %d" % kv for kv in resumed.items()))
    if any(errs.values()) or any(resumed.values()):
        L.append("")
        L.append("**INVALID RUN: client errors or resumed handshakes above.**")
    L.append("")
    for s in SERVERS:
        L.append("- %s negotiated: %s" % (s, meta["negotiated"].get(s, "?")))
    L.append("- kTLS: %s" % meta["ktls"])
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--switchyard", default=os.path.join(bench.TOP, "build-tbench", "switchyard"),
                    help="binary (build Release first: tests/bench/term.sh does)")
    ap.add_argument("--runs", type=int, default=3, help="interleaved runs (at least 3 for medians)")
    ap.add_argument("--secs", type=float, default=10.0, help="seconds per handshake / keep-alive test")
    ap.add_argument("--new-conc", type=int, default=8, help="clients looping new handshakes")
    ap.add_argument("--ka-conc", type=int, default=16, help="keep-alive connections")
    ap.add_argument("--big-n", type=int, default=10, help="100 MiB downloads per measurement")
    ap.add_argument("--big-conc", type=int, default=1, help="connections sharing those downloads")
    ap.add_argument("--server-cpu", type=int, default=0, help="CPU both servers are pinned to")
    ap.add_argument("--client-cpu", type=int, default=1, help="CPU the load client is pinned to")
    ap.add_argument("--no-pin", action="store_true",
                    help="no taskset at all (comparison only: the client then competes with the server)")
    ap.add_argument("--skip", default="", help="comma list of tests to skip: new,ka,big")
    ap.add_argument("--quick", action="store_true",
                    help="trial: 2 s per test, 2 downloads per measurement (checks the script)")
    ap.add_argument("--out", default=None, help="write report.md and raw.json here (dir)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs, site)")
    a = ap.parse_args()
    if a.quick:
        a.secs, a.big_n = 2.0, 2
    skip = set(x.strip() for x in a.skip.split(",") if x.strip())
    if not os.access(a.switchyard, os.X_OK):
        raise SystemExit("term: no switchyard binary at %s (tests/bench/term.sh builds one)" % a.switchyard)
    if a.no_pin:
        a.server_cpu = a.client_cpu = None
    elif a.server_cpu == a.client_cpu:
        print("term: warning: server and client share CPU %d" % a.server_cpu)

    T, env, tl, cert, key, _ = bench.prepare(a.keep, a.switchyard, "sy-tbench.", "term")

    # Site.
    root = os.path.join(T, "site")
    os.makedirs(root)
    os.chmod(root, 0o755)
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<!doctype html><title>bench</title><p>bench</p>\n")
    subprocess.run("head -c %d /dev/urandom > %s/1k.bin && head -c %d /dev/urandom > %s/big.bin"
                   % (SMALL, root, BIG, root), shell=True, check=True)
    subprocess.run(["cat", os.path.join(root, "big.bin")], stdout=subprocess.DEVNULL, check=True)

    ktls0 = tls_stat()
    srv = {s: start_server(s, T, cert, key, root, a.server_cpu, env) for s in SERVERS}

    # Sanity and warm-up: both serve the file's bytes over TLS 1.3 (1 KiB compared byte for
    # byte, 100 MiB by length), without errors.
    negotiated, heads = {}, {}
    for s in SERVERS:
        p = srv[s].port
        kv, err = tlsload(tl, a.client_cpu, p, "lat", ["-3", "-u", "/1k.bin", "-b", str(SMALL), "-n", "20"])
        if kv["ok"] != 20:
            raise SystemExit("term: %s does not serve /1k.bin (%s)" % (s, kv))
        negotiated[s] = err.replace("tlsload: ", "")
        kv, _ = tlsload(tl, a.client_cpu, p, "big", ["-u", "/big.bin", "-b", str(BIG), "-n", "1"])
        if kv["ok"] != 1 or kv["bytes"] != BIG:
            raise SystemExit("term: %s does not serve /big.bin (%s)" % (s, kv))
        tlsload(tl, a.client_cpu, p, "new", ["-3", "-u", "/1k.bin", "-b", str(SMALL), "-c",
                                            str(a.new_conc), "-d", "0.5"])
        heads[s] = response_head(p, "/1k.bin")
        with open(os.path.join(root, "1k.bin"), "rb") as f:
            if body_of(p, "/1k.bin") != f.read():
                raise SystemExit("term: %s serves other bytes for /1k.bin" % s)
    for s in SERVERS:
        print("%s: %s\n%s\n" % (s, negotiated[s], heads[s]))

    res = {s: {} for s in SERVERS}

    def add(s, k, v):
        res[s].setdefault(k, []).append(v)

    def measure(s, mode, args):
        """One measurement: load, server CPU around it; returns (kv, cpu ns, ticks, wall s)."""
        pids = srv[s].pids()
        ns0, t0 = bench.cpu_sample(pids)
        w0 = time.time()
        kv, _ = tlsload(tl, a.client_cpu, srv[s].port, mode, args)
        w1 = time.time()
        ns1, t1 = bench.cpu_sample(pids)
        ns, ticks, wall = ns1 - ns0, t1 - t0, w1 - w0
        add(s, "errors", kv["err"])
        add(s, "resumed", kv["resumed"])
        add(s, mode + "_srv_busy", 100.0 * ns / 1e9 / wall)
        add(s, mode + "_cli_busy", 100.0 * kv["cpu_us"] / 1e6 / kv["secs"])
        if kv["ok"] and mode != "big":
            add(s, mode + "_cli_cpu_us", kv["cpu_us"] / kv["ok"])
        if kv["ok"] and ns:
            per = kv["bytes"] / 1e6 if mode == "big" else kv["ok"]
            add(s, mode + "_capacity", per / (ns / 1e9))
        return kv, ns, ticks

    t_start = time.time()
    for run in range(a.runs):
        print("run %d/%d" % (run + 1, a.runs), flush=True)
        for test in TESTS:
            if test in skip:
                continue
            for s in SERVERS:
                if test == "new":
                    kv, ns, ticks = measure(s, "new", ["-3", "-u", "/1k.bin", "-b", str(SMALL), "-c",
                                                       str(a.new_conc), "-d", str(a.secs)])
                    add(s, "new_rate", kv["rate"])
                    if kv["ok"]:
                        add(s, "new_cpu_us", ns / 1e3 / kv["ok"])
                        add(s, "new_cpu_us_ticks", ticks * 1e4 / kv["ok"])
                    line = "rate=%.0f/s cpu=%.1fus" % (kv["rate"], res[s]["new_cpu_us"][-1])
                elif test == "ka":
                    kv, ns, ticks = measure(s, "ka", ["-u", "/1k.bin", "-b", str(SMALL), "-c",
                                                      str(a.ka_conc), "-d", str(a.secs)])
                    add(s, "ka_rate", kv["rate"])
                    if kv["ok"]:
                        add(s, "ka_cpu_us", ns / 1e3 / kv["ok"])
                        add(s, "ka_cpu_us_ticks", ticks * 1e4 / kv["ok"])
                    line = "rate=%.0f/s cpu=%.2fus" % (kv["rate"], res[s]["ka_cpu_us"][-1])
                else:
                    kv, ns, ticks = measure(s, "big", ["-u", "/big.bin", "-b", str(BIG), "-c",
                                                       str(a.big_conc), "-n", str(a.big_n)])
                    if kv["ok"] != a.big_n or kv["bytes"] != a.big_n * BIG:
                        add(s, "errors", 1)   # every download must arrive whole
                    add(s, "big_mbs", kv["mbs"])
                    if kv["bytes"]:
                        add(s, "big_cpu_ms_gb", ns / 1e6 / (kv["bytes"] / 1e9))
                        add(s, "big_cpu_ms_gb_ticks", ticks * 10 / (kv["bytes"] / 1e9))
                    line = "%.0f MB/s cpu=%.0fms/GB" % (kv["mbs"], res[s]["big_cpu_ms_gb"][-1])
                print("  %-4s %-10s %s srv=%.0f%% cli=%.0f%% err=%d" % (
                    test, s, line, res[s][test + "_srv_busy"][-1], res[s][test + "_cli_busy"][-1],
                    kv["err"]), flush=True)
    elapsed = time.time() - t_start
    ktls1 = tls_stat()
    if ktls1 is None:
        ktls = "not available (no /proc/net/tls_stat: the kernel's tls module is not loaded), " \
               "so both servers encrypt in user space and neither uses sendfile for TLS"
    else:
        delta = dict((k, v - (ktls0 or {}).get(k, 0)) for k, v in ktls1.items())
        ktls = "kernel tls module present; counter changes during the run: %s" % ", ".join(
            "%s %+d" % kv for kv in delta.items() if kv[1])

    cpu_model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    meta = {
        "runs": a.runs, "secs": a.secs, "new_conc": a.new_conc, "ka_conc": a.ka_conc,
        "big_n": a.big_n, "big_conc": a.big_conc, "server_cpu": a.server_cpu,
        "client_cpu": a.client_cpu, "quick": a.quick, "elapsed_s": round(elapsed, 1),
        "cpus": os.cpu_count(), "cpu": cpu_model, "kernel": os.uname().release,
        "load_at_end": load, "negotiated": negotiated, "heads": heads, "ktls": ktls,
        "note": ("%g s per handshake/keep-alive test (%d / %d clients), %d x 100 MiB per "
                 "download test on %d connection(s); servers on CPU %s, client on CPU %s; "
                 "%s, %d CPUs, kernel %s; load average %s at the end; wall time %.0f s"
                 % (a.secs, a.new_conc, a.ka_conc, a.big_n, a.big_conc,
                    "any (--no-pin)" if a.no_pin else a.server_cpu,
                    "any (--no-pin)" if a.no_pin else a.client_cpu,
                    cpu_model, os.cpu_count(), os.uname().release, load, elapsed)),
    }
    text = report(res, meta)
    print()
    print(text)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "report.md"), "w") as f:
            f.write(text)
        with open(os.path.join(a.out, "raw.json"), "w") as f:
            json.dump({"meta": meta, "results": res}, f, indent=1)
    bad = any(sum(res[s].get("errors", [])) or sum(res[s].get("resumed", [])) for s in SERVERS)
    return 3 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
