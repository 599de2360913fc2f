"""Backends for the store and cache tests: every test that takes `store` runs on each."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from oracle import FIXTURES

from aonode.crypto import Wallet
from aonode.store import FSStore, LMDBStore, MemoryStore, Store, StoreChain

BACKENDS = ["lmdb", "fs", "memory", "lru-fs", "chain"]

# Small enough that the cache tests evict (and so read back offloaded entries), large enough
# that a message's own group survives long enough to be useful.
LRU_TEST_CAPACITY = 4096

TEST_CAPACITY = 64 * 1024 * 1024


def make_store(kind: str, root: Path) -> Store:
    """A fresh store of `kind` under the directory `root`."""
    if kind == "lmdb":
        return LMDBStore(root / "lmdb", capacity=TEST_CAPACITY)
    if kind == "fs":
        return FSStore(root / "fs")
    if kind == "memory":
        return MemoryStore()
    if kind == "lru-fs":
        return MemoryStore(LRU_TEST_CAPACITY, persistent=FSStore(root / "lru-fs"))
    if kind == "chain":
        return StoreChain([LMDBStore(root / "chain-lmdb", capacity=TEST_CAPACITY), FSStore(root / "chain-fs")])
    raise ValueError(kind)


@cache
def wallet(n: int = 1) -> Wallet:
    """The shared test wallet `key-<n>.json`, or a fresh one when the fixtures are absent."""
    path = FIXTURES / f"key-{n}.json"
    return Wallet.load(path) if path.is_file() else Wallet.generate()
