# TLS origin for tests/tls_proxy.rs: origin.py CERT KEY PORTFILE
# Answers GET with "hello from origin"; binds 127.0.0.1:0 and writes the port.
import http.server, ssl, sys

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        body = b"hello from origin\n"
        if self.path.startswith("/big"):
            body = b"x" * (1 << 20)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])

class S(http.server.ThreadingHTTPServer):
    # The TLS handshake runs in the request's own thread: wrapping the
    # listening socket would serialise every handshake in accept().
    request_queue_size = 256
    daemon_threads = True

    def finish_request(self, request, client_address):
        request.settimeout(30)
        self.RequestHandlerClass(ctx.wrap_socket(request, server_side=True), client_address, self)

    def handle_error(self, request, client_address):
        pass

srv = S(("127.0.0.1", 0), H)
with open(sys.argv[3] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(sys.argv[3] + ".tmp", sys.argv[3])
srv.serve_forever()
