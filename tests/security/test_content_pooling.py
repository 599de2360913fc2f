"""Content pooling must not merge processes (issue 16, item 4), against a real `aonode serve`.

The cache stores one content once, under its uncommitted ID, and pools the commitments of every
signed copy there. Reading by a signed ID must still give exactly what that ID names, so:

* the same definition spawned twice (two wallets; one wallet twice, as the README's Python flow
  run twice does; one wallet with two anchors, as aoconnect spawns) makes two independent
  processes, each scheduling and computing its own slots;
* a copy of Alice's definition re-signed by Bob, sent to the scheduler or to any path, changes
  nothing of Alice's process: her slots, her results, and `GET /<her pid>` (as httpsig@1.0 and
  as an ANS-104 item) keep her ID.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from aonode_process import Node, post, response_message, running, send_message, signed

from aonode.client import ANS104_HEADERS, Client, build_item, sign_item, spawn_request
from aonode.codecs import DataItem, message_id, parse_item, verify, with_only_committed
from aonode.crypto import Wallet, b64url_encode

# The node loads `counter@1.0` (tests/processes/counter_device.py) by name.
PROCESSES = Path(__file__).parent.parent / "processes"
CONFIG = "preloaded_devices/counter@1.0: counter_device:CounterDevice\n"

LUA_MODULE = (Path(__file__).parent.parent.parent / "examples" / "process.lua").read_bytes()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running(tmp_path_factory.mktemp("pooling") / "node", config=CONFIG, pythonpath=[PROCESSES]) as started:
        yield started


@pytest.fixture
def client(node: Node) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=120) as found:
        yield found


@pytest.fixture(scope="module")
def alice() -> Wallet:
    return Wallet.generate()


@pytest.fixture(scope="module")
def bob() -> Wallet:
    return Wallet.generate()


def definition(client: httpx.Client) -> dict[str, Any]:
    """An unsigned `counter@1.0` process definition scheduled by the node."""
    address = client.get("/~meta@1.0/info/address").text
    return {
        "device": "process@1.0",
        "type": "Process",
        "scheduler": address,
        "authority": address,
        "scheduler-device": "scheduler@1.0",
        "execution-device": "counter@1.0",
        "test-random-seed": uuid.uuid4().hex,
    }


def schedule(client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return post(client, {"path": "/~scheduler@1.0/schedule", "method": "POST", "body": body})


def spawn(client: httpx.Client, process: dict[str, Any]) -> str:
    response = schedule(client, process)
    assert response.status_code == 200, response.text
    assert response.headers["slot"] == "0"
    return message_id(process, committers="all")


def current(client: httpx.Client, pid: str) -> str:
    response = client.get(f"/{pid}/slot/current")
    assert response.status_code == 200, response.text
    return response.text


def total(client: httpx.Client, pid: str, slot: int) -> str:
    response = client.get(f"/{pid}/compute/total", params={"slot": slot})
    assert response.status_code == 200, response.text
    return response.text


def count(client: httpx.Client, pid: str, sender: Wallet, n: int) -> int:
    return send_message(client, pid, sender, count=n, limit=0)


def stored_as(client: httpx.Client, pid: str) -> dict[str, Any]:
    """`GET /<pid>` as httpsig@1.0: the message, its commitments checked."""
    response = client.get(f"/{pid}", headers={"accept-bundle": "true"})
    assert response.status_code == 200, response.text
    msg = with_only_committed(response_message(response))
    verify(msg)
    return msg


def test_one_definition_signed_by_two_wallets_is_two_processes(client: httpx.Client, alice: Wallet,
                                                               bob: Wallet) -> None:
    content = definition(client)
    alice_pid = spawn(client, signed(content, alice))
    bob_pid = spawn(client, signed(content, bob))
    assert alice_pid != bob_pid
    assert count(client, alice_pid, alice, 1) == 1
    assert count(client, bob_pid, bob, 5) == 1
    assert count(client, alice_pid, alice, 2) == 2
    assert current(client, alice_pid) == "2"
    assert current(client, bob_pid) == "1"
    assert total(client, alice_pid, 2) == "3"
    assert total(client, bob_pid, 1) == "5"
    assert total(client, alice_pid, 1) == "1"  # the same request on the same content, another process
    assert client.get(f"/{alice_pid}/compute", params={"slot": 1}).headers.get("total") == "1"
    assert client.get(f"/{bob_pid}/compute", params={"slot": 1}).headers.get("total") == "5"
    assert client.get(f"/{alice_pid}/now/total").text == "3"
    assert client.get(f"/{bob_pid}/now/total").text == "5"
    for pid in (alice_pid, bob_pid):
        assert message_id(stored_as(client, pid), committers="all") == pid


def test_one_definition_signed_twice_by_one_wallet_is_two_processes(client: httpx.Client, alice: Wallet) -> None:
    """RSA-PSS signatures are salted: the same content signed twice has two IDs."""
    content = definition(client)
    first = spawn(client, signed(content, alice))
    second = spawn(client, signed(content, alice))
    assert first != second
    assert count(client, first, alice, 4) == 1
    assert current(client, first) == "1"
    assert current(client, second) == "0"
    assert count(client, second, alice, 7) == 1
    assert count(client, second, alice, 1) == 2
    assert total(client, first, 1) == "4"
    assert total(client, second, 2) == "8"


def test_python_flow_run_twice_spawns_two_processes(node: Node, alice: Wallet) -> None:
    """The README's Python flow twice: the same wallet, module and tags; no anchor."""
    with Client(node.url, alice, timeout=120) as ao:
        module = ao.upload_module(LUA_MODULE)
        first = ao.spawn(module, tags={"Name": "demo"})
        second = ao.spawn(module, tags={"Name": "demo"})
        assert first != second
        assert ao.message(first, tags={"Action": "Count"}) == 1
        assert ao.message(first, tags={"Action": "Count"}) == 2
        assert ao.message(second, tags={"Action": "Count"}) == 1
        assert ao.current_slot(first) == 2
        assert ao.current_slot(second) == 1
        assert ao.result(first, 2)["Output"] == {"data": "Count: 2"}
        assert ao.result(second, 1)["Output"] == {"data": "Count: 1"}


