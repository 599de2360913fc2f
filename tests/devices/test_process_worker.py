"""Live process states, concurrency, the snapshot policy and the asynchronous writer
(processes-compute.md §3.6, §3.9; §7 dev_process_worker.erl)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from process_helpers import Recorder, base_process, node_opts, recorder_process, schedule_values

from aonode.codecs import message_id
from aonode.core import inflight, resolve
from aonode.crypto import Wallet
from aonode.devices import _process_cache
from aonode.devices._process_worker import Registry, registry
from aonode.devices.process import ProcessDevice, _should_snapshot
from aonode.store import MemoryStore, MessageCache


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.generate()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def opts(wallet: Wallet, recorder: Recorder) -> dict[str, Any]:
    return node_opts(wallet, preloaded_devices={"recorder@1.0": recorder})


def group(base: Any, request: Any, opts: dict[str, Any]) -> Any:
    return inflight.group_of(ProcessDevice().device_info(base, opts), base, request, opts)


def test_grouper(wallet: Wallet) -> None:
    """grouper_test: with `process_workers`, compute requests for one process share a group."""
    proc = base_process(wallet)
    workers = {"process_workers": True}
    g1 = group(proc, {"path": "compute", "v": 1}, workers)
    g2 = group(proc, {"path": "compute", "v": 2}, workers)
    g3 = group(proc, {"path": "not-compute", "v": 3}, workers)
    assert g1 == g2 and g1 is not None
    assert g1 != g3
    # Requests for different slots are not merged (a waiter must get the slot it asked for);
    # `1` and `"1"` are the same slot.
    one = group(proc, {"path": "compute", "slot": 1}, workers)
    assert one == group(proc, {"path": "compute", "slot": b"1"}, workers)
    assert one != group(proc, {"path": "compute", "slot": 2}, workers)
    assert group(proc, {"path": "compute", "slot": 1}, {}) is None


def test_concurrent_computes_are_serialised(wallet: Wallet, opts: dict[str, Any], recorder: Recorder) -> None:
    proc = recorder_process(wallet)
    schedule_values(proc, wallet, opts, *range(1, 21))
    totals: dict[int, Any] = {}
    errors: list[BaseException] = []

    def run(slot: int) -> None:
        try:
            result = resolve(proc, {"path": "compute", "slot": slot}, opts)
            totals[slot] = result.value["results"]["total"]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(slot,)) for slot in (19, 3, 11, 19, 7, 0, 15, 19)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert totals == {s: sum(range(1, s + 2)) for s in (19, 3, 11, 7, 0, 15)}
    # Every slot was computed once: the live state and the stored results were shared.
    assert recorder.calls["compute"] == 20 and recorder.calls["init"] == 1


def test_live_states_are_bounded(wallet: Wallet, opts: dict[str, Any]) -> None:
    small = {**opts, "process_live_states": 2}
    for _ in range(4):
        proc = recorder_process(wallet)
        schedule_values(proc, wallet, small, 1)
        assert resolve(proc, {"path": "compute", "slot": 0}, small).ok
    assert len(registry(small)) == 2


def test_idle_live_states_are_dropped(wallet: Wallet, opts: dict[str, Any]) -> None:
    proc = recorder_process(wallet)
    schedule_values(proc, wallet, opts, 1)
    assert resolve(proc, {"path": "compute", "slot": 0}, opts).ok
    pid = message_id(proc, committers="all")
    assert registry(opts).peek(pid) is not None
    other = recorder_process(wallet)
    schedule_values(other, wallet, opts, 1)
    assert resolve(other, {"path": "compute", "slot": 0}, {**opts, "process_worker_max_idle": 0}).ok
    assert registry(opts).peek(pid) is None


def test_registry_is_per_cache(wallet: Wallet, opts: dict[str, Any]) -> None:
    assert registry(opts) is registry(dict(opts))
    assert registry(opts) is not registry({**opts, "cache": MessageCache(MemoryStore())})


def test_sync_writes_are_durable_on_return(wallet: Wallet, opts: dict[str, Any]) -> None:
    proc = recorder_process(wallet)
    schedule_values(proc, wallet, opts, 1, 2)
    assert resolve(proc, {"path": "compute", "slot": 1}, opts).ok
    pid = message_id(proc, committers="all")
    assert _process_cache.slots(pid, opts["cache"].store) == [0, 1]


def test_async_writes_are_flushed(wallet: Wallet, opts: dict[str, Any]) -> None:
    async_opts = {**opts, "process_async_cache": True}
    proc = recorder_process(wallet)
    schedule_values(proc, wallet, async_opts, 1, 2, 3)
    assert resolve(proc, {"path": "compute", "slot": 2}, async_opts).value["results"]["total"] == 6
    registry(async_opts).flush()
    pid = message_id(proc, committers="all")
    assert _process_cache.slots(pid, opts["cache"].store) == [0, 1, 2]


def test_node_shutdown_flushes_the_writer(wallet: Wallet, recorder: Recorder) -> None:
    from aonode.core.node import NodeMessage

    holder = NodeMessage(node_opts(wallet, preloaded_devices={"recorder@1.0": recorder},
                                        process_async_cache=True))
    node = holder.current()
    proc = recorder_process(wallet)
    schedule_values(proc, wallet, node, 1, 2)
    assert resolve(proc, {"path": "compute", "slot": 1}, node).ok
    holder.close()
    pid = message_id(proc, committers="all")
    assert _process_cache.slots(pid, node["cache"].store) == [0, 1]
    assert len(registry(node)) == 0


def test_snapshot_policy() -> None:
    clock = {"clock": lambda: 1000.0}
    assert _should_snapshot(6, {}, {"process_snapshot_slots": 3, "process_snapshot_time": None})
    assert not _should_snapshot(7, {}, {"process_snapshot_slots": 3, "process_snapshot_time": None})
    assert not _should_snapshot(6, {}, {"process_snapshot_slots": b"false", "process_snapshot_time": "false"})
    assert _should_snapshot(6, {}, {"process_snapshot_slots": "3", "process_snapshot_time": None})
    # Time: a state never snapshotted is due; then every `process_snapshot_time` seconds.
    timed = {"process_snapshot_slots": None, "process_snapshot_time": 60, **clock}
    assert _should_snapshot(7, {}, timed)
    assert not _should_snapshot(7, {"priv": {"last-snapshot": 950}}, timed)
    assert _should_snapshot(7, {"priv": {"last-snapshot": 939}}, timed)
    # The production defaults: no slot rule, 60 s.
    assert not _should_snapshot(7, {"priv": {"last-snapshot": 999}}, clock)
    assert _should_snapshot(7, {"priv": {"last-snapshot": 900}}, clock)


def test_time_policy_in_compute(wallet: Wallet, recorder: Recorder) -> None:
    now = [1000.0]
    opts = node_opts(wallet, preloaded_devices={"recorder@1.0": recorder}, process_snapshot_slots=None,
                     process_snapshot_time=60, clock=lambda: now[0])
    proc = recorder_process(wallet)
    schedule_values(proc, wallet, opts, *range(1, 8))
    # A snapshot at 0 (the first); none at the target 3, the live state had one 0 s ago (issue 17).
    assert resolve(proc, {"path": "compute", "slot": 3}, opts).ok
    now[0] += 61
    assert resolve(proc, {"path": "compute", "slot": 6}, opts).ok  # at 4 (due); 6 is 0 s after it
    pid = message_id(proc, committers="all")
    cache = opts["cache"]
    snapshots = [s for s in _process_cache.slots(pid, cache.store) if "snapshot" in _process_cache.read(pid, s, cache)]
    assert snapshots == [0, 4]


def test_registry_hold_is_reentrant() -> None:
    found = Registry()
    with found.hold("p", {}) as outer, found.hold("p", {}) as inner:
        assert outer is inner and outer.users == 2
    assert found.peek("p") is not None and found.peek("p").users == 0  # type: ignore[union-attr]
