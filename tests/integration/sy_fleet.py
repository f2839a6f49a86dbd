#!/usr/bin/env python3
"""Raw-socket peers for the upstream, limits, reload and workers scenarios (balance.sh,
limits.sh, reload.sh, workers.sh); stdlib only, run by those scripts, never by ctest itself.
It plays fleets of clients (many sources, held or half-sent ClientHellos, load loops) and
id-answering backends, so the scripts can count which server got which connection. It must
never listen or connect outside 127.0.0.0/8, and every wait in it is bounded.

Commands:
  hello    --sni S --out F                      a real ClientHello (python ssl) into F
  backend  --listen H:P --id ID                 answers "ID[ w=N]\\n" after the first bytes,
                                                then echoes until EOF (N: switchyard worker, from
                                                a PROXY v2 UNIQUE_ID TLV when one is sent);
                                                SIGUSR1 stops listening (the port stays bound,
                                                connects are refused), SIGUSR2 listens again
  blackhole --listen H:P                        a listener whose accept queue is kept full and
                                                that never accepts: SYNs to it are dropped
  conn     --connect H:P (--sni S|--hello F) [--src IP] [--n N]
                                                N sequential connections; one line each:
                                                the backend's answer, or "ERR what"
  hold     --connect H:P ... --ctl FILE         opens connections and holds them; obeys the
                                                commands appended to FILE (see cmd_hold)
  load     --connect H:P ... --threads K --duration S --max M
                                                K threads of sequential connections; prints
                                                "load total=N failed=F ids=..."
"""
import argparse
import os
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time

PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def addr(s):
	"""'127.0.0.1:80' -> ('127.0.0.1', 80)."""
	host, _, port = s.rpartition(":")
	return host.strip("[]"), int(port)


def out(line):
	"""One line on stdout, flushed at once (the scripts wait on these lines)."""
	sys.stdout.write(line + "\n")
	sys.stdout.flush()


def make_hello(sni):
	"""The first flight of a python-ssl TLS client for sni: one ClientHello record."""
	ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
	ctx.check_hostname = False
	ctx.verify_mode = ssl.CERT_NONE
	ctx.set_alpn_protocols(["http/1.1"])
	inc, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
	obj = ctx.wrap_bio(inc, outb, server_hostname=sni)
	try:
		obj.do_handshake()
	except ssl.SSLWantReadError:
		pass
	return outb.read()


def hello_of(a):
	if a.hello:
		with open(a.hello, "rb") as f:
			return f.read()
	return make_hello(a.sni)


def srcs_of(spec):
	"""'127.0.0.10-59' or '127.0.0.2,127.0.0.3' or '' -> list of source addresses."""
	if not spec:
		return [""]
	res = []
	for part in spec.split(","):
		if "-" in part:
			base, _, last = part.rpartition(".")
			lo, hi = last.split("-")
			res += ["%s.%d" % (base, i) for i in range(int(lo), int(hi) + 1)]
		else:
			res.append(part)
	return res


def connect(target, src, timeout):
	host, port = addr(target)
	s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
	s.settimeout(timeout)
	if src:
		s.bind((src, 0))
	s.connect((host, port))
	s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
	return s


def read_line(s, limit=4096):
	"""Reads up to and including the first newline; '' when the peer closed first."""
	buf = b""
	while not buf.endswith(b"\n") and len(buf) < limit:
		r = s.recv(1)
		if not r:
			break
		buf += r
	return buf.decode(errors="replace").strip()


def one_conn(a, hello, src):
	"""One whole exchange: hello, answer line, FIN, EOF. Returns the answer or 'ERR ...'."""
	try:
		s = connect(a.connect, src, a.timeout)
	except OSError as e:
		return "ERR connect %s" % e.__class__.__name__
	try:
		s.sendall(hello)
		line = read_line(s)
		if not line:
			return "ERR closed"
		s.shutdown(socket.SHUT_WR)
		while s.recv(65536):
			pass
		return line
	except socket.timeout:
		return "ERR timeout"
	except OSError as e:
		return "ERR %s" % e.__class__.__name__
	finally:
		s.close()


def worker_of(first):
	"""Worker id from a PROXY v2 header's UNIQUE_ID TLV (bytes 8-9 of it), or None."""
	if not first.startswith(PP2_SIG) or len(first) < 16:
		return None
	fam, n = first[13], struct.unpack("!H", first[14:16])[0]
	body = first[16:16 + n]
	i = {0x11: 12, 0x21: 36}.get(fam, n)
	while i + 3 <= len(body):
		ty, ln = body[i], struct.unpack("!H", body[i + 1:i + 3])[0]
		if ty == 0x05 and ln >= 10:
			return (body[i + 3 + 8] << 8) | body[i + 3 + 9]
		i += 3 + ln
	return None


