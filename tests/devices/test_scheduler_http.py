"""scheduler@1.0 over HTTP against real `aonode serve` processes on loopback: the HTTP tests of
`dev_scheduler.erl` (processes-compute.md §7), two nodes where one forwards to the other's
scheduler, a SIGKILL in the middle of a schedule, two node processes on one LMDB directory,
and many concurrent clients."""

from __future__ import annotations

import functools
import json
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "http"))

from aonode_process import Node, post, result, running, signed, start, stop  # noqa: E402
from scheduler_helpers import check_assignment, check_chain, scheduler_process, wallet  # noqa: E402

from aonode.codecs import commit, decode, message_id, signers  # noqa: E402
from aonode.crypto import Wallet, b64url_decode, sha256  # noqa: E402

# Nothing listens on the discard port: gateway lookups fail at once instead of going online.
OFFLINE = "gateway: http://127.0.0.1:9\n"


def node_wallet(node: Node) -> Wallet:
    return _load_wallet(node.data_dir / "wallet.json")


@functools.cache
def _load_wallet(path: Path) -> Wallet:
    return Wallet.load(path)  # loading checks the RSA key, which takes a while: once per node


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running(tmp_path_factory.mktemp("scheduler-node"), config=OFFLINE) as started:
        yield started


@pytest.fixture
def client(node: Node) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=60) as c:
        yield c


def spawn(client: httpx.Client, scheduler: str, user: Wallet) -> tuple[dict[str, Any], str]:
    """POST a signed process to `/~scheduler@1.0/schedule` (the reference's http_init flow)."""
    process = commit(scheduler_process(scheduler), user)
    response = post(client, signed({"path": "/~scheduler@1.0/schedule", "method": "POST", "body": process}, user))
    assert response.status_code == 200, response.text
    assert result(response)["slot"] == 0
    return process, message_id(process, committers="all")


def schedule(client: httpx.Client, proc_id: str, user: Wallet, path: str = "/~scheduler@1.0/schedule",
             **keys: Any) -> httpx.Response:
    body = commit({"target": proc_id.encode(), "type": b"Message", **keys}, user)
    return post(client, signed({"path": path, "method": "POST", "body": body}, user))


def fetch(client: httpx.Client, path: str) -> Any:
    """GET a path, nested messages inline, and return its result."""
    response = client.get(path, headers={"accept-bundle": "true"})
    assert response.status_code == 200, response.text
    return result(response)


def slot(client: httpx.Client, proc_id: str) -> int:
    response = client.get(f"/~scheduler@1.0/slot?target={proc_id}", headers={"accept-bundle": "true"})
    assert response.status_code == 200, response.text
    found = result(response)["current"]
    assert isinstance(found, int)
    return found


def read_schedule(client: httpx.Client, proc_id: str, **query: Any) -> list[dict[str, Any]]:
    params = "".join(f"&{k}={v}" for k, v in query.items())
    response = client.get(f"/~scheduler@1.0/schedule?target={proc_id}{params}", headers={"accept-bundle": "true"})
    assert response.status_code == 200, response.text
    found = result(response)["assignments"]
    return [found[k] for k in sorted(found, key=int)]


# --- dev_scheduler.erl HTTP tests ------------------------------------------------------------------


def test_register_and_status(node: Node, client: httpx.Client) -> None:
    _, proc_id = spawn(client, node_wallet(node).address, wallet(1))
    status = fetch(client, "/~scheduler@1.0/status")
    assert proc_id.encode() in status["processes"] and status["address"] == node_wallet(node).address.encode()


def test_http_post_schedule(node: Node, client: httpx.Client) -> None:
    user = wallet(1)
    _, proc_id = spawn(client, node_wallet(node).address, user)
    response = schedule(client, proc_id, user, inner=b"test-message")
    assert response.status_code == 200
    assignment = result(response)
    assert assignment["body"]["inner"] == b"test-message" and assignment["slot"] == 1
    check_assignment(assignment, node_wallet(node).address)
    assert slot(client, proc_id) == 1


def test_http_get_schedule(node: Node, client: httpx.Client) -> None:
    user = wallet(1)
    _, proc_id = spawn(client, node_wallet(node).address, user)
    for _ in range(10):
        assert schedule(client, proc_id, user, body=b"test-message").status_code == 200
    assert slot(client, proc_id) == 10
    found = read_schedule(client, proc_id, **{"from": 0, "to": 10})
    assert [a["slot"] for a in found] == list(range(11))  # exactly the 11 slot keys
    for a in found:
        check_assignment(a, node_wallet(node).address)
    check_chain(found)


