"""sy_icmp: one ICMP echo request from SRC to DST, exit 0 when the reply comes within WAIT
seconds, 1 otherwise (no `ping` binary needed; root: a raw socket). Used by vpn_tun.sh.

    python3 sy_icmp.py SRC DST [WAIT]
"""
import os
import select
import socket
import struct
import sys
import time


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def main():
    src, dst = sys.argv[1], sys.argv[2]
    wait = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.bind((src, 0))
    ident = os.getpid() & 0xFFFF
    payload = b"switchyard-tun-test"
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
    pkt = struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), ident, 1) + payload
    s.sendto(pkt, (dst, 0))
    end = time.monotonic() + wait
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], max(0.0, end - time.monotonic()))
        if not r:
            break
        data, peer = s.recvfrom(2048)
        ihl = (data[0] & 15) * 4
        t, _, _, rid, seq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if t == 0 and rid == ident and peer[0] == dst:
            print("reply from %s" % dst)
            return 0
    print("no reply from %s" % dst)
    return 1


sys.exit(main())
