"""`json@1.0`: messages as JSON objects (messages-codecs-ids.md §6.2).

Integers, floats, lists, `true`, `false` and `null` stay native JSON; only
other atoms are typed, in an `ao-types` string field. (The reference writes
the three JSON literals as typed strings too; both forms decode to the same
message, and clients such as aoconnect read a legacy result's `Output.print`
as a JSON boolean: docs/compat.md.) Binaries are JSON strings (so they must be UTF-8);
nested maps and lists become `key+link` IDs unless the message is bundled. A bundled message
has no links at all: given a `load` function, `dumps` writes each `Link` as the message it
names, inline (`dev_codec_json:to/3` loads every link in bundle mode, `hb_cache:ensure_all_loaded`).
Decoding turns JSON `true`/`false`/`null` into those atoms and applies any
`ao-types` and `+link` fields. Signatures over JSON messages are `httpsig@1.0`
commitments: they cover the httpsig base, never the JSON text.
"""

from __future__ import annotations

import json as _json
import math
from collections.abc import Callable, Mapping
from typing import Any, cast

from aonode.codecs import _depth, structured
from aonode.errors import BadMessage, DecodeError, EncodeError, shown
from aonode.message import Atom, Link, Message, Value, normalize_key
from aonode.text import as_text

__all__ = ["CONTENT_TYPE", "NAME", "Loader", "dumps", "loads"]

NAME = "json@1.0"
CONTENT_TYPE = "application/json"


def _utf8_text(value: bytes | str, where: str) -> str:
    """A JSON string's text: bytes must be UTF-8 (EncodeError otherwise)."""
    try:
        return as_text(value, errors="strict", where=where)
    except BadMessage as exc:
        raise EncodeError(f"{NAME}: value at '{shown(where)}' is not UTF-8, so it has no JSON form") from exc


Loader = Callable[[Link], Value]
"""Reads the message a link names (the caller's store). When it cannot, it raises, or returns
the link itself to have it written as a `key+link` ID."""


def _to_json(value: Value, link: Callable[[Value], str] | None, where: str, load: Loader | None = None) -> Any:
    if isinstance(value, Link) and load is not None:
        loaded = load(value)
        if isinstance(loaded, Link):
            raise EncodeError(f"{NAME}: the message linked at '{shown(where)}' is not available")
        return _to_json(loaded, link, where, load)
    if isinstance(value, (bytes, str)):
        return _utf8_text(value, where)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EncodeError(f"{NAME}: non-finite float at '{shown(where)}'")
        return value
    if isinstance(value, Atom):
        # Only map values carry ao-types; inside a list an atom is plain text, as in the reference.
        return value.name
    if isinstance(value, list):
        return [_to_json(v, link, f"{where}/{i}", load) for i, v in enumerate(value, 1)]
    if isinstance(value, Mapping):
        return _object(value, link, where, load)
    raise EncodeError(f"{NAME}: {type(value).__name__} at '{shown(where)}' has no JSON form")


def _object(msg: Mapping[Any, Value], link: Callable[[Value], str] | None, where: str,
            load: Loader | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    atoms: list[tuple[str, str]] = []
    for raw_key, value in msg.items():
        key = normalize_key(raw_key)
        if key.startswith("priv") or key in structured.REGEN_KEYS:
            continue
        if key == "commitments" and isinstance(value, Mapping):
            out[key] = _to_json(value, None, "commitments")
        elif isinstance(value, Link):
            loaded = load(value) if link is None and load is not None else value
            if isinstance(loaded, Link):
                out[key + "+link"] = loaded.id
            else:
                out[key] = _to_json(loaded, link, f"{where}/{key}", load)
        elif isinstance(value, (dict, list)) and link is not None:
            out[key + "+link"] = link(value)
        elif isinstance(value, bool) or value is None:
            out[key] = value
        elif isinstance(value, Atom):
            out[key] = structured.encode_scalar(value)[0].decode("utf-8")
            atoms.append((key, "atom"))
        else:
            out[key] = _to_json(value, link, f"{where}/{key}", load)
    if atoms:
        atoms.sort(key=lambda kt: kt[0].encode("utf-8", "surrogateescape"))
        out["ao-types"] = ", ".join(f'{structured.escape_key(k)}="{t}"' for k, t in atoms)
    return dict(sorted(out.items(), key=lambda kv: kv[0].encode("utf-8", "surrogateescape")))


def dumps(msg: Value, *, link: Callable[[Value], str] | None = None, load: Loader | None = None) -> bytes:
    """Encode a rich message as JSON; with `link`, nested maps and lists become `key+link` IDs.
    Without `link` (a bundle) and with `load`, every `Link` is written as the message it names.

    Raises:
        EncodeError: a binary is not UTF-8 or a float is not finite.
        AOError: whatever `load` raises (a link to a message the store does not have).
    """
    return _json.dumps(_to_json(msg, link, "", load if link is None else None), separators=(",", ":"),
                       ensure_ascii=False).encode("utf-8")


def _from_json(value: Any) -> Value:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if isinstance(value, dict):
        return _message(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise DecodeError(f"{NAME}: non-finite number")
    return cast(Value, value)  # int, float, True, False, None: the atoms true/false/null


def _message(obj: dict[str, Any]) -> Message:
    types_text = obj.get("ao-types")
    types = structured.parse_types(types_text) if isinstance(types_text, str) else {}
    out: Message = {}
    for key, value in obj.items():
        if key == "ao-types":
            continue
        if key == "commitments" and isinstance(value, dict):
            out[key] = _from_json(value)
        elif key.endswith("+link") and isinstance(value, str):
            out[key[:-5]] = Link(value)
        elif key in types and isinstance(value, str):
            out[key] = structured.decode_typed(value.encode("utf-8"), types[key])
        else:
            out[key] = _from_json(value)
    return out


def loads(data: bytes | str) -> Value:
    """Decode JSON text into a rich message.

    Raises:
        DecodeError: the text is not JSON, nests deeper than `_depth.MAX_DEPTH`, or a typed
            field does not decode.
    """
    try:
        parsed = _json.loads(data)
    except RecursionError as exc:
        raise _depth.too_deep(NAME) from exc
    except ValueError as exc:
        raise DecodeError(f"{NAME}: invalid JSON: {exc}") from exc
    _depth.check(parsed, NAME)
    return _from_json(parsed)
