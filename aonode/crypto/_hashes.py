"""Hashes, HMAC and ID arithmetic (messages-codecs-ids.md §5.3-5.4)."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["accumulate", "hmac_sha256", "sha256", "sha256_chain", "sha384"]

_MOD = 1 << 256


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha384(data: bytes) -> bytes:
    return hashlib.sha384(data).digest()


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def sha256_chain(first: bytes, second: bytes) -> bytes:
    """The `sha-256-chain` hashpath step: SHA-256 of the two parts concatenated."""
    return hashlib.sha256(first + second).digest()


def accumulate(ids: list[bytes]) -> bytes:
    """Combine native 32-byte IDs by addition modulo 2**256 (`hb_crypto:accumulate`).

    The sum does not depend on order; one ID accumulates to itself.
    """
    total = 0
    for native in ids:
        total += int.from_bytes(native, "big")
    return (total % _MOD).to_bytes(32, "big")
