"""`lookup@1.0`: read a message from the node's cache by ID (`dev_lookup`, node-services.md §10.1).

    read   the stored message or binary `target` names; with `accept: application/aos-2`, the
           message as the legacy JSON (`{Id, Owner, Tags, Data, ...}`) with that content type.
           Missing: 404.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aonode.core.devices import Device
from aonode.core.terms import Result
from aonode.devices._legacy_message import message_json
from aonode.errors import BadMessage
from aonode.text import as_text

__all__ = ["AOS2", "LookupDevice", "aos2_json", "read_target"]

AOS2 = "application/aos-2"
_LEGACY_ONLY = ("Module", "Block-Height", "Timestamp", "Nonce", "Epoch", "Hash-Chain", "Cron")


def aos2_json(msg: Any) -> bytes:
    """A stored message as `application/aos-2` JSON (a binary as its text)."""
    if not isinstance(msg, Mapping):
        return json.dumps({"Data": as_text(msg, errors="replace")}).encode()
    legacy = {k: v for k, v in message_json(msg, module="").items() if k not in _LEGACY_ONLY}
    return json.dumps(legacy, separators=(",", ":")).encode()


def _wants_aos2(request: Mapping[str, Any]) -> bool:
    accept = request.get("accept")
    return isinstance(accept, (bytes, str)) and AOS2 in as_text(accept, errors="replace")


def read_target(request: Any, opts: Mapping[str, Any]) -> tuple[str, Any]:
    """The request's `target` and what the cache holds there (None when nothing).

    Raises:
        BadMessage: no `target`, or the node has no cache.
    """
    target = request.get("target") if isinstance(request, Mapping) else None
    if not isinstance(target, (bytes, str)) or not as_text(target, errors="replace"):
        raise BadMessage("a `target` (a message ID or a store path) is needed")
    cache = opts.get("cache")
    if cache is None:
        raise BadMessage("this node has no cache")
    return as_text(target, errors="replace"), cache.read(as_text(target, errors="replace"))


def answer(found: Any, request: Mapping[str, Any]) -> Result:
    """A found value as the reply, in aos-2 JSON when the request accepts it."""
    if _wants_aos2(request):
        return Result("ok", {"content-type": AOS2.encode(), "body": aos2_json(found)})
    return Result("ok", found)


class LookupDevice(Device):
    name = "lookup@1.0"

    def read(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The message `target` names, or 404."""
        target, found = read_target(request, opts)
        if found is None:
            return Result("error", {"status": 404, "body": f"lookup@1.0: {target} is not stored here".encode()})
        return answer(found, request)


