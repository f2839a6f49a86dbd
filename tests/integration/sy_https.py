#!/usr/bin/env python3
"""A raw HTTP/1.x client for the terminator's integration tests (stdlib only).

It sends exact bytes (never fixes them up), over TLS (--tls, with --sni) or plain TCP,
whole or in --chunk byte pieces with --delay between them, optionally one request per
connection turn (--wait: each --data item waits for its responses before the next goes),
then keeps reading until EOF, a reset or --timeout, and reports what came back:

  stdout, one line per complete response:  "HTTP/1.1 200 OK" (its status line)
  and then one line:                        "end=eof|reset|timeout|tls_error bytes=N secs=S"

--out FILE keeps every byte received. The client never verifies certificates (the tests
check them with openssl s_client) and never connects beyond the given address.
"""
import argparse
import codecs
import socket
import ssl
import sys
import time
import warnings


def unescape(s):
	"""Python-style escapes (\\r, \\n, \\x00, \\\\) in a command-line argument to bytes."""
	with warnings.catch_warnings():
		warnings.simplefilter("ignore")  # "\\s" and the like stay as they are, on purpose
		return codecs.escape_decode(s.encode("latin-1"))[0]


def methods_of(data):
	"""The methods of the request lines in data, in order (to know which responses have a body)."""
	out = []
	for line in data.split(b"\r\n"):
		parts = line.split(b" ")
		if len(parts) == 3 and parts[2].startswith(b"HTTP/"):
			out.append(parts[0])
	return out


def parse_responses(buf, methods):
	"""Splits buf into complete responses: a list of status lines (bytes). Bodies are
	delimited by Content-Length; HEAD, 1xx, 204 and 304 have none."""
	lines, i, k = [], 0, 0
	while True:
		end = buf.find(b"\r\n\r\n", i)
		if end == -1:
			return lines
		head = buf[i:end].split(b"\r\n")
		status = head[0]
		code = 0
		try:
			code = int(status.split(b" ")[1])
		except (IndexError, ValueError):
			return lines
		clen = 0
		for h in head[1:]:
			name, _, value = h.partition(b":")
			if name.strip().lower() == b"content-length":
				clen = int(value.strip())
		method = methods[k] if k < len(methods) else b"GET"
		if method == b"HEAD" or code < 200 or code in (204, 304):
			clen = 0
		if end + 4 + clen > len(buf):
			return lines
		lines.append(status)
		i = end + 4 + clen
		k += 1


def main():
	p = argparse.ArgumentParser()
	p.add_argument("--connect", required=True, help="host:port")
	p.add_argument("--tls", action="store_true")
	p.add_argument("--sni", default="")
	p.add_argument("--alpn", default="", help="comma list; empty: no ALPN")
	p.add_argument("--data", action="append", default=[], help="bytes to send, with escapes")
	p.add_argument("--data-file", action="append", default=[], help="a file to send")
	p.add_argument("--chunk", type=int, default=0, help="write size (0: one write per item)")
	p.add_argument("--delay", type=float, default=0.0, help="pause between writes")
	p.add_argument("--wait", action="store_true", help="each item waits for its responses")
	p.add_argument("--shut-wr", action="store_true", help="half-close after the last item (plain only)")
	p.add_argument("--timeout", type=float, default=10.0, help="whole run, seconds")
	p.add_argument("--out", default="")
	a = p.parse_args()

	items = [unescape(d) for d in a.data]
	for f in a.data_file:
		with open(f, "rb") as fh:
			items.append(fh.read())
	host, _, port = a.connect.rpartition(":")
	t0 = time.monotonic()
	deadline = t0 + a.timeout
	raw = socket.create_connection((host.strip("[]"), int(port)), timeout=a.timeout)
	raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
	s = raw
	if a.tls:
		ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
		ctx.check_hostname = False
		ctx.verify_mode = ssl.CERT_NONE
		if a.alpn:
			ctx.set_alpn_protocols(a.alpn.split(","))
		try:
			s = ctx.wrap_socket(raw, server_hostname=a.sni or None)
		except (ssl.SSLError, OSError) as e:
			# A refused handshake is an answer too: say so on the status line.
			print("end=tls_error bytes=0 secs=%.2f (%s)" % (time.monotonic() - t0, e))
			return 0

	buf = b""
	end = "eof"
	sent = b""

	def left():
		return max(0.01, deadline - time.monotonic())

	def read_some():
		"""One read; returns False at EOF/reset/timeout (end says which)."""
		nonlocal buf, end
		s.settimeout(left())
		try:
			d = s.recv(65536)
		except socket.timeout:
			end = "timeout"
			return False
		except (ConnectionResetError, BrokenPipeError):
			end = "reset"
			return False
		except ssl.SSLError as e:
			end = "reset" if "EOF" not in str(e) else "eof"
			return False
		if not d:
			end = "eof"
			return False
		buf += d
		return True

	open_ = True
	try:
		for n, item in enumerate(items):
			if a.chunk > 0:
				for i in range(0, len(item), a.chunk):
					s.sendall(item[i:i + a.chunk])
					if a.delay:
						time.sleep(a.delay)
			else:
				s.sendall(item)
			sent += item
			if a.wait and n + 1 < len(items):
				want = len(methods_of(sent))
				while open_ and len(parse_responses(buf, methods_of(sent))) < want:
					open_ = read_some()
		if a.shut_wr and open_ and not a.tls:
			raw.shutdown(socket.SHUT_WR)  # plain only: TLS would need close_notify
	except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
		pass
	while open_ and time.monotonic() < deadline:
		open_ = read_some()
	if open_:
		end = "timeout"
	secs = time.monotonic() - t0
	try:
		s.close()
	except OSError:
		pass
	if a.out:
		with open(a.out, "wb") as fh:
			fh.write(buf)
	for line in parse_responses(buf, methods_of(sent)):
		print(line.decode("latin-1"))
	print("end=%s bytes=%d secs=%.2f" % (end, len(buf), secs))


if __name__ == "__main__":
	sys.exit(main())
