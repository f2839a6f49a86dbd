#!/usr/bin/env python3
"""Side-by-side benchmark: switchyard vs nginx stream vs haproxy (DESIGN.md §9, issue 3 item 11).

What it is for: start one TLS backend (nginx http, ECDSA P-256, TLS 1.3, no session
resumption) and, in front of it, switchyard, nginx stream (ssl_preread + map) and haproxy
(mode tcp, req.ssl_sni; with and without `option splice-request`/`splice-response`), each with one worker, each
routing SNI bench.test to the backend; then measure, interleaved (every run visits every
proxy, in a rotated order), at least 3 runs each:
  - new TLS connections per second and proxy CPU per new connection (tlsload -m new)
  - keep-alive requests per second and proxy CPU per request      (tlsload -m ka)
  - p50/p99 of sequential keep-alive requests; added = proxy - direct (tlsload -m lat)
  - MB/s of a 100 MiB download and proxy CPU per GB relayed        (curl)
  - RSS per idle connection with N idle relayed connections held   (this script; fresh
    proxy instances in front of a sink that accepts and never answers)
Proxy CPU is user+sys of every thread of the proxy's processes (nginx: master + worker),
read from /proc before and after each measurement.

With --workers N (issue 12 item 4) every proxy gets N: switchyard `workers: N`, nginx
`worker_processes N`, haproxy `nbthread N`; the backend keeps one worker. Nothing is pinned:
the proxies, the backend and the load client share every CPU, so rates are bounded by the
machine and the proxy's CPU per unit of work (all its threads) is the figure that compares.
Per test it also records how the work spread over the proxy's threads (the busiest one's
share of the proxy CPU) and, for switchyard, how many connections each worker accepted
(switchyard_worker_accepted_connections_total from its admin listener).

What it must never do: touch anything outside its temp dir and 127.0.0.1, leave a process
running (every child is stopped by pid on exit), or be run as a timed test (it is not part
of ctest: numbers depend on the machine). Python 3 stdlib only.

Usage: tests/bench/bench.py [--quick] [--runs N] [--switchyard PATH] ... (see --help)
"""

import argparse
import atexit
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
SNI = "bench.test"
BODY_LEN = 1024                 # keep-alive reply body
BIG_MIB = 100                   # bulk download size
PEERS = ("nginx", "haproxy", "haproxy-splice")
ALL_TARGETS = ("direct", "switchyard") + PEERS
CHILDREN = []                   # every Popen we started, stopped by pid at exit


# ---------------------------------------------------------------- processes

def stop(p, grace=5.0):
    """TERM one child by pid, wait (bounded), then KILL."""
    if p.poll() is not None:
        return
    try:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)
    except ProcessLookupError:
        pass


def stop_all():
    """Stops every child still running (atexit and signals)."""
    for p in reversed(CHILDREN):
        stop(p)


def spawn(cmd, log, env=None):
    """Starts cmd with output to log; recorded for cleanup."""
    f = open(log, "ab")
    p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                         stdin=subprocess.DEVNULL)
    f.close()
    CHILDREN.append(p)
    return p


def free_port():
    """A TCP port on 127.0.0.1 the kernel considers free right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, tries=200):
    """Waits until something accepts on 127.0.0.1:port (50 ms steps); dies with proc."""
    for _ in range(tries):
        if proc.poll() is not None:
            raise SystemExit("bench: process %s exited early (rc %s)" % (proc.args[0], proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("bench: nothing listens on 127.0.0.1:%d" % port)


def children_of(pid):
    """Direct children of pid (nginx workers of a master)."""
    out = []
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def cpu_sample(pids):
    """(schedstat ns, stat ticks): on-CPU time of every thread of pids, two ways."""
    ns = 0
    ticks = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])      # utime, stime (fields 14, 15)
        for t in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                    ns += int(f.read().split()[0])
            except OSError:
                pass
    return ns, ticks


def rss_kib(pids):
    """Sum of VmRSS (KiB) over pids."""
    total = 0
    for pid in pids:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


# ---------------------------------------------------------------- configurations

def nginx_conf(d, body, workers=1):
    """nginx.conf around body: private pid, error log and temp paths under d."""
    user = "user root;\n" if os.getuid() == 0 else ""
    return ("%sworker_processes %d; daemon off; pid %s/nginx.pid;\n"
            "worker_rlimit_nofile 20000;\nerror_log %s/error.log warn;\n%s\n"
            % (user, workers, d, d, body))


def backend_body(d, port, cert, key, big, body):
    """The one TLS backend: 1 KiB at /, the 100 MiB file at /big, no session reuse."""
    temps = "".join("%s_temp_path %s/%s;\n" % (t, d, t)
                    for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return """events { worker_connections 4096; }
