#!/usr/bin/env python3
"""VPN benchmark: switchyard's VPN engine against its own terminator, side by side (issue 9 item 7).

What it is for: one switchyard (workers: 1, Release, pinned to one CPU) terminates TLS for a
site (index.html, a 1 KiB file, a 100 MiB file of random bytes) and for the VPN under
/api/v1/ws (keys made with its own key tools, one allowed client key), and measures,
interleaved (every run, every test: both sides, the order swapped from run to run), at
least 3 runs:
  - server CPU per GB through one /mux flow (vpnload -m get: K downloads of 100 MiB from a
    local C source on 127.0.0.1, one flow each, on one VPN session) against server CPU per
    GB of the terminator's own 100 MiB download (tlsload -m big: K downloads of big.bin on
    one keep-alive connection); ratio = vpn / terminator (goal: at most 1.5);
  - VPN handshakes (connect, full TLS 1.3, WebSocket upgrade on /api/v1/ws/mux, Hello,
    ServerHello; vpnload -m hs) against plain TLS handshakes (connect, full TLS 1.3, GET of
    the 1 KiB file; tlsload -m new -3), each with the same client threads, for --secs; the
    rates, and server CPU per handshake; goal: VPN at least 0.8x plain;
  - RSS per idle VPN session: a fresh switchyard per run, warmed up, then --idle sessions
    opened one after the other on /mux (handshake done, no flow) and held; (RSS after -
    RSS before) / sessions; beside it the same for idle TLS keep-alive connections (one
    GET each) on another fresh switchyard, and the server CPU an idle session costs per
    second; goal: at most 24 KiB per VPN session.
Server CPU is user+sys of every thread of switchyard, from /proc/PID/task/*/schedstat (ns),
with /proc/PID/stat ticks kept too (bench.cpu_sample), read before and after each load.

What it must never do: touch anything outside its temp dir and 127.0.0.1, leave a process
running (every child is stopped by pid on exit), or be run as a timed test (not part of
ctest). Python 3 stdlib only; the helpers come from bench.py beside it.

Usage: tests/bench/vpn.py --switchyard build-vbench/switchyard --proto-lib
build-vbench/libsy_proto.a [--quick] [--runs N] ... (tests/bench/vpn.sh builds both).
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
import bench  # noqa: E402  (process, CPU, RSS and report helpers)

SNI = bench.SNI
SMALL = 1024
BIG = 100 << 20
MUX = "/api/v1/ws/mux"
SIDES = ("terminator", "vpn")


# ---------------------------------------------------------------- set-up

def switchyard_conf(port, T, cert, key, root):
    """One tls listener, every name terminated: the site and the VPN (one allowed key)."""
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
  vpn:
    identity_key: %s/server.key
    prekey_bundle: %s/bundle.json
    clients: %s/clients.allow
    max_sessions: 20000
    egress: {allow: [127.0.0.1/32]}
""" % (port, cert, key, root, T, T, T)


def start_switchyard(T, name, cert, key, root, cpu, env):
    """Starts a switchyard pinned to cpu; returns a bench.Proxy once it listens."""
    port = bench.free_port()
    d = os.path.join(T, name)
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "switchyard.yaml")
    with open(conf, "w") as f:
        f.write(switchyard_conf(port, T, cert, key, root))
    pin = [] if cpu is None else ["taskset", "-c", str(cpu)]
    proc = bench.spawn(pin + [env["SY_BIN"], "-c", conf], os.path.join(d, "out.log"), env=env)
    bench.wait_port(port, proc)
    return bench.Proxy(name, port, proc)


def keys(T, sy):
    """Server identity and bundle, one client key on the allow-list (the key tools)."""
    run = lambda *a: subprocess.run([sy] + list(a), check=True, capture_output=True, text=True)
    run("keygen", "-o", os.path.join(T, "server.key"))
    run("prekey-bundle", "--identity", os.path.join(T, "server.key"), "-o", os.path.join(T, "bundle.json"))
    run("keygen", "-o", os.path.join(T, "client.key"))
    out = run("pubkey", "--identity", os.path.join(T, "client.key")).stdout
    hexkey = [l.split()[1] for l in out.splitlines() if l.startswith("x25519_hex:")][0]
    with open(os.path.join(T, "clients.allow"), "w") as f:
        f.write("%s bench\n" % hexkey)


