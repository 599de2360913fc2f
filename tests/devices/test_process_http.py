"""`process@1.0` through a node's HTTP interface (in process, over httpx's ASGI transport):
spawning and scheduling with POSTs, then `GET /<ProcID>/compute?slot=N/...` and
`GET /<ProcID>/now/results/...` (http_wasm_process_by_id_test with recorder@1.0)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from process_helpers import Recorder, recorder_process

from aonode.codecs import commit, decode, encode, message_id
from aonode.crypto import Wallet
from aonode.http import NodeApp, create_app
from aonode.store import MemoryStore

TRANSPORT = frozenset({"content-length", "date", "server", "connection", "transfer-encoding", "keep-alive"})


class Client:
    """Requests against an in-process node; answers decoded as `hb_http` returns them."""

    def __init__(self, app: NodeApp) -> None:
        self.app = app

    def _send(self, method: str, path: str, headers: dict[str, str], body: bytes = b"",
              params: dict[str, Any] | None = None) -> tuple[int, Any]:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
                return await client.request(method, path, params=params, headers=headers, content=body)

        response = asyncio.run(go())
        wire = {k.lower(): v.encode("latin-1") for k, v in response.headers.items() if k.lower() not in TRANSPORT}
        if response.content:
            wire["body"] = response.content
        msg = decode(wire, "httpsig@1.0")
        assert isinstance(msg, dict)
        key = msg.get("ao-result")
        return response.status_code, msg.get(key.decode()) if isinstance(key, bytes) else msg

    def get(self, path: str, **params: Any) -> tuple[int, Any]:
        return self._send("GET", path, {"accept-bundle": "true"}, params=params)

    def post(self, path: str, message: dict[str, Any]) -> tuple[int, Any]:
        wire = encode(message, "httpsig@1.0", bundle=True)
        body = wire.pop("body", b"")
        headers = {k: v.decode("latin-1") for k, v in wire.items()}
        return self._send("POST", path, {**headers, "accept-bundle": "true"}, body if isinstance(body, bytes) else b"")


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.generate()


@pytest.fixture
def node(wallet: Wallet) -> Iterator[tuple[NodeApp, Client]]:
    app = create_app({
        "store": MemoryStore(),
        "priv_wallet": wallet,
        "preloaded_devices": {"recorder@1.0": Recorder()},
        "process_snapshot_slots": 1,
    })
    yield app, Client(app)
    app.close()


def test_process_by_id_over_http(wallet: Wallet, node: tuple[NodeApp, Client]) -> None:
    _, client = node
    proc = recorder_process(wallet, **{"scheduler": wallet.address.encode()})
    pid = message_id(proc, committers="all")
    status, assignment = client.post("/~scheduler@1.0/schedule", proc)  # the spawn: slot 0
    assert status == 200 and assignment["slot"] == 0
    for value in (5, 7):
        message = commit({"type": b"Message", "target": pid.encode(), "value": value}, wallet)
        status, assignment = client.post(f"/{pid}/schedule", message)
        assert status == 200, assignment
    assert client.get(f"/{pid}/slot/current") == (200, 2)
    assert client.get(f"/{pid}/compute/results/total", slot="1") == (200, 5)
    assert client.get(f"/{pid}/now/results/total") == (200, 12)
    assert client.get(f"/{pid}/now/results/data") == (200, b"12")
    status, state = client.get(f"/{pid}/compute", slot="2")
    assert status == 200 and state["at-slot"] == 2 and state["count"] == 3


def test_errors_over_http(wallet: Wallet, node: tuple[NodeApp, Client]) -> None:
    _, client = node
    proc = recorder_process(wallet, **{"scheduler": wallet.address.encode()})
    pid = message_id(proc, committers="all")
    assert client.post("/~scheduler@1.0/schedule", proc)[0] == 200
    status, answer = client.get(f"/{pid}/compute", slot="abc")
    assert status == 400 and b"non-negative integer" in answer
    status, answer = client.get(f"/{pid}/compute", slot="5")
    assert status == 404
    assert answer["phase"] == b"get-schedule" and answer["attempted-slot"] == 1