http {
  access_log off;
  %s
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:%d ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_protocols TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    keepalive_requests 100000;
    keepalive_timeout 120s;
    location = / { return 200 "%s"; }
    location = /big { alias %s; }
  }
}
""" % (temps, port, cert, key, body, big)


def nginx_stream_body(port, up):
    """nginx stream: ssl_preread + map, proxy_pass by variable."""
    return """load_module /usr/lib/nginx/modules/ngx_stream_module.so;
events { worker_connections 19800; }
stream {
  map $ssl_preread_server_name $b {
    %s 127.0.0.1:%d;
    default 127.0.0.1:9;
  }
  server {
    listen 127.0.0.1:%d backlog=4096;
    ssl_preread on;
    proxy_pass $b;
  }
}
""" % (SNI, up, port)


def haproxy_cfg(port, up, splice, workers=1):
    """haproxy mode tcp: content inspection of the hello, route by req.ssl_sni."""
    # maxpipes: by default maxconn/4 splice pipes (2 fds each) that do not fit under the
    # 20000-fd hard limit here; 256 pipes in flight is far more than any test here needs.
    # splice-request/-response, not splice-auto: with splice-auto haproxy 2.6 made 0-1
    # splice calls per 100 MiB download (counts.py --bulk-bytes), i.e. it copied.
    return """global
  maxconn 9500
  nbthread %d
%s
defaults
  mode tcp
  timeout connect 5s
  timeout client 120s
  timeout server 120s
%s
frontend fe
  bind 127.0.0.1:%d
  tcp-request inspect-delay 5s
  tcp-request content accept if { req.ssl_hello_type 1 }
  use_backend be if { req.ssl_sni -i %s }
backend be
  server s1 127.0.0.1:%d
""" % (workers, "  maxpipes 256" if splice else "", "  option splice-request\n  option splice-response" if splice else "", port,
       SNI, up)


def switchyard_conf(port, up, workers=1, admin=None):
    """switchyard: one tls listener, bench.test -> upstream; no access log (peers log none);
    an admin listener on port admin (per-worker counts) unless it is None."""
    adm = 'admin: {listen: "127.0.0.1:%d"}\n' % admin if admin else ""
    return """process:
  workers: %d
  max_connections: 20000
log:
  level: warn
  access: off
%slisteners:
  - name: bench
    listen: 127.0.0.1:%d
    kind: tls
    max_preread_per_ip: 100000
    routes:
      - sni: %s
        upstream: be
upstreams:
  be:
    servers: ["127.0.0.1:%d"]
