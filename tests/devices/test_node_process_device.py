"""node-process@1.0: the reference's dev_node_process tests (processes-compute.md §7), on a
Lua process written here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aonode.codecs import commit, message_id, signers
from aonode.core import get, resolve, resolve_many
from aonode.core.terms import NOT_FOUND
from aonode.crypto import Wallet
from aonode.store import MemoryStore, MessageCache

NAME = "test-node-process"
TEST_LUA = (Path(__file__).parent / "lua_scripts" / "test.lua").read_bytes()
DEVICE = {"device": b"node-process@1.0"}


@pytest.fixture
def opts() -> dict[str, Any]:
    return {
        "priv_wallet": Wallet.generate(),
        "cache": MessageCache(MemoryStore()),
        "process_snapshot_slots": 1,
        "node_processes": {NAME: {
            "device": b"process@1.0",
            "execution-device": b"lua@5.3a",
            "scheduler-device": b"scheduler@1.0",
            "module": {"content-type": b"text/x-lua", "body": TEST_LUA},
        }},
    }


def test_lookup_no_spawn(opts: dict[str, Any]) -> None:
    assert resolve(DEVICE, {"path": "name1"}, opts) == NOT_FOUND
    assert resolve(DEVICE, {"path": NAME, "spawn": False}, opts) == NOT_FOUND


def test_lookup_spawn(opts: dict[str, Any]) -> None:
    first = resolve(DEVICE, {"path": NAME}, opts)
    assert first.ok and first.value["device"] == b"process@1.0"
    address = opts["priv_wallet"].address
    assert signers(first.value) == [address]
    assert first.value["scheduler"] == [address.encode()] == first.value["authority"]
    second = resolve(DEVICE, {"path": NAME}, opts)
    assert message_id(second.value, committers="all") == message_id(first.value, committers="all")


def test_lookup_execute(opts: dict[str, Any]) -> None:
    message = commit({"path": b"compute", "test-key": b"test-value"}, opts["priv_wallet"])
    scheduled = resolve_many([DEVICE, NAME, {"path": "schedule", "method": "POST", "body": message}], opts)
    assert scheduled.ok and scheduled.value["slot"] == 1
    assert get(f"{NAME}/now/results/output/body", DEVICE, None, opts) == 42
