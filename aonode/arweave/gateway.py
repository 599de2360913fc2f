"""The gateway client (`hb_gateway_client`, node-services.md §14.4): messages from Arweave.

    query(text, variables, opts)          POST /graphql, JSON in and out
    read(item_id, opts, subindex=())      one item by ID as a verified message, or None
    scheduler_location(address, opts)     an address's latest Scheduler-Location record, or None
    data(item_id, opts)                   GET /raw/<id>: the item's data

Every request goes through the node's route table (`aonode.net.client.request_routed` with a
relative path): `/graphql` may name several gateways, tried in order until one answers 200;
`/raw/<id>` reaches whatever gateway the operator routes it to (arlocal, for one, serves data
at `/<id>`: a route that rewrites the path reaches it, nothing here special-cases it).

An item read from GraphQL is rebuilt from the fields the gateway reports plus its data and its
signature is checked. One that does not verify is refused (`UnverifiedItem`, 422) unless the
option `ans104_trust_gql` is true, where it is returned as the gateway described it. The
reference defaults that option to true; aonode defaults it to false (docs/compat.md).

A gateway that cannot be reached, times out or answers with an error raises `GatewayError`
(502, or 504 for a timeout) whose message names the gateway and what it said.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aonode.arweave import _gql
from aonode.codecs import ans104, decode
from aonode.core import options
from aonode.core.terms import Result
from aonode.crypto._b64 import b64url_encode
from aonode.errors import AOError, DecodeError, InvalidSignature
from aonode.message import Message, is_id, sequence_index
from aonode.net.client import request_routed, routed_to
from aonode.text import as_text

__all__ = ["GatewayError", "UnverifiedItem", "data", "message_from_node", "query", "read", "scheduler_location"]

log = logging.getLogger("aonode.arweave")


class GatewayError(AOError):
    """A gateway could not answer: unreachable or broken (502), or too slow (504)."""

    status = 502


class UnverifiedItem(AOError):
    """A gateway described an item whose signature does not verify against its data."""

    status = 422


def _failure(what: str, result: Result) -> GatewayError:
    value = result.value
    status = 502
    detail: Any = value
    if isinstance(value, Mapping):
        raw = value.get("status", 502)
        text = as_text(raw, errors="surrogateescape") if isinstance(raw, (str, bytes)) else ""
        digits = text.isascii() and text.isdigit() and len(text) <= 3
        status = int(raw) if isinstance(raw, int) else int(text) if digits else 502
        detail = value.get("body", b"")
    text = as_text(detail, errors="surrogateescape")[:500]
    # Several gateways on the route: each one's failure is listed ("<url>: error <status>");
    # when every one of them timed out, so did the request.
    statuses = set(re.findall(r": error (\d{3})", as_text(detail, errors="surrogateescape")))
    if statuses == {"504"}:
        status = 504
    if status == 504:
        return GatewayError(f"{what}: the gateway timed out: {text}", status=504)
    if status >= 500 or status < 400:
        return GatewayError(f"{what}: the gateway failed ({status}): {text}", status=502)
    return GatewayError(f"{what}: the gateway answered {status}: {text}", status=502)


def _status_of(value: Any) -> int:
    raw = value.get("status", 200) if isinstance(value, Mapping) else 200
    try:
        return int(raw)
    except (TypeError, ValueError):
        return 200


def _body(value: Any) -> bytes:
    if isinstance(value, Mapping):
        found = value.get("body", b"")
    else:
        found = value
    if isinstance(found, str):
        return found.encode()
    if isinstance(found, bytes):
        return found
    raise DecodeError(f"the gateway's answer has no binary body ({type(found).__name__})")


def query(text: str, variables: Mapping[str, Any] | None, opts: Mapping[str, Any],
          operation: str | None = None) -> Any:
    """POST a GraphQL query to the `/graphql` route and return the decoded JSON answer.

    Raises:
        GatewayError: no gateway answered 200 with JSON (the message names the gateway).
    """
    payload: dict[str, Any] = {"query": text}
    if variables:
        payload["variables"] = dict(variables)
    if operation:
        payload["operationName"] = operation
    request = {
        "path": "/graphql",
        "method": "POST",
        "content-type": "application/json",
        "body": json.dumps(payload).encode(),
        # Several gateways on the route: the first that answers 200 wins (`hb_http_multi`).
        "multirequest-responses": 1,
        "multirequest-admissible-status": 200,
    }
    result = request_routed(request, opts)
    if not result.ok or _status_of(result.value) != 200:
        raise _failure(f"POST /graphql to {routed_to(request, opts)}", result)
    try:
        return json.loads(_body(result.value))
    except (ValueError, DecodeError) as exc:
        raise GatewayError(f"POST /graphql: the gateway's answer ({routed_to(request, opts)}) is not JSON: "
                           f"{exc}") from exc


def data(item_id: str, opts: Mapping[str, Any]) -> bytes:
    """The data of an item, from `GET /raw/<id>` on the routed gateway.

    Raises:
        GatewayError: the gateway failed, or does not have the data.
    """
    request = {"path": f"/raw/{item_id}", "method": "GET"}
    result = request_routed(request, opts)
    if not result.ok or _status_of(result.value) != 200:
        raise _failure(f"GET /raw/{item_id} from {routed_to(request, opts)}", result)
    return _body(result.value)


def message_from_node(node: Mapping[str, Any], body: bytes, opts: Mapping[str, Any]) -> Message:
    """The message a GraphQL node describes, with `body` as its data, checked (§14.4
    `result_to_message`).

    Raises:
        UnverifiedItem: the rebuilt item's signature does not verify, or its ID is not the one
            the gateway gave, and `ans104_trust_gql` is false.
        DecodeError: the node is malformed.
    """
    item = _gql.item_from_node(node, body)
    claimed = as_text(node.get("id", ""), errors="surrogateescape")
    trusted = bool(options.get(opts, "ans104_trust_gql", False))
    problem = None
    try:
        item.verify()
        if b64url_encode(item.id) != claimed:
            problem = f"its signature hashes to {b64url_encode(item.id)}, not {claimed}"
    except InvalidSignature:
        problem = "its signature does not verify against the fields and data the gateway reports"
    if problem is not None:
        if not trusted:
            raise UnverifiedItem(f"Item {claimed} from the gateway is refused: {problem} "
                                 "(set ans104_trust_gql to accept unverifiable gateway items).")
        log.warning("item %s from the gateway does not verify (%s); kept because ans104_trust_gql is true",
                    claimed, problem)
    found = decode(item.serialize(), ans104.NAME)
    if not isinstance(found, dict):
        return {"body": found}
    return found


def _subindex(value: Any) -> list[Mapping[str, Any]]:
    if not value:
        return []
    if isinstance(value, Mapping):
        value = [value[k] for k in sorted(
            value, key=sequence_index)]
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise DecodeError(f"subindex must be a list of {{name, value}}, got {value!r}")
    return list(value)


def read(item_id: str, opts: Mapping[str, Any], subindex: Any = ()) -> Message | None:
    """The item `item_id` as a verified message, or None when the gateway has no such item
    (matching `subindex`, a list of `{name, value}` tags, when given).

    Raises:
        GatewayError: the gateway could not be asked, or its data could not be fetched.
        UnverifiedItem: the item does not verify (see `message_from_node`).
    """
    if not is_id(item_id):
        return None
    answer = query(_gql.read_query(_subindex(subindex)), {"transactionIds": [item_id]}, opts)
    node = _edge(answer)
    if node is None:
        return None
    try:
        size = _gql.data_size(node)
        body = data(item_id, opts) if size else b""
        if len(body) != size:
            raise GatewayError(f"GET /raw/{item_id}: the gateway served {len(body)} bytes, but GraphQL says the "
                               f"item holds {size}")
        return message_from_node(node, body, opts)
    except DecodeError as exc:
        raise UnverifiedItem(f"Item {item_id} from the gateway is refused: the gateway describes it "
                             f"malformed ({exc.message}).") from exc


def _edge(answer: Any) -> Mapping[str, Any] | None:
    """The first edge's node of a GraphQL answer; an answer without data is the gateway's failure."""
    try:
        return _gql.first_node(answer)
    except DecodeError as exc:
        errors = answer.get("errors") if isinstance(answer, Mapping) else None
        raise GatewayError(f"POST /graphql: the gateway answered no data: {str(errors or exc.message)[:300]}") from exc


def scheduler_location(address: str, opts: Mapping[str, Any]) -> Message | None:
    """The latest `Type: Scheduler-Location` record `address` signed, as a verified message, or
    None when the gateway knows none."""
    answer = query(_gql.scheduler_location_query(), {"SchedulerAddrs": [address]}, opts)
    node = _edge(answer)
    if node is None:
        return None
    size = _gql.data_size(node)
    item_id = as_text(node.get("id", ""), errors="surrogateescape")
    body = data(item_id, opts) if size else b""
    return message_from_node(node, body, opts)