""" % (workers, adm, port, SNI, up)


class Proxy:
    """One running proxy instance: its port and the pids whose CPU/RSS count."""

    def __init__(self, name, port, proc, master_children=False, admin=None):
        self.name, self.port, self.proc = name, port, proc
        self.master_children = master_children
        self.admin = admin

    def pids(self):
        """The pids to account (nginx: master + workers)."""
        p = [self.proc.pid]
        if self.master_children:
            p += children_of(self.proc.pid)
        return p


def start_proxy(name, T, up, tag, env, workers=1):
    """Starts proxy `name` in front of 127.0.0.1:up; returns a Proxy once it listens."""
    port = free_port()
    d = os.path.join(T, "%s-%s" % (name, tag))
    os.makedirs(d, exist_ok=True)
    log = os.path.join(d, "out.log")
    if name.startswith("switchyard"):
        conf = os.path.join(d, "switchyard.yaml")
        # switchyard-base: another build (--switchyard-base), e.g. the parent commit, for a
        # before/after; it may predate the per-worker metrics, so it gets no admin listener.
        admin = free_port() if name != "switchyard-base" else None
        with open(conf, "w") as f:
            f.write(switchyard_conf(port, up, workers, admin))
        e = dict(env)
        if name == "switchyard-copy":
            e["SWITCHYARD_RELAY"] = "copy"
        binary = e["SY_BIN_BASE"] if name == "switchyard-base" else e["SY_BIN"]
        proc = spawn([binary, "-c", conf], log, env=e)
        px = Proxy(name, port, proc, admin=admin)
    elif name == "nginx":
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(d, nginx_stream_body(port, up), workers))
        proc = spawn(["nginx", "-p", d, "-c", conf], log, env=env)
        px = Proxy(name, port, proc, master_children=True)
    elif name.startswith("haproxy"):
        conf = os.path.join(d, "haproxy.cfg")
        with open(conf, "w") as f:
            f.write(haproxy_cfg(port, up, name == "haproxy-splice", workers))
        proc = spawn(["haproxy", "-db", "-f", conf], log, env=env)
        px = Proxy(name, port, proc)
    else:
        raise SystemExit("bench: unknown proxy " + name)
    wait_port(port, proc)
    if px.master_children:
        for _ in range(100):
            if len(children_of(proc.pid)) >= workers:
                break
            time.sleep(0.05)
    return px


# ---------------------------------------------------------------- load

def tlsload(tl, port, mode, args):
    """Runs the C client; returns its key=value line as a dict of floats."""
    cmd = [tl, "-m", mode, "-a", "127.0.0.1", "-p", str(port), "-s", SNI] + args
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    kv = {}
    for tok in out.stdout.split():
        k, _, v = tok.partition("=")
        kv[k] = float(v)
    if "ok" not in kv:
        raise SystemExit("bench: tlsload failed: %s %s" % (out.stdout, out.stderr))
    return kv


def curl_big(port):
    """Downloads /big through port; returns (bytes, seconds)."""
    cmd = ["curl", "-sk", "--http1.1", "--resolve", "%s:%d:127.0.0.1" % (SNI, port),
           "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}",
           "https://%s:%d/big" % (SNI, port)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    code, size, secs = out.stdout.split()
    if code != "200" or int(size) != BIG_MIB << 20:
        raise SystemExit("bench: bulk download through %d failed: %s" % (port, out.stdout))
    return int(size), float(secs)


def measured(pids, fn):
    """Runs fn() and returns (its result, proxy CPU ns, proxy CPU ticks) for pids."""
    ns0, t0 = cpu_sample(pids) if pids else (0, 0)
    r = fn()
    ns1, t1 = cpu_sample(pids) if pids else (0, 0)
    return r, ns1 - ns0, t1 - t0


def task_ns(pids):
    """{(pid, tid): schedstat ns} for every thread of pids."""
    out = {}
    for pid in pids:
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for t in tids:
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                    out[(pid, t)] = int(f.read().split()[0])
            except OSError:
                pass
    return out


def busiest_share(before, after):
    """The busiest thread's share (%) of the CPU all threads used between two task_ns."""
    d = [after[k] - before.get(k, 0) for k in after]
    tot = sum(d)
    return 100.0 * max(d) / tot if d and tot > 0 else None


def worker_accepts(admin):
    """{worker: accepted so far} from switchyard's /metrics; {} without an admin port."""
    if not admin:
        return {}
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin, timeout=5) as r:
        body = r.read().decode()
    out = {}
    pre = 'switchyard_worker_accepted_connections_total{worker="'
    for line in body.splitlines():
        if line.startswith(pre):
            out[int(line[len(pre):].split('"')[0])] = int(line.split()[-1])
    return out


def spread(px, fn):
    """Runs fn(); returns (its result, busiest thread's share % of the proxy CPU, [connections
    each switchyard worker accepted meanwhile] or [] for the others)."""
    pids = px.pids() if px is not None else []
    a0, t0 = worker_accepts(px.admin if px else None), task_ns(pids)
    r = fn()
    a1, t1 = worker_accepts(px.admin if px else None), task_ns(pids)
    return r, busiest_share(t0, t1), [a1[w] - a0.get(w, 0) for w in sorted(a1)]


# ---------------------------------------------------------------- idle connections

def client_hello():
    """The bytes of a real ClientHello for SNI bench.test (Python's OpenSSL, TLS 1.3)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=SNI)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def sink_main(port, status):
    """Idle backend: accepts, reads and discards, never answers; writes its count to status."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(4096)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    n, last = 0, -1
    while True:
        for key, _ in sel.select(0.05):
            if key.data is None:
                while True:
                    try:
                        c, _ = ls.accept()
                    except (BlockingIOError, OSError):
                        break
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ, 1)
                    n += 1
            else:
                c = key.fileobj
                try:
                    data = c.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(c)
                    c.close()
                    n -= 1
        if n != last:
            with open(status + ".tmp", "w") as f:
                f.write(str(n))
            os.replace(status + ".tmp", status)
            last = n


