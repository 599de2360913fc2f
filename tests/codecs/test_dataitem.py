"""ANS-104 data items against the shared vectors (ans104-arweave.md §1-§8, §13)."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aonode.codecs._dataitem import SIGNATURE_SCHEMES, DataItem, ItemKey, parse_item
from aonode.crypto import Wallet, b64url_decode, b64url_encode
from aonode.crypto._ed25519 import Ed25519Key
from aonode.crypto._secp256k1 import Secp256k1Key, ethereum_address
from aonode.errors import DecodeError, InvalidSignature

SHARED = Path(__file__).resolve().parents[3] / "shared"
VECTORS = SHARED / "vectors" / "ans104"
KEY_1 = SHARED / "fixtures" / "key-1.json"
KEY_1_ADDRESS = "vcaPe4JWnrSOCktDHBgXge-zWUb6JRkqbom5w9t7i-4"

needs_vectors = pytest.mark.skipif(not VECTORS.is_dir(), reason=f"{VECTORS} is missing")

# -- loaders -------------------------------------------------------------------

BUNDLE_FILES = {"v9_arbundles_bundle_v1_v2.b64"}  # a bare bundle, not an item (test_bundle.py)


def raw_vector(name: str) -> bytes:
    return base64.b64decode((VECTORS / name).read_text())


@cache
def item_records() -> dict[str, dict[str, Any]]:
    """vectors.json entries that describe one item file, by file name."""
    records = json.loads((VECTORS / "vectors.json").read_text())
    return {r["file"]: r for r in records if "file" in r and r["file"] not in BUNDLE_FILES}


@cache
def hb_vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / "hb_vectors.json").read_text())
    return data


def expected(name: str) -> dict[str, Any]:
    """What the vector files record about one item: signed ID, unsigned ID, signed or not."""
    record = item_records().get(name, {})
    hb = hb_vectors()
    out: dict[str, Any] = {"signed": record.get("verify_dha", True)}
    if "id_b64u" in record:
        out["id"] = record["id_b64u"]
    if name in hb["hyperbeam_unsigned_ids"]:
        out["unsigned_id"] = hb["hyperbeam_unsigned_ids"][name]
    if name in hb["bundles"]:
        signed_id = hb["bundles"][name]["outer_signed_id_b64u"]
        out["signed"] = signed_id is not None
        if signed_id is not None:
            out["id"] = signed_id
    if name == "hb_v1_fields_signed_by_hyperbeam.b64":
        out["id"] = hb["hb_v1_fields_signed_by_hyperbeam"]["id_b64u"]
        out["signed"] = hb["hb_v1_fields_signed_by_hyperbeam"]["verifies"]
    return out


def item_files() -> list[Any]:
    if not VECTORS.is_dir():
        return [pytest.param("missing", marks=needs_vectors)]
    return sorted(p.name for p in VECTORS.glob("*.b64") if p.name not in BUNDLE_FILES)


@cache
def key_1() -> Wallet:
    return Wallet.load(KEY_1)


# -- every vector file ---------------------------------------------------------


@needs_vectors
@pytest.mark.parametrize("name", item_files())
def test_vector_round_trips_byte_for_byte(name: str) -> None:
    raw = raw_vector(name)
    item = parse_item(raw)
    assert item.serialize() == raw
    assert bytes(item) == raw
    assert DataItem.parse(raw) == item


@needs_vectors
@pytest.mark.parametrize("name", item_files())
def test_vector_ids(name: str) -> None:
    item = parse_item(raw_vector(name))
    want = expected(name)
    assert "id" in want or "unsigned_id" in want, f"nothing recorded for {name}"
    if "id" in want:
        assert b64url_encode(item.id) == want["id"]
    if "unsigned_id" in want:
        assert b64url_encode(item.unsigned_id) == want["unsigned_id"]


@needs_vectors
@pytest.mark.parametrize("name", item_files())
def test_vector_verifies_or_is_unsigned(name: str) -> None:
    item = parse_item(raw_vector(name))
    if expected(name)["signed"]:
        assert item.is_signed
        item.verify()
        item.verify(arbundles=True)
    else:
        assert not item.is_signed
        with pytest.raises(InvalidSignature):
            item.verify()


def recorded_fields() -> list[Any]:
    if not VECTORS.is_dir():
        return [pytest.param("missing", marks=needs_vectors)]
    return sorted(n for n, r in item_records().items() if "owner_b64u" in r)


@needs_vectors
@pytest.mark.parametrize("name", recorded_fields())
def test_vector_fields(name: str) -> None:
    record = item_records()[name]
    item = parse_item(raw_vector(name))
    assert item.signature_type == record["signature_type"]
    assert item.owner == b64url_decode(record["owner_b64u"])
    assert item.owner_address == record["owner_address_b64u"]
    assert item.target == b64url_decode(record["target_b64u"])
    assert item.anchor == b64url_decode(record["anchor_b64u"])
    assert item.anchor == record["anchor_utf8"].encode()
    assert item.tags == tuple((t["name"].encode(), t["value"].encode()) for t in record["tags"])
    assert item.data == b64url_decode(record["data_b64u"])
    assert item.signature == b64url_decode(record["signature_b64u"])
    assert item.signature_data().hex() == record["deep_hash_hex"]
    assert len(item.serialize()) == record["raw_len"]
    assert hashlib.sha256(item.serialize()).hexdigest() == record["raw_sha256_hex"]
    if "tags_avro_hex" in record:
        assert item.raw_tags.hex() == record["tags_avro_hex"]
    if "tag_count" in record:
        assert len(item.tags) == record["tag_count"]
        assert len(item.raw_tags) == record["tags_avro_len"]


@needs_vectors
def test_v5_fixed_salt_signature_is_reproduced() -> None:
    """EMSA-PSS with an injected salt gives HyperBEAM's `rsa_pss:sign/4` bytes (§6)."""
    raw = raw_vector("v5_rsa_full_fixed_salt.b64")
    unsigned = replace(parse_item(raw), signature=b"")
    assert unsigned.sign(key_1(), salt=bytes(range(32))).serialize() == raw
    assert hashlib.sha256(raw).hexdigest() == item_records()["v5_rsa_full_fixed_salt.b64"][
        "raw_sha256_hex"
    ]


