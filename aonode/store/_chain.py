"""Store chains (resolution-paths-cache-node.md §9.1 "chaining").

A chain reads from its stores in order and writes to the first one only: there
is no write-through, as in the reference. Reading goes path by path through
the chain (the primitives ask each store in turn), so a link written to the
first store can point at data that only a later store holds, and earlier
stores shadow later ones for a path that several hold. `list` returns the
first store's listing that exists. `resolve` is therefore the chain's view of
the path, not the first store's alone (the reference returns the first
store's answer, which with LMDB first hides links held further down).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeAlias, TypeVar

from aonode.store._base import Kind, Names, Store, normalize_path, resolve_links, split_path

__all__ = ["StoreChain"]


Probe: TypeAlias = tuple[str | None, Kind | None, bytes | None]
T = TypeVar("T")


class _Memo(threading.local):
    """The later stores' answers a thread's `transaction()` block has had, by (store, path)."""

    depth: int = 0
    found: dict[tuple[int, str], Probe]

    def __init__(self) -> None:
        self.found = {}


class StoreChain(Store):
    """Several stores seen as one: reads try each in order, writes go to the first.

    Args:
        stores: the stores, most preferred first (at least one).

    Raises:
        ValueError: `stores` is empty.
    """

    def __init__(self, stores: Iterable[Store]) -> None:
        self.stores: tuple[Store, ...] = tuple(stores)
        if not self.stores:
            raise ValueError("stores must hold at least one store")
        self.scope = self.stores[0].scope
        self._memo = _Memo()

    def __repr__(self) -> str:
        return f"StoreChain({list(self.stores)!r})"

    @property
    def first(self) -> Store:
        """The store that takes the writes."""
        return self.stores[0]

    @property
    def writer(self) -> Store:
        return self.first.writer

    # -- primitives: the first store that has the path answers --------------------------------

    def _look(self, index: int, path: str) -> tuple[str | None, Kind | None, bytes | None]:
        """`_probe` of store `index`; inside `transaction()`, a later store's answer is kept for
        the rest of the block (see `prefetch`)."""
        store = self.stores[index]
        memo = self._memo
        if not index or not memo.depth:
            return store._probe(path)
        key = (index, path)
        found = memo.found.get(key)
        if found is None:
            found = memo.found[key] = store._probe(path)
        return found

    def _link_target(self, path: str) -> str | None:
        for index in range(len(self.stores)):
            target, kind, _ = self._look(index, path)
            if target is not None:
                return target
            if kind is not None:
                return None  # a value or group here shadows links further down
        return None

    def _get(self, path: str) -> bytes | None:
        for index in range(len(self.stores)):
            target, kind, value = self._look(index, path)
            if target is not None:
                return None
            if kind is not None:
                return value
        return None

    def _kind(self, path: str) -> Kind | None:
        for index in range(len(self.stores)):
            target, kind, _ = self._look(index, path)
            if target is not None:
                return None
            if kind is not None:
                return kind
        return None

    def _children(self, path: str) -> Names | None:
        for index, store in enumerate(self.stores):
            target, kind, _ = self._look(index, path)
            if target is not None:
                return None
            names = store._children(path)
            if names is not None:
                return names
            if kind is not None:
                return None
        return None

    # -- readers: one view per call, the later stores asked for a path's prefixes at once ------

    @contextlib.contextmanager
    def _view(self) -> Iterator[None]:
        """Keep the later stores' answers for the call (or for the enclosing transaction)."""
        memo = self._memo
        if memo.depth:
            yield
            return
        memo.depth, memo.found = 1, {}
        try:
            yield
        finally:
            memo.depth, memo.found = 0, {}

    def resolve(self, path: str) -> str:
        self._check_open()
        with self._view():
            segments = split_path(path)
            self.prefetch(["/".join(segments[:n]) for n in range(1, len(segments) + 1)])
            return resolve_links(path, self._link_target)

    def read(self, path: str) -> bytes | None:
        with self._view():
            return self._get(self.resolve(path))

    def type(self, path: str) -> Kind | None:
        with self._view():
            return self._kind(self.resolve(path))

    def list(self, path: str) -> Names | None:
        with self._view():
            return self._children(self.resolve(path))

    def expect_writer(self) -> None:
        self.first.expect_writer()

    def prefetch(self, paths: Sequence[str]) -> None:
        """Inside `transaction()`: look `paths` up in the later stores now, each store asked for
        all the paths the stores before it do not hold at once (`_probe_many`: one round trip to
        Redis), and answer the block's lookups of them from that. The later stores take no writes
        from this chain, so what was read stays this block's view; the first store, which takes
        them, is always asked afresh."""
        memo = self._memo
        if not memo.depth:
            return
        wanted = list(dict.fromkeys(normalize_path(p) for p in paths))
        self.first.prefetch(wanted)
        wanted = [p for p in wanted if self.first._probe(p) == (None, None, None)]
        for index in range(1, len(self.stores)):
            asking = [p for p in wanted if (index, p) not in memo.found]
            if asking:
                memo.found.update(zip(((index, p) for p in asking), self.stores[index]._probe_many(asking),
                                      strict=True))
            wanted = [p for p in wanted if memo.found[(index, p)] == (None, None, None)]
            if not wanted:
                break

    # -- writers: the first store only --------------------------------------------------------

    def write(self, path: str, value: bytes) -> None:
        self._check_open()
        self.first.write(path, value)

    def make_group(self, path: str) -> None:
        self._check_open()
        self.first.make_group(path)

    def make_link(self, existing: str, new: str) -> None:
        self._check_open()
        self.first.make_link(existing, new)

    def make_links(self, links: Sequence[tuple[str, str]]) -> None:
        self._check_open()
        self.first.make_links(links)

    @contextlib.contextmanager
    def _kept(self) -> Iterator[None]:
        """The later stores' answers kept for the block, in the thread that runs it."""
        memo = self._memo
        if not memo.depth:
            memo.found = {}
        memo.depth += 1
        try:
            yield
        finally:
            memo.depth -= 1
            if not memo.depth:
                memo.found = {}

    @contextlib.contextmanager
    def transaction(self, ordered: Callable[[], None] | None = None) -> Iterator[None]:
        """The first store's transaction; the later stores' answers are kept for the block."""
        with self._kept(), self.first.transaction(ordered):
            yield

    def transact(self, work: Callable[[], T], ordered: Callable[[], None] | None = None) -> T:
        """The first store's `transact`; the later stores' answers are kept for the work, in
        whichever thread runs it."""
        def kept() -> T:
            with self._kept():
                return work()

        return self.first.transact(kept, ordered)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for store in self.stores:
                stack.enter_context(store.snapshot())
            yield

    def match(self, pairs: Sequence[tuple[str, str]]) -> Names:
        """The first store's matches (the only one that can hold what the cache wrote)."""
        return self.first.match(pairs)

    def reset(self) -> None:
        """Reset every store in the chain."""
        for store in self.stores:
            store.reset()

    def close(self) -> None:
        """Close every store in the chain."""
        if not self._closed:
            self._closed = True
            for store in self.stores:
                store.close()