def sink_count(status):
    """Connections the sink holds now."""
    try:
        with open(status) as f:
            return int(f.read() or 0)
    except (OSError, ValueError):
        return 0


def wait_sink(status, want, secs):
    """Waits until the sink holds exactly want connections; True when reached."""
    end = time.time() + secs
    while time.time() < end:
        if sink_count(status) == want:
            return True
        time.sleep(0.02)
    return False


def idle_test(px, status, hello, n):
    """Holds n idle relayed connections through px; returns (KiB per conn, held, rss0, rss1)."""
    # Warm-up: a few connections through every code path, then back to idle.
    warm = []
    for _ in range(64):
        s = socket.create_connection(("127.0.0.1", px.port))
        s.sendall(hello)
        warm.append(s)
    wait_sink(status, 64, 10)
    for s in warm:
        s.close()
    wait_sink(status, 0, 10)
    time.sleep(0.5)
    rss0 = rss_kib(px.pids())
    socks = []
    try:
        while len(socks) < n:
            batch = min(250, n - len(socks))
            for _ in range(batch):
                s = socket.create_connection(("127.0.0.1", px.port), 10)
                s.sendall(hello)
                socks.append(s)
            # Let the proxy catch up so no accept queue overflows.
            wait_sink(status, len(socks), 20)
        held = sink_count(status)
        time.sleep(1.0)
        rss1 = rss_kib(px.pids())
    finally:
        for s in socks:
            s.close()
        wait_sink(status, 0, 30)
    return (rss1 - rss0) / max(held, 1), held, rss0, rss1


# ---------------------------------------------------------------- report

def med(xs):
    """Median, or None for no values."""
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=1):
    """Table cell."""
    if x is None:
        return "-"
    return ("%%.%df" % nd) % x


METRICS = [
    # key, label, digits, lower is better
    ("new_rate", "new TLS connections/s", 0, False),
    ("new_cpu_us", "proxy CPU per new connection (µs)", 1, True),
    ("ka_rate", "keep-alive requests/s (16 conns)", 0, False),
    ("ka_cpu_us", "proxy CPU per keep-alive request (µs)", 2, True),
    ("bulk_mbs", "100 MiB download (MB/s)", 0, False),
    ("bulk_cpu_ms_gb", "proxy CPU per GB relayed (ms)", 0, True),
    ("lat_p50_us", "keep-alive request p50 (µs)", 0, True),
    ("lat_p99_us", "keep-alive request p99 (µs)", 0, True),
    ("add_p50_us", "added latency p50 (µs)", 0, True),
    ("add_p99_us", "added latency p99 (µs)", 0, True),
    ("idle_kib", "RSS per idle connection (KiB)", 2, True),
    ("new_busiest", "new conns: busiest thread's share of proxy CPU (%)", 0, True),
    ("ka_busiest", "keep-alive: busiest thread's share of proxy CPU (%)", 0, True),
    ("bulk_busiest", "bulk: busiest thread's share of proxy CPU (%)", 0, True),
    ("new_top_worker", "new conns: busiest worker's share of accepts (%)", 1, True),
    ("ka_top_worker", "keep-alive: busiest worker's share of the 16 conns (%)", 1, True),
]


