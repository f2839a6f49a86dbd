#!/usr/bin/env python3
"""RSS per idle TLS keep-alive connection of a running server (not part of the suite).

Usage: term_idle.py PORT N PID
Opens N TLS connections to 127.0.0.1:PORT (SNI bench.test, certificate not checked), sends
one "GET /1k.bin" on each and reads the 1 KiB answer, keeps them all open and idle, then
prints (RSS of PID now - RSS before) / N in KiB. Run it against switchyard (a terminating
route, site with a 1k.bin) and against nginx serving the same site, one after the other.
"""
import socket
import ssl
import sys
import time


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS for pid %d" % pid)


def main():
    port, n, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    base = rss(pid)
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        t = ctx.wrap_socket(s, server_hostname="bench.test")
        t.sendall(b"GET /1k.bin HTTP/1.1\r\nHost: bench.test\r\n\r\n")
        got = b""
        while True:
            b = t.recv(65536)
            if not b:
                raise SystemExit("server closed a connection")
            got += b
            head, sep, body = got.partition(b"\r\n\r\n")
            if sep and len(body) >= 1024:
                break
        conns.append(t)
    time.sleep(0.5)
    print("idle KiB per connection: %.2f (%d connections)" % ((rss(pid) - base) / n, n))


if __name__ == "__main__":
    main()
