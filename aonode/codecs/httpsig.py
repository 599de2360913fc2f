"""`httpsig@1.0`: TABMs as HTTP messages, signed with HTTP Message Signatures
(RFC 9421 as HyperBEAM writes it; messages-codecs-ids.md §3).

The encoded form is a flat `dict` of lower-case header name -> bytes, with the
HTTP body, if any, under the key `body`:

* keys shaped like IDs go into one `ao-ids` dictionary (their case survives);
* `body`, the inline key (`body`, else `data` with `ao-body-key: data`), nested
  maps and values over 4096 bytes go into the body: a single binary alone, or a
  multipart body whose bytes depend only on the message (see `_multipart`);
* a non-empty body adds `content-digest: sha-256=:<base64>:`;
* commitments become the `signature` and `signature-input` dictionaries.

On the wire (`to_wire`), and only there, a key that cannot be an HTTP header also goes into
the body: a value that is not a legal field value (RFC 9110 §5.5: leading or trailing space
or tab, control characters), a name that is not a token, and the names HTTP itself uses for
framing and the connection (`HOP_BY_HOP`: `transfer-encoding`, `content-length`, ...). The
reference writes them as headers and its answer is not valid HTTP (docs/compat.md). Signature
bases keep the reference's split, so signatures and IDs do not change; `from_wire` reads such
a key back from its part like any other body key.

A signature base (§3.4) covers the encoded form of the committed keys, with the
body replaced by its `content-digest`, in Erlang map order; derived names
(`path`, `method`, ...) carry `@` only in the `@signature-params` line. `commit`
writes that order. `verify` also accepts the order of the commitment's `committed`
list, which a decoded commitment keeps from the client's `signature-input` (RFC 9421
§2.5: the base lists the components in the order the client listed them).
"""

from __future__ import annotations

import functools
import hmac
import marshal
import re
from collections.abc import Iterable, Mapping

from aonode._memo import MEMO_MAX_KEYS, Memo
from aonode.codecs import _keyid, _multipart, _sf, _spring2025
from aonode.crypto import Wallet, b64_encode, b64url_decode, b64url_encode, hmac_sha256, rsa_pss_verify, sha256
from aonode.errors import AOError, BadMessage, DecodeError, InvalidSignature, Unauthorized, shown
from aonode.message import TABM, erlang_key_order, is_id, is_private, sequence_index
from aonode.text import decode

__all__ = [
    "NAME",
    "commit",
    "commitment_id",
    "committed_list",
    "from_wire",
    "header_allowed",
    "signature_base",
    "signature_bases",
    "to_wire",
    "verify",
]

NAME = "httpsig@1.0"
MAX_HEADER_LENGTH = _multipart.MAX_HEADER_LENGTH
# Derived components: `@` in the params line, bare in the component lines. `status` is
# deliberately not among them (§3.4 step 5).
DERIVED = frozenset(
    {"method", "target-uri", "authority", "scheme", "request-target", "path", "query", "query-param"}
)
_STRIPPED = frozenset({"commitments", "signature", "signature-input", "priv"})
# Commitment keys that are not written as extra signature-input parameters (§3.3).
_NOT_PARAMS = frozenset(
    {"alg", "keyid", "tag", "created", "expires", "nonce", "committed", "signature", "type",
     "commitment-device", "committer"}
)
_BASE_PARAMS = ("alg", "bundle", "created", "expires", "keyid", "nonce", "tag")
_INT_PARAMS = frozenset({"created", "expires"})
TYPE_ALIASES = {"signed": "rsa-pss-sha512", "unsigned": "hmac-sha256"}
LINK_SUFFIX = "+link"
# Header names that frame the message or manage the connection (RFC 9110 §7.6.1, RFC 9112
# §6-7): an HTTP server owns them, so a key with such a name travels in the body.
HOP_BY_HOP = frozenset({
    "connection", "content-length", "keep-alive", "proxy-connection", "te", "trailer",
    "transfer-encoding", "upgrade",
})
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 §5.5 field-value: visible bytes (and obs-text), spaces or tabs only inside. So a
# value is refused for a control byte other than tab, or a space or tab at either end.
_NOT_IN_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
_BLANK = (0x20, 0x09)


@functools.lru_cache(maxsize=4096)
def _is_token(name: str) -> bool:
    return _TOKEN.fullmatch(_bkey(name)) is not None