def report(res, targets, meta):
    """Markdown: medians table, ratios to the best peer, the goals."""
    lines = []
    lines.append("Medians of %d runs; %s" % (meta["runs"], meta["note"]))
    lines.append("")
    lines.append("| metric | " + " | ".join(targets) + " |")
    lines.append("|---|" + "---|" * len(targets))
    medians = {}
    for key, label, nd, _ in METRICS:
        row = []
        for t in targets:
            m = med(res[t].get(key, []))
            medians[(t, key)] = m
            row.append(fmt(m, nd))
        lines.append("| %s | %s |" % (label, " | ".join(row)))
    lines.append("")
    lines.append("Every run's values (in run order):")
    lines.append("")
    for key, label, nd, _ in METRICS:
        for t in targets:
            vals = res[t].get(key, [])
            if vals:
                lines.append("- %s, %s: %s" % (label, t, ", ".join(fmt(v, nd) for v in vals)))
    held = ["%s %s" % (t, "/".join(str(h) for h in res[t]["idle_held"]))
            for t in targets if res[t].get("idle_held")]
    if held:
        lines.append("")
        lines.append("Idle connections that reached the sink, per run (wanted %d): %s" %
                     (meta["idle"], ", ".join(held)))
    for t in targets:
        for test in ("new", "ka"):
            if res[t].get(test + "_accepts"):
                lines.append("")
                lines.append("Connections accepted per worker, %s, test %s, per run: %s" % (
                    t, test, "; ".join("/".join(str(x) for x in acc)
                                       for acc in res[t][test + "_accepts"])))
    errs = {t: sum(res[t].get("errors", [])) for t in targets}
    lines.append("")
    lines.append("Client-side errors (failed exchanges) per target: " +
                 ", ".join("%s %d" % (t, e) for t, e in errs.items()))
    if "switchyard" in targets:
        lines.append("")
        lines.append("| goal | switchyard | best peer | ratio | met? |")
        lines.append("|---|---|---|---|---|")
        peers = [p for p in PEERS if p in targets]

        def best(key):
            vals = [(medians[(p, key)], p) for p in peers if medians.get((p, key)) is not None]
            return min(vals) if vals else (None, None)

        def goal(label, key, factor, nd, peer_pool=None):
            pool = peer_pool if peer_pool is not None else peers
            vals = [(medians[(p, key)], p) for p in pool if medians.get((p, key)) is not None]
            b, bp = min(vals) if vals else (None, None)
            s = medians.get(("switchyard", key))
            if s is None or b is None:
                lines.append("| %s | %s | - | - | not measured |" % (label, fmt(s, nd)))
                return
            ratio = s / b if b > 0 else float("inf")
            ok = s <= factor * b
            lines.append("| %s | %s | %s (%s) | %.2f | %s |" %
                         (label, fmt(s, nd), fmt(b, nd), bp, ratio, "yes" if ok else "NO"))
        goal("CPU per new connection ≤ 0.75× best peer", "new_cpu_us", 0.75, 1)
        goal("CPU per keep-alive request ≤ best peer", "ka_cpu_us", 1.0, 2)
        goal("CPU per GB ≤ 0.8× best peer", "bulk_cpu_ms_gb", 0.8, 0)
        goal("p99 added latency ≤ haproxy's (better variant)", "add_p99_us", 1.0, 0,
             [p for p in ("haproxy", "haproxy-splice") if p in targets])
        s = medians.get(("switchyard", "idle_kib"))
        lines.append("| RSS per idle connection ≤ 3 KiB | %s | - | - | %s |" %
                     (fmt(s, 2), "-" if s is None else ("yes" if s <= 3.0 else "NO")))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- main