# ---------------------------------------------------------------- clients

class Clients:
    """Runs tlsload and vpnload pinned to the client CPU; parses their key=value line."""

    def __init__(self, T, tl, vl, cpu):
        self.T, self.tl, self.vl = T, tl, vl
        self.pin = [] if cpu is None else ["taskset", "-c", str(cpu)]

    def _run(self, cmd):
        out = subprocess.run(self.pin + cmd, capture_output=True, text=True, timeout=900)
        kv = {}
        for tok in out.stdout.split():
            k, _, v = tok.partition("=")
            try:
                kv[k] = float(v)
            except ValueError:
                pass
        if "ok" not in kv:
            raise SystemExit("vpn: client failed: %s\n%s\n%s" % (" ".join(cmd), out.stdout, out.stderr))
        return kv

    def tls(self, port, mode, args):
        """tlsload (the terminator's side)."""
        return self._run([self.tl, "-m", mode, "-a", "127.0.0.1", "-p", str(port), "-s", SNI] + args)

    def vpn_args(self, port):
        """vpnload's common arguments."""
        return [self.vl, "-p", str(port), "-s", SNI, "-i", os.path.join(self.T, "client.key"),
                "-B", os.path.join(self.T, "bundle.json")]

    def vpn(self, port, mode, args):
        """vpnload (the VPN's side)."""
        return self._run(self.vpn_args(port) + ["-m", mode] + args)

    def idle(self, port, n, kind, path):
        """Starts vpnload -m idle; returns (process, its held= line as a dict)."""
        cmd = self.pin + self.vpn_args(port) + ["-m", "idle", "-c", str(n), "-k", kind, "-u", path]
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        bench.CHILDREN.append(p)
        line = p.stdout.readline()
        kv = dict((k, float(v)) for k, _, v in (t.partition("=") for t in line.split()))
        if "held" not in kv:
            bench.stop(p)
            raise SystemExit("vpn: idle client failed: %r %s" % (line, p.stderr.read()))
        return p, kv


def release(p):
    """Lets an idle client close its connections and waits for it (bounded)."""
    try:
        p.stdin.close()
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        bench.stop(p)


