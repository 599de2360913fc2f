"""`hb_store_lru`: an in-memory LRU store over an optional persistent store (§9.2).

Entries (values, groups and links) live in an ordered dict, least recently
used first. When their total size passes `capacity`, the oldest are offloaded
to the persistent store (a value is written, a link re-made, a group made) and
dropped from memory; without a persistent store they are simply forgotten, as
in any cache. A value larger than the whole capacity goes straight to the
persistent store.

Reads see one view: memory first, then the persistent store, path by path, so
a link in memory may point at data that was offloaded, and the reverse. Memory
shadows the persistent store for a path held in both. `list` is the union of
both listings. `close()` offloads every entry, as the reference's `stop` does.

Sizes count the path and payload bytes of each entry plus a fixed overhead,
not Python's real memory use. One re-entrant lock guards everything, so the
store is safe to share between threads; `transaction()` holds it for the
block, so other threads see a message's writes all at once or not at all.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator

from aonode.store._base import Kind, Names, Store, StoreError, normalize_path, parent_and_name, split_path

__all__ = ["DEFAULT_CAPACITY", "MemoryStore"]

# The reference's default (4 GB, measured there as Erlang external size).
DEFAULT_CAPACITY = 4_000_000_000
# A rough per-entry cost (dict slot, tuple, str header), so that many tiny entries still count.
ENTRY_OVERHEAD = 64

_VALUE, _GROUP, _LINK = 0, 1, 2
_Entry = tuple[int, bytes | str | None]


def _size(path: str, entry: _Entry) -> int:
    payload = entry[1]
    return ENTRY_OVERHEAD + len(path) + (len(payload) if payload is not None else 0)


class MemoryStore(Store):
    """An in-memory LRU store, offloading what it evicts to `persistent`.

    Args:
        capacity: the most bytes (as counted above) to hold in memory.
        persistent: where evicted entries go; None forgets them.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY, persistent: Store | None = None) -> None:
        self.capacity = capacity
        self.persistent = persistent
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        # Names of the in-memory entries under each parent path (`""` for the top level).
        self._index: dict[str, set[str]] = {}
        self._used = 0
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"MemoryStore(capacity={self.capacity}, persistent={self.persistent!r})"

    @property
    def used(self) -> int:
        """The bytes held in memory now, as counted against `capacity`."""
        return self._used

    # -- primitives ---------------------------------------------------------------------------

    def _touch(self, path: str) -> _Entry | None:
        entry = self._entries.get(path)
        if entry is not None:
            self._entries.move_to_end(path)
        return entry

    def _link_target(self, path: str) -> str | None:
        with self._lock:
            entry = self._touch(path)
            if entry is not None:
                return entry[1] if entry[0] == _LINK and isinstance(entry[1], str) else None
            return self.persistent._link_target(path) if self.persistent is not None else None

    def _get(self, path: str) -> bytes | None:
        with self._lock:
            entry = self._touch(path)
            if entry is not None:
                return entry[1] if entry[0] == _VALUE and isinstance(entry[1], bytes) else None
            return self.persistent._get(path) if self.persistent is not None else None

    def _kind(self, path: str) -> Kind | None:
        with self._lock:
            entry = self._touch(path)
            if entry is not None:
                return "simple" if entry[0] == _VALUE else "composite" if entry[0] == _GROUP else None
            if not path or self._index.get(path):
                return "composite"  # the root, or a group evicted while its children stayed
            return self.persistent._kind(path) if self.persistent is not None else None

    def _children(self, path: str) -> Names | None:
        with self._lock:
            entry = self._touch(path)
            if entry is not None and entry[0] != _GROUP:
                return None
            mine = self._index.get(path, set())
            theirs = self.persistent._children(path) if self.persistent is not None else None
            if path and entry is None and not mine and theirs is None:
                return None
            return sorted(mine.union(theirs or ()))

    # -- bookkeeping --------------------------------------------------------------------------

    def _put(self, path: str, entry: _Entry) -> None:
        old = self._entries.pop(path, None)
        if old is not None:
            self._used -= _size(path, old)
        else:
            parent, name = parent_and_name(path)
            self._index.setdefault(parent, set()).add(name)
        self._entries[path] = entry
        self._used += _size(path, entry)
        self._evict(keep=path)

    def _forget(self, path: str, entry: _Entry) -> None:
        self._used -= _size(path, entry)
        parent, name = parent_and_name(path)
        siblings = self._index.get(parent)
        if siblings is not None:
            siblings.discard(name)
            if not siblings:
                del self._index[parent]

    def _drop(self, path: str) -> None:
        entry = self._entries.pop(path, None)
        if entry is not None:
            self._forget(path, entry)

    def _offload(self, path: str, entry: _Entry) -> None:
        if self.persistent is None:
            return
        kind, payload = entry
        if kind == _VALUE and isinstance(payload, bytes):
            self.persistent.write(path, payload)
        elif kind == _LINK and isinstance(payload, str):
            self.persistent.make_link(payload, path)
        else:
            self.persistent.make_group(path)

    def _evict(self, keep: str) -> None:
        while self._used > self.capacity and len(self._entries) > 1:
            path, entry = self._entries.popitem(last=False)
            if path == keep:  # the entry just written is the only one left to evict
                self._entries[path] = entry
                self._entries.move_to_end(path, last=False)
                break
            self._forget(path, entry)
            self._offload(path, entry)

    def _destination(self, path: str) -> str:
        """Where to write `path`: parent resolved through links, parent groups made, no group
        at the destination."""
        parent, name = parent_and_name(path)
        resolved = self.resolve(parent) if parent else ""
        walked = ""
        for segment in split_path(resolved):
            walked = f"{walked}/{segment}" if walked else segment
            kind = self._kind(walked)
            if kind is None:
                self._put(walked, (_GROUP, None))
            elif kind != "composite":
                raise StoreError(f"store: cannot put {name!r} under {walked!r}, which is not a group")
        destination = f"{resolved}/{name}" if resolved else name
        if self._kind(destination) == "composite":
            raise StoreError(f"store: {destination!r} is a group and cannot be replaced")
        return destination

    # -- writers ------------------------------------------------------------------------------

    def write(self, path: str, value: bytes) -> None:
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError(f"value must be bytes, got {type(value).__name__}")
        with self._lock:
            self._check_open()
            destination = self._destination(path)
            entry: _Entry = (_VALUE, bytes(value))
            if _size(destination, entry) > self.capacity:
                self._drop(destination)
                if self.persistent is not None:
                    self.persistent.write(destination, bytes(value))
                return
            self._put(destination, entry)

    def make_group(self, path: str) -> None:
        with self._lock:
            self._check_open()
            resolved = self.resolve(path)
            kind = self._kind(resolved)
            if kind == "composite":
                return
            if kind == "simple":
                raise StoreError(f"store: {resolved!r} holds a value and cannot become a group")
            self._put(self._destination(resolved), (_GROUP, None))

    def make_link(self, existing: str, new: str) -> None:
        existing, new = normalize_path(existing), normalize_path(new)
        if existing == new:
            return
        if not existing:
            raise StoreError("store: a link needs a target")
        with self._lock:
            self._check_open()
            self._put(self._destination(new), (_LINK, existing))

    @contextlib.contextmanager
    def transaction(self, ordered: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the lock for the block, with evictions landing in one persistent transaction."""
        with self._lock, self.persistent.transaction() if self.persistent is not None else contextlib.nullcontext():
            yield
        if ordered is not None:
            ordered()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        with self._lock, self.persistent.snapshot() if self.persistent is not None else contextlib.nullcontext():
            yield

    def flush(self) -> None:
        """Offload every entry to the persistent store (in one transaction) and empty memory."""
        with self.transaction():
            while self._entries:
                path, entry = self._entries.popitem(last=False)
                self._forget(path, entry)
                self._offload(path, entry)

    def reset(self) -> None:
        """Empty memory and the persistent store."""
        with self._lock:
            self._check_open()
            self._entries.clear()
            self._index.clear()
            self._used = 0
            if self.persistent is not None:
                self.persistent.reset()

    def close(self) -> None:
        """Offload every entry (see `flush`); the persistent store stays open."""
        with self._lock:
            if not self._closed:
                self.flush()
                self._closed = True
