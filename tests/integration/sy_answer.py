#!/usr/bin/env python3
"""Sends exact request bytes and reports the first answer, for comparing servers (stdlib only).

  sy_answer.py HOST PORT plain|tls SNI REQUEST_FILE OUT_FILE [TIMEOUT]

Writes to OUT_FILE the status line of the first response, a newline, and its body (by
Content-Length, byte for byte), or "-\n" when no response came. Prints one line:
"end=complete|eof|reset|timeout" (how the reading stopped). The placeholder @HOST@ in the
request is not touched here: the caller writes the bytes it means.

connect() and read() are also sy_post.py's: one way to open a plain or TLS connection and
one way to read until an answer is complete, the peer closes, resets or goes quiet.
"""
import socket
import ssl
import sys


def connect(host, port, mode, sni, timeout):
	"""A connection to host:port with timeout, in TLS towards sni (unverified) when mode is tls."""
	s = socket.create_connection((host, port), timeout=timeout)
	if mode == "tls":
		ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
		ctx.check_hostname = False
		ctx.verify_mode = ssl.CERT_NONE
		s = ctx.wrap_socket(s, server_hostname=sni)
	return s


def read(s, complete=lambda buf: False):
	"""Reads s until complete(bytes so far) holds, EOF, a timeout or a reset; returns the
	bytes and how it stopped: "complete", "eof", "timeout" or "reset"."""
	buf = b""
	try:
		while not complete(buf):
			b = s.recv(65536)
			if not b:
				return buf, "eof"
			buf += b
		return buf, "complete"
	except socket.timeout:
		return buf, "timeout"
	except (ConnectionResetError, ssl.SSLError):
		return buf, "reset"


def content_length(head):
	"""The Content-Length of a response head (the last one given), 0 when there is none."""
	cl = 0
	for line in head.split(b"\r\n")[1:]:
		k, _, v = line.partition(b":")
		if k.strip().lower() == b"content-length":
			cl = int(v.strip())
	return cl


def answered(buf):
	"""True once buf holds a whole response head and the body its Content-Length announces."""
	head, sep, rest = buf.partition(b"\r\n\r\n")
	return bool(sep) and len(rest) >= content_length(head)


def main():
	host, port, mode, sni, req, out = sys.argv[1:7]
	timeout = float(sys.argv[7]) if len(sys.argv) > 7 else 5.0
	s = connect(host, int(port), mode, sni, timeout)
	s.sendall(open(req, "rb").read())
	buf, end = read(s, answered)
	head, sep, rest = buf.partition(b"\r\n\r\n")
	with open(out, "wb") as f:
		if sep:
			f.write(head.split(b"\r\n")[0] + b"\n" + rest[:content_length(head)])
		else:
			f.write(b"-\n")
	print("end=" + end)


if __name__ == "__main__":
	main()
