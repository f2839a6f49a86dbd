#!/usr/bin/env python3
"""VPN benchmark against the peers a user would pick instead (issue 10 item 4).

What it is for: on this box, one worker / process each, side by side, interleaved (every run,
every test: every peer, the order rotated from run to run), medians of at least 3 runs:
  - ss:        shadowsocks-libev, ss-server + ss-local, chacha20-ietf-poly1305, curl through
               ss-local's SOCKS5 port (--socks5-hostname);
  - openvpn:   OpenVPN over TCP (TLS mode, AES-256-GCM or CHACHA20-POLY1305 data channel,
               DCO off so the data path stays in the process measured), server and client
               each in a network namespace this script creates (joined by a veth pair) and
               always deletes; curl in the client's namespace through the tunnel;
  - switchyard: switchyard (workers: 1, the VPN under /api/v1/ws on a TLS listener) and
               switchyard-client (one /mux session over TLS), curl through its SOCKS5 port.
The figures: throughput of a 1 GiB download (curl, from a source that serves bytes from memory),
server CPU per GB and client CPU per GB (the tunnel processes, not curl or the source), time to
first byte of a new flow on an established session (curl's time_starttransfer of a 1 KiB
object, new TCP connection to the proxy / through the tunnel each time), and server RSS per
1,000 idle sessions (ss: proxied connections that sent their first bytes and wait, opened
through ss-local; openvpn: connected clients, `dev null`, fewer than 1,000 by default and
scaled; switchyard: /mux sessions with no flow, opened by vpnload -m idle, the client role of
tests/bench/vpnload.c, since one switchyard-client holds one session).
Method as tests/bench/vpn.py and term.py: servers pinned with taskset to CPU 0, everything
else (clients, curl, the source) to CPU 1; CPU from /proc/PID/task/*/schedstat; raw.json kept
with --out; any short or wrong download, failed flow or missing idle session marks the run
INVALID (exit status 3).

What it must never do: touch anything outside its temp dir, 127.0.0.1 and the namespaces it
creates (deleted on every exit path it can see: normal end, exception, SIGINT, SIGTERM), leave
a process running (every child is stopped by pid), or run as a test (not part of ctest).
Python 3 stdlib only; process, CPU and RSS helpers from bench.py, switchyard's configuration
and keys from vpn.py. Needs root for the namespaces (the openvpn peer only).

Usage: tests/bench/vpn_peers.sh [--quick] [--only ss,openvpn] [--out DIR] (installs the
packages, builds switchyard) or python3 tests/bench/vpn_peers.py --help. Also its own
download source: vpn_peers.py --source ADDR:PORT (used internally, in a namespace too).
"""

import argparse
import atexit
import hashlib
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

GIB = 1 << 30
SMALL = 1024
CHECK = 64 << 20                # the sanity download, hashed
CHUNK = 1 << 20                 # the source's buffer: 1 MiB of seeded random bytes, repeated
SEED = 10
PEERS = ("ss", "openvpn", "switchyard")
LABEL = {"ss": "shadowsocks-libev", "openvpn": "OpenVPN (TCP)", "switchyard": "switchyard"}
SS_METHOD = "chacha20-ietf-poly1305"
VETH_NET = "10.201.%d.%d"       # the veth pair between the OpenVPN namespaces (/30)
OVPN_NET = "10.208.0.0"         # the tunnel's subnet (/16: room for every idle client)
OVPN_GW = "10.208.0.1"


# ---------------------------------------------------------------- the download source

def pattern():
    """The source's 1 MiB buffer: the same bytes in every process (seeded)."""
    return random.Random(SEED).randbytes(CHUNK)


def expected_sha256(n):
    """SHA-256 of the first n bytes the source sends (the buffer repeated)."""
    buf, h = pattern(), hashlib.sha256()
    while n > 0:
        k = min(n, CHUNK)
        h.update(buf[:k])
        n -= k
    return h.hexdigest()


def source_main(addr):
    """HTTP/1.1 source: GET /bytes/N -> 200 with N bytes from memory, then close (one thread
    per connection, so idle connections that never finish their request are simply held)."""
    host, _, port = addr.rpartition(":")
    buf = memoryview(pattern())
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(4096)
    threading.stack_size(256 << 10)

    def serve(c):
        try:
            req = b""
            while b"\r\n\r\n" not in req and len(req) < 8192:
                d = c.recv(4096)
                if not d:
                    return
                req += d
            parts = req.split(b" ", 2)
            n = None
            if len(parts) > 1 and parts[1].startswith(b"/bytes/"):
                try:
                    n = int(parts[1][7:].split(b"?")[0])
                except ValueError:
                    n = None
            if n is None or n < 0:
                c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                      b"Content-Length: %d\r\nConnection: close\r\n\r\n" % n)
            while n > 0:
                k = min(n, CHUNK)
                c.sendall(buf[:k])
                n -= k
        except OSError:
            pass
        finally:
            c.close()

    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--source":
    source_main(sys.argv[2])
    sys.exit(0)

import bench  # noqa: E402  (process, CPU, RSS and report helpers)
import vpn    # noqa: E402  (switchyard's VPN configuration and keys)


