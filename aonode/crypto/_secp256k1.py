"""secp256k1 keys for ANS-104 signature type 3, Ethereum (ans104-arweave.md §1.1, §7).

Type 3 items carry the 65-byte uncompressed public key ``04 ‖ X ‖ Y`` as owner
and sign like ethers' ``signMessage`` (EIP-191 ``personal_sign``): ECDSA over
``keccak256(b"\\x19Ethereum Signed Message:\\n" + str(len(m)) + m)``, written as
``r ‖ s ‖ v`` with ``v`` in {27, 28}. Signing is deterministic (RFC 6979) and
produces low-S signatures, as ethers does.

Verification follows arbundles' ``EthereumSigner.verify``: ``v`` is ignored
and the 64-byte ``r ‖ s`` is checked against the owner with libsecp256k1,
which refuses high-S signatures (as the node ``secp256k1`` binding does).

Two addresses exist for such a key:

* `Secp256k1Key.address`: base64url(SHA-256(owner)) — what HyperBEAM records
  as an ANS-104 ``committer`` and what gateways index, for every key type;
* `ethereum_address`: the EIP-55 ``0x…`` address of ``hb_keccak`` (keccak-256
  of ``X ‖ Y``, last 20 bytes, mixed-case checksum over the ASCII hex).
"""

from __future__ import annotations

from dataclasses import dataclass

import coincurve
from coincurve.ecdsa import cdata_to_der, deserialize_compact
from Crypto.Hash import keccak

from aonode.crypto._b64 import b64url_encode
from aonode.crypto._hashes import sha256
from aonode.errors import DecodeError, InvalidSignature

__all__ = [
    "SECP256K1_PUBLIC_LENGTH",
    "SECP256K1_SIGNATURE_LENGTH",
    "Secp256k1Key",
    "eip191_hash",
    "ethereum_address",
    "keccak256",
    "secp256k1_recover",
    "secp256k1_verify",
]

SECP256K1_PUBLIC_LENGTH = 65  # uncompressed: 0x04 ‖ X ‖ Y
SECP256K1_SIGNATURE_LENGTH = 65  # r ‖ s ‖ v
_SECRET_LENGTH = 32
_EIP191_PREFIX = b"\x19Ethereum Signed Message:\n"
_V_OFFSET = 27


def keccak256(data: bytes) -> bytes:
    """Keccak-256 as Ethereum uses it (the original Keccak padding, not SHA3-256)."""
    return keccak.new(digest_bits=256, data=data).digest()


def eip191_hash(message: bytes) -> bytes:
    """The EIP-191 ``personal_sign`` digest of `message` (ethers ``hashMessage``)."""
    return keccak256(_EIP191_PREFIX + str(len(message)).encode("ascii") + message)


def ethereum_address(public: bytes) -> str:
    """The EIP-55 checksummed address of an uncompressed public key (``hb_keccak``).

    Raises:
        DecodeError: `public` is not a 65-byte uncompressed key.
    """
    if len(public) != SECP256K1_PUBLIC_LENGTH or public[0] != 0x04:
        raise DecodeError("secp256k1: address needs a 65-byte uncompressed public key")
    hex_address = keccak256(bytes(public[1:]))[-20:].hex()
    checksum = keccak256(hex_address.encode("ascii")).hex()
    return "0x" + "".join(
        ch.upper() if int(checksum[i], 16) >= 8 else ch for i, ch in enumerate(hex_address)
    )


@dataclass(frozen=True, eq=False)
class Secp256k1Key:
    """A secp256k1 private key. Build with `generate` or `from_secret`."""

    key: coincurve.PrivateKey

    @classmethod
    def generate(cls) -> Secp256k1Key:
        """Make a new random key."""
        return cls(coincurve.PrivateKey())

    @classmethod
    def from_secret(cls, secret: bytes) -> Secp256k1Key:
        """Build a key from its 32-byte big-endian secret.

        Raises:
            DecodeError: `secret` is not 32 bytes or not a valid scalar.
        """
        if len(secret) != _SECRET_LENGTH:
            raise DecodeError(
                f"secp256k1: secret must be {_SECRET_LENGTH} bytes, got {len(secret)}"
            )
        try:
            return cls(coincurve.PrivateKey(bytes(secret)))
        except ValueError as exc:
            raise DecodeError("secp256k1: secret is not a valid private key") from exc

    @property
    def secret(self) -> bytes:
        """The 32-byte secret."""
        return bytes(self.key.secret)

    @property
    def public_bytes(self) -> bytes:
        """The 65-byte uncompressed public key (the data-item owner)."""
        return bytes(self.key.public_key.format(compressed=False))

    @property
    def address(self) -> str:
        """base64url(SHA-256(uncompressed public key)), the ANS-104 committer."""
        return b64url_encode(sha256(self.public_bytes))

    @property
    def ethereum_address(self) -> str:
        """The EIP-55 ``0x…`` address."""
        return ethereum_address(self.public_bytes)

    def sign_digest(self, digest: bytes) -> bytes:
        """Sign a 32-byte digest; return ``r ‖ s ‖ v`` with ``v`` in {27, 28}.

        Raises:
            ValueError: `digest` is not 32 bytes.
        """
        if len(digest) != 32:
            raise ValueError(f"digest must be 32 bytes, got {len(digest)}")
        recoverable = self.key.sign_recoverable(bytes(digest), hasher=None)
        return recoverable[:64] + bytes([recoverable[64] + _V_OFFSET])

    def sign_message(self, message: bytes) -> bytes:
        """Sign `message` as EIP-191 ``personal_sign`` (ethers ``signMessage``)."""
        return self.sign_digest(eip191_hash(message))


def _compact(signature: bytes) -> bytes:
    if len(signature) not in (64, SECP256K1_SIGNATURE_LENGTH):
        raise InvalidSignature()
    return bytes(signature[:64])


def secp256k1_verify(public: bytes, digest: bytes, signature: bytes) -> None:
    """Verify an ECDSA signature over a 32-byte digest, ignoring any recovery byte.

    Args:
        public: the public key, 65 bytes uncompressed (33 compressed also accepted).
        digest: the 32-byte message hash.
        signature: ``r ‖ s`` or ``r ‖ s ‖ v``; high-S values are refused.

    Raises:
        InvalidSignature: the key or signature is malformed, or the signature is wrong.
    """
    compact = _compact(signature)
    try:
        der = cdata_to_der(deserialize_compact(compact))
        ok = coincurve.PublicKey(bytes(public)).verify(der, bytes(digest), hasher=None)
    except (ValueError, TypeError) as exc:
        raise InvalidSignature() from exc
    if not ok:
        raise InvalidSignature()


def secp256k1_recover(digest: bytes, signature: bytes) -> bytes:
    """Recover the 65-byte uncompressed public key from ``r ‖ s ‖ v`` and a digest.

    Args:
        digest: the 32-byte message hash.
        signature: 65 bytes; ``v`` may be 27/28 or 0/1.

    Returns:
        The uncompressed public key.

    Raises:
        InvalidSignature: the signature is malformed or no key can be recovered.
    """
    if len(signature) != SECP256K1_SIGNATURE_LENGTH:
        raise InvalidSignature()
    v = signature[64]
    recid = v - _V_OFFSET if v >= _V_OFFSET else v
    if recid not in (0, 1):
        raise InvalidSignature()
    try:
        public = coincurve.PublicKey.from_signature_and_message(
            bytes(signature[:64]) + bytes([recid]), bytes(digest), hasher=None
        )
    except (ValueError, TypeError) as exc:
        raise InvalidSignature() from exc
    return bytes(public.format(compressed=False))
