"""A result message as an HTTP response (`hb_http:reply`, resolution-paths-cache-node.md §10.4).

1. The status is the message's `status` (default 200).
2. The codec: the request's `require-codec` (or edge's `accept-codec`); else `httpsig@1.0` when
   the result has its own `content-type` (its body is already encoded); else the one the
   request's `accept` names; else `httpsig@1.0`.
3. Signing (`maybe_sign`): with `force_signed` (a server's default) a result without signers is
   signed with the node wallet: an `httpsig@1.0` commitment, bundled when the request asked
   for `accept-bundle`, or an ANS-104 signature for `ans104@1.0` replies.
4. Encoding:
   * `httpsig@1.0`: headers and body from the HTTP-message codec, nested messages inline with
     `accept-bundle: true`, else as `key+link` IDs. Without a bundle, a result with neither a
     body nor a content type gets an index page: `index` resolved on it, merged in (§10.4).
   * `ans104@1.0`: `codec-device` and `content-type: application/ans104` headers; the body is
     the data item.
   * `json@1.0` and `flat@1.0`: every top-level key that is not a map, a list, `body` or
     `data` as a header, under `codec-device` and `content-type`; the body is the encoding.
5. CORS headers go under the message's own (`add_cors_headers`).

Differences from the reference (docs/compat.md): 404 and 5xx results become hyperbuddy's HTML
pages, and index pages are generated, for browsers only (the server decides, `client_kind` in
`aonode.http.server`); here the message is sent like any other. The
`accept` value's media-type parameters are ignored and the first entry of a list that names a
codec is used (the reference falls back to httpsig@1.0 for both, §15.2 pitfall 19).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from aonode.codecs import ans104, commit, commit_with_tabm, encode, flat, httpsig, signers, to_tabm
from aonode.codecs import json as json_codec
from aonode.crypto import Wallet
from aonode.errors import AOError, EncodeError, shown
from aonode.http._inbound import DEFAULT_CODEC
from aonode.message import TABM, Atom, Message, is_private
from aonode.text import as_text

__all__ = ["CORS_HEADERS", "Response", "accept_to_codec", "cors", "encode_reply", "error_message", "explain"]

Response = tuple[int, list[tuple[bytes, bytes]], bytes]
"""(status, headers, body) as the ASGI server sends them."""

IndexFn = Callable[[Message], Message | None]
"""Resolves `index` on a result message; None when it has none."""

CORS_HEADERS: Mapping[str, bytes] = {
    "access-control-allow-origin": b"*",
    "access-control-allow-methods": b"GET, POST, PUT, DELETE, OPTIONS",
    "access-control-expose-headers": b"*",
}

# The codecs a reply can be written in, and their media types (the codec devices' `content-type`).
_REPLY_CODECS: Mapping[str, bytes | None] = {
    httpsig.NAME: None,
    ans104.NAME: b"application/ans104",
    json_codec.NAME: b"application/json",
    flat.NAME: None,
}


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, Atom):
        return value.name == "true"
    return as_text(value, errors="replace", atoms=True).strip().lower() == "true"


def _mime_codec(mime: str) -> str | None:
    """The codec one `accept` entry names, ignoring parameters; None when it names none."""
    mime = mime.split(";", 1)[0].strip()
    if mime.startswith("application/"):
        rest = mime[len("application/"):]
        name = rest if "@" in rest else rest + "@1.0"
    elif mime.startswith("device/"):
        name = mime[len("device/"):]
    elif "@" in mime:
        name = mime
    else:
        return None
    return name if name in _REPLY_CODECS else None


def accept_to_codec(request: Mapping[str, Any], reply: Mapping[str, Any] | None = None,
                    default: str = DEFAULT_CODEC) -> str:
    """The codec of the reply (`accept_to_codec/3`, §10.4)."""
    for key in ("require-codec", "accept-codec"):
        if key in request:
            return _mime_codec(as_text(request[key], errors="replace", atoms=True)) or default
    if reply is not None and "content-type" in reply:
        return httpsig.NAME
    for entry in as_text(request.get("accept", b"*/*"), errors="replace", atoms=True).split(","):
        found = _mime_codec(entry)
        if found is not None:
            return found
    return default


def _status(message: Mapping[str, Any]) -> int:
    raw = message.get("status", 200)
    try:
        status = int(as_text(raw, errors="replace", atoms=True)) if not isinstance(raw, int) else raw
    except ValueError:
        return 500
    return status if 100 <= status <= 599 else 500


def _needs_signature(message: Message) -> bool:
    return not signers(message)


def _header_pairs(headers: Mapping[str, bytes]) -> list[tuple[bytes, bytes]]:
    """The reply's header fields; an illegal one is an error here, never a dropped connection."""
    out = []
    for name, value in headers.items():
        if not httpsig.header_allowed(name, value):
            raise EncodeError(f"the reply cannot carry the key '{shown(name)}' as an HTTP header")
        out.append((name.encode("utf-8", "surrogateescape"), value))
    return out


