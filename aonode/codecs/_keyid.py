"""keyid schemes of `httpsig@1.0` (messages-codecs-ids.md §3.5).

    scheme      key used                               committer
    publickey   the RSA modulus, standard base64       base64url(SHA-256(modulus))
    constant    the whole keyid text as HMAC key       none
    secret      the request's `secret` as HMAC key     base64url(SHA-256(secret))

A keyid without a `:` takes the default scheme of its algorithm. The reference
rejects an RSA keyid without the `publickey:` prefix; aonode also accepts the
bare base64url modulus that aoconnect sends (clients-legacy-users.md §1.2) and
records the difference in docs/compat.md.
"""

from __future__ import annotations

from aonode.crypto import b64_encode, b64url_decode, b64url_encode, sha256
from aonode.errors import DecodeError, InvalidSignature, shown

__all__ = ["DEFAULT_HMAC_KEYID", "committer_of", "hmac_key", "publickey_keyid", "rsa_modulus"]

DEFAULT_HMAC_KEYID = "constant:ao"
_DEFAULT_SCHEME = {"rsa-pss-sha512": "publickey", "hmac-sha256": "constant"}
SCHEMES = frozenset({"publickey", "constant", "secret"})


def split(keyid: str, alg: str) -> tuple[str, str]:
    """Split a keyid into (scheme, material), applying the algorithm's default scheme.

    Raises:
        DecodeError: the scheme is not one of publickey, constant, secret.
    """
    scheme, colon, material = keyid.partition(":")
    if not colon:
        return _DEFAULT_SCHEME.get(alg, "publickey"), keyid
    if scheme not in SCHEMES:
        raise DecodeError(f"httpsig@1.0: unknown keyid scheme '{shown(scheme)}'")
    return scheme, material


def publickey_keyid(modulus: bytes) -> str:
    return "publickey:" + b64_encode(modulus)


def rsa_modulus(keyid: str) -> bytes:
    """The RSA modulus a `publickey` keyid names (prefixed standard base64, or bare base64url).

    Raises:
        InvalidSignature: the keyid does not name an RSA key.
    """
    try:
        scheme, material = split(keyid, "rsa-pss-sha512")
        if scheme != "publickey":
            raise InvalidSignature()
        return b64url_decode(material)
    except DecodeError as exc:
        raise InvalidSignature() from exc


def hmac_key(keyid: str, secret: bytes | None = None) -> bytes:
    """The HMAC key for a keyid: the keyid itself for `constant`, the secret for `secret`.

    Raises:
        InvalidSignature: a `secret` keyid without the matching secret, or a `publickey` keyid.
    """
    try:
        scheme, material = split(keyid, "hmac-sha256")
    except DecodeError as exc:
        raise InvalidSignature() from exc
    if scheme == "constant":
        return keyid.encode("utf-8", "surrogateescape")
    if scheme == "secret" and secret is not None and b64url_encode(sha256(secret)) == material:
        return secret
    raise InvalidSignature()


def committer_of(keyid: str, alg: str) -> str | None:
    """The committer address a keyid implies, or None (`constant` HMACs have none)."""
    try:
        scheme, material = split(keyid, alg)
        if scheme == "publickey":
            return b64url_encode(sha256(b64url_decode(material)))
        if scheme == "secret":
            return material
    except DecodeError:
        return None
    return None
