"""The `ans104@1.0` codec: items <-> TABMs, commit, verify (ans104-arweave.md §10, §14)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aonode.codecs import VERIFIERS, ans104, decode, encode, flat, message_id, structured
from aonode.codecs import verify as verify_message
from aonode.codecs._bundle import decode_bundle
from aonode.codecs._dataitem import DataItem, parse_item
from aonode.crypto import Wallet, b64url_decode, b64url_encode
from aonode.crypto._ed25519 import Ed25519Key
from aonode.crypto._secp256k1 import Secp256k1Key
from aonode.errors import DecodeError, EncodeError, InvalidSignature
from aonode.message import TABM

SHARED = Path(__file__).resolve().parents[3] / "shared"
VECTORS = SHARED / "vectors" / "ans104"
KEY_1 = SHARED / "fixtures" / "key-1.json"
KEY_1_ADDRESS = "vcaPe4JWnrSOCktDHBgXge-zWUb6JRkqbom5w9t7i-4"

needs_shared = pytest.mark.skipif(
    not (VECTORS.is_dir() and KEY_1.is_file()), reason=f"{SHARED} is missing"
)


@pytest.fixture(autouse=True)
def ans104_verifier(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Route `ans104@1.0` commitments to this codec, whether or not the lead wired it yet."""
    monkeypatch.setitem(VERIFIERS, ans104.NAME, ans104.verify)
    yield


@cache
def key_1() -> Wallet:
    return Wallet.load(KEY_1)


@cache
def ed_key() -> Ed25519Key:
    return Ed25519Key.from_seed(bytes(range(32)))


def raw_vector(name: str) -> bytes:
    path = VECTORS / name
    if not path.exists():
        pytest.skip(f"shared vectors not found at {path}")
    return base64.b64decode(path.read_text())


def only_commitment(tabm: TABM | bytes) -> tuple[str, TABM]:
    assert isinstance(tabm, dict)
    commitments = tabm["commitments"]
    assert isinstance(commitments, dict) and len(commitments) == 1
    ((cid, commitment),) = commitments.items()
    assert isinstance(commitment, dict)
    return cid, commitment


def committed(commitment: TABM) -> list[str]:
    numbered = commitment["committed"]
    assert isinstance(numbered, dict)
    return [numbered[k].decode() for k in sorted(numbered, key=int)]  # type: ignore[union-attr]


def signed_vectors() -> list[str]:
    if not VECTORS.is_dir():
        return []
    return [
        "v1_rsa_full.b64", "v2_rsa_notags.b64", "v3_rsa_manytags_emptydata.b64",
        "v5_rsa_full_fixed_salt.b64", "v6_ed25519_type2.b64", "v7_ethereum_type3.b64",
        "v8_solana_hex_type4.b64", "hb_v1_fields_signed_by_hyperbeam.b64",
        "hb_signed_map_bundle.b64",
    ]


# -- the vectors ------------------------------------------------------------------


@needs_shared
@pytest.mark.parametrize("name", signed_vectors())
def test_signed_vector_round_trips_and_verifies(name: str) -> None:
    raw = raw_vector(name)
    item = parse_item(raw)
    tabm = ans104.from_wire(raw)
    cid, commitment = only_commitment(tabm)
    assert cid == b64url_encode(item.id)
    ans104.verify(tabm, cid, commitment)
    assert ans104.to_wire(tabm) == raw
    assert ans104.to_item(tabm) == item


@needs_shared
@pytest.mark.parametrize(
    "name",
    ["v4b_hb_unsigned_zero_owner.b64", "hb_unsigned_map_bundle.b64", "hb_unsigned_list_bundle.b64"],
)
def test_unsigned_hyperbeam_vectors_round_trip(name: str) -> None:
    """Unsigned items with lower-case tags have no commitment, and re-encode identically."""
    tabm = ans104.from_wire(raw_vector(name))
    assert isinstance(tabm, dict) and "commitments" not in tabm
    assert ans104.to_wire(tabm) == raw_vector(name)


