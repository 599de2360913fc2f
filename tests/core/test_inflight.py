"""Concurrent identical resolutions are computed once (resolution-paths-cache-node.md §12)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aonode.core import Result, resolve


def _slow_device(calls: list[int]) -> dict[str, Any]:
    lock = threading.Lock()

    def slow(base: Any) -> bytes:
        with lock:
            calls.append(1)
        time.sleep(0.3)
        return b"done"

    return {"slow": slow}


def test_identical_concurrent_resolutions_share_one_computation() -> None:
    calls: list[int] = []
    msg = {"device": _slow_device(calls)}
    opts = {"await_inprogress": True}
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: resolve(msg, "slow", opts), range(4)))
    assert results == [Result("ok", b"done")] * 4
    assert len(calls) == 1


def test_named_grouping_only_groups_devices_with_a_grouper() -> None:
    calls: list[int] = []
    msg = {"device": _slow_device(calls)}
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: resolve(msg, "slow", {"await_inprogress": "named"}), range(2)))
    assert len(calls) == 2


def test_a_grouper_names_the_group() -> None:
    calls: list[int] = []
    device = _slow_device(calls)
    device["info"] = lambda: {"grouper": lambda base, request: b"one-group"}
    msg = {"device": device}
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: resolve(msg, "slow", {}), range(3)))
    assert all(r.value == b"done" for r in results)
    assert len(calls) == 1


def test_recursion_into_the_same_group_is_an_error() -> None:
    def again(base: Any, request: Any, opts: Any) -> Any:
        return resolve(base, "again", opts)

    msg = {"device": {"again": again, "info": lambda: {"grouper": lambda: b"g"}}}
    result = resolve(msg, "again", {})
    assert result.status == "error" and result.value["status"] == 508
