#!/usr/bin/env python3
"""Raw-socket peers for the integration scenarios (stdlib only); run by the *.sh files, never
by ctest itself. It plays the parts that nginx, haproxy, curl and openssl cannot: clients that
write a ClientHello in odd pieces or after a PROXY header, and backends that record, echo or
decode exactly the bytes switchyard relays. It must never listen or connect outside 127.0.0.0/8
and ::1, and every wait in it is bounded (a peer that hangs would hang a test).

Commands (see each function):
  hello     --sni S [--alpn a,b] [--out F]       a real ClientHello (python ssl), bytes to F
  ppv2      --src IP:PORT --dst IP:PORT [--crc good|bad] [--authority NAME]   hex PROXY v2 header
  tls       --connect H:P ...                    a TLS client over a raw socket (MemoryBIO)
  raw       --connect H:P ...                    a byte client: send, optional SHUT_WR, read
  backend   --listen H:P --mode echo|silent|shutfirst|ppv2|tls-sha [--fastopen N] ...   raw TCP/TLS backends
  tap       --listen H:P --connect H:P --out F [--hello F2]   relays TCP connections both ways;
                                                 appends the TLS record lengths each client sends
                                                 to F, one a line; its first record to F2
"""
import argparse
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time

PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def addr(s):
	"""'127.0.0.1:80' or '[::1]:80' -> (host, port)."""
	host, _, port = s.rpartition(":")
	return host.strip("[]"), int(port)


def family(host):
	return socket.AF_INET6 if ":" in host else socket.AF_INET


def crc32c(data):
	"""CRC32C (Castagnoli, reflected 0x82F63B78), as PROXY v2 §2.2.5 asks."""
	crc = 0xFFFFFFFF
	for b in data:
		crc ^= b
		for _ in range(8):
			crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
	return crc ^ 0xFFFFFFFF


def client_context(alpn):
	ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
	ctx.check_hostname = False
	ctx.verify_mode = ssl.CERT_NONE
	if alpn:
		ctx.set_alpn_protocols(alpn.split(","))
	return ctx


def cmd_hello(a):
	"""Prints (writes) the first flight of a python-ssl client: one ClientHello record."""
	inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
	obj = client_context(a.alpn).wrap_bio(inc, out, server_hostname=a.sni or None)
	try:
		obj.do_handshake()
	except ssl.SSLWantReadError:
		pass
	data = out.read()
	with open(a.out, "wb") as f:
		f.write(data)


def cmd_ppv2(a):
	"""A PROXY v2 PROXY/TCP header, optionally with AUTHORITY and a good or bad CRC32C TLV."""
	sh, sp = addr(a.src)
	dh, dp = addr(a.dst)
	fam = family(sh)
	body = socket.inet_pton(fam, sh) + socket.inet_pton(fam, dh) + struct.pack("!HH", sp, dp)
	if a.authority:
		n = a.authority.encode()
		body += struct.pack("!BH", 0x02, len(n)) + n
	if a.crc:
		body += struct.pack("!BH", 0x03, 4)
		crc_at = 16 + len(body)
		body += b"\0\0\0\0"
	famb = 0x11 if fam == socket.AF_INET else 0x21
	hdr = bytearray(PP2_SIG + bytes([0x21, famb]) + struct.pack("!H", len(body)) + body)
	if a.crc:
		c = crc32c(bytes(hdr))
		if a.crc == "bad":
			c ^= 1
		hdr[crc_at:crc_at + 4] = struct.pack("!I", c)
	print(bytes(hdr).hex())


def connect(a):
	"""A TCP connection to --connect, from --src when given; bounded by --timeout."""
	host, port = addr(a.connect)
	s = socket.socket(family(host), socket.SOCK_STREAM)
	s.settimeout(a.timeout)
	if a.src:
		s.bind((a.src, 0))
	s.connect((host, port))
	s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
	return s


