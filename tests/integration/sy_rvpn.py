#!/usr/bin/env python3
"""A small r-vpn /ws client for the integration tests (client role, independent of our C
code: Python's ssl and the `cryptography` package): TLS or plain, the WebSocket upgrade,
the Hello, X3DH, the ratchet, the /ws target message, then an echo of N bytes with its
SHA-256 compared. Modes to misbehave: replay a recorded Hello, tamper with a frame, hold a
session open. Prints one result word on stdout:
  echo_ok | serverhello | no_answer | closed | error:<why>
"""
import argparse, base64, hashlib, hmac, json, os, socket, ssl, struct, sys, time
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def hkdf(ikm, info, n):
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def seed_of(path):
    lines = [l.strip() for l in open(path).read().splitlines() if l.strip()]
    return base64.b64decode(lines[-1])


class WS:
    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def send(self, op, data):
        key = os.urandom(4)
        n = len(data)
        hdr = bytes([0x80 | op])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        k = (key * (n // 4 + 1))[:n]
        masked = (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big") if n else b""
        self.s.sendall(hdr + key + masked)

    def _need(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d

    def recv(self):
        """One message: (opcode, payload); control frames answered or skipped."""
        while True:
            self._need(2)
            op, l = self.buf[0] & 15, self.buf[1] & 127
            if self.buf[1] & 0x80:
                raise ValueError("masked server frame")
            off = 2
            if l == 126:
                self._need(4)
                l = struct.unpack(">H", self.buf[2:4])[0]
                off = 4
            elif l == 127:
                self._need(10)
                l = struct.unpack(">Q", self.buf[2:10])[0]
                off = 10
            if l > 16384:
                raise ValueError("frame over 16 KiB")
            self._need(off + l)
            p, self.buf = self.buf[off:off + l], self.buf[off + l:]
            if op == 9:
                self.send(10, p)
                continue
            if op == 10:
                continue
            return op, p


class Ratchet:
    def __init__(self, sk):
        init = hkdf(sk, b"R-VPN-v1 DoubleRatchet Init", 64)
        self.cks, self.ckr = init[:32], init[32:]
        self.dh = X25519PrivateKey.generate().public_key().public_bytes(*RAW)
        self.ns = self.nr = 0

    def seal(self, ptype, pt):
        mk = hmac.new(self.cks, b"\x01", hashlib.sha256).digest()
        self.cks = hmac.new(self.cks, b"\x02", hashlib.sha256).digest()
        nonce = os.urandom(12)
        ct = ChaCha20Poly1305(mk).encrypt(nonce, pt, bytes([ptype]))
        m = b"\x01" + self.dh + struct.pack("<IIB", self.ns, 0, ptype) + nonce
        self.ns += 1
        return m + struct.pack("<Q", len(ct)) + ct

    def open(self, m):
        if m[0] != 1:
            raise ValueError("no dh")
        n, pn, ptype = struct.unpack("<IIB", m[33:42])
        nonce = m[42:54]
        (cl,) = struct.unpack("<Q", m[54:62])
        ct = m[62:62 + cl]
        ck = self.ckr
        for _ in range(n - self.nr):
            ck = hmac.new(ck, b"\x02", hashlib.sha256).digest()
        mk = hmac.new(ck, b"\x01", hashlib.sha256).digest()
        pt = ChaCha20Poly1305(mk).decrypt(nonce, ct, bytes([ptype]))
        self.ckr = hmac.new(ck, b"\x02", hashlib.sha256).digest()
        self.nr = n + 1
        return ptype, pt


def pad(data):
    total = min(((len(data) + 2 + 1023) // 1024) * 1024, 16384)
    pl = total - len(data) - 2
    return data + os.urandom(pl) + struct.pack(">H", pl)


def unpad(p):
    (pl,) = struct.unpack(">H", p[-2:])
    return p[:len(p) - 2 - pl]


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--tls", action="store_true")
    a.add_argument("--sni", default="vpn.test")
    a.add_argument("--path", default="/api/v1/ws")
    a.add_argument("--bundle", required=True)
    a.add_argument("--identity", required=True)
    a.add_argument("--target", default=None)
    a.add_argument("--echo", type=int, default=0, help="bytes to echo through the target")
    a.add_argument("--save-hello", default=None)
    a.add_argument("--replay-hello", default=None)
    a.add_argument("--tamper", action="store_true", help="flip a ciphertext bit of message 0")
    a.add_argument("--hold", type=float, default=0, help="seconds to wait for a close")
    a.add_argument("--wait", type=float, default=0, help="seconds before the Hello")
    o = a.parse_args()

    raw = socket.create_connection(("127.0.0.1", o.port), timeout=10)
    s = raw
    if o.tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        s = ctx.wrap_socket(raw, server_hostname=o.sni)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
               "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n" % (o.path, o.sni, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(4096)
        if not d:
            print("error:no_101"); return 1
        head += d
    h, rest = head.split(b"\r\n\r\n", 1)
    want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    if not h.startswith(b"HTTP/1.1 101 ") or ("Sec-WebSocket-Accept: " + want).encode() not in h:
        print("error:bad_101"); return 1
    ws = WS(s)
    ws.buf = rest
    if o.wait:
        time.sleep(o.wait)

    bundle = json.load(open(o.bundle))
    ik_s = base64.b64decode(bundle["identity_x25519_key"])
    ik_c = X25519PrivateKey.from_private_bytes(seed_of(o.identity))
    if o.replay_hello:
        rec = json.load(open(o.replay_hello))
        ek = X25519PrivateKey.from_private_bytes(bytes.fromhex(rec["ek"]))
    else:
        ek = X25519PrivateKey.generate()
    ek_pub = ek.public_key().public_bytes(*RAW)
    ik_pub = ik_c.public_key().public_bytes(*RAW)
    hello = json.dumps({"Hello": {"version": {"major": 1, "minor": 0, "patch": 0},
                                  "auth_method": "X3DH", "ephemeral_key": list(ek_pub),
                                  "identity_key": list(ik_pub), "session_token": None,
                                  "connection_nonce": None}}, separators=(",", ":")).encode()
    if o.save_hello:
        json.dump({"ek": ek.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                          serialization.NoEncryption()).hex()}, open(o.save_hello, "w"))
    ws.send(2, hello)
    s.settimeout(10)
    try:
        op, p = ws.recv()
    except (EOFError, ConnectionError, ssl.SSLError):
        print("no_answer"); return 0
    except socket.timeout:
        print("error:timeout"); return 1
    if op == 8:
        print("no_answer"); return 0
    msg = json.loads(p)
    if "ServerHello" not in msg:
        print("error:" + json.dumps(msg)); return 1
    sh = msg["ServerHello"]
    spk = bytes(sh["signed_prekey"])
    Ed25519PublicKey.from_public_bytes(bytes(sh["identity_key"])).verify(bytes(sh["prekey_signature"]), spk)
    spk_k = X25519PublicKey.from_public_bytes(spk)
    dh = ik_c.exchange(spk_k) + ek.exchange(X25519PublicKey.from_public_bytes(ik_s)) + ek.exchange(spk_k)
    r = Ratchet(hkdf(dh, b"R-VPN-v1 X3DH", 32))
    if not o.target:
        print("serverhello"); return 0
    host, port = o.target.rsplit(":", 1)
    tmsg = r.seal(1, pad(bytes([len(host)]) + host.encode() + struct.pack(">H", int(port))))
    if o.tamper:
        tmsg = tmsg[:-1] + bytes([tmsg[-1] ^ 1])
    ws.send(2, tmsg)
    if o.echo == 0:
        # Wait for the server's verdict: a close (denied, tampered) or nothing.
        s.settimeout(o.hold or 3)
        try:
            while True:
                op, p = ws.recv()
                if op == 8:
                    code = struct.unpack(">H", p[:2])[0] if len(p) >= 2 else 1005
                    print("closed %d" % code); return 0
        except (EOFError, ConnectionError, ssl.SSLError):
            print("closed eof"); return 0
        except socket.timeout:
            print("open"); return 0
    data = os.urandom(o.echo)
    sent = got = 0
    hin = hashlib.sha256()
    s.settimeout(20)
    while got < len(data):
        if sent < len(data) and sent - got < 256 * 1024:
            chunk = data[sent:sent + 8190]
            ws.send(2, r.seal(1, pad(chunk)))
            sent += len(chunk)
            continue
        op, p = ws.recv()
        if op == 8:
            print("error:closed_after_%d" % got); return 1
        t, pt = r.open(p)
        d = unpad(pt)
        hin.update(d)
        got += len(d)
    if hin.digest() != hashlib.sha256(data).digest():
        print("error:sha256"); return 1
    if o.hold:
        print("echo_done", flush=True)  # the tests wait for this before they act
        s.settimeout(o.hold)
        try:
            while True:
                op, p = ws.recv()
                if op == 8:
                    print("echo_ok closed %d" % struct.unpack(">H", p[:2])[0]); return 0
        except (EOFError, ConnectionError, ssl.SSLError):
            print("echo_ok closed eof"); return 0
        except socket.timeout:
            pass
    print("echo_ok")
    return 0


sys.exit(main())