def prepare(keep, switchyard, prefix, label):
    """Common set-up of the side-by-side benchmarks (bench.py, term.py): the fd limit raised
    to the hard one, every started process stopped at exit, a temp dir (removed at exit
    unless keep), the tlsload client built into it and one ECDSA P-256 certificate for SNI.
    Returns (dir, env with SY_BIN, tlsload path, cert, key, fd hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    T = tempfile.mkdtemp(prefix=prefix)
    os.chmod(T, 0o755)
    if not keep:
        atexit.register(shutil.rmtree, T, True)
    else:
        print("%s: temp dir %s kept" % (label, T))
    env = dict(os.environ, SY_BIN=os.path.abspath(switchyard))
    tl = os.path.join(T, "tlsload")
    subprocess.run(["cc", "-O2", "-pthread", os.path.join(HERE, "tlsload.c"), "-o", tl,
                    "-lssl", "-lcrypto"], check=True)
    cert, key = os.path.join(T, "cert.pem"), os.path.join(T, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "2", "-keyout", key, "-out", cert, "-subj", "/CN=" + SNI,
                    "-addext", "subjectAltName=DNS:" + SNI], check=True, capture_output=True)
    return T, env, tl, cert, key, hard


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--switchyard", default=os.path.join(TOP, "build-bench", "switchyard"),
                    help="binary (build Release/RelWithDebInfo first)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--secs", type=float, default=5.0, help="seconds per new/ka measurement")
    ap.add_argument("--new-conc", type=int, default=8, help="client threads for new connections")
    ap.add_argument("--ka-conc", type=int, default=16, help="keep-alive connections")
    ap.add_argument("--lat-n", type=int, default=3000, help="sequential requests for p50/p99")
    ap.add_argument("--idle", type=int, default=9000,
                    help="idle connections held (the fd hard limit bounds this: 2 per relayed conn)")
    ap.add_argument("--targets", default=",".join(ALL_TARGETS),
                    help="comma list from: direct,switchyard,switchyard-copy,switchyard-base,"
                         "nginx,haproxy,haproxy-splice")
    ap.add_argument("--workers", type=int, default=1,
                    help="workers of every proxy: switchyard workers, nginx worker_processes, "
                         "haproxy nbthread (the backend keeps 1)")
    ap.add_argument("--switchyard-base", default=None,
                    help="binary of target switchyard-base (another build, e.g. the parent commit)")
    ap.add_argument("--skip", default="", help="comma list of tests to skip: new,ka,lat,bulk,idle")
    ap.add_argument("--quick", action="store_true",
                    help="short trial: 1.5 s per load test, 2000 idle connections, 1000 latency samples")
    ap.add_argument("--out", default=None, help="write the Markdown report and raw JSON here (dir)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, configs)")
    ap.add_argument("--sink", nargs=2, metavar=("PORT", "STATUS"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.sink:
        sink_main(int(a.sink[0]), a.sink[1])
        return 0
    if a.quick:
        a.secs, a.idle, a.lat_n = 1.5, 2000, 1000
    targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    skip = set(x.strip() for x in a.skip.split(",") if x.strip())
    if not os.access(a.switchyard, os.X_OK) and any(t.startswith("switchyard") for t in targets):
        raise SystemExit("bench: no switchyard binary at %s (see tests/bench/README.md)" % a.switchyard)

    T, env, tl, cert, key, hard = prepare(a.keep, a.switchyard, "sy-bench.", "bench")
    if "switchyard-base" in targets:
        if not a.switchyard_base or not os.access(a.switchyard_base, os.X_OK):
            raise SystemExit("bench: target switchyard-base needs --switchyard-base PATH")
        env["SY_BIN_BASE"] = os.path.abspath(a.switchyard_base)
    if a.idle * 2 + 200 > hard:
        a.idle = (hard - 200) // 2
        print("bench: fd hard limit %d: holding %d idle connections" % (hard, a.idle))

    # Payloads.
    big = os.path.join(T, "big.bin")
    with open(big, "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(BIG_MIB):
            f.write(chunk)
    body = ("switchyard-bench." * 61)[:BODY_LEN]      # no quotes, no escapes: nginx takes it as is

    # The backend and the idle sink.
    bport = free_port()
    bd = os.path.join(T, "backend")
    os.makedirs(bd)
    with open(os.path.join(bd, "nginx.conf"), "w") as f:
        f.write(nginx_conf(bd, backend_body(bd, bport, cert, key, big, body)))
    bproc = spawn(["nginx", "-p", bd, "-c", os.path.join(bd, "nginx.conf")],
                  os.path.join(bd, "out.log"))
    wait_port(bport, bproc)
    sport = free_port()
    status = os.path.join(T, "sink.count")
    sproc = spawn([sys.executable, os.path.abspath(__file__), "--sink", str(sport), status],
                  os.path.join(T, "sink.log"))
    wait_port(sport, sproc)
    wait_sink(status, 0, 5)

    proxies = {}
    for t in targets:
        if t != "direct":
            proxies[t] = start_proxy(t, T, bport, "main", env, a.workers)
    # Sanity: every target routes bench.test to the backend.
    for t in targets:
        port = bport if t == "direct" else proxies[t].port
        kv = tlsload(tl, port, "lat", ["-n", "5"])
        if kv["ok"] != 5:
            raise SystemExit("bench: %s does not relay to the backend (%s)" % (t, kv))
    hello = client_hello()

    res = {t: {} for t in targets}

    def add(t, key, v):
        res[t].setdefault(key, []).append(v)

    def note_spread(t, test, busy, acc):
        """Records the busiest thread's share and the accepts per worker of one test."""
        if busy is not None and proxies.get(t) is not None:
            add(t, test + "_busiest", busy)
        if acc and sum(acc) > 0:
            add(t, test + "_top_worker", 100.0 * max(acc) / sum(acc))
            add(t, test + "_accepts", acc)

    t_start = time.time()
    for run in range(a.runs):
        order = targets[run % len(targets):] + targets[:run % len(targets)]
        print("run %d/%d: %s" % (run + 1, a.runs, " ".join(order)), flush=True)
        lat_direct = None
        for t in order:
            px = proxies.get(t)
            port = bport if px is None else px.port
            pids = px.pids() if px is not None else []
            errors = 0
            if "new" not in skip:
                (kv, ns, ticks), busy, acc = spread(px, lambda: measured(pids, lambda: tlsload(
                    tl, port, "new", ["-c", str(a.new_conc), "-d", str(a.secs)])))
                note_spread(t, "new", busy, acc)
                add(t, "new_rate", kv["rate"])
                errors += int(kv["err"])
                if px is not None and kv["ok"] > 0:
                    add(t, "new_cpu_us", ns / 1e3 / kv["ok"])
                    add(t, "new_cpu_us_ticks", ticks * 1e4 / kv["ok"])
            if "ka" not in skip:
                (kv, ns, ticks), busy, acc = spread(px, lambda: measured(pids, lambda: tlsload(
                    tl, port, "ka", ["-c", str(a.ka_conc), "-d", str(a.secs)])))
                note_spread(t, "ka", busy, acc)
                add(t, "ka_rate", kv["rate"])
                errors += int(kv["err"])
                if px is not None and kv["ok"] > 0:
                    add(t, "ka_cpu_us", ns / 1e3 / kv["ok"])
                    add(t, "ka_cpu_us_ticks", ticks * 1e4 / kv["ok"])
            if "lat" not in skip:
                kv = tlsload(tl, port, "lat", ["-n", str(a.lat_n)])
                errors += int(kv["err"])
                add(t, "lat_p50_us", kv["p50_us"])
                add(t, "lat_p99_us", kv["p99_us"])
                res[t].setdefault("_lat_run", {})[run] = kv
            if "bulk" not in skip:
                ((size, secs), ns, ticks), busy, _ = spread(px, lambda: measured(
                    pids, lambda: curl_big(port)))
                note_spread(t, "bulk", busy, [])
                add(t, "bulk_mbs", size / secs / 1e6)
                if px is not None:
                    add(t, "bulk_cpu_ms_gb", ns / 1e6 / (size / 1e9))
                    add(t, "bulk_cpu_ms_gb_ticks", ticks * 10 / (size / 1e9))
            add(t, "errors", errors)
            if "idle" not in skip and px is not None:
                fresh = start_proxy(t, T, sport, "idle%d" % run, env, a.workers)
                try:
                    kib, held, r0, r1 = idle_test(fresh, status, hello, a.idle)
                finally:
                    stop(fresh.proc)
                if held != a.idle:
                    print("  %s: only %d of %d idle connections reached the sink" % (t, held, a.idle))
                add(t, "idle_kib", kib)
                add(t, "idle_held", held)
                add(t, "idle_rss_kib", [r0, r1])
            print("  %-15s %s" % (t, " ".join("%s=%s" % (k, fmt(v[-1], 1)) for k, v in res[t].items()
                                             if not k.startswith("_") and v and not isinstance(v[-1], list))),
                  flush=True)
        # Added latency: this run's proxy minus this run's direct.
        if "direct" in targets and "lat" not in skip:
            d = res["direct"]["_lat_run"][run]
            for t in targets:
                if t != "direct":
                    k = res[t]["_lat_run"][run]
                    add(t, "add_p50_us", k["p50_us"] - d["p50_us"])
                    add(t, "add_p99_us", k["p99_us"] - d["p99_us"])
    elapsed = time.time() - t_start

    cpu_model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    meta = {
        "runs": a.runs, "secs": a.secs, "idle": a.idle, "lat_n": a.lat_n,
        "new_conc": a.new_conc, "ka_conc": a.ka_conc, "quick": a.quick, "workers": a.workers,
        "elapsed_s": round(elapsed, 1), "cpus": os.cpu_count(), "cpu": cpu_model,
        "kernel": os.uname().release,
        "note": ("%d worker(s) per proxy, %g s per load test, %d idle connections, %d latency "
                 "samples, %s, %d CPUs, kernel %s, wall time %.0f s"
                 % (a.workers, a.secs, a.idle, a.lat_n, cpu_model, os.cpu_count(),
                    os.uname().release, elapsed)),
    }
    text = report(res, targets, meta)
    print()
    print(text)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "report.md"), "w") as f:
            f.write(text)
        for t in res:
            res[t].pop("_lat_run", None)
        with open(os.path.join(a.out, "raw.json"), "w") as f:
            json.dump({"meta": meta, "results": res}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
