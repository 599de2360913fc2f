"""Bytes to text, with the error policy stated at every call site.

Message values arrive as bytes (a TABM holds nothing else) or as Python values, and code
that needs a `str` picks one of three policies for bytes that are not UTF-8. The `errors`
keyword has no default, so each caller says which it means:

    "strict"           the bytes must be UTF-8 text; otherwise `BadMessage` (400) naming
                       `where`. For input a client sends that has no meaning unless it is text.
    "surrogateescape"  lossless: undecodable bytes become lone surrogates, and
                       `aonode.message.to_bytes` gives back the same bytes. For keys, IDs,
                       paths and anything written out again or compared with another value.
    "replace"          lossy: undecodable bytes become U+FFFD. Only for text shown to people
                       (error bodies, pages, logs) or compared with an ASCII constant.

How a value that is not bytes becomes text is a second, separate choice: `as_text` uses
`str(value)` (with keywords for `None`, atoms and booleans), `key_text` uses the key form
(`aonode.message.normalize_key`: atoms by name, booleans as `true`/`false`, None as
`null`). This module sits in the values layer: it imports only `aonode.errors` and the
value types.
"""

from __future__ import annotations

from typing import Literal

from aonode.errors import BadMessage, shown
from aonode.message._values import Atom, normalize_key

__all__ = ["Errors", "as_text", "decode", "key_text"]

Errors = Literal["strict", "replace", "surrogateescape"]
_POLICIES = ("strict", "replace", "surrogateescape")


def decode(raw: bytes | bytearray, *, errors: Errors, where: str = "value") -> str:
    """`raw` decoded as UTF-8 under the `errors` policy (see the module docstring).

    Args:
        raw: the bytes.
        errors: `"strict"`, `"replace"` or `"surrogateescape"`.
        where: what the bytes are, for the strict policy's error text (`"the header 'x'"`).

    Returns:
        The text.

    Raises:
        BadMessage: with `errors="strict"`, when `raw` is not UTF-8; the text names `where`
            and the offset of the first bad byte.
        ValueError: `errors` is not one of the three policies (a programming error).
    """
    if errors not in _POLICIES:
        raise ValueError(f"errors must be one of {', '.join(_POLICIES)}, got {errors!r}")
    if errors != "strict":
        return bytes(raw).decode("utf-8", errors)
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = shown(raw[exc.start:exc.start + 1])
        raise BadMessage(f"{where} is not UTF-8 text (byte {exc.start}: {bad})") from exc


def as_text(
    value: object,
    *,
    errors: Errors,
    where: str = "value",
    none: str | None = None,
    atoms: bool = False,
    bools: bool = False,
) -> str:
    """`value` as text: bytes through `decode`, a str as it is, anything else `str(value)`.

    Args:
        value: any value.
        errors: the policy for bytes that are not UTF-8 (see `decode`).
        where: what the value is, for the strict policy's error text.
        none: when given, what `None` becomes (`""` at most call sites that take absent
            values); when not, `None` becomes `"None"` like any other `str(value)`.
        atoms: when true, an `Atom` becomes its name (not the dataclass's repr).
        bools: when true, `True` and `False` become `true` and `false` (AO-Core's spelling).

    Returns:
        The text.

    Raises:
        BadMessage: with `errors="strict"`, when `value` is bytes that are not UTF-8.
    """
    if isinstance(value, bytes):
        return decode(value, errors=errors, where=where)
    if isinstance(value, str):
        return value
    if value is None and none is not None:
        return none
    if atoms and isinstance(value, Atom):
        return value.name
    if bools and isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def key_text(value: object, *, errors: Errors, where: str = "value", floats: bool = False) -> str:
    """`value` in its key form: bytes through `decode`, anything else `normalize_key(value)`
    (a str as it is, an int in decimal, an atom by name, booleans `true`/`false`, None `null`,
    a list of parts joined with `/`).

    Args:
        value: a key-like value.
        errors: the policy for bytes that are not UTF-8 (see `decode`).
        where: what the value is, for the strict policy's error text.
        floats: when true, a float becomes `str(value)` (`"1.5"`, `"inf"`), for settings read
            as numbers (a route's weight or priority, a timeout); when not, a float is refused
            like any other value a key cannot be. Floats inside a list are refused either way.

    Returns:
        The text.

    Raises:
        BadMessage: with `errors="strict"`, when `value` is bytes that are not UTF-8.
        TypeError: `value` is of no type a key can have (a float without `floats`, a map).
    """
    if isinstance(value, bytes):
        return decode(value, errors=errors, where=where)
    if floats and isinstance(value, float):
        return str(value)
    return normalize_key(value)
