"""`relay@1.0` (node-services.md §2) against a real peer on loopback (`peer_server`)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from peer_server import Peer, running_peer, wait_for

from aonode.codecs import signers, verify, with_only_committed
from aonode.core import Result, resolve, resolve_path
from aonode.crypto import Wallet
from aonode.devices.relay import find_target
from aonode.errors import BadMessage, Forbidden
from aonode.net import client

RELAY = {"device": "relay@1.0"}


@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    with running_peer() as found:
        yield found
    client.close()


@pytest.fixture(scope="module")
def node_wallet() -> Wallet:
    return Wallet.generate()


def last(peer: Peer) -> dict[str, Any]:
    return peer.requests[-1]


def test_call_with_peer_and_relay_path(peer: Peer) -> None:
    result = resolve(RELAY, {"path": "call", "relay-path": "/echo", "peer": peer.url, "relay-method": "POST"}, {})
    assert result.status == "ok"
    assert result.value["status"] == 200
    assert result.value["seen-method"] == b"POST" and result.value["seen-path"] == b"/echo"
    assert peer.wallet.address in signers(result.value)
    sent = last(peer)["message"]
    assert "device" not in sent and sent["method"] == b"POST" and sent["path"] == b"/echo"


def test_call_to_an_absolute_url_in_the_base_path(peer: Peer) -> None:
    result = resolve({**RELAY, "method": "GET", "path": f"{peer.url}/status/201"}, "call", {})
    assert result.status == "created" and result.value["status"] == 201
    assert last(peer)["url-path"] == "/status/201"


def test_call_through_a_hyperpath(peer: Peer) -> None:
    result = resolve_path({"path": f"/~relay@1.0/call?relay-path=/echo&peer={peer.url}", "method": "GET"}, {})
    assert result.status == "ok"
    assert result.value["seen-method"] == b"GET"
    verify(result.value)


def test_target_body_is_relayed_with_its_own_path(peer: Peer) -> None:
    request = {"path": "call", "target": "body", "peer": peer.url, "body": {"path": "/echo", "key1": "v1"}}
    result = resolve(RELAY, request, {})
    assert result.status == "ok"
    sent = last(peer)["message"]
    assert sent["key1"] == b"v1" and sent["path"] == b"/echo" and sent["method"] == b"GET"


def test_relay_body_and_relay_device_replace_the_targets(peer: Peer) -> None:
    request = {"path": "call", "relay-path": "/echo", "peer": peer.url, "relay-body": "new body",
               "relay-device": "json@1.0", "relay-method": "PUT"}
    resolve(RELAY, request, {})
    sent = last(peer)
    assert sent["method"] == "PUT"
    assert sent["message"]["body"] == b"new body" and sent["message"]["device"] == b"json@1.0"


def test_remote_error_status_propagates(peer: Peer) -> None:
    result = resolve(RELAY, {"path": "call", "relay-path": "/status/404", "peer": peer.url}, {})
    assert result.status == "error" and result.value["status"] == 404
    failure = resolve(RELAY, {"path": "call", "relay-path": "/status/503", "peer": peer.url}, {})
    assert failure.status == "failure" and failure.value["status"] == 503


def test_unreachable_peer_is_an_error_result() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = resolve(RELAY, {"path": "call", "relay-path": "/x", "peer": f"http://127.0.0.1:{port}"}, {})
    assert result.status == "error" and result.value["status"] == client.BAD_GATEWAY


def test_missing_path_is_a_bad_message(peer: Peer) -> None:
    with pytest.raises(BadMessage):
        resolve(RELAY, {"path": "call", "peer": peer.url}, {})


def test_commit_request_needs_permission(peer: Peer, node_wallet: Wallet) -> None:
    request = {"path": "call", "relay-path": "/echo", "peer": peer.url, "commit-request": True}
    with pytest.raises(Forbidden):
        resolve(RELAY, request, {"priv_wallet": node_wallet})


@pytest.mark.parametrize("flag", [True, "true", b"true"])
def test_commit_request_signs_with_the_node_wallet(peer: Peer, node_wallet: Wallet, flag: Any) -> None:
    request = {"path": "call", "relay-path": "/echo", "peer": peer.url, "relay-commit-request": flag}
    opts = {"priv_wallet": node_wallet, "relay_allow_commit_request": True}
    result = resolve(RELAY, request, opts)
    assert result.value["seen-signers"] == node_wallet.address.encode()
    assert result.value["seen-verified"] == b"true"


def test_cast_returns_at_once_and_relays_in_the_background(peer: Peer) -> None:
    peer.arrived.clear()
    started = time.monotonic()
    result = resolve(RELAY, {"path": "cast", "relay-path": "/slow", "peer": peer.url}, {})
    assert time.monotonic() - started < 0.5
    assert result.status == "ok" and result.value == b"OK"
    assert wait_for(peer.arrived)
    assert last(peer)["url-path"] == "/slow"


def test_request_hook_relays_the_whole_request() -> None:
    inbound = {"path": "/~meta@1.0/info", "method": "GET"}
    result = resolve(RELAY, {"path": "request", "request": inbound, "body": []}, {})
    assert result.status == "ok"
    assert result.value["body"] == [
        {"device": "relay@1.0"},
        {"path": "call", "target": "body", "body": inbound},
    ]


def test_find_target() -> None:
    base = {"a": 1}
    assert find_target(base, {}) is base
    assert find_target(base, {"target": "self"}) is base
    assert find_target(base, {"target": "x", "x": {"b": 2}}) == {"b": 2}
    assert find_target(base, {"target": "x", "body": {"c": 3}}) == {"c": 3}


# --- Two aonode nodes: relay@1.0 on one carries a request to the other -------------------------


@contextmanager
def serving_node(wallet: Wallet, tmp: Path) -> Iterator[str]:
    """`aonode.http.server.create_app` under uvicorn on a free loopback port, in a thread."""
    uvicorn = pytest.importorskip("uvicorn")
    server_module = pytest.importorskip("aonode.http.server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = server_module.create_app({"priv_wallet": wallet, "port": port, "data_dir": str(tmp)})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the aonode server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_relay_between_two_aonode_nodes(tmp_path: Path, node_wallet: Wallet) -> None:
    far_wallet = Wallet.generate()
    with serving_node(far_wallet, tmp_path / "far") as far, serving_node(node_wallet, tmp_path / "near") as near:
        path = f"/~relay@1.0/call?relay-path=/~meta@1.0/info&peer={far}"
        result = client.get(near, path, {"http_only_result": False})
        assert result.status == "ok", result
        answer = result.value
        verify(with_only_committed(answer))
        assert signers(answer) == [far_wallet.address]
        assert answer["address"] == far_wallet.address.encode()  # the far node's own info
        # The outbound client's own round trip: a signed POST resolved on the node, answer verified.
        assert client.post(near, {"path": "/key1", "key1": "value1"}, {"priv_wallet": Wallet.generate()},
                           sign=True) == Result("ok", b"value1")
