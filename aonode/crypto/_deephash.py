"""The Arweave 2.0 deep hash (ans104-arweave.md §3).

A deep hash is SHA-384 over a tree whose leaves are byte strings and whose
nodes are lists:

* leaf ``b``: ``sha384(sha384(b"blob" + str(len(b))) + sha384(b))``;
* list ``L`` of ``n`` elements: ``acc = sha384(b"list" + str(n))``, then for
  each element ``e`` in order ``acc = sha384(acc + deep_hash(e))``.

Lengths are plain ASCII decimal without padding (``b"blob0"``, ``b"list8"``).
The output is always 48 bytes. ANS-104 data items sign the deep hash of an
eight-element list (§4); Arweave format-2 transactions sign another (§12).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeAlias, cast

__all__ = ["DeepHashInput", "deep_hash", "deep_hash_leaf", "deep_hash_list"]

DeepHashInput: TypeAlias = "bytes | bytearray | memoryview | Sequence[DeepHashInput]"

# Deep recursion only comes from hostile input; real trees are two levels deep.
_MAX_DEPTH = 64


def _sha384(data: bytes) -> bytes:
    return hashlib.sha384(data).digest()


def _leaf(blob: bytes | bytearray | memoryview) -> bytes:
    tag = _sha384(b"blob" + str(len(blob)).encode("ascii"))
    return _sha384(tag + hashlib.sha384(blob).digest())


def deep_hash_leaf(blob: bytes) -> bytes:
    """The deep hash of one byte string (a leaf); equals ``deep_hash(blob)``."""
    return _leaf(blob)


def deep_hash_list(element_hashes: Sequence[bytes]) -> bytes:
    """The deep hash of a list, given the deep hashes of its elements.

    Lets callers precompute the hashes of constant elements; equals
    ``deep_hash(elements)`` when ``element_hashes[i] == deep_hash(elements[i])``.
    """
    acc = _sha384(b"list" + str(len(element_hashes)).encode("ascii"))
    for element in element_hashes:
        acc = _sha384(acc + element)
    return acc


def _node(value: DeepHashInput, depth: int) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return _leaf(value)
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(
            f"deep_hash: value must be bytes or a sequence of them, got {type(value).__name__}"
        )
    if depth >= _MAX_DEPTH:
        raise ValueError(f"deep_hash: tree deeper than {_MAX_DEPTH} levels")
    acc = _sha384(b"list" + str(len(value)).encode("ascii"))
    for element in value:
        acc = _sha384(acc + _node(cast(DeepHashInput, element), depth + 1))
    return acc


def deep_hash(value: DeepHashInput) -> bytes:
    """Return the 48-byte Arweave deep hash of a tree of byte strings.

    Args:
        value: a byte string (a leaf) or a sequence of trees (a list node).

    Returns:
        The SHA-384 deep hash, 48 bytes.

    Raises:
        TypeError: a leaf is not bytes-like (``str`` is refused: encode it first).
        ValueError: the tree is more than 64 levels deep.
    """
    return _node(value, 0)
