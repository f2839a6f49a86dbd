#!/usr/bin/env python3
"""Where the passthrough's kernel work goes (issue 12 item 1): counts, and CPU per operation.

What it is for: for switchyard, nginx stream and haproxy (bench.py's configurations), in front
of bench.py's TLS backend, it records per new TLS connection and per keep-alive request:
  - system calls by name, counted by `strace -f -o` attached to every thread of the proxy
    while a fixed number of sequential operations runs, divided by that number; epoll_ctl
    split by operation (ADD/MOD/DEL); epoll wake-ups (epoll_wait/epoll_pwait calls that
    returned more than 0) apart;
  - loopback packets: deltas of /proc/net/snmp and /proc/net/netstat (what `nstat -az`
    shows: Tcp OutSegs, Ip InReceives, IpExt InOctets, TcpExt TCPFastOpen*) over a separate
    run of the same operations without strace (strace changes timing, so ACKs could merge
    differently), minus nothing: the client and the backend are in the figure too, so the
    `direct` row (client -> backend, no proxy) is the part that is not the proxy's;
  - with --cpu, proxy CPU per operation (schedstat of every thread, as bench.py) from
    tlsload runs, interleaved over the targets, medians of --runs runs. Never from a run
    strace was attached to.
With --bulk-bytes N (0: off), also per GB relayed, from one N-byte download (curl, TLS,
HTTP/1.1 through the proxy) per run:
  - system calls by name, from `perf record` of the syscalls:sys_enter_* tracepoints on every
    thread of the proxy while the download runs (far less intrusive than strace; still counts
    only, never CPU); with sys_exit_* of the data calls and the epoll waits, for their return
    values: epoll wake-ups (a wait that returned > 0), EAGAIN returns, and the average bytes
    per splice / receive / send call that moved data;
  - loopback segments and bytes: the same /proc/net deltas over a separate download without
    perf. The download includes its one new TLS connection (about 40 calls, 32 segments:
    noise at this size).
Sequential operations (one client, one at a time) make the counts deterministic but for a
few wake-ups. By default everything runs in a private network namespace (`unshare -n`, needs
root): other processes' traffic on this box does not reach the packet counters, and the
namespace's own net.ipv4.tcp_fastopen can be set (--backend-tfo) without touching the host.

Targets: direct, nginx, haproxy, haproxy-splice, switchyard (build-bench/switchyard), or
`NAME=BINARY[+fast_open]` for any switchyard build under a name of its own, e.g.
`base=/tmp/sy-main+fast_open`.

What it must never do: touch anything outside its temp dir and its namespace, leave a
process running (every child is stopped by pid), or be part of ctest.

Usage: tests/bench/counts.py [--n 200] [--targets ...] [--cpu --runs 3 --secs 4] [--out DIR]
       tests/bench/counts.py --skip sys,net --bulk-bytes 104857600    # per GB only
"""

