"""Opening stores from node configuration (resolution-paths-cache-node.md §9.1).

A store is configured as a map, as in the reference:

    {"store-module": "hb_store_lmdb", "name": "cache-mainnet/lmdb", "capacity": 17179869184}
    {"store-module": "hb_store_fs", "name": "cache-mainnet", "scope": "local"}
    {"store-module": "hb_store_lru", "capacity": 1000000, "persistent-store": {...} or [...]}
    {"store-module": "redis", "url": "redis://127.0.0.1:6379/0", "cluster": false,
     "namespace": "aonode", "durability": "everysec"}      (aonode's own; `_redis`)

A list of such maps is a chain. `open_store` keeps one instance per spec for the
life of the process (the reference registers instances under
`{store, Module, Name}`), so opening the same LMDB directory twice shares one
environment; a closed instance is replaced on the next open.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from aonode.errors import Unsupported
from aonode.store._base import Store
from aonode.store._chain import StoreChain
from aonode.store._fs import FSStore
from aonode.store._lmdb import DEFAULT_CAPACITY as LMDB_CAPACITY
from aonode.store._lmdb import LMDBStore
from aonode.store._memory import DEFAULT_CAPACITY as MEMORY_CAPACITY
from aonode.store._memory import MemoryStore
from aonode.store._redis import DEFAULT_NAMESPACE as REDIS_NAMESPACE
from aonode.store._redis import RedisStore

__all__ = ["MODULES", "open_store"]

MODULES = {
    "lmdb": "lmdb",
    "hb_store_lmdb": "lmdb",
    "fs": "fs",
    "hb_store_fs": "fs",
    "memory": "memory",
    "lru": "memory",
    "hb_store_lru": "memory",
    "redis": "redis",
    "gateway": "gateway",  # aonode/store/_gateway.py (engineer F)
    "hb_store_gateway": "gateway",
    "remote-node": "remote-node",  # aonode/store/_remote_node.py (engineer F)
    "hb_store_remote_node": "remote-node",
}
"""Accepted `store-module` names (aonode's and the reference's) and the backend each opens."""

StoreSpec = Mapping[str, Any] | Sequence[Mapping[str, Any]]

_OPENED: dict[tuple[Any, ...], Store] = {}
_LOCK = threading.RLock()


def _text(spec: Mapping[str, Any], key: str, default: str | None = None) -> str | None:
    value = spec.get(key, default)
    if isinstance(value, bytes):
        return value.decode()
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"store spec {key!r} must be text, got {type(value).__name__}")


def _name(spec: Mapping[str, Any], module: str) -> str:
    name = _text(spec, "name")
    if not name:
        raise ValueError(f"store spec for {module!r} needs a 'name' (its directory)")
    return os.path.realpath(name)


def _capacity(spec: Mapping[str, Any], default: int) -> int:
    value = spec.get("capacity", default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"store spec 'capacity' must be a positive integer, got {value!r}")
    return value


def _flag(spec: Mapping[str, Any], key: str) -> bool:
    value = spec.get(key, False)
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"store spec {key!r} must be true or false, got {value!r}")
    return value


def _redis(spec: Mapping[str, Any]) -> tuple[str, bool, str, str]:
    """The URL, cluster flag, namespace and durability of a redis spec."""
    url = _text(spec, "url")
    if not url:
        raise ValueError("store spec for 'redis' needs a 'url' (redis://host:port/db)")
    return (url, _flag(spec, "cluster"), _text(spec, "namespace", REDIS_NAMESPACE) or REDIS_NAMESPACE,
            _text(spec, "durability", "everysec") or "everysec")


def _identity(spec: StoreSpec) -> tuple[Any, ...]:
    """The key under which an opened store is kept: what makes two specs the same store."""
    if not isinstance(spec, Mapping):
        return ("chain", *(_identity(member) for member in spec))
    module = _module(spec)
    if module == "lmdb":
        return ("lmdb", _name(spec, module))  # one environment per directory, whatever else differs
    if module == "fs":
        return ("fs", _name(spec, module), _text(spec, "scope", "local"))
    if module == "redis":
        url, cluster, namespace, _ = _redis(spec)
        return ("redis", url, cluster, namespace)
    if module in ("gateway", "remote-node"):
        return (module, repr(sorted((str(k), repr(v)) for k, v in spec.items())))
    persistent = spec.get("persistent-store")
    return ("memory", _text(spec, "name"), _capacity(spec, MEMORY_CAPACITY),
            None if persistent is None else _identity(persistent))


def _module(spec: Mapping[str, Any]) -> str:
    raw = _text(spec, "store-module")
    module = MODULES.get(raw or "")
    if module is None:
        raise Unsupported(f"unknown store-module {raw!r}; known: {', '.join(MODULES)}")
    return module


def _build(spec: StoreSpec) -> Store:
    if not isinstance(spec, Mapping):
        return StoreChain(open_store(member) for member in spec)
    module = _module(spec)
    if module == "lmdb":
        return LMDBStore(_name(spec, module), capacity=_capacity(spec, LMDB_CAPACITY))
    if module == "fs":
        return FSStore(_name(spec, module), scope=_text(spec, "scope", "local") or "local")
    if module == "redis":
        url, cluster, namespace, durability = _redis(spec)
        return RedisStore.from_url(url, cluster=cluster, namespace=namespace, durability=durability)
    if module == "gateway":
        from aonode.store._gateway import open_gateway

        return open_gateway(spec, open_store)
    if module == "remote-node":
        from aonode.store._remote_node import open_remote_node

        return open_remote_node(spec, open_store)
    persistent = spec.get("persistent-store")
    return MemoryStore(_capacity(spec, MEMORY_CAPACITY), None if persistent is None else open_store(persistent))


def open_store(spec: StoreSpec) -> Store:
    """The store a configuration map (or list of maps: a chain) describes, opened once per process.

    Args:
        spec: see the module docstring. `store-module` is required; lmdb and fs need `name`, redis `url`.

    Raises:
        Unsupported: an unknown `store-module` (e.g. rocksdb or a remote store, not built yet).
        ValueError: a required key is missing or has the wrong type.
        StoreError: the backend cannot be opened.
    """
    if isinstance(spec, (str, bytes)) or not isinstance(spec, (Mapping, Sequence)):
        raise ValueError(f"store spec must be a map or a list of maps, got {type(spec).__name__}")
    if not isinstance(spec, Mapping) and not spec:
        raise ValueError("store spec list must not be empty")
    key = _identity(spec)
    with _LOCK:
        found = _OPENED.get(key)
        if found is None or found.closed:
            found = _OPENED[key] = _build(spec)
        return found
