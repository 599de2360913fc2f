"""Issue 24, hot processes: a dry run starts from a copy of the live WASM state (never a stored
snapshot, never the live instance itself), a large snapshot is packed and stored off the
request's path, and the states on the way to a target are stored in one transaction; the
answers are those of the cold path (a node that restores from the store)."""

from __future__ import annotations

from typing import Any

import pytest
from process_helpers import aos_process, node_opts, schedule

from aonode.codecs import message_id
from aonode.core import events, resolve
from aonode.crypto import Wallet
from aonode.devices import _process_cache
from aonode.devices import process as process_device
from aonode.devices._process_worker import registry
from aonode.devices.wasm import instance_of
from aonode.runtime import snapshot_body
from aonode.store import MemoryStore


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.generate()


def _live(opts: dict[str, Any], pid: str) -> tuple[int, dict[str, Any]]:
    entry = registry(opts).peek(pid)
    assert entry is not None and entry.held is not None
    return entry.held


def test_dry_run_copies_the_live_state_and_leaves_it_alone(wallet: Wallet, monkeypatch: pytest.MonkeyPatch) -> None:
    # A snapshot only at the first target (then one an hour): the newest state is live only.
    opts = node_opts(wallet, MemoryStore(), process_snapshot_slots=None, process_snapshot_time=3600)
    proc = aos_process(wallet, opts)
    pid = message_id(proc, committers="all")
    for _ in range(3):
        schedule(proc, wallet, opts, action=b"Eval", data=b"x")
        assert resolve(proc, {"path": "now"}, opts).ok
    slot, live = _live(opts, pid)
    stored = _process_cache.latest(pid, opts["cache"], "snapshot")
    assert stored is not None and stored[0] < slot  # the store alone is behind the live state
    instance = instance_of(live, b"wasm")
    assert instance is not None
    memory = instance.snapshot()

    restores: list[Any] = []
    real_restore = process_device._restore
    monkeypatch.setattr(process_device, "_restore", lambda *a: restores.append(a) or real_restore(*a))
    for _ in range(2):
        copy = resolve(proc, {"path": "as", "as": b"execution"}, opts)
        assert copy.ok, copy
        assert copy.value["at-slot"] == slot
        ran = resolve(copy.value, {"path": "compute", "action": b"Eval", "data": b"dry"}, opts)
        assert ran.ok, ran
        # The module counts the messages it handled (slots 0..slot), plus this dry run, each time.
        assert ran.value["results"]["data"] == str(slot + 2).encode()
        assert instance_of(ran.value, b"wasm") is not instance
    assert restores == []  # nothing read back from the store
    assert _live(opts, pid) == (slot, live) and instance.snapshot() == memory  # the live state untouched
    now = resolve(proc, {"path": "now"}, opts).value
    assert now["results"]["data"] == str(slot + 1).encode()

    # The cold path (a node with only the store: its live states dropped) answers the same.
    registry(opts).clear()
    writes: list[Any] = []
    real_write = process_device._write
    monkeypatch.setattr(process_device, "_write", lambda *a: writes.append(a) or real_write(*a))
    cold = resolve(proc, {"path": "as", "as": b"execution"}, opts)
    assert cold.ok and cold.value["at-slot"] == slot
    assert writes == []  # the replay on the restored copy stores nothing: it holds no process lock
    again = resolve(cold.value, {"path": "compute", "action": b"Eval", "data": b"dry"}, opts)
    assert again.value["results"] == ran.value["results"]


def test_large_snapshot_stored_by_the_background_writer(wallet: Wallet, monkeypatch: pytest.MonkeyPatch) -> None:
    """A snapshot at or above `BACKGROUND_SNAPSHOT_BYTES` is written after the answer (raw on
    the path, packed by the writer); a reader that needs snapshots waits for the writer."""
    monkeypatch.setattr(process_device, "BACKGROUND_SNAPSHOT_BYTES", 1024)  # the test module's memory is 64 KiB
    store = MemoryStore()
    opts = node_opts(wallet, store)
    proc = aos_process(wallet, opts)
    pid = message_id(proc, committers="all")
    schedule(proc, wallet, opts, action=b"Eval", data=b"x")
    schedule(proc, wallet, opts, action=b"Eval", data=b"y")
    hot = resolve(proc, {"path": "now"}, opts).value
    registry(opts).drain()
    slot, found = _process_cache.latest(pid, opts["cache"], "snapshot") or (None, None)
    assert slot == hot["at-slot"] and isinstance(found, dict)
    memory = found["snapshot"]["wasm-64@1.0"] if "wasm-64@1.0" in found["snapshot"] else found["snapshot"]
    assert memory.get("content-encoding") != snapshot_body.IDENTITY  # packed before it was stored

    # The same states from a cold node with a fresh store computing the same schedule.
    registry(opts).clear()
    restored = resolve(proc, {"path": "compute", "slot": hot["at-slot"]}, opts).value
    assert restored["results"] == hot["results"]
    assert message_id(restored) == message_id(hot)


def test_result_after_a_message_is_served_from_the_live_state(wallet: Wallet, monkeypatch: pytest.MonkeyPatch) -> None:
    """aoconnect's `message` then `result`: the slot computed for the first (or by push@1.0) is
    the live state the second reads, with nothing read from the store and nothing computed."""
    opts = node_opts(wallet, MemoryStore(), process_snapshot_time=3600)
    proc = aos_process(wallet, opts)
    pid = message_id(proc, committers="all")
    slot = int(schedule(proc, wallet, opts, action=b"Eval", data=b"x")["slot"])
    computed = resolve(proc, {"path": "compute", "slot": slot}, opts)
    assert computed.ok, computed
    reads: list[Any] = []
    real_read = _process_cache.read
    monkeypatch.setattr(_process_cache, "read", lambda *a: reads.append(a) or real_read(*a))
    executed = events.counters().get("process", {}).get("executed", 0)
    answer = resolve(proc, {"path": "compute/results", "slot": slot}, opts)
    assert answer.ok
    assert {k: v for k, v in answer.value.items() if k != "priv"} == computed.value["results"]
    assert reads == [] and _live(opts, pid)[0] == slot
    assert events.counters().get("process", {}).get("executed", 0) == executed  # nothing computed again
