"""Scheduling is idempotent by message ID (issue 16, item 5): a signed message scheduled again
on the same process answers the assignment of its first slot, on every path (`schedule` in
process, `POST /<pid>/schedule`, `POST /~scheduler@1.0/schedule`, push@1.0 and aoconnect's
ANS-104 `push` requests), and the index that makes it so lands with the assignment in one
store transaction. The crash test across SIGKILLs is tests/security/test_scheduler_crash.py."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aonode_process import InProcess, post, response_message
from scheduler_helpers import check_chain, node_opts, scheduler_process, wallet

from aonode import client as aoclient
from aonode.codecs import commit, message_id, verify
from aonode.core.resolver import resolve
from aonode.core.terms import Result
from aonode.crypto import Wallet, b64url_encode
from aonode.devices import _scheduler_log as log
from aonode.devices._scheduler_formats import BlockInfo
from aonode.http import NodeApp, create_app
from aonode.store import FSStore, LMDBStore, MemoryStore, Store, StoreError

sys.path.insert(0, str(Path(__file__).parent.parent / "processes"))
from counter_device import CounterDevice  # noqa: E402

PROC = "P" * 43


@pytest.fixture(scope="module")
def owner() -> Wallet:
    return wallet(1)


def plain(msg: Any) -> Any:
    """A result without the hashpath the resolver adds."""
    return {k: v for k, v in msg.items() if k != "priv"}


def post_schedule(base: Any, body: Any, opts: dict[str, Any]) -> Result:
    result = resolve(base, {"path": "schedule", "method": b"POST", "body": body}, opts)
    assert result.status == "ok", result
    return result


def current(base: Any, opts: dict[str, Any]) -> int:
    found = resolve(base, {"path": "slot", "method": b"GET"}, opts).value["current"]
    assert isinstance(found, int)
    return found


# --- in process -------------------------------------------------------------------------------


def test_a_resend_answers_the_original_assignment(owner: Wallet) -> None:
    opts = node_opts(owner)
    process = commit(scheduler_process(owner.address), owner)
    pid = message_id(process, committers="all")
    spawned = post_schedule(process, process, opts).value
    msg = commit({"type": b"Message", "target": pid.encode(), "n": 1}, owner)
    first = post_schedule(process, msg, opts).value
    # Through the process and through the bare scheduler (the message's `target`), twice each.
    for base in (process, process, {"device": b"scheduler@1.0"}, {"device": b"scheduler@1.0"}):
        assert plain(post_schedule(base, msg, opts).value) == plain(first)
    assert plain(post_schedule(process, process, opts).value) == plain(spawned)  # a respawn too
    assert current(process, opts) == 1
    other = commit({"type": b"Message", "target": pid.encode(), "n": 1}, owner)  # same keys, new signature
    assert post_schedule(process, other, opts).value["slot"] == 2


def test_unsigned_messages_are_not_deduplicated(owner: Wallet) -> None:
    # Their ID is their content, which two senders may share: each send takes a slot.
    opts = node_opts(owner, verify_assignments="accept_unsigned")
    process = commit(scheduler_process(owner.address), owner)
    post_schedule(process, process, opts)
    slots = [post_schedule(process, {"type": b"Message", "n": b"1"}, opts).value["slot"] for _ in range(2)]
    assert slots == [1, 2]


def test_an_index_entry_whose_slot_holds_another_message_is_ignored(owner: Wallet) -> None:
    # What a crash on a store without transactions leaves: the entry (written first) without
    # its assignment, then another message in that slot.
    store = MemoryStore()
    server = log.ProcessScheduler(PROC, store, [owner])
    msg = commit({"type": b"Message", "n": 1}, owner)
    msg_id = message_id(msg, committers="all")
    store.write(f"{log.PREFIX}/ids/{PROC}/{msg_id}", b"0")
    assert log.find_assigned(PROC, msg_id, store) is None  # slot 0 does not exist
    server.assign(commit({"type": b"Message", "n": 2}, owner), now_ms=1, block=BlockInfo.zero())
    assert log.find_assigned(PROC, msg_id, store) is None  # slot 0 holds another message
    assert server.assign(msg, now_ms=2, block=BlockInfo.zero())["slot"] == 1
    assert server.assign(msg, now_ms=3, block=BlockInfo.zero())["slot"] == 1
    assert server.current() == 1


def test_a_failed_write_leaves_neither_the_index_nor_a_slot(owner: Wallet, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    store = LMDBStore(tmp_path / "lmdb")
    try:
        server = log.ProcessScheduler(PROC, store, [owner])
        msg = commit({"type": b"Message", "n": 1}, owner)
        real_put = log._Prepared.put

        def put_then_die(*args: Any) -> str:
            real_put(*args)
            raise StoreError("the disk went away")  # after every write, before the commit

        monkeypatch.setattr(log._Prepared, "put", put_then_die)
        with pytest.raises(StoreError):
            server.assign(msg, now_ms=1, block=BlockInfo.zero())
        monkeypatch.setattr(log._Prepared, "put", real_put)
        assert store.read(f"{log.PREFIX}/ids/{PROC}/{message_id(msg, committers='all')}") is None
        assert server.current() == -1
        assert server.assign(msg, now_ms=2, block=BlockInfo.zero())["slot"] == 0
    finally:
        store.close()


def test_a_resend_is_answered_without_signing(owner: Wallet, monkeypatch: pytest.MonkeyPatch) -> None:
    # A hostile client resending one signed message must not make the node sign each time.
    server = log.ProcessScheduler(PROC, MemoryStore(), [owner])
    msg = commit({"type": b"Message", "n": 1}, owner)
    first = server.assign(msg, now_ms=1, block=BlockInfo.zero())
    signatures: list[int] = []
    real_sign = server._sign
    monkeypatch.setattr(server, "_sign", lambda assignment: signatures.append(1) or real_sign(assignment))
    for now in range(2, 6):
        assert server.assign(msg, now_ms=now, block=BlockInfo.zero()) == first
    assert signatures == []
    assert server.assign(commit({"type": b"Message", "n": 2}, owner), now_ms=6, block=BlockInfo.zero())["slot"] == 1
    assert signatures == [1]


def test_an_assignment_signed_ahead_for_a_slot_taken_meanwhile_is_signed_again(owner: Wallet, tmp_path: Path) -> None:
    # Two schedulers of one process on one store stand for two workers of one node: each signs
    # its next assignment ahead from what it saw last, and the other has moved the slot on since.
    store = LMDBStore(tmp_path / "lmdb")
    try:
        first = log.ProcessScheduler(PROC, store, [owner])
        second = log.ProcessScheduler(PROC, store, [owner])
        msgs = [commit({"type": b"Message", "n": n}, owner) for n in range(4)]
        assert first.assign(msgs[0], now_ms=1, block=BlockInfo.zero())["slot"] == 0
        assert second.assign(msgs[1], now_ms=2, block=BlockInfo.zero())["slot"] == 1
        assert first.assign(msgs[2], now_ms=3, block=BlockInfo.zero())["slot"] == 2
        first._tail = (3, b"A" * 43)  # a guess from a write that was never committed
        assert first.assign(msgs[3], now_ms=4, block=BlockInfo.zero())["slot"] == 3
        chain = b""
        for slot, msg in enumerate(msgs):
            chain = log.next_hash_chain(chain, message_id(msg, committers="all"))
            found = log.read(PROC, slot, store)
            assert found is not None and verify(found)
            assert found["hash-chain"] == b64url_encode(chain).encode()
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["lmdb", "fs"])
def test_the_index_survives_reopening_the_store(owner: Wallet, tmp_path: Path, kind: str) -> None:
    def open_one() -> Store:
        return LMDBStore(tmp_path / "lmdb") if kind == "lmdb" else FSStore(tmp_path / "fs")

    msgs = [commit({"type": b"Message", "n": n}, owner) for n in range(3)]
    store = open_one()
    try:
        server = log.ProcessScheduler(PROC, store, [owner])
        first = [server.assign(m, now_ms=n, block=BlockInfo.zero()) for n, m in enumerate(msgs)]
    finally:
        store.close()
    store = open_one()
    try:
        server = log.ProcessScheduler(PROC, store, [owner])  # a restarted node
        again = [server.assign(m, now_ms=99, block=BlockInfo.zero()) for m in reversed(msgs)]
        assert again == list(reversed(first))  # exactly as signed the first time
        assert server.current() == 2
        check_chain([log.read(PROC, slot, store) or {} for slot in range(3)])
    finally:
        store.close()


# --- push@1.0 ---------------------------------------------------------------------------------


def counter_opts(owner: Wallet) -> dict[str, Any]:
    return node_opts(owner, preloaded_devices={"counter@1.0": CounterDevice()})


def counter_process(scheduler: Wallet, user: Wallet) -> dict[str, Any]:
    return commit({"device": b"process@1.0", "type": b"Process", "scheduler": scheduler.address.encode(),
                   "execution-device": b"counter@1.0", "seed": Wallet.generate().address.encode()}, user)


def test_a_resent_push_answers_its_original_slot(owner: Wallet) -> None:
    opts = counter_opts(owner)
    user = Wallet.generate()
    process = counter_process(owner, user)
    spawns = [resolve(process, {"path": "push", "method": "POST", "body": process}, opts) for _ in range(2)]
    assert [int(s.value["slot"]) for s in spawns] == [0, 0]
    msg = commit({"type": b"Message", "count": 5, "limit": 0}, user)
    answers = [resolve(process, {"path": "push", "method": "POST", "body": msg}, opts) for _ in range(2)]
    assert all(a.ok for a in answers), answers
    assert [int(a.value["slot"]) for a in answers] == [1, 1]
    assert answers[0].value["id"] == answers[1].value["id"] == message_id(msg, committers="all").encode()
    state = resolve(process, {"path": "now"}, opts).value
    assert (int(state["counter"]), int(state["total"])) == (5, 5)  # computed once


# --- over HTTP, in process ----------------------------------------------------------------------


@pytest.fixture
def node(owner: Wallet) -> Iterator[InProcess]:
    app: NodeApp = create_app({"store": MemoryStore(), "priv_wallet": owner,
                               "preloaded_devices": {"counter@1.0": CounterDevice()}})
    try:
        yield InProcess(app)
    finally:
        app.close()


def http_slot(response: Any) -> int:
    assert response.status_code == 200, response.text
    return int(response_message(response)["slot"])


def test_http_schedule_paths_answer_a_resend_with_its_slot(owner: Wallet, node: InProcess) -> None:
    user = Wallet.generate()
    process = counter_process(owner, user)
    pid = message_id(process, committers="all")
    spawn = {"path": "/~scheduler@1.0/schedule", "method": "POST", "body": process}
    assert [http_slot(post(node, spawn)) for _ in range(2)] == [0, 0]
    msg = commit({"type": b"Message", "target": pid.encode(), "n": 1}, user)
    by_pid = {"path": f"/{pid}/schedule", "method": "POST", "body": msg}
    by_scheduler = {"path": "/~scheduler@1.0/schedule", "method": "POST", "body": msg}
    responses = [post(node, by_pid), post(node, by_pid), post(node, by_scheduler)]
    assert [http_slot(r) for r in responses] == [1, 1, 1]
    first, *rest = [response_message(r) for r in responses]
    for again in rest:  # the same assignment; only the reply's own bundle signature is new
        assert {k: v for k, v in again.items() if k != "commitments"} == \
            {k: v for k, v in first.items() if k != "commitments"}
        assert set(again["commitments"]) & set(first["commitments"])


def send_twice(node: InProcess, request: aoclient.Request, user: Wallet) -> list[Any]:
    """One signed ANS-104 item of an aoconnect request, sent twice (a client's retry)."""
    item = aoclient.sign_item(aoclient.build_item(request), user).serialize()
    answers = [node.post(request.path, headers=dict(request.headers), content=item) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    return answers


def test_aoconnect_push_requests_answer_a_resend_with_its_slot(owner: Wallet, node: InProcess) -> None:
    user = Wallet.generate()
    # aoconnect's spawn: `POST /push` (a Process answers with its assignment, before any compute).
    spawns = send_twice(node, aoclient.spawn_request("M" * 43, owner.address), user)
    assert [(a.headers["process"], a.headers["slot"]) for a in spawns] == [(spawns[0].headers["process"], "0")] * 2
    process = counter_process(owner, user)
    pid = message_id(process, committers="all")
    assert http_slot(post(node, {"path": "/~scheduler@1.0/schedule", "method": "POST", "body": process})) == 0
    # aoconnect's message: `POST /<pid>~process@1.0/push`, answered with the slot as JSON.
    answers = send_twice(node, aoclient.message_request(pid, tags={"count": "3", "limit": "0"}), user)
    assert [json.loads(a.content)["slot"] for a in answers] == [1, 1]
    current_slot = node.get(f"/~scheduler@1.0/slot?target={pid}", headers={"accept-bundle": "true"})
    assert response_message(current_slot)["current"] == 1
