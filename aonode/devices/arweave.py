"""`arweave@2.9-pre`: the Arweave network through the node's gateway routes (`dev_arweave`,
`dev_arweave_block_cache`, node-services.md §11.4).

    status    `GET /arweave/info` (the network's status) as a message
    tx        POST: the request, a signed message, is checked, written to the node's cache and
              uploaded to the configured bundler (`bundler_ans104`, `bundler_httpsig`) through
              the durable outbox (`aonode.arweave.outbox`): 200 with the bundler's answer when
              it accepted at once, 202 when the upload is kept for a retry (the body says which
              bundler failed and how), 400 when the message cannot be uploaded.
              GET: `tx` (request, else base) → `GET /arweave/tx/<id>` (the header, JSON) plus its
              data from `GET /raw/<id>` unless `data` is false; a data failure leaves the header
              alone unless `data` is `always`.
    block     `block` (request, else base): absent or `current` → `GET /arweave/block/current`;
              an ID → the block cache, else `GET /arweave/block/hash/<id>`; a height → the block
              cache, else `GET /arweave/block/height/<h>`; anything else 400. Every block fetched
              is written to the cache and linked from `~arweave@2.9/block/hash/<indep_hash>`
              and `~arweave@2.9/block/height/<h>`.
    current   `GET /arweave/block/current`
    outbox    the outbox's pending and rejected uploads (POST: retry now)
    start     a `start` hook (`on: {start: {device: arweave@2.9-pre, path: start}}`): starts the
              outbox's retries at boot, so uploads kept before a restart are delivered

Upstream requests go through the node's routes: the default `/arweave` route sends them to
`https://arweave.net` with `/arweave` cut off. A gateway that fails answers 502 (504 when it
timed out) naming the gateway.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aonode.arweave.gateway import GatewayError, data
from aonode.arweave.outbox import outbox_for
from aonode.arweave.upload import uploads
from aonode.codecs import decode, verify, with_only_committed
from aonode.codecs import json as json_codec
from aonode.core.devices import Device
from aonode.core.terms import Result
from aonode.errors import AOError, BadMessage, InvalidSignature
from aonode.message import is_id
from aonode.net.client import request_routed, routed_to
from aonode.text import as_text

__all__ = ["ArweaveDevice", "BLOCK_PREFIX"]

BLOCK_PREFIX = "~arweave@2.9/block"


def _refused(status: int, text: str) -> Result:
    return Result("error", {"status": status, "body": text.encode()})


def _get_json(path: str, opts: Mapping[str, Any]) -> Any:
    """`GET /arweave<path>` through the routes, decoded from JSON.

    Raises:
        GatewayError: the gateway failed or answered an error.
    """
    request = {"path": f"/arweave{path}", "method": "GET"}
    result = request_routed(request, opts)
    value = result.value
    status = value.get("status", 200) if isinstance(value, Mapping) else 200
    body = value.get("body", b"") if isinstance(value, Mapping) else value
    if not result.ok or status != 200:
        detail = as_text(body, errors="replace")[:300]
        raise GatewayError(f"GET /arweave{path}: the gateway ({routed_to(request, opts)}) answered {status}: "
                           f"{detail}", status=504 if status == 504 else (404 if status == 404 else 502))
    try:
        return json.loads(body)
    except (TypeError, ValueError) as exc:
        raise GatewayError(f"GET /arweave{path}: the gateway's answer ({routed_to(request, opts)}) is not JSON"
                           ) from exc


def _message(found: Any) -> Any:
    return decode(json.dumps(found).encode(), json_codec.NAME)


def _param(key: str, base: Any, request: Any) -> Any:
    for holder in (request, base):
        if isinstance(holder, Mapping) and key in holder:
            return holder[key]
    return None


def _failed(exc: AOError) -> Result:
    return _refused(exc.status, exc.message)


class ArweaveDevice(Device):
    name = "arweave@2.9-pre"

    def status(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The network's status (`GET /info`)."""
        try:
            return Result("ok", _message(_get_json("/info", opts)))
        except AOError as exc:
            return _failed(exc)

    def tx(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """POST: upload the signed request; GET: a transaction's header and data."""
        method = as_text(request.get("method", "GET") if isinstance(request, Mapping) else "GET",
                         errors="replace").upper()
        if method == "POST":
            return self._post_tx(request, opts)
        return self._get_tx(base, request, opts)

    def _post_tx(self, request: Any, opts: Mapping[str, Any]) -> Result:
        if not isinstance(request, Mapping) or not request.get("commitments"):
            return _refused(400, "arweave@2.9-pre: POST tx takes a signed message to upload; this one is unsigned.")
        msg = with_only_committed(dict(request))
        try:
            verify(msg)
        except InvalidSignature:
            return _refused(400, "arweave@2.9-pre: the message's signature does not verify; it is not uploaded.")
        except AOError as exc:
            return _refused(400, f"arweave@2.9-pre: the message cannot be verified: {exc.message}")
        try:
            planned = uploads(msg, opts)
        except BadMessage as exc:
            return _refused(400, f"arweave@2.9-pre: {exc.message}")
        cache = opts.get("cache")
        if cache is not None:
            cache.write(msg)
        outbox = outbox_for(opts)
        answers: list[Any] = []
        queued = []
        for upload in planned:
            delivery = outbox.submit(upload)
            if delivery.accepted:
                try:
                    answers.append(_message(json.loads(delivery.answer)))
                except ValueError:
                    answers.append(delivery.answer)
            elif 400 <= delivery.status < 500 and delivery.status not in (408, 425, 429):
                return _refused(400, f"arweave@2.9-pre: {upload.bundler} refused {upload.message_id}: "
                                     f"{delivery.status} {as_text(delivery.answer, errors='replace')[:300]}")
            else:
                answer = as_text(delivery.answer, errors="replace")[:200]
                queued.append(f"{upload.bundler} failed ({delivery.status}: {answer})")
        ids = [u.message_id for u in planned]
        if queued:
            return Result("ok", {"status": 202, "id": ids[0].encode(),
                                 "body": ("Upload kept in the outbox and retried until the bundler accepts it: "
                                          + "; ".join(queued)).encode()})
        return Result("ok", {"status": 200, "id": ids[0].encode(),
                             "body": answers[0] if len(answers) == 1 else answers})

    def _get_tx(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        tx_id = _param("tx", base, request)
        if tx_id is None:
            return _refused(404, "arweave@2.9-pre: no `tx` given.")
        tx_text = as_text(tx_id, errors="replace")
        if not is_id(tx_text) or len(tx_text) != 43:
            return _refused(400, f"arweave@2.9-pre: `tx` must be a 43-character ID, not {tx_text[:60]!r}.")
        try:
            header = _message(_get_json(f"/tx/{tx_text}", opts))
        except AOError as exc:
            return _failed(exc)
        want = as_text(_param("data", base, request) or "true", errors="replace").lower()
        if want != "false":
            try:
                header["data"] = data(tx_text, opts)
            except GatewayError as exc:
                if want == "always":
                    return _failed(exc)
        return Result("ok", header)

    def block(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """A block by `current`, ID (indep_hash) or height, from the block cache or the gateway."""
        ref = _param("block", base, request)
        cache = opts.get("cache")
        text = as_text(ref, errors="replace") if ref is not None else "current"
        if text == "current":
            path = "/block/current"
        elif len(text) in (43, 64):
            found = cache.read(f"{BLOCK_PREFIX}/hash/{text}") if cache is not None else None
            if found is not None:
                return Result("ok", found)
            path = f"/block/hash/{text}"
        elif text.isdigit():
            found = cache.read(f"{BLOCK_PREFIX}/height/{int(text)}") if cache is not None else None
            if found is not None:
                return Result("ok", found)
            path = f"/block/height/{int(text)}"
        else:
            return _refused(400, f"Invalid block reference `{text[:80]}`")
        try:
            block = _message(_get_json(path, opts))
        except AOError as exc:
            return _failed(exc)
        if cache is not None:
            self._remember(block, cache)
        return Result("ok", block)

    def _remember(self, block: Mapping[str, Any], cache: Any) -> None:
        """Write a block to the cache and link it from its hashes and height (the block cache)."""
        uid = cache.write(dict(block))
        store = cache.store
        for key in ("indep_hash", "hash"):
            value = block.get(key)
            if isinstance(value, (bytes, str)) and as_text(value, errors="replace"):
                store.make_link(uid, f"{BLOCK_PREFIX}/hash/{as_text(value, errors='replace')}")
        height = block.get("height")
        if isinstance(height, int) or (
                isinstance(height, (bytes, str)) and as_text(height, errors="replace").isdigit()):
            store.make_link(uid, f"{BLOCK_PREFIX}/height/{int(as_text(height, errors='replace'))}")

    def current(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The current block (`GET /block/current`)."""
        return self.block(base, {"block": b"current"}, opts)

    def start(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The `start` hook: start the outbox's retries; the node message (`body`) unchanged."""
        body = request.get("body") if isinstance(request, Mapping) else None
        if not isinstance(body, Mapping):
            raise BadMessage("arweave@2.9-pre start is a start hook: it takes the node message as `body`")
        outbox_for({**opts, **body})
        return Result("ok", {"body": body})

    def outbox(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Result:
        """The outbox's pending and rejected uploads (its retries start if they had not)."""
        found = outbox_for(opts)
        if isinstance(request, Mapping) and as_text(request.get("method", "GET"), errors="replace").upper() == "POST":
            found.retry_now()
        return Result("ok", {"pending": [k.encode() for k in found.pending()],
                             "rejected": [k.encode() for k in found.rejected()],
                             "delivered": found.status.delivered, "failures": found.status.failures})
