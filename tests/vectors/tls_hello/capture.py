#!/usr/bin/env python3
"""Captures the first bytes a real TLS client sends (its ClientHello) into a file.

Usage: capture.py PORT OUT.bin  -- listens on 127.0.0.1:PORT, accepts ONE connection,
reads until the ClientHello message is complete (handshake records reassembled) or the
client is idle for 1 s, writes what it read to OUT.bin and closes. It answers nothing, so
the client fails its handshake; that is expected. It must never listen beyond 127.0.0.1,
never accept a second connection, and never run longer than its timeout (10 s).
"""
import socket
import struct
import sys
import time


def hello_complete(data):
    """True once the handshake records in data hold a whole handshake message."""
    hs = b""
    i = 0
    while i + 5 <= len(data):
        if data[i] != 22:
            return True  # not a handshake record: nothing more to wait for
        n = struct.unpack(">H", data[i + 3:i + 5])[0]
        hs += data[i + 5:i + 5 + n]
        i += 5 + n
        if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
            return True
    return False


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1)
    ls.settimeout(10)
    print("listening", flush=True)
    c, _ = ls.accept()
    ls.close()
    data = b""
    deadline = time.time() + 10
    c.settimeout(1.0)
    while not hello_complete(data) and time.time() < deadline:
        try:
            b = c.recv(65536)
        except socket.timeout:
            break
        if not b:
            break
        data += b
    c.close()
    with open(out, "wb") as f:
        f.write(data)
    print("captured %d bytes to %s" % (len(data), out), flush=True)


if __name__ == "__main__":
    main()