# ---------------------------------------------------------------- helpers

def wait_log(path, text, proc, secs):
    """Waits (bounded) until text appears in the log at path; dies with proc."""
    end = time.time() + secs
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit("vpn_peers: %s exited early (rc %s), see %s" % (proc.args, proc.returncode, path))
        try:
            with open(path, errors="replace") as f:
                if text in f.read():
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("vpn_peers: no %r in %s after %g s" % (text, path, secs))


def children_cpu():
    """User+sys CPU seconds of every reaped child so far (curl's cost)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------- peers

class Peer:
    """One side: started once, measured many times. proxy_args / url / netns say how curl
    reaches the source through it; server_pids / client_pids whose CPU and RSS count."""
    name = ""
    netns = None

    def __init__(self, ctx):
        self.ctx = ctx

    def curl_prefix(self):
        """What runs curl (a namespace and the client CPU)."""
        pre = []
        if self.netns:
            pre = ["ip", "netns", "exec", self.netns]
        return pre + self.ctx.pin_c

    def url(self, path):
        """The source's URL as this peer's client side sees it."""
        return "http://%s:%d%s" % (self.src_host, self.src_port, path)

    def proxy_args(self):
        """curl's proxy flags."""
        return []

    def stop(self):
        """Stops what this peer started (by pid)."""
        for p in reversed(getattr(self, "procs", [])):
            bench.stop(p)

    def restart(self):
        """A fresh server and client (for the idle test: only what the held sessions cost
        stays in the server's RSS, not the heap earlier downloads left behind)."""
        self.stop()
        self.launch()


class SS(Peer):
    """shadowsocks-libev: ss-server (CPU 0) and ss-local (SOCKS5, CPU 1) on 127.0.0.1."""
    name = "ss"

    def start(self):
        c = self.ctx
        self.src_host, self.src_port = "127.0.0.1", c.src_port
        self.pw = os.urandom(16).hex()
        self.d = os.path.join(c.T, "ss")
        os.makedirs(self.d, exist_ok=True)
        self.launch()

    def launch(self):
        """ss-server and ss-local, on new ports."""
        c, d, pw = self.ctx, self.d, self.pw
        self.sport, self.lport = bench.free_port(), bench.free_port()
        # -u off (TCP only), no ACL: every destination allowed, as for the other peers.
        srv = bench.spawn(c.pin_s + ["ss-server", "-s", "127.0.0.1", "-p", str(self.sport), "-k", pw,
                                     "-m", SS_METHOD, "-n", "65536", "-t", "600"],
                          os.path.join(d, "server.log"))
        bench.wait_port(self.sport, srv)
        cli = bench.spawn(c.pin_c + ["ss-local", "-s", "127.0.0.1", "-p", str(self.sport), "-b", "127.0.0.1",
                                     "-l", str(self.lport), "-k", pw, "-m", SS_METHOD, "-n", "65536",
                                     "-t", "600"],
                          os.path.join(d, "local.log"))
        bench.wait_port(self.lport, cli)
        self.procs = [srv, cli]
        self.server_pids = lambda: [srv.pid]
        self.client_pids = lambda: [cli.pid]

    def proxy_args(self):
        return ["--socks5-hostname", "127.0.0.1:%d" % self.lport]

    def idle_open(self, n):
        """n proxied connections through ss-local to the source, each sent a partial request
        (so ss-server has connected to the target), held. Returns (held, sockets)."""
        return socks_idle(self.lport, self.src_host, self.src_port, n)


