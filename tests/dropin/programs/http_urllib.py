"""http.server.ThreadingHTTPServer and urllib.request."""
import http.server
import threading
import urllib.request


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"path={self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
t.start()
port = srv.server_address[1]
out = []
for p in ("/a", "/b?x=1"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{p}", timeout=5) as r:
        out.append((r.status, r.read().decode()))
srv.shutdown()
t.join()
srv.server_close()
print(out)
