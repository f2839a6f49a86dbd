#!/usr/bin/env python3
"""A client that writes its whole request before it reads (stdlib only), as many do.

  sy_post.py PORT plain|tls HOST BODY_FILE

Sends "POST / HTTP/1.1" with Host and Content-Length, then the whole body, then reads to
EOF, then (the server has half-closed) sends one byte, waits 0.3 s and sends another: a
server that still lingers takes them, one that has closed answers the first with a reset
and the second send fails. Prints one line:
"send=ok|<error> answers=N first=<status line> end=eof|reset|timeout after=ok|<error>".
A server that closes over unread bytes resets the connection: the send fails, or the read
does, and the answer may be lost; one that lingers lets the send finish and then ends with
EOF after its one answer, and still takes bytes after it. Connecting and reading are
sy_answer.py's.
"""
import ssl
import sys
import time

from sy_answer import connect, read


def main():
	port, mode, host, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
	body = open(path, "rb").read()
	s = connect("127.0.0.1", port, mode, host, 20)
	head = b"POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n" % (host.encode(), len(body))
	sent = "ok"
	try:
		s.sendall(head + body)
	except (OSError, ssl.SSLError) as e:
		sent = type(e).__name__
	buf, end = read(s)
	after = "ok"
	try:
		s.send(b"x")
		time.sleep(0.3)
		s.send(b"x")
	except (OSError, ssl.SSLError) as e:
		after = type(e).__name__
	first = buf.split(b"\r\n")[0].decode("latin-1") or "-"
	print("send=%s answers=%d first=%s end=%s after=%s" % (sent, buf.count(b"HTTP/1.1 "),
	    first.replace(" ", "_"), end, after))


main()
