"""`flat@1.0`: a TABM as one level of `/`-joined paths (messages-codecs-ids.md §6.1).

`to_wire` flattens nested TABMs into `a/b/c` keys; `from_wire` rebuilds them,
deep-merging maps that meet on the same path (a binary overwrites). Types are
not decoded here: `x/ao-types` stays a key. `serialize`/`deserialize` write the
`key: value` line format that `config.flat` files use.
"""

from __future__ import annotations

from collections.abc import Mapping

from aonode.codecs._multipart import unflatten
from aonode.errors import DecodeError, EncodeError, shown
from aonode.message import TABM

__all__ = ["deserialize", "from_wire", "serialize", "to_wire"]

NAME = "flat@1.0"


def to_wire(tabm: TABM | bytes) -> dict[str, bytes] | bytes:
    """Flatten a TABM into `/`-joined keys; a binary passes through.

    Raises:
        EncodeError: a key contains `/`, so its path would be ambiguous.
    """
    if isinstance(tabm, bytes):
        return tabm
    out: dict[str, bytes] = {}
    _flatten(tabm, "", out)
    return out


def _flatten(tabm: Mapping[str, bytes | TABM], prefix: str, out: dict[str, bytes]) -> None:
    for key, value in tabm.items():
        path = prefix + key
        if isinstance(value, dict):
            if not value:
                raise EncodeError(f"{NAME}: empty map at '{shown(path)}' has no flat form")
            _flatten(value, path + "/", out)
        else:
            out[path] = value


def from_wire(flat: Mapping[str, bytes] | bytes) -> TABM | bytes:
    """Rebuild a nested TABM from `/`-joined keys.

    Raises:
        DecodeError: a path has an empty segment or a value is not binary.
    """
    if isinstance(flat, bytes):
        return flat
    for key, value in flat.items():
        if not isinstance(value, bytes):
            raise DecodeError(f"{NAME}: value at '{shown(key)}' must be binary")
    return unflatten(flat)


def serialize(tabm: TABM) -> bytes:
    """`key: value` lines, sorted by key, each ending in LF.

    Raises:
        EncodeError: a key or value holds a newline, which the line format cannot carry.
    """
    flat = to_wire(tabm)
    assert isinstance(flat, dict)
    lines = []
    for key in sorted(flat, key=lambda k: k.encode("utf-8", "surrogateescape")):
        value = flat[key]
        if "\n" in key or b"\n" in value:
            raise EncodeError(f"{NAME}: key '{shown(key)}' or its value holds a newline")
        lines.append(key.encode("utf-8", "surrogateescape") + b": " + value + b"\n")
    return b"".join(lines)


def deserialize(data: bytes) -> TABM:
    """Parse `key: value` lines (blank lines and `#` comments are skipped).

    Raises:
        DecodeError: a line has no `: ` separator.
    """
    flat: dict[str, bytes] = {}
    for number, line in enumerate(data.split(b"\n"), 1):
        line = line.rstrip(b"\r")
        if not line.strip() or line.lstrip().startswith(b"#"):
            continue
        key, sep, value = line.partition(b": ")
        if not sep:
            key, sep, value = line.partition(b":")
            if not sep or value.strip():
                raise DecodeError(f"{NAME}: line {number} has no 'key: value' form")
        flat[key.strip().decode("utf-8", "surrogateescape")] = value
    result = from_wire(flat)
    assert isinstance(result, dict)
    return result
