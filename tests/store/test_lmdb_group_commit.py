"""Group commit in the LMDB store: the writes of concurrent threads share one commit, each
writer returns only once that commit has ended, a lone writer commits at once, a failing block
rolls back its own writes only, and every write a writer was told succeeded survives SIGKILL
(threads of two OS processes writing at once, as `aonode serve --workers 2` does)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from lmdb_batches import queued, wait_for

from aonode.store import LMDBStore, StoreError

CAPACITY = 64 * 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LMDBStore]:
    with LMDBStore(tmp_path / "lmdb", capacity=CAPACITY) as opened:
        yield opened


def _reader_sees(store: LMDBStore, path: str) -> bytes | None:
    """What another thread (its own read transaction) reads at `path`."""
    seen: list[bytes | None] = []
    thread = threading.Thread(target=lambda: seen.append(store.read(path)))
    thread.start()
    thread.join(10)
    return seen[0]


def test_a_lone_writer_commits_at_once(store: LMDBStore) -> None:
    before = store.commits
    for i in range(5):
        store.write(f"alone/{i}", b"v")
        assert store.commits == before + i + 1  # committed before write() returned, no batch to wait for
    with store.transaction():
        store.write("alone/block", b"v")
    assert store.commits == before + 6


def test_concurrent_writers_share_one_commit(store: LMDBStore) -> None:
    """A holds the batch open until B (a transaction block) and C (a single write) have queued;
    all three land in one commit, and B and C return only after it."""
    before = store.commits
    returned: dict[str, int] = {}
    read_in_b: list[bytes | None] = []

    def b() -> None:
        with store.transaction():
            read_in_b.append(store.read("shared/a"))  # A's write, same batch, not yet committed
            store.write("shared/b", b"B")
            assert store.read("shared/b") == b"B"
        returned["b"] = store.commits

    def c() -> None:
        store.write("shared/c", b"C")
        returned["c"] = store.commits

    others = [threading.Thread(target=b), threading.Thread(target=c)]
    with store.transaction():
        store.write("shared/a", b"A")
        for thread in others:
            thread.start()
        wait_for(lambda: queued(store) == 2, "B and C to queue")
        assert _reader_sees(store, "shared/a") is None  # nothing is visible before the commit
    assert store.commits == before + 1
    for thread in others:
        thread.join(10)
    assert returned == {"b": before + 1, "c": before + 1}
    assert read_in_b == [b"A"]
    assert [store.read(f"shared/{k}") for k in "abc"] == [b"A", b"B", b"C"]


def test_a_failing_block_rolls_back_only_its_own_writes(store: LMDBStore) -> None:
    errors: list[BaseException] = []

    def failing() -> None:
        try:
            with store.transaction():
                store.write("mixed/failed", b"x")
                raise ValueError("the block fails")
        except ValueError as exc:
            errors.append(exc)

    def fine() -> None:
        with store.transaction():
            store.write("mixed/fine", b"y")

    threads = [threading.Thread(target=failing), threading.Thread(target=fine)]
    with pytest.raises(KeyError):
        with store.transaction():
            store.write("mixed/leader", b"z")
            for thread in threads:
                thread.start()
            wait_for(lambda: queued(store) == 2, "both followers to queue")
            raise KeyError("the leader's own block fails too")
    for thread in threads:
        thread.join(10)
    assert [str(e) for e in errors] == ["the block fails"]
    assert store.read("mixed/fine") == b"y"
    assert store.read("mixed/failed") is None
    assert store.read("mixed/leader") is None


def test_a_failed_commit_fails_every_writer_of_the_batch(store: LMDBStore) -> None:
    """A writer must not hear "done" when the commit that covers it did not happen."""
    errors: list[BaseException] = []

    def follower() -> None:
        try:
            store.write("doomed/follower", b"x")
        except StoreError as exc:
            errors.append(exc)

    thread = threading.Thread(target=follower)
    with pytest.raises(StoreError):
        with store.transaction():
            thread.start()
            wait_for(lambda: queued(store) == 1, "the follower to queue")
            store.close()  # closing the environment under the batch makes its commit fail
    thread.join(10)
    assert len(errors) == 1


WRITER = r"""
import itertools, sys, threading
from aonode.store import LMDBStore
store = LMDBStore(sys.argv[1], capacity=64 * 1024 * 1024)
name = sys.argv[2]
lock = threading.Lock()

def run(t):
    for i in itertools.count():
        path = f"{name}/{t}/{i}"
        if i % 2:
            store.write(path, path.encode())
        else:
            with store.transaction():
                store.write(path, path.encode())
                assert store.read(path) == path.encode()
        with lock:  # reported only once the write returned
            print(path, store.commits, flush=True)

for t in range(6):
    threading.Thread(target=run, args=(t,), daemon=True).start()
threading.Event().wait()
"""


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_writes_reported_done_survive_sigkill_with_two_processes_of_threads(tmp_path: Path) -> None:
    db = tmp_path / "shared"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), name], stdout=subprocess.PIPE, text=True,
                                env=_env()) for name in ("w1", "w2")]
    reported: list[tuple[str, int]] = []
    try:
        for writer in writers:
            assert writer.stdout is not None
            for _ in range(150):
                line = writer.stdout.readline()
                assert line, "a writer died before writing"
                path, commits = line.split()
                reported.append((path, int(commits)))
    finally:
        for writer in writers:
            writer.send_signal(signal.SIGKILL)
        for writer in writers:
            writer.wait(timeout=10)
            assert writer.stdout is not None
            writer.stdout.close()
    with LMDBStore(db, capacity=CAPACITY) as reopened:
        missing = [path for path, _ in reported if reopened.read(path) != path.encode()]
        assert missing == []
        reopened.write("after/kill", b"ok")  # the killed writers' lock is free again
        assert reopened.read("after/kill") == b"ok"
