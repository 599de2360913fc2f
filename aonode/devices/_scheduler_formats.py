"""Schedule formats of `scheduler@1.0` (`dev_scheduler_formats`, processes-compute.md §2.6, §2.9).

Pure functions: messages and JSON structures in, messages out. Nothing here opens a socket
or a store; where a legacy item needs data the caller has (a message from the cache, an
item's data from a gateway), the caller passes a function that returns it.

Two outbound forms of a schedule (§2.6):

* the bundle (`application/http`, the default): `{type: schedule, process, continues,
  timestamp, block-height, block-hash, assignments: {<slot>: <assignment>, ...}}`;
* `application/aos-2`, the legacy SU's JSON: `{page_info: {...}, edges: [{cursor: <slot>,
  node: {message: <json-struct>, assignment: <json-struct>}}]}` served as
  `{content-type: application/json, body: <JSON>}`. A json-struct is json-iface's
  `message_to_json_struct` (§4.5).

One inbound form (§2.9, §2.13): a legacy (`ao.TN.1`) edge or node holds GraphQL-style items
(`{id, owner: {address, key}, tags: [{name, value}], signature, anchor, target, data}`),
which become ANS-104 items, then messages; `aos2_to_assignment` turns the pair into an
assignment with the message as its `body`. Such assignments cannot be verified: their types
are normalised after decoding (`timestamp`, `slot`, `epoch` become integers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from aonode.codecs import DataItem, ans104, message_id, signers, structured, to_tabm
from aonode.crypto import b64url_decode, b64url_encode
from aonode.errors import AOError, BadMessage, DecodeError, EncodeError, NotFound
from aonode.message import Message, is_id, is_private
from aonode.text import as_text

__all__ = [
    "AOS2",
    "ZERO_ID",
    "BlockInfo",
    "aos2_normalize_types",
    "aos2_to_assignment",
    "aos2_to_assignments",
    "assignments_to_aos2",
    "assignments_to_bundle",
    "gql_item_to_message",
    "header_case",
    "message_to_json_struct",
    "ordered_assignments",
    "slot_of",
]

AOS2 = "application/aos-2"
"""The `accept` value that asks for the legacy SU's JSON."""

ZERO_ID = b64url_encode(bytes(32))
"""The ID of 32 zero bytes: the block hash in debug mode and of legacy assignments without one."""

# Keys json-iface leaves out of `Tags`: they have fields of their own (§4.5).
_FIELD_KEYS = frozenset({"id", "anchor", "owner", "data", "target", "signature", "commitments"})
# Signature lengths of legacy items and the ANS-104 signature type each one means (§2.9).
_SIGNATURE_TYPES = {512: 1, 65: 3}

ReadMessage = Callable[[str], Any]
"""Reads a message by ID (from the cache); returns None when it is not there."""

FetchData = Callable[[str], bytes]
"""Fetches the data of a legacy item by ID; raises AOError when it cannot."""


class BlockInfo(NamedTuple):
    """The Arweave block a scheduler stamps on what it emits (`ar_timestamp:get`, §2.5)."""

    timestamp: int
    height: int
    hash: str

    @classmethod
    def zero(cls) -> BlockInfo:
        """What the reference uses in debug mode, and without a gateway: `(0, 0, ZERO_ID)`."""
        return cls(0, 0, ZERO_ID)


# -- small conversions -----------------------------------------------------------------------


def _json_text(value: Any, where: str = "value") -> str:
    """`value` as a JSON form's text: bytes must be UTF-8, booleans and None in JSON's
    spelling, numbers in decimal; EncodeError for anything else."""
    if value is not None and not isinstance(value, (str, bytes, int, float)):
        raise EncodeError(f"scheduler@1.0: {where} is a {type(value).__name__}, not text")
    try:
        return as_text(value, errors="strict", where=where, none="null", bools=True)
    except BadMessage as exc:
        raise EncodeError(f"scheduler@1.0: {where} is not UTF-8 text, so it has no JSON form") from exc


