"""Wallets, signatures, hashes and base64: everything aonode signs or verifies with."""

from aonode.crypto._b64 import b64_decode, b64_encode, b64url_decode, b64url_encode
from aonode.crypto._hashes import accumulate, hmac_sha256, sha256, sha256_chain, sha384
from aonode.crypto._rsa import RSA_BITS, RSA_EXPONENT, Wallet, rsa_pss_verify

__all__ = [
    "RSA_BITS",
    "RSA_EXPONENT",
    "Wallet",
    "accumulate",
    "b64_decode",
    "b64_encode",
    "b64url_decode",
    "b64url_encode",
    "hmac_sha256",
    "rsa_pss_verify",
    "sha256",
    "sha256_chain",
    "sha384",
]
