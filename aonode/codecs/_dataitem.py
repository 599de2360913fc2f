"""ANS-104 data items: layout, signing, verification and IDs (ans104-arweave.md §1-§8).

Binary layout (§1), with no outer length and no padding::

    2   signature type, unsigned LE         (1 RSA, 2 Ed25519, 3 Ethereum, 4 Solana)
    S   signature                           (S and O come from SIGNATURE_SCHEMES)
    O   owner (public key)
    1   target presence (0 or 1)  + 32 bytes target if 1
    1   anchor presence (0 or 1)  + 32 bytes anchor if 1
    8   number of tags, unsigned LE
    8   number of tag bytes, unsigned LE
    …   Avro tag section (aonode.codecs._avro)
    …   data: the rest of the buffer

What is signed (§4) is the 48-byte deep hash::

    H = deep_hash([b"dataitem", b"1", str(type), owner, target, anchor, tag_bytes, data])

with the whole Avro section as one leaf, and absent target/anchor as ``b""``.
How ``H`` is signed depends on the type (§1.1, table `SIGNATURE_SCHEMES`).

IDs (§5): the ID is ``sha256(signature)``; HyperBEAM's *unsigned* ID is
``sha256(H')`` where ``H'`` is ``H`` with the owner replaced by 512 zero bytes.
An item is unsigned when its signature is all zero; HyperBEAM also zeroes the
owner of such items, arbundles keeps the real one.

Parsing is strict where the reference and arbundles disagree (presence bytes
other than 0/1, tag sections that do not match their declared length or
count, empty tag names are refused). `DataItem` keeps the tag section it was
parsed from, so an item always re-serializes to the bytes it came from and
verifies over exactly the signed bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

from aonode.codecs._avro import Tag, decode_tags, encode_tags, tag_limit_fault
from aonode.crypto._b64 import b64url_encode
from aonode.crypto._deephash import deep_hash_leaf, deep_hash_list
from aonode.crypto._ed25519 import Ed25519Key, ed25519_verify
from aonode.crypto._hashes import sha256
from aonode.crypto._rsa import Wallet, rsa_pss_verify
from aonode.crypto._secp256k1 import Secp256k1Key, eip191_hash, secp256k1_verify
from aonode.errors import DecodeError, InvalidSignature

__all__ = [
    "DataItem",
    "as_tags",
    "ItemKey",
    "SIGNATURE_SCHEMES",
    "SignatureScheme",
    "parse_item",
]

ItemKey: TypeAlias = Wallet | Ed25519Key | Secp256k1Key

# HyperBEAM's unsigned ID zeroes the owner to the RSA owner length for every type (§5).
_UNSIGNED_OWNER = bytes(512)
_ID_FIELD_LENGTH = 32  # target and anchor
# HyperBEAM and arweave-js sign with a digest-length salt (§6).
_RSA_SALT_LENGTH = 32


# -- the signer table (§1.1) -------------------------------------------------


def _verify_rsa(owner: bytes, message: bytes, signature: bytes) -> None:
    rsa_pss_verify(owner, message, signature, "sha256")


def _sign_rsa(key: Any, message: bytes) -> bytes:
    wallet: Wallet = key
    return wallet.sign(message, hash="sha256", salt_length=_RSA_SALT_LENGTH)


def _verify_ed25519(owner: bytes, message: bytes, signature: bytes) -> None:
    ed25519_verify(owner, message, signature)


def _sign_ed25519(key: Any, message: bytes) -> bytes:
    ed: Ed25519Key = key
    return ed.sign(message)


def _verify_ethereum(owner: bytes, message: bytes, signature: bytes) -> None:
    secp256k1_verify(owner, eip191_hash(message), signature)


def _sign_ethereum(key: Any, message: bytes) -> bytes:
    secp: Secp256k1Key = key
    return secp.sign_message(message)


def _verify_solana(owner: bytes, message: bytes, signature: bytes) -> None:
    ed25519_verify(owner, message.hex().encode("ascii"), signature)


def _sign_solana(key: Any, message: bytes) -> bytes:
    ed: Ed25519Key = key
    return ed.sign(message.hex().encode("ascii"))


def _public_rsa(key: Any) -> bytes:
    wallet: Wallet = key
    return wallet.modulus


def _public_bytes(key: Any) -> bytes:
    other: Ed25519Key | Secp256k1Key = key
    return other.public_bytes


@dataclass(frozen=True)
class SignatureScheme:
    """One row of the signature-type registry (arbundles ``SIG_CONFIG``)."""

    signature_type: int
    name: str
    signature_length: int
    owner_length: int
    key_class: type
    public: Callable[[Any], bytes]
    sign: Callable[[Any, bytes], bytes]  # (key, H) -> signature
    verify: Callable[[bytes, bytes, bytes], None]  # (owner, H, signature); raises


SIGNATURE_SCHEMES: dict[int, SignatureScheme] = {
    s.signature_type: s
    for s in (
        # RSASSA-PSS, SHA-256, MGF1-SHA-256 over H; any salt verifies (§6).
        SignatureScheme(1, "arweave", 512, 512, Wallet, _public_rsa, _sign_rsa, _verify_rsa),
        # Ed25519 over the 48 raw bytes of H.
        SignatureScheme(2, "ed25519", 64, 32, Ed25519Key, _public_bytes, _sign_ed25519,
                        _verify_ed25519),
        # secp256k1 over EIP-191 keccak256("\x19Ethereum Signed Message:\n48" ‖ H), r‖s‖v.
        SignatureScheme(3, "ethereum", 65, 65, Secp256k1Key, _public_bytes, _sign_ethereum,
                        _verify_ethereum),
        # Ed25519 over the 96-character lower-case hex of H (arbundles HexSolanaSigner).
        SignatureScheme(4, "solana", 64, 32, Ed25519Key, _public_bytes, _sign_solana,
                        _verify_solana),
    )
}

# Deep hashes of the constant leading leaves of the signed list (§4), per type.
_PREFIX_HASHES: dict[int, tuple[bytes, bytes, bytes]] = {
    t: (deep_hash_leaf(b"dataitem"), deep_hash_leaf(b"1"), deep_hash_leaf(str(t).encode()))
    for t in SIGNATURE_SCHEMES
}
_UNSIGNED_OWNER_HASH = deep_hash_leaf(_UNSIGNED_OWNER)

# The type a key signs with unless asked otherwise.
_DEFAULT_TYPE: dict[type, int] = {Wallet: 1, Ed25519Key: 2, Secp256k1Key: 3}


def _scheme(signature_type: int) -> SignatureScheme:
    try:
        return SIGNATURE_SCHEMES[signature_type]
    except KeyError:
        known = ", ".join(str(t) for t in SIGNATURE_SCHEMES)
        raise DecodeError(
            f"ans104: unsupported signature type {signature_type} (supported: {known})"
        ) from None


def _as_bytes(value: object, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"{what} must be bytes or str, got {type(value).__name__}")


def as_tags(tags: Iterable[Any]) -> tuple[Tag, ...]:
    """Normalize ``(name, value)`` pairs of str or bytes to bytes pairs.

    Raises:
        TypeError: an element is not a pair of str/bytes.
        DecodeError: a name is empty.
    """
    out: list[Tag] = []
    for i, pair in enumerate(tags, 1):
        if isinstance(pair, str | bytes) or len(pair) != 2:
            raise TypeError(f"tags[{i - 1}] must be a (name, value) pair")
        name, value = pair
        name = _as_bytes(name, f"tag {i} name")
        if not name:
            raise DecodeError(f"ans104: tag {i} has an empty name")
        out.append((name, _as_bytes(value, f"tag {i} value")))
    return tuple(out)


# -- the item ----------------------------------------------------------------


@dataclass(frozen=True, init=False)
class DataItem:
    """An ANS-104 data item, valid by construction.

    `signature` and `owner` default to zero bytes of the type's length (an
    unsigned item as HyperBEAM makes it). `tags` may be given as str or bytes
    pairs; they are stored as bytes. The encoded tag section (`raw_tags`) is
    the canonical encoding of `tags`, except for an item `parse_item` read,
    which keeps the bytes it was given; `dataclasses.replace` re-encodes.

    Raises (at construction):
        DecodeError: unknown signature type, or a signature, owner, target or
            anchor of the wrong length, or an empty tag name.
        TypeError: a field of the wrong type.
    """

    signature_type: int
    signature: bytes
    owner: bytes
    target: bytes
    anchor: bytes
    tags: tuple[Tag, ...]
    data: bytes
    _raw_tags: bytes = field(init=False, repr=False)

    def __init__(
        self,
        signature_type: int = 1,
        signature: bytes = b"",
        owner: bytes = b"",
        target: bytes = b"",
        anchor: bytes = b"",
        tags: Iterable[tuple[str | bytes, str | bytes]] = (),
        data: bytes = b"",
    ) -> None:
        set_ = object.__setattr__
        if isinstance(signature_type, bool) or not isinstance(signature_type, int):
            raise TypeError("signature_type must be an int")
        set_(self, "signature_type", signature_type)
        scheme = _scheme(signature_type)
        signature = _as_bytes(signature, "signature") or bytes(scheme.signature_length)
        owner = _as_bytes(owner, "owner") or bytes(scheme.owner_length)
        if len(signature) != scheme.signature_length:
            raise DecodeError(
                f"ans104: signature must be {scheme.signature_length} bytes for type "
                f"{scheme.signature_type} ({scheme.name}), got {len(signature)}"
            )
        if len(owner) != scheme.owner_length:
            raise DecodeError(
                f"ans104: owner must be {scheme.owner_length} bytes for type "
                f"{scheme.signature_type} ({scheme.name}), got {len(owner)}"
            )
        set_(self, "signature", signature)
        set_(self, "owner", owner)
        for name, raw in (("target", target), ("anchor", anchor)):
            value = _as_bytes(raw, name)
            if len(value) not in (0, _ID_FIELD_LENGTH):
                raise DecodeError(f"ans104: {name} must be empty or 32 bytes, got {len(value)}")
            set_(self, name, value)
        set_(self, "data", _as_bytes(data, "data"))
        normalized = as_tags(tags)
        set_(self, "tags", normalized)
        set_(self, "_raw_tags", encode_tags(normalized))

    # -- derived values ------------------------------------------------------

    @property
    def raw_tags(self) -> bytes:
        """The encoded tag section (what is signed and serialized)."""
        return self._raw_tags

    @property
    def scheme(self) -> SignatureScheme:
        """The row of `SIGNATURE_SCHEMES` for this item's type."""
        return SIGNATURE_SCHEMES[self.signature_type]

    @property
    def is_signed(self) -> bool:
        """False when the signature is all zero (unsigned in arbundles and HyperBEAM)."""
        return any(self.signature)

    @property
    def id(self) -> bytes:
        """The 32-byte ID, ``sha256(signature)`` (§5).

        For an unsigned item this is the meaningless hash of zero bytes that
        arbundles reports; use `unsigned_id` for such items.
        """
        return sha256(self.signature)

    @property
    def unsigned_id(self) -> bytes:
        """HyperBEAM's unsigned ID: SHA-256 of the deep hash with a zeroed owner (§5)."""
        return sha256(self._deep_hash(_UNSIGNED_OWNER))

    @property
    def owner_address(self) -> str:
        """The committer address: base64url(SHA-256(owner)) (§7)."""
        return b64url_encode(sha256(self.owner))

    def signature_data(self) -> bytes:
        """The 48-byte deep hash ``H`` that is signed (§4)."""
        return self._deep_hash(self.owner)

    def _deep_hash(self, owner: bytes) -> bytes:
        # deep_hash([b"dataitem", b"1", b"<type>", owner, target, anchor, tags, data]),
        # with the hashes of the three constant leaves computed once.
        return deep_hash_list((
            *_PREFIX_HASHES[self.signature_type],
            _UNSIGNED_OWNER_HASH if owner is _UNSIGNED_OWNER else deep_hash_leaf(owner),
            deep_hash_leaf(self.target),
            deep_hash_leaf(self.anchor),
            deep_hash_leaf(self.raw_tags),
            deep_hash_leaf(self.data),
        ))

    # -- wire form -----------------------------------------------------------

    def serialize(self) -> bytes:
        """The binary data item (§1)."""
        return b"".join((
            self.signature_type.to_bytes(2, "little"),
            self.signature,
            self.owner,
            b"\x01" + self.target if self.target else b"\x00",
            b"\x01" + self.anchor if self.anchor else b"\x00",
            len(self.tags).to_bytes(8, "little"),
            len(self.raw_tags).to_bytes(8, "little"),
            self.raw_tags,
            self.data,
        ))

    __bytes__ = serialize

    @classmethod
    def parse(cls, data: bytes) -> DataItem:
        """Same as `parse_item`."""
        return parse_item(data)

    # -- signing -------------------------------------------------------------

    def sign(
        self, key: ItemKey, *, signature_type: int | None = None, salt: bytes | None = None
    ) -> DataItem:
        """Return a copy signed by `key`, with its owner set to the key's public bytes.

        Args:
            key: a `Wallet` (type 1), `Ed25519Key` (type 2, or 4 if asked) or
                `Secp256k1Key` (type 3).
            signature_type: the type to sign as; by default the key's natural one.
            salt: RSA only: a fixed PSS salt, for reproducible test vectors. By
                default a random 32-byte salt is used, as HyperBEAM does.

        Returns:
            The signed item.

        Raises:
            TypeError: the key cannot make signatures of that type, or `salt`
                was given for a non-RSA key.
            DecodeError: `signature_type` is not a supported type.
        """
        wanted = _DEFAULT_TYPE.get(type(key)) if signature_type is None else signature_type
        if wanted is None:
            raise TypeError(f"key must be a Wallet, Ed25519Key or Secp256k1Key, got {type(key)}")
        scheme = _scheme(wanted)
        if not isinstance(key, scheme.key_class):
            raise TypeError(
                f"signature type {wanted} ({scheme.name}) needs a {scheme.key_class.__name__} key,"
                f" got {type(key).__name__}"
            )
        if salt is not None and wanted != 1:
            raise TypeError("salt is only meaningful for RSA (type 1) signatures")
        unsigned = replace(
            self,
            signature_type=wanted,
            owner=scheme.public(key),
            signature=b"",
        )
        message = unsigned.signature_data()
        if salt is not None:
            assert isinstance(key, Wallet)
            signature = _rsa_pss_sign_salted(key, message, salt)
        else:
            signature = scheme.sign(key, message)
        return replace(unsigned, signature=signature)

    def verify(self, *, arbundles: bool = False) -> None:
        """Check the signature and the tag limits (§8).

        Args:
            arbundles: also require what arbundles' ``DataItem.verify`` does
                (tag section at most 4096 bytes).

        Raises:
            InvalidSignature: the item is unsigned, the signature is wrong, or
                the tags break HyperBEAM's limits (128 tags, 1024-byte names,
                3072-byte values). The error does not say which.
        """
        if not self.is_signed:
            raise InvalidSignature()
        if tag_limit_fault(self.tags, len(self.raw_tags), arbundles=arbundles) is not None:
            raise InvalidSignature()
        self.scheme.verify(self.owner, self.signature_data(), self.signature)


