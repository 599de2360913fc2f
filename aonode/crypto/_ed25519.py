"""Ed25519 keys for ANS-104 signature types 2 and 4 (ans104-arweave.md §1.1, §7).

Type 2 (``ED25519``) signs the 48-byte deep hash itself; type 4 (``Solana``,
arbundles' ``HexSolanaSigner``) signs the 96 ASCII characters of its
lower-case hex. Both use a 32-byte public key as the item owner and a 64-byte
signature. The address HyperBEAM and the gateways give such an owner is the
same as for any other key: base64url(SHA-256(owner bytes)).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from aonode.crypto._b64 import b64url_encode
from aonode.crypto._hashes import sha256
from aonode.errors import DecodeError, InvalidSignature

__all__ = ["ED25519_PUBLIC_LENGTH", "ED25519_SIGNATURE_LENGTH", "Ed25519Key", "ed25519_verify"]

ED25519_PUBLIC_LENGTH = 32
ED25519_SIGNATURE_LENGTH = 64
_SEED_LENGTH = 32


@dataclass(frozen=True, eq=False)
class Ed25519Key:
    """An Ed25519 private key. Build with `generate` or `from_seed`."""

    key: ed25519.Ed25519PrivateKey

    @classmethod
    def generate(cls) -> Ed25519Key:
        """Make a new random key."""
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Ed25519Key:
        """Build a key from its 32-byte seed (the RFC 8032 private key).

        Raises:
            DecodeError: `seed` is not 32 bytes long.
        """
        if len(seed) != _SEED_LENGTH:
            raise DecodeError(f"ed25519: seed must be {_SEED_LENGTH} bytes, got {len(seed)}")
        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(seed)))

    @property
    def seed(self) -> bytes:
        """The 32-byte seed."""
        return self.key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    @property
    def public_bytes(self) -> bytes:
        """The 32-byte public key (the data-item owner)."""
        return self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def address(self) -> str:
        """base64url(SHA-256(public key)), as HyperBEAM and the gateways compute it."""
        return b64url_encode(sha256(self.public_bytes))

    def sign(self, data: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of `data`."""
        return self.key.sign(data)


def ed25519_verify(public: bytes, data: bytes, signature: bytes) -> None:
    """Verify an Ed25519 signature.

    Args:
        public: the 32-byte public key.
        data: the signed message.
        signature: the 64-byte signature.

    Raises:
        InvalidSignature: the key or signature is malformed, or the signature is wrong.
    """
    if len(public) != ED25519_PUBLIC_LENGTH or len(signature) != ED25519_SIGNATURE_LENGTH:
        raise InvalidSignature()
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(bytes(public)).verify(bytes(signature), data)
    except (_CryptoInvalidSignature, ValueError) as exc:
        raise InvalidSignature() from exc
