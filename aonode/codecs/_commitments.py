"""Signing and verifying rich messages (messages-codecs-ids.md §4).

Each commitment names the codec that made it (`commitment-device`); `verify`
sends each selected commitment to that codec, in the mode it was made in (nested
children as links, or inline for `bundle: "true"`). The table `VERIFIERS` maps a
device name to its verify function; codecs add themselves there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from aonode._memo import Memo
from aonode.codecs import ans104, httpsig, structured
from aonode.codecs._ids import Selector, fingerprint, select_commitments, to_tabm
from aonode.crypto import Wallet
from aonode.errors import AOError, BadMessage, InvalidSignature, Unsupported
from aonode.message import TABM, Message, Value

__all__ = ["VERIFIERS", "Commitments", "commit", "commit_with_tabm", "committed_keys", "parse_commitments", "signers",
           "verify", "verify_tree", "with_only_committed", "without_false_commitments"]

Verifier = Callable[..., None]
"""verify(tabm, commitment_id, commitment, *, secret=None) -> None, raising InvalidSignature."""

VERIFIERS: dict[str, Verifier] = {httpsig.NAME: httpsig.verify, ans104.NAME: ans104.verify}


@dataclass(frozen=True)
class Commitments:
    """A message's commitments, parsed once: each as a tree of binaries, with what the
    questions asked of them over a request need (who signed, which keys each covers).

    Attributes:
        by_id: commitment ID -> the commitment (binaries only); shared, never changed.
        committers: commitment ID -> the committer it names, or None.
        committed: commitment ID -> the keys it covers in order, or None when its list is malformed.
    """

    by_id: Mapping[str, TABM]
    committers: Mapping[str, str | None]
    committed: Mapping[str, tuple[str, ...] | None]


_NONE = Commitments({}, {}, {})

# Parsed commitments by the exact content of the `commitments` map: a signed request's are
# read to verify it, to list its signers, to keep its committed keys and to store it.
_PARSED: Memo[object, Commitments] = Memo(2048)


def parse_commitments(msg: Mapping[str, Any]) -> Commitments:
    """The commitments of `msg`, parsed once per content (`Commitments`)."""
    found = msg.get("commitments")
    if not isinstance(found, Mapping) or not found:
        return _NONE
    try:
        key: object = fingerprint(dict(found))
    except TypeError:
        key = None
    if not (isinstance(key, tuple) and key[0] == "m"):  # only an exact fingerprint names one parse
        return _parse(found)
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = _parse(found)
        _PARSED.put(key, parsed)
    return parsed


def _parse(found: Mapping[str, Any]) -> Commitments:
    by_id = {cid: structured.binary_tree(c) for cid, c in found.items() if isinstance(c, Mapping)}
    committed: dict[str, tuple[str, ...] | None] = {}
    for cid, c in by_id.items():
        try:
            committed[cid] = tuple(httpsig.committed_list(c))
        except BadMessage:
            committed[cid] = None
    return Commitments(by_id, {cid: _committer(c) for cid, c in by_id.items()}, committed)


def _commitments(msg: Mapping[str, Any]) -> dict[str, TABM]:
    return dict(parse_commitments(msg).by_id)


def commit(
    msg: Message,
    wallet: Wallet | None = None,
    *,
    type: str = "signed",
    committed: list[str] | None = None,
    bundle: bool = False,
    secret: bytes | None = None,
) -> Message:
    """Return `msg` with a new `httpsig@1.0` commitment (and, when signed, the default HMAC).

    The message keeps its nested maps; only `commitments` changes. Its `priv.hashpath`, if
    any, becomes the signature's `tag`.

    Raises:
        Unauthorized: `type="signed"` without a wallet.
        EncodeError: a value has no encoding.
    """
    return commit_with_tabm(msg, wallet, type=type, committed=committed, bundle=bundle, secret=secret)[0]


def commit_with_tabm(
    msg: Message,
    wallet: Wallet | None = None,
    *,
    type: str = "signed",
    committed: list[str] | None = None,
    bundle: bool = False,
    secret: bytes | None = None,
) -> tuple[Message, TABM]:
    """`commit`, and the TABM of the committed message in the same mode (`to_tabm(out,
    bundle=bundle)`, built once: a reply is signed and then encoded from it).

    Raises:
        Unauthorized: `type="signed"` without a wallet.
        EncodeError: a value has no encoding.
    """
    tabm = to_tabm(msg, bundle=bundle)
    if not isinstance(tabm, dict):
        raise Unsupported("a binary message cannot carry commitments")
    priv = msg.get("priv")
    tag = priv.get("hashpath") if isinstance(priv, dict) else None
    new = httpsig.commit(
        tabm, type=type, wallet=wallet, committed=committed, bundle=bundle,
        tag=tag.decode() if isinstance(tag, bytes) else tag if isinstance(tag, str) else None,
        secret=secret,
    )
    out = dict(msg)
    out["commitments"] = cast(Value, new["commitments"])
    # `structured.from_wire` writes a TABM's keys in bytewise order, `commitments` among them.
    return out, dict(sorted(new.items(), key=lambda kv: kv[0].encode("utf-8", "surrogateescape")))


_Tabms = dict[tuple[bool, frozenset[str]], TABM]

# Commitments that verified, by (commitment ID, secret, fingerprint of what they cover).
_VERIFIED: Memo[object, bool] = Memo(8192)


def _verify_one(msg: Message, cid: str, commitment: TABM, tabms: _Tabms, secret: bytes | None) -> None:
    """Verify one commitment over the keys it covers (as `with_only_committed` would keep them:
    a key it does not cover must not change its `ao-types`)."""
    device = commitment.get("commitment-device")
    verifier = VERIFIERS.get(device.decode("utf-8", "replace") if isinstance(device, bytes) else "")
    if verifier is None:
        raise InvalidSignature(f"no verifier for commitment device {device!r}")
    bundle = commitment.get("bundle") == b"true"
    try:
        covered = frozenset(k.removesuffix(structured.LINK_SUFFIX) for k in httpsig.committed_list(commitment))
    except (BadMessage, TypeError, ValueError) as exc:
        raise InvalidSignature("a commitment's `committed` list is malformed") from exc
    only = {k: v for k, v in msg.items() if k in covered or k == "commitments"} if covered else msg
    try:
        # The same signed message is checked at ingress, by each device that asks who signed
        # it, and when it is encoded: remember what held, by content.
        key: object = (cid, secret, fingerprint(only))
    except TypeError:
        key = None
    if key is not None and _VERIFIED.get(key):
        return
    if (bundle, covered) not in tabms:
        tabm = to_tabm(only, bundle=bundle)
        if not isinstance(tabm, dict):
            raise InvalidSignature("a binary message cannot carry commitments")
        tabms[(bundle, covered)] = tabm
    verifier(tabms[(bundle, covered)], cid, commitment, secret=secret)
    if key is not None:
        _VERIFIED.put(key, True)


def _committer(commitment: TABM) -> str | None:
    who = commitment.get("committer")
    return who.decode("utf-8", "replace") if isinstance(who, bytes) else None


def verify(
    msg: Message,
    *,
    commitments: Selector = "all",
    committers: Selector = "none",
    secret: bytes | None = None,
) -> list[str]:
    """Verify the selected commitments of a message; every one must hold.

    A commitment holds when its proof verifies over the keys it lists and its `committer`
    is the one its key implies (an RSA, ECDSA or Ed25519 key's address; none for a
    `constant` HMAC). A message without commitments has nothing to verify and passes.

    Returns:
        The committers of the verified commitments, in order, each once.

    Raises:
        InvalidSignature: a commitment fails, names a committer its key does not imply, or its
            device is unknown.
        NotFound: a requested committer has no commitment.
    """
    found = _commitments(msg)
    if not found:
        return []
    tabms: _Tabms = {}
    out: list[str] = []
    for cid in select_commitments(found, committers, commitments):
        _verify_one(msg, cid, found[cid], tabms, secret)
        who = _committer(found[cid])
        if who is not None and who not in out:
            out.append(who)
    return out


def verify_tree(msg: Message) -> list[str]:
    """Verify every commitment of `msg` and of every message nested in it, at any depth.

    What a node accepts from a client passes through here first: a nested message with a
    forged or broken commitment would otherwise be stored, and read back, under a signed ID.

    Returns:
        The committers of `msg`'s own commitments (as `verify`).

    Raises:
        InvalidSignature: some commitment fails; the message says where (a key path).
    """
    _verify_children(msg, "")
    try:
        return verify(msg)
    except InvalidSignature as exc:
        raise InvalidSignature(f"the signature of the {_where('')} does not verify") from exc


def _where(path: str) -> str:
    return f"message at key {path!r}" if path else "message"


def _verify_children(value: Any, path: str) -> None:
    # Iterative over the levels would be no faster: nesting is bounded where messages are decoded.
    items: Any = value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        if key == "commitments" or not isinstance(child, (Mapping, list)):
            continue
        where = f"{path}/{key}" if path else str(key)
        _verify_children(child, where)
        if isinstance(child, Mapping) and isinstance(child.get("commitments"), Mapping):
            try:
                verify(dict(child))
            except InvalidSignature as exc:
                raise InvalidSignature(f"the signature of the {_where(where)} does not verify") from exc


def without_false_commitments(msg: Message) -> Message:
    """`msg` without the commitments a known verifier proves false for it (a commitment carried
    over to content it does not cover, a forged committer). Commitments no verifier here can
    check (an unknown device, a `secret:` HMAC without its secret, an unsigned ANS-104 item's)
    are kept: they are never trusted unchecked (`signers`, `verify`)."""
    found = _commitments(msg)
    if not found:
        return msg
    keep: dict[str, Any] = {}
    tabms: _Tabms = {}
    for cid, commitment in found.items():
        device = commitment.get("commitment-device")
        keyid = commitment.get("keyid")
        name = device.decode("utf-8", "replace") if isinstance(device, bytes) else ""
        # An unsigned ANS-104 item's commitment has no proof its verifier checks.
        checkable = (name in VERIFIERS and (name == httpsig.NAME or "committer" in commitment)
                     and not (isinstance(keyid, bytes) and keyid.startswith(b"secret:")))
        if checkable:
            try:
                _verify_one(msg, cid, commitment, tabms, None)
            except (InvalidSignature, AOError):
                continue
        keep[cid] = cast(Mapping[str, Any], msg["commitments"])[cid]
    if len(keep) == len(found):
        return msg
    out = {k: v for k, v in msg.items() if k != "commitments"}
    if keep:
        out["commitments"] = keep
    return out


def signers(msg: Message) -> list[str]:
    """The addresses that signed `msg`: committers of commitments that verify and whose key
    implies that committer. A claimed committer whose signature does not hold is not listed."""
    out: list[str] = []
    tabms: _Tabms = {}
    for cid, commitment in _commitments(msg).items():
        who = _committer(commitment)
        if who is None or who in out:
            continue
        try:
            _verify_one(msg, cid, commitment, tabms, None)
        except (InvalidSignature, AOError):
            continue
        out.append(who)
    return out


def _commit_ans104(msg: Message, wallet: Wallet) -> Message:
    tabm = to_tabm(dict(msg), bundle=True)
    if not isinstance(tabm, dict):
        raise Unsupported("a binary message cannot be signed as ANS-104")
    signed = structured.to_wire(ans104.commit(tabm, wallet))
    assert isinstance(signed, dict)
    return signed


# How each signing codec signs a rich message: an `httpsig@1.0` commitment (as `commit`), or
# an ANS-104 data item in its structured form.
SIGNERS: dict[str, Callable[[Message, Wallet], Message]] = {
    httpsig.NAME: lambda msg, wallet: commit(dict(msg), wallet),
    ans104.NAME: _commit_ans104,
}


def commit_as(codec: str, msg: Message, wallet: Wallet) -> Message:
    """`msg` signed by `wallet` with `codec` (one of `SIGNERS`).

    Raises:
        Unsupported: another codec, or a binary message.
    """
    signer = SIGNERS.get(codec)
    if signer is None:
        raise Unsupported(f"messages are signed with {' or '.join(SIGNERS)}, not {codec}")
    return signer(msg, wallet)


def committed_keys(msg: Message, committers: Selector = "all") -> list[str]:
    """The keys every selected commitment covers (`hb_message:committed/3`), `+link` stripped."""
    parsed = parse_commitments(msg)
    chosen = select_commitments(parsed.by_id, committers)
    if not chosen:
        return []
    lists = [_committed_of(parsed, cid) for cid in chosen]
    common = set(lists[0]).intersection(*lists[1:])
    return [k for k in lists[0] if k in common]


def _committed_of(parsed: Commitments, cid: str) -> list[str]:
    found = parsed.committed.get(cid)
    if found is None:
        return httpsig.committed_list(parsed.by_id[cid])  # raises the BadMessage that says why
    return list(found)


def with_only_committed(msg: Message) -> Message:
    """Keep only the committed keys and `commitments` (what an inbound signed request may use)."""
    if not _commitments(msg):
        return msg
    keep = set(committed_keys(msg, committers="none")) | set(committed_keys(msg, committers="all"))
    return {k: v for k, v in msg.items() if k in keep or k == "commitments"}