def _no_private(tabm: TABM) -> TABM:
    return {k: v for k, v in tabm.items() if not is_private(k)}


def _httpsig(message: Message, bundle: bool, wallet: Wallet | None, index: IndexFn | None
             ) -> tuple[dict[str, bytes], bytes]:
    tabm: TABM | bytes
    if wallet is not None and _needs_signature(message):
        message, tabm = commit_with_tabm(message, wallet, bundle=bundle)  # the TABM once
    else:
        tabm = to_tabm(message, bundle=bundle)
    wire = httpsig.to_wire(tabm)
    if index is not None and not bundle and "body" not in wire and "content-type" not in wire:
        page = index(message)
        if isinstance(page, Mapping):
            # An index page built from the request echoes its connection headers: drop them.
            found = to_tabm({k: v for k, v in page.items() if not is_private(k) and k not in httpsig.HOP_BY_HOP},
                            bundle=True)
            if isinstance(found, dict):
                encoded = httpsig.to_wire(_no_private(found))
                for key in ("signature", "signature-input"):
                    encoded.pop(key, None)
                wire = {**encoded, **{k: v for k, v in wire.items() if k not in ("body", "content-type")}}
    body = wire.pop("body", b"")
    return wire, body


def _ans104(message: Message, wallet: Wallet | None) -> bytes:
    tabm = to_tabm(message, bundle=True)
    if not isinstance(tabm, dict):
        return tabm
    commitments = tabm.get("commitments")
    own: TABM = {cid: c for cid, c in commitments.items()
                 if isinstance(c, dict) and c.get("commitment-device") == ans104.NAME.encode()
                 } if isinstance(commitments, dict) else {}
    plain: TABM = {k: v for k, v in tabm.items() if k != "commitments"}
    if len(own) == 1:
        return ans104.to_wire({**plain, "commitments": own})
    if wallet is not None:
        return ans104.to_wire(ans104.commit(plain, wallet))
    return ans104.to_wire(plain)


def _scalar_headers(message: Message) -> dict[str, bytes]:
    out = {}
    for key, value in message.items():
        if key in ("body", "data", "commitments") or is_private(key) or isinstance(value, (dict, list)):
            continue
        if isinstance(value, bool):
            out[key] = b"true" if value else b"false"
        elif value is None:
            out[key] = b"null"
        else:
            out[key] = value if isinstance(value, bytes) else as_text(value, errors="replace", atoms=True).encode()
    # The body carries every key; those that cannot be headers are only in the body.
    return {k: v for k, v in out.items() if httpsig.header_allowed(k, v)}


def _other(codec: str, message: Message, bundle: bool, wallet: Wallet | None,
           load: json_codec.Loader | None = None) -> tuple[dict[str, bytes], bytes]:
    if wallet is not None and _needs_signature(message):
        message = commit(message, wallet, bundle=bundle)
    if codec == flat.NAME:
        tabm = to_tabm(message, bundle=bundle)
        body = flat.serialize(tabm) if isinstance(tabm, dict) else tabm
    elif codec == json_codec.NAME and bundle and load is not None:
        body = json_codec.dumps(message, load=load)  # a bundle's links are written inline
    else:
        body = encode(message, codec, bundle=bundle)
    headers = _scalar_headers(message)
    headers["codec-device"] = codec.encode()
    content_type = _REPLY_CODECS.get(codec)
    if content_type is not None:
        headers["content-type"] = content_type
    return headers, body


