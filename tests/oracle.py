"""Loaders for the shared vectors: the reference's tagged-JSON terms become rich messages.

The mapping is the one in ../shared/vectors/oracle/README.md ("Erlang term -> JSON").
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from aonode.message import Atom, Link

SHARED = Path(__file__).resolve().parents[2] / "shared"
ORACLE = SHARED / "vectors" / "oracle"
FIXTURES = SHARED / "fixtures"


def load(name: str) -> dict[str, Any]:
    """Read an oracle file, skipping the test when the shared folder is absent."""
    path = ORACLE / name
    if not path.exists():
        pytest.skip(f"shared vectors not found at {path}")
    return json.loads(path.read_text())


def vectors(name: str) -> list[dict[str, Any]]:
    path = ORACLE / name
    if not path.exists():
        return []
    return list(json.loads(path.read_text())["vectors"])


def term(value: Any) -> Any:
    """Turn a tagged-JSON term into aonode's rich form (binaries become bytes)."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, list):
        return [term(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            (tag, inner), = value.items()
            if tag == "$bytes_b64":
                return base64.b64decode(inner)
            if tag == "$float":
                return float(inner)
            if tag == "$atom":
                return {"true": True, "false": False, "null": None}.get(inner, Atom(inner))
            if tag == "$map":
                return {_key(k): term(v) for k, v in inner}
            if tag == "$tuple":
                items = [term(v) for v in inner]
                if items and items[0] == Atom("link"):
                    lazy = inner[2].get("lazy") == {"$atom": "true"} if isinstance(inner[2], dict) else False
                    return Link(inner[1], lazy=lazy)
                return tuple(items)
        return {k: term(v) for k, v in value.items()}
    raise TypeError(f"unexpected term {value!r}")


def _key(key: Any) -> str:
    value = term(key)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, Atom):
        return value.name
    return str(value)


def failed(value: Any) -> bool:
    """True for a field the reference could not compute (it raised)."""
    return isinstance(value, dict) and ("$error" in value or "$not_applicable" in value)


def ao_term(value: Any) -> Any:
    """Like `term`, with `{as, Dev, Msg}` and `{resolve, Msgs}` tuples as aonode's `As` and
    `Resolve` (device names as str)."""
    from aonode.core import As, Resolve

    def convert(item: Any) -> Any:
        if isinstance(item, tuple) and item and item[0] == Atom("as"):
            device = item[1].decode() if isinstance(item[1], bytes) else item[1]
            return As(device, convert(item[2]))
        if isinstance(item, tuple) and item and item[0] == Atom("resolve"):
            return Resolve([convert(m) for m in item[1]])
        if isinstance(item, dict):
            return {k: convert(v) for k, v in item.items()}
        if isinstance(item, list):
            return [convert(v) for v in item]
        return item

    return convert(term(value))
