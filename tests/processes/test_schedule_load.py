"""Many clients scheduling on one process at once, over HTTP, against a real node (issue 6,
done-means 2). The same load with the node SIGKILLed: `test_schedule_load_kill.py`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aonode_process import Node, start, stop
from process_http import CONFIG, HERE
from schedule_load import CLIENTS, PER_CLIENT, Load, check_schedule, messages, spawn

pytestmark = pytest.mark.long


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    started = start(tmp_path / "node", config=CONFIG, pythonpath=[HERE])
    try:
        yield started
    finally:
        stop(started)


def test_eight_clients_schedule_gapless_verified_slots(node: Node) -> None:
    pid = spawn(node)  # slot 0
    load = Load(node.url, messages(pid, CLIENTS, PER_CLIENT))
    load.run()
    assert load.failures == 0 and not load.duplicates
    assert sorted(load.acked) == list(range(1, CLIENTS * PER_CLIENT + 1))
    check_schedule(node, pid, load, CLIENTS * PER_CLIENT)