def smaps_anon(pid):
    """{mapping start: (size KiB, Rss KiB, name)} of the anonymous and heap mappings of pid."""
    out, cur = {}, None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" not in parts[0]:
                name = parts[5] if len(parts) > 5 else ""
                cur = parts[0].split("-")[0] if name in ("", "[heap]") else None
                if cur is not None:
                    lo, hi = (int(x, 16) for x in parts[0].split("-"))
                    out[cur] = [(hi - lo) // 1024, 0, name or "anon"]
            elif cur is not None and parts[0] == "Rss:":
                out[cur][1] = int(parts[1])
    return out


def smaps_delta(a, b):
    """Where RSS grew between two smaps_anon samples: [(KiB grown, size KiB, name)], largest first."""
    rows = []
    for k, (size, rss, name) in b.items():
        grown = rss - (a[k][1] if k in a else 0)
        if grown:
            rows.append((grown, size, name if k in a else name + " (new)"))
    return sorted(rows, reverse=True)


# ---------------------------------------------------------------- report

METRICS = [
    # key, label, digits
    ("big_cpu_ms_gb", "server CPU per GB sent (ms)", 0),
    ("big_mbs", "100 MiB downloads (MB/s)", 0),
    ("big_srv_busy", "server CPU use during downloads (%% of its core)", 0),
    ("big_cli_busy", "client CPU use during downloads (%% of its core)", 0),
    ("hs_rate", "handshakes/s (%(conc)d client threads)", 0),
    ("hs_cpu_us", "server CPU per handshake (µs)", 1),
    ("hs_capacity", "handshakes per server CPU-second (10^6 / CPU per handshake)", 0),
    ("hs_srv_busy", "server CPU use during handshakes (%% of its core)", 0),
    ("hs_cli_busy", "client CPU use during handshakes (%% of its core)", 0),
    ("hs_cli_cpu_us", "client CPU per handshake (µs)", 1),
    ("hsw_rate", "handshakes/s (%(wide)d client threads)", 0),
    ("hsw_cpu_us", "server CPU per handshake, %(wide)d threads (µs)", 1),
    ("hsw_srv_busy", "server CPU use, %(wide)d threads (%% of its core)", 0),
    ("hsw_cli_busy", "client CPU use, %(wide)d threads (%% of its core)", 0),
    ("idle_kib", "RSS per idle connection / session (KiB, %(idle)d held)", 2),
    ("idle_cpu_us_s", "server CPU per idle connection / session per second (µs)", 2),
]


def report(res, meta):
    """Markdown: medians, ratios vpn / terminator, goals, every run's values."""
    L = []
    L.append("Medians of %d interleaved runs; %s" % (meta["runs"], meta["note"]))
    L.append("")
    L.append("| metric | terminator (plain TLS) | VPN (/mux) | VPN / terminator |")
    L.append("|---|---|---|---|")
    med = {}
    for key, label, nd in METRICS:
        row = []
        for s in SIDES:
            med[(s, key)] = bench.med(res[s].get(key, []))
            row.append(bench.fmt(med[(s, key)], nd))
        t, v = med[("terminator", key)], med[("vpn", key)]
        ratio = "-" if t in (None, 0) or v is None else "%.2f" % (v / t)
        L.append("| %s | %s | %s | %s |" % (label % meta, row[0], row[1], ratio))
    L.append("")
    L.append("| goal (issue 9 item 7) | terminator | VPN | ratio | met? |")
    L.append("|---|---|---|---|---|")

    def goal(label, key, test, nd):
        t, v = med[("terminator", key)], med[("vpn", key)]
        if t is None or v is None:
            L.append("| %s | %s | %s | - | not measured |" % (label, bench.fmt(t, nd), bench.fmt(v, nd)))
            return
        r = v / t if t else float("inf")
        L.append("| %s | %s | %s | %.2f | %s |" % (label, bench.fmt(t, nd), bench.fmt(v, nd), r,
                                                 "yes" if test(r, v) else "NO"))
    goal("server CPU per GB: VPN ≤ 1.5× terminator", "big_cpu_ms_gb", lambda r, v: r <= 1.5, 0)
    goal("handshakes/s, %d threads: VPN ≥ 0.8× plain TLS" % meta["conc"], "hs_rate",
         lambda r, v: r >= 0.8, 0)
    goal("handshakes/s, %d threads: VPN ≥ 0.8× plain TLS" % meta["wide"], "hsw_rate",
         lambda r, v: r >= 0.8, 0)
    goal("handshakes per server CPU-second: VPN ≥ 0.8× plain TLS", "hs_capacity",
         lambda r, v: r >= 0.8, 0)
    goal("RSS per idle VPN session ≤ 24 KiB", "idle_kib", lambda r, v: v <= 24.0, 2)
    L.append("")
    L.append("Every run's values (in run order):")
    L.append("")
    for key, label, nd in METRICS:
        for s in SIDES:
            vals = res[s].get(key, [])
            if vals:
                L.append("- %s, %s: %s" % (label % meta, s, ", ".join(bench.fmt(v, nd) for v in vals)))
    L.append("")
    if res["vpn"].get("idle_where"):
        L.append("Where the idle sessions' RSS grew (anonymous mappings of the last run, KiB "
                 "grown / mapping size / name): " + "; ".join(
                     "%d / %d / %s" % r for r in res["vpn"]["idle_where"][-1][:6]))
        L.append("")
    L.append("Per-message cost of the VPN layer, single core, ms per GB of payload "
             "(vpn_seal.c: seal = rvpn_pad_cc + rvpn_ratchet_seal_cc of one 8190-byte mux data "
             "message as vsess does it, pad = its keystream fill alone, seal_na / pad_na = the "
             "same through the plain API (libsodium AEAD and HMAC, DRBG fill and nonce), "
             "sodium / ossl_cc = ChaCha20-Poly1305 of "
             "the padded length by libsodium / OpenSSL, ossl_gcm = AES-256-GCM of a 16 KiB "
             "TLS record by OpenSSL): `%s`" % meta["seal"])
    L.append("")
    errs = {s: int(sum(res[s].get("errors", []))) for s in SIDES}
    L.append("Client errors per side (any error makes the run invalid): " +
             ", ".join("%s %d" % kv for kv in errs.items()))
    if any(errs.values()):
        L.append("")
        L.append("**INVALID RUN: client errors above.**")
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--switchyard", default=os.path.join(bench.TOP, "build-vbench", "switchyard"),
                    help="binary (build Release first: tests/bench/vpn.sh does)")
    ap.add_argument("--proto-lib", default=os.path.join(bench.TOP, "build-vbench", "libsy_proto.a"),
                    help="libsy_proto.a of the same tree (vpnload.c links it)")
    ap.add_argument("--runs", type=int, default=3, help="interleaved runs (at least 3 for medians)")
    ap.add_argument("--secs", type=float, default=10.0, help="seconds per handshake test")
    ap.add_argument("--conc", type=int, default=8, help="client threads looping handshakes")
    ap.add_argument("--wide", type=int, default=128,
                    help="client threads of the second handshake test (0: skip it)")
    ap.add_argument("--big-n", type=int, default=10, help="100 MiB downloads per measurement")
    ap.add_argument("--idle", type=int, default=1000, help="idle sessions / connections held")
    ap.add_argument("--idle-secs", type=float, default=3.0,
                    help="seconds the idle sessions are held while their server CPU is measured")
    ap.add_argument("--server-cpu", type=int, default=0, help="CPU switchyard is pinned to")
    ap.add_argument("--client-cpu", type=int, default=1, help="CPU the clients and the source are pinned to")
    ap.add_argument("--no-pin", action="store_true", help="no taskset at all (comparison only)")
    ap.add_argument("--skip", default="", help="comma list of tests to skip: big,hs,idle")
    ap.add_argument("--quick", action="store_true",
                    help="trial: 2 s per handshake test, 2 downloads, 200 idle sessions (checks the script)")
    ap.add_argument("--out", default=None, help="write report.md and raw.json here (dir)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (keys, configs, logs)")
    a = ap.parse_args()
    if a.quick:
        a.secs, a.big_n, a.idle, a.idle_secs = 2.0, 2, 200, 1.0
    skip = set(x.strip() for x in a.skip.split(",") if x.strip())
    for f in (a.switchyard, a.proto_lib):
        if not os.path.exists(f):
            raise SystemExit("vpn: no %s (tests/bench/vpn.sh builds it)" % f)
    if a.no_pin:
        a.server_cpu = a.client_cpu = None

    T, env, tl, cert, key, hard = bench.prepare(a.keep, a.switchyard, "sy-vbench.", "vpn")
    if 2 * a.idle + 200 > hard:
        raise SystemExit("vpn: fd hard limit %d is too small for %d idle sessions" % (hard, a.idle))
    vl = os.path.join(T, "vpnload")
    subprocess.run(["cc", "-O2", "-std=c11", "-pthread", "-I", bench.TOP, os.path.join(HERE, "vpnload.c"),
                    os.path.abspath(a.proto_lib), "-o", vl, "-lssl", "-lcrypto", "-lsodium"], check=True)
    seal = os.path.join(T, "vpn_seal")
    subprocess.run(["cc", "-O2", "-std=c11", "-I", bench.TOP, os.path.join(HERE, "vpn_seal.c"),
                    os.path.abspath(a.proto_lib), "-o", seal, "-lcrypto", "-lsodium"], check=True)
    keys(T, env["SY_BIN"])
    root = os.path.join(T, "site")
    os.makedirs(root)
    os.chmod(root, 0o755)
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<!doctype html><title>bench</title><p>bench</p>\n")
    subprocess.run("head -c %d /dev/urandom > %s/1k.bin && head -c %d /dev/urandom > %s/big.bin"
                   % (SMALL, root, BIG, root), shell=True, check=True)
    subprocess.run(["cat", os.path.join(root, "big.bin")], stdout=subprocess.DEVNULL, check=True)

    cl = Clients(T, tl, vl, a.client_cpu)
    # The download source of the VPN side: 100 MiB to every connection, on the client CPU.
    sport = bench.free_port()
    pin = [] if a.client_cpu is None else ["taskset", "-c", str(a.client_cpu)]
    src = bench.spawn(pin + [vl, "-m", "source", "-p", str(sport), "-b", str(BIG)],
                      os.path.join(T, "source.log"))
    bench.wait_port(sport, src)
    sy = start_switchyard(T, "main", cert, key, root, a.server_cpu, env)
    port = sy.port

    # Sanity and warm-up: both sides work, whole, without errors.
    kv = cl.tls(port, "big", ["-u", "/big.bin", "-b", str(BIG), "-n", "1"])
    if kv["ok"] != 1 or kv["bytes"] != BIG:
        raise SystemExit("vpn: the terminator does not serve /big.bin (%s)" % kv)
    kv = cl.vpn(port, "get", ["-t", "127.0.0.1:%d" % sport, "-b", str(BIG), "-n", "1"])
    if kv["ok"] != 1 or kv["bytes"] != BIG:
        raise SystemExit("vpn: no 100 MiB through a /mux flow (%s)" % kv)
    cl.tls(port, "new", ["-3", "-u", "/1k.bin", "-b", str(SMALL), "-c", str(a.conc), "-d", "0.5"])
    kv = cl.vpn(port, "hs", ["-c", str(a.conc), "-d", "0.5"])
    if kv["ok"] < 1 or kv["err"]:
        raise SystemExit("vpn: VPN handshakes fail (%s)" % kv)

    res = {s: {} for s in SIDES}

    def add(s, k, v):
        res[s].setdefault(k, []).append(v)

    def measure(s, key, fn):
        """One load with switchyard's CPU around it; records busy shares; returns (kv, ns, ticks)."""
        pids = sy.pids()
        ns0, t0 = bench.cpu_sample(pids)
        w0 = time.time()
        kv = fn()
        wall = time.time() - w0
        ns1, t1 = bench.cpu_sample(pids)
        ns, ticks = ns1 - ns0, t1 - t0
        add(s, "errors", kv["err"])
        add(s, key + "_srv_busy", 100.0 * ns / 1e9 / wall)
        add(s, key + "_cli_busy", 100.0 * kv["cpu_us"] / 1e6 / kv["secs"])
        return kv, ns, ticks

    def big(s):
        if s == "terminator":
            fn = lambda: cl.tls(port, "big", ["-u", "/big.bin", "-b", str(BIG), "-n", str(a.big_n)])
        else:
            fn = lambda: cl.vpn(port, "get", ["-t", "127.0.0.1:%d" % sport, "-b", str(BIG),
                                              "-n", str(a.big_n)])
        kv, ns, ticks = measure(s, "big", fn)
        if kv["ok"] != a.big_n or kv["bytes"] != a.big_n * BIG:
            add(s, "errors", 1)
        add(s, "big_mbs", kv["mbs"])
        add(s, "big_cpu_ms_gb", ns / 1e6 / (kv["bytes"] / 1e9))
        add(s, "big_cpu_ms_gb_ticks", ticks * 10 / (kv["bytes"] / 1e9))
        return "%.0f MB/s cpu=%.0fms/GB" % (kv["mbs"], res[s]["big_cpu_ms_gb"][-1])

    def hs(s, key, conc):
        if s == "terminator":
            fn = lambda: cl.tls(port, "new", ["-3", "-u", "/1k.bin", "-b", str(SMALL), "-c", str(conc),
                                              "-d", str(a.secs)])
        else:
            fn = lambda: cl.vpn(port, "hs", ["-c", str(conc), "-d", str(a.secs)])
        kv, ns, ticks = measure(s, key, fn)
        if kv.get("resumed"):
            add(s, "errors", kv["resumed"])
        add(s, key + "_rate", kv["rate"])
        if kv["ok"]:
            add(s, key + "_cpu_us", ns / 1e3 / kv["ok"])
            add(s, key + "_cli_cpu_us", kv["cpu_us"] / kv["ok"])
            add(s, key + "_capacity", kv["ok"] / (ns / 1e9) if ns else None)
        return "%.0f/s cpu=%.1fus" % (kv["rate"], res[s][key + "_cpu_us"][-1])

    def idle(s, run):
        # A fresh server per measurement, warmed up (first sessions, first allocations), so
        # the delta holds only what the held connections cost.
        fresh = start_switchyard(T, "idle-%s-%d" % (s, run), cert, key, root, a.server_cpu, env)
        kind, path = ("tls", "/1k.bin") if s == "terminator" else ("vpn", MUX)
        try:
            w, _ = cl.idle(fresh.port, 20, kind, path)
            release(w)
            time.sleep(0.5)
            pids = fresh.pids()
            rss0, map0 = bench.rss_kib(pids), smaps_anon(pids[0])
            p, kv = cl.idle(fresh.port, a.idle, kind, path)
            try:
                time.sleep(1.0)
                rss1, map1 = bench.rss_kib(pids), smaps_anon(pids[0])
                ns0, _ = bench.cpu_sample(pids)
                time.sleep(a.idle_secs)
                ns1, _ = bench.cpu_sample(pids)
            finally:
                release(p)
        finally:
            bench.stop(fresh.proc)
        held = int(kv["held"])
        add(s, "errors", kv["err"])
        add(s, "idle_kib", (rss1 - rss0) / max(held, 1))
        add(s, "idle_rss_kib", [rss0, rss1])
        add(s, "idle_held", held)
        add(s, "idle_cpu_us_s", (ns1 - ns0) / 1e3 / a.idle_secs / max(held, 1))
        add(s, "idle_where", smaps_delta(map0, map1))
        return "%.2f KiB each (%d held)" % (res[s]["idle_kib"][-1], held)

    with open("/proc/loadavg") as f:
        load0 = f.read().split()[0]
    t_start = time.time()
    for run in range(a.runs):
        order = SIDES if run % 2 == 0 else SIDES[::-1]
        print("run %d/%d: %s" % (run + 1, a.runs, ", ".join(order)), flush=True)
        tests = [("big", lambda s: big(s)), ("hs", lambda s: hs(s, "hs", a.conc))]
        if a.wide:
            tests.append(("hsw", lambda s: hs(s, "hsw", a.wide)))
        tests.append(("idle", lambda s: idle(s, run)))
        for name, fn in tests:
            if name.rstrip("w") in skip or name in skip:
                continue
            for s in order:
                line = fn(s)
                print("  %-4s %-10s %s err=%d" % (name, s, line, res[s]["errors"][-1]), flush=True)
    elapsed = time.time() - t_start
    # The VPN layer's own cost per message, alone on the server's CPU (nothing else runs now).
    pin_s = [] if a.server_cpu is None else ["taskset", "-c", str(a.server_cpu)]
    seal_line = subprocess.run(pin_s + [seal, "-d", "0.5" if a.quick else "2"], capture_output=True,
                               text=True, check=True).stdout.strip()

    cpu_model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    with open("/proc/loadavg") as f:
        load1 = f.read().split()[0]
    meta = {
        "runs": a.runs, "secs": a.secs, "conc": a.conc, "wide": a.wide, "big_n": a.big_n,
        "idle": a.idle, "idle_secs": a.idle_secs, "server_cpu": a.server_cpu,
        "client_cpu": a.client_cpu, "quick": a.quick, "elapsed_s": round(elapsed, 1),
        "cpus": os.cpu_count(), "cpu": cpu_model, "kernel": os.uname().release,
        "load_at_start": load0, "load_at_end": load1, "seal": seal_line,
        "note": ("%g s per handshake test (%d and %d client threads), %d x 100 MiB per download "
                 "test, %d idle sessions; switchyard on CPU %s, clients and source on CPU %s; "
                 "%s, %d CPUs, kernel %s; load average %s at the start, %s at the end; wall time %.0f s"
                 % (a.secs, a.conc, a.wide, a.big_n, a.idle,
                    "any" if a.no_pin else a.server_cpu, "any" if a.no_pin else a.client_cpu,
                    cpu_model, os.cpu_count(), os.uname().release, load0, load1, elapsed)),
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
    return 3 if any(sum(res[s].get("errors", [])) for s in SIDES) else 0


if __name__ == "__main__":
    sys.exit(main())
