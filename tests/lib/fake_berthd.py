#!/usr/bin/env python3
"""A stand-in for berthd that honours only its process contract (flags, pidfile, Unix socket,
/_ping, /version, SIGHUP, SIGTERM → exit 0 with socket and pidfile removed). It lets the bed test
its own daemon fixture before, and independently of, the real daemon."""
import argparse
import json
import os
import signal
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler

VERSION = {"Version": "0.0.0-fake", "ApiVersion": "1.47", "MinAPIVersion": "1.24",
           "Os": "linux", "Arch": "amd64", "Components": []}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status, body: bytes, ctype="text/plain; charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Api-Version", VERSION["ApiVersion"])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path.startswith("/v1.") or path.startswith("/v2"):
            path = "/" + path.split("/", 2)[2]
        if path == "/_ping":
            self._send(200, b"OK")
        elif path == "/version":
            self._send(200, json.dumps(VERSION).encode(), "application/json")
        else:
            self._send(404, json.dumps({"message": f"page not found: {path}"}).encode(),
                       "application/json")

    do_HEAD = do_GET

    def address_string(self):
        return "unix"

    def log_message(self, fmt, *args):
        sys.stderr.write("fake-berthd: " + fmt % args + "\n")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    p = argparse.ArgumentParser()
    for flag in ("--config-file", "--data-root", "--exec-root", "--pidfile", "--log-level",
                 "--tlscacert", "--tlscert", "--tlskey", "--group"):
        p.add_argument(flag)
    p.add_argument("-H", "--host", action="append", default=[])
    for flag in ("--debug", "--tls", "--tlsverify", "--validate"):
        p.add_argument(flag, action="store_true")
    a = p.parse_args()
    try:
        config = json.load(open(a.config_file)) if a.config_file else {}
    except ValueError as e:
        sys.exit(f"fake-berthd: invalid config {a.config_file}: {e}")
    if a.validate:
        print("configuration OK")
        return
    if config.get("fail-on-start"):  # lets the bed test its early-exit reporting
        sys.exit("fake-berthd: asked to fail")
    socks = [h[len("unix://"):] for h in a.host if h.startswith("unix://")]
    servers = [Server(s, Handler) for s in socks]
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    # Blocked before the server threads start (they inherit the mask), then taken with sigwait:
    # a handler-based wait can miss a signal the kernel hands to another thread.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGHUP})
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(f"fake-berthd: listening on {socks}", file=sys.stderr, flush=True)
    while signal.sigwait({signal.SIGTERM, signal.SIGHUP}) == signal.SIGHUP:
        print("fake-berthd: reloaded", file=sys.stderr, flush=True)
    for s, path in zip(servers, socks):
        s.shutdown()
        os.unlink(path)
    if a.pidfile:
        os.unlink(a.pidfile)
    print("fake-berthd: stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
