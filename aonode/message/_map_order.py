"""Erlang map iteration order for maps whose keys are binaries.

HyperBEAM builds signature bases, ``committed`` lists, ``ao-ids`` and multipart
part headers by walking Erlang maps (``maps:keys/1``, ``maps:to_list/1``). The
order of that walk is part of the wire format: a different order gives a
different signature base and so a different message ID. This module computes
that order in pure Python, with no I/O. It implements
``../shared/reference/messages-codecs-ids.md`` section 9, pitfall 1.

Theory of operation (Erlang/OTP 25, ERTS 13, on a 64-bit build)
================================================================

**Small maps.** A map with at most 32 keys (``MAP_SMALL_MAP_LIMIT`` in
``erts/emulator/beam/erl_map.h``) is a *flatmap*: keys are stored in term
order. For binaries, term order is bytewise order, with a prefix sorting
before any longer binary. Python's ``bytes`` comparison gives the same
order. A map that shrinks back to 32 keys or fewer (``maps:remove``,
``maps:without``, ``maps:filter`` and so on) becomes a flatmap again.

**Large maps.** Larger maps are a HAMT (hash array mapped trie), built in
``erl_map.c``. Every key gets a 32-bit hash. Level ``L`` of the trie indexes
its up-to-16 children by the 4-bit nibble ``(hash >> 4*(L mod 8)) & 0xF``, so
the least significant nibble is used first. A node stores only the children
that exist, in ascending nibble order, behind a 16-bit bitmap. The shape
depends only on the set of keys, not on how the map was built
(``maps:from_list``, repeated ``maps:put``, ``maps:merge``, or
``binary_to_term``).

**The hash.** For the first eight levels, the hash is
``make_map_hash(Key, 0)``. Below that, every further eight levels use
``make_map_hash(Key, Depth)`` with ``Depth = L div 8``. This only matters for
keys whose 32-bit hashes are equal. Both functions are in
``erts/emulator/beam/erl_term_hashing.c`` (older releases kept them in
``utils.c``). For a byte-aligned binary:

* ``make_map_hash`` computes a salt. At depth 0 the salt is 0. At depth
  ``d > 0`` it is the ``c`` output of Bob Jenkins' 96-bit ``MIX`` applied to
  ``a = HCONST_22 + d``, ``b = HCONST_22 + 1``, ``c = 0``. This is the
  ``UINT32_HASH_2(depth, 1, HCONST_22)`` step.
* ``make_internal_hash(Key, Salt)`` starts with
  ``hash = Salt XOR INTERNAL_HASH_SALT`` (3432918353). For a binary it returns
  ``block_hash(bytes, HCONST_13 + hash)``. The empty binary is a special case:
  it returns ``HCONST_13 + hash`` directly. All sums are mod 2**32.
* ``block_hash`` is Bob Jenkins' lookup2 hash. It starts with
  ``a = b = HCONST`` (0x9e3779b9) and ``c`` = the initial value. Each whole
  12-byte block adds three little-endian 32-bit words to ``a``, ``b`` and
  ``c``, then runs ``MIX``. The last 0 to 11 bytes are added to ``a`` and ``b``
  (bytes 0 to 7) and to ``c`` shifted up one byte (bytes 8 to 10, because the
  low byte of ``c`` holds the length). The total length is added to ``c``
  before that, and a final ``MIX`` follows. The result is ``c``.
  ``HCONST_n`` is ``n * HCONST mod 2**32``.

This is not ``erlang:phash2/1`` (``make_hash2``). That is a different function
and gives different values.

**Iteration.** ``hashmap_iterator_next`` in ``erl_map.c`` walks the trie depth
first, taking children in ascending nibble order. So the walk visits keys in
ascending order of their nibble path: nibble 0 is the most significant digit,
then nibble 1, and so on. Ties at 32 bits continue with the depth-1 hash.
``maps:keys/1`` and ``maps:to_list/1`` (``hashmap_keys`` and
``hashmap_to_list``) build their result list by consing each visited element
onto the front, so they return the walk in **reverse**: descending path order.
That reversed order is what this module returns. ``maps:fold/3``,
``maps:foreach/2`` and ``maps:iterator/1`` with ``maps:next/1`` visit a large
map in the forward order, which is the exact reverse of ``maps:keys/1``. For a
flatmap, all of them use sorted order.

Verified against real Erlang/OTP 25.2.3 (Debian bookworm ``erlang-base``). The
cases are in ``tests/message/vectors/erlang_map_order.json`` and include keys
whose 32-bit hashes collide. OTP 27 changed the internal hash (a 64-bit
MurmurHash3-style function; see ``docs/map-order.md``). So its order for
maps with more than 32 keys is almost certainly different. That was read from
the sources, not run.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from itertools import groupby
from struct import Struct

from aonode._memo import MEMO_MAX_KEYS, Memo

__all__ = ["erlang_key_order"]

# erl_map.h MAP_SMALL_MAP_LIMIT: maps up to this size are flatmaps (sorted keys).
FLATMAP_MAX_KEYS = 32

_M32 = 0xFFFFFFFF
_HCONST = 0x9E3779B9  # golden ratio; Jenkins' arbitrary start value
_HCONST_13 = (13 * _HCONST) & _M32  # type constant mixed in for binaries
_HCONST_22 = (22 * _HCONST) & _M32  # constant used to salt deeper levels
_INTERNAL_HASH_SALT = 3432918353  # keeps make_internal_hash apart from phash2

# Depths past this never happen for distinct binaries in practice. Each depth
# adds 32 independent hash bits. Past it, we fall back to bytewise order.
_MAX_DEPTH = 16

# Three little-endian 32-bit words: one 12-byte block of block_hash.
_BLOCKS = Struct("<3I")

# Swaps the two nibbles of a byte. Used to turn a hash into its trie-path key.
_SWAP_NIBBLES = bytes(((b & 0x0F) << 4) | (b >> 4) for b in range(256))


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    """Bob Jenkins' 96-bit mix on three 32-bit words. Returns the new (a, b, c)."""
    a = ((a - b - c) & _M32) ^ (c >> 13)
    b = ((b - c - a) & _M32) ^ ((a << 8) & _M32)
    c = ((c - a - b) & _M32) ^ (b >> 13)
    a = ((a - b - c) & _M32) ^ (c >> 12)
    b = ((b - c - a) & _M32) ^ ((a << 16) & _M32)
    c = ((c - a - b) & _M32) ^ (b >> 5)
    a = ((a - b - c) & _M32) ^ (c >> 3)
    b = ((b - c - a) & _M32) ^ ((a << 10) & _M32)
    c = ((c - a - b) & _M32) ^ (b >> 15)
    return a, b, c


