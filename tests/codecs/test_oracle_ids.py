"""The reference's own IDs, TABMs, httpsig encodings and signature bases (vectors/oracle/ids.json)."""

from __future__ import annotations

from typing import Any

import pytest
from oracle import failed, term, vectors

from aonode.codecs import commit, decode, encode, httpsig, message_id, structured, to_tabm
from aonode.codecs._ids import _child_id

CASES = vectors("ids.json")


def _ids(case: dict[str, Any]) -> str:
    return str(case["name"])


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_unsigned_id(case: dict[str, Any]) -> None:
    if failed(case["id_none"]):
        pytest.skip("the reference raised")
    assert message_id(term(case["message"])) == case["id_none"]


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_id_all(case: dict[str, Any]) -> None:
    if failed(case["id_all"]):
        pytest.skip("the reference raised (integers over 15 digits; see docs/compat.md)")
    assert message_id(term(case["message"]), committers="all") == case["id_all"]


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_tabm(case: dict[str, Any]) -> None:
    if failed(case["tabm"]):
        pytest.skip("the reference raised")
    expected = term(case["tabm"])
    expected.pop("priv", None)
    assert structured.from_wire(term(case["message"]), link=_child_id) == expected


def _expected_wire(record: dict[str, Any]) -> dict[str, bytes]:
    wire = {k: v for k, v in term(record["headers"]).items() if k != "priv"}
    if "body" in record:
        wire["body"] = term(record["body"])
    return wire


def _assert_wire(ours: dict[str, bytes], expected: dict[str, bytes]) -> None:
    """Byte for byte, unless the reference writes a header HTTP cannot carry: aonode sends that
    key in the body instead (docs/compat.md), and both decode to the same message."""
    if all(httpsig.header_allowed(k, v) for k, v in expected.items() if k != "body"):
        assert ours == expected
    else:
        assert all(httpsig.header_allowed(k, v) for k, v in ours.items() if k != "body")
        assert httpsig.from_wire(ours) == httpsig.from_wire(expected)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_httpsig_encoding(case: dict[str, Any]) -> None:
    if failed(case["httpsig"]):
        pytest.skip("the reference raised")
    _assert_wire(encode(term(case["message"]), httpsig.NAME), _expected_wire(case["httpsig"]))


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_httpsig_bundle_encoding(case: dict[str, Any]) -> None:
    if failed(case["httpsig_bundle"]):
        pytest.skip("the reference raised")
    _assert_wire(encode(term(case["message"]), httpsig.NAME, bundle=True), _expected_wire(case["httpsig_bundle"]))


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_unsigned_commitment(case: dict[str, Any]) -> None:
    record = case["unsigned_commitment"]
    if failed(record) or failed(record.get("signature_base")):
        pytest.skip("the reference raised")
    msg = term(case["message"])
    tabm = to_tabm(msg)
    committed = httpsig.commit(tabm, type="unsigned")
    assert committed["commitments"] == term(record["commitments"])
    (cid, commitment), = committed["commitments"].items()
    assert httpsig.signature_base(tabm, commitment) == term(record["signature_base"])
    signed = commit(msg, type="unsigned")
    _assert_wire(encode(signed, httpsig.NAME), _expected_wire(record["httpsig"]))


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_httpsig_roundtrip(case: dict[str, Any]) -> None:
    if case.get("httpsig_roundtrip_equal") != {"$atom": "true"}:
        pytest.skip("the reference does not round-trip this message")
    msg = term(case["message"])
    msg.pop("priv", None) if isinstance(msg, dict) else None
    bundled = decode(encode(msg, httpsig.NAME, bundle=True), httpsig.NAME)
    assert message_id(bundled) == message_id(msg)
    assert bundled == _normalised(msg)


def _normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value
