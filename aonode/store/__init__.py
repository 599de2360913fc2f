"""Stores and the message cache (resolution-paths-cache-node.md §8, §9).

    Store          the interface: values, groups and links under `/` paths
    LMDBStore      the embedded default (one LMDB environment per directory)
    FSStore        files, directories and symlinks under a root directory
    MemoryStore    an in-memory LRU that offloads to a persistent store
    StoreChain     reads try each store in order; writes go to the first
    open_store     a store (or chain) from a node configuration map, once per process
    cache          the content-addressed message cache over any store
    MessageCache   the cache bound to one store (the resolver's `opts["cache"]`)
"""

from aonode.store import cache
from aonode.store._base import Kind, Store, StoreError, join_path, normalize_path, split_path
from aonode.store._chain import StoreChain
from aonode.store._fs import FSStore
from aonode.store._lmdb import LMDBStore
from aonode.store._memory import MemoryStore
from aonode.store._open import open_store
from aonode.store.cache import MessageCache

__all__ = [
    "FSStore",
    "Kind",
    "LMDBStore",
    "MemoryStore",
    "MessageCache",
    "Store",
    "StoreChain",
    "StoreError",
    "cache",
    "join_path",
    "normalize_path",
    "open_store",
    "split_path",
]
