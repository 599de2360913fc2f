"""The legacy result a hyper-aos process's `results` stand for (docs/compat.md, "Legacy
results for aoconnect 0.0.93 and 0.0.98").

hyper-aos (AOS on `lua@5.3a`) leaves its result in the process state as `results` =
`{output, outbox, error}`; aoconnect reads a legacy result, `{Output, Messages, Spawns,
Assignments, Error}`, each message `{Target, Data, Anchor, Tags: [{name, value}]}`. The node
answers a dry run with both (`aonode.devices.lua`), and `aonode.client` makes the legacy one
itself from a node that gives `results` alone (the reference). Values pass through as they
are (bytes on the node, JSON text in the client).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.message import sequence_index

__all__ = ["legacy_result"]

# The keys of an outbox entry that are fields of a legacy message; the others are its tags.
_MESSAGE_FIELDS = {"target": "Target", "data": "Data", "anchor": "Anchor"}


def _header_case(key: str) -> str:
    return "-".join(part[:1].upper() + part[1:] for part in key.split("-"))


def _in_order(values: Any) -> list[Any]:
    """A list, or a map numbered from 1 (Lua's sequences arrive so), as a list."""
    if isinstance(values, list):
        return values
    if not isinstance(values, Mapping):
        return []
    return [values[k] for k in sorted(values, key=sequence_index)]


def _legacy_message(message: Any) -> Any:
    if not isinstance(message, Mapping):
        return message
    entry: dict[str, Any] = {}
    tags: list[Any] = []
    for key, value in message.items():
        name = str(key)
        field = _MESSAGE_FIELDS.get(name.lower())
        if field is not None:
            entry[field] = value
        elif name.lower() != "tags":
            tags.append({"name": _header_case(name), "value": value})
    listed = message.get("tags", message.get("Tags"))
    tags.extend(_in_order(listed))
    return {**entry, "Tags": tags}


def legacy_result(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """The legacy result `results` stands for: `output` is the `Output` (a plain value, or a
    `data` beside it, becomes its `data`), each `outbox` entry a legacy message (`target`,
    `data`, `anchor` as fields, its other keys and its `tags` as `Tags`), `Spawns` and
    `Assignments` empty, and `Error` when there is an `error`. None when `results` is no such
    thing (it has none of `output`, `outbox`, `error`, `data`)."""
    if not any(k in results for k in ("output", "outbox", "error", "data")):
        return None
    output = results.get("output")
    if not isinstance(output, Mapping):
        output = {"data": output if output is not None else results.get("data", "")}
    found: dict[str, Any] = {
        "Output": dict(output),
        "Messages": [_legacy_message(m) for m in _in_order(results.get("outbox"))],
        "Spawns": [],
        "Assignments": [],
    }
    if results.get("error") is not None:
        found["Error"] = results["error"]
    return found
