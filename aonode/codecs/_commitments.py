"""Signing and verifying rich messages (messages-codecs-ids.md §4).

Each commitment names the codec that made it (`commitment-device`); `verify`
sends each selected commitment to that codec, in the mode it was made in (nested
children as links, or inline for `bundle: "true"`). The table `VERIFIERS` maps a
device name to its verify function; codecs add themselves there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from aonode.codecs import ans104, httpsig, structured
from aonode.codecs._ids import Selector, select_commitments, to_tabm
from aonode.crypto import Wallet
from aonode.errors import InvalidSignature, Unsupported
from aonode.message import TABM, Message, Value

__all__ = ["VERIFIERS", "commit", "committed_keys", "signers", "verify", "with_only_committed"]

Verifier = Callable[..., None]
"""verify(tabm, commitment_id, commitment, *, secret=None) -> None, raising InvalidSignature."""

VERIFIERS: dict[str, Verifier] = {httpsig.NAME: httpsig.verify, ans104.NAME: ans104.verify}


def _commitments(msg: Mapping[str, Any]) -> dict[str, TABM]:
    found = msg.get("commitments")
    if not isinstance(found, Mapping):
        return {}
    return {cid: structured.binary_tree(c) for cid, c in found.items() if isinstance(c, Mapping)}


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
    return out


def verify(
    msg: Message,
    *,
    commitments: Selector = "all",
    committers: Selector = "none",
    secret: bytes | None = None,
) -> None:
    """Verify the selected commitments of a message; every one must hold.

    A message without commitments has nothing to verify and passes: callers that need a
    signer check `signers(msg)`.

    Raises:
        InvalidSignature: a commitment fails, or its device is unknown.
        NotFound: a requested committer has no commitment.
    """
    found = _commitments(msg)
    if not found:
        return
    tabms: dict[bool, TABM] = {}
    for cid in select_commitments(found, committers, commitments):
        commitment = found[cid]
        device = commitment.get("commitment-device")
        verifier = VERIFIERS.get(device.decode() if isinstance(device, bytes) else "")
        if verifier is None:
            raise InvalidSignature(f"no verifier for commitment device {device!r}")
        bundle = commitment.get("bundle") == b"true"
        if bundle not in tabms:
            tabm = to_tabm(msg, bundle=bundle)
            assert isinstance(tabm, dict)
            tabms[bundle] = tabm
        verifier(tabms[bundle], cid, commitment, secret=secret)


def signers(msg: Message) -> list[str]:
    """The committer addresses of a message's commitments (unverified: call `verify` too)."""
    out = []
    for c in _commitments(msg).values():
        who = c.get("committer")
        if isinstance(who, bytes):
            out.append(who.decode())
    return list(dict.fromkeys(out))


def commit_as(codec: str, msg: Message, wallet: Wallet) -> Message:
    """`msg` signed by `wallet` with `codec`: `httpsig@1.0` (as `commit`) or `ans104@1.0` (an
    ANS-104 data item, in its structured form).

    Raises:
        Unsupported: another codec, or a binary message.
    """
    if codec == ans104.NAME:
        tabm = to_tabm(dict(msg), bundle=True)
        if not isinstance(tabm, dict):
            raise Unsupported("a binary message cannot be signed as ANS-104")
        signed = structured.to_wire(ans104.commit(tabm, wallet))
        assert isinstance(signed, dict)
        return signed
    if codec != httpsig.NAME:
        raise Unsupported(f"messages are signed with httpsig@1.0 or ans104@1.0, not {codec}")
    return commit(dict(msg), wallet)


def committed_keys(msg: Message, committers: Selector = "all") -> list[str]:
    """The keys every selected commitment covers (`hb_message:committed/3`), `+link` stripped."""
    found = _commitments(msg)
    chosen = select_commitments(found, committers)
    if not chosen:
        return []
    lists = [httpsig.committed_list(found[cid]) for cid in chosen]
    common = set(lists[0]).intersection(*lists[1:])
    return [k for k in lists[0] if k in common]


def with_only_committed(msg: Message) -> Message:
    """Keep only the committed keys and `commitments` (what an inbound signed request may use)."""
    if not _commitments(msg):
        return msg
    keep = set(committed_keys(msg, committers="none")) | set(committed_keys(msg, committers="all"))
    return {k: v for k, v in msg.items() if k in keep or k == "commitments"}
