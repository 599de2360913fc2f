"""The message model: values, keys, links and TABMs."""

from aonode.message._map_order import erlang_key_order
from aonode.message._sequence import sequence_index
from aonode.message._values import (
    ID_LENGTHS,
    TABM,
    Atom,
    Link,
    Message,
    Value,
    is_id,
    is_private,
    normalize_key,
    to_bytes,
)

__all__ = [
    "ID_LENGTHS",
    "TABM",
    "Atom",
    "Link",
    "Message",
    "Value",
    "erlang_key_order",
    "is_id",
    "is_private",
    "normalize_key",
    "sequence_index",
    "to_bytes",
]