class OpenVPN(Peer):
    """OpenVPN over TCP, TLS mode, in two namespaces joined by a veth pair. The server
    namespace also runs a copy of the source on the tunnel side (bound to 0.0.0.0, reached
    at the server's tunnel address)."""
    name = "openvpn"

    def start(self):
        c = self.ctx
        tag = "%d" % (os.getpid() % 100000)
        self.ns_s, self.ns_c = "sy-vp-s%s" % tag, "sy-vp-c%s" % tag
        c.netns += [self.ns_s, self.ns_c]
        self.netns = self.ns_c
        sub = os.getpid() % 250
        self.ip_s, self.ip_c = VETH_NET % (sub, 1), VETH_NET % (sub, 2)
        vs, vc = "syvs%s" % tag, "syvc%s" % tag
        c.links.append(vs)
        sh = lambda *a: subprocess.run(list(a), check=True, capture_output=True)
        sh("ip", "netns", "add", self.ns_s)
        sh("ip", "netns", "add", self.ns_c)
        sh("ip", "link", "add", vs, "type", "veth", "peer", "name", vc)
        sh("ip", "link", "set", vs, "netns", self.ns_s)
        sh("ip", "link", "set", vc, "netns", self.ns_c)
        for ns, dev, ip in ((self.ns_s, vs, self.ip_s), (self.ns_c, vc, self.ip_c)):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "addr", "add", ip + "/30", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
        d = self.d = os.path.join(c.T, "openvpn")
        os.makedirs(d, exist_ok=True)
        pki(d)
        self.port = 1194
        self.launch()

    def launch(self):
        """The server, the tunnel-side source and the client, on a new port."""
        c, d = self.ctx, self.d
        self.port += 1
        common = ("ca %s/ca.pem\ndh none\ndata-ciphers %s\ndisable-dco\n"
                  "tun-mtu 1500\nverb 3\nscript-security 1\n" % (d, c.a.ovpn_cipher))
        with open(os.path.join(d, "server.conf"), "w") as f:
            f.write(common + "dev sytun0\ndev-type tun\ntcp-nodelay\nproto tcp-server\nlocal %s\nport %d\nmode server\n"
                    "tls-server\ncert %s/server.pem\nkey %s/server.key\ntopology subnet\n"
                    "server %s 255.255.0.0\nduplicate-cn\nmax-clients 4096\n"
                    "keepalive 10 120\n" % (self.ip_s, self.port, d, d, OVPN_NET))
        for name, dev in (("client", "dev sytun1\ndev-type tun\n"), ("idle", "dev null\nifconfig-noexec\nroute-noexec\n")):
            with open(os.path.join(d, name + ".conf"), "w") as f:
                f.write(common + dev + "client\nproto tcp-client\nremote %s %d\nnobind\n"
                        "cert %s/client.pem\nkey %s/client.key\nremote-cert-tls server\n"
                        "verify-x509-name ovpn-server name\nresolv-retry 0\n"
                        "keepalive 10 120\n" % (self.ip_s, self.port, d, d))
        nsx = lambda ns: ["ip", "netns", "exec", ns]
        slog = os.path.join(d, "server.log")
        srv = bench.spawn(nsx(self.ns_s) + c.pin_s + ["openvpn", "--config", os.path.join(d, "server.conf")], slog)
        wait_log(slog, "Initialization Sequence Completed", srv, 30)
        self.src_host, self.src_port = OVPN_GW, c.src_port
        src = bench.spawn(nsx(self.ns_s) + c.pin_c + [sys.executable, os.path.abspath(__file__), "--source",
                                                      "0.0.0.0:%d" % c.src_port], os.path.join(d, "source.log"))
        clog = os.path.join(d, "client.log")
        cli = bench.spawn(nsx(self.ns_c) + c.pin_c + ["openvpn", "--config", os.path.join(d, "client.conf")], clog)
        wait_log(clog, "Initialization Sequence Completed", cli, 30)
        self.procs = [srv, src, cli]
        self.idle_procs = []
        self.server_pids = lambda: [srv.pid]
        self.client_pids = lambda: [cli.pid]
        self.srv_log = slog

    def idle_open(self, n):
        """n more OpenVPN clients (dev null: no device, no routes) connected and held."""
        c, d = self.ctx, self.d
        for i in range(n):
            log = os.path.join(d, "idle-%d.log" % len(self.idle_procs))
            self.idle_procs.append(bench.spawn(["ip", "netns", "exec", self.ns_c] + c.pin_c +
                                               ["openvpn", "--config", os.path.join(d, "idle.conf")], log))
        held = 0
        end = time.time() + 60 + n * 0.2
        pending = list(enumerate(self.idle_procs[-n:]))
        while pending and time.time() < end:
            rest = []
            for i, p in pending:
                log = os.path.join(d, "idle-%d.log" % (len(self.idle_procs) - n + i))
                with open(log, errors="replace") as f:
                    if "Initialization Sequence Completed" in f.read():
                        held += 1
                        continue
                if p.poll() is None:
                    rest.append((i, p))
            pending = rest
            time.sleep(0.1)
        return held, None

    def idle_close(self, socks):
        """Stops the idle clients."""
        for p in self.idle_procs:
            bench.stop(p)
        self.idle_procs = []

    def stop(self):
        if getattr(self, "idle_procs", None):
            self.idle_close(None)
        Peer.stop(self)
        # The source's port must be free again for the next launch in this namespace.
        time.sleep(0.2)


