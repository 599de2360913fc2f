"""Watching the LMDB store's group commit from tests: how many writers wait in the running
batch, and waiting (10 s at most) for a condition."""

from __future__ import annotations

import time
from collections.abc import Callable

from aonode.store._lmdb import LMDBStore


def queued(store: LMDBStore) -> int:
    """How many writers wait in the running batch of `store`'s environment."""
    batch = store._shared.batch
    with batch.lock:
        return len(batch.queue)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)
