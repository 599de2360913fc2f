"""A small real HTTP peer on 127.0.0.1 (stdlib `http.server`, port 0) for the outbound client
and relay@1.0 tests. It speaks just enough of a node: it decodes `httpsig@1.0` requests,
records them, and answers signed `httpsig@1.0` messages.

Routes (the path without its query):

    /echo           200, signed: the request's keys, its signers, whether it verified
    /status/<N>     status N, signed, body `status N`
    /result         200, `ao-result: body`, body `hello`
    /html           200, a plain web page (text/html), unsigned
    /cookie         200, two `set-cookie` lines
    /forged         200, a signed message with a value changed after signing
    /slow           never answers until the server stops (or 5 s pass)
    /drip           answers headers, then one byte every 50 ms for 5 s
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aonode.codecs import commit, decode, encode, signers, verify, with_only_committed
from aonode.crypto import Wallet
from aonode.errors import AOError


@dataclass
class Peer:
    url: str
    wallet: Wallet
    requests: list[dict[str, Any]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)


def _handler(peer: Peer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _read(self) -> dict[str, Any]:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            wire = {k.lower(): v.encode("latin-1") for k, v in self.headers.items()}
            wire.pop("host", None)
            wire.pop("content-length", None)
            if body:
                wire["body"] = body
            try:
                msg = decode(wire)
                try:
                    verify(with_only_committed(msg))
                    verified = True
                except AOError:
                    verified = False
            except AOError:
                msg, verified = {"undecodable": True}, False
            record = {"method": self.command, "url-path": self.path, "headers": wire, "message": msg,
                      "verified": verified, "signers": signers(msg) if isinstance(msg, dict) else []}
            peer.requests.append(record)
            peer.arrived.set()
            return record

        def _send(self, status: int, headers: dict[str, bytes], body: bytes = b"") -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value.decode("latin-1"))
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _send_message(self, status: int, msg: dict[str, Any], *, tamper: bool = False) -> None:
            signed = commit({**msg, "status": status}, peer.wallet)
            wire = encode(signed, "httpsig@1.0", bundle=True)
            if tamper:
                wire["answer"] = b"forged"
            body = wire.pop("body", b"")
            self._send(status, wire, body)

        def _handle(self) -> None:
            record = self._read()
            path = self.path.split("?", 1)[0]
            if path == "/echo":
                msg = record["message"]
                self._send_message(200, {
                    "seen-method": self.command.encode(),
                    "seen-path": self.path.encode(),
                    "seen-keys": b",".join(sorted(k.encode() for k in msg if k != "commitments")),
                    "seen-signers": b",".join(s.encode() for s in record["signers"]),
                    "seen-verified": b"true" if record["verified"] else b"false",
                })
            elif path.startswith("/status/"):
                code = int(path.rsplit("/", 1)[1])
                self._send_message(code, {"body": f"status {code}".encode()})
            elif path == "/result":
                self._send(200, {"ao-result": b"body", "content-type": b"text/plain"}, b"hello")
            elif path == "/html":
                self._send(200, {"content-type": b"text/html; charset=utf-8"}, b"<html><body>hi</body></html>")
            elif path == "/cookie":
                self.send_response(200)
                self.send_header("set-cookie", "a=1; Path=/")
                self.send_header("set-cookie", "b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            elif path == "/forged":
                self._send_message(200, {"answer": b"genuine"}, tamper=True)
            elif path == "/slow":
                peer.stop.wait(5)
            elif path == "/drip":
                self.send_response(200)
                self.send_header("content-length", "100")
                self.end_headers()
                for _ in range(100):
                    if peer.stop.wait(0.05):
                        return
                    self.wfile.write(b"x")
                    self.wfile.flush()
            else:
                self._send(404, {"content-type": b"text/plain"}, b"no such route")

        do_GET = _handle
        do_POST = _handle
        do_PUT = _handle
        do_DELETE = _handle

    return Handler


@contextmanager
def running_peer() -> Iterator[Peer]:
    """Start the peer on a free loopback port; stop it (and release stalled handlers) on exit."""
    peer = Peer(url="", wallet=Wallet.generate())
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(peer))
    server.daemon_threads = True
    peer.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        peer.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def wait_for(event: threading.Event, seconds: float = 5.0) -> bool:
    """Wait for an event without a bare sleep; True when it was set in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if event.wait(0.01):
            return True
    return False
