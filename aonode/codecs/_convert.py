"""Converting rich messages to and from each codec's wire form (`hb_message:convert`).

    codec            wire form
    structured@1.0   a TABM (dict of bytes and nested dicts)
    httpsig@1.0      dict of header -> bytes, the HTTP body under `body`
    flat@1.0         dict of `/`-joined path -> bytes
    json@1.0         JSON text as bytes
    ans104@1.0       an ANS-104 data item as bytes (children always inline)

`encode` turns nested maps into `key+link` IDs unless `bundle=True`, as a node's
replies do without `accept-bundle`. Private keys are never encoded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aonode.codecs import ans104, flat, httpsig, json, structured
from aonode.codecs._ids import _child_id, to_tabm
from aonode.errors import DecodeError, Unsupported
from aonode.message import TABM, Value

__all__ = ["CODECS", "CODEC_TABLE", "Codec", "decode", "encode"]


@dataclass(frozen=True)
class Codec:
    """One codec's pair of conversions between rich messages and its wire form.

    `encode(msg, bundle)` raises `EncodeError` for a value the codec cannot express;
    `decode(data)` raises `DecodeError` for malformed input.
    """

    name: str
    encode: Callable[[Value, bool], Any]
    decode: Callable[[Any], Value]


def _rich(codec: str, tabm: Any) -> Value:
    if not isinstance(tabm, (dict, bytes)):
        raise DecodeError(f"{codec}: decoded to a {type(tabm).__name__}, not a message")
    return structured.to_wire(tabm)


def _through_tabm(name: str, to_wire: Callable[[Any], Any], from_wire: Callable[[Any], TABM | bytes]) -> Codec:
    """A codec over TABMs: nested maps as `key+link` IDs unless `bundle`."""
    return Codec(name, lambda msg, bundle: to_wire(to_tabm(msg, bundle=bundle)),
                 lambda data: _rich(name, from_wire(data)))


def _ans104_encode(msg: Value, bundle: bool) -> Any:
    inline = to_tabm(msg, bundle=True)  # a data item carries its children inline, always
    return inline if isinstance(inline, bytes) else ans104.to_wire(inline)


# The one dispatch table: every conversion by codec name goes through it.
CODEC_TABLE: Mapping[str, Codec] = {
    structured.NAME: _through_tabm(structured.NAME, lambda tabm: tabm, lambda data: data),
    httpsig.NAME: _through_tabm(httpsig.NAME, httpsig.to_wire, httpsig.from_wire),
    flat.NAME: _through_tabm(flat.NAME, flat.to_wire, flat.from_wire),
    json.NAME: Codec(json.NAME, lambda msg, bundle: json.dumps(msg, link=None if bundle else _child_id), json.loads),
    ans104.NAME: Codec(ans104.NAME, _ans104_encode, lambda data: _rich(ans104.NAME, ans104.from_wire(data))),
}
CODECS = tuple(CODEC_TABLE)


def _codec(name: str) -> Codec:
    found = CODEC_TABLE.get(name)
    if found is None:
        raise Unsupported(f"unknown codec {name!r}; known: {', '.join(CODECS)}")
    return found


def encode(msg: Value, codec: str = httpsig.NAME, *, bundle: bool = False) -> Any:
    """Encode a rich message in `codec`'s wire form.

    Raises:
        Unsupported: the codec is unknown.
        EncodeError: the message holds a value the codec cannot express.
    """
    return _codec(codec).encode(msg, bundle)


def decode(data: Any, codec: str = httpsig.NAME) -> Value:
    """Decode `codec`'s wire form into a rich message.

    Raises:
        Unsupported: the codec is unknown.
        DecodeError: the input is malformed for that codec.
    """
    return _codec(codec).decode(data)