def cmd_backend(a):
	"""Answers every connection with its id once the first bytes came, then echoes."""
	ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
	ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	ls.bind(addr(a.listen))
	ls.listen(1024)
	count = [0]
	lock = threading.Lock()

	def serve(c, peer):
		c.settimeout(60)
		try:
			first = c.recv(65536)
			if not first:
				return  # a readiness probe or a health check
			with lock:
				count[0] += 1
				k = count[0]
			w = worker_of(first)
			c.sendall(("%s%s\n" % (a.id, "" if w is None else " w=%d" % w)).encode())
			out("conn %d from %s:%d" % (k, peer[0], peer[1]))
			while True:
				r = c.recv(65536)
				if not r:
					break
				c.sendall(r)
		except OSError:
			pass
		finally:
			c.close()

	def down(signum, frame):
		# Out of LISTEN but still bound (Linux): connects are refused like a stopped server,
		# and no other process can take the port before "up".
		ls.shutdown(socket.SHUT_RDWR)
		out("down")

	def up(signum, frame):
		ls.listen(1024)
		out("up")

	signal.signal(signal.SIGUSR1, down)
	signal.signal(signal.SIGUSR2, up)
	out("listening on %s" % a.listen)
	while True:
		try:
			c, peer = ls.accept()
		except OSError:
			time.sleep(0.02)  # down: nothing to accept until "up"
			continue
		threading.Thread(target=serve, args=(c, peer), daemon=True).start()


def cmd_blackhole(a):
	"""listen(0) and fill the accept queue with connections nobody accepts: the kernel then
	drops every further SYN, so a connect() to it neither completes nor fails: it times out."""
	ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
	ls.bind(addr(a.listen))
	ls.listen(0)
	fill = []
	for _ in range(8):
		s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		s.setblocking(False)
		try:
			s.connect(addr(a.listen))
		except BlockingIOError:
			pass
		_, w, _ = select.select([], [s], [], 0.3)
		fill.append(s)
		if not w:
			break  # this one is stuck in SYN_SENT: the queue is full
	else:
		out("blackhole failed: the queue never filled")
		sys.exit(1)
	out("blackhole ready filled=%d" % (len(fill) - 1))
	time.sleep(3600)


def cmd_conn(a):
	hello = hello_of(a)
	for _ in range(a.n):
		t0 = time.monotonic()
		r = one_conn(a, hello, a.src)
		out(r + (" t=%.3f" % (time.monotonic() - t0) if a.time else ""))


def cmd_load(a):
	"""Sequential connections on K threads for a bounded time and count; every one must
	yield an answer line from a backend."""
	hello = hello_of(a)
	res = {"total": 0, "failed": 0, "ids": {}, "errs": []}
	lock = threading.Lock()
	t_end = time.monotonic() + a.duration

	def run():
		n = 0
		while time.monotonic() < t_end and n < a.max:
			r = one_conn(a, hello, a.src)
			n += 1
			with lock:
				res["total"] += 1
				if r.startswith("ERR"):
					res["failed"] += 1
					if len(res["errs"]) < 5:
						res["errs"].append(r)
				else:
					k = r.split()[0]
					res["ids"][k] = res["ids"].get(k, 0) + 1

	th = [threading.Thread(target=run) for _ in range(a.threads)]
	for t in th:
		t.start()
	for t in th:
		t.join()
	ids = ",".join("%s:%d" % kv for kv in sorted(res["ids"].items()))
	out("load total=%d failed=%d ids=%s errs=%s t=%.2f" % (res["total"], res["failed"], ids,
	    "|".join(res["errs"]) or "-", a.duration - (t_end - time.monotonic())))


