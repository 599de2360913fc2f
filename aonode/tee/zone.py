"""The key material green zones exchange (node-services.md §7), in HyperBEAM's forms.

* A wallet's public part as the Erlang term `{{rsa, 65537}, N}`, its private part as
  `{{rsa, 65537}, D, N}` (`aonode.tee.etf`); N and D big-endian binaries.
* The zone key (32 random bytes, AES-256) wrapped for a joiner with RSA PKCS#1 v1.5 under the
  joiner's public key, base64 (standard, padded).
* A wallet sealed under the zone key: AES-256-GCM with a 16-byte IV and no associated data;
  `encrypted_key` = base64(ciphertext ‖ 16-byte tag), `iv` = base64(IV).

Pure functions; every malformed input raises `BadMessage`/`DecodeError` (400).
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aonode.crypto import RSA_EXPONENT, Wallet
from aonode.errors import BadMessage, DecodeError
from aonode.message import Atom
from aonode.tee import etf

__all__ = [
    "ZONE_KEY_SIZE",
    "new_zone_key",
    "open_wallet",
    "private_term",
    "public_key_from_term",
    "public_term",
    "seal_wallet",
    "unwrap_zone_key",
    "wallet_from_term",
    "wrap_zone_key",
]

ZONE_KEY_SIZE = 32
_IV_SIZE = 16
_RSA = Atom("rsa")
_PROBE_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def _b64(text: str | bytes, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadMessage(f"{what} is not base64") from exc


def _be(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def new_zone_key() -> bytes:
    return os.urandom(ZONE_KEY_SIZE)


def public_term(wallet: Wallet) -> bytes:
    """`term_to_binary({{rsa, 65537}, N})` of the wallet's public key."""
    return etf.encode(((_RSA, RSA_EXPONENT), wallet.modulus))


def private_term(wallet: Wallet) -> bytes:
    """`term_to_binary({{rsa, 65537}, D, N})`: the wallet's private key, as `key` seals it."""
    numbers = wallet.key.private_numbers()
    return etf.encode(((_RSA, numbers.public_numbers.e), _be(numbers.d), wallet.modulus))


def _key_type(term: object) -> int:
    if (isinstance(term, tuple) and len(term) == 2 and term[0] == _RSA and isinstance(term[1], int)
            and not isinstance(term[1], bool) and term[1] > 1):
        return term[1]
    raise DecodeError("green zone: the key type is not {rsa, E}")


def public_key_from_term(data: bytes) -> rsa.RSAPublicKey:
    """The RSA public key in `{{rsa, E}, N}` (the joiner's `public_key`, base64-decoded).

    Raises:
        DecodeError: not such a term, or not a usable RSA key.
    """
    term = etf.decode(data)
    if not (isinstance(term, tuple) and len(term) == 2 and isinstance(term[1], bytes)):
        raise DecodeError("green zone: a public key is the term {{rsa, E}, N}")
    e, n = _key_type(term[0]), int.from_bytes(term[1], "big")
    if n.bit_length() < 2048:
        raise DecodeError("green zone: the public key is shorter than 2048 bits")
    try:
        return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as exc:
        raise DecodeError(f"green zone: not an RSA public key: {exc}") from exc


def wallet_from_term(data: bytes) -> Wallet:
    """The wallet in `{{rsa, E}, D, N}` (what `key` seals), its primes recovered from (N, E, D).

    Raises:
        DecodeError: not such a term, or not a consistent RSA key.
    """
    term = etf.decode(data)
    if not (isinstance(term, tuple) and len(term) == 3 and isinstance(term[1], bytes) and isinstance(term[2], bytes)):
        raise DecodeError("green zone: a wallet is the term {{rsa, E}, D, N}")
    e, d, n = _key_type(term[0]), int.from_bytes(term[1], "big"), int.from_bytes(term[2], "big")
    try:
        p, q = rsa.rsa_recover_prime_factors(n, e, d)
        numbers = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                        rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, n))
        # OpenSSL's full key check (primality of p and q) takes about a second for 4096 bits;
        # p * q = n holds by construction, and a signature round trip proves the key works.
        wallet = Wallet(numbers.private_key(unsafe_skip_rsa_key_validation=True))
        probe = b"aonode green zone key check"
        wallet.key.public_key().verify(wallet.sign(probe, "sha256"), probe, _PROBE_PSS, hashes.SHA256())
        return wallet
    except (ValueError, ZeroDivisionError, InvalidSignature) as exc:
        raise DecodeError(f"green zone: not a consistent RSA key: {exc}") from exc


def wrap_zone_key(zone_key: bytes, public_key: rsa.RSAPublicKey) -> str:
    """The zone key encrypted to a joiner (RSA PKCS#1 v1.5), base64."""
    return base64.b64encode(public_key.encrypt(zone_key, padding.PKCS1v15())).decode()


def unwrap_zone_key(wrapped: str | bytes, wallet: Wallet) -> bytes:
    """The zone key a host wrapped for `wallet`.

    Raises:
        BadMessage: not base64, or not a 32-byte key encrypted to this wallet.
    """
    try:
        key = wallet.key.decrypt(_b64(wrapped, "zone-key"), padding.PKCS1v15())
    except ValueError as exc:
        raise BadMessage("zone-key was not encrypted to this node's key") from exc
    if len(key) != ZONE_KEY_SIZE:
        raise BadMessage(f"zone-key holds {len(key)} bytes, not an AES-256 key")
    return key


def seal_wallet(wallet: Wallet, zone_key: bytes) -> tuple[str, str]:
    """(`encrypted_key`, `iv`): the wallet's private term under the zone key (AES-256-GCM)."""
    iv = os.urandom(_IV_SIZE)
    sealed = AESGCM(zone_key).encrypt(iv, private_term(wallet), None)
    return base64.b64encode(sealed).decode(), base64.b64encode(iv).decode()


def open_wallet(encrypted_key: str | bytes, iv: str | bytes, zone_key: bytes) -> Wallet:
    """The wallet `seal_wallet` sealed.

    Raises:
        BadMessage: not base64, or not sealed under this zone key.
        DecodeError: the plaintext is not a wallet term.
    """
    nonce = _b64(iv, "iv")
    if len(nonce) < 8:
        raise BadMessage("iv is too short")
    try:
        plain = AESGCM(zone_key).decrypt(nonce, _b64(encrypted_key, "encrypted_key"), None)
    except (InvalidTag, ValueError) as exc:
        raise BadMessage("encrypted_key was not sealed under this green zone's key") from exc
    return wallet_from_term(plain)
