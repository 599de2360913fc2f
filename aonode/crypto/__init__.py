"""Wallets, signatures, hashes and base64: everything aonode signs or verifies with."""

from aonode.crypto._b64 import b64_decode, b64_encode, b64url_decode, b64url_encode
from aonode.crypto._deephash import DeepHashInput, deep_hash, deep_hash_leaf, deep_hash_list
from aonode.crypto._ed25519 import Ed25519Key, ed25519_verify
from aonode.crypto._hashes import accumulate, hmac_sha256, sha256, sha256_chain, sha384
from aonode.crypto._rsa import RSA_BITS, RSA_EXPONENT, Wallet, rsa_pss_verify
from aonode.crypto._secp256k1 import (
    Secp256k1Key,
    eip191_hash,
    ethereum_address,
    keccak256,
    secp256k1_recover,
    secp256k1_verify,
)

__all__ = [
    "DeepHashInput",
    "Ed25519Key",
    "Secp256k1Key",
    "deep_hash",
    "deep_hash_leaf",
    "deep_hash_list",
    "ed25519_verify",
    "eip191_hash",
    "ethereum_address",
    "keccak256",
    "secp256k1_recover",
    "secp256k1_verify",
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