def send_pieces(s, data, chunk, delay):
	"""Writes data in chunk-byte writes with a pause between them (0: one write)."""
	if chunk <= 0:
		s.sendall(data)
		return
	for i in range(0, len(data), chunk):
		s.sendall(data[i:i + chunk])
		if delay:
			time.sleep(delay)


def refragment(flight, nrec):
	"""Re-frames the handshake bytes of the first flight's records into nrec records."""
	payload, i, ver = b"", 0, flight[1:3]
	while i + 5 <= len(flight):
		n = struct.unpack("!H", flight[i + 3:i + 5])[0]
		assert flight[i] == 0x16, "first flight is not handshake records"
		payload += flight[i + 5:i + 5 + n]
		i += 5 + n
	step = -(-len(payload) // nrec)
	out = b""
	for k in range(0, len(payload), step):
		part = payload[k:k + step]
		out += b"\x16" + ver + struct.pack("!H", len(part)) + part
	return out


class Tls:
	"""TLS over a raw socket through MemoryBIOs, so the first flight can be reshaped."""

	def __init__(self, sock, sni, alpn):
		self.s = sock
		self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
		self.obj = client_context(alpn).wrap_bio(self.inc, self.out, server_hostname=sni or None)

	def pump_in(self):
		r = self.s.recv(65536)
		if not r:
			self.inc.write_eof()
		else:
			self.inc.write(r)
		return len(r)

	def handshake(self, shape):
		first = True
		while True:
			try:
				self.obj.do_handshake()
				done = True
			except ssl.SSLWantReadError:
				done = False
			data = self.out.read()
			if data:
				if first:
					shape(data)
					first = False
				else:
					self.s.sendall(data)
			if done:
				return
			if self.pump_in() == 0:
				raise ConnectionError("EOF during the TLS handshake")

	def write(self, data):
		self.obj.write(data)
		self.s.sendall(self.out.read())

	def read_all(self):
		buf = b""
		while True:
			try:
				d = self.obj.read(65536)
				if not d:
					return buf
				buf += d
			except ssl.SSLWantReadError:
				if self.pump_in() == 0:
					try:
						buf += self.obj.read(65536)
					except (ssl.SSLError, ssl.SSLEOFError):
						pass
					return buf
			except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
				return buf


def cmd_tls(a):
	"""TLS client: optional raw prefix (PROXY header), the ClientHello reshaped (records,
	write size), then an HTTP GET (prints the body) or a length-prefixed upload (prints the
	backend's reply line)."""
	s = connect(a)
	if a.pre_hex:
		send_pieces(s, bytes.fromhex(a.pre_hex), a.pre_chunk, a.delay)
	t = Tls(s, a.sni, a.alpn)

	def shape(flight):
		if a.records > 1:
			flight = refragment(flight, a.records)
		send_pieces(s, flight, a.chunk, a.delay)

	t.handshake(shape)
	if a.upload:
		with open(a.upload, "rb") as f:
			data = f.read()
		t.write(struct.pack("!Q", len(data)))
		for i in range(0, len(data), 1 << 16):
			t.write(data[i:i + (1 << 16)])
		sys.stdout.write(t.read_all().decode(errors="replace"))
	else:
		host = a.host or a.sni or "localhost"
		t.write(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (a.path, host)).encode())
		resp = t.read_all()
		head, _, body = resp.partition(b"\r\n\r\n")
		if not head.startswith(b"HTTP/1.1 200"):
			sys.stderr.write("tls: unexpected response head: %r\n" % head[:100])
			sys.exit(1)
		sys.stdout.write(body.decode(errors="replace"))
	s.close()


