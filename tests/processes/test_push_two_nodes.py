"""Two processes on two nodes push a count back and forth until it reaches 100 (issue 6,
done-means 4). Node A schedules P1, node B schedules P2; node A does the pushing: it computes
P1 locally, delivers P1's outbox to P2 through B's scheduler (found from B's signed location
record), computes P2 from B's schedule, delivers its outbox back to P1, and so on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aonode_process import Node, post, response_message, signed, start, stop
from process_http import CONFIG, HERE, node_wallet, process_message, schedule

from aonode.codecs import message_id
from aonode.crypto import Wallet

LIMIT = 100


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    a = start(tmp_path / "a", config=CONFIG, pythonpath=[HERE])
    try:
        b = start(tmp_path / "b", config=CONFIG, pythonpath=[HERE])
        try:
            yield a, b
        finally:
            stop(b)
    finally:
        stop(a)


def publish_location(owner: Node, to: list[Node]) -> None:
    """The operator of `owner` signs its scheduler location; the other nodes cache the record."""
    wallet = node_wallet(owner)
    request = signed({"path": "/~scheduler@1.0/location", "method": "POST", "url": owner.url,
                      "nonce": 1, "time-to-live": 3_600_000}, wallet)
    with httpx.Client(base_url=owner.url, timeout=30) as client:
        response = post(client, request)
    assert response.status_code == 200, response.text
    record = response_message(response)
    record = record.get("body", record) if isinstance(record.get("body"), dict) else record
    for other in to:
        with httpx.Client(base_url=other.url, timeout=30) as client:
            forwarded = post(client, {"path": "/~scheduler@1.0/location", "method": "POST",
                                     "target": "body", "body": record})
        assert forwarded.status_code == 200, forwarded.text


def upload(node: Node, message: dict[str, object]) -> None:
    """Make a signed message readable by ID on `node` (a verified signed request is stored)."""
    with httpx.Client(base_url=node.url, timeout=30) as client:
        response = post(client, message, path="/type")
    assert response.status_code == 200, response.text


def now_state(node: Node, pid: str) -> dict[str, object]:
    with httpx.Client(base_url=node.url, timeout=300) as client:
        response = client.get(f"/{pid}/now", headers={"accept-bundle": "true"})
    assert response.status_code == 200, response.text
    return response_message(response)


def test_two_processes_on_two_nodes_count_to_100(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    publish_location(a, [b])
    publish_location(b, [a])
    owner = Wallet.generate()
    p1 = process_message(node_wallet(a).address, owner)
    p2 = process_message(node_wallet(b).address, owner)
    pid1, pid2 = message_id(p1, committers="all"), message_id(p2, committers="all")
    with httpx.Client(base_url=a.url, timeout=30) as client:
        assert schedule(client, p1).status_code == 200
    with httpx.Client(base_url=b.url, timeout=30) as client:
        assert schedule(client, p2).status_code == 200
    upload(a, p2)
    upload(b, p1)

    first = signed({"target": pid1, "type": "Message", "count": 1, "limit": LIMIT, "reply-to": pid2}, owner)
    with httpx.Client(base_url=a.url, timeout=600) as client:
        pushed = post(client, {"path": f"/{pid1}/push", "method": "POST", "body": first})
    assert pushed.status_code == 200, pushed.text

    # Odd counts were computed by P1, even ones by P2; each ends with its last count.
    state1, state2 = now_state(a, pid1), now_state(b, pid2)
    assert int(state1["counter"]) == LIMIT - 1
    assert int(state2["counter"]) == LIMIT
    assert int(state1["total"]) == sum(range(1, LIMIT, 2))
    assert int(state2["total"]) == sum(range(2, LIMIT + 1, 2))
