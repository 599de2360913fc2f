"""`ans104@1.0`: TABMs as ANS-104 data items (ans104-arweave.md §10).

Item -> TABM (`from_wire`, HyperBEAM-main ``dev_codec_ans104:from``, §10.2):

1. An item tagged exactly ``ao-type: binary`` is just its data.
2. A bundle (exact lower-case ``bundle-format: binary``/``bundle-version:
   2.0.0`` tags) is unbundled; each entry becomes a key, recursively.
3. ``target`` (if present) becomes the key ``target`` = base64url(target).
4. Tag names are lower-cased; repeated names become an SF list of strings.
   ``ao-types`` members are lower-cased and re-sorted.
5. The data goes under the ``ao-data-key`` tag's value, else ``data``.
6. Committed keys, in order: data keys (sorted), then each tag's lower-cased
   name except the bundle tags and ``ao-data-key``, then ``target``.
7. The base message takes each committed key from data, then fields, then tags.
8. A signed item gets one commitment keyed by its ID; an unsigned item gets
   an ``unsigned-sha256`` one only if some tag name is not lower case.

TABM -> item (`to_item`, ``dev_codec_ans104:to``, §10.3) rebuilds the signed
item byte for byte from the message and its ANS-104 commitment: signature,
owner, target, anchor and ``original-tags`` come from the commitment, the
tag order from its ``committed`` list; without a commitment tags are the
keys in bytewise order. Keys with maps, values over 3072 bytes or names over
1024 bytes, and the body when there are such keys, go into a bundle (the
HyperBEAM-main layout, aonode.codecs._bundle).

Commitment shape (§10.2 step 8): ``commitment-device``, ``type``,
``committer``, ``keyid`` (``publickey:`` + base64url owner), ``signature``
(base64url), ``committed`` (numbered map), ``bundle`` (``"true"``/``"false"``),
``original-tags`` (numbered map of ``{name, value}``, only when a tag name is
not lower case), ``field-target`` (base64url), ``field-anchor`` (the raw 32
anchor bytes, as HyperBEAM-main writes it; read back raw or base64url).

Where aonode goes beyond HyperBEAM-main (docs/ans104.md): signature types
2-4 (commitment types `COMMITMENT_TYPES`), anchored signed items round-trip,
a bundle without a manifest comes back keyed ``"1".."n"``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, cast

from aonode.codecs import _sf
from aonode.codecs._bundle import bundle as make_bundle
from aonode.codecs._bundle import unbundle
from aonode.codecs._dataitem import SIGNATURE_SCHEMES, DataItem, ItemKey, parse_item
from aonode.codecs.structured import escape_key, parse_types
from aonode.crypto._b64 import b64url_decode, b64url_encode
from aonode.errors import BadMessage, DecodeError, EncodeError, InvalidSignature, shown
from aonode.message import TABM, is_private

__all__ = [
    "COMMITMENT_TYPES",
    "CONTENT_TYPE",
    "NAME",
    "commit",
    "from_item",
    "from_wire",
    "to_item",
    "to_wire",
    "verify",
]

NAME = "ans104@1.0"
CONTENT_TYPE = "application/ans104"

# The commitment `type` of a signed item, by signature type. HyperBEAM (main
# and later) writes `rsa-pss-sha256` for every item; the names of types 2-4
# are aonode's (HyperBEAM-main cannot hold such items).
COMMITMENT_TYPES: dict[int, str] = {
    1: "rsa-pss-sha256",
    2: "ed25519",
    3: "ethereum-secp256k1",
    4: "solana-ed25519-hex",
}
_TYPE_OF_COMMITMENT = {name: number for number, name in COMMITMENT_TYPES.items()}
UNSIGNED_TYPE = "unsigned-sha256"
_COMMIT_ALIASES = {"unsigned": UNSIGNED_TYPE}

# Tags that never become committed keys (§10.2 step 6): exact, case-sensitive names.
_META_TAGS = frozenset({b"bundle-format", b"bundle-version", b"bundle-map", b"ao-data-key"})
# HyperBEAM's limits on what stays a tag (§10.3 step 4).
_MAX_KEYS = 128
_MAX_TAG_VALUE = 3072
_MAX_TAG_NAME = 1024
_LINK = "+link"
_ID_LENGTH = 32


def _key(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape")


def _bytes(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


def _sort(keys: Any) -> list[str]:
    return sorted(keys, key=_bytes)


# -- item -> TABM (§10.2) ----------------------------------------------------------


def from_wire(data: bytes | DataItem) -> TABM | bytes:
    """Decode a binary data item (or a parsed one) into a TABM.

    Args:
        data: the serialized item, or a `DataItem`.

    Returns:
        The TABM with its ANS-104 commitment; or the bare data of an item
        tagged ``ao-type: binary``.

    Raises:
        DecodeError: the item does not parse, carries an unknown ``ao-type``,
            or holds a bundle that does not decode.
    """
    item = data if isinstance(data, DataItem) else parse_item(data)
    return from_item(item)


def _first(tags: tuple[tuple[bytes, bytes], ...], name: bytes) -> bytes | None:
    return next((value for tag, value in tags if tag == name), None)


def _sf_string_list(values: list[bytes]) -> bytes:
    # hb_structured_fields:list of {string, V}: only `\` and `"` are escaped.
    return b", ".join(
        b'"' + v.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"' for v in values
    )


def _tag_map(tags: tuple[tuple[bytes, bytes], ...]) -> dict[str, bytes]:
    grouped: dict[str, list[bytes]] = {}
    for name, value in tags:
        grouped.setdefault(_key(name).lower(), []).append(value)
    out = {k: v[0] if len(v) == 1 else _sf_string_list(v) for k, v in grouped.items()}
    if "ao-types" in out:
        try:
            types = parse_types(out["ao-types"])
        except DecodeError as exc:
            raise DecodeError(f"{NAME}: the ao-types tag is malformed: {exc.message}") from exc
        lowered = {k.lower(): v for k, v in types.items()}
        out["ao-types"] = ", ".join(
            f"{escape_key(k)}={_sf.serialize_string(lowered[k])}" for k in _sort(lowered)
        ).encode("utf-8", "surrogateescape")
    return out


def _normal_tags(tags: tuple[tuple[bytes, bytes], ...]) -> bool:
    return all(_key(name).lower() == _key(name) for name, _ in tags)


def _numbered(values: list[Any]) -> TABM:
    return {str(i): v for i, v in enumerate(values, 1)}


# Each item of a bundle signs (deep-hashes) all it contains, so reading bundles nested N deep
# hashes and copies about N times the outermost item: 999 levels of small items took 11 s and
# 1.2 GB. Real bundles nest a few levels; this bounds the work to 16 passes over the body.
MAX_BUNDLE_DEPTH = 16


def from_item(item: DataItem, *, depth: int = 1) -> TABM | bytes:
    """`from_wire` for a parsed item (§10.2); `depth` is its level in the outermost bundle.

    Raises:
        DecodeError: as `from_wire`; bundles nested more than `MAX_BUNDLE_DEPTH` deep.
    """
    if depth > MAX_BUNDLE_DEPTH:
        raise DecodeError(f"{NAME}: bundles nest more than {MAX_BUNDLE_DEPTH} levels deep "
                          f"(the limit is {MAX_BUNDLE_DEPTH})")
    ao_type = _first(item.tags, b"ao-type")
    if ao_type is not None:
        if ao_type == b"binary":
            return item.data
        raise DecodeError(f"{NAME}: unsupported ao-type tag value '{shown(ao_type)}'")
    fields: dict[str, bytes] = {"target": b64url_encode(item.target).encode()} if item.target else {}
    tags = _tag_map(item.tags)
    data_key = _key(tags.get("ao-data-key", b"data"))
    data: dict[str, bytes | TABM] = {}
    if item.data:
        contents = unbundle(item, exact_tags=True)
        if contents is None:
            data = {data_key: item.data}
        else:
            if isinstance(contents, list):
                contents = {str(i): entry for i, entry in enumerate(contents, 1)}
            data = {key: from_item(entry, depth=depth + 1) for key, entry in contents.items()}
    keys = _sort(data)
    keys += [_key(name).lower() for name, _ in item.tags if name not in _META_TAGS]
    if "target" in fields or "target" in tags or "target" in data:
        keys.append("target")
    committed = list(dict.fromkeys(keys))
    base: TABM = {}
    for key in committed:
        base[key] = data[key] if key in data else fields[key] if key in fields else tags[key]
    commitment: TABM = {"commitment-device": NAME.encode(), "committed": _numbered(
        [_bytes(k) for k in committed]
    )}
    if item.is_signed:
        cid = b64url_encode(item.id)
        commitment["type"] = COMMITMENT_TYPES[item.signature_type].encode()
        commitment["committer"] = item.owner_address.encode()
        commitment["keyid"] = b"publickey:" + b64url_encode(item.owner).encode()
        commitment["signature"] = b64url_encode(item.signature).encode()
    elif _normal_tags(item.tags):
        return base
    else:
        cid = b64url_encode(item.unsigned_id)
        commitment["type"] = UNSIGNED_TYPE.encode()
    commitment["bundle"] = b"true" if "bundle-format" in tags else b"false"
    if not _normal_tags(item.tags):
        commitment["original-tags"] = _numbered(
            [{"name": name, "value": value} for name, value in item.tags]
        )
    if item.target:
        commitment["field-target"] = b64url_encode(item.target).encode()
    if item.anchor:
        commitment["field-anchor"] = item.anchor
    base["commitments"] = {cid: commitment}
    return base


# -- TABM -> item (§10.3) ----------------------------------------------------------


def _ans104_commitment(tabm: Mapping[str, Any]) -> tuple[str, TABM] | None:
    commitments = tabm.get("commitments")
    if not isinstance(commitments, Mapping):
        return None
    found = [
        (str(cid), cast(TABM, c)) for cid, c in commitments.items()
        if isinstance(c, Mapping) and c.get("commitment-device") == NAME.encode()
    ]
    if len(found) > 1:
        raise EncodeError(f"{NAME}: a message with several ans104@1.0 commitments has no item form")
    return found[0] if found else None


def _decode_field(value: Any, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise EncodeError(f"{NAME}: commitment {what} must be a binary")
    try:
        return b64url_decode(value)
    except DecodeError as exc:
        raise EncodeError(f"{NAME}: commitment {what} is not base64url") from exc


def _anchor(value: Any) -> bytes:
    # HyperBEAM-main records the raw 32 bytes (and cannot read them back);
    # base64url (43 characters) is accepted too (§16.1).
    if isinstance(value, bytes) and len(value) == _ID_LENGTH:
        return value
    return _decode_field(value, "field-anchor")


def _ordered(numbered: Any, what: str) -> list[Any]:
    if isinstance(numbered, list):
        return numbered
    if not isinstance(numbered, Mapping):
        raise EncodeError(f"{NAME}: commitment {what} must be a numbered map")
    try:
        order = sorted(numbered, key=int)
    except ValueError as exc:
        raise EncodeError(f"{NAME}: commitment {what} is not numbered") from exc
    return [numbered[k] for k in order]


def _original_tags(value: Any) -> list[tuple[bytes, bytes]]:
    tags = []
    for entry in _ordered(value, "original-tags"):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        tag_value = entry.get("value") if isinstance(entry, Mapping) else None
        if not isinstance(name, bytes) or not isinstance(tag_value, bytes):
            raise EncodeError(f"{NAME}: original-tags entries must be {{name, value}} binaries")
        tags.append((name, tag_value))
    return tags


def _siginfo(commitment: TABM | None, tabm: Mapping[str, Any]) -> dict[str, Any]:
    """§10.3 step 3: signature, owner, tags, target and anchor of the item to build."""
    if commitment is None:
        target = tabm.get("target")
        if isinstance(target, bytes):
            try:
                raw = b64url_decode(target)
            except DecodeError:
                raw = b""
            if len(raw) == _ID_LENGTH:
                return {"target": raw}
        return {}
    info: dict[str, Any] = {}
    type_name = commitment.get("type")
    text = type_name.decode("ascii", "replace") if isinstance(type_name, bytes) else ""
    info["signature_type"] = _TYPE_OF_COMMITMENT.get(text, 1)
    if "signature" in commitment:
        info["signature"] = _decode_field(commitment["signature"], "signature")
    if "keyid" in commitment:
        keyid = commitment["keyid"]
        if not isinstance(keyid, bytes):
            raise EncodeError(f"{NAME}: commitment keyid must be a binary")
        info["owner"] = _decode_field(keyid.rpartition(b":")[2], "keyid")
    if "original-tags" in commitment:
        info["tags"] = _original_tags(commitment["original-tags"])
    if "field-anchor" in commitment:
        info["anchor"] = _anchor(commitment["field-anchor"])
    if "field-target" in commitment:
        info["target"] = _decode_field(commitment["field-target"], "field-target")
    return info


def _data_key(tabm: Mapping[str, Any]) -> str:
    named = tabm.get("ao-data-key")
    if isinstance(named, bytes):
        return _key(named)
    if not tabm.get("data") and "body" in tabm:
        return "body"
    return "data"


def _nested(tabm: Mapping[str, Any], commitment: TABM | None) -> dict[str, Any]:
    rest = {k: v for k, v in tabm.items() if k not in ("commitments", "data", "target")}
    # A signed item's tags are its committed keys: keys added beside them (a reply's
    # `status`, its `ao-types`) are not part of the item and do not count.
    committed = {_key(k) for k in _ordered(commitment.get("committed", {}), "committed")
                 if isinstance(k, bytes)} if commitment is not None else None
    counted = [k for k in rest if committed is None or k in committed or k + _LINK in committed]
    if len(counted) > _MAX_KEYS:
        raise EncodeError(
            f"{NAME}: {len(counted)} keys are more than the {_MAX_KEYS} an item can carry as tags"
        )
    return {
        k: v for k, v in rest.items()
        if isinstance(v, Mapping) or len(v) > _MAX_TAG_VALUE or len(_bytes(k)) > _MAX_TAG_NAME
    }


def to_item(tabm: TABM | bytes) -> DataItem:
    """Build the data item of a TABM (§10.3); with an ANS-104 commitment, the signed item.

    Args:
        tabm: the message (private keys are ignored) or a bare binary.

    Returns:
        The item; signed when the message carries an ANS-104 commitment with a
        signature, unsigned otherwise.

    Raises:
        EncodeError: more than 128 keys; several ANS-104 commitments; a
            committed key the message lacks; a malformed commitment; or fields
            no item can hold (a target or anchor that is not 32 bytes, an
            empty key, a value that is neither binary nor map).
    """
    if isinstance(tabm, bytes | bytearray):
        return DataItem(tags=((b"ao-type", b"binary"),), data=bytes(tabm))
    if not isinstance(tabm, Mapping):
        raise EncodeError(f"{NAME}: a message must be a map or a binary")
    msg = {k: v for k, v in tabm.items() if not is_private(k)}
    for key, value in msg.items():
        if not isinstance(value, bytes | Mapping):
            raise EncodeError(f"{NAME}: key '{shown(key)}' holds a {type(value).__name__}")
    found = _ans104_commitment(msg)
    commitment = found[1] if found else None
    info = _siginfo(commitment, msg)
    data_key = _data_key(msg)
    nested = {k: to_item(v) for k, v in _nested(msg, commitment).items()}
    data_value = msg.get(data_key, b"")
    data_map: dict[str, DataItem] | None
    if isinstance(data_value, bytes) and not nested:
        data_map, data = None, data_value
    elif data_value == b"":
        data_map, data = nested, b""
    else:
        data_map, data = {**nested, data_key: to_item(data_value)}, b""
    tags = info.get("tags") or _tags(msg, commitment, info.get("target", b""), data_key, data_map)
    target, anchor = info.get("target", b""), info.get("anchor", b"")
    try:
        if data_map is not None:
            # ar_bundles:normalize: bundle tags and the manifest (§9.2).
            carrier = make_bundle(data_map, tags=tags, target=target, anchor=anchor)
            tags, data = list(carrier.tags), carrier.data
        return DataItem(
            signature_type=info.get("signature_type", 1),
            signature=info.get("signature", b""),
            owner=info.get("owner", b""),
            target=target,
            anchor=anchor,
            tags=tuple(tags),
            data=data,
        )
    except DecodeError as exc:
        raise EncodeError(f"{NAME}: {exc.message}") from exc


def _tags(
    msg: Mapping[str, Any],
    commitment: TABM | None,
    field_target: bytes,
    data_key: str,
    data_map: Mapping[str, DataItem] | None,
) -> list[tuple[bytes, bytes]]:
    """§10.3 step 5, without `original-tags`."""
    # `include_target_tag`: a target in the field is not also a tag (the raw
    # field never equals the base64url text in the message).
    target_in_field = bool(field_target) and msg.get("target") != field_target
    if commitment is not None:
        keys = []
        for raw in _ordered(commitment.get("committed", {}), "committed"):
            if not isinstance(raw, bytes):
                raise EncodeError(f"{NAME}: committed keys must be binaries")
            key = _key(raw)
            base = key[: -len(_LINK)] if key.endswith(_LINK) else key
            keys.append(base if base in msg else base + _LINK if base + _LINK in msg else base)
        if target_in_field and "target" in keys:
            keys.remove("target")
    else:
        skip = {"commitments"} | set(data_map or ()) | ({"target"} if target_in_field else set())
        keys = [k for k in _sort(msg) if k not in skip]
    out: list[tuple[bytes, bytes]] = []
    if data_key != "data":
        out.append((b"ao-data-key", _bytes(data_key)))
    excluded = {data_key} | set(data_map or ())
    for key in keys:
        if key in excluded:
            continue
        value = msg.get(key)
        if value is None:
            raise EncodeError(f"{NAME}: committed key '{shown(key)}' is missing from the message")
        if not isinstance(value, bytes):
            raise EncodeError(f"{NAME}: key '{shown(key)}' holds a map and cannot be a tag")
        out.append((_bytes(key), value))
    return out


def to_wire(tabm: TABM | bytes) -> bytes:
    """The serialized data item of a TABM (`to_item`, then `DataItem.serialize`).

    Raises:
        EncodeError: as `to_item`.
    """
    return to_item(tabm).serialize()


# -- commit and verify (§10.4) -------------------------------------------------------


def commit(tabm: TABM, key: ItemKey | None = None, *, type: str = "signed") -> TABM:
    """Sign a message as an ANS-104 item and return the message the item decodes to.

    Args:
        tabm: the message. An existing ANS-104 commitment supplies the target,
            anchor, tags and their order; other commitments are dropped, as
            the item cannot carry them.
        key: the signer (a `Wallet` for HyperBEAM's type 1; Ed25519 or
            secp256k1 keys sign types 2 and 3). Not needed for unsigned.
        type: ``signed`` (the key's own type: ``rsa-pss-sha256`` for a
            `Wallet`, as in HyperBEAM), a name in `COMMITMENT_TYPES`, or
            ``unsigned``/``unsigned-sha256``, which only normalizes the
            message (no commitment when every key is lower case).

    Returns:
        The TABM decoded from the new item, with its one ANS-104 commitment.

    Raises:
        EncodeError: the message has no item form (see `to_item`), or the
            type is unknown, or a signed commitment was asked without a key.
    """
    if type == "signed":
        # HyperBEAM's `signed` is RSA (its only key type); other keys sign their own type.
        natural = next((t for t, s in SIGNATURE_SCHEMES.items() if isinstance(key, s.key_class)), 1)
        type = COMMITMENT_TYPES[natural]
    wanted = _COMMIT_ALIASES.get(type, type)
    msg = {k: v for k, v in tabm.items() if not is_private(k)}
    if wanted == UNSIGNED_TYPE:
        msg.pop("commitments", None)
        result = from_item(to_item(msg))
        assert isinstance(result, dict)
        return result
    if wanted not in _TYPE_OF_COMMITMENT:
        known = ", ".join(["signed", *_COMMIT_ALIASES, *_TYPE_OF_COMMITMENT])
        raise EncodeError(f"{NAME}: unknown commitment type '{shown(type)}'; known: {known}")
    if key is None:
        raise EncodeError(f"{NAME}: a signed commitment needs a key")
    found = _ans104_commitment(msg)
    if "commitments" in msg:
        msg["commitments"] = {found[0]: found[1]} if found else {}
    signature_type = _TYPE_OF_COMMITMENT[wanted]
    scheme = SIGNATURE_SCHEMES[signature_type]
    if not isinstance(key, scheme.key_class):
        raise EncodeError(f"{NAME}: {wanted} needs a {scheme.key_class.__name__} key")
    item = to_item(msg)
    unsigned = DataItem(
        signature_type=signature_type, target=item.target, anchor=item.anchor,
        tags=item.tags, data=item.data,
    )
    result = from_item(unsigned.sign(key, signature_type=signature_type))
    assert isinstance(result, dict)
    return result


def verify(
    tabm: Mapping[str, Any],
    commitment_id: str,
    commitment: Mapping[str, Any],
    *,
    secret: bytes | None = None,
) -> None:
    """Check one ANS-104 commitment: rebuild the signed item from the message and verify it.

    Args:
        tabm: the message, nested children inline when the commitment says
            ``bundle: "true"`` (as `aonode.codecs.verify` passes it).
        commitment_id: the commitment's key; must be the item's ID.
        commitment: the commitment.
        secret: unused (the common verifier signature).

    Beyond HyperBEAM (§16.4): the item is decoded again and every committed
    key must have the value the message holds. HyperBEAM rebuilds tags from
    ``original-tags`` and the target from ``field-target`` without looking
    at the message, so it accepts messages whose committed values were changed.

    Raises:
        InvalidSignature: the item cannot be rebuilt, is unsigned, does not
            verify, breaks HyperBEAM's tag limits, its ID is not
            `commitment_id`, or the message's committed values are not the
            item's. The error does not say which.
    """
    del secret
    only = {k: v for k, v in tabm.items() if k != "commitments" and not is_private(k)}
    only["commitments"] = {commitment_id: dict(commitment)}
    try:
        item = to_item(only)
        if not hmac.compare_digest(b64url_encode(item.id), commitment_id):
            raise InvalidSignature()
        item.verify()
        # The committer is the owner's address, whatever the commitment claims (F1).
        if commitment.get("committer") != item.owner_address.encode():
            raise InvalidSignature()
        signed = from_item(item)
        keys = _ordered(commitment.get("committed", {}), "committed")
    except (BadMessage, TypeError, ValueError) as exc:
        raise InvalidSignature() from exc
    if not isinstance(signed, dict):
        raise InvalidSignature()
    for raw in keys:
        key = _key(raw) if isinstance(raw, bytes) else ""
        key = key[: -len(_LINK)] if key.endswith(_LINK) else key
        if _committed_value(signed, key) != _committed_value(only, key):
            raise InvalidSignature()


def _committed_value(msg: Mapping[str, Any], key: str) -> Any:
    if key in msg:
        return msg[key]
    return msg.get(key + _LINK)
