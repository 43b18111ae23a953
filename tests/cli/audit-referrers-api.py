#!/usr/bin/env python3
"""A registry with the OCI 1.1 referrers API, for tests/cli/audit-pull.bats: a proxy in front of
Debian's docker-registry 2.8 (which has no such API) that answers GET /v2/REPO/referrers/DIGEST from
the fallback tag REPO:sha256-HEX, and hides that tag itself (404), so a client that reads the
referrers only through the fallback tag finds none. Forwards everything else. Loopback only, stdlib
only. Each request is logged as "METHOD PATH STATUS".

  audit-referrers-api.py --port P --upstream 127.0.0.1:5000 --log FILE
"""
import argparse
import http.client
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade", "content-length"}
INDEX = "application/vnd.oci.image.index.v1+json"
REFERRERS = re.compile(r"^/v2/(.+)/referrers/sha256:([0-9a-f]{64})$")
FALLBACK = re.compile(r"^/v2/(.+)/manifests/sha256-[0-9a-f]{64}$")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    uhost, _, uport = a.upstream.rpartition(":")
    if uhost not in ("127.0.0.1", "localhost"):
        sys.exit("audit-referrers-api: upstream must be on loopback")
    lock = threading.Lock()
    log = open(a.log, "a")

    def upstream(method, path, headers, body=None):
        up = http.client.HTTPConnection(uhost, int(uport), timeout=60)
        up.request(method, path, body=body, headers=headers)
        r = up.getresponse()
        data = r.read()
        up.close()
        return r.status, r.getheaders(), data

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def reply(self, status, headers, data):
            self.send_response_only(status)
            for k, v in headers:
                if k.lower() not in HOP:
                    self.send_header(k, v)
            length = str(len(data))
            if self.command == "HEAD":  # no body: the upstream's length stands
                length = next((v for k, v in headers if k.lower() == "content-length"), length)
            self.send_header("Content-Length", length)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            with lock:
                log.write("%s %s %d\n" % (self.command, self.path.split("?")[0], status))
                log.flush()

        def handle_any(self):
            path = self.path.split("?")[0]
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            m = REFERRERS.match(path)
            if m and self.command == "GET":
                st, _, data = upstream("GET", "/v2/%s/manifests/sha256-%s" % (m.group(1), m.group(2)),
                                       {"Accept": INDEX})
                if st != 200:
                    data = b'{"schemaVersion":2,"mediaType":"%s","manifests":[]}' % INDEX.encode()
                self.reply(200, [("Content-Type", INDEX)], data)
                return
            if FALLBACK.match(path) and self.command in ("GET", "HEAD"):
                self.reply(404, [("Content-Type", "application/json")],
                           b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"hidden by the test"}]}')
                return
            st, hdrs, data = upstream(self.command, self.path, headers, body)
            self.reply(st, hdrs, data)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any

    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()
