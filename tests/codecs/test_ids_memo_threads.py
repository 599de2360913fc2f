"""The IDs memo under load: many threads, more distinct messages than it keeps (issue 16, item 6).

Eviction used to iterate a bare module dict that other threads were filling, which raised
`RuntimeError: dictionary changed size during iteration` now and then (a 500 under load).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from aonode._memo import Memo
from aonode.codecs import _ids, message_id
from aonode.codecs._ids import _message_id
from aonode.message import Atom, Value

THREADS = 16


@pytest.fixture(autouse=True)
def frequent_switches() -> Iterator[None]:
    """Switch threads every microsecond, so that a race shows up in a run of seconds."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _message(n: int) -> dict[str, Value]:
    msg: dict[str, Value] = {"n": n, "body": f"message {n}".encode()}
    if n % 3 == 0:
        msg["child"] = {"of": n, "kind": Atom("nested")}  # a link ID, and the structural fingerprint
    return msg


def _hammer(count: int) -> None:
    """`THREADS` threads each ask for the IDs of the same `count` messages, each from its own start."""
    expected = {n: _message_id(_message(n)) for n in range(count)}  # computed without the memo
    start = threading.Barrier(THREADS)

    def run(thread: int) -> list[tuple[int, str]]:
        start.wait()
        order = [n % count for n in range(thread * 97, thread * 97 + count)]
        return [(n, message_id(_message(n))) for n in order]

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(run, range(THREADS)))  # re-raises any exception of a thread
    for got in results:
        assert len(got) == count
        assert all(found == expected[n] for n, found in got)


def test_threads_beyond_the_bound() -> None:
    size = _ids._MEMO.size
    _hammer(size + size // 2)
    assert len(_ids._MEMO) == size


def test_threads_with_constant_eviction(monkeypatch: pytest.MonkeyPatch) -> None:
    # A memo of 32 entries evicts on nearly every insert: the race at its most likely.
    monkeypatch.setattr(_ids, "_MEMO", Memo(32))
    _hammer(2000)
    assert len(_ids._MEMO) == 32
