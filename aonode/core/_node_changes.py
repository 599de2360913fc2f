"""Run-time changes of the node message, shared by the worker processes of one node.

`aonode serve --workers N` runs N processes, each with its own live node message. A change
an operator makes with `POST /~meta@1.0/info` lands in one of them; it is appended here, to a
log in the shared store, and every worker applies the log's new entries before it handles its
next request, so all of them run with the same options in the same order of changes.

The log belongs to one run of the node (`run`, chosen when the node starts), so a restart
begins from the configuration again, as a single process does: run-time changes are not
configuration. Entries are written as tagged JSON (bytes in base64, atoms by name), so
reading one needs no codec and can run no code.

Layout: `~meta@1.0/changes/<run>/count` holds the number of entries; entry `n` (from 1) is
`~meta@1.0/changes/<run>/<n>`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from aonode.errors import BadMessage
from aonode.message import Atom
from aonode.store import Store

__all__ = ["ROOT", "append", "count", "read"]

ROOT = "~meta@1.0/changes"


def _pack(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return {"b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Atom):
        return {"a": value.name}
    if isinstance(value, (list, tuple)):
        return [_pack(v) for v in value]
    if isinstance(value, Mapping):
        return {"m": [[str(k), _pack(v)] for k, v in value.items()]}
    raise BadMessage(f"a node option of type {type(value).__name__} cannot be shared with the node's workers")


def _unpack(value: Any) -> Any:
    if isinstance(value, list):
        return [_unpack(v) for v in value]
    if isinstance(value, dict):
        if "b" in value:
            return base64.b64decode(value["b"])
        if "a" in value:
            return Atom(value["a"])
        return {k: _unpack(v) for k, v in value["m"]}
    return value


def _count_path(run: str) -> str:
    return f"{ROOT}/{run}/count"


def count(run: str, store: Store) -> int:
    """How many changes run `run` has made."""
    found = store.read(_count_path(run))
    return int(found) if found is not None else 0


def append(run: str, changes: Mapping[str, Any], entry: Mapping[str, Any], store: Store) -> int:
    """Append a change (the options it sets, and its `node_history` entry) and return its number.

    Durable when this returns. Numbers are gapless across processes: the store's transaction
    is exclusive.

    Raises:
        BadMessage: a value has no stored form.
    """
    packed = json.dumps({"changes": _pack(changes), "entry": _pack(entry)}).encode()
    with store.transaction():
        number = count(run, store) + 1
        store.write(f"{ROOT}/{run}/{number}", packed)
        store.write(_count_path(run), str(number).encode())
    return number


def read(run: str, number: int, store: Store) -> tuple[dict[str, Any], dict[str, Any]]:
    """Change `number` of run `run`: (the options it sets, its `node_history` entry)."""
    raw = store.read(f"{ROOT}/{run}/{number}")
    if raw is None:
        raise LookupError(f"change {number} of this node's run {run} is missing from the store")
    found = json.loads(raw)
    return _unpack(found["changes"]), _unpack(found["entry"])