@needs_shared
def test_v1_commitment_shape() -> None:
    """§10.2 step 8, field by field."""
    raw = raw_vector("v1_rsa_full.b64")
    item = parse_item(raw)
    tabm = ans104.from_wire(raw)
    cid, commitment = only_commitment(tabm)
    assert set(commitment) == {
        "commitment-device", "type", "committer", "keyid", "signature", "committed",
        "bundle", "original-tags", "field-target", "field-anchor",
    }
    assert commitment["commitment-device"] == b"ans104@1.0"
    assert commitment["type"] == b"rsa-pss-sha256"
    assert commitment["committer"] == KEY_1_ADDRESS.encode()
    assert commitment["keyid"] == b"publickey:" + b64url_encode(item.owner).encode()
    assert commitment["signature"] == b64url_encode(item.signature).encode()
    assert committed(commitment) == [
        "data", "content-type", "app-name", "data-protocol", "type", "variant", "target",
    ]
    assert commitment["bundle"] == b"false"
    assert commitment["original-tags"] == {
        str(i): {"name": n, "value": v} for i, (n, v) in enumerate(item.tags, 1)
    }
    assert commitment["field-target"] == b"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
    assert commitment["field-anchor"] == b"this-is-a-32-byte-anchor-string!"
    assert {k: v for k, v in tabm.items() if k != "commitments"} == {
        "content-type": b"text/plain",
        "app-name": b"hyperbeam-py-vectors",
        "data-protocol": b"ao",
        "type": b"Message",
        "variant": b"ao.TN.1",
        "target": b"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        "data": b"Hello, AO-Core!",
    }


@needs_shared
def test_v3_duplicate_names_become_sf_lists() -> None:
    item = parse_item(raw_vector("v3_rsa_manytags_emptydata.b64"))
    tabm = ans104.from_wire(item)
    assert isinstance(tabm, dict)
    values = [v for n, v in item.tags if n.lower() == b"dup"]
    assert len(values) == 3
    assert tabm["dup"] == b", ".join(b'"' + v + b'"' for v in values)
    assert "data" not in tabm  # empty data is no key


@needs_shared
def test_hb_signed_map_bundle_unbundles() -> None:
    tabm = ans104.from_wire(raw_vector("hb_signed_map_bundle.b64"))
    assert isinstance(tabm, dict)
    child = tabm["key1"]
    assert isinstance(child, dict) and child["data"] == b"item1_data"
    _, commitment = only_commitment(tabm)
    assert commitment["bundle"] == b"true"
    assert committed(commitment) == ["key1"]
    child_cid, child_commitment = only_commitment(child)
    ans104.verify(child, child_cid, child_commitment)


def test_bare_binary_bundle_entries_come_back_bare() -> None:
    tabm = ans104.from_wire(raw_vector("hb_unsigned_map_bundle_bare_binary.b64"))
    assert tabm == {"raw": b"bare-binary"}


# -- worked examples (§10.5) and the reference's own tests (§14) -----------------------


@needs_shared
def test_worked_example_body_and_ao_data_key() -> None:
    """Example 1, and `ao_data_key_test`."""
    signed = ans104.commit({"a": b"1", "b": b"2", "body": b"hello"}, key_1())
    item = ans104.to_item(signed)
    assert item.tags == ((b"ao-data-key", b"body"), (b"a", b"1"), (b"b", b"2"))
    assert item.data == b"hello"
    item.verify()
    decoded = ans104.from_wire(item.serialize())
    cid, commitment = only_commitment(decoded)
    assert committed(commitment) == ["body", "a", "b"]
    assert "original-tags" not in commitment
    assert decoded == signed
    ans104.verify(decoded, cid, commitment)


def test_worked_example_typed_values() -> None:
    """Example 2: `{count: 5}` carries its ao-types as a tag."""
    tabm = structured.from_wire({"count": 5})
    assert isinstance(tabm, dict)
    item = ans104.to_item(tabm)
    assert item.tags == ((b"ao-types", b'count="integer"'), (b"count", b"5"))
    assert structured.to_wire(ans104.from_wire(item)) == {"count": 5}


def test_worked_example_aoconnect_item() -> None:
    """Example 3: an aoconnect message with a target."""
    target = bytes(range(100, 132))
    item = DataItem(
        target=target,
        tags=[("Action", "Eval"), ("data-protocol", "ao"), ("type", "Message"),
              ("variant", "ao.N.1")],
        data=b"1+1",
    ).sign(ed_key())
    tabm = ans104.from_wire(item)
    cid, commitment = only_commitment(tabm)
    assert {k: v for k, v in tabm.items() if k != "commitments"} == {
        "action": b"Eval", "data-protocol": b"ao", "type": b"Message",
        "variant": b"ao.N.1", "target": b64url_encode(target).encode(), "data": b"1+1",
    }
    assert committed(commitment) == ["data", "action", "data-protocol", "type", "variant", "target"]
    assert "original-tags" in commitment
    assert commitment["field-target"] == b64url_encode(target).encode()
    assert commitment["type"] == b"ed25519"
    ans104.verify(tabm, cid, commitment)
    assert ans104.to_wire(tabm) == item.serialize()