@needs_vectors
@pytest.mark.parametrize(
    ("name", "signature_type"),
    [("v6_ed25519_type2.b64", 2), ("v8_solana_hex_type4.b64", 4), ("v7_ethereum_type3.b64", 3)],
)
def test_deterministic_types_are_reproduced(name: str, signature_type: int) -> None:
    record = item_records()[name]
    raw = raw_vector(name)
    key: ItemKey
    if "ed25519_seed_hex" in record:
        key = Ed25519Key.from_seed(bytes.fromhex(record["ed25519_seed_hex"]))
    else:
        key = Secp256k1Key.from_secret(bytes.fromhex(record["eth_private_key_hex"]))
        assert key.ethereum_address == record["eth_checksum_address"]
        assert ethereum_address(parse_item(raw).owner) == record["eth_checksum_address"]
    unsigned = replace(parse_item(raw), signature=b"", owner=b"")
    assert unsigned.sign(key, signature_type=signature_type).serialize() == raw


@needs_vectors
def test_key_1_signs_like_arbundles() -> None:
    """v1's fields signed here verify, keep the unsigned ID and get a fresh signed ID."""
    v1 = parse_item(raw_vector("v1_rsa_full.b64"))
    ours = replace(v1, signature=b"").sign(key_1())
    ours.verify()
    assert ours.owner == v1.owner
    assert ours.owner_address == KEY_1_ADDRESS
    assert ours.unsigned_id == v1.unsigned_id
    assert ours.signature_data() == v1.signature_data()
    assert ours.id != v1.id


# -- signing and verifying every type -------------------------------------------


@cache
def keys() -> dict[int, ItemKey]:
    ed = Ed25519Key.generate()
    return {1: key_1(), 2: ed, 3: Secp256k1Key.generate(), 4: ed}


