"""The Arweave gateway GraphQL schema, answered from the node's own message cache
(node-services.md §11.2; the types are those of arweave.net's and arlocal's schema).

A *transaction* here is one signed commitment of a stored message: its ID is the commitment's ID
(for an ANS-104 item, the item's ID). An item committed with `ans104@1.0` is rebuilt byte for byte
from the cache (`ans104.to_item`), so its tags keep their names, case and order, and its owner,
signature, target and anchor are the signed ones. A message committed otherwise (httpsig) shows
its keys, except `data`, `body` and `commitments`, as tags.

Filters (`transactions`): `ids`, `tags` (`{name, values, op: EQ|NEQ}`; names and values exact,
as on gateways), `owners`, `recipients`. Each gives a set of IDs; the sets are intersected. The
store's `match` (a scan of an LMDB store, as in the reference) narrows the search; the result is
checked against the rebuilt items, so a case-folded tag name never matches by accident. Without
any filter, every signed commitment in the store is listed.

Order and pagination (which the reference lacks): results are ordered by ID; `first` (default
10, at most 100) and `after` (an edge's `cursor`) page through them; `pageInfo.hasNextPage` says
whether more follow and `count` is the total. Blocks are read from the block cache that
`arweave@2.9-pre` writes (`~arweave@2.9/block/height/<h>`, `~arweave@2.9/block/hash/<id>`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aonode.codecs import encode, httpsig, parse_item
from aonode.codecs.ans104 import NAME as ANS104
from aonode.crypto import b64url_decode, b64url_encode
from aonode.errors import AOError, DecodeError
from aonode.graphql._executor import FieldError, Obj, Resolver
from aonode.message import is_id
from aonode.store.cache import MessageCache, data_path
from aonode.text import as_text

__all__ = ["SCHEMA", "Item", "cursor_of", "item_of", "matching", "transaction_ids"]

DEFAULT_FIRST = 10
# Filters a gateway has that a node's store cannot answer: refused rather than ignored, so a
# client never takes an unfiltered list for a filtered one.
UNSUPPORTED_FILTERS = ("bundledIn", "block", "ingested_at")
# Each owner, recipient and tag value is one scan of the store (as the reference's match).
MAX_SEARCHES = 20
MAX_IDS = 1000
MAX_FIRST = 100
MAX_BLOCK_RANGE = 1000
_CURSOR_PREFIX = b"aonode-tx:"
_BLOCK_ID = re.compile(r"[A-Za-z0-9_-]{43,64}")  # indep_hash: 48 bytes (64 chars); 43 for a 32-byte hash
BLOCK_PREFIX = "~arweave@2.9/block"  # arweave@2.9-pre's block cache: .../hash/<id>, .../height/<h>


@dataclass(frozen=True)
class Item:
    """One transaction as a gateway shows it."""

    id: str
    signature: str
    owner_address: str
    owner_key: str
    recipient: str
    anchor: str
    tags: tuple[tuple[str, str], ...]
    data_size: int
    content_type: str | None


def _commitment_id(commitment: Mapping[str, Any]) -> str | None:
    sig = commitment.get("signature")
    if not isinstance(sig, (bytes, str)) or "committer" not in commitment:
        return None
    try:
        return httpsig.commitment_id(b64url_decode(sig))
    except DecodeError:
        return None


def _ans104_item(msg: Mapping[str, Any], cid: str) -> Item | None:
    try:
        item = parse_item(encode(dict(msg), ANS104))
    except (AOError, ValueError, TypeError):
        return None
    if b64url_encode(item.id) != cid:
        return None
    tags = tuple((as_text(n, errors="replace", none=""), as_text(v, errors="replace", none="")) for n, v in item.tags)
    content_type = next((v for n, v in tags if n.lower() == "content-type"), None)
    return Item(
        id=cid,
        signature=b64url_encode(item.signature),
        owner_address=item.owner_address,
        owner_key=b64url_encode(item.owner),
        recipient=b64url_encode(item.target) if item.target else "",
        anchor=b64url_encode(item.anchor) if item.anchor else "",
        tags=tags,
        data_size=len(item.data),
        content_type=content_type,
    )


def _message_item(msg: Mapping[str, Any], cid: str, commitment: Mapping[str, Any]) -> Item:
    keyid = as_text(commitment.get("keyid"), errors="replace", none="")
    data = msg.get("data", msg.get("body", b""))
    size = len(data) if isinstance(data, (bytes, str)) else 0
    tags = tuple((k, as_text(v, errors="replace", none="")) for k, v in msg.items()
                 if k not in ("data", "body", "commitments") and isinstance(v, (bytes, str, int)))
    anchor = commitment.get("field-anchor", b"")
    target = commitment.get("field-target", msg.get("target", b""))
    return Item(
        id=cid,
        signature=as_text(commitment.get("signature"), errors="replace", none=""),
        owner_address=as_text(commitment.get("committer"), errors="replace", none=""),
        owner_key=keyid.rpartition(":")[2],
        recipient=as_text(target, errors="replace", none="") if isinstance(target, (bytes, str)) else "",
        anchor=(b64url_encode(anchor) if isinstance(anchor, bytes) and len(anchor) == 32
                else as_text(anchor, errors="replace", none="")),
        tags=tags,
        data_size=size,
        content_type=as_text(msg["content-type"], errors="replace", none="") if "content-type" in msg else None,
    )


def item_of(cache: MessageCache, cid: str) -> Item | None:
    """The transaction `cid` (a signed commitment's ID) as a gateway shows it, or None."""
    try:
        msg = cache.read(cid)
    except AOError:
        return None
    if not isinstance(msg, dict):
        return None
    commitments = msg.get("commitments")
    if not isinstance(commitments, Mapping) or cid not in commitments:
        return None
    commitment = commitments[cid]
    if not isinstance(commitment, Mapping) or "committer" not in commitment:
        return None
    if as_text(commitment.get("commitment-device"), errors="replace", none="") == ANS104:
        only = {**msg, "commitments": {cid: commitment}}
        return _ans104_item(only, cid)
    return _message_item(msg, cid, commitment)


# -- finding transactions -----------------------------------------------------------------------


def _match(cache: MessageCache, pairs: list[tuple[str, bytes]]) -> list[str]:
    try:
        return list(cache.store.match([(k, data_path(v)) for k, v in pairs]))
    except AOError as exc:
        raise FieldError(f"This node's store cannot be searched: {exc.message}") from exc


def _commitment_ids(cache: MessageCache, groups: Iterable[str]) -> set[str]:
    """The IDs of the commitments stored as these groups (a commitment group holds its
    `signature`, whose hash is the commitment's ID)."""
    out: set[str] = set()
    for group in groups:
        try:
            sig = cache.store.read(f"{group}/signature")
        except AOError:
            continue
        if sig:
            try:
                out.add(httpsig.commitment_id(b64url_decode(sig)))
            except DecodeError:
                continue
    return out


def _message_ids(cache: MessageCache, uids: Iterable[str]) -> set[str]:
    """The signed commitment IDs of the stored messages `uids`."""
    out: set[str] = set()
    for uid in uids:
        try:
            msg = cache.read(uid)
        except AOError:
            continue
        commitments = msg.get("commitments") if isinstance(msg, dict) else None
        if isinstance(commitments, Mapping):
            out.update(cid for cid, c in commitments.items() if isinstance(c, Mapping) and "committer" in c)
    return out


def _strings(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FieldError(f"`{what}` must be a list of strings.")
    return list(value)


def _tag_filters(value: Any) -> list[tuple[str, list[str], str]]:
    if value is None:
        return []
    filters = value if isinstance(value, list) else [value]
    out = []
    for f in filters:
        if not isinstance(f, Mapping) or not isinstance(f.get("name"), str):
            raise FieldError("Each tag filter needs a `name` and `values`.")
        values = _strings(f.get("values"), "values")
        op = f.get("op", "EQ") or "EQ"
        if op not in ("EQ", "NEQ"):
            raise FieldError(f"Tag filter op must be EQ or NEQ, not {op!r}.")
        out.append((f["name"], values, op))
    return out


def transaction_ids(cache: MessageCache, args: Mapping[str, Any]) -> list[tuple[str, Item]]:
    """The transactions matching the `transactions` arguments, ordered by ID.

    Raises:
        FieldError: a malformed argument, or a store that cannot be searched.
    """
    return list(matching(cache, args))


def matching(cache: MessageCache, args: Mapping[str, Any], after: str | None = None) -> Iterator[tuple[str, Item]]:
    """`transaction_ids` lazily, from just after the ID `after`: the store is searched at once
    (raising FieldError as `transaction_ids` does), each candidate rebuilt only when reached, so
    a page costs the items it shows rather than every match."""
    for unsupported in UNSUPPORTED_FILTERS:
        if args.get(unsupported) not in (None, [], ""):
            raise FieldError(f"This node cannot filter transactions by `{unsupported}`: it does not record "
                             "where items were bundled or mined.")
    ids = _strings(args.get("ids"), "ids")
    owners = _strings(args.get("owners"), "owners")
    if isinstance(args.get("owner"), str):
        owners.append(args["owner"])  # copycat's singular form (§11.5)
    recipients = _strings(args.get("recipients"), "recipients")
    tags = _tag_filters(args.get("tags"))
    searches = len(owners) + len(recipients) + sum(len(values) for _, values, op in tags if op == "EQ")
    if searches > MAX_SEARCHES or len(ids) > MAX_IDS:
        raise FieldError(f"Too many filter values: at most {MAX_SEARCHES} owners, recipients and tag values "
                         f"together (each is a search of the store), and {MAX_IDS} ids.")
    sets: list[set[str]] = []
    if ids:
        sets.append({i for i in ids if is_id(i)})
    if owners:
        sets.append(_commitment_ids(cache, (g for o in owners for g in _match(cache, [("committer", o.encode())]))))
    if recipients:
        sets.append(_commitment_ids(cache, (g for r in recipients
                                            for g in _match(cache, [("field-target", r.encode())]))))
    for name, values, op in tags:
        if op == "EQ" and values:
            uids = {u for v in values for u in _match(cache, [(name.lower(), v.encode())])}
            sets.append(_message_ids(cache, uids))
    if not sets:
        groups = {g for device in (ANS104, "httpsig@1.0")
                  for g in _match(cache, [("commitment-device", device.encode())])}
        sets.append(_commitment_ids(cache, groups))
    found = sorted(cid for cid in set.intersection(*sets) if after is None or cid > after)

    def rebuilt() -> Iterator[tuple[str, Item]]:
        for cid in found:
            item = item_of(cache, cid)
            if item is None:
                continue
            if owners and item.owner_address not in owners:
                continue
            if recipients and item.recipient not in recipients:
                continue
            if not all(_tag_ok(item, name, values, op) for name, values, op in tags):
                continue
            yield cid, item

    return rebuilt()


def _tag_ok(item: Item, name: str, values: list[str], op: str) -> bool:
    hit = any(n == name and (not values or v in values) for n, v in item.tags)
    return hit if op == "EQ" else not hit


# -- resolvers ----------------------------------------------------------------------------------


def cursor_of(cid: str) -> str:
    """An edge's opaque cursor."""
    return b64url_encode(_CURSOR_PREFIX + cid.encode())


def _after(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FieldError("`after` must be a cursor string.")
    try:
        raw = b64url_decode(value)
    except DecodeError as exc:
        raise FieldError(f"`after` is not a cursor this node gave: {value!r}.") from exc
    if not raw.startswith(_CURSOR_PREFIX):
        raise FieldError(f"`after` is not a cursor this node gave: {value!r}.")
    return raw[len(_CURSOR_PREFIX):].decode("ascii", "replace")


def _first(value: Any) -> int:
    if value is None:
        return DEFAULT_FIRST
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FieldError("`first` must be a non-negative integer.")
    return min(value, MAX_FIRST)


def _transactions(_: Any, args: dict[str, Any], ctx: Any) -> Obj:
    first = _first(args.get("first"))
    found = matching(ctx, args, _after(args.get("after")))
    page = list(itertools.islice(found, first + 1))
    counted: list[int] = []

    def count() -> int:
        # Only a query that asks for `count` pays for rebuilding every match.
        if not counted:
            counted.append(len(page) + sum(1 for _ in found))
        return counted[0]

    return Obj("TransactionConnection", {"page": page[:first], "more": len(page) > first, "count": count})


def _transaction(_: Any, args: dict[str, Any], ctx: Any) -> Obj | None:
    cid = args.get("id")
    if not isinstance(cid, str):
        raise FieldError("`transaction` needs an `id`.")
    item = item_of(ctx, cid) if is_id(cid) else None
    return Obj("Transaction", item) if item is not None else None


def _message(_: Any, args: dict[str, Any], ctx: Any) -> Obj:
    """HyperBEAM's `message(id, keys)`: the first stored message with these keys."""
    cache: MessageCache = ctx
    found: Any = None
    if isinstance(args.get("id"), str) and is_id(args["id"]):
        found = cache.read(args["id"])
    keys = args.get("keys") or []
    if keys:
        if not isinstance(keys, list) or not all(isinstance(k, Mapping) for k in keys):
            raise FieldError("`keys` must be a list of {name, value}.")
        pairs = []
        for k in keys:
            value = k.get("value")
            if isinstance(value, list):
                raise FieldError("multivalue_tag_search_not_supported")
            pairs.append((as_text(k.get("name"), errors="replace", none="").lower(),
                          as_text(value, errors="replace", none="").encode()))
        matched = _match(cache, pairs)
        found = cache.read(matched[0]) if matched else None
    if not isinstance(found, dict):
        return Obj("Message", {"id": "not-found", "keys": []})
    from aonode.codecs import message_id

    keys_out = [{"name": k, "value": as_text(v, errors="replace", none="")} for k, v in found.items()
                if k not in ("data", "body", "commitments") and isinstance(v, (bytes, str, int))]
    return Obj("Message", {"id": message_id(found, "all"), "keys": keys_out})


def _block_msg(cache: MessageCache, ref: str) -> Mapping[str, Any] | None:
    try:
        found = cache.read(ref)
    except AOError:
        return None
    return found if isinstance(found, dict) else None


def _block_obj(block: Mapping[str, Any]) -> Obj:
    return Obj("Block", block)


def _block_by_id(cache: MessageCache, ref: str) -> Mapping[str, Any] | None:
    return _block_msg(cache, f"{BLOCK_PREFIX}/hash/{ref}") or _block_msg(cache, ref)


def _block(_: Any, args: dict[str, Any], ctx: Any) -> Obj | None:
    ref = args.get("id")
    if not isinstance(ref, str) or not _BLOCK_ID.fullmatch(ref):
        raise FieldError("`block` needs an `id` (a block's indep_hash, base64url).")
    found = _block_by_id(ctx, ref)
    return _block_obj(found) if found is not None else None


def _blocks(_: Any, args: dict[str, Any], ctx: Any) -> Obj:
    blocks: list[Mapping[str, Any]] = []
    for ref in _strings(args.get("ids"), "ids"):
        found = _block_by_id(ctx, ref) if _BLOCK_ID.fullmatch(ref) else None
        if found is not None:
            blocks.append(found)
    height = args.get("height")
    if isinstance(height, Mapping):
        low, high = height.get("min", 0), height.get("max")
        if not isinstance(low, int) or not isinstance(high, int) or high - low > MAX_BLOCK_RANGE:
            raise FieldError(f"`height` needs integer `min` and `max` at most {MAX_BLOCK_RANGE} apart.")
        for h in range(high, low - 1, -1):
            found = _block_msg(ctx, f"{BLOCK_PREFIX}/height/{h}")
            if found is not None:
                blocks.append(found)
    blocks.sort(key=lambda b: -_int(b.get("height")))
    first = _first(args.get("first"))
    page = [(str(_int(b.get("height"))), b) for b in blocks[:first]]
    return Obj("BlockConnection", {"page": page, "more": len(blocks) > first, "count": len(blocks)})


def _int(value: Any) -> int:
    try:
        return int(as_text(value, errors="replace", none="")) if not isinstance(value, int) else value
    except ValueError:
        return 0


def _edges(conn: Mapping[str, Any], node_type: str) -> list[Obj]:
    return [Obj("Edge", (cursor_of(key), Obj(node_type, value))) for key, value in conn["page"]]


def _amount(_: Any) -> Obj:
    return Obj("Amount", "0")


def _field(name: str) -> Resolver:
    return lambda parent, args, ctx: getattr(parent, name)


SCHEMA: Mapping[str, Mapping[str, Resolver]] = {
    "Query": {
        "transaction": _transaction,
        "transactions": _transactions,
        "message": _message,
        "block": _block,
        "blocks": _blocks,
    },
    "TransactionConnection": {
        "edges": lambda conn, a, c: _edges(conn, "Transaction"),
        "pageInfo": lambda conn, a, c: Obj("PageInfo", conn["more"]),
        "count": lambda conn, a, c: conn["count"](),
    },
    "BlockConnection": {
        "edges": lambda conn, a, c: _edges(conn, "Block"),
        "pageInfo": lambda conn, a, c: Obj("PageInfo", conn["more"]),
        "count": lambda conn, a, c: conn["count"],
    },
    "PageInfo": {"hasNextPage": lambda more, a, c: more},
    "Edge": {"cursor": lambda e, a, c: e[0], "node": lambda e, a, c: e[1]},
    "Transaction": {
        "id": _field("id"),
        "anchor": _field("anchor"),
        "signature": _field("signature"),
        "recipient": _field("recipient"),
        "owner": lambda item, a, c: Obj("Owner", item),
        "fee": lambda item, a, c: _amount(item),
        "quantity": lambda item, a, c: _amount(item),
        "data": lambda item, a, c: Obj("MetaData", item),
        "tags": lambda item, a, c: [Obj("Tag", t) for t in item.tags],
        "block": lambda item, a, c: None,
        "parent": lambda item, a, c: None,
        "bundledIn": lambda item, a, c: None,
        "ingested_at": lambda item, a, c: None,
    },
    "Owner": {"address": _field("owner_address"), "key": _field("owner_key")},
    "Amount": {"winston": lambda v, a, c: v, "ar": lambda v, a, c: "0.000000000000"},
    "MetaData": {"size": lambda item, a, c: str(item.data_size), "type": lambda item, a, c: item.content_type or ""},
    "Tag": {"name": lambda t, a, c: t[0], "value": lambda t, a, c: t[1]},
    "Block": {
        "id": lambda b, a, c: as_text(b.get("indep_hash", b.get("id")), errors="replace", none=""),
        "timestamp": lambda b, a, c: _int(b.get("timestamp")),
        "height": lambda b, a, c: _int(b.get("height")),
        "previous": lambda b, a, c: as_text(b.get("previous_block", b.get("previous")), errors="replace", none=""),
    },
    "Message": {
        "id": lambda m, a, c: m["id"],
        "keys": lambda m, a, c: [Obj("Tag", (k["name"], k["value"])) for k in m["keys"]],
        "tags": lambda m, a, c: [Obj("Tag", (k["name"], k["value"])) for k in m["keys"]],
    },
}
"""The gateway schema's resolver tables; the execution context is the node's `MessageCache`."""
