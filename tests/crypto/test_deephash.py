"""The Arweave deep hash against the recorded vectors (ans104-arweave.md §3, §4)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aonode.codecs._avro import encode_tags
from aonode.crypto._deephash import deep_hash

SHARED = Path(__file__).resolve().parents[3] / "shared"
VECTORS = SHARED / "vectors" / "ans104"

pytestmark = pytest.mark.skipif(not VECTORS.is_dir(), reason=f"{VECTORS} is missing")


def _records() -> list[dict[str, Any]]:
    if not VECTORS.is_dir():
        return []
    records: list[dict[str, Any]] = json.loads((VECTORS / "vectors.json").read_text())
    return records


def _primitives() -> dict[str, str]:
    for record in _records():
        if record.get("label") == "deep_hash_primitives":
            return record
    return {}


# Inputs of the recorded primitives; `nested` is recorded without its input.
PRIMITIVE_INPUTS: dict[str, Any] = {
    "blob_empty": b"",
    "blob_abc": b"abc",
    "list_empty": [],
    "list_abc_def": [b"abc", b"def"],
}


@pytest.mark.parametrize("name", sorted(PRIMITIVE_INPUTS))
def test_primitive(name: str) -> None:
    assert deep_hash(PRIMITIVE_INPUTS[name]).hex() == _primitives()[name]


def _item_cases() -> list[Any]:
    return [
        pytest.param(r, id=r["label"])
        for r in _records()
        if "deep_hash_hex" in r and "owner_b64u" in r
    ]


def _b64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize("record", _item_cases())
def test_item_signature_data(record: dict[str, Any]) -> None:
    """H = deep_hash(["dataitem", "1", type, owner, target, anchor, avro tags, data])."""
    tags_hex = record.get("tags_avro_hex")
    if tags_hex is None:
        tags = [(t["name"].encode(), t["value"].encode()) for t in record["tags"]]
        tag_bytes = encode_tags(tags)
    else:
        tag_bytes = bytes.fromhex(tags_hex)
    tree = [
        b"dataitem",
        b"1",
        str(record["signature_type"]).encode(),
        _b64u(record["owner_b64u"]),
        _b64u(record["target_b64u"]),
        _b64u(record["anchor_b64u"]),
        tag_bytes,
        _b64u(record["data_b64u"]),
    ]
    assert deep_hash(tree).hex() == record["deep_hash_hex"]


def test_unsigned_deep_hash_zeroes_the_owner() -> None:
    record = next(r for r in _records() if "hyperbeam_unsigned_deep_hash_hex" in r)
    tree = [
        b"dataitem", b"1", b"1", bytes(512),
        _b64u(record["target_b64u"]), _b64u(record["anchor_b64u"]),
        bytes.fromhex(record["tags_avro_hex"]), _b64u(record["data_b64u"]),
    ]
    assert deep_hash(tree).hex() == record["hyperbeam_unsigned_deep_hash_hex"]


def test_tuples_and_bytearrays_hash_like_lists_and_bytes() -> None:
    assert deep_hash((bytearray(b"abc"), memoryview(b"def"))) == deep_hash([b"abc", b"def"])


def test_output_is_48_bytes_and_nesting_matters() -> None:
    assert len(deep_hash([[b"a"], b"b"])) == 48
    assert deep_hash([[b"a"], b"b"]) != deep_hash([b"a", b"b"])
    assert deep_hash([b""]) != deep_hash(b"")


@pytest.mark.parametrize("bad", ["abc", 5, [b"a", "b"], {b"a": b"b"}])
def test_non_bytes_leaves_are_refused(bad: Any) -> None:
    with pytest.raises(TypeError):
        deep_hash(bad)


def test_absurd_depth_is_refused() -> None:
    tree: Any = b"x"
    for _ in range(100):
        tree = [tree]
    with pytest.raises(ValueError):
        deep_hash(tree)


@given(st.recursive(st.binary(max_size=20), lambda kids: st.lists(kids, max_size=4), max_leaves=12))
def test_deterministic(tree: Any) -> None:
    assert deep_hash(tree) == deep_hash(tree)
    assert len(deep_hash(tree)) == 48