def cors(request_headers: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    """The CORS headers of a reply; `access-control-allow-headers` echoes the preflight's request."""
    out = dict(CORS_HEADERS)
    asked = (request_headers or {}).get("access-control-request-headers")
    if asked:
        out["access-control-allow-headers"] = asked
    return out


def encode_reply(
    message: Message,
    request: Mapping[str, Any],
    *,
    wallet: Wallet | None = None,
    index: IndexFn | None = None,
    request_headers: Mapping[str, bytes] | None = None,
    default_codec: str = DEFAULT_CODEC,
    load: json_codec.Loader | None = None,
) -> Response:
    """Encode a result for the client that sent `request` (`hb_http:reply`).

    Args:
        message: the result, with its `status`.
        request: the request singleton (`accept`, `accept-bundle`, `require-codec`).
        wallet: signs results that carry no signature (None: send them unsigned).
        index: resolves an index page for bodiless results (None: no index pages).
        request_headers: the raw request headers (for CORS).
        default_codec: the codec when the request names none.
        load: reads a linked message, for `json@1.0` bundles (None: links stay `key+link`).

    Raises:
        EncodeError: the message cannot be expressed in the chosen codec or as HTTP headers.
    """
    status = _status(message)
    if isinstance(message, Mapping):
        message = explain(message, request)
    codec = accept_to_codec(request, message, default_codec)
    bundle = _truthy(request.get("accept-bundle", False))
    if codec == ans104.NAME:
        headers: dict[str, bytes] = {"codec-device": codec.encode(), "content-type": b"application/ans104"}
        body = _ans104(message, wallet)
    elif codec == httpsig.NAME:
        headers, body = _httpsig(message, bundle, wallet, index)
    else:
        headers, body = _other(codec, message, bundle, wallet, load)
    pairs = _header_pairs({**cors(request_headers), **headers})
    return status, pairs, body


# Keys a device puts its reason in when it gives no body (scheduler@1.0's `reason`, ...).
_REASON_KEYS = ("reason", "message", "error", "details")
# Bodies that say only what the status says: the reference's status atoms.
_BARE = frozenset({"not_found", "error", "failure", "unavailable", "unauthorized", "forbidden"})


def explain(message: Message, request: Mapping[str, Any]) -> Message:
    """An error result (status 400-599) with its reason in the body, as UTF-8 text that names
    what the request asked for.

    The reason is the body when it is text that says more than the status; otherwise the
    first text of `_REASON_KEYS`, else the status word or phrase. A reason that came without
    a body, and any 404, is followed by the request's path when it names nothing in it
    (`not_found: /nothing-here`). A body that is a message, or not UTF-8, is left as it is.
    """
    status = _status(message)
    if status < 400:
        return message
    body = message.get("body")
    if isinstance(body, Atom):
        body = body.name.encode()
    if body is not None and not isinstance(body, bytes):
        return message
    try:
        said = body.decode("utf-8") if body else ""
    except UnicodeDecodeError:
        return message
    reason = said if said and said not in _BARE else next(
        (shown(message[k], 1000) for k in _REASON_KEYS
         if isinstance(message.get(k), (bytes, str, Atom)) and message.get(k)), None)
    if reason is None:
        bare = said or as_text(message.get("status", b""), errors="replace", atoms=True)
        reason = bare if bare in _BARE else HTTPStatus(status).phrase
    path = request.get("path")
    named = shown(path, 500) if isinstance(path, (bytes, str)) else ""
    names = [n for n in re.split(r"[/?&=~]", named) if len(n) > 2]
    if names and (reason != said or status == 404) and not any(n in reason for n in names):
        reason = f"{reason.rstrip('.')}: {named}"
    return message if reason == said and body == message.get("body") else {**message, "body": reason.encode("utf-8")}


_BYTES_REPR = re.compile(r"""\bb('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


def _unrepr(text: str) -> str:
    """`text` with any Python bytes repr (`b'abc'`) written as text (`'abc'`): a safety net
    for error messages built with `!r` (new ones should use `aonode.errors.shown`)."""
    def one(match: re.Match[str]) -> str:
        try:
            value = ast.literal_eval("b" + match.group(1))
        except (ValueError, SyntaxError):
            return match.group(0)
        return "'" + shown(value, 10_000) + "'" if isinstance(value, bytes) else match.group(0)
    return _BYTES_REPR.sub(one, text)


def error_message(exc: BaseException) -> dict[str, Any]:
    """The result message for an exception: its status (500 unless an `AOError`) and text."""
    if isinstance(exc, AOError):
        text = _unrepr(exc.message).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return {"status": exc.status, "ao-result": b"body", "body": text.encode("utf-8")}
    return {
        "status": 500,
        "ao-result": b"body",
        "type": type(exc).__name__.encode(),
        "body": f"Internal error: {type(exc).__name__}".encode(),
    }