import argparse
import collections
import json
import os
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (the configurations and helpers are bench.py's)

SNI = bench.SNI
NET_KEYS = [("Tcp", "OutSegs"), ("Ip", "InReceives"), ("IpExt", "InOctets"),
            ("TcpExt", "TCPFastOpenActive"), ("TcpExt", "TCPFastOpenPassive"),
            ("TcpExt", "TCPFastOpenActiveFail"), ("TcpExt", "DelayedACKs")]
EPOLL_WAITS = ("epoll_wait", "epoll_pwait", "epoll_pwait2")


# ---------------------------------------------------------------- the client (sequential)

def client_ctx():
    """TLS 1.3 client context, no verification, no session reuse (a full handshake each)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.options |= ssl.OP_NO_TICKET
    return ctx


REQ = ("GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % SNI).encode()


def one_request(s):
    """Sends GET / on s and reads the reply: head and a body of exactly bench.BODY_LEN."""
    s.sendall(REQ)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            raise RuntimeError("connection closed before the reply head")
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    if not head.startswith(b"HTTP/1.1 200") or m is None or int(m.group(1)) != bench.BODY_LEN:
        raise RuntimeError("bad reply head: %r" % head[:200])
    while len(body) < bench.BODY_LEN:
        d = s.recv(4096)
        if not d:
            raise RuntimeError("connection closed in the body")
        body += d
    if len(body) != bench.BODY_LEN:
        raise RuntimeError("body of %d bytes" % len(body))


def ops_new(ctx, port, n):
    """n new connections, one after the other: connect, full handshake, GET /, close."""
    for _ in range(n):
        raw = socket.create_connection(("127.0.0.1", port), 10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s = ctx.wrap_socket(raw, server_hostname=SNI)
        one_request(s)
        s.close()


class KaConn:
    """One keep-alive connection, warmed up by one request."""

    def __init__(self, ctx, port):
        raw = socket.create_connection(("127.0.0.1", port), 10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s = ctx.wrap_socket(raw, server_hostname=SNI)
        one_request(self.s)

    def run(self, n):
        """n requests, one after the other."""
        for _ in range(n):
            one_request(self.s)

    def close(self):
        """Closes the connection."""
        self.s.close()


# ---------------------------------------------------------------- counters

def net_counters():
    """{(table, name): value} from /proc/net/snmp and /proc/net/netstat."""
    out = {}
    for path in ("/proc/net/snmp", "/proc/net/netstat"):
        with open(path) as f:
            lines = f.read().splitlines()
        for i in range(0, len(lines) - 1, 2):
            t1, names = lines[i].split(":", 1)
            t2, vals = lines[i + 1].split(":", 1)
            if t1 != t2:
                continue
            for k, v in zip(names.split(), vals.split()):
                try:
                    out[(t1, k)] = int(v)
                except ValueError:
                    pass
    return out


def threads_of(pids):
    """Every thread id of pids."""
    out = []
    for pid in pids:
        try:
            out += [int(t) for t in os.listdir("/proc/%d/task" % pid)]
        except OSError:
            pass
    return out


LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>.*|(\w+)\((.*))$")
RET = re.compile(r"\)\s+=\s+(-?\d+|\?)")


def parse_strace(path):
    """(calls by name, epoll_ctl by op, epoll wake-ups) from an `strace -f -o` file."""
    calls = collections.Counter()
    ctl = collections.Counter()
    wakes = 0
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if m is None:
                continue
            resumed, name, args = m.group(2), m.group(3), m.group(4)
            if name is not None:
                calls[name] += 1
                if name == "epoll_ctl":
                    op = re.search(r"EPOLL_CTL_(\w+)", args)
                    ctl[op.group(1) if op else "?"] += 1
            rname = resumed or name
            if rname in EPOLL_WAITS and "unfinished" not in line:
                r = RET.search(line)
                if r and r.group(1) not in ("?",) and int(r.group(1)) > 0:
                    wakes += 1
    return calls, ctl, wakes


def straced(pids, fn, tmp):
    """Runs fn() with strace attached to every thread of pids; returns parse_strace()."""
    out = os.path.join(tmp, "strace.%d.out" % time.monotonic_ns())
    cmd = ["strace", "-f", "-qq", "-o", out]
    for t in threads_of(pids):
        cmd += ["-p", str(t)]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bench.CHILDREN.append(p)
    time.sleep(1.0)           # attached (no reliable signal from strace -qq)
    try:
        fn()
        time.sleep(0.3)       # the closes of the last operation
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=20)
    r = parse_strace(out)
    os.unlink(out)
    return r


# ---------------------------------------------------------------- bulk (per GB)

RECV_CALLS = ("read", "recvfrom", "recvmsg", "readv")
SEND_CALLS = ("write", "writev", "sendto", "sendmsg")
DATA_CALLS = RECV_CALLS + SEND_CALLS + ("splice",)
EAGAIN = -11
PERF_LINE = re.compile(r"^\s*(\d+)\s+syscalls:sys_(enter|exit)_(\w+):\s*(.*)$")


def curl_bulk(port, size):
    """Downloads /big (size bytes) through port; raises unless all of it came."""
    cmd = ["curl", "-sk", "--http1.1", "--resolve", "%s:%d:127.0.0.1" % (SNI, port),
           "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
           "https://%s:%d/big" % (SNI, port)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    f = out.stdout.split()
    if len(f) != 2 or f[0] != "200" or int(f[1]) != size:
        raise RuntimeError("bulk download through %d failed: %r" % (port, out.stdout))


def parse_perf(text):
    """From `perf script -F tid,event,trace` of sys_enter_* and the sys_exit_* of DATA_CALLS and
    EPOLL_WAITS: {"calls": by name, "wakes", "eagain": by name, "moved": calls > 0 by name,
    "bytes": bytes returned by name}."""
    calls = collections.Counter()
    eagain = collections.Counter()
    moved = collections.Counter()
    nbytes = collections.Counter()
    wakes = 0
    for line in text.splitlines():
        m = PERF_LINE.match(line)
        if m is None:
            continue
        kind, name, rest = m.group(2), m.group(3), m.group(4).strip()
        if kind == "enter":
            calls[name] += 1
            continue
        try:
            ret = int(rest.split()[0], 16)
        except (ValueError, IndexError):
            continue
        if ret >= 1 << 63:
            ret -= 1 << 64
        if name in EPOLL_WAITS:
            wakes += ret > 0
        elif ret > 0:
            moved[name] += 1
            nbytes[name] += ret
        elif ret == EAGAIN:
            eagain[name] += 1
    return {"calls": dict(calls), "wakes": wakes, "eagain": dict(eagain),
            "moved": dict(moved), "bytes": dict(nbytes)}


def perfed(pids, fn, tmp):
    """Runs fn() with perf recording the syscall tracepoints of every thread of pids."""
    out = os.path.join(tmp, "perf.%d.data" % time.monotonic_ns())
    cmd = ["perf", "record", "-q", "-o", out, "-e", "syscalls:sys_enter_*"]
    for n in DATA_CALLS + EPOLL_WAITS:
        cmd += ["-e", "syscalls:sys_exit_" + n]
    cmd += ["-t", ",".join(str(t) for t in threads_of(pids))]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bench.CHILDREN.append(p)
    time.sleep(1.5)           # attached (perf gives no ready signal with -q)
    try:
        fn()
        time.sleep(0.3)       # the closes at the end of the download
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=60)
    if p.returncode not in (0, -signal.SIGINT, 130):
        raise RuntimeError("perf record exited %s" % p.returncode)
    txt = subprocess.run(["perf", "script", "-i", out, "-F", "tid,event,trace"],
                         capture_output=True, text=True, timeout=300).stdout
    os.unlink(out)
    return parse_perf(txt)


def report_bulk(res, labels, meta):
    """Markdown table: per GB relayed (calls, wake-ups, segments, bytes per call)."""
    gb = meta["bulk_bytes"] / 1e9
    proxies = [t for t in labels if "bulk_sys" in res[t]]
    have = [t for t in labels if "bulk_net" in res[t]]
    cols = [t for t in labels if t in proxies or t in have]
    lines = ["**Per GB relayed** (one %d-byte download per run, curl through the proxy; "
             "system calls from `perf record` of the syscall tracepoints of every proxy thread, "
             "segments from /proc/net deltas of the whole namespace over a separate download "
             "without perf; medians of %d runs; GB = 10^9 bytes)" % (meta["bulk_bytes"],
                                                                      meta["count_runs"]), ""]
    lines.append("| per GB | " + " | ".join(cols) + " |")
    lines.append("|---|" + "---|" * len(cols))

    def row(lab, fn, nd=0):
        cells = []
        for t in cols:
            try:
                v = fn(t)
            except (KeyError, ZeroDivisionError, TypeError):
                v = None
            cells.append(fmt(v, nd))
        lines.append("| %s | %s |" % (lab, " | ".join(cells)))

    names = collections.Counter()
    for t in proxies:
        for k, v in res[t]["bulk_sys"]["calls"].items():
            names[k] += v
    for k, _ in names.most_common():
        row(k, lambda t, k=k: res[t]["bulk_sys"]["calls"].get(k, 0) / gb)
    row("**all system calls**", lambda t: sum(res[t]["bulk_sys"]["calls"].values()) / gb)
    row("epoll wake-ups (wait > 0)", lambda t: res[t]["bulk_sys"]["wakes"] / gb)
    row("EAGAIN returns", lambda t: sum(res[t]["bulk_sys"]["eagain"].values()) / gb)
    for lab, group in (("bytes per splice that moved data", ("splice",)),
                       ("bytes per receive that moved data", RECV_CALLS),
                       ("bytes per send that moved data", SEND_CALLS)):
        row(lab, lambda t, g=group: (
            sum(res[t]["bulk_sys"]["bytes"].get(n, 0) for n in g)
            / sum(res[t]["bulk_sys"]["moved"].get(n, 0) for n in g)) or None)
    for tb, k in (("Tcp", "OutSegs"), ("IpExt", "InOctets"), ("TcpExt", "DelayedACKs")):
        row("%s %s (namespace)" % (tb, k),
            lambda t, key="%s.%s" % (tb, k): res[t]["bulk_net"][key] / gb)
    row("bytes per segment (InOctets / OutSegs)",
        lambda t: res[t]["bulk_net"]["IpExt.InOctets"] / res[t]["bulk_net"]["Tcp.OutSegs"])
    lines.append("")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- targets

def sy_conf(port, up, fast_open):
    """bench.py's switchyard configuration, with fast_open on the upstream when asked."""
    c = bench.switchyard_conf(port, up)
    if fast_open:
        c = c.replace('    servers: ["127.0.0.1:%d"]\n' % up,
                      '    servers: ["127.0.0.1:%d"]\n    fast_open: true\n' % up)
    return c


def start_target(spec, T, up, tag, env):
    """Starts one target (see the module text) in front of 127.0.0.1:up; a bench.Proxy."""
    if "=" not in spec:
        if spec == "switchyard":
            return bench.start_proxy("switchyard", T, up, tag, env)
        return bench.start_proxy(spec, T, up, tag, env)
    name, binary = spec.split("=", 1)
    fast_open = binary.endswith("+fast_open")
    binary = binary[:-len("+fast_open")] if fast_open else binary
    port = bench.free_port()
    d = os.path.join(T, "%s-%s" % (name, tag))
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "switchyard.yaml")
    with open(conf, "w") as f:
        f.write(sy_conf(port, up, fast_open))
    proc = bench.spawn([os.path.abspath(binary), "-c", conf], os.path.join(d, "out.log"), env=env)
    bench.wait_port(port, proc)
    return bench.Proxy(name, port, proc)