def cmd_raw(a):
	"""Byte client: sends --pre-hex and --send (file) in --chunk pieces, optionally SHUT_WR
	(or --hold seconds without reading), then reads to EOF into --out. Prints one status line:
	end=eof|reset|timeout bytes=N secs=S."""
	t0 = time.monotonic()
	s = connect(a)
	data = bytes.fromhex(a.pre_hex) if a.pre_hex else b""
	if a.send:
		with open(a.send, "rb") as f:
			data += f.read()
	end = "eof"
	got = b""
	try:
		send_pieces(s, data, a.chunk, a.delay)
		if a.shut_wr:
			s.shutdown(socket.SHUT_WR)
		if a.hold:
			time.sleep(a.hold)
			if a.close_after_hold:
				s.close()
				print("end=closed bytes=0 secs=%.2f" % (time.monotonic() - t0))
				return
		while True:
			r = s.recv(65536)
			if not r:
				break
			got += r
		if a.after_eof_send:
			# The peer closed its side; this side may still talk (TCP half-close).
			with open(a.after_eof_send, "rb") as f:
				s.sendall(f.read())
			s.shutdown(socket.SHUT_WR)
			while s.recv(65536):
				pass
	except socket.timeout:
		end = "timeout"
	except (ConnectionResetError, BrokenPipeError):
		end = "reset"
	if a.out:
		with open(a.out, "wb") as f:
			f.write(got)
	print("end=%s bytes=%d secs=%.2f" % (end, len(got), time.monotonic() - t0))
	s.close()


def parse_ppv2(buf):
	"""Decodes a PROXY v2 header at buf[0:]; returns (dict, header length)."""
	if not buf.startswith(PP2_SIG) or len(buf) < 16:
		return None, 0
	vc, fp, n = buf[12], buf[13], struct.unpack("!H", buf[14:16])[0]
	if len(buf) < 16 + n:
		return None, 0
	body = buf[16:16 + n]
	d = {"version": vc >> 4, "command": vc & 15, "fam": fp, "tlvs": {}}
	if fp in (0x11, 0x21):
		al = 4 if fp == 0x11 else 16
		fam = socket.AF_INET if fp == 0x11 else socket.AF_INET6
		d["src"] = socket.inet_ntop(fam, body[0:al])
		d["dst"] = socket.inet_ntop(fam, body[al:2 * al])
		d["sport"], d["dport"] = struct.unpack("!HH", body[2 * al:2 * al + 4])
		i = 2 * al + 4
	else:
		i = n
	names = {1: "alpn", 2: "authority", 3: "crc32c", 4: "noop", 5: "unique_id"}
	while i + 3 <= n:
		ty, ln = body[i], struct.unpack("!H", body[i + 1:i + 3])[0]
		v = body[i + 3:i + 3 + ln]
		key = names.get(ty, "type_%02x" % ty)
		d["tlvs"][key] = v.decode(errors="replace") if ty in (1, 2) else v.hex()
		i += 3 + ln
	d["tlv_overrun"] = i != n
	return d, 16 + n


def recv_to_eof(c, limit):
	buf = b""
	while len(buf) < limit:
		r = c.recv(65536)
		if not r:
			break
		buf += r
	return buf


def serve_threads(port, serve):
	"""Listens on 127.0.0.1:port, prints "listening", then runs serve(conn) in a thread per
	connection until the scenario stops the process by its pid (the backends written inline
	in the *.sh files)."""
	s = socket.socket()
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.bind(("127.0.0.1", port))
	s.listen(16)
	print("listening", flush=True)
	while True:
		c, _ = s.accept()
		threading.Thread(target=serve, args=(c,), daemon=True).start()


