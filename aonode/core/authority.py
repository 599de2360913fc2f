"""Who a request speaks for, and what they said (ao-core-1.0-spec-notes.md F1, F2).

A device that lets only some signers act (the operator changing the node message, a
scheduler recording a location, a name registry) asks two things of a request: who signed
it, and which of its keys they signed. Both come from verified commitments only:

* `signers` lists a committer only when the commitment's proof holds and its key implies
  that committer (`aonode.codecs.signers`);
* the keys a signer vouches for are those its commitments cover, with the values they
  covered; every other key of the request is unauthenticated and is not acted on.

Over HTTP the request a device receives is one step of the HTTP request: it carries the
HTTP request's commitments, but its `path` is the step's, so its signatures no longer verify
over it. The server therefore hands devices the HTTP request as its signers committed it,
under the option `VERIFIED_REQUEST`; `authority` picks that message whenever the step carries
its commitments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.codecs import committed_keys, message_id, signers
from aonode.message import Message

__all__ = ["VERIFIED_REQUEST", "authority", "change_id", "signed_by", "vouched"]

VERIFIED_REQUEST = "verified_request"
"""The option under which the HTTP server passes the request as its signers committed it."""


def authority(request: Mapping[str, Any], opts: Mapping[str, Any]) -> Message:
    """The message whose signatures decide what `request` may do.

    That is the HTTP request as committed (`opts[VERIFIED_REQUEST]`) when `request` carries
    its very commitments, else `request` itself.
    """
    signed = opts.get(VERIFIED_REQUEST)
    own = request.get("commitments")
    if isinstance(signed, Mapping) and own and signed.get("commitments") == own:
        return dict(signed)
    return dict(request)


def signed_by(request: Mapping[str, Any], opts: Mapping[str, Any]) -> list[str]:
    """The addresses whose signatures on `request` (or on the HTTP request it is a step of)
    verify and are bound to their keys."""
    return signers(authority(request, opts))


def vouched(request: Mapping[str, Any], opts: Mapping[str, Any], signer: str) -> dict[str, Any]:
    """The keys of `request` that `signer`'s verified commitments cover, with the values they
    covered; empty when `signer` did not sign it."""
    signed = authority(request, opts)
    if signer not in signers(signed):
        return {}
    covered = set(committed_keys(signed, [signer]))
    return {k: v for k, v in signed.items() if k in covered}


def change_id(request: Mapping[str, Any], opts: Mapping[str, Any], signer: str) -> str:
    """The ID of `signer`'s commitments on `request`: what makes an authorised change
    one-shot (a replay carries the same commitments, so the same ID)."""
    return message_id(authority(request, opts), committers=[signer])
