"""Process-wide memos: one bounded, locked LRU for every cache a module keeps.

Request threads (uvicorn's pool, the scheduler's workers) read and fill the same memo at once,
and a bare dict evicted from one thread while another iterates it raises `RuntimeError:
dictionary changed size during iteration`. A `Memo` is a `cachetools.LRUCache` behind a lock:
every read, insert and eviction holds the lock, which is never held while a value is computed.
Two threads missing the same key at once both compute it and the later insert wins; memos hold
values that are pure functions of their keys (or, as the block cache, values where the latest
is as good as any), so that costs only time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar, overload

from cachetools import LRUCache

__all__ = ["MEMO_MAX_KEYS", "Memo"]

# The most keys (or items) a memo keyed by a key set keeps an entry for: a memo is bounded in
# entries, while a client's message may hold any number of keys, so the entries of larger sets
# (rare, and each as large as the message) are not kept.
MEMO_MAX_KEYS = 256

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")

_MISSING = object()


class Memo(Generic[K, V]):
    """At most `size` values by key, the least recently used evicted first; safe across threads.

    Keys must be hashable: an unhashable key raises `TypeError` from every method (from
    `get_or_compute` before anything is computed).

    Args:
        size: how many entries the memo keeps (at least 1).
    """

    __slots__ = ("_cache", "_lock", "size")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a memo keeps at least one entry, not {size}")
        self.size = size
        self._cache: LRUCache[K, V] = LRUCache(maxsize=float(size))  # the stubs type maxsize as float
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Memo({len(self)}/{self.size})"

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)

    def __contains__(self, key: K) -> bool:
        with self._lock:
            return key in self._cache

    @overload
    def get(self, key: K) -> V | None: ...

    @overload
    def get(self, key: K, default: D) -> V | D: ...

    def get(self, key: K, default: object = None) -> object:
        """The value kept for `key` (now the most recently used), else `default`."""
        with self._lock:
            return self._cache.get(key, default)

    def put(self, key: K, value: V) -> None:
        """Keep `value` for `key`, evicting the least recently used entry when full."""
        with self._lock:
            self._cache[key] = value

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        """The value kept for `key`, else `compute()`, kept (unless it raised) and returned.

        `compute` runs without the lock, so a slow one (a compilation, a subprocess) holds up
        no other key; its exceptions propagate and nothing is kept.
        """
        found = self.get(key, _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[return-value]
        value = compute()
        self.put(key, value)
        return value

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._cache.clear()