def test_normal_tags() -> None:
    msg: TABM = {"first-tag": b"first-value", "second-tag": b"second-value"}
    assert ans104.from_wire(ans104.to_wire(msg)) == msg


@pytest.mark.parametrize("signed", [False, True])
def test_duplicated_tag_names(signed: bool) -> None:
    """`unsigned_duplicated_tag_name_test` and `signed_duplicated_tag_name_test`."""
    item = DataItem(tags=[("Test-Tag", "test-value"), ("test-tag", "test-value-2")])
    if signed:
        item = item.sign(ed_key(), signature_type=2)
    tabm = ans104.from_wire(item)
    assert isinstance(tabm, dict)
    assert tabm["test-tag"] == b'"test-value", "test-value-2"'
    _, commitment = only_commitment(tabm)
    assert commitment["type"] == (b"ed25519" if signed else b"unsigned-sha256")
    assert ans104.to_item(tabm) == item


def test_unsigned_lowercase_items_have_no_commitment() -> None:
    assert ans104.from_wire(DataItem(tags=[("a", "1")], data=b"x")) == {"a": b"1", "data": b"x"}


def test_unsigned_commitment_is_keyed_by_the_unsigned_id() -> None:
    item = DataItem(tags=[("A", "1")])
    cid, commitment = only_commitment(ans104.from_wire(item))
    assert cid == b64url_encode(item.unsigned_id)
    assert "signature" not in commitment and "committer" not in commitment


def test_external_item_with_target_field() -> None:
    item = DataItem(
        target=os.urandom(32),
        tags=[("test-tag", "test-value"), ("test-tag-2", "test-value-2")],
        data=b"test-data",
    ).sign(ed_key())
    tabm = ans104.from_wire(item)
    assert isinstance(tabm, dict)
    assert tabm["target"] == b64url_encode(item.target).encode()
    assert ans104.to_item(tabm) == item


def test_generate_item_with_target_tag() -> None:
    msg: TABM = {"target": b"NON-ID-TARGET", "other-key": b"other-value"}
    item = ans104.to_item(msg)
    assert item.target == b""
    assert (b"target", b"NON-ID-TARGET") in item.tags
    decoded = ans104.from_wire(item)
    assert decoded == msg
    assert ans104.to_item(decoded) == item


@needs_shared
def test_generate_item_with_target_field() -> None:
    target = b64url_encode(os.urandom(32)).encode()
    signed = ans104.commit({"target": target, "other-key": b"other-value"}, key_1())
    item = ans104.to_item(signed)
    assert b64url_encode(item.target).encode() == target
    assert item.tags == ((b"other-key", b"other-value"),)
    decoded = ans104.from_wire(item)
    assert isinstance(decoded, dict) and decoded["target"] == target
    assert ans104.to_item(decoded) == item
    item.verify()


@pytest.mark.parametrize("length", [31, 33, 42])
def test_targets_that_are_not_32_bytes_stay_tags(length: int) -> None:
    target = b64url_encode(bytes(range(length))).encode()
    item = ans104.to_item({"target": target})
    assert item.target == b"" and item.tags == ((b"target", target),)


def test_type_tag() -> None:
    item = DataItem(tags=[("type", "test-value")]).sign(ed_key())
    assert ans104.to_item(structured.from_wire(structured.to_wire(ans104.from_wire(item)))) == item


def test_unsorted_tags() -> None:
    item = DataItem(tags=[("z", "position-1"), ("a", "position-2")], data=b"data").sign(ed_key())
    tabm = ans104.from_wire(item)
    cid, commitment = only_commitment(tabm)
    ans104.verify(tabm, cid, commitment)
    assert ans104.to_item(tabm) == item


def test_field_and_tag_ordering() -> None:
    signed = ans104.commit({"a": b"value1", "z": b"value2", "target": b"NON-ID-TARGET"}, ed_key(),
                           type="ed25519")
    cid, commitment = only_commitment(signed)
    ans104.verify(signed, cid, commitment)


