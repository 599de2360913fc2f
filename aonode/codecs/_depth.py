"""How deep a decoded message may nest: one limit for every codec.

HyperBEAM has no such limit. aonode has one because nesting costs Python stack: the
structured conversion, IDs, the store and the encoders all walk a message recursively, so
JSON nested 45,000 deep ends in a `RecursionError` (and a traceback of 150,000 log lines)
instead of an answer. Every codec checks the depth while it decodes and refuses deeper input
with a `DecodeError` (400) naming the limit.

`MAX_DEPTH` = 1000 maps (or lists) inside each other. Messages the node makes itself nest
deeper than a request ever needs: a push answers with one `resulted-in` level per delivered
message, a few maps each, so a limit of 100 would refuse the answer of a chain of some 30
messages from another node. A thousand levels cost a few thousand frames, far inside the
recursion limit the HTTP server sets (`aonode.http.server.RECURSION_LIMIT`).
"""

from __future__ import annotations

from typing import Any

from aonode.errors import DecodeError

__all__ = ["MAX_DEPTH", "check", "too_deep"]

MAX_DEPTH = 1000


def too_deep(codec: str) -> DecodeError:
    return DecodeError(f"{codec}: the message nests more than {MAX_DEPTH} levels deep (the limit is {MAX_DEPTH})")


def check(value: Any, codec: str) -> None:
    """Raise `too_deep` when `value` (dicts and lists, as a JSON parser returns) nests more
    than `MAX_DEPTH` levels. Iterative, so any depth can be measured."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= MAX_DEPTH:
            raise too_deep(codec)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