def header_allowed(name: str, value: bytes) -> bool:
    """Whether `name: value` can be sent as an HTTP header field as it is."""
    if name in HOP_BY_HOP or not _is_token(name):
        return False
    return not value or (value[0] not in _BLANK and value[-1] not in _BLANK and _NOT_IN_VALUE.search(value) is None)


def _bkey(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


def _is_int(text: str) -> bool:
    digits = text[1:] if text.startswith("-") else text
    return digits.isascii() and digits.isdigit()


def content_digest(body: bytes) -> bytes:
    return b"sha-256=:" + b64_encode(sha256(body)).encode("ascii") + b":"


def _inline_key(fields: Mapping[str, object]) -> tuple[str, dict[str, bytes]]:
    """§3.1 step 3: which key is the body, and whether `ao-body-key` must say so."""
    named = fields.get("ao-body-key")
    if isinstance(named, bytes):
        return decode(named, errors="surrogateescape"), {}
    if "body" in fields:
        return "body", {}
    if "data" in fields:
        return "data", {"ao-body-key": b"data"}
    return "body", {}


def _group_ids(fields: dict[str, bytes | TABM], wire: bool = False) -> None:
    ids = {k: v for k, v in fields.items() if is_id(k) and isinstance(v, bytes)
           and not (wire and _CONTROL.search(v))}
    if not ids:
        return
    for key in ids:
        del fields[key]
    fields["ao-ids"] = ", ".join(
        f"{k}={_sf.serialize_string(decode(ids[k], errors='surrogateescape'))}" for k in erlang_key_order(ids)
    ).encode("utf-8", "surrogateescape")


# Encoded forms by content: a request's and its reply's keys are encoded for the signature
# base of each commitment, for the HMAC beside a signature, for the components of each
# `signature-input` and for the wire, and the same messages (the node's info) come again.
_ENCODED: Memo[tuple[bytes, bool], tuple[dict[str, bytes], list[str], bool]] = Memo(1024)
# Inputs larger than this (serialised) are encoded each time: hashing them costs about as much.
_ENCODED_LIMIT = 64 * 1024


def _encode(tabm: Mapping[str, bytes | TABM], *, wire: bool = False
            ) -> tuple[dict[str, bytes], list[str], bool]:
    """§3.1 steps 1-6. Returns (headers with `body`, body keys, whether the body is multipart),
    each a new object the caller may change.

    `wire`: also move keys that cannot be HTTP headers into the body (`header_allowed`)."""
    return _encode_keyed(tabm, wire=wire)[1:]


def _encode_keyed(tabm: Mapping[str, bytes | TABM], *, wire: bool = False
                  ) -> tuple[tuple[bytes, bool] | None, dict[str, bytes], list[str], bool]:
    """`_encode`, and the memo key of what was encoded (None when it is not kept)."""
    fields: dict[str, bytes | TABM] = {
        k: v for k, v in tabm.items() if k not in _STRIPPED and not k.startswith("priv")  # is_private
    }
    try:
        dump = marshal.dumps(fields, 2)
    except ValueError:  # not a TABM (a caller's mistake): the encoder says what is wrong
        dump = b""
    if not dump or len(dump) > _ENCODED_LIMIT:
        return (None, *_encode_fields(fields, wire=wire))
    key = (sha256(dump), wire)
    found = _ENCODED.get(key)
    if found is None:
        found = _encode_fields(fields, wire=wire)
        _ENCODED.put(key, (dict(found[0]), list(found[1]), found[2]))
        return (key, *found)
    return key, dict(found[0]), list(found[1]), found[2]


def _encode_fields(fields: dict[str, bytes | TABM], *, wire: bool = False
                   ) -> tuple[dict[str, bytes], list[str], bool]:
    _group_ids(fields, wire)
    inline_key, headers = _inline_key(fields)
    body_map: dict[str, bytes | TABM] = {}
    moved = False
    for key, value in fields.items():
        if key == "body" or key == inline_key or isinstance(value, dict) or len(value) > MAX_HEADER_LENGTH:
            body_map[key] = value
        elif wire and not header_allowed(key, value):
            body_map[key] = value
            moved = True
        else:
            headers[key] = value
    if moved and "content-type" in headers:
        # Keys moved off the headers make the body multipart, whose content-type would
        # replace the message's own: that one travels in the body too.
        body_map["content-type"] = headers.pop("content-type")
    multipart = _multipart.encode(body_map, inline_key)
    if multipart is not None:
        body, content_type, names = multipart
        headers["content-type"] = content_type
        headers["body"] = body
        return headers, _unique(name.split("/", 1)[0] for name in names), True
    if body_map:
        value = body_map[inline_key]
        assert isinstance(value, bytes)
        headers["body"] = value
        return headers, [inline_key], False
    return headers, [], False


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def to_wire(tabm: TABM | bytes) -> dict[str, bytes]:
    """Encode a TABM as HTTP headers plus `body`, with its commitments as signature headers.

    Raises:
        EncodeError: a value cannot travel as an HTTP message.
    """
    if isinstance(tabm, bytes):
        return {"body": tabm} if tabm else {}
    encoded, _, _ = _encode(tabm, wire=True)
    body = encoded.get("body")
    if body == b"":
        del encoded["body"]
    elif body is not None:
        encoded["content-digest"] = content_digest(body)
    commitments = tabm.get("commitments")
    if isinstance(commitments, dict) and commitments:
        encoded.update(_siginfo(tabm, commitments))
    return encoded


# --- commitments <-> signature / signature-input (§3.3) ---------------------------------


def committed_list(commitment: Mapping[str, bytes | TABM]) -> list[str]:
    """The committed keys of a commitment, in order (its numbered `committed` map).

    Raises:
        BadMessage: `committed` is missing or not a numbered map of keys.
    """
    numbered = commitment.get("committed")
    if not isinstance(numbered, dict):
        raise BadMessage("commitment has no committed key list")
    try:
        key = tuple(numbered.items())
        found = _COMMITTED.get(key)
    except TypeError:  # a nested value: the checks below say what is wrong
        key, found = None, None
    if found is not None:
        return list(found)
    out = _committed_list(numbered)
    if key is not None and len(key) <= MEMO_MAX_KEYS:
        _COMMITTED.put(key, tuple(out))
    return out


# Committed lists by their numbered form: each commitment's list is read for its signature
# base, its `signature-input`, its verification and by every device asking what it covers.
_COMMITTED: Memo[tuple[tuple[str, object], ...], tuple[str, ...]] = Memo(1024)


def _committed_list(numbered: TABM) -> list[str]:
    try:
        order = sorted(numbered, key=int)
    except ValueError as exc:
        raise BadMessage("commitment's committed list is not numbered") from exc
    out = []
    for index in order:
        key = numbered[index]
        if not isinstance(key, bytes):
            raise BadMessage("commitment's committed list holds a non-binary")
        out.append(decode(key, errors="surrogateescape"))
    return out


def _numbered(keys: list[str]) -> TABM:
    given = tuple(keys)
    found = _NUMBERED.get(given)
    if found is None:
        found = {str(i): _bkey(k) for i, k in enumerate(keys, 1)}
        if len(given) <= MEMO_MAX_KEYS:
            _NUMBERED.put(given, found)
    return dict(found)


_NUMBERED: Memo[tuple[str, ...], TABM] = Memo(1024)


def _alg(commitment: Mapping[str, bytes | TABM]) -> str:
    device = _field(commitment, "commitment-device", NAME)
    type_ = _field(commitment, "type", "")
    if device == NAME:
        return type_
    return f"{device}/{type_}" if type_ else device


def _field(commitment: Mapping[str, bytes | TABM], key: str, default: str) -> str:
    value = commitment.get(key)
    return decode(value, errors="surrogateescape") if isinstance(value, bytes) else default


def _flatten_param(value: TABM) -> str:
    """A nested commitment value (ANS-104 `original-tags`) as `1:name:value, 2:name:value`."""
    parts = []
    for index in sorted(value, key=sequence_index):
        entry = value[index]
        if isinstance(entry, dict):
            name, val = entry.get("name", b""), entry.get("value", b"")
            if isinstance(name, bytes) and isinstance(val, bytes):
                name_text, val_text = decode(name, errors="surrogateescape"), decode(val, errors="surrogateescape")
                parts.append(f"{index}:{name_text}:{val_text}")
    return ", ".join(parts)


def _param(value: bytes) -> _sf.Bare:
    """A commitment value as a signature-input parameter: a string when it is text, else a
    byte sequence (an ANS-104 `field-anchor` holds 32 raw bytes), which reads back as its
    base64url text. The reference writes the raw bytes, which is not a valid header."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return value
    return value if _CONTROL.search(value) else text


def _siginfo(tabm: Mapping[str, bytes | TABM], commitments: TABM) -> dict[str, bytes]:
    signatures: dict[str, _sf.Item] = {}
    inputs: dict[str, str] = {}
    for cid in commitments:
        commitment = commitments[cid]
        if not isinstance(commitment, dict):
            continue
        raw = b64url_decode(_field(commitment, "signature", ""))
        label = "comm-" + b64url_encode(sha256(raw)).lower()
        names = _components(tabm, commitment)
        params: dict[str, _sf.Bare] = {"alg": _alg(commitment), "keyid": _field(commitment, "keyid", "")}
        for key in ("tag", "created", "expires", "nonce"):
            if key in commitment:
                text = _field(commitment, key, "")
                params[key] = int(text) if key in _INT_PARAMS and _is_int(text) else text
        for key, value in commitment.items():
            if key not in _NOT_PARAMS:
                params[key] = _param(value) if isinstance(value, bytes) else _flatten_param(value)
        signatures[label] = _sf.Item(raw)
        # `_sf.serialize_item` of the inner list, its component names written once per set.
        inputs[label] = f"{_inner_list(tuple(names))}{_sf.serialize_params(params)}"
    order = sorted(signatures)
    return {
        "signature": _sf.serialize_dictionary({k: signatures[k] for k in order}).encode("ascii"),
        "signature-input": ", ".join(f"{k}={inputs[k]}" for k in order).encode("utf-8"),
    }


_INNER_LISTS: Memo[tuple[str, ...], str] = Memo(1024)


def _inner_list(names: tuple[str, ...]) -> str:
    """An SF inner list of strings without parameters, as `_sf.serialize_item` writes it."""
    found = _INNER_LISTS.get(names)
    if found is None:
        found = _sf.serialize_item(_sf.Item([_sf.Item(n) for n in names]))
        if len(names) <= MEMO_MAX_KEYS:
            _INNER_LISTS.put(names, found)
    return found


def _components(tabm: Mapping[str, bytes | TABM], commitment: Mapping[str, bytes | TABM]) -> list[str]:
    """The component names of a commitment, without `@`, as the signature-input header lists them."""
    bundle = _field(commitment, "bundle", "") == "true"
    inputs: dict[str, bytes | TABM] = {}
    for key in committed_list(commitment):
        if key in tabm:
            value = tabm[key]
            inputs[key if bundle or isinstance(value, bytes) else key + LINK_SUFFIX] = (
                value if bundle or isinstance(value, bytes) else b"x" * 43
            )
        elif key + LINK_SUFFIX in tabm:
            inputs[key + LINK_SUFFIX] = tabm[key + LINK_SUFFIX]
    encoded = _digest_body(_encode(inputs)[0])
    return erlang_key_order(encoded)


def _digest_body(encoded: dict[str, bytes]) -> dict[str, bytes]:
    if "body" in encoded:
        encoded["content-digest"] = content_digest(encoded.pop("body"))
    return encoded


def _to_committed(components: list[str], headers: Mapping[str, bytes], body_keys: list[str],
                  multipart: bool) -> list[str]:
    """Turn signature components back into AO keys (§3.3, 'committed' steps 1-5)."""
    # Of the headers, only `ao-ids` and `ao-body-key` are read: the memo key holds both.
    key = (tuple(components), headers.get("ao-ids"), headers.get("ao-body-key"), tuple(body_keys), multipart)
    found = _TO_COMMITTED.get(key)
    if found is None:
        found = tuple(_to_committed_now(components, headers, body_keys, multipart))
        if len(components) + len(body_keys) <= MEMO_MAX_KEYS:
            _TO_COMMITTED.put(key, found)
    return list(found)


_TO_COMMITTED: Memo[tuple[object, ...], tuple[str, ...]] = Memo(1024)


def _to_committed_now(components: list[str], headers: Mapping[str, bytes], body_keys: list[str],
                      multipart: bool) -> list[str]:
    keys: list[str] = []
    for raw in components:
        name = raw[1:] if raw.startswith("@") else raw
        if name == "content-digest":
            keys.extend(body_keys)
        elif name == "content-type" and multipart:
            continue
        elif name == "ao-ids" and "ao-ids" in headers:
            keys.extend(erlang_key_order(_sf.parse_dictionary(headers["ao-ids"], "ao-ids")))
        else:
            keys.append(name)
    if "ao-body-key" in keys:
        target = decode(headers.get("ao-body-key", b"body"), errors="surrogateescape")
        keys = [target if k == "body" else k for k in keys if k != "ao-body-key"]
    return _unique(k[: -len(LINK_SUFFIX)] if k.endswith(LINK_SUFFIX) else k for k in keys)


def commitment_id(signature: bytes) -> str:
    """A commitment's ID: the signature itself if it is 32 bytes (an HMAC), else its SHA-256."""
    return b64url_encode(signature if len(signature) == 32 else sha256(signature))


def _params_from_siginfo(params: Mapping[str, _sf.Bare]) -> TABM:
    out: TABM = {}
    for key, value in params.items():
        if key == "alg":
            continue
        if isinstance(value, bytes):
            out[key] = b64url_encode(value).encode("ascii")
        elif isinstance(value, bool):
            out[key] = b"true" if value else b"false"
        elif key == "original-tags" and isinstance(value, str):
            out[key] = _unflatten_param(value)
        else:
            out[key] = str(value).encode("utf-8", "surrogateescape")
    return out


def _unflatten_param(text: str) -> TABM:
    out: TABM = {}
    for entry in text.split(", ") if text else []:
        index, _, rest = entry.partition(":")
        name, _, value = rest.partition(":")
        out[index] = {"name": _bkey(name), "value": _bkey(value)}
    return out


def _split_alg(alg: str) -> tuple[str, str]:
    if "@" not in alg:
        return NAME, alg
    device, _, type_ = alg.partition("/")
    return device, type_


def _commitments_from_siginfo(headers: Mapping[str, bytes], body_keys: list[str],
                              multipart: bool) -> TABM:
    signatures = _sf.parse_dictionary(headers["signature"], "signature")
    inputs = _sf.parse_dictionary(headers["signature-input"], "signature-input")
    commitments: TABM = {}
    for label, item in inputs.items():
        signature = signatures.get(label)
        if signature is None or not isinstance(signature.value, bytes):
            raise DecodeError(f"{NAME}: signature-input '{shown(label)}' has no matching byte-sequence signature")
        if not isinstance(item.value, list) or not all(isinstance(c.value, str) for c in item.value):
            raise DecodeError(f"{NAME}: signature-input '{shown(label)}' is not a list of component names")
        alg = item.params.get("alg")
        keyid = item.params.get("keyid")
        if not isinstance(alg, str) or not isinstance(keyid, str):
            raise DecodeError(f"{NAME}: signature-input '{shown(label)}' lacks alg or keyid")
        device, type_ = _split_alg(alg)
        commitment = _params_from_siginfo(item.params)
        commitment["commitment-device"] = _bkey(device)
        commitment["type"] = _bkey(type_)
        commitment["signature"] = b64url_encode(signature.value).encode("ascii")
        components = [str(c.value) for c in item.value]
        commitment["committed"] = _numbered(_to_committed(components, headers, body_keys, multipart))
        # The committer is derived from the key, never taken from a `committer` parameter: the
        # parameter is outside the signature base, so anyone could name anyone
        # (ao-core-1.0-spec-notes.md F1).
        commitment.pop("committer", None)
        committer = _keyid.committer_of(keyid, type_ if device == NAME else "rsa-pss-sha512")
        if committer is not None:
            commitment["committer"] = committer.encode("ascii")
        commitments[commitment_id(signature.value)] = commitment
    return commitments


def from_wire(encoded: Mapping[str, bytes]) -> TABM:
    """Decode HTTP headers plus `body` into a TABM, with commitments from the signature headers.

    Raises:
        DecodeError: a malformed multipart body, structured field, `ao-ids` or signature header.
    """
    if not isinstance(encoded, Mapping):
        raise DecodeError(f"{NAME}: expected a map of headers, got {type(encoded).__name__}")
    headers = {k: v for k, v in encoded.items() if k != "body"}
    for key, value in headers.items():
        if not isinstance(value, bytes):
            raise DecodeError(f"{NAME}: header '{shown(key)}' must be bytes")
    body = encoded.get("body", b"")
    inline_key = decode(headers["ao-body-key"], errors="surrogateescape") if "ao-body-key" in headers else "body"
    tabm: TABM = {k: v for k, v in headers.items() if k not in ("signature", "signature-input", "content-digest")}
    body_keys: list[str] = []
    multipart = False
    if body:
        boundary = _multipart.boundary_of(headers["content-type"]) if "content-type" in headers else None
        if boundary is not None:
            parts, body_keys = _multipart.decode(body, boundary, inline_key)
            multipart = True
            del tabm["content-type"]
            _multipart._deep_merge(tabm, parts)
        else:
            tabm[inline_key] = body
            body_keys = [inline_key]
    elif "content-digest" in headers:
        body_keys = [inline_key]
    elif "ao-body-key" in headers:
        # `ao-body-key` names the body even when it is empty.
        tabm[inline_key] = b""
    if "ao-ids" in tabm:
        ids = tabm.pop("ao-ids")
        if not isinstance(ids, bytes):
            raise DecodeError(f"{NAME}: ao-ids must be a header")
        for key, item in _sf.parse_dictionary(ids, "ao-ids").items():
            if not isinstance(item.value, str) or isinstance(item.value, bool):
                raise DecodeError(f"{NAME}: ao-ids member '{shown(key)}' is not a string")
            tabm[key] = _bkey(item.value)
    tabm.pop("ao-body-key", None)
    if "signature" in headers and "signature-input" in headers:
        commitments = _commitments_from_siginfo(headers, body_keys, multipart)
        if commitments:
            tabm["commitments"] = commitments
            # An empty body travels as no body at all; a commitment to it brings it back.
            if not body and "content-digest" in headers.get("signature-input", b"").decode("ascii", "replace"):
                tabm.setdefault(inline_key, b"")
    elif ("signature" in headers) != ("signature-input" in headers):
        raise DecodeError(f"{NAME}: signature and signature-input must come together")
    return tabm


# --- signature bases, commit, verify (§3.4, §4.2-4.3) -----------------------------------


def _select(tabm: Mapping[str, bytes | TABM], keys: list[str]) -> dict[str, bytes | TABM]:
    inputs: dict[str, bytes | TABM] = {}
    for key in keys:
        if key in tabm:
            inputs[key] = tabm[key]
        elif key + LINK_SUFFIX in tabm:
            inputs[key + LINK_SUFFIX] = tabm[key + LINK_SUFFIX]
        else:
            raise InvalidSignature(f"committed key '{shown(key)}' is not in the message")
    return inputs


def _client_order(names: list[str], committed: list[str], headers: Mapping[str, bytes],
                  body_keys: list[str]) -> list[str]:
    """The component names in the order of the commitment's `committed` list (RFC 9421 §2.5).

    A decoded commitment keeps the order of the client's `signature-input` (`_to_committed`
    maps the components to keys in order), so this is the order the client signed in. Each
    component takes the place of the first committed key it carries: `content-digest` of its
    body keys, `ao-ids` of its IDs, `k+link` of `k`. The two components that no key carries
    (`ao-body-key`, and `content-type` of a multipart body) go right after the nearest
    component that sorts before them, which keeps a sorted list sorted."""
    first: dict[str, int] = {}
    for index, key in enumerate(committed):
        first.setdefault(key, index)
    ranked: list[tuple[int, str]] = []
    unplaced: list[str] = []
    for name in names:
        if name == "content-digest":
            carried = body_keys
        elif name == "ao-ids" and "ao-ids" in headers:
            carried = list(_sf.parse_dictionary(headers["ao-ids"], "ao-ids"))
        else:
            carried = [name[: -len(LINK_SUFFIX)] if name.endswith(LINK_SUFFIX) else name]
        places = [first[k] for k in carried if k in first]
        if places:
            ranked.append((min(places), name))
        else:
            unplaced.append(name)
    order = [name for _, name in sorted(ranked, key=lambda pair: pair[0])]
    for name in sorted(unplaced, key=_bkey):
        before = [i for i, other in enumerate(order) if _bkey(other) < _bkey(name)]
        order.insert(max(before, key=lambda i: _bkey(order[i])) + 1 if before else 0, name)
    return order


def _base(tabm: Mapping[str, bytes | TABM], commitment: Mapping[str, bytes | TABM],
          client_order: bool = False) -> tuple[bytes, list[str], dict[str, bytes], list[str], bool]:
    committed = committed_list(commitment)
    encoded_key, encoded, body_keys, multipart = _encode_keyed(_select(tabm, committed))
    lines_key = None if encoded_key is None else (encoded_key, tuple(committed) if client_order else None)
    found = None if lines_key is None else _LINES.get(lines_key)
    if found is None:
        headers = dict(encoded)
        _digest_body(encoded)
        names = erlang_key_order(encoded)
        if client_order:
            names = _client_order(names, committed, headers, body_keys)
        lines = b"\n".join(b'"' + _bkey(n) + b'": ' + encoded[n] for n in names)
        inner = " ".join(_sf.serialize_string("@" + n if n in DERIVED else n) for n in names)
        found = (lines, inner, tuple(names), headers)
        if lines_key is not None:
            _LINES.put(lines_key, found)
    lines_text, inner, kept_names, kept_headers = found
    names, headers = list(kept_names), dict(kept_headers)
    params = []
    for key in _BASE_PARAMS:
        value = _alg(commitment) if key == "alg" else _field(commitment, key, "") if key in commitment else None
        if value is None:
            continue
        if key in _INT_PARAMS and _is_int(value):
            params.append(f";{key}={value}")
        else:
            params.append(f";{key}={_sf.serialize_string(value)}")
    params_line = f'"@signature-params": ({inner}){"".join(params)}'.encode("utf-8", "surrogateescape")
    base = lines_text + b"\n" + params_line
    return base, names, headers, body_keys, multipart


# The component lines of signature bases (and their `@signature-params` list), by what they
# encode: a signature and the HMAC beside it share them, and repeated messages come again.
_LINES: Memo[tuple[tuple[bytes, bool], tuple[str, ...] | None], tuple[bytes, str, tuple[str, ...], dict[str, bytes]]
             ] = Memo(1024)


def signature_base(tabm: Mapping[str, bytes | TABM], commitment: Mapping[str, bytes | TABM]) -> bytes:
    """The exact bytes a commitment signs: §3.4 applied to `tabm` and the commitment's keys and params.

    `tabm` must be in the commitment's mode: nested maps as `key+link` IDs, or inline when
    the commitment says `bundle: "true"`.

    Raises:
        InvalidSignature: a committed key is missing from the message.
        BadMessage: the commitment has no usable `committed` list.
    """
    return _base(tabm, commitment)[0]


def signature_bases(tabm: Mapping[str, bytes | TABM], commitment: Mapping[str, bytes | TABM]
                    ) -> list[bytes]:
    """Every base `verify` accepts for a commitment: the reference's (`signature_base`, Erlang
    map order), then, if it differs, the one in the order of the commitment's `committed`
    list, which for a decoded commitment is the client's `signature-input` order (RFC 9421
    §2.5; docs/compat.md). Both cover the same lines; the order is signed in the
    `@signature-params` line. For a bare keyid, last, the spring-2025 form's base
    (`_spring2025`: unquoted lines in the `committed` order, no `alg`).

    Raises:
        InvalidSignature: a committed key is missing from the message.
        BadMessage: the commitment has no usable `committed` list.
    """
    canonical = _base(tabm, commitment)[0]
    ordered = _base(tabm, commitment, client_order=True)[0]
    bases = [canonical] if ordered == canonical else [canonical, ordered]
    # A nested message signed in the spring-2025 form (a bare keyid): its unquoted lines.
    older = _spring2025.signature_base(tabm, commitment)
    return bases if older is None else [*bases, older]


def _keys_to_commit(tabm: TABM, committed: list[str] | None) -> list[str]:
    if committed is not None:
        return committed
    existing = tabm.get("commitments")
    if isinstance(existing, dict):
        signed = [c for c in existing.values() if isinstance(c, dict) and "committer" in c]
        if signed:
            common = set(committed_list(signed[0]))
            for c in signed[1:]:
                common &= set(committed_list(c))
            return [k for k in committed_list(signed[0]) if k in common]
    given = tuple(tabm)
    found = _ALL_KEYS.get(given)
    if found is None:
        keys = [k[: -len(LINK_SUFFIX)] if k.endswith(LINK_SUFFIX) else k
                for k in given if k != "commitments" and not is_private(k)]
        found = tuple(sorted(keys, key=_bkey))
        _ALL_KEYS.put(given, found)
    return list(found)


# The keys a new commitment covers by default, by the message's keys (a reply's come again).
_ALL_KEYS: Memo[tuple[str, ...], tuple[str, ...]] = Memo(1024)


def commit(
    tabm: TABM,
    *,
    type: str = "signed",
    wallet: Wallet | None = None,
    committed: list[str] | None = None,
    bundle: bool = False,
    tag: str | None = None,
    keyid: str | None = None,
    secret: bytes | None = None,
) -> TABM:
    """Add a commitment to a TABM and return the new TABM (§4.2).

    `signed` (`rsa-pss-sha512`) signs with `wallet` and then adds the `constant:ao`
    HMAC over the same keys, as the reference does. `unsigned` (`hmac-sha256`) adds
    only the HMAC, replacing an earlier one with the same keyid.

    Raises:
        Unauthorized: a signed commitment without a wallet.
        AOError: an unknown commitment type (422).
    """
    alg = TYPE_ALIASES.get(type, type)
    keys = _keys_to_commit(tabm, committed)
    commitments = dict(tabm.get("commitments") or {})  # type: ignore[arg-type]
    commitment: TABM = {"commitment-device": NAME.encode(), "type": alg.encode()}
    if alg == "rsa-pss-sha512":
        if wallet is None:
            raise Unauthorized("a signed commitment needs a wallet")
        commitment["keyid"] = _keyid.publickey_keyid(wallet.modulus).encode("ascii")
        commitment["committer"] = wallet.address.encode("ascii")
        if tag is not None:
            commitment["tag"] = _bkey(tag)
    elif alg == "hmac-sha256":
        if keyid is None and secret is not None:
            keyid = "secret:" + b64url_encode(sha256(secret))
        keyid = keyid or _keyid.DEFAULT_HMAC_KEYID
        commitment["keyid"] = _bkey(keyid)
        committer = _keyid.committer_of(keyid, alg)
        if committer is not None:
            commitment["committer"] = committer.encode("ascii")
        commitments = {
            cid: c for cid, c in commitments.items()
            if not (isinstance(c, dict) and c.get("commitment-device") == NAME.encode()
                    and c.get("type") == alg.encode() and c.get("keyid") == commitment["keyid"])
        }
    else:
        raise AOError(f"{NAME}: unknown commitment type '{shown(type)}'", status=422)
    if bundle:
        commitment["bundle"] = b"true"
    commitment["committed"] = _numbered(keys)
    base, components, headers, body_keys, multipart = _base(tabm, commitment)
    commitment["committed"] = _numbered(_to_committed(components, headers, body_keys, multipart))
    if alg == "rsa-pss-sha512":
        assert wallet is not None
        signature = wallet.sign(base, "sha512")
    else:
        signature = hmac_sha256(_keyid.hmac_key(keyid or "", secret), base)
    commitment["signature"] = b64url_encode(signature).encode("ascii")
    commitments[commitment_id(signature)] = commitment
    out = dict(tabm)
    out["commitments"] = commitments
    if alg == "rsa-pss-sha512":
        return commit(out, type="unsigned", committed=committed, bundle=bundle)
    return out


def verify(tabm: Mapping[str, bytes | TABM], cid: str, commitment: Mapping[str, bytes | TABM],
           *, secret: bytes | None = None) -> None:
    """Check one `httpsig@1.0` commitment against the message it claims to cover.

    The commitment's `committer` must be the one its key implies (`_keyid.committer_of`): the
    RSA key's address, the secret's hash, and none for a `constant` HMAC, which anyone can
    compute and so proves content, not identity.

    Raises:
        InvalidSignature: the signature, the HMAC or the commitment ID does not match, or the
            commitment names a committer its key does not imply.
    """
    try:
        alg = _field(commitment, "type", "")
        keyid = _field(commitment, "keyid", "")
        signature = b64url_decode(_field(commitment, "signature", ""))
        bases = signature_bases(tabm, commitment)
    except (BadMessage, DecodeError) as exc:
        raise InvalidSignature() from exc
    if not hmac.compare_digest(commitment_id(signature), cid):
        raise InvalidSignature()
    claimed = commitment.get("committer")
    if claimed != (None if (bound := _keyid.committer_of(keyid, alg)) is None else bound.encode("ascii")):
        raise InvalidSignature()
    for base in bases:
        if alg == "rsa-pss-sha512":
            try:
                rsa_pss_verify(_keyid.rsa_modulus(keyid), base, signature, "sha512")
            except InvalidSignature:
                continue
            return
        if alg == "hmac-sha256":
            if hmac.compare_digest(hmac_sha256(_keyid.hmac_key(keyid, secret), base), signature):
                return
            continue
        break
    raise InvalidSignature()
