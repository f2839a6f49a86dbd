#!/usr/bin/env python3
"""Writes the synthetic ClientHello vectors (syn_*.bin) and expected-synthetic.txt.

Each vector is built from an explicit description (SNI, ALPN names, versions, key-share
groups, ECH, framing), and its expected line is derived from that description, never from
what the C parser says. It must never overwrite the captured vectors (cap_*.bin) or their
expectation file, expected-captured.txt. Run it from anywhere; output goes beside it.

Expected line format (one per vector, space separated key=value, "-" = none):
  file verdict malformed max sni alpn versions groups ech record_version legacy_version
  hello_end at
where alpn/versions/groups list everything sent (the test derives what is kept), hello_end
is the stream offset just past the ClientHello (DONE only) and at is the number of bytes
after which a byte-at-a-time feed must have its verdict (omitted where not stated).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

SNI_MAX = 255
ALPN_MAX = 256
VERSIONS_MAX = 16
GROUPS_MAX = 16
EXT_MAX = 32
RECORD_MAX = 16384
MAX_DEFAULT = 16384


def u8(v):
    return bytes([v])


def u16(v):
    return struct.pack(">H", v)


def u24(v):
    return struct.pack(">I", v)[1:]


def vec8(b):
    assert len(b) < 256
    return u8(len(b)) + b


def vec16(b):
    assert len(b) < 65536
    return u16(len(b)) + b


def ext(t, data):
    return u16(t) + vec16(data)


def sni_ext(name):
    return ext(0x0000, vec16(u8(0) + vec16(name)))


def alpn_ext(names):
    return ext(0x0010, vec16(b"".join(vec8(n) for n in names)))


def versions_ext(vs):
    return ext(0x002B, vec8(b"".join(u16(v) for v in vs)))


def key_share_ext(shares):
    return ext(0x0033, vec16(b"".join(u16(g) + vec16(kx) for g, kx in shares)))


def kx(n, seed=0x42):
    return bytes((seed + i) & 0xFF for i in range(n))


RANDOM = bytes(range(0x20, 0x40))
SUITES = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0x009C]


def hello_body(legacy=0x0303, sid=b"", suites=None, comp=b"\x00", exts=None, tail=b""):
    """ClientHello body; exts None = block absent, [] = empty block."""
    suites = SUITES if suites is None else suites
    b = u16(legacy) + RANDOM + vec8(sid) + vec16(b"".join(u16(s) for s in suites)) + vec8(comp)
    if exts is not None:
        b += vec16(b"".join(exts))
    return b + tail


def handshake(body, hs_type=1, length=None):
    return u8(hs_type) + u24(len(body) if length is None else length) + body


def records(data, sizes=None, rtype=22, version=0x0301):
    """Frames data into handshake records of the given payload sizes (default: max)."""
    out = b""
    i = 0
    k = 0
    while i < len(data):
        n = RECORD_MAX if sizes is None else sizes[min(k, len(sizes) - 1)]
        chunk = data[i:i + n]
        out += u8(rtype) + u16(version) + u16(len(chunk)) + chunk
        i += len(chunk)
        k += 1
    return out


def record(payload, rtype=22, version=0x0301, length=None):
    return u8(rtype) + u16(version) + u16(len(payload) if length is None else length) + payload


class V:
    """One vector and what it must parse to."""

    def __init__(self, name, data, verdict="done", malformed="none", max_hello=0,
                 sni=None, alpn=None, versions=(), groups=(), ech=False,
                 record_version=0x0301, legacy_version=0x0303, hello_end=None, at=None):
        self.name, self.data, self.verdict, self.malformed = name, data, verdict, malformed
        self.max_hello, self.sni, self.alpn = max_hello, sni, alpn
        self.versions, self.groups, self.ech = list(versions), list(groups), ech
        self.record_version, self.legacy_version = record_version, legacy_version
        self.hello_end, self.at = hello_end, at
        if verdict == "done" and at is None:
            self.at = hello_end

    def line(self):
        def hexlist(xs):
            return ",".join("%04x" % x for x in xs) if xs else "-"
        f = ["file=syn_%s.bin" % self.name, "verdict=" + self.verdict,
             "malformed=" + self.malformed, "max=%d" % self.max_hello,
             "sni=" + (self.sni.decode() if self.sni is not None else "-"),
             "alpn=" + (",".join(n.decode() for n in self.alpn) if self.alpn else "-"),
             "versions=" + hexlist(self.versions), "groups=" + hexlist(self.groups),
             "ech=%d" % int(self.ech)]
        if self.verdict == "done":
            f += ["record_version=%04x" % self.record_version,
                  "legacy_version=%04x" % self.legacy_version,
                  "hello_end=%d" % self.hello_end]
        if self.at is not None:
            f.append("at=%d" % self.at)
        return " ".join(f)


class Hello:
    """A well-formed hello description; build() gives the handshake message."""

    def __init__(self, sni=b"example.com", alpn=None, versions=(0x0304, 0x0303),
                 groups=((0x001D, 32),), ech=False, extra=(), legacy=0x0303, sid=b"",
                 pad_to=None, ext_order=None):
        self.sni, self.alpn, self.versions = sni, alpn, list(versions)
        self.groups, self.ech, self.extra = list(groups), ech, list(extra)
        self.legacy, self.sid, self.pad_to = legacy, sid, pad_to

    def exts(self):
        e = []
        if self.sni is not None:
            e.append(sni_ext(self.sni))
        e.append(ext(0x0017, b""))  # extended_master_secret
        e.append(ext(0x000A, vec16(u16(0x001D) + u16(0x0017))))  # supported_groups
        if self.alpn is not None:
            e.append(alpn_ext(self.alpn))
        if self.versions:
            e.append(versions_ext(self.versions))
        e.append(ext(0x000D, vec16(u16(0x0403) + u16(0x0804))))  # signature_algorithms
        if self.groups is not None and (self.groups or self.versions):
            e.append(key_share_ext([(g, kx(n, g & 0xFF)) for g, n in self.groups]))
        if self.ech:
            e.append(ext(0xFE0D, b"\x00" + u16(0x0001) + u16(0x0001) + u8(7) + vec16(kx(32)) +
                         vec16(kx(144, 9))))
        e.extend(self.extra)
        return e

    def build(self):
        exts = self.exts()
        if self.pad_to is not None:
            body = hello_body(self.legacy, self.sid, exts=exts)
            # padding (21) adds 4 + n bytes to the body.
            n = self.pad_to - len(body) - 4
            assert n >= 0, (self.pad_to, len(body))
            exts = exts + [ext(0x0015, bytes(n))]
        body = hello_body(self.legacy, self.sid, exts=exts)
        if self.pad_to is not None:
            assert len(body) == self.pad_to
        return handshake(body)

    def expect(self, name, data, hello_end, **kw):
        return V(name, data, sni=self.sni, alpn=self.alpn, versions=self.versions,
                 groups=[g for g, _ in self.groups], ech=self.ech,
                 legacy_version=self.legacy, hello_end=hello_end, **kw)


def done(name, h, sizes=None, trailing=b"", **kw):
    msg = h.build()
    data = records(msg, sizes)
    hello_end = len(data)
    return h.expect(name, data + trailing, hello_end, **kw)


def malformed(name, data, why, at=None, max_hello=0):
    return V(name, data, verdict="malformed", malformed=why, at=at, max_hello=max_hello)


def vectors():
    v = []
    base = Hello(alpn=[b"h2", b"http/1.1"])
    v.append(done("tls13_basic", base))
    v.append(done("tls12_no_versions", Hello(versions=(), groups=(), alpn=[b"http/1.1"])))
    v.append(done("session_id_32", Hello(sid=bytes(range(32)))))  # limit N
    v.append(done("no_sni", Hello(sni=None, alpn=[b"h2"])))
    # Old SSLv3-style hello: no extensions block at all.
    body = hello_body(legacy=0x0300, exts=None)
    data = records(handshake(body), version=0x0300)
    v.append(V("no_extensions", data, legacy_version=0x0300, record_version=0x0300,
               hello_end=len(data)))
    body = hello_body(exts=[])
    data = records(handshake(body))
    v.append(V("empty_extensions", data, hello_end=len(data)))
    h = Hello(alpn=[b"h2", b"http/1.1"])
    n = len(h.build())
    v.append(done("split_3_records", h, sizes=[n // 3, n // 3, n]))
    # The header itself split: records of 1, 2 and 3 bytes first.
    v.append(done("split_tiny_records", Hello(), sizes=[1, 2, 3, 5, 8, 13, 21, 1000]))
    # ~2 KiB hello: X25519MLKEM768 (1216) + x25519 + P-256 + P-384 shares, padded to 2048.
    big = Hello(alpn=[b"h2", b"http/1.1"],
                groups=((0x11EC, 1216), (0x001D, 32), (0x0017, 65), (0x0018, 97)),
                pad_to=2048)
    v.append(done("large_key_share_2k", big))
    v.append(done("ech_present", Hello(sni=b"public.example", ech=True, alpn=[b"h2"])))
    v.append(done("alpn_list", Hello(alpn=[b"h2", b"http/1.1", b"spdy/3.1", b"acme-tls/1"])))
    # Bytes after the hello that are not even a record: never read.
    v.append(done("trailing_bytes", Hello(), trailing=b"GET / HTTP/1.1\r\n\xff\x00"))
    # Trailing bytes after the hello inside the same record, then another record.
    h = Hello()
    msg = h.build()
    data = record(msg + b"\x14\x03\x03\x00\x01\x01")
    v.append(h.expect("trailing_in_record", data + record(b"\x01", rtype=20),
                      hello_end=5 + len(msg)))
    v.append(done("trailing_ccs_record", Hello(), trailing=record(b"\x01", rtype=20)))
    v.append(done("grease_and_unknown", Hello(extra=[ext(0x0A0A, b""), ext(0x4A4A, b"\x00"),
                                                     ext(0x7777, kx(40))])))
    # Unknown server_name type next to the host_name (RFC 6066: u16-length framed).
    sn = ext(0x0000, vec16(u8(7) + vec16(b"other") + u8(0) + vec16(b"host.example") +
                           u8(9) + vec16(b"")))
    h = Hello(sni=None, extra=[sn])
    e = h.expect("sni_unknown_name_type", records(h.build()), 0)
    e.sni = b"host.example"
    e.hello_end = e.at = len(e.data)
    v.append(e)
    v.append(done("key_share_empty", Hello(groups=())))
    h = Hello()
    data = records(h.build(), version=0x0303)
    v.append(h.expect("record_version_0303", data, hello_end=len(data), record_version=0x0303))

    # --- limits, N and N+1 ---
    # max_hello default: body of exactly 16384 bytes (two records) is fine, 16385 is not.
    h = Hello(alpn=[b"h2"], pad_to=MAX_DEFAULT)
    v.append(done("max_hello_default_n", h))
    h = Hello(alpn=[b"h2"], pad_to=MAX_DEFAULT + 1)
    v.append(V("max_hello_default_n1", records(h.build()), verdict="too_large", at=9))
    h = Hello(pad_to=512)
    v.append(done("max_hello_512_n", h, max_hello=512))
    h = Hello(pad_to=513)
    v.append(V("max_hello_512_n1", records(h.build()), verdict="too_large", at=9,
               max_hello=512))
    # Record length 2^14 is fine (max_hello_default_n starts with one); 2^14+1 is not.
    h = Hello(pad_to=MAX_DEFAULT + 100)
    msg = h.build()
    v.append(malformed("record_len_n1", record(msg[:RECORD_MAX + 1]), "record", at=5,
                       max_hello=65536))
    h = Hello(pad_to=RECORD_MAX - 4)
    v.append(done("record_len_n", h))
    assert len(records(h.build())) == 5 + RECORD_MAX
    name = bytes(b"a" * 60 + b".") * 4
    v.append(done("sni_255", Hello(sni=(name + b"b" * 11)[:255])))
    v.append(done("sni_256", Hello(sni=(name + b"b" * 12)[:256])))
    # ALPN list of exactly 256 and 257 bytes: 2 names of 127 / 128 + 126 bytes.
    v.append(done("alpn_256", Hello(alpn=[b"x" * 127, b"y" * 127])))
    v.append(done("alpn_257", Hello(alpn=[b"x" * 127, b"y" * 128])))
    vs = [0x0A0A, 0x0304, 0x0303, 0x0302, 0x0301, 0x7F1C, 0x7F1D, 0x7F1E, 0x7F1F,
          0xFB1A, 0x1A1A, 0x2A2A, 0x3A3A, 0x4A4A, 0x5A5A, 0x6A6A, 0x7A7A]
    v.append(done("versions_16", Hello(versions=vs[:16])))
    v.append(done("versions_17", Hello(versions=vs[:17])))
    gs = [(0x001D + i, 8 + i) for i in range(17)]
    v.append(done("groups_16", Hello(groups=gs[:16])))
    v.append(done("groups_17", Hello(groups=gs[:17])))
    # Extension count: the base hello has 7 extensions (sni, ems, groups, alpn, versions,
    # sigalgs, key_share); fill with unknown types up to 32 and 33.
    fill = [ext(0x1000 + i, b"") for i in range(40)]
    v.append(done("ext_32", Hello(alpn=[b"h2"], extra=fill[:EXT_MAX - 7])))
    h = Hello(alpn=[b"h2"], extra=fill[:EXT_MAX - 6])
    v.append(malformed("ext_33", records(h.build()), "too_many_ext"))
    v.append(malformed("session_id_33", records(handshake(hello_body(sid=bytes(33), exts=[]))),
                       "length"))

    # --- first-byte and framing verdicts ---
    v.append(V("http_get", b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", verdict="not_tls",
               at=1))
    v.append(V("garbage_zero", b"\x00" * 64, verdict="not_tls", at=1))
    v.append(V("not_tls_version_major", b"\x16\x02\x00\x00\x30" + bytes(48),
               verdict="not_tls", at=2))
    # SSLv2 CLIENT-HELLO: 2-byte header, msg_type 1, version 3.1, lengths, suites, challenge.
    sv2 = (u8(1) + u16(0x0301) + u16(9) + u16(0) + u16(16) +
           b"\x00\x00\x04\x01\x00\x80\x00\x00\x2f" + kx(16))
    v.append(V("sslv2_hello", u16(0x8000 | len(sv2)) + sv2, verdict="sslv2", at=3))
    v.append(V("not_tls_high_bit", b"\x80\x10\x02" + bytes(16), verdict="not_tls", at=3))

    # --- one vector per MALFORMED reason (and a few variants) ---
    msg = Hello().build()
    # A non-handshake record in the middle of the hello.
    data = record(msg[:20]) + record(msg[20:], rtype=23)
    v.append(malformed("record_type_mid_hello", data, "record", at=25 + 1))
    data = record(msg[:20]) + record(msg[20:], version=0x0201)
    v.append(malformed("record_version_mid_hello", data, "record", at=25 + 2))
    v.append(malformed("record_zero_len", record(b"") + record(msg), "record", at=5))
    data = record(msg[:20]) + record(b"") + record(msg[20:])
    v.append(malformed("record_zero_len_mid_hello", data, "record", at=30))
    v.append(malformed("not_client_hello", records(handshake(hello_body(exts=[]), hs_type=2)),
                       "not_client_hello", at=6))
    # Lengths that disagree.
    body = hello_body(exts=[sni_ext(b"a.example")])
    v.append(malformed("length_exts_overrun",
                       records(handshake(body[:-len(sni_ext(b"a.example")) - 2] +
                                         u16(100) + sni_ext(b"a.example"))), "length"))
    v.append(malformed("length_exts_short",
                       records(handshake(body[:-len(sni_ext(b"a.example")) - 2] +
                                         u16(3) + sni_ext(b"a.example"))), "length"))
    v.append(malformed("length_msg_trailing",
                       records(handshake(hello_body(exts=[sni_ext(b"a.example")], tail=b"\x00"))),
                       "length"))
    v.append(malformed("length_ext_data_long",
                       records(handshake(hello_body(exts=[ext(0x002B, b"\x02\x03\x04\x00")]))),
                       "length"))
    v.append(malformed("length_versions_odd",
                       records(handshake(hello_body(exts=[ext(0x002B, b"\x03\x03\x04\x03")]))),
                       "length"))
    v.append(malformed("length_key_share_overrun",
                       records(handshake(hello_body(exts=[
                           ext(0x0033, u16(40) + u16(0x001D) + vec16(kx(32)) + b"\x00\x17")]))),
                       "length"))
    v.append(malformed("length_cipher_suites_odd",
                       records(handshake(hello_body(suites=[], exts=[])[:34 + 1] +
                                         b"\x00\x03\x13\x01\x13\x01\x00" + b"\x00\x00")),
                       "length"))
    # Truncations.
    v.append(malformed("truncated_cipher_suites_empty",
                       records(handshake(hello_body(suites=[], exts=[]))), "truncated"))
    v.append(malformed("truncated_compression_empty",
                       records(handshake(hello_body(comp=b"", exts=[]))), "truncated"))
    v.append(malformed("truncated_body",
                       records(handshake(hello_body(exts=[])[:20])), "truncated"))
    v.append(malformed("truncated_hs_zero", records(b"\x01\x00\x00\x00"), "truncated", at=9))
    v.append(malformed("truncated_key_exchange_empty",
                       records(handshake(hello_body(exts=[key_share_ext([(0x001D, b"")])]))),
                       "truncated"))
    v.append(malformed("truncated_versions_empty",
                       records(handshake(hello_body(exts=[ext(0x002B, b"\x00")]))), "truncated"))
    v.append(malformed("duplicate_ext",
                       records(handshake(hello_body(exts=[sni_ext(b"a.example"), ext(0x0017, b""),
                                                          ext(0x0017, b"")]))), "duplicate_ext"))
    v.append(malformed("duplicate_ext_far",
                       records(handshake(hello_body(exts=[ext(0x1234, b"x")] + fill[:20] +
                                                    [ext(0x1234, b"y")]))), "duplicate_ext"))
    # server_name.
    v.append(malformed("bad_sni_ext_empty", records(handshake(hello_body(exts=[ext(0, b"")]))),
                       "bad_sni"))
    v.append(malformed("bad_sni_empty_list",
                       records(handshake(hello_body(exts=[ext(0, vec16(b""))]))), "bad_sni"))
    v.append(malformed("bad_sni_empty_name",
                       records(handshake(hello_body(exts=[ext(0, vec16(u8(0) + vec16(b"")))]))),
                       "bad_sni"))
    v.append(malformed("bad_sni_two_host_names",
                       records(handshake(hello_body(exts=[ext(0, vec16(u8(0) + vec16(b"a.example")
                                                                       + u8(0) + vec16(b"b.example")))]))),
                       "bad_sni"))
    v.append(malformed("bad_sni_list_short",
                       records(handshake(hello_body(exts=[ext(0, u16(5) + u8(0) + vec16(b"a.example"))]))),
                       "bad_sni"))
    v.append(malformed("bad_sni_list_long",
                       records(handshake(hello_body(exts=[ext(0, u16(13) + u8(0) + vec16(b"a.example"))]))),
                       "bad_sni"))
    v.append(malformed("bad_sni_name_overrun",
                       records(handshake(hello_body(exts=[ext(0, u16(12) + u8(0) + u16(10) + b"a.example")]))),
                       "bad_sni"))
    v.append(malformed("bad_sni_trailing_in_ext",
                       records(handshake(hello_body(exts=[ext(0, vec16(u8(0) + vec16(b"a.example")) + b"\x00")]))),
                       "bad_sni"))
    # ALPN.
    v.append(malformed("bad_alpn_ext_empty", records(handshake(hello_body(exts=[ext(16, b"")]))),
                       "bad_alpn"))
    v.append(malformed("bad_alpn_empty_list",
                       records(handshake(hello_body(exts=[ext(16, vec16(b""))]))), "bad_alpn"))
    v.append(malformed("bad_alpn_empty_name",
                       records(handshake(hello_body(exts=[ext(16, vec16(b"\x02h2\x00"))]))), "bad_alpn"))
    v.append(malformed("bad_alpn_name_overrun",
                       records(handshake(hello_body(exts=[ext(16, vec16(b"\x02h2\x09http/1.1"))]))),
                       "bad_alpn"))
    v.append(malformed("bad_alpn_list_short",
                       records(handshake(hello_body(exts=[ext(16, u16(3) + b"\x02h2\x08http/1.1")]))),
                       "bad_alpn"))
    return v


def main():
    vs = vectors()
    names = set()
    for f in os.listdir(HERE):
        if f.startswith("syn_") and f.endswith(".bin"):
            os.unlink(os.path.join(HERE, f))
    lines = []
    for x in vs:
        assert x.name not in names, x.name
        names.add(x.name)
        with open(os.path.join(HERE, "syn_%s.bin" % x.name), "wb") as f:
            f.write(x.data)
        lines.append(x.line())
    with open(os.path.join(HERE, "expected-synthetic.txt"), "w") as f:
        f.write("# Generated by gen_synthetic.py from each vector's description; do not edit.\n")
        f.write("\n".join(lines) + "\n")
    print("wrote %d vectors" % len(vs))


if __name__ == "__main__":
    main()