def _block_hash(data: bytes, initval: int) -> int:
    """Jenkins lookup2 over ``data`` with ``initval`` as the starting ``c``."""
    a = b = _HCONST
    c = initval
    n = len(data)
    full = n - n % 12
    m = _M32
    # The mix is written out inline here: this loop is the hot path.
    for wa, wb, wc in _BLOCKS.iter_unpack(data[:full]):
        a = (a + wa) & m
        b = (b + wb) & m
        c = (c + wc) & m
        a = ((a - b - c) & m) ^ (c >> 13)
        b = ((b - c - a) & m) ^ ((a << 8) & m)
        c = ((c - a - b) & m) ^ (b >> 13)
        a = ((a - b - c) & m) ^ (c >> 12)
        b = ((b - c - a) & m) ^ ((a << 16) & m)
        c = ((c - a - b) & m) ^ (b >> 5)
        a = ((a - b - c) & m) ^ (c >> 3)
        b = ((b - c - a) & m) ^ ((a << 10) & m)
        c = ((c - a - b) & m) ^ (b >> 15)
    tail = data[full:]
    c = (c + n) & m  # the length is added as a 32-bit value
    a = (a + int.from_bytes(tail[0:4], "little")) & m
    b = (b + int.from_bytes(tail[4:8], "little")) & m
    c = (c + (int.from_bytes(tail[8:11], "little") << 8)) & m
    return _mix(a, b, c)[2]