SAMPLE = DataItem(
    target=bytes(range(32)),
    anchor=b"this-is-a-32-byte-anchor-string!",
    tags=(("Content-Type", "text/plain"), ("dup", ""), ("dup", "\xff")),
    data=b"hello",
)


@pytest.mark.skipif(not KEY_1.is_file(), reason=f"{KEY_1} is missing")
@pytest.mark.parametrize("signature_type", sorted(SIGNATURE_SCHEMES))
def test_sign_verify_and_tamper(signature_type: int) -> None:
    signed = SAMPLE.sign(keys()[signature_type], signature_type=signature_type)
    assert signed.signature_type == signature_type
    signed.verify()
    again = parse_item(signed.serialize())
    assert again == signed
    again.verify()
    assert signed.id == hashlib.sha256(signed.signature).digest()
    for tampered in (
        replace(signed, data=b"hellO"),
        replace(signed, tags=signed.tags[:-1]),
        replace(signed, anchor=b""),
        replace(signed, target=bytes(32)),
    ):
        with pytest.raises(InvalidSignature):
            tampered.verify()


@pytest.mark.skipif(not KEY_1.is_file(), reason=f"{KEY_1} is missing")
def test_signature_from_another_key_fails() -> None:
    signed = SAMPLE.sign(Ed25519Key.generate())
    with pytest.raises(InvalidSignature):
        replace(signed, owner=Ed25519Key.generate().public_bytes).verify()
    eth = SAMPLE.sign(Secp256k1Key.generate())
    with pytest.raises(InvalidSignature):
        replace(eth, owner=Secp256k1Key.generate().public_bytes).verify()


def test_ethereum_high_s_is_refused() -> None:
    """arbundles' secp256k1 binding refuses high-S; so do we."""
    signed = SAMPLE.sign(Secp256k1Key.generate())
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(signed.signature[32:64], "big")
    high = signed.signature[:32] + (n - s).to_bytes(32, "big") + signed.signature[64:]
    with pytest.raises(InvalidSignature):
        replace(signed, signature=high).verify()


def test_ethereum_v_is_ignored() -> None:
    signed = SAMPLE.sign(Secp256k1Key.generate())
    replace(signed, signature=signed.signature[:64] + b"\x00").verify()


def test_unsigned_items() -> None:
    """HyperBEAM's unsigned form: zero signature and zero owner (§5)."""
    item = DataItem(data=b"Unsigned data")
    assert item.signature == bytes(512) and item.owner == bytes(512)
    assert not item.is_signed
    assert b64url_encode(item.id) == "B2onx55azio9R_ndLoPk_26ohys8Ihj2bJK4m1XzZWA"
    with pytest.raises(InvalidSignature):
        item.verify()
    assert DataItem(data=b"a").unsigned_id != DataItem(data=b"b").unsigned_id


@pytest.mark.skipif(not VECTORS.is_dir(), reason=f"{VECTORS} is missing")
def test_unsigned_hb_item_matches_v4b() -> None:
    want = raw_vector("v4b_hb_unsigned_zero_owner.b64")
    assert DataItem(data=b"Unsigned data").serialize() == want


@pytest.mark.skipif(not KEY_1.is_file(), reason=f"{KEY_1} is missing")
def test_tag_limits_fail_verification() -> None:
    wallet = key_1()
    DataItem(tags=[("t", "v")] * 128).sign(wallet).verify()
    with pytest.raises(InvalidSignature):
        DataItem(tags=[("t", "v")] * 129).sign(wallet).verify()
    with pytest.raises(InvalidSignature):
        DataItem(tags=[("t" * 1025, "v")]).sign(wallet).verify()
    with pytest.raises(InvalidSignature):
        DataItem(tags=[("t", "v" * 3073)]).sign(wallet).verify()
    big = DataItem(tags=[("a", "v" * 3000), ("b", "v" * 1100)]).sign(wallet)
    big.verify()
    with pytest.raises(InvalidSignature):
        big.verify(arbundles=True)