class Backend:
	"""One listening socket, a thread per connection, a counter for saved files."""

	def __init__(self, a):
		self.a = a
		self.n = 0
		self.lock = threading.Lock()
		host, port = addr(a.listen)
		self.ls = socket.socket(family(host), socket.SOCK_STREAM)
		self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		self.ls.bind((host, port))
		if a.fastopen > 0:
			# TCP Fast Open on the listener (tcp(7)): data in a SYN with a valid cookie is
			# accepted with the connection; net.ipv4.tcp_fastopen must allow the server side.
			self.ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, a.fastopen)
		self.ls.listen(128)
		self.tls = None
		if a.mode == "tls-sha":
			self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
			self.tls.load_cert_chain(a.cert, a.key)

	def save(self, suffix, data):
		with self.lock:
			self.n += 1
			k = self.n
		if self.a.save:
			path = os.path.join(self.a.save, "conn-%03d.%s" % (k, suffix))
			with open(path + ".tmp", "wb") as f:
				f.write(data)
			os.rename(path + ".tmp", path)

	def serve(self, c):
		c.settimeout(self.a.conn_timeout)
		try:
			getattr(self, "mode_" + self.a.mode.replace("-", "_"))(c)
		except (OSError, ssl.SSLError) as e:
			sys.stdout.write("conn error: %s\n" % e)
			sys.stdout.flush()
		finally:
			c.close()

	def mode_echo(self, c):
		"""Reads to EOF, saves, sends it all back, closes: proves FIN is passed on."""
		buf = recv_to_eof(c, 1 << 30)
		if not buf:
			return  # a readiness probe
		self.save("bin", buf)
		c.sendall(buf)

	def mode_shutfirst(self, c):
		"""Answers the first read with a line and SHUT_WR at once, then reads to EOF and saves
		everything: proves a backend's FIN reaches the client while it can still send."""
		first = c.recv(65536)
		if not first:
			return
		c.sendall(b"server speaks first\n")
		c.shutdown(socket.SHUT_WR)
		self.save("bin", first + recv_to_eof(c, 1 << 30))

	def mode_silent(self, c):
		"""Reads and never answers; saves what came when the peer closes."""
		buf = recv_to_eof(c, 1 << 30)
		if buf:
			self.save("bin", buf)

	def mode_tls_sha(self, c):
		"""TLS: reads a u64 length and that many bytes, answers their sha256 and length."""
		t = self.tls.wrap_socket(c, server_side=True)
		hdr = b""
		while len(hdr) < 8:
			r = t.recv(8 - len(hdr))
			if not r:
				return
			hdr += r
		want = struct.unpack("!Q", hdr)[0]
		h, got = hashlib.sha256(), 0
		while got < want:
			r = t.recv(min(65536, want - got))
			if not r:
				break
			h.update(r)
			got += len(r)
		t.sendall(("%s %d\n" % (h.hexdigest(), got)).encode())
		t.close()

	def mode_ppv2(self, c):
		"""Waits --delay, takes the first recv(), decodes the PROXY v2 header in it and logs
		one JSON line: header fields, TLVs, and what followed the header in that read."""
		time.sleep(self.a.delay)
		first = c.recv(65536)
		if not first:
			return
		d, hl = parse_ppv2(first)
		if d is None:
			d = {"error": "no complete PROXY v2 header in the first read", "first_len": len(first)}
		else:
			d["first_len"] = len(first)
			d["hdr_len"] = hl
			d["after_hdr"] = first[hl:hl + 1].hex()
		rest = first[hl:] + recv_to_eof(c, 1 << 24)
		d["after_len"] = len(rest)
		self.save("bin", rest)
		sys.stdout.write(json.dumps(d, sort_keys=True) + "\n")
		sys.stdout.flush()
		c.sendall(b"ppv2 ok\n")

	def run(self):
		sys.stdout.write("listening on %s\n" % self.a.listen)
		sys.stdout.flush()
		while True:
			c, _ = self.ls.accept()
			threading.Thread(target=self.serve, args=(c,), daemon=True).start()


