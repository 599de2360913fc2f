"""The store interface (resolution-paths-cache-node.md §9.1): paths, groups, links.

A store holds three kinds of entry under `/`-separated paths:

    value   bytes                          type() == "simple"
    group   a directory of named children  type() == "composite"
    link    a pointer to another path      followed by every read

Reading follows links through *every* segment of a path: if `a` is a link to
`x/y`, then `a/b` means `x/y/b` (the reference's LMDB prefix walk and its FS
store's segment walk agree on this). `resolve(path)` returns the path with
every link substituted; a missing segment is kept as it is, so resolving never
fails (except on a link loop, which raises).

Backends implement four *primitives* that look at exactly one path and never
follow links (`_link_target`, `_get`, `_kind`, `_children`), plus the writers.
The public readers here are built from the primitives, so a chain of stores or
an LRU over a persistent store can offer one view over several backends by
delegating the primitives. Backends may override the readers for speed.

Write-side contract, common to every backend:

* `write`, `make_group` and `make_link` resolve the *parent* of their
  destination through links first, and create missing parent groups; so a
  destination under a link lands inside the linked group.
* `write` and `make_link` replace a value or a link at the destination; they
  refuse (StoreError) to replace a group, whose children would be orphaned.
* `make_link(existing, new)` stores `existing` as given (it may not exist yet)
  and is a no-op when `existing == new`.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Literal, Self, TypeVar

from aonode.errors import AOError, Unsupported

T = TypeVar("T")

__all__ = [
    "MAX_LINK_HOPS",
    "Kind",
    "Names",
    "Store",
    "StoreError",
    "join_path",
    "normalize_path",
    "resolve_links",
    "split_path",
]

Kind = Literal["simple", "composite"]
"""What `Store.type` reports for an existing path: a value, or a group."""

Names = list[str]
# An alias because `list` is also the name of a Store method, which would shadow the builtin
# in annotations written inside the class body.

# The reference's LMDB store gives up after 1000 redirects; a longer chain is a loop.
MAX_LINK_HOPS = 1000


class StoreError(AOError):
    """Raised when a store cannot do what was asked: its backend failed, its data is corrupt,
    a path cannot be stored (too long, a group in the way), or the store is closed."""

    status = 500


def split_path(path: str) -> Names:
    """The non-empty segments of a `/`-separated path (`"/a//b/"` -> `["a", "b"]`).

    Raises:
        TypeError: `path` is not a str.
    """
    if not isinstance(path, str):
        raise TypeError(f"path must be str, got {type(path).__name__}")
    return [part for part in path.split("/") if part]


def normalize_path(path: str) -> str:
    """`path` without leading, trailing or repeated slashes.

    Raises:
        TypeError: `path` is not a str.
    """
    if isinstance(path, str) and "//" not in path and path[:1] != "/" and path[-1:] != "/":
        return path  # already normal: the common case, kept cheap
    return "/".join(split_path(path))


def join_path(*parts: str) -> str:
    """Join paths with single slashes, dropping empty segments."""
    return "/".join(seg for part in parts for seg in split_path(part))


def resolve_links(path: str, link_target: Callable[[str], str | None], hops: int = MAX_LINK_HOPS) -> str:
    """Substitute link targets for every prefix of `path`, left to right.

    Args:
        path: the path to resolve.
        link_target: the target of the link stored at exactly this path, or None.
        hops: how many links may be followed in all.

    Raises:
        StoreError: more than `hops` links were followed (a loop, or a corrupt store).
    """
    # A stack of the segments still to walk. A link's target is itself a full path that may
    # go through links, so it replaces the walked prefix and is walked from the root.
    pending = split_path(path)
    pending.reverse()
    walked = ""
    followed = 0
    while pending:
        segment = pending.pop()
        candidate = f"{walked}/{segment}" if walked else segment
        target = link_target(candidate)
        if target is None:
            walked = candidate
            continue
        followed += 1
        if followed > hops:
            raise StoreError(f"store: more than {hops} links followed resolving {path!r} (a link loop?)")
        walked = ""
        pending.extend(reversed(split_path(target)))
    return walked


def parent_and_name(path: str) -> tuple[str, str]:
    """Split a path into its parent path and last segment.

    Raises:
        StoreError: the path is empty (the root cannot be written to).
    """
    parts = split_path(path)
    if not parts:
        raise StoreError("store: the empty path names the root, which cannot be written")
    return "/".join(parts[:-1]), parts[-1]


class Store(ABC):
    """A key-value store of values, groups and links (§9.1). See the module docstring.

    Every method may raise StoreError when the backend fails. `close()` ends the store; using a
    closed store raises StoreError. A store is also a context manager that closes on exit.
    """

    scope: str = "local"
    """`"local"` for stores on this machine; remote stores (gateway, another node) say `"remote"`."""

    _closed: bool = False

    # -- primitives: exactly one path, links not followed -------------------------------------

    @abstractmethod
    def _link_target(self, path: str) -> str | None:
        """The target of the link stored at exactly `path`, or None when `path` holds no link."""

    @abstractmethod
    def _get(self, path: str) -> bytes | None:
        """The value stored at exactly `path`, or None when it holds no value."""

    @abstractmethod
    def _kind(self, path: str) -> Kind | None:
        """`simple` for a value and `composite` for a group at exactly `path`; None otherwise."""

    @abstractmethod
    def _children(self, path: str) -> Names | None:
        """The sorted child names of the group at exactly `path`, or None when it is no group."""

    def _probe(self, path: str) -> tuple[str | None, Kind | None, bytes | None]:
        """All that is at exactly `path` (links not followed): the link target, the kind and the
        value (the value only for a `simple` entry). Backends that fetch one entry for all three
        (Redis: one round trip) override it; a chain of stores asks its later stores this way."""
        target = self._link_target(path)
        if target is not None:
            return target, None, None
        kind = self._kind(path)
        return None, kind, self._get(path) if kind == "simple" else None

    def _probe_many(self, paths: Sequence[str]) -> list[tuple[str | None, Kind | None, bytes | None]]:
        """`_probe` of several paths (Redis: in one round trip)."""
        return [self._probe(path) for path in paths]

    # -- writers ------------------------------------------------------------------------------

    @abstractmethod
    def write(self, path: str, value: bytes) -> None:
        """Store `value` at `path`, replacing a value or link there.

        Raises:
            StoreError: `path` is a group, is empty, or cannot be stored.
        """

    @abstractmethod
    def make_group(self, path: str) -> None:
        """Make `path` a group; nothing happens if it (or what it links to) already is one.

        Raises:
            StoreError: `path` holds a value.
        """

    @abstractmethod
    def make_link(self, existing: str, new: str) -> None:
        """Make `new` a link to `existing` (argument order as in the reference), replacing a
        value or link at `new`.

        Raises:
            StoreError: `new` is a group.
        """

    def make_links(self, links: Sequence[tuple[str, str]]) -> None:
        """`make_link(existing, new)` for each pair, in order: the keys of one message, so that
        a store can do the work their common parent asks for once.

        Raises:
            StoreError: a `new` is a group.
        """
        for existing, new in links:
            self.make_link(existing, new)

    @abstractmethod
    def reset(self) -> None:
        """Remove everything in the store."""

    @abstractmethod
    def close(self) -> None:
        """Release the store's resources. Repeated calls do nothing."""

    # -- readers ------------------------------------------------------------------------------

    def resolve(self, path: str) -> str:
        """`path` with the target of every link along it substituted (missing segments kept).

        Raises:
            StoreError: a link loop.
        """
        self._check_open()
        return resolve_links(path, self._link_target)

    def read(self, path: str) -> bytes | None:
        """The value at `path` after following links; None for a group or a missing path."""
        return self._get(self.resolve(path))

    def type(self, path: str) -> Kind | None:
        """`simple`, `composite`, or None when nothing is at `path` (links followed)."""
        return self._kind(self.resolve(path))

    def list(self, path: str) -> Names | None:
        """The sorted immediate child names of the group at `path` (links followed), or None."""
        return self._children(self.resolve(path))

    # -- optional -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self, ordered: Callable[[], None] | None = None) -> Iterator[None]:
        """Make the writes inside the block land together, where the backend can (LMDB: one
        write transaction; elsewhere: no guarantee). Nested blocks join the outer one.

        `ordered`, when given, is called once after the block ended without raising, as soon as
        its writes are ordered before those of every transaction block of this OS process that
        begins later (which will read them), possibly before they are durable; the `with`
        still ends only once they are durable. A caller that serialises its transactions with
        a lock of its own releases it there, so that the next one can share the commit (LMDB's
        group commit). Stores that commit each block alone call it when the block's writes are
        stored.
        """
        yield
        if ordered is not None:
            ordered()

    def transact(self, work: Callable[[], T], ordered: Callable[[], None] | None = None) -> T:
        """`work()` inside `transaction(ordered)`, and its result: the same guarantees, but the
        store may run `work` in another thread (LMDB runs it in the thread that leads the group
        commit, so no thread waits for this one to be scheduled while holding the writer lock).
        So `work` must depend on no thread-local state and take no lock its caller holds."""
        with self.transaction(ordered):
            return work()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read from one consistent view inside the block, where the backend can (LMDB: one
        read transaction). Writes in the block may not be visible to its reads."""
        yield

    def expect_writer(self) -> None:  # noqa: B027 (a hint: ignoring it is right here)
        """A hint, inside `transaction()` (typically in its `ordered` callback, just before it
        lets go a lock that another thread waits for, to begin its own transaction): a store
        that commits concurrent transactions together (LMDB) may hold this commit open a
        moment for that one. Stores that commit each block alone ignore it."""

    def prefetch(self, paths: Sequence[str]) -> None:  # noqa: B027 (a hint: ignoring it is right here)
        """A hint, inside `transaction()`: the block is about to look at these exact paths (say,
        the existence checks of a message write). Stores that answer them faster together
        (Redis: one round trip instead of one per path) fetch them now and answer the block's
        lookups from what they fetched; the others ignore it. Never changes what is read."""

    def match(self, pairs: Sequence[tuple[str, str]]) -> Names:
        """The groups in which, for every `(key, target)` pair, the child `key` links to `target`.

        Raises:
            Unsupported: the backend cannot search (only LMDB can, as in the reference).
        """
        raise Unsupported(f"{type(self).__name__} cannot match")

    @property
    def writer(self) -> Store:
        """The store that takes this store's writes: itself (a chain's first store)."""
        return self

    @property
    def closed(self) -> bool:
        """True once `close()` has run."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"store: {self!r} is closed")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
