"""Base64 in the two forms AO uses (messages-codecs-ids.md §5.1).

Inside messages (IDs, signatures, addresses) everything is base64url without
padding. On the wire (structured-field byte sequences, `content-digest`,
`publickey:` keyids) it is standard base64 with padding. Decoding accepts both
alphabets, with or without padding, as `hb_util:decode` does.
"""

from __future__ import annotations

import base64
import binascii

from aonode.errors import DecodeError

__all__ = ["b64url_decode", "b64url_encode", "b64_decode", "b64_encode"]

_TO_URL = bytes.maketrans(b"+/", b"-_")
_FROM_URL = bytes.maketrans(b"-_", b"+/")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64url_encode(data: bytes) -> str:
    """Encode as base64url without padding (43 characters for 32 bytes)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes) -> bytes:
    """Decode base64url or standard base64, padded or not.

    Raises:
        DecodeError: the text is not base64 in either alphabet.
    """
    if isinstance(text, str):
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError as exc:
            raise DecodeError(f"base64: non-ASCII character in {text[:60]!r}") from exc
    else:
        raw = text
    # The common case (IDs, signatures: unpadded base64url) in one strict C call; anything
    # else (padding, whitespace, an error to describe) takes the checks below.
    try:
        return binascii.a2b_base64(raw.translate(_FROM_URL) + b"=" * (-len(raw) % 4), strict_mode=True)
    except (binascii.Error, ValueError):
        pass
    raw = raw.strip().rstrip(b"=").translate(_TO_URL)
    if raw.strip(_ALPHABET):
        raise DecodeError(f"base64: character outside the alphabet in {raw[:60]!r}")
    if len(raw) % 4 == 1:
        raise DecodeError(f"base64: impossible length {len(raw)} for {raw[:60]!r}")
    try:
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"base64: invalid text {raw[:60]!r}") from exc


def b64_encode(data: bytes) -> str:
    """Encode as standard base64 with padding (the wire form)."""
    return base64.b64encode(data).decode("ascii")


def b64_decode(text: str | bytes) -> bytes:
    """Decode standard base64 (either alphabet is accepted, padding optional).

    Raises:
        DecodeError: the text is not base64.
    """
    return b64url_decode(text)
