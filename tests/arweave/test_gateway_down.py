"""Issue 19, done-means 6: a node whose gateway cannot be reached still starts and serves its
own data; what needs the gateway answers 502 (refused) or 504 (silent) naming the gateway,
within the configured timeout.

The node runs as `make run` starts it (`aonode serve --port --data-dir`), with a config that
turns on the reference's store chain (`gateway_store: true`) and routes `/graphql` and `/raw`
to a loopback port that refuses connections, or to one that accepts and never answers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from aonode_process import Node, free_port, post, signed, start, stop

from aonode.codecs import message_id
from aonode.crypto import Wallet

TIMEOUT_MS = 1500


class Silent:
    """A loopback server that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture(scope="module", params=["refused", "silent"])
def gateway(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    if request.param == "refused":
        yield "refused", free_port()  # nothing listens there
        return
    silent = Silent()
    try:
        yield "silent", silent.port
    finally:
        silent.close()


@pytest.fixture(scope="module")
def node(gateway: tuple[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    kind, port = gateway
    workdir = tmp_path_factory.mktemp(f"gateway-down-{kind}")
    url = f"http://127.0.0.1:{port}"
    config = {
        "gateway_store": True,
        "routes": [{"template": "/graphql", "nodes": [{"prefix": url}]},
                   {"template": "/raw", "node": {"prefix": url}}],
        "http_connect_timeout": TIMEOUT_MS, "http_request_send_timeout": TIMEOUT_MS,
    }
    path = workdir / "node.json"
    path.write_text(json.dumps(config))
    started = start(workdir, extra=["--config", str(path)])
    try:
        yield started
    finally:
        stop(started)


def test_local_data_is_served(node: Node) -> None:
    wallet = Wallet.generate()
    msg = signed({"note": "only here", "body": b"local"}, wallet)
    with httpx.Client(base_url=node.url, timeout=30) as client:
        assert post(client, msg, path="/~message@1.0").status_code < 400
        uid = message_id(msg, committers="all")
        started = time.monotonic()
        answer = client.get(f"/{uid}/note")
    assert answer.status_code == 200 and answer.text == "only here"
    assert time.monotonic() - started < 1, "reading local data must not wait for the gateway"


def test_what_needs_the_gateway_names_it(node: Node, gateway: tuple[str, int]) -> None:
    kind, port = gateway
    started = time.monotonic()
    answer = httpx.get(f"{node.url}/{'G' * 43}", timeout=30)
    elapsed = time.monotonic() - started
    assert answer.status_code == (502 if kind == "refused" else 504), answer.text
    assert f"127.0.0.1:{port}" in answer.text
    # One timeout (the second gateway store does not ask the gateway that just failed), plus the
    # node's own work.
    assert elapsed < TIMEOUT_MS / 1000 + 1.5, elapsed
    # Still serving afterwards.
    assert httpx.get(f"{node.url}/~meta@1.0/info/address", timeout=10).status_code == 200
