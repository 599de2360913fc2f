"""An HTTP request as one singleton message (`hb_http:req_to_tabm_singleton`,
resolution-paths-cache-node.md §10.2).

Pure: takes the request's parts, returns a message; nothing here touches a socket or a store.

1. The *primitive* message is the headers (names lower-cased, repeated headers joined with
   `, `) merged with the query keys of the raw target; query keys win.
2. The inbound codec is the primitive's `codec-device`, else the one its `content-type` names
   (`mime_to_codec`), else the `default_codec` option (`httpsig@1.0`).
3. Decoding:
   * `httpsig@1.0`: the primitive plus the body, decoded as an HTTP message (signatures,
     multipart bodies, `content-digest`). A signed request keeps only its committed keys.
   * `ans104@1.0`: the body is one data item; it must verify.
   * `json@1.0`, `flat@1.0`: the body is decoded and merged over the primitive; a signed one
     keeps only its committed keys, and every commitment must verify.
4. `normalize_unsigned`: `path` (the message's, else the raw target still percent-encoded),
   `method`, `accept` (default `*/*`), `accept-bundle` (default false), and `require-codec` and
   `accept-codec` from the headers when the message lacks them; `content-length` is
   dropped unless signed, an empty unsigned body is dropped, `ao-peer-port` becomes `ao-peer`.

Every commitment a request carries, at any depth, must verify and name the committer its key
implies; a request with one that does not is refused (400), whatever `force_signed_requests`
says. `signers` lists the committers of the request's own commitments.

Differences from the reference (docs/compat.md): the reference verifies only with
`force_signed_requests` and otherwise trusts claimed committers; `require-codec` and
`accept-codec` headers count for signed and ANS-104 requests too; `cookie` is passed through
as a header (cookie@1.0 is not built); an unknown codec is a 422, not a 500.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aonode.codecs import (
    CODECS,
    ans104,
    committed_keys,
    decode,
    flat,
    httpsig,
    parse_item,
    structured,
    verify_tree,
    with_only_committed,
)
from aonode.codecs import json as json_codec
from aonode.core import hyperpath, options
from aonode.errors import AOError, BadMessage, DecodeError, InvalidSignature, Unsupported
from aonode.message import Message
from aonode.text import as_text

__all__ = ["Inbound", "mime_to_codec", "to_singleton"]

DEFAULT_CODEC = httpsig.NAME


@dataclass(frozen=True, slots=True)
class Inbound:
    """A decoded request.

    Attributes:
        singleton: the request as one message, ready for `hyperpath.parse`.
        signers: committers whose signatures verified (empty for an unsigned request).
        signed: the message as its signers committed it, for `store_all_signed`; None when unsigned.
    """

    singleton: dict[str, Any]
    signers: list[str] = field(default_factory=list)
    signed: Message | None = None


def mime_to_codec(mime: str, default: str = DEFAULT_CODEC) -> str:
    """The codec a media type names (`hb_http:mime_to_codec`, §10.2).

    `application/X` is `X@1.0` (or `X` when it has an `@`) if aonode has that codec, else the
    default; `device/NAME` is NAME; any other value with an `@` is itself; the rest is the
    default. Parameters are not stripped (§15.2 pitfall 19): `application/json; charset=utf-8`
    is the default codec, as in the reference.
    """
    if mime.startswith("application/"):
        rest = mime[len("application/"):]
        name = rest if "@" in rest else rest + "@1.0"
        return name if name in CODECS else default
    if mime.startswith("device/"):
        return mime[len("device/"):]
    return mime if "@" in mime else default


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name_bytes, value in raw:
        name = name_bytes.decode("latin-1").lower()
        if name in out:
            # RFC 9110 §5.3: repeated fields join with commas (cookies with `; `, RFC 6265 §5.4).
            out[name] = out[name] + (b"; " if name == "cookie" else b", ") + value
        else:
            out[name] = value
    return out


def _committed(msg: Mapping[str, Any]) -> set[str]:
    if "commitments" not in msg:
        return set()
    return set(committed_keys(dict(msg), "all")) | set(committed_keys(dict(msg), "none"))


def _count(msg: Message, limit: int) -> None:
    """Refuse a request with more than `limit` keys and list items, at every depth: the node's
    work on a message (IDs, commitments, the store) grows with them.

    Raises:
        BadMessage: the request has more.
    """
    seen = 0
    stack: list[Any] = [msg]
    while stack:
        value = stack.pop()
        items = value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else ()
        for item in items:
            seen += 1
            if seen > limit:
                raise BadMessage(f"the request has more than {limit} keys and list items in all "
                                 f"(http_max_keys); send less, or split it")
            if isinstance(item, (Mapping, list)):
                stack.append(item)


def _check(msg: Message) -> list[str]:
    """The signers of `msg`, after every commitment in it, at any depth, verified.

    Raises:
        InvalidSignature: some commitment does not hold; the message says which.
    """
    if "commitments" not in msg and not any(isinstance(v, (dict, list)) for v in msg.values()):
        return []
    try:
        return verify_tree(msg)
    except InvalidSignature as exc:
        raise InvalidSignature(f"{exc.message}: refused, as a request may only carry signatures that hold"
                               ) from None


# @permaweb/ao-core-libs 0.0.9 (aoconnect 0.0.91-0.0.98) signs a multipart body for
# `request()` and then sends the headers without it (clients-legacy-users.md §1.2).
_MISSING_BODY = ("the request's content-digest is that of a body, but it carries none. "
                 "@permaweb/aoconnect's request() drops the body of httpsig-signed requests (values over "
                 "4 KiB, with newlines, or keys with '/'); send such requests with signing-format 'ans104'")


def _digests_a_body(digest: bytes) -> bool:
    """Whether a `content-digest` value is the digest of something other than no bytes (either
    base64 alphabet, padded or not, as clients differ)."""
    _, _, value = digest.partition(b"=:")
    value = value.rstrip(b":").replace(b"-", b"+").replace(b"_", b"/")
    try:
        raw = base64.b64decode(value + b"=" * (-len(value) % 4))
    except ValueError:
        return True
    return raw != hashlib.sha256(b"").digest()


def _decode_httpsig(primitive: Mapping[str, Any], body: bytes) -> Message:
    digest = primitive.get("content-digest")
    if not body and isinstance(digest, bytes) and _digests_a_body(digest):
        raise BadMessage(_MISSING_BODY)
    wire = {k: v for k, v in primitive.items() if isinstance(v, bytes)}
    wire["body"] = body  # the HTTP body, never a query key named `body`
    decoded = decode(wire, httpsig.NAME)
    if not isinstance(decoded, dict):
        raise DecodeError(f"{httpsig.NAME}: the request is not a message")
    if "commitments" in decoded:
        decoded = with_only_committed(decoded)
    return decoded


def _decode_ans104(body: bytes) -> Message:
    item = parse_item(body)
    if not item.is_signed:
        raise InvalidSignature("the ANS-104 item is not signed; requests must be signed items")
    try:
        item.verify()
    except (InvalidSignature, BadMessage) as exc:
        raise InvalidSignature("the ANS-104 item's signature does not verify") from exc
    decoded = decode(body, ans104.NAME)
    if not isinstance(decoded, dict):
        raise DecodeError(f"{ans104.NAME}: the item does not decode to a message")
    return decoded


def _decode_body(codec: str, primitive: Mapping[str, Any], body: bytes) -> Message:
    if codec == json_codec.NAME:
        decoded = decode(body, codec)
    elif codec == flat.NAME:
        decoded = structured.to_wire(flat.deserialize(body))
    else:
        raise Unsupported(f"requests encoded as {codec!r} are not accepted; use httpsig@1.0, ans104@1.0, "
                          "json@1.0 or flat@1.0")
    if not isinstance(decoded, dict):
        raise DecodeError(f"{codec}: the body is not a message")
    merged: Message = {**primitive, **decoded}
    if "commitments" in merged:
        # As for httpsig: a signed request is what its signers committed, nothing beside it.
        merged = with_only_committed(merged)
    return merged


def _normalize(msg: Message, primitive: Mapping[str, Any], method: str, target: bytes, peer: str | None,
               opts: Mapping[str, Any]) -> dict[str, Any]:
    committed = _committed(msg)
    out: dict[str, Any] = dict(msg)
    for key in options.get(opts, "http_inbound_filter_keys") or []:
        if as_text(key, errors="replace") not in committed:
            out.pop(as_text(key, errors="replace"), None)
    out["method"] = method.encode("ascii")
    out["path"] = msg.get("path", target)
    out["accept-bundle"] = msg.get("accept-bundle", primitive.get("accept-bundle", False))
    out["accept"] = msg.get("accept", primitive.get("accept", b"*/*"))
    for key in ("require-codec", "accept-codec"):
        # Like `accept`, these say how to answer, not what to do: a header counts even when
        # the message (signed, or an ANS-104 item) does not carry it. The reference drops them.
        if key not in out and key in primitive:
            out[key] = primitive[key]
    if out.get("body") == b"" and "body" not in committed:
        del out["body"]
    port = out.get("ao-peer-port")
    if port is not None:
        ip = primitive.get("x-real-ip")
        host = as_text(ip, errors="replace") if ip is not None else (peer or "unknown")
        out["ao-peer"] = f"{host}:{as_text(port, errors='replace')}".encode()
        if "ao-peer-port" not in committed:
            del out["ao-peer-port"]
    return out


def to_singleton(
    method: str,
    target: bytes,
    headers: Iterable[tuple[bytes, bytes]],
    body: bytes,
    opts: Mapping[str, Any],
    *,
    peer: str | None = None,
) -> Inbound:
    """Decode an HTTP request into its singleton message.

    Args:
        method: the HTTP method, upper case.
        target: the request target as sent: the path, `?` and the query, still percent-encoded.
        headers: (name, value) pairs as the server received them.
        body: the whole body.
        opts: the node message (`default_codec`, `http_inbound_filter_keys`).
        peer: the client's IP address, for `ao-peer`.

    Raises:
        BadMessage: the target, a header or the body cannot be decoded (400).
        InvalidSignature: a signature that must hold does not (400).
        Unsupported: the request names a codec aonode does not accept (422).
        Nothing else escapes.
    """
    try:
        _, query = hyperpath.from_path(target)
    except BadMessage as exc:
        raise BadMessage(f"bad request target: {exc.message}") from exc
    primitive: dict[str, Any] = {**_headers(headers), **query}
    default = as_text(options.get(opts, "default_codec") or DEFAULT_CODEC, errors="replace")
    if "codec-device" in primitive:
        codec = as_text(primitive["codec-device"], errors="replace")
    elif "content-type" in primitive:
        codec = mime_to_codec(as_text(primitive["content-type"], errors="replace"), default)
    else:
        codec = default
    try:
        if codec == httpsig.NAME:
            msg = _decode_httpsig(primitive, body)
        elif codec == ans104.NAME:
            msg = _decode_ans104(body)
        else:
            msg = _decode_body(codec, primitive, body)
    except AOError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, UnicodeError) as exc:
        # A codec that lets a foreign error through is a bug; the client still gets a 400.
        raise DecodeError(f"{codec}: the request cannot be decoded ({type(exc).__name__})") from exc
    _count(msg, int(options.get(opts, "http_max_keys")))
    verified = _check(msg)
    singleton = _normalize(msg, primitive, method, target, peer, opts)
    return Inbound(singleton, verified, msg if "commitments" in msg else None)