def test_sign_refuses_mismatched_keys() -> None:
    with pytest.raises(TypeError):
        SAMPLE.sign(Secp256k1Key.generate(), signature_type=2)
    with pytest.raises(TypeError):
        SAMPLE.sign(Ed25519Key.generate(), salt=bytes(32))
    with pytest.raises(DecodeError, match="unsupported signature type 9"):
        SAMPLE.sign(Ed25519Key.generate(), signature_type=9)


# -- construction errors --------------------------------------------------------

BAD_FIELDS: dict[str, tuple[dict[str, Any], str]] = {
    "short signature": ({"signature": bytes(511)}, "signature must be 512 bytes"),
    "long ed25519 signature": ({"signature_type": 2, "signature": bytes(65)},
                               "signature must be 64 bytes"),
    "short owner": ({"owner": bytes(32)}, "owner must be 512 bytes"),
    "ethereum owner": ({"signature_type": 3, "owner": bytes(64)}, "owner must be 65 bytes"),
    "target": ({"target": bytes(31)}, "target must be empty or 32 bytes"),
    "anchor": ({"anchor": b"short anchor"}, "anchor must be empty or 32 bytes"),
    "unknown type": ({"signature_type": 7}, "unsupported signature type 7"),
    "empty name": ({"tags": [("", "v")]}, "empty name"),
}


@pytest.mark.parametrize("case", sorted(BAD_FIELDS))
def test_invalid_items_cannot_be_built(case: str) -> None:
    fields, fault = BAD_FIELDS[case]
    with pytest.raises(DecodeError, match=fault):
        DataItem(**fields)