def test_http_get_json_schedule(node: Node, client: httpx.Client) -> None:
    user = wallet(1)
    _, proc_id = spawn(client, node_wallet(node).address, user)
    for _ in range(10):
        schedule(client, proc_id, user, inner=b"test")
    response = client.get(f"/~scheduler@1.0/schedule?target={proc_id}&from=0&to=10",
                          headers={"accept": "application/aos-2"})
    assert response.status_code == 200
    page = json.loads(result(response)["body"])
    assert len(page["edges"]) == 11 and [e["cursor"] for e in page["edges"]] == list(range(11))


def test_register_scheduler_location(node: Node, client: httpx.Client) -> None:
    owner = node_wallet(node)
    request = commit({"path": "/~scheduler@1.0/location", "url": b"https://hyperbeam-test-ignore.com",
                      "method": b"POST", "nonce": 1, "require-codec": b"ans104@1.0"}, owner)
    response = post(client, request)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/ans104"
    record = decode(response.content, "ans104@1.0")  # the reply is the record's own ANS-104 item
    assert isinstance(record, dict) and record["url"] == b"https://hyperbeam-test-ignore.com"
    assert signers(record) == [owner.address] and record["nonce"] == 1
    found = fetch(client, f"/~scheduler@1.0/location?address={owner.address}")
    assert found["body"]["url"] == b"https://hyperbeam-test-ignore.com" and found["body"]["nonce"] == 1
    # Not the operator: the record is foreign, and unsigned it is refused.
    stranger = post(client, {"path": "/~scheduler@1.0/location", "method": "POST", "url": "http://x.example"})
    assert stranger.status_code == 400


def test_process_paths_reach_the_scheduler(node: Node, client: httpx.Client) -> None:
    user = wallet(1)
    _, proc_id = spawn(client, node_wallet(node).address, user)
    response = schedule(client, proc_id, user, path=f"/{proc_id}/schedule", n=1)
    assert response.status_code == 200 and result(response)["slot"] == 1
    assert fetch(client, f"/{proc_id}/slot")["current"] == 1
    found = fetch(client, f"/{proc_id}/schedule")
    assert sorted(found["assignments"]) == ["0", "1"]


def test_bad_requests_are_4xx(node: Node, client: httpx.Client) -> None:
    user = wallet(1)
    _, proc_id = spawn(client, node_wallet(node).address, user)
    unsigned = {"target": proc_id.encode(), "type": b"Message"}
    response = post(client, {"path": "/~scheduler@1.0/schedule", "method": "POST", "body": unsigned})
    assert response.status_code == 400 and b"Message is not valid." in response.content
    response = client.get(f"/~scheduler@1.0/schedule?target={proc_id}&from=abc")
    assert response.status_code == 400 and b"must be an integer slot" in response.content
    response = client.get(f"/~scheduler@1.0/slot?target={'U' * 43}")
    assert response.status_code == 404 and b"not available" in response.content
    assert slot(client, proc_id) == 0  # nothing was consumed


def test_eight_concurrent_clients(node: Node) -> None:
    user = wallet(1)
    with httpx.Client(base_url=node.url, timeout=60) as c:
        _, proc_id = spawn(c, node_wallet(node).address, user)
    messages = [[commit({"target": proc_id.encode(), "type": b"Message", "client": t, "n": n}, user)
                 for n in range(4)] for t in range(8)]
    slots: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()

    def run(batch: list[dict[str, Any]]) -> None:
        with httpx.Client(base_url=node.url, timeout=60) as c:
            for body in batch:
                response = post(c, signed({"path": "/~scheduler@1.0/schedule", "method": "POST", "body": body}, user))
                with lock:
                    if response.status_code == 200:
                        slots.append(result(response)["slot"])
                    else:
                        failures.append(response.text)

    threads = [threading.Thread(target=run, args=(batch,)) for batch in messages]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sorted(slots) == list(range(1, 33))
    with httpx.Client(base_url=node.url, timeout=60) as c:
        found = read_schedule(c, proc_id)
    assert [a["slot"] for a in found] == list(range(33))
    for a in found:
        check_assignment(a, node_wallet(node).address)
    check_chain(found)


# --- two nodes: forwarding to the process's scheduler ----------------------------------------------