@needs_shared
def test_anchored_signed_items_round_trip() -> None:
    """HyperBEAM-main cannot re-encode these (§10.6); aonode reads the raw anchor back."""
    item = DataItem(anchor=b"00000000000000000000000000000042", data=b"x").sign(key_1())
    tabm = ans104.from_wire(item)
    cid, commitment = only_commitment(tabm)
    ans104.verify(tabm, cid, commitment)
    b64 = dict(commitment, **{"field-anchor": b64url_encode(item.anchor).encode()})
    ans104.verify(tabm, cid, b64)  # the base64url form is read too


def test_ao_type_binary_and_unknown_ao_types() -> None:
    assert ans104.to_item(b"raw") == DataItem(tags=[("ao-type", "binary")], data=b"raw")
    assert ans104.from_wire(ans104.to_wire(b"raw")) == b"raw"
    with pytest.raises(DecodeError, match="unsupported ao-type"):
        ans104.from_wire(DataItem(tags=[("ao-type", "list")]))


def test_ao_types_tag_is_normalized() -> None:
    item = DataItem(tags=[("ao-types", 'Count="integer", a="atom"'), ("Count", "5")])
    tabm = ans104.from_wire(item)
    assert isinstance(tabm, dict)
    assert tabm["ao-types"] == b'a="atom", count="integer"'


# -- what goes into the data, bundles --------------------------------------------------


def test_large_values_and_nested_maps_go_into_a_bundle() -> None:
    msg: TABM = {"small": b"s", "big": b"x" * 3073, "nested": {"k": b"v"}, "data": b"D"}
    item = ans104.to_item(msg)
    assert [n for n, _ in item.tags][:2] == [b"bundle-format", b"bundle-version"]
    assert (b"small", b"s") in item.tags
    assert decode_bundle(item.data).layout.value == "hb-2025-09"
    assert ans104.from_wire(item) == msg


def test_large_body_becomes_a_bundle_entry() -> None:
    """§10.3 step 4: a body over 3072 bytes (no data key) is an ao-type: binary entry."""
    msg: TABM = {"body": b"b" * 4000, "k": b"v"}
    item = ans104.to_item(msg)
    assert (b"ao-data-key", b"body") in item.tags
    assert ans104.from_wire(item) == msg


@needs_shared
def test_signed_nested_message_verifies_in_bundle_mode() -> None:
    rich = {"outer": b"1", "child": {"inner": b"2", "deeper": {"x": b"y"}}}
    tabm = structured.from_wire(rich)
    assert isinstance(tabm, dict)
    signed = ans104.commit(tabm, key_1())
    cid, commitment = only_commitment(signed)
    assert commitment["bundle"] == b"true"
    ans104.verify(signed, cid, commitment)
    msg = structured.to_wire(signed)
    assert isinstance(msg, dict)
    verify_message(msg)
    assert message_id(msg, committers="all") == cid


# -- through the message layer ---------------------------------------------------------


@needs_shared
def test_item_signed_by_key_1_verifies_as_a_message() -> None:
    item = parse_item(raw_vector("v1_rsa_full.b64"))
    msg = structured.to_wire(ans104.from_wire(item))
    assert isinstance(msg, dict)
    verify_message(msg)
    assert message_id(msg, committers="all") == b64url_encode(item.id)
    with pytest.raises(InvalidSignature):
        verify_message(dict(msg, data=b"Hello, AO-Core?"))
    # HyperBEAM accepts these two (original-tags and field-target stand in for the
    # message's values); aonode compares the committed values (§16.4).
    with pytest.raises(InvalidSignature):
        verify_message(dict(msg, **{"app-name": b"other"}))
    with pytest.raises(InvalidSignature):
        verify_message(dict(msg, target=b64url_encode(bytes(32)).encode()))
    tabm = ans104.from_wire(item)
    cid, commitment = only_commitment(tabm)
    with pytest.raises(InvalidSignature):
        ans104.verify(tabm, "x" * 43, commitment)  # the ID must be the item's


@needs_shared
@pytest.mark.parametrize("name", signed_vectors())
def test_commitment_survives_flat_storage(name: str) -> None:
    """A received item kept as flat@1.0 paths (how stores keep messages) and read back."""
    tabm = ans104.from_wire(raw_vector(name))
    assert isinstance(tabm, dict)
    stored = flat.to_wire(tabm)
    assert isinstance(stored, dict)
    back = flat.from_wire(stored)
    assert back == tabm
    msg = structured.to_wire(back)
    assert isinstance(msg, dict)
    verify_message(msg)
    assert ans104.to_wire(back) == raw_vector(name)


