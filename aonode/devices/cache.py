"""`cache@1.0`: read, write and link in the node's cache over HTTP (`dev_cache`, node-services.md
§10.3); what a `remote-node` store on another node talks to.

    read   `target` → the stored message (aos-2 JSON with `accept: application/aos-2`); when no
           message is there, the raw store value at that path (`data/<hash>`); else 404
    write  for signers listed in `cache_writers` only (403 otherwise). `type: single` (default)
           writes the request; `type: batch` writes each value of `body`. A single write with
           `operation: write` (default) stores its `body` binary → `{status 200, path}`; with
           `operation: link`, links `source` to `destination` → `{status 200}`; with
           `operation: item` (aonode), its `body` is a signed ANS-104 data item, verified and
           stored as a message → `{status 200, path: <item ID>}` (422 if it does not verify). No body → 400
           "No body to write."; any other shape → 400 "Invalid write type."
    link   for trusted writers: links `source` → `destination`. The destination must be a
           message ID or a hashpath of IDs that holds nothing yet (403 / 409 otherwise), so a
           writer cannot repoint another client's message, a name or a balance

Writers are checked against the request's verified signers (`aonode.core.authority`), so a
key merely named in the request proves nothing. Unlike the reference, a map `body` is written
as a message (the reference refuses it as an invalid write type, though its own remote store
writes maps that way): the reply's `path` is the message's ID.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aonode.codecs import decode, parse_item
from aonode.core import authority
from aonode.core.devices import Device
from aonode.core.terms import Result
from aonode.crypto import b64url_encode
from aonode.devices.lookup import answer, read_target
from aonode.errors import AOError, BadMessage, InvalidSignature
from aonode.text import as_text

__all__ = ["CacheDevice", "is_writer"]


# A message ID: 43 characters of base64url.
_ID = re.compile(r"[A-Za-z0-9_-]{43}")


def _refused(status: int, why: str) -> Result:
    return Result("error", {"status": status, "body": why.encode()})


def is_writer(request: Mapping[str, Any], opts: Mapping[str, Any]) -> bool:
    """Whether a verified signer of `request` is in the `cache_writers` option."""
    writers = opts.get("cache_writers") or []
    if isinstance(writers, (bytes, str)):
        writers = [writers]
    allowed = {as_text(w, errors="replace") for w in writers}
    return bool(allowed) and any(s in allowed for s in authority.signed_by(request, opts))


def _id_path(path: str) -> bool:
    """Whether `path` is a message ID or a hashpath of IDs (`ID/ID/...`)."""
    return all(_ID.fullmatch(segment) for segment in path.split("/"))


def _link(source: Any, destination: Any, opts: Mapping[str, Any]) -> Result:
    if not isinstance(source, (bytes, str)) or not isinstance(destination, (bytes, str)):
        return _refused(400, "A link needs a `source` and a `destination`.")
    cache, new = opts["cache"], as_text(destination, errors="replace")
    # A writer adds what it replicates; it may not repoint what is stored (another client's
    # message, a content hash) nor the node's own paths (names, balances, route changes).
    if not _id_path(new):
        return _refused(403, "A link's destination must be a message ID or a hashpath of IDs; "
                             "the store's other paths belong to the node.")
    try:
        if cache.store.type(new) is not None:
            return _refused(409, f"{new} is already stored: a link does not replace it.")
        cache.link(as_text(source, errors="replace"), new)
    except AOError as exc:  # an upstream store (a gateway) that failed is named as such
        return _refused(exc.status if exc.status in (502, 503, 504) else 400, f"Cannot link: {exc.message}")
    return Result("ok", {"status": 200})


def _write_single(msg: Any, opts: Mapping[str, Any]) -> Result:
    if not isinstance(msg, Mapping):
        return _refused(400, "Invalid write type.")
    operation = as_text(msg.get("operation", "write"), errors="replace")
    if operation == "link":
        return _link(msg.get("source"), msg.get("destination"), opts)
    if operation == "item":
        return _write_item(msg.get("body"), opts)
    if operation != "write" or "location" in msg:
        return _refused(400, "Invalid write type.")
    body = msg.get("body")
    if body is None:
        return _refused(400, "No body to write.")
    if not isinstance(body, (bytes, str, Mapping)):
        return _refused(400, "Invalid write type.")
    try:
        path = opts["cache"].write(dict(body) if isinstance(body, Mapping) else body)
    except AOError as exc:
        return _refused(400, f"Cannot write: {exc.message}")
    return Result("ok", {"status": 200, "path": path.encode()})


def _write_item(body: Any, opts: Mapping[str, Any]) -> Result:
    """Store a signed ANS-104 item as a message, after checking its signature."""
    if not isinstance(body, bytes) or not body:
        return _refused(400, "An item write needs the item's bytes as `body`.")
    try:
        item = parse_item(body)
        try:
            item.verify()
        except InvalidSignature:
            return _refused(422, "The data item's signature does not verify.")
        msg = decode(body, "ans104@1.0")
        opts["cache"].write(msg)
    except AOError as exc:
        return _refused(400, f"Not a storable ANS-104 data item: {exc.message}")
    return Result("ok", {"status": 200, "path": b64url_encode(item.id).encode()})


class CacheDevice(Device):
    name = "cache@1.0"

    def read(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The message at `target`, else the raw store value there, else 404."""
        target, found = read_target(request, opts)
        if found is None:
            raw = opts["cache"].store.read(target)
            if raw is None:
                return _refused(404, f"cache@1.0: {target} is not stored here")
            found = raw
        return answer(found, request)

    def write(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """Write the request (or each value of a batch's `body`), for trusted writers."""
        if not isinstance(request, Mapping) or not is_writer(request, opts):
            return _refused(403, "Not authorized to write to the cache.")
        if opts.get("cache") is None:
            raise BadMessage("cache@1.0: this node has no cache")
        kind = as_text(request.get("type", "single"), errors="replace")
        if kind == "single":
            return _write_single(request, opts)
        if kind == "batch":
            body = request.get("body")
            if not isinstance(body, Mapping):
                return _refused(400, "A batch write needs a `body` map of writes.")
            paths: dict[str, Any] = {}
            for key, value in body.items():
                result = _write_single(value, opts)
                if not result.ok:
                    return result
                paths[key] = result.value.get("path", b"")
            return Result("ok", {"status": 200, "paths": paths})
        return _refused(400, "Invalid write type.")

    def link(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """Link `source` → `destination`, for trusted writers."""
        if not isinstance(request, Mapping) or not is_writer(request, opts):
            return _refused(403, "Not authorized to write to the cache.")
        return _link(request.get("source"), request.get("destination"), opts)
