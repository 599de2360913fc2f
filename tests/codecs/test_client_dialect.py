"""Inbound requests signed the way aoconnect's httpsig signer does (clients-legacy-users.md §0 item 5, §1.2):
a bare base64url keyid, an `http-sig-<hex>` label, every header covered in sorted order, and
RSA-PSS at the maximum salt length. The reference ignores such signatures; aonode verifies them."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from oracle import FIXTURES

from aonode.codecs import decode, httpsig, signers, verify
from aonode.crypto import Wallet, b64_encode, b64url_decode, b64url_encode
from aonode.errors import InvalidSignature


def _aoconnect_request(wallet: Wallet, headers: dict[str, bytes]) -> dict[str, bytes]:
    names = sorted(headers)
    keyid = b64url_encode(wallet.modulus)
    params = "(" + " ".join(f'"{n}"' for n in names) + ")"
    params += f';alg="rsa-pss-sha512";keyid="{keyid}"'
    base = b"\n".join(f'"{n}": '.encode() + headers[n] for n in names) + b'\n"@signature-params": ' + params.encode()
    signature = wallet.key.sign(
        base, padding.PSS(padding.MGF1(hashes.SHA512()), padding.PSS.MAX_LENGTH), hashes.SHA512()
    )
    label = "http-sig-" + b64url_decode(wallet.address)[1:9].hex()
    return {
        **headers,
        "signature": f"{label}=:{b64_encode(signature)}:".encode(),
        "signature-input": f"{label}={params}".encode(),
    }


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    if not (FIXTURES / "key-1.json").exists():
        pytest.skip("shared fixtures missing")
    return Wallet.load(FIXTURES / "key-1.json")


def test_aoconnect_signed_request_verifies(wallet: Wallet) -> None:
    wire = _aoconnect_request(wallet, {"hello": b"world", "signing-format": b"ans104"})
    msg = decode(wire, httpsig.NAME)
    assert isinstance(msg, dict)
    verify(msg)
    assert signers(msg) == [wallet.address]
    assert msg["hello"] == b"world"


def test_aoconnect_typed_headers_decode_but_cannot_verify(wallet: Wallet) -> None:
    """aoconnect writes ao-types members as bare tokens (`count=integer`). The values decode,
    but a signature over that text cannot be rebuilt from the message, whose canonical
    ao-types is quoted (docs/compat.md). The request is then treated as unverified."""
    wire = _aoconnect_request(wallet, {"ao-types": b"count=integer", "count": b"42"})
    msg = decode(wire, httpsig.NAME)
    assert isinstance(msg, dict)
    assert msg["count"] == 42
    with pytest.raises(InvalidSignature):
        verify(msg)


def test_aoconnect_tampered_request_fails(wallet: Wallet) -> None:
    wire = _aoconnect_request(wallet, {"hello": b"world"})
    wire["hello"] = b"mars"
    msg = decode(wire, httpsig.NAME)
    assert isinstance(msg, dict)
    with pytest.raises(InvalidSignature):
        verify(msg)