def cmd_hold(a):
	"""Opens --per-src connections from each source, sends --send (none | partial: the first
	--partial bytes of the hello | hello: all of it, then reads the answer line), prints
	"ready n=N ok=K failed=F answers=...", then obeys lines appended to --ctl:
	  echo K|all    send a line on connection K, expect it back: "echo K ok" / "echo K fail"
	  send K        send the rest of the hello on K and read the answer: "sent K ANSWER"
	  close K|all   close connection K: "close K done"
	  status        "status open=N closed=M" (closed: the peer closed or reset it)
	  quit
	Meanwhile it watches every socket: when the peer closes one it prints "eof K t=SECS"
	(only with --verbose-eof) and "allclosed t=SECS" once every connection is closed."""
	hello = hello_of(a)
	t0 = time.monotonic()
	socks, answers, failed = [], [], 0
	for src in srcs_of(a.srcs):
		for _ in range(a.per_src):
			try:
				s = connect(a.connect, src, a.timeout)
				if a.send == "partial":
					s.sendall(hello[:a.partial])
				elif a.send == "hello":
					s.sendall(hello)
					ans = read_line(s)
					if not ans:
						raise ConnectionError("closed")
					answers.append(ans.replace(" ", "/"))
				socks.append(s)
			except OSError as e:
				failed += 1
				if failed <= 3:
					out("open failed: %s %s" % (src, e.__class__.__name__))
				socks.append(None)
	ok = sum(1 for s in socks if s is not None)
	out("ready n=%d ok=%d failed=%d answers=%s t=%.2f" % (len(socks), ok, failed,
	    ",".join(answers) or "-", time.monotonic() - t0))
	alive = {k for k, s in enumerate(socks) if s is not None}
	closed_by_peer = 0
	pos = 0
	deadline = time.monotonic() + a.max_time

	def pick(arg):
		return sorted(alive) if arg == "all" else [int(arg)]

	while time.monotonic() < deadline:
		# Commands first.
		try:
			with open(a.ctl, "rb") as f:
				f.seek(pos)
				data = f.read()
		except FileNotFoundError:
			data = b""
		if data.endswith(b"\n"):
			pos += len(data)
			for line in data.decode().splitlines():
				w = line.split()
				if not w:
					continue
				if w[0] == "quit":
					out("quit")
					return
				if w[0] == "status":
					out("status open=%d closed=%d" % (len(alive), closed_by_peer))
					continue
				for k in pick(w[1]):
					s = socks[k]
					if s is None or k not in alive:
						out("%s %d gone" % (w[0], k))
						continue
					try:
						if w[0] == "echo":
							msg = "ping-%d-%d" % (k, int(time.monotonic() * 1000))
							s.sendall((msg + "\n").encode())
							got = read_line(s)
							out("echo %d %s" % (k, "ok" if got == msg else "fail got=%r" % got))
						elif w[0] == "send":
							s.sendall(hello[a.partial:])
							out("sent %d %s" % (k, read_line(s) or "EOF"))
						elif w[0] == "close":
							s.close()
							alive.discard(k)
							out("close %d done" % k)
					except OSError as e:
						out("%s %d fail %s" % (w[0], k, e.__class__.__name__))
		# Then the peers: a readable held socket is a close (or data nobody asked for).
		live = [socks[k] for k in alive]
		if not live:
			time.sleep(0.02)
			continue
		r, _, _ = select.select(live, [], [], 0.02)
		for s in r:
			k = socks.index(s)
			try:
				d = s.recv(65536)
			except OSError:
				d = b""
			if d:
				continue
			s.close()
			alive.discard(k)
			closed_by_peer += 1
			if a.verbose_eof:
				out("eof %d t=%.2f" % (k, time.monotonic() - t0))
			if not alive:
				out("allclosed n=%d t=%.2f" % (closed_by_peer, time.monotonic() - t0))
	out("max-time reached")


def main():
	p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
	sub = p.add_subparsers(dest="cmd", required=True)
	h = sub.add_parser("hello")
	h.add_argument("--sni", required=True)
	h.add_argument("--out", required=True)
	b = sub.add_parser("backend")
	b.add_argument("--listen", required=True)
	b.add_argument("--id", required=True)
	bh = sub.add_parser("blackhole")
	bh.add_argument("--listen", required=True)
	for name in ("conn", "hold", "load"):
		c = sub.add_parser(name)
		c.add_argument("--connect", required=True)
		c.add_argument("--sni", default="www.example.com")
		c.add_argument("--hello", default="")
		c.add_argument("--src", default="")
		c.add_argument("--timeout", type=float, default=10.0)
	c = sub.choices["conn"]
	c.add_argument("--n", type=int, default=1)
	c.add_argument("--time", action="store_true")
	c = sub.choices["hold"]
	c.add_argument("--srcs", default="")
	c.add_argument("--per-src", type=int, default=1)
	c.add_argument("--send", choices=["none", "partial", "hello"], default="hello")
	c.add_argument("--partial", type=int, default=3)
	c.add_argument("--ctl", required=True)
	c.add_argument("--max-time", type=float, default=50.0)
	c.add_argument("--verbose-eof", action="store_true")
	c = sub.choices["load"]
	c.add_argument("--threads", type=int, default=4)
	c.add_argument("--duration", type=float, default=10.0)
	c.add_argument("--max", type=int, default=2000)
	a = p.parse_args()
	if a.cmd == "hello":
		with open(a.out, "wb") as f:
			f.write(make_hello(a.sni))
	else:
		globals()["cmd_" + a.cmd](a)


if __name__ == "__main__":
	main()
