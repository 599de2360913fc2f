"""`counter@1.0`: a small execution device for process tests, loaded by name through the
`preloaded_devices` option (`{"counter@1.0": "counter_device:CounterDevice"}`).

State: `counter`, the `count` of the last message computed, and `total`, the sum of every
`count` computed (so the state depends on every message, not only the last). A message with `count` N below
its `limit` (default 100) sends `count` N+1 back to where it came from: its `from-process`
(set by push@1.0 on messages between processes), else its `reply-to` (set by the test on the
first message). So two processes that point at each other bounce a count up to the limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.core.devices import Device

PLAIN = {"hashpath": "ignore"}


def _int(value: Any, default: int) -> int:
    try:
        return int(value.decode() if isinstance(value, bytes) else value)
    except (TypeError, ValueError):
        return default


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode()
    return value if isinstance(value, str) else None


class CounterDevice(Device):
    name = "counter@1.0"

    def init(self, base: Mapping[str, Any]) -> dict[str, Any]:
        return {**base, "counter": 0, "total": 0}

    def normalize(self, base: Mapping[str, Any]) -> dict[str, Any]:
        return dict(base)

    def snapshot(self, base: Mapping[str, Any]) -> dict[str, Any]:
        return {"counter": base.get("counter", 0), "total": base.get("total", 0)}

    def compute(self, base: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
        body = request.get("body")
        message = body if isinstance(body, Mapping) else {}
        if "count" not in message:  # the process itself, or anything without a count
            return {**base, "results": {"outbox": {}}}
        count = _int(message.get("count"), 0)
        limit = _int(message.get("limit"), 100)
        reply_to = _text(message.get("from-process")) or _text(message.get("reply-to"))
        outbox: dict[str, Any] = {}
        if count < limit and reply_to:
            outbox["1"] = {"target": reply_to, "count": count + 1, "limit": limit}
        total = _int(base.get("total"), 0) + count
        return {**base, "counter": count, "total": total,
                "results": {"outbox": outbox, "data": str(count).encode()}}