def test_two_nodes_forward_to_the_scheduler(tmp_path: Path) -> None:
    user = wallet(1)
    with running(tmp_path / "a", config=OFFLINE + "scheduler_async_remote_cache: false\n") as a:
        config_b = OFFLINE + f"scheduler_location_notify_peers: {a.url}\n"
        with running(tmp_path / "b", config=config_b) as b, \
                httpx.Client(base_url=a.url, timeout=60) as ca, httpx.Client(base_url=b.url, timeout=60) as cb:
            b_wallet = node_wallet(b)
            made = post(cb, commit({"path": "/~scheduler@1.0/location", "method": b"POST", "url": b.url.encode()},
                                   b_wallet))
            assert made.status_code == 200, made.text
            # B told A of its location: A has B's record.
            known = fetch(ca, f"/~scheduler@1.0/location?address={b_wallet.address}")["body"]
            assert known["url"] == b.url.encode() and signers(known) == [b_wallet.address]

            process, proc_id = spawn(ca, b_wallet.address, user)  # through A, scheduled by B
            assert proc_id.encode() in fetch(cb, "/~scheduler@1.0/status")["processes"]
            assert proc_id.encode() not in fetch(ca, "/~scheduler@1.0/status")["processes"]
            via_a = result(schedule(ca, proc_id, user, n=1))
            assert via_a["slot"] == 1 and signers(via_a) == [b_wallet.address]
            check_assignment(via_a, b_wallet.address)
            assert result(schedule(cb, proc_id, user, n=2))["slot"] == 2
            assert slot(ca, proc_id) == 2
            found = read_schedule(ca, proc_id)
            assert [x["slot"] for x in found] == [0, 1, 2]
            for x in found:
                check_assignment(x, b_wallet.address)
            check_chain(found)
            # A cached what it read, so the next read starts from its own log.
            again = read_schedule(ca, proc_id, **{"from": 1, "to": 2})
            assert [x["slot"] for x in again] == [1, 2]


# --- durability ------------------------------------------------------------------------------------


def test_sigkill_then_restart_continues_the_schedule(tmp_path: Path) -> None:
    user = wallet(1)
    first = start(tmp_path, config=OFFLINE)
    address = node_wallet(first).address
    with httpx.Client(base_url=first.url, timeout=60) as c:
        _, proc_id = spawn(c, address, user)
        for n in range(5):
            assert result(schedule(c, proc_id, user, n=n))["slot"] == n + 1
    stop(first, signal.SIGKILL)
    second = start(tmp_path, config=OFFLINE)
    try:
        with httpx.Client(base_url=second.url, timeout=60) as c:
            assert slot(c, proc_id) == 5  # nothing a client was told of is lost
            for n in range(5, 8):
                assert result(schedule(c, proc_id, user, n=n))["slot"] == n + 1
            found = read_schedule(c, proc_id)
    finally:
        stop(second)
    assert [a["slot"] for a in found] == list(range(9))
    for a in found:
        check_assignment(a, address)
    check_chain(found)
    # The restarted node continues from the raw bytes of slot 5's chain, like the first node.
    raw5 = b64url_decode(found[5]["hash-chain"].decode())
    body6 = message_id(found[6]["body"], committers="all").encode()
    assert b64url_decode(found[6]["hash-chain"].decode()) == sha256(raw5 + body6)
    body5 = message_id(found[5]["body"], committers="all").encode()
    assert raw5 == sha256(b64url_decode(found[4]["hash-chain"].decode()) + body5)


def test_two_node_processes_on_one_store(tmp_path: Path) -> None:
    user = wallet(1)
    one = start(tmp_path / "one", config=OFFLINE, data_dir=tmp_path / "shared")
    two = start(tmp_path / "two", config=OFFLINE, data_dir=tmp_path / "shared")
    try:
        address = node_wallet(one).address
        with httpx.Client(base_url=one.url, timeout=60) as c:
            _, proc_id = spawn(c, address, user)
        slots: list[int] = []
        lock = threading.Lock()

        def run(url: str, t: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as c:
                for n in range(4):
                    response = schedule(c, proc_id, user, worker=t, n=n)
                    assert response.status_code == 200, response.text
                    with lock:
                        slots.append(result(response)["slot"])

        threads = [threading.Thread(target=run, args=((one if t % 2 else two).url, t)) for t in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(slots) == list(range(1, 25))
        with httpx.Client(base_url=two.url, timeout=60) as c:
            found = read_schedule(c, proc_id)
        assert [a["slot"] for a in found] == list(range(25))
        for a in found:
            check_assignment(a, address)
        check_chain(found)
    finally:
        stop(one)
        stop(two)
