"""The loopback router of scripts/mas: what a reverse proxy does in front of Synapse and MAS.

    python3 mas-router.py PORT MAS_URL SYNAPSE_URL

Requests for /_matrix/client/<version>/login, logout and refresh (and their sub-paths) go to MAS,
everything else to Synapse, as MAS's documentation asks of a reverse proxy. Keeps client
connections alive (HTTP/1.1), passes bodies and headers through, never follows redirects. For
tests on 127.0.0.1 only.
"""

import http.client
import re
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TO_MAS = re.compile(r"^/_matrix/client/[^/]+/(login|logout|refresh)(/|\?|$)")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection", "content-length"}


class Router(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mas: urllib.parse.SplitResult
    synapse: urllib.parse.SplitResult

    def forward(self):
        target = self.mas if TO_MAS.match(self.path) else self.synapse
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = target.netloc
        headers["X-Forwarded-For"] = self.client_address[0]
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        except OSError as err:
            self.send_error(502, f"upstream failed: {err}")
            return
        finally:
            upstream.close()
        self.send_response_only(answer.status, answer.reason)
        for key, value in answer.getheaders():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_HEAD = forward

    def log_message(self, format, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), format % args))


def main():
    port, mas, synapse = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    Router.mas = urllib.parse.urlsplit(mas)
    Router.synapse = urllib.parse.urlsplit(synapse)
    server = ThreadingHTTPServer(("127.0.0.1", port), Router)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
