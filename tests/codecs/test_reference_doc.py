"""Vectors printed in messages-codecs-ids.md (§5.6, Appendix A), kept as data in vectors/reference_doc.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from oracle import FIXTURES, term

from aonode.codecs import commit, encode, hashpath, httpsig, message_id, to_tabm, verify
from aonode.codecs._keyid import publickey_keyid
from aonode.crypto import Wallet, accumulate, b64url_decode, b64url_encode, rsa_pss_verify, sha256
from aonode.message import Atom

DOC = json.loads((Path(__file__).parent / "vectors" / "reference_doc.json").read_text())


@pytest.mark.parametrize("case", DOC["ids"], ids=lambda c: c["name"])
def test_unsigned_ids(case: dict[str, Any]) -> None:
    assert message_id(term(case["message"])) == case["id"]


def test_large_values_move_into_the_body() -> None:
    case = DOC["large_id"]
    big = b"x" * case["big_len"]
    msg = {"small": case["small"], "big": big, "body": case["body"], "n": {"big2": big, "c": "d"}}
    assert message_id(msg) == case["id"]


def test_bundled_commitment_id_differs() -> None:
    case = DOC["bundle_hmac"]
    signed = commit(term(case["message"]), type="unsigned", bundle=True)
    assert list(signed["commitments"]) == [case["id"]]
    verify(signed)


def test_accumulate() -> None:
    case = DOC["accumulate"]
    assert b64url_encode(accumulate([b64url_decode(i) for i in case["ids"]])) == case["sum"]
    assert b64url_encode(accumulate([b64url_decode(case["ids"][0])])) == case["ids"][0]


@pytest.mark.parametrize("case", DOC["hashpaths"], ids=str)
def test_hashpath_chain(case: dict[str, Any]) -> None:
    base = term(case["base"])
    for request, expected in zip(case["requests"], case["expected"], strict=True):
        path = hashpath(base, term(request))
        assert path == expected
        base = {"priv": {"hashpath": path}}


@pytest.mark.parametrize("case", DOC["digests"], ids=lambda c: c["body"])
def test_content_digest(case: dict[str, Any]) -> None:
    wire = encode(term(case["message"]), httpsig.NAME)
    assert wire["content-digest"] == case["content-digest"].encode()
    assert wire["body"] == case["body"].encode()
    for key, value in case["headers"].items():
        assert wire[key] == value.encode()


@pytest.mark.parametrize("case", DOC["multipart"], ids=lambda c: c["name"])
def test_multipart_boundary_and_digest(case: dict[str, Any]) -> None:
    wire = encode(term(case["message"]), httpsig.NAME, bundle=True)
    assert wire["content-type"] == f'multipart/form-data; boundary="{case["boundary"]}"'.encode()
    assert wire["content-digest"] == f"sha-256=:{case['digest']}:".encode()


def test_reference_rsa_signature_a3() -> None:
    case = DOC["rsa_a3"]
    if not (FIXTURES / "key-1.json").exists():
        pytest.skip("shared fixtures missing")
    modulus = Wallet.load(FIXTURES / "key-1.json").modulus
    commitment = {
        "commitment-device": b"httpsig@1.0", "type": b"rsa-pss-sha512",
        "keyid": publickey_keyid(modulus).encode(), "committed": {"1": b"a"},
        "signature": case["signature"].encode(),
    }
    base = httpsig.signature_base(to_tabm(term(case["message"])), commitment)
    signature = b64url_decode(case["signature"])
    rsa_pss_verify(modulus, base, signature, "sha512")
    assert b64url_encode(sha256(signature)) == case["id"]
    wire = httpsig.to_wire({**to_tabm(term(case["message"])), "commitments": {case["id"]: commitment}})
    assert wire["signature"].startswith(case["label"].encode() + b"=:")


def test_atoms_are_typed() -> None:
    wire = encode({"x": Atom("foo"), "t": True}, httpsig.NAME)
    assert wire["ao-types"] == b't="atom", x="atom"'
