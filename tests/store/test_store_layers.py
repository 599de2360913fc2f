"""MemoryStore (LRU offloading), StoreChain (read in order, write to the first) and open_store."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_helpers import TEST_CAPACITY

from aonode.errors import Unsupported
from aonode.store import FSStore, LMDBStore, MemoryStore, StoreChain, open_store


def test_lru_evicts_least_recently_used_to_the_persistent_store(tmp_path: Path) -> None:
    persistent = FSStore(tmp_path)
    store = MemoryStore(1200, persistent=persistent)  # room for three values of ~370 counted bytes
    for i in range(3):
        store.write(f"g/v{i}", bytes([i]) * 300)
    assert persistent.list("g") is None
    store.read("g/v0")  # now the most recent: v1 goes first
    store.write("g/v3", bytes([3]) * 300)
    assert store.used <= 1200
    assert persistent.read("g/v1") == bytes([1]) * 300
    assert persistent.read("g/v0") is None
    for i in range(4):
        assert store.read(f"g/v{i}") == bytes([i]) * 300
    assert store.list("g") == [f"v{i}" for i in range(4)]


def test_lru_offloads_links_and_groups(tmp_path: Path) -> None:
    persistent = FSStore(tmp_path)
    store = MemoryStore(600, persistent=persistent)
    store.make_group("msg")
    store.write("data/h", b"payload")
    store.make_link("data/h", "msg/key")
    store.make_link("msg", "alias")
    store.write("filler", b"f" * 500)  # evicts everything else
    assert persistent.read("alias/key") == b"payload"
    assert store.read("alias/key") == b"payload" and store.list("alias") == ["key"]


def test_lru_value_larger_than_capacity_goes_straight_to_persistent(tmp_path: Path) -> None:
    persistent = FSStore(tmp_path)
    store = MemoryStore(100, persistent=persistent)
    store.write("big", b"b" * 1000)
    assert persistent.read("big") == b"b" * 1000 and store.read("big") == b"b" * 1000
    assert store.used < 100


def test_lru_close_offloads_everything(tmp_path: Path) -> None:
    persistent = FSStore(tmp_path)
    store = MemoryStore(persistent=persistent)
    store.write("g/a", b"1")
    store.make_link("g/a", "l")
    assert persistent.read("l") is None
    store.close()
    assert persistent.read("l") == b"1" and persistent.list("g") == ["a"]


def test_lru_without_persistent_store_forgets() -> None:
    store = MemoryStore(200)
    store.write("a", b"1" * 100)
    store.write("b", b"2" * 100)
    assert store.read("a") is None and store.read("b") == b"2" * 100


def test_chain_writes_go_to_the_first_store_only(tmp_path: Path) -> None:
    first, second = FSStore(tmp_path / "1"), FSStore(tmp_path / "2")
    chain = StoreChain([first, second])
    chain.write("a", b"1")
    chain.make_group("g")
    chain.make_link("a", "l")
    assert first.read("l") == b"1"
    assert second.read("a") is None and second.type("g") is None


def test_chain_reads_fall_through_in_order(tmp_path: Path) -> None:
    first, second = MemoryStore(), LMDBStore(tmp_path, capacity=TEST_CAPACITY)
    second.write("only-second", b"2")
    second.write("both", b"second")
    first.write("both", b"first")
    chain = StoreChain([first, second])
    assert chain.read("only-second") == b"2" and chain.read("both") == b"first"
    # A link in the first store may point at data that only the second holds.
    chain.make_link("only-second", "msg/key")
    assert chain.read("msg/key") == b"2" and chain.list("msg") == ["key"]
    assert chain.read("missing") is None
    chain.close()
    assert first.closed and second.closed


def test_chain_needs_a_store() -> None:
    with pytest.raises(ValueError):
        StoreChain([])


def test_open_store_returns_one_instance_per_spec(tmp_path: Path) -> None:
    spec = {"store-module": "hb_store_lmdb", "name": str(tmp_path / "db"), "capacity": TEST_CAPACITY}
    first = open_store(spec)
    assert isinstance(first, LMDBStore)
    assert open_store({"store-module": "lmdb", "name": str(tmp_path / "db")}) is first
    first.close()
    again = open_store(spec)
    assert again is not first and not again.closed
    again.close()


def test_open_store_builds_chains_and_lrus(tmp_path: Path) -> None:
    fs_spec = {"store-module": "hb_store_fs", "name": str(tmp_path / "fs")}
    lru_spec = {"store-module": "hb_store_lru", "capacity": 1000, "persistent-store": fs_spec}
    chain = open_store([lru_spec, fs_spec])
    assert isinstance(chain, StoreChain)
    lru, fs = chain.stores
    assert isinstance(lru, MemoryStore) and lru.persistent is fs and isinstance(fs, FSStore)
    assert open_store([lru_spec, fs_spec]) is chain
    assert open_store({"store-module": "fs", "name": str(tmp_path / "fs"), "scope": "remote"}).scope == "remote"


@pytest.mark.parametrize("spec, error", [
    ({"store-module": "hb_store_rocksdb", "name": "x"}, Unsupported),
    ({"name": "x"}, Unsupported),
    ({"store-module": "lmdb"}, ValueError),
    ({"store-module": "lru", "capacity": -1}, ValueError),
    ([], ValueError),
    ("hb_store_fs", ValueError),
])
def test_open_store_rejects_bad_specs(spec: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        open_store(spec)  # type: ignore[arg-type]


def test_only_lmdb_matches(tmp_path: Path) -> None:
    for store in (MemoryStore(), FSStore(tmp_path)):
        with pytest.raises(Unsupported):
            store.match([("k", "data/x")])
