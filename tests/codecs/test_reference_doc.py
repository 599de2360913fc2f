"""Vectors printed in messages-codecs-ids.md (§5.6, Appendix A), kept as data in vectors/reference_doc.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from oracle import term

from aonode.codecs import commit, encode, hashpath, httpsig, message_id, to_tabm, verify
from aonode.codecs._keyid import publickey_keyid
from aonode.crypto import accumulate, b64url_decode, b64url_encode, rsa_pss_verify, sha256
from aonode.message import Atom

DOC = json.loads((Path(__file__).parent / "vectors" / "reference_doc.json").read_text())
KEY_1_N = "tOXLN-nTclyjAF42bduLkR2phmF34xnJM1Fq84YtpE_RV5N69dGqLe_9qjBsUNgSWvIgqEJOi58jeHVuByvdqUiO3WxB7MunisLnufaFgH5_-kKIkUfNOrbAYYh2W4xCyFSmsFxNKP1xWE3IdZDNRq5_gxG_XRZ14ciTJ_Wv5tlOgXxfxTYj1-npqbQoO4L2quPj9pSS5yhwepTl2qeBVQwk4d6tw8vYL5RltFOuqDrDejDt5wWjtfxTAbQY4Iog6cWtnKIjyAeGibHybhTVya5fsWh41Ojyr58_ohAR3YKlrtxeV_X0EYjl78o1hoRT_8x6C32Mqzf6-QcgMXx5Ml9uerzwA6s8ZknaSklDQw5cH5g5T8ku7PVbELOkbJAkBuPMCAFj4q71-Df-u7wTG0AFjpkXcf8_RuGFBoZlkyGXuBE4wAwdpky-wFmMQo08exUk_-KaOMcP2jmHiZX9vWkEy1RJ3npU0dIKQw03r1eAEm_TYQBqAqtE0kXPZjGG54LIaQZt0SXnpxkQZP8barpkep3b3sdRRFjurxJbhJ1wFSFi7UQ4e5Gbyf2041iSnw3eiLfIBILrBnSJB9xutnwRzmlDgn8zC5EKZwzD1M6PHxvOdPAl2aL7rp65DEZlbA85sUunGqenLH7C_3iMmyZsMCIqQX0eP38FRLwH03U"


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
    for request, expected in zip(case["requests"], case["expected"]):
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
    modulus = b64url_decode(KEY_1_N)
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
