"""socketserver.ThreadingTCPServer echo server and N concurrent clients.

``socketserver_echo.py [N]`` (or ``PROGRAM_N``; default 200): N client threads
each connect and do a round trip, wait at a barrier until all N have (so
the server holds N connections and N handler threads at once), then do 2
more round trips.  Prints a digest of the replies; the peak thread counts go to stderr.
"""
import hashlib
import os
import socket
import socketserver
import sys
import threading

N = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PROGRAM_N", 200))
ROUNDS = 3


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(1024)
            if not data:
                return
            self.request.sendall(data.upper())


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    request_queue_size = max(N, 128)


def peak():
    print(f"peak threads={threading.active_count()} "
          f"os_threads={len(os.listdir('/proc/self/task'))}", file=sys.stderr)


def recv_exactly(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed early")
        buf += chunk
    return buf


def client(i, addr, barrier, replies):
    with socket.create_connection(addr, timeout=60) as c:
        got = []
        for r in range(ROUNDS):
            if r == 1:
                barrier.wait()      # every client has had an answer: all N served at once
            msg = b"hello %d.%d" % (i, r)
            c.sendall(msg)
            got.append(recv_exactly(c, len(msg)))
        replies[i] = b"|".join(got)


with Server(("127.0.0.1", 0), Echo) as srv:
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    t.start()
    replies = [None] * N
    barrier = threading.Barrier(N, action=peak, timeout=120)
    clients = [threading.Thread(target=client, args=(i, srv.server_address, barrier, replies))
               for i in range(N)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    srv.shutdown()
    t.join()
ok = all(r == b"|".join(b"HELLO %d.%d" % (i, k) for k in range(ROUNDS))
         for i, r in enumerate(replies))
print("clients", N, "all echoed", ok)
print("digest", hashlib.sha256(b"\n".join(r or b"-" for r in replies)).hexdigest()[:16])
print("first", replies[:2])
