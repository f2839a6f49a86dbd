#!/usr/bin/env python3
"""The service manager's side of sd_notify(3) for tests/integration/sdnotify.sh.

Binds an AF_UNIX datagram socket at ADDR (a path, or @name in the abstract namespace),
prints "listening" once bound, then writes one line per datagram received to stdout:
    <CLOCK_MONOTONIC usec at receipt> <message, its newlines written as '|'>
On the first message that holds READY=1 it connects at once to every --probe PORT on
127.0.0.1 and prints "PROBE <port> ok" or "PROBE <port> <error>": readiness must mean that
every listener already accepts. Exits after --max-seconds (bounded) or on SIGTERM.
"""
import argparse
import signal
import socket
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("addr")
    p.add_argument("--probe", type=int, action="append", default=[])
    p.add_argument("--max-seconds", type=float, default=120.0)
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + a.addr[1:] if a.addr.startswith("@") else a.addr)
    print("listening", flush=True)
    end = time.monotonic() + a.max_seconds
    ready_seen = False
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            msg = s.recv(4096)
        except socket.timeout:
            break
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        text = msg.decode("utf-8", "replace")
        print("%d %s" % (now, text.replace("\n", "|")), flush=True)
        if not ready_seen and "READY=1" in text.split("\n"):
            ready_seen = True
            for port in a.probe:
                try:
                    c = socket.create_connection(("127.0.0.1", port), 1.0)
                    c.close()
                    print("PROBE %d ok" % port, flush=True)
                except OSError as e:
                    print("PROBE %d %s" % (port, e), flush=True)


if __name__ == "__main__":
    main()
