"""The `gateway` store: messages read from Arweave through the gateway client, cached locally
(`hb_store_gateway`, node-services.md §14.5).

    {"store-module": "gateway", "subindex": [{"name": "Data-Protocol", "value": "ao"}],
     "local-store": [{"store-module": "lmdb", "name": ".../lmdb"}],
     "routes": [...], "ans104_trust_gql": false, "http_request_send_timeout": 10000}

Only paths whose first segment is an ID reach the gateway. The first time such an ID is asked
for, the item is read from GraphQL (narrowed by `subindex`), its data from `/raw/<id>`, its
signature checked (`aonode.arweave.gateway.read`), and the message written to `local-store`,
from which every later read is served; nothing is asked of the gateway again for it. The
store's other keys are the options of the gateway calls (as in the reference, a store carries
its own `routes`; without them the default routes apply).

A miss is remembered for `MISS_SECONDS`, a gateway failure for `FAILURE_SECONDS`, so the
several primitive reads of one lookup ask the gateway once. A gateway that fails is a miss, as
in the reference (so a node whose gateway is down still serves and writes local data), but the
failure (`GatewayError`, 502/504, naming the gateway) is kept for `REPORT_SECONDS`:
`remote_failure(id)` gives it to whoever must answer "not found" for that ID, so the answer
says the gateway failed instead. An item that does not verify raises `UnverifiedItem` (422).

Reads made while the local store is inside a write transaction of this thread (the cache
checking whether an ID it is about to write already exists) never ask the gateway: a new
message's ID is not on Arweave, and asking would make every write wait for a gateway.

The store never takes writes (`scope` is `remote`): writing to it raises StoreError.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from aonode.errors import AOError
from aonode.message import is_id
from aonode.store._base import Kind, Names, Store, StoreError, split_path
from aonode.store._memory import MemoryStore

__all__ = ["FAILURE_SECONDS", "GatewayStore", "MISS_SECONDS", "REPORT_SECONDS", "remote_failure"]

MISS_SECONDS = 10.0
"""How long an ID the gateway does not have is answered as missing without asking again."""

FAILURE_SECONDS = 2.0
"""How long a gateway failure is repeated without asking again (one lookup, several reads)."""

_LOCK_STRIPES = 64
_KNOWN_MAX = 10_000

REPORT_SECONDS = 60.0
"""How long `remote_failure` reports a gateway failure for an ID."""

_FAILURES: dict[str, tuple[float, AOError]] = {}
_FAILURES_LOCK = threading.Lock()
_FAILURES_MAX = 10_000


def _record_failure(uid: str, error: AOError) -> None:
    with _FAILURES_LOCK:
        if len(_FAILURES) >= _FAILURES_MAX:
            now = time.monotonic()
            for key in [k for k, (until, _) in _FAILURES.items() if until <= now] or list(_FAILURES)[:1000]:
                _FAILURES.pop(key, None)
        _FAILURES[uid] = (time.monotonic() + REPORT_SECONDS, error)


def remote_failure(uid: str | bytes) -> AOError | None:
    """The error of the last failed attempt to fetch `uid` from a remote store, if recent
    (a 502/504 naming the gateway or node), else None."""
    key = uid.decode("utf-8", "replace") if isinstance(uid, bytes) else uid
    with _FAILURES_LOCK:
        found = _FAILURES.get(key)
    if found is None or found[0] <= time.monotonic():
        return None
    return found[1]


def _in_write_transaction(store: Store | None) -> bool:
    """True when `store` (or the first store of a chain) has a write transaction open in this
    thread. Backends without per-thread transactions say False."""
    first = getattr(store, "first", None)
    if first is not None:
        return _in_write_transaction(first)
    local = getattr(getattr(store, "_shared", None), "local", None)
    return bool(getattr(local, "write", False))


log = logging.getLogger("aonode.store")

# Fetched messages are also held here, so the read that fetched them sees them even inside a
# read transaction of the local store that began before the write.
_RECENT_CAPACITY = 64 * 1024 * 1024
_PINNED_CAPACITY = 1 << 62  # one message, however large
_LOCAL_WRITE_SECONDS = 60.0


class GatewayStore(Store):
    """Read-through from an Arweave gateway into `local`.

    Args:
        local: the store fetched messages are written to (None: kept in memory only).
        opts: the options of the gateway calls (`routes`, timeouts, `ans104_trust_gql`).
        subindex: `{name, value}` tags every item read must carry.
    """

    scope = "remote"

    def __init__(self, local: Store | None, opts: Mapping[str, Any], subindex: Any = ()) -> None:
        self.local = local
        self.opts = dict(opts)
        self.subindex = subindex
        # Without a local store, fetched messages live here (an LRU).
        self.recent = MemoryStore(_RECENT_CAPACITY)
        # With one, the read that fetched a message may be inside a read transaction of it that
        # began before the write: that thread's last fetched message is also held here, whatever
        # its size, until its next fetch.
        self._pinned = threading.local()
        self._known: dict[str, tuple[float, AOError | None]] = {}
        # Striped: one lock per ID ever asked would grow without bound under random IDs.
        self._locks = tuple(threading.Lock() for _ in range(_LOCK_STRIPES))
        self._lock = threading.Lock()
        self.fetches = 0
        """How many items this store has fetched from the gateway (for tests and metrics)."""

    def __repr__(self) -> str:
        return f"GatewayStore(subindex={self.subindex!r}, local={self.local!r})"

    # -- fetching -----------------------------------------------------------------------------

    def _holds(self, store: Store, uid: str) -> bool:
        return store._kind(uid) is not None or store._link_target(uid) is not None

    def _id_lock(self, uid: str) -> threading.Lock:
        return self._locks[hash(uid) % _LOCK_STRIPES]

    def _remember(self, uid: str, seconds: float, error: AOError | None) -> None:
        """Note a miss or failure for `seconds`; the notes stay bounded (random IDs asked by
        clients must not grow them without end)."""
        with self._lock:
            if len(self._known) >= _KNOWN_MAX:
                now = time.monotonic()
                for key in [k for k, (until, _) in self._known.items() if until <= now]:
                    del self._known[key]
                for key in list(self._known)[: max(0, len(self._known) - _KNOWN_MAX // 2)]:
                    del self._known[key]
            self._known[uid] = (time.monotonic() + seconds, error)

    def _holder(self, name: str) -> Store | None:
        """The store of fetched messages that holds top-level `name`, if any."""
        for store in (getattr(self._pinned, "store", None), self.recent):
            if store is not None and self._holds(store, name):
                return store
        return None

    def _fetch(self, uid: str) -> Store | None:
        """The store from which `uid` can now be read; None when the gateway has no such item
        (or failed, or must not be asked now)."""
        found = self._holder(uid)
        if found is not None:
            return found
        if _in_write_transaction(self.local):
            return None
        from aonode.arweave.gateway import GatewayError, UnverifiedItem

        with self._id_lock(uid):
            found = self._holder(uid)
            if found is not None:
                return found
            if remote_failure(uid) is not None and self._known.get(uid) is None:
                # Another gateway store of this node has just failed on this ID: the same
                # gateways would be asked again and fail the same way.
                return None
            known = self._known.get(uid)
            if known is not None and known[0] > time.monotonic():
                if isinstance(known[1], UnverifiedItem):
                    raise known[1]
                return None
            try:
                msg = self._read(uid)
            except GatewayError as exc:
                self._remember(uid, FAILURE_SECONDS, exc)
                _record_failure(uid, exc)
                log.warning("%s: reading %s: %s", self, uid, exc.message)
                return None
            except UnverifiedItem as exc:
                self._remember(uid, MISS_SECONDS, exc)
                raise
            with _FAILURES_LOCK:
                _FAILURES.pop(uid, None)  # the gateway answered: no failure to report any more
            if msg is None:
                self._remember(uid, MISS_SECONDS, None)
                return None
            with self._lock:
                self._known.pop(uid, None)
            self.fetches += 1
            return self._keep(msg, uid)

    def _read(self, uid: str) -> Any:
        """The message `uid` from the remote side, verified, or None when it has none."""
        from aonode.arweave.gateway import read

        return read(uid, self.opts, self.subindex)

    def _keep(self, msg: Any, uid: str) -> Store:
        """Write a fetched message where this thread's read can see it, and to `local`, readable
        as `uid` (an item kept under `ans104_trust_gql` loses its unverifiable commitment when
        written, so its ID is linked to what was written)."""
        from aonode.store import cache

        def write(store: Store) -> None:
            written = cache.write(msg, store)
            if not self._holds(store, uid):
                store.make_link(written, uid)

        if self.local is None:
            write(self.recent)
            return self.recent
        pinned = MemoryStore(_PINNED_CAPACITY)
        write(pinned)
        self._pinned.store = pinned
        # In a thread of its own: the caller may be inside a read transaction of `local`.
        failure: list[BaseException] = []

        def write_local() -> None:
            try:
                assert self.local is not None
                write(self.local)
            except BaseException as exc:  # reported below, in the caller's thread
                failure.append(exc)

        writer = threading.Thread(target=write_local, name="gateway-store-cache", daemon=True)
        writer.start()
        writer.join(_LOCAL_WRITE_SECONDS)
        if failure:
            raise StoreError(f"gateway store: caching the fetched item locally failed: {failure[0]}")
        return pinned

    def _source(self, path: str) -> Store | None:
        parts = split_path(path)
        if not parts:
            return None
        if len(parts) > 1 or not is_id(parts[0]) or len(parts[0]) != 43:
            # Only a single-segment ID is asked of the gateway, as in the reference (a hashpath
            # `X/Y` is a computed result, never on Arweave). Paths under a fetched message, and
            # what it links to (`data/<hash>`), are served from where it was written.
            return self._holder(parts[0])
        return self._fetch(parts[0])

    # -- primitives ---------------------------------------------------------------------------

    def _link_target(self, path: str) -> str | None:
        source = self._source(path)
        return source._link_target(path) if source is not None else None

    def _get(self, path: str) -> bytes | None:
        source = self._source(path)
        return source._get(path) if source is not None else None

    def _kind(self, path: str) -> Kind | None:
        source = self._source(path)
        return source._kind(path) if source is not None else None

    def _children(self, path: str) -> Names | None:
        source = self._source(path)
        return source._children(path) if source is not None else None

    # -- writers: a gateway is read-only ------------------------------------------------------

    def write(self, path: str, value: bytes) -> None:
        raise StoreError("the gateway store is read-only", status=405)

    def make_group(self, path: str) -> None:
        raise StoreError("the gateway store is read-only", status=405)

    def make_link(self, existing: str, new: str) -> None:
        raise StoreError("the gateway store is read-only", status=405)

    def reset(self) -> None:
        """Forget what was fetched and what was missing (the local store keeps its copies)."""
        self._pinned = threading.local()
        self.recent.reset()
        self._known.clear()

    def close(self) -> None:
        self._closed = True
        self.recent.close()


def store_options(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The options a remote store's calls use: its spec without the store's own keys."""
    own = {"store-module", "local-store", "subindex", "name", "node"}
    return {str(k): v for k, v in spec.items() if str(k) not in own}


