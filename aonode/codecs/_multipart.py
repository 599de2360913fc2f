"""The multipart body of `httpsig@1.0` (messages-codecs-ids.md §3.1 steps 5-6, §3.2 step 3).

Encoding, in the reference's terms:

1. *Group* the body map: nested maps are flattened into parts named by
   `/`-joined paths. A level's small binaries (<= 4096 bytes) become the headers
   of its part; large binaries become parts of their own (`P/key`); an empty map
   becomes a part holding only `ao-types: empty-message`. A level with no small
   binary has no part of its own.
2. *Render* each part: its headers plus `content-disposition`, sorted by name,
   `name: value` joined by CRLF, then CRLF CRLF and the part body if it has one.
   The disposition is `inline` for the inline key, else `form-data;name="P"`.
   A part whose only key is `body` is written as `P/body`, a bare binary part.
3. The *boundary* is base64url(SHA-256(the rendered parts joined by CRLF)), so the
   same message always gives the same bytes.
4. The *body* is each part as `--B` CRLF part, joined by CRLF, then CRLF `--B--`.

Decoding splits on the boundary, reads each part's headers up to the first
CRLF CRLF, names it from `content-disposition`, and un-flattens the names.

A part with its own `signature`/`signature-input` headers (a nested message signed in the
spring-2025 form) keeps them as keys and also gets the commitments they describe; such a
level is encoded without those commitments, which its headers carry (`_spring2025`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Union

from aonode.codecs import _depth, _sf, _spring2025
from aonode.crypto import b64url_encode, sha256
from aonode.errors import DecodeError
from aonode.message import TABM, erlang_key_order

__all__ = ["MAX_HEADER_LENGTH", "decode", "encode", "unflatten"]

# The reference's ?MAX_HEADER_LENGTH: larger values travel in the body.
MAX_HEADER_LENGTH = 4096
CRLF = b"\r\n"
EMPTY_MESSAGE = b"empty-message"

Part = Union[bytes, dict[str, bytes]]
# A decoded part: its headers, and the commitments its own signature headers describe.
Parsed = Union[bytes, dict[str, "bytes | TABM"]]


def group(body_map: Mapping[str, bytes | TABM]) -> dict[str, Part]:
    """Flatten a body map into parts keyed by `/`-joined path (`group_maps`)."""
    grouped: dict[str, Part] = {}
    for key, value in body_map.items():
        if isinstance(value, bytes):
            grouped[key] = value
        else:
            _group_level(value, key, grouped)
    return grouped


def _group_level(level: TABM, path: str, grouped: dict[str, Part]) -> None:
    if not level:
        grouped[path] = {"ao-types": EMPTY_MESSAGE}
        return
    if _spring2025.carries_own_commitments(level):
        # Its own signature headers carry these commitments (the spring-2025 form): written
        # as parts too, they would change the bytes a signature over this body covers.
        level = {k: v for k, v in level.items() if k != "commitments"}
    headers: dict[str, bytes] = {}
    for key, value in level.items():
        child = f"{path}/{key}"
        if isinstance(value, dict):
            _group_level(value, child, grouped)
        elif len(value) > MAX_HEADER_LENGTH or _breaks_header_line(value):
            grouped[child] = value
        else:
            headers[key] = value
    if headers.get("body") == b"" and len(headers) > 1:
        # An empty part body cannot be written beside headers: give it a part of its own.
        grouped[f"{path}/body"] = headers.pop("body")
    if headers:
        grouped[path] = headers


def _breaks_header_line(value: bytes) -> bool:
    """A part header holding CR or LF would end early; the reference writes it anyway
    and produces a body it cannot read back. aonode moves such values into parts."""
    return b"\r" in value or b"\n" in value


def _render(name: str, value: Part, inline_key: str) -> bytes:
    disposition = b"inline" if name == inline_key else b'form-data;name="' + name.encode() + b'"'
    if isinstance(value, bytes):
        return b"content-disposition: " + disposition + CRLF + CRLF + value
    fields = dict(value)
    body = fields.pop("body", b"")
    fields["content-disposition"] = disposition
    head = CRLF.join(k.encode("utf-8", "surrogateescape") + b": " + fields[k] for k in erlang_key_order(fields))
    return head + CRLF + CRLF + body if body else head


def encode(body_map: Mapping[str, bytes | TABM], inline_key: str) -> tuple[bytes, bytes, list[str]] | None:
    """Encode a body map. Returns (body, content-type, part names), or None when it needs no multipart.

    When the grouped map is empty there is no body; when it is exactly the inline
    key holding a binary, the caller sends that binary as the whole body.
    """
    grouped = group(body_map)
    if not grouped:
        return None
    if len(grouped) == 1 and isinstance(grouped.get(inline_key), bytes):
        return None
    parts: list[bytes] = []
    names = sorted(grouped, key=lambda k: k.encode("utf-8", "surrogateescape"))
    for name in names:
        value = grouped[name]
        if isinstance(value, dict) and list(value) == ["body"]:
            parts.append(_render(f"{name}/body", value["body"], inline_key))
        else:
            parts.append(_render(name, value, inline_key))
    boundary = b64url_encode(sha256(CRLF.join(parts))).encode("ascii")
    body = CRLF.join(b"--" + boundary + CRLF + part for part in parts) + CRLF + b"--" + boundary + b"--"
    return body, b'multipart/form-data; boundary="' + boundary + b'"', names


def boundary_of(content_type: bytes) -> bytes | None:
    """The `boundary` parameter of a content-type, or None if it has none.

    Raises:
        DecodeError: the content-type is not a structured-field item.
    """
    item = _sf.parse_item(content_type, "content-type")
    boundary = item.params.get("boundary")
    if boundary is None:
        return None
    if not isinstance(boundary, str) or not boundary:
        raise DecodeError("httpsig@1.0: multipart boundary must be a non-empty string")
    return boundary.encode("utf-8", "surrogateescape")


def decode(body: bytes, boundary: bytes, inline_key: str) -> tuple[TABM, list[str]]:
    """Parse a multipart body into a nested TABM and the ordered first segments of its part names.

    Raises:
        DecodeError: the delimiters are missing, or a part lacks a usable content-disposition.
    """
    opener = b"--" + boundary + CRLF
    closer = CRLF + b"--" + boundary + b"--"
    start = body.find(opener)
    end = body.rfind(closer)
    if start < 0 or end < start + len(opener) - len(CRLF):
        raise DecodeError("httpsig@1.0: multipart body is truncated or its boundary does not match")
    inner = body[start + len(opener) : max(end, start + len(opener))]
    flat: dict[str, Parsed] = {}
    body_keys: list[str] = []
    for raw in inner.split(CRLF + b"--" + boundary + CRLF):
        name, value = _parse_part(raw, inline_key)
        flat[name] = value
        body_keys.append(name.split("/", 1)[0])
    return unflatten(flat), body_keys


def _parse_part(raw: bytes, inline_key: str) -> tuple[str, Parsed]:
    head, sep, part_body = raw.partition(CRLF + CRLF)
    headers: dict[str, bytes] = {}
    for line in head.split(CRLF):
        field, colon, field_value = line.partition(b": ")
        if colon:
            headers[field.decode("utf-8", "surrogateescape")] = field_value
    disposition = headers.pop("content-disposition", None)
    if disposition is None:
        raise DecodeError("httpsig@1.0: a multipart part has no content-disposition")
    item = _sf.parse_item(disposition, "content-disposition")
    if item.value == "inline":
        name = inline_key
    else:
        param = item.params.get("name")
        if not isinstance(param, str) or not param:
            raise DecodeError("httpsig@1.0: a multipart part's content-disposition has no name")
        name = param
    if headers == {"ao-types": EMPTY_MESSAGE} and not part_body:
        return name, {}
    if not headers:
        return name, part_body
    if part_body:
        headers["body"] = part_body
    out: dict[str, bytes | TABM] = dict(headers)
    commitments = _spring2025.commitments_of(headers)
    if commitments:
        # A part signed in the spring-2025 form keeps its `signature` keys (as main reads
        # them, so the body re-encodes alike) and gains the commitments they describe.
        out["commitments"] = commitments
    return name, out


def unflatten(flat: Mapping[str, Part | TABM]) -> TABM:
    """Build the nested TABM from `/`-joined paths, deep-merging maps (`flat@1.0` from).

    Raises:
        DecodeError: a path has an empty segment, or more than `_depth.MAX_DEPTH` segments.
    """
    out: TABM = {}
    for path, value in flat.items():
        segments = path.split("/")
        if any(s == "" for s in segments):
            raise DecodeError(f"flat@1.0: path '{path}' has an empty segment")
        if len(segments) > _depth.MAX_DEPTH:
            raise _depth.too_deep("flat@1.0")
        node = out
        for segment in segments[:-1]:
            child = node.get(segment)
            if not isinstance(child, dict):
                child = {}
                node[segment] = child
            node = child
        last = segments[-1]
        existing = node.get(last)
        if isinstance(value, dict) and isinstance(existing, dict):
            _deep_merge(existing, value)
        else:
            node[last] = dict(value) if isinstance(value, dict) else value
    return out


def _deep_merge(into: TABM, other: Mapping[str, bytes | TABM]) -> None:
    for key, value in other.items():
        existing = into.get(key)
        if isinstance(value, dict) and isinstance(existing, dict):
            _deep_merge(existing, value)
        else:
            into[key] = dict(value) if isinstance(value, dict) else value