@needs_shared
@pytest.mark.parametrize("name", signed_vectors())
def test_commitment_survives_httpsig(name: str) -> None:
    """httpsig@1.0 reorders `committed`; with original tags or sorted keys the item comes back."""
    msg = structured.to_wire(ans104.from_wire(raw_vector(name)))
    assert isinstance(msg, dict)
    back = decode(encode(msg, "httpsig@1.0", bundle=True), "httpsig@1.0")
    assert isinstance(back, dict)
    verify_message(back)
    tabm = structured.from_wire(back)
    assert isinstance(tabm, dict)
    assert ans104.to_wire(tabm) == raw_vector(name)


@needs_shared
def test_simple_signed_to_httpsig() -> None:
    signed = structured.to_wire(ans104.commit({"test-tag": b"test-value"}, key_1()))
    assert isinstance(signed, dict)
    wire = encode(signed, "httpsig@1.0")
    back = decode(wire, "httpsig@1.0")
    assert isinstance(back, dict)
    verify_message(back)
    assert encode(back, "httpsig@1.0") == wire


def test_unsorted_lowercase_tags_do_not_survive_httpsig() -> None:
    """As in the reference: httpsig sorts `committed`, and no original-tags keep the order."""
    item = DataItem(tags=[("z", "1"), ("a", "2")]).sign(ed_key())
    msg = structured.to_wire(ans104.from_wire(item))
    assert isinstance(msg, dict)
    verify_message(msg)
    back = decode(encode(msg, "httpsig@1.0"), "httpsig@1.0")
    assert isinstance(back, dict)
    with pytest.raises(InvalidSignature):
        verify_message(back)


# -- commit ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "type_name"),
    [(Ed25519Key.generate(), "ed25519"), (Secp256k1Key.generate(), "ethereum-secp256k1"),
     (Ed25519Key.generate(), "solana-ed25519-hex")],
)
def test_commit_with_other_key_types(key: Any, type_name: str) -> None:
    signed = ans104.commit({"k": b"v", "data": b"d"}, key, type=type_name)
    cid, commitment = only_commitment(signed)
    assert commitment["type"] == type_name.encode()
    assert commitment["committer"] == key.address.encode()
    ans104.verify(signed, cid, commitment)


def test_commit_replaces_other_commitments_and_keeps_the_ans104_layout() -> None:
    first = ans104.commit({"Z": b"1", "a": b"2"}, ed_key(), type="ed25519")
    with_other = dict(first)
    with_other["commitments"] = {**first["commitments"], "other": {"commitment-device": b"httpsig@1.0"}}  # type: ignore[dict-item]
    again = ans104.commit(with_other, Ed25519Key.generate(), type="ed25519")
    cid, commitment = only_commitment(again)
    assert commitment["original-tags"] == only_commitment(first)[1]["original-tags"]
    ans104.verify(again, cid, commitment)


def test_commit_unsigned_normalizes() -> None:
    assert ans104.commit({"a": b"1", "commitments": {}}, type="unsigned") == {"a": b"1"}
    with pytest.raises(EncodeError, match="needs a key"):
        ans104.commit({"a": b"1"})
    with pytest.raises(EncodeError, match="unknown commitment type"):
        ans104.commit({"a": b"1"}, ed_key(), type="hmac-sha256")
    with pytest.raises(EncodeError, match="needs a Wallet key"):
        ans104.commit({"a": b"1"}, ed_key(), type="rsa-pss-sha256")
    _, commitment = only_commitment(ans104.commit({"a": b"1"}, ed_key()))
    assert commitment["type"] == b"ed25519"


# -- what cannot be expressed -----------------------------------------------------------


def test_too_many_keys() -> None:
    ans104.to_item({f"k{i}": b"v" for i in range(128)})
    with pytest.raises(EncodeError, match="129 keys"):
        ans104.to_item({f"k{i}": b"v" for i in range(129)})


def test_several_ans104_commitments() -> None:
    a = ans104.commit({"a": b"1"}, ed_key(), type="ed25519")
    b = ans104.commit({"a": b"1"}, Ed25519Key.generate(), type="ed25519")
    both = dict(a, commitments={**a["commitments"], **b["commitments"]})  # type: ignore[dict-item]
    with pytest.raises(EncodeError, match="several ans104@1.0 commitments"):
        ans104.to_item(both)


