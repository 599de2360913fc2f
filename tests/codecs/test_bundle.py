"""ANS-104 bundles in both layouts, nested (ans104-arweave.md §9, §13, §14)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from aonode.codecs._bundle import (
    Bundle,
    BundleEntry,
    BundleLayout,
    bundle,
    decode_bundle,
    encode_bundle,
    is_bundle,
    unbundle,
    verify_bundle,
)
from aonode.codecs._dataitem import DataItem, parse_item
from aonode.crypto import Wallet, b64url_encode
from aonode.crypto._ed25519 import Ed25519Key
from aonode.errors import DecodeError, EncodeError, InvalidSignature

SHARED = Path(__file__).resolve().parents[3] / "shared"
VECTORS = SHARED / "vectors" / "ans104"
KEY_1 = SHARED / "fixtures" / "key-1.json"

pytestmark = pytest.mark.skipif(not VECTORS.is_dir(), reason=f"{VECTORS} is missing")


def raw_vector(name: str) -> bytes:
    path = VECTORS / name
    if not path.exists():
        pytest.skip(f"shared vectors not found at {path}")
    return base64.b64decode(path.read_text())


@cache
def records() -> dict[str, dict[str, Any]]:
    return {r["label"]: r for r in json.loads((VECTORS / "vectors.json").read_text())}


@cache
def hb_bundles() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / "hb_vectors.json").read_text())["bundles"]
    return data


def hb_bundle_files() -> list[str]:
    return sorted(hb_bundles()) if VECTORS.is_dir() else []


# -- the standard (arbundles) layout: v9 ------------------------------------------


def test_v9_standard_bundle() -> None:
    raw = raw_vector("v9_arbundles_bundle_v1_v2.b64")
    record = records()["v9_arbundles_bundle_v1_v2"]
    parsed = decode_bundle(raw)
    assert parsed.layout is BundleLayout.STANDARD
    assert len(raw) == record["raw_len"]
    assert raw.hex().startswith(record["header_first_64_hex"])
    assert [b64url_encode(e.id) for e in parsed.entries] == record["ids"]
    assert [len(i.serialize()) for i in parsed.items] == record["sizes"]
    assert parsed.items[0].serialize() == raw_vector("v1_rsa_full.b64")
    assert parsed.items[1].serialize() == raw_vector("v2_rsa_notags.b64")
    assert parsed.serialize() == raw
    assert encode_bundle(parsed.items) == raw
    verify_bundle(raw)


def test_v9_is_not_read_as_the_hb_layout() -> None:
    with pytest.raises(DecodeError):
        decode_bundle(raw_vector("v9_arbundles_bundle_v1_v2.b64"), BundleLayout.HB_2025_09)


# -- the HyperBEAM-main layout ---------------------------------------------------


@pytest.mark.parametrize("name", hb_bundle_files())
def test_hb_bundle_structure(name: str) -> None:
    want = hb_bundles()[name]
    item = parse_item(raw_vector(name))
    assert item.serialize() == raw_vector(name)
    assert len(item.serialize()) == want["raw_len"]
    assert [[n.decode(), v.decode()] for n, v in item.tags] == want["outer_tags"]
    assert b64url_encode(item.unsigned_id) == want["outer_unsigned_id_b64u"]
    if want["outer_signed_id_b64u"] is None:
        assert not item.is_signed
    else:
        assert b64url_encode(item.id) == want["outer_signed_id_b64u"]
        item.verify()
    assert want["bundle_header_endianness"] == "big"
    assert item.data[:32].hex() == want["item_count_field_hex"]
    parsed = decode_bundle(item.data)
    assert parsed.layout is BundleLayout.HB_2025_09
    assert parsed.serialize() == item.data
    assert len(parsed.entries) == len(want["entries"])
    for entry, spec in zip(parsed.entries, want["entries"], strict=True):
        assert b64url_encode(entry.id) == spec["header_id_b64u"]
        assert b64url_encode(entry.item.unsigned_id) == spec["unsigned_id_b64u"]
        assert len(entry.item.serialize()) == spec["size"]
        assert entry.item.is_signed == spec["signed"]
        assert [[n.decode(), v.decode()] for n, v in entry.item.tags] == spec["tags"]
        assert entry.item.data.decode() == spec["data_utf8"]
        if spec["signed"]:
            entry.item.verify()


def _hb_children() -> tuple[DataItem, DataItem]:
    return DataItem(tags=[("name", "a")], data=b"A"), DataItem(tags=[("name", "b")], data=b"B")


def test_hb_writer_reproduces_the_map_bundle() -> None:
    a, b = _hb_children()
    built = bundle({"key-a": a, "key-b": b})
    assert built.serialize() == raw_vector("hb_unsigned_map_bundle.b64")


def test_hb_writer_reproduces_the_list_bundle() -> None:
    a, b = _hb_children()
    assert bundle([a, b]).serialize() == raw_vector("hb_unsigned_list_bundle.b64")


def test_hb_writer_reproduces_the_bare_binary_bundle() -> None:
    built = bundle({"raw": b"bare-binary"})
    assert built.serialize() == raw_vector("hb_unsigned_map_bundle_bare_binary.b64")


def test_hb_signed_map_bundle_rebuilds_and_both_layers_verify() -> None:
    outer = parse_item(raw_vector("hb_signed_map_bundle.b64"))
    outer.verify()
    inner = unbundle(outer)
    assert isinstance(inner, dict) and list(inner) == ["key1"]
    inner["key1"].verify()
    rebuilt = bundle({"key1": inner["key1"]})
    assert rebuilt.tags == outer.tags and rebuilt.data == outer.data
    assert rebuilt.unsigned_id == outer.unsigned_id


def test_hb_lists_come_back_as_maps() -> None:
    """HyperBEAM-main checks `map-format: List` but writes `list` (§9.2)."""
    unpacked = unbundle(parse_item(raw_vector("hb_unsigned_list_bundle.b64")))
    assert isinstance(unpacked, dict)
    assert {k: v.data for k, v in unpacked.items()} == {"1": b"A", "2": b"B"}


def test_hb_keys_are_in_bytewise_order() -> None:
    built = bundle([DataItem(data=str(i).encode()) for i in range(1, 12)])
    manifest = decode_bundle(built.data).items[0]
    assert manifest.data.startswith(b'{"1":')
    assert list(json.loads(manifest.data)) == sorted(str(i) for i in range(1, 12))
    assert [i.data for i in decode_bundle(built.data).items[1:4]] == [b"1", b"10", b"11"]


def test_hb_bundle_tags_placement() -> None:
    built = bundle(
        [b"x"],
        tags=[("a", "1"), ("bundle-version", "2.0.0"), ("bundle-map", "old"), ("z", "2")],
    )
    names = [n for n, _ in built.tags]
    assert names == [b"bundle-format", b"bundle-version", b"a", b"z", b"map-format", b"bundle-map"]


def test_empty_bundles_hold_only_the_manifest() -> None:
    for empty in ({}, []):
        built = bundle(empty)
        parsed = decode_bundle(built.data)
        assert [i.data for i in parsed.items] == [b"{}"]
        assert unbundle(built) == {}


def test_nested_hb_bundles_unbundle_recursively() -> None:
    """`test_deep_member` / `test_recursive_bundle`: nested maps and lists."""
    key = Ed25519Key.from_seed(bytes(range(32)))
    leaf = DataItem(signature_type=2, tags=[("k", "v")], data=b"leaf").sign(key)
    outer = bundle({"a": {"b": [leaf, b"raw"]}, "c": b"see"}).sign(key)
    outer.verify()
    level1 = unbundle(outer)
    assert isinstance(level1, dict) and set(level1) == {"a", "c"}
    assert level1["c"].tags == ((b"ao-type", b"binary"),)
    level2 = unbundle(level1["a"])
    assert isinstance(level2, dict)
    level3 = unbundle(level2["b"])
    assert isinstance(level3, dict)
    assert level3["1"] == leaf
    level3["1"].verify()
    assert level3["2"].data == b"raw"


def test_recursive_signed_single_item_lists() -> None:
    key = Ed25519Key.from_seed(bytes(range(32)))
    inner = DataItem(signature_type=2, data=b"innermost").sign(key)
    item = inner
    for _ in range(3):
        item = bundle([item]).sign(key)
    for _ in range(3):
        item.verify()
        contents = unbundle(item)
        assert isinstance(contents, dict)
        item = contents["1"]
    assert item == inner


def test_resigning_keeps_the_unsigned_id() -> None:
    """`test_serialize_deserialize_deep_signed_bundle`."""
    a, b = _hb_children()
    carrier = replace(bundle({"k": a, "l": b}), signature_type=2, signature=b"", owner=b"")
    one = carrier.sign(Ed25519Key.generate())
    two = carrier.sign(Ed25519Key.generate())
    assert one.id != two.id
    assert one.unsigned_id == two.unsigned_id == carrier.unsigned_id


# -- the standard layout written here ---------------------------------------------


def test_standard_nested_bundle_of_signed_items() -> None:
    key = Ed25519Key.generate()
    items = [DataItem(signature_type=2, data=bytes([i])).sign(key) for i in range(3)]
    carrier = bundle(items, layout=BundleLayout.STANDARD, tags=[("App", "x")])
    assert carrier.tags[:2] == ((b"Bundle-Format", b"binary"), (b"Bundle-Version", b"2.0.0"))
    parsed = decode_bundle(carrier.data)
    assert parsed.layout is BundleLayout.STANDARD
    assert [e.id for e in parsed.entries] == [i.id for i in items]
    verify_bundle(carrier.data)
    assert unbundle(carrier) == items
    assert not is_bundle(carrier, exact_tags=True)  # HyperBEAM-main leaves it opaque
    assert unbundle(carrier, exact_tags=True) is None


def test_standard_layout_refuses_maps() -> None:
    with pytest.raises(EncodeError, match="lists, not maps"):
        bundle({"a": b"x"}, layout=BundleLayout.STANDARD)


def test_is_bundle() -> None:
    assert is_bundle(DataItem(tags=[("Bundle-Format", "binary"), ("Bundle-Version", "2.0.0")]))
    assert not is_bundle(DataItem(tags=[("Bundle-Format", "json"), ("Bundle-Version", "2.0.0")]))
    assert not is_bundle(DataItem(tags=[("bundle-format", "binary")]))
    assert unbundle(DataItem(data=b"plain")) is None
    no_data = DataItem(tags=[("bundle-format", "binary"), ("bundle-version", "2.0.0")])
    assert unbundle(no_data) is None


# -- verification and errors -----------------------------------------------------


def test_verify_bundle_checks_header_ids() -> None:
    raw = bytearray(raw_vector("v9_arbundles_bundle_v1_v2.b64"))
    raw[32 + 32] ^= 1  # first header ID
    with pytest.raises(InvalidSignature):
        verify_bundle(bytes(raw))


def test_verify_bundle_checks_items() -> None:
    a, _ = _hb_children()
    with pytest.raises(InvalidSignature):
        verify_bundle(encode_bundle([a], BundleLayout.HB_2025_09))


def _good() -> bytes:
    return raw_vector("v9_arbundles_bundle_v1_v2.b64")


BAD_BUNDLES = {
    "shorter than the count": (lambda: b"\x01" * 10, "shorter than its count"),
    "count fits neither order": (lambda: b"\x05" * 32 + bytes(100), "either byte order"),
    "header truncated": (lambda: _good()[:100], "header of 2 entries|either byte order"),
    "item truncated": (lambda: _good()[:-1], "declares 1048 bytes"),
    "trailing bytes": (lambda: _good() + b"\x00", "after its last item"),
    "bad item": (lambda: _good()[:160] + b"\x09" + _good()[161:], "entry 1: ans104: unsupported"),
}


@pytest.mark.parametrize("case", sorted(BAD_BUNDLES))
def test_bad_bundles_name_the_fault(case: str) -> None:
    make, fault = BAD_BUNDLES[case]
    with pytest.raises(DecodeError, match=fault):
        decode_bundle(make())


def test_manifest_pointing_nowhere() -> None:
    a, _ = _hb_children()
    built = bundle({"x": a})
    tags = tuple((n, b64url_encode(bytes(32)).encode()) if n == b"bundle-map" else (n, v)
                 for n, v in built.tags)
    with pytest.raises(DecodeError, match="no item with unsigned ID"):
        unbundle(DataItem(tags=tags, data=built.data))


def test_manifest_not_json() -> None:
    manifest = DataItem(tags=[("data-protocol", "bundle-map")], data=b"{not json")
    data = encode_bundle([manifest], BundleLayout.HB_2025_09)
    carrier = DataItem(
        tags=[("bundle-format", "binary"), ("bundle-version", "2.0.0"),
              ("bundle-map", b64url_encode(manifest.unsigned_id))],
        data=data,
    )
    with pytest.raises(DecodeError, match="not JSON"):
        unbundle(carrier)


def test_entry_ids_are_32_bytes() -> None:
    with pytest.raises(DecodeError):
        BundleEntry(b"short", DataItem())
    assert Bundle(BundleLayout.STANDARD, ()).serialize() == bytes(32)


@pytest.mark.skipif(not KEY_1.is_file(), reason=f"{KEY_1} is missing")
def test_rsa_items_in_both_layouts() -> None:
    wallet = Wallet.load(KEY_1)
    items = [DataItem(data=b"one").sign(wallet), DataItem(tags=[("t", "v")]).sign(wallet)]
    for layout in BundleLayout:
        raw = encode_bundle(items, layout)
        assert decode_bundle(raw).layout is layout
        verify_bundle(raw)
