"""LMDBStore specifics: encoding, shared environments, atomic transactions, match, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_helpers import TEST_CAPACITY

from aonode.store import LMDBStore, StoreError


def test_tagged_encoding_on_disk(tmp_path: Path) -> None:
    with LMDBStore(tmp_path, capacity=TEST_CAPACITY) as store:
        store.write("g/v", b"group")
        store.make_link("g/v", "l")
        with store._shared.env.begin() as txn:  # checking the documented layout
            assert txn.get(b"g") == b"\x03"
            assert txn.get(b"g/v") == b"\x02group"
            assert txn.get(b"l") == b"\x01g/v"


def test_two_stores_on_one_directory_share_the_environment(tmp_path: Path) -> None:
    first = LMDBStore(tmp_path, capacity=TEST_CAPACITY)
    second = LMDBStore(str(tmp_path) + "/", capacity=TEST_CAPACITY)
    first.write("a", b"1")
    assert second.read("a") == b"1"
    first.close()
    assert second.read("a") == b"1"  # the environment stays open while a store uses it
    second.close()
    with LMDBStore(tmp_path, capacity=TEST_CAPACITY) as third:
        assert third.read("a") == b"1"


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    with LMDBStore(tmp_path, capacity=TEST_CAPACITY) as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.write("a/b", b"1")
            store.make_link("a/b", "l")
            raise RuntimeError("abandon")
        assert store.read("a/b") is None and store.type("a") is None and store.read("l") is None


def test_snapshot_is_isolated_from_later_writes(tmp_path: Path) -> None:
    with LMDBStore(tmp_path, capacity=TEST_CAPACITY) as store:
        store.write("a", b"1")
        with store.snapshot():
            store.write("a", b"2")  # its own transaction, committed
            assert store.read("a") == b"1"
        assert store.read("a") == b"2"


def test_too_long_a_path(tmp_path: Path) -> None:
    with LMDBStore(tmp_path, capacity=TEST_CAPACITY) as store:
        long = "k" * 600
        with pytest.raises(StoreError, match="key limit"):
            store.write(long, b"1")
        assert store.read(long) is None and store.type(long) is None


def test_corrupt_entry_raises_store_error(tmp_path: Path) -> None:
    with LMDBStore(tmp_path, capacity=TEST_CAPACITY) as store:
        with store._shared.env.begin(write=True) as txn:  # planting corruption
            txn.put(b"bad", b"\x09junk")
            txn.put(b"empty", b"")
        for path in ("bad", "empty"):
            with pytest.raises(StoreError, match="corrupt"):
                store.read(path)


def test_a_full_map_grows(tmp_path: Path) -> None:
    # More in test_lmdb_growth.py; the disk-full 507 is tested there.
    with LMDBStore(tmp_path, capacity=64 * 1024) as store:
        for i in range(100):
            store.write(f"v{i}", bytes(4096))
        assert store.read("v99") == bytes(4096)


def test_match(tmp_path: Path) -> None:
    with LMDBStore(tmp_path, capacity=TEST_CAPACITY) as store:
        store.write("data/3", b"3")
        store.write("data/4", b"4")
        for group, links in {"m1": {"z": "data/3"}, "m2": {"z": "data/3", "x": "data/4"},
                             "m3": {"z": "data/4"}, "m4": {"x": "data/4"}}.items():
            store.make_group(group)
            for key, target in links.items():
                store.make_link(target, f"{group}/{key}")
        assert store.match([("z", "data/3")]) == ["m1", "m2"]
        assert store.match([("z", "data/3"), ("x", "data/4")]) == ["m2"]
        assert store.match([("x", "data/4")]) == ["m2", "m4"]
        assert store.match([("z", "data/3"), ("z", "data/4")]) == []
        assert store.match([]) == []
