"""Many clients scheduling on one process at once, with the node SIGKILLed and restarted in the
middle: nothing a client was told about is lost or repeated, and the state is that of a run
without the crash (issue 6, done-means 3)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
import pytest
from aonode_process import Node, start, stop
from counter_device import CounterDevice
from process_http import CONFIG, HERE, node_wallet
from schedule_load import CLIENTS, PER_CLIENT, Load, check_schedule, messages, spawn

from aonode.core import resolve
from aonode.store import MemoryStore, MessageCache

pytestmark = pytest.mark.long


def test_sigkill_during_load_loses_and_repeats_nothing(tmp_path: Path) -> None:
    workdir = tmp_path / "node"
    first = start(workdir, config=CONFIG, pythonpath=[HERE])
    pid = spawn(first)
    load = Load(first.url, messages(pid, CLIENTS, PER_CLIENT))
    runner = threading.Thread(target=load.run)
    runner.start()
    while len(load.acked) < CLIENTS * PER_CLIENT // 3 and runner.is_alive():
        threading.Event().wait(0.05)
    stop(first, signal.SIGKILL)
    runner.join()
    assert load.failures > 0, "the node died under load, so some clients must have seen it"
    second = start(workdir, config=CONFIG, pythonpath=[HERE], port=first.port, data_dir=first.data_dir)
    try:
        load.url = second.url
        load.run()  # each client resends what it was not told about, then the rest
        assert not load.duplicates
        with httpx.Client(base_url=second.url, timeout=60) as client:
            current = _current_slot(client, pid)
        # Messages sent but unanswered when the node died may or may not have been scheduled;
        # a resent one then appears twice, which is correct (it was sent twice).
        assert current >= CLIENTS * PER_CLIENT
        assignments = check_schedule(second, pid, load, current)
        # Computing the next slot gives the same state as a run without the crash: replay the
        # same messages, in the same order, on a node that never crashed.
        crashed_state = _compute(second, pid, current)
    finally:
        stop(second)
    # A run without the crash: the same messages, in the same order, scheduled and computed
    # by a node (in this process, same wallet, fresh store) that never stopped.
    calm = {"priv_wallet": node_wallet(second), "cache": MessageCache(MemoryStore()),
            "preloaded_devices": {"counter@1.0": CounterDevice()}}
    for slot in range(current + 1):
        scheduled = resolve({"device": "scheduler@1.0"},
                            {"path": "schedule", "method": "POST", "body": assignments[slot]["body"]}, calm)
        assert scheduled.ok and int(scheduled.value["slot"]) == slot
    state = resolve(assignments[0]["body"], {"path": "compute", "slot": current}, calm)
    assert state.ok
    assert (int(state.value["counter"]), int(state.value["total"])) == crashed_state


def _current_slot(client: httpx.Client, pid: str) -> int:
    from aonode_process import response_message

    response = client.get("/~scheduler@1.0/slot", params={"target": pid}, headers={"accept-bundle": "true"})
    assert response.status_code == 200, response.text
    return int(response_message(response)["current"])


def _compute(node: Node, pid: str, slot: int) -> tuple[int, int]:
    from aonode_process import response_message

    with httpx.Client(base_url=node.url, timeout=300) as client:
        response = client.get(f"/{pid}/compute", params={"slot": slot}, headers={"accept-bundle": "true"})
    assert response.status_code == 200, response.text
    state = response_message(response)
    return int(state["counter"]), int(state["total"])