class Switchyard(Peer):
    """switchyard (workers: 1, Release, the VPN on a TLS listener, CPU 0) and
    switchyard-client (SOCKS5 on 127.0.0.1, one /mux session over TLS, CPU 1)."""
    name = "switchyard"

    def start(self):
        c = self.ctx
        self.src_host, self.src_port = "127.0.0.1", c.src_port
        vpn.keys(c.T, c.env["SY_BIN"])
        self.root = os.path.join(c.T, "site")
        os.makedirs(self.root, exist_ok=True)
        self.n = 0
        self.launch()

    def launch(self):
        """switchyard and switchyard-client, on new ports, in a new dir."""
        c = self.ctx
        self.n += 1
        name = "sy-%d" % self.n
        self.sy = vpn.start_switchyard(c.T, name, c.cert, c.key, self.root, c.a.server_cpu, c.env)
        self.lport = bench.free_port()
        d = os.path.join(c.T, name)
        cli = bench.spawn(c.pin_c + [c.a.client, "--server", "wss://%s:%d/api/v1/ws" % (bench.SNI, self.sy.port),
                                     "--connect", "127.0.0.1:%d" % self.sy.port, "--cafile", c.cert,
                                     "--identity", os.path.join(c.T, "client.key"),
                                     "--bundle", os.path.join(c.T, "bundle.json"),
                                     "--known-hosts", os.path.join(d, "known_hosts.json"),
                                     "--socks", "127.0.0.1:%d" % self.lport],
                          os.path.join(d, "client.log"))
        bench.wait_port(self.lport, cli)
        self.procs = [self.sy.proc, cli]
        self.server_pids = self.sy.pids
        self.client_pids = lambda: [cli.pid]

    def proxy_args(self):
        return ["--socks5-hostname", "127.0.0.1:%d" % self.lport]

    def idle_open(self, n):
        """n idle /mux sessions (handshake done, no flow) by vpnload -m idle."""
        c = self.ctx
        if not c.vl:
            print("vpn_peers: no vpnload (give --proto-lib): switchyard idle sessions not measured")
            return 0, None
        cl = vpn.Clients(c.T, None, c.vl, c.a.client_cpu)
        p, kv = cl.idle(self.sy.port, n, "vpn", vpn.MUX)
        return int(kv["held"]) if not kv.get("err") else 0, p

    def idle_close(self, p):
        """Lets vpnload close its sessions."""
        if p is not None:
            vpn.release(p)


def pki(d):
    """A CA (ECDSA P-256) and a server and a client certificate it signs, for OpenVPN."""
    def ossl(*a):
        subprocess.run(["openssl"] + list(a), check=True, capture_output=True)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-keyout", d + "/ca.key", "-out", d + "/ca.pem", "-subj", "/CN=sy-bench-ca")
    for name, ext in (("server", "serverAuth"), ("client", "clientAuth")):
        ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "%s/%s.key" % (d, name), "-out", "%s/%s.csr" % (d, name), "-subj", "/CN=ovpn-" + name)
        with open("%s/%s.ext" % (d, name), "w") as f:
            f.write("keyUsage=digitalSignature,keyAgreement\nextendedKeyUsage=%s\n" % ext)
        ossl("x509", "-req", "-in", "%s/%s.csr" % (d, name), "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key",
             "-CAcreateserial", "-days", "2", "-out", "%s/%s.pem" % (d, name), "-extfile", "%s/%s.ext" % (d, name))


def socks_idle(lport, host, port, n):
    """n SOCKS5 CONNECTs through 127.0.0.1:lport to host:port, each then sends half a request
    line and stays open. Returns (connections whose CONNECT succeeded, their sockets)."""
    socks, held = [], 0
    req = b"\x05\x01\x00\x01" + socket.inet_aton(host) + port.to_bytes(2, "big")
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", lport), 5)
        socks.append(s)
        try:
            s.sendall(b"\x05\x01\x00")
            if s.recv(2) != b"\x05\x00":
                continue
            s.sendall(req)
            r = b""
            while len(r) < 10:
                d = s.recv(10 - len(r))
                if not d:
                    break
                r += d
            if r[:2] != b"\x05\x00":
                continue
            s.sendall(b"GET /bytes/1 HTTP/1.1\r\n")
            held += 1
        except OSError:
            pass
    return held, socks


# ---------------------------------------------------------------- context and tests

class Ctx:
    """What every peer shares: args, temp dir, pins, the source, namespaces to delete."""

    def __init__(self, a, T, env, cert, key, vl):
        self.a, self.T, self.env, self.cert, self.key, self.vl = a, T, env, cert, key, vl
        self.pin_s = [] if a.server_cpu is None else ["taskset", "-c", str(a.server_cpu)]
        self.pin_c = [] if a.client_cpu is None else ["taskset", "-c", str(a.client_cpu)]
        self.netns = []                 # namespaces to delete at exit
        self.links = []                 # veth links to delete at exit (if never moved)
        self.src_port = bench.free_port()


def curl(peer, path, out="/dev/null", timeout=900):
    """One curl through peer; returns a dict from its -w line (+ curl's own CPU seconds)."""
    w = "code=%{http_code} size=%{size_download} total=%{time_total} ttfb=%{time_starttransfer}\\n"
    cmd = peer.curl_prefix() + ["curl", "-sS", "--max-time", str(timeout), "-o", out, "-w", w] + \
        peer.proxy_args() + [peer.url(path)]
    c0 = children_cpu()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30)
    rows = []
    for line in p.stdout.splitlines():
        kv = dict(t.partition("=")[::2] for t in line.split())
        if "code" in kv:
            rows.append({"code": int(kv["code"]), "size": int(float(kv["size"])),
                         "total": float(kv["total"]), "ttfb": float(kv["ttfb"])})
    return rows, p.returncode, p.stderr.strip(), children_cpu() - c0


def sanity(peer):
    """A CHECK-byte download through peer, hashed: the path works and the bytes are right."""
    cmd = peer.curl_prefix() + ["curl", "-sS", "--max-time", "120"] + peer.proxy_args() + \
        [peer.url("/bytes/%d" % CHECK)]
    p = subprocess.run(cmd, capture_output=True, timeout=180)
    got = hashlib.sha256(p.stdout).hexdigest()
    if p.returncode != 0 or len(p.stdout) != CHECK or got != expected_sha256(CHECK):
        raise SystemExit("vpn_peers: %s: the sanity download is wrong (rc %d, %d bytes, sha256 %s): %s"
                         % (peer.name, p.returncode, len(p.stdout), got, p.stderr.decode(errors="replace")))


