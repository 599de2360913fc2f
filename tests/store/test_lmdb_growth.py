"""The LMDB map grows instead of filling up (issue 17, item 3): writes beyond the map's size
grow it, a `transaction()` block that found it full is a 503 to ask again (and the map has
grown), and only a disk that has no room left is a 507, with a body that says so."""

from __future__ import annotations

import shutil
import threading
from collections import namedtuple
from pathlib import Path

import pytest

from aonode.store import LMDBStore, StoreError, _lmdb

MIB = 1024 * 1024


def map_size(store: LMDBStore) -> int:
    return store._shared.room()[0]


def test_writes_beyond_the_map_grow_it(tmp_path: Path) -> None:
    with LMDBStore(tmp_path, capacity=MIB) as store:
        for i in range(40):
            store.write(f"big/{i}", bytes([i]) * (100 * 1024))
        assert map_size(store) >= 4 * MIB
        assert all(store.read(f"big/{i}") == bytes([i]) * (100 * 1024) for i in range(40))


def test_a_single_write_larger_than_the_room_left_is_retried(tmp_path: Path) -> None:
    with LMDBStore(tmp_path, capacity=MIB) as store:
        store.write("huge", bytes(3 * MIB))  # more than the whole map: grows and runs again
        assert store.read("huge") == bytes(3 * MIB)


def test_a_transaction_that_found_the_map_full_is_a_503_and_the_map_grew(tmp_path: Path) -> None:
    with LMDBStore(tmp_path, capacity=MIB) as store:
        before = map_size(store)
        with pytest.raises(StoreError) as info, store.transaction():
            store.write("a", bytes(2 * MIB))
        assert info.value.status == 503 and "ask again" in info.value.message
        assert map_size(store) > before and store.read("a") is None
        for _ in range(4):  # asked again (the map doubles each time), it fits
            try:
                with store.transaction():
                    store.write("a", bytes(2 * MIB))
                break
            except StoreError as exc:
                assert exc.status == 503
        assert store.read("a") == bytes(2 * MIB)


def test_a_full_disk_is_a_507_that_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(_lmdb.shutil, "disk_usage", lambda path: usage(10 * MIB, 10 * MIB, 0))
    with LMDBStore(tmp_path, capacity=MIB) as store:
        with pytest.raises(StoreError) as info:
            store.write("huge", bytes(2 * MIB))
        assert info.value.status == 507
        assert "disk" in info.value.message and "full" in info.value.message
        store.write("small", b"still writable")  # the map itself still has room for this
        assert store.read("small") == b"still writable"
    assert shutil.disk_usage is not None


def test_reads_in_other_threads_survive_a_resize(tmp_path: Path) -> None:
    with LMDBStore(tmp_path, capacity=MIB) as store:
        store.write("k", b"v")
        stop, errors = threading.Event(), []

        def read() -> None:
            while not stop.is_set():
                try:
                    assert store.read("k") == b"v"
                    with store.snapshot():
                        assert store.read("k") == b"v"
                except Exception as exc:  # pragma: no cover - reported below
                    errors.append(exc)
                    return

        readers = [threading.Thread(target=read) for _ in range(4)]
        for reader in readers:
            reader.start()
        for i in range(60):
            store.write(f"big/{i}", bytes(100 * 1024))
        stop.set()
        for reader in readers:
            reader.join()
        assert not errors and map_size(store) >= 8 * MIB


class _CommitFindsTheMapFull:
    """The store's environment, whose next top-level write transaction's commit fails as a
    full map does (the batch's own commit, not a block's nested one)."""

    def __init__(self, env: object) -> None:
        self.env = env
        self.armed = True

    def __getattr__(self, name: str) -> object:
        return getattr(self.env, name)

    def begin(self, write: bool = False, parent: object = None, **kw: object) -> object:
        if parent is not None:
            return self.env.begin(write=write, parent=getattr(parent, "txn", parent), **kw)  # type: ignore[attr-defined]
        txn = self.env.begin(write=write, **kw)  # type: ignore[attr-defined]
        return _FailingCommit(txn, self) if write else txn


class _FailingCommit:
    def __init__(self, txn: object, env: _CommitFindsTheMapFull) -> None:
        self.txn, self.env_ = txn, env

    def __getattr__(self, name: str) -> object:
        return getattr(self.txn, name)

    def commit(self) -> None:
        if self.env_.armed:
            self.env_.armed = False
            self.txn.abort()  # type: ignore[attr-defined]
            raise _lmdb.lmdb.MapFullError("the commit found the map full")
        self.txn.commit()  # type: ignore[attr-defined]


def test_a_commit_that_finds_the_map_full_after_ordered_is_a_503_and_ordered_ran_once(tmp_path: Path) -> None:
    store = LMDBStore(tmp_path / "lmdb", capacity=4 * 1024 * 1024)
    try:
        store._shared.env = _CommitFindsTheMapFull(store._shared.env)  # type: ignore[assignment]
        lock = threading.Lock()
        lock.acquire()  # released by `ordered`, as the scheduler lets its lock go
        runs: list[int] = []

        def work() -> str:
            runs.append(1)
            store.write("a/b", b"x")
            return "done"

        with pytest.raises(StoreError) as caught:
            store.transact(work, lock.release)
        assert caught.value.status == 503 and "ask again" in caught.value.message
        assert runs == [1] and not lock.locked()  # ran once; `ordered` once (a second release raises)
        assert store.read("a/b") is None  # nothing of the failed commit is stored
        assert store.transact(work) == "done" and store.read("a/b") == b"x"
    finally:
        store.close()