def test_field_types_are_checked() -> None:
    with pytest.raises(TypeError):
        DataItem(data=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        DataItem(tags=["ab"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        DataItem(signature_type=True)


def test_non_canonical_tag_bytes_are_kept() -> None:
    """A two-block encoding of the same tags survives parsing, serializing and signing."""
    canonical = DataItem(signature_type=2, tags=[("a", "b"), ("c", "")], data=b"x")
    section = b"\x02\x02a\x02b" + b"\x01\x06\x02c\x00" + b"\x00"
    raw = canonical.serialize().replace(canonical.raw_tags, section)
    size = len(canonical.raw_tags).to_bytes(8, "little")
    raw = raw.replace(size, len(section).to_bytes(8, "little"))
    item = parse_item(raw)
    assert item.tags == canonical.tags
    assert item.raw_tags == section
    assert item.serialize() == raw
    assert item != canonical
    signed = replace(item, data=b"y")  # a changed item is re-encoded canonically
    assert signed.raw_tags == canonical.raw_tags
    key = Ed25519Key.generate()
    resigned = parse_item(raw).sign(key)
    assert resigned.raw_tags == canonical.raw_tags


# -- parse errors ---------------------------------------------------------------


def _layout(item: DataItem) -> tuple[int, int]:
    """(offset of the tag count field, offset of the data) in `item`'s bytes."""
    scheme = item.scheme
    at = 2 + scheme.signature_length + scheme.owner_length + 2
    at += len(item.target) + len(item.anchor)
    return at, at + 16 + len(item.raw_tags)


ED_ITEM = DataItem(signature_type=2, tags=[("Type", "ed25519"), ("k", "v")], data=b"data").sign(
    Ed25519Key.from_seed(bytes(range(1, 33)))
)


def test_every_truncation_before_the_data_is_named() -> None:
    raw = ED_ITEM.serialize()
    _, data_at = _layout(ED_ITEM)
    for n in range(data_at):
        with pytest.raises(DecodeError, match=r"ans104: (item truncated|tag section)"):
            parse_item(raw[:n])


def test_truncation_inside_the_data_is_just_less_data() -> None:
    raw = ED_ITEM.serialize()
    assert parse_item(raw[:-1]).data == b"dat"


def _with_counts(item: DataItem, count: int, size: int) -> bytes:
    raw = item.serialize()
    at, _ = _layout(item)
    return raw[:at] + count.to_bytes(8, "little") + size.to_bytes(8, "little") + raw[at + 16 :]


def test_tag_section_shorter_than_declared() -> None:
    """HyperBEAM#914: a declared tag size larger than the Avro array is refused."""
    declared = len(ED_ITEM.raw_tags) + 2  # swallows two data bytes
    with pytest.raises(DecodeError, match="tag section ends at byte"):
        parse_item(_with_counts(ED_ITEM, len(ED_ITEM.tags), declared))


def test_tag_section_longer_than_declared() -> None:
    declared = len(ED_ITEM.raw_tags) - 1
    with pytest.raises(DecodeError, match="tag section"):
        parse_item(_with_counts(ED_ITEM, len(ED_ITEM.tags), declared))


def test_tag_section_past_the_end() -> None:
    with pytest.raises(DecodeError, match="declares 1000 tag bytes"):
        parse_item(_with_counts(ED_ITEM, len(ED_ITEM.tags), 1000))


def test_tag_count_mismatch() -> None:
    with pytest.raises(DecodeError, match="declares 3 tags"):
        parse_item(_with_counts(ED_ITEM, 3, len(ED_ITEM.raw_tags)))
    with pytest.raises(DecodeError, match="more tags than the 1 the item declares"):
        parse_item(_with_counts(ED_ITEM, 1, len(ED_ITEM.raw_tags)))


@pytest.mark.parametrize("sig_type", [0, 5, 6, 7, 101, 0xFFFF])
def test_unknown_signature_type(sig_type: int) -> None:
    raw = sig_type.to_bytes(2, "little") + ED_ITEM.serialize()[2:]
    with pytest.raises(DecodeError, match=f"unsupported signature type {sig_type}"):
        parse_item(raw)


def test_wrong_signature_length_misaligns_the_item() -> None:
    """An RSA-sized signature under an Ed25519 type header cannot parse."""
    rsa = DataItem(tags=[("a", "b")], data=b"x").sign(key_1()) if KEY_1.is_file() else None
    if rsa is None:
        pytest.skip(f"{KEY_1} is missing")
    raw = b"\x02\x00" + rsa.serialize()[2:]
    with pytest.raises(DecodeError, match="presence byte|tag|truncated"):
        parse_item(raw)


@pytest.mark.parametrize("flag", [2, 0x80, 0xFF])
def test_presence_bytes_other_than_0_1(flag: int) -> None:
    raw = bytearray(ED_ITEM.serialize())
    raw[2 + 64 + 32] = flag  # target presence
    with pytest.raises(DecodeError, match=f"target presence byte at offset 98 is {flag:#04x}"):
        parse_item(bytes(raw))


def test_empty_tag_name_in_an_item() -> None:
    item = DataItem(signature_type=2, tags=[("a", "b")])
    raw = item.serialize().replace(b"\x02\x02a\x02b\x00", b"\x02\x00\x02b\x00\x00")
    at, _ = _layout(item)
    raw = raw[:at] + (1).to_bytes(8, "little") + (6).to_bytes(8, "little") + raw[at + 16 :]
    with pytest.raises(DecodeError, match="empty name"):
        parse_item(raw)


# -- fuzzing --------------------------------------------------------------------


def _seeds() -> list[bytes]:
    ed = Ed25519Key.from_seed(bytes(32))
    eth = Secp256k1Key.from_secret(bytes(31) + b"\x01")
    return [
        ED_ITEM.serialize(),
        DataItem(signature_type=4, target=bytes(32)).sign(ed, signature_type=4).serialize(),
        DataItem(tags=[("a", "")] * 3, anchor=bytes(32)).sign(eth).serialize(),
        DataItem(signature_type=2).serialize(),
    ]


SEEDS = _seeds()


@st.composite
def mutated_items(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del raw[at:]
        elif op == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif raw:
            del raw[at : at + draw(st.integers(1, 8))]
    return bytes(raw)


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated_items(), st.binary(max_size=300)))
def test_fuzz_parser_raises_only_decode_error(raw: bytes) -> None:
    try:
        item = parse_item(raw)
    except DecodeError:
        return
    assert item.serialize() == raw
    try:
        item.verify()
    except InvalidSignature:
        pass