def test_missing_committed_key() -> None:
    signed = ans104.commit({"a": b"1", "b": b"2"}, ed_key(), type="ed25519")
    cid, commitment = only_commitment(signed)
    del signed["b"]
    with pytest.raises(EncodeError, match="committed key 'b' is missing"):
        ans104.to_item(signed)
    with pytest.raises(InvalidSignature):
        ans104.verify(signed, cid, commitment)


@pytest.mark.parametrize(
    ("commitment", "fault"),
    [
        ({"signature": b"A"}, "signature is not base64url"),
        ({"field-target": b"AAAA"}, "target must be empty or 32 bytes"),
        ({"committed": b"a"}, "numbered map"),
        ({"original-tags": {"1": {"name": b"a"}}}, "original-tags entries"),
    ],
)
def test_malformed_commitments(commitment: dict[str, Any], fault: str) -> None:
    tabm = {"a": b"1", "commitments": {"x": {"commitment-device": b"ans104@1.0", **commitment}}}
    with pytest.raises(EncodeError, match=fault):
        ans104.to_item(tabm)  # type: ignore[arg-type]


def test_unsigned_commitment_does_not_verify() -> None:
    tabm = ans104.from_wire(DataItem(tags=[("A", "1")]))
    cid, commitment = only_commitment(tabm)
    with pytest.raises(InvalidSignature):
        ans104.verify(tabm, cid, commitment)


def test_decode_errors_pass_through() -> None:
    with pytest.raises(DecodeError, match="unsupported signature type"):
        ans104.from_wire(b"\x09\x00" + bytes(200))


# -- properties -------------------------------------------------------------------------

_RESERVED = {"data", "body", "target", "commitments", "ao-data-key", "ao-types", "ao-type",
             "bundle-format", "bundle-version", "bundle-map"}
names = st.text("abcdefghijklmnopqrstuvwxyzABCDEF-_0123456789", min_size=1, max_size=12).filter(
    lambda n: n.lower() not in _RESERVED and not n.lower().startswith("priv")
)
tag_lists = st.lists(st.tuples(names, st.binary(max_size=40)), max_size=8)


@settings(max_examples=150, deadline=None)
@given(tag_lists, st.binary(max_size=64), st.booleans())
def test_signed_items_round_trip_exactly(
    tags: list[tuple[str, bytes]], data: bytes, with_target: bool
) -> None:
    """Any signed item whose lower-cased names are unique, or that keeps its original tags,
    comes back byte for byte from its TABM."""
    lowered = [n.lower() for n, _ in tags]
    if len(set(lowered)) != len(lowered) and all(n == n.lower() for n, _ in tags):
        return  # duplicate lower-case names without original-tags: §10.6
    item = DataItem(
        signature_type=2, tags=tags, data=data, target=bytes(32) if with_target else b""
    ).sign(ed_key())
    tabm = ans104.from_wire(item.serialize())
    cid, commitment = only_commitment(tabm)
    ans104.verify(tabm, cid, commitment)
    assert ans104.to_wire(tabm) == item.serialize()


keys = st.text("abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=10).filter(
    lambda k: k not in _RESERVED and not k.startswith("priv")
)
tabms = st.dictionaries(keys, st.binary(max_size=50), max_size=10)


@settings(max_examples=100, deadline=None)
@given(tabms, st.binary(max_size=50))
def test_committed_messages_verify_and_decode_to_themselves(tabm: TABM, data: bytes) -> None:
    msg = dict(tabm)
    if data:
        msg["data"] = data
    signed = ans104.commit(msg, ed_key(), type="ed25519")
    cid, commitment = only_commitment(signed)
    ans104.verify(signed, cid, commitment)
    assert {k: v for k, v in signed.items() if k != "commitments"} == msg
    assert ans104.from_wire(ans104.to_wire(signed)) == signed


def test_commitment_ids_are_item_ids() -> None:
    item = DataItem(tags=[("a", "1")]).sign(ed_key())
    cid, _ = only_commitment(ans104.from_wire(item))
    assert b64url_decode(cid) == item.id
    assert json.dumps(cid)  # a plain 43-character string
    assert replace(item, data=b"x").id == item.id  # the ID is the signature's hash
