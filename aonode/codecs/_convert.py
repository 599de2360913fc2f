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

from typing import Any

from aonode.codecs import ans104, flat, httpsig, json, structured
from aonode.codecs._ids import _child_id, to_tabm
from aonode.errors import DecodeError, Unsupported
from aonode.message import Value

__all__ = ["CODECS", "decode", "encode"]

CODECS = (structured.NAME, httpsig.NAME, flat.NAME, json.NAME, ans104.NAME)


def encode(msg: Value, codec: str = httpsig.NAME, *, bundle: bool = False) -> Any:
    """Encode a rich message in `codec`'s wire form.

    Raises:
        Unsupported: the codec is unknown.
        EncodeError: the message holds a value the codec cannot express.
    """
    if codec == json.NAME:
        return json.dumps(msg, link=None if bundle else _child_id)
    if codec == ans104.NAME:
        inline = to_tabm(msg, bundle=True)
        if isinstance(inline, bytes):
            return inline
        return ans104.to_wire(inline)
    tabm = to_tabm(msg, bundle=bundle)
    if codec == structured.NAME:
        return tabm
    if codec == httpsig.NAME:
        return httpsig.to_wire(tabm)
    if codec == flat.NAME:
        return flat.to_wire(tabm)
    raise Unsupported(f"unknown codec {codec!r}; known: {', '.join(CODECS)}")


def decode(data: Any, codec: str = httpsig.NAME) -> Value:
    """Decode `codec`'s wire form into a rich message.

    Raises:
        Unsupported: the codec is unknown.
        DecodeError: the input is malformed for that codec.
    """
    if codec == json.NAME:
        return json.loads(data)
    if codec == structured.NAME:
        tabm = data
    elif codec == httpsig.NAME:
        tabm = httpsig.from_wire(data)
    elif codec == flat.NAME:
        tabm = flat.from_wire(data)
    elif codec == ans104.NAME:
        tabm = ans104.from_wire(data)
    else:
        raise Unsupported(f"unknown codec {codec!r}; known: {', '.join(CODECS)}")
    if not isinstance(tabm, (dict, bytes)):
        raise DecodeError(f"{codec}: decoded to a {type(tabm).__name__}, not a message")
    return structured.to_wire(tabm)
