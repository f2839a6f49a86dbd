#!/usr/bin/env python3
"""A minimal r-vpn SERVER written from rvpn-protocol.md in Python (`cryptography`), used only
to test the C client tests/tools/sy_vpnc.c end to end before and apart from switchyard's own
engine: an independent implementation of the other role, so a bug shared by our C client
and our C codecs cannot hide. Test-only: one thread per connection, blocking sockets,
no limits beyond the test's needs, 127.0.0.1 only.

  sy_rvpn_server.py --port P --identity SERVER.key --bundle BUNDLE.json
                    [--cert CERT --key KEY] [--violate-credit] [--ready FILE]

Paths: /api/v1/ws (target relay, §7.3), /api/v1/ws/mux (flows with 256 KiB credit each way,
§7.4), /api/v1/ws/dns (getaddrinfo, §7.6). A Hello whose ephemeral key was seen before is
refused by a close (a replay cache); a message that does not authenticate ends the session.
--violate-credit sends target bytes without waiting for the client's credit (to prove the
client counts violations). Prints one line per session end to stderr.
"""
import argparse, base64, hashlib, hmac, json, os, socket, ssl, struct, sys, threading
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes, serialization as ser

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CREDIT = 256 * 1024
RAW = (ser.Encoding.Raw, ser.PublicFormat.Raw)
seen_eks = set()
seen_lock = threading.Lock()


def hkdf(ikm, info, n):
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=None, info=info).derive(ikm)


