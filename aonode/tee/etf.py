"""The subset of Erlang's External Term Format that green zones exchange (node-services.md §7).

HyperBEAM puts `term_to_binary` output on the wire in two places: a joiner's `public_key`
(`{{rsa, 65537}, N}`) and the plaintext of `key` (`{{rsa, 65537}, D, N}`, the wallet). This
module reads and writes the terms those use, and a little more, as `term_to_binary` (OTP 26+)
writes them:

    Erlang                 Python              tags written (also read)
    atom                   Atom, True/False    119 SMALL_ATOM_UTF8, 118 ATOM_UTF8 (100, 115)
    integer                int                 97 SMALL_INTEGER, 98 INTEGER, 110/111 BIG
    binary                 bytes               109 BINARY
    tuple                  tuple               104 SMALL_TUPLE, 105 LARGE_TUPLE
    list / [] / "string"   list                108 LIST, 106 NIL (107 STRING read as ints)
    map                    dict                116 MAP

Anything else (floats, pids, references, funs, compressed terms) is refused with
`DecodeError`/`EncodeError`. Decoding never reads past its input and bounds nesting.
"""

from __future__ import annotations

import struct
from typing import Any, Union

from aonode.errors import DecodeError, EncodeError
from aonode.message import Atom

__all__ = ["Term", "decode", "encode"]

Term = Union[Atom, bool, int, bytes, tuple["Term", ...], list["Term"], dict["Term", "Term"]]

_VERSION = 131
_MAX_DEPTH = 64


def encode(term: Any) -> bytes:
    """`term_to_binary(Term)` for the supported subset.

    Raises:
        EncodeError: a value outside the subset.
    """
    out = bytearray([_VERSION])
    _encode(term, out, 0)
    return bytes(out)


def _atom(name: str, out: bytearray) -> None:
    raw = name.encode("utf-8")
    if len(name) > 255:
        raise EncodeError("etf: an atom has at most 255 characters")
    if len(raw) < 256:
        out += bytes([119, len(raw)]) + raw
    else:
        out += bytes([118]) + struct.pack(">H", len(raw)) + raw


def _encode(term: Any, out: bytearray, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise EncodeError("etf: the term is nested too deeply")
    if isinstance(term, bool):
        _atom("true" if term else "false", out)
    elif isinstance(term, Atom):
        _atom(term.name, out)
    elif isinstance(term, int):
        if 0 <= term <= 255:
            out += bytes([97, term])
        elif -(2**31) <= term < 2**31:
            out += bytes([98]) + struct.pack(">i", term)
        else:
            magnitude = abs(term)
            digits = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "little")
            head = bytes([110, len(digits)]) if len(digits) < 256 else bytes([111]) + struct.pack(">I", len(digits))
            out += head + bytes([1 if term < 0 else 0]) + digits
    elif isinstance(term, (bytes, bytearray)):
        out += bytes([109]) + struct.pack(">I", len(term)) + bytes(term)
    elif isinstance(term, tuple):
        out += bytes([104, len(term)]) if len(term) < 256 else bytes([105]) + struct.pack(">I", len(term))
        for item in term:
            _encode(item, out, depth + 1)
    elif isinstance(term, list):
        if term:
            out += bytes([108]) + struct.pack(">I", len(term))
            for item in term:
                _encode(item, out, depth + 1)
        out += bytes([106])
    elif isinstance(term, dict):
        out += bytes([116]) + struct.pack(">I", len(term))
        for key, value in term.items():
            _encode(key, out, depth + 1)
            _encode(value, out, depth + 1)
    else:
        raise EncodeError(f"etf: {type(term).__name__} is outside the supported term subset")


def decode(data: bytes) -> Term:
    """`binary_to_term(Data)` for the supported subset; the whole input must be one term.

    Raises:
        DecodeError: not a version-131 term, a tag outside the subset, truncated, or trailing bytes.
    """
    if not data or data[0] != _VERSION:
        raise DecodeError("etf: a term starts with the version byte 131")
    term, end = _Reader(data).read(1, 0)
    if end != len(data):
        raise DecodeError(f"etf: {len(data) - end} bytes follow the term")
    return term


class _Reader:
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def take(self, pos: int, size: int) -> bytes:
        if size < 0 or pos + size > len(self.data):
            raise DecodeError("etf: the term is truncated")
        return self.data[pos:pos + size]

    def u8(self, pos: int) -> int:
        return self.take(pos, 1)[0]

    def u16(self, pos: int) -> int:
        value: int = struct.unpack(">H", self.take(pos, 2))[0]
        return value

    def u32(self, pos: int) -> int:
        value: int = struct.unpack(">I", self.take(pos, 4))[0]
        return value

    def atom(self, raw: bytes, latin1: bool) -> Atom | bool:
        try:
            name = raw.decode("latin-1" if latin1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError("etf: an atom is not valid UTF-8") from exc
        if name in ("true", "false"):
            return name == "true"
        return Atom(name)

    def items(self, count: int, pos: int, depth: int) -> tuple[list[Term], int]:
        if count > len(self.data) - pos:  # every element takes at least one byte
            raise DecodeError("etf: the term is truncated")
        items = []
        for _ in range(count):
            item, pos = self.read(pos, depth + 1)
            items.append(item)
        return items, pos

    def read(self, pos: int, depth: int) -> tuple[Term, int]:
        if depth > _MAX_DEPTH:
            raise DecodeError("etf: the term is nested too deeply")
        tag = self.u8(pos)
        pos += 1
        if tag == 97:
            return self.u8(pos), pos + 1
        if tag == 98:
            value: int = struct.unpack(">i", self.take(pos, 4))[0]
            return value, pos + 4
        if tag in (110, 111):
            size, pos = (self.u8(pos), pos + 1) if tag == 110 else (self.u32(pos), pos + 4)
            sign = self.u8(pos)
            magnitude = int.from_bytes(self.take(pos + 1, size), "little")
            return (-magnitude if sign else magnitude), pos + 1 + size
        if tag in (100, 118):
            size = self.u16(pos)
            return self.atom(self.take(pos + 2, size), tag == 100), pos + 2 + size
        if tag in (115, 119):
            size = self.u8(pos)
            return self.atom(self.take(pos + 1, size), tag == 115), pos + 1 + size
        if tag == 109:
            size = self.u32(pos)
            return self.take(pos + 4, size), pos + 4 + size
        if tag in (104, 105):
            count, pos = (self.u8(pos), pos + 1) if tag == 104 else (self.u32(pos), pos + 4)
            items, pos = self.items(count, pos, depth)
            return tuple(items), pos
        if tag == 106:
            return [], pos
        if tag == 107:
            size = self.u16(pos)
            return list(self.take(pos + 2, size)), pos + 2 + size
        if tag == 108:
            count = self.u32(pos)
            items, pos = self.items(count, pos + 4, depth)
            tail, pos = self.read(pos, depth + 1)
            if tail != []:
                raise DecodeError("etf: improper lists are outside the supported subset")
            return items, pos
        if tag == 116:
            count = self.u32(pos)
            flat, pos = self.items(2 * count, pos + 4, depth)
            result: dict[Term, Term] = {}
            for key, value2 in zip(flat[::2], flat[1::2], strict=True):
                if isinstance(key, (list, dict)):
                    raise DecodeError("etf: map keys that are lists or maps are outside the supported subset")
                result[key] = value2
            return result, pos
        raise DecodeError(f"etf: tag {tag} is outside the supported term subset")