def open_gateway(spec: Mapping[str, Any], open_store: Callable[[Any], Store]) -> GatewayStore:
    """A `GatewayStore` from its spec (`store-module: gateway`; see the module docstring).

    Raises:
        ValueError: `local-store` is neither a store spec nor false.
    """
    local_spec = spec.get("local-store", False)
    local = None
    if local_spec not in (False, None, b"false", "false"):
        if not isinstance(local_spec, (Mapping, list)):
            raise ValueError(f"gateway store: local-store must be a store spec or false, got {local_spec!r}")
        local = open_store(local_spec)
    return GatewayStore(local, store_options(spec), spec.get("subindex", ()))


# The node options a gateway store carries into its calls when the chain is derived.
_CARRIED = ("routes", "http_connect_timeout", "http_request_send_timeout", "ans104_trust_gql", "http_client")


def reference_chain(local: list[dict[str, Any]], opts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The reference's default chain over `local` (node-services.md §14.5): the local stores,
    a gateway store narrowed to `Data-Protocol: ao`, then a plain one, both caching into the
    local stores and calling the gateway with the node's routes and timeouts."""
    from aonode.core import options

    carried = {key: options.get(opts, key) for key in _CARRIED}
    return [
        *local,
        {"store-module": "gateway", "subindex": [{"name": "Data-Protocol", "value": "ao"}], "local-store": local,
         **carried},
        {"store-module": "gateway", "local-store": local, **carried},
    ]
