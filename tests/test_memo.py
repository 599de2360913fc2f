"""`aonode._memo.Memo`: bounded, least recently used first out, and safe across threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest

from aonode._memo import Memo


def test_get_put_and_the_bound() -> None:
    memo: Memo[str, int] = Memo(2)
    assert memo.get("a") is None
    assert memo.get("a", -1) == -1
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.get("a") == 1  # now the most recently used
    memo.put("c", 3)  # evicts b
    assert "b" not in memo
    assert ("a" in memo, "c" in memo, len(memo)) == (True, True, 2)
    memo.clear()
    assert len(memo) == 0
    with pytest.raises(ValueError):
        Memo(0)


def test_get_or_compute_computes_once_and_keeps_no_failure() -> None:
    memo: Memo[str, int] = Memo(4)
    calls: list[str] = []

    def compute() -> int:
        calls.append("x")
        return 7

    assert memo.get_or_compute("x", compute) == 7
    assert memo.get_or_compute("x", compute) == 7
    assert calls == ["x"]
    with pytest.raises(ZeroDivisionError):
        memo.get_or_compute("y", lambda: 1 // 0)
    assert "y" not in memo
    memo.put("none", None)  # type: ignore[arg-type]  # a kept None is a value, not a miss
    assert memo.get_or_compute("none", compute) is None


def test_unhashable_keys_raise_type_error_before_computing() -> None:
    memo: Memo[object, int] = Memo(4)
    with pytest.raises(TypeError):
        memo.get_or_compute([1], lambda: pytest.fail("computed"))


def test_compute_runs_outside_the_lock() -> None:
    memo: Memo[str, str] = Memo(4)
    inside, release = threading.Event(), threading.Event()

    def slow() -> str:
        inside.set()
        assert release.wait(10)
        return "slow"

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(memo.get_or_compute, "slow", slow)
        assert inside.wait(10)
        assert memo.get_or_compute("fast", lambda: "fast") == "fast"  # not blocked by the slow key
        release.set()
        assert pending.result(10) == "slow"


def test_many_threads_many_keys() -> None:
    memo: Memo[int, int] = Memo(64)
    start = threading.Barrier(16)

    def run(offset: int) -> bool:
        start.wait()
        keys = [n % 500 for n in range(offset, offset + 5000)]
        return all(memo.get_or_compute(k, partial(int.__mul__, k, 2)) == k * 2 for k in keys)

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(run, range(16)))
    assert len(memo) == 64
