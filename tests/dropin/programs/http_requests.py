"""requests against a ThreadingHTTPServer, from several threads."""
import http.server
import threading
from concurrent.futures import ThreadPoolExecutor

import requests


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
t.start()
base = f"http://127.0.0.1:{srv.server_address[1]}"
with ThreadPoolExecutor(4) as ex:
    out = list(ex.map(lambda i: requests.get(f"{base}/{i}", timeout=5).text, range(8)))
srv.shutdown()
t.join()
srv.server_close()
print(out)
