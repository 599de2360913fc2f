"""The body of a VM snapshot (a WASM linear memory, a Lua state dump), raw or packed.

A snapshot a process stores is packed: deflated (zlib, level 1) when a sample of it shrinks,
with `content-encoding: deflate`; otherwise raw with no encoding. An AOS memory is tens of MB,
mostly zeros, and deflates about 80 times, in a few tens of ms.

Two uses need the raw bytes at once and never the deflate: a dry run's copy of a live state
(read, then written into a fresh VM, in memory), and a snapshot taken on a request's path and
stored later by a background writer. For them the resolution's options carry `RAW_OPTION`, the
devices answer `{body: <raw>, content-encoding: identity}` (which every reader takes as raw),
and the background writer packs the message with `pack_tree` before storing it.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

__all__ = ["IDENTITY", "RAW_OPTION", "body", "is_raw_wanted", "pack", "pack_tree", "size"]

# An internal resolution option (never a node option): snapshots answer raw bodies.
RAW_OPTION = "snapshot_raw_body"
IDENTITY = b"identity"

# Deflate only when a sample shrinks: an incompressible 100 MB state would otherwise cost two
# seconds of CPU for nothing.
_SAMPLE = 1024 * 1024
_WORTH = 0.9


def is_raw_wanted(opts: Mapping[str, Any]) -> bool:
    """Whether this resolution asks for raw snapshot bodies (`RAW_OPTION`)."""
    return opts.get(RAW_OPTION) is True


def pack(raw: bytes) -> dict[str, Any]:
    """A stored snapshot body for `raw`: deflated when that pays (see the module docstring)."""
    sample = raw[:_SAMPLE]
    if len(raw) > 4096 and len(zlib.compress(sample, 1)) < _WORTH * len(sample):
        return {"body": zlib.compress(raw, 1), "content-encoding": b"deflate"}
    return {"body": raw}


def body(raw: bytes, opts: Mapping[str, Any]) -> dict[str, Any]:
    """What a device's `snapshot` answers for the VM bytes `raw`: raw under `RAW_OPTION`, else packed."""
    if is_raw_wanted(opts):
        return {"body": raw, "content-encoding": IDENTITY}
    return pack(raw)


def pack_tree(msg: Any, depth: int = 0) -> Any:
    """`msg` with every raw body (`content-encoding: identity`) in it packed, as the devices
    answer without `RAW_OPTION`. Other values are returned as they are."""
    if not isinstance(msg, Mapping) or depth > 8:
        return msg
    if msg.get("content-encoding") == IDENTITY and isinstance(msg.get("body"), bytes):
        rest = {k: v for k, v in msg.items() if k not in ("body", "content-encoding")}
        return {**rest, **pack(msg["body"])}
    return {k: pack_tree(v, depth + 1) for k, v in msg.items()}


def size(msg: Any, depth: int = 0) -> int:
    """The bytes of the bodies in a snapshot message (nested maps followed)."""
    if isinstance(msg, bytes):
        return len(msg)
    if not isinstance(msg, Mapping) or depth > 8:
        return 0
    return sum(size(v, depth + 1) for v in msg.values())
