"""Nested messages signed in the spring-2025 `httpsig@1.0` form (docs/compat.md, "Signature
bases in the client's order").

Until 2025-05-25 HyperBEAM (e.g. permaweb/HyperBEAM 52ac9325, `dev_codec_httpsig*.erl`) wrote
a signed nested message as one multipart part carrying its own `signature` and
`signature-input` headers. Main (2025-09) writes nested commitments as parts of their own and
reads such a part as a message with two plain keys, `signature` and `signature-input`.
aonode reads those keys the same way, so the body re-encodes to the bytes it came in, and also
gives the part's message the commitments its headers describe, so the signature is checked.

The older form, as a verifier needs it:

* the signature-input lists the components in the signer's order; the labels have no `comm-`
  prefix; the keyid is the bare base64url RSA modulus;
* the signature base has one line per component, `name: value`, the name NOT quoted (a key
  present in the message; `content-digest` for its `body`), then
  `"@signature-params": (<components>)` with only `created`, `expires`, `keyid`, `nonce` and
  `tag` as parameters, in that (bytewise) order, and no `alg`.

Only RSA-PSS-SHA512 entries become commitments. The form's HMAC entries (keyid `ao`) prove
nothing about a signer; they stay plain header text, as in main.

Encoding: a level of the body whose `commitments` are exactly what its own `signature`
headers describe (`carries_own_commitments`) is written without its `commitments`: the headers
already say it, and the part keeps the bytes it was signed over. For the same reason such a
level is linked (`k+link`) by the ID main gives it, its ID without those commitments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.codecs import _keyid, _sf
from aonode.crypto import b64_encode, b64url_encode, sha256
from aonode.errors import DecodeError
from aonode.message import TABM
from aonode.text import decode

__all__ = ["carries_own_commitments", "commitments_of", "signature_base"]

_DEVICE = b"httpsig@1.0"
_RSA = "rsa-pss-sha512"
# The parameters the older base carries, in the order it writes them (Erlang map order).
_PARAMS = ("created", "expires", "keyid", "nonce", "tag")
_INT_PARAMS = frozenset({"created", "expires"})
# What a commitment of the older form holds (`commitments_of`): nothing its base does not sign.
_OLDER_FIELDS = frozenset({"commitment-device", "type", "committer", "committed", "signature", *_PARAMS})
_DIGEST = "content-digest"


def _breaks_line(value: bytes) -> bool:
    return b"\n" in value or b"\r" in value


def _numbered(keys: list[str]) -> TABM:
    return {str(i): k.encode("utf-8", "surrogateescape") for i, k in enumerate(keys, 1)}


def _committed_keys(components: list[str]) -> list[str] | None:
    """The message keys the components name, in order; None if one is not a plain key."""
    keys: list[str] = []
    for name in components:
        if name.startswith("@"):
            return None  # a derived component: no nested part of the older form signs one
        keys.append("body" if name == _DIGEST else name)
    return keys if len(set(keys)) == len(keys) else None


def commitments_of(level: Mapping[str, bytes | TABM]) -> TABM:
    """The commitments a part's own `signature`/`signature-input` headers describe (empty when
    they are absent, unreadable or hold no RSA entry). Each is a commitment as main shapes it
    (`commitment-device`, `type`, `keyid`, `committer`, `committed`, `signature`), keyed by
    its ID, with the older base's parameters (`created`, ..., `tag`) when present."""
    signature, inputs = level.get("signature"), level.get("signature-input")
    if not isinstance(signature, bytes) or not isinstance(inputs, bytes):
        return {}
    try:
        signatures = _sf.parse_dictionary(signature, "signature")
        entries = _sf.parse_dictionary(inputs, "signature-input")
    except DecodeError:
        return {}
    out: TABM = {}
    for label, entry in entries.items():
        sig = signatures.get(label)
        if sig is None or not isinstance(sig.value, bytes) or not isinstance(entry.value, list):
            continue
        alg = entry.params.get("alg", _RSA)
        keyid = entry.params.get("keyid")
        if alg != _RSA or not isinstance(keyid, str) or ":" in keyid:
            continue
        components = [c.value for c in entry.value]
        if not all(isinstance(c, str) for c in components):
            continue
        keys = _committed_keys([str(c) for c in components])
        if keys is None:
            continue
        commitment: TABM = {
            "commitment-device": _DEVICE,
            "type": _RSA.encode(),
            "keyid": keyid.encode("ascii", "surrogateescape"),
            "committed": _numbered(keys),
            "signature": b64url_encode(sig.value).encode("ascii"),
        }
        committer = _keyid.committer_of(keyid, _RSA)
        if committer is not None:
            commitment["committer"] = committer.encode("ascii")
        for param in _PARAMS:
            value = entry.params.get(param)
            if param != "keyid" and isinstance(value, (str, int)) and not isinstance(value, bool):
                commitment[param] = str(value).encode("utf-8", "surrogateescape")
        out[b64url_encode(sha256(sig.value))] = commitment
    return out


def carries_own_commitments(level: Mapping[str, Any]) -> bool:
    """Whether a level's `commitments` are exactly what its own signature headers describe."""
    commitments = level.get("commitments")
    return isinstance(commitments, dict) and bool(commitments) and commitments == commitments_of(level)


def _committed(commitment: Mapping[str, bytes | TABM]) -> list[str] | None:
    numbered = commitment.get("committed")
    if not isinstance(numbered, dict):
        return None
    try:
        order = sorted(numbered, key=int)
    except ValueError:
        return None
    keys: list[str] = []
    for index in order:
        key = numbered[index]
        if not isinstance(key, bytes):
            return None
        keys.append(decode(key, errors="surrogateescape"))
    return keys


def signature_base(tabm: Mapping[str, bytes | TABM], commitment: Mapping[str, bytes | TABM]) -> bytes | None:
    """The base the older form signs for `commitment` over `tabm`, or None when the commitment
    cannot be one of the older form (a prefixed keyid, a committed key that is missing or
    not a binary)."""
    keyid = commitment.get("keyid")
    keys = _committed(commitment)
    if not isinstance(keyid, bytes) or b":" in keyid or not keys or not _OLDER_FIELDS.issuperset(commitment):
        # The older base signs only its parameters: a commitment with any other field would
        # carry it unsigned.
        return None
    lines: list[bytes] = []
    names: list[str] = []
    for key in keys:
        value = tabm.get(key)
        if not isinstance(value, bytes) or _breaks_line(value) or _breaks_line(key.encode("utf-8", "surrogateescape")):
            # A line break would let one key's value pose as further lines (`k: a\nj: b`),
            # which the unquoted names cannot tell apart: no base of this form for it.
            return None
        if key == "body":
            name, value = _DIGEST, b"sha-256=:" + b64_encode(sha256(value)).encode("ascii") + b":"
        else:
            name = key
        names.append(name)
        lines.append(name.encode("utf-8", "surrogateescape") + b": " + value)
    params = []
    for param in _PARAMS:
        raw = commitment.get(param)
        if not isinstance(raw, bytes):
            continue
        text = decode(raw, errors="surrogateescape")
        digits = text[1:] if text.startswith("-") else text
        if param in _INT_PARAMS and digits.isascii() and digits.isdigit():
            params.append(f";{param}={text}")
        else:
            params.append(f";{param}={_sf.serialize_string(text)}")
    inner = " ".join(_sf.serialize_string(n) for n in names)
    line = f'"@signature-params": ({inner}){"".join(params)}'.encode("utf-8", "surrogateescape")
    return b"\n".join([*lines, line])

