"""Arweave RSA wallets and RSA-PSS (ans104-arweave.md, messages-codecs-ids.md §3.5).

An Arweave wallet is a 4096-bit RSA key with e = 65537, kept as a JWK. Its
address is base64url(SHA-256(modulus bytes)). Signatures are RSA-PSS with MGF1
over the same hash: SHA-512 with a 64-byte salt for `httpsig@1.0`
(`rsa-pss-sha512`), SHA-256 for ANS-104 and Arweave transactions. Verification
recovers the salt, so any salt length verifies, but the signature must be
exactly as long as the modulus.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from aonode.crypto._b64 import b64url_decode, b64url_encode
from aonode.crypto._hashes import sha256
from aonode.errors import DecodeError, InvalidSignature

__all__ = ["RSA_BITS", "RSA_EXPONENT", "Wallet", "rsa_pss_verify"]

# Arweave wallets are always 4096-bit with the standard public exponent.
RSA_BITS = 4096
RSA_EXPONENT = 65537

HashName = Literal["sha256", "sha512"]
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"sha256": hashes.SHA256, "sha512": hashes.SHA512}


def _int(value: int, length: int | None = None) -> bytes:
    return value.to_bytes(length or (value.bit_length() + 7) // 8, "big")


def _jwk_int(jwk: dict[str, Any], name: str) -> int:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise DecodeError(f"wallet: JWK field {name!r} is missing or not a string")
    return int.from_bytes(b64url_decode(value), "big")


@dataclass(frozen=True, eq=False)
class Wallet:
    """An Arweave RSA key pair. Build with `generate`, `from_jwk` or `load`."""

    key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, bits: int = RSA_BITS) -> Wallet:
        """Make a new random wallet."""
        return cls(rsa.generate_private_key(public_exponent=RSA_EXPONENT, key_size=bits))

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any]) -> Wallet:
        """Build a wallet from an Arweave JWK (`kty`, `n`, `e`, `d`, `p`, `q`, `dp`, `dq`, `qi`).

        Raises:
            DecodeError: the JWK is not an RSA private key.
        """
        if jwk.get("kty") != "RSA":
            raise DecodeError(f"wallet: JWK kty must be 'RSA', got {jwk.get('kty')!r}")
        n, e, d = (_jwk_int(jwk, k) for k in ("n", "e", "d"))
        p, q = _jwk_int(jwk, "p"), _jwk_int(jwk, "q")
        dp = _jwk_int(jwk, "dp") if "dp" in jwk else rsa.rsa_crt_dmp1(d, p)
        dq = _jwk_int(jwk, "dq") if "dq" in jwk else rsa.rsa_crt_dmq1(d, q)
        qi = _jwk_int(jwk, "qi") if "qi" in jwk else rsa.rsa_crt_iqmp(p, q)
        try:
            key = rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, rsa.RSAPublicNumbers(e, n)).private_key()
        except ValueError as exc:
            raise DecodeError(f"wallet: inconsistent RSA key: {exc}") from exc
        return cls(key)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Wallet:
        """Read a JWK file.

        Raises:
            DecodeError: the file is not JSON or not an RSA JWK.
            OSError: the file cannot be read.
        """
        text = Path(path).read_text()
        try:
            jwk = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DecodeError(f"wallet: {path} is not JSON: {exc}") from exc
        if not isinstance(jwk, dict):
            raise DecodeError(f"wallet: {path} does not hold a JSON object")
        return cls.from_jwk(jwk)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the JWK to `path`, readable by the owner only, atomically."""
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.to_jwk(), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)

    def to_jwk(self) -> dict[str, str]:
        priv = self.key.private_numbers()
        pub = priv.public_numbers
        fields = {"n": pub.n, "e": pub.e, "d": priv.d, "p": priv.p, "q": priv.q,
                  "dp": priv.dmp1, "dq": priv.dmq1, "qi": priv.iqmp}
        return {"kty": "RSA", **{k: b64url_encode(_int(v)) for k, v in fields.items()}}

    @property
    def modulus(self) -> bytes:
        """The public modulus `n` as big-endian bytes (512 bytes for a 4096-bit key)."""
        n = self.key.public_key().public_numbers().n
        return _int(n, (self.key.key_size + 7) // 8)

    @property
    def address(self) -> str:
        """The Arweave address: base64url(SHA-256(modulus))."""
        return b64url_encode(sha256(self.modulus))

    def sign(self, data: bytes, hash: HashName = "sha512", salt_length: int | None = None) -> bytes:
        """RSA-PSS sign `data` with MGF1 over `hash`; the salt defaults to the digest length."""
        algorithm = _HASHES[hash]()
        salt = algorithm.digest_size if salt_length is None else salt_length
        return self.key.sign(data, padding.PSS(padding.MGF1(algorithm), salt), algorithm)


def rsa_pss_verify(modulus: bytes, data: bytes, signature: bytes, hash: HashName = "sha512") -> None:
    """Verify an RSA-PSS signature by public modulus (e = 65537), accepting any salt length.

    Raises:
        InvalidSignature: the signature does not verify, or its length is not the modulus length.
    """
    if not modulus or len(signature) != len(modulus):
        raise InvalidSignature()
    try:
        public = rsa.RSAPublicNumbers(RSA_EXPONENT, int.from_bytes(modulus, "big")).public_key()
        algorithm = _HASHES[hash]()
        public.verify(signature, data, padding.PSS(padding.MGF1(algorithm), padding.PSS.AUTO), algorithm)
    except (_CryptoInvalidSignature, ValueError) as exc:
        raise InvalidSignature() from exc
