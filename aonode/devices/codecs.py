"""The codecs as devices: `json@1.0`, `httpsig@1.0`, `structured@1.0`, `flat@1.0`, `ans104@1.0`.

In HyperBEAM every codec is also a device, so a path can re-encode a result:

    GET /~meta@1.0/info/~json@1.0/serialize      the node's info as a JSON document

Each codec device answers (base = the message the step runs on):

    to            the base in the codec's wire form (bytes; a TABM map for `structured@1.0`)
    from          the base decoded from the wire form (a map base is returned as it is)
    serialize     `{content-type, body: to(base)}`, a message any client can read
    deserialize   `from(base[target])`, `target` from the request, default `body`
    content-type  the codec's MIME type
    commit        the base with a new commitment (`type` from the request: signed or
                  unsigned; signed uses the node's wallet)
    verify        `true` when every commitment of the base verifies, else `false`
    committed     the keys the base's commitments cover

Encoding work is done by `aonode.codecs`; this module only maps keys to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode import codecs
from aonode.core.access import get
from aonode.core.devices import Device
from aonode.core.resolver import ensure_loaded
from aonode.core.terms import Result
from aonode.crypto import Wallet
from aonode.errors import AOError, BadMessage, InvalidSignature

__all__ = [
    "Ans104Device",
    "CodecDevice",
    "FlatDevice",
    "HttpsigDevice",
    "JsonDevice",
    "StructuredDevice",
]

_PLAIN = {"hashpath": "ignore"}


class CodecDevice(Device):
    """A codec exposed as a device. Subclasses set `name` and `mime`."""

    mime = "application/octet-stream"

    def to(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        return codecs.encode(_public(base), self.name, bundle=_flag(request, "bundle"))

    def from_(self, base: Any) -> Any:
        if isinstance(base, Mapping) and self.name != codecs.structured.NAME:
            return base
        return codecs.decode(base, self.name)

    def serialize(self, base: Any, request: Any, opts: Mapping[str, Any]) -> dict[str, Any]:
        wire = self.to(base, request, opts)
        if not isinstance(wire, bytes):
            raise BadMessage(f"{self.name} has no single-document form; use `to`")
        return {"content-type": self.mime.encode(), "body": wire}

    def deserialize(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        target = get("target", request, b"body", _PLAIN)
        key = target.decode() if isinstance(target, bytes) else str(target)
        payload = get(key, base, None, _PLAIN)
        if payload is None:
            return Result("error", {"status": 404, "body": f"{self.name} payload not found in the base message. "
                                                           f"Searched for: {key}".encode()})
        return self.from_(payload)

    def content_type(self) -> bytes:
        return self.mime.encode()

    def commit(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        if not isinstance(base, Mapping):
            raise BadMessage("only a map can be committed")
        kind = get("type", request, b"signed", _PLAIN)
        wallet = opts.get("priv_wallet")
        if kind == b"signed" and not isinstance(wallet, Wallet):
            raise BadMessage("this node has no wallet to sign with")
        return codecs.commit(dict(base), wallet if kind == b"signed" else None,
                             type="signed" if kind == b"signed" else "unsigned")

    def verify(self, base: Any) -> bool:
        if not isinstance(base, Mapping):
            return False
        try:
            codecs.verify(dict(base))
        except (InvalidSignature, AOError):
            return False
        return True

    def committed(self, base: Any) -> list[str]:
        if not isinstance(base, Mapping):
            return []
        return codecs.committed_keys(dict(base))


class JsonDevice(CodecDevice):
    name = codecs.json.NAME
    mime = "application/json"

    def to(self, base: Any, request: Any, opts: Mapping[str, Any]) -> Any:
        if not _flag(request, "bundle"):
            return super().to(base, request, opts)
        # A bundle holds no links: each is loaded from the node's stores and written inline, as
        # `dev_codec_json:to/3` does (`hb_cache:ensure_all_loaded`); a missing one is a 404.
        return codecs.json.dumps(_public(base), load=lambda link: ensure_loaded(link, opts))


class HttpsigDevice(CodecDevice):
    name = codecs.httpsig.NAME
    mime = "multipart/form-data"

    def serialize(self, base: Any, request: Any, opts: Mapping[str, Any]) -> dict[str, Any]:
        # httpsig's wire form is headers plus an optional multipart body: the headers become
        # the message's keys and the body stays the body.
        wire = self.to(base, request, opts)
        return dict(wire) if isinstance(wire, Mapping) else {"body": wire}


class StructuredDevice(CodecDevice):
    name = codecs.structured.NAME


class FlatDevice(CodecDevice):
    name = codecs.flat.NAME
    # Round-trips through the HTTP layer's `application/<codec>` media-type rule.
    mime = "application/flat"


class Ans104Device(CodecDevice):
    name = codecs.ans104.NAME
    mime = "application/ans104"


def _public(base: Any) -> Any:
    if isinstance(base, Mapping):
        return {k: v for k, v in base.items() if k != "priv"}
    return base


def _flag(request: Any, key: str) -> bool:
    value = get(key, request, False, _PLAIN) if isinstance(request, Mapping) else False
    return value is True or value == b"true"