def label(spec):
    """The column name of a target."""
    return spec.split("=", 1)[0]


# ---------------------------------------------------------------- namespace

def enter_netns():
    """Re-runs this script in a private network namespace (lo up); returns only in it."""
    if os.environ.get("SY_COUNTS_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return True
    if os.getuid() != 0 or not shutil_which("unshare"):
        print("counts: not root or no unshare: running in the host namespace; packet counts "
              "include every other process's loopback traffic")
        return False
    env = dict(os.environ, SY_COUNTS_NETNS="1")
    r = subprocess.run(["unshare", "-n", sys.executable, os.path.abspath(__file__)] + sys.argv[1:],
                       env=env)
    sys.exit(r.returncode)


def shutil_which(x):
    """shutil.which without importing shutil at the top (kept small)."""
    import shutil
    return shutil.which(x)


# ---------------------------------------------------------------- main

def median_dict(runs):
    """Per key, the median over runs (a missing key counts 0); nested dicts alike."""
    keys = set()
    for r in runs:
        keys |= set(r)
    out = {}
    for k in keys:
        vals = [r.get(k, 0) for r in runs]
        if any(isinstance(v, dict) for v in vals):
            out[k] = median_dict([v if isinstance(v, dict) else {} for v in vals])
        else:
            out[k] = statistics.median(vals)
    return out


def fmt(x, nd=2):
    """Table cell."""
    return "-" if x is None else ("%%.%df" % nd) % x


def report(res, labels, meta):
    """Markdown tables: calls by name per op, epoll, packets, CPU."""
    lines = ["%s" % meta["note"], ""]
    for op, title in (("new", "per new TLS connection"), ("ka", "per keep-alive request")):
        if not any(op in res[t].get("sys", {}) or op in res[t].get("net", {}) for t in labels):
            continue                # --skip sys,net (e.g. per GB only)
        lines.append("**System calls %s** (strace, %d sequential operations; calls / op, "
                     "median of %d runs)" % (title, meta["n"], meta["count_runs"]))
        lines.append("")
        proxies = [t for t in labels if t != "direct" and op in res[t].get("sys", {})]
        names = collections.Counter()
        for t in proxies:
            for k, v in res[t]["sys"][op]["calls"].items():
                names[k] += v
        order = [k for k, _ in names.most_common()]
        lines.append("| call | " + " | ".join(proxies) + " |")
        lines.append("|---|" + "---|" * len(proxies))
        for k in order:
            lines.append("| %s | %s |" % (k, " | ".join(
                fmt(res[t]["sys"][op]["calls"].get(k, 0) / meta["n"]) for t in proxies)))
        lines.append("| **all** | %s |" % " | ".join(
            "**%s**" % fmt(sum(res[t]["sys"][op]["calls"].values()) / meta["n"]) for t in proxies))
        for o in ("ADD", "MOD", "DEL"):
            lines.append("| epoll_ctl %s | %s |" % (o, " | ".join(
                fmt(res[t]["sys"][op]["ctl"].get(o, 0) / meta["n"]) for t in proxies)))
        lines.append("| epoll wake-ups (wait > 0) | %s |" % " | ".join(
            fmt(res[t]["sys"][op]["wakes"] / meta["n"]) for t in proxies))
        lines.append("")
        lines.append("**Loopback packets %s** (%d operations, no strace, median of %d runs; "
                     "the whole namespace: client, proxy, backend)"
                     % (title, meta["n"], meta["count_runs"]))
        lines.append("")
        have = [t for t in labels if op in res[t].get("net", {})]
        lines.append("| counter | " + " | ".join(have) + " |")
        lines.append("|---|" + "---|" * len(have))
        for tb, k in NET_KEYS:
            lines.append("| %s %s | %s |" % (tb, k, " | ".join(
                fmt(res[t]["net"][op].get("%s.%s" % (tb, k), 0) / meta["n"]) for t in have)))
        lines.append("")
    have = [t for t in labels if res[t].get("seq_new_us")]
    if have:
        lines.append("**Proxy CPU per sequential operation** (schedstat over the packet runs: one "
                     "client, one operation at a time; median, then every run)")
        lines.append("")
        lines.append("| metric | " + " | ".join(have) + " |")
        lines.append("|---|" + "---|" * len(have))
        for key, lab in (("seq_new_us", "µs per new TLS connection"),
                         ("seq_ka_us", "µs per keep-alive request")):
            lines.append("| %s | %s |" % (lab, " | ".join(
                "%s (%s)" % (fmt(statistics.median(res[t][key])),
                             ", ".join(fmt(x, 1) for x in res[t][key])) for t in have)))
        lines.append("")
    if meta.get("cpu"):
        lines.append("**Proxy CPU per operation** (schedstat, tlsload `new -c %d` and `ka -c %d`, "
                     "%g s each, medians of %d interleaved runs; every run's values after the median)"
                     % (meta["new_conc"], meta["ka_conc"], meta["secs"], meta["runs"]))
        lines.append("")
        have = [t for t in labels if t != "direct"]
        lines.append("| metric | " + " | ".join(have) + " |")
        lines.append("|---|" + "---|" * len(have))
        for key, lab in (("new_cpu_us", "µs per new TLS connection"),
                         ("ka_cpu_us", "µs per keep-alive request")):
            cells = []
            for t in have:
                v = res[t].get(key, [])
                cells.append("%s (%s)" % (fmt(statistics.median(v)) if v else "-",
                                          ", ".join(fmt(x, 1) for x in v)))
            lines.append("| %s | %s |" % (lab, " | ".join(cells)))
        lines.append("")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200, help="sequential operations per count")
    ap.add_argument("--targets", default="direct,switchyard,nginx,haproxy,haproxy-splice")
    ap.add_argument("--switchyard", default=os.path.join(bench.TOP, "build-bench", "switchyard"))
    ap.add_argument("--skip", default="", help="comma list from: sys,net")
    ap.add_argument("--count-runs", type=int, default=3,
                    help="runs of the counts (medians; the order rotates)")
    ap.add_argument("--cpu", action="store_true", help="also CPU per op (tlsload, schedstat)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--secs", type=float, default=4.0)
    ap.add_argument("--new-conc", type=int, default=8)
    ap.add_argument("--ka-conc", type=int, default=16)
    ap.add_argument("--backend-tfo", action="store_true",
                    help="backend listens with fastopen=256; net.ipv4.tcp_fastopen=3 in the namespace")
    ap.add_argument("--host-netns", action="store_true", help="do not unshare (packets are noisy)")
    ap.add_argument("--bulk-bytes", type=int, default=100 << 20,
                    help="size of the per-GB download (0: no per-GB counts)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    netns = False if a.host_netns else enter_netns()
    if a.backend_tfo:
        if not netns:
            raise SystemExit("counts: --backend-tfo sets a sysctl: only inside its own namespace")
        with open("/proc/sys/net/ipv4/tcp_fastopen", "w") as f:
            f.write("3")
    targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    labels = [label(t) for t in targets]
    skip = set(x for x in a.skip.split(",") if x)

    T, env, tl, cert, key, _ = bench.prepare(a.keep, a.switchyard, "sy-counts.", "counts")
    body = ("switchyard-bench." * 61)[:bench.BODY_LEN]
    bport = bench.free_port()
    bd = os.path.join(T, "backend")
    os.makedirs(bd)
    big = "/dev/null"
    if a.bulk_bytes > 0:
        big = os.path.join(T, "big.bin")
        with open(big, "wb") as f:
            chunk = os.urandom(1 << 20)
            left = a.bulk_bytes
            while left > 0:
                f.write(chunk[:min(left, len(chunk))])
                left -= min(left, len(chunk))
    bconf = bench.backend_body(bd, bport, cert, key, big, body)
    if a.backend_tfo:
        bconf = bconf.replace("listen 127.0.0.1:%d ssl;" % bport,
                              "listen 127.0.0.1:%d ssl fastopen=256;" % bport)
    with open(os.path.join(bd, "nginx.conf"), "w") as f:
        f.write(bench.nginx_conf(bd, bconf))
    bproc = bench.spawn(["nginx", "-p", bd, "-c", os.path.join(bd, "nginx.conf")],
                        os.path.join(bd, "out.log"))
    bench.wait_port(bport, bproc)
    proxies = {}
    for t in targets:
        if t != "direct":
            proxies[label(t)] = start_target(t, T, bport, "main", env)
    ctx = client_ctx()
    res = {lab: {} for lab in labels}

    def port_of(lab):
        return bport if lab == "direct" else proxies[lab].port

    for lab in labels:           # sanity, and warm-up (TFO cookies, pools)
        ops_new(ctx, port_of(lab), 20)
    for run in range(a.count_runs):
        order = labels[run % len(labels):] + labels[:run % len(labels)]
        for lab in order:
            px = proxies.get(lab)
            port = port_of(lab)
            if "sys" not in skip and px is not None:
                calls, ctl, wakes = straced(px.pids(), lambda: ops_new(ctx, port, a.n), T)
                res[lab].setdefault("sys_runs", {}).setdefault("new", []).append(
                    {"calls": dict(calls), "ctl": dict(ctl), "wakes": wakes})
                kc = KaConn(ctx, port)
                calls, ctl, wakes = straced(px.pids(), lambda: kc.run(a.n), T)
                kc.close()
                res[lab]["sys_runs"].setdefault("ka", []).append(
                    {"calls": dict(calls), "ctl": dict(ctl), "wakes": wakes})
            if "net" not in skip:
                pids = px.pids() if px is not None else []
                n0 = net_counters()
                c0 = bench.cpu_sample(pids)[0] if pids else 0
                ops_new(ctx, port, a.n)
                c1 = bench.cpu_sample(pids)[0] if pids else 0
                n1 = net_counters()
                kc = KaConn(ctx, port)
                time.sleep(0.2)
                n2 = net_counters()
                c2 = bench.cpu_sample(pids)[0] if pids else 0
                kc.run(a.n)
                c3 = bench.cpu_sample(pids)[0] if pids else 0
                n3 = net_counters()
                kc.close()
                res[lab].setdefault("net_runs", {}).setdefault("new", []).append(
                    {"%s.%s" % k: n1.get(k, 0) - n0.get(k, 0) for k in NET_KEYS})
                res[lab]["net_runs"].setdefault("ka", []).append(
                    {"%s.%s" % k: n3.get(k, 0) - n2.get(k, 0) for k in NET_KEYS})
                if pids:
                    res[lab].setdefault("seq_new_us", []).append((c1 - c0) / 1e3 / a.n)
                    res[lab].setdefault("seq_ka_us", []).append((c3 - c2) / 1e3 / a.n)
            if a.bulk_bytes > 0:
                if px is not None:
                    res[lab].setdefault("bulk_sys_runs", []).append(
                        perfed(px.pids(), lambda: curl_bulk(port, a.bulk_bytes), T))
                n0 = net_counters()
                curl_bulk(port, a.bulk_bytes)
                time.sleep(0.3)
                n1 = net_counters()
                res[lab].setdefault("bulk_net_runs", []).append(
                    {"%s.%s" % k: n1.get(k, 0) - n0.get(k, 0) for k in NET_KEYS})
        print("counts: run %d/%d done" % (run + 1, a.count_runs), flush=True)
    for lab in labels:           # medians over the runs, per name
        for kind, out in (("sys_runs", "sys"), ("net_runs", "net")):
            for op, runs in res[lab].get(kind, {}).items():
                res[lab].setdefault(out, {})[op] = median_dict(runs)
        for kind, out in (("bulk_sys_runs", "bulk_sys"), ("bulk_net_runs", "bulk_net")):
            if res[lab].get(kind):
                res[lab][out] = median_dict(res[lab][kind])
    if a.cpu:
        for run in range(a.runs):
            order = labels[run % len(labels):] + labels[:run % len(labels)]
            for lab in order:
                px = proxies.get(lab)
                if px is None:
                    continue
                pids = px.pids()
                kv, ns, _ = bench.measured(pids, lambda: bench.tlsload(
                    tl, px.port, "new", ["-c", str(a.new_conc), "-d", str(a.secs)]))
                if kv["ok"] > 0 and kv["err"] == 0:
                    res[lab].setdefault("new_cpu_us", []).append(ns / 1e3 / kv["ok"])
                kv, ns, _ = bench.measured(pids, lambda: bench.tlsload(
                    tl, px.port, "ka", ["-c", str(a.ka_conc), "-d", str(a.secs)]))
                if kv["ok"] > 0 and kv["err"] == 0:
                    res[lab].setdefault("ka_cpu_us", []).append(ns / 1e3 / kv["ok"])
            print("counts: cpu run %d/%d done" % (run + 1, a.runs), flush=True)
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    meta = {"n": a.n, "count_runs": a.count_runs, "cpu": a.cpu, "runs": a.runs, "secs": a.secs, "new_conc": a.new_conc,
            "ka_conc": a.ka_conc, "netns": netns, "backend_tfo": a.backend_tfo,
            "note": "%d sequential operations per count, %s, backend TFO %s, kernel %s, "
                    "load average %s at the end" % (
                        a.n, "private network namespace" if netns else "HOST namespace",
                        "on" if a.backend_tfo else "off", os.uname().release, load)}
    meta["bulk_bytes"] = a.bulk_bytes
    text = report(res, labels, meta)
    if a.bulk_bytes > 0:
        text += "\n" + report_bulk(res, labels, meta)
    print()
    print(text)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "counts.md"), "w") as f:
            f.write(text)
        with open(os.path.join(a.out, "counts.json"), "w") as f:
            json.dump({"meta": meta, "results": res}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
