"""A loopback stand-in for AMD's Key Distribution Service (stdlib `http.server`, port 0):
serves a product's `cert_chain` (PEM, ASK then ARK) and chips' VCEKs (DER) at KDS's paths,
and records every path asked for (to see what the verifier fetched and what it cached)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Kds:
    url: str = ""
    chains: dict[str, bytes] = field(default_factory=dict)  # product -> PEM
    vceks: dict[str, bytes] = field(default_factory=dict)  # "/vcek/v1/<product>/<chip hex>?<query>" -> DER
    requests: list[str] = field(default_factory=list)


@contextmanager
def running_kds() -> Iterator[Kds]:
    kds = Kds()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            kds.requests.append(self.path)
            parts = self.path.split("?", 1)[0].split("/")
            body: bytes | None = None
            ctype = "application/octet-stream"
            if len(parts) == 5 and parts[1:3] == ["vcek", "v1"] and parts[4] == "cert_chain":
                body, ctype = kds.chains.get(parts[3]), "application/x-pem-file"
            else:
                body = kds.vceks.get(self.path)
            status = 200 if body is not None else 404
            payload = body if body is not None else b"Not Found"
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    kds.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield kds
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def publish(kds: Kds, hierarchy: Any, chip: Any) -> None:
    """Make `chip`'s VCEK and its hierarchy's chain available, as AMD's KDS would."""
    from aonode.tee.kds import vcek_path
    from aonode.tee.report import Report

    kds.chains[hierarchy.product] = hierarchy.chain_pem()
    dummy = Report(chip.sign(chip.fields(bytes(64), bytes(48))))
    kds.vceks[vcek_path(chip.product, dummy)] = chip.vcek_der()