def cmd_tap(a):
	"""A TCP relay for TLS: every connection to --listen is joined to --connect; the record
	headers of the client's bytes are parsed as they pass and each record's type and length
	is appended to --out ("23 1127"), so a scenario can see how a TLS client cuts its
	writes into records. Bytes are relayed unchanged; stopped by the scenario by pid."""
	host, port = addr(a.listen)
	lock = threading.Lock()

	def pump(src, dst, log):
		hdr, need, buf, raw, first = True, 5, b"", b"", log is not None and a.hello != ""
		try:
			while True:
				d = src.recv(65536)
				if not d:
					break
				dst.sendall(d)
				if log is None:
					continue
				buf += d
				if first:  # the client's first record (its ClientHello), once it is whole
					raw += d
					if len(raw) >= 5 and len(raw) >= 5 + struct.unpack(">H", raw[3:5])[0]:
						with open(a.hello, "wb") as f:
							f.write(raw[:5 + struct.unpack(">H", raw[3:5])[0]])
						first = False
				while len(buf) >= need:
					if hdr:
						rtype, rlen = buf[0], struct.unpack(">H", buf[3:5])[0]
						with lock, open(a.out, "a") as f:
							f.write("%d %d\n" % (rtype, rlen))
						buf, need, hdr = buf[5:], rlen, False
					else:
						buf, need, hdr = buf[need:], 5, True
		except OSError:
			pass
		for x in (dst, src):
			try:
				x.shutdown(socket.SHUT_RDWR)
			except OSError:
				pass

	def serve(c):
		u = socket.create_connection(addr(a.connect), timeout=10)
		u.settimeout(None)
		threading.Thread(target=pump, args=(u, c, None), daemon=True).start()
		pump(c, u, True)

	serve_threads(port, serve)


def main():
	p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
	sub = p.add_subparsers(dest="cmd", required=True)
	h = sub.add_parser("hello")
	h.add_argument("--sni", default="")
	h.add_argument("--alpn", default="")
	h.add_argument("--out", required=True)
	v = sub.add_parser("ppv2")
	v.add_argument("--src", required=True)
	v.add_argument("--dst", required=True)
	v.add_argument("--authority", default="")
	v.add_argument("--crc", choices=["good", "bad"])
	for name in ("tls", "raw"):
		c = sub.add_parser(name)
		c.add_argument("--connect", required=True)
		c.add_argument("--src", default="")
		c.add_argument("--timeout", type=float, default=10.0)
		c.add_argument("--pre-hex", default="")
		c.add_argument("--chunk", type=int, default=0, help="write size (0: one write)")
		c.add_argument("--delay", type=float, default=0.0, help="pause between writes")
	t = sub.choices["tls"]
	t.add_argument("--sni", default="")
	t.add_argument("--alpn", default="http/1.1")
	t.add_argument("--pre-chunk", type=int, default=0)
	t.add_argument("--records", type=int, default=1, help="ClientHello over this many records")
	t.add_argument("--path", default="/")
	t.add_argument("--host", default="")
	t.add_argument("--upload", default="")
	r = sub.choices["raw"]
	r.add_argument("--send", default="")
	r.add_argument("--shut-wr", action="store_true")
	r.add_argument("--hold", type=float, default=0.0)
	r.add_argument("--close-after-hold", action="store_true")
	r.add_argument("--out", default="")
	r.add_argument("--after-eof-send", default="", help="after the peer's FIN, send this file")
	b = sub.add_parser("backend")
	b.add_argument("--listen", required=True)
	b.add_argument("--mode", required=True, choices=["echo", "silent", "tls-sha", "ppv2", "shutfirst"])
	b.add_argument("--save", default="")
	b.add_argument("--cert", default="")
	b.add_argument("--key", default="")
	b.add_argument("--delay", type=float, default=0.3)
	b.add_argument("--conn-timeout", type=float, default=30.0)
	b.add_argument("--fastopen", type=int, default=0, help="TCP_FASTOPEN queue length (0: off)")
	tp = sub.add_parser("tap")
	tp.add_argument("--listen", required=True)
	tp.add_argument("--connect", required=True)
	tp.add_argument("--out", required=True)
	tp.add_argument("--hello", default="", help="write the first client record (ClientHello) here")
	a = p.parse_args()
	if a.cmd == "tap":
		cmd_tap(a)
	elif a.cmd == "hello":
		cmd_hello(a)
	elif a.cmd == "ppv2":
		cmd_ppv2(a)
	elif a.cmd == "tls":
		cmd_tls(a)
	elif a.cmd == "raw":
		cmd_raw(a)
	else:
		Backend(a).run()


if __name__ == "__main__":
	main()