# -- parsing -----------------------------------------------------------------


def _take(buf: bytes, pos: int, size: int, what: str) -> bytes:
    end = pos + size
    if end > len(buf):
        raise DecodeError(
            f"ans104: item truncated in the {what}: needs {size} bytes at offset {pos}, "
            f"{len(buf) - pos} left"
        )
    return buf[pos:end]


def _optional(buf: bytes, pos: int, what: str) -> tuple[bytes, int]:
    flag = _take(buf, pos, 1, f"{what} presence byte")[0]
    if flag == 0:
        return b"", pos + 1
    if flag != 1:
        raise DecodeError(
            f"ans104: {what} presence byte at offset {pos} is {flag:#04x}, must be 0 or 1"
        )
    return _take(buf, pos + 1, _ID_FIELD_LENGTH, what), pos + 1 + _ID_FIELD_LENGTH


def parse_item(data: bytes) -> DataItem:
    """Parse one binary data item; the data field is the rest of `data` (§1).

    Args:
        data: the whole item.

    Returns:
        The item; `DataItem.serialize` gives `data` back byte for byte.

    Raises:
        DecodeError: unsupported signature type, truncation, a presence byte
            other than 0/1, or a tag section that is shorter or longer than
            declared, holds another number of tags than declared, or is not
            valid Avro (the message names the fault and its offset).
    """
    buf = bytes(data)
    sig_type = int.from_bytes(_take(buf, 0, 2, "signature type"), "little")
    scheme = _scheme(sig_type)
    pos = 2
    signature = _take(buf, pos, scheme.signature_length, "signature")
    pos += scheme.signature_length
    owner = _take(buf, pos, scheme.owner_length, "owner")
    pos += scheme.owner_length
    target, pos = _optional(buf, pos, "target")
    anchor, pos = _optional(buf, pos, "anchor")
    counts = _take(buf, pos, 16, "tag count and size fields")
    tag_count = int.from_bytes(counts[:8], "little")
    tag_size = int.from_bytes(counts[8:], "little")
    pos += 16
    if tag_size > len(buf) - pos:
        raise DecodeError(
            f"ans104: item truncated in the tag section: declares {tag_size} tag bytes at "
            f"offset {pos}, {len(buf) - pos} left"
        )
    tag_bytes = buf[pos : pos + tag_size]
    tags = decode_tags(tag_bytes, tag_count)
    # Every field was checked above, so skip the constructor's checks. The tag
    # section is kept as read, canonical or not (several Avro blocks, say):
    # it is what was signed.
    item = object.__new__(DataItem)
    for name, value in (
        ("signature_type", sig_type),
        ("signature", signature),
        ("owner", owner),
        ("target", target),
        ("anchor", anchor),
        ("tags", tags),
        ("data", buf[pos + tag_size :]),
        ("_raw_tags", tag_bytes),
    ):
        object.__setattr__(item, name, value)
    return item


