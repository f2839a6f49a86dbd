#!/usr/bin/env python3
"""Prints the fields of a captured ClientHello (SNI, ALPN, versions, key_share groups,
ECH, record/legacy versions, hello_end) with a deliberately simple, independent decoder,
to cross-check what README.md and expected-captured.txt state for each client. It is a
reading aid for well-formed hellos only: it validates nothing and must never be used to
generate expectations for malformed input.
Usage: decode.py FILE.bin...
"""
import struct
import sys


def decode(data):
    hs, i, end = b"", 0, None
    while i + 5 <= len(data) and data[i] == 22:
        n = struct.unpack(">H", data[i + 3:i + 5])[0]
        hs += data[i + 5:i + 5 + n]
        i += 5 + n
        if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
            mlen = 4 + int.from_bytes(hs[1:4], "big")
            end = i - (len(hs) - mlen)
            break
    f = {"record_version": "%04x" % struct.unpack(">H", data[1:3])[0], "hello_end": end}
    b = hs[4:4 + int.from_bytes(hs[1:4], "big")]
    f["legacy_version"] = "%04x" % struct.unpack(">H", b[0:2])[0]
    p = 34
    p += 1 + b[p]
    p += 2 + struct.unpack(">H", b[p:p + 2])[0]
    p += 1 + b[p]
    f.update(sni="-", alpn="-", versions="-", groups="-", ech=0, exts=[])
    if p == len(b):
        return f
    elen = struct.unpack(">H", b[p:p + 2])[0]
    p += 2
    stop = p + elen
    while p < stop:
        t, l = struct.unpack(">HH", b[p:p + 4])
        d = b[p + 4:p + 4 + l]
        p += 4 + l
        f["exts"].append("%04x" % t)
        if t == 0:
            q = 2
            while q < len(d):
                nt, nl = d[q], struct.unpack(">H", d[q + 1:q + 3])[0]
                if nt == 0:
                    f["sni"] = d[q + 3:q + 3 + nl].decode()
                q += 3 + nl
        elif t == 16:
            names, q = [], 2
            while q < len(d):
                names.append(d[q + 1:q + 1 + d[q]].decode())
                q += 1 + d[q]
            f["alpn"] = ",".join(names)
        elif t == 43:
            f["versions"] = ",".join("%04x" % struct.unpack(">H", d[q:q + 2])[0]
                                     for q in range(1, 1 + d[0], 2))
        elif t == 51:
            gs, q = [], 2
            while q < len(d):
                g, kl = struct.unpack(">HH", d[q:q + 4])
                gs.append("%04x" % g)
                q += 4 + kl
            f["groups"] = ",".join(gs) or "-"
        elif t == 0xFE0D:
            f["ech"] = 1
    return f


for path in sys.argv[1:]:
    with open(path, "rb") as fh:
        print(path.rsplit("/", 1)[-1], decode(fh.read()))
