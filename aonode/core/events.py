"""Node-wide event counters (`hb_event:counters/0`): how many times each (topic, event) happened.

    events.count("process", "executed")      # a process computed one slot
    events.counters()                         # {"process": {"executed": 12}}

The counters are for operators (the dashboard, `~hyperbuddy@1.0/events`, the `aonode_events_total`
Prometheus series): they live in memory, start at zero with the Python process and are shared by
every node in it. Counting is a dict update under a lock, cheap enough for every slot.
"""

from __future__ import annotations

import threading
from collections import Counter

__all__ = ["count", "counters"]

_lock = threading.Lock()
_counts: Counter[tuple[str, str]] = Counter()


def count(topic: str, event: str, n: int = 1) -> None:
    """Add `n` to the counter of `event` under `topic`."""
    with _lock:
        _counts[(topic, event)] += n


def counters() -> dict[str, dict[str, int]]:
    """Every counter now, as {topic: {event: count}}."""
    with _lock:
        items = list(_counts.items())
    out: dict[str, dict[str, int]] = {}
    for (topic, event), n in items:
        out.setdefault(topic, {})[event] = n
    return out
