"""The Avro tag section of ANS-104 items (ans104-arweave.md §2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aonode.codecs._avro import (
    ARBUNDLES_MAX_TAG_BYTES,
    MAX_TAG_NAME_BYTES,
    MAX_TAG_VALUE_BYTES,
    MAX_TAGS,
    decode_tags,
    encode_tags,
    tag_limit_fault,
)
from aonode.errors import DecodeError, EncodeError

SHARED = Path(__file__).resolve().parents[3] / "shared"
EXAMPLES = SHARED / "vectors" / "ans104" / "avro_examples.json"


def _examples() -> list[Any]:
    if not EXAMPLES.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{EXAMPLES} is missing"))]
    data: dict[str, Any] = json.loads(EXAMPLES.read_text())
    return [pytest.param(v, id=k) for k, v in sorted(data.items())]


def _tags(example: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    return [(t["name"].encode(), t["value"].encode()) for t in example["tags"]]


@pytest.mark.parametrize("example", _examples())
def test_vector_encodes_exactly(example: dict[str, Any]) -> None:
    assert encode_tags(_tags(example)).hex() == example["avro_hex"]


@pytest.mark.parametrize("example", _examples())
def test_vector_decodes(example: dict[str, Any]) -> None:
    tags = _tags(example)
    assert list(decode_tags(bytes.fromhex(example["avro_hex"]), len(tags))) == tags


# zz(k) examples from §2.1.
@pytest.mark.parametrize(
    ("length", "prefix"),
    [(1, "02"), (5, "0a"), (63, "7e"), (64, "8001"), (300, "d804")],
)
def test_zigzag_lengths(length: int, prefix: str) -> None:
    encoded = encode_tags([(b"k", b"v" * length)])
    assert encoded.hex().startswith("02026b" + prefix)


def test_no_tags_is_no_bytes() -> None:
    assert encode_tags([]) == b""
    assert decode_tags(b"", 0) == ()


def test_binary_values_round_trip() -> None:
    tags = [(b"a", b"\x01\x02\x03\xff\xfe"), (b"b", b""), (b"c", "你好".encode())]
    assert list(decode_tags(encode_tags(tags), 3)) == tags


def test_general_avro_blocks_decode() -> None:
    """Several blocks, and a negative count followed by a byte size (§2.2)."""
    one = b"\x02a\x02b"  # name "a", value "b"
    two = b"\x02c\x00"  # name "c", empty value
    section = b"\x02" + one + b"\x01" + bytes([len(two) * 2]) + two + b"\x00"
    assert decode_tags(section, 2) == ((b"a", b"b"), (b"c", b""))


BAD_SECTIONS = {
    "count mismatch": (bytes.fromhex("0208746167310c76616c75653100"), 2, "declares 2 tags"),
    "residue after terminator": (
        bytes.fromhex("0208746167310c76616c7565310000"), 1, "ends at byte"
    ),
    "no terminator": (bytes.fromhex("0208746167310c76616c756531"), 1, "ends inside"),
    "value overruns section": (bytes.fromhex("0208746167311076616c75653100"), 1, "runs past"),
    "negative name length": (bytes.fromhex("02010000"), 1, "negative name length"),
    "empty name": (bytes.fromhex("0200020000"), 1, "empty name"),
    "over-long varint": (b"\x02" + b"\xff" * 11, 1, "over-long varint"),
    "more tags than declared": (bytes.fromhex("04026102620263026400"), 1, "more tags"),
    "block count past the end": (bytes.fromhex("1002610262"), 8, "cannot fit"),
    "empty section with tags declared": (b"", 3, "empty tag section"),
}


@pytest.mark.parametrize("name", sorted(BAD_SECTIONS))
def test_bad_sections_name_the_fault(name: str) -> None:
    section, count, fault = BAD_SECTIONS[name]
    with pytest.raises(DecodeError, match=fault):
        decode_tags(section, count)


def test_empty_name_cannot_be_encoded() -> None:
    with pytest.raises(EncodeError, match="empty name"):
        encode_tags([(b"a", b"1"), (b"", b"2")])


def test_limits() -> None:
    assert tag_limit_fault([(b"n", b"v")] * MAX_TAGS) is None
    assert "129 tags" in (tag_limit_fault([(b"n", b"v")] * (MAX_TAGS + 1)) or "")
    assert tag_limit_fault([(b"n" * MAX_TAG_NAME_BYTES, b"v" * MAX_TAG_VALUE_BYTES)]) is None
    assert "name" in (tag_limit_fault([(b"n" * (MAX_TAG_NAME_BYTES + 1), b"")]) or "")
    assert "value" in (tag_limit_fault([(b"n", b"v" * (MAX_TAG_VALUE_BYTES + 1))]) or "")
    big = [(b"n", b"v" * 3000), (b"m", b"v" * 1100)]  # within HyperBEAM's limits
    assert tag_limit_fault(big) is None
    assert str(ARBUNDLES_MAX_TAG_BYTES) in (tag_limit_fault(big, arbundles=True) or "")


tag_lists = st.lists(st.tuples(st.binary(min_size=1, max_size=80), st.binary(max_size=200)),
                     max_size=80)


@given(tag_lists)
def test_round_trip(tags: list[tuple[bytes, bytes]]) -> None:
    assert list(decode_tags(encode_tags(tags), len(tags))) == tags


@given(st.binary(max_size=64), st.integers(min_value=0, max_value=8))
def test_fuzz_raises_only_decode_error(section: bytes, count: int) -> None:
    try:
        tags = decode_tags(section, count)
    except DecodeError:
        return
    assert len(tags) == count