def _depth_salt(depth: int) -> int:
    """The salt ``make_map_hash`` passes to ``make_internal_hash`` at ``depth``."""
    if depth == 0:
        return 0
    return _mix((_HCONST_22 + depth) & _M32, (_HCONST_22 + 1) & _M32, 0)[2]


def _internal_hash(data: bytes, salt: int = 0) -> int:
    """``make_internal_hash`` of the binary ``data`` (OTP 25)."""
    con = (_HCONST_13 + (salt ^ _INTERNAL_HASH_SALT)) & _M32
    if not data:
        return con
    return _block_hash(data, con)


def _path_key(hash32: int) -> int:
    """Renumber ``hash32`` so nibble 0 is the most significant digit.

    Sorting by this value gives the order of a depth-first walk of a HAMT level
    group (eight levels of 4 bits).
    """
    return int.from_bytes(hash32.to_bytes(4, "little").translate(_SWAP_NIBBLES), "big")


# Messages reuse a small vocabulary of keys, and the hash is pure Python: remember it.
@lru_cache(maxsize=1 << 16)
def _trie_key(key: bytes, salt: int) -> int:
    return _path_key(_internal_hash(key, salt))


def _walk_order(keys: list[bytes], depth: int) -> list[bytes]:
    """The order in which the HAMT iterator visits ``keys``, at hash ``depth``."""
    if depth > _MAX_DEPTH:
        return sorted(keys)
    salt = _depth_salt(depth)
    decorated = sorted((_trie_key(k, salt), k) for k in keys)
    out: list[bytes] = []
    for _, group in groupby(decorated, key=lambda item: item[0]):
        members = [k for _, k in group]
        if len(members) == 1:
            out.append(members[0])
        else:  # full 32-bit collision: the subtree below uses the next depth
            out.extend(_walk_order(members, depth + 1))
    return out


def erlang_key_order(keys: Iterable[str]) -> list[str]:
    """Return ``keys`` in the order OTP 25's ``maps:keys/1`` gives.

    The map is taken to have these keys as binaries. Each key is encoded with
    ``key.encode("utf-8", "surrogateescape")``, so strings decoded from
    non-UTF-8 bytes with ``surrogateescape`` keep their original bytes.

    A map cannot hold the same key twice. So strings that encode to the same
    bytes count as one key, and only the first one is kept. With 32 keys or
    fewer the result is bytewise-sorted. With more, it is the HAMT order
    described in the module docstring. ``maps:to_list/1`` gives the same order,
    and ``maps:fold/3`` gives the reverse.

    Args:
        keys: the map's keys, in any order.

    Returns:
        A new list of the distinct keys in Erlang iteration order.

    Raises:
        UnicodeEncodeError: a key holds a lone surrogate outside the
            surrogateescape range U+DC80..U+DCFF.
    """
    given = tuple(keys)
    # Messages come with the same keys again (a signature base, its `signature-input`, the
    # wire), in the same order or another: remember the answer for the keys as given.
    found = _ORDERS.get(given)
    if found is None:
        found = tuple(_key_order(given))
        if len(given) <= MEMO_MAX_KEYS:
            _ORDERS.put(given, found)
    return list(found)


_ORDERS: Memo[tuple[str, ...], tuple[str, ...]] = Memo(2048)


def _key_order(keys: tuple[str, ...]) -> list[str]:
    by_bytes: dict[bytes, str] = {}
    for key in keys:
        by_bytes.setdefault(key.encode("utf-8", "surrogateescape"), key)
    if len(by_bytes) <= FLATMAP_MAX_KEYS:
        return [by_bytes[b] for b in sorted(by_bytes)]
    walk = _walk_order(list(by_bytes), 0)
    return [by_bytes[b] for b in reversed(walk)]