def _int(value: Any, what: str) -> int:
    """An integer from an int or decimal text (`hb_util:int`).

    Raises:
        DecodeError: the value is not an integer.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(value.decode() if isinstance(value, bytes) else value)
    except (TypeError, ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"scheduler@1.0: {what} is not an integer: {value!r}") from exc


def _human_id(value: Any) -> str:
    """The 43-character form of an ID (`hb_util:human_id`); other text is kept as it is."""
    if isinstance(value, bytes) and len(value) == 32:
        return b64url_encode(value)
    return _json_text(value, "an ID")


def slot_of(assignment: Mapping[str, Any]) -> int:
    """The `slot` of an assignment, as an integer.

    Raises:
        DecodeError: the assignment has no integer slot.
    """
    return _int(assignment.get("slot"), "the assignment's slot")


def ordered_assignments(assignments: Mapping[str, Any] | Sequence[Any]) -> list[Any]:
    """Assignments keyed by slot (a bundle's `assignments`) as a list in slot order
    (`hb_util:message_to_ordered_list`); `priv` and `commitments` keys are ignored.

    Raises:
        DecodeError: a key is not a slot number.
    """
    if not isinstance(assignments, Mapping):
        return list(assignments)
    keyed = [(k, v) for k, v in assignments.items() if not is_private(str(k)) and k != "commitments"]
    return [v for _, v in sorted(keyed, key=lambda kv: _int(kv[0], "a schedule key"))]


# -- outbound: bundle and aos-2 (§2.6) --------------------------------------------------------


def assignments_to_bundle(proc_id: str, assignments: Sequence[Mapping[str, Any]], more: bool,
                          block: BlockInfo) -> Message:
    """The default schedule message (`assignments_to_bundle/5`).

    Args:
        proc_id: the process.
        assignments: the assignments in slot order.
        more: whether the schedule continues past the last one (`continues`).
        block: the block information to stamp.

    Raises:
        DecodeError: an assignment has no integer slot.
    """
    return {
        "type": b"schedule",
        "process": _human_id(proc_id).encode(),
        "continues": bool(more),
        "timestamp": int(block.timestamp),
        "block-height": int(block.height),
        "block-hash": _human_id(block.hash).encode(),
        "assignments": {str(slot_of(a)): dict(a) for a in assignments},
    }


def assignments_to_aos2(proc_id: str, assignments: Sequence[Mapping[str, Any]], more: bool,
                        block: BlockInfo) -> Message:
    """The schedule as the legacy SU's JSON page (`assignments_to_aos2/4`).

    Returns:
        `{content-type: application/json, body: <JSON bytes>}`.

    Raises:
        EncodeError: a value of an assignment is not text (binary data has no JSON form).
        DecodeError: an assignment has no integer slot.
    """
    body = {
        "page_info": {
            "process": _human_id(proc_id),
            "has_next_page": bool(more),
            "timestamp": str(block.timestamp),
            "block-height": str(block.height),
            "block-hash": _human_id(block.hash),
        },
        "edges": [{"cursor": slot_of(a), "node": _assignment_to_aos2(a)} for a in assignments],
    }
    return {"content-type": b"application/json", "body": _json(body)}


def _json(value: Any) -> bytes:
    # The reference's encoder writes small maps in key order and no spaces.
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def _assignment_to_aos2(assignment: Mapping[str, Any]) -> dict[str, Any]:
    body = assignment.get("body")
    without = {k: v for k, v in assignment.items() if k != "body"}
    return {
        "message": message_to_json_struct(body) if isinstance(body, Mapping) else None,
        "assignment": message_to_json_struct(without),
    }


def header_case(key: str) -> str:
    """`block-height` → `Block-Height`: the first letter of each `-`-separated word upper-cased,
    empty words dropped (`header_case_string`)."""
    return "-".join(word[:1].upper() + word[1:] for word in key.split("-") if word)


def message_to_json_struct(msg: Mapping[str, Any]) -> dict[str, Any]:
    """json-iface's JSON form of a message, with owners as addresses (§4.5).

    `{Id, Anchor, Owner, From, Tags, Target, Data, Signature}`. `Tags` are an ANS-104
    commitment's `original-tags` when it has them, else every key of the message's TABM
    (nested maps and lists as `key+link` IDs, typed values described by `ao-types`) but the
    field keys, header-cased, in key order.

    Raises:
        EncodeError: a value is not UTF-8 text.
    """
    plain = {k: v for k, v in msg.items() if not is_private(k)}
    tabm = to_tabm(plain)
    if not isinstance(tabm, dict):
        raise EncodeError("scheduler@1.0: only a map has a JSON struct")
    fields = {k: v for k, v in tabm.items() if k != "commitments"}
    who = signers(plain)
    owner = who[0] if who else ""
    sender = fields.get("from-process")
    sender_text = owner if sender is None else _json_text(sender, "from-process")
    target = fields.get("target", b"")
    signature = fields.get("signature", b"")
    signature_bytes = signature if isinstance(signature, bytes) else b""
    return {
        "Id": message_id(plain, committers="all"),
        "Anchor": _json_text(fields.get("anchor", b""), "anchor"),
        "Owner": owner,
        "From": _human_id(sender_text) if sender_text and is_id(sender_text) else sender_text,
        "Tags": _tags(plain, fields),
        "Target": _human_id(target) if target else "",
        "Data": _json_text(fields.get("data", b""), "data"),
        "Signature": "" if not signature_bytes else (
            b64url_encode(signature_bytes) if len(signature_bytes) == 512 else _json_text(signature_bytes, "signature")
        ),
    }


def _tags(msg: Mapping[str, Any], fields: Mapping[str, Any]) -> list[dict[str, str]]:
    commitments = msg.get("commitments")
    if isinstance(commitments, Mapping):
        for commitment in commitments.values():
            if not isinstance(commitment, Mapping) or commitment.get("commitment-device") not in (
                    ans104.NAME.encode(), ans104.NAME):
                continue
            original = commitment.get("original-tags")
            if original is not None:
                return [{"name": _json_text(t.get("name"), "a tag name"),
                         "value": _json_text(t.get("value"), "a tag value")}
                        for t in ordered_assignments(original) if isinstance(t, Mapping)]
            break
    keys = sorted((k for k in fields if k not in _FIELD_KEYS), key=lambda k: k.encode("utf-8", "surrogateescape"))
    return [{"name": header_case(k), "value": _json_text(fields[k], k)} for k in keys]


# -- inbound: legacy (ao.TN.1) JSON (§2.9) ------------------------------------------------------


def _decode_b64(value: Any, what: str) -> bytes:
    try:
        return b64url_decode(_json_text(value, what))
    except (AOError, ValueError) as exc:
        raise DecodeError(f"scheduler@1.0: the legacy item's {what} is not base64url") from exc


def _anchor(value: Any) -> bytes:
    # GraphQL gives the anchor as base64url text; an item's anchor is empty or 32 raw bytes.
    if value is None or value in (b"", ""):
        return b""
    raw = value if isinstance(value, bytes) and len(value) == 32 else _decode_b64(value, "anchor")
    return raw if len(raw) == 32 else b""


def gql_item_to_message(item: Mapping[str, Any], fetch_data: FetchData | None = None) -> Message:
    """A GraphQL-style item as the message its ANS-104 form decodes to
    (`hb_gateway_client:result_to_message`).

    Args:
        item: `{id, signature, owner: {key}, tags: [{name, value}], anchor, target|recipient,
            data}`; values may be text (fresh JSON) or bytes (read back from the cache).
            `data` may be the data, `{size: 0}`, or absent.
        fetch_data: called with the item's ID when its data is not given.

    Raises:
        DecodeError: a field is malformed, the signature length is neither 512 (RSA) nor 65
            (ECDSA), or the data is neither given nor fetchable.
    """
    data = item.get("data")
    if isinstance(data, (str, bytes)):
        payload = data if isinstance(data, bytes) else data.encode("utf-8")
    elif isinstance(data, Mapping) and _int(data.get("size", -1), "the data size") == 0:
        payload = b""
    elif fetch_data is not None and item.get("id") is not None:
        payload = fetch_data(_json_text(item["id"], "id"))
    else:
        raise DecodeError("scheduler@1.0: the legacy item carries no data and none can be fetched")
    signature = _decode_b64(item.get("signature"), "signature")
    signature_type = _SIGNATURE_TYPES.get(len(signature))
    if signature_type is None:
        raise DecodeError(f"scheduler@1.0: unsupported legacy signature of {len(signature)} bytes")
    owner = item.get("owner")
    key = owner.get("key") if isinstance(owner, Mapping) else None
    target = item.get("recipient") or item.get("target")
    raw_tags = item.get("tags") or []
    if isinstance(raw_tags, Mapping):
        raw_tags = ordered_assignments(raw_tags)
    tags = []
    for tag in raw_tags:
        if not isinstance(tag, Mapping) or "name" not in tag or "value" not in tag:
            raise DecodeError("scheduler@1.0: a legacy tag is not a {name, value} pair")
        tags.append((_json_text(tag["name"], "a tag name"), _json_text(tag["value"], "a tag value")))
    try:
        parsed = DataItem(
            signature_type=signature_type,
            signature=signature,
            owner=_decode_b64(key, "owner key") if key else b"",
            target=_decode_b64(target, "target") if target else b"",
            anchor=_anchor(item.get("anchor")),
            tags=tags,
            data=payload,
        )
        tabm = ans104.from_item(parsed)
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"scheduler@1.0: the legacy item is malformed: {exc}") from exc
    message = structured.to_wire(tabm)
    if not isinstance(message, dict):
        raise DecodeError("scheduler@1.0: the legacy item is not a message")
    return message


def aos2_normalize_types(msg: Mapping[str, Any]) -> Message:
    """Integer `timestamp`, `epoch` and `slot` (from `nonce` when `slot` is absent), and a zero
    `block-hash` when missing (`aos2_normalize_types/1`). `block-height` is left as it is.

    Raises:
        DecodeError: one of those values is not an integer.
    """
    out: Message = dict(msg)
    if isinstance(out.get("timestamp"), (bytes, str)):
        out["timestamp"] = _int(out["timestamp"], "timestamp")
    if isinstance(out.get("nonce"), (bytes, str)) and "slot" not in out:
        out["slot"] = _int(out["nonce"], "nonce")
    if isinstance(out.get("epoch"), (bytes, str)):
        out["epoch"] = _int(out["epoch"], "epoch")
    if isinstance(out.get("slot"), (bytes, str)):
        out["slot"] = _int(out["slot"], "slot")
    if "block-hash" not in out:
        out["block-hash"] = ZERO_ID.encode()
    return out


def _with_data(item: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise DecodeError(f"scheduler@1.0: the legacy {what} is not an object")
    return item if "data" in item else {**item, "data": b""}


def aos2_to_assignment(edge: Mapping[str, Any], read_message: ReadMessage | None = None,
                       fetch_data: FetchData | None = None) -> Message:
    """A legacy edge (`{cursor, node}`) or node (`{message, assignment}`) as an assignment
    with the message as its `body` (`aos2_to_assignment/2`).

    Args:
        edge: the JSON structure (text or bytes values).
        read_message: reads the message by ID when the node's `message` is null (an
            assignment of an existing transaction).
        fetch_data: see `gql_item_to_message`.

    Raises:
        DecodeError: the structure is malformed.
        NotFound: the message is null and `read_message` does not have it.
    """
    node = edge.get("node", edge)
    if not isinstance(node, Mapping):
        raise DecodeError("scheduler@1.0: the legacy edge has no node")
    assignment = aos2_normalize_types(gql_item_to_message(_with_data(node.get("assignment"), "assignment"),
                                                          fetch_data))
    raw = node.get("message")
    if raw is None:
        wanted = assignment.get("message")
        found = read_message(_json_text(wanted, "message")) if read_message is not None and wanted else None
        if not isinstance(found, Mapping):
            raise NotFound(f"scheduler@1.0: message {_json_text(wanted or b'', 'message')} was given neither by the "
                           "scheduler nor the cache")
        message = dict(found)
    else:
        message = gql_item_to_message(_with_data(raw, "message"), fetch_data)
    return {**assignment, "body": aos2_normalize_types(message)}


def aos2_to_assignments(proc_id: str, body: Mapping[str, Any], read_message: ReadMessage | None = None,
                        fetch_data: FetchData | None = None) -> Message:
    """A legacy schedule page as a bundle (`aos2_to_assignments/3`), stamped with the
    timestamp and block of its last assignment (zeros when it is empty); `continues` is false.

    Raises:
        DecodeError, NotFound: as `aos2_to_assignment`.
    """
    edges = body.get("edges") or []
    if isinstance(edges, Mapping):
        edges = ordered_assignments(edges)
    parsed = [aos2_to_assignment(e, read_message, fetch_data) for e in edges if isinstance(e, Mapping)]
    if not parsed:
        block = BlockInfo.zero()
    else:
        last = parsed[-1]
        block = BlockInfo(
            _int(last.get("timestamp", 0), "timestamp"),
            _int(last.get("block-height", 0), "block-height"),
            _human_id(last.get("block-hash", ZERO_ID)),
        )
    return assignments_to_bundle(proc_id, parsed, False, block)
