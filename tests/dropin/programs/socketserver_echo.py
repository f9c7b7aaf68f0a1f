"""socketserver.ThreadingTCPServer echo server and a client."""
import socket
import socketserver
import threading


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(1024)
            if not data:
                return
            self.request.sendall(data.upper())


with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo) as srv:
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    t.start()
    replies = []
    for i in range(3):
        with socket.create_connection(srv.server_address) as c:
            c.sendall(b"hello %d" % i)
            replies.append(c.recv(1024))
    srv.shutdown()
    t.join()
print(replies)
