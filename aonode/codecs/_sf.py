"""The structured-field dialect AO uses (messages-codecs-ids.md §3.7; RFC 9651 loosened).

HyperBEAM's parser accepts more than RFC 9651, and its own output relies on it:

* dictionary keys may hold upper-case letters and may start with a digit, `%`,
  `_`, `-`, `.` or `*` (`ao-ids` keys are mixed-case IDs; list `ao-types` start
  with `.="list", 1="integer"`);
* integers have at most 15 digits, decimals at most 3 fraction digits;
* strings escape only `\\` and `"`; byte sequences are standard base64;
* members are written joined by `", "`; a boolean-true value is the bare key.

Standard libraries (`http-sf`) reject these headers, hence this small parser.
Parsed values: `str` for strings, `Token` for tokens, `bytes` for byte
sequences, `int`, `float`, `bool`; an inner list is a `list` of `Item`s. Every
member is an `Item`: a value with its parameters.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Union

from aonode._memo import Memo
from aonode.errors import DecodeError, shown
from aonode.text import as_text

__all__ = [
    "Item",
    "Token",
    "parse_dictionary",
    "parse_item",
    "parse_list",
    "serialize_dictionary",
    "serialize_item",
    "serialize_params",
    "serialize_string",
]


class Token(str):
    """An SF token: written bare, parsed apart from strings."""

    __slots__ = ()


Bare = Union[str, Token, bytes, int, float, bool]


@dataclass(frozen=True)
class Item:
    """A value (bare item or inner list) with its parameters, in order."""

    value: Bare | list[Item]
    params: dict[str, Bare] = field(default_factory=dict)


_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.*%/?&+")
_TOKEN_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ*")
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~:/") | _TOKEN_START | frozenset("0123456789")
_MAX_INT_DIGITS = 15
_DIGITS = frozenset("0123456789")


class _Parser:
    def __init__(self, text: str, what: str) -> None:
        self.s = text
        self.i = 0
        self.what = what

    def fail(self, reason: str) -> DecodeError:
        return DecodeError(f"structured field ({self.what}): {reason} at offset {self.i} in '{shown(self.s[:80])}'")

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def skip_ows(self) -> None:
        while self.peek() in (" ", "\t") and self.peek():
            self.i += 1

    def skip_sp(self) -> None:
        while self.peek() == " ":
            self.i += 1

    def key(self) -> str:
        start = self.i
        while self.peek() and self.peek() in _KEY_CHARS:
            self.i += 1
        if self.i == start:
            raise self.fail("expected a key")
        return self.s[start : self.i]

    def bare(self) -> Bare:
        c = self.peek()
        if c == '"':
            return self.string()
        if c == ":":
            return self.byte_sequence()
        if c == "?":
            self.i += 1
            flag = self.peek()
            if flag not in ("0", "1"):
                raise self.fail("expected ?0 or ?1")
            self.i += 1
            return flag == "1"
        if c == "-" or (c and c in _DIGITS):
            return self.number()
        if c and c in _TOKEN_START:
            start = self.i
            while self.peek() and self.peek() in _TOKEN_CHARS:
                self.i += 1
            return Token(self.s[start : self.i])
        raise self.fail("expected a value")

    def string(self) -> str:
        self.i += 1
        out: list[str] = []
        while True:
            c = self.peek()
            if not c:
                raise self.fail("unterminated string")
            self.i += 1
            if c == "\\":
                nxt = self.peek()
                if nxt not in ('"', "\\"):
                    raise self.fail("bad escape in string")
                out.append(nxt)
                self.i += 1
            elif c == '"':
                return "".join(out)
            else:
                out.append(c)

    def byte_sequence(self) -> bytes:
        self.i += 1
        end = self.s.find(":", self.i)
        if end < 0:
            raise self.fail("unterminated byte sequence")
        text = self.s[self.i : end]
        self.i = end + 1
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise self.fail("invalid base64 in byte sequence") from exc

    def number(self) -> int | float:
        start = self.i
        if self.peek() == "-":
            self.i += 1
        while self.peek() and self.peek() in _DIGITS | {"."}:
            self.i += 1
        text = self.s[start : self.i]
        digits = text.lstrip("-")
        if not digits or digits[0] not in _DIGITS:
            raise self.fail("expected digits")
        if "." in digits:
            whole, _, frac = digits.partition(".")
            if "." in frac or not frac or len(frac) > 3 or len(whole) > 12:
                raise self.fail("decimal out of range")
            return float(text)
        if len(digits) > _MAX_INT_DIGITS:
            raise self.fail(f"integer longer than {_MAX_INT_DIGITS} digits")
        return int(text)

    def params(self) -> dict[str, Bare]:
        params: dict[str, Bare] = {}
        while self.peek() == ";":
            self.i += 1
            self.skip_sp()
            name = self.key()
            value: Bare = True
            if self.peek() == "=":
                self.i += 1
                value = self.bare()
            params[name] = value
        return params

    def item_or_inner_list(self) -> Item:
        if self.peek() == "(":
            self.i += 1
            items: list[Item] = []
            while True:
                self.skip_sp()
                if self.peek() == ")":
                    self.i += 1
                    break
                if not self.peek():
                    raise self.fail("unterminated inner list")
                value = self.bare()
                items.append(Item(value, self.params()))
                if self.peek() not in (" ", ")"):
                    raise self.fail("expected space or ) in inner list")
            return Item(items, self.params())
        value = self.bare()
        return Item(value, self.params())


def parse_dictionary(text: str | bytes, what: str = "dictionary") -> dict[str, Item]:
    """Parse an SF dictionary in the AO dialect. Later duplicates win, as in RFC 9651.

    The caller gets a dictionary of its own; its items are shared and must not be changed.

    Raises:
        DecodeError: the text is not a dictionary; the message names `what`.
    """
    if len(text) > _PARSED_LIMIT:
        return _parse_dictionary(text, what)
    key = (text, what)
    found = _PARSED.get(key)
    if found is None:
        found = _parse_dictionary(text, what)
        _PARSED.put(key, found)
    return dict(found)


# Parsed dictionaries by their text: a signed request's `signature-input` is read to decode it,
# to verify it and to store it, and `ao-types` and `ao-ids` headers repeat across messages.
_PARSED: Memo[tuple[str | bytes, str], dict[str, Item]] = Memo(2048)
_PARSED_LIMIT = 16 * 1024


def _parse_dictionary(text: str | bytes, what: str) -> dict[str, Item]:
    # Values inside strings may hold any byte (`ao-ids` carries raw binaries): surrogateescape
    # keeps them, here and in the list and item parsers below.
    p = _Parser(as_text(text, errors="surrogateescape"), what)
    out: dict[str, Item] = {}
    p.skip_sp()
    if not p.peek():
        return out
    while True:
        name = p.key()
        if p.peek() == "=":
            p.i += 1
            out[name] = p.item_or_inner_list()
        else:
            out[name] = Item(True, p.params())
        p.skip_ows()
        if not p.peek():
            return out
        if p.peek() != ",":
            raise p.fail("expected , between members")
        p.i += 1
        p.skip_ows()
        if not p.peek():
            raise p.fail("trailing comma")


def parse_list(text: str | bytes, what: str = "list") -> list[Item]:
    """Parse an SF list (the legacy `list` ao-type, §2.3).

    Raises:
        DecodeError: the text is not a list.
    """
    p = _Parser(as_text(text, errors="surrogateescape"), what)
    out: list[Item] = []
    p.skip_sp()
    while p.peek():
        out.append(p.item_or_inner_list())
        p.skip_ows()
        if not p.peek():
            break
        if p.peek() != ",":
            raise p.fail("expected , between list members")
        p.i += 1
        p.skip_ows()
        if not p.peek():
            raise p.fail("trailing comma")
    return out


def parse_item(text: str | bytes, what: str = "item") -> Item:
    """Parse one SF item with its parameters (`content-type`, `content-disposition`).

    Raises:
        DecodeError: the text is not an item.
    """
    p = _Parser(as_text(text, errors="surrogateescape"), what)
    p.skip_sp()
    item = p.item_or_inner_list()
    p.skip_sp()
    if p.peek():
        raise p.fail("unexpected text after item")
    return item


def serialize_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _bare(value: Bare) -> str:
    if isinstance(value, Token):
        return str(value)
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, str):
        return serialize_string(value)
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.1f}"


def serialize_params(params: dict[str, Bare]) -> str:
    """Write the parameters of an item (`;key=value`, `;key` for true), in the given order."""
    return "".join(f";{k}" if v is True else f";{k}={_bare(v)}" for k, v in params.items())


_params = serialize_params


def serialize_item(item: Item) -> str:
    """Write an item or inner list with its parameters."""
    if isinstance(item.value, list):
        inner = " ".join(_bare(i.value) + _params(i.params) for i in item.value)  # type: ignore[arg-type]
        return f"({inner}){_params(item.params)}"
    return _bare(item.value) + _params(item.params)


def serialize_dictionary(members: dict[str, Item]) -> str:
    """Write a dictionary in the given member order, members joined by `", "`."""
    return ", ".join(
        name + _params(m.params) if m.value is True else f"{name}={serialize_item(m)}"
        for name, m in members.items()
    )