def pad(data):
    total = -(-(len(data) + 2) // 1024) * 1024
    assert total <= 16384
    padlen = total - len(data) - 2
    return data + os.urandom(padlen) + struct.pack(">H", padlen)


def unpad(b):
    padlen = struct.unpack(">H", b[-2:])[0]
    assert padlen <= len(b) - 2
    return b[:len(b) - 2 - padlen]


class Closed(Exception):
    pass


class Conn:
    """One WebSocket connection in the server role, with the session's ratchet."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""
        self.wlock = threading.Lock()

    def read(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise Closed()
            self.buf += d
        r, self.buf = self.buf[:n], self.buf[n:]
        return r

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                raise Closed()
            self.buf += d
        h, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return h.decode("latin-1")

    def recv_msg(self):
        """A whole message (control frames answered or skipped)."""
        data = b""
        while True:
            b0, b1 = self.read(2)
            op, n = b0 & 15, b1 & 127
            if n == 126:
                n = struct.unpack(">H", self.read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self.read(8))[0]
            if not b1 & 128:
                raise Closed()  # a client must mask
            key = self.read(4)
            p = bytes(x ^ key[i % 4] for i, x in enumerate(self.read(n)))
            if op == 8:
                raise Closed()
            if op == 9:
                self.send_frame(10, p)
                continue
            if op == 10:
                continue
            data += p
            if b0 & 128:
                return data

    def send_frame(self, op, p):
        n = len(p)
        h = bytes([128 | op]) + (bytes([n]) if n < 126 else bytes([126]) + struct.pack(">H", n)
                                 if n < 65536 else bytes([127]) + struct.pack(">Q", n))
        with self.wlock:
            self.s.sendall(h + p)

    # --- ratchet (§6) ---
    def start(self, sk):
        ck = hkdf(sk, b"R-VPN-v1 DoubleRatchet Init", 64)
        self.ckr, self.cks = ck[:32], ck[32:]
        self.sn = self.rn = 0
        self.dh = x25519.X25519PrivateKey.generate().public_key().public_bytes(*RAW)

    def seal_send(self, typ, pt):
        with self.wlock:
            mk = hmac.new(self.cks, b"\x01", hashlib.sha256).digest()
            self.cks = hmac.new(self.cks, b"\x02", hashlib.sha256).digest()
            nonce = os.urandom(12)
            ct = ChaCha20Poly1305(mk).encrypt(nonce, pt, bytes([typ]))
            w = b"\x01" + self.dh + struct.pack("<IIB", self.sn, 0, typ) + nonce + \
                struct.pack("<Q", len(ct)) + ct
            self.sn += 1
            n = len(w)
            h = bytes([0x82]) + (bytes([n]) if n < 126 else bytes([126]) + struct.pack(">H", n))
            self.s.sendall(h + w)

    def open(self, w):
        if w[0] != 1 or len(w) < 62:
            raise Closed()
        n, pn, typ = struct.unpack("<IIB", w[33:42])
        nonce, ctl = w[42:54], struct.unpack("<Q", w[54:62])[0]
        if n != self.rn or pn != 0 or ctl != len(w) - 62:
            raise Closed()
        mk = hmac.new(self.ckr, b"\x01", hashlib.sha256).digest()
        pt = ChaCha20Poly1305(mk).decrypt(nonce, w[62:], bytes([typ]))  # raises when tampered
        self.ckr = hmac.new(self.ckr, b"\x02", hashlib.sha256).digest()
        self.rn += 1
        return typ, pt


def ctl(idx, *fields):
    return struct.pack("<I", idx) + b"".join(fields)


def mux(flow, payload):
    return struct.pack(">IH", flow, len(payload)) + payload


def serve(conn, args, keys):
    c = Conn(conn)
    head = c.head()
    lines = head.split("\r\n")
    path = lines[0].split(" ")[1]
    hdr = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    if hdr.get("upgrade", "").lower() != "websocket":
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        return "no_upgrade"
    acc = base64.b64encode(hashlib.sha1(hdr["sec-websocket-key"].encode() + GUID).digest()).decode()
    conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Accept: %s\r\n\r\n" % acc).encode())
    h = json.loads(c.recv_msg())["Hello"]
    ek, ik = bytes(h["ephemeral_key"]), bytes(h["identity_key"])
    with seen_lock:
        if ek in seen_eks:
            return "replay"
        seen_eks.add(ek)
    spk = x25519.X25519PrivateKey.from_private_bytes(keys["spk_priv"])
    idx = x25519.X25519PrivateKey.from_private_bytes(keys["seed"])
    P = x25519.X25519PublicKey.from_public_bytes
    sk = hkdf(spk.exchange(P(ik)) + idx.exchange(P(ek)) + spk.exchange(P(ek)), b"R-VPN-v1 X3DH", 32)
    c.start(sk)
    b = keys["bundle"]
    sh = {"ServerHello": {"ephemeral_key": [], "signed_prekey": list(b["signed_prekey"]),
                          "prekey_signature": list(b["prekey_signature"]),
                          "identity_key": list(b["identity_key"])}}
    c.send_frame(2, json.dumps(sh, separators=(",", ":")).encode())
    if path.endswith("/dns"):
        while True:
            typ, pt = c.open(c.recv_msg())
            q = json.loads(pt)
            fam = socket.AF_INET if q["query_type"] == 1 else socket.AF_INET6
            try:
                addrs = sorted({a[4][0] for a in socket.getaddrinfo(q["domain"], None, fam)})
                r = {"query_id": q["query_id"], "success": True,
                     "ipv4_addrs": addrs if fam == socket.AF_INET else [],
                     "ipv6_addrs": addrs if fam == socket.AF_INET6 else [], "ttl": 900, "error": None}
            except socket.gaierror as e:
                r = {"query_id": q["query_id"], "success": False, "ipv4_addrs": [], "ipv6_addrs": [],
                     "ttl": 900, "error": "resolve failed: %s" % e}
            c.seal_send(9, json.dumps(r, separators=(",", ":")).encode())
    if path.endswith("/mux"):
        return serve_mux(c, args)
    typ, pt = c.open(c.recv_msg())
    t = unpad(pt)
    host, port = t[1:1 + t[0]].decode(), struct.unpack(">H", t[1 + t[0]:])[0]
    tgt = socket.create_connection((host, port), timeout=5)
    tgt.settimeout(None)

    def down():
        try:
            while True:
                d = tgt.recv(8190)
                if not d:
                    break
                c.seal_send(1, pad(d))
        except OSError:
            pass
        try:
            c.send_frame(8, struct.pack(">H", 1000))
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    threading.Thread(target=down, daemon=True).start()
    try:
        while True:
            typ, pt = c.open(c.recv_msg())
            tgt.sendall(unpad(pt))
    finally:
        tgt.close()


def serve_mux(c, args):
    flows = {}
    cv = threading.Condition()

    def down(fid, f):
        try:
            while True:
                d = f["sock"].recv(8190)
                if not d:
                    break
                with cv:
                    while f["credit"] < len(d) and not args.violate_credit and not f["gone"]:
                        cv.wait(1)
                    if f["gone"]:
                        return
                    f["credit"] -= len(d)
                c.seal_send(1, pad(mux(fid, d)))
        except OSError:
            return
        if not f["gone"]:
            c.seal_send(2, pad(mux(0, ctl(1, struct.pack("<I", fid)))))

    while True:
        typ, pt = c.open(c.recv_msg())
        p, pos = unpad(pt), 0
        while pos < len(p):
            fid, n = struct.unpack(">IH", p[pos:pos + 6])
            body, pos = p[pos + 6:pos + 6 + n], pos + 6 + n
            if fid != 0:
                f = flows[fid]
                f["sock"].sendall(body)
                c.seal_send(2, pad(mux(0, ctl(6, struct.pack("<II", fid, len(body))))))
                continue
            idx = struct.unpack("<I", body[:4])[0]
            if idx == 0:
                fid = struct.unpack("<I", body[4:8])[0]
                tl = struct.unpack("<Q", body[8:16])[0]
                host, port = body[16:16 + tl].decode(), struct.unpack("<H", body[16 + tl:18 + tl])[0]
                try:
                    s = socket.create_connection((host, port), timeout=5)
                    s.settimeout(None)
                except OSError as e:
                    err = str(e).encode()
                    c.seal_send(2, pad(mux(0, ctl(3, struct.pack("<IQ", fid, len(err)) + err))))
                    continue
                f = flows[fid] = {"sock": s, "credit": CREDIT, "gone": False}
                c.seal_send(2, pad(mux(0, ctl(2, struct.pack("<IB", fid, 0)))))
                threading.Thread(target=down, args=(fid, f), daemon=True).start()
            elif idx == 1:
                fid = struct.unpack("<I", body[4:8])[0]
                f = flows.pop(fid, None)
                if f:
                    with cv:
                        f["gone"] = True
                        cv.notify_all()
                    f["sock"].close()
            elif idx == 4:
                c.seal_send(2, pad(mux(0, ctl(5, body[4:12]))))
            elif idx == 6:
                fid, w = struct.unpack("<II", body[4:12])
                with cv:
                    if fid in flows:
                        flows[fid]["credit"] += w
                    cv.notify_all()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--identity", required=True)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--violate-credit", action="store_true")
    args = ap.parse_args()
    seed = base64.b64decode(open(args.identity).read().split("\n")[2])
    bj = json.load(open(args.bundle))
    side = args.bundle.rsplit(".", 1)[0] + ".private.json"
    keys = {"seed": seed,
            "spk_priv": base64.b64decode(json.load(open(side))["signed_prekey_private"]),
            "bundle": {k: base64.b64decode(bj[k]) for k in ("identity_key", "signed_prekey",
                                                              "prekey_signature")}}
    ctx = None
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        ctx.set_alpn_protocols(["http/1.1"])
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", args.port))
    ls.listen(64)

    def one(s):
        why = "closed"
        try:
            if ctx:
                s = ctx.wrap_socket(s, server_side=True)
            why = serve(s, args, keys) or why
        except Exception as e:  # the session's end, whatever it was
            why = type(e).__name__
        print("session end: %s" % why, file=sys.stderr, flush=True)
        try:
            s.close()
        except OSError:
            pass
    while True:
        s, _ = ls.accept()
        threading.Thread(target=one, args=(s,), daemon=True).start()


if __name__ == "__main__":
    main()