METRICS = [
    # key, label, digits
    ("gib_mbs", "1 GiB download (MB/s)", 0),
    ("srv_ms_gb", "server CPU per GB (ms)", 0),
    ("cli_ms_gb", "client CPU per GB (ms; ss-local / openvpn / switchyard-client)", 0),
    ("srv_busy", "server CPU use during the download (%% of its core)", 0),
    ("cli_busy", "client CPU use during the download (%% of its core)", 0),
    ("curl_ms_gb", "curl's own CPU per GB (ms)", 0),
    ("ttfb_ms", "time to first byte, new flow on an established session (ms, median of %(flows)d)", 3),
    ("ttfb_p90_ms", "the same, 90th percentile (ms)", 3),
    ("idle_mib_1000", "server RSS per 1,000 idle sessions (MiB)", 1),
    ("idle_held", "idle sessions held (measured)", 0),
]


def report(res, meta, peers, missing):
    """Markdown: medians per peer, ratios of switchyard to each peer, the goals, every run."""
    L = ["Medians of %d interleaved runs; %s" % (meta["runs"], meta["note"]), ""]
    cols = list(PEERS)
    L.append("| metric | " + " | ".join(LABEL[p] for p in cols) + " |")
    L.append("|---" * (len(cols) + 1) + "|")
    med = {}
    for key, label, nd in METRICS:
        row = []
        for p in cols:
            if p not in peers:
                row.append("not run")
                continue
            med[(p, key)] = bench.med(res[p].get(key, []))
            row.append(bench.fmt(med[(p, key)], nd))
        L.append("| %s | %s |" % (label % meta, " | ".join(row)))
    L.append("")
    for p in cols:
        if p not in peers:
            L.append("Not run: %s: %s." % (LABEL[p], missing.get(p, "not asked for (--only)")))
    L.append("")
    L.append("| goal (issue 10 item 4) | value | met? |")
    L.append("|---|---|---|")
    s, o, y = (med.get((p, "srv_ms_gb")) for p in PEERS)
    if y is None:
        L.append("| server CPU per GB: switchyard ≤ shadowsocks-libev | - | not measured |")
        L.append("| server CPU per GB: switchyard well ahead of OpenVPN | - | not measured |")
    else:
        L.append("| server CPU per GB: switchyard ≤ shadowsocks-libev | %s | %s |" % (
            "-" if s is None else "%.2f× ss" % (y / s), "-" if s is None else ("yes" if y <= s else "NO")))
        L.append("| server CPU per GB: switchyard well ahead of OpenVPN | %s | see ratio |" % (
            "-" if o is None else "%.2f× OpenVPN" % (y / o)))
    L.append("")
    L.append("Every run's values (in run order):")
    L.append("")
    for key, label, nd in METRICS:
        for p in peers:
            vals = res[p].get(key, [])
            if vals:
                L.append("- %s, %s: %s" % (label % meta, p, ", ".join(bench.fmt(v, nd) for v in vals)))
    sysk = sorted({k for p in peers for k in res[p] if "_sys_" in k})
    if sysk:
        L.append("")
        L.append("System calls per GB of the download (perf stat; every run's value):")
        L.append("")
        for k in sysk:
            for p in peers:
                if k in res[p]:
                    L.append("- %s, %s: %s" % (k, p, ", ".join("%.0f" % v for v in res[p][k])))
    L.append("")
    errs = {p: int(sum(res[p].get("errors", []))) for p in peers}
    L.append("Errors per peer (a short or wrong download, a failed flow, a missing idle session; "
             "any makes the run invalid): " + ", ".join("%s %d" % kv for kv in errs.items()))
    for p in peers:
        for e in res[p].get("why", []):
            L.append("- %s: %s" % (p, e))
    if any(errs.values()):
        L.append("")
        L.append("**INVALID RUN: errors above.**")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--switchyard", default=os.path.join(bench.TOP, "build-vpbench", "switchyard"),
                    help="the daemon (Release; tests/bench/vpn_peers.sh builds it)")
    ap.add_argument("--client", default=None,
                    help="switchyard-client (default: beside --switchyard, or client/ under its dir)")
    ap.add_argument("--proto-lib", default=None,
                    help="libsy_proto.a (vpnload.c links it; for switchyard's idle sessions)")
    ap.add_argument("--only", default=",".join(PEERS), help="comma list of peers: ss,openvpn,switchyard")
    ap.add_argument("--runs", type=int, default=3, help="interleaved runs (at least 3 for medians)")
    ap.add_argument("--bytes", type=int, default=GIB, help="bytes per download (1 GiB)")
    ap.add_argument("--flows", type=int, default=50, help="new flows per time-to-first-byte test")
    ap.add_argument("--idle", type=int, default=1000, help="idle sessions (ss, switchyard)")
    ap.add_argument("--ovpn-idle", type=int, default=100,
                    help="idle OpenVPN clients (one process each; the figure is scaled to 1,000)")
    ap.add_argument("--ovpn-cipher", default="AES-256-GCM", choices=("AES-256-GCM", "CHACHA20-POLY1305"))
    ap.add_argument("--server-cpu", type=int, default=0, help="CPU the servers are pinned to")
    ap.add_argument("--client-cpu", type=int, default=1, help="CPU of the clients, curl and the source")
    ap.add_argument("--no-pin", action="store_true", help="no taskset (comparison only)")
    ap.add_argument("--skip", default="", help="comma list of tests to skip: big,ttfb,idle")
    ap.add_argument("--quick", action="store_true",
                    help="trial: 128 MiB downloads, 10 flows, 100 idle sessions, 10 OpenVPN clients")
    ap.add_argument("--syscalls", action="store_true",
                    help="count the server's and the client's system calls per GB during the 1 GiB "
                         "download (perf stat -e 'syscalls:sys_enter_*' attached to their pids; the "
                         "tracing adds CPU, so runs with it rank levers by counts, not by CPU)")
    ap.add_argument("--perf-events", default=None,
                    help="like --syscalls with these perf events instead, e.g. "
                         "instructions:u,instructions:k,cycles:u,cycles:k (per GB; fewer instructions "
                         "rank a lever when the shared machine makes CPU times noisy)")
    ap.add_argument("--out", default=None, help="write report.md and raw.json here (dir)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    a = ap.parse_args()
    if a.quick:
        a.bytes, a.flows, a.idle, a.ovpn_idle = 128 << 20, 10, 100, 10
    if a.no_pin:
        a.server_cpu = a.client_cpu = None
    skip = set(x.strip() for x in a.skip.split(",") if x.strip())
    want = [p.strip() for p in a.only.split(",") if p.strip()]
    for p in want:
        if p not in PEERS:
            raise SystemExit("vpn_peers: unknown peer %r (ss, openvpn, switchyard)" % p)
    explicit = a.only != ",".join(PEERS)
    missing = {}

    # What each peer needs; a peer that cannot run is said so, never silently dropped.
    def need(p, ok, why):
        if not ok:
            if explicit:
                raise SystemExit("vpn_peers: %s cannot run: %s" % (p, why))
            print("vpn_peers: %s NOT RUN: %s" % (p, why), flush=True)
            missing[p] = why
    if a.client is None:
        d = os.path.dirname(os.path.abspath(a.switchyard))
        cands = [os.path.join(d, "switchyard-client"), os.path.join(d, "client", "switchyard-client")]
        a.client = next((c for c in cands if os.path.exists(c)), cands[0])
    if "switchyard" in want:
        need("switchyard", os.path.exists(a.switchyard), "no %s (tests/bench/vpn_peers.sh builds it)" % a.switchyard)
        if "switchyard" not in missing:
            need("switchyard", os.path.exists(a.client),
                 "switchyard-client is not built yet (no %s; client/ has not landed or was not built)" % a.client)
    if "ss" in want:
        need("ss", all(bench_which(x) for x in ("ss-server", "ss-local")),
             "no ss-server / ss-local (Debian package shadowsocks-libev)")
    if "openvpn" in want:
        need("openvpn", bench_which("openvpn"), "no openvpn (Debian package openvpn)")
        if "openvpn" not in missing:
            need("openvpn", os.geteuid() == 0 and os.path.exists("/dev/net/tun"),
                 "needs root and /dev/net/tun (network namespaces, TUN devices)")
    peers = [p for p in want if p not in missing]
    if not peers:
        raise SystemExit("vpn_peers: no peer can run")

    sy_bin = a.switchyard if os.path.exists(a.switchyard) else "/bin/true"
    T, env, _tl, cert, key, hard = bench.prepare(a.keep, sy_bin, "sy-vpeers.", "vpn_peers")
    if 3 * a.idle + 200 > hard:
        raise SystemExit("vpn_peers: fd hard limit %d is too small for %d idle sessions" % (hard, a.idle))
    vl = None
    if "switchyard" in peers and a.proto_lib and os.path.exists(a.proto_lib):
        vl = os.path.join(T, "vpnload")
        subprocess.run(["cc", "-O2", "-std=c11", "-pthread", "-I", bench.TOP, os.path.join(HERE, "vpnload.c"),
                        os.path.abspath(a.proto_lib), "-o", vl, "-lssl", "-lcrypto", "-lsodium"], check=True)
    ctx = Ctx(a, T, env, cert, key, vl)
    # Stop the peers, then delete the namespaces and links: registered after prepare()'s
    # stop_all and rmtree, so (atexit is LIFO) it runs before them, on every exit path
    # prepare() set up (normal end, SystemExit, SIGINT, SIGTERM).
    started = []

    def cleanup():
        for pe in reversed(started):
            try:
                pe.stop()
            except Exception as e:  # keep going: the namespaces must still go
                print("vpn_peers: stopping %s: %s" % (pe.name, e))
        bench.stop_all()
        for ns in ctx.netns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for link in ctx.links:
            subprocess.run(["ip", "link", "del", link], capture_output=True)
    atexit.register(cleanup)

    # The source for the peers on 127.0.0.1 (OpenVPN starts its own in its namespace).
    src = bench.spawn(ctx.pin_c + [sys.executable, os.path.abspath(__file__), "--source",
                                   "127.0.0.1:%d" % ctx.src_port], os.path.join(T, "source.log"))
    bench.wait_port(ctx.src_port, src)

    objs = {}
    for p in peers:
        o = {"ss": SS, "openvpn": OpenVPN, "switchyard": Switchyard}[p](ctx)
        started.append(o)
        o.start()
        sanity(o)
        objs[p] = o
        print("vpn_peers: %s up, a %d MiB download checked (SHA-256)" % (p, CHECK >> 20), flush=True)

    res = {p: {} for p in peers}

    def add(p, k, v):
        res[p].setdefault(k, []).append(v)

    def bad(p, why):
        add(p, "errors", 1)
        add(p, "why", why)

    def big(p):
        o = objs[p]
        sp, cp = o.server_pids(), o.client_pids()
        counting = []
        if a.syscalls or a.perf_events:
            for side, pids in (("srv", sp), ("cli", cp)):
                path = os.path.join(T, "perf-%s-%s.txt" % (p, side))
                counting.append((perf_attach(pids, path, a.perf_events or "syscalls:sys_enter_*"), path))
        (s0, st0), (c0, ct0) = bench.cpu_sample(sp), bench.cpu_sample(cp)
        rows, rc, err, curl_cpu = curl(o, "/bytes/%d" % a.bytes)
        (s1, st1), (c1, ct1) = bench.cpu_sample(sp), bench.cpu_sample(cp)
        for side, (pp, path) in zip(("srv", "cli"), counting):
            for name, n in perf_detach(pp, path).items():
                add(p, "%s_sys_%s" % (side, name), n / (a.bytes / 1e9))
        add(p, "errors", 0)
        if rc != 0 or len(rows) != 1 or rows[0]["code"] != 200 or rows[0]["size"] != a.bytes:
            bad(p, "download: rc %d, %s, %s" % (rc, rows, err))
            return "FAILED"
        r = rows[0]
        gb = a.bytes / 1e9
        add(p, "gib_mbs", a.bytes / 1e6 / r["total"])
        add(p, "srv_ms_gb", (s1 - s0) / 1e6 / gb)
        add(p, "cli_ms_gb", (c1 - c0) / 1e6 / gb)
        add(p, "srv_busy", 100.0 * (s1 - s0) / 1e9 / r["total"])
        add(p, "cli_busy", 100.0 * (c1 - c0) / 1e9 / r["total"])
        add(p, "curl_ms_gb", curl_cpu * 1e3 / gb)
        # The same from /proc/PID/stat ticks (10 ms): unlike schedstat, it keeps the time of
        # threads that have exited; kept in raw.json to check the two agree.
        add(p, "srv_ms_gb_ticks", (st1 - st0) * 10 / gb)
        add(p, "cli_ms_gb_ticks", (ct1 - ct0) * 10 / gb)
        return "%.0f MB/s server %.0f ms/GB client %.0f ms/GB" % (
            res[p]["gib_mbs"][-1], res[p]["srv_ms_gb"][-1], res[p]["cli_ms_gb"][-1])

    def ttfb(p):
        o = objs[p]
        urls = [o.url("/bytes/%d?f=%d" % (SMALL, i)) for i in range(a.flows)]
        # One curl, many URLs: each reply closes its connection, so each URL is a new flow
        # (a new SOCKS5 CONNECT / a new TCP connection through the tunnel).
        w = "code=%{http_code} size=%{size_download} total=%{time_total} ttfb=%{time_starttransfer}\\n"
        cmd = o.curl_prefix() + ["curl", "-sS", "--max-time", "60", "-w", w] + o.proxy_args()
        for u in urls:
            cmd += ["-o", "/dev/null", u]
        pr = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        rows = []
        for line in pr.stdout.splitlines():
            kv = dict(t.partition("=")[::2] for t in line.split())
            if "code" in kv:
                rows.append((int(kv["code"]), int(float(kv["size"])), float(kv["ttfb"])))
        ok = [t for c, n, t in rows if c == 200 and n == SMALL]
        add(p, "errors", 0)
        if pr.returncode != 0 or len(ok) != a.flows:
            bad(p, "ttfb: rc %d, %d of %d flows right: %s" % (pr.returncode, len(ok), a.flows, pr.stderr.strip()[:200]))
            if not ok:
                return "FAILED"
        ok.sort()
        add(p, "ttfb_ms", 1e3 * bench.med(ok))
        add(p, "ttfb_p90_ms", 1e3 * ok[min(len(ok) - 1, int(0.9 * len(ok)))])
        return "median %.3f ms p90 %.3f ms" % (res[p]["ttfb_ms"][-1], res[p]["ttfb_p90_ms"][-1])

    def close_idle(o, h):
        """Closes what idle_open held."""
        if isinstance(o, SS):
            for s in h:
                s.close()
        else:
            o.idle_close(h)

    def idle(p):
        # A fresh server (and client) per measurement, warmed up by a few sessions opened and
        # closed, so the RSS delta holds only what the held sessions cost; it stays up for the
        # tests of the next run.
        o = objs[p]
        n = a.ovpn_idle if p == "openvpn" else a.idle
        o.restart()
        _, h = o.idle_open(5 if p == "openvpn" else 20)
        close_idle(o, h)
        sp = o.server_pids()
        time.sleep(1.0)
        rss0 = bench.rss_kib(sp)
        held, h = o.idle_open(n)
        try:
            time.sleep(1.0)
            rss1 = bench.rss_kib(sp)
        finally:
            close_idle(o, h)
        add(p, "errors", 0)
        if held != n:
            bad(p, "idle: %d of %d sessions held" % (held, n))
        add(p, "idle_rss_kib", [rss0, rss1])
        add(p, "idle_held", held)
        if held:
            add(p, "idle_mib_1000", (rss1 - rss0) / held * 1000 / 1024)
        time.sleep(1.0)  # let the server drop them before the next peer's measurement
        return "%d held, %.0f -> %.0f KiB" % (held, rss0, rss1)

    with open("/proc/loadavg") as f:
        load0 = f.read().split()[0]
    t_start = time.time()
    tests = [("big", big), ("ttfb", ttfb), ("idle", idle)]
    for run in range(a.runs):
        k = run % len(peers)
        order = peers[k:] + peers[:k]
        print("run %d/%d: %s" % (run + 1, a.runs, ", ".join(order)), flush=True)
        for name, fn in tests:
            if name in skip:
                continue
            for p in order:
                line = fn(p)
                print("  %-4s %-10s %s" % (name, p, line), flush=True)
    elapsed = time.time() - t_start

    cpu_model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    with open("/proc/loadavg") as f:
        load1 = f.read().split()[0]
    vers = {}
    for p, cmd in (("ss", ["ss-server", "-h"]), ("openvpn", ["openvpn", "--version"])):
        if p in peers:
            out = subprocess.run(cmd, capture_output=True, text=True)
            vers[p] = next((l.strip() for l in (out.stdout + out.stderr).splitlines() if l.strip()), "?")
    meta = {
        "runs": a.runs, "bytes": a.bytes, "flows": a.flows, "idle": a.idle, "ovpn_idle": a.ovpn_idle,
        "ovpn_cipher": a.ovpn_cipher, "ss_method": SS_METHOD, "server_cpu": a.server_cpu,
        "client_cpu": a.client_cpu, "quick": a.quick, "elapsed_s": round(elapsed, 1), "peers": peers,
        "not_run": missing, "versions": vers, "cpus": os.cpu_count(), "cpu": cpu_model,
        "kernel": os.uname().release, "load_at_start": load0, "load_at_end": load1,
        "note": ("%d MiB per download, %d new flows per TTFB test, %d idle sessions (OpenVPN: %d "
                 "clients, scaled to 1,000); servers on CPU %s, clients, curl and the source on CPU %s; "
                 "ss %s, OpenVPN %s; %s, %d CPUs, kernel %s; load average %s at the start, %s at the "
                 "end; wall time %.0f s"
                 % (a.bytes >> 20, a.flows, a.idle, a.ovpn_idle,
                    "any" if a.no_pin else a.server_cpu, "any" if a.no_pin else a.client_cpu,
                    SS_METHOD, a.ovpn_cipher, cpu_model, os.cpu_count(), os.uname().release,
                    load0, load1, elapsed)),
    }
    text = report(res, meta, peers, missing)
    print()
    print(text)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "report.md"), "w") as f:
            f.write(text)
        with open(os.path.join(a.out, "raw.json"), "w") as f:
            json.dump({"meta": meta, "results": res}, f, indent=1)
    return 3 if any(sum(res[p].get("errors", [])) for p in peers) else 0


def perf_attach(pids, path, events):
    """perf stat counting events (default: every system call entry) of pids (all their
    threads) into path."""
    p = subprocess.Popen(["perf", "stat", "-x", ",", "-o", path, "-e", events,
                          "-p", ",".join(str(x) for x in pids)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # perf attaches to every tracepoint before the download starts
    return p


def perf_detach(p, path):
    """Stops perf (SIGINT, by pid) and returns {event: count} of the non-zero ones; system
    calls by name, with their sum as "all"."""
    p.send_signal(2)
    p.wait(timeout=60)
    counts, calls = {}, 0
    with open(path) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) > 2 and parts[0].isdigit() and int(parts[0]) > 0:
                name, n = parts[2], int(parts[0])
                if name.startswith("syscalls:sys_enter_"):
                    counts[name[len("syscalls:sys_enter_"):]] = n
                    calls += n
                else:
                    counts[name.replace(":", "_")] = n
    if calls:
        counts["all"] = calls
    return counts


def bench_which(name):
    """Whether name is an executable on PATH."""
    return shutil.which(name) is not None


if __name__ == "__main__":
    sys.exit(main())
