"""`structured@1.0`: rich messages <-> TABMs (messages-codecs-ids.md §1.4-1.5, §2).

`from_wire` takes a rich message (ints, floats, atoms, lists, nested maps) and
returns a TABM whose values are only binaries and nested TABMs. The type of
each non-binary scalar at a level is recorded in that level's `ao-types` key,
an SF dictionary `escaped-key="type"` in bytewise key order. Lists become
numbered sub-messages marked `.="list"`. With a `link` function, nested maps
and lists are replaced by `key+link: <child ID>` (the `offload` and `discard`
modes of §1.5); without one they stay inline (bundle mode).

`to_wire` is the inverse: it applies `ao-types`, turns `key+link` into `Link`s
and numbered maps marked as lists back into lists.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, cast

from aonode.codecs import _sf
from aonode.errors import DecodeError, EncodeError, shown
from aonode.message import TABM, Atom, Link, Message, Value, is_private, normalize_key, to_bytes

__all__ = [
    "binary_tree", "decode_typed", "encode_scalar", "escape_key", "from_wire", "parse_types", "to_wire", "unescape_key",
]

NAME = "structured@1.0"

LinkFn = Callable[[Any], str]
"""Given a nested map or list, return the ID that replaces it (`key+link`)."""

# §1.3: keys that conversion regenerates, so a caller's copy is dropped.
REGEN_KEYS = frozenset({"unsigned_id", "content-digest"})
LINK_SUFFIX = "+link"

# hb_escape: these bytes stay as they are in an ao-types key; all others are %xx.
_KEEP = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789.-_/?&")


def escape_key(key: str) -> str:
    """Escape a key for an `ao-types` member: upper case, space and other bytes become `%xx`."""
    return "".join(chr(b) if b in _KEEP else f"%{b:02x}" for b in to_bytes(key))


def unescape_key(text: str) -> str:
    """Undo `escape_key`; upper- or lower-case hex is accepted.

    Raises:
        DecodeError: a `%` is not followed by two hex digits.
    """
    if "%" not in text:
        return text
    out = bytearray()
    i = 0
    raw = text.encode("utf-8", "surrogateescape")
    while i < len(raw):
        if raw[i] == 0x25:
            try:
                out.append(int(raw[i + 1 : i + 3].decode("ascii"), 16))
            except (ValueError, UnicodeDecodeError) as exc:
                raise DecodeError(f"{NAME}: bad escape in ao-types key '{shown(text)}'") from exc
            if i + 3 > len(raw):
                raise DecodeError(f"{NAME}: bad escape in ao-types key '{shown(text)}'")
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "surrogateescape")


def encode_scalar(value: int | float | bool | Atom | None) -> tuple[bytes, str]:
    """The TABM text and ao-type of an integer, float or atom.

    Raises:
        EncodeError: the float is not finite.
    """
    if value is None or isinstance(value, bool):
        return (b"null" if value is None else b"true" if value else b"false"), "atom"
    if isinstance(value, Atom):
        return value.name.encode("utf-8"), "atom"
    if isinstance(value, int):
        return str(value).encode("ascii"), "integer"
    if not math.isfinite(value):
        raise EncodeError(f"{NAME}: cannot encode non-finite float '{shown(value)}'")
    # Erlang writes floats as C's printf("%.20e").
    return f"{value:.20e}".encode("ascii"), "float"


def _types_header(types: list[tuple[str, str]]) -> bytes:
    types.sort(key=lambda kt: to_bytes(kt[0]))
    return ", ".join(f"{escape_key(k)}={_sf.serialize_string(t)}" for k, t in types).encode("utf-8")


def from_wire(msg: Value, *, link: LinkFn | None = None) -> TABM | bytes:
    """Convert a rich message (or list, or binary) to a TABM.

    Args:
        msg: the rich message; a `bytes` message is returned unchanged.
        link: if given, nested maps and lists become `key+link: link(child)`.

    Raises:
        EncodeError: a value cannot be represented (a non-finite float, an unknown type).
    """
    if isinstance(msg, (bytes, str)):
        return to_bytes(msg)
    if isinstance(msg, list):
        numbered: dict[str, Value] = {str(i): v for i, v in enumerate(msg, 1)}
        return _from_map(numbered, link, is_list=True)
    if isinstance(msg, Mapping):
        return _from_map(msg, link, is_list=False)
    raise EncodeError(f"{NAME}: a message must be a map, list or binary, got {type(msg).__name__}")


def _from_map(msg: Mapping[Any, Value], link: LinkFn | None, is_list: bool) -> TABM:
    out: TABM = {}
    types: list[tuple[str, str]] = [(".", "list")] if is_list else []
    commitments = None
    for raw_key, value in msg.items():
        key = normalize_key(raw_key)
        if key == "commitments":
            commitments = value
            continue
        if key in REGEN_KEYS or is_private(key):
            continue
        if isinstance(value, (bytes, str)):
            out[key] = to_bytes(value)
        elif isinstance(value, Link):
            out[key + LINK_SUFFIX] = value.id.encode("ascii")
        elif isinstance(value, (dict, list)):
            if link is not None:
                out[key + LINK_SUFFIX] = link(value).encode("ascii")
            else:
                child = from_wire(value, link=None)
                assert isinstance(child, dict)
                out[key] = child
        elif value is None or isinstance(value, (bool, int, float, Atom)):
            out[key], type_name = encode_scalar(value)
            types.append((key, type_name))
        else:
            raise EncodeError(f"{NAME}: key '{shown(key)}' holds a {type(value).__name__}, which has no encoding")
    if types:
        out["ao-types"] = _types_header(types)
    if isinstance(commitments, Mapping) and commitments:
        out["commitments"] = binary_tree(commitments)
    return dict(sorted(out.items(), key=lambda kv: to_bytes(kv[0])))


def binary_tree(value: Mapping[Any, Any]) -> TABM:
    """Copy commitments through as a tree of binaries (their values are already binaries)."""
    out: TABM = {}
    for k, v in value.items():
        key = normalize_key(k)
        if isinstance(v, Mapping):
            out[key] = binary_tree(v)
        elif isinstance(v, list):
            out[key] = binary_tree({str(i): item for i, item in enumerate(v, 1)})
        elif isinstance(v, (bytes, str)):
            out[key] = to_bytes(v)
        else:
            out[key] = encode_scalar(v)[0]
    return out


def parse_types(header: bytes | str) -> dict[str, str]:
    """Parse an `ao-types` value into {unescaped key: type name}.

    Raises:
        DecodeError: the header is not a dictionary of strings or tokens.
    """
    members = _sf.parse_dictionary(header, "ao-types")
    out: dict[str, str] = {}
    for name, item in members.items():
        if not isinstance(item.value, str) or isinstance(item.value, bool):
            raise DecodeError(f"{NAME}: ao-types member '{shown(name)}' is not a type name")
        out[unescape_key(name)] = str(item.value)
    return out


def _decode_atom(text: bytes) -> bool | None | Atom:
    name = text.decode("utf-8", "surrogateescape")
    if name.startswith('"') and name.endswith('"') and len(name) >= 2:
        name = name[1:-1]
    return {"true": True, "false": False, "null": None}.get(name, Atom(name))


def _decode_integer(text: bytes) -> int:
    s = text.decode("ascii", "replace").strip()
    body = s[1:] if s.startswith("-") else s
    if not body.isdigit() or not body.isascii():
        raise DecodeError(f"{NAME}: '{shown(s[:40])}' is not an integer")
    return int(s)


def _decode_float(text: bytes) -> float:
    try:
        value = float(text.decode("ascii"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"{NAME}: '{shown(text[:40])}' is not a float") from exc
    if not math.isfinite(value):
        raise DecodeError(f"{NAME}: '{shown(text[:40])}' is not a finite float")
    return value


def _decode_legacy_list(text: bytes) -> list[Value]:
    out: list[Value] = []
    for item in _sf.parse_list(text, "legacy list"):
        if not isinstance(item.value, str):
            raise DecodeError(f"{NAME}: legacy list items must be strings")
        s = str(item.value)
        if s.startswith("(ao-type-") and ") " in s:
            type_name, _, encoded = s[len("(ao-type-") :].partition(") ")
            out.append(decode_typed(encoded.encode("utf-8"), type_name))
        else:
            out.append(s.encode("utf-8"))
    return out


_DECODERS: dict[str, Callable[[bytes], Value]] = {
    "integer": _decode_integer,
    "float": _decode_float,
    "atom": _decode_atom,
    "list": _decode_legacy_list,
    # Older clients (aoconnect's hb-encode) mark empty values by type.
    "empty-binary": lambda _: b"",
    "empty-list": lambda _: [],
    "empty-message": lambda _: {},
}


def decode_typed(text: bytes, type_name: str) -> Value:
    """Decode one TABM binary by its ao-type name.

    Raises:
        DecodeError: the type is unknown or the text is not of that type.
    """
    decoder = _DECODERS.get(type_name)
    if decoder is None:
        raise DecodeError(f"{NAME}: unknown ao-types type '{shown(type_name)}'")
    return decoder(text)


def to_wire(tabm: TABM | bytes) -> Message | list[Value] | bytes:
    """Convert a TABM back to a rich message (a list where `ao-types` says `.="list"`).

    Raises:
        DecodeError: `ao-types` is malformed, names an unknown type, or a typed value is invalid.
    """
    if isinstance(tabm, bytes):
        return tabm
    if not isinstance(tabm, dict):
        raise DecodeError(f"{NAME}: a TABM must be a map or binary, got {type(tabm).__name__}")
    raw_types = tabm.get("ao-types")
    types = parse_types(raw_types) if isinstance(raw_types, (bytes, str)) else {}
    out: Message = {}
    for key, value in tabm.items():
        if key == "ao-types":
            continue
        if key == "commitments" and isinstance(value, dict):
            out[key] = cast(Value, value)
            continue
        if key.endswith(LINK_SUFFIX) and isinstance(value, bytes):
            out[key[: -len(LINK_SUFFIX)]] = Link(value.decode("ascii", "replace"))
        elif isinstance(value, dict):
            out[key] = to_wire(value)
        elif isinstance(value, (bytes, str)):
            type_name = types.get(key)
            out[key] = to_bytes(value) if type_name is None else decode_typed(to_bytes(value), type_name)
        else:
            raise DecodeError(f"{NAME}: key '{shown(key)}' holds a {type(value).__name__}, not a binary or map")
    for key, type_name in types.items():
        if key not in out and key != "." and type_name in ("empty-binary", "empty-list", "empty-message"):
            out[key] = decode_typed(b"", type_name)
    if types.get(".") == "list":
        return _as_list(out)
    return out


def _as_list(numbered: Message) -> list[Value]:
    items = {k: v for k, v in numbered.items() if k != "commitments"}
    try:
        order = sorted(int(k) for k in items)
    except ValueError as exc:
        raise DecodeError(f"{NAME}: a list has a non-numeric key") from exc
    if order != list(range(1, len(order) + 1)) or any(k != str(int(k)) for k in items):
        raise DecodeError(f"{NAME}: list keys must run 1..n without gaps")
    return [items[str(i)] for i in order]
