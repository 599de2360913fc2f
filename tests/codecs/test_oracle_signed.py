"""Messages the reference signed with key-1 (vectors/oracle/signed.json): aonode must
rebuild every signature base byte for byte, accept every signature, and reject tampering."""

from __future__ import annotations

from typing import Any

import pytest
from oracle import FIXTURES, failed, term, vectors

from aonode.codecs import decode, httpsig, message_id, signers, to_tabm, verify
from aonode.crypto import Wallet, b64url_decode, b64url_encode, sha256
from aonode.errors import AOError, InvalidSignature

CASES = vectors("signed.json")
KEY_1 = "vcaPe4JWnrSOCktDHBgXge-zWUb6JRkqbom5w9t7i-4"


def _ids(case: dict[str, Any]) -> str:
    return str(case["name"])


def _signed(case: dict[str, Any]) -> dict[str, Any]:
    msg = term(case["message"])
    msg["commitments"] = term(case["commitments"])
    return msg


def _wire(record: dict[str, Any]) -> dict[str, bytes]:
    wire = term(record["headers"])
    if "body" in record:
        wire["body"] = term(record["body"])
    return wire


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_signature_bases_reproduce(case: dict[str, Any]) -> None:
    msg = term(case["message"])
    for cid, commitment in term(case["commitments"]).items():
        tabm = to_tabm(msg, bundle=commitment.get("bundle") == b"true")
        assert httpsig.signature_base(tabm, commitment) == term(case["signature_bases"][cid])


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_reference_signatures_verify(case: dict[str, Any]) -> None:
    msg = _signed(case)
    verify(msg)
    assert message_id(msg) == case["id_none"]
    assert message_id(msg, committers="all") == case["id_all"]
    assert signers(msg) == case["signers"]


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_id_all_is_sha256_of_signature(case: dict[str, Any]) -> None:
    for cid, commitment in term(case["commitments"]).items():
        raw = b64url_decode(commitment["signature"])
        assert cid == (b64url_encode(raw) if len(raw) == 32 else b64url_encode(sha256(raw)))


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_decoded_from_wire_verifies(case: dict[str, Any]) -> None:
    decoded = decode(_wire(case["httpsig"]), httpsig.NAME)
    assert isinstance(decoded, dict)
    verify(decoded)
    assert decoded["commitments"] == term(case["decoded_from_httpsig"]["commitments"])
    assert message_id(decoded, committers="all") == case["decoded_id_all"]
    assert signers(decoded) == case["decoded_signers"]


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_tampered_header_is_rejected(case: dict[str, Any]) -> None:
    tampered = case["tampered"]
    if failed(tampered):
        pytest.skip("no tamper record")
    wire = _wire(case["httpsig"])
    key = tampered["tampered_header"]
    wire[key] = wire[key] + b"-tampered"
    with pytest.raises(AOError):
        decoded = decode(wire, httpsig.NAME)
        assert isinstance(decoded, dict)
        verify(decoded)


def test_reference_wallet_address() -> None:
    if not (FIXTURES / "key-1.json").exists():
        pytest.skip("shared fixtures missing")
    assert Wallet.load(FIXTURES / "key-1.json").address == KEY_1


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_signing_with_key_1_gives_reference_bases(case: dict[str, Any]) -> None:
    """aonode's own signature over the same message has the reference's base and verifies."""
    if not (FIXTURES / "key-1.json").exists():
        pytest.skip("shared fixtures missing")
    from aonode.codecs import commit

    wallet = Wallet.load(FIXTURES / "key-1.json")
    signed = commit(term(case["message"]), wallet)
    verify(signed)
    assert message_id(signed) == case["id_none"]
    ours = {c["type"]: c for c in signed["commitments"].values()}
    theirs = {c["type"]: c for c in term(case["commitments"]).values()}
    assert ours[b"rsa-pss-sha512"]["committed"] == theirs[b"rsa-pss-sha512"]["committed"]
    assert ours[b"rsa-pss-sha512"]["keyid"] == theirs[b"rsa-pss-sha512"]["keyid"]
    with pytest.raises(InvalidSignature):
        changed = dict(signed)
        changed[next(k for k in signed if k != "commitments")] = b"changed"
        verify(changed)
