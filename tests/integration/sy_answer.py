#!/usr/bin/env python3
"""Sends exact request bytes and reports the first answer, for comparing servers (stdlib only).

  sy_answer.py HOST PORT plain|tls SNI REQUEST_FILE OUT_FILE [TIMEOUT]

Writes to OUT_FILE the status line of the first response, a newline, and its body (by
Content-Length, byte for byte), or "-\n" when no response came. Prints one line:
"end=complete|eof|reset|timeout" (how the reading stopped). The placeholder @HOST@ in the
request is not touched here: the caller writes the bytes it means.
"""
import socket
import ssl
import sys


def main():
	host, port, mode, sni, req, out = sys.argv[1:7]
	timeout = float(sys.argv[7]) if len(sys.argv) > 7 else 5.0
	s = socket.create_connection((host, int(port)), timeout=timeout)
	if mode == "tls":
		ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
		ctx.check_hostname = False
		ctx.verify_mode = ssl.CERT_NONE
		s = ctx.wrap_socket(s, server_hostname=sni)
	s.sendall(open(req, "rb").read())
	buf, end = b"", "timeout"
	try:
		while True:
			head, sep, rest = buf.partition(b"\r\n\r\n")
			if sep:
				cl = 0
				for line in head.split(b"\r\n")[1:]:
					k, _, v = line.partition(b":")
					if k.strip().lower() == b"content-length":
						cl = int(v.strip())
				if len(rest) >= cl:
					end = "complete"
					break
			b = s.recv(65536)
			if not b:
				end = "eof"
				break
			buf += b
	except socket.timeout:
		end = "timeout"
	except (ConnectionResetError, ssl.SSLError):
		end = "reset"
	head, sep, rest = buf.partition(b"\r\n\r\n")
	with open(out, "wb") as f:
		if sep:
			cl = 0
			for line in head.split(b"\r\n")[1:]:
				k, _, v = line.partition(b":")
				if k.strip().lower() == b"content-length":
					cl = int(v.strip())
			f.write(head.split(b"\r\n")[0] + b"\n" + rest[:cl])
		else:
			f.write(b"-\n")
	print("end=" + end)


main()
