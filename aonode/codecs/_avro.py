"""The Avro tag section of an ANS-104 data item (ans104-arweave.md §2).

Tags are an ordered list of ``(name, value)`` byte strings; order and
duplicates are significant because the raw section is signed.

Canonical encoding (what arbundles and HyperBEAM write, §2.1)::

    no tags      -> b""                       (not even a terminator)
    otherwise    -> zz(n) (zz(len(name)) name zz(len(value)) value)* 00

``zz(k)`` is the Avro ``long``: zig-zag ``2k`` as a little-endian base-128
varint. Everything is one block with a positive count.

Decoding (§2.2) accepts general Avro arrays (several blocks, negative counts
followed by a block byte size) but is strict about everything else:

* the section is delimited by the item's "number of tag bytes" field, and the
  array must end exactly there (no residue, no overrun — HyperBEAM#914 read
  past a short section into the data);
* the number of tags must equal the item's "number of tags" field;
* lengths are non-negative and fit in what is left;
* names are non-empty (HyperBEAM-main's decoder crashes on them).

Content limits (§2.3) are not decoding rules; `tag_limit_fault` reports them
for verification: HyperBEAM allows at most 128 tags, names up to 1024 bytes
and values up to 3072 bytes; arbundles instead caps the whole section at
4096 bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aonode.errors import DecodeError, EncodeError

__all__ = [
    "ARBUNDLES_MAX_TAG_BYTES",
    "MAX_TAGS",
    "MAX_TAG_NAME_BYTES",
    "MAX_TAG_VALUE_BYTES",
    "Tag",
    "decode_tags",
    "encode_tags",
    "tag_limit_fault",
]

Tag = tuple[bytes, bytes]

# ANS-104 text and HyperBEAM `ar_bundles:verify_data_item_tags` (§2.3).
MAX_TAGS = 128
MAX_TAG_NAME_BYTES = 1024
MAX_TAG_VALUE_BYTES = 3072
# arbundles `MAX_TAG_BYTES`, checked by `DataItem.verify` and `createData` (§2.3).
ARBUNDLES_MAX_TAG_BYTES = 4096

# An Avro long is at most 64 bits, i.e. ten 7-bit groups.
_MAX_VARINT_BYTES = 10


def _zigzag(value: int) -> bytes:
    """Encode a non-negative int as an Avro long (zig-zag varint)."""
    n = value << 1
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_tags(tags: Iterable[Tag]) -> bytes:
    """Encode tags canonically (§2.1): one positive block and a terminator.

    Args:
        tags: ``(name, value)`` byte-string pairs, in order.

    Returns:
        The Avro bytes; empty when there are no tags.

    Raises:
        EncodeError: a name is empty (no decoder in the field reads it back).
    """
    parts: list[bytes] = []
    count = 0
    for name, value in tags:
        if not name:
            raise EncodeError(f"ans104: tag {count + 1} has an empty name")
        parts += (_zigzag(len(name)), name, _zigzag(len(value)), value)
        count += 1
    if count == 0:
        return b""
    return b"".join([_zigzag(count), *parts, b"\x00"])


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def long(self, what: str) -> int:
        data, pos = self.data, self.pos
        if pos < len(data) and data[pos] < 0x80:  # one-byte values: the common case
            self.pos = pos + 1
            value = data[pos]
            return (value >> 1) ^ -(value & 1)
        result = shift = 0
        for i in range(_MAX_VARINT_BYTES):
            if pos + i >= len(data):
                raise DecodeError(f"ans104: tag section ends inside the {what} at byte {pos}")
            byte = data[pos + i]
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                self.pos = pos + i + 1
                return (result >> 1) ^ -(result & 1)
        raise DecodeError(
            f"ans104: tag section has an over-long varint for the {what} at byte {pos}"
        )

    def blob(self, what: str, index: int) -> bytes:
        start = self.pos
        size = self.long(f"{what} length of tag {index}")
        if size < 0:
            raise DecodeError(f"ans104: tag {index} has a negative {what} length {size}")
        end = self.pos + size
        if end > len(self.data):
            raise DecodeError(
                f"ans104: tag {index} {what} of {size} bytes at byte {start} runs past the end "
                f"of the {len(self.data)}-byte tag section"
            )
        self.pos = end
        return self.data[end - size : end]


def decode_tags(section: bytes, count: int) -> tuple[Tag, ...]:
    """Decode a tag section delimited by the item's length fields (§2.2).

    Args:
        section: exactly the bytes the item's "number of tag bytes" field covers.
        count: the item's "number of tags" field.

    Returns:
        The ``(name, value)`` pairs in order.

    Raises:
        DecodeError: the section is malformed, does not end exactly at its
            declared length, holds a different number of tags than `count`,
            or has an empty tag name.
    """
    if not section:
        if count:
            raise DecodeError(f"ans104: item declares {count} tags but an empty tag section")
        return ()
    reader = _Reader(bytes(section))
    tags: list[Tag] = []
    while True:
        block = reader.long("block count")
        if block == 0:
            break
        if block < 0:
            block = -block
            if reader.long("block size") < 0:
                raise DecodeError("ans104: tag section has a negative block size")
        if len(tags) + block > count:
            raise DecodeError(
                f"ans104: tag section holds more tags than the {count} the item declares"
            )
        # Each tag takes at least two bytes, so a larger block cannot fit.
        left = len(reader.data) - reader.pos
        if block > left // 2:
            raise DecodeError(
                f"ans104: tag block of {block} tags at byte {reader.pos} cannot fit in the "
                f"{left} bytes left"
            )
        for _ in range(block):
            index = len(tags) + 1
            name = reader.blob("name", index)
            if not name:
                raise DecodeError(f"ans104: tag {index} has an empty name")
            tags.append((name, reader.blob("value", index)))
    if reader.pos != len(reader.data):
        raise DecodeError(
            f"ans104: tag section ends at byte {reader.pos} of its declared "
            f"{len(reader.data)} bytes"
        )
    if len(tags) != count:
        raise DecodeError(
            f"ans104: item declares {count} tags but its tag section holds {len(tags)}"
        )
    return tuple(tags)


def tag_limit_fault(
    tags: Sequence[Tag], tag_bytes: int | None = None, *, arbundles: bool = False
) -> str | None:
    """Say which content limit (§2.3) the tags break, if any.

    Args:
        tags: the decoded tags.
        tag_bytes: the length of the encoded section (needed with `arbundles`).
        arbundles: also apply arbundles' 4096-byte cap on the whole section.

    Returns:
        A short description of the first limit broken, or None.
    """
    if len(tags) > MAX_TAGS:
        return f"{len(tags)} tags, more than {MAX_TAGS}"
    for i, (name, value) in enumerate(tags, 1):
        if len(name) > MAX_TAG_NAME_BYTES:
            return f"tag {i} name is {len(name)} bytes, more than {MAX_TAG_NAME_BYTES}"
        if len(value) > MAX_TAG_VALUE_BYTES:
            return f"tag {i} value is {len(value)} bytes, more than {MAX_TAG_VALUE_BYTES}"
    if arbundles:
        size = len(encode_tags(tags)) if tag_bytes is None else tag_bytes
        if size > ARBUNDLES_MAX_TAG_BYTES:
            return f"tag section is {size} bytes, more than {ARBUNDLES_MAX_TAG_BYTES}"
    return None
