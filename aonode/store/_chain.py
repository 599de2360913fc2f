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
from collections.abc import Iterable, Iterator, Sequence

from aonode.store._base import Kind, Names, Store

__all__ = ["StoreChain"]


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

    def __repr__(self) -> str:
        return f"StoreChain({list(self.stores)!r})"

    @property
    def first(self) -> Store:
        """The store that takes the writes."""
        return self.stores[0]

    # -- primitives: the first store that has the path answers --------------------------------

    def _link_target(self, path: str) -> str | None:
        for store in self.stores:
            target = store._link_target(path)
            if target is not None:
                return target
            if store._kind(path) is not None:
                return None  # a value or group here shadows links further down
        return None

    def _get(self, path: str) -> bytes | None:
        for store in self.stores:
            if store._link_target(path) is not None:
                return None
            kind = store._kind(path)
            if kind is not None:
                return store._get(path) if kind == "simple" else None
        return None

    def _kind(self, path: str) -> Kind | None:
        for store in self.stores:
            if store._link_target(path) is not None:
                return None
            kind = store._kind(path)
            if kind is not None:
                return kind
        return None

    def _children(self, path: str) -> Names | None:
        for store in self.stores:
            if store._link_target(path) is not None:
                return None
            names = store._children(path)
            if names is not None:
                return names
            if store._kind(path) is not None:
                return None
        return None

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

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.first.transaction():
            yield

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
