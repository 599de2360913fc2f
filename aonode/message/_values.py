"""Message values, keys and their rules (messages-codecs-ids.md §1).

A message is a `dict` from `str` keys to values. A value is one of:

    bytes                 an Erlang binary (a `str` given by a caller is UTF-8 encoded)
    int                   integer
    float                 float
    bool / None           the atoms `true`, `false`, `null`
    Atom                  any other atom (`Atom("undefined")`)
    list                  a list of values
    dict                  a nested message
    Link                  a reference to another message by ID (`key+link` on the wire)

A TABM (type-annotated binary message) holds only `bytes` and nested TABMs; the
`structured@1.0` codec converts between the two. Keys are case sensitive.
Keys that start with `priv` are private: no codec ever encodes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

__all__ = [
    "Atom",
    "ID_LENGTHS",
    "Link",
    "Message",
    "TABM",
    "Value",
    "is_id",
    "is_private",
    "normalize_key",
    "to_bytes",
]

# `?IS_ID`: raw 32-byte IDs, 42-byte `0x…` Ethereum addresses, 43-char base64url IDs.
ID_LENGTHS = frozenset({32, 42, 43})


@dataclass(frozen=True, slots=True)
class Atom:
    """An Erlang atom other than `true`, `false` and `null` (those are Python's bool and None)."""

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"Atom name must be str, got {type(self.name).__name__}")


@dataclass(frozen=True, slots=True)
class Link:
    """A reference to another message by its 43-character ID. `lazy` links are loaded on read."""

    id: str
    lazy: bool = False


Value = Union[bytes, str, int, float, bool, None, Atom, Link, list["Value"], dict[str, "Value"]]
Message = dict[str, Value]
TABM = dict[str, Union[bytes, "TABM"]]


def normalize_key(key: object) -> str:
    """Turn a key given as str, bytes, int, Atom or a list of path parts into its str form.

    Raises:
        TypeError: the key is of no type a key can have.
    """
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        return key.decode("utf-8", "surrogateescape")
    if isinstance(key, bool) or key is None:
        return "true" if key is True else "false" if key is False else "null"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, Atom):
        return key.name
    if isinstance(key, (list, tuple)):
        return "/".join(normalize_key(part) for part in key)
    raise TypeError(f"key must be str, bytes, int, Atom or a list of parts, got {type(key).__name__}")


def to_bytes(value: str | bytes) -> bytes:
    """The binary form of a key or text value (UTF-8; lone surrogates carry raw bytes)."""
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


def is_private(key: str) -> bool:
    """True for keys that are never encoded: every key starting with `priv`."""
    return key.startswith("priv")


def is_id(value: str | bytes) -> bool:
    """True for values shaped like IDs (32, 42 or 43 bytes long), as `?IS_ID` decides."""
    return len(to_bytes(value)) in ID_LENGTHS