# -- deterministic RSA-PSS (test vectors only) --------------------------------


def _mgf1_sha256(seed: bytes, length: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:length])


def _rsa_pss_sign_salted(wallet: Wallet, message: bytes, salt: bytes) -> bytes:
    """RSASSA-PSS-SIGN (RFC 8017 §8.1.1, EMSA-PSS §9.1.1) with SHA-256 and a given salt.

    HyperBEAM's ``rsa_pss:sign/4`` does the same; vector v5 checks it (§6).
    """
    numbers = wallet.key.private_numbers()
    n = numbers.public_numbers.n
    mod_bits = n.bit_length()
    em_bits = mod_bits - 1
    em_len = (em_bits + 7) // 8
    h_len = 32
    if em_len < h_len + len(salt) + 2:
        raise ValueError("salt is too long for this key")
    m_hash = hashlib.sha256(message).digest()
    h = hashlib.sha256(bytes(8) + m_hash + salt).digest()
    db = bytes(em_len - len(salt) - h_len - 2) + b"\x01" + salt
    masked = bytearray(a ^ b for a, b in zip(db, _mgf1_sha256(h, em_len - h_len - 1), strict=True))
    masked[0] &= 0xFF >> (8 * em_len - em_bits)
    em = bytes(masked) + h + b"\xbc"
    # The RSA private operation with the CRT (same result as HyperBEAM's plain m^d mod n).
    m = int.from_bytes(em, "big")
    p, q = numbers.p, numbers.q
    m1, m2 = pow(m, numbers.dmp1, p), pow(m, numbers.dmq1, q)
    s = m2 + (numbers.iqmp * (m1 - m2) % p) * q
    return s.to_bytes((mod_bits + 7) // 8, "big")

