"""GraphQL texts the gateway client sends, and GraphQL edges as ANS-104 items (no I/O).

The queries are the reference's (node-services.md §14.4): `read` asks for one item by ID,
optionally narrowed by a `subindex` of tags; `scheduler_location` asks for an address's latest
`Type: Scheduler-Location` record. `item_from_node` rebuilds the signed data item from a
GraphQL node and its data: the signature, owner, target, anchor and tags the gateway reports,
so the item's ID and signature can be checked against what the gateway claims.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aonode.codecs._dataitem import SIGNATURE_SCHEMES, DataItem
from aonode.crypto._b64 import b64url_decode
from aonode.errors import DecodeError

__all__ = [
    "ITEM_SPEC",
    "item_from_node",
    "read_query",
    "scheduler_location_query",
    "subindex_literal",
]

ITEM_SPEC = ("node { id anchor signature recipient owner { key } fee { winston } quantity { winston } "
             "tags { name value } data { size } } cursor")
"""The fields the reference asks for each item (`hb_gateway_client:item_spec/0`)."""

_SCHEDULER_LOCATION = ("query($SchedulerAddrs: [String!]!) { transactions(owners: $SchedulerAddrs, "
                       "tags: { name: \"Type\" values: [\"Scheduler-Location\"] }, first: 1) "
                       "{ edges { " + ITEM_SPEC + " } } }")

# Signature type by signature length, as the reference infers it (RSA 512, ECDSA 65), plus
# the other types aonode's codec knows whose lengths are unambiguous (ed25519 64).
_TYPE_BY_LENGTH = {scheme.signature_length: number for number, scheme in SIGNATURE_SCHEMES.items()
                   if number in (1, 2, 3)}


def _literal(text: str) -> str:
    """A GraphQL string literal (JSON string syntax is valid GraphQL string syntax)."""
    return json.dumps(text)


def subindex_literal(subindex: Sequence[Mapping[str, Any]]) -> str:
    """`[{ name: "N", values: ["V"]}, ...]` for a list of `{name, value}` tags."""
    parts = []
    for tag in subindex:
        name, value = tag.get("name"), tag.get("value")
        if isinstance(name, bytes):
            name = name.decode()
        if isinstance(value, bytes):
            value = value.decode()
        if not isinstance(name, str) or not isinstance(value, str):
            raise DecodeError(f"subindex entries are {{name, value}} strings, got {tag!r}")
        parts.append(f"{{ name: {_literal(name)}, values: [{_literal(value)}] }}")
    return "[" + ", ".join(parts) + "]"


def read_query(subindex: Sequence[Mapping[str, Any]] = ()) -> str:
    """The query for one item by ID (variable `transactionIds`), narrowed by `subindex`."""
    tags = f"tags: {subindex_literal(subindex)}, " if subindex else ""
    return ("query($transactionIds: [ID!]!) { transactions(ids: $transactionIds, " + tags + "first: 1) "
            "{ edges { " + ITEM_SPEC + " } } }")


def scheduler_location_query() -> str:
    """The query for a scheduler's location record (variable `SchedulerAddrs`)."""
    return _SCHEDULER_LOCATION


def first_node(answer: Any) -> Mapping[str, Any] | None:
    """`data.transactions.edges[0].node` of a GraphQL answer, or None when there is no edge."""
    try:
        edges = answer["data"]["transactions"]["edges"]
    except (KeyError, TypeError) as exc:
        raise DecodeError(f"the GraphQL answer has no data.transactions.edges: {str(answer)[:200]}") from exc
    if not isinstance(edges, list) or not edges:
        return None
    node = edges[0].get("node") if isinstance(edges[0], Mapping) else None
    if not isinstance(node, Mapping):
        raise DecodeError("a GraphQL edge without a node")
    return node


def _field(node: Mapping[str, Any], *path: str) -> Any:
    value: Any = node
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def data_size(node: Mapping[str, Any]) -> int:
    """The item's data size as the gateway reports it (0 when absent)."""
    size = _field(node, "data", "size")
    try:
        return int(size) if size not in (None, "") else 0
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"GraphQL data.size is not a number: {size!r}") from exc


def _b64_field(node: Mapping[str, Any], what: str, value: Any) -> bytes:
    if value in (None, ""):
        return b""
    if not isinstance(value, str):
        raise DecodeError(f"GraphQL {what} is not a string: {value!r}")
    return b64url_decode(value)


def item_from_node(node: Mapping[str, Any], data: bytes) -> DataItem:
    """The data item a GraphQL node describes, with `data` as its body.

    The anchor is taken as base64url (a gateway reports the 32 anchor bytes that way; an
    empty or absent anchor is none). The signature type follows from the signature's length.

    Raises:
        DecodeError: a field is missing or malformed, or the signature length names no type.
    """
    signature = _b64_field(node, "signature", node.get("signature"))
    signature_type = _TYPE_BY_LENGTH.get(len(signature))
    if signature_type is None:
        raise DecodeError(f"GraphQL item {node.get('id')!r}: no signature type has {len(signature)}-byte signatures")
    owner = _b64_field(node, "owner.key", _field(node, "owner", "key"))
    target = _b64_field(node, "recipient", node.get("recipient") or node.get("target"))
    anchor = _b64_field(node, "anchor", node.get("anchor"))
    tags = node.get("tags") or []
    if not isinstance(tags, list):
        raise DecodeError("GraphQL tags is not a list")
    pairs = []
    for tag in tags:
        if not isinstance(tag, Mapping) or not all(isinstance(tag.get(k), str) for k in ("name", "value")):
            raise DecodeError(f"GraphQL tag is not a {{name, value}} of strings: {tag!r}")
        pairs.append((tag["name"].encode(), tag["value"].encode()))
    return DataItem(signature_type=signature_type, signature=signature, owner=owner, target=target, anchor=anchor,
                    tags=pairs, data=data)
