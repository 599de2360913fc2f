"""`push@1.0` in one process: the real scheduler, process and push devices over a memory store,
with `counter@1.0` (tests/processes/counter_device.py) as the execution device. The path across
two real nodes is `tests/processes/test_push_two_nodes.py`; the reference's dev_push tests all
need the AOS WASM image (issue 7)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from aonode.codecs import commit, message_id, signers
from aonode.core import resolve
from aonode.crypto import Wallet
from aonode.store import MemoryStore, MessageCache

sys.path.insert(0, str(Path(__file__).parent.parent / "processes"))
from counter_device import CounterDevice  # noqa: E402

NODE = Wallet.generate()
USER = Wallet.generate()


def node_opts(**extra: Any) -> dict[str, Any]:
    return {"priv_wallet": NODE, "cache": MessageCache(MemoryStore()),
            "preloaded_devices": {"counter@1.0": CounterDevice()}, **extra}


def spawn(opts: dict[str, Any], **keys: Any) -> tuple[dict[str, Any], str]:
    process = commit({"device": b"process@1.0", "type": b"Process", "scheduler": NODE.address.encode(),
                      "execution-device": b"counter@1.0", "seed": time.time_ns(), **keys}, USER)
    result = resolve(process, {"path": "push", "method": "POST", "body": process}, opts)
    assert result.ok, result
    assert int(result.value["slot"]) == 0  # a Process body is a spawn: its assignment comes back
    return process, message_id(process, committers="all")


def push(process: dict[str, Any], opts: dict[str, Any], request: dict[str, Any] | None = None, **body: Any) -> Any:
    """Schedule a message with `body`'s keys on the process and push it (`request` adds keys to
    the push request itself, e.g. `push-mode`)."""
    message = commit({"type": b"Message", **body}, USER)
    return resolve(process, {"path": "push", "method": "POST", "body": message, **(request or {})}, opts)


def state(process: dict[str, Any], opts: dict[str, Any]) -> dict[str, Any]:
    result = resolve(process, {"path": "now"}, opts)
    assert result.ok, result
    return result.value


def test_two_local_processes_bounce_a_count_to_the_limit() -> None:
    opts = node_opts()
    p1, pid1 = spawn(opts)
    p2, pid2 = spawn(opts)
    answer = push(p1, opts, target=pid1, count=1, limit=6, **{"reply-to": pid2})
    assert answer.ok, answer
    # The answer is the tree of deliveries: outbox key 1 went to P2, which answered P1, ...
    hop = answer.value
    for expected_target in (pid2, pid1, pid2, pid1, pid2):
        hop = hop["1"]
        assert hop["target"] == expected_target.encode()
        hop = hop["resulted-in"]
    assert (state(p1, opts)["counter"], state(p2, opts)["counter"]) == (5, 6)


def test_delivered_messages_carry_their_origin_and_the_node_signature() -> None:
    opts = node_opts()
    p1, pid1 = spawn(opts)
    p2, pid2 = spawn(opts)
    assert push(p1, opts, target=pid1, count=1, limit=2, **{"reply-to": pid2}).ok
    assignment = resolve(p2, {"path": "schedule", "method": "GET", "from": 1, "to": 1}, opts)
    delivered = assignment.value["assignments"]["1"]["body"]
    assert delivered["from-process"] == pid1.encode()
    assert (delivered["type"], delivered["variant"], delivered["data-protocol"]) == (b"Message", b"ao.N.1", b"ao")
    # P2's authority is the node's address: the node signs as it.
    assert signers(delivered) == [NODE.address]


def test_result_depth_zero_leaves_out_the_results() -> None:
    opts = node_opts()
    p1, pid1 = spawn(opts)
    full = push(p1, opts, target=pid1, count=1, limit=0)
    assert full.ok and "data" in full.value
    # Pushing a slot again (by number) with result-depth 0: only the delivery tree.
    shallow = resolve(p1, {"path": "push", "slot": full.value["slot"], "result-depth": 0}, opts)
    assert shallow.ok and "data" not in shallow.value and shallow.value["process"] == pid1


def test_outbox_errors_are_described_not_raised() -> None:
    opts = node_opts()
    p1, pid1 = spawn(opts)
    unknown = "U" * 43
    answer = push(p1, opts, target=pid1, count=1, limit=5, **{"reply-to": unknown})
    assert answer.ok, answer
    assert answer.value["1"]["status"] == 404
    assert answer.value["1"]["reason"] == b"Could not access target process!"


def test_no_matching_identity_without_always_sign_is_refused() -> None:
    opts = node_opts(push_always_sign=False)
    p1, pid1 = spawn(opts)
    stranger = Wallet.generate().address
    p2, pid2 = spawn(opts, authority=stranger.encode())
    answer = push(p1, opts, target=pid1, count=1, limit=5, **{"reply-to": pid2})
    assert answer.ok
    assert b"No identities matching authority" in answer.value["1"]["reason"]
    assert state(p2, opts)["counter"] == 0  # nothing was delivered


def test_async_push_answers_at_once_and_delivers_later() -> None:
    opts = node_opts()
    p1, pid1 = spawn(opts)
    p2, pid2 = spawn(opts)
    answer = push(p1, opts, {"push-mode": "async"}, target=pid1, count=1, limit=4, **{"reply-to": pid2})
    assert answer.ok and answer.value["status"] == 202
    deadline = time.monotonic() + 30
    while state(p2, opts)["counter"] != 4:
        assert time.monotonic() < deadline, "the async push never delivered"
        time.sleep(0.05)


def test_pushing_a_slot_again_delivers_its_outbox_once() -> None:
    # A client that retries a push (its connection dropped) must not schedule the slot's
    # outbox a second time: the retry sends the same signed message, which the target's
    # scheduler answers with its first slot.
    opts = node_opts()
    p1, pid1 = spawn(opts)
    p2, pid2 = spawn(opts)
    first = push(p1, opts, target=pid1, count=1, limit=2, **{"reply-to": pid2})
    assert first.ok, first
    slot = first.value["slot"]
    delivered = first.value["1"]
    again = resolve(p1, {"path": "push", "method": "POST", "slot": slot}, opts)
    assert again.ok, again
    assert (again.value["1"]["id"], again.value["1"]["slot"]) == (delivered["id"], delivered["slot"])
    current = resolve(p2, {"path": "slot/current"}, opts)
    assert current.ok and int(current.value) == int(delivered["slot"])
    assert state(p2, opts)["counter"] == 2
