# mitmproxy addon for tests/tls_proxy.rs. Environment:
#   SANDSPAWN_TEST_ORIGIN_PORT  origin.test:* goes to 127.0.0.1:<this port>
#   SANDSPAWN_TEST_FLOWS        one JSON line per finished flow or TLS failure
import json, os

PORT = int(os.environ["SANDSPAWN_TEST_ORIGIN_PORT"])
FLOWS = os.environ["SANDSPAWN_TEST_FLOWS"]

def _log(rec):
    with open(FLOWS, "a") as f:
        f.write(json.dumps(rec) + "\n")

class Origin:
    def server_connect(self, data):
        host, port = data.server.address
        if host == "origin.test":
            data.server.address = ("127.0.0.1", PORT)

    def response(self, flow):
        _log({"host": flow.request.pretty_host, "path": flow.request.path,
              "status": flow.response.status_code})

    def tls_failed_client(self, data):
        _log({"host": data.context.client.sni, "tls_failed": True})

addons = [Origin()]