def test_one_item_with_two_anchors_is_two_processes(node: Node, alice: Wallet) -> None:
    """aoconnect gives every spawn a fresh anchor: the content (and so the uncommitted ID) is the same."""
    with Client(node.url, alice, timeout=120) as ao:
        module = ao.upload_module(LUA_MODULE)
        request = spawn_request(module, ao.scheduler(), tags={"Name": "anchored"})
        pids = []
        for _ in range(2):
            item = sign_item(replace(build_item(request), anchor=os.urandom(32)), alice)
            response = _send_item(node, request.path, item)
            assert response.status_code == 200, response.text
            pids.append(b64url_encode(item.id))
        first, second = pids
        assert ao.message(first, tags={"Action": "Count"}) == 1
        assert ao.message(second, tags={"Action": "Count"}) == 1
        assert ao.message(second, tags={"Action": "Count"}) == 2
        assert ao.current_slot(first) == 1
        assert ao.current_slot(second) == 2
        for pid in pids:
            found = httpx.get(f"{node.url}/{pid}", headers={"require-codec": "ans104@1.0"}, timeout=60)
            assert found.status_code == 200, found.text
            assert b64url_encode(parse_item(found.content).id) == pid


def _send_item(node: Node, path: str, item: DataItem) -> httpx.Response:
    return httpx.post(node.url + path, headers={**ANS104_HEADERS, "accept-bundle": "true"},
                      content=item.serialize(), timeout=120)


def test_bobs_copy_of_alices_definition_does_not_touch_her_process(client: httpx.Client, alice: Wallet,
                                                                   bob: Wallet) -> None:
    alice_process = signed(definition(client), alice)
    alice_pid = spawn(client, alice_process)
    assert count(client, alice_pid, alice, 3) == 1
    assert count(client, alice_pid, alice, 4) == 2
    assert total(client, alice_pid, 2) == "7"
    content = {k: v for k, v in alice_process.items() if k != "commitments"}
    copy = signed(content, bob)
    # To the scheduler: Bob spawns a process of his own, with his own ID ...
    bob_pid = spawn(client, copy)
    assert bob_pid != alice_pid
    # ... and to any path, where the node keeps the signed request.
    assert post(client, copy, path="/test-random-seed").status_code == 200
    assert post(client, {"path": "/~scheduler@1.0/schedule", "method": "POST", "body": copy}).status_code == 200
    assert count(client, alice_pid, alice, 5) == 3
    assert current(client, alice_pid) == "3"
    assert total(client, alice_pid, 3) == "12"
    assert total(client, alice_pid, 2) == "7"
    assert current(client, bob_pid) == "0"
    read = stored_as(client, alice_pid)
    assert message_id(read, committers="all") == alice_pid
    assert {c.get("committer") for c in read["commitments"].values()} - {None} == {alice.address.encode()}


def test_bobs_copy_of_alices_item_does_not_change_her_ans104_id(node: Node, alice: Wallet, bob: Wallet) -> None:
    with Client(node.url, alice, timeout=120) as ao:
        module = ao.upload_module(LUA_MODULE)
        request = spawn_request(module, ao.scheduler(), tags={"Name": "alice"})
        alice_item = sign_item(build_item(request), alice)
        assert _send_item(node, request.path, alice_item).status_code == 200
        alice_pid = b64url_encode(alice_item.id)
        assert ao.message(alice_pid, tags={"Action": "Count"}) == 1
        bob_item = sign_item(build_item(request), bob)  # the same tags and data, Bob's signature
        for path in ("/~scheduler@1.0/schedule", "/Name", request.path):
            _send_item(node, path, bob_item)
        assert ao.message(alice_pid, tags={"Action": "Count"}) == 2
        assert ao.current_slot(alice_pid) == 2
        assert ao.result(alice_pid, 2)["Output"] == {"data": "Count: 2"}
        found = httpx.get(f"{node.url}/{alice_pid}", headers={"require-codec": "ans104@1.0"}, timeout=60)
        assert found.status_code == 200, found.text
        item = parse_item(found.content)
        assert b64url_encode(item.id) == alice_pid and item.owner == alice.modulus
    with httpx.Client(base_url=node.url, timeout=60) as client:
        read = stored_as(client, alice_pid)
    assert message_id(read, committers="all") == alice_pid
